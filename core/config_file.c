#include "config_file.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// inih reads a line into a buffer of INI_MAX_LINE bytes (200 in Debian's libinih) and parses
// the rest of a longer line as further lines, which shifts every later line number. This
// reader hands inih whole lines only and stops at a longer one, so line numbers are the file's.
typedef struct {
    FILE *file;
    int line;          // lines handed to inih: the number of the line it is parsing
    int too_long_line; // the first line longer than inih's buffer (0: none)
    int max_chars;     // the longest line inih takes
    int read_errno;    // errno of a failed read (0: none)
    int after_key;     // a key line since the last [section]
    int continuation;  // the current line is indented after a key: inih appends it to that value
} LineReader;

static char *read_whole_line(char *buf, int size, void *stream) {
    LineReader *r = stream;
    int n = 0, c, too_long = 0;
    while ((c = getc(r->file)) != EOF && c != '\n') {
        if (c == '\r') { // a CRLF line end is not part of the line
            int next = getc(r->file);
            if (next == '\n' || next == EOF) {
                c = next;
                break;
            }
            ungetc(next, r->file);
        }
        if (n < size - 1)
            buf[n++] = (char)c;
        else
            too_long = 1;
    }
    if (c == EOF && ferror(r->file)) r->read_errno = errno;
    if (c == EOF && n == 0 && !too_long) return NULL;
    r->line++;
    r->max_chars = size - 1;
    if (too_long) {
        r->too_long_line = r->line;
        return NULL;
    }
    buf[n] = '\0';
    // The same reading of the line as inih's: comments, then continuations, sections, keys.
    const char *start = buf;
    while (isspace((unsigned char)*start)) start++;
    r->continuation = 0;
    if (*start == '\0' || *start == ';' || *start == '#')
        ;
    else if (start > buf && r->after_key)
        r->continuation = 1;
    else
        r->after_key = *start != '[';
    return buf;
}

// Where each key was set, to refuse a key set twice.
typedef struct {
    char name[128]; // "section.key"
    int line;
} KeySeen;

typedef struct {
    IniEntry entry;
    void *user;
    Error *err;
    int failed_line; // the line whose entry was refused (0: none)
    const LineReader *reader;
    KeySeen *seen;
    int n_seen, cap_seen;
} IniCtx;

static int on_entry(void *user, const char *section, const char *name, const char *value) {
    IniCtx *ctx = user;
    if (ctx->failed_line) return 0;
    ctx->failed_line = ctx->reader->line; // until the entry is taken
    char full[128];
    snprintf(full, sizeof full, "%s.%s", section, name);
    if (ctx->reader->continuation) {
        error_set(ctx->err,
                  "indented line read as a continuation of %s's value; values take one line: "
                  "remove the indentation",
                  full);
        return 0;
    }
    for (int i = 0; i < ctx->n_seen; i++)
        if (!strcmp(ctx->seen[i].name, full)) {
            error_set(ctx->err, "%s set twice (first on line %d)", full, ctx->seen[i].line);
            return 0;
        }
    if (ctx->entry(ctx->user, section, name, value, ctx->err) != 0) return 0;
    if (ctx->n_seen == ctx->cap_seen) {
        ctx->cap_seen = ctx->cap_seen ? 2 * ctx->cap_seen : 64;
        KeySeen *grown = realloc(ctx->seen, sizeof *grown * (size_t)ctx->cap_seen);
        CHECK(grown != NULL, "out of memory reading an INI file");
        ctx->seen = grown;
    }
    snprintf(ctx->seen[ctx->n_seen].name, sizeof ctx->seen[ctx->n_seen].name, "%s", full);
    ctx->seen[ctx->n_seen++].line = ctx->reader->line;
    ctx->failed_line = 0;
    return 1;
}

int ini_read(const char *path, const char *what, IniEntry entry, void *user, Error *err) {
    FILE *file = fopen(path, "rb");
    if (!file) return error_set(err, "cannot open %s '%s': %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(file), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(file);
        return error_set(err, "%s '%s': is a directory; give an .ini file", what, path);
    }
    Error inner = {""};
    LineReader reader = {file, 0, 0, 0, 0, 0, 0};
    IniCtx ctx = {entry, user, &inner, 0, &reader, NULL, 0, 0};
    int line = ini_parse_stream(read_whole_line, &reader, on_entry, &ctx);
    fclose(file);
    free(ctx.seen);
    // An error before the overlong line comes first; inih stops reading at that line.
    if (line > 0 && line == ctx.failed_line)
        return error_set(err, "%s:%d: %s", path, line, inner.msg);
    if (line > 0)
        return error_set(err, "%s:%d: not an INI line (expected [section] or key = value)", path,
                         line);
    if (line == -2) return error_set(err, "out of memory reading '%s'", path);
    if (reader.too_long_line)
        return error_set(err, "%s:%d: line longer than %d characters; shorten it", path,
                         reader.too_long_line, reader.max_chars);
    if (reader.read_errno)
        return error_set(err, "cannot read %s '%s': %s", what, path, strerror(reader.read_errno));
    return 0;
}

static int set_config_key(void *user, const char *section, const char *name, const char *value,
                          Error *err) {
    return config_set(user, section, name, value, err);
}

int config_load_ini(RunConfig *c, const char *path, Error *err) {
    return ini_read(path, "config file", set_config_key, c, err);
}
