// Time-to-event statistics over seeds: a run either reaches an event (e.g. the onset of recall)
// at some time t (tokens, steps or seconds), or is censored at its last time (never reached it).
// Kaplan-Meier survival S(t) with Greenwood standard errors and a 95 % log(-log) band, the median
// with its interval, and the two-sample log-rank test. harness/report/survival.py computes the
// same numbers with the same definitions.
#ifndef DINT_SURVIVAL_H
#define DINT_SURVIVAL_H

typedef struct {
    long n, n_events;       // subjects, events (uncensored)
    long n_times;           // distinct event times
    double *time;           // (n_times) ascending distinct event times
    long *at_risk, *events; // (n_times) number at risk just before time[i] (time >= time[i]),
                            // events at time[i]; a subject censored at time[i] is at risk there
    double *surv;           // (n_times) S(t) just after time[i]: prod_{j<=i} (1 - d_j / n_j)
    double *se;             // (n_times) Greenwood SE: S sqrt(sum_{j<=i} d_j / (n_j (n_j - d_j)));
                            // NaN where S = 0
    double *lo, *hi;        // (n_times) 95 % pointwise interval on the log(-log S) scale (R's
                            // survfit conf.type = "log-log"); NaN where S = 0 or 1
    // The median and its 95 % interval where S and the band cross 0.5 (Brookmeyer-Crowley type,
    // as R's survfit reads it: lo <= S <= hi, so median_lo <= median <= median_hi). A band end
    // where S = 0 counts as 0. INFINITY when not reached. (Where S is exactly 0.5 on a step, R
    // takes the midpoint to the next event time; here it is the step's start.)
    double median;    // first time with S <= 0.5
    double median_lo; // first time with lo <= 0.5
    double median_hi; // first time with hi <= 0.5
} KaplanMeier;

// The Kaplan-Meier estimate of n subjects: time[i] >= 0 (finite), event[i] nonzero for an event,
// 0 for censored. Returns 0, or -1 (out zeroed, nothing allocated) when n < 1, an array is NULL,
// a time is negative or not finite, or memory runs out. Free with km_free.
int km_estimate(const double *time, const int *event, long n, KaplanMeier *out);
void km_free(KaplanMeier *km);

typedef struct {
    double chi2, p;     // 1-df chi-square statistic and its upper-tail p-value
    double observed[2]; // events in group a, group b
    double expected[2]; // expected events under equal hazards: sum over event times of d n_g / n
    double variance;    // hypergeometric variance of observed[0] - expected[0] (with ties)
} LogRank;

// The two-sample log-rank (Mantel-Cox) test of groups a (na subjects) and b (nb subjects), same
// conventions as km_estimate. With no events at all (variance 0): chi2 = 0, p = 1. Returns 0, or
// -1 (out zeroed) on bad input (na < 1, nb < 1, a NULL array, a negative or non-finite time).
int logrank_test(const double *time_a, const int *event_a, long na, const double *time_b,
                 const int *event_b, long nb, LogRank *out);

#endif
