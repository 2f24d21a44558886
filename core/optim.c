#include "optim.h"

#include <math.h>
#include <stdlib.h>

#include "check.h"

void adamw_init(AdamW *opt, long n) {
    opt->m = xcalloc((size_t)n, sizeof(float));
    opt->v = xcalloc((size_t)n, sizeof(float));
    opt->n = n;
    opt->step = 0;
}

void adamw_free(AdamW *opt) {
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

void adamw_step(AdamW *opt, Model *model, float lr, const TrainConfig *t) {
    opt->step++;
    float b1 = t->beta1, b2 = t->beta2;
    float bc1 = 1.0f - powf(b1, (float)opt->step), bc2 = 1.0f - powf(b2, (float)opt->step);
    // One parallel region for every tensor (nowait: the tensors are disjoint), not one per
    // tensor: a small model has dozens of tensors of a few hundred floats.
#pragma omp parallel
    for (int i = 0; i < model->n_tensors; i++) {
        const ParamInfo *pi = &model->info[i];
        float wd = pi->decay ? t->weight_decay : 0.0f;
        float *w = model->params + pi->offset, *g = model->grads + pi->offset;
        float *m = opt->m + pi->offset, *v = opt->v + pi->offset;
#pragma omp for schedule(static) nowait
        for (long j = 0; j < pi->numel; j++) {
            m[j] = b1 * m[j] + (1.0f - b1) * g[j];
            v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
            float mhat = m[j] / bc1, vhat = v[j] / bc2;
            w[j] -= lr * (mhat / (sqrtf(vhat) + t->adam_eps) + wd * w[j]);
        }
    }
}

float lr_schedule(const TrainConfig *t, long step) {
    if (step < t->warmup) return t->lr * (float)(step + 1) / (float)t->warmup;
    long decay_steps = t->steps - t->warmup;
    if (decay_steps <= 0) return t->lr;
    double frac = (double)(step - t->warmup) / (double)decay_steps;
    if (frac > 1.0) frac = 1.0;
    double cosine = 0.5 * (1.0 + cos(M_PI * frac));
    double min_lr = t->lr * t->min_lr_frac;
    return (float)(min_lr + (t->lr - min_lr) * cosine);
}

double grad_global_norm(const float *g, long n) {
    enum { CHUNK = 4096 };
    long n_chunks = (n + CHUNK - 1) / CHUNK;
    double *part = xcalloc((size_t)n_chunks, sizeof(double));
#pragma omp parallel for schedule(static)
    for (long c = 0; c < n_chunks; c++) {
        double s = 0.0;
        long end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
        for (long i = c * CHUNK; i < end; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double total = 0.0;
    for (long c = 0; c < n_chunks; c++) total += part[c];
    free(part);
    return sqrt(total);
}

float grad_clip(float *g, long n, double norm, float max_norm) {
    if (max_norm <= 0.0f || !(norm > max_norm)) return 1.0f;
    float s = (float)(max_norm / (norm + 1e-6));
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) g[i] *= s;
    return s;
}
