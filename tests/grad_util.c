#include "grad_util.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

ModelConfig tiny_model_config(Variant v, GMode g, GammaMode gm, float gamma_value) {
    RunConfig rc;
    config_defaults(&rc);
    ModelConfig *c = &rc.model;
    c->variant = v;
    c->vocab_size = 31;
    c->n_layer = 2;
    c->d_model = 16;
    c->head_dim = 4;
    c->g_mode = g;
    c->gamma_mode = gm;
    c->gamma_value = gamma_value;
    c->init_std = 0.3f; // larger than training's 0.02 so every path carries a visible gradient
    config_resolve(&rc, NULL);
    return rc.model;
}

void tiny_tokens(int *tokens, int n, int vocab, unsigned seed) {
    unsigned s = seed * 2654435761u + 12345u;
    for (int i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        tokens[i] = (int)((s >> 16) % (unsigned)vocab);
    }
}

void direction_signs(float *dir, long n, unsigned seed) {
    unsigned s = seed * 747796405u + 1u;
    for (long i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        dir[i] = ((s >> 16) & 1) ? 1.0f : -1.0f;
    }
}

DirCheck model_direction_check(Model *m, const ParamInfo *pi, const int *tokens, const int *targets,
                               int B, int T, double h, unsigned seed) {
    int n = (int)pi->numel;
    float *w = m->params + pi->offset;
    float *saved = malloc(sizeof(float) * n);
    float *dir = malloc(sizeof(float) * n);
    memcpy(saved, w, sizeof(float) * n);
    direction_signs(dir, n, seed);
    model_zero_grad(m);
    model_forward(m, tokens, targets, B, T);
    model_backward(m, tokens, 1.0f / (B * T));
    double analytic = 0.0;
    for (int i = 0; i < n; i++) analytic += (double)m->grads[pi->offset + i] * dir[i];
    for (int i = 0; i < n; i++) w[i] = saved[i] + (float)h * dir[i];
    double lp = model_forward(m, tokens, targets, B, T);
    for (int i = 0; i < n; i++) w[i] = saved[i] - (float)h * dir[i];
    double lm = model_forward(m, tokens, targets, B, T);
    memcpy(w, saved, sizeof(float) * n);
    free(saved);
    free(dir);
    DirCheck r;
    r.analytic = analytic;
    r.numeric = (lp - lm) / (2.0 * h);
    double scale = fmax(fabs(r.analytic), fabs(r.numeric));
    r.rel_err = scale > 0 ? fabs(r.analytic - r.numeric) / scale : 0.0;
    return r;
}

void test_rng_seed(TestRng *r, unsigned long long seed) {
    r->s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
}

double test_rng_uniform(TestRng *r) {
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(r->s >> 11) * (1.0 / 9007199254740992.0);
}

void fill_uniform(float *x, long n, float lo, float hi, TestRng *r) {
    for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)test_rng_uniform(r);
}

ErrStats err_stats(double rtol, double atol) {
    ErrStats s;
    memset(&s, 0, sizeof s);
    s.rtol = rtol;
    s.atol = atol;
    return s;
}

int err_add(ErrStats *s, double an, double num) {
    double diff = fabs(an - num);
    double scale = fmax(fabs(an), fabs(num));
    double bound = s->rtol * scale + s->atol;
    int ok = diff <= bound; // false for NaN
    s->n++;
    if (!ok) s->n_fail++;
    if (isnan(diff)) diff = INFINITY;
    if (diff > s->max_abs) s->max_abs = diff;
    if (scale > s->atol && diff / scale > s->max_rel) s->max_rel = diff / scale;
    if (diff / bound > s->max_ratio) s->max_ratio = diff / bound;
    if (scale > s->max_scale) s->max_scale = scale;
    return ok;
}

void err_check_finish(const ErrStats *s, const char *what) {
    cr_log_info("%-58s n=%5ld max|an-num|=%.2e max rel=%.2e worst err/bound=%.3f max|val|=%.2e",
                what, s->n, s->max_abs, s->max_rel, s->max_ratio, s->max_scale);
    cr_expect(s->n > 0, "%s: nothing was checked", what);
    cr_expect(s->n_fail == 0,
              "%s: %ld of %ld values outside |an-num| <= %g*max(|an|,|num|) + %g "
              "(max abs err %.3g, max rel err %.3g, worst err/bound %.3g)",
              what, s->n_fail, s->n, s->rtol, s->atol, s->max_abs, s->max_rel, s->max_ratio);
}

float *test_falloc(long n) {
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}

double *test_dalloc(long n) {
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

double dot_fd(const float *a, const float *b, long n) {
    double s = 0.0;
    for (long i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

double central_diff(LossFn f, void *ctx, float *x, float h) {
    float x0 = *x, xp = x0 + h, xm = x0 - h;
    *x = xp;
    double lp = f(ctx);
    *x = xm;
    double lm = f(ctx);
    *x = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}
