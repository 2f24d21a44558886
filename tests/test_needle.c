// Multi-needle retrieval task: deterministic generation, disjoint train/eval pools, needles at
// the requested depth on sentence boundaries, scoring of hand-built answers, clear errors; and
// needle rows of training mixtures (answer flags, data.task_loss targets).
#include <criterion/criterion.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "datasets.h"
#include "grad_util.h"
#include "layers.h"
#include "mixture.h"
#include "needle.h"
#include "onset.h"

static Tokenizer tok;
static Corpus corpus;

static void setup(void) {
    threads_init(1);
    Error e;
    char text[4096];
    DataSource src;
    cr_assert_eq(tokenizer_open(&tok, "byte", NULL, &e), 0);
    cr_assert_eq(data_resolve_corpus("sotu", text, sizeof text, &src, &e), 0, "%s", e.msg);
    cr_assert_eq(corpus_load(&corpus, text, &tok, 0.1f, 0.1f, 1, NULL, &e), 0, "%s", e.msg);
}
static void teardown(void) {
    corpus_free(&corpus);
    tokenizer_close(&tok);
}

static int make(NeedleSample *s, NeedleSpec spec, NeedlePool pool, unsigned long seed, Error *e) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    int rc = needle_make(s, &tok, corpus.tokens[SPLIT_TEST], corpus.n_tokens[SPLIT_TEST], &spec,
                         pool, r, e);
    gsl_rng_free(r);
    return rc;
}

static char *decode_span(const int *ids, int n) {
    char *buf = calloc((size_t)n + 1, 1);
    tokenizer_decode(&tok, ids, n, buf, n);
    return buf;
}

Test(needle, same_seed_same_sample_and_pools_are_disjoint, .init = setup, .fini = teardown) {
    NeedleSpec spec = {.n_needles = 6, .n_queried = 2, .length = 1024, .depth = 0.5};
    NeedleSample a, b, c;
    Error e;
    cr_assert_eq(make(&a, spec, NEEDLE_POOL_EVAL, 7, &e), 0, "%s", e.msg);
    cr_assert_eq(make(&b, spec, NEEDLE_POOL_EVAL, 7, &e), 0);
    cr_assert_eq(make(&c, spec, NEEDLE_POOL_TRAIN, 7, &e), 0);
    cr_assert_eq(a.n_context, b.n_context);
    cr_assert_eq(memcmp(a.tokens, b.tokens, sizeof(int) * a.n_context), 0);
    // Pools: 7-digit numbers whose digit sum is odd (evaluation) or even (training).
    for (int i = 0; i < 6; i++) {
        long x = a.number[i], y = c.number[i];
        int sx = 0, sy = 0;
        for (long t = x; t; t /= 10) sx += (int)(t % 10);
        for (long t = y; t; t /= 10) sy += (int)(t % 10);
        cr_assert(x >= 1000000 && x <= 9999999 && sx % 2 == 1, "eval number %ld", x);
        cr_assert(y >= 1000000 && y <= 9999999 && sy % 2 == 0, "train number %ld", y);
    }
    for (int i = 0; i < needle_n_cities(NEEDLE_POOL_TRAIN); i++)
        for (int j = 0; j < needle_n_cities(NEEDLE_POOL_EVAL); j++)
            cr_assert_str_neq(needle_city(NEEDLE_POOL_TRAIN, i), needle_city(NEEDLE_POOL_EVAL, j));
    // The total fits the requested length: context + the longest query and answer.
    int longest = 0;
    for (int i = 0; i < 6; i++)
        if (a.query_len[i] + a.answer_len[i] > longest) longest = a.query_len[i] + a.answer_len[i];
    cr_assert_eq(a.n_context + longest, 1024);
    needle_free(&a);
    needle_free(&b);
    needle_free(&c);
}

Test(needle, needles_land_at_the_requested_depth_on_sentence_boundaries, .init = setup,
     .fini = teardown) {
    double depths[] = {0.0, 0.25, 0.5, 0.75, 1.0};
    for (int k = 0; k < 5; k++) {
        NeedleSpec spec = {.n_needles = 4, .n_queried = 2, .length = 2048, .depth = depths[k]};
        NeedleSample s;
        Error e;
        cr_assert_eq(make(&s, spec, NEEDLE_POOL_EVAL, 100 + k, &e), 0, "%s", e.msg);
        // Haystack positions (needles before it not counted): the asked needle's is at the
        // requested depth, the others anywhere, both ends included.
        int hay_pos[4], H = s.n_context;
        for (int i = 0; i < 4; i++) H -= s.needle_end[i] - s.needle_start[i];
        for (int i = 0; i < 4; i++) {
            hay_pos[i] = s.needle_start[i];
            for (int j = 0; j < 4; j++)
                if (s.needle_start[j] < s.needle_start[i])
                    hay_pos[i] -= s.needle_end[j] - s.needle_start[j];
        }
        // Every needle's tokens decode to its sentence.
        for (int i = 0; i < 4; i++) {
            char want[160];
            snprintf(want, sizeof want, " The special magic number for %s is: %07ld.",
                     needle_city(NEEDLE_POOL_EVAL, s.city[i]), s.number[i]);
            char *got =
                decode_span(s.tokens + s.needle_start[i], s.needle_end[i] - s.needle_start[i]);
            cr_assert_str_eq(got, want);
            free(got);
            // On a sentence boundary: at the very start or after '.', '!' or '?' (or another
            // needle).
            int st = s.needle_start[i];
            int at_end = hay_pos[i] == H;
            cr_assert(st == 0 || at_end || s.tokens[st - 1] == '.' || s.tokens[st - 1] == '!' ||
                          s.tokens[st - 1] == '?',
                      "depth %.2f: needle %d at %d follows '%c'", depths[k], i, st,
                      s.tokens[st - 1]);
        }
        // The answer needle's haystack position (needles before it not counted) is at the
        // requested depth within the spacing of sentence boundaries (SOTU sentences < 600 bytes).
        int asked = hay_pos[s.asked[0]];
        cr_assert(abs(asked - (int)(depths[k] * H + 0.5)) <= 600,
                  "depth %.2f: answer needle at haystack token %d of %d", depths[k], asked, H);
        if (depths[k] == 0.0) cr_assert_eq(asked, 0);
        if (depths[k] == 1.0) cr_assert_eq(asked, H);
        needle_free(&s);
    }
}

// Hand-built verdicts: the right number, a wrong-but-close number (one digit off), a tie.
Test(needle, judge_exact_match_and_loglik) {
    enum { V = 12, N = 7 };
    float probs[N * V], nll[N];
    int right[N] = {5, 5, 0, 0, 1, 2, 3};
    for (int i = 0; i < N; i++) {
        for (int v = 0; v < V; v++) probs[i * V + v] = 0.01f;
        probs[i * V + right[i]] = 0.89f;
        nll[i] = 0.116533816f; // -log(0.89)
    }
    int ok;
    double ll;
    needle_judge(probs, nll, V, right, N, &ok, &ll);
    cr_assert_eq(ok, 1);
    cr_assert_float_eq(ll, -7 * 0.116533816, 1e-6);
    int close[N] = {5, 5, 0, 0, 1, 2, 4}; // last digit off by one
    float nll_close[N];
    for (int i = 0; i < N; i++) nll_close[i] = i == 6 ? 4.605170186f : nll[i];
    needle_judge(probs, nll_close, V, close, N, &ok, &ll);
    cr_assert_eq(ok, 0, "a number one digit off must not count");
    cr_assert_float_eq(ll, -6 * 0.116533816 - 4.605170186, 1e-5);
    probs[3 * V + 0] = 0.45f; // a tie at digit 3 between ids 0 and 7: argmax is the lower id
    probs[3 * V + 7] = 0.45f;
    needle_judge(probs, nll, V, right, N, &ok, &ll);
    cr_assert_eq(ok, 1);
    probs[3 * V + 7] = 0.46f;
    needle_judge(probs, nll, V, right, N, &ok, &ll);
    cr_assert_eq(ok, 0);
}

// A real forward: the scorer's log-likelihood equals the NLLs of a direct forward.
Test(needle, score_matches_a_direct_forward, .init = setup, .fini = teardown) {
    ModelConfig c = tiny_model_config(VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0);
    c.vocab_size = 257;
    Model m;
    cr_assert_eq(model_build(&m, &c, NULL), 0);
    model_init_params(&m, 3);
    NeedleSpec spec = {.n_needles = 2, .n_queried = 1, .length = 300, .depth = 0.5};
    NeedleSample s;
    Error e;
    cr_assert_eq(make(&s, spec, NEEDLE_POOL_EVAL, 11, &e), 0, "%s", e.msg);
    NeedleScore sc;
    needle_score(&m, &s, &sc);
    int a = s.asked[0], L = s.n_context + s.query_len[a] + s.answer_len[a];
    int *seq = malloc(sizeof(int) * L);
    memcpy(seq, s.tokens, sizeof(int) * s.n_context);
    memcpy(seq + s.n_context, s.query_tokens[a], sizeof(int) * (s.query_len[a] + s.answer_len[a]));
    model_forward(&m, seq, seq + 1, 1, L - 1);
    double ll = 0;
    for (int i = 0; i < s.answer_len[a]; i++) ll -= m.nll[s.n_context + s.query_len[a] - 1 + i];
    cr_assert_float_eq(sc.loglik[0], ll, 1e-9);
    cr_assert_eq(sc.correct[0], 0, "an untrained model should not retrieve a 7-digit number");
    // Row sums of the final map for DINT (gamma tied) are 1: needle mass + rest == 1 per layer.
    for (int l = 0; l < c.n_layer; l++)
        cr_assert_float_eq(sc.mass_needle[l] + sc.mass_rest[l], 1.0, 1e-5);
    free(seq);
    needle_free(&s);
    model_free(&m);
}

Test(needle, bad_specs_are_clear_errors, .init = setup, .fini = teardown) {
    struct {
        NeedleSpec spec;
        const char *needle;
    } cases[] = {
        {{2, 3, 1024, 0.5, NEEDLE_LAYOUT_DEPTH}, "queried needles R = 3: expected 1 to N = 2"},
        {{0, 0, 1024, 0.5, NEEDLE_LAYOUT_DEPTH}, "needles N = 0"},
        {{6, 2, 200, 0.5, NEEDLE_LAYOUT_DEPTH}, "context length 200 is too short"},
        {{1, 1, 1024, 1.5, NEEDLE_LAYOUT_DEPTH}, "depth 1.5 is outside [0, 1]"},
    };
    for (int i = 0; i < 4; i++) {
        NeedleSample s;
        Error e;
        cr_assert_neq(make(&s, cases[i].spec, NEEDLE_POOL_EVAL, 1, &e), 0, "case %d accepted", i);
        cr_assert(strstr(e.msg, cases[i].needle) != NULL, "case %d: '%s'", i, e.msg);
    }
}

// A mixture of needle rows only (the text part is needed for the haystack).
static void needle_only_mixture(Mixture *mx) {
    char spec[64];
    Error e;
    cr_assert_eq(mixture_parse(mx, "sotu:0.000001,needle:1", spec, sizeof spec, &e), 0, "%s",
                 e.msg);
}

// The needle sentences in the context of the episode that holds position `at` of a row's text
// (episodes are separated by '#', the end-of-document token; the context ends at the first
// question).
static int episode_needles(const char *text, int at) {
    int start = at;
    while (start > 0 && text[start - 1] != '#') start--;
    const char *end = strstr(text + start, "\nQuestion: ");
    int n = 0;
    for (const char *p = strstr(text + start, " The special magic number for "); p && p < end;
         p = strstr(p + 1, " The special magic number for "))
        n++;
    return n;
}

// Needle rows of a training mixture: every flagged target is an answer (a space and the 7
// digits that the row's own needle sentence gives the queried city), flagged with the number of
// needles in its episode; data.task_loss = answers
// scores only those, = queries the questions and answers (not haystack nor needles), and = all
// scores every target of the same rows (same seed).
Test(needle, mixture_rows_flag_and_score_only_answers, .init = setup, .fini = teardown) {
    enum { B = 6, T = 512 };
    Mixture mx;
    needle_only_mixture(&mx);
    static int tokens[3][B * T], targets[3][B * T];
    static unsigned char flag[3][B * T];
    const TaskLoss mode[3] = {TASK_LOSS_ANSWERS, TASK_LOSS_ALL, TASK_LOSS_QUERIES};
    for (int k = 0; k < 3; k++) {
        mx.task_loss = mode[k];
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 11);
        mixture_batch(&mx, &corpus, &tok, r, tokens[k], targets[k], flag[k], B, T);
        gsl_rng_free(r);
    }
    for (int k = 1; k < 3; k++) {
        cr_assert(memcmp(tokens[0], tokens[k], sizeof tokens[0]) == 0, "same seed, other rows");
        cr_assert(memcmp(flag[0], flag[k], sizeof flag[0]) == 0, "same rows, other flags");
    }
    long answers = 0, query_targets = 0, multi_needle = 0;
    for (int b = 0; b < B; b++) {
        const int *x = tokens[0] + b * T;
        char text[T + 2];
        for (int i = 0; i < T; i++) text[i] = x[i] < 256 && x[i] > 0 ? (char)x[i] : '#';
        int last = targets[1][b * T + T - 1];
        text[T] = last < 256 && last > 0 ? (char)last : '#';
        text[T + 1] = 0;
        // queries: token p (target p - 1) is scored from each "\nQuestion: " to its answer's end.
        for (int p = 1, in_query = 0; p <= T; p++) {
            if (!strncmp(text + p, "\nQuestion: ", 11)) in_query = 1;
            int scored = targets[2][b * T + p - 1] != TARGET_IGNORE;
            cr_assert_eq(scored, in_query, "row %d token %d ('%c'): task_loss=queries %s it", b, p,
                         text[p], scored ? "scores" : "ignores");
            if (scored) cr_assert_eq(targets[2][b * T + p - 1], targets[1][b * T + p - 1]);
            query_targets += scored && !flag[0][b * T + p - 1];
            if (flag[0][b * T + p - 1] && (p == T || !flag[0][b * T + p])) in_query = 0;
        }
        int row_answers = 0;
        for (int i = 0; i < T; i++) {
            int f = flag[0][b * T + i];
            cr_assert_eq(targets[0][b * T + i], f ? targets[1][b * T + i] : TARGET_IGNORE,
                         "row %d target %d: answers_only scores it %s", b, i,
                         f ? "not" : "though it is no answer");
            cr_assert_neq(targets[1][b * T + i], TARGET_IGNORE, "row %d target %d ignored", b, i);
            // An answer starts after "is:" and is 8 targets: a space, then the 7 digits.
            if (!f || (i > 0 && flag[0][b * T + i - 1])) continue;
            cr_assert(i >= 2 && !strncmp(text + i - 2, "is:", 3),
                      "row %d: an answer at %d "
                      "does not follow 'is:'",
                      b, i);
            // Episodes are placed whole, so the row holds the whole answer.
            cr_assert(i + 7 <= T - 1, "row %d: the answer at %d is cut by the row's end", b, i);
            for (int j = 0; j < 8; j++)
                cr_assert(flag[0][b * T + i + j], "row %d: answer at %d has %d tokens", b, i, j);
            cr_assert(i + 8 == T || !flag[0][b * T + i + 8],
                      "row %d: answer at %d is longer "
                      "than 8",
                      b, i);
            // The city of this query, then its needle earlier in the same row.
            const char *q = NULL;
            for (const char *p = strstr(text, "Answer: The special magic number for ");
                 p && p < text + i; p = strstr(p + 1, "Answer: The special magic number for "))
                q = p;
            cr_assert(q != NULL, "row %d: no query before the answer at %d", b, i);
            char needle[160];
            const char *city = q + strlen("Answer: The special magic number for ");
            int city_len = (int)(text + i - 2 - 1 - city); // up to " is:"
            snprintf(needle, sizeof needle, " The special magic number for %.*s is: ", city_len,
                     city);
            const char *n = strstr(text, needle);
            cr_assert(n != NULL && n < q, "row %d: no needle '%s' before its query", b, needle);
            const char *digits = n + strlen(needle);
            for (int j = 0; j < 7; j++)
                cr_assert_eq(targets[0][b * T + i + 1 + j], (unsigned char)digits[j],
                             "row %d: answer digit %d differs from the needle's", b, j);
            int needles = episode_needles(text, i);
            for (int j = 0; j < 8; j++)
                cr_assert_eq(flag[0][b * T + i + j], needles,
                             "row %d: answer at %d is flagged %d, its episode has %d needles", b, i,
                             flag[0][b * T + i + j], needles);
            multi_needle += needles >= 2;
            row_answers++;
        }
        cr_assert(row_answers >= 1, "row %d has no answer: %s", b, text);
        answers += row_answers;
    }
    cr_assert(query_targets > 0, "task_loss=queries scored no question tokens");
    cr_assert(multi_needle > 0 && multi_needle < answers,
              "%ld of %ld answers from episodes with N >= 2: both kinds expected", multi_needle,
              answers);
    cr_log_info("%ld answers (%ld of N >= 2 episodes) and %ld question targets checked in %d rows",
                answers, multi_needle, query_targets, B);
}

// The retrieval onset's threshold against the training mixture: a model that copies some needle
// of the context but not the asked one pays ln(N) nats per answer, over its 8 byte tokens. Over
// the answers of N >= 2 episodes that mixture_batch draws, that mean is at least ln(2) / 8 and
// the threshold must stay below half of it at the lengths the recipes train at.
Test(needle, onset_threshold_is_below_half_the_copier_level_of_the_mixture, .init = setup,
     .fini = teardown) {
    enum { B = 64, T_MAX = 1024 };
    static int tokens[B * T_MAX], targets[B * T_MAX];
    static unsigned char needles[B * T_MAX];
    Mixture mx;
    needle_only_mixture(&mx);
    const int lengths[] = {256, 512, 1024};
    for (int k = 0; k < 3; k++) {
        int T = lengths[k];
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, 5);
        long count[NEEDLE_MAX + 1] = {0}, answers = 0;
        double copier = 0.0;
        for (int rep = 0; rep < 4; rep++) {
            mixture_batch(&mx, &corpus, &tok, r, tokens, targets, needles, B, T);
            for (long i = 0; i < (long)B * T; i++)
                if (needles[i] >= 2) count[needles[i]]++, answers++, copier += log(needles[i]);
        }
        gsl_rng_free(r);
        cr_assert_gt(answers, 0);
        copier /= 8.0 * (double)answers; // per answer token: ln(N) over 8 tokens
        cr_log_info("seq_len %d: answer tokens of N = 2..6 episodes: %ld %ld %ld %ld %ld; "
                    "copier level %.4f nats per answer token",
                    T, count[2], count[3], count[4], count[5], count[6], copier);
        cr_assert_geq(copier, log(2.0) / 8.0 - 1e-12);
        cr_assert_lt(ONSET_THRESHOLD, 0.5 * copier, "seq_len %d: copier level %.4f", T, copier);
    }
}

// Copy rows of a training mixture: episodes of a random [a-z0-9] string and the same string
// again, 16 to T/4 characters, separated by end-of-document tokens (the last one may be cut by
// the row); rows differ from each other.
Test(needle, copy_rows_repeat_a_random_string, .init = setup, .fini = teardown) {
    enum { B = 4, T = 256 };
    Mixture mx;
    char spec[64];
    Error e;
    cr_assert_eq(mixture_parse(&mx, "sotu:0.000001,copy:1", spec, sizeof spec, &e), 0, "%s", e.msg);
    static int tokens[B * T], targets[B * T];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    mixture_batch(&mx, &corpus, &tok, r, tokens, targets, NULL, B, T);
    gsl_rng_free(r);
    int episodes = 0;
    for (int b = 0; b < B; b++) {
        const int *x = tokens + b * T;
        for (int i = 0; i < T - 1; i++) cr_assert_eq(targets[b * T + i], x[i + 1]);
        if (b > 0)
            cr_assert(memcmp(x, x - T, sizeof(int) * T) != 0, "rows %d and %d equal", b - 1, b);
        for (int s = 0; s < T;) {
            int e = s;
            while (e < T && x[e] != tok.eot) e++;
            for (int i = s; i < e; i++)
                cr_assert((x[i] >= 'a' && x[i] <= 'z') || (x[i] >= '0' && x[i] <= '9'),
                          "row %d: token %d (%d) is not in [a-z0-9]", b, i, x[i]);
            if (e == T) break; // cut by the row's end
            int len = e - s, w = len / 2;
            cr_assert(len % 2 == 0 && w >= 16 && w <= T / 4,
                      "row %d: episode at %d has %d tokens, not twice 16..%d", b, s, len, T / 4);
            cr_assert(memcmp(x + s, x + s + w, sizeof(int) * (size_t)w) == 0,
                      "row %d: episode at %d: second half differs from the first", b, s);
            episodes++;
            s = e + 1;
        }
    }
    cr_assert(episodes >= B * 2, "only %d whole copy episodes in %d rows", episodes, B);
}

// ---- Validity: nothing but the key tells which needle is asked ----

// |hits - expected| within 4 standard deviations of a sum of independent Bernoulli draws.
static void assert_binomial(double hits, double expected, double variance, const char *what) {
    cr_assert(fabs(hits - expected) <= 4.0 * sqrt(variance) + 1e-9,
              "%s: %.0f hits, %.1f expected (sd %.1f)", what, hits, expected, sqrt(variance));
}

// Rank of needle i among the sample's needles in position order (0 = first).
static int needle_rank(const NeedleSample *s, int i) {
    int r = 0;
    for (int j = 0; j < s->n_needles; j++) r += s->needle_start[j] < s->needle_start[i];
    return r;
}

// Chi-square test of independence of an n x n contingency table (rows and columns with zero
// totals dropped from the degrees of freedom); returns the p-value.
static double chi_square_independence(const long *table, int n) {
    long row[NEEDLE_MAX] = {0}, col[NEEDLE_MAX] = {0}, total = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            row[i] += table[i * n + j];
            col[j] += table[i * n + j];
            total += table[i * n + j];
        }
    double x2 = 0.0;
    int rows = 0, cols = 0;
    for (int i = 0; i < n; i++) rows += row[i] > 0, cols += col[i] > 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (!row[i] || !col[j]) continue;
            double e = (double)row[i] * col[j] / total, d = table[i * n + j] - e;
            x2 += d * d / e;
        }
    int df = (rows - 1) * (cols - 1);
    return df > 0 ? gsl_cdf_chisq_Q(x2, df) : 0.0;
}

// Training episodes: each positional scorer answers the asked needle with probability 1/N; the
// asked needle's generation index is uniform and independent of its rank among the needles.
Test(needle, training_episodes_position_says_nothing, .init = setup, .fini = teardown) {
    const int Ns[] = {2, 4, 6}, episodes = 900;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2024);
    for (int t = 0; t < 3; t++) {
        int N = Ns[t];
        long hits[NEEDLE_N_POSITIONAL] = {0}, table[NEEDLE_MAX * NEEDLE_MAX] = {0},
             index_count[NEEDLE_MAX] = {0};
        for (int e = 0; e < episodes; e++) {
            NeedleSpec spec = {.n_needles = N,
                               .n_queried = 1 + e % 2,
                               .length = 700,
                               .layout = NEEDLE_LAYOUT_UNIFORM};
            NeedleSample s;
            Error err;
            cr_assert_eq(needle_make(&s, &tok, corpus.tokens[SPLIT_TRAIN],
                                     corpus.n_tokens[SPLIT_TRAIN], &spec, NEEDLE_POOL_TRAIN, r,
                                     &err),
                         0, "%s", err.msg);
            int a = s.asked[0];
            for (int p = 0; p < NEEDLE_N_POSITIONAL; p++)
                hits[p] += needle_positional_answer(&s, (NeedlePositional)p) == a;
            table[a * N + needle_rank(&s, a)]++;
            index_count[a]++;
            if (s.n_queried == 2) cr_assert_neq(s.asked[1], a);
            needle_free(&s);
        }
        double p = 1.0 / N, var = episodes * p * (1 - p);
        char what[96];
        for (int k = 0; k < NEEDLE_N_POSITIONAL; k++) {
            snprintf(what, sizeof what, "N = %d, scorer '%s'", N, NEEDLE_POSITIONAL_NAMES[k]);
            assert_binomial((double)hits[k], episodes * p, var, what);
        }
        for (int i = 0; i < N; i++) {
            snprintf(what, sizeof what, "N = %d: needle %d asked", N, i);
            assert_binomial((double)index_count[i], episodes * p, var, what);
        }
        double pv = chi_square_independence(table, N);
        cr_assert(pv > 1e-3, "N = %d: the asked needle's rank depends on its index (p = %g)", N,
                  pv);
        cr_log_info("N = %d: positional hits %ld %ld %ld of %d; chi-square p = %.3f", N, hits[0],
                    hits[1], hits[2], episodes, pv);
    }
    gsl_rng_free(r);
}

// Evaluation samples: the asked needle (uniform among the N) is at the depth, every other
// needle anywhere (both ends of the haystack included), the key-swap control asks about
// another needle, so a positional scorer never answers both questions right (keyed rate 0).
Test(needle, evaluation_samples_positional_keyed_rate_is_zero, .init = setup, .fini = teardown) {
    const int Ns[] = {2, 4, 6};
    const double depths[] = {0.0, 0.5, 1.0};
    long at_start = 0, at_end = 0;
    for (int t = 0; t < 3; t++)
        for (int d = 0; d < 3; d++) {
            int N = Ns[t], n = 240;
            long index_count[NEEDLE_MAX] = {0}, keyed[NEEDLE_N_POSITIONAL] = {0};
            gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
            gsl_rng_set(r, 77 + t * 3 + d);
            for (int k = 0; k < n; k++) {
                NeedleSpec spec = {
                    .n_needles = N, .n_queried = 1 + k % 2, .length = 500, .depth = depths[d]};
                NeedleSample s;
                Error err;
                cr_assert_eq(needle_make(&s, &tok, corpus.tokens[SPLIT_TEST],
                                         corpus.n_tokens[SPLIT_TEST], &spec, NEEDLE_POOL_EVAL, r,
                                         &err),
                             0, "%s", err.msg);
                cr_assert_eq(s.control, 1);
                cr_assert_eq(s.n_questions, 2, "R = %d, N = %d: a question and a control",
                             s.n_queried, N);
                int a = s.asked[0], b = s.asked[s.control];
                cr_assert_neq(a, b, "the control asks about another needle");
                index_count[a]++;
                for (int p = 0; p < NEEDLE_N_POSITIONAL; p++) {
                    int ans = needle_positional_answer(&s, (NeedlePositional)p);
                    keyed[p] += ans == a && ans == b;
                }
                for (int i = 0; i < N; i++) {
                    if (i == a) continue;
                    at_start += s.needle_start[i] == 0;
                    at_end += s.needle_end[i] == s.n_context;
                }
                needle_free(&s);
            }
            for (int p = 0; p < NEEDLE_N_POSITIONAL; p++)
                cr_assert_eq(keyed[p], 0, "scorer '%s' keyed", NEEDLE_POSITIONAL_NAMES[p]);
            double p = 1.0 / N;
            for (int i = 0; i < N; i++) {
                char what[96];
                snprintf(what, sizeof what, "N = %d depth %.1f: needle %d asked", N, depths[d], i);
                assert_binomial((double)index_count[i], n * p, n * p * (1 - p), what);
            }
            gsl_rng_free(r);
        }
    cr_assert(at_start > 0 && at_end > 0,
              "other needles never at the haystack's start (%ld) or end (%ld)", at_start, at_end);
}

// Needle rows of a training mixture, read back from the text alone: for every question of an
// episode with N >= 2 needles, copying the first or the last needle of the episode is right as
// often as 1/N predicts.
Test(needle, mixture_rows_position_says_nothing, .init = setup, .fini = teardown) {
    enum { B = 240, T = 1024 };
    Mixture mx;
    needle_only_mixture(&mx);
    static int tokens[B * T], targets[B * T];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 4242);
    mixture_batch(&mx, &corpus, &tok, r, tokens, targets, NULL, B, T);
    gsl_rng_free(r);
    double first = 0, last = 0, expected = 0, var = 0;
    long questions = 0;
    static char text[T + 1];
    const char *needle_at = " The special magic number for ",
               *question_at = "\nQuestion: What is the special magic number for ";
    for (int b = 0; b < B; b++)
        for (int s = 0; s < T;) {
            int end = s;
            while (end < T && tokens[b * T + end] != tok.eot) end++;
            int n = end - s;
            for (int i = 0; i < n; i++) {
                int x = tokens[b * T + s + i];
                text[i] = x > 0 && x < 256 ? (char)x : '#';
            }
            text[n] = 0;
            s = end + 1;
            // Needles (in position order) and questions of this episode.
            const char *city[NEEDLE_MAX];
            int n_needles = 0;
            const char *qs = strstr(text, question_at);
            for (const char *p = strstr(text, needle_at); p && (!qs || p < qs);
                 p = strstr(p + 1, needle_at))
                if (n_needles < NEEDLE_MAX) city[n_needles++] = p + strlen(needle_at);
            if (n_needles < 2) continue;
            for (const char *q = qs; q; q = strstr(q + 1, question_at)) {
                const char *c = q + strlen(question_at);
                int len = (int)(strchr(c, '?') - c), rank = -1;
                for (int i = 0; i < n_needles; i++)
                    if (!strncmp(city[i], c, (size_t)len) && !strncmp(city[i] + len, " is:", 4))
                        rank = i;
                cr_assert(rank >= 0, "row %d: the question about '%.*s' has no needle", b, len, c);
                double p = 1.0 / n_needles;
                first += rank == 0;
                last += rank == n_needles - 1;
                expected += p;
                var += p * (1 - p);
                questions++;
            }
        }
    cr_assert(questions >= 200, "only %ld questions in episodes with N >= 2", questions);
    assert_binomial(first, expected, var, "copy the first needle");
    assert_binomial(last, expected, var, "copy the last needle");
    cr_log_info("%ld questions: first %.0f, last %.0f, chance %.1f", questions, first, last,
                expected);
}

// The greedy-answer walk against a scripted "model" whose greedy decoding emits a given token
// string D: teacher-forced row k gives D[k] while the forced prefix equals D's, else a token no
// number has. The walk must name exactly the needle whose number is D (or -1), with one
// forward when D is the asked number.
typedef struct {
    const NeedleSample *s;
    const int *D;
    int n_D;
} ScriptedGreedy;

static int scripted_forward(void *vctx, int i, int *greedy) {
    ScriptedGreedy *c = vctx;
    const int *ans = c->s->query_tokens[i] + c->s->query_len[i];
    int ok = 1, agree = 1;
    for (int k = 0; k < c->s->answer_len[i]; k++) {
        greedy[k] = agree && k < c->n_D ? c->D[k] : -7;
        agree &= ans[k] == greedy[k];
        ok &= greedy[k] == ans[k];
    }
    return ok;
}

Test(needle, greedy_answer_names_the_emitted_number, .init = setup, .fini = teardown) {
    NeedleSpec spec = {.n_needles = 6, .n_queried = 1, .length = 800, .depth = 0.5};
    NeedleSample s;
    Error e;
    cr_assert_eq(make(&s, spec, NEEDLE_POOL_EVAL, 5, &e), 0, "%s", e.msg);
    // Needles 1 and 2 share all but the last digit with needle 0 (a deep trie).
    int *a0 = s.query_tokens[0] + s.query_len[0];
    for (int j = 1; j <= 2; j++) {
        int *aj = s.query_tokens[j] + s.query_len[j];
        cr_assert_eq(s.answer_len[j], s.answer_len[0]);
        memcpy(aj, a0, sizeof(int) * (size_t)(s.answer_len[0] - 1));
        aj[s.answer_len[0] - 1] = '0' + j;
    }
    a0[s.answer_len[0] - 1] = '9';
    int D[16];
    int len = s.answer_len[0];
    for (int asked = 0; asked < 6; asked++)
        for (int target = -2; target < 6; target++) {
            // target >= 0: D is that needle's number; -1: needle 0's with the last digit '5'
            // (no needle's); -2: a string sharing nothing.
            if (target >= 0)
                memcpy(D, s.query_tokens[target] + s.query_len[target], sizeof(int) * (size_t)len);
            else if (target == -1) {
                memcpy(D, a0, sizeof(int) * (size_t)len);
                D[len - 1] = '5';
            } else
                for (int k = 0; k < len; k++) D[k] = 'x';
            ScriptedGreedy c = {&s, D, len};
            int forwards;
            int got = needle_greedy_answer(&s, asked, scripted_forward, &c, 16, &forwards);
            cr_assert_eq(got, target >= 0 ? target : -1, "asked %d, greedy emits %d: walk says %d",
                         asked, target, got);
            if (target == asked) cr_assert_eq(forwards, 1);
            cr_assert(forwards <= 4, "asked %d target %d: %d forwards", asked, target, forwards);
        }
    needle_free(&s);
}
