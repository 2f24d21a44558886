// Causal multi-head attention for the three variants (docs/attention.md §2-§6).
//
// One map per head (Transformer):   O = A V
// Two maps per head (DIFF / DINT):  O = A1 V - lambda A2 V + gamma C,
// where C is G_expanded V computed without the N x N matrix G (docs/attention.md §6):
//   causal: C_i = mean_{m <= i} (A1 V)_m        full: C_i = mean_m (A1 V)_m
//   uniform (G[i, j] = 1/(i+1) for j <= i, the control): C_i = mean_{m <= i} V_m
// DIFF is gamma = 0. Head norm, (1 - lambda_init) and the output projection live in model.c.
#ifndef DINT_ATTENTION_H
#define DINT_ATTENTION_H

#include "config.h"
#include "precision.h"

typedef struct {
    int T;          // sequence length
    int n_heads;    // heads
    int n_maps;     // softmax maps per head (1 or 2)
    int qk_dim;     // d: size of each q/k map of a head
    int v_dim;      // d (Transformer) or 2d (DIFF/DINT)
    int ld;         // row stride of q, k, v and outputs: d_model
    int use_global; // add gamma C (DINT with gamma not zero)
    GMode g_mode;
    // Evaluations only (attention_stream_forward): emulate a lower precision (docs/precision.md);
    // attn_dims sets fp32, the training kernels.
    Precision precision;
} AttnDims;

AttnDims attn_dims(const ModelConfig *m, int T);

// Per-head feature offsets inside a d_model row (official DIFF layout, docs/attention.md §2):
// map m of head h of q/k at (h * n_maps + m) * d; v and outputs of head h at h * v_dim.
long attn_qk_offset(const AttnDims *a, int h, int m);
long attn_v_offset(const AttnDims *a, int h);

// out, o1, o2 (B, T, ld); maps (B, n_heads, n_maps, T, T) softmax probabilities.
// q, k, v (B, T, ld), rotary already applied. o1/o2 hold A1 V and A2 V (unused for one map).
void attention_forward(float *out, float *o1, float *o2, float *maps, const float *q,
                       const float *k, const float *v, float lambda, float gamma, int B,
                       const AttnDims *a);

// dq, dk, dv (B, T, ld) are written (not accumulated). dlambda, dgamma get the scalar
// gradients with respect to lambda (as in -lambda A2 V) and gamma (as in gamma C).
void attention_backward(float *dq, float *dk, float *dv, double *dlambda, double *dgamma,
                        const float *dout, const float *o1, const float *o2, const float *maps,
                        const float *q, const float *k, const float *v, float lambda, float gamma,
                        int B, const AttnDims *a);

// Row i of a causal softmax map in place: row (T) holds the scaled logits of keys j <= i;
// afterwards the probabilities (max-subtracted, sum in double) and zeros for j > i. The one
// definition the materialised kernel and the recomputed diagnostic rows share, bit for bit.
void attention_causal_softmax_row(float *row, int i, int T);

// dlambda, dgamma (the backward kernels' scalar gradients) from n per-(batch, head) partial
// sums, added in a fixed order so that they do not depend on the thread count; frees both.
void attention_scalar_grads_sum(double *part_l, double *part_g, int n, double *dlambda,
                                double *dgamma);

// Reference: the literal definition with the final map materialised, naive loops in double.
// Same outputs as attention_forward's `out`.
void attention_forward_ref(float *out, const float *q, const float *k, const float *v, float lambda,
                           float gamma, int B, const AttnDims *a);

// ---------------------------------------------------------------------------------------------
// The final map, one definition (docs/attention.md §5), for every caller: the materialised
// maps (attention_final_map), the rows recomputed from q and k (attention_stream.h) and the
// audit's reduced-precision emulation.
//
//   A_final[i, j] = A1[i, j] - lambda A2[i, j] + gamma G[i, j]      (one map: A1)
//   G[i, j] = colsum_j / rows,  colsum_j = sum over rows r of A1[r, j] (in double, in row order),
//   rows r = 0 .. i (g_mode causal) or all T rows (full); uniform: G[i, j] = 1/(i+1), j <= i
//
// Rounding (AttnRound): emulates a kernel that stores every value in a lower precision (bf16,
// fp16) and computes in fp32: with R = round, a1 = R(A1), a2 = R(A2), lam = R(lambda),
// gam = R(gamma), colsum sums the rounded a1, g = R(G), and
//   A_final = R(R(a1 - R(lam a2)) + R(gam g))      (DIFF: R(a1 - R(lam a2)); one map: a1).
// NULL is fp32: no rounding, the same operations as the model's kernels.
typedef float (*AttnRound)(float);

// Offset in floats of map m of head (b, h) inside materialised maps (B, n_heads, n_maps, T, T).
long attn_map_offset(const AttnDims *a, int b, int h, int m);

// Entries of row i of the final map that can be non-zero: i + 1, or T for DINT with g_mode full
// (the global term puts weight on every column).
int attention_final_row_len(const AttnDims *a, int i);

// The global term's column sums. colsum (T) starts at zero; each row i of A1 that G averages is
// added once, in row order: colsum[j] += round(a1[j]) for j <= i (a1 (T) row i of A1).
void attention_global_add_row(double *colsum, const float *a1, int i, AttnRound round);
// Row i of G from the column sums over `rows` rows (causal: i + 1 after adding row i; full: T
// after adding every row): g[j] = round((float)(colsum[j] / rows)) for j < n, n as
// attention_final_row_len; uniform: g[j] = round((float)(1 / (i + 1))), colsum unused.
void attention_global_row(float *g, const double *colsum, int i, const AttnDims *a,
                          AttnRound round);

// Row i of the final map of one head into f (T): entries j < attention_final_row_len(a, i) as
// defined above, zero after. a1, a2 (T): row i of A1 and A2 (zero after i; a2 unused for one map);
// g (T): row i of G from attention_global_row with the same round (read only when the head has
// the global term, a->use_global). Returns the row length.
int attention_final_row(float *f, const float *a1, const float *a2, const float *g, int i,
                        float lambda, float gamma, const AttnDims *a, AttnRound round);

// The final attention map of one head, A_final (T, T) = A1 - lambda A2 + gamma G_expanded
// (or A for one map), from the probabilities stored by attention_forward (fp32).
void attention_final_map(float *A, const float *maps, int b, int h, float lambda, float gamma,
                         const AttnDims *a);

#endif
