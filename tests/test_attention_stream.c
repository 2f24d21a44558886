// Unit tests of the streaming attention kernel (core/attention_stream.h) against the
// materialised kernel (core/attention.h), which test_layers checks against finite differences
// and an independent double-precision implementation of docs/attention.md:
//  * every output (out, o1, o2) and every gradient (dq, dk, dv, dlambda, dgamma) for every
//    variant (Transformer, DIFF, DINT), G mode (causal, full) and gamma (nonzero, zero with the
//    global term on, global term off), at T in {1, 7, 64, 257, 1024}, and at T = 4096 for
//    Transformer, DIFF, DINT causal and DINT full with gamma != 0 (one sequence, 1 or 2 heads,
//    d = 8, so the materialised kernel's (T, T) maps stay at 128 MB and the file runs in about
//    20 s on one core);
//  * the stored log-sum-exp against the materialised probabilities (exp(s - lse) = A);
//  * out against attention_forward_ref (the literal final map in double) for T <= 257;
//  * large logits (online max rescaling across tiles);
//  * 1 and 2 OpenMP threads give the same bits;
//  * tile_gemm (the tiles' products) against its double definition, and its causal modes
//    bit-identical to the full product;
//  * the softmax row pieces (vec_math.h): exp_approx within 2 ulp of expf, exp_shift_sum equal
//    to its documented definition and close to libm, max_of equal to the scalar loop.
//
// Tolerances, per tensor: pass when max |stream - materialised| <= tol * S + atol, with
// S = max |materialised| over the tensor (u = 2^-24 ~ 6e-8 the fp32 unit roundoff):
//  * forward (out, o1, o2; and out vs attention_forward_ref): tol = 1e-5 + 8 u max|s|, atol 0.
//    The kernels compute the same sums in different orders: the streaming one sums each row of
//    P V over key tiles of 64 with a running max (one extra rounding of the rescale factor
//    exp(mx_old - mx_new) per tile and of 1 / sum at the end), the materialised one in one
//    sgemm over the whole normalised row. Each output is a convex combination of |v| <= S-sized
//    terms, so each rounding step costs a few u S, over about log2(64) + T / 64 steps: at
//    T = 4096 ~70 steps, 70 u ~ 4e-6 if every error aligned, hence 1e-5. The second term: the
//    score s = q.k / sqrt(d) is an fp32 sgemm result in both kernels, blocked differently, so
//    it differs by a few u |s|, and exp turns that absolute error into a relative error of P;
//    with the random inputs here |s| < 8 (term < 4e-6), with the "big logits" inputs |s| ~ 100
//    (term ~ 5e-5, observed errors 5e-6 .. 8e-6 S there against 2e-7 S otherwise).
//  * lse: exp(s - lse) in double against the materialised probabilities A (S = max A = 1): the
//    same bound (lse is rounded once more, at |lse| ~ max|s|).
//  * dq, dk, dv: tol = 1e-4, atol = 1e-6. The gradients go through dS = P (dP - D) scale, where
//    dP - D cancels: D_i = rowsum(dO_i . O_i) here (from the stored fp32 O), rowsum(P dP)
//    there, so each dS carries an absolute error of a few u (|dP| + |D|), larger than |dS|
//    relative to it by the cancellation factor, and dq / dk sum up to T of them. The atol is
//    for tensors that are exactly 0 in exact arithmetic (T = 1: one key, dS = 0, while the
//    streaming kernel leaves rounding noise u |dO| |V| scale |K| ~ 1e-7). Observed worst:
//    ~1e-6 S with q, k in [-2, 2), 4e-6 S with the big logits.
//  * dlambda = -sum dout . O2, dgamma = sum dout . C: double sums of fp32 products whose O2 / C
//    differ by the forward error (<= 1e-5 relative), so the error is bounded by 1e-5 times the
//    absolute sum sum |dout . O2| (resp. |dout . C|), not the (cancelling) result: tol 1e-5 of
//    that absolute sum. Observed worst: 6e-9 of it.
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
#include "attention_stream.h"
#include "config.h"
#include "grad_util.h"
#include "layers.h"
#include "rng.h"
#include "tile_gemm.h"
#include "vec_math.h"

// One thread (Criterion may run test processes side by side on the 2 cores); the threads
// test switches to 2 and back itself.
static void setup(void) {
    threads_init(1);
}

TestSuite(attn_stream, .init = setup);

static const double TOL_FWD = 1e-5, TOL_GRAD = 1e-4, ATOL_GRAD = 1e-6, TOL_SCALAR = 1e-5;
#define U32        5.9604644775390625e-8 // fp32 unit roundoff, 2^-24
#define SCORE_ULPS 8 // forward tolerance term per unit of max |score| (see the header)

typedef struct {
    char name[64];
    Variant variant;
    GMode g_mode;
    GammaMode gamma_mode;
    float gamma;  // the gamma value passed to the kernels
    int T, B;     // sequence length, batch
    int d_model;  // with head_dim: Transformer d_model / d heads, DIFF/DINT d_model / (2 d)
    int head_dim; // d
    float qk_amp; // q, k uniform in [-qk_amp, qk_amp)
} StreamCase;

static float *falloc(long n) {
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}

static AttnDims case_dims(const StreamCase *c) {
    ModelConfig cfg = tiny_model_config(c->variant, c->g_mode, c->gamma_mode, c->gamma);
    cfg.d_model = c->d_model;
    cfg.head_dim = c->head_dim;
    return attn_dims(&cfg, c->T);
}

// Inputs and the results of both kernels for one case.
typedef struct {
    AttnDims a;
    long n_act;
    float *q, *k, *v, *dout;
    float *out, *o1, *o2, *maps;           // materialised
    float *sout, *so1, *so2, *lse;         // streaming
    float *dq, *dk, *dv, *sdq, *sdk, *sdv; // gradients: materialised, streaming
    double dlam, dgam, sdlam, sdgam;
} Run;

static void run_alloc(Run *r, const StreamCase *c, int materialised) {
    memset(r, 0, sizeof *r);
    r->a = case_dims(c);
    const AttnDims *a = &r->a;
    r->n_act = (long)c->B * c->T * a->ld;
    float **acts[] = {&r->q,   &r->k,   &r->v,   &r->dout, &r->sout,
                      &r->so1, &r->so2, &r->sdq, &r->sdk,  &r->sdv};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) *acts[i] = falloc(r->n_act);
    r->lse = falloc((long)c->B * a->n_heads * a->n_maps * c->T);
    if (materialised) {
        float **m[] = {&r->out, &r->o1, &r->o2, &r->dq, &r->dk, &r->dv};
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) *m[i] = falloc(r->n_act);
        r->maps = falloc((long)c->B * a->n_heads * a->n_maps * c->T * c->T);
    }
    TestRng g;
    test_rng_seed(&g, 1000u + (unsigned)c->T * 7u + (unsigned)c->variant);
    fill_uniform(r->q, r->n_act, -c->qk_amp, c->qk_amp, &g);
    fill_uniform(r->k, r->n_act, -c->qk_amp, c->qk_amp, &g);
    fill_uniform(r->v, r->n_act, -1.f, 1.f, &g);
    fill_uniform(r->dout, r->n_act, -1.f, 1.f, &g);
}

static void run_free(Run *r) {
    float *p[] = {r->q,   r->k,   r->v,   r->dout, r->out, r->o1, r->o2,  r->maps, r->sout,
                  r->so1, r->so2, r->lse, r->dq,   r->dk,  r->dv, r->sdq, r->sdk,  r->sdv};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

static const float LAMBDA = 0.6f;

static void run_stream(Run *r, const StreamCase *c) {
    // NaN first: an element the kernel leaves unwritten fails the comparison.
    for (long i = 0; i < r->n_act; i++) r->sdq[i] = r->sdk[i] = r->sdv[i] = NAN;
    attention_stream_forward(r->sout, r->so1, r->so2, r->lse, r->q, r->k, r->v, LAMBDA, c->gamma,
                             c->B, &r->a);
    attention_stream_backward(r->sdq, r->sdk, r->sdv, &r->sdlam, &r->sdgam, r->dout,
                              r->a.n_maps == 1 ? r->sout : r->so1, r->so2, r->lse, r->q, r->k, r->v,
                              LAMBDA, c->gamma, c->B, &r->a);
}

static void run_materialised(Run *r, const StreamCase *c) {
    attention_forward(r->out, r->o1, r->o2, r->maps, r->q, r->k, r->v, LAMBDA, c->gamma, c->B,
                      &r->a);
    attention_backward(r->dq, r->dk, r->dv, &r->dlam, &r->dgam, r->dout, r->o1, r->o2, r->maps,
                       r->q, r->k, r->v, LAMBDA, c->gamma, c->B, &r->a);
}

// Compares a tensor of the streaming kernel with the materialised one:
// max |diff| <= tol S + atol, S = max |ref|. A NaN fails.
static void check_tensor(const char *cname, const char *tname, const float *got, const float *ref,
                         long n, double tol, double atol) {
    double S = 0.0, err = 0.0;
    long worst = -1, nan = 0;
    for (long i = 0; i < n; i++) S = fmax(S, fabs(ref[i]));
    for (long i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(ref[i])) {
            nan++;
            continue;
        }
        double e = fabs((double)got[i] - ref[i]);
        if (e > err) err = e, worst = i;
    }
    double rel = S > 0 ? err / S : err;
    cr_log_info("%-44s %-4s n=%8ld max|ref|=%.3e max|err|=%.3e err/max|ref|=%.3e (tol %.2e + %.0e)",
                cname, tname, n, S, err, rel, tol, atol);
    cr_expect(nan == 0, "%s %s: %ld NaN", cname, tname, nan);
    cr_expect(err <= tol * S + atol,
              "%s %s: max |stream - ref| = %.3g at %ld (stream %.9g, ref %.9g), "
              "%.3g of max|ref| %.3g > tol %.0e (+ %.0e)",
              cname, tname, err, worst, worst >= 0 ? got[worst] : 0.0,
              worst >= 0 ? ref[worst] : 0.0, rel, S, tol, atol);
}

static void check_scalar(const char *cname, const char *sname, double got, double ref, double scale,
                         double tol) {
    double err = fabs(got - ref);
    cr_log_info("%-44s %-4s ref=% .9e stream=% .9e err=%.3e err/scale=%.3e (scale %.3e, tol %.0e)",
                cname, sname, ref, got, err, scale > 0 ? err / scale : err, scale, tol);
    cr_expect(err <= tol * scale,
              "%s %s: stream %.12g, materialised %.12g (err %.3g > %.0e x scale %.3g)", cname,
              sname, got, ref, err, tol, scale);
}

// sum |dout . O2| and sum |dout . C| over the whole batch, from the materialised o1 / o2: the
// scales of dlambda and dgamma. C as in attention.c (running mean or mean of o1's rows; running
// mean of v's rows for uniform G).
static void scalar_scales(const Run *r, const StreamCase *c, double *sl, double *sg) {
    const AttnDims *a = &r->a;
    int T = c->T, vd = a->v_dim, ld = a->ld;
    *sl = *sg = 0.0;
    if (a->n_maps == 1) return;
    double *acc = calloc((size_t)vd, sizeof(double));
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < a->n_heads; h++) {
            long vo = (long)b * T * ld + attn_v_offset(a, h);
            for (int cc = 0; cc < vd; cc++) acc[cc] = 0.0;
            if (a->g_mode == GMODE_FULL)
                for (int i = 0; i < T; i++)
                    for (int cc = 0; cc < vd; cc++) acc[cc] += r->o1[vo + (long)i * ld + cc];
            const float *X = a->g_mode == GMODE_UNIFORM ? r->v : r->o1;
            for (int i = 0; i < T; i++)
                for (int cc = 0; cc < vd; cc++) {
                    long ix = vo + (long)i * ld + cc;
                    *sl += fabs((double)r->dout[ix] * r->o2[ix]);
                    double C;
                    if (a->g_mode != GMODE_FULL) {
                        acc[cc] += X[ix];
                        C = acc[cc] / (i + 1);
                    } else {
                        C = acc[cc] / T;
                    }
                    if (a->use_global) *sg += fabs((double)r->dout[ix] * C);
                }
        }
    free(acc);
}

// The largest |q_i . k_j| / sqrt(d) over the causal pairs of every head and map, in double.
static double max_score(const Run *r, const StreamCase *c) {
    const AttnDims *a = &r->a;
    int T = c->T, d = a->qk_dim, ld = a->ld;
    double smax = 0.0;
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < a->n_heads; h++)
            for (int m = 0; m < a->n_maps; m++) {
                long qo = (long)b * T * ld + attn_qk_offset(a, h, m);
                for (int i = 0; i < T; i++)
                    for (int j = 0; j <= i; j++) {
                        const float *qi = r->q + qo + (long)i * ld, *kj = r->k + qo + (long)j * ld;
                        double s = 0.0;
                        for (int cc = 0; cc < d; cc++) s += (double)qi[cc] * kj[cc];
                        smax = fmax(smax, fabs(s));
                    }
            }
    return smax / sqrt((double)d);
}

// exp(scale q.k - lse) against the materialised probabilities, every row and map.
static void check_lse(const Run *r, const StreamCase *c, double tol) {
    const AttnDims *a = &r->a;
    int T = c->T, d = a->qk_dim, ld = a->ld;
    double err = 0.0, S = 0.0;
    long nan = 0;
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < a->n_heads; h++)
            for (int m = 0; m < a->n_maps; m++) {
                long qo = (long)b * T * ld + attn_qk_offset(a, h, m);
                long mo = (((long)b * a->n_heads + h) * a->n_maps + m) * (long)T;
                for (int i = 0; i < T; i++) {
                    double L = r->lse[mo + i];
                    if (!isfinite(L)) nan++;
                    for (int j = 0; j <= i; j++) {
                        double s = 0.0;
                        for (int cc = 0; cc < d; cc++)
                            s +=
                                (double)r->q[qo + (long)i * ld + cc] * r->k[qo + (long)j * ld + cc];
                        double p = exp(s / sqrt((double)d) - L);
                        double A = r->maps[(mo + i) * T + j];
                        S = fmax(S, fabs(A));
                        err = fmax(err, fabs(p - A));
                    }
                }
            }
    cr_log_info("%-44s lse  exp(s - lse) vs maps: max|A|=%.3e max|err|=%.3e "
                "(tol %.2e)",
                c->name, S, err, tol);
    cr_expect(nan == 0, "%s: %ld non-finite lse", c->name, nan);
    cr_expect(err <= tol * S, "%s: exp(s - lse) differs from the map by %.3g", c->name, err);
}

static void compare_case(const StreamCase *c) {
    Run r;
    run_alloc(&r, c, 1);
    run_materialised(&r, c);
    run_stream(&r, c);
    const AttnDims *a = &r.a;
    double smax = max_score(&r, c);
    double tol_fwd = TOL_FWD + SCORE_ULPS * U32 * smax;
    cr_log_info("%-44s max|score|=%.1f: forward tol %.2e", c->name, smax, tol_fwd);
    check_tensor(c->name, "out", r.sout, r.out, r.n_act, tol_fwd, 0.0);
    if (a->n_maps == 2) {
        check_tensor(c->name, "o1", r.so1, r.o1, r.n_act, tol_fwd, 0.0);
        check_tensor(c->name, "o2", r.so2, r.o2, r.n_act, tol_fwd, 0.0);
    }
    check_tensor(c->name, "dq", r.sdq, r.dq, r.n_act, TOL_GRAD, ATOL_GRAD);
    check_tensor(c->name, "dk", r.sdk, r.dk, r.n_act, TOL_GRAD, ATOL_GRAD);
    check_tensor(c->name, "dv", r.sdv, r.dv, r.n_act, TOL_GRAD, ATOL_GRAD);
    double sl, sg;
    scalar_scales(&r, c, &sl, &sg);
    check_scalar(c->name, "dlam", r.sdlam, r.dlam, sl, TOL_SCALAR);
    check_scalar(c->name, "dgam", r.sdgam, r.dgam, sg, TOL_SCALAR);
    if (a->n_maps == 1 || !a->use_global)
        cr_expect(r.sdgam == 0.0, "%s: dgamma %g without the global term", c->name, r.sdgam);
    if (a->n_maps == 1) cr_expect(r.sdlam == 0.0, "%s: dlambda %g with one map", c->name, r.sdlam);
    if (c->T <= 257) {
        check_lse(&r, c, tol_fwd);
        // The literal definition (final map materialised, double): the same bound.
        float *ref = falloc(r.n_act);
        attention_forward_ref(ref, r.q, r.k, r.v, LAMBDA, c->gamma, c->B, a);
        check_tensor(c->name, "ref", r.sout, ref, r.n_act, tol_fwd, 0.0);
        free(ref);
    }
    run_free(&r);
}

// The variant / G mode / gamma combinations. "global on, gamma 0" is DINT with gamma fixed at
// 0: the global term is computed (and dgamma is not 0) but does not change the output.
typedef struct {
    const char *name;
    Variant variant;
    GMode g_mode;
    GammaMode gamma_mode;
    float gamma;
} Combo;

static const Combo combos[] = {
    {"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f},
    {"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f},
    // G mode does not apply to these two (no global term): the same results either way.
    {"transformer g=full", VARIANT_TRANSFORMER, GMODE_FULL, GAMMA_ZERO, 0.0f},
    {"diff g=full", VARIANT_DIFF, GMODE_FULL, GAMMA_ZERO, 0.0f},
    {"dint causal gamma=0.35", VARIANT_DINT, GMODE_CAUSAL, GAMMA_FIXED, 0.35f},
    {"dint full gamma=0.35", VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.35f},
    {"dint causal global gamma=0", VARIANT_DINT, GMODE_CAUSAL, GAMMA_FIXED, 0.0f},
    {"dint full global gamma=0", VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.0f},
    {"dint causal gamma=zero(off)", VARIANT_DINT, GMODE_CAUSAL, GAMMA_ZERO, 0.0f},
    {"dint full gamma=zero(off)", VARIANT_DINT, GMODE_FULL, GAMMA_ZERO, 0.0f},
    {"dint uniform gamma=0.35", VARIANT_DINT, GMODE_UNIFORM, GAMMA_FIXED, 0.35f},
};
#define N_COMBOS ((int)(sizeof combos / sizeof combos[0]))
static const int Ts[] = {1, 7, 64, 257, 1024};
#define N_TS ((int)(sizeof Ts / sizeof Ts[0]))

static StreamCase make_case(const Combo *cb, int T) {
    StreamCase c;
    memset(&c, 0, sizeof c);
    c.variant = cb->variant;
    c.g_mode = cb->g_mode;
    c.gamma_mode = cb->gamma_mode;
    c.gamma = cb->gamma;
    c.T = T;
    c.qk_amp = 2.0f; // scores q.k / sqrt(d) with a spread of ~1.3: neither flat nor one-hot
    if (T <= 257) {
        // 2 sequences, 2 (DIFF / DINT) or 4 (Transformer) heads of d = 8.
        c.B = 2, c.d_model = 32, c.head_dim = 8;
    } else {
        // 1 sequence, 1 (DIFF / DINT) or 2 (Transformer) heads of d = 8.
        c.B = 1, c.d_model = 16, c.head_dim = 8;
    }
    snprintf(c.name, sizeof c.name, "%s T=%d", cb->name, T);
    return c;
}

ParameterizedTestParameters(attn_stream, vs_materialised) {
    static StreamCase cases[N_COMBOS * N_TS + 4];
    int n = 0;
    for (int t = 0; t < N_TS; t++)
        for (int i = 0; i < N_COMBOS; i++) cases[n++] = make_case(&combos[i], Ts[t]);
    // T = 4096: Transformer, DIFF, and DINT with the global term in both G modes.
    cases[n++] = make_case(&combos[0], 4096); // transformer
    cases[n++] = make_case(&combos[1], 4096); // diff
    cases[n++] = make_case(&combos[4], 4096); // dint causal gamma=0.35
    cases[n++] = make_case(&combos[5], 4096); // dint full gamma=0.35
    return cr_make_param_array(StreamCase, cases, n);
}

ParameterizedTest(StreamCase *c, attn_stream, vs_materialised) {
    compare_case(c);
}

// Realistic head size (d = 32, as in the benchmark) and large logits: q, k in [-8, 8) give
// scores with a spread of ~30, so row maxima change from tile to tile and a softmax without
// max subtraction would overflow.
Test(attn_stream, head_dim_32_and_large_logits) {
    for (int i = 0; i < N_COMBOS; i++) {
        for (int big = 0; big < 2; big++) {
            StreamCase c = make_case(&combos[i], 257);
            c.B = 1, c.d_model = 128, c.head_dim = 32;
            c.qk_amp = big ? 8.0f : 2.0f;
            snprintf(c.name, sizeof c.name, "%s T=257 d=32%s", combos[i].name,
                     big ? " big logits" : "");
            compare_case(&c);
        }
    }
}

// 1 and 2 threads: the same bits for every output and gradient. Several query tiles (the last
// one partial) and, in the first pass, B * heads >= 4 so both threads get heads and tiles; in
// the second one sequence of one DIFF / DINT head (two Transformer heads), where the forward's
// only parallelism is over query tiles.
Test(attn_stream, same_bits_on_1_and_2_threads) {
    for (int i = 0; i < 2 * N_COMBOS; i++) {
        StreamCase c = make_case(&combos[i % N_COMBOS], 257);
        if (i >= N_COMBOS) {
            c.B = 1, c.d_model = 16, c.head_dim = 8;
            snprintf(c.name, sizeof c.name, "%s T=257 B=1 d_model=16", combos[i % N_COMBOS].name);
        }
        Run r[2];
        for (int t = 0; t < 2; t++) {
            run_alloc(&r[t], &c, 0);
            threads_init(t + 1);
            run_stream(&r[t], &c);
        }
        threads_init(1);
        size_t bytes = sizeof(float) * (size_t)r[0].n_act;
        size_t lbytes = sizeof(float) * (size_t)c.B * r[0].a.n_heads * r[0].a.n_maps * c.T;
        cr_expect(!memcmp(r[0].sout, r[1].sout, bytes), "%s: out differs", c.name);
        cr_expect(!memcmp(r[0].so1, r[1].so1, bytes), "%s: o1 differs", c.name);
        cr_expect(!memcmp(r[0].so2, r[1].so2, bytes), "%s: o2 differs", c.name);
        cr_expect(!memcmp(r[0].lse, r[1].lse, lbytes), "%s: lse differs", c.name);
        cr_expect(!memcmp(r[0].sdq, r[1].sdq, bytes), "%s: dq differs", c.name);
        cr_expect(!memcmp(r[0].sdk, r[1].sdk, bytes), "%s: dk differs", c.name);
        cr_expect(!memcmp(r[0].sdv, r[1].sdv, bytes), "%s: dv differs", c.name);
        cr_expect(!memcmp(&r[0].sdlam, &r[1].sdlam, sizeof(double)), "%s: dlambda differs", c.name);
        cr_expect(!memcmp(&r[0].sdgam, &r[1].sdgam, sizeof(double)), "%s: dgamma differs", c.name);
        run_free(&r[0]);
        run_free(&r[1]);
    }
}

// Diagnostics without maps: attention_map_rows and attention_final_rows (rows recomputed from
// q and k, a block of rows at a time) against the materialised kernel's maps and
// attention_final_map, for every variant and G mode, T not a multiple of the row block, rows
// asked for in several pieces (and one skipped range, which causal G must still sum). The rows
// are normalised with the materialised kernel's operations, so the only difference is the
// score sgemm's blocking (a few ulps of |s|, as in the forward tolerance): tolerance
// 1e-6 + 8 u max|s| per entry of a probability (<= 1) or final-map entry (<= 1 + |lambda| +
// |gamma| in size); observed here: bit-identical.
Test(attn_stream, recomputed_rows_match_materialised_maps) {
    const StreamCase cases[] = {
        {"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, 77, 2, 16, 4, 2.0f},
        {"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, 77, 2, 16, 4, 2.0f},
        {"dint causal", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.6f, 77, 2, 16, 4, 2.0f},
        {"dint full", VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0.3f, 77, 2, 16, 4, 2.0f},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const StreamCase *c = &cases[ci];
        Run r;
        run_alloc(&r, c, 1);
        const AttnDims *a = &r.a;
        int T = c->T;
        attention_forward(r.out, r.o1, r.o2, r.maps, r.q, r.k, r.v, LAMBDA, c->gamma, c->B, a);
        float *P = falloc((long)T * T), *S = falloc((long)T * T), *F = falloc((long)T * T);
        float *A = falloc((long)T * T);
        double tol = 1e-6 + SCORE_ULPS * U32 * 8.0 * c->qk_amp * c->qk_amp; // |s| <= 4 amp^2/2
        double worst = 0.0;
        for (int b = 0; b < c->B; b++)
            for (int h = 0; h < a->n_heads; h++) {
                for (int m = 0; m < a->n_maps; m++) {
                    const float *M = r.maps + (((long)b * a->n_heads + h) * a->n_maps + m) * T * T;
                    // rows in three pieces: [0, 5), [5, 40), [40, T)
                    int cut[4] = {0, 5, 40, T};
                    for (int p = 0; p < 3; p++)
                        attention_map_rows(P + (long)cut[p] * T, S + (long)cut[p] * T, r.q, r.k, b,
                                           h, m, cut[p], cut[p + 1] - cut[p], a);
                    for (long i = 0; i < (long)T * T; i++) {
                        double e = fabs((double)P[i] - M[i]);
                        worst = fmax(worst, e);
                        cr_assert(e <= tol, "%s b %d h %d map %d: P[%ld] = %.9g, materialised %.9g",
                                  c->name, b, h, m, i, P[i], M[i]);
                    }
                    // logits: scale q_i . k_j in double
                    const float *Q = r.q + (long)b * T * a->ld + attn_qk_offset(a, h, m);
                    const float *K = r.k + (long)b * T * a->ld + attn_qk_offset(a, h, m);
                    for (int i = 0; i < T; i++)
                        for (int j = 0; j <= i; j++) {
                            double s = 0.0;
                            for (int x = 0; x < a->qk_dim; x++)
                                s += (double)Q[(long)i * a->ld + x] * K[(long)j * a->ld + x];
                            s /= sqrt((double)a->qk_dim);
                            cr_assert(fabs(S[(long)i * T + j] - s) <= 1e-5 * (1 + fabs(s)),
                                      "%s logit (%d, %d) %.9g vs %.9g", c->name, i, j,
                                      S[(long)i * T + j], s);
                        }
                }
                attention_final_map(A, r.maps, b, h, LAMBDA, c->gamma, a);
                double tolf = tol * (1 + LAMBDA + fabs(c->gamma));
                // whole map, then rows [3, 9) and [50, T) only (rows 0..2 and 9..49 skipped)
                attention_final_map_recompute(F, r.q, r.k, b, h, LAMBDA, c->gamma, a);
                for (long i = 0; i < (long)T * T; i++) {
                    double e = fabs((double)F[i] - A[i]);
                    worst = fmax(worst, e);
                    cr_assert(e <= tolf,
                              "%s b %d h %d: final[%ld] = %.9g, attention_final_map %.9g", c->name,
                              b, h, i, F[i], A[i]);
                }
                AttnFinalRows fr;
                attention_final_rows_init(&fr, r.q, r.k, LAMBDA, c->gamma, b, h, a);
                attention_final_rows(&fr, F, 3, 6);
                attention_final_rows(&fr, F + 6L * T, 50, T - 50);
                attention_final_rows_free(&fr);
                for (int i = 0; i < 6 + T - 50; i++) {
                    int row = i < 6 ? 3 + i : 50 + (i - 6);
                    for (int j = 0; j < T; j++) {
                        double e = fabs((double)F[(long)i * T + j] - A[(long)row * T + j]);
                        cr_assert(e <= tolf, "%s b %d h %d: piecewise row %d col %d: %.9g vs %.9g",
                                  c->name, b, h, row, j, F[(long)i * T + j], A[(long)row * T + j]);
                    }
                }
            }
        cr_log_info("%-12s recomputed rows vs materialised: max abs err %.2e", c->name, worst);
        free(P);
        free(S);
        free(F);
        free(A);
        run_free(&r);
    }
}

// ---------------------------------------------------------------------------------------------
// The softmax row pieces (core/vec_math.h) the streaming kernel uses, against libm.

// Distance in units in the last place between two finite floats of the same sign.
static long ulp_distance(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    return labs((long)ia - (long)ib);
}

Test(vec_math, exp_approx_within_2_ulp_of_expf) {
    long worst = 0;
    float worst_x = 0.0f;
    uint64_t st = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 1000000; i++) {
        xorshift64_next(&st);
        float x = -87.3f + (float)((st >> 11) * 0x1.0p-53) * (88.0f + 87.3f);
        long u = ulp_distance(exp_approx(x), expf(x));
        if (u > worst) worst = u, worst_x = x;
    }
    cr_log_info("exp_approx: worst %ld ulp at x = %.9g", worst, worst_x);
    cr_expect(worst <= 2, "exp_approx is %ld ulp from expf at x = %.9g", worst, worst_x);
    cr_expect_eq(exp_approx(0.0f), 1.0f);
    cr_expect_eq(exp_approx(-INFINITY), 0.0f);
    cr_expect_eq(exp_approx(-87.34f), 0.0f);
    cr_expect(exp_approx(-87.3f) > 0.0f);
    cr_expect(isnan(exp_approx(NAN)));
}

Test(vec_math, exp_shift_sum_is_its_definition_and_close_to_libm) {
    const int sizes[] = {0, 1, 7, 8, 9, 31, 63, 64, 65, 200};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        int n = sizes[c];
        float x[200], y[200], lane[8] = {0};
        for (int j = 0; j < n; j++) x[j] = y[j] = (float)((j * 37) % 101) / 10.0f - 6.0f;
        if (n > 3) x[3] = y[3] = -INFINITY; // a masked score
        float shift = 4.25f;
        float got = exp_shift_sum(x, n, shift);
        double ref = 0.0;
        for (int j = 0; j < n; j++) {
            float e = exp_approx(y[j] - shift);
            cr_assert(x[j] == e, "n %d: x[%d] = %.9g, exp_approx gives %.9g", n, j, x[j], e);
            lane[j % 8] += e;
            ref += exp((double)y[j] - shift);
        }
        float def = ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
                    ((lane[1] + lane[5]) + (lane[3] + lane[7]));
        cr_assert(got == def, "n %d: sum %.9g, the documented lane order gives %.9g", n, got, def);
        cr_assert(fabs(got - ref) <= 1e-6 * ref + 1e-30, "n %d: sum %.9g, exact %.9g", n, got, ref);
    }
}

Test(vec_math, max_of_matches_the_scalar_loop_and_skips_nan) {
    float x[37];
    for (int j = 0; j < 37; j++) x[j] = (float)((j * 13) % 37) - 20.0f;
    x[5] = NAN;
    for (int n = 0; n <= 37; n++) {
        float ref = -INFINITY;
        for (int j = 0; j < n; j++) ref = x[j] > ref ? x[j] : ref;
        cr_assert_eq(max_of(x, n, -INFINITY), ref, "n %d", n);
    }
    cr_assert_eq(max_of(x, 37, 100.0f), 100.0f);
}

// ---------------------------------------------------------------------------------------------
// tile_gemm (the tiles' products) against its double definition, tile_gemm_ref: shapes with
// row and column tails, A stored or transposed, beta 0 and 1, and each causal mode with A's
// skipped part set to exact zeros (the mode's promise). Tolerance: each element is an fp32 FMA
// chain of K terms, error <= K u sum|a b| (u = 2^-24); with |a|, |b| < 1 and K <= 70 that is
// < 5e-6 absolute, checked as 1e-5 relative to the largest |C| plus 1e-6. OUT_LOWER compares the
// needed part only, and checks the rest of C was left as it was when not written.

static int tri_needed(TileTri tri, int m, int n, int off) {
    return tri != TRI_OUT_LOWER || n <= m + off;
}
static int tri_zero_a(TileTri tri, int m, int k, int off) {
    return (tri == TRI_K_LOWER && k > m + off) || (tri == TRI_K_UPPER && k < m - off);
}

static void check_tile_gemm(int M, int N, int K, int trans_a, float beta, TileTri tri, int off) {
    TestRng r;
    test_rng_seed(&r, 1000u + (unsigned)(M * 131 + N * 17 + K * 3 + tri * 7 + off));
    long lda = trans_a ? M + 3 : K + 2, ldb = N + 5, ldc = N + 1;
    float *A = test_falloc((trans_a ? (long)K : M) * lda), *B = test_falloc((long)K * ldb);
    float *C = test_falloc((long)M * ldc), *Cref = test_falloc((long)M * ldc);
    fill_uniform(A, (trans_a ? (long)K : M) * lda, -1.f, 1.f, &r);
    fill_uniform(B, (long)K * ldb, -1.f, 1.f, &r);
    fill_uniform(C, (long)M * ldc, -1.f, 1.f, &r);
    long a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++)
            if (tri_zero_a(tri, m, k, off)) A[m * a_rs + k * a_cs] = 0.0f;
    memcpy(Cref, C, sizeof(float) * (size_t)M * ldc);
    float *C0 = test_falloc((long)M * ldc);
    memcpy(C0, C, sizeof(float) * (size_t)M * ldc);
    tile_gemm(M, N, K, 0.75f, A, a_rs, a_cs, B, ldb, beta, C, ldc, tri, off);
    tile_gemm_ref(M, N, K, 0.75f, A, a_rs, a_cs, B, ldb, beta, Cref, ldc);
    double S = 0.0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) S = fmax(S, fabs(Cref[m * ldc + n]));
    ErrStats st = err_stats(0.0, 1e-5 * S + 1e-6);
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++)
            if (tri_needed(tri, m, n, off))
                CHECK_PAIR(&st, C[m * ldc + n], Cref[m * ldc + n],
                           "tile_gemm M %d N %d K %d trans %d beta %g tri %d off %d: C[%d,%d] %.9g "
                           "vs %.9g",
                           M, N, K, trans_a, beta, tri, off, m, n, C[m * ldc + n],
                           Cref[m * ldc + n]);
        // padding past N is never touched
        cr_expect(C[m * ldc + N] == C0[m * ldc + N], "tile_gemm wrote past column N (row %d)", m);
    }
    char what[128];
    snprintf(what, sizeof what, "tile_gemm M %d N %d K %d trans %d beta %g tri %d off %d", M, N, K,
             trans_a, beta, tri, off);
    err_check_finish(&st, what);
    free(A), free(B), free(C), free(Cref), free(C0);
}

Test(tile_gemm, matches_its_double_definition) {
    const int shapes[][3] = {{64, 64, 16}, {64, 16, 64}, {7, 5, 3},    {13, 40, 33},
                             {1, 1, 1},    {5, 17, 0},   {64, 32, 64}, {36, 24, 9}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int trans = 0; trans < 2; trans++)
            for (int beta = 0; beta < 2; beta++)
                check_tile_gemm(shapes[i][0], shapes[i][1], shapes[i][2], trans, (float)beta,
                                TRI_NONE, 0);
    for (int tri = TRI_OUT_LOWER; tri <= TRI_K_UPPER; tri++)
        for (int off = 0; off < 70; off += 23)
            for (int trans = 0; trans < 2; trans++) {
                check_tile_gemm(64, 64, 64, trans, 1.0f, (TileTri)tri, off);
                check_tile_gemm(37, 21, 29, trans, 0.0f, (TileTri)tri, off);
            }
}

// Skipping the zero part of A changes no bit: the causal modes against TRI_NONE on the same
// operands (exact equality).
Test(tile_gemm, causal_modes_are_bit_identical_to_the_full_product) {
    enum { M = 45, N = 30, K = 45 };
    TestRng r;
    test_rng_seed(&r, 77);
    float A[M * K], B[K * N], C1[M * N], C2[M * N];
    for (int tri = TRI_K_LOWER; tri <= TRI_K_UPPER; tri++)
        for (int off = 0; off < 9; off += 4) {
            fill_uniform(A, M * K, -1.f, 1.f, &r);
            fill_uniform(B, K * N, -1.f, 1.f, &r);
            for (int m = 0; m < M; m++)
                for (int k = 0; k < K; k++)
                    if (tri_zero_a((TileTri)tri, m, k, off)) A[m * K + k] = 0.0f;
            tile_gemm(M, N, K, 1.0f, A, K, 1, B, N, 0.0f, C1, N, TRI_NONE, 0);
            tile_gemm(M, N, K, 1.0f, A, K, 1, B, N, 0.0f, C2, N, (TileTri)tri, off);
            cr_assert(!memcmp(C1, C2, sizeof C1),
                      "tri %d off %d: bits differ from the full product", tri, off);
        }
}
