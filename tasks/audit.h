// Numerical-stability audit of the attention maps and activations (docs/attention.md
// §4-§5): row sums of the final map A_final = A1 - lambda A2 + gamma G (expected 1 - lambda +
// gamma: 1 for the Transformer and for DINT with gamma tied, 1 - lambda for DIFF), negative
// weights, entropies, attention-logit and hidden-state outliers (the DIFF paper's Table 5),
// and what bf16 / fp16 storage, or K-bit quantisation (qK), of the maps would do to the row
// sums. No file I/O: the caller runs model_forward, passes the model, and reads numbers back.
// Beside it: the leakage probe (leakage_probe.h), the training row-sum diagnostic
// (row_sum_diagnostic.h) and a sample as doubles for MPI (audit_wire.h).
//
// Precision emulation (Precision). For bf16 and fp16 every stored quantity and every
// elementwise result is rounded to the format (precision_round in core/precision.h)
// while the arithmetic itself is fp32, as a kernel with the format's storage would do:
//     a1 = R(A1[i,j]), a2 = R(A2[i,j]), lam = R(lambda), gam = R(gamma)
//     G column means in double from the rounded a1 (causal: over rows 0..i; full: all rows),
//     g = R(mean)
//     t2 = R(lam * a2), t3 = R(gam * g)                        (both products are exact in fp32)
//     A_final[i,j] = R(R(a1 - t2) + t3)     (DIFF: R(a1 - t2); Transformer: a1)
// The row sum is the sum in double of the rounded A_final entries (an fp32-or-better
// accumulator reading low-precision storage). The deviation is row_sum - expected with
// expected = 1 - lambda + gamma from the fp32 lambda and gamma (DIFF: 1 - lambda, Transformer:
// 1), so rounding lambda and gamma is part of what the deviation shows (with gamma tied the two
// roundings are equal). PRECISION_FP32 applies no rounding: the map is formed in fp32 exactly as
// attention_final_map does. Logits are not rounded: their statistics are those of the fp32
// logits in every precision; a precision adds the count of logits that would overflow (round to
// +-inf: |x| >= 65520 for fp16, >= 0x1.ffp127 for bf16, never for finite fp32) and the margin
// max|logit| / format max (65504, 0x1.fep127 = 3.3895e38, FLT_MAX).
//
// Row support. Row i of A_final has entries j <= i, except DINT with g_mode full, whose global
// term puts gamma G_j on every column j < T (A1, A2 are zero above the diagonal there): all
// T entries count. The fraction of negative weights is over support entries.
//
// Entropies (nats), per row, averaged over rows: of A1 and A2 rows (causal entries), and of the
// final map as |A|/sum|A| (for a row without negative entries that is A/sum A; rows with a
// negative entry, counted in neg_rows, therefore use the absolute values). Rows are normalised
// by their own sum, so a row summing to 1 - lambda gets the entropy of its distribution.
// Computed in one pass as ln S - (sum |a| ln |a|) / S, S = sum |a|.
//
// Deviation histogram and |value| distributions (top-k, median): histogram.h.
//
// Hidden states: every entry of the residual stream entering layer l (m->la[l].x_in, B*T*D
// values), and of m->x_final as layer index n_layer. Kurtosis is Pearson's m4 / m2^2 of x
// (3 for a Gaussian, not the excess), over finite entries, with central moments merged across
// calls (Pebay's formulas), so several accumulate calls give the pooled value.
//
// Determinism: the work is split over (layer, head) and layer tasks, each owning its
// accumulators and visiting batch items in order, so results do not depend on the thread count.
// One forward is first measured apart (AuditSample) and then merged into the statistics: its
// floating-point sums over rows are kept row by row and added by the merge in row order, so
// samples measured elsewhere (other MPI ranks) and merged in sample order give the statistics
// of one process bit for bit; counts, extremes, top-k and histograms merge exactly in any case.
#ifndef DINT_TASKS_AUDIT_H
#define DINT_TASKS_AUDIT_H

#include "check.h"
#include "config.h"
#include "histogram.h"
#include "model.h"
#include "precision.h"

// The audit's precisions: all of core's Precision. For qK (K = 8, 6, 4) the maps' stored entries
// are the fp32 probabilities of each row quantised to K bits as the reduced-precision kernel
// quantises its own (quantize_row_symmetric over entries 0 .. i), and the rest is fp32: a
// quantised row no longer sums to 1 (the score quantisation before the softmax cannot change a
// row sum, so it is left out here).
#define AUDIT_N_PREC PRECISION_COUNT

// Accumulators of one (layer, head) in one precision.
typedef struct {
    // Rows of the final map.
    long rows;                // rows with a finite row sum (the row-sum fields below cover these)
    long rows_nonfinite;      // rows whose sum is NaN or inf
    double expected;          // expected row sum at the last accumulate (1 - lambda + gamma)
    double sum_row;           // sum of row sums
    double sum_dev, sum_dev2; // sum of (row sum - expected) and of its square
    double min_row, max_row;  // smallest and largest row sum
    double max_abs_dev;
    long hist[AUDIT_HIST_BINS]; // row sum - expected
    long entries, neg_entries;  // support entries of A_final, and those < 0
    long neg_rows;              // rows with a negative entry
    double neg_sum;             // sum over entries of min(A_final, 0) (<= 0)
    double ent_sum[3];          // entropy sums: [0] A1, [1] A2, [2] final (|A|/sum|A|)
    long ent_rows[3];           // rows entering each (finite, non-zero rows)
    long n_nan, n_inf;          // NaN / inf entries among A1, A2 (rounded) and A_final
    // Attention logits q.k / sqrt(d), causal entries of every map of the head (fp32).
    AuditAbsStats logit;
    long logit_overflow; // of them, those that would round to +-inf in this precision
} AuditHeadStats;

// Accumulators of one layer (index n_layer: x_final, lambda = gamma = 0).
typedef struct {
    float lambda, gamma;     // fp32, at the last accumulate
    float lambda_p, gamma_p; // rounded to the precision
    AuditAbsStats hidden;    // |x| of the residual stream entering the layer
    long hidden_overflow;    // entries that would round to +-inf in this precision
    long mom_n;              // finite entries in the moments
    double mean, m2, m3, m4; // central sums: m_k = sum (x - mean)^k
} AuditLayerStats;

typedef struct {
    Precision prec;
    Variant variant;
    GMode g_mode;
    int use_global; // DINT with gamma not zero: the G term is present
    int n_layer, n_heads, n_maps;
    long accumulations;     // audit_accumulate calls
    long tokens;            // B * T summed over calls
    AuditHeadStats *head;   // (n_layer, n_heads): head[l * n_heads + h]
    AuditLayerStats *layer; // (n_layer + 1)
} AuditStats;

// Zeroed accumulators for the model's shape, in precision p.
void audit_init(AuditStats *s, const Model *m, Precision p);
void audit_free(AuditStats *s);

// Add the last forward of m (model_forward(m, tokens, ..., B, T); B, T must match it) to every
// non-NULL s[i], each in its own s[i]->prec (any order, NULLs skipped). Shapes of s[i] must be
// those of m. Uses m->la[l].q, .k (the map rows are recomputed from them, ATTN_ROW_BLOCK rows
// at a time: O(T) memory per row, attention_map_rows), .x_in, m->x_final, model_lambda,
// model_gamma. The model must not be in inference mode (every layer's q and k are read).
void audit_accumulate(AuditStats *s[AUDIT_N_PREC], const Model *m, int B, int T);
// The same with the softmax maps of layer l taken from maps[l] (B, heads, maps, T, T) where
// maps[l] is not NULL (hand-built maps in tests); logits still come from q and k.
void audit_accumulate_maps(AuditStats *s[AUDIT_N_PREC], const Model *m, int B, int T,
                           const float *const *maps);

// One forward measured apart (audit_sample), to be merged into AuditStats (audit_sample_merge);
// audit_wire.h sends it between MPI ranks as doubles.
typedef struct {
    double row_sum;    // sum of the final map's row (not finite: counted in rows_nonfinite)
    double neg_sum;    // sum of its negative entries (<= 0)
    double entropy[3]; // of A1, A2 and the final map's row; NaN: the row enters no mean there
} AuditRow;

enum { AUDIT_ENTRIES, AUDIT_NEG_ENTRIES, AUDIT_NEG_ROWS, AUDIT_NAN, AUDIT_INF, AUDIT_N_COUNTS };

typedef struct {
    int n_layer, n_heads, rows;  // rows: B * T per (layer, head)
    int want[AUDIT_N_PREC];      // precisions measured
    long tokens;                 // B * T
    AuditRow *row[AUDIT_N_PREC]; // (n_layer, n_heads, rows), in batch-item then row order
    long *count[AUDIT_N_PREC];   // (n_layer, n_heads, AUDIT_N_COUNTS)
    AuditAbsStats *logit;        // (n_layer, n_heads): the same in every precision
    long *logit_overflow;        // (n_layer, n_heads, AUDIT_N_PREC)
    AuditAbsStats *hidden;       // (n_layer + 1)
    long *hidden_overflow;       // (n_layer + 1, AUDIT_N_PREC)
    double *moments;             // (n_layer + 1, 5): n, mean, m2, m3, m4 of the stream
    float *lambda, *gamma;       // (n_layer + 1): fp32, 0 for the final stream
} AuditSample;

// Measure the last forward of m (B, T as for audit_accumulate; maps as for
// audit_accumulate_maps, or NULL) in the precisions with want[p] set. Free with
// audit_sample_free.
void audit_sample(AuditSample *x, const Model *m, const int want[AUDIT_N_PREC], int B, int T,
                  const float *const *maps);
void audit_sample_free(AuditSample *x);
// Add x to every non-NULL s[i] (each in its own precision, which x must hold), exactly as
// audit_accumulate adds a forward: audit_accumulate is audit_sample then this.
void audit_sample_merge(AuditStats *s[AUDIT_N_PREC], const AuditSample *x);
// Derived numbers of one head, or pooled: layer = -1 pools all layers, head = -1 all heads.
// NaN where undefined (no rows; A2 for the Transformer; expected when pooled rows disagree;
// top-k when fewer than k values were seen).
typedef struct {
    long rows, rows_nonfinite;
    double expected;
    double row_sum_mean, row_sum_min, row_sum_max, row_sum_std; // std: population (divide by n)
    double dev_mean, max_abs_dev;
    long hist[AUDIT_HIST_BINS];
    double frac_negative;      // neg_entries / entries
    double neg_mass_per_row;   // mean over rows of the sum of negative entries (<= 0)
    double frac_rows_negative; // rows with a negative entry / rows
    double entropy_a1, entropy_a2, entropy_final;
    long logit_count;
    double logit_max, logit_top1, logit_top10, logit_top100, logit_median;
    long logit_overflow;
    double logit_overflow_margin; // max |logit| / format max
    long n_nan, n_inf;            // maps and final entries
    long logit_nan, logit_inf;
} AuditHeadSummary;
int audit_head_summary(const AuditStats *s, int layer, int head, AuditHeadSummary *out);

typedef struct {
    double lambda, gamma, lambda_p, gamma_p, expected; // pooled (layer -1): NaN
    long hidden_count, hidden_nan, hidden_inf, hidden_overflow;
    double hidden_top1, hidden_top10, hidden_top100, hidden_median;
    double mean, std, kurtosis; // of x (std: population)
} AuditLayerSummary;
// layer 0 .. n_layer (n_layer: x_final), or -1 pooled over all n_layer + 1 streams.
int audit_layer_summary(const AuditStats *s, int layer, AuditLayerSummary *out);

// Zeroed sample of this shape (rows = B * T) holding the precisions with want[p] set.
void audit_sample_alloc(AuditSample *x, int n_layer, int n_heads, const int want[AUDIT_N_PREC],
                        int rows);

// Rows [i0, i0 + n) of map mp of (layer l, batch item b, head h) into P (n, T), and the logits
// into S (n, T) if not NULL: recomputed from the last forward's q and k, or copied from maps[l]
// (B, heads, maps, T, T) when maps and maps[l] are not NULL (the logits still come from q and k).
void audit_map_rows(float *P, float *S, const Model *m, const float *const *maps, int l, int b,
                    int h, int mp, int i0, int n, const AttnDims *ad);

#endif
