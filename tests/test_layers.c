// Unit tests of the dense layers (core/layers.h) and the attention kernel (core/attention.h):
// every backward against central finite differences of a scalar test loss, the fast kernels
// against their reference kernels, and the attention forward against an independent double
// precision implementation of attention-spec.md (sections 2-4) written here.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "config.h"
#include "grad_util.h"
#include "layers.h"

#define U32 5.9604644775390625e-8 // fp32 unit roundoff, 2^-24

// One thread: Criterion runs test processes in parallel, and several processes each with
// spinning OpenMP workers on 2 cores slow the run down 20-50x. The kernels on 2 threads are
// compared bit for bit with 1 thread by test_model's model_threads suite.
static void setup(void) {
    threads_init(1);
}

TestSuite(matmul, .init = setup);
TestSuite(rmsnorm, .init = setup);
TestSuite(rope, .init = setup);
TestSuite(swiglu, .init = setup);
TestSuite(embedding, .init = setup);
TestSuite(cross_entropy, .init = setup);
TestSuite(attention, .init = setup);

// One pair of a check: counts it, and prints the first few failures with the case's details.
#define CHECK_PAIR(st, an, num, ...)                                                               \
    do {                                                                                           \
        if (!err_add((st), (an), (num)) && (st)->n_fail <= 4) cr_expect(0, __VA_ARGS__);           \
    } while (0)

// End of a check: its largest errors are logged (--verbose), and it fails when any pair failed.
static void finish(const ErrStats *s, const char *what) {
    cr_log_info("%-58s n=%5ld max|an-num|=%.2e max rel=%.2e worst err/bound=%.3f max|val|=%.2e",
                what, s->n, s->max_abs, s->max_rel, s->max_ratio, s->max_scale);
    cr_expect(s->n > 0, "%s: nothing was checked", what);
    cr_expect(s->n_fail == 0,
              "%s: %ld of %ld values outside |an-num| <= %g*max(|an|,|num|) + %g "
              "(max abs err %.3g, max rel err %.3g, worst err/bound %.3g)",
              what, s->n_fail, s->n, s->rtol, s->atol, s->max_abs, s->max_rel, s->max_ratio);
}

static float *falloc(long n) {
    return calloc((size_t)(n > 0 ? n : 1), sizeof(float));
}
static double *dalloc(long n) {
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

static double dot_fd(const float *a, const float *b, long n) {
    double s = 0.0;
    for (long i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// Central difference of f with respect to *x, over the step actually taken in fp32.
typedef double (*LossFn)(void *ctx);
static double central_diff(LossFn f, void *ctx, float *x, float h) {
    float x0 = *x, xp = x0 + h, xm = x0 - h;
    *x = xp;
    double lp = f(ctx);
    *x = xm;
    double lm = f(ctx);
    *x = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

// ---------------------------------------------------------------------------------------------
// matmul: BLAS kernels against the double-loop references.
//
// Tolerance: an fp32 dot product of n terms (BLAS, any order, with or without FMA) differs from
// the exact one by at most n u sum|terms|, and the reference adds one rounding to float (and
// one more for the += into a non-zero gradient). So per element
//   |fast - ref| <= (n + 2) u S,   S = sum of |terms| (+ |initial value| for +=),
// and the tolerance is max(1e-5, (n + 2) u) S: 1e-5 for every n <= 165, the rigorous bound
// beyond (n = 300: 1.8e-5). A wrong index or a missing term moves an element by O(S).
static double matmul_tol(int n) {
    return fmax(1e-5, (n + 2) * U32);
}

static void check_matmul_case(int N, int IC, int OC, unsigned seed) {
    TestRng r;
    test_rng_seed(&r, seed);
    float *in = falloc((long)N * IC), *w = falloc((long)OC * IC), *dout = falloc((long)N * OC);
    float *out_f = falloc((long)N * OC), *out_r = falloc((long)N * OC);
    float *din0 = falloc((long)N * IC), *dw0 = falloc((long)OC * IC);
    float *din_f = falloc((long)N * IC), *din_r = falloc((long)N * IC);
    float *dw_f = falloc((long)OC * IC), *dw_r = falloc((long)OC * IC);
    fill_uniform(in, (long)N * IC, -1.f, 1.f, &r);
    fill_uniform(w, (long)OC * IC, -1.f, 1.f, &r);
    fill_uniform(dout, (long)N * OC, -1.f, 1.f, &r);
    fill_uniform(din0, (long)N * IC, -1.f, 1.f, &r);
    fill_uniform(dw0, (long)OC * IC, -1.f, 1.f, &r);
    char what[160];

    matmul_forward(out_f, in, w, N, IC, OC);
    matmul_forward_ref(out_r, in, w, N, IC, OC);
    double worst = 0.0;
    long fails = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double S = 0.0;
            for (int i = 0; i < IC; i++)
                S += fabs((double)in[(long)n * IC + i] * w[(long)o * IC + i]);
            double e = fabs((double)out_f[(long)n * OC + o] - out_r[(long)n * OC + o]) / S;
            if (!(e <= matmul_tol(IC)) && fails++ < 4)
                cr_expect(
                    0,
                    "matmul_forward N=%d IC=%d OC=%d out[%d,%d]: fast %.9g ref %.9g (err/S %.3g)",
                    N, IC, OC, n, o, out_f[(long)n * OC + o], out_r[(long)n * OC + o], e);
            if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
        }
    snprintf(what, sizeof what, "matmul_forward vs ref N=%d IC=%d OC=%d", N, IC, OC);
    cr_log_info("%-58s max |fast-ref|/S = %.2e", what, worst);
    cr_expect(fails == 0, "%s: %ld elements with |fast-ref| > %.3g S (worst %.3g)", what, fails,
              matmul_tol(IC), worst);

    // Backward, both gradients accumulated into non-zero buffers.
    memcpy(din_f, din0, sizeof(float) * N * IC);
    memcpy(din_r, din0, sizeof(float) * N * IC);
    memcpy(dw_f, dw0, sizeof(float) * OC * IC);
    memcpy(dw_r, dw0, sizeof(float) * OC * IC);
    matmul_backward(din_f, dw_f, dout, in, w, N, IC, OC);
    matmul_backward_ref(din_r, dw_r, dout, in, w, N, IC, OC);
    worst = 0.0;
    fails = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < IC; i++) {
            double S = fabs(din0[(long)n * IC + i]);
            for (int o = 0; o < OC; o++)
                S += fabs((double)dout[(long)n * OC + o] * w[(long)o * IC + i]);
            double e = fabs((double)din_f[(long)n * IC + i] - din_r[(long)n * IC + i]) / S;
            if (!(e <= matmul_tol(OC + 1)) && fails++ < 4)
                cr_expect(
                    0,
                    "matmul_backward N=%d IC=%d OC=%d din[%d,%d]: fast %.9g ref %.9g (err/S %.3g)",
                    N, IC, OC, n, i, din_f[(long)n * IC + i], din_r[(long)n * IC + i], e);
            if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
        }
    for (int o = 0; o < OC; o++)
        for (int i = 0; i < IC; i++) {
            double S = fabs(dw0[(long)o * IC + i]);
            for (int n = 0; n < N; n++)
                S += fabs((double)dout[(long)n * OC + o] * in[(long)n * IC + i]);
            double e = fabs((double)dw_f[(long)o * IC + i] - dw_r[(long)o * IC + i]) / S;
            if (!(e <= matmul_tol(N + 1)) && fails++ < 4)
                cr_expect(
                    0,
                    "matmul_backward N=%d IC=%d OC=%d dw[%d,%d]: fast %.9g ref %.9g (err/S %.3g)",
                    N, IC, OC, o, i, dw_f[(long)o * IC + i], dw_r[(long)o * IC + i], e);
            if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
        }
    snprintf(what, sizeof what, "matmul_backward vs ref N=%d IC=%d OC=%d", N, IC, OC);
    cr_log_info("%-58s max |fast-ref|/S = %.2e", what, worst);
    cr_expect(fails == 0, "%s: %ld elements with |fast-ref| > max(1e-5, (n+2)u) S (worst %.3g)",
              what, fails, worst);

    // NULL for one of the two gradients computes the other one alone, bit for bit the same.
    float *din_only = falloc((long)N * IC), *dw_only = falloc((long)OC * IC);
    memcpy(din_only, din0, sizeof(float) * N * IC);
    memcpy(dw_only, dw0, sizeof(float) * OC * IC);
    matmul_backward(din_only, NULL, dout, in, w, N, IC, OC);
    matmul_backward(NULL, dw_only, dout, in, w, N, IC, OC);
    cr_expect(!memcmp(din_only, din_f, sizeof(float) * N * IC),
              "matmul_backward N=%d IC=%d OC=%d: din with dw=NULL differs from din with dw", N, IC,
              OC);
    cr_expect(!memcmp(dw_only, dw_f, sizeof(float) * OC * IC),
              "matmul_backward N=%d IC=%d OC=%d: dw with din=NULL differs from dw with din", N, IC,
              OC);
    memcpy(din_only, din0, sizeof(float) * N * IC);
    memcpy(dw_only, dw0, sizeof(float) * OC * IC);
    matmul_backward_ref(din_only, NULL, dout, in, w, N, IC, OC);
    matmul_backward_ref(NULL, dw_only, dout, in, w, N, IC, OC);
    cr_expect(!memcmp(din_only, din_r, sizeof(float) * N * IC) &&
                  !memcmp(dw_only, dw_r, sizeof(float) * OC * IC),
              "matmul_backward_ref N=%d IC=%d OC=%d: a NULL gradient changes the other", N, IC, OC);
    free(din_only);
    free(dw_only);
    free(in), free(w), free(dout), free(out_f), free(out_r), free(din0), free(dw0);
    free(din_f), free(din_r), free(dw_f), free(dw_r);
}

Test(matmul, fast_matches_reference) {
    check_matmul_case(7, 5, 3, 1);
    check_matmul_case(1, 1, 1, 2);
    check_matmul_case(67, 96, 130, 3); // several column blocks of dw
    check_matmul_case(128, 64, 31, 4);
    check_matmul_case(300, 40, 70, 5); // several row blocks, the last one partial
}

// matmul on 1 and 2 threads: the same bits (the row blocks have fixed sizes).
Test(matmul, same_bits_on_1_and_2_threads) {
    enum { N = 300, IC = 40, OC = 70 };
    TestRng r;
    test_rng_seed(&r, 6);
    float *in = falloc(N * IC), *w = falloc(OC * IC), *dout = falloc(N * OC);
    float *out[2], *din[2], *dw[2];
    fill_uniform(in, N * IC, -1.f, 1.f, &r);
    fill_uniform(w, OC * IC, -1.f, 1.f, &r);
    fill_uniform(dout, N * OC, -1.f, 1.f, &r);
    for (int t = 0; t < 2; t++) {
        threads_init(t + 1);
        out[t] = falloc(N * OC), din[t] = falloc(N * IC), dw[t] = falloc(OC * IC);
        matmul_forward(out[t], in, w, N, IC, OC);
        matmul_backward(din[t], dw[t], dout, in, w, N, IC, OC);
    }
    threads_init(1);
    cr_expect(!memcmp(out[0], out[1], sizeof(float) * N * OC),
              "matmul_forward N=%d IC=%d OC=%d: 1 and 2 threads differ", N, IC, OC);
    cr_expect(!memcmp(din[0], din[1], sizeof(float) * N * IC),
              "matmul_backward din N=%d IC=%d OC=%d: 1 and 2 threads differ", N, IC, OC);
    cr_expect(!memcmp(dw[0], dw[1], sizeof(float) * OC * IC),
              "matmul_backward dw N=%d IC=%d OC=%d: 1 and 2 threads differ", N, IC, OC);
    for (int t = 0; t < 2; t++) free(out[t]), free(din[t]), free(dw[t]);
    free(in), free(w), free(dout);
}

// The reference backward is the adjoint of the reference forward: FD of L = sum(R * in W^T).
typedef struct {
    float *in, *w, *out, *R;
    int N, IC, OC;
} MatmulCtx;
static double matmul_loss(void *p) {
    MatmulCtx *c = p;
    matmul_forward_ref(c->out, c->in, c->w, c->N, c->IC, c->OC);
    return dot_fd(c->R, c->out, (long)c->N * c->OC);
}

Test(matmul, backward_is_gradient_of_forward) {
    int N = 7, IC = 5, OC = 3;
    TestRng r;
    test_rng_seed(&r, 11);
    MatmulCtx c = {falloc(N * IC), falloc(OC * IC), falloc(N * OC), falloc(N * OC), N, IC, OC};
    fill_uniform(c.in, N * IC, -1.f, 1.f, &r);
    fill_uniform(c.w, OC * IC, -1.f, 1.f, &r);
    fill_uniform(c.R, N * OC, -1.f, 1.f, &r);
    float *din = falloc(N * IC), *dw = falloc(OC * IC);
    matmul_backward_ref(din, dw, c.R, c.in, c.w, N, IC, OC);
    // Linear: no truncation error. Noise: an element of `in` reaches OC outputs, one of `w`
    // reaches N; the reference rounds each once (<= u |out|), so the worst case is
    // 2 k u max|R out| / (2h) with k = max(N, OC) = 7: 2 * 7 * u * max|out| / 0.02, computed
    // below from the data (~1e-4). rtol 1e-4 for the double sums.
    matmul_forward_ref(c.out, c.in, c.w, N, IC, OC);
    double max_out = 0.0;
    for (int i = 0; i < N * OC; i++) max_out = fmax(max_out, fabs(c.out[i]));
    ErrStats st = err_stats(1e-4, 2.0 * (N > OC ? N : OC) * U32 * max_out / 2e-2);
    for (int i = 0; i < N * IC; i++) {
        double num = central_diff(matmul_loss, &c, &c.in[i], 1e-2f);
        CHECK_PAIR(&st, din[i], num, "matmul din[%d]: analytic %.8g numeric %.8g", i, din[i], num);
    }
    for (int i = 0; i < OC * IC; i++) {
        double num = central_diff(matmul_loss, &c, &c.w[i], 1e-2f);
        CHECK_PAIR(&st, dw[i], num, "matmul dw[%d]: analytic %.8g numeric %.8g", i, dw[i], num);
    }
    finish(&st, "matmul_backward_ref vs FD (N=7 IC=5 OC=3)");
    free(c.in), free(c.w), free(c.out), free(c.R), free(din), free(dw);
}

// ---------------------------------------------------------------------------------------------
// rmsnorm

typedef struct {
    float *x, *gain, *out, *rstd, *R;
    int N, C;
    float eps;
} NormCtx;
static double norm_loss(void *p) {
    NormCtx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->gain, c->N, c->C, c->eps);
    return dot_fd(c->R, c->out, (long)c->N * c->C);
}

static void check_rmsnorm(int with_gain) {
    enum { N = 5, C = 8 };
    // Row scales: ordinary rows, a large one and one (1e-2) where eps = 1e-5 is a quarter of
    // mean(x^2), so a wrong eps term in the backward would show.
    const float row_scale[N] = {1.0f, 0.5f, 3.0f, 1.5f, 1e-2f};
    const float eps = 1e-5f;
    const char *tag = with_gain ? "with gain" : "no gain";
    TestRng r;
    test_rng_seed(&r, with_gain ? 21 : 22);
    float x[N * C], gain[C], out[N * C], rstd[N], R[N * C];
    float din[N * C], din0[N * C], dgain[C], dgain0[C];
    for (int n = 0; n < N; n++) fill_uniform(x + n * C, C, -row_scale[n], row_scale[n], &r);
    fill_uniform(gain, C, 0.5f, 1.5f, &r);
    fill_uniform(R, N * C, -1.f, 1.f, &r);
    fill_uniform(din0, N * C, -1.f, 1.f, &r);
    fill_uniform(dgain0, C, -1.f, 1.f, &r);
    const float *g = with_gain ? gain : NULL;

    // Forward against the definition in double: three fp32 roundings (rstd, x*r, *g), so
    // |out - ref| <= ~3u |ref| = 1.8e-7 |ref|; rstd one rounding. Tolerance 1e-6 relative.
    rmsnorm_forward(out, rstd, x, g, N, C, eps);
    ErrStats fw = err_stats(1e-6, 0.0);
    for (int n = 0; n < N; n++) {
        double ss = 0.0;
        for (int i = 0; i < C; i++) ss += (double)x[n * C + i] * x[n * C + i];
        double rr = 1.0 / sqrt(ss / C + eps);
        CHECK_PAIR(&fw, rstd[n], rr, "rmsnorm %s rstd[%d]: %.9g vs %.9g", tag, n, rstd[n], rr);
        for (int i = 0; i < C; i++) {
            double ref = x[n * C + i] * rr * (g ? g[i] : 1.0);
            CHECK_PAIR(&fw, out[n * C + i], ref, "rmsnorm %s out[%d,%d]: %.9g vs %.9g", tag, n, i,
                       out[n * C + i], ref);
        }
    }
    char what[128];
    snprintf(what, sizeof what, "rmsnorm_forward (%s) vs double definition", tag);
    finish(&fw, what);

    // Backward, accumulated into non-zero buffers (the += contract); the initial values are
    // subtracted again (one extra rounding of u |din0| <= 6e-8, far below atol).
    memcpy(din, din0, sizeof din);
    memcpy(dgain, dgain0, sizeof dgain);
    rmsnorm_backward(din, with_gain ? dgain : NULL, R, x, g, rstd, N, C);
    NormCtx c = {x, with_gain ? gain : NULL, out, rstd, R, N, C, eps};
    // h = 1e-2 times the row's scale: the curvature scale of a row is its rms, so the
    // truncation error is ~ (h/rms)^2/6 |f'| <~ 1e-4 relative; rtol 2e-3 leaves margin for the
    // third-derivative constant. Noise: an input reaches the C = 8 outputs of its row, each
    // off by <= 3u |out| per evaluation, |R out| <~ 1.5 (a normalised row times gain <= 1.5):
    // random walk sqrt(16) * 3u * 1.5 / (2h) = 5.4e-5 / scale, worst case 2.1e-4 / scale.
    // atol 2e-4 / scale, the worst case (measured: worst err/bound over all rows ~0.04).
    ErrStats bw = err_stats(2e-3, 2e-4);
    for (int n = 0; n < N; n++) {
        ErrStats row = err_stats(2e-3, 2e-4 / row_scale[n]);
        for (int i = 0; i < C; i++) {
            double num = central_diff(norm_loss, &c, &x[n * C + i], 1e-2f * row_scale[n]);
            double an = (double)din[n * C + i] - din0[n * C + i];
            CHECK_PAIR(&row, an, num,
                       "rmsnorm %s dx[%d,%d] (row scale %g): analytic %.8g numeric %.8g", tag, n, i,
                       row_scale[n], an, num);
        }
        bw.n += row.n, bw.n_fail += row.n_fail;
        bw.max_abs = fmax(bw.max_abs, row.max_abs), bw.max_rel = fmax(bw.max_rel, row.max_rel);
        bw.max_ratio = fmax(bw.max_ratio, row.max_ratio),
        bw.max_scale = fmax(bw.max_scale, row.max_scale);
    }
    snprintf(what, sizeof what, "rmsnorm_backward (%s) dx vs FD", tag);
    finish(&bw, what);
    if (with_gain) {
        // dgain is linear in the gain: no truncation error. A gain reaches the N = 5 outputs of
        // its column: worst case 2 * 5 * 3u * 1.5 / (2h) = 1.3e-4 at h = 1e-2; atol 2e-4.
        ErrStats gs = err_stats(1e-3, 2e-4);
        for (int i = 0; i < C; i++) {
            double num = central_diff(norm_loss, &c, &gain[i], 1e-2f);
            double an = (double)dgain[i] - dgain0[i];
            CHECK_PAIR(&gs, an, num, "rmsnorm dgain[%d]: analytic %.8g numeric %.8g", i, an, num);
        }
        finish(&gs, "rmsnorm_backward dgain vs FD");
    }
}

Test(rmsnorm, forward_and_backward_with_gain) {
    check_rmsnorm(1);
}
Test(rmsnorm, forward_and_backward_without_gain) {
    check_rmsnorm(0);
}

// ---------------------------------------------------------------------------------------------
// rope

typedef struct {
    float *x, *work, *R, *cos_t, *sin_t;
    int B, T, C, d;
} RopeCtx;
static double rope_loss(void *p) {
    RopeCtx *c = p;
    long n = (long)c->B * c->T * c->C;
    memcpy(c->work, c->x, sizeof(float) * n);
    rope_forward(c->work, c->cos_t, c->sin_t, c->B, c->T, c->C, c->d);
    return dot_fd(c->R, c->work, n);
}

static void check_rope(int d) {
    enum { B = 2, T = 7, C = 16 };
    const float theta = 10000.0f;
    long n = (long)B * T * C;
    TestRng r;
    test_rng_seed(&r, 31 + d);
    float *x = falloc(n), *y = falloc(n), *fx = falloc(n), *by = falloc(n), *R = falloc(n);
    float *cos_t = falloc(T * d / 2), *sin_t = falloc(T * d / 2);
    fill_uniform(x, n, -1.f, 1.f, &r);
    fill_uniform(y, n, -1.f, 1.f, &r);
    fill_uniform(R, n, -1.f, 1.f, &r);
    rope_tables(cos_t, sin_t, T, d, theta);
    memcpy(fx, x, sizeof(float) * n);
    rope_forward(fx, cos_t, sin_t, B, T, C, d);
    char what[128];

    // Forward against the spec's interleaved (GPT-J) pairing, angles in double:
    // out[2i] = x[2i] cos - x[2i+1] sin, out[2i+1] = x[2i+1] cos + x[2i] sin, angle t
    // theta^(-2i/d). fp32 error: cos/sin tables rounded (u each, angle error from float theta ~ t
    // u), two products and a sum: <= ~5u (|x0| + |x1|) = 3e-7 (|x0|+|x1|). Tolerance 1e-6
    // (|x0|+|x1|).
    long fails = 0;
    double worst = 0.0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c0 = 0; c0 < C; c0 += d)
                for (int i = 0; i < d / 2; i++) {
                    long ix = ((long)b * T + t) * C + c0 + 2 * i;
                    double a = t * pow((double)theta, -2.0 * i / d);
                    double r0 = x[ix] * cos(a) - x[ix + 1] * sin(a);
                    double r1 = x[ix + 1] * cos(a) + x[ix] * sin(a);
                    double S = fabs(x[ix]) + fabs(x[ix + 1]);
                    double e = fmax(fabs(fx[ix] - r0), fabs(fx[ix + 1] - r1)) / S;
                    if (!(e <= 1e-6) && fails++ < 4)
                        cr_expect(0,
                                  "rope d=%d b=%d t=%d chunk %d pair %d: (%.8g, %.8g) vs spec "
                                  "(%.8g, %.8g)",
                                  d, b, t, c0 / d, i, fx[ix], fx[ix + 1], r0, r1);
                    if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
                }
    snprintf(what, sizeof what, "rope_forward d=%d vs spec pairing", d);
    cr_log_info("%-58s max err/(|x0|+|x1|) = %.2e", what, worst);
    cr_expect(fails == 0, "%s: %ld pairs off by more than 1e-6 (|x0|+|x1|), worst %.3g", what,
              fails, worst);

    // Position 0 is the identity, bit for bit (cos 0 = 1, sin 0 = 0).
    for (int b = 0; b < B; b++)
        cr_expect(!memcmp(fx + (long)b * T * C, x + (long)b * T * C, sizeof(float) * C),
                  "rope d=%d: position 0 of batch %d is not left unchanged", d, b);

    // Backward is the transpose: <rope(x), y> = <x, rope_backward(y)>. Each side carries
    // <= ~5u per pair term, so |lhs - rhs| <= 10u S with S = sum over pairs of
    // (|x0|+|x1|)(|y0|+|y1|); tolerance 1e-6 S (1.7x that bound).
    memcpy(by, y, sizeof(float) * n);
    rope_backward(by, cos_t, sin_t, B, T, C, d);
    double lhs = dot_fd(fx, y, n), rhs = dot_fd(x, by, n), S = 0.0;
    for (long i = 0; i < n; i += 2)
        S += (fabs(x[i]) + fabs(x[i + 1])) * (fabs(y[i]) + fabs(y[i + 1]));
    cr_log_info(
        "rope d=%d adjoint: <rope(x),y> = %.9g, <x,rope_backward(y)> = %.9g, |diff|/S = %.2e", d,
        lhs, rhs, fabs(lhs - rhs) / S);
    cr_expect(fabs(lhs - rhs) <= 1e-6 * S,
              "rope d=%d: <rope(x), y> = %.9g but <x, rope_backward(y)> = %.9g (tolerance %.3g)", d,
              lhs, rhs, 1e-6 * S);

    // And the inverse (a rotation): rope_backward(rope_forward(x)) = x within ~10u per pair.
    float *back = falloc(n);
    memcpy(back, fx, sizeof(float) * n);
    rope_backward(back, cos_t, sin_t, B, T, C, d);
    double inv_err = 0.0;
    for (long i = 0; i < n; i += 2)
        inv_err = fmax(inv_err, fmax(fabs(back[i] - x[i]), fabs(back[i + 1] - x[i + 1])) /
                                    (fabs(x[i]) + fabs(x[i + 1])));
    cr_expect(inv_err <= 1e-6, "rope d=%d: rope_backward(rope_forward(x)) != x (max err %.3g)", d,
              inv_err);

    // FD: rope is linear, so no truncation error. One perturbed input reaches the 2 outputs of
    // its pair, each off by <= 2u (|x0| + |x1|) <= 4u per evaluation (|x| <= 1): worst case
    // 2 * 2 * 4u / (2h) = 4.8e-5 at h = 0.01. atol 5e-5, rtol 1e-4.
    memcpy(by, R, sizeof(float) * n);
    rope_backward(by, cos_t, sin_t, B, T, C, d);
    RopeCtx c = {x, fx, R, cos_t, sin_t, B, T, C, d};
    ErrStats st = err_stats(1e-4, 5e-5);
    for (long i = 0; i < n; i++) {
        double num = central_diff(rope_loss, &c, &x[i], 1e-2f);
        CHECK_PAIR(&st, by[i], num, "rope d=%d dx[%ld]: analytic %.8g numeric %.8g", d, i, by[i],
                   num);
    }
    snprintf(what, sizeof what, "rope_backward d=%d vs FD", d);
    finish(&st, what);
    free(x), free(y), free(fx), free(by), free(R), free(cos_t), free(sin_t), free(back);
}

Test(rope, forward_adjoint_and_fd) {
    check_rope(4);
    check_rope(8);
}

// ---------------------------------------------------------------------------------------------
// swiglu

typedef struct {
    float *gate, *up, *h, *R;
    long N;
} SwiCtx;
static double swiglu_loss(void *p) {
    SwiCtx *c = p;
    swiglu_forward(c->h, c->gate, c->up, c->N);
    return dot_fd(c->R, c->h, c->N);
}

Test(swiglu, forward_and_backward) {
    enum { N = 37 };
    TestRng r;
    test_rng_seed(&r, 41);
    float gate[N], up[N], h[N], R[N], dgate[N], dup[N], dgate0[N], dup0[N];
    fill_uniform(gate, N, -4.f, 4.f, &r);
    fill_uniform(up, N, -2.f, 2.f, &r);
    fill_uniform(R, N, -1.f, 1.f, &r);
    fill_uniform(dgate0, N, -1.f, 1.f, &r);
    fill_uniform(dup0, N, -1.f, 1.f, &r);
    swiglu_forward(h, gate, up, N);
    // Forward: expf (<= 2 ulp), 1 + e, the division and two products: <= ~6u = 3.6e-7
    // relative. Tolerance 1e-6 relative.
    ErrStats fw = err_stats(1e-6, 0.0);
    for (int i = 0; i < N; i++) {
        double ref = gate[i] / (1.0 + exp(-(double)gate[i])) * up[i];
        CHECK_PAIR(&fw, h[i], ref, "swiglu h[%d] (gate %.6g up %.6g): %.9g vs %.9g", i, gate[i],
                   up[i], h[i], ref);
    }
    finish(&fw, "swiglu_forward vs double definition");

    memcpy(dgate, dgate0, sizeof dgate);
    memcpy(dup, dup0, sizeof dup);
    swiglu_backward(dgate, dup, R, gate, up, N);
    SwiCtx c = {gate, up, h, R, N};
    // Elementwise, h = 1e-2: truncation h^2/6 |silu'''(g) up| <= 1.7e-5 * 0.5 * 2 = 1.7e-5;
    // noise: one output |h| <= 8 off by <= 6u per evaluation: 2 * 6u * 8 / (2h) = 2.9e-4 worst
    // case (typically 10x less). rtol 1e-3, atol 3e-4.
    ErrStats st = err_stats(1e-3, 3e-4);
    for (int i = 0; i < N; i++) {
        double num = central_diff(swiglu_loss, &c, &gate[i], 1e-2f);
        double an = (double)dgate[i] - dgate0[i];
        CHECK_PAIR(&st, an, num, "swiglu dgate[%d] (gate %.6g up %.6g): analytic %.8g numeric %.8g",
                   i, gate[i], up[i], an, num);
        num = central_diff(swiglu_loss, &c, &up[i], 1e-2f);
        an = (double)dup[i] - dup0[i];
        CHECK_PAIR(&st, an, num, "swiglu dup[%d] (gate %.6g up %.6g): analytic %.8g numeric %.8g",
                   i, gate[i], up[i], an, num);
    }
    finish(&st, "swiglu_backward vs FD");
}

// ---------------------------------------------------------------------------------------------
// embedding

typedef struct {
    float *wte, *out, *R;
    const int *tokens;
    int N, C;
} EmbCtx;
static double emb_loss(void *p) {
    EmbCtx *c = p;
    embedding_forward(c->out, c->tokens, c->wte, c->N, c->C);
    return dot_fd(c->R, c->out, (long)c->N * c->C);
}

Test(embedding, forward_and_backward) {
    enum { N = 9, C = 6, V = 7 };
    const int tokens[N] = {3, 0, 3, 5, 1, 3, 0, 6, 5}; // repeats; token 2 and 4 unused
    TestRng r;
    test_rng_seed(&r, 51);
    float wte[V * C], out[N * C], R[N * C], dwte[V * C], dwte0[V * C];
    fill_uniform(wte, V * C, -1.f, 1.f, &r);
    fill_uniform(R, N * C, -1.f, 1.f, &r);
    fill_uniform(dwte0, V * C, -1.f, 1.f, &r);
    embedding_forward(out, tokens, wte, N, C);
    for (int n = 0; n < N; n++)
        cr_expect(!memcmp(out + n * C, wte + tokens[n] * C, sizeof(float) * C),
                  "embedding_forward row %d is not row %d of wte", n, tokens[n]);
    memcpy(dwte, dwte0, sizeof dwte);
    embedding_backward(dwte, R, tokens, N, C);
    for (int i = 0; i < C; i++) {
        cr_expect(dwte[2 * C + i] == dwte0[2 * C + i] && dwte[4 * C + i] == dwte0[4 * C + i],
                  "embedding_backward changed the gradient of an unused token (column %d)", i);
    }
    // Linear and a copy: FD exact up to the double sum; up to 3 equal rows summed in fp32 by
    // the kernel (<= 3u |sum| + u |dwte0|). rtol 1e-5, atol 1e-6.
    EmbCtx c = {wte, out, R, tokens, N, C};
    ErrStats st = err_stats(1e-5, 1e-6);
    for (int i = 0; i < V * C; i++) {
        double num = central_diff(emb_loss, &c, &wte[i], 1e-1f);
        double an = (double)dwte[i] - dwte0[i];
        CHECK_PAIR(&st, an, num, "embedding dwte[token %d, %d]: analytic %.8g numeric %.8g", i / C,
                   i % C, an, num);
    }
    finish(&st, "embedding_backward vs FD (repeated tokens)");
}

// ---------------------------------------------------------------------------------------------
// cross-entropy

typedef struct {
    const float *logits;
    float *work, *nll;
    const int *targets;
    int N, V;
    float scale;
} CeCtx;
static double ce_loss(void *p) {
    CeCtx *c = p;
    memcpy(c->work, c->logits, sizeof(float) * c->N * c->V);
    return c->scale * cross_entropy_forward(c->work, c->nll, c->targets, c->N, c->V);
}

Test(cross_entropy, forward_and_backward) {
    enum { N = 6, V = 11 };
    const int targets[N] = {0, 10, 3, 3, 7, 5};
    const float scale = 0.37f; // not 1 and not 1/N, so a misapplied scale shows
    TestRng r;
    test_rng_seed(&r, 61);
    float logits[N * V], probs[N * V], nll[N], dlog[N * V];
    fill_uniform(logits, N * V, -3.f, 3.f, &r);
    // Row 4 sits at +100: expf overflows (> 88.7) unless the row maximum is subtracted.
    for (int v = 0; v < V; v++) logits[4 * V + v] += 100.0f;
    // Row 5 is peaked: its target has by far the largest logit.
    logits[5 * V + 5] = 12.0f;
    memcpy(probs, logits, sizeof probs);
    double total = cross_entropy_forward(probs, nll, targets, N, V);

    // Direct computation in double: nll_n = logsumexp(x_n) - x_n[target]. The kernel rounds
    // x - max (u |x - max|), expf (<= 2u relative each), stores nll in fp32 (u |nll|):
    // per row |err| <= ~4u (1 + |nll| + max|x - max|) ~ 3e-6; tolerance 1e-6 times that sum
    // per row, summed over rows for the total.
    double ref_total = 0.0, tol_total = 0.0;
    long pfails = 0;
    double pworst = 0.0;
    for (int n = 0; n < N; n++) {
        const float *x = logits + n * V;
        double mx = -INFINITY, s = 0.0, spread = 0.0;
        for (int v = 0; v < V; v++) mx = fmax(mx, x[v]);
        for (int v = 0; v < V; v++) s += exp((double)x[v] - mx), spread = fmax(spread, mx - x[v]);
        double ref = log(s) + mx - x[targets[n]];
        double tol = 1e-6 * (1.0 + fabs(ref) + spread);
        ref_total += ref;
        tol_total += tol;
        cr_expect(fabs(nll[n] - ref) <= tol,
                  "cross_entropy row %d (target %d): nll %.9g, direct %.9g", n, targets[n], nll[n],
                  ref);
        // Probabilities: x - max rounded (u |x - max| on the exponent, so that much relative on
        // p), expf (2u), 1/sum (u, plus the exponent errors of the other terms), product (u):
        // relative error <= (2 spread + 6) u. Tolerance twice that.
        double prtol = 2.0 * (2.0 * spread + 6.0) * U32;
        for (int v = 0; v < V; v++) {
            double p = exp((double)x[v] - mx) / s;
            double e = fabs(probs[n * V + v] - p) / p;
            if (!(e <= prtol) && pfails++ < 4)
                cr_expect(0, "cross_entropy probs[%d,%d]: %.9g vs %.9g (rel err %.3g, tol %.3g)", n,
                          v, probs[n * V + v], p, e, prtol);
            pworst = fmax(pworst, isnan(e) ? INFINITY : e / prtol);
        }
    }
    cr_log_info("cross_entropy_forward probabilities vs double softmax: worst rel err/tol %.3f",
                pworst);
    cr_expect(pfails == 0, "cross_entropy_forward: %ld probabilities off the double softmax",
              pfails);
    cr_log_info("cross_entropy_forward total %.12g, direct %.12g, |diff| %.2e (tol %.2e)", total,
                ref_total, fabs(total - ref_total), tol_total);
    cr_expect(fabs(total - ref_total) <= tol_total,
              "cross_entropy_forward returned %.12g, direct double computation %.12g (tol %.3g)",
              total, ref_total, tol_total);

    // Backward writes (not accumulates): start from NaN so an unwritten element fails.
    for (int i = 0; i < N * V; i++) dlog[i] = NAN;
    cross_entropy_backward(dlog, probs, targets, scale, N, V);
    float work[N * V], nll2[N];
    CeCtx c = {logits, work, nll2, targets, N, V, scale};
    // h = 1e-2: truncation h^2/6 |d^3 logsumexp| <= 1.7e-5 * 0.4 = 7e-6; noise: one row's fp32
    // nll (|nll| <~ 10) rounded per evaluation: 2 u 10 scale / (2h) = 2.2e-5. The step on
    // logits near 100 is what fp32 allows (counted exactly). rtol 1e-3, atol 1e-4.
    ErrStats st = err_stats(1e-3, 1e-4);
    for (int i = 0; i < N * V; i++) {
        double num = central_diff(ce_loss, &c, &logits[i], 1e-2f);
        CHECK_PAIR(&st, dlog[i], num,
                   "cross_entropy dlogits[%d,%d] (target %d): analytic %.8g numeric %.8g", i / V,
                   i % V, targets[i / V], dlog[i], num);
    }
    finish(&st, "cross_entropy_backward vs FD (scale 0.37)");
}

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
    s->q = falloc(s->n_act), s->k = falloc(s->n_act), s->v = falloc(s->n_act);
    s->R = falloc(s->n_act), s->out = falloc(s->n_act), s->o1 = falloc(s->n_act);
    s->o2 = falloc(s->n_act), s->maps = falloc(s->n_maps);
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

// Independent reference, straight from attention-spec.md, in double. Head layout (section 2):
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
    double *G = dalloc(TT);
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
    // The dims the kernel gets from the config (spec section 2 with d_model 16, d = 4).
    cr_expect(a->T == AT && a->qk_dim == 4 && a->ld == 16, "%s: attn_dims T/qk_dim/ld wrong",
              c->name);
    cr_expect(a->n_heads == (two ? 2 : 4) && a->n_maps == (two ? 2 : 1) &&
                  a->v_dim == (two ? 8 : 4),
              "%s: attn_dims gives %d heads, %d maps, v_dim %d", c->name, a->n_heads, a->n_maps,
              a->v_dim);
    cr_expect(a->use_global == c->expect_global, "%s: use_global = %d, expected %d", c->name,
              a->use_global, c->expect_global);

    long TT = (long)AT * AT, nfin = (long)AB * a->n_heads * TT;
    SpecOut so = {dalloc(s.n_act),
                  dalloc(s.n_act),
                  dalloc(s.n_maps),
                  dalloc(nfin),
                  dalloc(nfin),
                  dalloc(s.n_act),
                  dalloc(s.n_act),
                  0,
                  0,
                  0};
    spec_attention(&so, c, &s.cfg, s.q, s.k, s.v, s.lambda, s.gamma);
    attention_forward(s.out, s.o1, s.o2, s.maps, s.q, s.k, s.v, s.lambda, s.gamma, AB, a);
    float *ref = falloc(s.n_act);
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
    // The library's reference (double loops, one rounding to fp32) against the spec: <= u|out|.
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

    // The materialised final map: against the spec's F (tolerance 1e-5 of the term magnitudes,
    // as for the maps; exactly 0 where all terms are 0), and F V against the forward's out.
    float *A = falloc(TT);
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
    float *A = falloc(TT);
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
    float *dq = falloc(s.n_act), *dk = falloc(s.n_act), *dv = falloc(s.n_act);
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
        finish(&st, what);
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
    finish(&sc, what);
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
