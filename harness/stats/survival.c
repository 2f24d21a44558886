#include "survival.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double t;
    int event; // 0 censored, 1 event
    int group; // 0 a, 1 b (log-rank only)
} Subject;

static int by_time(const void *x, const void *y) {
    double a = ((const Subject *)x)->t, b = ((const Subject *)y)->t;
    return (a > b) - (a < b);
}

static int valid(const double *time, const int *event, long n) {
    if (n < 1 || !time || !event) return 0;
    for (long i = 0; i < n; i++)
        if (!isfinite(time[i]) || time[i] < 0) return 0;
    return 1;
}

// The subjects of one (group 0) or two samples, sorted by time; NULL when out of memory.
static Subject *sorted_subjects(const double *ta, const int *ea, long na, const double *tb,
                                const int *eb, long nb) {
    Subject *s = malloc((size_t)(na + nb) * sizeof *s);
    if (!s) return NULL;
    for (long i = 0; i < na; i++) s[i] = (Subject){ta[i], ea[i] != 0, 0};
    for (long i = 0; i < nb; i++) s[na + i] = (Subject){tb[i], eb[i] != 0, 1};
    qsort(s, (size_t)(na + nb), sizeof *s, by_time);
    return s;
}

void km_free(KaplanMeier *km) {
    if (!km) return;
    free(km->time);
    free(km->at_risk);
    free(km->events);
    free(km->surv);
    free(km->se);
    free(km->lo);
    free(km->hi);
    memset(km, 0, sizeof *km);
}

int km_estimate(const double *time, const int *event, long n, KaplanMeier *out) {
    if (!out) return -1;
    memset(out, 0, sizeof *out);
    if (!valid(time, event, n)) return -1;
    Subject *s = sorted_subjects(time, event, n, NULL, NULL, 0);
    if (!s) return -1;
    long distinct = 0, n_events = 0;
    for (long i = 0; i < n;) {
        long j = i, d = 0;
        while (j < n && s[j].t == s[i].t) d += s[j++].event;
        distinct += d > 0;
        n_events += d;
        i = j;
    }
    out->n = n;
    out->n_events = n_events;
    out->n_times = distinct;
    out->median = out->median_lo = out->median_hi = INFINITY;
    size_t m = (size_t)(distinct > 0 ? distinct : 1);
    out->time = malloc(m * sizeof(double));
    out->at_risk = malloc(m * sizeof(long));
    out->events = malloc(m * sizeof(long));
    out->surv = malloc(m * sizeof(double));
    out->se = malloc(m * sizeof(double));
    out->lo = malloc(m * sizeof(double));
    out->hi = malloc(m * sizeof(double));
    if (!out->time || !out->at_risk || !out->events || !out->surv || !out->se || !out->lo ||
        !out->hi) {
        free(s);
        km_free(out);
        return -1;
    }
    const double z = gsl_cdf_ugaussian_Pinv(0.975);
    double surv = 1.0, greenwood = 0.0; // sum d / (n (n - d)): the variance of log S
    long k = 0;
    for (long i = 0; i < n;) {
        long j = i, d = 0;
        while (j < n && s[j].t == s[i].t) d += s[j++].event;
        if (d > 0) {
            long r = n - i; // at risk: every subject with time >= t, censored at t included
            surv *= 1.0 - (double)d / (double)r;
            greenwood += r > d ? (double)d / ((double)r * (double)(r - d)) : INFINITY;
            out->time[k] = s[i].t;
            out->at_risk[k] = r;
            out->events[k] = d;
            out->surv[k] = surv;
            out->se[k] = surv > 0 ? surv * sqrt(greenwood) : NAN;
            if (surv > 0 && surv < 1) {
                // log(-log S) +- z se / |log S|, mapped back: S^exp(+-a).
                double a = z * sqrt(greenwood) / -log(surv);
                out->lo[k] = pow(surv, exp(a));
                out->hi[k] = pow(surv, exp(-a));
            } else {
                out->lo[k] = out->hi[k] = NAN;
            }
            // Where S = 0 the band collapses onto 0: both ends count as reached there.
            int zero = surv <= 0;
            if (isinf(out->median) && surv <= 0.5) out->median = s[i].t;
            if (isinf(out->median_lo) && (zero || out->lo[k] <= 0.5)) out->median_lo = s[i].t;
            if (isinf(out->median_hi) && (zero || out->hi[k] <= 0.5)) out->median_hi = s[i].t;
            k++;
        }
        i = j;
    }
    free(s);
    return 0;
}

int logrank_test(const double *time_a, const int *event_a, long na, const double *time_b,
                 const int *event_b, long nb, LogRank *out) {
    if (!out) return -1;
    memset(out, 0, sizeof *out);
    if (!valid(time_a, event_a, na) || !valid(time_b, event_b, nb)) return -1;
    Subject *s = sorted_subjects(time_a, event_a, na, time_b, event_b, nb);
    if (!s) return -1;
    long n = na + nb, risk[2] = {na, nb};
    for (long i = 0; i < n;) {
        long j = i, d[2] = {0, 0}, c[2] = {0, 0};
        for (; j < n && s[j].t == s[i].t; j++) d[s[j].group] += s[j].event, c[s[j].group]++;
        long dt = d[0] + d[1], r = risk[0] + risk[1];
        if (dt > 0) {
            for (int g = 0; g < 2; g++) {
                out->observed[g] += (double)d[g];
                out->expected[g] += (double)dt * (double)risk[g] / (double)r;
            }
            if (r > 1)
                out->variance += (double)risk[0] * (double)risk[1] * (double)dt * (double)(r - dt) /
                                 ((double)r * (double)r * (double)(r - 1));
        }
        risk[0] -= c[0];
        risk[1] -= c[1];
        i = j;
    }
    free(s);
    if (out->variance > 0) {
        double u = out->observed[0] - out->expected[0];
        out->chi2 = u * u / out->variance;
        out->p = gsl_cdf_chisq_Q(out->chi2, 1.0);
    } else {
        out->chi2 = 0.0;
        out->p = 1.0;
    }
    return 0;
}
