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

#endif
