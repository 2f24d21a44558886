// Multi-needle retrieval (the LWM / DIFF protocol, attention-spec.md section 6): a haystack of
// real text, N needle sentences "The special magic number for <city> is: <7 digits>.", R of
// them queried, the first queried one (the answer needle) at a requested depth and the rest at
// random depths, all at sentence boundaries. Scored by teacher forcing: a queried number is an
// exact match when the model's argmax at every digit equals the digit (what greedy decoding
// would emit), and its log-likelihood is the sum over the digits. Cities and numbers of
// training episodes and of evaluation samples come from disjoint pools.
#ifndef DINT_TASK_NEEDLE_H
#define DINT_TASK_NEEDLE_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "check.h"
#include "model.h"
#include "tokenizer.h"

#define NEEDLE_TASK_VERSION 2
#define NEEDLE_MAX          16

typedef enum { NEEDLE_POOL_TRAIN = 0, NEEDLE_POOL_EVAL = 1 } NeedlePool;

typedef struct {
    int n_needles; // N
    int n_queried; // R <= N
    int length;    // tokens of haystack + needles + one query + its answer
    double depth;  // answer needle position in [0, 1] of the haystack
} NeedleSpec;

typedef struct {
    int *tokens;   // (n) context then the query; the answer follows at answer_pos[r]
    int n_context; // tokens before the queries
    int n_needles, n_queried;
    int city[NEEDLE_MAX];                                 // index into the pool's cities
    long number[NEEDLE_MAX];                              // 7-digit numbers
    int needle_start[NEEDLE_MAX], needle_end[NEEDLE_MAX]; // token span of each needle in tokens
    // One sequence per queried needle r (needle r, in order): tokens[0..n_context) + query r +
    // answer r.
    int *query_tokens[NEEDLE_MAX]; // (query_len[r] + answer_len[r])
    int query_len[NEEDLE_MAX], answer_len[NEEDLE_MAX];
} NeedleSample;

// Build one sample from haystack text tokens (a test-split stream for evaluation, train split
// for training) with rng; needles, cities and numbers from `pool`. Errors: R > N, N > 16,
// length too short for the needles and query, haystack shorter than needed.
int needle_make(NeedleSample *s, Tokenizer *tok, const int *hay, long n_hay, const NeedleSpec *spec,
                NeedlePool pool, gsl_rng *rng, Error *err);
void needle_free(NeedleSample *s);

typedef struct {
    int correct[NEEDLE_MAX];   // exact match per queried needle
    double loglik[NEEDLE_MAX]; // log-likelihood (nats) of the right number
    // Attention from the position that predicts the answer's first token, layer l, averaged
    // over heads, for the first queried needle: mass on its needle tokens and on all others.
    double mass_needle[64], mass_rest[64];
} NeedleScore;

// Score all queried needles of s (one forward per queried needle).
void needle_score(Model *m, const NeedleSample *s, NeedleScore *out);

// Score a given answer for a prepared sequence: exact-match and log-likelihood of
// answer (n_answer tokens) after context (n_context tokens). Used by needle_score and tests.
void needle_score_answer(Model *m, const int *context, int n_context, const int *answer,
                         int n_answer, int *correct, double *loglik);

// The verdict on one answer from the rows that predict it: probs (n_answer, V), nll (n_answer)
// the negative log-probability of each answer token. Exact match: the argmax of every row
// (lowest id on ties) is the answer token.
void needle_judge(const float *probs, const float *nll, int V, const int *answer, int n_answer,
                  int *correct, double *loglik);

// A training episode (pool TRAIN, the first queried needle's answer included) as tokens:
// the context, then each query and answer in turn. Returns the token count (<= cap) or -1.
// With part (cap entries), each written token is flagged NEEDLE_PART_CONTEXT (haystack and
// needles), NEEDLE_PART_QUERY or NEEDLE_PART_ANSWER.
enum { NEEDLE_PART_CONTEXT, NEEDLE_PART_QUERY, NEEDLE_PART_ANSWER };
long needle_training_episode(Tokenizer *tok, const int *hay, long n_hay, const NeedleSpec *spec,
                             gsl_rng *rng, int *out, unsigned char *part, long cap);

const char *needle_city(NeedlePool pool, int i);
int needle_n_cities(NeedlePool pool);

#endif
