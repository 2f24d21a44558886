// Whole-model tests (core/model.h): the gradient of the mean next-token loss with respect to
// every parameter tensor against finite differences, for every variant and ablation; the
// attention maps (recomputed from q and k) after a forward; causality of the logits; the
// inference mode against a training-mode forward; and bit-identical
// results on 1 and 2 threads.
// Run with --verbose to see the measured errors of every check.
#include <cblas.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "attention_stream.h"
#include "config.h"
#include "grad_util.h"
#include "layers.h"
#include "model.h"

// One thread for the checks: Criterion runs test processes in parallel, and several processes
// each with spinning OpenMP workers on 2 cores slow the whole run down 20-50x. Kernels on 2
// threads are covered by model_threads, which compares them bit for bit with 1 thread.
static void setup(void) {
    threads_init(1);
}

TestSuite(model_grad, .init = setup);
TestSuite(model_maps, .init = setup);
TestSuite(model_causality, .init = setup);
TestSuite(model_threads, .init = setup);

// A model configuration: the tiny config of grad_util.h and the ablation switches on top.
// -1 keeps the tiny config's value.
typedef struct {
    char name[48];
    Variant variant;
    GMode g_mode;
    GammaMode gamma_mode;
    float gamma_value;
    int head_norm, head_norm_gain, lambda_schedule, tie_embeddings;
    float lambda_init_const;
} ModelCase;

#define KEEP -1, -1, -1, -1, 0.0f

static ModelConfig case_config(const ModelCase *c) {
    ModelConfig cfg = tiny_model_config(c->variant, c->g_mode, c->gamma_mode, c->gamma_value);
    if (c->head_norm >= 0) cfg.head_norm = c->head_norm;
    if (c->head_norm_gain >= 0) cfg.head_norm_gain = c->head_norm_gain;
    if (c->lambda_schedule >= 0) {
        cfg.lambda_schedule = c->lambda_schedule;
        cfg.lambda_init_const = c->lambda_init_const;
    }
    if (c->tie_embeddings >= 0) cfg.tie_embeddings = c->tie_embeddings;
    return cfg;
}

static void case_describe(const ModelCase *c, const ModelConfig *m, char *buf, int n) {
    char gm[32];
    gamma_mode_format(m, gm, sizeof gm);
    snprintf(buf, n, "%s [%s g_mode=%s gamma=%s head_norm=%d gain=%d lambda_init=%s tie=%d]",
             c->name, variant_name(m->variant), g_mode_name(m->g_mode), gm, m->head_norm,
             m->head_norm_gain, m->lambda_schedule ? "schedule" : "const", m->tie_embeddings);
    if (!m->lambda_schedule) {
        int len = (int)strlen(buf);
        snprintf(buf + len, n - len, " (lambda_init %.2f)", m->lambda_init_const);
    }
}

static double ddot(const float *a, const float *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static void build(Model *m, const ModelConfig *cfg, uint64_t seed) {
    Error err;
    int rc = model_build(m, cfg, &err);
    cr_assert(rc == 0, "model_build failed: %s", err.msg);
    model_init_params(m, seed);
}

// ---------------------------------------------------------------------------------------------
// Gradient check of every parameter tensor.

static ModelCase grad_cases[] = {
    {"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
    {"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
    {"diff head_norm=0", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, 0, -1, -1, -1, 0.0f},
    {"dint causal tied", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, KEEP},
    {"dint causal zero", VARIANT_DINT, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
    {"dint causal learned", VARIANT_DINT, GMODE_CAUSAL, GAMMA_LEARNED, 0.0f, KEEP},
    {"dint causal fixed:0.5", VARIANT_DINT, GMODE_CAUSAL, GAMMA_FIXED, 0.5f, KEEP},
    {"dint full tied", VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 0.0f, KEEP},
    {"dint full zero", VARIANT_DINT, GMODE_FULL, GAMMA_ZERO, 0.0f, KEEP},
    {"dint full learned", VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0.0f, KEEP},
    {"dint full fixed:0.5", VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.5f, KEEP},
    {"dint uniform tied", VARIANT_DINT, GMODE_UNIFORM, GAMMA_TIED, 0.0f, KEEP},
    {"dint uniform learned", VARIANT_DINT, GMODE_UNIFORM, GAMMA_LEARNED, 0.0f, KEEP},
    {"dint head_norm_gain=0", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, -1, 0, -1, -1, 0.0f},
    {"dint lambda_init=0.5", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, -1, -1, 0, -1, 0.5f},
    {"dint tie_embeddings=1", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, -1, -1, -1, 1, 0.0f},
    {"transformer tie_embeddings=1", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, -1, -1,
     -1, 1, 0.0f},
};

enum { GB = 2, GT = 8 }; // batch and sequence length of the gradient check

ParameterizedTestParameters(model_grad, every_tensor) {
    return cr_make_param_array(ModelCase, grad_cases, sizeof grad_cases / sizeof grad_cases[0]);
}

ParameterizedTest(ModelCase *c, model_grad, every_tensor) {
    ModelConfig cfg = case_config(c);
    char desc[256];
    case_describe(c, &cfg, desc, sizeof desc);
    Model m;
    build(&m, &cfg, 1234);
    int tokens[GB * GT + 1], targets[GB * GT];
    tiny_tokens(tokens, GB * GT + 1, cfg.vocab_size, 7);
    for (int i = 0; i < GB * GT; i++) targets[i] = tokens[i + 1];

    // The tensors this configuration must have (so a dropped parameter cannot pass silently).
    int two = cfg.variant != VARIANT_TRANSFORMER;
    int expect = 1 + cfg.n_layer * (4 + 1 + 1 + 3) + 1 + !cfg.tie_embeddings;
    if (two) expect += cfg.n_layer * (4 + (cfg.head_norm && cfg.head_norm_gain));
    if (cfg.variant == VARIANT_DINT && cfg.gamma_mode == GAMMA_LEARNED) expect += cfg.n_layer * 4;
    cr_expect(m.n_tensors == expect, "%s: %d parameter tensors, expected %d", desc, m.n_tensors,
              expect);

    // Every tensor: model_direction_check (d mean-NLL along a random +-1 direction, central
    // differences of the fp32 model, loss summed in double) with h = 5e-4. Measured on this
    // machine with that helper: absolute noise of the finite difference about 6e-5 (up to
    // ~2e-4 where a derivative is small), truncation below 0.5 % relative except the
    // Transformer's tok_embeddings (0.6 %: the +-1 step over 496 values is long). Criterion:
    //   |an - num| <= 1e-2 * max(|an|, |num|) + 2e-4
    // i.e. >= 1.6x the truncation and >= 1.4x the worst noise seen (3x the typical one).
    //
    // A missing backward term changes a directional derivative by O(its size); for that to
    // show above the tolerance the derivative must be large, and a random +-1 direction can
    // nearly cancel (|<g, dir>| << ||g||). So of 8 candidate directions the one with the largest
    // |<g_analytic, dir>| is used (chosen from the analytic gradient alone, before any finite
    // difference), and the check requires max(|an|, |num|) > 5 atol.
    //
    // The lambda / gamma re-parameterisation vectors (d = 4 values each) are the exception:
    // their derivatives are small (7e-4 .. 4e-1) and at h = 5e-4 the noise reaches 2.8e-4
    // (measured: layers.0.attn.gamma_k1 of "dint * learned", an 8.93e-3 vs num 9.21e-3, 95 % of
    // the bound above; at h = 1e-2 the same pair agrees to 5e-6). They are checked at h = 1e-2,
    // where over all cases the measured error is <= 6.7e-5 at |value| 0.36 (truncation
    // <= 2e-4 relative) and the noise <= ~3e-5:
    //   |an - num| <= 2e-3 * max(|an|, |num|) + 3e-5      (10x truncation, 2x noise)
    const double h = 5e-4, rtol = 1e-2, atol = 2e-4;
    const double h_vec = 1e-2, rtol_vec = 2e-3, atol_vec = 3e-5;
    enum { N_DIRS = 8 };
    ErrStats st = err_stats(rtol, atol), sv = err_stats(rtol_vec, atol_vec);
    double min_scale = INFINITY;
    const char *min_name = "";
    // The analytic gradient, for choosing directions.
    float *g = malloc(sizeof(float) * m.n_params), *dir = malloc(sizeof(float) * m.n_params);
    model_zero_grad(&m);
    model_forward(&m, tokens, targets, GB, GT);
    model_backward(&m, tokens, 1.0f / (GB * GT));
    memcpy(g, m.grads, sizeof(float) * m.n_params);
    for (int t = 0; t < m.n_tensors; t++) {
        const ParamInfo *pi = &m.info[t];
        int is_vec = strstr(pi->name, ".lambda_") || strstr(pi->name, ".gamma_");
        double hh = is_vec ? h_vec : h, rt = is_vec ? rtol_vec : rtol,
               at = is_vec ? atol_vec : atol;
        unsigned seed = 0;
        double best = -1.0;
        for (unsigned k = 0; k < N_DIRS; k++) {
            unsigned sd = 100u + (unsigned)t + 1000u * k;
            direction_signs(dir, pi->numel, sd);
            double p = fabs(ddot(g + pi->offset, dir, (int)pi->numel));
            if (p > best) best = p, seed = sd;
        }
        DirCheck r = model_direction_check(&m, pi, tokens, targets, GB, GT, hh, seed);
        int ok = err_add(is_vec ? &sv : &st, r.analytic, r.numeric);
        double scale = fmax(fabs(r.analytic), fabs(r.numeric));
        cr_expect(ok,
                  "%s: tensor %s (%ld values, h %.0e, direction seed %u): analytic %.8g numeric "
                  "%.8g, |diff| %.3g > %g*max + %g",
                  desc, pi->name, pi->numel, hh, seed, r.analytic, r.numeric,
                  fabs(r.analytic - r.numeric), rt, at);
        cr_expect(scale > 5 * at,
                  "%s: tensor %s: the largest directional derivative of %d directions "
                  "is %.3g, below %g: the check cannot tell a missing term from noise",
                  desc, pi->name, N_DIRS, scale, 5 * at);
        cr_log_info("%-28s %-32s h %.0e an %+.6e num %+.6e |diff| %.2e rel %.2e", c->name, pi->name,
                    hh, r.analytic, r.numeric, fabs(r.analytic - r.numeric), r.rel_err);
        if (!is_vec && scale < min_scale) min_scale = scale, min_name = pi->name;
    }
    free(g);
    free(dir);
    cr_log_info(
        "%-28s %d tensors; h %.0e: max |an-num| %.2e, max rel %.2e, worst err/bound %.3f, "
        "smallest |derivative| %.2e (%s); lambda/gamma vectors at h %.0e: max |an-num| %.2e, "
        "worst err/bound %.3f",
        c->name, m.n_tensors, h, st.max_abs, st.max_rel, st.max_ratio, min_scale, min_name, h_vec,
        sv.max_abs, sv.max_ratio);
    model_free(&m);
}

// ---------------------------------------------------------------------------------------------
// Materialised attention rows after a forward pass.

static ModelCase map_cases[] = {
    {"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
    {"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
    {"dint causal tied", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, KEEP},
    {"dint full tied", VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 0.0f, KEEP},
    {"dint uniform tied", VARIANT_DINT, GMODE_UNIFORM, GAMMA_TIED, 0.0f, KEEP},
    {"dint causal learned", VARIANT_DINT, GMODE_CAUSAL, GAMMA_LEARNED, 0.0f, KEEP},
    {"dint full fixed:0.5", VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.5f, KEEP},
    {"dint causal zero", VARIANT_DINT, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
    {"dint lambda_init=0.5", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, -1, -1, 0, -1, 0.5f},
    {"dint head_norm_gain=0", VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0.0f, -1, 0, -1, -1, 0.0f},
    {"diff head_norm=0", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, 0, -1, -1, -1, 0.0f},
};

ParameterizedTestParameters(model_maps, row_sums) {
    return cr_make_param_array(ModelCase, map_cases, sizeof map_cases / sizeof map_cases[0]);
}

ParameterizedTest(ModelCase *c, model_maps, row_sums) {
    enum { B = 2, T = 8 };
    ModelConfig cfg = case_config(c);
    char desc[256];
    case_describe(c, &cfg, desc, sizeof desc);
    Model m;
    build(&m, &cfg, 99);
    int tokens[B * T];
    tiny_tokens(tokens, B * T, cfg.vocab_size, 3);
    model_forward(&m, tokens, NULL, B, T);
    AttnDims ad = attn_dims(&m.cfg, T);
    float A[T * T];
    double worst = 0.0;
    for (int l = 0; l < cfg.n_layer; l++) {
        float lambda = model_lambda(&m, l), gamma = model_gamma(&m, l);
        double expect;
        const char *rule;
        if (cfg.variant == VARIANT_TRANSFORMER)
            expect = 1.0, rule = "1";
        else if (cfg.variant == VARIANT_DIFF || cfg.gamma_mode == GAMMA_ZERO)
            expect = 1.0 - lambda, rule = "1 - lambda";
        else if (cfg.gamma_mode == GAMMA_TIED)
            expect = 1.0, rule = "1 (gamma = lambda)";
        else
            expect = 1.0 - lambda + gamma, rule = "1 - lambda + gamma";
        // The scalars the maps are formed with must be the configured ones.
        if (cfg.variant != VARIANT_DINT || cfg.gamma_mode == GAMMA_ZERO)
            cr_expect(gamma == 0.0f, "%s: layer %d gamma %.6g, expected 0", desc, l, gamma);
        if (cfg.variant == VARIANT_DINT && cfg.gamma_mode == GAMMA_TIED)
            cr_expect(gamma == lambda, "%s: layer %d gamma %.6g != lambda %.6g", desc, l, gamma,
                      lambda);
        if (cfg.variant == VARIANT_DINT && cfg.gamma_mode == GAMMA_FIXED)
            cr_expect(gamma == cfg.gamma_value, "%s: layer %d gamma %.6g != %.6g", desc, l, gamma,
                      cfg.gamma_value);
        if (cfg.variant != VARIANT_TRANSFORMER)
            cr_expect(fabsf(lambda - model_lambda_init(&cfg, l)) < 0.5f && lambda != 0.0f,
                      "%s: layer %d lambda %.6g is far from lambda_init %.6g", desc, l, lambda,
                      model_lambda_init(&cfg, l));
        // Transformer: one normalised fp32 row, (T + 1) u ~ 5e-7: tolerance 1e-6. Two maps:
        // A1 - lambda A2 + gamma G adds ~3 roundings per element: <= ~3 T u (1 + |lambda| +
        // |gamma|) ~ 3e-6: tolerance 1e-5.
        double tol = cfg.variant == VARIANT_TRANSFORMER ? 1e-6 : 1e-5;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < ad.n_heads; h++) {
                attention_final_map_recompute(A, m.la[l].q, m.la[l].k, b, h, lambda, gamma, &ad);
                for (int i = 0; i < T; i++) {
                    double sum = 0.0;
                    for (int j = 0; j < T; j++) sum += A[i * T + j];
                    double e = fabs(sum - expect);
                    worst = fmax(worst, isnan(e) ? INFINITY : e);
                    cr_expect(
                        e <= tol,
                        "%s: layer %d head %d batch %d row %d sums to %.9g, expected %s = %.9g "
                        "(lambda %.6g gamma %.6g, tol %.0e)",
                        desc, l, h, b, i, sum, rule, expect, lambda, gamma, tol);
                }
            }
        cr_log_info("%-24s layer %d lambda %+.5f gamma %+.5f: rows sum to %s", c->name, l, lambda,
                    gamma, rule);
    }
    cr_log_info("%-24s worst |row sum - expected| %.2e", c->name, worst);
    model_free(&m);
}

// The pieces of the forward that are specific to DIFF / DINT, recomputed from docs/attention.md
// out of the stored activations of one model_forward: the scalars lambda and gamma (§4's
// re-parameterisation, lambda_init from its schedule or the constant), the attention
// output against attention_forward_ref with those scalars, and the head norm
// head = (1 - lambda_init) * RMSNorm_2d(O) * gain.

static double spec_lambda_init(const ModelConfig *c, int l) {
    return c->lambda_schedule ? 0.8 - 0.6 * exp(-0.3 * l) : (double)c->lambda_init_const;
}

ParameterizedTestParameters(model_maps, forward_pieces) {
    return cr_make_param_array(ModelCase, map_cases, sizeof map_cases / sizeof map_cases[0]);
}

ParameterizedTest(ModelCase *c, model_maps, forward_pieces) {
    enum { B = 2, T = 8 };
    ModelConfig cfg = case_config(c);
    char desc[256];
    case_describe(c, &cfg, desc, sizeof desc);
    Model m;
    build(&m, &cfg, 99);
    int tokens[B * T];
    tiny_tokens(tokens, B * T, cfg.vocab_size, 3);
    model_forward(&m, tokens, NULL, B, T);
    AttnDims ad = attn_dims(&m.cfg, T);
    int D = cfg.d_model, d = cfg.head_dim, BT = B * T;
    float *ref = malloc(sizeof(float) * BT * D);
    for (int l = 0; l < cfg.n_layer; l++) {
        const LayerParams *lp = &m.p.layers[l];
        const LayerActs *a = &m.la[l];
        float lambda = model_lambda(&m, l), gamma = model_gamma(&m, l);
        double li = spec_lambda_init(&cfg, l);
        // Scalars: fp32 dot of d terms and expf (a few u relative each) against double:
        // <= ~5u (e1 + e2 + |li|) ~ 1e-6; tolerance 1e-6 (e1 + e2 + |li|) + 1e-7.
        if (cfg.variant == VARIANT_TRANSFORMER) {
            cr_expect(lambda == 0.0f && gamma == 0.0f,
                      "%s: layer %d lambda %g gamma %g, expected 0", desc, l, lambda, gamma);
        } else {
            double e1 = exp(ddot(lp->lq1, lp->lk1, d)), e2 = exp(ddot(lp->lq2, lp->lk2, d));
            double lam = e1 - e2 + li, tol = 1e-6 * (e1 + e2 + fabs(li)) + 1e-7;
            cr_expect(fabs(lambda - lam) <= tol,
                      "%s: layer %d lambda %.9g, spec exp(lq1.lk1) - exp(lq2.lk2) + "
                      "lambda_init(%d) = %.9g "
                      "(lambda_init %.6g)",
                      desc, l, lambda, l, lam, li);
            double gam = 0.0;
            if (cfg.variant == VARIANT_DINT) switch (cfg.gamma_mode) {
                case GAMMA_TIED:
                    gam = lambda;
                    break;
                case GAMMA_ZERO:
                    gam = 0.0;
                    break;
                case GAMMA_FIXED:
                    gam = cfg.gamma_value;
                    break;
                case GAMMA_LEARNED:
                    e1 = exp(ddot(lp->gq1, lp->gk1, d)), e2 = exp(ddot(lp->gq2, lp->gk2, d));
                    gam = e1 - e2 + li, tol = 1e-6 * (e1 + e2 + fabs(li)) + 1e-7;
                    break;
                }
            cr_expect(fabs(gamma - gam) <= (cfg.gamma_mode == GAMMA_LEARNED ? tol : 0.0),
                      "%s: layer %d gamma %.9g, spec %.9g", desc, l, gamma, gam);
        }
        // Attention output with those scalars: the kernel's error is <= ~4e-6 S (see
        // test_layers), S = sum_j |F_ij| |V_jc| <= (1 + |lambda| + |gamma|) max_j |V_jc| since
        // every map row sums to 1. Tolerance 1e-5 times that bound.
        attention_forward_ref(ref, a->q, a->k, a->v, lambda, gamma, B, &ad);
        long fails = 0;
        double worst = 0.0;
        for (int b = 0; b < B; b++)
            for (int col = 0; col < D; col++) {
                double vmax = 0.0;
                for (int t = 0; t < T; t++)
                    vmax = fmax(vmax, fabs(a->v[((long)b * T + t) * D + col]));
                double S = (1.0 + fabs(lambda) + fabs(gamma)) * vmax;
                for (int t = 0; t < T; t++) {
                    long ix = ((long)b * T + t) * D + col;
                    double e = fabs(a->att_pre[ix] - ref[ix]) / S;
                    if (!(e <= 1e-5) && fails++ < 4)
                        cr_expect(0,
                                  "%s: layer %d attention output [b=%d,t=%d,c=%d] = %.9g, "
                                  "attention_forward_ref with lambda %.6g gamma %.6g gives %.9g",
                                  desc, l, b, t, col, a->att_pre[ix], lambda, gamma, ref[ix]);
                    worst = fmax(worst, isnan(e) ? INFINITY : e);
                }
            }
        cr_expect(
            fails == 0,
            "%s: layer %d: %ld attention outputs off attention_forward_ref (worst err/S %.3g)",
            desc, l, fails, worst);
        // Head norm. Without it (Transformer, head_norm = 0) the attention output goes to
        // out_proj unchanged. With it, per head and token over the v_dim = 2d features:
        // (1 - lambda_init) x / sqrt(mean(x^2) + eps) * gain: ~4 fp32 roundings, tolerance 1e-6
        // of the magnitude.
        double hworst = 0.0;
        if (cfg.variant == VARIANT_TRANSFORMER || !cfg.head_norm) {
            cr_expect(
                !memcmp(a->att, a->att_pre, sizeof(float) * BT * D),
                "%s: layer %d: without head norm the out_proj input should be the attention output",
                desc, l);
        } else {
            long hf = 0;
            int vd = ad.v_dim;
            for (int row = 0; row < BT; row++)
                for (int h = 0; h < ad.n_heads; h++) {
                    const float *x = a->att_pre + (long)row * D + h * vd;
                    const float *y = a->att + (long)row * D + h * vd;
                    double ss = 0.0;
                    for (int i = 0; i < vd; i++) ss += (double)x[i] * x[i];
                    double r = 1.0 / sqrt(ss / vd + cfg.norm_eps);
                    for (int i = 0; i < vd; i++) {
                        double g = cfg.head_norm_gain ? lp->subln[i] : 1.0;
                        double want = (1.0 - li) * x[i] * r * g;
                        double e = fabs(y[i] - want), tol = 1e-6 * fabs(want) + 1e-12;
                        if (!(e <= tol) && hf++ < 4)
                            cr_expect(0,
                                      "%s: layer %d head norm [row %d, head %d, %d] = %.9g, spec "
                                      "(1 - lambda_init) RMSNorm(x) gain = %.9g (lambda_init %.6g)",
                                      desc, l, row, h, i, y[i], want, li);
                        hworst = fmax(hworst, isnan(e) ? INFINITY : e / (fabs(want) + 1e-30));
                    }
                }
            cr_expect(hf == 0, "%s: layer %d: %ld head-norm outputs off the spec", desc, l, hf);
        }
        cr_log_info(
            "%-24s layer %d: lambda %+.6f gamma %+.6f; attention output vs ref max err/S %.2e; "
            "head norm max rel err %.2e",
            c->name, l, lambda, gamma, worst, hworst);
    }
    free(ref);
    model_free(&m);
}

// ---------------------------------------------------------------------------------------------
// Causality: the logits at positions < t must not depend on the token at t.

typedef struct {
    ModelCase mc;
    int expect_leak; // 1: some logit before t must change (DINT g_mode full with a global term)
} CausalCase;

static CausalCase causal_cases[] = {
    {{"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP}, 0},
    {{"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP}, 0},
    {{"dint causal tied", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, KEEP}, 0},
    {{"dint causal zero", VARIANT_DINT, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP}, 0},
    {{"dint causal learned", VARIANT_DINT, GMODE_CAUSAL, GAMMA_LEARNED, 0.0f, KEEP}, 0},
    {{"dint causal fixed:0.5", VARIANT_DINT, GMODE_CAUSAL, GAMMA_FIXED, 0.5f, KEEP}, 0},
    {{"dint uniform tied", VARIANT_DINT, GMODE_UNIFORM, GAMMA_TIED, 0.0f, KEEP}, 0},
    {{"dint full zero", VARIANT_DINT, GMODE_FULL, GAMMA_ZERO, 0.0f, KEEP}, 0}, // no G term at all
    {{"dint full tied", VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 0.0f, KEEP}, 1},
    {{"dint full learned", VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0.0f, KEEP}, 1},
    {{"dint full fixed:0.5", VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.5f, KEEP}, 1},
};

ParameterizedTestParameters(model_causality, prefix_logits) {
    return cr_make_param_array(CausalCase, causal_cases,
                               sizeof causal_cases / sizeof causal_cases[0]);
}

ParameterizedTest(CausalCase *cc, model_causality, prefix_logits) {
    enum { B = 2, T = 8, t_change = 4 };
    const ModelCase *c = &cc->mc;
    ModelConfig cfg = case_config(c);
    char desc[256];
    case_describe(c, &cfg, desc, sizeof desc);
    Model m;
    build(&m, &cfg, 4321);
    int V = cfg.vocab_size;
    int tokens[B * T];
    tiny_tokens(tokens, B * T, V, 11);
    long n = (long)B * T * V;
    float *base = malloc(sizeof(float) * n);
    model_forward(&m, tokens, NULL, B, T);
    memcpy(base, m.logits, sizeof(float) * n);
    // Change the token at position t_change of every sequence.
    for (int b = 0; b < B; b++) tokens[b * T + t_change] = (tokens[b * T + t_change] + 1 + b) % V;
    model_forward(&m, tokens, NULL, B, T);
    for (int b = 0; b < B; b++) {
        int first_diff = -1;
        for (int t = 0; t < T && first_diff < 0; t++)
            if (memcmp(base + ((long)b * T + t) * V, m.logits + ((long)b * T + t) * V,
                       sizeof(float) * V))
                first_diff = t;
        float maxd = 0.0f;
        for (int t = 0; t < t_change; t++)
            for (int v = 0; v < V; v++) {
                long ix = ((long)b * T + t) * V + v;
                maxd = fmaxf(maxd, fabsf(base[ix] - m.logits[ix]));
            }
        cr_log_info("%-24s batch %d: first position whose logits change: %d (token changed at %d); "
                    "max |change| before it %.3g",
                    c->name, b, first_diff, t_change, maxd);
        // The change must reach position t itself in every model (the probe is live).
        cr_expect(memcmp(base + ((long)b * T + t_change) * V,
                         m.logits + ((long)b * T + t_change) * V, sizeof(float) * V) != 0,
                  "%s: batch %d: changing the token at %d left the logits at %d unchanged", desc, b,
                  t_change, t_change);
        if (cc->expect_leak)
            cr_expect(
                first_diff >= 0 && first_diff < t_change,
                "%s: batch %d: g_mode full should leak the token at %d into earlier positions, "
                "but the logits before it are bit-identical",
                desc, b, t_change);
        else
            cr_expect(first_diff == t_change,
                      "%s: batch %d: changing the token at %d changed the logits at position %d "
                      "(max |change| before %d: %.3g): the model is not causal",
                      desc, b, t_change, first_diff, t_change, maxd);
    }
    free(base);
    model_free(&m);
}

// ---------------------------------------------------------------------------------------------
// Thread invariance: forward + backward on 1 and 2 threads, bit for bit.

typedef struct {
    ModelCase mc;
    int big; // 1: d_model 64, T 32, B 4 so that OpenBLAS itself runs multi-threaded
} ThreadCase;

static ThreadCase thread_cases[] = {
    {{"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP}, 0},
    {{"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP}, 0},
    {{"dint causal tied", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, KEEP}, 0},
    {{"dint full learned", VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0.0f, KEEP}, 0},
    {{"transformer big", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP}, 1},
    {{"dint causal tied big", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, KEEP}, 1},
    {{"dint full tied big", VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 0.0f, KEEP}, 1},
};

typedef struct {
    double loss;
    float *grads, *logits;
} RunResult;

static RunResult run_once(const ModelConfig *cfg, int threads, const int *tokens,
                          const int *targets, int B, int T) {
    threads_init(threads);
    Model m;
    build(&m, cfg, 777);
    RunResult r;
    model_zero_grad(&m);
    r.loss = model_forward(&m, tokens, targets, B, T);
    model_backward(&m, tokens, 1.0f / (B * T));
    r.grads = malloc(sizeof(float) * m.n_params);
    memcpy(r.grads, m.grads, sizeof(float) * m.n_params);
    r.logits = malloc(sizeof(float) * (size_t)B * T * cfg->vocab_size);
    memcpy(r.logits, m.logits, sizeof(float) * (size_t)B * T * cfg->vocab_size);
    model_free(&m);
    return r;
}

ParameterizedTestParameters(model_threads, bit_identical) {
    return cr_make_param_array(ThreadCase, thread_cases,
                               sizeof thread_cases / sizeof thread_cases[0]);
}

ParameterizedTest(ThreadCase *tc, model_threads, bit_identical) {
    const ModelCase *c = &tc->mc;
    ModelConfig cfg = case_config(c);
    int B = 2, T = 8;
    if (tc->big) {
        cfg.d_model = 64;
        cfg.head_dim = 8;
        cfg.ffn_dim = 192; // 8/3 * 64 rounded up to a multiple of 64
        cfg.vocab_size = 61;
        B = 4;
        T = 32;
    }
    char desc[256];
    case_describe(c, &cfg, desc, sizeof desc);
    int *tokens = malloc(sizeof(int) * (B * T + 1)), *targets = malloc(sizeof(int) * B * T);
    tiny_tokens(tokens, B * T + 1, cfg.vocab_size, 5);
    for (int i = 0; i < B * T; i++) targets[i] = tokens[i + 1];
    RunResult r1 = run_once(&cfg, 1, tokens, targets, B, T);
    RunResult r2 = run_once(&cfg, 2, tokens, targets, B, T);
    // A second 2-thread run: also deterministic run to run.
    RunResult r3 = run_once(&cfg, 2, tokens, targets, B, T);
    Model m;
    build(&m, &cfg, 777);
    long np = m.n_params;
    size_t nl = sizeof(float) * (size_t)B * T * cfg.vocab_size;
    cr_expect(!memcmp(&r1.loss, &r2.loss, sizeof(double)),
              "%s (B=%d T=%d): loss %.17g on 1 thread, %.17g on 2 threads", desc, B, T, r1.loss,
              r2.loss);
    cr_expect(!memcmp(r1.logits, r2.logits, nl),
              "%s (B=%d T=%d): probabilities differ between 1 and 2 threads", desc, B, T);
    for (int t = 0; t < m.n_tensors; t++) {
        const ParamInfo *pi = &m.info[t];
        if (memcmp(r1.grads + pi->offset, r2.grads + pi->offset, sizeof(float) * pi->numel)) {
            double maxd = 0.0;
            for (long i = 0; i < pi->numel; i++)
                maxd =
                    fmax(maxd, fabs((double)r1.grads[pi->offset + i] - r2.grads[pi->offset + i]));
            cr_expect(
                0,
                "%s (B=%d T=%d): gradient of %s differs between 1 and 2 threads (max |diff| %.3g)",
                desc, B, T, pi->name, maxd);
        }
    }
    cr_expect(!memcmp(&r2.loss, &r3.loss, sizeof(double)) &&
                  !memcmp(r2.grads, r3.grads, sizeof(float) * np),
              "%s (B=%d T=%d): two runs on 2 threads differ", desc, B, T);
    cr_log_info("%-24s B=%d T=%d: loss %.10f on 1 and 2 threads, %ld gradients compared", c->name,
                B, T, r1.loss, np);
    model_free(&m);
    free(r1.grads), free(r2.grads), free(r3.grads), free(r1.logits), free(r2.logits),
        free(r3.logits);
    free(tokens), free(targets);
}

// A process that never calls threads_init (a test, a tool) evaluates exactly as `dint --threads 1`
// does: the core pins OpenBLAS to one thread before main, because OpenBLAS's threaded sgemm
// differs from its one-thread sgemm in the last bits. No .init here: nothing sets threads.
Test(model_threads_default, evaluation_without_threads_init_matches_one_thread) {
    cr_assert_eq(openblas_get_num_threads(), 1,
                 "OpenBLAS runs %d threads in a process that did not call threads_init",
                 openblas_get_num_threads());
    ModelCase c = {"dint causal tied big", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, KEEP};
    ModelConfig cfg = case_config(&c);
    cfg.d_model = 64;
    cfg.head_dim = 8;
    cfg.ffn_dim = 192;
    cfg.vocab_size = 259;
    int B = 4, T = 128;
    int *tokens = malloc(sizeof(int) * (B * T + 1)), *targets = malloc(sizeof(int) * B * T);
    tiny_tokens(tokens, B * T + 1, cfg.vocab_size, 9);
    for (int i = 0; i < B * T; i++) targets[i] = tokens[i + 1];
    Model m;
    build(&m, &cfg, 4242);
    size_t nl = sizeof(float) * (size_t)B * T * cfg.vocab_size;
    double l0 = model_forward(&m, tokens, targets, B, T);
    float *p0 = malloc(nl);
    memcpy(p0, m.logits, nl);
    threads_init(1);
    double l1 = model_forward(&m, tokens, targets, B, T);
    cr_expect(!memcmp(&l0, &l1, sizeof l0) && !memcmp(p0, m.logits, nl),
              "loss %.17g without threads_init, %.17g on 1 thread", l0, l1);
    model_free(&m);
    free(p0), free(tokens), free(targets);
}

// ---------------------------------------------------------------------------------------------
// Ignored targets (TARGET_IGNORE), which training mixtures use to score only task answers: the
// loss is the mean over the scored targets, and the gradients of two complementary masks add
// up to the gradient of all targets (a row that is not zeroed would count twice).

TestSuite(model_ignore, .init = setup);

Test(model_ignore, mean_and_complementary_gradients) {
    ModelConfig cfg = tiny_model_config(VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f);
    Model m;
    build(&m, &cfg, 99);
    enum { N = GB * GT };
    int tokens[N + 1], all[N], odd[N], even[N];
    tiny_tokens(tokens, N + 1, cfg.vocab_size, 5);
    for (int i = 0; i < N; i++) {
        all[i] = tokens[i + 1];
        odd[i] = i % 3 == 1 ? all[i] : TARGET_IGNORE;
        even[i] = i % 3 == 1 ? TARGET_IGNORE : all[i];
    }
    double loss_all = model_forward(&m, tokens, all, GB, GT);
    float nll[N];
    memcpy(nll, m.nll, sizeof nll);
    cr_expect(m.n_scored == N, "all targets scored: n_scored %ld, expected %d", m.n_scored, N);
    model_zero_grad(&m);
    model_backward(&m, tokens, 1.0f);
    float *g_all = malloc(sizeof(float) * m.n_params), *g_sum = calloc(m.n_params, sizeof(float));
    memcpy(g_all, m.grads, sizeof(float) * m.n_params);
    const int *masks[2] = {odd, even};
    double sum_nll = 0.0;
    for (int i = 0; i < N; i++) sum_nll += nll[i];
    cr_expect(fabs(loss_all - sum_nll / N) <= 1e-12 * fabs(loss_all), "loss %.17g vs %.17g",
              loss_all, sum_nll / N);
    for (int k = 0; k < 2; k++) {
        double expect = 0.0;
        long n = 0;
        for (int i = 0; i < N; i++)
            if (masks[k][i] != TARGET_IGNORE) expect += nll[i], n++;
        double loss = model_forward(&m, tokens, masks[k], GB, GT);
        cr_expect(m.n_scored == n, "mask %d: n_scored %ld, expected %ld", k, m.n_scored, n);
        // The same rows give the same per-row NLL: the mean is exact up to summation order.
        cr_expect(fabs(loss - expect / n) <= 1e-6 * fabs(loss), "mask %d: loss %.9g, expected %.9g",
                  k, loss, expect / n);
        for (int i = 0; i < N; i++)
            if (masks[k][i] == TARGET_IGNORE)
                cr_expect(m.nll[i] == 0.0f, "mask %d: ignored row %d has nll %g", k, i, m.nll[i]);
        model_zero_grad(&m);
        model_backward(&m, tokens, 1.0f);
        for (long j = 0; j < m.n_params; j++) g_sum[j] += m.grads[j];
    }
    // fp32 gradients summed in a different grouping: normwise relative difference ~1e-7.
    double num = 0.0, den = 0.0;
    for (long j = 0; j < m.n_params; j++) {
        double d = (double)g_sum[j] - g_all[j];
        num += d * d;
        den += (double)g_all[j] * g_all[j];
    }
    cr_expect(sqrt(num / den) < 1e-5,
              "gradients of the two masks add to %.3g relative off the "
              "gradient of all targets",
              sqrt(num / den));
    free(g_all);
    free(g_sum);
    model_free(&m);
}

// Inference mode (model_set_inference): the same operations on shared buffers, so the loss, the
// logits and every layer's q and k are bit-identical to a training-mode forward; switching back
// gives a model that trains (the loss of the next training-mode forward is the same again).
TestSuite(model_inference, .init = setup);

Test(model_inference, bit_identical_to_training_forward) {
    const ModelCase cases[] = {
        {"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
        {"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
        {"dint causal tied", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, KEEP},
        {"dint full learned", VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0.0f, KEEP},
    };
    enum { B = 2, T = 37 };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        ModelConfig cfg = case_config(&cases[ci]);
        cfg.n_layer = 3; // odd: the residual stream ends in the other buffer of the pair
        Model m;
        build(&m, &cfg, 5);
        int tokens[B * T], targets[B * T];
        tiny_tokens(tokens, B * T, cfg.vocab_size, 11);
        tiny_tokens(targets, B * T, cfg.vocab_size, 12);
        long BT = (long)B * T, D = cfg.d_model, V = cfg.vocab_size;
        double loss = model_forward(&m, tokens, targets, B, T);
        float *logits = malloc(sizeof(float) * BT * V), *qk = malloc(sizeof(float) * BT * D * 6);
        memcpy(logits, m.logits, sizeof(float) * BT * V);
        for (int l = 0; l < 3; l++) {
            memcpy(qk + (2 * l) * BT * D, m.la[l].q, sizeof(float) * BT * D);
            memcpy(qk + (2 * l + 1) * BT * D, m.la[l].k, sizeof(float) * BT * D);
        }
        model_set_inference(&m, 1);
        double loss_inf = model_forward(&m, tokens, targets, B, T);
        cr_assert(m.d_res == NULL, "%s: inference mode keeps no gradient buffers", cases[ci].name);
        cr_assert(loss_inf == loss, "%s: loss %.17g in inference mode, %.17g training",
                  cases[ci].name, loss_inf, loss);
        cr_assert(memcmp(logits, m.logits, sizeof(float) * BT * V) == 0, "%s: logits differ",
                  cases[ci].name);
        for (int l = 0; l < 3; l++) {
            cr_assert(memcmp(qk + (2 * l) * BT * D, m.la[l].q, sizeof(float) * BT * D) == 0 &&
                          memcmp(qk + (2 * l + 1) * BT * D, m.la[l].k, sizeof(float) * BT * D) == 0,
                      "%s: layer %d q / k differ in inference mode", cases[ci].name, l);
        }
        model_set_inference(&m, 0);
        cr_assert(model_forward(&m, tokens, targets, B, T) == loss);
        model_zero_grad(&m);
        model_backward(&m, tokens, 1.0f);
        free(logits);
        free(qk);
        model_free(&m);
    }
}
