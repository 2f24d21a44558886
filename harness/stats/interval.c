#include "interval.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>

void wilson_interval(long k, long n, double *lo, double *hi) {
    if (n == 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double z = gsl_cdf_ugaussian_Pinv(0.975), p = (double)k / n, z2 = z * z;
    double centre = (p + z2 / (2.0 * n)) / (1 + z2 / n);
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
    *lo = fmax(0.0, centre - half);
    *hi = fmin(1.0, centre + half);
}

double t_quantile(double p, double df) {
    return gsl_cdf_tdist_Pinv(p, df);
}

void t_interval(const double *xs, int n, double *mean, double *lo, double *hi) {
    *mean = n ? gsl_stats_mean(xs, 1, (size_t)n) : NAN;
    double sd = n > 1 ? gsl_stats_sd(xs, 1, (size_t)n) : NAN;
    double half = n > 1 ? t_quantile(0.975, n - 1) * sd / sqrt(n) : NAN;
    *lo = *mean - half;
    *hi = *mean + half;
}

void wilson_rates(const long *k, const long *n, long m, double *rate, double *lo, double *hi) {
    for (long i = 0; i < m; i++) {
        rate[i] = n[i] ? (double)k[i] / n[i] : NAN;
        wilson_interval(k[i], n[i], &lo[i], &hi[i]);
        if (!n[i]) lo[i] = hi[i] = NAN;
    }
}
