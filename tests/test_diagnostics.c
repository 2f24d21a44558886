// Loss-spike diagnostics: the limit of a window on hand-computed numbers, the noise of a mixture's
// batches (two loss levels in random order) not flagged, a genuine jump flagged at its step, the
// rate limit of the terminal lines, and a `dint train` run whose spikes are limited and counted.
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "config.h"
#include "diagnostics.h"
#include "h5io.h"
#include "history.h"
#include "runfile.h"
#include "schema.h"

// Push losses as the training loop does: each flagged against the losses before it.
static void push_losses(History *h, const TrainConfig *t, const double *loss, long n) {
    const float lambda = 0.5f; // histories here have one layer
    for (long i = 0; i < n; i++) {
        int spike = train_is_loss_spike(h, loss[i], t);
        HistoryStep entry = {.step = h->n + 1,
                             .loss = loss[i],
                             .answer_loss = NAN,
                             .answer_loss_multi = NAN,
                             .lr = 1e-3,
                             .grad_norm = 1.0,
                             .lambda = &lambda,
                             .gamma = &lambda,
                             .loss_spike = spike};
        history_push(h, &entry);
    }
}

static long count_spikes(const TrainConfig *t, const double *loss, long n, long *first) {
    History h;
    history_init(&h, 1);
    push_losses(&h, t, loss, n);
    long last;
    long count = train_count_loss_spikes(&h, first, &last);
    history_free(&h);
    return count;
}

static TrainConfig default_train(void) {
    RunConfig c;
    config_defaults(&c);
    return c.train;
}

// Two loss levels, 2.0 and 4.5, in random order: share_high of the steps at 4.5.
static double *bimodal_losses(long n, double share_high, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    double *loss = malloc(sizeof(double) * (size_t)n);
    for (long i = 0; i < n; i++) loss[i] = gsl_rng_uniform(r) < share_high ? 4.5 : 2.0;
    gsl_rng_free(r);
    return loss;
}

Test(loss_spike, limit_of_a_window_by_hand) {
    TrainConfig t = default_train();
    History h;
    history_init(&h, 1);
    LossSpikeLimit limit;
    double nine[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    push_losses(&h, &t, nine, 9);
    cr_assert_eq(train_loss_spike_limit(&h, &t, &limit), -1, "no limit before 10 losses");
    double ten = 10;
    push_losses(&h, &t, &ten, 1);
    cr_assert_eq(train_loss_spike_limit(&h, &t, &limit), 0);
    // 1..10: median 5.5; |x - 5.5| has median 2.5, so 1.4826 x 2.5 = 3.7065; the 99th
    // percentile 9.91 gives (9.91 - 5.5) / 2.3263 = 1.8957; threshold 5.5 + 5 x 3.7065.
    cr_assert_float_eq(limit.median, 5.5, 1e-12);
    cr_assert_float_eq(limit.spread, 3.7065, 1e-9);
    cr_assert_float_eq(limit.threshold, 5.5 + 5 * 3.7065, 1e-9);
    // spike_sigmas 0: the factor alone, 2 x 5.5.
    t.spike_sigmas = 0;
    cr_assert_eq(train_loss_spike_limit(&h, &t, &limit), 0);
    cr_assert_float_eq(limit.threshold, 11.0, 1e-12);
    cr_assert(train_is_loss_spike(&h, 11.01, &t) && !train_is_loss_spike(&h, 10.99, &t));
    history_free(&h);
}

// A mixture's batches: the old rule (2 x the median of 100) flags a large share of the steps,
// the new one none or almost none, whatever the share of the high level.
Test(loss_spike, two_level_noise_is_not_a_spike) {
    TrainConfig t = default_train();
    TrainConfig old = t;
    old.spike_window = 100;
    old.spike_sigmas = 0;
    const long n = 3000;
    const double shares[] = {0.1, 0.3, 0.5};
    const long most_new[] = {3, 0, 0}; // spikes allowed of 3000
    for (int s = 0; s < 3; s++) {
        double *loss = bimodal_losses(n, shares[s], 11 + (unsigned long)s);
        long first;
        long n_old = count_spikes(&old, loss, n, &first);
        long n_new = count_spikes(&t, loss, n, &first);
        cr_assert_geq(n_old, n / 20, "share %.1f: the old rule should flag many (%ld)", shares[s],
                      n_old);
        cr_assert_leq(n_new, most_new[s], "share %.1f: %ld of %ld steps flagged (first at %ld)",
                      shares[s], n_new, n, first);
        free(loss);
    }
}

// A loss 10 x the recent level after 500 noisy steps is flagged at its step, and only it.
Test(loss_spike, genuine_jump_is_flagged_at_its_step) {
    TrainConfig t = default_train();
    const long n = 600, jump = 500; // 0-based index; the step number is index + 1
    double *loss = bimodal_losses(n, 0.3, 5);
    loss[jump] = 10 * 2.0;
    History h;
    history_init(&h, 1);
    push_losses(&h, &t, loss, n);
    long first, last;
    cr_assert_eq(train_count_loss_spikes(&h, &first, &last), 1);
    cr_assert_eq(first, jump + 1);
    cr_assert_eq(last, jump + 1);
    cr_assert_eq(h.loss_spike[jump], 1);
    history_free(&h);
    // Without noise, a level of 2.0 with a little jitter: 3 x the level is a spike too.
    for (long i = 0; i < n; i++) loss[i] = 2.0 + 0.01 * (double)(i % 7);
    loss[jump] = 6.0;
    cr_assert_eq(count_spikes(&t, loss, n, &first), 1);
    cr_assert_eq(first, jump + 1);
    free(loss);
}

// Spikes at every step 1..1000: lines at 1, 2, 3, then one per 100 steps (103, 203, ... 903)
// each holding the 99 spikes before it; every spike is either printed or held.
Test(loss_spike, lines_are_rate_limited) {
    LossSpikeLines l;
    loss_spike_lines_init(&l, 3, 100);
    long printed[32], n_printed = 0, held_total = 0;
    for (long step = 1; step <= 1000; step++) {
        long held = -1, since = -1;
        if (!loss_spike_lines_take(&l, step, &held, &since)) continue;
        cr_assert_lt(n_printed, 32);
        printed[n_printed++] = step;
        if (step <= 3) {
            cr_assert_eq(held, 0, "step %ld", step);
        } else {
            cr_assert_eq(held, 99, "step %ld", step);
            cr_assert_eq(since, step - 99, "step %ld", step);
        }
        held_total += held;
    }
    cr_assert_eq(n_printed, 12);
    const long want[12] = {1, 2, 3, 103, 203, 303, 403, 503, 603, 703, 803, 903};
    for (int i = 0; i < 12; i++) cr_assert_eq(printed[i], want[i], "line %d", i);
    cr_assert_eq(n_printed + held_total + l.held, 1000);
    cr_assert_eq(l.held, 97, "904..1000 held at the end");
    // Rare spikes all get a line.
    loss_spike_lines_init(&l, 3, 100);
    const long rare[] = {10, 50, 90, 400, 900};
    for (int i = 0; i < 5; i++) {
        long held, since;
        cr_assert_eq(loss_spike_lines_take(&l, rare[i], &held, &since), 1, "step %ld", rare[i]);
        cr_assert_eq(held, 0);
    }
}

static long count_substr(const char *s, const char *what) {
    long n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

// A run where about every other step is a spike (above the median of the 10 before): at most
// 3 + 300 / 100 spike lines, then one summary line whose count is that of /train/loss_spike.
Test(loss_spike, cli_prints_limited_lines_and_the_count) {
    static char out[1 << 16], err[1 << 16], cmd[8192];
    const char *dir = scratch_dir("loss_spike_cli");
    char path[1024];
    snprintf(path, sizeof path, "%s/spiky.h5", dir);
    snprintf(cmd, sizeof cmd,
             "train --variant transformer --data '%s' --out '%s' " TINY_SETS
             "--set train.steps=300 --set train.eval_every=300 --set train.spike_factor=1 "
             "--set train.spike_sigmas=0 --set train.spike_window=10",
             sotu_dir(), path);
    int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
    cr_assert_eq(rc, 0, "dint %s failed (%d):\n%s", cmd, rc, err);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    unsigned char flags[300];
    cr_assert_eq(h5_read(f, RUN_TRAIN_LOSS_SPIKE, H5T_NATIVE_UCHAR, 300, flags), 0);
    H5Fclose(f);
    long stored = 0, first = -1, last = -1;
    for (long i = 0; i < 300; i++)
        if (flags[i]) {
            if (!stored++) first = i + 1;
            last = i + 1;
        }
    cr_assert_geq(stored, 30, "the settings should flag many steps, got %ld", stored);
    long lines = count_substr(err, "| loss spike: ");
    cr_assert_leq(lines, 3 + 3, "%ld spike lines:\n%s", lines, err);
    cr_assert_geq(lines, 4, "%ld spike lines:\n%s", lines, err);
    cr_assert_eq(count_substr(err, "more since step "), lines - 3, "%s", err);
    char summary[192];
    snprintf(summary, sizeof summary,
             "dint train: loss spikes: %ld of 300 steps (first at step %ld, last at step %ld)\n",
             stored, first, last);
    cr_assert(strstr(err, summary) != NULL, "no line '%s' in:\n%s", summary, err);
}
