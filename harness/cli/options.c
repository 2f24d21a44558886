#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int unknown_option(const char *arg, const OptionsStyle *style, Error *err) {
    int max = style && style->unknown_max_chars > 0 ? style->unknown_max_chars : INT_MAX;
    return error_set(err, "unknown option '%.*s'%s", max, arg,
                     style && style->unknown_hint ? style->unknown_hint : "");
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
        if (!*v || *end || errno || x < INT_MIN || x > INT_MAX)
            return error_set(err, "option %s takes an integer, not '%s'", o->flag, v);
        *(int *)o->dst = (int)x;
        return 0;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (!*v || *end || errno || v[0] == '-')
            return error_set(err, "option %s takes a non-negative integer, not '%s'", o->flag, v);
        *(unsigned long long *)o->dst = x;
        return 0;
    }
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
