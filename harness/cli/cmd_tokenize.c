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

// Read the file at path (NULL: standard input) whole into *text (*n bytes). -1 with err set
// when it cannot be opened or read, or is a directory.
static int read_input(const char *path, char **text, size_t *n, Error *err) {
    FILE *f = path ? fopen(path, "rb") : stdin;
    struct stat st;
    // fopen opens a directory for reading; its reads then fail (EISDIR) and look like no input.
    if (!f || (path && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))) {
        if (f)
            snprintf(err->msg, sizeof err->msg, "'%s' is a directory; give a text file", path);
        else
            snprintf(err->msg, sizeof err->msg, "cannot read '%s': %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    *text = read_stream(f, n);
    int read_failed = ferror(f), read_errno = errno;
    if (path) fclose(f);
    if (read_failed) {
        snprintf(err->msg, sizeof err->msg, "cannot read %s%s%s: %s", path ? "'" : "",
                 path ? path : "standard input", path ? "'" : "", strerror(read_errno));
        free(*text);
        return -1;
    }
    return 0;
}

// --decode: whitespace-separated ids of text (n bytes) to stdout as the bytes they stand for.
static int decode_ids(Tokenizer *tok, const char *text, size_t n, Error *err) {
    int rc = 0;
    long cap = 1024, count = 0;
    int *ids = xmalloc(sizeof(int) * cap);
    const char *p = text;
    char *end;
    for (;;) {
        while (p < text + n && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) p++;
        if (p >= text + n) break;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= tok->vocab_size) {
            snprintf(err->msg, sizeof err->msg,
                     "'%.20s' is not a token id of the %s tokenizer (0..%d)", p, tok->name,
                     tok->vocab_size - 1);
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
        long bytes = tokenizer_decode(tok, ids, count, NULL, 0);
        char *outb = xmalloc((size_t)(bytes > 0 ? bytes : 1));
        if (bytes < 0 || tokenizer_decode(tok, ids, count, outb, bytes) != bytes) {
            snprintf(err->msg, sizeof err->msg, "cannot decode these ids");
            rc = -1;
        } else {
            fwrite(outb, 1, (size_t)bytes, stdout);
        }
        free(outb);
    }
    free(ids);
    return rc;
}

// The ids of text (n bytes, UTF-8; from path, NULL: standard input) to stdout, space-separated.
static int encode_text(Tokenizer *tok, const char *text, size_t n, const char *path, Error *err) {
    long bad = utf8_first_invalid(text, n);
    if (bad >= 0) {
        snprintf(err->msg, sizeof err->msg, "%s is not UTF-8 text (invalid byte at offset %ld)",
                 path ? path : "standard input", bad);
        return -1;
    }
    int rc = 0;
    int *ids = xmalloc(sizeof(int) * (n + 1));
    long k = tokenizer_encode(tok, text, n, ids);
    if (k < 0) {
        snprintf(err->msg, sizeof err->msg, "the %s tokenizer failed on this input", tok->name);
        rc = -1;
    }
    for (long i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
    if (k > 0) printf("\n");
    free(ids);
    return rc;
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
    size_t n;
    char *text;
    if (read_input(path, &text, &n, &err) != 0) {
        cli_error("tokenize", err.msg);
        tokenizer_close(&tok);
        return EXIT_USAGE;
    }
    int rc = decode ? decode_ids(&tok, text, n, &err) : encode_text(&tok, text, n, path, &err);
    free(text);
    tokenizer_close(&tok);
    if (rc != 0) {
        cli_error("tokenize", err.msg);
        return EXIT_USAGE;
    }
    return 0;
}
