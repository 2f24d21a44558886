// dint sweep: a two-cell grid trains, evaluates and audits every (cell, seed); its summary
// equals the mean of its runs; started again it skips finished runs and leaves them unchanged.
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
    write_text(grid, "[grid]\nvariants = transformer, dint\nseeds = 1, 2\ndata = sotu:0.8,needle:0.2\n"
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
        cr_assert_float_eq(mean, (a + b) / 2, 1e-12, "%s: summary mean %.9g, runs %.9g and %.9g", cells[c], mean, a, b);
        snprintf(path, sizeof path, "/cells/%s/val_loss_std", cells[c]);
        cr_assert_float_eq(read_scalar(f, path), fabs(a - b) / sqrt(2.0), 1e-12);
        snprintf(path, sizeof path, "/cells/%s/row_sum_dev_max_mean", cells[c]);
        cr_assert(!isnan(read_scalar(f, path)), "%s: the audit's row-sum deviation is missing", cells[c]);
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
