// Whole-model tests (core/model.h): the gradient of the mean next-token loss with respect to
// every parameter tensor against finite differences, for every variant and ablation; the
// materialised attention maps after a forward; causality of the logits; and bit-identical
// results on 1 and 2 threads.
// Run with --verbose to see the measured errors of every check.
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "config.h"
#include "grad_util.h"
#include "layers.h"
#include "model.h"

static void setup(void) {
    threads_init(2);
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
    snprintf(buf, n, "%s [%s g_mode=%s gamma=%s head_norm=%d gain=%d lambda_init=%s tie=%d]", c->name,
             variant_name(m->variant), m->g_mode == GMODE_FULL ? "full" : "causal", gm, m->head_norm,
             m->head_norm_gain, m->lambda_schedule ? "schedule" : "const", m->tie_embeddings);
    if (!m->lambda_schedule) {
        int len = (int)strlen(buf);
        snprintf(buf + len, n - len, " (lambda_init %.2f)", m->lambda_init_const);
    }
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
    {"dint head_norm_gain=0", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, -1, 0, -1, -1, 0.0f},
    {"dint lambda_init=0.5", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, -1, -1, 0, -1, 0.5f},
    {"dint tie_embeddings=1", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, -1, -1, -1, 1, 0.0f},
    {"transformer tie_embeddings=1", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, -1, -1, -1, 1, 0.0f},
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
    cr_expect(m.n_tensors == expect, "%s: %d parameter tensors, expected %d", desc, m.n_tensors, expect);

    // model_direction_check with h = 5e-4 (d mean-NLL along a random +-1 direction). Measured on
    // this machine with that helper: the fp32 finite difference carries an absolute noise of
    // about 6e-5 and a truncation error below 0.5 % relative. Criterion:
    //   |an - num| <= 1e-2 * max(|an|, |num|) + 2e-4
    // i.e. 2x the truncation and ~3x the noise. A missing term of the backward changes the
    // directional derivative by O(its size), far more than 1 % for every tensor checked here.
    const double h = 5e-4, rtol = 1e-2, atol = 2e-4;
    ErrStats st = err_stats(rtol, atol);
    double min_scale = INFINITY;
    const char *min_name = "";
    for (int t = 0; t < m.n_tensors; t++) {
        const ParamInfo *pi = &m.info[t];
        DirCheck r = model_direction_check(&m, pi, tokens, targets, GB, GT, h, 100u + (unsigned)t);
        int ok = err_add(&st, r.analytic, r.numeric);
        cr_expect(ok, "%s: tensor %s (%ld values): analytic %.8g numeric %.8g, |diff| %.3g > %g*max + %g",
                  desc, pi->name, pi->numel, r.analytic, r.numeric, fabs(r.analytic - r.numeric), rtol,
                  atol);
        double scale = fmax(fabs(r.analytic), fabs(r.numeric));
        if (scale < min_scale) min_scale = scale, min_name = pi->name;
        cr_log_info("%-30s %-34s an %+.6e num %+.6e |diff| %.2e rel %.2e", c->name, pi->name,
                    r.analytic, r.numeric, fabs(r.analytic - r.numeric), r.rel_err);
        // A check is only informative when the directional derivative is well above the
        // absolute tolerance; every tensor of these tiny models carries one (init_std 0.3).
        cr_expect(scale > 5 * atol, "%s: tensor %s has a directional derivative of only %.3g: "
                  "the check cannot tell a missing term from noise", desc, pi->name, scale);
    }
    cr_log_info("%-30s %d tensors: max |an-num| %.2e, max rel %.2e, worst err/bound %.3f; smallest "
                "|derivative| %.2e (%s)", c->name, m.n_tensors, st.max_abs, st.max_rel, st.max_ratio,
                min_scale, min_name);
    model_free(&m);
}

// ---------------------------------------------------------------------------------------------
// Materialised attention rows after a forward pass.

static ModelCase map_cases[] = {
    {"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
    {"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
    {"dint causal tied", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, KEEP},
    {"dint full tied", VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 0.0f, KEEP},
    {"dint causal learned", VARIANT_DINT, GMODE_CAUSAL, GAMMA_LEARNED, 0.0f, KEEP},
    {"dint full fixed:0.5", VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.5f, KEEP},
    {"dint causal zero", VARIANT_DINT, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, KEEP},
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
        if (cfg.variant == VARIANT_TRANSFORMER) expect = 1.0, rule = "1";
        else if (cfg.variant == VARIANT_DIFF || cfg.gamma_mode == GAMMA_ZERO) expect = 1.0 - lambda, rule = "1 - lambda";
        else if (cfg.gamma_mode == GAMMA_TIED) expect = 1.0, rule = "1 (gamma = lambda)";
        else expect = 1.0 - lambda + gamma, rule = "1 - lambda + gamma";
        // The scalars the maps are formed with must be the configured ones.
        if (cfg.variant != VARIANT_DINT || cfg.gamma_mode == GAMMA_ZERO)
            cr_expect(gamma == 0.0f, "%s: layer %d gamma %.6g, expected 0", desc, l, gamma);
        if (cfg.variant == VARIANT_DINT && cfg.gamma_mode == GAMMA_TIED)
            cr_expect(gamma == lambda, "%s: layer %d gamma %.6g != lambda %.6g", desc, l, gamma, lambda);
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
                attention_final_map(A, m.la[l].maps, b, h, lambda, gamma, &ad);
                for (int i = 0; i < T; i++) {
                    double sum = 0.0;
                    for (int j = 0; j < T; j++) sum += A[i * T + j];
                    double e = fabs(sum - expect);
                    worst = fmax(worst, isnan(e) ? INFINITY : e);
                    cr_expect(e <= tol,
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
    {{"dint full zero", VARIANT_DINT, GMODE_FULL, GAMMA_ZERO, 0.0f, KEEP}, 0}, // no G term at all
    {{"dint full tied", VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 0.0f, KEEP}, 1},
    {{"dint full learned", VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0.0f, KEEP}, 1},
    {{"dint full fixed:0.5", VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.5f, KEEP}, 1},
};

ParameterizedTestParameters(model_causality, prefix_logits) {
    return cr_make_param_array(CausalCase, causal_cases, sizeof causal_cases / sizeof causal_cases[0]);
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
            if (memcmp(base + ((long)b * T + t) * V, m.logits + ((long)b * T + t) * V, sizeof(float) * V))
                first_diff = t;
        float maxd = 0.0f;
        for (int t = 0; t < t_change; t++)
            for (int v = 0; v < V; v++) {
                long ix = ((long)b * T + t) * V + v;
                maxd = fmaxf(maxd, fabsf(base[ix] - m.logits[ix]));
            }
        cr_log_info("%-24s batch %d: first position whose logits change: %d (token changed at %d); "
                    "max |change| before it %.3g", c->name, b, first_diff, t_change, maxd);
        // The change must reach position t itself in every model (the probe is live).
        cr_expect(memcmp(base + ((long)b * T + t_change) * V, m.logits + ((long)b * T + t_change) * V,
                         sizeof(float) * V) != 0,
                  "%s: batch %d: changing the token at %d left the logits at %d unchanged", desc, b,
                  t_change, t_change);
        if (cc->expect_leak)
            cr_expect(first_diff >= 0 && first_diff < t_change,
                      "%s: batch %d: g_mode full should leak the token at %d into earlier positions, "
                      "but the logits before it are bit-identical", desc, b, t_change);
        else
            cr_expect(first_diff == t_change,
                      "%s: batch %d: changing the token at %d changed the logits at position %d "
                      "(max |change| before %d: %.3g): the model is not causal", desc, b, t_change,
                      first_diff, t_change, maxd);
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

static RunResult run_once(const ModelConfig *cfg, int threads, const int *tokens, const int *targets,
                          int B, int T) {
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
    return cr_make_param_array(ThreadCase, thread_cases, sizeof thread_cases / sizeof thread_cases[0]);
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
              "%s (B=%d T=%d): loss %.17g on 1 thread, %.17g on 2 threads", desc, B, T, r1.loss, r2.loss);
    cr_expect(!memcmp(r1.logits, r2.logits, nl), "%s (B=%d T=%d): probabilities differ between 1 and 2 threads",
              desc, B, T);
    for (int t = 0; t < m.n_tensors; t++) {
        const ParamInfo *pi = &m.info[t];
        if (memcmp(r1.grads + pi->offset, r2.grads + pi->offset, sizeof(float) * pi->numel)) {
            double maxd = 0.0;
            for (long i = 0; i < pi->numel; i++)
                maxd = fmax(maxd, fabs((double)r1.grads[pi->offset + i] - r2.grads[pi->offset + i]));
            cr_expect(0, "%s (B=%d T=%d): gradient of %s differs between 1 and 2 threads (max |diff| %.3g)",
                      desc, B, T, pi->name, maxd);
        }
    }
    cr_expect(!memcmp(&r2.loss, &r3.loss, sizeof(double)) && !memcmp(r2.grads, r3.grads, sizeof(float) * np),
              "%s (B=%d T=%d): two runs on 2 threads differ", desc, B, T);
    cr_log_info("%-24s B=%d T=%d: loss %.10f on 1 and 2 threads, %ld gradients compared", c->name, B, T,
                r1.loss, np);
    model_free(&m);
    free(r1.grads), free(r2.grads), free(r3.grads), free(r1.logits), free(r2.logits), free(r3.logits);
    free(tokens), free(targets);
}
