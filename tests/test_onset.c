// The retrieval onset (harness/train/onset.c) on hand-made curves: the exact crossing step, NaN
// gaps, a single-step dip that smoothing must ignore, censored runs, and windows too sparse to
// count.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "onset.h"

enum { N = 40 };
static long step[N];
static double loss[N], smoothed[N];

// Steps 1..n, loss 2.0 everywhere (the plateau).
static void plateau(void) {
    for (int i = 0; i < N; i++) step[i] = i + 1, loss[i] = 2.0;
}

Test(onset, crossing_is_the_first_full_window_at_or_below_the_threshold) {
    plateau();
    // From step 21 on the loss is 0: the trailing mean over 4 steps is (k * 0 + (4 - k) * 2) / 4
    // after k zero steps, so 2.0, 1.5, 1.0, 0.5, then 0 at step 24.
    for (int i = 20; i < N; i++) loss[i] = 0.0;
    RetrievalOnset o = retrieval_onset(step, loss, N, 0.6, 4, smoothed);
    cr_assert_eq(o.censored, 0);
    cr_assert_eq(o.step, 23, "the mean over steps 20..23 is 0.5 <= 0.6: onset 23, got %ld", o.step);
    cr_assert_eq(o.window, 4);
    cr_assert_eq(o.min_values, 2);
    cr_assert_eq(o.threshold, 0.6);
    cr_assert(isnan(smoothed[0]) && isnan(smoothed[2]), "no full window before step 4");
    cr_assert_eq(smoothed[3], 2.0);
    cr_assert_eq(smoothed[21], 1.0);
    cr_assert_eq(smoothed[22], 0.5);
    cr_assert_eq(smoothed[23], 0.0);
    // Exactly at the threshold counts (<=).
    o = retrieval_onset(step, loss, N, 0.5, 4, NULL);
    cr_assert_eq(o.step, 23);
    o = retrieval_onset(step, loss, N, 0.49, 4, NULL);
    cr_assert_eq(o.step, 24);
    // Steps need not start at 1 (the stored step numbers are reported).
    for (int i = 0; i < N; i++) step[i] = 100 + i;
    o = retrieval_onset(step, loss, N, 0.6, 4, NULL);
    cr_assert_eq(o.step, 122);
}

Test(onset, nan_steps_are_skipped_in_the_mean) {
    plateau();
    for (int i = 20; i < N; i++) loss[i] = 0.0;
    loss[19] = NAN; // no N >= 2 answer at step 20
    loss[21] = NAN;
    // Window of 4 at step 22 (index 21): 2.0 (19), NaN, 0 (21), NaN -> mean of {2, 0} = 1.0;
    // at step 23: NaN, 0, NaN, 0 -> 0 (two values, the minimum).
    RetrievalOnset o = retrieval_onset(step, loss, N, 0.6, 4, smoothed);
    cr_assert_eq(smoothed[21], 1.0, "got %g", smoothed[21]);
    cr_assert_eq(smoothed[22], 0.0, "got %g", smoothed[22]);
    cr_assert_eq(o.step, 23);
    cr_assert_eq(o.censored, 0);
    // Three NaNs of four: too few values, no smoothed value and no crossing there.
    loss[20] = NAN;
    o = retrieval_onset(step, loss, N, 0.6, 4, smoothed);
    cr_assert(isnan(smoothed[21]) && isnan(smoothed[22]), "%g %g", smoothed[21], smoothed[22]);
    cr_assert_eq(smoothed[23], 0.0);
    cr_assert_eq(o.step, 24);
    // All NaN (a mixture without needles): censored at the last step, no smoothed values.
    for (int i = 0; i < N; i++) loss[i] = NAN;
    o = retrieval_onset(step, loss, N, 0.6, 4, smoothed);
    cr_assert_eq(o.censored, 1);
    cr_assert_eq(o.step, N);
    for (int i = 0; i < N; i++) cr_assert(isnan(smoothed[i]));
}

Test(onset, a_single_low_step_does_not_fire) {
    plateau();
    loss[25] = 0.0; // one lucky batch: the window mean is 1.5 at best
    RetrievalOnset o = retrieval_onset(step, loss, N, 0.04, 4, smoothed);
    cr_assert_eq(o.censored, 1, "a one-step dip fired the onset at %ld", o.step);
    cr_assert_eq(o.step, N);
    cr_assert_eq(smoothed[25], 1.5);
    // Without smoothing (W = 1) the same dip would fire: the window is what prevents it.
    o = retrieval_onset(step, loss, N, 0.04, 1, NULL);
    cr_assert_eq(o.censored, 0);
    cr_assert_eq(o.step, 26);
}

Test(onset, censored_runs_report_their_last_step) {
    plateau();
    for (int i = 0; i < N; i++) loss[i] = 0.1 + 0.01 * (N - i); // falls, never reaches 0.05
    RetrievalOnset o = retrieval_onset(step, loss, 30, ONSET_THRESHOLD, 4, smoothed);
    cr_assert_eq(o.censored, 1);
    cr_assert_eq(o.step, 30, "censored at the last step of the series, got %ld", o.step);
    // Shorter than one window: censored, every smoothed value NaN.
    o = retrieval_onset(step, loss, 3, 10.0, 4, smoothed);
    cr_assert_eq(o.censored, 1);
    cr_assert_eq(o.step, 3);
    for (int i = 0; i < 3; i++) cr_assert(isnan(smoothed[i]));
    // No steps at all (imported weights): step 0, censored.
    o = retrieval_onset(step, loss, 0, ONSET_THRESHOLD, ONSET_WINDOW, NULL);
    cr_assert_eq(o.censored, 1);
    cr_assert_eq(o.step, 0);
    cr_assert_eq(o.window, ONSET_WINDOW);
    cr_assert_eq(o.min_values, (ONSET_WINDOW + 1) / 2);
}

// The default constants: theta below half of the any-needle copier's loss on N = 2, the
// smallest N the series includes (ln 2 nats over 8 answer tokens).
Test(onset, the_threshold_is_below_half_the_copier_level) {
    cr_assert_lt(ONSET_THRESHOLD, 0.5 * log(2.0) / 8.0);
    cr_assert_gt(ONSET_THRESHOLD, 0.0);
    cr_assert_geq(ONSET_WINDOW, 10);
}
