// The small products of the streaming attention's tiles (64 x 64 scores against head dims of
// 8-128), where a BLAS call costs more in packing and dispatch than in arithmetic: register-
// blocked AVX2/FMA loops, 4 rows x 16 columns of C at a time, with a portable C twin that does
// the same fp32 operations in the same order (the same bits).
//
//   C (M, N) = alpha * (A B) + beta * C
//   A (M, K): element (m, k) at A[m * a_rs + k * a_cs]  (a_rs = lda, a_cs = 1: A; a_rs = 1,
//             a_cs = lda: the transpose of a stored (K, M) matrix)
//   B (K, N): row-major, row stride ldb;  C (M, N): row-major, row stride ldc
//
// Every C element is one fused multiply-add chain over k = 0 .. K-1 in order, then
// alpha * sum + beta * C (beta == 0: C is not read), so results depend on nothing but the
// operands: not on M, N, the blocking or the thread that runs it.
//
// Causal tiles: `tri` and `off` say which part of the product is needed or non-zero, so rows
// skip it (a diagonal tile of the attention costs half a full one). Skipped terms are exact
// zeros of A, and adding an exact zero changes no sum, so the bits are those of the full product.
//   TRI_NONE       everything
//   TRI_OUT_LOWER  only C(m, n) with n <= m + off is needed; other elements of a row may be
//                  written or left as they were
//   TRI_K_LOWER    A(m, k) == 0 for k > m + off       (P, dS: keys after the query)
//   TRI_K_UPPER    A(m, k) == 0 for k < m - off       (their transposes)
#ifndef DINT_TILE_GEMM_H
#define DINT_TILE_GEMM_H

typedef enum { TRI_NONE, TRI_OUT_LOWER, TRI_K_LOWER, TRI_K_UPPER } TileTri;

void tile_gemm(int M, int N, int K, float alpha, const float *A, long a_rs, long a_cs,
               const float *B, long ldb, float beta, float *C, long ldc, TileTri tri, int off);
// The definition, in double, over the whole product: C = alpha * sum_k A B + beta * C.
void tile_gemm_ref(int M, int N, int K, float alpha, const float *A, long a_rs, long a_cs,
                   const float *B, long ldb, float beta, float *C, long ldc);

#endif
