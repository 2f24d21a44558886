// Streaming (flash-style) causal attention for the three variants: the same semantics as
// attention_forward / attention_backward (attention.h), without any (T, T) buffer.
//
// One map per head (Transformer):   O = A V
// Two maps per head (DIFF / DINT):  O = A1 V - lambda A2 V + gamma C,
//   causal: C_i = mean_{m <= i} (A1 V)_m        full: C_i = mean_m (A1 V)_m
// DIFF is gamma = 0 (use_global 0). Same AttnDims, q/k/v layout and head offsets
// (attn_qk_offset, attn_v_offset) as the materialised kernel.
//
// The softmax maps are never stored: the forward keeps, per row and map, the log-sum-exp of
// the scaled scores, lse_i = log sum_{j <= i} exp(q_i . k_j / sqrt(d)), and the backward
// recomputes the probabilities tile by tile as exp(s_ij - lse_i). Memory is O(T d) per head
// (o1, o2, lse and per-thread scratch of a few tiles plus one (T, v_dim) gradient buffer).
//
// Results do not depend on the number of OpenMP threads (bit-identical): every output element
// is computed by one fixed sequence of operations, and the scalar reductions run in a fixed
// order. OpenBLAS must be single-threaded (threads_init does that).
#ifndef DINT_ATTENTION_STREAM_H
#define DINT_ATTENTION_STREAM_H

#include "attention.h"

// out, o1, o2 (B, T, ld); lse (B, n_heads, n_maps, T) log-sum-exp of every row of every map.
// q, k, v (B, T, ld), rotary already applied. o1/o2 hold A1 V and A2 V (unused, may be NULL,
// for one map).
void attention_stream_forward(float *out, float *o1, float *o2, float *lse, const float *q,
                              const float *k, const float *v, float lambda, float gamma, int B,
                              const AttnDims *a);

// dq, dk, dv (B, T, ld) are written (not accumulated). dlambda, dgamma get the scalar
// gradients with respect to lambda (as in -lambda A2 V) and gamma (as in gamma C), summed in
// double in a fixed order. o1, o2, lse as left by attention_stream_forward; with one map there
// is no o1, and `o1` must be the forward's `out` (= A V), o2 is unused (may be NULL).
void attention_stream_backward(float *dq, float *dk, float *dv, double *dlambda, double *dgamma,
                               const float *dout, const float *o1, const float *o2,
                               const float *lse, const float *q, const float *k, const float *v,
                               float lambda, float gamma, int B, const AttnDims *a);

// ---------------------------------------------------------------------------------------------
// Diagnostics without stored maps: rows of the softmax maps and of the final map recomputed from
// the stored q and k (rotary applied), a block of rows at a time, O(T) memory per row.
//
// The rows are normalised exactly as the materialised kernel normalises its maps (scores by
// sgemm, row max, expf, sum in double, times the fp32 inverse), not as exp(s - lse): the
// probabilities are those attention_forward would have stored (bit for bit where sgemm returns
// the same scores for a block of rows as for the whole map), so diagnostics keep their values.

// Rows [i0, i0 + n) of softmax map m of head (b, h): P (n, T) row-major, P[r][j] = A_m[i0 + r][j]
// for j <= i0 + r and 0 after. S (n, T), if not NULL, gets the scaled scores q_i . k_j / sqrt(d)
// of the causal entries j <= i (the attention logits; entries after i are unspecified).
// q, k (B, T, ld) as the forward left them.
void attention_map_rows(float *P, float *S, const float *q, const float *k, int b, int h, int m,
                        int i0, int n, const AttnDims *a);

// Rows of the final map A1 - lambda A2 + gamma G_expanded (A for one map) of one head, the
// values attention_final_map forms from stored maps. G needs column sums of A1: over all rows
// (g_mode full: computed at init, one pass over the rows) or over rows 0 .. i (causal: summed
// while the rows are visited in order). Rows must therefore be asked for in increasing order,
// without overlap; rows skipped over are still computed for the sums (causal DINT), so asking
// for row i costs O(i T d) time but only O(T) memory.
typedef struct {
    const float *q, *k;
    float lambda, gamma;
    int b, h;
    AttnDims a;
    int next;       // rows before `next` are done (in colsum for causal G)
    double *colsum; // (T) column sums of A1 (global term only)
    float *g;       // (T) the current row of G (global term only)
    float *P1, *P2; // (ATTN_ROW_BLOCK, T) scratch
} AttnFinalRows;
#define ATTN_ROW_BLOCK 32

void attention_final_rows_init(AttnFinalRows *s, const float *q, const float *k, float lambda,
                               float gamma, int b, int h, const AttnDims *a);
// F (n, T): final-map rows [i0, i0 + n), i0 >= the end of the previous call; entries outside a
// row's support are 0 (causal: j > i).
void attention_final_rows(AttnFinalRows *s, float *F, int i0, int n);
void attention_final_rows_free(AttnFinalRows *s);

// The whole (T, T) final map of one head (a figure of one head): what attention_final_map gives
// from the materialised kernel's maps, recomputed from q and k.
void attention_final_map_recompute(float *A, const float *q, const float *k, int b, int h,
                                   float lambda, float gamma, const AttnDims *a);

#endif
