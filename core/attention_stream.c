#include "attention_stream.h"

#include <cblas.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tile_gemm.h"
#include "vec_math.h"

// Tile size: BQ query rows x BK keys, 64 x 64. The score tile is 16 KB of fp32 and, with the
// Q, K, V tiles of a head (64 x 32..64 floats each, 8-16 KB) and the output accumulators,
// the working set of one tile step stays in L2 (and mostly in L1). 64 x 64 x d products are
// large enough to amortise the sgemm call and packing overhead, and the masked half of the
// diagonal tiles wastes only ~BK / (2 T) of the work. Measured (bench set-up, d = 32, T = 4096,
// one thread, on the busy 2-core machine, so +-10 %): forward + backward 1.93 / 1.83 / 1.74 s
// (DIFF) and 1.77 / 1.48 / 1.58 s (Transformer) for tiles of 32 / 64 / 128: 64 is as fast as
// any, with the smaller scratch. BQ == BK makes the "tile above the diagonal" test below skip
// exactly the fully masked tiles; the masking is element by element, so another size stays
// correct (-DATTN_STREAM_TILE=n to try one).
#ifndef ATTN_STREAM_TILE
#define ATTN_STREAM_TILE 64
#endif
enum { BQ = ATTN_STREAM_TILE, BK = ATTN_STREAM_TILE };

static long lse_off(int b, int h, int m, const AttnDims *a) {
    return (((long)b * a->n_heads + h) * a->n_maps + m) * (long)a->T;
}

static int imin(int x, int y) {
    return x < y ? x : y;
}

// dst (cols, BK) = the transpose of src (rows, cols) with row stride ld (rows <= BK): 8 x 8
// blocks through AVX registers, the edges element by element (a pure copy: same bits either way).
static void transpose_tile(float *dst, const float *src, int rows, int cols, int ld) {
    int j0 = 0;
#if defined(__AVX2__)
    for (; j0 + 8 <= rows; j0 += 8)
        for (int c0 = 0; c0 + 8 <= cols; c0 += 8) {
            __m256 r[8], t[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (long)(j0 + i) * ld + c0);
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
                r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
                r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
                r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
            }
            // r[i] (i < 4) holds column c0 + i of rows 0-3 in its low half and column c0 + i + 4
            // in its high half; r[i + 4] the same for rows 4-7.
            for (int i = 0; i < 4; i++) {
                __m256 lo = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
                __m256 hi = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
                _mm256_storeu_ps(dst + (long)(c0 + i) * BK + j0, lo);
                _mm256_storeu_ps(dst + (long)(c0 + i + 4) * BK + j0, hi);
            }
        }
    int c_done = cols / 8 * 8;
    for (int j = 0; j < j0; j++) // the column edge of the rows done above
        for (int c = c_done; c < cols; c++) dst[(long)c * BK + j] = src[(long)j * ld + c];
#endif
    for (int j = j0; j < rows; j++)
        for (int c = 0; c < cols; c++) dst[(long)c * BK + j] = src[(long)j * ld + c];
}

// Per-thread scratch of the forward: one score tile and, per map, the output accumulator of
// a query tile with its running max and sum.
typedef struct {
    float *Kt;        // (d, BK) the key tile of one map, transposed
    float *S;         // (BQ, BK) scores, then probabilities
    float *acc[2];    // (BQ, v_dim) unnormalised A V of the tile, per map
    float mx[2][BQ];  // running row max of the scaled scores
    float sum[2][BQ]; // running row sum of exp(score - mx)
} FwdScratch;

// One query tile [i0, i0 + br) of head (b, h): an online softmax over the key tiles
// [0, i0 + br), both maps in the same pass over K / V. Tiles entirely above the diagonal are
// never visited; inside the diagonal tile the mask is -INFINITY. Writes A_m V of the tile
// (to out for one map, o1/o2 for two) and the log-sum-exp of every row.
static void forward_tile(FwdScratch *w, float *out, float *o1, float *o2, float *lse,
                         const float *q, const float *k, const float *v, int b, int h, int i0,
                         const AttnDims *a) {
    int T = a->T, d = a->qk_dim, vd = a->v_dim, ld = a->ld, M = a->n_maps;
    int br = imin(BQ, T - i0);
    float scale = 1.0f / sqrtf((float)d);
    long base = (long)b * T * ld;
    const float *V = v + base + attn_v_offset(a, h);
    for (int m = 0; m < M; m++) {
        for (int r = 0; r < br; r++) w->mx[m][r] = -INFINITY, w->sum[m][r] = 0.0f;
        memset(w->acc[m], 0, sizeof(float) * (size_t)br * vd);
    }
    // Key tile 0 comes first and holds key 0, which every row sees: the running max is
    // finite from the first tile on, so exp(-inf - mx) is 0 and never NaN.
    for (int j0 = 0; j0 < i0 + br; j0 += BK) {
        int bc = imin(BK, i0 + br - j0); // keys past the tile's last row are masked for all rows
        int diag = j0 + bc - 1 > i0;     // some key of the tile lies after some row
        for (int m = 0; m < M; m++) {
            const float *Q = q + base + attn_qk_offset(a, h, m) + (long)i0 * ld;
            const float *K = k + base + attn_qk_offset(a, h, m) + (long)j0 * ld;
            transpose_tile(w->Kt, K, bc, d, ld);
            // Only keys up to each row's own position: the rest of the diagonal tile is skipped
            // (left unwritten in S, and 0 in P).
            tile_gemm(br, bc, d, scale, Q, ld, 1, w->Kt, BK, 0.0f, w->S, BK,
                      diag ? TRI_OUT_LOWER : TRI_NONE, i0 - j0);
            for (int r = 0; r < br; r++) {
                float *row = w->S + (long)r * BK;
                int lim = diag ? imin(bc, i0 + r - j0 + 1) : bc; // >= 1: j0 <= i0
                float mx = max_of(row, lim, w->mx[m][r]);
                float alpha = exp_approx(w->mx[m][r] - mx); // 0 on the first tile (mx was -inf)
                float s = exp_shift_sum(row, lim, mx);
                if (lim < bc) memset(row + lim, 0, sizeof(float) * (size_t)(bc - lim));
                w->sum[m][r] = alpha * w->sum[m][r] + s;
                w->mx[m][r] = mx;
                if (alpha != 1.0f) {
                    float *ar = w->acc[m] + (long)r * vd;
#pragma omp simd
                    for (int c = 0; c < vd; c++) ar[c] *= alpha;
                }
            }
            tile_gemm(br, vd, bc, 1.0f, w->S, BK, 1, V + (long)j0 * ld, ld, 1.0f, w->acc[m], vd,
                      diag ? TRI_K_LOWER : TRI_NONE, i0 - j0);
        }
    }
    for (int m = 0; m < M; m++) {
        float *Om = (M == 1 ? out : (m == 0 ? o1 : o2)) + base + attn_v_offset(a, h);
        float *L = lse + lse_off(b, h, m, a);
        for (int r = 0; r < br; r++) {
            float inv = 1.0f / w->sum[m][r];
            const float *ar = w->acc[m] + (long)r * vd;
            float *orow = Om + (long)(i0 + r) * ld;
#pragma omp simd
            for (int c = 0; c < vd; c++) orow[c] = ar[c] * inv;
            L[i0 + r] = w->mx[m][r] + logf(w->sum[m][r]);
        }
    }
}

// out = o1 - lambda o2 (+ gamma C) for one head, C the running mean (causal) or the mean
// (full) of the rows of o1, or the running mean of the rows of v (uniform), summed in double in row
// order as attention.c's global_term does, O(T v_dim). The division by the row count is a
// multiplication by its double reciprocal (one division per row, not per element); the two differ
// by at most an ulp of double, which the rounding to fp32 almost always removes.
static void combine_head(float *out, const float *o1, const float *o2, const float *v, float lambda,
                         float gamma, int b, int h, const AttnDims *a, double *acc) {
    int T = a->T, vd = a->v_dim, ld = a->ld;
    long vo = (long)b * T * ld + attn_v_offset(a, h);
    const float *O1 = o1 + vo, *O2 = o2 + vo;
    const float *X = a->g_mode == GMODE_UNIFORM ? v + vo : O1; // the rows G averages
    float *O = out + vo;
    for (int c = 0; c < vd; c++) acc[c] = 0.0;
    if (a->use_global && a->g_mode == GMODE_FULL)
        for (int i = 0; i < T; i++)
            for (int c = 0; c < vd; c++) acc[c] += O1[(long)i * ld + c];
    int causal = a->g_mode != GMODE_FULL;
    for (int i = 0; i < T; i++) {
        const float *o1r = O1 + (long)i * ld, *o2r = O2 + (long)i * ld, *xr = X + (long)i * ld;
        float *orow = O + (long)i * ld;
        if (!a->use_global) {
#pragma omp simd
            for (int c = 0; c < vd; c++) orow[c] = o1r[c] - lambda * o2r[c];
            continue;
        }
        double inv = 1.0 / (causal ? i + 1 : T); // one division per row
        if (causal) {
#pragma omp simd
            for (int c = 0; c < vd; c++) acc[c] += xr[c];
        }
#pragma omp simd
        for (int c = 0; c < vd; c++)
            orow[c] = (o1r[c] - lambda * o2r[c]) + gamma * (float)(acc[c] * inv);
    }
}

// ---- Reduced-precision emulation (evaluations only; docs/precision.md) ----

// Per-thread scratch of the reduced-precision forward: one head's q, k (T, qk_dim) and v
// (T, v_dim) as the kernel stores them (rounded to bf16 / fp16 once, or copied for qK), and one
// row of scores.
typedef struct {
    float *Q, *K, *V, *s;
} LowpScratch;

// Rows of x (T rows, stride ld, n values each) into dst (T, n), rounded by R (NULL: copied).
static void lowp_store(float *dst, const float *x, int T, int n, int ld, PrecisionRound R) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < n; c++) {
            float y = x[(long)t * ld + c];
            dst[(long)t * n + c] = R ? R(y) : y;
        }
}

// Row i of map A_m V of the head held in w, at a->precision, into orow (v_dim values). bf16 /
// fp16: q, k and v rounded to the format (in w), dot products accumulated in fp32 (as tensor-core
// kernels do), scores and probabilities stored in the format, the row of A_m V rounded. qK: the
// fp32 scores quantised per row to K bits, softmax in fp32, the probabilities quantised per row to
// K bits, A_m V accumulated in fp32.
static void lowp_map_row(float *orow, const LowpScratch *w, int i, const AttnDims *a) {
    Precision p = a->precision;
    PrecisionRound R = precision_rounding(p); // NULL for qK
    int d = a->qk_dim, vd = a->v_dim, n = i + 1, bits = precision_bits(p);
    const float *Q = w->Q + (long)i * d;
    float *s = w->s, scale = 1.0f / sqrtf((float)d), mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        const float *K = w->K + (long)j * d;
        float acc = 0.0f;
        for (int c = 0; c < d; c++) acc += Q[c] * K[c];
        s[j] = R ? R(acc * scale) : acc * scale;
    }
    if (!R) quantize_row_symmetric(s, n, bits);
    for (int j = 0; j < n; j++) mx = fmaxf(mx, s[j]);
    double sum = 0.0;
    for (int j = 0; j < n; j++) sum += s[j] = expf(s[j] - mx);
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++) s[j] = R ? R(s[j] * inv) : s[j] * inv;
    if (!R) quantize_row_symmetric(s, n, bits);
    for (int c = 0; c < vd; c++) orow[c] = 0.0f;
    for (int j = 0; j < n; j++) {
        const float *V = w->V + (long)j * vd;
        for (int c = 0; c < vd; c++) orow[c] += s[j] * V[c];
    }
    if (R)
        for (int c = 0; c < vd; c++) orow[c] = R(orow[c]);
}

// The forward at a->precision: every row of every map, then out = o1 - lambda o2 (+ gamma C) in
// fp32 as the fp32 kernel combines them. O(T d) scratch per thread (one head's q, k, v as
// stored, and a row of scores), like the fp32 kernel's; no lse (no backward).
static void lowp_forward(float *out, float *o1, float *o2, const float *q, const float *k,
                         const float *v, float lambda, float gamma, int B, const AttnDims *a) {
    int T = a->T, H = a->n_heads, M = a->n_maps, d = a->qk_dim, vd = a->v_dim, ld = a->ld;
    PrecisionRound R = precision_rounding(a->precision);
#pragma omp parallel
    {
        LowpScratch w = {
            xmalloc(sizeof(float) * (size_t)T * d), xmalloc(sizeof(float) * (size_t)T * d),
            xmalloc(sizeof(float) * (size_t)T * vd), xmalloc(sizeof(float) * (size_t)T)};
        double *acc = xmalloc(sizeof(double) * (size_t)vd);
#pragma omp for schedule(dynamic, 1)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            long base = (long)b * T * ld, vo = base + attn_v_offset(a, h);
            lowp_store(w.V, v + vo, T, vd, ld, R);
            for (int m = 0; m < M; m++) {
                long qo = base + attn_qk_offset(a, h, m);
                lowp_store(w.Q, q + qo, T, d, ld, R);
                lowp_store(w.K, k + qo, T, d, ld, R);
                float *O = (M == 1 ? out : m == 0 ? o1 : o2) + vo;
                for (int i = 0; i < T; i++) lowp_map_row(O + (long)i * ld, &w, i, a);
            }
            if (M == 2) combine_head(out, o1, o2, v, lambda, gamma, b, h, a, acc);
        }
        free(w.Q);
        free(w.K);
        free(w.V);
        free(w.s);
        free(acc);
    }
}

void attention_stream_forward(float *out, float *o1, float *o2, float *lse, const float *q,
                              const float *k, const float *v, float lambda, float gamma, int B,
                              const AttnDims *a) {
    int T = a->T, H = a->n_heads, vd = a->v_dim;
    if (a->precision != PRECISION_FP32) {
        CHECK(a->n_maps == 1 || (o1 && o2), "attention_stream_forward: two maps need o1 and o2");
        lowp_forward(out, o1, o2, q, k, v, lambda, gamma, B, a);
        return;
    }
    CHECK(a->n_maps == 1 || (o1 && o2), "attention_stream_forward: two maps need o1 and o2");
    int nqt = (T + BQ - 1) / BQ;
    long ntask = (long)B * H * nqt;
#pragma omp parallel
    {
        FwdScratch w;
        w.Kt = xmalloc(sizeof(float) * (size_t)a->qk_dim * BK);
        w.S = xmalloc(sizeof(float) * BQ * BK);
        w.acc[0] = xmalloc(sizeof(float) * (size_t)BQ * vd);
        w.acc[1] = xmalloc(sizeof(float) * (size_t)BQ * vd);
        double *acc = xmalloc(sizeof(double) * (size_t)vd);
        // Tasks: (head, query tile), the longest tiles (last rows, most keys) of each head
        // first. Each tile is computed whole by one thread, so the thread count changes only
        // who computes it, not how.
#pragma omp for schedule(dynamic, 1)
        for (long t = 0; t < ntask; t++) {
            int bh = (int)(t / nqt), qt = nqt - 1 - (int)(t % nqt);
            forward_tile(&w, out, o1, o2, lse, q, k, v, bh / H, bh % H, qt * BQ, a);
        }
        // (implicit barrier: every row of o1 / o2 is done before the global term reads them)
        if (a->n_maps == 2) {
#pragma omp for schedule(dynamic, 1)
            for (int bh = 0; bh < B * H; bh++)
                combine_head(out, o1, o2, v, lambda, gamma, bh / H, bh % H, a, acc);
        }
        free(w.Kt);
        free(w.S);
        free(w.acc[0]);
        free(w.acc[1]);
        free(acc);
    }
}

// Per-thread scratch of the backward.
typedef struct {
    float *Kt[2];  // (d, BK) the key tile of each map, transposed
    float *Vt;     // (v_dim, BK) the value tile, transposed
    float *S, *dP; // (BQ, BK) probabilities and dP, then dS
    float *dK[2];  // (BK, d) dK of the current key tile, per map
    float *dV;     // (BK, v_dim) dV of the current key tile, both maps summed
    float *dOm[2]; // (T, v_dim) the gradient reaching A_m V, per map
    float *Dm[2];  // (T) rowsum(dOm * Om), per map
    double *acc;   // (3 v_dim) column accumulators
} BwdScratch;

// dOm (contiguous (T, v_dim)) for every map of head (b, h) and its dlambda / dgamma parts:
// the operations of attention_backward (divisions by the row count as multiplications by its
// reciprocal, as in combine_head). dO1 = dout + gamma R with R the suffix sum of dout_i / (i + 1)
// (causal) or the mean of dout (full); dO2 = -lambda dout. Uniform G: dO1 = dout, and gamma R
// goes to dV (global_uniform_dv, after backward_head).
static void backward_prepare(BwdScratch *w, double *pl, double *pg, const float *dout,
                             const float *o1, const float *o2, const float *v, float lambda,
                             float gamma, int b, int h, const AttnDims *a) {
    int T = a->T, vd = a->v_dim, ld = a->ld;
    long vo = (long)b * T * ld + attn_v_offset(a, h);
    const float *dO = dout + vo;
    // Column-wise double accumulators: every inner loop runs over the v_dim columns, which are
    // independent, so it vectorises without changing any sum's order. The scalar gradients sum
    // per column down the rows, then over the columns in order.
    double *acc = w->acc, *col_l = w->acc + vd, *col_g = w->acc + 2 * vd;
    *pl = *pg = 0.0;
    if (a->n_maps == 1) {
        for (int i = 0; i < T; i++)
            memcpy(w->dOm[0] + (long)i * vd, dO + (long)i * ld, sizeof(float) * vd);
    } else {
        float *d1 = w->dOm[0], *d2 = w->dOm[1];
        for (int c = 0; c < vd; c++) col_l[c] = col_g[c] = 0.0;
        for (int i = 0; i < T; i++) {
            const float *o2r = o2 + vo + (long)i * ld, *dOr = dO + (long)i * ld;
            float *d1r = d1 + (long)i * vd, *d2r = d2 + (long)i * vd;
#pragma omp simd
            for (int c = 0; c < vd; c++) {
                col_l[c] -= (double)o2r[c] * dOr[c];
                d1r[c] = dOr[c];
                d2r[c] = -lambda * dOr[c];
            }
        }
        if (a->use_global) {
            // dgamma = <C, dout>, C recomputed row by row from o1 (v for uniform G; no (T, v_dim)
            // copy).
            const float *O1 = a->g_mode == GMODE_UNIFORM ? v + vo : o1 + vo;
            for (int c = 0; c < vd; c++) acc[c] = 0.0;
            if (a->g_mode != GMODE_FULL) {
                for (int i = 0; i < T; i++) {
                    double inv = 1.0 / (i + 1);
                    const float *O1r = O1 + (long)i * ld, *dOr = dO + (long)i * ld;
#pragma omp simd
                    for (int c = 0; c < vd; c++) {
                        acc[c] += O1r[c];
                        col_g[c] += (double)(float)(acc[c] * inv) * dOr[c];
                    }
                }
            } else {
                double inv = 1.0 / T;
                for (int i = 0; i < T; i++)
#pragma omp simd
                    for (int c = 0; c < vd; c++) acc[c] += O1[(long)i * ld + c];
                for (int i = 0; i < T; i++)
#pragma omp simd
                    for (int c = 0; c < vd; c++)
                        col_g[c] += (double)(float)(acc[c] * inv) * dO[(long)i * ld + c];
            }
            for (int c = 0; c < vd; c++) acc[c] = 0.0;
            if (a->g_mode == GMODE_CAUSAL) {
                for (int i = T - 1; i >= 0; i--) {
                    double inv = 1.0 / (i + 1);
                    const float *dOr = dO + (long)i * ld;
                    float *d1r = d1 + (long)i * vd;
#pragma omp simd
                    for (int c = 0; c < vd; c++) {
                        acc[c] += (double)dOr[c] * inv;
                        d1r[c] += gamma * (float)acc[c];
                    }
                }
            } else if (a->g_mode == GMODE_FULL) {
                for (int i = 0; i < T; i++)
#pragma omp simd
                    for (int c = 0; c < vd; c++) acc[c] += dO[(long)i * ld + c];
                double inv = 1.0 / T;
                for (int i = 0; i < T; i++)
#pragma omp simd
                    for (int c = 0; c < vd; c++)
                        d1[(long)i * vd + c] += gamma * (float)(acc[c] * inv);
            }
        }
        double sl = 0.0, sg = 0.0;
        for (int c = 0; c < vd; c++) sl += col_l[c], sg += col_g[c];
        *pl = sl;
        *pg = sg;
    }
    // D_i = rowsum(dOm_i * Om_i) = rowsum(A_i * dA_i), the softmax backward's row term (in
    // double, dot_f64's lane order).
    for (int m = 0; m < a->n_maps; m++) {
        const float *Om = (m == 0 ? o1 : o2) + vo;
        for (int i = 0; i < T; i++)
            w->Dm[m][i] = (float)dot_f64(w->dOm[m] + (long)i * vd, Om + (long)i * ld, vd);
    }
}

// Uniform G: dV of head (b, h) += gamma R, R_m = sum_{i >= m} dout_i / (i + 1) (the gradient of
// C = running mean of V), in the operations of backward_prepare's causal dO1 term.
static void global_uniform_dv(float *dv, const float *dout, float gamma, double *acc, int b, int h,
                              const AttnDims *a) {
    int T = a->T, vd = a->v_dim, ld = a->ld;
    long vo = (long)b * T * ld + attn_v_offset(a, h);
    for (int c = 0; c < vd; c++) acc[c] = 0.0;
    for (int i = T - 1; i >= 0; i--) {
        double inv = 1.0 / (i + 1);
        const float *dOr = dout + vo + (long)i * ld;
        float *dvr = dv + vo + (long)i * ld;
#pragma omp simd
        for (int c = 0; c < vd; c++) {
            acc[c] += (double)dOr[c] * inv;
            dvr[c] += gamma * (float)acc[c];
        }
    }
}

// The gradients of head (b, h) by recomputation: key tiles in order, and for each the query
// tiles at or below the diagonal in order, both maps per tile pair. dK / dV of a key tile
// accumulate in scratch; dQ accumulates in dq itself, key tile after key tile, in a fixed
// order (one thread owns the whole head).
static void backward_head(BwdScratch *w, float *dq, float *dk, float *dv, const float *lse,
                          const float *q, const float *k, const float *v, int b, int h,
                          const AttnDims *a) {
    int T = a->T, d = a->qk_dim, vd = a->v_dim, ld = a->ld, M = a->n_maps;
    float scale = 1.0f / sqrtf((float)d);
    long base = (long)b * T * ld;
    const float *V = v + base + attn_v_offset(a, h);
    for (int m = 0; m < M; m++) {
        float *dQ = dq + base + attn_qk_offset(a, h, m);
        for (int i = 0; i < T; i++) memset(dQ + (long)i * ld, 0, sizeof(float) * d);
    }
    for (int j0 = 0; j0 < T; j0 += BK) {
        int bc = imin(BK, T - j0);
        memset(w->dV, 0, sizeof(float) * (size_t)bc * vd);
        for (int m = 0; m < M; m++) {
            memset(w->dK[m], 0, sizeof(float) * (size_t)bc * d);
            transpose_tile(w->Kt[m], k + base + attn_qk_offset(a, h, m) + (long)j0 * ld, bc, d, ld);
        }
        transpose_tile(w->Vt, V + (long)j0 * ld, bc, vd, ld);
        for (int i0 = j0 / BQ * BQ; i0 < T; i0 += BQ) {
            int br = imin(BQ, T - i0);
            int diag = j0 + bc - 1 > i0;
            for (int m = 0; m < M; m++) {
                long qo = base + attn_qk_offset(a, h, m);
                const float *Q = q + qo + (long)i0 * ld, *K = k + qo + (long)j0 * ld;
                const float *L = lse + lse_off(b, h, m, a) + i0;
                const float *dO = w->dOm[m] + (long)i0 * vd;
                const float *D = w->Dm[m] + i0;
                // P = exp(scale Q K^T - lse), zero above the diagonal
                TileTri out_tri = diag ? TRI_OUT_LOWER : TRI_NONE;
                TileTri k_lower = diag ? TRI_K_LOWER : TRI_NONE,
                        k_upper = diag ? TRI_K_UPPER : TRI_NONE;
                int off = i0 - j0;
                tile_gemm(br, bc, d, scale, Q, ld, 1, w->Kt[m], BK, 0.0f, w->S, BK, out_tri, off);
                for (int r = 0; r < br; r++) {
                    float *row = w->S + (long)r * BK;
                    int lim = diag ? imin(bc, i0 + r - j0 + 1) : bc; // >= 1: j0 <= i0
                    (void)exp_shift_sum(row, lim, L[r]);             // (the sum is not needed)
                    if (lim < bc) memset(row + lim, 0, sizeof(float) * (size_t)(bc - lim));
                }
                // dV += P^T dOm ; dP = dOm V^T
                tile_gemm(bc, vd, br, 1.0f, w->S, 1, BK, dO, vd, 1.0f, w->dV, vd, k_upper, off);
                tile_gemm(br, bc, vd, 1.0f, dO, vd, 1, w->Vt, BK, 0.0f, w->dP, BK, out_tri, off);
                // dS = P * (dP - D) * scale (in place over dP), 0 where masked
                for (int r = 0; r < br; r++) {
                    const float *p = w->S + (long)r * BK;
                    float *g = w->dP + (long)r * BK;
                    int lim = diag ? imin(bc, i0 + r - j0 + 1) : bc;
                    float Dr = D[r];
#pragma omp simd
                    for (int j = 0; j < lim; j++) g[j] = p[j] * (g[j] - Dr) * scale;
                    if (lim < bc) memset(g + lim, 0, sizeof(float) * (size_t)(bc - lim));
                }
                // dK += dS^T Q ; dQ += dS K
                tile_gemm(bc, d, br, 1.0f, w->dP, 1, BK, Q, ld, 1.0f, w->dK[m], d, k_upper, off);
                tile_gemm(br, d, bc, 1.0f, w->dP, BK, 1, K, ld, 1.0f, dq + qo + (long)i0 * ld, ld,
                          k_lower, off);
            }
        }
        for (int m = 0; m < M; m++) {
            float *dK = dk + base + attn_qk_offset(a, h, m) + (long)j0 * ld;
            for (int j = 0; j < bc; j++)
                memcpy(dK + (long)j * ld, w->dK[m] + (long)j * d, sizeof(float) * d);
        }
        float *dVo = dv + base + attn_v_offset(a, h) + (long)j0 * ld;
        for (int j = 0; j < bc; j++)
            memcpy(dVo + (long)j * ld, w->dV + (long)j * vd, sizeof(float) * vd);
    }
}

void attention_stream_backward(float *dq, float *dk, float *dv, double *dlambda, double *dgamma,
                               const float *dout, const float *o1, const float *o2,
                               const float *lse, const float *q, const float *k, const float *v,
                               float lambda, float gamma, int B, const AttnDims *a) {
    int T = a->T, H = a->n_heads, d = a->qk_dim, vd = a->v_dim;
    CHECK(o1 && (a->n_maps == 1 || o2), "attention_stream_backward: o1 (and o2) needed");
    CHECK(a->precision == PRECISION_FP32,
          "attention_stream_backward: reduced precision is emulated for evaluations only");
    double *part_l = xcalloc((size_t)B * H, sizeof(double));
    double *part_g = xcalloc((size_t)B * H, sizeof(double));
    // Parallel over (batch, head) only: dQ of a query tile sums over key tiles and dK / dV of
    // a key tile over query tiles; one thread per head keeps both sums in one fixed order
    // without atomics or (T / BK) copies of dQ.
#pragma omp parallel
    {
        BwdScratch w;
        w.Vt = xmalloc(sizeof(float) * (size_t)vd * BK);
        w.S = xmalloc(sizeof(float) * BQ * BK);
        w.dP = xmalloc(sizeof(float) * BQ * BK);
        w.dV = xmalloc(sizeof(float) * (size_t)BK * vd);
        for (int m = 0; m < 2; m++) {
            w.Kt[m] = xmalloc(sizeof(float) * (size_t)d * BK);
            w.dK[m] = xmalloc(sizeof(float) * (size_t)BK * d);
            w.dOm[m] = xmalloc(sizeof(float) * (size_t)T * vd);
            w.Dm[m] = xmalloc(sizeof(float) * (size_t)T);
        }
        w.acc = xmalloc(sizeof(double) * (size_t)vd * 3);
#pragma omp for schedule(dynamic, 1)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            backward_prepare(&w, &part_l[bh], &part_g[bh], dout, o1, o2, v, lambda, gamma, b, h, a);
            backward_head(&w, dq, dk, dv, lse, q, k, v, b, h, a);
            if (a->n_maps == 2 && a->use_global && a->g_mode == GMODE_UNIFORM)
                global_uniform_dv(dv, dout, gamma, w.acc, b, h, a);
        }
        free(w.Vt);
        free(w.S);
        free(w.dP);
        free(w.dV);
        for (int m = 0; m < 2; m++) {
            free(w.Kt[m]);
            free(w.dK[m]);
            free(w.dOm[m]);
            free(w.Dm[m]);
        }
        free(w.acc);
    }
    attention_scalar_grads_sum(part_l, part_g, B * H, dlambda, dgamma);
}

// ---------------------------------------------------------------------------------------------
// Rows of the maps, recomputed (diagnostics)

void attention_map_rows(float *P, float *S, const float *q, const float *k, int b, int h, int m,
                        int i0, int n, const AttnDims *a) {
    int T = a->T, ld = a->ld;
    CHECK(i0 >= 0 && n >= 0 && i0 + n <= T, "attention_map_rows: rows [%d, %d) outside [0, %d)", i0,
          i0 + n, T);
    if (n == 0) return;
    float scale = 1.0f / sqrtf((float)a->qk_dim);
    long off = (long)b * T * ld + attn_qk_offset(a, h, m);
    int cols = i0 + n; // keys any of the rows sees
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, cols, a->qk_dim, scale,
                q + off + (long)i0 * ld, ld, k + off, ld, 0.0f, P, T);
    for (int r = 0; r < n; r++) {
        int i = i0 + r;
        float *row = P + (long)r * T;
        if (S) memcpy(S + (long)r * T, row, sizeof(float) * (size_t)(i + 1));
        attention_causal_softmax_row(row, i, T);
    }
}

void attention_final_rows_init(AttnFinalRows *s, const float *q, const float *k, float lambda,
                               float gamma, int b, int h, const AttnDims *a) {
    memset(s, 0, sizeof *s);
    s->q = q;
    s->k = k;
    s->lambda = lambda;
    s->gamma = gamma;
    s->b = b;
    s->h = h;
    s->a = *a;
    int T = a->T;
    s->P1 = xmalloc(sizeof(float) * (size_t)ATTN_ROW_BLOCK * T);
    if (a->n_maps == 2) s->P2 = xmalloc(sizeof(float) * (size_t)ATTN_ROW_BLOCK * T);
    if (a->n_maps == 2 && a->use_global) {
        s->colsum = xcalloc((size_t)T, sizeof(double));
        s->g = xmalloc(sizeof(float) * (size_t)T);
        if (a->g_mode == GMODE_FULL) // all rows, in order, as attention_final_map sums them
            for (int i0 = 0; i0 < T; i0 += ATTN_ROW_BLOCK) {
                int n = imin(ATTN_ROW_BLOCK, T - i0);
                attention_map_rows(s->P1, NULL, q, k, b, h, 0, i0, n, a);
                for (int r = 0; r < n; r++)
                    attention_global_add_row(s->colsum, s->P1 + (long)r * T, i0 + r, NULL);
            }
    }
}

void attention_final_rows(AttnFinalRows *s, float *F, int i0, int n) {
    const AttnDims *a = &s->a;
    int T = a->T;
    CHECK(i0 >= s->next && i0 + n <= T,
          "attention_final_rows: rows [%d, %d) asked after row %d (rows go in increasing order)",
          i0, i0 + n, s->next);
    int causal_g = a->n_maps == 2 && a->use_global && a->g_mode == GMODE_CAUSAL;
    // Causal G: the rows skipped over still enter the column sums.
    if (causal_g)
        for (int r0 = s->next; r0 < i0; r0 += ATTN_ROW_BLOCK) {
            int nr = imin(ATTN_ROW_BLOCK, i0 - r0);
            attention_map_rows(s->P1, NULL, s->q, s->k, s->b, s->h, 0, r0, nr, a);
            for (int r = 0; r < nr; r++)
                attention_global_add_row(s->colsum, s->P1 + (long)r * T, r0 + r, NULL);
        }
    for (int r0 = i0; r0 < i0 + n; r0 += ATTN_ROW_BLOCK) {
        int nr = imin(ATTN_ROW_BLOCK, i0 + n - r0);
        float *Fb = F + (long)(r0 - i0) * T;
        if (a->n_maps == 1) {
            attention_map_rows(Fb, NULL, s->q, s->k, s->b, s->h, 0, r0, nr, a);
            continue;
        }
        attention_map_rows(s->P1, NULL, s->q, s->k, s->b, s->h, 0, r0, nr, a);
        attention_map_rows(s->P2, NULL, s->q, s->k, s->b, s->h, 1, r0, nr, a);
        for (int r = 0; r < nr; r++) {
            int i = r0 + r;
            const float *A1 = s->P1 + (long)r * T;
            if (s->g) {
                if (a->g_mode == GMODE_CAUSAL) attention_global_add_row(s->colsum, A1, i, NULL);
                attention_global_row(s->g, s->colsum, i, a, NULL);
            }
            attention_final_row(Fb + (long)r * T, A1, s->P2 + (long)r * T, s->g, i, s->lambda,
                                s->gamma, a, NULL);
        }
    }
    s->next = i0 + n;
}

void attention_final_rows_free(AttnFinalRows *s) {
    free(s->P1);
    free(s->P2);
    free(s->colsum);
    free(s->g);
    memset(s, 0, sizeof *s);
}

void attention_final_map_recompute(float *A, const float *q, const float *k, int b, int h,
                                   float lambda, float gamma, const AttnDims *a) {
    AttnFinalRows s;
    attention_final_rows_init(&s, q, k, lambda, gamma, b, h, a);
    attention_final_rows(&s, A, 0, a->T);
    attention_final_rows_free(&s);
}
