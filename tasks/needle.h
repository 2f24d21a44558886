// Multi-needle retrieval (the LWM / DIFF protocol, README.md "Evaluations"): a haystack of
// real text, N needle sentences "The special magic number for <city> is: <7 digits>.", R of
// them queried, all at sentence boundaries. Scored by teacher forcing: a queried number is an
// exact match when the model's argmax at every digit equals the digit (what greedy decoding
// would emit), and its log-likelihood is the sum over the digits. Cities and numbers of
// training episodes and of evaluation samples come from disjoint pools.
//
// No positional leak (task version 3). The R queried needles are a uniform random subset of
// the N, asked in random order; needles share a boundary in random order. With
// NEEDLE_LAYOUT_UNIFORM (training episodes) every needle sits at an independent uniform
// sentence boundary, both ends of the haystack included. With NEEDLE_LAYOUT_DEPTH (evaluation)
// the first asked needle is placed at the requested depth and every other needle at an
// independent uniform boundary. So nothing but the city in the question tells which needle is
// asked. Every sample with N >= 2 also carries a key-swap control: a question about a second
// needle of the same context (the second queried one when R >= 2, otherwise one drawn uniformly
// among the others), so that a model copying by position, which gives one number to both
// questions, is caught (keyed rate 0).
#ifndef DINT_TASK_NEEDLE_H
#define DINT_TASK_NEEDLE_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "check.h"
#include "model.h"
#include "tokenizer.h"

#define NEEDLE_TASK_VERSION 3
#define NEEDLE_MAX          16

typedef enum { NEEDLE_POOL_TRAIN = 0, NEEDLE_POOL_EVAL = 1 } NeedlePool;

typedef enum {
    NEEDLE_LAYOUT_DEPTH = 0,   // evaluation: the first asked needle at `depth`, the rest uniform
    NEEDLE_LAYOUT_UNIFORM = 1, // training: every needle at a uniform boundary (depth unused)
} NeedleLayout;

typedef struct {
    int n_needles;       // N
    int n_queried;       // R <= N
    int length;          // tokens of haystack + needles + one query + its answer
    double depth;        // first asked needle's position in [0, 1] of the haystack (DEPTH layout)
    NeedleLayout layout; // 0 (DEPTH) unless set
} NeedleSpec;

typedef struct {
    int *tokens;   // (n_context) haystack with the needles
    int n_context; // tokens before a question
    int n_needles, n_queried;
    int city[NEEDLE_MAX];                                 // (N) index into the pool's cities
    long number[NEEDLE_MAX];                              // (N) distinct 7-digit numbers
    int needle_start[NEEDLE_MAX], needle_end[NEEDLE_MAX]; // (N) token span of each needle
    // Questions, in the order asked: question q asks about needle asked[q]. q < n_queried are
    // the scored ones; n_questions = n_queried + 1 when a separate control question is needed
    // (R = 1, N >= 2), else n_queried. control = the question paired with question 0 in the
    // key-swap control (1 when N >= 2), -1 when N = 1.
    int asked[NEEDLE_MAX + 1];
    int n_questions, control;
    // Per needle i: the question about needle i followed by its answer, as tokens
    // (query_len[i] + answer_len[i]); a question's sequence is tokens + query_tokens[i].
    int *query_tokens[NEEDLE_MAX];
    int query_len[NEEDLE_MAX], answer_len[NEEDLE_MAX];
} NeedleSample;

// Build one sample from haystack text tokens (a test-split stream for evaluation, train split
// for training) with rng; needles, cities and numbers from `pool`. Errors: R > N, N > 16,
// length too short for the needles and query, haystack shorter than needed.
int needle_make(NeedleSample *s, Tokenizer *tok, const int *hay, long n_hay, const NeedleSpec *spec,
                NeedlePool pool, gsl_rng *rng, Error *err);
void needle_free(NeedleSample *s);

typedef struct {
    // Per question q < n_questions (asked[q]): exact match of the right number, its
    // log-likelihood (nats), and which needle's number greedy decoding emits (-1: none of them).
    int correct[NEEDLE_MAX + 1];
    double loglik[NEEDLE_MAX + 1];
    int answered[NEEDLE_MAX + 1];
    // Attention from the position that predicts the answer's first token, layer l, averaged
    // over heads, for question 0: mass on its needle's tokens and on all others.
    double mass_needle[64], mass_rest[64];
} NeedleScore;

// Score every question of s: one forward per question, and for a wrong answer one more per
// other needle whose number greedy decoding could still be emitting (usually none).
void needle_score(Model *m, const NeedleSample *s, NeedleScore *out);

// Which needle's number greedy decoding emits after a question (-1: none of them), exactly,
// from teacher-forced forwards: forward(ctx, i, greedy) runs the question's context followed by
// needle i's number, writes the argmax of each row predicting a number token into greedy
// (answer_len[i]) and returns 1 when all of them equal the number. `first` (the asked needle)
// is forwarded first; a wrong answer costs one more forward per needle whose number still
// agrees with greedy's tokens (usually none). *forwards (may be NULL) gets the count.
typedef int (*NeedleForwardFn)(void *ctx, int needle, int *greedy);
int needle_greedy_answer(const NeedleSample *s, int first, NeedleForwardFn forward, void *ctx,
                         int max_answer, int *forwards);

// Scripted scorers that see only the needles' positions, never the key: they answer every
// question with one needle. FIRST: the earliest in the context; LAST: the latest, which is also
// the one nearest the question (every question follows the whole context); MIDDLE: the one
// nearest the middle of the context.
typedef enum {
    NEEDLE_POSITIONAL_FIRST,
    NEEDLE_POSITIONAL_LAST,
    NEEDLE_POSITIONAL_MIDDLE,
    NEEDLE_N_POSITIONAL
} NeedlePositional;
extern const char *const NEEDLE_POSITIONAL_NAMES[NEEDLE_N_POSITIONAL];
int needle_positional_answer(const NeedleSample *s, NeedlePositional kind);

// The verdict on one answer from the rows that predict it: probs (n_answer, V), nll (n_answer)
// the negative log-probability of each answer token. Exact match: the argmax of every row
// (lowest id on ties) is the answer token.
void needle_judge(const float *probs, const float *nll, int V, const int *answer, int n_answer,
                  int *correct, double *loglik);

// A training episode (pool TRAIN, layout UNIFORM whatever spec->layout says) as tokens: the
// context, then each queried needle's question and answer in turn. Returns the token count (<= cap)
// or -1. With part (cap entries), each written token is flagged NEEDLE_PART_CONTEXT (haystack and
// needles), NEEDLE_PART_QUERY or NEEDLE_PART_ANSWER.
enum { NEEDLE_PART_CONTEXT, NEEDLE_PART_QUERY, NEEDLE_PART_ANSWER };
long needle_training_episode(Tokenizer *tok, const int *hay, long n_hay, const NeedleSpec *spec,
                             gsl_rng *rng, int *out, unsigned char *part, long cap);

const char *needle_city(NeedlePool pool, int i);
int needle_n_cities(NeedlePool pool);

#endif
