#include "trainer.h"

#include <math.h>

#include "layers.h"

int train_step(const TrainStep *ts, float lr, TrainStepResult *r) {
    Model *m = ts->model;
    const TrainConfig *t = ts->t;
    int B = t->batch_size, T = t->seq_len;
    model_zero_grad(m);
    r->loss = 0.0;
    r->answer_nll = 0.0;
    r->answer_tokens = 0;
    for (int micro = 0; micro < t->grad_accum; micro++) {
        ts->next_batch(ts->batch_ctx, ts->tokens, ts->targets, ts->is_answer, B, T);
        r->loss += model_forward(m, ts->tokens, ts->targets, B, T) / t->grad_accum;
        if (ts->is_answer)
            for (long i = 0; i < (long)B * T; i++)
                if (ts->is_answer[i]) r->answer_nll += m->nll[i], r->answer_tokens++;
        // The mean over this micro-batch's scored targets (all of them without
        // data.task_loss = all).
        if (m->n_scored) model_backward(m, ts->tokens, 1.0f / ((float)m->n_scored * t->grad_accum));
    }
    if (ts->reduce_gradients) ts->reduce_gradients(ts->reduce_ctx, m->grads, m->n_params);
    r->grad_norm = grad_global_norm(m->grads, m->n_params);
    r->clip_scale = 1.0f;
    if (!isfinite(r->loss) || !isfinite(r->grad_norm)) return -1;
    r->clip_scale = grad_clip(m->grads, m->n_params, r->grad_norm, t->grad_clip);
    adamw_step(ts->opt, m, lr, t);
    return 0;
}

double train_validation_loss(Model *m, const Corpus *c, const TrainConfig *t, int *tokens,
                             int *targets) {
    double total = 0.0;
    for (int i = 0; i < t->eval_batches; i++) {
        corpus_heldout_batch(c, SPLIT_VAL, i, t->eval_batches, tokens, targets, t->batch_size,
                             t->seq_len);
        total += model_forward(m, tokens, targets, t->batch_size, t->seq_len);
    }
    return total / t->eval_batches;
}

unsigned long train_derive_seed(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (unsigned long)((z ^ (z >> 31)) & 0xFFFFFFFFULL);
}
