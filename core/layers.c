#include "layers.h"

#include <cblas.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <math.h>
#include <omp.h>
#include <string.h>

#include "check.h"
#include "vec_math.h"

static int g_threads = 1;

// OpenBLAS's own threads must never run: its multi-threaded sgemm (0.3.21, Haswell kernels)
// differs in the last bits from its one-thread sgemm, and when called from OpenMP threads whether
// a call runs threaded depends on timing. Pinning it here, before main, covers every process
// that uses the core (tests and tools too), not only those that call threads_init.
__attribute__((constructor)) static void blas_one_thread(void) {
    openblas_set_num_threads(1);
}

// All parallelism is OpenMP; OpenBLAS always runs on the calling thread, so the two never
// compete for the cores.
void threads_init(int n) {
    g_threads = n > 0 ? n : 1;
    omp_set_num_threads(g_threads);
    openblas_set_num_threads(1);
}
int threads_count(void) {
    return g_threads;
}

// Matmuls are split into row blocks of a fixed size, whatever the thread count: each block is
// one sgemm call of the same shape on 1 or 2 threads, so results are bit-identical. Every call
// packs the whole other operand (OpenBLAS copies B into its panel layout per call), so blocks
// are large: 256 rows of the output for x W^T and dx, 128 rows of dW (whose other operand is the
// whole (N, IC) input, megabytes at training sizes). Measured at 6 layers, d_model 256, 4 x 1024
// tokens: 128 / 32 rows spent ~10 % of a training step re-packing.
#ifndef MATMUL_ROWS_N
#define MATMUL_ROWS_N 256
#endif
enum { ROWS_N = MATMUL_ROWS_N, ROWS_OC = 128 };

void matmul_forward(float *out, const float *in, const float *w, int N, int IC, int OC) {
    int blocks = (N + ROWS_N - 1) / ROWS_N;
#pragma omp parallel for schedule(dynamic, 1)
    for (int blk = 0; blk < blocks; blk++) {
        int lo = blk * ROWS_N, rows = N - lo < ROWS_N ? N - lo : ROWS_N;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, OC, IC, 1.0f, in + (long)lo * IC,
                    IC, w, IC, 0.0f, out + (long)lo * OC, OC);
    }
}

void matmul_forward_shared(float *const *out, const float *in, const float *const *w, int n_w,
                           int N, int IC, int OC) {
    int blocks = (N + ROWS_N - 1) / ROWS_N;
#pragma omp parallel for schedule(dynamic, 1)
    for (int blk = 0; blk < blocks; blk++) {
        int lo = blk * ROWS_N, rows = N - lo < ROWS_N ? N - lo : ROWS_N;
        for (int j = 0; j < n_w; j++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, OC, IC, 1.0f,
                        in + (long)lo * IC, IC, w[j], IC, 0.0f, out[j] + (long)lo * OC, OC);
    }
}

void matmul_forward_ref(float *out, const float *in, const float *w, int N, int IC, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int i = 0; i < IC; i++) s += (double)in[(long)n * IC + i] * w[(long)o * IC + i];
            out[(long)n * OC + o] = (float)s;
        }
}

static void matmul_backward_beta(float *din, float din_beta, float *dw, const float *dout,
                                 const float *in, const float *w, int N, int IC, int OC) {
    // dw rows split over OC, din rows over N: disjoint outputs, fixed summation order. The dW
    // blocks (K = N, each ~N / ROWS_N times a din block's work) come first and the scheduling is
    // dynamic, so the small din blocks fill in around them (a static split of this mixed list
    // left one thread with ~70 % of the work).
    int blocks_oc = dw ? (OC + ROWS_OC - 1) / ROWS_OC : 0;
    int blocks_n = din ? (N + ROWS_N - 1) / ROWS_N : 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int blk = 0; blk < blocks_oc + blocks_n; blk++) {
        if (blk < blocks_oc) {
            int lo = blk * ROWS_OC, rows = OC - lo < ROWS_OC ? OC - lo : ROWS_OC;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, IC, N, 1.0f, dout + lo, OC,
                        in, IC, 1.0f, dw + (long)lo * IC, IC);
        } else {
            int lo = (blk - blocks_oc) * ROWS_N, rows = N - lo < ROWS_N ? N - lo : ROWS_N;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, IC, OC, 1.0f,
                        dout + (long)lo * OC, OC, w, IC, din_beta, din + (long)lo * IC, IC);
        }
    }
}

void matmul_backward(float *din, float *dw, const float *dout, const float *in, const float *w,
                     int N, int IC, int OC) {
    matmul_backward_beta(din, 1.0f, dw, dout, in, w, N, IC, OC);
}

void matmul_backward_shared(float *din, float *const *dw, const float *const *dout, const float *in,
                            const float *const *w, int n_w, int N, int IC, int OC) {
    // The dW blocks of every weight first (the big tasks), then the din blocks, each summing
    // the n_w products into its rows in weight order: the first written (beta 0), the others
    // added, as matmul_backward_write then matmul_backward would.
    int blocks_oc = (OC + ROWS_OC - 1) / ROWS_OC, n_dw = n_w * blocks_oc;
    int blocks_n = (N + ROWS_N - 1) / ROWS_N;
#pragma omp parallel for schedule(dynamic, 1)
    for (int blk = 0; blk < n_dw + blocks_n; blk++) {
        if (blk < n_dw) {
            int j = blk / blocks_oc, lo = blk % blocks_oc * ROWS_OC;
            int rows = OC - lo < ROWS_OC ? OC - lo : ROWS_OC;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, IC, N, 1.0f, dout[j] + lo,
                        OC, in, IC, 1.0f, dw[j] + (long)lo * IC, IC);
        } else {
            int lo = (blk - n_dw) * ROWS_N, rows = N - lo < ROWS_N ? N - lo : ROWS_N;
            for (int j = 0; j < n_w; j++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, IC, OC, 1.0f,
                            dout[j] + (long)lo * OC, OC, w[j], IC, j ? 1.0f : 0.0f,
                            din + (long)lo * IC, IC);
        }
    }
}

// beta 0: sgemm scales the block of din by 0 (writes zeros) before adding, the same bits as
// accumulating into a zeroed din, without the separate pass over memory.
void matmul_backward_write(float *din, float *dw, const float *dout, const float *in,
                           const float *w, int N, int IC, int OC) {
    matmul_backward_beta(din, 0.0f, dw, dout, in, w, N, IC, OC);
}

void matmul_backward_ref(float *din, float *dw, const float *dout, const float *in, const float *w,
                         int N, int IC, int OC) {
    if (din)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < IC; i++) {
                double s = 0.0;
                for (int o = 0; o < OC; o++)
                    s += (double)dout[(long)n * OC + o] * w[(long)o * IC + i];
                din[(long)n * IC + i] += (float)s;
            }
    if (dw)
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < IC; i++) {
                double s = 0.0;
                for (int n = 0; n < N; n++)
                    s += (double)dout[(long)n * OC + o] * in[(long)n * IC + i];
                dw[(long)o * IC + i] += (float)s;
            }
}

// The row loop of every RMSNorm forward: x += res first when res is given (the residual add,
// fused so the sum is not read back from memory), then y = x r g s in that order of products.
static void rmsnorm_rows(float *out, float *rstd, float *x_io, const float *res, const float *gain,
                         float post_scale, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *x = x_io + (long)n * C;
        float *y = out + (long)n * C;
        if (res) {
            const float *rr = res + (long)n * C;
#pragma omp simd
            for (int i = 0; i < C; i++) x[i] += rr[i];
        }
        double ss = dot_f64(x, x, C);
        float r = (float)(1.0 / sqrt(ss / C + (double)eps));
        rstd[n] = r;
        if (gain && post_scale != 1.0f) {
#pragma omp simd
            for (int i = 0; i < C; i++) y[i] = x[i] * r * gain[i] * post_scale;
        } else if (gain) {
#pragma omp simd
            for (int i = 0; i < C; i++) y[i] = x[i] * r * gain[i];
        } else {
#pragma omp simd
            for (int i = 0; i < C; i++) y[i] = x[i] * r * post_scale;
        }
    }
}

void rmsnorm_forward(float *out, float *rstd, const float *in, const float *gain, int N, int C,
                     float eps) {
    // (in is only read: no residual is added to it)
    rmsnorm_rows(out, rstd, (float *)in, NULL, gain, 1.0f, N, C, eps);
}

void rmsnorm_forward_scaled(float *out, float *rstd, const float *in, const float *gain,
                            float post_scale, int N, int C, float eps) {
    rmsnorm_rows(out, rstd, (float *)in, NULL, gain, post_scale, N, C, eps);
}

void residual_rmsnorm_forward(float *out, float *rstd, float *x, const float *res,
                              const float *gain, int N, int C, float eps) {
    rmsnorm_rows(out, rstd, x, res, gain, 1.0f, N, C, eps);
}

// Columns per block of the dgain sums: whole cache lines of every row.
enum { GAIN_COLS = 16 };

// y_i = g_i x_i r, r = (mean(x^2)+eps)^-1/2  =>  dx_i = r (g_i dy_i) - r^3 x_i mean_j(g_j dy_j x_j)
// with dy = dout * dout_scale (rounded to fp32 first, as a separate scaling pass would); dx is
// added to din (accumulate) or written.
static void rmsnorm_backward_rows(float *din, float *dgain, const float *dout, float dout_scale,
                                  const float *in, const float *gain, const float *rstd, int N,
                                  int C, int accumulate) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = in + (long)n * C, *dout_n = dout + (long)n * C;
        float *dx = din + (long)n * C;
        float r = rstd[n];
        float gdy[C]; // g_i dy_i (fp32, as dy_i * g_i is rounded before the products below)
#pragma omp simd
        for (int i = 0; i < C; i++) gdy[i] = (dout_n[i] * dout_scale) * (gain ? gain[i] : 1.0f);
        float k = (float)(dot_f64(gdy, x, C) / C) * r * r * r;
        if (accumulate) {
#pragma omp simd
            for (int i = 0; i < C; i++) dx[i] += r * gdy[i] - k * x[i];
        } else {
#pragma omp simd
            for (int i = 0; i < C; i++) dx[i] = r * gdy[i] - k * x[i];
        }
    }
    if (dgain) {
        // Column sums over rows, each in row order (the same sums on any thread count): a block
        // of columns per task, walking the rows, so every read is a run of a cache line.
        int blocks = (C + GAIN_COLS - 1) / GAIN_COLS;
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < blocks; blk++) {
            int c0 = blk * GAIN_COLS, c1 = c0 + GAIN_COLS < C ? c0 + GAIN_COLS : C;
            double s[GAIN_COLS] = {0};
            for (int n = 0; n < N; n++) {
                const float *dy = dout + (long)n * C, *x = in + (long)n * C;
#pragma omp simd
                for (int i = c0; i < c1; i++)
                    s[i - c0] += (double)(dy[i] * dout_scale) * x[i] * rstd[n];
            }
            for (int i = c0; i < c1; i++) dgain[i] += (float)s[i - c0];
        }
    }
}

void rmsnorm_backward(float *din, float *dgain, const float *dout, const float *in,
                      const float *gain, const float *rstd, int N, int C) {
    rmsnorm_backward_rows(din, dgain, dout, 1.0f, in, gain, rstd, N, C, 1);
}

void rmsnorm_backward_write(float *din, float *dgain, const float *dout, float dout_scale,
                            const float *in, const float *gain, const float *rstd, int N, int C) {
    rmsnorm_backward_rows(din, dgain, dout, dout_scale, in, gain, rstd, N, C, 0);
}

void rope_tables(float *cos_t, float *sin_t, int T, int d, float theta) {
    int half = d / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double freq = pow((double)theta, -2.0 * i / d);
            double a = t * freq;
            cos_t[(long)t * half + i] = (float)cos(a);
            sin_t[(long)t * half + i] = (float)sin(a);
        }
}

// sign = +1 rotates by the position angle, -1 by its negative (the transpose). Per row, the
// pair tables are spread to the row's layout (cos twice; sin negated for the even element), so
// each element is x c + x_swapped s': the same two products and one sum as the pair formula.
static void rope_apply(float *x, const float *cos_t, const float *sin_t, int B, int T, int C, int d,
                       float sign) {
    int half = d / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *row = x + ((long)b * T + t) * C;
            const float *ct = cos_t + (long)t * half, *st = sin_t + (long)t * half;
            float cc[d], ss[d];
            for (int i = 0; i < half; i++) {
                cc[2 * i] = cc[2 * i + 1] = ct[i];
                ss[2 * i] = -(sign * st[i]);
                ss[2 * i + 1] = sign * st[i];
            }
            for (int c0 = 0; c0 < C; c0 += d) {
                float *h = row + c0;
                int j = 0;
#if defined(__AVX2__)
                for (; j + 8 <= d; j += 8) {
                    __m256 v = _mm256_loadu_ps(h + j);
                    __m256 swapped = _mm256_permute_ps(v, 0xB1); // (x1, x0, x3, x2, ...)
                    __m256 r = _mm256_add_ps(_mm256_mul_ps(v, _mm256_loadu_ps(cc + j)),
                                             _mm256_mul_ps(swapped, _mm256_loadu_ps(ss + j)));
                    _mm256_storeu_ps(h + j, r);
                }
#endif
                for (; j < d; j += 2) {
                    float x0 = h[j], x1 = h[j + 1];
                    float p0 = x0 * cc[j], q0 = x1 * ss[j], p1 = x1 * cc[j + 1],
                          q1 = x0 * ss[j + 1];
                    h[j] = p0 + q0;
                    h[j + 1] = p1 + q1;
                }
            }
        }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int C, int d) {
    rope_apply(x, cos_t, sin_t, B, T, C, d, 1.0f);
}
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int C, int d) {
    rope_apply(dx, cos_t, sin_t, B, T, C, d, -1.0f);
}

// Elements per chunk of the logistic function (a stack buffer).
enum { SIG_CHUNK = 256 };

void swiglu_forward(float *h, const float *gate, const float *up, int N, int F, int ld) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gate + (long)n * ld, *u = up + (long)n * ld;
        float *hr = h + (long)n * F, sig[SIG_CHUNK];
        for (int j0 = 0; j0 < F; j0 += SIG_CHUNK) {
            int len = F - j0 < SIG_CHUNK ? F - j0 : SIG_CHUNK;
            sigmoid_array(sig, g + j0, len);
#pragma omp simd
            for (int j = 0; j < len; j++) hr[j0 + j] = g[j0 + j] * sig[j] * u[j0 + j];
        }
    }
}

void swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up,
                     int N, int F, int ld) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gate + (long)n * ld, *u = up + (long)n * ld, *d = dh + (long)n * F;
        float *dg = dgate + (long)n * ld, *du = dup + (long)n * ld, sig[SIG_CHUNK];
        for (int j0 = 0; j0 < F; j0 += SIG_CHUNK) {
            int len = F - j0 < SIG_CHUNK ? F - j0 : SIG_CHUNK;
            sigmoid_array(sig, g + j0, len);
#pragma omp simd
            for (int j = 0; j < len; j++) {
                float gj = g[j0 + j], sj = sig[j];
                du[j0 + j] = d[j0 + j] * (gj * sj);
                dg[j0 + j] = d[j0 + j] * u[j0 + j] * sj * (1.0f + gj * (1.0f - sj));
            }
        }
    }
}

void embedding_forward(float *out, const int *tokens, const float *wte, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        memcpy(out + (long)n * C, wte + (long)tokens[n] * C, sizeof(float) * C);
}

void embedding_backward(float *dwte, const float *dout, const int *tokens, int N, int C) {
    // Rows with the same token are added in row order (determinism): each thread owns a range
    // of columns (whole cache lines) and walks the rows once, in order. Any split gives the same
    // sums: a column's order never changes.
    int nt = omp_get_max_threads(), per = ((C + nt - 1) / nt + 15) / 16 * 16;
    int blocks = (C + per - 1) / per;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
        int c0 = blk * per, c1 = c0 + per < C ? c0 + per : C;
        for (int n = 0; n < N; n++) {
            float *dst = dwte + (long)tokens[n] * C;
            const float *src = dout + (long)n * C;
#pragma omp simd
            for (int i = c0; i < c1; i++) dst[i] += src[i];
        }
    }
}

// Elements per block of a softmax row: exp_shift_sum's 8-lane fp32 sum covers one block, the
// blocks are added in double, so a 50,257-entry row loses no more than a 256-entry one.
enum { SOFTMAX_BLOCK = 256 };

double cross_entropy_forward(float *logits, float *nll, const int *targets, int N, int V) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *row = logits + (long)n * V;
        float mx = max_of(row, V, -INFINITY);
        int t = targets[n];
        float target_shifted = t >= 0 ? row[t] - mx : 0.0f;
        double sum = 0.0;
        for (int v0 = 0; v0 < V; v0 += SOFTMAX_BLOCK)
            sum += exp_shift_sum(row + v0, V - v0 < SOFTMAX_BLOCK ? V - v0 : SOFTMAX_BLOCK, mx);
        float inv = (float)(1.0 / sum);
#pragma omp simd
        for (int v = 0; v < V; v++) row[v] *= inv;
        nll[n] = t >= 0 ? (float)(log(sum) - target_shifted) : 0.0f;
    }
    // Serial sum in double: the same total whatever the thread count.
    double total = 0.0;
    for (int n = 0; n < N; n++) total += nll[n];
    return total;
}

void cross_entropy_backward(float *dlogits, const float *probs, const int *targets, float scale,
                            int N, int V) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *p = probs + (long)n * V;
        float *d = dlogits + (long)n * V;
        if (targets[n] < 0) {
            memset(d, 0, sizeof(float) * (size_t)V);
            continue;
        }
#pragma omp simd
        for (int v = 0; v < V; v++) d[v] = p[v] * scale;
        d[targets[n]] -= scale;
    }
}
