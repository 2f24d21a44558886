#include "recall.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

const char *const RECALL_POSITIONAL_NAMES[RECALL_N_POSITIONAL] = {"first", "last", "middle",
                                                                  "order", "unanswered"};

RecallSpec recall_spec_from_config(const RecallConfig *c) {
    return (RecallSpec){.pairs = c->pairs,
                        .queries = c->queries,
                        .key_len = c->key_len,
                        .noise = c->noise,
                        .distractors = c->distractors,
                        .symbols = c->symbols};
}

int recall_queries(const RecallSpec *s, int length) {
    if (s->queries) return s->queries;
    int q = length / (2 * (s->key_len + 1));
    return q < 2 ? 2 : q > RECALL_MAX_PAIRS ? RECALL_MAX_PAIRS : q;
}

int recall_min_length(const RecallSpec *s) {
    return (s->pairs + s->distractors + (s->queries ? s->queries : 2)) * (s->key_len + 1);
}

int recall_check(const RecallSpec *s, int length, Error *err) {
    if (s->pairs < 2 || s->key_len < 1 || s->key_len > RECALL_MAX_KEY_LEN || s->distractors < 0)
        return error_set(err, "recall: pairs must be >= 2 and key_len 1 to %d", RECALL_MAX_KEY_LEN);
    if (s->queries == 1 || s->queries < 0 || s->queries > RECALL_MAX_PAIRS)
        return error_set(err,
                         "recall: %d queries (need 2 to %d: two queries make the key-swap "
                         "control)",
                         s->queries, RECALL_MAX_PAIRS);
    if (s->symbols < 2 || s->symbols > RECALL_VALUE_COUNT)
        return error_set(err, "recall: symbols = %d (2 to %d)", s->symbols, RECALL_VALUE_COUNT);
    if (s->pairs + s->distractors > s->symbols)
        return error_set(err,
                         "recall: %d pairs + %d distractors need more distinct values than the %d "
                         "symbols; lower recall.pairs or recall.distractors, or raise "
                         "recall.symbols (at most %d)",
                         s->pairs, s->distractors, s->symbols, RECALL_VALUE_COUNT);
    int m = (int)ceil(pow((double)s->pairs, 1.0 / s->key_len) - 1e-9) + 1;
    if (s->key_len > 1 && m > s->symbols)
        return error_set(err, "recall: %d-token keys for %d pairs need %d symbols per position",
                         s->key_len, s->pairs, m);
    int Q = recall_queries(s, length), need = (s->pairs + s->distractors + Q) * (s->key_len + 1);
    if (length < need)
        return error_set(err,
                         "recall: %d pairs + %d distractors and %d queries with %d-token keys "
                         "need %d tokens, the context has %d (lower recall.pairs or "
                         "recall.queries, or raise the length)",
                         s->pairs, s->distractors, Q, s->key_len, need, length);
    return 0;
}

// k distinct values of [0, n) in random order into out (k <= n).
static void draw_distinct(gsl_rng *rng, int n, int k, int *out) {
    for (int i = 0; i < k; i++) {
        int v, dup;
        do {
            v = (int)gsl_rng_uniform_int(rng, (unsigned long)n);
            dup = 0;
            for (int j = 0; j < i && !dup; j++) dup = out[j] == v;
        } while (dup);
        out[i] = v;
    }
}

// The `pairs` real keys (key_len tokens each, distinct as tuples) into keys (pairs, key_len).
static void draw_keys(const RecallSpec *s, gsl_rng *rng, int *keys) {
    int L = s->key_len, K = s->pairs;
    if (L == 1) {
        int ids[RECALL_MAX_PAIRS];
        draw_distinct(rng, s->symbols, K, ids);
        for (int i = 0; i < K; i++) keys[i] = RECALL_KEY_FIRST + ids[i];
        return;
    }
    // Per position a pool of m tokens, m^L > K: keys are K distinct tuples of the pools.
    int m = (int)ceil(pow((double)K, 1.0 / L) - 1e-9) + 1, pool[RECALL_MAX_KEY_LEN][16];
    for (int p = 0; p < L; p++) draw_distinct(rng, s->symbols, m, pool[p]);
    for (int i = 0; i < K; i++) {
        int dup;
        do {
            for (int p = 0; p < L; p++)
                keys[i * L + p] =
                    RECALL_KEY_FIRST + pool[p][gsl_rng_uniform_int(rng, (unsigned long)m)];
            dup = 0;
            for (int j = 0; j < i && !dup; j++)
                dup = !memcmp(keys + j * L, keys + i * L, sizeof(int) * (size_t)L);
        } while (dup);
    }
}

// A key that differs from `like` in exactly one token and equals none of keys (n, L).
static void draw_distractor_key(const int *like, const int *keys, int n, int L, int symbols,
                                gsl_rng *rng, int *out) {
    for (;;) {
        memcpy(out, like, sizeof(int) * (size_t)L);
        int p = (int)gsl_rng_uniform_int(rng, (unsigned long)L);
        out[p] = RECALL_KEY_FIRST + (int)gsl_rng_uniform_int(rng, (unsigned long)symbols);
        int clash = out[p] == like[p];
        for (int j = 0; j < n && !clash; j++)
            clash = !memcmp(keys + j * L, out, sizeof(int) * (size_t)L);
        if (!clash) return;
    }
}

void recall_make(RecallSample *s, const RecallSpec *spec, int length, gsl_rng *rng) {
    memset(s, 0, sizeof *s);
    s->spec = *spec;
    s->length = length;
    int K = spec->pairs, D = spec->distractors, Q = recall_queries(spec, length), L = spec->key_len,
        P = K + D;
    s->n_pairs = P;
    s->n_queries = Q;
    s->tokens = xmalloc(sizeof(int) * (size_t)length);
    // keys (P, L): the K real keys, then the distractors; values distinct over all P.
    int keys[RECALL_MAX_PAIRS * RECALL_MAX_KEY_LEN], values[RECALL_MAX_PAIRS],
        asked_key[RECALL_MAX_PAIRS];
    draw_keys(spec, rng, keys);
    draw_distinct(rng, spec->symbols, P, values);
    // The queried keys, independent and uniform with replacement: which values earlier queries
    // were answered with says nothing about the next (no elimination shortcut).
    for (int q = 0; q < Q; q++) asked_key[q] = (int)gsl_rng_uniform_int(rng, (unsigned long)K);
    for (int i = 0; i < D; i++) {
        const int *like = keys + asked_key[i % Q] * L;
        draw_distractor_key(like, keys, K + i, L, spec->symbols, rng, keys + (K + i) * L);
    }
    // Context order: a random permutation of the P pairs.
    int order[RECALL_MAX_PAIRS];
    draw_distinct(rng, P, P, order);
    // Gaps: length - (P + Q)(L + 1) tokens split uniformly over the P + 1 gaps (each of the
    // gap tokens goes to a uniform gap: the counts are multinomial).
    int gap[RECALL_MAX_PAIRS + 1] = {0}, slack = length - (P + Q) * (L + 1);
    CHECK(slack >= 0, "recall_make: %d tokens cannot hold the sample (recall_check first)", length);
    for (int i = 0; i < slack; i++) gap[gsl_rng_uniform_int(rng, (unsigned long)(P + 1))]++;
    int at = 0, where[RECALL_MAX_PAIRS];
    for (int j = 0; j <= P; j++) {
        for (int g = 0; g < gap[j]; g++)
            s->tokens[at++] = spec->noise ? RECALL_FILLER_FIRST +
                                                (int)gsl_rng_uniform_int(rng, RECALL_FILLER_COUNT)
                                          : RECALL_PAD;
        if (j == P) break;
        int pair = order[j];
        where[pair] = j;
        s->pair_pos[j] = at;
        s->pair_value[j] = RECALL_VALUE_FIRST + values[pair];
        s->pair_real[j] = pair < K;
        memcpy(s->tokens + at, keys + pair * L, sizeof(int) * (size_t)L);
        at += L;
        s->tokens[at++] = RECALL_VALUE_FIRST + values[pair];
    }
    for (int q = 0; q < Q; q++) {
        int pair = asked_key[q];
        s->asked[q] = where[pair];
        s->query_pos[q] = at;
        memcpy(s->tokens + at, keys + pair * L, sizeof(int) * (size_t)L);
        at += L;
        s->tokens[at++] = RECALL_VALUE_FIRST + values[pair];
    }
}

void recall_free(RecallSample *s) {
    free(s->tokens);
    s->tokens = NULL;
}

int recall_answer_position(const RecallSample *s, int q) {
    return s->query_pos[q] + s->spec.key_len - 1;
}

void recall_training_row(const RecallSpec *spec, gsl_rng *rng, int *tokens, int *targets,
                         unsigned char *answer_mark, int T) {
    RecallSample s;
    recall_make(&s, spec, T + 1, rng);
    memcpy(tokens, s.tokens, sizeof(int) * (size_t)T);
    for (int i = 0; i < T; i++) targets[i] = TARGET_IGNORE;
    if (answer_mark) memset(answer_mark, 0, (size_t)T);
    for (int q = 0; q < s.n_queries; q++) {
        int p = recall_answer_position(&s, q);
        targets[p] = s.tokens[p + 1];
        if (answer_mark) answer_mark[p] = 1;
    }
    recall_free(&s);
}

int recall_positional_answer(const RecallSample *s, RecallPositional kind, int q) {
    switch (kind) {
    case RECALL_POSITIONAL_FIRST:
        return 0;
    case RECALL_POSITIONAL_LAST:
        return s->n_pairs - 1;
    case RECALL_POSITIONAL_MIDDLE: {
        int best = 0; // the pair whose key starts nearest the middle of the context
        long mid = s->query_pos[0];
        for (int i = 1; i < s->n_pairs; i++)
            if (labs(2L * s->pair_pos[i] - mid) < labs(2L * s->pair_pos[best] - mid)) best = i;
        return best;
    }
    case RECALL_POSITIONAL_ORDER:
        return q % s->n_pairs;
    default: { // the first pair whose value no earlier query was answered with
        for (int i = 0; i < s->n_pairs; i++) {
            int used = 0;
            for (int r = 0; r < q && !used; r++) used = s->asked[r] == i;
            if (!used) return i;
        }
        return 0;
    }
    }
}

// One query's answer from the logits row (V) at its answer position.
static RecallAnswer answer_from_logits(const RecallSample *s, int q, const float *logits, int V) {
    int value = s->pair_value[s->asked[q]], best = 0;
    float mx = logits[0];
    for (int v = 1; v < V; v++)
        if (logits[v] > mx) mx = logits[v], best = v;
    double z = 0.0; // log-sum-exp with the maximum subtracted, summed in double
    for (int v = 0; v < V; v++) z += exp((double)(logits[v] - mx));
    RecallAnswer a = {.predicted = best,
                      .correct = best == value,
                      .answered_pair = -1,
                      .logprob = (double)(logits[value] - mx) - log(z)};
    for (int i = 0; i < s->n_pairs; i++)
        if (s->pair_value[i] == best) a.answered_pair = i;
    return a;
}

void recall_score(Model *m, const RecallSample *samples, int n, int B, int *tokens,
                  RecallAnswer *out) {
    int T = samples[0].length, V = m->cfg.vocab_size;
    for (int first = 0; first < n; first += B) {
        int b = n - first < B ? n - first : B;
        // Always B rows (the last batch padded with copies), so the model keeps one
        // activation size: a training run's buffers are not reallocated.
        for (int i = 0; i < B; i++)
            memcpy(tokens + (long)i * T, samples[first + (i < b ? i : 0)].tokens,
                   sizeof(int) * (size_t)T);
        model_forward(m, tokens, NULL, B, T);
        for (int i = 0; i < b; i++) {
            const RecallSample *s = &samples[first + i];
            for (int q = 0; q < s->n_queries; q++) {
                long row = (long)i * T + recall_answer_position(s, q);
                out[(long)(first + i) * s->n_queries + q] =
                    answer_from_logits(s, q, m->logits + row * V, V);
            }
        }
    }
}

double recall_heldout_accuracy(Model *m, const RecallSpec *spec, int contexts, uint64_t seed, int B,
                               int T, int *tokens) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, (unsigned long)(seed & 0xFFFFFFFFULL));
    RecallSample *samples = xmalloc(sizeof(RecallSample) * (size_t)contexts);
    for (int i = 0; i < contexts; i++) recall_make(&samples[i], spec, T, rng);
    int Q = recall_queries(spec, T);
    RecallAnswer *ans = xmalloc(sizeof(RecallAnswer) * (size_t)contexts * Q);
    recall_score(m, samples, contexts, B, tokens, ans);
    long right = 0, total = (long)contexts * Q;
    for (long i = 0; i < total; i++) right += ans[i].correct;
    for (int i = 0; i < contexts; i++) recall_free(&samples[i]);
    free(samples);
    free(ans);
    gsl_rng_free(rng);
    return (double)right / (double)total;
}
