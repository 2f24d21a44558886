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
        if (S_ISDIR(st.st_mode))
            rc = list_files(p, out, err);
        else if (S_ISREG(st.st_mode))
            strlist_push(out, p);
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

typedef struct {
    char *name;
    const char *text;
    long len;
} Doc;

// ---- token cache: tokens of every document, valid only for the same text and tokenizer ----

typedef struct {
    char magic[8];      // "DINTTOK1"
    char identity[192]; // the tokenizer's identity
    uint64_t content;   // FNV-1a of every document's name and bytes, in order
    int64_t n_docs, n_tokens;
    uint64_t tokens_hash; // FNV-1a of the token ids: a damaged cache is caught
} TokenCacheHeader;

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV_BASIS 0xcbf29ce484222325ULL

static uint64_t content_hash(const Doc *docs, int n) {
    uint64_t h = FNV_BASIS;
    for (int i = 0; i < n; i++) {
        h = fnv1a(h, docs[i].name, strlen(docs[i].name) + 1);
        h = fnv1a(h, docs[i].text, (size_t)docs[i].len);
    }
    return h;
}

// 0 when the cache holds exactly these documents under this tokenizer (then doc_tokens and
// all are filled); -1 otherwise, with a note on stderr when an existing cache is refused.
static int token_cache_read(const char *path, const Tokenizer *tok, uint64_t content, int n_docs,
                            long *doc_tokens, int *all, long max_tokens) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    TokenCacheHeader h;
    const char *why = NULL;
    int64_t *counts = NULL;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, "DINTTOK1", 8) != 0)
        why = "not a token cache";
    else if (strncmp(h.identity, tok->identity, sizeof h.identity) != 0)
        why = "made by another tokenizer";
    else if (h.content != content || h.n_docs != n_docs)
        why = "made from other text";
    else if (h.n_tokens < 0 || h.n_tokens > max_tokens)
        why = "corrupt";
    if (!why) {
        counts = xmalloc(sizeof(int64_t) * (size_t)n_docs);
        long sum = 0;
        if (fread(counts, sizeof(int64_t), (size_t)n_docs, f) != (size_t)n_docs ||
            fread(all, sizeof(int), (size_t)h.n_tokens, f) != (size_t)h.n_tokens || fgetc(f) != EOF)
            why = "truncated or too long";
        for (int i = 0; !why && i < n_docs; i++)
            sum += counts[i] >= 0 ? counts[i] : -max_tokens - 1;
        if (!why && sum != h.n_tokens) why = "corrupt";
        if (!why && fnv1a(FNV_BASIS, all, sizeof(int) * (size_t)h.n_tokens) != h.tokens_hash)
            why = "corrupt (checksum)";
        for (int i = 0; !why && i < n_docs; i++) doc_tokens[i] = (long)counts[i];
    }
    fclose(f);
    free(counts);
    if (why) {
        fprintf(stderr, "dint: token cache %s is %s; rebuilding it\n", path, why);
        return -1;
    }
    return 0;
}

static void token_cache_write(const char *path, const Tokenizer *tok, uint64_t content, int n_docs,
                              const long *doc_tokens, const int *all) {
    TokenCacheHeader h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "DINTTOK1", 8);
    snprintf(h.identity, sizeof h.identity, "%s", tok->identity);
    h.content = content;
    h.n_docs = n_docs;
    int64_t *counts = xmalloc(sizeof(int64_t) * (size_t)n_docs);
    for (int i = 0; i < n_docs; i++) {
        counts[i] = doc_tokens[i];
        h.n_tokens += doc_tokens[i];
    }
    h.tokens_hash = fnv1a(FNV_BASIS, all, sizeof(int) * (size_t)h.n_tokens);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(&h, sizeof h, 1, f) == 1 &&
             fwrite(counts, sizeof(int64_t), (size_t)n_docs, f) == (size_t)n_docs &&
             fwrite(all, sizeof(int), (size_t)h.n_tokens, f) == (size_t)h.n_tokens;
    if (f && fclose(f) != 0) ok = 0;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) {
        remove(tmp); // a cache is an optimisation: failing to write one is not an error
        fprintf(stderr, "dint: could not write token cache %s (continuing without it)\n", path);
    }
    free(counts);
}

typedef struct {
    Doc *items;
    int n, cap;
} DocList;

// The documents of one file's text (len bytes): the whole file (directory corpus, named by its
// path under the corpus) or its blank-line-separated paragraphs ("paragraph N").
static void add_documents(DocList *d, const char *text, long len, int is_dir, const char *rel) {
    long start = 0;
    int para = 0;
    while (start < len) {
        long end = len;
        if (!is_dir) {
            const char *sep = strstr(text + start, "\n\n");
            end = sep ? sep - text : len;
        }
        long a = start, b = end;
        while (a < b && (text[a] == '\n' || text[a] == ' ' || text[a] == '\r' || text[a] == '\t'))
            a++;
        if (b > a) {
            if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 64;
                Doc *grown = realloc(d->items, sizeof(Doc) * (size_t)d->cap);
                CHECK(grown != NULL, "out of memory");
                d->items = grown;
            }
            char name[4200];
            if (is_dir)
                snprintf(name, sizeof name, "%s", rel);
            else
                snprintf(name, sizeof name, "paragraph %d", para);
            d->items[d->n].name = strdup(name);
            d->items[d->n].text = text + a;
            d->items[d->n].len = b - a;
            d->n++;
            para++;
        }
        start = end + (is_dir ? 0 : 2);
    }
}

// The split: a seeded shuffle of document indices; the first n_val go to validation, the next
// n_test to test, the rest to training. Fills c->doc_split (n_docs) and allocates the lists.
static int assign_split(Corpus *c, int n_docs, float val_fraction, float test_fraction,
                        uint64_t split_seed, const char *path, Error *err) {
    int n_val = val_fraction > 0 ? (int)(val_fraction * n_docs + 0.5) : 0;
    int n_test = test_fraction > 0 ? (int)(test_fraction * n_docs + 0.5) : 0;
    if (val_fraction > 0 && n_val < 1) n_val = 1;
    if (test_fraction > 0 && n_test < 1) n_test = 1;
    if (n_docs - n_val - n_test < 1)
        return error_set(err,
                         "the corpus at '%s' has %d documents: too few to hold out %d for "
                         "validation and %d for test and still train (give more documents)",
                         path, n_docs, n_val, n_test);
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
        c->doc_split[order[i]] =
            i < n_val ? SPLIT_VAL : (i < n_val + n_test ? SPLIT_TEST : SPLIT_TRAIN);
    free(order);
    return 0;
}

// All documents' tokens in document order (from the token cache when it is valid), then each
// split's token list: its documents in order, each followed by the end-of-text token. Takes
// the documents' names into c.
static int tokenize_documents(Corpus *c, DocList *d, Tokenizer *tok, const char *cache_path,
                              Error *err) {
    int rc = 0, n_docs = d->n;
    Doc *docs = d->items;
    long total_bytes = 0;
    for (int i = 0; i < n_docs; i++) total_bytes += docs[i].len;
    int *all = xmalloc(sizeof(int) * (size_t)(total_bytes + 1));
    uint64_t content = content_hash(docs, n_docs);
    if (!cache_path ||
        token_cache_read(cache_path, tok, content, n_docs, c->doc_tokens, all, total_bytes) != 0) {
        long at = 0;
        for (int i = 0; i < n_docs && rc == 0; i++) {
            long k = tokenizer_encode(tok, docs[i].text, (size_t)docs[i].len, all + at);
            if (k < 0) rc = error_set(err, "cannot tokenise document '%s'", docs[i].name);
            c->doc_tokens[i] = k;
            at += k;
        }
        if (rc == 0 && cache_path)
            token_cache_write(cache_path, tok, content, n_docs, c->doc_tokens, all);
    }
    long cap[3] = {0, 0, 0};
    for (int i = 0; i < n_docs; i++) cap[c->doc_split[i]] += c->doc_tokens[i] + 1;
    for (int s = 0; s < 3; s++) c->tokens[s] = xmalloc(sizeof(int) * (size_t)(cap[s] + 1));
    long at = 0;
    for (int i = 0; i < n_docs && rc == 0; i++) {
        int s = c->doc_split[i];
        int *dst = c->tokens[s] + c->n_tokens[s];
        memcpy(dst, all + at, sizeof(int) * (size_t)c->doc_tokens[i]);
        at += c->doc_tokens[i];
        dst[c->doc_tokens[i]] = tok->eot;
        c->n_tokens[s] += c->doc_tokens[i] + 1;
        c->doc_names[i] = docs[i].name;
        docs[i].name = NULL;
    }
    free(all);
    return rc;
}

int corpus_load(Corpus *c, const char *path, Tokenizer *tok, float val_fraction,
                float test_fraction, uint64_t split_seed, const char *cache_path, Error *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    struct stat st;
    if (stat(path, &st) != 0)
        return error_set(err, "data path '%s' does not exist (give a text file or a directory)",
                         path);
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
    DocList docs = {0};
    int rc = 0;
    for (int f = 0; f < files.n && rc == 0; f++) {
        long len;
        texts[f] = read_file(files.items[f], &len, err);
        if (!texts[f]) {
            rc = -1;
            break;
        }
        long bad = utf8_first_invalid(texts[f], (size_t)len);
        if (bad >= 0) {
            rc = error_set(err, "'%s' is not UTF-8 text (invalid byte at offset %ld)",
                           files.items[f], bad);
            break;
        }
        c->n_bytes += len;
        add_documents(&docs, texts[f], len, is_dir,
                      is_dir ? files.items[f] + strlen(path) + 1 : NULL);
    }
    if (rc == 0 && docs.n == 0)
        rc = error_set(err, "the corpus at '%s' is empty: it holds no text", path);
    if (rc == 0) rc = assign_split(c, docs.n, val_fraction, test_fraction, split_seed, path, err);
    if (rc == 0) rc = tokenize_documents(c, &docs, tok, cache_path, err);
    for (int i = 0; i < docs.n; i++) free(docs.items[i].name);
    free(docs.items);
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
