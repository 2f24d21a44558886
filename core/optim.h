// AdamW with decoupled weight decay on matrices, warmup + cosine learning rate, and
// global-norm gradient clipping, as flat loops over the model's parameter buffer.
#ifndef DINT_OPTIM_H
#define DINT_OPTIM_H

#include "config.h"
#include "model.h"

typedef struct {
    float *m, *v; // first and second moments, same layout as the parameters
    long n;
    long step; // optimizer steps taken
} AdamW;

void adamw_init(AdamW *opt, long n);
void adamw_free(AdamW *opt);
// One update with learning rate lr; weight decay only on tensors with info.decay.
void adamw_step(AdamW *opt, Model *model, float lr, const TrainConfig *t);

// Learning rate for 0-based step: linear warmup to lr, then cosine to lr * min_lr_frac.
float lr_schedule(const TrainConfig *t, long step);

// L2 norm of the whole gradient, summed in double in a fixed order.
double grad_global_norm(const float *g, long n);
// Scale g so its norm is at most max_norm (no-op when max_norm <= 0). Returns the scale.
float grad_clip(float *g, long n, double norm, float max_norm);

#endif
