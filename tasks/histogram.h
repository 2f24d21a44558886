// The audit's fixed histograms and exact top-k (audit.h uses them for row-sum deviations,
// attention logits and hidden states).
//
// Deviation histogram: AUDIT_HIST_BINS = 41 bins symmetric around 0 on a half-decade scale.
// With the 20 edges E_k = 10^((k - 21) / 2), k = 0 .. 19 (E_0 = 10^-10.5 = 3.16e-11,
// E_9 = 10^-6, E_19 = 10^-1):
//     bin 20            |dev| < E_0 (exact zero included)
//     bin 20 + k        E_{k-1} <= dev < E_k       k = 1 .. 19
//     bin 40            dev >= E_19 = 0.1          (out of range: the edge bin)
//     bin 20 - k        -E_k < dev <= -E_{k-1}     k = 1 .. 19
//     bin 0             dev <= -0.1
// audit_hist_bin and audit_hist_bounds give the mapping. NaN rows are not binned.
//
// |value| distributions (AuditAbsStats: logits, hidden states). Top-k is exact: a min-heap of
// the AUDIT_TOPK = 100 largest |values| seen. The median is approximate, from a fixed histogram
// of |x| over AUDIT_ABS_BINS bins laid on the float bit pattern: bin 0 = [0, 2^-24); bins 1 ..
// 1536 split each binade [2^e, 2^(e+1)), e = -24 .. 23, into 32 equal parts (the top 5 mantissa
// bits); bin 1537 = [2^24, inf]. The median is the point at which the count reaches n/2,
// interpolated linearly inside its bin: within one bin width (at most 2^-5 = 3.1 % relative) of
// the exact median. NaNs are counted apart and enter neither.
#ifndef DINT_TASKS_HISTOGRAM_H
#define DINT_TASKS_HISTOGRAM_H

#include "precision.h"

#define AUDIT_HIST_BINS 41
// Bin of a deviation (see above); -1 for NaN.
int audit_hist_bin(double dev);
// Bounds of bin b (lo = -INFINITY for bin 0, hi = +INFINITY for bin 40); see above for which
// side is closed.
void audit_hist_bounds(int bin, double *lo, double *hi);

#define AUDIT_TOPK     100
#define AUDIT_ABS_BINS 1538

typedef struct {
    long n; // values seen, NaN excluded (infinities included)
    long n_nan, n_inf;
    int n_top;             // entries held in top (<= AUDIT_TOPK)
    float top[AUDIT_TOPK]; // min-heap of the largest |values|
    long hist[AUDIT_ABS_BINS];
} AuditAbsStats;

// Put v (a |value|, not NaN) into the top-k heap when it is among the AUDIT_TOPK largest.
void audit_abs_push_top(AuditAbsStats *s, float v);
// Merge the counts, histogram and top-k of s into d (exact, in any order).
void audit_abs_merge(AuditAbsStats *d, const AuditAbsStats *s);

// Derived numbers of any AuditAbsStats: k-th largest |value| (1-based; NaN when fewer than k or
// k > AUDIT_TOPK) and the approximate median (NaN when empty).
double audit_abs_kth(const AuditAbsStats *a, int k);
double audit_abs_median(const AuditAbsStats *a);

enum { AUDIT_ABS_LO_BITS = 0x33800000u /* 2^-24 */, AUDIT_ABS_HI_BITS = 0x4b800000u /* 2^24 */ };

// Bin of |x| given its bits a (not NaN).
static inline int audit_abs_bin(uint32_t a) {
    if (a < AUDIT_ABS_LO_BITS) return 0;
    if (a >= AUDIT_ABS_HI_BITS) return AUDIT_ABS_BINS - 1;
    return 1 + (int)((a - AUDIT_ABS_LO_BITS) >> 18);
}

// Count x (any float) into s. Inline: the audit adds every logit and hidden-state entry.
static inline void audit_abs_add(AuditAbsStats *s, float x) {
    uint32_t a = float_to_bits(x) & 0x7fffffffu;
    if (a > 0x7f800000u) {
        s->n_nan++;
        return;
    }
    if (a == 0x7f800000u) s->n_inf++;
    s->n++;
    s->hist[audit_abs_bin(a)]++;
    float ax = bits_to_float(a);
    if (s->n_top < AUDIT_TOPK || ax > s->top[0]) audit_abs_push_top(s, ax);
}

#endif
