// Kernel benchmarks: each core kernel timed at a few shapes, against its reference kernel where
// core has one, in GFLOP/s. One table below (KERNELS) says, for every kernel, its fast function,
// its reference, the test file that checks it and the benchmark here that times it.
//
//   bench_kernels --list                    the table (kernel, fast, reference, test, benchmark)
//   bench_kernels [--quick] [--threads N] [KERNEL ...]     time them (default: all kernels)
//
// --quick: tiny shapes, one run each (seconds; what ctest runs under the label `bench`).
// Every benchmark with a reference also compares the fast kernel's output with it (largest
// difference over the reference's largest magnitude, per output tensor) and the program exits 1
// on a difference above the kernel's tolerance, so the benchmark cannot time a wrong kernel.
// GFLOP/s counts the useful flops of each kernel (stated per kernel below), the same number for
// the fast and the reference kernel; the time is the best of a few runs.
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attention.h"
#include "attention_stream.h"
#include "bench_util.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "layers.h"
#include "tile_gemm.h"
#include "vec_math.h"

static int g_quick, g_threads = 1;

static float *frand(long n) {
    float *x = xmalloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; i < n; i++) x[i] = bench_urand();
    return x;
}

// Best time of `reps` runs of fn(ctx).
typedef void (*RunFn)(void *ctx);
static double best_time(RunFn fn, void *ctx, int reps) {
    double best = INFINITY;
    for (int r = 0; r < (g_quick ? 1 : reps); r++) {
        double t0 = now_seconds();
        fn(ctx);
        best = fmin(best, now_seconds() - t0);
    }
    return best;
}

// fp32 sums of up to ~1000 terms against the same sums in another order (or in double): rounding
// grows like sqrt(K) eps on average, K eps at worst (K 1024: 6e-5).
#define TOL_FP32_SUMS 1e-4
static int g_mismatches;

// Largest |fast - ref| over the largest |ref| against tol: a line for a mismatch, counted.
static void compare(const char *kernel, const char *what, const float *fast, const float *ref,
                    long n, double tol) {
    double diff = 0.0, scale = 0.0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)fast[i] - (double)ref[i]);
        diff = isnan(d) ? INFINITY : fmax(diff, d);
        scale = fmax(scale, fabs((double)ref[i]));
    }
    double rel = scale > 0 ? diff / scale : diff;
    if (!(rel <= tol)) {
        printf(
            "MISMATCH %s %s: largest difference %.3g of the reference's scale (tolerance %.1g)\n",
            kernel, what, rel, tol);
        g_mismatches++;
    }
}

static float *copy_of(const float *x, long n) {
    float *c = xmalloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    memcpy(c, x, sizeof(float) * (size_t)n);
    return c;
}

static void row(const char *kernel, const char *shape, double flops, double t_fast, double t_ref) {
    if (t_ref > 0)
        printf("%-22s %-28s %10.3f %9.2f %10.3f %9.2f %7.2fx\n", kernel, shape, t_fast * 1e3,
               flops / t_fast / 1e9, t_ref * 1e3, flops / t_ref / 1e9, t_ref / t_fast);
    else
        printf("%-22s %-28s %10.3f %9.2f %10s %9s %8s\n", kernel, shape, t_fast * 1e3,
               flops / t_fast / 1e9, "-", "-", "-");
    fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// matmul: out (N, OC) = in (N, IC) W^T; 2 N IC OC flops forward, 4 N IC OC backward (din, dW).

typedef struct {
    float *out, *in, *w, *din, *dw, *dout;
    int N, IC, OC;
} MatmulCtx;
static void mm_fwd(void *p) {
    MatmulCtx *c = p;
    matmul_forward(c->out, c->in, c->w, c->N, c->IC, c->OC);
}
static void mm_fwd_ref(void *p) {
    MatmulCtx *c = p;
    matmul_forward_ref(c->out, c->in, c->w, c->N, c->IC, c->OC);
}
static void mm_bwd(void *p) {
    MatmulCtx *c = p;
    matmul_backward(c->din, c->dw, c->dout, c->in, c->w, c->N, c->IC, c->OC);
}
static void mm_bwd_ref(void *p) {
    MatmulCtx *c = p;
    matmul_backward_ref(c->din, c->dw, c->dout, c->in, c->w, c->N, c->IC, c->OC);
}

static void bench_matmul(int backward) {
    int shapes[3][3] = {{512, 256, 256}, {512, 256, 683}, {2048, 256, 256}};
    int n_shapes = g_quick ? 1 : 3;
    for (int s = 0; s < n_shapes; s++) {
        MatmulCtx c;
        c.N = g_quick ? 32 : shapes[s][0], c.IC = g_quick ? 16 : shapes[s][1];
        c.OC = g_quick ? 24 : shapes[s][2];
        c.in = frand((long)c.N * c.IC), c.w = frand((long)c.OC * c.IC);
        c.out = frand((long)c.N * c.OC), c.dout = frand((long)c.N * c.OC);
        c.din = frand((long)c.N * c.IC), c.dw = frand((long)c.OC * c.IC);
        double flops = (backward ? 4.0 : 2.0) * c.N * c.IC * c.OC;
        double tf = best_time(backward ? mm_bwd : mm_fwd, &c, 5);
        double tr = best_time(backward ? mm_bwd_ref : mm_fwd_ref, &c, 2);
        char shape[64];
        snprintf(shape, sizeof shape, "N %d IC %d OC %d", c.N, c.IC, c.OC);
        // One call of each from the same start (the backward accumulates).
        long n_out = (long)c.N * c.OC, n_in = (long)c.N * c.IC, n_w = (long)c.OC * c.IC;
        memset(c.din, 0, sizeof(float) * (size_t)n_in),
            memset(c.dw, 0, sizeof(float) * (size_t)n_w);
        (backward ? mm_bwd : mm_fwd)(&c);
        float *fast_out = copy_of(backward ? c.din : c.out, backward ? n_in : n_out);
        float *fast_dw = copy_of(c.dw, n_w);
        memset(c.din, 0, sizeof(float) * (size_t)n_in),
            memset(c.dw, 0, sizeof(float) * (size_t)n_w);
        (backward ? mm_bwd_ref : mm_fwd_ref)(&c);
        compare(backward ? "matmul backward" : "matmul forward", backward ? "din" : "out", fast_out,
                backward ? c.din : c.out, backward ? n_in : n_out, TOL_FP32_SUMS);
        if (backward) compare("matmul backward", "dw", fast_dw, c.dw, n_w, TOL_FP32_SUMS);
        free(fast_out), free(fast_dw);
        row(backward ? "matmul backward" : "matmul forward", shape, flops, tf, tr);
        free(c.in), free(c.w), free(c.out), free(c.dout), free(c.din), free(c.dw);
    }
}
static void bench_matmul_forward(void) {
    bench_matmul(0);
}
static void bench_matmul_backward(void) {
    bench_matmul(1);
}

// ---------------------------------------------------------------------------------------------
// Attention, d_model 256, head_dim 32 (Transformer 8 heads of 32, DIFF / DINT 4 heads of 2 x 32,
// v of 64), one sequence. Flops: per head and map, T (T + 1) / 2 (query, key) pairs times
// 2 (d + v_dim) forward (Q K^T, P V) and 2 (2 d + 2 v_dim) backward (dP, dV, dQ, dK).

typedef struct {
    AttnDims a;
    float *q, *k, *v, *dout, *out, *o1, *o2, *dq, *dk, *dv, *lse, *maps;
    double dl, dg;
} AttnCtx;
static const float LAMBDA = 0.6f, GAMMA = 0.6f;

static void att_stream_fwd(void *p) {
    AttnCtx *c = p;
    attention_stream_forward(c->out, c->o1, c->o2, c->lse, c->q, c->k, c->v, LAMBDA, GAMMA, 1,
                             &c->a);
}
static void att_stream_bwd(void *p) {
    AttnCtx *c = p;
    attention_stream_backward(c->dq, c->dk, c->dv, &c->dl, &c->dg, c->dout,
                              c->a.n_maps == 1 ? c->out : c->o1, c->o2, c->lse, c->q, c->k, c->v,
                              LAMBDA, GAMMA, 1, &c->a);
}
static void att_mat_fwd(void *p) {
    AttnCtx *c = p;
    attention_forward(c->out, c->o1, c->o2, c->maps, c->q, c->k, c->v, LAMBDA, GAMMA, 1, &c->a);
}
static void att_mat_bwd(void *p) {
    AttnCtx *c = p;
    attention_backward(c->dq, c->dk, c->dv, &c->dl, &c->dg, c->dout, c->o1, c->o2, c->maps, c->q,
                       c->k, c->v, LAMBDA, GAMMA, 1, &c->a);
}
static void att_ref_fwd(void *p) {
    AttnCtx *c = p;
    attention_forward_ref(c->out, c->q, c->k, c->v, LAMBDA, GAMMA, 1, &c->a);
}

static AttnDims bench_dims(Variant var, int T, int D, int d) {
    AttnDims a;
    memset(&a, 0, sizeof a);
    a.T = T;
    a.qk_dim = d;
    a.ld = D;
    a.n_maps = var == VARIANT_TRANSFORMER ? 1 : 2;
    a.n_heads = var == VARIANT_TRANSFORMER ? D / d : D / (2 * d);
    a.v_dim = var == VARIANT_TRANSFORMER ? d : 2 * d;
    a.use_global = var == VARIANT_DINT;
    a.g_mode = GMODE_CAUSAL;
    return a;
}

// Forward: streaming vs materialised, and materialised vs the naive reference at T <= 256.
// Backward: streaming vs materialised.
static void bench_attention(int backward) {
    const char *names[] = {"transformer", "diff", "dint-causal"};
    const Variant vars[] = {VARIANT_TRANSFORMER, VARIANT_DIFF, VARIANT_DINT};
    int Ts[2] = {256, 1024}, nT = g_quick ? 1 : 2;
    for (int ti = 0; ti < nT; ti++)
        for (int vi = 0; vi < 3; vi++) {
            int T = g_quick ? 24 : Ts[ti], D = g_quick ? 16 : 256, d = g_quick ? 4 : 32;
            AttnCtx c;
            c.a = bench_dims(vars[vi], T, D, d);
            long n = (long)T * D, nmaps = (long)c.a.n_heads * c.a.n_maps * T * T;
            c.q = frand(n), c.k = frand(n), c.v = frand(n), c.dout = frand(n);
            c.out = frand(n), c.o1 = frand(n), c.o2 = frand(n);
            c.dq = frand(n), c.dk = frand(n), c.dv = frand(n);
            c.lse = frand((long)c.a.n_heads * c.a.n_maps * T);
            c.maps = frand(nmaps);
            double pairs = (double)T * (T + 1) / 2 * c.a.n_heads * c.a.n_maps;
            double fl_f = pairs * 2.0 * (c.a.qk_dim + c.a.v_dim);
            double fl_b = pairs * 2.0 * (2 * c.a.qk_dim + 2 * c.a.v_dim);
            char shape[64];
            snprintf(shape, sizeof shape, "%s T %d", names[vi], T);
            if (!backward) {
                double ts = best_time(att_stream_fwd, &c, 3);
                float *stream_out = copy_of(c.out, n);
                double tm = best_time(att_mat_fwd, &c, 3);
                compare("attention forward", shape, stream_out, c.out, n, TOL_FP32_SUMS);
                row("attention forward", shape, fl_f, ts, tm);
                if (T <= 256) {
                    float *mat_out = copy_of(c.out, n);
                    double tr = best_time(att_ref_fwd, &c, 1);
                    compare("attention forward_ref", shape, mat_out, c.out, n, TOL_FP32_SUMS);
                    row("attention forward_ref", shape, fl_f, tm, tr);
                    free(mat_out);
                }
                free(stream_out);
            } else {
                // Each backward reads what its own forward left (lse or the maps).
                att_stream_fwd(&c);
                double ts = best_time(att_stream_bwd, &c, 3);
                float *sdq = copy_of(c.dq, n), *sdk = copy_of(c.dk, n), *sdv = copy_of(c.dv, n);
                double sdl = c.dl, sdg = c.dg;
                att_mat_fwd(&c);
                double tm = best_time(att_mat_bwd, &c, 3);
                compare("attention backward dq", shape, sdq, c.dq, n, TOL_FP32_SUMS);
                compare("attention backward dk", shape, sdk, c.dk, n, TOL_FP32_SUMS);
                compare("attention backward dv", shape, sdv, c.dv, n, TOL_FP32_SUMS);
                if (c.a.n_maps == 2) {
                    float lam[2] = {(float)sdl, (float)c.dl}, gam[2] = {(float)sdg, (float)c.dg};
                    compare("attention backward dlambda", shape, lam, lam + 1, 1, TOL_FP32_SUMS);
                    compare("attention backward dgamma", shape, gam, gam + 1, 1, TOL_FP32_SUMS);
                }
                row("attention backward", shape, fl_b, ts, tm);
                free(sdq), free(sdk), free(sdv);
            }
            free(c.q), free(c.k), free(c.v), free(c.dout), free(c.out), free(c.o1), free(c.o2);
            free(c.dq), free(c.dk), free(c.dv), free(c.lse), free(c.maps);
        }
}
static void bench_attention_forward(void) {
    bench_attention(0);
}
static void bench_attention_backward(void) {
    bench_attention(1);
}

// ---------------------------------------------------------------------------------------------
// Elementwise and row kernels (no reference kernel in core; finite differences test them).
// Nominal flops per element: RMSNorm forward 4 (square, add, scale, gain) + backward 8;
// SwiGLU forward 5 (silu ~ 4, product) + backward 10; cross-entropy forward 4 (max, exp, sum,
// normalise) + backward 2.

static void bench_rows(const char *kernel, int which) {
    int N = g_quick ? 16 : 2048, C = g_quick ? 32 : (which == 2 ? 257 : 256);
    if (which == 1) C = g_quick ? 32 : 704; // SwiGLU: the FFN width
    long n = (long)N * C;
    float *x = frand(n), *y = frand(n), *z = frand(n), *dx = frand(n), *dy = frand(n);
    float *gain = frand(C), *dgain = frand(C), *rstd = frand(N), *nll = frand(N);
    int *targets = xmalloc(sizeof(int) * (size_t)N);
    for (int i = 0; i < N; i++) targets[i] = i % C;
    int reps = g_quick ? 1 : 20;
    double best = INFINITY, flops = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_seconds();
        if (which == 0) {
            rmsnorm_forward(y, rstd, x, gain, N, C, 1e-5f);
            rmsnorm_backward(dx, dgain, dy, x, gain, rstd, N, C);
            flops = 12.0 * n;
        } else if (which == 1) {
            swiglu_forward(z, x, y, N, C, C);
            swiglu_backward(dx, dy, z, x, y, N, C, C);
            flops = 15.0 * n;
        } else {
            memcpy(z, x, sizeof(float) * (size_t)n);
            cross_entropy_forward(z, nll, targets, N, C);
            cross_entropy_backward(dx, z, targets, 1.0f, N, C);
            flops = 6.0 * n;
        }
        best = fmin(best, now_seconds() - t0);
    }
    char shape[64];
    snprintf(shape, sizeof shape, "N %d C %d (fwd+bwd)", N, C);
    row(kernel, shape, flops, best, 0);
    free(x), free(y), free(z), free(dx), free(dy), free(gain), free(dgain), free(rstd), free(nll);
    free(targets);
}
static void bench_rmsnorm(void) {
    bench_rows("rmsnorm", 0);
}
static void bench_swiglu(void) {
    bench_rows("swiglu", 1);
}
static void bench_cross_entropy(void) {
    bench_rows("cross_entropy", 2);
}

// The streaming attention's softmax rows: exp_shift_sum (vec_math.h) on rows of 64 scores (one
// key tile) against the libm loop it replaced (expf and a sequential float sum). Nominal flops
// per element: 2 (shift, add) + the exp counted as 1.
static float exp_row_ref(float *x, int n, float shift) {
    float s = 0.0f;
    for (int j = 0; j < n; j++) {
        x[j] = expf(x[j] - shift);
        s += x[j];
    }
    return s;
}

static void bench_exp_rows(void) {
    int rows = g_quick ? 16 : 65536, n = 64;
    float *x = frand((long)rows * n), *w = xmalloc(sizeof(float) * (size_t)rows * n);
    double best[2] = {INFINITY, INFINITY};
    volatile float sink = 0.0f;
    for (int r = 0; r < (g_quick ? 1 : 10); r++)
        for (int k = 0; k < 2; k++) {
            memcpy(w, x, sizeof(float) * (size_t)rows * n);
            double t0 = now_seconds();
            for (int i = 0; i < rows; i++)
                sink += k == 0 ? exp_shift_sum(w + (long)i * n, n, 1.0f)
                               : exp_row_ref(w + (long)i * n, n, 1.0f);
            best[k] = fmin(best[k], now_seconds() - t0);
        }
    char shape[64];
    snprintf(shape, sizeof shape, "%d rows of %d", rows, n);
    // The rows and their sums, from the same scores.
    float *w2 = xmalloc(sizeof(float) * (size_t)rows * n), sums[2] = {0.0f, 0.0f};
    memcpy(w, x, sizeof(float) * (size_t)rows * n), memcpy(w2, x, sizeof(float) * (size_t)rows * n);
    for (int i = 0; i < rows; i++) {
        float a = exp_shift_sum(w + (long)i * n, n, 1.0f),
              b = exp_row_ref(w2 + (long)i * n, n, 1.0f);
        float pair[2] = {a, b};
        compare("exp_rows", "row sum", pair, pair + 1, 1, TOL_FP32_SUMS);
        sums[0] += a, sums[1] += b;
    }
    compare("exp_rows", "exp values", w, w2, (long)rows * n, TOL_FP32_SUMS);
    free(w2);
    row("exp_rows", shape, 3.0 * rows * n, best[0], best[1]);
    free(x), free(w);
}

// tile_gemm: the attention tiles' products, 64 x 64 outputs over K = head dims, and the
// 64 x d products over 64 keys; against cblas_sgemm on the same shapes (not its reference:
// tile_gemm_ref is a double loop). 2 M N K flops.
static void bench_tile_gemm(void) {
    const int shapes[][3] = {{64, 64, 16}, {64, 16, 64}, {64, 64, 32}, {64, 32, 64}, {64, 64, 64}};
    int reps = g_quick ? 1 : 2000;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
        float *A = frand((long)M * K), *B = frand((long)K * N), *C = frand((long)M * N);
        double best[2] = {INFINITY, INFINITY};
        for (int r = 0; r < (g_quick ? 1 : 5); r++)
            for (int k = 0; k < 2; k++) {
                double t0 = now_seconds();
                for (int j = 0; j < reps; j++)
                    if (k == 0)
                        tile_gemm(M, N, K, 1.0f, A, K, 1, B, N, 1.0f, C, N, TRI_NONE, 0);
                    else
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K,
                                    B, N, 1.0f, C, N);
                best[k] = fmin(best[k], now_seconds() - t0);
            }
        char shape[64];
        snprintf(shape, sizeof shape, "%d x %d x %d (vs sgemm)", M, N, K);
        float *C2 = xcalloc((size_t)M * N, sizeof(float));
        memset(C, 0, sizeof(float) * (size_t)M * N);
        tile_gemm(M, N, K, 1.0f, A, K, 1, B, N, 1.0f, C, N, TRI_NONE, 0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 1.0f, C2,
                    N);
        compare("tile_gemm", shape, C, C2, (long)M * N, TOL_FP32_SUMS);
        free(C2);
        row("tile_gemm", shape, 2.0 * M * N * K * reps, best[0], best[1]);
        free(A), free(B), free(C);
    }
}

// ---------------------------------------------------------------------------------------------
// The one table: each kernel, its fast function, its reference, its test and its benchmark.

typedef struct {
    const char *kernel, *fast, *reference, *test;
    void (*bench)(void);
} KernelEntry;

static const KernelEntry KERNELS[] = {
    {"matmul_forward", "matmul_forward", "matmul_forward_ref", "tests/test_layers.c",
     bench_matmul_forward},
    {"matmul_backward", "matmul_backward", "matmul_backward_ref", "tests/test_layers.c",
     bench_matmul_backward},
    {"attention_forward", "attention_stream_forward",
     "attention_forward (materialised), attention_forward_ref (naive, double)",
     "tests/test_attention_stream.c, tests/test_attention.c", bench_attention_forward},
    {"attention_backward", "attention_stream_backward", "attention_backward (materialised)",
     "tests/test_attention_stream.c, tests/test_attention.c", bench_attention_backward},
    {"rmsnorm", "rmsnorm_forward, rmsnorm_backward", "- (finite differences)",
     "tests/test_layers.c", bench_rmsnorm},
    {"swiglu", "swiglu_forward, swiglu_backward", "- (finite differences)", "tests/test_layers.c",
     bench_swiglu},
    {"cross_entropy", "cross_entropy_forward, cross_entropy_backward", "- (finite differences)",
     "tests/test_layers.c", bench_cross_entropy},
    {"tile_gemm", "tile_gemm", "tile_gemm_ref (and cblas_sgemm for speed)",
     "tests/test_attention_stream.c", bench_tile_gemm},
    {"exp_rows", "exp_shift_sum, max_of (vec_math.h)", "expf loop, sequential sum (libm)",
     "tests/test_attention_stream.c", bench_exp_rows},
};
#define N_KERNELS ((int)(sizeof KERNELS / sizeof KERNELS[0]))

static void list(void) {
    printf("%-19s %-45s %-71s %-53s %s\n", "kernel", "fast", "reference", "test", "benchmark");
    for (int i = 0; i < N_KERNELS; i++)
        printf("%-19s %-45s %-71s %-53s bench_kernels %s\n", KERNELS[i].kernel, KERNELS[i].fast,
               KERNELS[i].reference, KERNELS[i].test, KERNELS[i].kernel);
}

int main(int argc, char **argv) {
    const char *only[16];
    int n_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list")) {
            list();
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            g_quick = 1;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            g_threads = atoi(argv[++i]);
        } else if (argv[i][0] != '-' && n_only < 16) {
            int known = 0;
            for (int k = 0; k < N_KERNELS; k++) known |= !strcmp(argv[i], KERNELS[k].kernel);
            if (!known) {
                fprintf(stderr, "bench_kernels: unknown kernel '%s' (bench_kernels --list)\n",
                        argv[i]);
                return 2;
            }
            only[n_only++] = argv[i];
        } else {
            fprintf(stderr, "usage: bench_kernels --list | [--quick] [--threads N] [KERNEL ...]\n");
            return 2;
        }
    }
    threads_init(g_threads > 0 ? g_threads : 1);
    printf("threads %d%s; times in ms, best of the runs; ref = the reference kernel\n", g_threads,
           g_quick ? ", quick (tiny shapes)" : "");
    printf("%-22s %-28s %10s %9s %10s %9s %8s\n", "kernel", "shape", "fast ms", "GFLOP/s", "ref ms",
           "GFLOP/s", "speedup");
    for (int k = 0; k < N_KERNELS; k++) {
        int run = n_only == 0;
        for (int i = 0; i < n_only; i++) run |= !strcmp(only[i], KERNELS[k].kernel);
        if (run) KERNELS[k].bench();
    }
    if (g_mismatches)
        printf("%d output(s) differ from their reference beyond tolerance\n", g_mismatches);
    return g_mismatches ? 1 : 0;
}
