// Unit tests of the materialised attention kernel and the final-map definition
// (core/attention.h): attention_forward against core's reference attention_forward_ref and
// against an independent double precision implementation of docs/attention.md (§2-§5)
// written here (spec_attention); attention_forward_ref itself on tiny inputs whose outputs are
// worked out by hand; the final map (attention_final_map, attention_final_row with and without
// a reduced-precision rounding); attention_backward against central finite differences.
// The streaming kernel is tested in test_attention_stream.c.
//
// Conventions used by every finite-difference (FD) check below:
//  * test loss L = sum(R * out) for a fixed random R, accumulated in double;
//  * central differences (L(x+h) - L(x-h)) / (x+h - x-h), where the denominator is the step
//    actually taken in fp32 (x +- h rounded to float), so step rounding is not an error source;
//  * pass criterion |an - num| <= rtol * max(|an|, |num|) + atol, with rtol covering the
//    truncation error of the central difference (h^2/6 |f'''|) and atol the fp32 noise:
//    each evaluation of L carries the rounding error of every fp32 output the perturbed input
//    reaches (a few units of u = 2^-24 ~ 6e-8 times |R * out| each), divided by 2h.
//    Outputs the perturbation does not reach are bit-identical in both evaluations and cancel.
//    With k outputs reached, each off by <= c u |out| per evaluation, the worst case is
//    2 k c u max|R out| / (2h) (all errors aligned); independent roundings add up like a
//    random walk, sqrt(2k) c u |R out| / (2h). Where the worst case is loose by 10x or more,
//    atol is set from the random-walk estimate and the measured maximum (both stated).
// Run with --verbose to see the largest error of every check.
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "config.h"
#include "grad_util.h"
#include "layers.h" // threads_init

#define U32 5.9604644775390625e-8 // fp32 unit roundoff, 2^-24

// One thread: Criterion runs test processes in parallel, and several processes each with
// spinning OpenMP workers on 2 cores slow the run down 20-50x. The kernels on 2 threads are
// compared bit for bit with 1 thread by test_model's model_threads suite.
static void setup(void) {
    threads_init(1);
}

TestSuite(attention, .init = setup);

// ---------------------------------------------------------------------------------------------
// Attention.

typedef struct {
    char name[40];
    Variant variant;
    GMode g_mode;
    GammaMode gamma_mode;
    int expect_global;
} AttnCase;

static AttnCase attn_cases[] = {
    {"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0},
    {"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0},
    {"dint g=causal global=on", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 1},
    {"dint g=full global=on", VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 1},
    {"dint g=causal global=off", VARIANT_DINT, GMODE_CAUSAL, GAMMA_ZERO, 0},
    {"dint g=full global=off", VARIANT_DINT, GMODE_FULL, GAMMA_ZERO, 0},
    {"dint g=uniform global=on", VARIANT_DINT, GMODE_UNIFORM, GAMMA_TIED, 1},
};
#define N_ATTN_CASES ((int)(sizeof attn_cases / sizeof attn_cases[0]))

enum { AB = 2, AT = 6 }; // batch and sequence length of the attention tests
static const float ATT_LAMBDA = 0.6f, ATT_GAMMA = 0.35f; // distinct, so a swap shows

typedef struct {
    ModelConfig cfg;
    AttnDims a;
    long n_act, n_maps;
    float *q, *k, *v, *R, *out, *o1, *o2, *maps;
    float lambda, gamma;
} AttnSetup;

static void attn_setup(AttnSetup *s, const AttnCase *c, unsigned seed) {
    s->cfg = tiny_model_config(c->variant, c->g_mode, c->gamma_mode, 0.0f);
    s->a = attn_dims(&s->cfg, AT);
    s->n_act = (long)AB * AT * s->a.ld;
    s->n_maps = (long)AB * s->a.n_heads * s->a.n_maps * AT * AT;
    s->q = test_falloc(s->n_act), s->k = test_falloc(s->n_act), s->v = test_falloc(s->n_act);
    s->R = test_falloc(s->n_act), s->out = test_falloc(s->n_act), s->o1 = test_falloc(s->n_act);
    s->o2 = test_falloc(s->n_act), s->maps = test_falloc(s->n_maps);
    TestRng r;
    test_rng_seed(&r, seed);
    // q, k in [-2, 2): scores q.k/2 have a spread of ~1.3, so maps are neither flat nor one-hot.
    fill_uniform(s->q, s->n_act, -2.f, 2.f, &r);
    fill_uniform(s->k, s->n_act, -2.f, 2.f, &r);
    fill_uniform(s->v, s->n_act, -1.f, 1.f, &r);
    fill_uniform(s->R, s->n_act, -1.f, 1.f, &r);
    s->lambda = ATT_LAMBDA;
    s->gamma = ATT_GAMMA;
}

static void attn_free(AttnSetup *s) {
    free(s->q), free(s->k), free(s->v), free(s->R), free(s->out), free(s->o1), free(s->o2);
    free(s->maps);
}

// Independent reference, straight from docs/attention.md, in double. Head layout (§2):
// Transformer: 2H heads of d, q/k/v of head h at [h d, h d + d). DIFF/DINT: H heads, q1 at
// [2hd, 2hd+d), q2 at [2hd+d, 2hd+2d) (same for k), v at [2hd, 2hd+2d). Outputs:
// out (B,T,D), oabs (B,T,D) = sum_j |F-terms| |V| (the magnitude the fp32 kernel sums),
// maps (B,heads,maps,T,T), fin/fabs_ (B,heads,T,T) the final map and its term magnitudes,
// o1, o2 (B,T,D) = A1 V, A2 V.
typedef struct {
    double *out, *oabs, *maps, *fin, *finabs, *o1, *o2;
    int heads, nmaps, vd;
} SpecOut;

static void spec_attention(SpecOut *so, const AttnCase *c, const ModelConfig *cfg, const float *q,
                           const float *k, const float *v, double lambda, double gamma) {
    int D = cfg->d_model, d = cfg->head_dim, T = AT;
    int two = c->variant != VARIANT_TRANSFORMER;
    int global = c->variant == VARIANT_DINT && c->gamma_mode != GAMMA_ZERO;
    so->heads = two ? D / (2 * d) : D / d;
    so->nmaps = two ? 2 : 1;
    so->vd = two ? 2 * d : d;
    long TT = (long)T * T;
    double *G = test_dalloc(TT);
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < so->heads; h++) {
            double *A[2];
            for (int m = 0; m < so->nmaps; m++) {
                A[m] = so->maps + (((long)b * so->heads + h) * so->nmaps + m) * TT;
                int qo = two ? 2 * h * d + m * d : h * d;
                for (int i = 0; i < T; i++) {
                    double mx = -INFINITY, sum = 0.0;
                    for (int j = 0; j <= i; j++) {
                        double s = 0.0;
                        for (int cc = 0; cc < d; cc++)
                            s += (double)q[((long)b * T + i) * D + qo + cc] *
                                 k[((long)b * T + j) * D + qo + cc];
                        s /= sqrt((double)d);
                        A[m][i * T + j] = s;
                        mx = fmax(mx, s);
                    }
                    for (int j = 0; j <= i; j++)
                        sum += (A[m][i * T + j] = exp(A[m][i * T + j] - mx));
                    for (int j = 0; j < T; j++)
                        A[m][i * T + j] = j <= i ? A[m][i * T + j] / sum : 0.0;
                }
            }
            // G: full G_j = (1/N) sum_i A1[i,j]; causal G^(i)_j = (1/i) sum_{m<=i} A1[m,j] (1-based
            // i).
            for (int i = 0; i < T; i++)
                for (int j = 0; j < T; j++) {
                    int rows = c->g_mode == GMODE_FULL ? T : i + 1;
                    double g = 0.0;
                    if (c->g_mode == GMODE_UNIFORM) // uniform: 1/(i+1) on the visible prefix
                        g = j <= i;
                    else
                        for (int r = 0; r < rows; r++) g += A[0][r * T + j];
                    G[i * T + j] = global ? g / rows : 0.0;
                }
            double *F = so->fin + ((long)b * so->heads + h) * TT;
            double *Fa = so->finabs + ((long)b * so->heads + h) * TT;
            for (long ij = 0; ij < TT; ij++) {
                if (!two) {
                    F[ij] = A[0][ij];
                    Fa[ij] = A[0][ij];
                } else {
                    F[ij] = A[0][ij] - lambda * A[1][ij] + gamma * G[ij];
                    Fa[ij] = A[0][ij] + fabs(lambda) * A[1][ij] + fabs(gamma) * G[ij];
                }
            }
            int vo = h * so->vd;
            for (int i = 0; i < T; i++)
                for (int cc = 0; cc < so->vd; cc++) {
                    double s = 0.0, sa = 0.0, s1 = 0.0, s2 = 0.0;
                    for (int j = 0; j < T; j++) {
                        double vj = v[((long)b * T + j) * D + vo + cc];
                        s += F[i * T + j] * vj;
                        sa += Fa[i * T + j] * fabs(vj);
                        s1 += A[0][i * T + j] * vj;
                        if (two) s2 += A[1][i * T + j] * vj;
                    }
                    long ix = ((long)b * T + i) * D + vo + cc;
                    so->out[ix] = s;
                    so->oabs[ix] = sa;
                    so->o1[ix] = s1;
                    so->o2[ix] = s2;
                }
        }
    free(G);
}

ParameterizedTestParameters(attention, forward) {
    return cr_make_param_array(AttnCase, attn_cases, N_ATTN_CASES);
}

ParameterizedTest(AttnCase *c, attention, forward) {
    AttnSetup s;
    attn_setup(&s, c, 71);
    const AttnDims *a = &s.a;
    int two = c->variant != VARIANT_TRANSFORMER;
    // The dims the kernel gets from the config (docs/attention.md §2 with d_model 16, d = 4).
    cr_expect(a->T == AT && a->qk_dim == 4 && a->ld == 16, "%s: attn_dims T/qk_dim/ld wrong",
              c->name);
    cr_expect(a->n_heads == (two ? 2 : 4) && a->n_maps == (two ? 2 : 1) &&
                  a->v_dim == (two ? 8 : 4),
              "%s: attn_dims gives %d heads, %d maps, v_dim %d", c->name, a->n_heads, a->n_maps,
              a->v_dim);
    cr_expect(a->use_global == c->expect_global, "%s: use_global = %d, expected %d", c->name,
              a->use_global, c->expect_global);

    long TT = (long)AT * AT, nfin = (long)AB * a->n_heads * TT;
    SpecOut so = {test_dalloc(s.n_act),
                  test_dalloc(s.n_act),
                  test_dalloc(s.n_maps),
                  test_dalloc(nfin),
                  test_dalloc(nfin),
                  test_dalloc(s.n_act),
                  test_dalloc(s.n_act),
                  0,
                  0,
                  0};
    spec_attention(&so, c, &s.cfg, s.q, s.k, s.v, s.lambda, s.gamma);
    attention_forward(s.out, s.o1, s.o2, s.maps, s.q, s.k, s.v, s.lambda, s.gamma, AB, a);
    float *ref = test_falloc(s.n_act);
    attention_forward_ref(ref, s.q, s.k, s.v, s.lambda, s.gamma, AB, a);
    char what[160];

    // Maps: the kernel's scores are fp32 dot products of 4 terms |q k| <= 4 (error <= 4u * 8
    // ~ 2e-6 after the 1/2 scale), which moves each probability by <= ~2e-6 p plus a few u
    // from expf and the normalisation. Tolerance 1e-5 p + 1e-9 (zeros above the diagonal exact).
    ErrStats mp = err_stats(0.0, 0.0);
    long mfails = 0;
    for (long i = 0; i < s.n_maps; i++) {
        double e = fabs(s.maps[i] - so.maps[i]), tol = 1e-5 * so.maps[i] + 1e-9;
        err_add(&mp, s.maps[i], so.maps[i]);
        if (!(e <= tol) && mfails++ < 4)
            cr_expect(0, "%s: maps[%ld] = %.9g, spec %.9g", c->name, i, s.maps[i], so.maps[i]);
    }
    cr_log_info("%-34s maps vs spec: max abs err %.2e", c->name, mp.max_abs);
    cr_expect(mfails == 0, "%s: %ld map probabilities off the spec by more than 1e-5 p", c->name,
              mfails);

    // Outputs: the error of every fp32 stage (probabilities ~2e-6 relative, the A V product over
    // T = 6 terms, o1 - lambda o2 + gamma C) is bounded by ~4e-6 S, S = sum_j |F terms| |V_j|
    // (so.oabs). Tolerance 1e-5 S: a wrong term or index moves an output by O(S).
    const struct {
        const char *name;
        const float *x;
        const double *ref;
    } outs[] = {{"out", s.out, so.out}, {"o1 (A1 V)", s.o1, so.o1}, {"o2 (A2 V)", s.o2, so.o2}};
    for (int w = 0; w < (two ? 3 : 1); w++) {
        double worst = 0.0;
        long fails = 0;
        for (long i = 0; i < s.n_act; i++) {
            double e = fabs(outs[w].x[i] - outs[w].ref[i]) / so.oabs[i];
            if (!(e <= 1e-5) && fails++ < 4)
                cr_expect(0, "%s: attention_forward %s[%ld] = %.9g, spec %.9g (err/S %.3g)",
                          c->name, outs[w].name, i, outs[w].x[i], outs[w].ref[i], e);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
        snprintf(what, sizeof what, "%s: attention_forward %s vs spec", c->name, outs[w].name);
        cr_log_info("%-58s max err/S = %.2e", what, worst);
        cr_expect(fails == 0, "%s: %ld elements off by more than 1e-5 S (worst %.3g)", what, fails,
                  worst);
    }
    // The library's reference (double loops, one rounding to fp32) against spec_attention:
    // <= u|out|.
    // And attention_forward against attention_forward_ref: the bound above, 1e-5 S.
    double worst_ref = 0.0, worst_fast = 0.0;
    long f1 = 0, f2 = 0;
    for (long i = 0; i < s.n_act; i++) {
        double e1 = fabs(ref[i] - so.out[i]) / so.oabs[i];
        double e2 = fabs(s.out[i] - ref[i]) / so.oabs[i];
        if (!(e1 <= 1e-6) && f1++ < 4)
            cr_expect(0, "%s: attention_forward_ref out[%ld] = %.9g, spec %.9g", c->name, i, ref[i],
                      so.out[i]);
        if (!(e2 <= 1e-5) && f2++ < 4)
            cr_expect(0, "%s: attention_forward out[%ld] = %.9g, attention_forward_ref %.9g",
                      c->name, i, s.out[i], ref[i]);
        worst_ref = fmax(worst_ref, isnan(e1) ? INFINITY : e1);
        worst_fast = fmax(worst_fast, isnan(e2) ? INFINITY : e2);
    }
    cr_log_info("%-34s ref vs spec max err/S %.2e; forward vs ref max err/S %.2e", c->name,
                worst_ref, worst_fast);
    cr_expect(f1 == 0 && f2 == 0,
              "%s: attention_forward_ref vs spec: %ld fails (worst %.3g); "
              "attention_forward vs attention_forward_ref: %ld fails (worst %.3g)",
              c->name, f1, worst_ref, f2, worst_fast);

    // The materialised final map: against spec_attention's F (tolerance 1e-5 of the term
    // magnitudes, as for the maps; exactly 0 where all terms are 0), and F V against the
    // forward's out.
    float *A = test_falloc(TT);
    long ffails = 0, pfails = 0;
    double fworst = 0.0, pworst = 0.0;
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < a->n_heads; h++) {
            attention_final_map(A, s.maps, b, h, s.lambda, s.gamma, a);
            const double *F = so.fin + ((long)b * a->n_heads + h) * TT;
            const double *Fa = so.finabs + ((long)b * a->n_heads + h) * TT;
            for (long ij = 0; ij < TT; ij++) {
                double e = fabs(A[ij] - F[ij]);
                if (!(e <= 1e-5 * Fa[ij] + 1e-9) && ffails++ < 4)
                    cr_expect(0, "%s: attention_final_map b=%d h=%d [%ld,%ld] = %.9g, spec %.9g",
                              c->name, b, h, ij / AT, ij % AT, A[ij], F[ij]);
                fworst = fmax(fworst, isnan(e) ? INFINITY : e);
            }
            for (int i = 0; i < AT; i++)
                for (int cc = 0; cc < a->v_dim; cc++) {
                    double sum = 0.0;
                    long vo = attn_v_offset(a, h);
                    for (int j = 0; j < AT; j++)
                        sum += (double)A[i * AT + j] * s.v[((long)b * AT + j) * a->ld + vo + cc];
                    long ix = ((long)b * AT + i) * a->ld + vo + cc;
                    double e = fabs(sum - s.out[ix]) / so.oabs[ix];
                    if (!(e <= 1e-5) && pfails++ < 4)
                        cr_expect(0, "%s: (final map V)[b=%d,i=%d,h=%d,c=%d] = %.9g but out = %.9g",
                                  c->name, b, i, h, cc, sum, s.out[ix]);
                    pworst = fmax(pworst, isnan(e) ? INFINITY : e);
                }
        }
    cr_log_info("%-34s final map vs spec max abs err %.2e; final map V vs out max err/S %.2e",
                c->name, fworst, pworst);
    cr_expect(ffails == 0 && pfails == 0,
              "%s: final map vs spec %ld fails (worst %.3g), "
              "final map V vs out %ld fails (worst %.3g)",
              c->name, ffails, fworst, pfails, pworst);

    free(A);
    free(ref);
    free(so.out), free(so.oabs), free(so.maps), free(so.fin), free(so.finabs), free(so.o1),
        free(so.o2);
    attn_free(&s);
}

// Row sums of the final map and its causal structure.
ParameterizedTestParameters(attention, final_map_rows) {
    return cr_make_param_array(AttnCase, attn_cases, N_ATTN_CASES);
}

ParameterizedTest(AttnCase *c, attention, final_map_rows) {
    AttnSetup s;
    attn_setup(&s, c, 81);
    const AttnDims *a = &s.a;
    attention_forward(s.out, s.o1, s.o2, s.maps, s.q, s.k, s.v, s.lambda, s.gamma, AB, a);
    long TT = (long)AT * AT;
    float *A = test_falloc(TT);
    // The maps do not depend on lambda and gamma, so the final map can be formed for any pair:
    // (lambda, gamma) = (0.6, 0.35), and gamma = lambda (the DINT unification).
    const float gam[2] = {ATT_GAMMA, ATT_LAMBDA};
    for (int gi = 0; gi < 2; gi++) {
        float lambda = ATT_LAMBDA, gamma = gam[gi];
        double expect;
        const char *rule;
        if (c->variant == VARIANT_TRANSFORMER)
            expect = 1.0, rule = "1";
        else if (!a->use_global)
            expect = 1.0 - lambda, rule = "1 - lambda";
        else
            expect = 1.0 - lambda + gamma, rule = "1 - lambda + gamma";
        // Transformer: a row of fp32 probabilities normalised by one fp32 reciprocal sums to 1
        // within (T + 1) u = 4e-7: tolerance 1e-6. Two maps: A1 - lambda A2 (+ gamma G) adds
        // ~3 roundings per element, <= 3 T u (1 + lambda + gamma) ~ 2e-6: tolerance 1e-5.
        double tol = c->variant == VARIANT_TRANSFORMER ? 1e-6 : 1e-5;
        double worst = 0.0;
        long above_nonzero = 0, above_zero = 0;
        for (int b = 0; b < AB; b++)
            for (int h = 0; h < a->n_heads; h++) {
                attention_final_map(A, s.maps, b, h, lambda, gamma, a);
                for (int i = 0; i < AT; i++) {
                    double sum = 0.0;
                    for (int j = 0; j < AT; j++) sum += A[i * AT + j];
                    double e = fabs(sum - expect);
                    cr_expect(
                        e <= tol,
                        "%s (lambda %.3g gamma %.3g): row %d of head %d batch %d sums to %.9g, "
                        "expected %s = %.9g (tol %.0e)",
                        c->name, lambda, gamma, i, h, b, sum, rule, expect, tol);
                    worst = fmax(worst, e);
                    for (int j = i + 1; j < AT; j++) {
                        if (A[i * AT + j] != 0.0f)
                            above_nonzero++;
                        else
                            above_zero++;
                    }
                }
            }
        cr_log_info("%-34s lambda %.2f gamma %.2f: rows sum to %s within %.2e", c->name, lambda,
                    gamma, rule, worst);
        if (c->variant == VARIANT_DINT && c->g_mode == GMODE_FULL && a->use_global) {
            // Full G: G_j = mean over all rows of column j of A1 > 0 for every j, so every
            // element above the diagonal is gamma G_j != 0: the future leaks.
            cr_expect(
                above_zero == 0,
                "%s: g_mode full should put weight above the diagonal everywhere, but %ld of %ld "
                "elements are 0",
                c->name, above_zero, above_zero + above_nonzero);
        } else {
            cr_expect(above_nonzero == 0,
                      "%s: %ld elements above the diagonal are non-zero (causal)", c->name,
                      above_nonzero);
        }
    }
    free(A);
    attn_free(&s);
}

// Gradient check of attention_backward: dq, dk, dv per element, dlambda and dgamma.
typedef struct {
    AttnSetup *s;
} AttnLossCtx;
static double attn_loss(void *p) {
    AttnSetup *s = ((AttnLossCtx *)p)->s;
    attention_forward(s->out, s->o1, s->o2, s->maps, s->q, s->k, s->v, s->lambda, s->gamma, AB,
                      &s->a);
    return dot_fd(s->R, s->out, s->n_act);
}

ParameterizedTestParameters(attention, backward_fd) {
    return cr_make_param_array(AttnCase, attn_cases, N_ATTN_CASES);
}

ParameterizedTest(AttnCase *c, attention, backward_fd) {
    AttnSetup s;
    attn_setup(&s, c, 91);
    const AttnDims *a = &s.a;
    float *dq = test_falloc(s.n_act), *dk = test_falloc(s.n_act), *dv = test_falloc(s.n_act);
    // attention_backward writes dq, dk, dv: NaN first, so an element it leaves fails.
    for (long i = 0; i < s.n_act; i++) dq[i] = dk[i] = dv[i] = NAN;
    double dlam = NAN, dgam = NAN;
    attention_forward(s.out, s.o1, s.o2, s.maps, s.q, s.k, s.v, s.lambda, s.gamma, AB, a);
    attention_backward(dq, dk, dv, &dlam, &dgam, s.R, s.o1, s.o2, s.maps, s.q, s.k, s.v, s.lambda,
                       s.gamma, AB, a);
    AttnLossCtx ctx = {&s};
    // q and k: h = 1e-2 moves a score by <= |k| h / 2 = 1e-2; central-difference truncation
    // h^2/6 |f'''| ~ 2e-5 |f'''| with |f'''| = O(1): rtol 2e-3 relative. Noise: a q_i or k_j
    // reaches up to T v_dim = 48 outputs (all rows of the head under G), each off by <~ 5u
    // |out| per evaluation with |R out| <~ 0.5 typical: random walk sqrt(96) * 5u * 0.5 / (2h)
    // = 7e-5 (the all-aligned worst case with |out| = 1.5 would be 2e-3, not reachable in
    // practice). Measured max |an - num| over all cases 2.3e-5. atol 2e-4 (~10x measured).
    // v is linear in the loss: same noise, no truncation.
    const struct {
        const char *name;
        float *x;
        const float *an;
    } ts[] = {{"dq", s.q, dq}, {"dk", s.k, dk}, {"dv", s.v, dv}};
    for (int t = 0; t < 3; t++) {
        ErrStats st = err_stats(2e-3, 2e-4);
        for (long i = 0; i < s.n_act; i++) {
            double num = central_diff(attn_loss, &ctx, &ts[t].x[i], 1e-2f);
            long b = i / ((long)AT * a->ld), row = (i / a->ld) % AT, col = i % a->ld;
            CHECK_PAIR(
                &st, ts[t].an[i], num,
                "%s: %s[b=%ld,t=%ld,c=%ld]: analytic %.8g numeric %.8g (lambda %.2f gamma %.2f)",
                c->name, ts[t].name, b, row, col, ts[t].an[i], num, s.lambda, s.gamma);
        }
        char what[128];
        snprintf(what, sizeof what, "%s: attention_backward %s vs FD", c->name, ts[t].name);
        err_check_finish(&st, what);
    }
    // lambda and gamma: out is linear in each, no truncation; all 192 outputs move: random walk
    // sqrt(384) * 5u * 0.5 / (2h) = 3e-5 at h = 5e-2 (worst case 1.7e-3); measured max
    // |an - num| 1.9e-6 against values ~1-2. rtol 1e-4, atol 2e-4.
    ErrStats sc = err_stats(1e-4, 2e-4);
    double num_l = central_diff(attn_loss, &ctx, &s.lambda, 5e-2f);
    double num_g = central_diff(attn_loss, &ctx, &s.gamma, 5e-2f);
    CHECK_PAIR(&sc, dlam, num_l, "%s: dlambda analytic %.9g numeric %.9g (lambda %.2f gamma %.2f)",
               c->name, dlam, num_l, s.lambda, s.gamma);
    CHECK_PAIR(&sc, dgam, num_g, "%s: dgamma analytic %.9g numeric %.9g (lambda %.2f gamma %.2f)",
               c->name, dgam, num_g, s.lambda, s.gamma);
    char what[128];
    snprintf(what, sizeof what, "%s: dlambda %.4g dgamma %.4g vs FD", c->name, dlam, dgam);
    err_check_finish(&sc, what);
    if (c->variant == VARIANT_TRANSFORMER)
        cr_expect(dlam == 0.0 && dgam == 0.0, "%s: dlambda %.3g and dgamma %.3g should be 0",
                  c->name, dlam, dgam);
    if (!a->use_global)
        cr_expect(dgam == 0.0, "%s: without the global term dgamma should be 0, got %.9g", c->name,
                  dgam);
    else
        cr_expect(fabs(dgam) > 1e-2, "%s: dgamma %.3g is too small for the check to mean anything",
                  c->name, dgam);
    free(dq), free(dk), free(dv);
    attn_free(&s);
}

// ---------------------------------------------------------------------------------------------
// attention_forward_ref on inputs small enough to work out by hand: T = 2, one head, q/k of one
// feature (scale 1/sqrt(1) = 1). Map 1: k = (0, 1), q_1 = ln 3, so row 1 has scores (0, ln 3)
// and probabilities (1/4, 3/4); row 0 is (1). Map 2 (two maps): q = 0, row 1 uniform (1/2, 1/2).
// V = ((2, 1), (4, -1)). With lambda = 1/2, gamma = 1/4:
//   Transformer (v column 0): out = (2, 1/4 * 2 + 3/4 * 4) = (2, 3.5)
//   DIFF: final rows (1/2) and (1/4 - 1/4, 3/4 - 1/4) = (0, 1/2): out_0 = (1, 1/2),
//         out_1 = (2, -1/2)
//   DINT causal: G rows (1, 0) and the mean of A1's rows 0..1, (5/8, 3/8); final rows (3/4) and
//         (5/32, 19/32): out_0 = (3/2, 3/4), out_1 = (86/32, -14/32)
//   DINT full: G = (5/8, 3/8) on both rows; final row 0 = (1/2 + 5/32, 3/32) = (21/32, 3/32):
//         out_0 = (54/32, 18/32), out_1 as causal.
// The float inputs (ln 3 rounded) move the probabilities by ~1e-7: tolerance 1e-6.
Test(attention, reference_by_hand) {
    const float ln3 = (float)log(3.0);
    struct {
        const char *name;
        int maps, global;
        GMode g;
        double out[2][2], fin[2][2]; // out (t, v column), final map (i, j)
    } cs[] = {
        {"transformer", 1, 0, GMODE_CAUSAL, {{2, 0}, {3.5, 0}}, {{1, 0}, {0.25, 0.75}}},
        {"diff", 2, 0, GMODE_CAUSAL, {{1, 0.5}, {2, -0.5}}, {{0.5, 0}, {0, 0.5}}},
        {"dint causal",
         2,
         1,
         GMODE_CAUSAL,
         {{1.5, 0.75}, {86 / 32., -14 / 32.}},
         {{0.75, 0}, {5 / 32., 19 / 32.}}},
        {"dint full",
         2,
         1,
         GMODE_FULL,
         {{54 / 32., 18 / 32.}, {86 / 32., -14 / 32.}},
         {{21 / 32., 3 / 32.}, {5 / 32., 19 / 32.}}},
    };
    for (int c = 0; c < 4; c++) {
        int two = cs[c].maps == 2, ld = two ? 2 : 1;
        AttnDims a = {2, 1, cs[c].maps, 1, two ? 2 : 1, ld, cs[c].global, cs[c].g, PRECISION_FP32};
        // q, k (T, ld): map m at column m; v (T, ld): v_dim columns from 0.
        float q[4] = {0, 0, ln3, 0}, k[4] = {0, 0, 1, 0};
        float v[4] = {2, 1, 4, -1}, out[4], fwd[4], maps[8], o1[4], o2[4], fin[4];
        if (!two) q[1] = ln3, k[1] = 1, v[1] = 4; // one column: q = (0, ln 3), v = (2, 4)
        attention_forward_ref(out, q, k, v, 0.5f, 0.25f, 1, &a);
        attention_forward(fwd, o1, o2, maps, q, k, v, 0.5f, 0.25f, 1, &a);
        attention_final_map(fin, maps, 0, 0, 0.5f, 0.25f, &a);
        for (int t = 0; t < 2; t++)
            for (int cc = 0; cc < a.v_dim; cc++)
                cr_expect(fabs(out[t * ld + cc] - cs[c].out[t][cc]) <= 1e-6,
                          "%s: attention_forward_ref out[%d][%d] = %.9g, by hand %.9g", cs[c].name,
                          t, cc, out[t * ld + cc], cs[c].out[t][cc]);
        for (int i = 0; i < 4; i++)
            cr_expect(fabs(fin[i] - cs[c].fin[i / 2][i % 2]) <= 1e-6,
                      "%s: attention_final_map[%d][%d] = %.9g, by hand %.9g", cs[c].name, i / 2,
                      i % 2, fin[i], cs[c].fin[i / 2][i % 2]);
        cr_expect(attn_map_offset(&a, 0, 0, 1) == 4 &&
                      attn_map_offset(&a, 1, 0, 0) == 4L * a.n_maps,
                  "%s: attn_map_offset: (B, heads, maps, T, T) row-major", cs[c].name);
    }
}

// Reduced-precision roundings for attention_final_row: bf16 by its bit pattern (round to nearest
// even on the 16 kept bits) and fp16 by the compiler's IEEE half type, an implementation
// independent of the audit's bit manipulation.
static float round_bf16_test(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return x;
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}
static float round_fp16_test(float x) {
    return (float)(_Float16)x;
}

ParameterizedTestParameters(attention, final_row_rounding) {
    return cr_make_param_array(AttnCase, attn_cases, N_ATTN_CASES);
}

// attention_final_row: without rounding, bit for bit the fp32 map attention_final_map forms;
// with a bf16 or fp16 rounding, every entry is R(R(R(a1) - R(R(lambda) R(a2))) + R(R(gamma) g)),
// g = R(mean of the rounded A1 column over the rows G averages), worked out here from the stored
// maps, and every entry is a value of the format (R(f) = f).
ParameterizedTest(AttnCase *c, attention, final_row_rounding) {
    AttnSetup s;
    attn_setup(&s, c, 61);
    const AttnDims *a = &s.a;
    attention_forward(s.out, s.o1, s.o2, s.maps, s.q, s.k, s.v, s.lambda, s.gamma, AB, a);
    int T = AT, two = a->n_maps == 2, glob = two && a->use_global, full = a->g_mode == GMODE_FULL;
    float *A = test_falloc((long)T * T), *f = test_falloc(T), *g = test_falloc(T);
    double *colsum = test_dalloc(T);
    const AttnRound rounds[3] = {NULL, round_bf16_test, round_fp16_test};
    const char *names[3] = {"fp32", "bf16", "fp16"};
    for (int p = 0; p < 3; p++) {
        AttnRound R = rounds[p];
        long fails = 0, not_format = 0;
        for (int b = 0; b < AB; b++)
            for (int h = 0; h < a->n_heads; h++) {
                attention_final_map(A, s.maps, b, h, s.lambda, s.gamma, a);
                const float *A1 = s.maps + attn_map_offset(a, b, h, 0);
                const float *A2 = two ? s.maps + attn_map_offset(a, b, h, 1) : NULL;
                memset(colsum, 0, sizeof(double) * T);
                if (glob && full)
                    for (int i = 0; i < T; i++)
                        attention_global_add_row(colsum, A1 + (long)i * T, i, R);
                for (int i = 0; i < T; i++) {
                    const float *a1 = A1 + (long)i * T, *a2 = two ? A2 + (long)i * T : NULL;
                    if (glob && !full) attention_global_add_row(colsum, a1, i, R);
                    int len = attention_final_row_len(a, i);
                    if (glob) attention_global_row(g, colsum, i, a, R);
                    cr_expect(attention_final_row(f, a1, a2, g, i, s.lambda, s.gamma, a, R) == len);
                    cr_expect(len == (glob && full ? T : i + 1), "%s: row %d has length %d",
                              c->name, i, len);
                    for (int j = 0; j < T; j++) {
                        float want = A[(long)i * T + j];
                        if (R && j < len) {
                            float x = R(a1[j]);
                            if (two) x = R(x - R(R(s.lambda) * R(a2[j])));
                            if (glob) {
                                double cs = 0.0;
                                for (int r = 0; r < (full ? T : i + 1); r++)
                                    cs += R(A1[(long)r * T + j]);
                                if (a->g_mode == GMODE_UNIFORM) cs = 1.0; // G = 1/(i+1)
                                float gj = R((float)(cs / (full ? T : i + 1)));
                                x = R(x + R(R(s.gamma) * gj));
                            }
                            want = x;
                            not_format += R(f[j]) != f[j];
                        } else if (R) {
                            want = 0.0f;
                        }
                        if (memcmp(&f[j], &want, sizeof want) != 0 && fails++ < 4)
                            cr_expect(0, "%s %s: b %d h %d final[%d][%d] = %.9g, expected %.9g",
                                      c->name, names[p], b, h, i, j, f[j], want);
                    }
                }
            }
        cr_expect(fails == 0, "%s %s: %ld final-map entries differ from the expected bits", c->name,
                  names[p], fails);
        cr_expect(not_format == 0, "%s %s: %ld entries are not values of the format", c->name,
                  names[p], not_format);
    }
    free(A), free(f), free(g), free(colsum);
    attn_free(&s);
}
