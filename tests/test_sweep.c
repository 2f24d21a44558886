// dint sweep: a two-cell grid trains, evaluates and audits every (cell, seed); its summary
// equals the mean of its runs; started again it skips finished runs and leaves them unchanged.
// --jobs trains runs side by side with the same results and reports the machine's throughput.
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

static char out[1 << 16], err[1 << 16], cmd[8192];

static double read_scalar(hid_t f, const char *path) {
    double v = NAN;
    hid_t ds = H5Dopen2(f, path, H5P_DEFAULT);
    cr_assert(ds >= 0, "missing %s", path);
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
    H5Dclose(ds);
    return v;
}

// A scalar attribute of a run file ("/train/onset", "step").
static double run_attribute(const char *run, const char *object, const char *name) {
    double v = NAN;
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s", run);
    hid_t o = H5Oopen(f, object, H5P_DEFAULT);
    cr_assert(o >= 0, "%s has no %s", run, object);
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    cr_assert(a >= 0, "%s has no %s@%s", run, object, name);
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    H5Oclose(o);
    H5Fclose(f);
    return v;
}

static double last_val_loss(const char *run) {
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s", run);
    hid_t ds = H5Dopen2(f, "/train/val_loss", H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    double *v = malloc(sizeof(double) * (size_t)n);
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    double last = v[n - 1];
    free(v);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(f);
    return last;
}

Test(sweep, two_cells_summary_is_the_mean_of_runs_and_resume_skips_them) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *dir = scratch_dir("sweep");
    char grid[1024], outdir[1024];
    snprintf(grid, sizeof grid, "%s/grid.ini", dir);
    snprintf(outdir, sizeof outdir, "%s/out", dir);
    write_text(grid,
               "[grid]\nvariants = transformer, dint\nseeds = 1, 2\ndata = sotu:0.8,needle:0.2\n"
               "baseline = transformer\n[train]\nmodel.n_layer = 1\nmodel.d_model = 32\n"
               "model.head_dim = 8\ntrain.steps = 3\ntrain.seq_len = 64\ntrain.batch_size = 2\n"
               "train.eval_every = 3\ntrain.warmup = 1\ntrain.eval_batches = 1\n"
               "[eval]\nneedle = --needles 1:1 --lengths 256 --depths 0.5 --samples 2\n"
               "[audit]\noptions = --samples 1 --seq 64\n");
    snprintf(cmd, sizeof cmd, "sweep '%s' --out '%s'", grid, outdir);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    const char *cells[] = {"transformer", "dint"};
    char summary[1200];
    snprintf(summary, sizeof summary, "%s/summary.h5", outdir);
    hid_t f = H5Fopen(summary, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "no summary.h5");
    for (int c = 0; c < 2; c++) {
        double a, b, onset = 0.0;
        char run[1200], path[256];
        snprintf(run, sizeof run, "%s/%s-seed1.h5", outdir, cells[c]);
        a = last_val_loss(run);
        onset += run_attribute(run, "/train/onset", "step") / 2;
        snprintf(run, sizeof run, "%s/%s-seed2.h5", outdir, cells[c]);
        b = last_val_loss(run);
        onset += run_attribute(run, "/train/onset", "step") / 2;
        // 3 steps cannot reach the onset: both seeds censored at their last step.
        cr_assert_eq(run_attribute(run, "/train/onset", "censored"), 1.0);
        snprintf(path, sizeof path, "/cells/%s/retrieval_onset_mean", cells[c]);
        cr_assert_eq(read_scalar(f, path), onset, "%s: onset mean %g, runs' mean %g", cells[c],
                     read_scalar(f, path), onset);
        cr_assert_eq(onset, 3.0);
        snprintf(path, sizeof path, "/cells/%s/onset_censored_mean", cells[c]);
        cr_assert_eq(read_scalar(f, path), 1.0);
        snprintf(path, sizeof path, "/cells/%s/val_loss_mean", cells[c]);
        double mean = read_scalar(f, path);
        cr_assert_float_eq(mean, (a + b) / 2, 1e-12, "%s: summary mean %.9g, runs %.9g and %.9g",
                           cells[c], mean, a, b);
        snprintf(path, sizeof path, "/cells/%s/val_loss_std", cells[c]);
        cr_assert_float_eq(read_scalar(f, path), fabs(a - b) / sqrt(2.0), 1e-12);
        snprintf(path, sizeof path, "/cells/%s/row_sum_dev_max_mean", cells[c]);
        cr_assert(!isnan(read_scalar(f, path)), "%s: the audit's row-sum deviation is missing",
                  cells[c]);
        snprintf(path, sizeof path, "/cells/%s/needle_accuracy_mean", cells[c]);
        cr_assert(!isnan(read_scalar(f, path)), "%s: needle accuracy is missing", cells[c]);
    }
    double p = read_scalar(f, "/paired/dint/val_loss_p_value");
    cr_assert(p >= 0 && p <= 1, "p value %g", p);
    H5Fclose(f);
    // Again: every run is finished; nothing is retrained or rewritten.
    char run[1200];
    snprintf(run, sizeof run, "%s/dint-seed2.h5", outdir);
    size_t n0 = 0, n1 = 0;
    char *before = read_all(run, &n0);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "(trained; checking evaluations)") != NULL, "%s", err);
    char *after = read_all(run, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "a finished run was changed");
    free(before);
    free(after);
    // A bad grid: one line, non-zero exit.
    write_text(grid, "[grid]\nvariants = transformer\ndata = sotu\nflavour = mint\n");
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 2);
    cr_assert(strstr(err, "grid.ini:4: unknown key 'flavour' in [grid]") != NULL, "%s", err);
}

// A scalar attribute of the summary's root.
static double root_attribute(const char *path, const char *name) {
    double v = NAN;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s", path);
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    cr_assert(a >= 0, "%s has no /@%s", path, name);
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    H5Fclose(f);
    return v;
}

// --jobs: the same runs trained side by side, one process each, give the files of the runs one
// after another (their losses bit for bit); the summary reports the processes, the threads, and
// the machine's tokens per second = the tokens its runs added / its wall clock. A second call
// trains nothing (0 tokens). --jobs 0 is refused in one line.
Test(sweep, jobs_train_the_same_runs_side_by_side_and_report_throughput) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *dir = scratch_dir("sweep_jobs");
    char grid[1024], serial[1024], pooled[1024];
    snprintf(grid, sizeof grid, "%s/grid.ini", dir);
    snprintf(serial, sizeof serial, "%s/serial", dir);
    snprintf(pooled, sizeof pooled, "%s/pooled", dir);
    write_text(grid, "[grid]\nvariants = transformer\nseeds = 1, 2, 3\ndata = sotu\n"
                     "[train]\nmodel.n_layer = 1\nmodel.d_model = 32\nmodel.head_dim = 8\n"
                     "train.steps = 4\ntrain.seq_len = 32\ntrain.batch_size = 2\n"
                     "train.eval_every = 4\ntrain.warmup = 1\ntrain.eval_batches = 1\n");
    snprintf(cmd, sizeof cmd, "sweep '%s' --out '%s' --jobs 1", grid, serial);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    snprintf(cmd, sizeof cmd, "sweep '%s' --out '%s' --jobs 2", grid, pooled);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "[sweep] 2 runs at once, 1 thread(s) each") != NULL, "%s", err);
    double tokens = 0.0;
    for (int seed = 1; seed <= 3; seed++) {
        char a[1200], b[1200];
        snprintf(a, sizeof a, "%s/transformer-seed%d.h5", serial, seed);
        snprintf(b, sizeof b, "%s/transformer-seed%d.h5", pooled, seed);
        hid_t f = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT),
              g = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
        cr_assert(f >= 0 && g >= 0, "seed %d: run files missing", seed);
        for (const char *ds = "/train/loss"; ds;
             ds = strcmp(ds, "/train/loss") ? NULL : "/train/val_loss") {
            double x[8] = {0}, y[8] = {0};
            hid_t dx = H5Dopen2(f, ds, H5P_DEFAULT), dy = H5Dopen2(g, ds, H5P_DEFAULT);
            H5Dread(dx, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
            H5Dread(dy, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
            cr_assert(!memcmp(x, y, sizeof x), "seed %d: %s differs between --jobs 1 and 2", seed,
                      ds);
            H5Dclose(dx), H5Dclose(dy);
        }
        double t[8] = {0};
        hid_t dt = H5Dopen2(g, "/train/tokens", H5P_DEFAULT);
        H5Dread(dt, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t);
        H5Dclose(dt);
        tokens += t[3]; // 4 steps
        H5Fclose(f), H5Fclose(g);
    }
    cr_assert_eq(tokens, 3 * 4 * 2 * 32, "tokens of the runs: %g", tokens);
    char summary[1200];
    snprintf(summary, sizeof summary, "%s/summary.h5", pooled);
    cr_assert_eq(root_attribute(summary, "processes"), 2.0);
    cr_assert_eq(root_attribute(summary, "threads_per_process"), 1.0);
    cr_assert_eq(root_attribute(summary, "tokens_trained"), tokens);
    double wall = root_attribute(summary, "wall_seconds"),
           tps = root_attribute(summary, "tokens_per_s");
    cr_assert(wall > 0 && fabs(tps - tokens / wall) <= 1e-9 * tps, "tokens_per_s %g, %g / %g", tps,
              tokens, wall);
    snprintf(summary, sizeof summary, "%s/summary.h5", serial);
    cr_assert_eq(root_attribute(summary, "processes"), 1.0);
    // Again: nothing left to train.
    snprintf(cmd, sizeof cmd, "sweep '%s' --out '%s' --jobs 2", grid, pooled);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    snprintf(summary, sizeof summary, "%s/summary.h5", pooled);
    cr_assert_eq(root_attribute(summary, "tokens_trained"), 0.0);
    cr_assert_eq(root_attribute(summary, "tokens_per_s"), 0.0);
    snprintf(cmd, sizeof cmd, "sweep '%s' --out '%s' --jobs 0", grid, pooled);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 2);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    cr_assert(strstr(err, "--jobs: expected a number of processes") != NULL, "%s", err);
}
