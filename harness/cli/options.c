#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int unknown_option(const char *arg, const OptionsStyle *style, Error *err) {
    int max = style && style->unknown_max_chars > 0 ? style->unknown_max_chars : INT_MAX;
    return error_set(err, "unknown option '%.*s'%s", max, arg,
                     style && style->unknown_hint ? style->unknown_hint : "");
}

int options_parse_u64(const char *flag, const char *text, unsigned long long *out, Error *err) {
    char *end = NULL;
    errno = 0;
    // Digits only: strtoull takes leading blanks and a sign, and wraps "-1" to 2^64 - 1.
    unsigned long long x = isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
    if (!end || *end)
        return error_set(err, "option %s takes a non-negative integer, not '%s'", flag, text);
    if (errno == ERANGE) // strtoull saturates at 2^64 - 1
        return error_set(err, "option %s: %s is out of range (at most %llu)", flag, text,
                         ULLONG_MAX);
    *out = x;
    return 0;
}

// Store one value v for option o.
static int take_value(const Option *o, const char *v, Error *err) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case OPT_STR:
        *(const char **)o->dst = v;
        return 0;
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || (errno && errno != ERANGE))
            return error_set(err, "option %s takes an integer, not '%s'", o->flag, v);
        if (errno == ERANGE || x < INT_MIN || x > INT_MAX)
            return error_set(err, "option %s: %s is out of range (an integer from %d to %d)",
                             o->flag, v, INT_MIN, INT_MAX);
        *(int *)o->dst = (int)x;
        return 0;
    }
    case OPT_U64:
        return options_parse_u64(o->flag, v, o->dst, err);
    case OPT_CALL: {
        const OptionCall *call = o->dst;
        return call->take(call->ctx, v, err);
    }
    case OPT_FLAG:
        break;
    }
    return 0;
}

int options_parse_styled(int argc, char **argv, const Option *opts, int n_opts,
                         const OptionsStyle *style, Error *err) {
    for (int i = 1; i < argc; i++) {
        const Option *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (!strcmp(argv[i], opts[k].flag)) o = &opts[k];
        if (!o) return unknown_option(argv[i], style, err);
        if (o->kind == OPT_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        if (i + 1 >= argc) {
            if (style && style->missing_value_is_unknown)
                return unknown_option(argv[i], style, err);
            return error_set(err, "option %s needs a value", argv[i]);
        }
        if (take_value(o, argv[++i], err) != 0) return -1;
    }
    return 0;
}

int options_parse(int argc, char **argv, const Option *opts, int n_opts, Error *err) {
    return options_parse_styled(argc, argv, opts, n_opts, NULL, err);
}
