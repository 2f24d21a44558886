#include "ppl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

int ppl_result_init(PplResult *r, int context) {
    memset(r, 0, sizeof *r);
    if (context < 2) return -1;
    r->context = context;
    r->nll_sum = xcalloc((size_t)context, sizeof(double));
    r->count = xcalloc((size_t)context, sizeof(long));
    return 0;
}

void ppl_result_free(PplResult *r) {
    free(r->nll_sum);
    free(r->count);
    memset(r, 0, sizeof *r);
}

// FNV-1a over the token ids, then a 64-bit finaliser (splitmix64) to spread the low bits.
static uint64_t ngram_hash(const int *t, int g) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < g; i++) {
        h ^= (uint32_t)t[i];
        h *= 1099511628211ull;
    }
    return splitmix64_mix(h);
}

void ppl_ar_hits(unsigned char *hit, const int *tokens, long n, int ngram) {
    CHECK(ngram >= 1, "ppl_ar_hits: ngram must be >= 1 (got %d)", ngram);
    memset(hit, 0, (size_t)(n > 0 ? n : 0));
    long count = n - ngram + 1; // n-grams in the array
    if (count <= 1) return;
    size_t cap = 16;
    while (cap < 2 * (size_t)count) cap *= 2;
    // Open addressing: start[i] is 1 + the start index of a stored n-gram (0: empty).
    long *start = xcalloc(cap, sizeof(long));         // (cap)
    uint64_t *hash = xmalloc(cap * sizeof(uint64_t)); // (cap)
    size_t mask = cap - 1;
    for (long i = 0; i < count; i++) {
        const int *g = tokens + i;
        uint64_t h = ngram_hash(g, ngram);
        size_t slot = (size_t)h & mask;
        int found = 0;
        while (start[slot]) {
            if (hash[slot] == h &&
                !memcmp(tokens + start[slot] - 1, g, sizeof(int) * (size_t)ngram)) {
                found = 1;
                break;
            }
            slot = (slot + 1) & mask;
        }
        if (found) {
            hit[i + ngram - 1] = 1;
        } else {
            start[slot] = i + 1;
            hash[slot] = h;
        }
    }
    free(start);
    free(hash);
}

static int check_inputs(const Model *m, const int *tokens, const int *token_bytes, long n,
                        const PplOptions *o, const PplResult *r, Error *err) {
    if (o->context < 2)
        return error_set(err, "ppl: context must be at least 2 tokens (got %d)", o->context);
    if (o->stride < 1 || o->stride > o->context)
        return error_set(err, "ppl: stride must be between 1 and the context %d (got %d)",
                         o->context, o->stride);
    if (o->ngram < 1) return error_set(err, "ppl: ngram must be at least 1 (got %d)", o->ngram);
    if (r->context != o->context)
        return error_set(
            err, "ppl: the result was initialised for context %d but the options ask for %d",
            r->context, o->context);
    if (n < 2) return 0;
    if (!tokens || !token_bytes)
        return error_set(err, "ppl: %s is NULL for a document of %ld tokens",
                         tokens ? "token_bytes" : "tokens", n);
    int V = m->cfg.vocab_size;
    for (long j = 0; j < n; j++) {
        if (tokens[j] < 0 || tokens[j] >= V)
            return error_set(
                err,
                "ppl: token %d at document index %ld is outside the model's vocabulary [0, %d)",
                tokens[j], j, V);
        if (token_bytes[j] < 0)
            return error_set(err, "ppl: token_bytes[%ld] is negative (%d)", j, token_bytes[j]);
    }
    return 0;
}

void ppl_trace_push(PplTrace *t, double nll, int bytes, int pos, int hit) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->nll = realloc(t->nll, sizeof(double) * (size_t)t->cap);
        t->bytes = realloc(t->bytes, sizeof(int) * (size_t)t->cap);
        t->pos = realloc(t->pos, sizeof(int) * (size_t)t->cap);
        t->hit = realloc(t->hit, (size_t)t->cap);
        CHECK(t->nll && t->bytes && t->pos && t->hit, "out of memory");
    }
    t->nll[t->n] = nll, t->bytes[t->n] = bytes, t->pos[t->n] = pos,
    t->hit[t->n] = (unsigned char)hit;
    t->n++;
}

void ppl_trace_free(PplTrace *t) {
    free(t->nll);
    free(t->bytes);
    free(t->pos);
    free(t->hit);
    memset(t, 0, sizeof *t);
}

int ppl_trace_document(Model *m, const int *tokens, const int *token_bytes, long n,
                       const PplOptions *o, PplTrace *trace, Error *err) {
    PplResult shape = {.context = o->context};
    if (check_inputs(m, tokens, token_bytes, n, o, &shape, err)) return -1;
    trace->n = 0, trace->windows = 0, trace->scored = 0;
    if (n < 2) return 0;
    unsigned char *hit = xmalloc((size_t)n); // (n)
    ppl_ar_hits(hit, tokens, n, o->ngram);
    long last = 0; // document index of the last scored target (index 0 is never a target)
    for (long s = 0; last < n - 1; s += o->stride) {
        int L = (int)(n - 1 - s < o->context ? n - 1 - s : o->context);
        model_forward(m, tokens + s, tokens + s + 1, 1, L);
        const float *nll = m->nll; // (1, L)
        for (int t = 0; t < L; t++) {
            long j = s + 1 + t;
            if (j > last) ppl_trace_push(trace, nll[t], token_bytes[j], s == 0 ? t : -1, hit[j]);
        }
        last = s + L;
        trace->windows++;
    }
    trace->scored = 1;
    free(hit);
    return 0;
}

void ppl_trace_add(const PplTrace *tr, PplResult *r) {
    if (!tr->scored) return;
    for (long i = 0; i < tr->n; i++) {
        double v = tr->nll[i];
        r->nll += v;
        r->tokens++;
        r->bytes += tr->bytes[i];
        if (tr->hit[i]) {
            r->nll_ar_hit += v;
            r->tokens_ar_hit++;
        } else {
            r->nll_other += v;
            r->tokens_other++;
        }
        if (tr->pos[i] >= 0) {
            r->nll_sum[tr->pos[i]] += v;
            r->count[tr->pos[i]]++;
        }
    }
    r->windows += tr->windows;
    r->documents++;
}

int ppl_score_document(Model *m, const int *tokens, const int *token_bytes, long n,
                       const PplOptions *o, PplResult *r, Error *err) {
    if (check_inputs(m, tokens, token_bytes, n, o, r, err)) return -1;
    PplTrace t = {0};
    int rc = ppl_trace_document(m, tokens, token_bytes, n, o, &t, err);
    if (rc == 0) ppl_trace_add(&t, r); // the same additions, in the same order, as scoring
    ppl_trace_free(&t);
    return rc;
}

double ppl_mean_nll(const PplResult *r) {
    return r->tokens > 0 ? r->nll / (double)r->tokens : NAN;
}

double ppl_perplexity(const PplResult *r) {
    return exp(ppl_mean_nll(r));
}

double ppl_bits_per_byte(const PplResult *r) {
    return r->bytes > 0 ? r->nll / ((double)r->bytes * log(2.0)) : NAN;
}
