// Unit tests of the dense layers (core/layers.h): matmul, RMSNorm, rotary embedding, SwiGLU,
// embedding and cross-entropy. Every backward against central finite differences of a scalar
// test loss, the fast kernels against their reference kernels. The attention kernels have their
// own files: test_attention.c (materialised) and test_attention_stream.c (streaming).
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
    float *in = test_falloc((long)N * IC), *w = test_falloc((long)OC * IC),
          *dout = test_falloc((long)N * OC);
    float *out_f = test_falloc((long)N * OC), *out_r = test_falloc((long)N * OC);
    float *din0 = test_falloc((long)N * IC), *dw0 = test_falloc((long)OC * IC);
    float *din_f = test_falloc((long)N * IC), *din_r = test_falloc((long)N * IC);
    float *dw_f = test_falloc((long)OC * IC), *dw_r = test_falloc((long)OC * IC);
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
    float *din_only = test_falloc((long)N * IC), *dw_only = test_falloc((long)OC * IC);
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
    float *in = test_falloc(N * IC), *w = test_falloc(OC * IC), *dout = test_falloc(N * OC);
    float *out[2], *din[2], *dw[2];
    fill_uniform(in, N * IC, -1.f, 1.f, &r);
    fill_uniform(w, OC * IC, -1.f, 1.f, &r);
    fill_uniform(dout, N * OC, -1.f, 1.f, &r);
    for (int t = 0; t < 2; t++) {
        threads_init(t + 1);
        out[t] = test_falloc(N * OC), din[t] = test_falloc(N * IC), dw[t] = test_falloc(OC * IC);
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

// The shared-input products (q, k, v) and the written din: the same bits as the separate calls
// (matmul_backward_write for the first weight, matmul_backward for the others), on 1 and 2
// threads; matmul_backward_write ignores what din held.
Test(matmul, shared_and_write_variants_match_the_separate_calls) {
    enum { N = 300, IC = 40, OC = 150, NW = 3 };
    TestRng r;
    test_rng_seed(&r, 16);
    float *in = test_falloc(N * IC), *w[NW], *dout[NW];
    fill_uniform(in, N * IC, -1.f, 1.f, &r);
    for (int j = 0; j < NW; j++) {
        w[j] = test_falloc(OC * IC), dout[j] = test_falloc(N * OC);
        fill_uniform(w[j], OC * IC, -1.f, 1.f, &r);
        fill_uniform(dout[j], N * OC, -1.f, 1.f, &r);
    }
    for (int t = 1; t <= 2; t++) {
        threads_init(t);
        float *out_sep[NW], *out_sh[NW], *dw_sep[NW], *dw_sh[NW];
        float *din_sep = test_falloc(N * IC), *din_sh = test_falloc(N * IC);
        fill_uniform(din_sep, N * IC, -5.f, 5.f, &r); // garbage: the first product writes
        fill_uniform(din_sh, N * IC, -5.f, 5.f, &r);
        for (int j = 0; j < NW; j++) {
            out_sep[j] = test_falloc(N * OC), out_sh[j] = test_falloc(N * OC);
            dw_sep[j] = test_falloc(OC * IC), dw_sh[j] = test_falloc(OC * IC);
            fill_uniform(dw_sep[j], OC * IC, -1.f, 1.f, &r);
            memcpy(dw_sh[j], dw_sep[j], sizeof(float) * OC * IC);
            matmul_forward(out_sep[j], in, w[j], N, IC, OC);
            if (j == 0)
                matmul_backward_write(din_sep, dw_sep[j], dout[j], in, w[j], N, IC, OC);
            else
                matmul_backward(din_sep, dw_sep[j], dout[j], in, w[j], N, IC, OC);
        }
        matmul_forward_shared(out_sh, in, (const float *const *)w, NW, N, IC, OC);
        matmul_backward_shared(din_sh, dw_sh, (const float *const *)dout, in,
                               (const float *const *)w, NW, N, IC, OC);
        for (int j = 0; j < NW; j++) {
            cr_expect(!memcmp(out_sep[j], out_sh[j], sizeof(float) * N * OC),
                      "%d thread(s): matmul_forward_shared output %d differs", t, j);
            cr_expect(!memcmp(dw_sep[j], dw_sh[j], sizeof(float) * OC * IC),
                      "%d thread(s): matmul_backward_shared dw %d differs", t, j);
            free(out_sep[j]), free(out_sh[j]), free(dw_sep[j]), free(dw_sh[j]);
        }
        cr_expect(!memcmp(din_sep, din_sh, sizeof(float) * N * IC),
                  "%d thread(s): matmul_backward_shared din differs", t);
        // and the written din is the accumulated one into zeros
        float *din_acc = test_falloc(N * IC), *din_wr = test_falloc(N * IC);
        memset(din_acc, 0, sizeof(float) * N * IC);
        fill_uniform(din_wr, N * IC, -5.f, 5.f, &r);
        matmul_backward(din_acc, NULL, dout[0], in, w[0], N, IC, OC);
        matmul_backward_write(din_wr, NULL, dout[0], in, w[0], N, IC, OC);
        cr_expect(!memcmp(din_acc, din_wr, sizeof(float) * N * IC),
                  "%d thread(s): matmul_backward_write differs from accumulating into zeros", t);
        free(din_sep), free(din_sh), free(din_acc), free(din_wr);
    }
    threads_init(1);
    for (int j = 0; j < NW; j++) free(w[j]), free(dout[j]);
    free(in);
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
    MatmulCtx c = {test_falloc(N * IC),
                   test_falloc(OC * IC),
                   test_falloc(N * OC),
                   test_falloc(N * OC),
                   N,
                   IC,
                   OC};
    fill_uniform(c.in, N * IC, -1.f, 1.f, &r);
    fill_uniform(c.w, OC * IC, -1.f, 1.f, &r);
    fill_uniform(c.R, N * OC, -1.f, 1.f, &r);
    float *din = test_falloc(N * IC), *dw = test_falloc(OC * IC);
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
    err_check_finish(&st, "matmul_backward_ref vs FD (N=7 IC=5 OC=3)");
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
    err_check_finish(&fw, what);

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
    err_check_finish(&bw, what);
    if (with_gain) {
        // dgain is linear in the gain: no truncation error. A gain reaches the N = 5 outputs of
        // its column: worst case 2 * 5 * 3u * 1.5 / (2h) = 1.3e-4 at h = 1e-2; atol 2e-4.
        ErrStats gs = err_stats(1e-3, 2e-4);
        for (int i = 0; i < C; i++) {
            double num = central_diff(norm_loss, &c, &gain[i], 1e-2f);
            double an = (double)dgain[i] - dgain0[i];
            CHECK_PAIR(&gs, an, num, "rmsnorm dgain[%d]: analytic %.8g numeric %.8g", i, an, num);
        }
        err_check_finish(&gs, "rmsnorm_backward dgain vs FD");
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
    float *x = test_falloc(n), *y = test_falloc(n), *fx = test_falloc(n), *by = test_falloc(n),
          *R = test_falloc(n);
    float *cos_t = test_falloc(T * d / 2), *sin_t = test_falloc(T * d / 2);
    fill_uniform(x, n, -1.f, 1.f, &r);
    fill_uniform(y, n, -1.f, 1.f, &r);
    fill_uniform(R, n, -1.f, 1.f, &r);
    rope_tables(cos_t, sin_t, T, d, theta);
    memcpy(fx, x, sizeof(float) * n);
    rope_forward(fx, cos_t, sin_t, B, T, C, d);
    char what[128];

    // Forward against the interleaved (GPT-J) pairing of docs/attention.md §1, angles in double:
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
    float *back = test_falloc(n);
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
    err_check_finish(&st, what);
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
    swiglu_forward(c->h, c->gate, c->up, 1, (int)c->N, (int)c->N);
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
    swiglu_forward(h, gate, up, 1, N, N);
    // Forward: exp_approx (<= 2 ulp), 1 + e, the division and two products: <= ~6u = 3.6e-7
    // relative. Tolerance 1e-6 relative.
    ErrStats fw = err_stats(1e-6, 0.0);
    for (int i = 0; i < N; i++) {
        double ref = gate[i] / (1.0 + exp(-(double)gate[i])) * up[i];
        CHECK_PAIR(&fw, h[i], ref, "swiglu h[%d] (gate %.6g up %.6g): %.9g vs %.9g", i, gate[i],
                   up[i], h[i], ref);
    }
    err_check_finish(&fw, "swiglu_forward vs double definition");

    // The gradients are written, not accumulated: what was in dgate / dup before is gone.
    memcpy(dgate, dgate0, sizeof dgate);
    memcpy(dup, dup0, sizeof dup);
    swiglu_backward(dgate, dup, R, gate, up, 1, N, N);
    SwiCtx c = {gate, up, h, R, N};
    // Elementwise, h = 1e-2: truncation h^2/6 |silu'''(g) up| <= 1.7e-5 * 0.5 * 2 = 1.7e-5;
    // noise: one output |h| <= 8 off by <= 6u per evaluation: 2 * 6u * 8 / (2h) = 2.9e-4 worst
    // case (typically 10x less). rtol 1e-3, atol 3e-4.
    ErrStats st = err_stats(1e-3, 3e-4);
    for (int i = 0; i < N; i++) {
        double num = central_diff(swiglu_loss, &c, &gate[i], 1e-2f);
        double an = dgate[i];
        CHECK_PAIR(&st, an, num, "swiglu dgate[%d] (gate %.6g up %.6g): analytic %.8g numeric %.8g",
                   i, gate[i], up[i], an, num);
        num = central_diff(swiglu_loss, &c, &up[i], 1e-2f);
        an = dup[i];
        CHECK_PAIR(&st, an, num, "swiglu dup[%d] (gate %.6g up %.6g): analytic %.8g numeric %.8g",
                   i, gate[i], up[i], an, num);
    }
    err_check_finish(&st, "swiglu_backward vs FD");
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
    err_check_finish(&st, "embedding_backward vs FD (repeated tokens)");
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
    err_check_finish(&st, "cross_entropy_backward vs FD (scale 0.37)");
}

// The fused row kernels give the bits of the separate passes they replace: the residual add
// then the norm, the norm then a scaling, a scaled upstream gradient into a zeroed din, and
// SwiGLU on the two halves of one (N, 2F) product against contiguous gate / up.
Test(fused, row_kernels_match_the_separate_passes) {
    enum { N = 33, C = 40, F = 24 };
    TestRng r;
    test_rng_seed(&r, 91);
    float x[N * C], res[N * C], g[C], a[N * C], b[N * C], ra[N], rb[N], dy[N * C];
    fill_uniform(x, N * C, -2.f, 2.f, &r);
    fill_uniform(res, N * C, -2.f, 2.f, &r);
    fill_uniform(g, C, 0.5f, 1.5f, &r);
    fill_uniform(dy, N * C, -1.f, 1.f, &r);
    float sum[N * C], x2[N * C];
    for (int i = 0; i < N * C; i++) sum[i] = x[i] + res[i];
    memcpy(x2, x, sizeof x);
    rmsnorm_forward(a, ra, sum, g, N, C, 1e-5f);
    residual_rmsnorm_forward(b, rb, x2, res, g, N, C, 1e-5f);
    cr_expect(!memcmp(x2, sum, sizeof sum), "residual_rmsnorm_forward: x + res differs");
    cr_expect(!memcmp(a, b, sizeof a) && !memcmp(ra, rb, sizeof ra),
              "residual_rmsnorm_forward differs from the add then rmsnorm_forward");
    const float s = 0.8f;
    rmsnorm_forward_scaled(b, rb, x, g, s, N, C, 1e-5f);
    rmsnorm_forward(a, ra, x, g, N, C, 1e-5f);
    for (int i = 0; i < N * C; i++) a[i] *= s;
    cr_expect(!memcmp(a, b, sizeof a), "rmsnorm_forward_scaled differs from norm then scale");
    float dys[N * C], dg_a[C] = {0}, dg_b[C] = {0};
    for (int i = 0; i < N * C; i++) dys[i] = dy[i] * s, a[i] = 0.0f, b[i] = 7.0f;
    rmsnorm_backward(a, dg_a, dys, x, g, ra, N, C);
    rmsnorm_backward_write(b, dg_b, dy, s, x, g, ra, N, C);
    cr_expect(!memcmp(a, b, sizeof a) && !memcmp(dg_a, dg_b, sizeof dg_a),
              "rmsnorm_backward_write (scaled) differs from scale then rmsnorm_backward into 0");

    float gu[N * 2 * F], gate[N * F], up[N * F], h1[N * F], h2[N * F];
    fill_uniform(gu, N * 2 * F, -4.f, 4.f, &r);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < F; j++)
            gate[n * F + j] = gu[n * 2 * F + j], up[n * F + j] = gu[n * 2 * F + F + j];
    swiglu_forward(h1, gate, up, N, F, F);
    swiglu_forward(h2, gu, gu + F, N, F, 2 * F);
    cr_expect(!memcmp(h1, h2, sizeof h1), "swiglu_forward: strided halves differ from contiguous");
    float dgu[N * 2 * F], dgate[N * F], dup[N * F];
    swiglu_backward(dgate, dup, h1, gate, up, N, F, F);
    swiglu_backward(dgu, dgu + F, h1, gu, gu + F, N, F, 2 * F);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < F; j++) {
            cr_expect(dgu[n * 2 * F + j] == dgate[n * F + j], "swiglu_backward dgate (%d, %d)", n,
                      j);
            cr_expect(dgu[n * 2 * F + F + j] == dup[n * F + j], "swiglu_backward dup (%d, %d)", n,
                      j);
        }
}
