// Synthetic keyed recall (multi-query associative recall, after the Zoology work's MQAR): a
// context of key -> value pairs, then queries for keys of that context; the answer to a query is
// its key's value. Keys, values and filler come from disjoint token sets, so nothing but the key
// tells which value is asked for. One generator serves the training mixture (`recall:W`), the
// held-out accuracy a training run records (its recall onset) and `dint eval recall`.
//
// A sample of `length` tokens:
//   [gap] k1 v1 [gap] k2 v2 ... [gap] kP vP [gap] | q1 a1 q2 a2 ... qQ aQ
// Key tokens come from the first `symbols` of the key set and values from the first `symbols` of
// the value set (fewer symbols: each is seen more often, so copying is learnt sooner).
// P = pairs + distractors pairs in random order, each key key_len tokens and each value one token;
// the gaps add up to length - (P + Q)(key_len + 1) tokens, split uniformly at random among the
// P + 1 gaps (so where a pair sits is independent of whether it is asked), filled with random
// filler tokens (noise) or one pad token. The Q queried keys are drawn independently and
// uniformly (with replacement) among the `pairs` real pairs, so the values already answered say
// nothing about the next (with every key asked once, the last answer would follow by
// elimination); query qi is the key's tokens, ai its value, predicted at qi's last token. The
// key-swap control is the first two queries of contexts where they ask different keys. Distractor
// pairs have a key that differs from a queried key in exactly one token and are never asked. With
// key_len >= 2 the keys of a context are built from ceil(pairs^(1/key_len)) + 1 tokens per
// position, so keys share tokens and only the whole key identifies its value (the multi-token match
// a natural-text needle needs).
#ifndef DINT_TASKS_RECALL_H
#define DINT_TASKS_RECALL_H

#include <gsl/gsl_rng.h>

#include "check.h"
#include "config.h"
#include "model.h"

// The token sets (ids; every tokenizer here has at least 257 tokens).
#define RECALL_KEY_FIRST    0
#define RECALL_KEY_COUNT    96
#define RECALL_VALUE_FIRST  96
#define RECALL_VALUE_COUNT  96
#define RECALL_PAD          192 // the gap token without noise
#define RECALL_FILLER_FIRST 193
#define RECALL_FILLER_COUNT 63
#define RECALL_MAX_PAIRS    96 // pairs + distractors
#define RECALL_MAX_KEY_LEN  4

typedef struct {
    int pairs, queries, key_len, noise, distractors; // queries 0: see recall_queries
    int symbols; // keys and values each from the first `symbols` tokens of their set (<= 96)
} RecallSpec;

typedef struct {
    RecallSpec spec;
    int length;                       // tokens
    int n_pairs;                      // pairs + distractors, in context order
    int n_queries;                    // Q
    int *tokens;                      // (length)
    int pair_pos[RECALL_MAX_PAIRS];   // token index of pair i's key
    int pair_value[RECALL_MAX_PAIRS]; // its value token
    int pair_real[RECALL_MAX_PAIRS];  // 1: one of the `pairs` (may be asked); 0: a distractor
    int asked[RECALL_MAX_PAIRS];      // (Q) the pair index each query asks about
    int query_pos[RECALL_MAX_PAIRS];  // (Q) token index of query i's key
} RecallSample;

// The spec of a config's recall section.
RecallSpec recall_spec_from_config(const RecallConfig *c);
// Queries of a sample of `length` tokens: spec->queries, or when 0, as many as fill half of it
// (length / (2 (key_len + 1)), 2 to 96): the other half holds the pairs and the gaps.
int recall_queries(const RecallSpec *s, int length);
// Tokens a sample needs at least (no gaps; 2 queries when queries is 0).
int recall_min_length(const RecallSpec *s);
// 0, or -1 with err saying which knob to change (the spec cannot fill `length` tokens).
int recall_check(const RecallSpec *s, int length, Error *err);

// Draw a sample of `length` tokens from rng (the spec must pass recall_check).
void recall_make(RecallSample *s, const RecallSpec *spec, int length, gsl_rng *rng);
void recall_free(RecallSample *s);
// The position whose next-token prediction is query q's answer (q's last key token).
int recall_answer_position(const RecallSample *s, int q);

// Training rows: tokens (T) and targets (T) from one sample of T + 1 tokens; only the answers of
// the queries are scored (every other target is TARGET_IGNORE); answer_mark (T, may be NULL) gets
// 1 at the answer targets, else 0.
void recall_training_row(const RecallSpec *spec, gsl_rng *rng, int *tokens, int *targets,
                         unsigned char *answer_mark, int T);

// Scripted scorers that never look at the query's key: the value of the first pair of the
// context, the last (nearest the queries: recency), the one nearest the middle, label order
// (query i gets the i-th pair's value), and elimination (the first pair whose value no earlier
// query was answered with: frequency). The first three give every query of a sample the same
// answer, so they cannot answer both queries of the key-swap pair: keyed rate 0. All score
// chance, 1 / (pairs + distractors).
typedef enum {
    RECALL_POSITIONAL_FIRST,
    RECALL_POSITIONAL_LAST,
    RECALL_POSITIONAL_MIDDLE,
    RECALL_POSITIONAL_ORDER,
    RECALL_POSITIONAL_UNANSWERED,
    RECALL_N_POSITIONAL
} RecallPositional;
extern const char *const RECALL_POSITIONAL_NAMES[RECALL_N_POSITIONAL];
// The pair index the scorer answers query q with.
int recall_positional_answer(const RecallSample *s, RecallPositional kind, int q);

// A query's result under a model: the greedy (argmax) token, whether it is the value, which pair's
// value it is (-1: none), and the log-probability of the right value.
typedef struct {
    int predicted, correct, answered_pair;
    double logprob;
} RecallAnswer;

// Score samples (n, each of the same length T) in batches of B on m, which must hold activations
// for (B, T): out gets n * Q answers, sample-major. tokens is scratch of B * T ints. Every
// forward is of B rows (the last padded), so m's activation size does not change.
void recall_score(Model *m, const RecallSample *samples, int n, int B, int *tokens,
                  RecallAnswer *out);

// Held-out accuracy of a training run: `contexts` samples of T tokens drawn from seed (a stream
// the training data never uses), scored with m in batches of B (tokens: (B, T) scratch). The
// share of queries whose greedy answer is the value.
double recall_heldout_accuracy(Model *m, const RecallSpec *spec, int contexts, uint64_t seed, int B,
                               int T, int *tokens);

#endif
