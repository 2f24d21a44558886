// Perplexity task (tasks/ppl.h) on a tiny DINT model: every token scored exactly once with the
// context the window rule promises (checked token by token against direct forwards over exactly
// that context), nll_by_position from first windows, the AR-hit split on hand-built and random
// sequences, the derived formulas, and clear errors for bad options.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "grad_util.h"
#include "layers.h"
#include "model.h"
#include "ppl.h"

// One thread: Criterion may run several test processes at once on this 2-core machine.
static void setup(void) {
    threads_init(1);
}

TestSuite(ppl, .init = setup);

static void build(Model *m) {
    ModelConfig cfg = tiny_model_config(VARIANT_DINT, GMODE_CAUSAL, GAMMA_LEARNED, 0.0f);
    Error err;
    cr_assert(model_build(m, &cfg, &err) == 0, "model_build failed: %s", err.msg);
    model_init_params(m, 99);
}

static int *bytes_of(long n) { // (n) a distinct byte length per token: 1 + j % 3
    int *b = malloc(sizeof(int) * (size_t)n);
    for (long j = 0; j < n; j++) b[j] = 1 + (int)(j % 3);
    return b;
}

// The NLL of target j (1 <= j) given tokens[s .. j-1], by a forward over exactly that context.
static double nll_given(Model *m, const int *tokens, long s, long j) {
    int T = (int)(j - s);
    model_forward(m, tokens + s, tokens + s + 1, 1, T);
    return m->nll[T - 1];
}

// Where the window rule says target j's context starts: window k = max(0, ceil((j - C) / S))
// at offset k S is the first whose targets (k S, k S + C] reach j.
static long context_start(long j, int C, int S) {
    long k = j <= C ? 0 : (j - C + S - 1) / S;
    return k * S;
}

// Expected totals of one document, token by token: NLL sum and relative tolerance check.
static void check_tokenwise(Model *m, const int *tokens, long n, int C, int S, double got_nll) {
    double want = 0.0;
    for (long j = 1; j < n; j++) want += nll_given(m, tokens, context_start(j, C, S), j);
    // Different T changes only float rounding of the same causal computation.
    cr_assert(fabs(got_nll - want) <= 1e-5 * fabs(want),
              "n=%ld C=%d S=%d: nll %.9g, token-by-token forwards give %.9g", n, C, S, got_nll,
              want);
}

Test(ppl, disjoint_every_token_once) {
    Model m;
    build(&m);
    int V = m.cfg.vocab_size, C = 5;
    long lens[] = {23, 5, 1, 6, 2}; // several windows with a short last one; one short window;
                                    // skipped; exactly one full window; one target
    PplResult r;
    cr_assert(ppl_result_init(&r, C) == 0);
    PplOptions o = {.context = C, .stride = C, .ngram = 4};
    long want_tokens = 0, want_windows = 0, want_bytes = 0;
    double want_nll = 0.0; // windows forwarded here, summed in the same order: bit for bit
    for (int d = 0; d < 5; d++) {
        long n = lens[d];
        int *tok = malloc(sizeof(int) * (size_t)n), *bytes = bytes_of(n);
        tiny_tokens(tok, (int)n, V, 100 + d);
        long before = r.tokens;
        double nll_before = r.nll;
        Error err;
        cr_assert(ppl_score_document(&m, tok, bytes, n, &o, &r, &err) == 0, "%s", err.msg);
        if (n >= 2) {
            cr_assert_eq(r.tokens - before, n - 1, "doc %d: %ld tokens scored, want %ld", d,
                         r.tokens - before, n - 1);
            check_tokenwise(&m, tok, n, C, C, r.nll - nll_before);
            for (long s = 0; s < n - 1; s += C) {
                int L = (int)(n - 1 - s < C ? n - 1 - s : C);
                model_forward(&m, tok + s, tok + s + 1, 1, L);
                for (int t = 0; t < L; t++) want_nll += m.nll[t];
                want_windows++;
            }
            for (long j = 1; j < n; j++) want_bytes += bytes[j];
            want_tokens += n - 1;
        }
        free(tok);
        free(bytes);
    }
    cr_assert_eq(r.tokens, want_tokens);
    cr_assert_eq(r.tokens, 22 + 4 + 5 + 1);
    cr_assert_eq(r.windows, want_windows);
    cr_assert_eq(r.windows, 5 + 1 + 1 + 1);
    cr_assert_eq(r.documents, 4, "the 1-token document must be skipped, got %ld documents",
                 r.documents);
    cr_assert_eq(r.bytes, want_bytes);
    cr_assert(r.nll == want_nll, "nll %.17g, direct window forwards %.17g", r.nll, want_nll);
    cr_assert(r.nll > 0.0);
    ppl_result_free(&r);
    model_free(&m);
}

Test(ppl, strided_every_token_once) {
    Model m;
    build(&m);
    int V = m.cfg.vocab_size, C = 6;
    long n = 25;
    int tok[25], *bytes = bytes_of(n);
    tiny_tokens(tok, (int)n, V, 7);
    int strides[] = {1, 2, 4, 5};
    for (int i = 0; i < 4; i++) {
        int S = strides[i];
        PplResult r;
        cr_assert(ppl_result_init(&r, C) == 0);
        PplOptions o = {.context = C, .stride = S, .ngram = 2};
        Error err;
        cr_assert(ppl_score_document(&m, tok, bytes, n, &o, &r, &err) == 0, "%s", err.msg);
        cr_assert_eq(r.tokens, n - 1, "stride %d: %ld tokens scored, want %ld", S, r.tokens, n - 1);
        cr_assert_eq(r.tokens_ar_hit + r.tokens_other, r.tokens);
        // 1 window for targets 1..C, then one per `stride` targets.
        long want_windows = 1 + (n - 1 - C + S - 1) / S;
        cr_assert_eq(r.windows, want_windows, "stride %d: %ld windows, want %ld", S, r.windows,
                     want_windows);
        check_tokenwise(&m, tok, n, C, S, r.nll);
        ppl_result_free(&r);
    }
    {
        PplResult a, b, c;
        PplOptions disj = {.context = C, .stride = C, .ngram = 2};
        PplOptions str = {.context = C, .stride = 2, .ngram = 2};
        Error err;
        cr_assert(ppl_result_init(&a, C) == 0 && ppl_result_init(&b, C) == 0 &&
                  ppl_result_init(&c, C) == 0);
        cr_assert(ppl_score_document(&m, tok, bytes, n, &disj, &a, &err) == 0, "%s", err.msg);
        // stride == context after a stride-2 run (another activation shape in between) is the
        // disjoint result bit for bit: totals, split, positions.
        cr_assert(ppl_score_document(&m, tok, bytes, n, &str, &c, &err) == 0, "%s", err.msg);
        cr_assert(ppl_score_document(&m, tok, bytes, n, &disj, &b, &err) == 0, "%s", err.msg);
        cr_assert(a.nll == b.nll && a.nll_ar_hit == b.nll_ar_hit && a.nll_other == b.nll_other);
        cr_assert(a.tokens == b.tokens && a.tokens_ar_hit == b.tokens_ar_hit &&
                  a.bytes == b.bytes && a.windows == b.windows);
        cr_assert(!memcmp(a.nll_sum, b.nll_sum, sizeof(double) * C) &&
                  !memcmp(a.count, b.count, sizeof(long) * C));
        // The contexts differ, so the NLLs must too.
        cr_assert(c.nll != a.nll, "stride 2 and disjoint windows give the same nll %.17g", a.nll);
        cr_assert(c.tokens == a.tokens && c.bytes == a.bytes);
        ppl_result_free(&a);
        ppl_result_free(&b);
        ppl_result_free(&c);
    }
    free(bytes);
    model_free(&m);
}

Test(ppl, nll_by_position_first_window) {
    Model m;
    build(&m);
    int V = m.cfg.vocab_size, C = 8;
    int a[20], b[5];
    tiny_tokens(a, 20, V, 11);
    tiny_tokens(b, 5, V, 12);
    int *ba = bytes_of(20), *bb = bytes_of(5);
    float fa[8], fb[4];
    model_forward(&m, a, a + 1, 1, C);
    memcpy(fa, m.nll, sizeof fa);
    model_forward(&m, b, b + 1, 1, 4);
    memcpy(fb, m.nll, sizeof fb);

    PplResult r;
    cr_assert(ppl_result_init(&r, C) == 0);
    PplOptions o = {.context = C, .stride = 3, .ngram = 4}; // later windows must not add
    Error err;
    cr_assert(ppl_score_document(&m, a, ba, 20, &o, &r, &err) == 0, "%s", err.msg);
    for (int p = 0; p < C; p++) {
        cr_assert_eq(r.count[p], 1, "p=%d count %ld", p, r.count[p]);
        cr_assert(r.nll_sum[p] == (double)fa[p], "p=%d: %.9g, direct forward %.9g", p, r.nll_sum[p],
                  fa[p]);
    }
    cr_assert(ppl_score_document(&m, b, bb, 5, &o, &r, &err) == 0, "%s", err.msg);
    for (int p = 0; p < C; p++) {
        long want_count = p < 4 ? 2 : 1;
        double want = p < 4 ? (double)fa[p] + (double)fb[p] : (double)fa[p];
        cr_assert_eq(r.count[p], want_count, "p=%d count %ld, want %ld", p, r.count[p], want_count);
        cr_assert(r.nll_sum[p] == want, "p=%d: %.17g, want %.17g", p, r.nll_sum[p], want);
    }
    free(ba);
    free(bb);
    ppl_result_free(&r);
    model_free(&m);
}

static void expect_hits(const int *tok, long n, int g, const long *want, int n_want) {
    unsigned char hit[64];
    cr_assert(n <= 64);
    ppl_ar_hits(hit, tok, n, g);
    unsigned char w[64] = {0};
    for (int i = 0; i < n_want; i++) w[want[i]] = 1;
    for (long j = 0; j < n; j++)
        cr_assert_eq(hit[j], w[j], "ngram %d, index %ld: hit %d, want %d", g, j, hit[j], w[j]);
}

Test(ppl, ar_hits_hand_built) {
    int s[12] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 5};
    long h3[] = {6, 7, 8, 9, 10};       // 123 234 341 412 123 ... ; 2 3 5 at 11 is new
    long h4[] = {7, 8, 9, 10};          // 1234 repeats first ending at 7
    long h1[] = {4, 5, 6, 7, 8, 9, 10}; // all but indices 0-3 and the final 5 (a new token)
    long h12[] = {0};
    expect_hits(s, 12, 3, h3, 5);
    expect_hits(s, 12, 4, h4, 4);
    expect_hits(s, 12, 1, h1, 7);
    expect_hits(s, 12, 12, h12, 0);
    int t[6] = {7, 7, 7, 7, 8, 7};
    long t2[] = {2, 3}; // overlapping repeats count: 7 7 ends at 1, then 2 and 3 repeat it
    expect_hits(t, 6, 2, t2, 2);
    int u[2] = {9, 9};
    long u1[] = {1}; // the shortest document with a hit
    expect_hits(u, 2, 1, u1, 1);
    expect_hits(u, 2, 2, u1, 0);
    expect_hits(u, 2, 3, u1, 0); // n-gram longer than the document
}

Test(ppl, ar_hits_match_brute_force) {
    enum { N = 1500 };
    int tok[N];
    unsigned char hit[N];
    tiny_tokens(tok, N, 3, 5); // 3 symbols: many repeats and many hash probes
    for (int g = 1; g <= 8; g++) {
        ppl_ar_hits(hit, tok, N, g);
        long n_hits = 0;
        for (long j = 0; j < N; j++) {
            int want = 0;
            for (long k = g - 1; k < j && j >= g - 1 && !want; k++)
                want = !memcmp(tok + k - g + 1, tok + j - g + 1, sizeof(int) * (size_t)g);
            cr_assert_eq(hit[j], want, "ngram %d, index %ld: hit %d, brute force %d", g, j, hit[j],
                         want);
            n_hits += hit[j];
        }
        cr_assert(n_hits > 0 && n_hits < N - g + 1, "ngram %d: %ld hits", g, n_hits);
    }
}

Test(ppl, ar_split_in_scoring) {
    Model m;
    build(&m);
    int s[12] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 5};
    int *bytes = bytes_of(12);
    Error err;
    // One window over the whole document: hits at target indices 6..10, i.e. positions 5..9.
    model_forward(&m, s, s + 1, 1, 11);
    double want_hit = 0.0, want_other = 0.0;
    for (int j = 1; j < 12; j++) {
        if (j >= 6 && j <= 10)
            want_hit += m.nll[j - 1];
        else
            want_other += m.nll[j - 1];
    }
    PplResult r;
    cr_assert(ppl_result_init(&r, 16) == 0);
    PplOptions o = {.context = 16, .stride = 16, .ngram = 3};
    cr_assert(ppl_score_document(&m, s, bytes, 12, &o, &r, &err) == 0, "%s", err.msg);
    cr_assert_eq(r.tokens_ar_hit, 5);
    cr_assert_eq(r.tokens_other, 6);
    cr_assert(fabs(r.nll_ar_hit - want_hit) <= 1e-12 * want_hit, "%.17g vs %.17g", r.nll_ar_hit,
              want_hit);
    cr_assert(fabs(r.nll_other - want_other) <= 1e-12 * want_other, "%.17g vs %.17g", r.nll_other,
              want_other);
    cr_assert(fabs(r.nll_ar_hit + r.nll_other - r.nll) <= 1e-12 * r.nll);
    ppl_result_free(&r);

    // Windows of 4: the n-gram history is document-wide, so the hit at 6 (1 2 3 first ending
    // at 2, in the previous window) still counts.
    cr_assert(ppl_result_init(&r, 4) == 0);
    o = (PplOptions){.context = 4, .stride = 4, .ngram = 3};
    cr_assert(ppl_score_document(&m, s, bytes, 12, &o, &r, &err) == 0, "%s", err.msg);
    cr_assert_eq(r.windows, 3);
    cr_assert_eq(r.tokens_ar_hit, 5);
    cr_assert_eq(r.tokens_other, 6);
    cr_assert(fabs(r.nll_ar_hit + r.nll_other - r.nll) <= 1e-12 * r.nll);
    ppl_result_free(&r);
    free(bytes);
    model_free(&m);
}

Test(ppl, derived_formulas) {
    PplResult r;
    cr_assert(ppl_result_init(&r, 4) == 0);
    cr_assert(isnan(ppl_mean_nll(&r)) && isnan(ppl_perplexity(&r)) && isnan(ppl_bits_per_byte(&r)),
              "nothing scored must give NAN, not 0");
    r.nll = 10.0;
    r.tokens = 4;
    r.bytes = 8;
    cr_assert(fabs(ppl_mean_nll(&r) - 2.5) < 1e-15, "%.17g", ppl_mean_nll(&r));
    cr_assert(fabs(ppl_perplexity(&r) - 12.182493960703473) < 1e-12, "%.17g", ppl_perplexity(&r));
    // 10 nats over 8 bytes = 10 / (8 ln 2) = 1.8033688011112042 bits per byte
    cr_assert(fabs(ppl_bits_per_byte(&r) - 1.8033688011112042) < 1e-14, "%.17g",
              ppl_bits_per_byte(&r));
    ppl_result_free(&r);
    cr_assert(r.nll_sum == NULL && r.count == NULL);
}

// One bad call: returns -1, the message names the problem, r is untouched.
static void expect_error(Model *m, const int *tok, const int *bytes, long n, PplOptions o,
                         int r_context, const char *needle) {
    PplResult r;
    cr_assert(ppl_result_init(&r, r_context) == 0);
    Error err = {{0}};
    int rc = ppl_score_document(m, tok, bytes, n, &o, &r, &err);
    cr_assert_eq(rc, -1, "expected an error containing '%s'", needle);
    cr_assert(strstr(err.msg, needle), "error '%s' should mention '%s'", err.msg, needle);
    cr_assert(r.tokens == 0 && r.documents == 0 && r.windows == 0 && r.nll == 0.0 &&
              r.count[0] == 0);
    ppl_result_free(&r);
}

Test(ppl, bad_options) {
    Model m;
    build(&m);
    int tok[10], bytes[10];
    tiny_tokens(tok, 10, m.cfg.vocab_size, 3);
    for (int i = 0; i < 10; i++) bytes[i] = 1;
    PplOptions ok = {.context = 4, .stride = 4, .ngram = 4};
    PplOptions o = ok;
    o.context = 1;
    expect_error(&m, tok, bytes, 10, o, 4, "context must be at least 2");
    o = ok;
    o.stride = 0;
    expect_error(&m, tok, bytes, 10, o, 4, "stride must be between 1 and the context 4 (got 0)");
    o.stride = 5;
    expect_error(&m, tok, bytes, 10, o, 4, "stride must be between 1 and the context 4 (got 5)");
    o = ok;
    o.ngram = 0;
    expect_error(&m, tok, bytes, 10, o, 4, "ngram must be at least 1 (got 0)");
    expect_error(&m, tok, bytes, 10, ok, 8, "initialised for context 8");
    expect_error(&m, NULL, bytes, 10, ok, 4, "tokens is NULL");
    expect_error(&m, tok, NULL, 10, ok, 4, "token_bytes is NULL");
    int bad[10];
    memcpy(bad, tok, sizeof bad);
    bad[7] = m.cfg.vocab_size;
    expect_error(&m, bad, bytes, 10, ok, 4, "document index 7 is outside the model's vocabulary");
    bad[7] = -1;
    expect_error(&m, bad, bytes, 10, ok, 4, "token -1");
    int bad_bytes[10];
    memcpy(bad_bytes, bytes, sizeof bad_bytes);
    bad_bytes[9] = -2;
    expect_error(&m, tok, bad_bytes, 10, ok, 4, "token_bytes[9] is negative");
    // Bad options are reported even for a document that would be skipped.
    o = ok;
    o.ngram = 0;
    expect_error(&m, tok, bytes, 1, o, 4, "ngram");

    PplResult r;
    cr_assert(ppl_result_init(&r, 1) == -1, "context 1 must be refused");
    cr_assert(r.nll_sum == NULL);
    cr_assert(ppl_result_init(&r, 4) == 0);
    Error err;
    cr_assert(ppl_score_document(&m, tok, bytes, 1, &ok, &r, &err) == 0);
    cr_assert(ppl_score_document(&m, NULL, NULL, 0, &ok, &r, &err) == 0);
    cr_assert(r.documents == 0 && r.tokens == 0, "documents under 2 tokens are skipped");
    ppl_result_free(&r);
    model_free(&m);
}
