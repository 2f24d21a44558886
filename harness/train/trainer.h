// One optimizer step, shared by `dint train` and `dint bench`: forward and backward over the
// micro-batches, gradient norm, clipping, AdamW; and the validation loss.
#ifndef DINT_TRAINER_H
#define DINT_TRAINER_H

#include <stdint.h>

#include "config.h"
#include "corpus.h"
#include "model.h"
#include "optim.h"

// Fills tokens (B, T), targets (B, T) and, when not NULL, answer_needles (B, T) with the next
// micro-batch: answer_needles is 0 for every target but a needle answer token, which gets the
// number of needles of its episode.
typedef void (*TrainBatchFn)(void *ctx, int *tokens, int *targets, unsigned char *answer_needles,
                             int B, int T);

// Data-parallel training: this process's share of each step's micro-batches, and how the ranks
// combine what they computed. Every rank draws every micro-batch (so the data stream advances as
// in one process) and computes those with micro % ranks == rank; gradients, losses and answer
// sums are then summed across ranks, after the backward passes and before the gradient norm, so
// clipping and AdamW see the global gradient and every rank takes the same step.
typedef struct {
    int rank, ranks;
    void *ctx;
    // a (n values) := their sum over the ranks, on every rank, in an order fixed for a given
    // number of ranks.
    void (*sum_floats)(void *ctx, float *a, long n);
    void (*sum_doubles)(void *ctx, double *a, long n);
    // a (n values) from rank root to every rank.
    void (*broadcast_doubles)(void *ctx, double *a, long n, int root);
} TrainShare;

typedef struct {
    Model *model;
    AdamW *opt;
    const TrainConfig *t; // batch_size, seq_len, grad_accum, grad_clip and the AdamW settings
    TrainBatchFn next_batch;
    void *batch_ctx;
    const TrainShare *share;       // NULL: this process computes every micro-batch
    int *tokens, *targets;         // (B, T) the micro-batch buffers
    unsigned char *answer_needles; // (B, T), or NULL: no answer loss
} TrainStep;

typedef struct {
    double loss;        // mean over the micro-batches of their mean NLL over scored targets
    double answer_nll;  // summed NLL of the needle answer targets
    long answer_tokens; // how many there were
    // The same over the answers of episodes with two or more needles (the retrieval onset's).
    double answer_nll_multi;
    long answer_tokens_multi;
    double grad_norm; // global gradient norm before clipping
    float clip_scale; // what clipping multiplied the gradients by (1: not clipped)
} TrainStepResult;

// One step at learning rate lr (with a share: on every rank together; r is the same on every
// rank). Returns 0, or -1 when the loss or the gradient norm is NaN or Inf: the optimizer has then
// not stepped (r says which, and the gradients are unclipped).
int train_step(const TrainStep *ts, float lr, TrainStepResult *r);

// Mean validation NLL over the fixed validation windows (tokens, targets: (B, T) buffers); with
// a share (or NULL), the windows are split over the ranks and the result is the same everywhere.
double train_validation_loss(Model *m, const Corpus *c, const TrainConfig *t, int *tokens,
                             int *targets, const TrainShare *share);

#endif
