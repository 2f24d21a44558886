// One optimizer step, shared by `dint train` and `dint bench`: forward and backward over the
// micro-batches, gradient norm, clipping, AdamW; and the validation loss.
#ifndef DINT_TRAINER_H
#define DINT_TRAINER_H

#include <stdint.h>

#include "config.h"
#include "corpus.h"
#include "model.h"
#include "optim.h"

// Fills tokens (B, T), targets (B, T) and, when not NULL, is_answer (B, T) with the next
// micro-batch.
typedef void (*TrainBatchFn)(void *ctx, int *tokens, int *targets, unsigned char *is_answer, int B,
                             int T);

// Data-parallel training would sum (and scale) grads (n) across workers here: it is called
// after the backward passes of every micro-batch and before the gradient norm, so clipping and
// AdamW see the global gradient. NULL: one process (what exists today).
typedef void (*ReduceGradientsFn)(void *ctx, float *grads, long n);

typedef struct {
    Model *model;
    AdamW *opt;
    const TrainConfig *t; // batch_size, seq_len, grad_accum, grad_clip and the AdamW settings
    TrainBatchFn next_batch;
    void *batch_ctx;
    ReduceGradientsFn reduce_gradients; // NULL today
    void *reduce_ctx;
    int *tokens, *targets;    // (B, T) the micro-batch buffers
    unsigned char *is_answer; // (B, T), or NULL: no answer loss
} TrainStep;

typedef struct {
    double loss;        // mean over the micro-batches of their mean NLL over scored targets
    double answer_nll;  // summed NLL of the needle answer targets
    long answer_tokens; // how many there were
    double grad_norm;   // global gradient norm before clipping
    float clip_scale;   // what clipping multiplied the gradients by (1: not clipped)
} TrainStepResult;

// One step at learning rate lr. Returns 0, or -1 when the loss or the gradient norm is NaN or
// Inf: the optimizer has then not stepped (r says which, and the gradients are unclipped).
int train_step(const TrainStep *ts, float lr, TrainStepResult *r);

// Mean validation NLL over the fixed validation windows (tokens, targets: (B, T) buffers).
double train_validation_loss(Model *m, const Corpus *c, const TrainConfig *t, int *tokens,
                             int *targets);

// Independent 32-bit seeds for parameter init (stream 0) and batch sampling (stream 1),
// derived from the run seed, so the data order does not depend on the model's size.
unsigned long train_derive_seed(uint64_t seed, uint64_t stream);

#endif
