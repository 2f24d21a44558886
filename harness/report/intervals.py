#!/usr/bin/env -S /usr/bin/python3
"""Confidence intervals for the readers (plots, reports): the Wilson score interval of a rate and
Student's t interval of a mean, both at 95 %. The Python twin of harness/stats/interval.c;
tests/test_interval.py checks that the two give the same numbers.

Importing this module needs nothing beyond the standard library."""
import math

Z_975 = 1.959963984540054  # the 0.975 quantile of the standard normal


def wilson(k, n, z=Z_975):
    """Wilson score interval (low, high) of k successes out of n at 95 %, the formula of
    wilson_interval in harness/stats/interval.c; (0, 1), the uninformative interval, for n = 0
    (the run files store NaN there: the tasks' writers put it in themselves)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _incomplete_beta(a, b, x):
    """Regularized incomplete beta I_x(a, b) by its continued fraction (modified Lentz)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast below the mean
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-16:
            break
    return front * f


def t_quantile(p, df):
    """The p quantile (p > 0.5) of Student's t with df degrees of freedom, by bisection on its
    distribution function (what gsl_cdf_tdist_Pinv gives t_quantile in C)."""
    def upper_tail(t):  # P(T > t) for t >= 0
        return 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    lo, hi = 0.0, 1.0
    while upper_tail(hi) > 1.0 - p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if upper_tail(mid) > 1.0 - p else (lo, mid)
    return 0.5 * (lo + hi)


def t_interval(xs):
    """(mean, low, high): the 95 % t interval of the mean of xs (sample standard deviation), as
    `dint sweep` writes it (<metric>_ci_low/_ci_high): NaN ends for one value, all NaN for none."""
    n = len(xs)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = math.fsum(xs) / n
    if n < 2:
        return (m, math.nan, math.nan)
    sd = math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (n - 1))
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return (m, m - half, m + half)
