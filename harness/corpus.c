#include "corpus.h"

#include <dirent.h>
#include <gsl/gsl_randist.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char **items;
    int n, cap;
} StrList;

static void strlist_push(StrList *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        char **grown = realloc(l->items, sizeof(char *) * (size_t)l->cap);
        CHECK(grown != NULL, "out of memory listing files");
        l->items = grown;
    }
    l->items[l->n++] = strdup(s);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_files(const char *dir, StrList *out, Error *err) {
    DIR *d = opendir(dir);
    if (!d) return error_set(err, "cannot open directory '%s'", dir);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && rc == 0) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) rc = list_files(p, out, err);
        else if (S_ISREG(st.st_mode)) strlist_push(out, p);
    }
    closedir(d);
    return rc;
}

static char *read_file(const char *path, long *len, Error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_set(err, "cannot read '%s'", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = xmalloc((size_t)n + 1);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        error_set(err, "cannot read '%s'", path);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

// Offset of the first byte that breaks UTF-8, or -1 when the text is valid.
static long utf8_invalid_at(const unsigned char *s, long n) {
    long i = 0;
    while (i < n) {
        unsigned c = s[i];
        int k;
        unsigned min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) k = 1, min = 0x80;
        else if ((c & 0xF0) == 0xE0) k = 2, min = 0x800;
        else if ((c & 0xF8) == 0xF0) k = 3, min = 0x10000;
        else return i;
        unsigned cp = c & (0x3F >> k);
        for (int j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += k + 1;
    }
    return -1;
}

typedef struct {
    char *name;
    const char *text;
    long len;
} Doc;

int corpus_load(Corpus *c, const char *path, const Tokenizer *tok, float val_fraction,
                float test_fraction, uint64_t split_seed, Error *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    struct stat st;
    if (stat(path, &st) != 0)
        return error_set(err, "data path '%s' does not exist (give a text file or a directory)", path);
    StrList files = {0};
    int is_dir = S_ISDIR(st.st_mode);
    if (is_dir) {
        if (list_files(path, &files, err) != 0) return -1;
        qsort(files.items, (size_t)files.n, sizeof(char *), cmp_str);
    } else if (S_ISREG(st.st_mode)) {
        strlist_push(&files, path);
    } else {
        return error_set(err, "data path '%s' is neither a file nor a directory", path);
    }
    char **texts = xcalloc((size_t)files.n + 1, sizeof(char *));
    Doc *docs = NULL;
    int n_docs = 0, cap = 0, rc = 0;
    for (int f = 0; f < files.n && rc == 0; f++) {
        long len;
        texts[f] = read_file(files.items[f], &len, err);
        if (!texts[f]) {
            rc = -1;
            break;
        }
        long bad = utf8_invalid_at((const unsigned char *)texts[f], len);
        if (bad >= 0) {
            rc = error_set(err, "'%s' is not UTF-8 text (invalid byte at offset %ld)",
                           files.items[f], bad);
            break;
        }
        c->n_bytes += len;
        // Documents: the whole file (directory corpus) or its blank-line-separated paragraphs.
        long start = 0;
        int para = 0;
        while (start < len) {
            long end = len;
            if (!is_dir) {
                const char *sep = strstr(texts[f] + start, "\n\n");
                end = sep ? sep - texts[f] : len;
            }
            long a = start, b = end;
            while (a < b && (texts[f][a] == '\n' || texts[f][a] == ' ' || texts[f][a] == '\r' || texts[f][a] == '\t')) a++;
            if (b > a) {
                if (n_docs == cap) {
                    cap = cap ? cap * 2 : 64;
                    Doc *grown = realloc(docs, sizeof(Doc) * (size_t)cap);
                    CHECK(grown != NULL, "out of memory");
                    docs = grown;
                }
                char name[4200];
                if (is_dir) snprintf(name, sizeof name, "%s", files.items[f] + strlen(path) + 1);
                else snprintf(name, sizeof name, "paragraph %d", para);
                docs[n_docs].name = strdup(name);
                docs[n_docs].text = texts[f] + a;
                docs[n_docs].len = b - a;
                n_docs++;
                para++;
            }
            start = end + (is_dir ? 0 : 2);
        }
    }
    if (rc == 0 && n_docs == 0)
        rc = error_set(err, "the corpus at '%s' is empty: it holds no text", path);
    int n_val = 0, n_test = 0;
    if (rc == 0) {
        n_val = val_fraction > 0 ? (int)(val_fraction * n_docs + 0.5) : 0;
        n_test = test_fraction > 0 ? (int)(test_fraction * n_docs + 0.5) : 0;
        if (val_fraction > 0 && n_val < 1) n_val = 1;
        if (test_fraction > 0 && n_test < 1) n_test = 1;
        if (n_docs - n_val - n_test < 1)
            rc = error_set(err,
                           "the corpus at '%s' has %d documents: too few to hold out %d for "
                           "validation and %d for test and still train (give more documents)",
                           path, n_docs, n_val, n_test);
    }
    if (rc == 0) {
        // The split: a seeded shuffle of document indices; the first n_val go to validation,
        // the next n_test to test, the rest to training.
        int *order = xmalloc(sizeof(int) * (size_t)n_docs);
        for (int i = 0; i < n_docs; i++) order[i] = i;
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, (unsigned long)split_seed);
        gsl_ran_shuffle(r, order, (size_t)n_docs, sizeof(int));
        gsl_rng_free(r);
        c->n_docs = n_docs;
        c->doc_names = xcalloc((size_t)n_docs, sizeof(char *));
        c->doc_split = xcalloc((size_t)n_docs, 1);
        c->doc_tokens = xcalloc((size_t)n_docs, sizeof(long));
        for (int i = 0; i < n_docs; i++)
            c->doc_split[order[i]] = i < n_val ? SPLIT_VAL : (i < n_val + n_test ? SPLIT_TEST : SPLIT_TRAIN);
        free(order);
        long cap[3] = {0, 0, 0};
        for (int i = 0; i < n_docs; i++) cap[c->doc_split[i]] += docs[i].len + 1;
        for (int s = 0; s < 3; s++) c->tokens[s] = xmalloc(sizeof(int) * (size_t)(cap[s] + 1));
        for (int i = 0; i < n_docs; i++) {
            int s = c->doc_split[i];
            int *dst = c->tokens[s] + c->n_tokens[s];
            long k = tokenizer_encode(tok, docs[i].text, (size_t)docs[i].len, dst);
            dst[k++] = tok->eot;
            c->n_tokens[s] += k;
            c->doc_tokens[i] = k - 1;
            c->doc_names[i] = docs[i].name;
            docs[i].name = NULL;
        }
    }
    for (int i = 0; i < n_docs; i++) free(docs[i].name);
    free(docs);
    for (int f = 0; f < files.n; f++) {
        free(files.items[f]);
        free(texts[f]);
    }
    free(files.items);
    free(texts);
    if (rc != 0) corpus_free(c);
    return rc;
}

void corpus_free(Corpus *c) {
    for (int i = 0; i < c->n_docs && c->doc_names; i++) free(c->doc_names[i]);
    free(c->doc_names);
    free(c->doc_split);
    free(c->doc_tokens);
    for (int s = 0; s < 3; s++) free(c->tokens[s]);
    memset(c, 0, sizeof *c);
}

static void window(const int *stream, long start, int *tokens, int *targets, int T) {
    memcpy(tokens, stream + start, sizeof(int) * (size_t)T);
    memcpy(targets, stream + start + 1, sizeof(int) * (size_t)T);
}

void corpus_train_batch(const Corpus *c, gsl_rng *rng, int *tokens, int *targets, int B, int T) {
    unsigned long span = (unsigned long)(c->n_tokens[SPLIT_TRAIN] - T - 1) + 1;
    for (int b = 0; b < B; b++) {
        long start = (long)gsl_rng_uniform_int(rng, span);
        window(c->tokens[SPLIT_TRAIN], start, tokens + (long)b * T, targets + (long)b * T, T);
    }
}

void corpus_heldout_batch(const Corpus *c, Split split, int i, int n, int *tokens, int *targets,
                          int B, int T) {
    long last = c->n_tokens[split] - T - 1; // largest valid start
    long count = (long)n * B;
    for (int b = 0; b < B; b++) {
        long w = (long)i * B + b;
        long start = count > 1 ? (long)((double)last * w / (count - 1)) : 0;
        window(c->tokens[split], start, tokens + (long)b * T, targets + (long)b * T, T);
    }
}
