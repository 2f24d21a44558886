// Tests of the in-context learning task (tasks/icl.h): label scoring against log-likelihoods
// computed here with model_forward, length normalisation on a hand-built model, determinism,
// the train/test provenance and order of demonstrations, the spread over orderings, errors,
// the context budget, the synthetic family and training episodes.
//
// Build by hand (from the repository root; one command line):
//   gcc -O2 -fopenmp -Wall -Wextra -Icore -Itasks -Itests tests/test_icl.c tasks/icl.c
//     tests/grad_util.c core/*.c -lopenblas -lgsl -lcjson -lpcre2-8 -lcriterion -lm
//     -o /tmp/test_icl && /tmp/test_icl --jobs 1
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad_util.h"
#include "icl.h"
#include "layers.h"
#include "model.h"
#include "tokenizer.h"

static void setup(void) {
    threads_init(1);
    icl_set_batch_budget(0);
}

TestSuite(icl, .init = setup);

// ---- Fixtures -----------------------------------------------------------------------------

static Tokenizer byte_tokenizer(void) {
    Tokenizer t;
    Error err;
    cr_assert_eq(tokenizer_open(&t, "byte", NULL, &err), 0, "%s", err.msg);
    return t;
}

// A tiny byte-level model with random weights (init_std 0.3: non-uniform predictions).
static void tiny_model(Model *m, Variant v, uint64_t seed) {
    ModelConfig cfg = tiny_model_config(v, GMODE_CAUSAL, GAMMA_TIED, 0.0f);
    cfg.vocab_size = BYTE_TOKENIZER_VOCAB;
    Error err;
    cr_assert_eq(model_build(m, &cfg, &err), 0, "%s", err.msg);
    model_init_params(m, seed);
}

// A labelled set: n examples with short distinct texts, labels cycling over n_labels, every
// fourth example in the test split. Storage lives in the struct.
typedef struct {
    IclDataset d;
    char text_buf[64][48];
    const char *text[64];
    int label[64];
    unsigned char is_test[64];
    const char *names[8];
} ToySet;

static const char *const TOY_WORDS[] = {"apple", "river",  "stone",  "cloud",  "lemon",  "tiger",
                                        "piano", "forest", "candle", "window", "garden", "rocket"};

static void toy_set(ToySet *s, int n, int n_labels, const char *const *names) {
    memset(s, 0, sizeof *s);
    cr_assert(n <= 64 && n_labels <= 8);
    for (int i = 0; i < n; i++) {
        snprintf(s->text_buf[i], sizeof s->text_buf[i], "the %s number %d", TOY_WORDS[i % 12], i);
        s->text[i] = s->text_buf[i];
        s->label[i] = i % n_labels;
        s->is_test[i] = i % 4 == 3;
    }
    for (int c = 0; c < n_labels; c++) s->names[c] = names[c];
    s->d = (IclDataset){.n = n,
                        .text = s->text,
                        .label = s->label,
                        .is_test = s->is_test,
                        .n_labels = n_labels,
                        .label_names = s->names};
}

static const char *const NAMES3[] = {"yes", "no", "maybe"};

// log p(" <label>\n" | eot, prompt) straight from model_forward's per-token NLL (B = 1).
static double direct_logp(Model *m, const char *prompt, const char *label) {
    char cand[64];
    int c = snprintf(cand, sizeof cand, " %s\n", label);
    int P = (int)strlen(prompt), n = 1 + P + c;
    int *seq = malloc(sizeof(int) * (size_t)n);
    seq[0] = BYTE_TOKENIZER_EOT;
    for (int i = 0; i < P; i++) seq[1 + i] = (unsigned char)prompt[i];
    for (int i = 0; i < c; i++) seq[1 + P + i] = (unsigned char)cand[i];
    int T = n - 1;
    model_forward(m, seq, seq + 1, 1, T);
    double s = 0.0;
    for (int t = T - c; t < T; t++) s -= m->nll[t];
    free(seq);
    return s;
}

// The documented prompt, written out here independently of icl_format_prompt.
static char *expected_prompt(const IclEpisode *ep) {
    size_t cap = 4096;
    char *p = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < ep->k; i++)
        n += (size_t)snprintf(p + n, cap - n, "Input: %s\nLabel: %s\n\n", ep->demo_text[i],
                              ep->label_names[ep->demo_label[i]]);
    snprintf(p + n, cap - n, "Input: %s\nLabel:", ep->query_text);
    return p;
}

static int close_to(double a, double b) {
    return fabs(a - b) <= 1e-4 + 1e-5 * fabs(b);
}

// ---- (1) label scoring ------------------------------------------------------------------

// Every (episode, ordering) of an evaluation rescored here: prompt text, each label's
// log-likelihood from model_forward, argmax and mean argmax; icl's numbers and predictions
// must match, and the accuracies must be the ones these predictions give. Run with the default
// batch and with a budget that forces several padded batches per prompt.
static void check_scoring(long budget, int rows_per_batch) {
    Model m;
    tiny_model(&m, VARIANT_DINT, 7);
    Tokenizer tok = byte_tokenizer();
    ToySet s;
    static const char *const names5[] = {"yes", "no", "maybe", "often", "x"};
    toy_set(&s, 40, 5, names5);
    IclOptions o = {.k = 3, .max_context = 1024, .episodes = 4, .orders = 2, .seed = 11};
    icl_set_batch_budget(budget);
    Error err;
    IclResult r;
    cr_assert_eq(icl_evaluate(&m, &tok, &s.d, &o, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.fits, 1);
    int hit = 0, hit_norm = 0, checked = 0;
    for (int e = 0; e < o.episodes; e++)
        for (int so = 0; so < o.orders; so++) {
            IclEpisode ep;
            cr_assert_eq(icl_episode(&s.d, &o, e, so, &ep, &err), 0, "%s", err.msg);
            size_t len;
            char *prompt = icl_format_prompt(&ep, &len);
            char *want = expected_prompt(&ep);
            cr_assert_str_eq(prompt, want, "episode %d ordering %d: prompt format", e, so);
            double ls[5], lm[5], direct[5], direct_mean[5];
            int pn;
            int p = icl_score_labels(&m, &tok, prompt, len, 5, names5, ls, lm, &pn, &err);
            cr_assert_geq(p, 0, "%s", err.msg);
            cr_assert_eq(m.B, rows_per_batch, "last scoring batch had %d rows", m.B);
            int best = 0, best_norm = 0;
            for (int i = 0; i < 5; i++) {
                direct[i] = direct_logp(&m, prompt, names5[i]);
                direct_mean[i] = direct[i] / (double)(strlen(names5[i]) + 2);
                cr_assert(close_to(ls[i], direct[i]), "e %d s %d label %d: icl %.6f vs direct %.6f",
                          e, so, i, ls[i], direct[i]);
                cr_assert(close_to(lm[i], direct_mean[i]), "label %d mean: %.6f vs %.6f", i, lm[i],
                          direct_mean[i]);
                if (direct[i] > direct[best]) best = i;
                if (direct_mean[i] > direct_mean[best_norm]) best_norm = i;
                checked++;
            }
            cr_assert_eq(p, best, "icl picked %d, direct argmax %d", p, best);
            cr_assert_eq(pn, best_norm);
            cr_assert_eq(r.pred[e * o.orders + so], best);
            cr_assert_eq(r.pred_norm[e * o.orders + so], best_norm);
            cr_assert_eq(r.truth[e], ep.query_label);
            cr_assert_eq(r.query[e], ep.query_index);
            hit += best == ep.query_label;
            hit_norm += best_norm == ep.query_label;
            free(prompt);
            free(want);
            icl_episode_free(&ep);
        }
    cr_assert_eq(checked, o.episodes * o.orders * 5);
    cr_assert_float_eq(r.accuracy, (double)hit / (o.episodes * o.orders), 1e-12);
    cr_assert_float_eq(r.accuracy_norm, (double)hit_norm / (o.episodes * o.orders), 1e-12);
    icl_result_free(&r);
    icl_set_batch_budget(0);
    tokenizer_close(&tok);
    model_free(&m);
}

Test(icl, scoring_matches_direct_loglik_one_batch) {
    check_scoring(0, 5);
}

Test(icl, scoring_matches_direct_loglik_padded_batches) {
    // About 2.5 rows' activations (a row is 1.0-1.2 MB at these lengths, T = 160 or 192, with
    // the streaming attention's O(T) memory): 5 labels -> 3 batches of 2, the last padded with
    // a repeated row.
    check_scoring(2700000L, 2);
}

// ---- (2) length normalisation -----------------------------------------------------------

// A hand-built model whose next-token distribution is the same everywhere: logit A for 'b',
// 0 for every other byte. Embeddings are all e0, attention and FFN outputs are zero, so the
// final RMSNorm sees e0 (normalised to sqrt(D) e0) and lm_head row 'b' = (A / sqrt(D)) e0.
static void constant_model(Model *m, double A) {
    tiny_model(m, VARIANT_TRANSFORMER, 3);
    const ModelConfig *c = &m->cfg;
    int V = c->vocab_size, D = c->d_model, F = c->ffn_dim;
    cr_assert_eq(c->tie_embeddings, 0);
    for (int v = 0; v < V; v++)
        for (int j = 0; j < D; j++) {
            m->p.tok_emb[(long)v * D + j] = j == 0 ? 1.0f : 0.0f;
            m->p.lm_head[(long)v * D + j] = 0.0f;
        }
    m->p.lm_head[(long)'b' * D] = (float)(A / sqrt((double)D));
    for (int l = 0; l < c->n_layer; l++) {
        memset(m->p.layers[l].wo, 0, sizeof(float) * (size_t)D * D);
        memset(m->p.layers[l].w_down, 0, sizeof(float) * (size_t)D * F);
    }
    for (int j = 0; j < D; j++) m->p.norm[j] = 1.0f;
}

Test(icl, length_normalisation_differs_from_sum) {
    const double A = 4.7;
    Model m;
    constant_model(&m, A);
    Tokenizer tok = byte_tokenizer();
    // log p('b') = A - Z, log p(other) = -Z, Z = log(e^A + 256); the RMSNorm eps shifts A by
    // a relative 1e-5 * D / 2.
    double Z = log(exp(A) + 256.0);
    double want_a = -3 * Z, want_b = 8 * A - 10 * Z; // " a\n": 3 tokens; " bbbbbbbb\n": 10
    static const char *const names[] = {"a", "bbbbbbbb"};
    const char *prompt = "Input: anything\nLabel:";
    double ls[2], lm[2];
    int pn = -1;
    Error err;
    int p = icl_score_labels(&m, &tok, prompt, strlen(prompt), 2, names, ls, lm, &pn, &err);
    cr_assert_geq(p, 0, "%s", err.msg);
    cr_assert_float_eq(ls[0], want_a, 2e-3, "sum 'a': %.6f vs %.6f", ls[0], want_a);
    cr_assert_float_eq(ls[1], want_b, 2e-3, "sum 'bbbbbbbb': %.6f vs %.6f", ls[1], want_b);
    cr_assert_float_eq(lm[0], want_a / 3, 1e-3);
    cr_assert_float_eq(lm[1], want_b / 10, 1e-3);
    cr_assert_eq(p, 0, "the sum prefers the short label");
    cr_assert_eq(pn, 1, "the per-token mean prefers the long one");

    // Through icl_evaluate: every query is labelled "a" (the model ignores its input).
    ToySet s;
    toy_set(&s, 24, 2, names);
    for (int i = 0; i < s.d.n; i++)
        if (s.is_test[i]) s.label[i] = 0;
    IclOptions o = {.k = 2, .max_context = 512, .episodes = 5, .orders = 2, .seed = 1};
    IclResult r;
    cr_assert_eq(icl_evaluate(&m, &tok, &s.d, &o, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.accuracy, 1.0);
    cr_assert_eq(r.accuracy_norm, 0.0);
    icl_result_free(&r);
    tokenizer_close(&tok);
    model_free(&m);
}

Test(icl, ties_go_to_the_lowest_label) {
    Model m;
    constant_model(&m, 0.0); // uniform predictions: equal lengths give equal scores
    Tokenizer tok = byte_tokenizer();
    static const char *const names[] = {"cc", "aa", "dd"};
    double ls[3];
    int pn;
    Error err;
    int p = icl_score_labels(&m, &tok, "Input: q\nLabel:", 15, 3, names, ls, NULL, &pn, &err);
    cr_assert_eq(ls[0], ls[1]);
    cr_assert_eq(ls[1], ls[2]);
    cr_assert_eq(p, 0);
    cr_assert_eq(pn, 0);
    tokenizer_close(&tok);
    model_free(&m);
}

// ---- (3) determinism --------------------------------------------------------------------

static int episodes_equal(const IclEpisode *a, const IclEpisode *b) {
    if (a->k != b->k || a->query_index != b->query_index) return 0;
    return memcmp(a->demo_index, b->demo_index, sizeof(int) * (size_t)a->k) == 0;
}

Test(icl, same_seed_same_bits_other_seed_other_draws) {
    Model m;
    tiny_model(&m, VARIANT_DIFF, 5);
    Tokenizer tok = byte_tokenizer();
    ToySet s;
    toy_set(&s, 48, 3, NAMES3);
    IclOptions o = {.k = 4, .max_context = 1024, .episodes = 5, .orders = 3, .seed = 99};
    IclResult r1, r2;
    Error err;
    cr_assert_eq(icl_evaluate(&m, &tok, &s.d, &o, &r1, &err), 0, "%s", err.msg);
    cr_assert_eq(icl_evaluate(&m, &tok, &s.d, &o, &r2, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(&r1.accuracy, &r2.accuracy, sizeof(double)), 0);
    cr_assert_eq(memcmp(&r1.accuracy_norm, &r2.accuracy_norm, sizeof(double)), 0);
    cr_assert_eq(memcmp(&r1.order_std, &r2.order_std, sizeof(double)), 0);
    cr_assert_eq(memcmp(r1.order_accuracy, r2.order_accuracy, sizeof(double) * 3), 0);
    cr_assert_eq(memcmp(r1.pred, r2.pred, sizeof(int) * 15), 0);
    cr_assert_eq(memcmp(r1.pred_norm, r2.pred_norm, sizeof(int) * 15), 0);
    cr_assert_eq(memcmp(r1.query, r2.query, sizeof(int) * 5), 0);
    icl_result_free(&r1);
    icl_result_free(&r2);

    // Another seed: other queries or demonstrations in some episode (compare draws, not scores).
    IclOptions o2 = o;
    o2.seed = 100;
    int differ = 0;
    for (int e = 0; e < o.episodes; e++)
        for (int so = 0; so < o.orders; so++) {
            IclEpisode a, b, a2;
            cr_assert_eq(icl_episode(&s.d, &o, e, so, &a, &err), 0, "%s", err.msg);
            cr_assert_eq(icl_episode(&s.d, &o, e, so, &a2, &err), 0);
            cr_assert_eq(icl_episode(&s.d, &o2, e, so, &b, &err), 0);
            cr_assert(episodes_equal(&a, &a2), "same seed, same draw");
            differ += !episodes_equal(&a, &b);
            icl_episode_free(&a);
            icl_episode_free(&a2);
            icl_episode_free(&b);
        }
    cr_assert_geq(differ, o.episodes * o.orders - 2, "only %d of %d draws changed with the seed",
                  differ, o.episodes * o.orders);
    tokenizer_close(&tok);
    model_free(&m);
}

static int contains(const int *a, int n, int x) {
    for (int i = 0; i < n; i++)
        if (a[i] == x) return 1;
    return 0;
}

Test(icl, draws_are_nested_in_k) {
    ToySet s;
    toy_set(&s, 60, 3, NAMES3);
    Error err;
    for (int e = 0; e < 6; e++) {
        IclOptions o3 = {.k = 3, .max_context = 1024, .episodes = 6, .orders = 1, .seed = 4};
        IclOptions o7 = o3;
        o7.k = 7;
        IclEpisode a, b;
        cr_assert_eq(icl_episode(&s.d, &o3, e, 0, &a, &err), 0, "%s", err.msg);
        cr_assert_eq(icl_episode(&s.d, &o7, e, 0, &b, &err), 0, "%s", err.msg);
        cr_assert_eq(a.query_index, b.query_index, "the query does not depend on k");
        for (int i = 0; i < 3; i++)
            cr_assert(contains(b.demo_index, 7, a.demo_index[i]),
                      "episode %d: demo %d at k=3 missing at k=7", e, a.demo_index[i]);
        icl_episode_free(&a);
        icl_episode_free(&b);
    }
}

// ---- (4) provenance and order -----------------------------------------------------------

Test(icl, demonstrations_from_train_queries_from_test) {
    ToySet s;
    toy_set(&s, 64, 3, NAMES3);
    Error err;
    for (int alt = 0; alt <= 1; alt++) {
        IclOptions o = {.k = 7,
                        .max_context = 1024,
                        .episodes = 16,
                        .orders = 3,
                        .class_alternating = alt,
                        .seed = 21};
        int seen_query[64] = {0};
        for (int e = 0; e < o.episodes; e++)
            for (int so = 0; so < o.orders; so++) {
                IclEpisode ep;
                cr_assert_eq(icl_episode(&s.d, &o, e, so, &ep, &err), 0, "%s", err.msg);
                cr_assert_eq(s.is_test[ep.query_index], 1, "query %d is not a test example",
                             ep.query_index);
                cr_assert_eq(ep.query_label, s.label[ep.query_index]);
                cr_assert_str_eq(ep.query_text, s.text[ep.query_index]);
                if (so == 0) seen_query[ep.query_index]++;
                int count[3] = {0, 0, 0};
                for (int j = 0; j < ep.k; j++) {
                    int i = ep.demo_index[j];
                    cr_assert_eq(s.is_test[i], 0, "demonstration %d is a test example", i);
                    cr_assert_eq(ep.demo_label[j], s.label[i]);
                    cr_assert_str_eq(ep.demo_text[j], s.text[i]);
                    for (int j2 = 0; j2 < j; j2++)
                        cr_assert_neq(ep.demo_index[j2], i, "repeated demonstration");
                    count[ep.demo_label[j]]++;
                    if (alt && j > 0)
                        cr_assert_neq(ep.demo_label[j], ep.demo_label[j - 1],
                                      "episode %d ordering %d: classes do not alternate at %d", e,
                                      so, j);
                }
                int lo = count[0], hi = count[0];
                for (int c = 1; c < 3; c++) {
                    lo = count[c] < lo ? count[c] : lo;
                    hi = count[c] > hi ? count[c] : hi;
                }
                cr_assert_leq(hi - lo, 1, "class counts %d %d %d not balanced", count[0], count[1],
                              count[2]);
                icl_episode_free(&ep);
            }
        // 16 test examples, 16 episodes: every test example queried once.
        for (int i = 0; i < 64; i++)
            cr_assert_eq(seen_query[i], s.is_test[i], "test example %d queried %d times", i,
                         seen_query[i]);
    }
}

Test(icl, orderings_permute_the_same_demonstrations) {
    ToySet s;
    toy_set(&s, 64, 3, NAMES3);
    IclOptions o = {.k = 6, .max_context = 1024, .episodes = 3, .orders = 4, .seed = 8};
    Error err;
    for (int e = 0; e < o.episodes; e++) {
        IclEpisode first;
        cr_assert_eq(icl_episode(&s.d, &o, e, 0, &first, &err), 0, "%s", err.msg);
        int differ = 0;
        for (int so = 1; so < o.orders; so++) {
            IclEpisode ep;
            cr_assert_eq(icl_episode(&s.d, &o, e, so, &ep, &err), 0);
            cr_assert_eq(ep.query_index, first.query_index);
            for (int j = 0; j < o.k; j++)
                cr_assert(contains(first.demo_index, o.k, ep.demo_index[j]));
            differ += memcmp(ep.demo_index, first.demo_index, sizeof(int) * (size_t)o.k) != 0;
            icl_episode_free(&ep);
        }
        cr_assert_geq(differ, 2, "orderings should differ");
        icl_episode_free(&first);
    }
}

// ---- (5) spread over orderings ----------------------------------------------------------

Test(icl, order_spread_is_max_minus_min) {
    // Labels of equal length and a model (seed) whose predictions depend on the order.
    Model m;
    tiny_model(&m, VARIANT_DIFF, 5);
    Tokenizer tok = byte_tokenizer();
    ToySet s;
    static const char *const names[] = {"aaa", "abc", "cab"};
    toy_set(&s, 64, 3, names);
    IclOptions o = {.k = 5, .max_context = 1024, .episodes = 16, .orders = 5, .seed = 3};
    IclResult r;
    Error err;
    cr_assert_eq(icl_evaluate(&m, &tok, &s.d, &o, &r, &err), 0, "%s", err.msg);
    double lo = 1e9, hi = -1e9, mean = 0.0;
    for (int so = 0; so < o.orders; so++) {
        int hit = 0;
        for (int e = 0; e < o.episodes; e++) hit += r.pred[e * o.orders + so] == r.truth[e];
        cr_assert_float_eq(r.order_accuracy[so], (double)hit / o.episodes, 1e-12);
        lo = fmin(lo, r.order_accuracy[so]);
        hi = fmax(hi, r.order_accuracy[so]);
        mean += r.order_accuracy[so] / o.orders;
    }
    cr_log_info("order accuracies %.3f %.3f %.3f %.3f %.3f", r.order_accuracy[0],
                r.order_accuracy[1], r.order_accuracy[2], r.order_accuracy[3], r.order_accuracy[4]);
    cr_assert_gt(hi - lo, 0.0,
                 "fixture: the orderings should score differently (pick another model seed if core "
                 "numerics changed)");
    cr_assert_eq(r.best_minus_worst, hi - lo);
    cr_assert_float_eq(r.order_std, gsl_stats_sd(r.order_accuracy, 1, 5), 1e-15);
    cr_assert_float_eq(r.accuracy, mean, 1e-12);
    icl_result_free(&r);

    o.orders = 1;
    cr_assert_eq(icl_evaluate(&m, &tok, &s.d, &o, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.best_minus_worst, 0.0);
    cr_assert(isnan(r.order_std), "one ordering has no standard deviation");
    icl_result_free(&r);
    tokenizer_close(&tok);
    model_free(&m);
}

// ---- (6) errors and the context budget --------------------------------------------------

static void expect_error(Model *m, Tokenizer *tok, const IclDataset *d, const IclOptions *o,
                         const char *needle) {
    IclResult r;
    Error err = {{0}};
    cr_assert_eq(icl_evaluate(m, tok, d, o, &r, &err), -1, "expected an error about '%s'", needle);
    cr_assert(strstr(err.msg, needle), "error '%s' does not mention '%s'", err.msg, needle);
    cr_assert_null(r.order_accuracy);
}

Test(icl, bad_options_and_datasets) {
    Model m;
    tiny_model(&m, VARIANT_TRANSFORMER, 1);
    Tokenizer tok = byte_tokenizer();
    ToySet s;
    toy_set(&s, 24, 3, NAMES3);
    IclOptions ok = {.k = 2, .max_context = 512, .episodes = 2, .orders = 1, .seed = 1}, o;
    o = ok, o.k = -1;
    expect_error(&m, &tok, &s.d, &o, "k must be >= 0");
    o = ok, o.orders = 0;
    expect_error(&m, &tok, &s.d, &o, "orders must be >= 1");
    o = ok, o.episodes = 0;
    expect_error(&m, &tok, &s.d, &o, "episodes must be >= 1");
    o = ok, o.max_context = 0;
    expect_error(&m, &tok, &s.d, &o, "max_context");
    o = ok, o.k = 19; // 18 train examples
    expect_error(&m, &tok, &s.d, &o, "exceeds the 18 train examples");

    IclDataset empty = s.d;
    empty.n = 0;
    expect_error(&m, &tok, &empty, &ok, "dataset is empty");

    ToySet missing;
    toy_set(&missing, 24, 3, NAMES3);
    for (int i = 0; i < 24; i++)
        if (missing.label[i] == 2) missing.is_test[i] = 1; // "maybe" only in test
    expect_error(&m, &tok, &missing.d, &ok, "label 'maybe' has no example in the train split");

    ToySet notest;
    toy_set(&notest, 24, 3, NAMES3);
    memset(notest.is_test, 0, sizeof notest.is_test);
    expect_error(&m, &tok, &notest.d, &ok, "no test example");

    static const char *const dup[] = {"yes", "no", "yes"};
    ToySet dupset;
    toy_set(&dupset, 24, 3, dup);
    expect_error(&m, &tok, &dupset.d, &ok, "appears twice");

    ToySet badlabel;
    toy_set(&badlabel, 24, 3, NAMES3);
    badlabel.label[5] = 3;
    expect_error(&m, &tok, &badlabel.d, &ok, "example 5 has label 3");

    ToySet badutf;
    toy_set(&badutf, 24, 3, NAMES3);
    badutf.text_buf[2][4] = (char)0xff;
    expect_error(&m, &tok, &badutf.d, &ok, "example 2's text is not valid UTF-8");

    IclResult r;
    Error err;
    o = ok, o.k = 0;
    cr_assert_eq(icl_evaluate_synthetic(&m, &tok, 4, &o, &r, &err), -1);
    cr_assert(strstr(err.msg, "k must be >= 1"), "%s", err.msg);
    cr_assert_eq(icl_evaluate_synthetic(&m, &tok, 1, &ok, &r, &err), -1);
    cr_assert(strstr(err.msg, "n_classes"), "%s", err.msg);
    cr_assert_eq(icl_evaluate_synthetic(&m, &tok, ICL_SYNTH_MAX_CLASSES + 1, &ok, &r, &err), -1);

    // A model whose vocabulary does not cover the tokenizer.
    Model small;
    ModelConfig cfg = tiny_model_config(VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_TIED, 0.0f);
    cr_assert_eq(model_build(&small, &cfg, &err), 0, "%s", err.msg);
    expect_error(&small, &tok, &s.d, &ok, "vocabulary");
    model_free(&small);
    tokenizer_close(&tok);
    model_free(&m);
}

Test(icl, context_budget_and_max_shots) {
    Model m;
    tiny_model(&m, VARIANT_DINT, 2);
    Tokenizer tok = byte_tokenizer();
    ToySet s;
    toy_set(&s, 64, 3, NAMES3);
    const int ctx = 200;
    int kmax = icl_max_shots(&tok, &s.d, ctx);
    cr_assert_gt(kmax, 0);
    IclOptions o = {.k = kmax, .max_context = ctx, .episodes = 8, .orders = 2, .seed = 5};
    IclResult r;
    Error err;
    cr_assert_eq(icl_evaluate(&m, &tok, &s.d, &o, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.fits, 1, "k = max_shots = %d must fit (longest episode %d tokens)", kmax,
                 r.max_tokens);
    cr_assert_leq(r.max_tokens, ctx);
    icl_result_free(&r);
    // Byte tokens: demonstrations are 33 to 43 bytes, so four more surely overflow.
    o.k = kmax + 4;
    cr_assert_eq(icl_evaluate(&m, &tok, &s.d, &o, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.fits, 0);
    cr_assert_gt(r.max_tokens, ctx);
    cr_assert(isnan(r.accuracy));
    cr_assert_null(r.order_accuracy);
    cr_assert_null(r.pred);
    icl_result_free(&r);
    cr_assert_eq(icl_max_shots(&tok, &s.d, 10), -1, "not even the query fits in 10 tokens");
    tokenizer_close(&tok);
    model_free(&m);
}

Test(icl, long_texts_are_cut_at_a_character_boundary) {
    // 199 ASCII bytes then a 2-byte character straddling byte 200: the cut falls before it.
    char text[260];
    memset(text, 'x', 199);
    strcpy(text + 199, "\xc3\xa9 and more\nnext line");
    IclEpisode ep = {0};
    const char *demo_text[1] = {"a\nb"};
    int demo_label[1] = {0}, demo_index[1] = {0};
    static const char *const names[] = {"yes", "no"};
    ep.k = 1;
    ep.demo_text = demo_text;
    ep.demo_label = demo_label;
    ep.demo_index = demo_index;
    ep.query_text = text;
    ep.n_labels = 2;
    ep.label_names = names;
    size_t n;
    char *p = icl_format_prompt(&ep, &n);
    char want[512];
    snprintf(want, sizeof want, "Input: a b\nLabel: yes\n\nInput: %.199s\nLabel:", text);
    cr_assert_str_eq(p, want);
    cr_assert_eq(n, strlen(want));
    free(p);
}

// ---- (7) synthetic family -----------------------------------------------------------------

Test(icl, synthetic_query_among_demonstrations_with_mapped_label) {
    Error err;
    for (int C = 2; C <= 8; C += 3)
        for (int k = 1; k <= 12; k += 5) {
            IclOptions o = {.k = k,
                            .max_context = 4096,
                            .episodes = 10,
                            .orders = 2,
                            .class_alternating = k % 2,
                            .seed = 77};
            for (int e = 0; e < o.episodes; e++)
                for (int so = 0; so < o.orders; so++) {
                    IclEpisode ep;
                    cr_assert_eq(icl_synthetic_episode(C, &o, e, so, &ep, &err), 0, "%s", err.msg);
                    cr_assert_eq(ep.n_inputs, C);
                    cr_assert_eq(ep.n_labels, C);
                    int label_used[ICL_SYNTH_MAX_CLASSES] = {0};
                    for (int i = 0; i < C; i++) {
                        cr_assert_eq(strlen(ep.inputs[i]), ICL_SYNTH_WORD_LEN);
                        for (int j = 0; j < ICL_SYNTH_WORD_LEN; j++)
                            cr_assert(ep.inputs[i][j] >= 'a' && ep.inputs[i][j] <= 'z');
                        for (int i2 = 0; i2 < i; i2++) {
                            cr_assert_str_neq(ep.inputs[i], ep.inputs[i2]);
                            cr_assert_str_neq(ep.label_names[i], ep.label_names[i2]);
                        }
                        label_used[ep.input_label[i]]++;
                    }
                    for (int c = 0; c < C; c++)
                        cr_assert_eq(label_used[c], 1, "the mapping is one-to-one");
                    int found = 0;
                    for (int j = 0; j < k; j++) {
                        int i = ep.demo_index[j];
                        cr_assert_str_eq(ep.demo_text[j], ep.inputs[i]);
                        cr_assert_eq(ep.demo_label[j], ep.input_label[i],
                                     "demonstrations follow the mapping");
                        if (strcmp(ep.demo_text[j], ep.query_text) == 0) {
                            found = 1;
                            cr_assert_eq(ep.demo_label[j], ep.query_label);
                        }
                    }
                    cr_assert(found,
                              "C %d k %d episode %d: query '%s' not among the demonstrations", C, k,
                              e, ep.query_text);
                    cr_assert_str_eq(ep.query_text, ep.inputs[ep.query_index]);
                    cr_assert_eq(ep.query_label, ep.input_label[ep.query_index]);
                    icl_episode_free(&ep);
                }
        }
}

Test(icl, synthetic_evaluate_runs_and_is_deterministic) {
    Model m;
    tiny_model(&m, VARIANT_DINT, 17);
    Tokenizer tok = byte_tokenizer();
    IclOptions o = {.k = 6, .max_context = 512, .episodes = 6, .orders = 2, .seed = 5};
    IclResult r1, r2;
    Error err;
    cr_assert_eq(icl_evaluate_synthetic(&m, &tok, 3, &o, &r1, &err), 0, "%s", err.msg);
    cr_assert_eq(icl_evaluate_synthetic(&m, &tok, 3, &o, &r2, &err), 0, "%s", err.msg);
    cr_assert_eq(r1.fits, 1);
    cr_assert(r1.accuracy >= 0.0 && r1.accuracy <= 1.0);
    cr_assert_eq(memcmp(r1.pred, r2.pred, sizeof(int) * 12), 0);
    cr_assert_eq(memcmp(&r1.accuracy_norm, &r2.accuracy_norm, sizeof(double)), 0);
    for (int e = 0; e < o.episodes; e++) {
        cr_assert_eq(r1.query[e], -1);
        IclEpisode ep;
        cr_assert_eq(icl_synthetic_episode(3, &o, e, 0, &ep, &err), 0);
        cr_assert_eq(r1.truth[e], ep.query_label);
        icl_episode_free(&ep);
    }
    icl_result_free(&r1);
    icl_result_free(&r2);
    tokenizer_close(&tok);
    model_free(&m);
}

// ---- Training episodes --------------------------------------------------------------------

// Split decoded episode text into (input, label) pairs; returns the number of pairs.
static int parse_pairs(char *text, char inputs[][64], char labels[][32], int max) {
    int n = 0;
    char *p = text;
    while (*p && n < max) {
        cr_assert_eq(strncmp(p, "Input: ", 7), 0, "pair %d does not start with 'Input: ': %s", n,
                     p);
        p += 7;
        char *nl = strstr(p, "\nLabel: ");
        cr_assert_not_null(nl);
        snprintf(inputs[n], 64, "%.*s", (int)(nl - p), p);
        p = nl + 8;
        char *end = strchr(p, '\n');
        cr_assert_not_null(end, "every answer ends with a newline");
        snprintf(labels[n], 32, "%.*s", (int)(end - p), p);
        n++;
        p = end + 1;
        if (*p == '\n')
            p++;
        else
            cr_assert_eq(*p, '\0', "only the last pair lacks the blank line");
    }
    return n;
}

static char *decode(const Tokenizer *tok, const int *ids, long n) {
    char *s = malloc((size_t)n + 1);
    long b = tokenizer_decode(tok, ids, n, s, n + 1);
    cr_assert_geq(b, 0);
    s[b] = '\0';
    return s;
}

Test(icl, training_episode_uses_train_split_only) {
    Tokenizer tok = byte_tokenizer();
    ToySet s;
    toy_set(&s, 64, 3, NAMES3);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 42);
    int out[2048];
    for (int rep = 0; rep < 20; rep++) {
        int k = rep % 7;
        long n = icl_training_episode(&tok, &s.d, k, rng, out, 2048);
        cr_assert_gt(n, 0);
        char *text = decode(&tok, out, n);
        char inputs[16][64], labels[16][32];
        int np = parse_pairs(text, inputs, labels, 16);
        cr_assert_eq(np, k + 1);
        for (int j = 0; j < np; j++) {
            int found = -1;
            for (int i = 0; i < s.d.n; i++)
                if (strcmp(s.text[i], inputs[j]) == 0) found = i;
            cr_assert_geq(found, 0, "'%s' is not a dataset text", inputs[j]);
            cr_assert_eq(s.is_test[found], 0, "training episode uses test example %d", found);
            cr_assert_str_eq(labels[j], s.names[s.label[found]]);
            for (int j2 = 0; j2 < j; j2++)
                cr_assert_str_neq(inputs[j], inputs[j2], "repeated example");
        }
        free(text);
    }
    cr_assert_eq(icl_training_episode(&tok, &s.d, 5, rng, out, 10), -1, "too long for cap");
    cr_assert_eq(icl_training_episode(&tok, &s.d, 48, rng, out, 2048), -1,
                 "no train example left for the query");
    gsl_rng_free(rng);
    tokenizer_close(&tok);
}

Test(icl, synthetic_training_episode_answer_follows_mapping) {
    Tokenizer tok = byte_tokenizer();
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 9);
    int out[2048];
    for (int rep = 0; rep < 20; rep++) {
        int C = 2 + rep % 5, k = 1 + rep % 9;
        long n = icl_synthetic_training_episode(&tok, C, k, rng, out, 2048);
        cr_assert_gt(n, 0);
        char *text = decode(&tok, out, n);
        char inputs[16][64], labels[16][32];
        int np = parse_pairs(text, inputs, labels, 16);
        cr_assert_eq(np, k + 1);
        int found = 0;
        for (int j = 0; j < k; j++) {
            cr_assert_eq(strlen(inputs[j]), ICL_SYNTH_WORD_LEN);
            for (int j2 = 0; j2 < j; j2++)
                if (strcmp(inputs[j], inputs[j2]) == 0)
                    cr_assert_str_eq(labels[j], labels[j2], "one label per input");
            if (strcmp(inputs[j], inputs[k]) == 0) {
                found = 1;
                cr_assert_str_eq(labels[j], labels[k],
                                 "the answer follows the demonstrated mapping");
            }
        }
        cr_assert(found, "query input among the demonstrations");
        free(text);
    }
    cr_assert_eq(icl_synthetic_training_episode(&tok, 4, 0, rng, out, 2048), -1);
    gsl_rng_free(rng);
    tokenizer_close(&tok);
}

// ---- Validity: the demonstrations' order and label counts say nothing about the answer ----

// Scripted scorers that never read the query: the label of the first demonstration, of the last,
// and the most frequent label among the demonstrations (ties: the one seen last).
enum { ICL_SCORER_FIRST, ICL_SCORER_LAST, ICL_SCORER_MAJORITY, ICL_N_SCORERS };

static void order_only_answers(const IclEpisode *ep, int *out) {
    int count[ICL_SYNTH_MAX_CLASSES] = {0}, best = ep->demo_label[0];
    for (int j = 0; j < ep->k; j++) {
        int l = ep->demo_label[j];
        count[l]++;
        if (count[l] >= count[best]) best = l;
    }
    out[ICL_SCORER_FIRST] = ep->demo_label[0];
    out[ICL_SCORER_LAST] = ep->demo_label[ep->k - 1];
    out[ICL_SCORER_MAJORITY] = best;
}

static void assert_order_only_at_chance(const long *hits, long n, int C, const char *what) {
    static const char *const names[] = {"first", "last", "majority"};
    double p = 1.0 / C, sd = sqrt(n * p * (1 - p));
    for (int s = 0; s < ICL_N_SCORERS; s++)
        cr_assert(fabs((double)hits[s] - n * p) <= 4 * sd,
                  "%s: copying the %s demonstration's label is right %ld of %ld times (chance "
                  "%.1f, sd %.1f)",
                  what, names[s], hits[s], n, n * p, sd);
}

Test(icl, order_and_frequency_of_labels_score_chance) {
    Error err;
    // Synthetic episodes: C classes, k at and above C, both ordering modes.
    for (int C = 2; C <= 8; C *= 2)
        for (int alt = 0; alt < 2; alt++) {
            int ks[] = {C, 2 * C + 1};
            for (int t = 0; t < 2; t++) {
                IclOptions o = {.k = ks[t],
                                .max_context = 1 << 20,
                                .episodes = 400,
                                .orders = 1,
                                .class_alternating = alt,
                                .seed = 900 + (uint64_t)C};
                long hits[ICL_N_SCORERS] = {0};
                for (int e = 0; e < o.episodes; e++) {
                    IclEpisode ep;
                    cr_assert_eq(icl_synthetic_episode(C, &o, e, 0, &ep, &err), 0, "%s", err.msg);
                    int ans[ICL_N_SCORERS];
                    order_only_answers(&ep, ans);
                    for (int s = 0; s < ICL_N_SCORERS; s++) hits[s] += ans[s] == ep.query_label;
                    icl_episode_free(&ep);
                }
                char what[96];
                snprintf(what, sizeof what, "synthetic C = %d, k = %d, alternating %d", C, ks[t],
                         alt);
                assert_order_only_at_chance(hits, o.episodes, C, what);
            }
        }
    // A labelled set (3 classes, class-balanced demonstrations, queries from its test split).
    ToySet s;
    toy_set(&s, 64, 3, NAMES3);
    for (int k = 3; k <= 7; k += 4) {
        IclOptions o = {.k = k,
                        .max_context = 1 << 20,
                        .episodes = 600,
                        .orders = 1,
                        .class_alternating = 0,
                        .seed = 31};
        long hits[ICL_N_SCORERS] = {0};
        for (int e = 0; e < o.episodes; e++) {
            IclEpisode ep;
            cr_assert_eq(icl_episode(&s.d, &o, e, 0, &ep, &err), 0, "%s", err.msg);
            int ans[ICL_N_SCORERS];
            order_only_answers(&ep, ans);
            for (int c = 0; c < ICL_N_SCORERS; c++) hits[c] += ans[c] == ep.query_label;
            icl_episode_free(&ep);
        }
        char what[64];
        snprintf(what, sizeof what, "labelled set, k = %d", k);
        assert_order_only_at_chance(hits, o.episodes, 3, what);
    }
}
