#include "trainer.h"

#include <math.h>
#include <stdlib.h>

#include "layers.h"
#include "phase_timer.h"

// One process: every micro-batch, the answer NLL summed in micro-batch order.
static void all_micro_batches(const TrainStep *ts, TrainStepResult *r) {
    Model *m = ts->model;
    const TrainConfig *t = ts->t;
    const unsigned char *needles = ts->answer_needles;
    int B = t->batch_size, T = t->seq_len;
    for (int micro = 0; micro < t->grad_accum; micro++) {
        ts->next_batch(ts->batch_ctx, ts->tokens, ts->targets, ts->answer_needles, B, T);
        r->loss += model_forward(m, ts->tokens, ts->targets, B, T) / t->grad_accum;
        if (needles)
            for (long i = 0; i < (long)B * T; i++) {
                if (needles[i]) r->answer_nll += m->nll[i], r->answer_tokens++;
                if (needles[i] >= 2) r->answer_nll_multi += m->nll[i], r->answer_tokens_multi++;
            }
        // The mean over this micro-batch's scored targets (all of them without
        // data.task_loss = all).
        if (m->n_scored) model_backward(m, ts->tokens, 1.0f / ((float)m->n_scored * t->grad_accum));
    }
}

// Data parallel: this rank's micro-batches (all drawn), then the gradients and the per-micro-batch
// loss, answer NLLs and answer counts summed across ranks. Each micro-batch's values come from one
// rank (the others add exact zeros), so the loss, summed here in micro-batch order, is the one
// process's to the bit; the gradients differ from one process's by rounding only (see README).
static void shared_micro_batches(const TrainStep *ts, TrainStepResult *r) {
    Model *m = ts->model;
    const TrainConfig *t = ts->t;
    const TrainShare *sh = ts->share;
    const unsigned char *needles = ts->answer_needles;
    int B = t->batch_size, T = t->seq_len, G = t->grad_accum;
    // loss / G; answer NLL and count; the same for episodes with N >= 2
    double *per_micro = xcalloc((size_t)G * 5, sizeof(double));
    for (int micro = 0; micro < G; micro++) {
        ts->next_batch(ts->batch_ctx, ts->tokens, ts->targets, ts->answer_needles, B, T);
        if (micro % sh->ranks != sh->rank) continue;
        per_micro[micro] = model_forward(m, ts->tokens, ts->targets, B, T) / G;
        if (needles)
            for (long i = 0; i < (long)B * T; i++) {
                if (needles[i]) per_micro[G + micro] += m->nll[i], per_micro[2 * G + micro]++;
                if (needles[i] >= 2)
                    per_micro[3 * G + micro] += m->nll[i], per_micro[4 * G + micro]++;
            }
        if (m->n_scored) model_backward(m, ts->tokens, 1.0f / ((float)m->n_scored * G));
    }
    sh->sum_floats(sh->ctx, m->grads, m->n_params);
    sh->sum_doubles(sh->ctx, per_micro, 5L * G);
    for (int micro = 0; micro < G; micro++) {
        r->loss += per_micro[micro];
        r->answer_nll += per_micro[G + micro];
        r->answer_tokens += (long)per_micro[2 * G + micro];
        r->answer_nll_multi += per_micro[3 * G + micro];
        r->answer_tokens_multi += (long)per_micro[4 * G + micro];
    }
    free(per_micro);
}

int train_step(const TrainStep *ts, float lr, TrainStepResult *r) {
    Model *m = ts->model;
    const TrainConfig *t = ts->t;
    PHASE_TIMED(PHASE_OPTIMIZER, model_zero_grad(m));
    r->loss = 0.0;
    r->answer_nll = r->answer_nll_multi = 0.0;
    r->answer_tokens = r->answer_tokens_multi = 0;
    if (ts->share && ts->share->ranks > 1)
        shared_micro_batches(ts, r);
    else
        all_micro_batches(ts, r);
    double t0 = phase_begin();
    r->grad_norm = grad_global_norm(m->grads, m->n_params);
    r->clip_scale = 1.0f;
    if (!isfinite(r->loss) || !isfinite(r->grad_norm)) {
        phase_end(PHASE_OPTIMIZER, t0);
        return -1;
    }
    r->clip_scale = grad_clip(m->grads, m->n_params, r->grad_norm, t->grad_clip);
    adamw_step(ts->opt, m, lr, t);
    phase_end(PHASE_OPTIMIZER, t0);
    return 0;
}

double train_validation_loss(Model *m, const Corpus *c, const TrainConfig *t, int *tokens,
                             int *targets, const TrainShare *share) {
    int n = t->eval_batches, ranks = share ? share->ranks : 1, rank = share ? share->rank : 0;
    // Each window's loss from one rank, summed in window order as one process does.
    double *loss = xcalloc((size_t)n, sizeof(double)), total = 0.0;
    for (int i = rank; i < n; i += ranks) {
        corpus_heldout_batch(c, SPLIT_VAL, i, n, tokens, targets, t->batch_size, t->seq_len);
        loss[i] = model_forward(m, tokens, targets, t->batch_size, t->seq_len);
    }
    if (ranks > 1) share->sum_doubles(share->ctx, loss, n);
    for (int i = 0; i < n; i++) total += loss[i];
    free(loss);
    return total / n;
}

