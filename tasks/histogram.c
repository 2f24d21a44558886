#include "histogram.h"

#include <math.h>
#include <stdlib.h>

#include "check.h"

// ---- Deviation histogram: edges E_k = 10^((k - 21) / 2), k = 0 .. 19 (see histogram.h).

static const double DEV_EDGES[20] = {3.1622776601683794e-11, 1e-10,  3.1622776601683795e-10, 1e-09,
                                     3.1622776601683795e-09, 1e-08,  3.162277660168379e-08,  1e-07,
                                     3.162277660168379e-07,  1e-06,  3.162277660168379e-06,  1e-05,
                                     3.1622776601683795e-05, 0.0001, 0.00031622776601683794, 0.001,
                                     0.0031622776601683794,  0.01,   0.03162277660168379,    0.1};

int audit_hist_bin(double dev) {
    if (isnan(dev)) return -1;
    double a = fabs(dev);
    int c = 0; // edges <= a
    while (c < 20 && DEV_EDGES[c] <= a) c++;
    if (c == 0) return AUDIT_HIST_BINS / 2;
    return dev > 0 ? AUDIT_HIST_BINS / 2 + c : AUDIT_HIST_BINS / 2 - c;
}

void audit_hist_bounds(int bin, double *lo, double *hi) {
    CHECK(bin >= 0 && bin < AUDIT_HIST_BINS, "histogram bin %d", bin);
    int k = bin - AUDIT_HIST_BINS / 2;
    if (k == 0) {
        *lo = -DEV_EDGES[0];
        *hi = DEV_EDGES[0];
    } else if (k > 0) {
        *lo = DEV_EDGES[k - 1];
        *hi = k == 20 ? INFINITY : DEV_EDGES[k];
    } else {
        *lo = -k == 20 ? -INFINITY : -DEV_EDGES[-k];
        *hi = -DEV_EDGES[-k - 1];
    }
}

// ---- |value| statistics: exact top-k heap, bit-pattern histogram for the median.

static void abs_bin_bounds(int b, double *lo, double *hi) {
    if (b == 0) {
        *lo = 0.0;
        *hi = 0x1p-24;
    } else if (b == AUDIT_ABS_BINS - 1) {
        *lo = 0x1p24;
        *hi = INFINITY;
    } else {
        *lo = bits_to_float(AUDIT_ABS_LO_BITS + ((uint32_t)(b - 1) << 18));
        *hi = bits_to_float(AUDIT_ABS_LO_BITS + ((uint32_t)b << 18));
    }
}

void audit_abs_push_top(AuditAbsStats *s, float v) {
    float *h = s->top;
    if (s->n_top < AUDIT_TOPK) {
        int i = s->n_top++;
        h[i] = v;
        while (i > 0 && h[(i - 1) / 2] > h[i]) {
            float t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
        return;
    }
    if (!(v > h[0])) return;
    h[0] = v;
    int i = 0, n = s->n_top;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l] < h[m]) m = l;
        if (r < n && h[r] < h[m]) m = r;
        if (m == i) break;
        float t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void audit_abs_merge(AuditAbsStats *d, const AuditAbsStats *s) {
    d->n += s->n;
    d->n_nan += s->n_nan;
    d->n_inf += s->n_inf;
    for (int b = 0; b < AUDIT_ABS_BINS; b++) d->hist[b] += s->hist[b];
    for (int i = 0; i < s->n_top; i++) audit_abs_push_top(d, s->top[i]);
}

static int cmp_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

double audit_abs_kth(const AuditAbsStats *a, int k) {
    if (k < 1 || k > a->n_top) return NAN;
    float buf[AUDIT_TOPK];
    memcpy(buf, a->top, sizeof(float) * (size_t)a->n_top);
    qsort(buf, (size_t)a->n_top, sizeof(float), cmp_float_desc);
    return buf[k - 1];
}

double audit_abs_median(const AuditAbsStats *a) {
    if (a->n == 0) return NAN;
    double half = 0.5 * (double)a->n, cum = 0.0;
    for (int b = 0; b < AUDIT_ABS_BINS; b++) {
        if (a->hist[b] == 0) continue;
        double c = (double)a->hist[b];
        if (cum + c >= half) {
            double lo, hi;
            abs_bin_bounds(b, &lo, &hi);
            if (isinf(hi)) return lo;
            return lo + (hi - lo) * (half - cum) / c;
        }
        cum += c;
    }
    return NAN; // not reached
}
