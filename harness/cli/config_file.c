#include "config_file.h"

#include <ini.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    RunConfig *cfg;
    Error *err;
    int failed;
} IniCtx;

static int on_entry(void *user, const char *section, const char *name, const char *value) {
    IniCtx *ctx = user;
    if (ctx->failed) return 0;
    if (config_set(ctx->cfg, section, name, value, ctx->err) != 0) {
        ctx->failed = 1;
        return 0;
    }
    return 1;
}

int config_load_ini(RunConfig *c, const char *path, Error *err) {
    Error inner = {""};
    IniCtx ctx = {c, &inner, 0};
    int line = ini_parse(path, on_entry, &ctx);
    if (line == -1) return error_set(err, "cannot open config file '%s'", path);
    if (line == -2) return error_set(err, "out of memory reading '%s'", path);
    if (line > 0) {
        if (ctx.failed) return error_set(err, "%s:%d: %s", path, line, inner.msg);
        return error_set(err, "%s:%d: not an INI line (expected [section] or key = value)", path,
                         line);
    }
    return 0;
}
