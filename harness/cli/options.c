#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int options_parse(int argc, char **argv, const Option *opts, int n_opts, Error *err) {
    for (int i = 1; i < argc; i++) {
        const Option *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (!strcmp(argv[i], opts[k].flag)) o = &opts[k];
        if (!o) return error_set(err, "unknown option '%s'", argv[i]);
        if (i + 1 >= argc) return error_set(err, "option %s needs a value", argv[i]);
        const char *v = argv[++i];
        char *end;
        errno = 0;
        switch (o->kind) {
        case OPT_STR:
            *(const char **)o->dst = v;
            break;
        case OPT_INT: {
            long x = strtol(v, &end, 10);
            if (!*v || *end || errno || x < INT_MIN || x > INT_MAX)
                return error_set(err, "option %s takes an integer, not '%s'", o->flag, v);
            *(int *)o->dst = (int)x;
            break;
        }
        case OPT_U64: {
            unsigned long long x = strtoull(v, &end, 10);
            if (!*v || *end || errno || v[0] == '-')
                return error_set(err, "option %s takes a non-negative integer, not '%s'", o->flag,
                                 v);
            *(unsigned long long *)o->dst = x;
            break;
        }
        }
    }
    return 0;
}
