#include "tile_gemm.h"

#include <math.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static __m256i lanes_below(int k) { // lanes 0 .. k-1 set
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static void store_c(float *c, __m256 acc, __m256i mask, int full, float alpha, float beta) {
    __m256 r = _mm256_mul_ps(_mm256_set1_ps(alpha), acc);
    if (beta != 0.0f) {
        __m256 old = full ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, mask);
        r = _mm256_fmadd_ps(_mm256_set1_ps(beta), old, r);
    }
    if (full)
        _mm256_storeu_ps(c, r);
    else
        _mm256_maskstore_ps(c, mask, r);
}

// MR rows (1..4) x 16 columns (the columns past n masked off) of C.
#define TILE_KERNEL(MR)                                                                            \
    static void kernel_##MR(int n, int K, float alpha, const float *A, long a_rs, long a_cs,       \
                            const float *B, long ldb, float beta, float *C, long ldc) {            \
        __m256i m0 = lanes_below(n), m1 = lanes_below(n - 8);                                      \
        int full0 = n >= 8, full1 = n >= 16;                                                       \
        __m256 acc0[MR], acc1[MR];                                                                 \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) acc0[r] = acc1[r] =                   \
            _mm256_setzero_ps();                                                                   \
        for (int k = 0; k < K; k++) {                                                              \
            const float *b = B + (long)k * ldb;                                                    \
            __m256 b0 = full0 ? _mm256_loadu_ps(b) : _mm256_maskload_ps(b, m0);                    \
            __m256 b1 = full1 ? _mm256_loadu_ps(b + 8)                                             \
                              : (n > 8 ? _mm256_maskload_ps(b + 8, m1) : _mm256_setzero_ps());     \
            _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                                 \
                __m256 a = _mm256_broadcast_ss(A + r * a_rs + (long)k * a_cs);                     \
                acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);                                         \
                acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);                                         \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                                     \
            store_c(C + r * ldc, acc0[r], m0, full0, alpha, beta);                                 \
            if (n > 8) store_c(C + r * ldc + 8, acc1[r], m1, full1, alpha, beta);                  \
        }                                                                                          \
    }
TILE_KERNEL(4)
TILE_KERNEL(1)
#undef TILE_KERNEL

typedef void (*RowKernel)(int n, int K, float alpha, const float *A, long a_rs, long a_cs,
                          const float *B, long ldb, float beta, float *C, long ldc);

static void row_block(RowKernel kern, int m0, int mr, int N, int K, float alpha, const float *A,
                      long a_rs, long a_cs, const float *B, long ldb, float beta, float *C,
                      long ldc, TileTri tri, int off) {
    int n_end = N, k0 = 0, k1 = K, last = m0 + mr - 1;
    if (tri == TRI_OUT_LOWER) n_end = last + off + 1 < N ? last + off + 1 : N;
    if (tri == TRI_K_LOWER) k1 = last + off + 1 < K ? last + off + 1 : K;
    if (tri == TRI_K_UPPER) k0 = m0 - off > 0 ? m0 - off : 0;
    if (k1 < k0) k1 = k0;
    for (int j0 = 0; j0 < n_end; j0 += 16)
        kern(n_end - j0 < 16 ? n_end - j0 : 16, k1 - k0, alpha, A + m0 * a_rs + k0 * a_cs, a_rs,
             a_cs, B + (long)k0 * ldb + j0, ldb, beta, C + m0 * ldc + j0, ldc);
}

void tile_gemm(int M, int N, int K, float alpha, const float *A, long a_rs, long a_cs,
               const float *B, long ldb, float beta, float *C, long ldc, TileTri tri, int off) {
    int m0 = 0;
    for (; m0 + 4 <= M; m0 += 4)
        row_block(kernel_4, m0, 4, N, K, alpha, A, a_rs, a_cs, B, ldb, beta, C, ldc, tri, off);
    for (; m0 < M; m0++)
        row_block(kernel_1, m0, 1, N, K, alpha, A, a_rs, a_cs, B, ldb, beta, C, ldc, tri, off);
}

#else

// Row blocks of 4 as the AVX2 path, so the k range of every row (and so its sum) is the same.
void tile_gemm(int M, int N, int K, float alpha, const float *A, long a_rs, long a_cs,
               const float *B, long ldb, float beta, float *C, long ldc, TileTri tri, int off) {
    for (int m = 0; m < M; m++) {
        int m0 = m / 4 * 4, last = m0 + 4 <= M ? m0 + 3 : m;
        if (m0 + 4 > M) m0 = m;
        int n_end = N, k0 = 0, k1 = K;
        if (tri == TRI_OUT_LOWER) n_end = last + off + 1 < N ? last + off + 1 : N;
        if (tri == TRI_K_LOWER) k1 = last + off + 1 < K ? last + off + 1 : K;
        if (tri == TRI_K_UPPER) k0 = m0 - off > 0 ? m0 - off : 0;
        for (int j = 0; j < n_end; j++) {
            float acc = 0.0f;
            for (int k = k0; k < k1; k++) acc = fmaf(A[m * a_rs + k * a_cs], B[k * ldb + j], acc);
            float r = alpha * acc;
            C[m * ldc + j] = beta != 0.0f ? fmaf(beta, C[m * ldc + j], r) : r;
        }
    }
}

#endif

void tile_gemm_ref(int M, int N, int K, float alpha, const float *A, long a_rs, long a_cs,
                   const float *B, long ldb, float beta, float *C, long ldc) {
    for (int m = 0; m < M; m++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) acc += (double)A[m * a_rs + k * a_cs] * B[k * ldb + j];
            double r = (double)alpha * acc;
            if (beta != 0.0f) r += (double)beta * C[m * ldc + j];
            C[m * ldc + j] = (float)r;
        }
}
