// Kernel benchmarks and checks, driven by ONE table (KERNELS, at the end of this file), as
// ggml's test-backend-ops: each row is a kernel with its fast function, the reference its
// outputs are compared with (a `_ref` kernel of core, the materialised attention, or a
// double-precision loop written here), the tolerance of that comparison with its reason, the
// test file that checks the kernel in depth, and its benchmark and --quick shapes.
//
//   bench_kernels --list                   print the table and check it (every row has a
//                                          reference, a tolerance in (0, 1e-2) and shapes)
//   bench_kernels --quick [KERNEL ...]     every row at its tiny shapes: fast vs reference,
//                                          the largest error per kernel; exit 1 on a mismatch
//   bench_kernels [--threads N] [KERNEL ...]   the benchmark shapes: timings (GFLOP/s) of the
//                                          fast kernel and its reference, and the same check
//
// An error is the largest |fast - reference| over the reference's largest magnitude, per
// output tensor; above the row's tolerance the kernel is a MISMATCH and the program exits 1,
// so the benchmark cannot time a wrong kernel. GFLOP/s counts each kernel's useful flops
// (stated at its run function), the same number for the fast and the reference kernel; a time
// is the best of a few runs. Hidden options for the tests: --names (one kernel name a line)
// and --inject-error NAME (NAME's fast outputs are read 1e-2 of their scale off, so --quick
// must fail: tests/bench/inject_errors.sh).
//
// Adding a kernel is one row: write its run function (set the inputs up for a Shape, time the
// fast and the reference call with best_time, pass every output to compare) and add the row
// below; --list, --quick, the benchmark and the ctest checks pick it up.
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "attention_stream.h"
#include "bench_util.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "layers.h"
#include "tile_gemm.h"
#include "vec_math.h"

// A benchmark shape: up to three sizes (their meaning is the row's shape_fmt) and, for the
// attention, the variant. A row's shape lists end at the first shape with n[0] == 0.
typedef struct {
    const char *variant;
    int n[3];
} Shape;
#define MAX_SHAPES 7

// What one run of a row at one shape measured: useful flops per timed call and the best times.
typedef struct {
    double flops, t_fast, t_ref;
} Timing;

typedef struct {
    const char *name;      // command-line name
    const char *fast;      // the function(s) timed and checked
    const char *reference; // what their outputs are compared with
    double tol;            // largest error allowed (see compare)
    const char *why;       // the reason for that tolerance
    const char *test;      // the test file that checks the kernel in depth
    const char *shape_fmt; // printf format of a shape's n[0..2]
    Shape shapes[MAX_SHAPES];
    Shape quick[MAX_SHAPES];
    void (*run)(const Shape *s, Timing *t);
} KernelRow;

static int g_quick, g_threads = 1;
static const char *g_inject;   // --inject-error: the kernel whose outputs are read off
static const KernelRow *g_row; // the row being run
static char g_label[96];       // and its current shape
static double g_shape_err, g_row_err;
static int g_compares, g_mismatches;

static float *frand(long n) {
    float *x = xmalloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; i < n; i++) x[i] = bench_urand();
    return x;
}

static float *copy_of(const float *x, long n) {
    float *c = xmalloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    memcpy(c, x, sizeof(float) * (size_t)n);
    return c;
}

// Best time of `reps` runs of fn(ctx) (one run with --quick).
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

// One output of the current row: the largest |fast - ref| over the largest |ref| against the
// row's tolerance; a MISMATCH line when above. With --inject-error on this row, fast[0] is read
// as fast[0] + 1e-2 |ref|max: an error every tolerance (< 1e-2) must catch.
static void compare(const char *what, const float *fast, const float *ref, long n) {
    double diff = 0.0, scale = 0.0;
    for (long i = 0; i < n; i++) scale = fmax(scale, fabs((double)ref[i]));
    double bias = g_inject && !strcmp(g_inject, g_row->name) ? 1e-2 * (scale > 0 ? scale : 1) : 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)fast[i] + (i == 0 ? bias : 0.0) - (double)ref[i]);
        diff = isnan(d) ? INFINITY : fmax(diff, d);
    }
    double rel = scale > 0 ? diff / scale : diff;
    g_shape_err = fmax(g_shape_err, rel), g_row_err = fmax(g_row_err, rel);
    g_compares++;
    if (!(rel <= g_row->tol)) {
        printf("MISMATCH %s %s %s: largest difference %.3g of the reference's scale "
               "(tolerance %.0e)\n",
               g_row->name, g_label, what, rel, g_row->tol);
        g_mismatches++;
    }
}

// ---------------------------------------------------------------------------------------------
// matmul: out (N, OC) = in (N, IC) W^T; 2 N IC OC flops forward, 4 N IC OC backward (din, dW).
// Shape {N, IC, OC}.

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

static void run_matmul(const Shape *s, Timing *t, int backward) {
    MatmulCtx c;
    c.N = s->n[0], c.IC = s->n[1], c.OC = s->n[2];
    long n_out = (long)c.N * c.OC, n_in = (long)c.N * c.IC, n_w = (long)c.OC * c.IC;
    c.in = frand(n_in), c.w = frand(n_w), c.out = frand(n_out), c.dout = frand(n_out);
    c.din = frand(n_in), c.dw = frand(n_w);
    RunFn fast = backward ? mm_bwd : mm_fwd, ref = backward ? mm_bwd_ref : mm_fwd_ref;
    t->flops = (backward ? 4.0 : 2.0) * c.N * c.IC * c.OC;
    t->t_fast = best_time(fast, &c, 5);
    t->t_ref = best_time(ref, &c, 2);
    // One call of each from the same start (the backward accumulates).
    float *got[2], *got_dw[2];
    for (int k = 0; k < 2; k++) {
        memset(c.din, 0, sizeof(float) * (size_t)n_in),
            memset(c.dw, 0, sizeof(float) * (size_t)n_w);
        (k == 0 ? fast : ref)(&c);
        got[k] = copy_of(backward ? c.din : c.out, backward ? n_in : n_out);
        got_dw[k] = copy_of(c.dw, n_w);
    }
    compare(backward ? "din" : "out", got[0], got[1], backward ? n_in : n_out);
    if (backward) compare("dw", got_dw[0], got_dw[1], n_w);
    for (int k = 0; k < 2; k++) free(got[k]), free(got_dw[k]);
    free(c.in), free(c.w), free(c.out), free(c.dout), free(c.din), free(c.dw);
}
static void run_matmul_forward(const Shape *s, Timing *t) {
    run_matmul(s, t, 0);
}
static void run_matmul_backward(const Shape *s, Timing *t) {
    run_matmul(s, t, 1);
}

// ---------------------------------------------------------------------------------------------
// Attention, one sequence, shape {T, d_model, head_dim} and a variant (Transformer d_model /
// head_dim heads, DIFF / DINT half as many with v of 2 head_dim; DINT with causal G). Flops:
// per head and map, T (T + 1) / 2 (query, key) pairs times 2 (d + v_dim) forward (Q K^T, P V)
// and 2 (2 d + 2 v_dim) backward (dP, dV, dQ, dK).

typedef struct {
    AttnDims a;
    float *q, *k, *v, *dout, *out, *o1, *o2, *dq, *dk, *dv, *lse, *maps;
    double dl, dg;
    long n; // elements of q (T d_model)
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

static void attn_make(AttnCtx *c, const Shape *s, Timing *t, int backward) {
    Variant var;
    CHECK(variant_parse(s->variant, &var) == 0, "bench_kernels: bad variant in the table");
    int T = s->n[0], D = s->n[1], d = s->n[2];
    memset(c, 0, sizeof *c);
    c->a.T = T, c->a.qk_dim = d, c->a.ld = D;
    c->a.n_maps = var == VARIANT_TRANSFORMER ? 1 : 2;
    c->a.n_heads = var == VARIANT_TRANSFORMER ? D / d : D / (2 * d);
    c->a.v_dim = var == VARIANT_TRANSFORMER ? d : 2 * d;
    c->a.use_global = var == VARIANT_DINT;
    c->a.g_mode = GMODE_CAUSAL;
    long n = c->n = (long)T * D;
    c->q = frand(n), c->k = frand(n), c->v = frand(n), c->dout = frand(n);
    c->out = frand(n), c->o1 = frand(n), c->o2 = frand(n);
    c->dq = frand(n), c->dk = frand(n), c->dv = frand(n);
    c->lse = frand((long)c->a.n_heads * c->a.n_maps * T);
    c->maps = frand((long)c->a.n_heads * c->a.n_maps * T * T);
    double pairs = (double)T * (T + 1) / 2 * c->a.n_heads * c->a.n_maps;
    t->flops = pairs * 2.0 * (backward ? 2 : 1) * (c->a.qk_dim + c->a.v_dim);
}
static void attn_free(AttnCtx *c) {
    free(c->q), free(c->k), free(c->v), free(c->dout), free(c->out), free(c->o1), free(c->o2);
    free(c->dq), free(c->dk), free(c->dv), free(c->lse), free(c->maps);
}

// The streaming forward against the materialised one.
static void run_attention_forward(const Shape *s, Timing *t) {
    AttnCtx c;
    attn_make(&c, s, t, 0);
    t->t_fast = best_time(att_stream_fwd, &c, 3);
    float *stream_out = copy_of(c.out, c.n);
    t->t_ref = best_time(att_mat_fwd, &c, 3);
    compare("out", stream_out, c.out, c.n);
    free(stream_out);
    attn_free(&c);
}

// The materialised forward against the naive reference (the literal definition, in double).
static void run_attention_materialised(const Shape *s, Timing *t) {
    AttnCtx c;
    attn_make(&c, s, t, 0);
    t->t_fast = best_time(att_mat_fwd, &c, 3);
    float *mat_out = copy_of(c.out, c.n);
    t->t_ref = best_time(att_ref_fwd, &c, 1);
    compare("out", mat_out, c.out, c.n);
    free(mat_out);
    attn_free(&c);
}

// The streaming backward against the materialised one; each reads what its own forward left
// (lse or the maps).
static void run_attention_backward(const Shape *s, Timing *t) {
    AttnCtx c;
    attn_make(&c, s, t, 1);
    att_stream_fwd(&c);
    t->t_fast = best_time(att_stream_bwd, &c, 3);
    float *sdq = copy_of(c.dq, c.n), *sdk = copy_of(c.dk, c.n), *sdv = copy_of(c.dv, c.n);
    double sdl = c.dl, sdg = c.dg;
    att_mat_fwd(&c);
    t->t_ref = best_time(att_mat_bwd, &c, 3);
    compare("dq", sdq, c.dq, c.n);
    compare("dk", sdk, c.dk, c.n);
    compare("dv", sdv, c.dv, c.n);
    if (c.a.n_maps == 2) {
        float lam[2] = {(float)sdl, (float)c.dl}, gam[2] = {(float)sdg, (float)c.dg};
        compare("dlambda", lam, lam + 1, 1);
        compare("dgamma", gam, gam + 1, 1);
    }
    free(sdq), free(sdk), free(sdv);
    attn_free(&c);
}

// ---------------------------------------------------------------------------------------------
// Row kernels, forward and backward together, against double-precision loops of their
// definitions (layers.h). Shape {N rows, C columns}. Nominal flops per element: RMSNorm 4 + 8,
// SwiGLU 5 (silu ~ 4, product) + 10, cross-entropy 4 (max, exp, sum, normalise) + 2.

typedef enum { LEN_NC, LEN_N, LEN_C } RowsLen;
enum { ROWS_OUT = 4 };
typedef struct {
    int N, C;
    float *x, *u, *dy, *gain; // inputs (N, C), (N, C), (N, C), (C)
    int *targets;             // (N)
    float *out[ROWS_OUT];     // outputs, each (N, C) at most; which is which: the run function
} RowsCtx;

static void rows_make(RowsCtx *c, const Shape *s) {
    c->N = s->n[0], c->C = s->n[1];
    long n = (long)c->N * c->C;
    c->x = frand(n), c->u = frand(n), c->dy = frand(n), c->gain = frand(c->C);
    for (int k = 0; k < ROWS_OUT; k++) c->out[k] = xcalloc((size_t)n, sizeof(float));
    c->targets = xmalloc(sizeof(int) * (size_t)c->N);
    for (int i = 0; i < c->N; i++) c->targets[i] = i % c->C;
}
static void rows_free(RowsCtx *c) {
    free(c->x), free(c->u), free(c->dy), free(c->gain), free(c->targets);
    for (int k = 0; k < ROWS_OUT; k++) free(c->out[k]);
}

// Times fast and ref on the same inputs, then compares their outputs out[k], named names[k]
// with lengths lens[k], for k < n_out.
static void rows_run(const Shape *s, Timing *t, RunFn fast, RunFn ref, const char *const *names,
                     const RowsLen *lens, int n_out, double flops_per_elem) {
    RowsCtx c[2];
    for (int k = 0; k < 2; k++) rows_make(&c[k], s);
    memcpy(c[1].x, c[0].x, sizeof(float) * (size_t)c[0].N * c[0].C); // the same inputs
    memcpy(c[1].u, c[0].u, sizeof(float) * (size_t)c[0].N * c[0].C);
    memcpy(c[1].dy, c[0].dy, sizeof(float) * (size_t)c[0].N * c[0].C);
    memcpy(c[1].gain, c[0].gain, sizeof(float) * (size_t)c[0].C);
    t->flops = flops_per_elem * c[0].N * c[0].C;
    t->t_fast = best_time(fast, &c[0], 20);
    t->t_ref = best_time(ref, &c[1], 3);
    for (int k = 0; k < n_out; k++) {
        long n = lens[k] == LEN_NC ? (long)c[0].N * c[0].C : lens[k] == LEN_N ? c[0].N : c[0].C;
        compare(names[k], c[0].out[k], c[1].out[k], n);
    }
    for (int k = 0; k < 2; k++) rows_free(&c[k]);
}

// RMSNorm (eps 1e-5): y = x r g, r = (mean(x^2) + eps)^-1/2; dx = r g dy - r^3 x mean(g dy x);
// dgain = sum over rows of dy x r. out: y, rstd, dx, dgain (both kernels accumulate the
// gradients: zeroed first).
static void rmsnorm_fast(void *p) {
    RowsCtx *c = p;
    memset(c->out[2], 0, sizeof(float) * (size_t)c->N * c->C);
    memset(c->out[3], 0, sizeof(float) * (size_t)c->C);
    rmsnorm_forward(c->out[0], c->out[1], c->x, c->gain, c->N, c->C, 1e-5f);
    rmsnorm_backward(c->out[2], c->out[3], c->dy, c->x, c->gain, c->out[1], c->N, c->C);
}
static void rmsnorm_ref(void *p) {
    RowsCtx *c = p;
    int C = c->C;
    double *dg = xcalloc((size_t)C, sizeof(double));
    for (int n = 0; n < c->N; n++) {
        const float *x = c->x + (long)n * C, *dy = c->dy + (long)n * C;
        double ss = 0.0, gdx = 0.0;
        for (int i = 0; i < C; i++) {
            ss += (double)x[i] * x[i];
            gdx += (double)c->gain[i] * dy[i] * x[i];
        }
        double r = 1.0 / sqrt(ss / C + 1e-5);
        c->out[1][n] = (float)r;
        for (int i = 0; i < C; i++) {
            c->out[0][(long)n * C + i] = (float)(x[i] * r * c->gain[i]);
            c->out[2][(long)n * C + i] =
                (float)(r * c->gain[i] * dy[i] - r * r * r * x[i] * gdx / C);
            dg[i] += (double)dy[i] * x[i] * r;
        }
    }
    for (int i = 0; i < C; i++) c->out[3][i] = (float)dg[i];
    free(dg);
}
static void run_rmsnorm(const Shape *s, Timing *t) {
    static const char *const names[] = {"y", "rstd", "dx", "dgain"};
    static const RowsLen lens[] = {LEN_NC, LEN_N, LEN_NC, LEN_C};
    rows_run(s, t, rmsnorm_fast, rmsnorm_ref, names, lens, 4, 12.0);
}

// SwiGLU with gate = x, up = u, dh = dy: h = silu(gate) up, silu(g) = g sigma(g);
// dgate = dh up sigma (1 + g (1 - sigma)), dup = dh silu(g). out: h, dgate, dup.
static void swiglu_fast(void *p) {
    RowsCtx *c = p;
    swiglu_forward(c->out[0], c->x, c->u, c->N, c->C, c->C);
    swiglu_backward(c->out[1], c->out[2], c->dy, c->x, c->u, c->N, c->C, c->C);
}
static void swiglu_ref(void *p) {
    RowsCtx *c = p;
    for (long i = 0; i < (long)c->N * c->C; i++) {
        double g = c->x[i], sg = 1.0 / (1.0 + exp(-g));
        c->out[0][i] = (float)(g * sg * c->u[i]);
        c->out[1][i] = (float)(c->dy[i] * c->u[i] * sg * (1.0 + g * (1.0 - sg)));
        c->out[2][i] = (float)(c->dy[i] * g * sg);
    }
}
static void run_swiglu(const Shape *s, Timing *t) {
    static const char *const names[] = {"h", "dgate", "dup"};
    static const RowsLen lens[] = {LEN_NC, LEN_NC, LEN_NC};
    rows_run(s, t, swiglu_fast, swiglu_ref, names, lens, 3, 15.0);
}

// Cross-entropy over logits x with targets (row n: n mod C), scale 1: probabilities
// softmax(x), nll = -log p[target], dlogits = p - onehot(target). out: probs, nll, dlogits.
static void cross_entropy_fast(void *p) {
    RowsCtx *c = p;
    memcpy(c->out[0], c->x, sizeof(float) * (size_t)c->N * c->C);
    cross_entropy_forward(c->out[0], c->out[1], c->targets, c->N, c->C);
    cross_entropy_backward(c->out[2], c->out[0], c->targets, 1.0f, c->N, c->C);
}
static void cross_entropy_ref(void *p) {
    RowsCtx *c = p;
    int C = c->C;
    for (int n = 0; n < c->N; n++) {
        const float *x = c->x + (long)n * C;
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < C; j++) mx = fmax(mx, x[j]);
        for (int j = 0; j < C; j++) sum += exp(x[j] - mx);
        for (int j = 0; j < C; j++) {
            double pj = exp(x[j] - mx) / sum;
            c->out[0][(long)n * C + j] = (float)pj;
            c->out[2][(long)n * C + j] = (float)(pj - (j == c->targets[n]));
        }
        c->out[1][n] = (float)(log(sum) + mx - x[c->targets[n]]);
    }
}
static void run_cross_entropy(const Shape *s, Timing *t) {
    static const char *const names[] = {"probs", "nll", "dlogits"};
    static const RowsLen lens[] = {LEN_NC, LEN_N, LEN_NC};
    rows_run(s, t, cross_entropy_fast, cross_entropy_ref, names, lens, 3, 6.0);
}

// ---------------------------------------------------------------------------------------------
// tile_gemm: the attention tiles' products, C (M, N) += A (M, K) B (K, N), shape {M, N, K};
// timed (`calls` products per timing) against cblas_sgemm on the same shapes; its outputs are
// compared with sgemm's and with tile_gemm_ref's (the definition in double). 2 M N K flops.

typedef struct {
    int M, N, K, calls;
    float *A, *B, *C;
} GemmCtx;
static void gemm_tile(void *p) {
    GemmCtx *g = p;
    for (int j = 0; j < g->calls; j++)
        tile_gemm(g->M, g->N, g->K, 1.0f, g->A, g->K, 1, g->B, g->N, 1.0f, g->C, g->N, TRI_NONE, 0);
}
static void gemm_blas(void *p) {
    GemmCtx *g = p;
    for (int j = 0; j < g->calls; j++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->M, g->N, g->K, 1.0f, g->A, g->K,
                    g->B, g->N, 1.0f, g->C, g->N);
}
static void gemm_ref(void *p) {
    GemmCtx *g = p;
    tile_gemm_ref(g->M, g->N, g->K, 1.0f, g->A, g->K, 1, g->B, g->N, 1.0f, g->C, g->N);
}

static void run_tile_gemm(const Shape *s, Timing *t) {
    GemmCtx g = {s->n[0], s->n[1], s->n[2], g_quick ? 1 : 2000, NULL, NULL, NULL};
    long nc = (long)g.M * g.N;
    g.A = frand((long)g.M * g.K), g.B = frand((long)g.K * g.N), g.C = frand(nc);
    t->flops = 2.0 * g.M * g.N * g.K * g.calls;
    t->t_fast = best_time(gemm_tile, &g, 5);
    t->t_ref = best_time(gemm_blas, &g, 5);
    // One product of each from C = 0.
    RunFn fns[3] = {gemm_tile, gemm_blas, gemm_ref};
    float *got[3];
    g.calls = 1;
    for (int k = 0; k < 3; k++) {
        memset(g.C, 0, sizeof(float) * (size_t)nc);
        fns[k](&g);
        got[k] = copy_of(g.C, nc);
    }
    compare("C vs sgemm", got[0], got[1], nc);
    compare("C vs tile_gemm_ref", got[0], got[2], nc);
    for (int k = 0; k < 3; k++) free(got[k]);
    free(g.A), free(g.B), free(g.C);
}

// ---------------------------------------------------------------------------------------------
// The streaming attention's softmax rows: exp_shift_sum (vec_math.h) on rows of n[1] scores
// (one key tile) against the libm loop it replaced (expf and a sequential float sum), shape
// {rows, n}. Nominal flops per element: 2 (shift, add) + the exp counted as 1.

typedef struct {
    int rows, n;
    float *x, *w, *sums;
} ExpCtx;
static float exp_row_ref(float *x, int n, float shift) {
    float s = 0.0f;
    for (int j = 0; j < n; j++) {
        x[j] = expf(x[j] - shift);
        s += x[j];
    }
    return s;
}
static void exp_rows(ExpCtx *e, int ref) {
    memcpy(e->w, e->x, sizeof(float) * (size_t)e->rows * e->n);
    for (int i = 0; i < e->rows; i++)
        e->sums[i] = ref ? exp_row_ref(e->w + (long)i * e->n, e->n, 1.0f)
                         : exp_shift_sum(e->w + (long)i * e->n, e->n, 1.0f);
}
static void exp_rows_fast(void *p) {
    exp_rows(p, 0);
}
static void exp_rows_ref(void *p) {
    exp_rows(p, 1);
}

static void run_exp_rows(const Shape *s, Timing *t) {
    ExpCtx e[2];
    for (int k = 0; k < 2; k++) {
        e[k].rows = s->n[0], e[k].n = s->n[1];
        e[k].x =
            k == 0 ? frand((long)e[0].rows * e[0].n) : copy_of(e[0].x, (long)e[0].rows * e[0].n);
        e[k].w = xmalloc(sizeof(float) * (size_t)e[k].rows * e[k].n);
        e[k].sums = xmalloc(sizeof(float) * (size_t)e[k].rows);
    }
    t->flops = 3.0 * e[0].rows * e[0].n;
    t->t_fast = best_time(exp_rows_fast, &e[0], 10);
    t->t_ref = best_time(exp_rows_ref, &e[1], 10);
    compare("exp values", e[0].w, e[1].w, (long)e[0].rows * e[0].n);
    for (int i = 0; i < e[0].rows; i++) // each row's sum on its own (its own scale)
        compare("row sum", e[0].sums + i, e[1].sums + i, 1);
    for (int k = 0; k < 2; k++) free(e[k].x), free(e[k].w), free(e[k].sums);
}

// ---------------------------------------------------------------------------------------------
// The table. Tolerances bound the error of the whole output relative to its largest value
// (compare); each must stay below 1e-2, the error --inject-error adds.

#define ATTN_SHAPES(T, D, d)                                                                       \
    {"transformer", {T, D, d}}, {"diff", {T, D, d}}, {                                             \
        "dint", {                                                                                  \
            T, D, d                                                                                \
        }                                                                                          \
    }
#define ROWS_QUICK                                                                                 \
    {                                                                                              \
        {                                                                                          \
            NULL, {                                                                                \
                16, 32, 0                                                                          \
            }                                                                                      \
        }                                                                                          \
    }

static const KernelRow KERNELS[] = {
    {.name = "matmul_forward",
     .fast = "matmul_forward",
     .reference = "matmul_forward_ref (double sums)",
     .tol = 1e-4,
     .why = "fp32 sums of IC <= 256 terms against double: at worst IC u = 3e-5 of the scale",
     .test = "tests/test_layers.c",
     .shape_fmt = "N %d IC %d OC %d",
     .shapes = {{NULL, {512, 256, 256}}, {NULL, {512, 256, 683}}, {NULL, {2048, 256, 256}}},
     .quick = {{NULL, {32, 16, 24}}},
     .run = run_matmul_forward},
    {.name = "matmul_backward",
     .fast = "matmul_backward",
     .reference = "matmul_backward_ref (double sums)",
     .tol = 1e-4,
     .why = "fp32 sums of OC <= 683 (din) or N <= 2048 (dw) terms against double: ~sqrt(K) u",
     .test = "tests/test_layers.c",
     .shape_fmt = "N %d IC %d OC %d",
     .shapes = {{NULL, {512, 256, 256}}, {NULL, {512, 256, 683}}, {NULL, {2048, 256, 256}}},
     .quick = {{NULL, {32, 16, 24}}},
     .run = run_matmul_backward},
    {.name = "attention_forward",
     .fast = "attention_stream_forward",
     .reference = "attention_forward (materialised: sgemm, expf, whole rows)",
     .tol = 1e-4,
     .why = "two fp32 kernels: exp_approx (2 ulp) vs expf, FMA chains vs sgemm, online vs "
            "whole-row softmax; sums of up to T = 1024 terms",
     .test = "tests/test_attention_stream.c",
     .shape_fmt = "T %d D %d d %d",
     .shapes = {ATTN_SHAPES(256, 256, 32), ATTN_SHAPES(1024, 256, 32)},
     .quick = {ATTN_SHAPES(24, 16, 4)},
     .run = run_attention_forward},
    {.name = "attention_materialised",
     .fast = "attention_forward (materialised)",
     .reference = "attention_forward_ref (the literal definition, double)",
     .tol = 1e-4,
     .why = "fp32 probabilities and sgemm sums of T <= 256 terms against double: ~T u = 3e-5",
     .test = "tests/test_attention.c",
     .shape_fmt = "T %d D %d d %d",
     .shapes = {ATTN_SHAPES(256, 256, 32)},
     .quick = {ATTN_SHAPES(24, 16, 4)},
     .run = run_attention_materialised},
    {.name = "attention_backward",
     .fast = "attention_stream_backward",
     .reference = "attention_backward (materialised)",
     .tol = 1e-4,
     .why = "two fp32 kernels (recomputed vs stored probabilities, D from O vs from P dP); sums "
            "of up to T = 1024 terms",
     .test = "tests/test_attention_stream.c",
     .shape_fmt = "T %d D %d d %d",
     .shapes = {ATTN_SHAPES(256, 256, 32), ATTN_SHAPES(1024, 256, 32)},
     .quick = {ATTN_SHAPES(24, 16, 4)},
     .run = run_attention_backward},
    {.name = "rmsnorm",
     .fast = "rmsnorm_forward, rmsnorm_backward",
     .reference = "double loop of the definition (here)",
     .tol = 1e-4,
     .why = "a few fp32 roundings per element; dgain sums N <= 2048 fp32 terms: ~sqrt(N) u",
     .test = "tests/test_layers.c",
     .shape_fmt = "N %d C %d (fwd+bwd)",
     .shapes = {{NULL, {2048, 256, 0}}},
     .quick = ROWS_QUICK,
     .run = run_rmsnorm},
    {.name = "swiglu",
     .fast = "swiglu_forward, swiglu_backward",
     .reference = "double loop of the definition (here)",
     .tol = 1e-5,
     .why = "elementwise: sigmoid_array within 3 ulp and a few fp32 products: ~10 u = 1e-6",
     .test = "tests/test_layers.c",
     .shape_fmt = "N %d C %d (fwd+bwd)",
     .shapes = {{NULL, {2048, 704, 0}}},
     .quick = ROWS_QUICK,
     .run = run_swiglu},
    {.name = "cross_entropy",
     .fast = "cross_entropy_forward, cross_entropy_backward",
     .reference = "double loop of the definition (here)",
     .tol = 1e-5,
     .why = "exp_approx (2 ulp), sums in double, one fp32 normalisation: a few u per element",
     .test = "tests/test_layers.c",
     .shape_fmt = "N %d C %d (fwd+bwd)",
     .shapes = {{NULL, {2048, 257, 0}}},
     .quick = ROWS_QUICK,
     .run = run_cross_entropy},
    {.name = "tile_gemm",
     .fast = "tile_gemm",
     .reference = "cblas_sgemm (time, outputs); tile_gemm_ref (outputs, double)",
     .tol = 1e-4,
     .why = "fp32 sums of K <= 64 terms in another order or in double: <= K u = 8e-6",
     .test = "tests/test_attention_stream.c",
     .shape_fmt = "%d x %d x %d",
     .shapes = {{NULL, {64, 64, 16}},
                {NULL, {64, 16, 64}},
                {NULL, {64, 64, 32}},
                {NULL, {64, 32, 64}},
                {NULL, {64, 64, 64}}},
     .quick = {{NULL, {64, 64, 16}}, {NULL, {64, 16, 64}}, {NULL, {64, 64, 64}}},
     .run = run_tile_gemm},
    {.name = "exp_rows",
     .fast = "exp_shift_sum (vec_math.h)",
     .reference = "expf loop, sequential fp32 sum (libm)",
     .tol = 1e-4,
     .why = "exp_approx within 2 ulp of expf; row sums of 64 terms in 8 lanes vs in order: <= 64 u",
     .test = "tests/test_attention_stream.c",
     .shape_fmt = "%d rows of %d",
     .shapes = {{NULL, {65536, 64, 0}}},
     .quick = {{NULL, {16, 64, 0}}},
     .run = run_exp_rows},
};
#define N_KERNELS ((int)(sizeof KERNELS / sizeof KERNELS[0]))

static int n_shapes(const Shape *list) {
    int n = 0;
    while (n < MAX_SHAPES && list[n].n[0] > 0) n++;
    return n;
}

static void shape_label(char *buf, int size, const KernelRow *k, const Shape *s) {
    int at = s->variant ? snprintf(buf, (size_t)size, "%s ", s->variant) : 0;
    snprintf(buf + at, (size_t)(size - at), k->shape_fmt, s->n[0], s->n[1], s->n[2]);
}

static const KernelRow *find_kernel(const char *name) {
    for (int k = 0; k < N_KERNELS; k++)
        if (!strcmp(KERNELS[k].name, name)) return &KERNELS[k];
    return NULL;
}

// Every row complete: a unique name, a fast function, a reference, a tolerance in (0, 1e-2)
// with its reason, shapes for both modes and a run function. Returns the number of faults.
static int check_table(void) {
    int faults = 0;
    for (int i = 0; i < N_KERNELS; i++) {
        const KernelRow *k = &KERNELS[i];
        const char *fault = !k->name || !*k->name || find_kernel(k->name) != k ? "name"
                            : !k->fast || !*k->fast                            ? "fast function"
                            : !k->reference || !*k->reference                  ? "reference"
                            : !(k->tol > 0 && k->tol < 1e-2)                   ? "tolerance"
                            : !k->why || !*k->why                         ? "tolerance's reason"
                            : !n_shapes(k->shapes) || !n_shapes(k->quick) ? "shapes"
                            : !k->run                                     ? "run function"
                                                                          : NULL;
        if (fault) printf("table: error: row %d (%s): bad or missing %s\n", i, k->name, fault);
        faults += fault != NULL;
    }
    return faults;
}

static void print_shapes(const char *what, const KernelRow *k, const Shape *list) {
    printf("    %-10s", what);
    for (int i = 0; i < n_shapes(list); i++) {
        char label[96];
        shape_label(label, sizeof label, k, &list[i]);
        printf("%s%s", i ? "; " : "", label);
    }
    printf("\n");
}

static int list(void) {
    for (int i = 0; i < N_KERNELS; i++) {
        const KernelRow *k = &KERNELS[i];
        printf(
            "%s\n    fast      %s\n    reference %s\n    tolerance %.0e (%s)\n    test      %s\n",
            k->name, k->fast, k->reference, k->tol, k->why, k->test);
        print_shapes("shapes", k, k->shapes);
        print_shapes("quick", k, k->quick);
    }
    if (check_table()) return 1;
    printf("table: %d kernels, each with a reference, a tolerance in (0, 1e-2) and shapes\n",
           N_KERNELS);
    return 0;
}

// Runs one row at its shapes (benchmark or --quick): a timing line per shape, or one line with
// the kernel's largest error (--quick). A row that compares nothing is a mismatch too.
static void run_row(const KernelRow *k) {
    const Shape *list = g_quick ? k->quick : k->shapes;
    int n = n_shapes(list), compares = g_compares;
    g_row = k, g_row_err = 0.0;
    for (int i = 0; i < n; i++) {
        Timing t = {0, 0, 0};
        shape_label(g_label, sizeof g_label, k, &list[i]);
        g_shape_err = 0.0;
        k->run(&list[i], &t);
        if (!g_quick)
            printf("%-22s %-30s %10.3f %9.2f %10.3f %9.2f %7.2fx %9.1e\n", k->name, g_label,
                   t.t_fast * 1e3, t.flops / t.t_fast / 1e9, t.t_ref * 1e3, t.flops / t.t_ref / 1e9,
                   t.t_ref / t.t_fast, g_shape_err);
        fflush(stdout);
    }
    if (g_compares == compares) {
        printf("MISMATCH %s: no output compared with the reference\n", k->name);
        g_mismatches++;
    }
    if (g_quick)
        printf("%-22s %2d shape(s)  largest error %9.2e  tolerance %.0e  %s\n", k->name, n,
               g_row_err, k->tol, g_row_err <= k->tol ? "ok" : "MISMATCH");
}

static int usage(void) {
    fprintf(stderr, "usage: bench_kernels --list | [--quick] [--threads N] [KERNEL ...]\n");
    return 2;
}

int main(int argc, char **argv) {
    const KernelRow *only[N_KERNELS];
    int n_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list")) return list();
        if (!strcmp(argv[i], "--names")) {
            for (int k = 0; k < N_KERNELS; k++) printf("%s\n", KERNELS[k].name);
            return 0;
        }
        const char *name = argv[i];
        if (!strcmp(argv[i], "--quick")) {
            g_quick = 1;
            continue;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            g_threads = atoi(argv[++i]);
            continue;
        } else if (!strcmp(argv[i], "--inject-error") && i + 1 < argc) {
            name = g_inject = argv[++i];
        } else if (argv[i][0] == '-' || n_only == N_KERNELS) {
            return usage();
        }
        const KernelRow *k = find_kernel(name);
        if (!k) {
            fprintf(stderr, "bench_kernels: unknown kernel '%s' (bench_kernels --list)\n", name);
            return 2;
        }
        if (name != g_inject) only[n_only++] = k;
    }
    threads_init(g_threads > 0 ? g_threads : 1);
    printf("threads %d%s; times in ms, best of the runs; ref = the reference kernel\n", g_threads,
           g_quick ? ", quick (tiny shapes)" : "");
    if (!g_quick)
        printf("%-22s %-30s %10s %9s %10s %9s %8s %9s\n", "kernel", "shape", "fast ms", "GFLOP/s",
               "ref ms", "GFLOP/s", "speedup", "error");
    for (int k = 0; k < N_KERNELS; k++) {
        int run = n_only == 0;
        for (int i = 0; i < n_only; i++) run |= only[i] == &KERNELS[k];
        if (run) run_row(&KERNELS[k]);
    }
    if (g_mismatches)
        printf("%d output(s) differ from their reference beyond tolerance\n", g_mismatches);
    return g_mismatches ? 1 : 0;
}
