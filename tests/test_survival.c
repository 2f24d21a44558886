// Kaplan-Meier, its log-log band, the median with its interval and the log-rank test
// (harness/stats/survival.c) on the classic worked example with ties and censoring: the remission
// times in weeks of Freireich et al. (1963, Blood 21:699), 6-MP vs placebo, 21 patients each, as
// analysed in Kleinbaum & Klein, "Survival Analysis: A Self-Learning Text", ch. 2 (KM table, O/E
// and log-rank chi-square). Published values are given to 3 decimals (S), 4 (SE), 2 (E, chi2) or
// 2 significant digits (p): the tolerance is half a unit of the last published digit. The median's
// interval is computed here from the band (shown step by step). Then the edge cases.
#include <criterion/criterion.h>
#include <math.h>

#include "survival.h"

// 6-MP: 6,6,6,6+,7,9+,10,10+,11+,13,16,17+,19+,20+,22,23,25+,32+,32+,34+,35+ (+ censored).
static const double mp_t[21] = {6,  6,  6,  6,  7,  9,  10, 10, 11, 13, 16,
                                17, 19, 20, 22, 23, 25, 32, 32, 34, 35};
static const int mp_e[21] = {1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
// Placebo: no censoring.
static const double pl_t[21] = {1, 1, 2,  2,  3,  4,  4,  5,  5,  8, 8,
                                8, 8, 11, 11, 12, 12, 15, 17, 22, 23};
static const int pl_e[21] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

#define near(x, want, tol, what)                                                                   \
    cr_assert(fabs((x) - (want)) <= (tol), "%s: got %.10g, want %.10g +- %g", what, (double)(x),   \
              (double)(want), (double)(tol))

Test(survival, km_6mp_matches_the_published_table) {
    KaplanMeier km;
    cr_assert_eq(km_estimate(mp_t, mp_e, 21, &km), 0);
    cr_assert_eq(km.n, 21);
    cr_assert_eq(km.n_events, 9);
    cr_assert_eq(km.n_times, 7);
    const double t[7] = {6, 7, 10, 13, 16, 22, 23};
    const long r[7] = {21, 17, 15, 12, 11, 7, 6}, d[7] = {3, 1, 1, 1, 1, 1, 1};
    const double s[7] = {0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448};
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(km.time[i], t[i]);
        cr_assert_eq(km.at_risk[i], r[i], "at risk at t=%g: %ld", t[i], km.at_risk[i]);
        cr_assert_eq(km.events[i], d[i]);
        near(km.surv[i], s[i], 5e-4, "S");
    }
    // Exact products: S(6) = 18/21, S(7) = 18/21 * 16/17.
    near(km.surv[0], 18.0 / 21.0, 1e-15, "S(6) exact");
    near(km.surv[1], 18.0 / 21.0 * 16.0 / 17.0, 1e-15, "S(7) exact");
    near(km.se[0], 0.0764, 5e-5, "Greenwood SE at t=6");
    // By hand at t = 6: S = 6/7, Greenwood sum v = 3 / (21 * 18) = 1/126, sqrt(v) = 0.0890871,
    // log S = -0.1541507, a = 1.959964 * 0.0890871 / 0.1541507 = 1.1327065, e^a = 3.1040461,
    // e^-a = 0.3221602; lo = S^(e^a) = exp(-0.1541507 * 3.1040461) = 0.6197180,
    // hi = S^(e^-a) = exp(-0.1541507 * 0.3221602) = 0.9515517.
    near(km.lo[0], 0.6197180, 1e-6, "log-log lo at t=6");
    near(km.hi[0], 0.9515517, 1e-6, "log-log hi at t=6");
    for (int i = 0; i < 7; i++)
        cr_assert(km.lo[i] < km.surv[i] && km.surv[i] < km.hi[i], "band around S at t=%g", t[i]);
    near(km.median, 23.0, 0.0, "median 6-MP");
    // lo at 10 is 0.5032 > 0.5, at 13 it is 0.4316: the median's lower end is 13; hi stays above
    // 0.5 (0.680 at 23, the last event): the upper end is not reached.
    near(km.lo[2], 0.5032, 5e-5, "lo at t=10");
    near(km.lo[3], 0.4316, 5e-5, "lo at t=13");
    near(km.median_lo, 13.0, 0.0, "median lower end 6-MP");
    cr_assert(isinf(km.median_hi), "median upper end 6-MP not reached");
    km_free(&km);
    cr_assert_null(km.time);
}

Test(survival, km_placebo_median_and_zero_tail) {
    KaplanMeier km;
    cr_assert_eq(km_estimate(pl_t, pl_e, 21, &km), 0);
    cr_assert_eq(km.n_events, 21);
    cr_assert_eq(km.n_times, 12);
    near(km.median, 8.0, 0.0, "median placebo");
    // S(5) = 12/21 = 0.571, S(8) = 8/21 = 0.381: the median is 8. lo(4) = 0.425 <= 0.5 (lo(3) =
    // 0.519): lower end 4; hi(11) = 0.482 (hi(8) = 0.578): upper end 11.
    near(km.surv[4], 12.0 / 21.0, 1e-15, "S(5)");
    near(km.surv[5], 8.0 / 21.0, 1e-15, "S(8)");
    near(km.median_lo, 4.0, 0.0, "median lower end placebo");
    near(km.median_hi, 11.0, 0.0, "median upper end placebo");
    // The last patient relapses at 23: S = 0, SE and band undefined.
    cr_assert_eq(km.surv[11], 0.0);
    cr_assert(isnan(km.se[11]) && isnan(km.lo[11]) && isnan(km.hi[11]));
    km_free(&km);
}

Test(survival, logrank_6mp_vs_placebo_matches_the_published_test) {
    LogRank lr;
    cr_assert_eq(logrank_test(mp_t, mp_e, 21, pl_t, pl_e, 21, &lr), 0);
    near(lr.observed[0], 9.0, 0.0, "O 6-MP");
    near(lr.observed[1], 21.0, 0.0, "O placebo");
    near(lr.expected[0], 19.25, 5e-3, "E 6-MP");
    near(lr.expected[1], 10.75, 5e-3, "E placebo");
    near(lr.expected[0] + lr.expected[1], 30.0, 1e-12, "E sums to the events");
    near(lr.chi2, 16.79, 5e-3, "log-rank chi-square");
    near(lr.p, 4.2e-5, 5e-7, "p");
    near(lr.chi2,
         (lr.observed[0] - lr.expected[0]) * (lr.observed[0] - lr.expected[0]) / lr.variance, 1e-12,
         "chi2 = (O - E)^2 / V");
    // Swapping the groups: the same test.
    LogRank sw;
    cr_assert_eq(logrank_test(pl_t, pl_e, 21, mp_t, mp_e, 21, &sw), 0);
    near(sw.chi2, lr.chi2, 1e-12 * lr.chi2, "swapped chi2");
    near(sw.p, lr.p, 1e-12, "swapped p");
    near(sw.variance, lr.variance, 1e-12, "swapped variance");
    near(sw.observed[0], lr.observed[1], 0.0, "swapped O");
    near(sw.expected[0], lr.expected[1], 1e-12, "swapped E");
}

Test(survival, identical_groups_give_chi2_zero) {
    LogRank lr;
    cr_assert_eq(logrank_test(mp_t, mp_e, 21, mp_t, mp_e, 21, &lr), 0);
    near(lr.chi2, 0.0, 1e-12, "chi2");
    near(lr.p, 1.0, 1e-12, "p");
    cr_assert(lr.variance > 0);
}

Test(survival, all_censored_has_no_times_and_no_median) {
    const double t[4] = {5, 3, 9, 9};
    const int e[4] = {0, 0, 0, 0};
    KaplanMeier km;
    cr_assert_eq(km_estimate(t, e, 4, &km), 0);
    cr_assert_eq(km.n, 4);
    cr_assert_eq(km.n_events, 0);
    cr_assert_eq(km.n_times, 0);
    cr_assert(isinf(km.median) && km.median > 0);
    cr_assert(isinf(km.median_lo) && isinf(km.median_hi));
    km_free(&km);
    // No events in either group: chi2 = 0, p = 1.
    LogRank lr;
    cr_assert_eq(logrank_test(t, e, 4, t, e, 2, &lr), 0);
    cr_assert_eq(lr.chi2, 0.0);
    cr_assert_eq(lr.p, 1.0);
    cr_assert_eq(lr.variance, 0.0);
}

Test(survival, all_events_at_one_time) {
    const double t[5] = {7, 7, 7, 7, 7};
    const int e[5] = {1, 1, 1, 1, 1};
    KaplanMeier km;
    cr_assert_eq(km_estimate(t, e, 5, &km), 0);
    cr_assert_eq(km.n_times, 1);
    cr_assert_eq(km.at_risk[0], 5);
    cr_assert_eq(km.events[0], 5);
    cr_assert_eq(km.surv[0], 0.0);
    cr_assert(isnan(km.se[0]) && isnan(km.lo[0]) && isnan(km.hi[0]));
    // S drops from 1 to 0 at 7: the median and both ends of its interval are 7.
    cr_assert_eq(km.median, 7.0);
    cr_assert_eq(km.median_lo, 7.0);
    cr_assert_eq(km.median_hi, 7.0);
    km_free(&km);
    // Censored at the event time: still at risk there. 2 events of 4 at 7: S = 0.5 = median.
    const int e2[4] = {1, 1, 0, 0};
    cr_assert_eq(km_estimate(t, e2, 4, &km), 0);
    cr_assert_eq(km.at_risk[0], 4);
    cr_assert_eq(km.surv[0], 0.5);
    cr_assert_eq(km.median, 7.0);
    near(km.se[0], 0.25, 1e-15, "Greenwood: 0.5 sqrt(2 / (4 * 2))");
    km_free(&km);
}

Test(survival, bad_input_is_refused) {
    KaplanMeier km;
    LogRank lr;
    const double t[3] = {1, 2, 3}, neg[3] = {1, -2, 3}, inf[3] = {1, INFINITY, 3},
                 nan[3] = {1, NAN, 3};
    const int e[3] = {1, 0, 1};
    cr_assert_eq(km_estimate(t, e, 0, &km), -1);
    cr_assert_null(km.time);
    cr_assert_eq(km_estimate(neg, e, 3, &km), -1);
    cr_assert_eq(km_estimate(inf, e, 3, &km), -1);
    cr_assert_eq(km_estimate(nan, e, 3, &km), -1);
    cr_assert_eq(km_estimate(NULL, e, 3, &km), -1);
    cr_assert_eq(km_estimate(t, e, 3, NULL), -1);
    cr_assert_eq(logrank_test(t, e, 3, t, e, 0, &lr), -1);
    cr_assert_eq(logrank_test(neg, e, 3, t, e, 3, &lr), -1);
    cr_assert_eq(logrank_test(t, e, 3, nan, e, 3, &lr), -1);
    km_free(&km); // harmless on a zeroed estimate
}
