// The synthetic keyed-recall task (tasks/recall.c): samples keep every rule of the protocol
// (disjoint token sets, distinct keys and values, queries that are a context's keys, distractors
// one token away, gaps of pad or filler), the position-only scorers score chance on training and
// evaluation samples with keyed rate 0, scoring matches a direct forward, the training row scores
// only the answers, and the recall onset on hand-made curves.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grad_util.h"
#include "layers.h"
#include "onset.h"
#include "recall.h"

static gsl_rng *rng_at(unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

static int is_key(int t) {
    return t >= RECALL_KEY_FIRST && t < RECALL_KEY_FIRST + RECALL_KEY_COUNT;
}
static int is_value(int t) {
    return t >= RECALL_VALUE_FIRST && t < RECALL_VALUE_FIRST + RECALL_VALUE_COUNT;
}

// Every structural rule of one sample.
static void check_sample(const RecallSample *s, const RecallSpec *sp) {
    int L = sp->key_len, P = s->n_pairs;
    cr_assert_eq(P, sp->pairs + sp->distractors);
    cr_assert_eq(s->n_queries, sp->queries);
    int real = 0, in_pairs = 0;
    for (int i = 0; i < P; i++) {
        const int *k = s->tokens + s->pair_pos[i];
        for (int j = 0; j < L; j++) cr_assert(is_key(k[j]), "key token %d", k[j]);
        cr_assert(is_value(k[L]) && k[L] == s->pair_value[i]);
        if (i) cr_assert_gt(s->pair_pos[i], s->pair_pos[i - 1] + L, "pairs overlap");
        real += s->pair_real[i];
        in_pairs += L + 1;
        for (int j = 0; j < i; j++) {
            cr_assert_neq(s->pair_value[i], s->pair_value[j], "values repeat in a context");
            cr_assert(memcmp(k, s->tokens + s->pair_pos[j], sizeof(int) * (size_t)L) != 0,
                      "keys repeat in a context");
        }
    }
    cr_assert_eq(real, sp->pairs);
    // Gaps: everything before the queries that is not a pair is pad (no noise) or filler.
    int ctx_end = s->query_pos[0], gap_tokens = 0;
    for (int t = 0; t < ctx_end; t++) {
        int in_pair = 0;
        for (int i = 0; i < P && !in_pair; i++)
            in_pair = t >= s->pair_pos[i] && t <= s->pair_pos[i] + L;
        if (in_pair) continue;
        gap_tokens++;
        if (sp->noise)
            cr_assert(s->tokens[t] >= RECALL_FILLER_FIRST &&
                      s->tokens[t] < RECALL_FILLER_FIRST + RECALL_FILLER_COUNT);
        else
            cr_assert_eq(s->tokens[t], RECALL_PAD);
    }
    cr_assert_eq(gap_tokens + in_pairs, ctx_end);
    cr_assert_eq(ctx_end + s->n_queries * (L + 1), s->length, "queries end the sample");
    for (int q = 0; q < s->n_queries; q++) {
        int a = s->asked[q];
        cr_assert(s->pair_real[a], "a distractor was asked");
        cr_assert(!memcmp(s->tokens + s->query_pos[q], s->tokens + s->pair_pos[a],
                          sizeof(int) * (size_t)L),
                  "the query is not its pair's key");
        cr_assert_eq(s->tokens[recall_answer_position(s, q) + 1], s->pair_value[a]);
    }
    // Each distractor's key is one token away from some queried key.
    for (int i = 0; i < P; i++) {
        if (s->pair_real[i]) continue;
        int near = 0;
        for (int q = 0; q < s->n_queries && !near; q++) {
            int diff = 0;
            for (int j = 0; j < L; j++)
                diff += s->tokens[s->pair_pos[i] + j] != s->tokens[s->query_pos[q] + j];
            near = diff == 1;
        }
        cr_assert(near, "distractor %d is not one token from a queried key", i);
    }
}

Test(recall, samples_follow_the_protocol) {
    RecallSpec specs[] = {{8, 8, 1, 0, 0, 96}, {8, 4, 1, 1, 0, 96},   {16, 6, 2, 1, 4, 96},
                          {4, 2, 3, 0, 2, 96}, {32, 32, 1, 0, 0, 96}, {6, 3, 2, 0, 0, 96}};
    gsl_rng *r = rng_at(7);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        for (int k = 0; k < 50; k++) {
            int T = recall_min_length(&specs[i]) + (int)gsl_rng_uniform_int(r, 40);
            cr_assert_eq(recall_check(&specs[i], T, NULL), 0);
            RecallSample s;
            recall_make(&s, &specs[i], T, r);
            check_sample(&s, &specs[i]);
            recall_free(&s);
        }
    gsl_rng_free(r);
}

Test(recall, multi_token_keys_share_tokens) {
    // key_len 2, 16 pairs: 5 tokens per position (16 of 25 combinations used), so nearly every
    // key shares a token with another key of its context: only the whole key identifies the
    // value.
    RecallSpec sp = {16, 16, 2, 0, 0, 96};
    gsl_rng *r = rng_at(3);
    long shared = 0, keys = 0;
    for (int k = 0; k < 50; k++) {
        RecallSample s;
        recall_make(&s, &sp, 100, r);
        for (int p = 0; p < 2; p++) {
            int seen[RECALL_KEY_COUNT] = {0}, distinct = 0;
            for (int i = 0; i < s.n_pairs; i++) distinct += !seen[s.tokens[s.pair_pos[i] + p]]++;
            cr_assert_leq(distinct, 5, "position %d takes %d tokens", p, distinct);
        }
        for (int i = 0; i < s.n_pairs; i++, keys++) {
            int shares = 0;
            for (int j = 0; j < s.n_pairs && !shares; j++)
                shares = j != i && (s.tokens[s.pair_pos[i]] == s.tokens[s.pair_pos[j]] ||
                                    s.tokens[s.pair_pos[i] + 1] == s.tokens[s.pair_pos[j] + 1]);
            shared += shares;
        }
        recall_free(&s);
    }
    cr_assert_geq(shared, keys * 95 / 100, "%ld of %ld keys share a token", shared, keys);
    gsl_rng_free(r);
}

Test(recall, same_seed_same_sample) {
    RecallSpec sp = {8, 4, 2, 1, 2, 96};
    gsl_rng *a = rng_at(11), *b = rng_at(11);
    RecallSample x, y;
    recall_make(&x, &sp, 80, a);
    recall_make(&y, &sp, 80, b);
    cr_assert(!memcmp(x.tokens, y.tokens, sizeof(int) * 80));
    recall_free(&x), recall_free(&y);
    gsl_rng_free(a), gsl_rng_free(b);
}

// The position-only scorers over n samples of `length` tokens: each scorer's accuracy within a
// 4-sigma binomial band of 1 / P, P = pairs + distractors (chance: the asked pair's place in the
// context is uniform and independent of which key is asked), keyed rate 0 for the query-blind
// ones and about 1 / (P (P - 1)) for label order and elimination, over the contexts whose first
// two queries ask different keys (the key-swap pairs).
static void positional_at_chance(const RecallSpec *sp, int length, unsigned long seed) {
    enum { N = 4000 };
    gsl_rng *r = rng_at(seed);
    long right[RECALL_N_POSITIONAL] = {0}, keyed[RECALL_N_POSITIONAL] = {0}, total = 0, pairs = 0;
    for (int k = 0; k < N; k++) {
        RecallSample s;
        recall_make(&s, sp, length, r);
        int swap = s.asked[0] != s.asked[1];
        pairs += swap;
        for (int p = 0; p < RECALL_N_POSITIONAL; p++) {
            int a0 = recall_positional_answer(&s, p, 0), a1 = recall_positional_answer(&s, p, 1);
            keyed[p] += swap && a0 == s.asked[0] && a1 == s.asked[1];
            for (int q = 0; q < s.n_queries; q++)
                right[p] += recall_positional_answer(&s, p, q) == s.asked[q];
        }
        total += s.n_queries;
        recall_free(&s);
    }
    int P = sp->pairs + sp->distractors;
    double chance = 1.0 / P;
    // Queries of one context are not independent (the answers are distinct pairs): bound the
    // spread by contexts, not queries.
    double sd = sqrt(chance * (1 - chance) / N);
    for (int p = 0; p < RECALL_N_POSITIONAL; p++) {
        double acc = (double)right[p] / total;
        cr_assert(fabs(acc - chance) < 4 * sd, "%s scorer: accuracy %.4f, chance %.4f (P = %d)",
                  RECALL_POSITIONAL_NAMES[p], acc, chance, P);
        if (p < RECALL_POSITIONAL_ORDER)
            cr_assert_eq(keyed[p], 0, "%s scorer answered a key-swap pair",
                         RECALL_POSITIONAL_NAMES[p]);
    }
    cr_assert_geq(pairs, N * (sp->pairs - 1) / sp->pairs - 4 * sqrt(N / (double)sp->pairs));
    double expect = 1.0 / (P * (P - 1.0));
    for (int p = RECALL_POSITIONAL_ORDER; p < RECALL_N_POSITIONAL; p++) {
        double rate = (double)keyed[p] / pairs;
        cr_assert(fabs(rate - expect) < 4 * sqrt(expect / pairs) + 1e-9,
                  "%s scorer keyed %.4f, chance %.4f", RECALL_POSITIONAL_NAMES[p], rate, expect);
    }
    gsl_rng_free(r);
}

Test(recall, positional_scorers_score_chance_on_training_and_evaluation_samples) {
    RecallSpec a = {4, 4, 1, 0, 0, 96}, b = {8, 8, 1, 1, 0, 16}, c = {8, 4, 2, 1, 2, 12};
    // Training rows are samples of seq_len + 1 tokens; evaluation samples are of the length.
    positional_at_chance(&a, 64 + 1, 1);
    positional_at_chance(&a, 64, 2);
    positional_at_chance(&b, 128 + 1, 3);
    positional_at_chance(&c, 96, 4);
}

Test(recall, training_row_scores_only_the_answers) {
    RecallSpec sp = {6, 4, 2, 1, 1, 96};
    int T = 63, tokens[63], targets[63];
    unsigned char mark[63];
    gsl_rng *a = rng_at(5), *b = rng_at(5);
    recall_training_row(&sp, a, tokens, targets, mark, T);
    RecallSample s;
    recall_make(&s, &sp, T + 1, b);
    cr_assert(!memcmp(tokens, s.tokens, sizeof(int) * (size_t)T));
    int scored = 0;
    for (int i = 0; i < T; i++) {
        if (targets[i] == TARGET_IGNORE) {
            cr_assert_eq(mark[i], 0);
            continue;
        }
        scored++;
        cr_assert_eq(mark[i], 1);
        cr_assert_eq(targets[i], s.tokens[i + 1]);
        cr_assert(is_value(targets[i]));
    }
    cr_assert_eq(scored, 4);
    recall_free(&s);
    gsl_rng_free(a), gsl_rng_free(b);
}

Test(recall, bad_specs_are_clear_errors) {
    Error err;
    RecallSpec sp = {8, 8, 1, 0, 0, 96};
    cr_assert_eq(recall_check(&sp, 31, &err), -1);
    cr_assert(strstr(err.msg, "need 32 tokens"), "%s", err.msg);
    RecallSpec one = {8, 1, 1, 0, 0, 96};
    cr_assert_eq(recall_check(&one, 64, &err), -1);
    cr_assert(strstr(err.msg, "key-swap"), "%s", err.msg);
    RecallSpec lots = {8, 97, 1, 0, 0, 96};
    cr_assert_eq(recall_check(&lots, 4096, &err), -1);
    cr_assert(strstr(err.msg, "key-swap"), "%s", err.msg);
    RecallSpec many = {64, 8, 1, 0, 33, 96};
    cr_assert_eq(recall_check(&many, 4096, &err), -1);
    cr_assert(strstr(err.msg, "distinct values"), "%s", err.msg);
    RecallSpec few = {8, 8, 1, 0, 0, 7};
    cr_assert_eq(recall_check(&few, 64, &err), -1);
    cr_assert(strstr(err.msg, "recall.symbols"), "%s", err.msg);
}

Test(recall, scoring_matches_a_direct_forward) {
    ModelConfig c = tiny_model_config(VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0);
    c.vocab_size = 257; // the byte tokenizer's: recall uses token ids up to 255
    Model m;
    cr_assert_eq(model_build(&m, &c, NULL), 0);
    model_init_params(&m, 9);
    RecallSpec sp = {4, 3, 1, 1, 0, 96};
    int T = 24, n = 5, B = 2, V = c.vocab_size;
    gsl_rng *r = rng_at(13);
    RecallSample s[5];
    for (int i = 0; i < n; i++) recall_make(&s[i], &sp, T, r);
    RecallAnswer ans[15];
    int *tokens = malloc(sizeof(int) * (size_t)B * T);
    recall_score(&m, s, n, B, tokens, ans);
    cr_assert_eq(m.B, B, "the last, partial batch was padded to B rows");
    for (int i = 0; i < n; i++) {
        model_forward(&m, s[i].tokens, NULL, 1, T);
        for (int q = 0; q < 3; q++) {
            const float *z = m.logits + (long)recall_answer_position(&s[i], q) * V;
            int best = 0, value = s[i].pair_value[s[i].asked[q]];
            double mx = z[0], sum = 0;
            for (int v = 1; v < V; v++)
                if (z[v] > z[best]) best = v, mx = z[v];
            for (int v = 0; v < V; v++) sum += exp(z[v] - mx);
            const RecallAnswer *a = &ans[i * 3 + q];
            cr_assert_eq(a->predicted, best);
            cr_assert_eq(a->correct, best == value);
            // fp32 logits of a batch of 2 against 1: the same sums in another blocking.
            cr_assert(fabs(a->logprob - (z[value] - mx - log(sum))) < 1e-4, "%g", a->logprob);
        }
    }
    for (int i = 0; i < n; i++) recall_free(&s[i]);
    free(tokens);
    gsl_rng_free(r);
    model_free(&m);
}

Test(recall, onset_is_the_first_evaluation_at_the_threshold) {
    long val_step[5] = {0, 10, 20, 30, 40}, step[40], tokens[40];
    double acc[5] = {0.1, 0.5, NAN, 0.91, 0.95}, seconds[40];
    for (int i = 0; i < 40; i++) step[i] = i + 1, tokens[i] = 100L * (i + 1), seconds[i] = i + 1;
    RecallOnset o = recall_onset(val_step, acc, 5, 0.9, step, tokens, seconds, 40);
    cr_assert_eq(o.censored, 0);
    cr_assert_eq(o.step, 30);
    cr_assert_eq(o.tokens, 3000);
    cr_assert_eq(o.seconds, 30.0);
    cr_assert_eq(o.accuracy, 0.91);
    o = recall_onset(val_step, acc, 5, 0.96, step, tokens, seconds, 40);
    cr_assert_eq(o.censored, 1);
    cr_assert_eq(o.step, 40, "censored at the last evaluation");
    cr_assert_eq(o.tokens, 4000);
    acc[4] = NAN; // the last evaluation measured nothing: censored at the last that did
    o = recall_onset(val_step, acc, 5, 0.96, step, tokens, seconds, 40);
    cr_assert_eq(o.step, 30);
    // Reached at step 0 (before training): tokens and seconds 0.
    double early[5] = {0.95, 0.2, 0.2, 0.2, 0.2};
    o = recall_onset(val_step, early, 5, 0.9, step, tokens, seconds, 40);
    cr_assert_eq(o.censored, 0);
    cr_assert_eq(o.step, 0);
    cr_assert_eq(o.tokens, 0);
}
