// dint tokenize: the token ids of a file (or standard input), space-separated, so users and
// tests can check an encoder from the command line; --decode turns ids back into text.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "datasets.h"
#include "tokenizer.h"

static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *grown = realloc(buf, cap);
            CHECK(grown != NULL, "out of memory reading input");
            buf = grown;
        }
    }
    buf[n] = '\0'; // n < cap always: the buffer grows when it fills
    *len = n;
    return buf;
}

int cmd_tokenize(int argc, char **argv) {
    const char *name = "byte", *path = NULL;
    int decode = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--decode"))
            decode = 1;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            cli_error("tokenize", "usage: dint tokenize [--tokenizer byte|gpt2] [--decode] [FILE]");
            return EXIT_USAGE;
        }
    }
    Error err;
    Tokenizer tok;
    if (data_open_tokenizer(&tok, name, &err) != 0) {
        cli_error("tokenize", err.msg);
        return EXIT_USAGE;
    }
    FILE *f = path ? fopen(path, "rb") : stdin;
    struct stat st;
    // fopen opens a directory for reading; its reads then fail (EISDIR) and look like no input.
    if (!f || (path && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))) {
        if (f)
            snprintf(err.msg, sizeof err.msg, "'%s' is a directory; give a text file", path);
        else
            snprintf(err.msg, sizeof err.msg, "cannot read '%s': %s", path, strerror(errno));
        if (f) fclose(f);
        cli_error("tokenize", err.msg);
        tokenizer_close(&tok);
        return EXIT_USAGE;
    }
    size_t n;
    char *text = read_stream(f, &n);
    int read_failed = ferror(f), read_errno = errno;
    if (path) fclose(f);
    if (read_failed) {
        snprintf(err.msg, sizeof err.msg, "cannot read %s%s%s: %s", path ? "'" : "",
                 path ? path : "standard input", path ? "'" : "", strerror(read_errno));
        cli_error("tokenize", err.msg);
        free(text);
        tokenizer_close(&tok);
        return EXIT_USAGE;
    }
    int rc = 0;
    if (decode) {
        // Input: whitespace-separated ids.
        long cap = 1024, count = 0;
        int *ids = xmalloc(sizeof(int) * cap);
        char *p = text, *end;
        for (;;) {
            while (p < text + n && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) p++;
            if (p >= text + n) break;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v >= tok.vocab_size) {
                snprintf(err.msg, sizeof err.msg,
                         "'%.20s' is not a token id of the %s tokenizer (0..%d)", p, tok.name,
                         tok.vocab_size - 1);
                rc = -1;
                break;
            }
            if (count == cap) {
                cap *= 2;
                int *grown = realloc(ids, sizeof(int) * cap);
                CHECK(grown != NULL, "out of memory");
                ids = grown;
            }
            ids[count++] = (int)v;
            p = end;
        }
        if (rc == 0) {
            long bytes = tokenizer_decode(&tok, ids, count, NULL, 0);
            char *outb = xmalloc((size_t)(bytes > 0 ? bytes : 1));
            if (bytes < 0 || tokenizer_decode(&tok, ids, count, outb, bytes) != bytes) {
                snprintf(err.msg, sizeof err.msg, "cannot decode these ids");
                rc = -1;
            } else {
                fwrite(outb, 1, (size_t)bytes, stdout);
            }
            free(outb);
        }
        free(ids);
    } else {
        long bad = utf8_first_invalid(text, n);
        if (bad >= 0) {
            snprintf(err.msg, sizeof err.msg, "%s is not UTF-8 text (invalid byte at offset %ld)",
                     path ? path : "standard input", bad);
            rc = -1;
        } else {
            int *ids = xmalloc(sizeof(int) * (n + 1));
            long k = tokenizer_encode(&tok, text, n, ids);
            if (k < 0) {
                snprintf(err.msg, sizeof err.msg, "the %s tokenizer failed on this input",
                         tok.name);
                rc = -1;
            }
            for (long i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
            if (k > 0) printf("\n");
            free(ids);
        }
    }
    free(text);
    tokenizer_close(&tok);
    if (rc != 0) {
        cli_error("tokenize", err.msg);
        return EXIT_USAGE;
    }
    return 0;
}
