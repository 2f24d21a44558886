// Confidence intervals shared by the evaluation tasks, the sweep summary and the tests: the
// Wilson score interval of a rate and Student's t interval of a mean, both at 95 %.
// harness/report/intervals.py is the Python twin (tests/test_interval.py checks they agree).
#ifndef DINT_STATS_INTERVAL_H
#define DINT_STATS_INTERVAL_H

// Wilson score interval for k successes of n at 95 % (GSL normal quantile); [0, 1] when n = 0,
// the uninformative interval (writers that store NaN for an empty cell do so themselves).
void wilson_interval(long k, long n, double *lo, double *hi);

// rate[i] = k[i] / n[i] and its Wilson interval for i < m, all three NaN where n[i] = 0 (an
// empty cell of an evaluation grid: no rate, not an uninformative one).
void wilson_rates(const long *k, const long *n, long m, double *rate, double *lo, double *hi);

// The p quantile of Student's t with df degrees of freedom (gsl_cdf_tdist_Pinv).
double t_quantile(double p, double df);

// The mean of xs[0..n) and its 95 % t interval (sample standard deviation), as `dint sweep`
// writes <metric>_ci_low/_ci_high: NaN ends for fewer than two values, all NaN for none.
void t_interval(const double *xs, int n, double *mean, double *lo, double *hi);

#endif
