// The keyed-recall task end to end through `dint`: a run trained on a recall mixture records its
// held-out accuracy and recall onset (equal to the onset recomputed from the stored curve, and
// the same after --stop-at and --resume), `dint eval recall` writes its grid with the control and
// the position-only scorers, skips finished cells, and bad settings are one line with no file.
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

static char out[1 << 16], err[1 << 16], cmd[8192];

// A tiny recall model: 2 layers, 2 pairs of 4 symbols, rows of 24 tokens, evaluated every 50
// steps. Binding keys to values takes millions of tokens (README, "Keyed recall"); what a few
// hundred steps learn is to answer with one of the context's values, which is 0.5 at 2 pairs. The
// onset threshold is set below that (0.4), so the onset is reached, not censored: at step 0 the
// model answers no value at all.
#define RECALL_SETS                                                                                \
    "--set model.n_layer=2 --set model.d_model=32 --set model.head_dim=8 "                         \
    "--set train.seq_len=24 --set train.batch_size=32 --set train.warmup=20 "                      \
    "--set train.eval_batches=1 --set train.log_every=1000 --set train.eval_every=50 "             \
    "--set train.audit_every=0 --set train.lr=1e-2 --set recall.pairs=2 --set recall.symbols=4 "   \
    "--set recall.contexts=32 --set recall.threshold=0.4 "

static void train_recall(const char *path, int steps, const char *extra) {
    snprintf(cmd, sizeof cmd,
             "train --variant transformer --data sotu:0,recall:1 --out '%s' --seed 3 " RECALL_SETS
             "--set train.steps=%d %s",
             path, steps, extra);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
}

static long read_len(hid_t f, const char *path) {
    hid_t ds = H5Dopen2(f, path, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    long n = (long)H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Dclose(ds);
    return n;
}

static void read_doubles(hid_t f, const char *path, double *v) {
    hid_t ds = H5Dopen2(f, path, H5P_DEFAULT);
    cr_assert(ds >= 0, "no %s", path);
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
}

static double attr(hid_t f, const char *object, const char *name) {
    double v = NAN;
    hid_t a = H5Aopen_by_name(f, object, name, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(a >= 0, "no %s@%s", object, name);
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    return v;
}

Test(recall_cli, training_records_the_held_out_accuracy_and_its_onset) {
    const char *dir = scratch_dir("recall_train");
    char run[1024], split[1024];
    snprintf(run, sizeof run, "%s/run.h5", dir);
    snprintf(split, sizeof split, "%s/split.h5", dir);
    train_recall(run, 300, "");
    cr_assert(strstr(err, "recall accuracy") != NULL, "the log shows the held-out accuracy");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    long nv = read_len(f, "/train/val_step");
    cr_assert_eq(nv, 7, "evaluations at 0, 50, ..., 300");
    cr_assert_eq(read_len(f, "/train/recall_accuracy"), nv);
    double acc[7], vstep[7];
    read_doubles(f, "/train/recall_accuracy", acc);
    read_doubles(f, "/train/val_step", vstep);
    // The stored onset is the first evaluation at the threshold (or censored at the last).
    double thr = attr(f, "/train/recall_onset", "threshold");
    cr_assert_eq(thr, (double)0.4f);
    int first = -1;
    for (int i = 0; i < nv && first < 0; i++)
        if (acc[i] >= thr) first = i;
    double censored = attr(f, "/train/recall_onset", "censored"),
           step = attr(f, "/train/recall_onset", "step"),
           tokens = attr(f, "/train/recall_onset", "tokens");
    cr_assert_eq(censored, first < 0 ? 1.0 : 0.0);
    cr_assert_eq(step, vstep[first < 0 ? nv - 1 : first]);
    cr_assert_eq(tokens, step * 32 * 24, "tokens = step x batch x seq_len");
    // The untrained model answers with no value of the context; after training it answers with
    // one of the two (0.5 without the key, more with it).
    cr_assert_lt(acc[0], 0.2, "step 0 accuracy %g", acc[0]);
    cr_assert_geq(acc[nv - 1], 0.4, "final held-out accuracy %g (nothing was learnt)", acc[nv - 1]);
    cr_assert_eq(censored, 0.0);
    cr_assert_gt(step, 0.0);
    H5Fclose(f);
    snprintf(cmd, sizeof cmd, "info '%s'", run);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out, "recall        onset at step") != NULL, "%s", out);

    // Stopped half-way and resumed: the same curve and onset, bit for bit.
    train_recall(split, 300, "--stop-at 150");
    snprintf(cmd, sizeof cmd, "train --out '%s' --resume", split);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    char diff[256] = "";
    cr_assert_eq(h5_group_diff(run, split, "/train/recall_onset", diff, sizeof diff), 0, "%s",
                 diff);
    hid_t g = H5Fopen(split, H5F_ACC_RDONLY, H5P_DEFAULT);
    double acc2[7];
    read_doubles(g, "/train/recall_accuracy", acc2);
    H5Fclose(g);
    cr_assert(!memcmp(acc, acc2, sizeof acc), "the resumed curve differs");
}

Test(recall_cli, eval_writes_the_grid_with_controls_and_skips_finished_cells) {
    const char *dir = scratch_dir("recall_eval");
    char run[1024];
    snprintf(run, sizeof run, "%s/run.h5", dir);
    train_recall(run, 20, "");
    snprintf(cmd, sizeof cmd,
             "eval recall --run '%s' --lengths 24,40 --pairs 2,4 --samples 40 --threads 1", run);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "cell 4 of 4") != NULL, "%s", err);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_eq(read_len(f, "/eval/recall/accuracy"), 4);
    cr_assert_eq(read_len(f, "/eval/recall/samples/correct"), 40 * (6 + 6 + 10 + 10),
                 "one record per query: half the context is queries by default");
    double pos_keyed[20], pos_acc[20], keyed[4];
    read_doubles(f, "/eval/recall/positional_keyed_rate", pos_keyed);
    read_doubles(f, "/eval/recall/positional_accuracy", pos_acc);
    read_doubles(f, "/eval/recall/keyed_rate", keyed);
    for (int c = 0; c < 4; c++) {
        for (int p = 0; p < 3; p++)
            cr_assert_eq(pos_keyed[c * 5 + p], 0.0, "query-blind scorer %d keyed in cell %d", p, c);
        double chance = c % 2 ? 0.25 : 0.5;
        for (int p = 0; p < 5; p++)
            cr_assert(fabs(pos_acc[c * 5 + p] - chance) < 0.2, "scorer %d cell %d: %g", p, c,
                      pos_acc[c * 5 + p]);
        cr_assert(keyed[c] >= 0 && keyed[c] <= 1);
    }
    H5Fclose(f);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "every cell was already done") != NULL, "%s", err);

    // Bad settings: one line, exit 2, the file unchanged.
    size_t n0, n1;
    char *before = read_all(run, &n0);
    const char *bad[] = {"--pairs 64 --lengths 24", "--queries 1", "--symbols 3 --pairs 4",
                         "--noise 2"};
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "eval recall --run '%s' %s", run, bad[i]);
        cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 2, "%s: %s", bad[i], err);
        cr_assert_eq(count_lines(err), 1, "%s: %s", bad[i], err);
    }
    char *after = read_all(run, &n1);
    cr_assert(n0 == n1 && !memcmp(before, after, n0), "a refused evaluation changed the file");
    free(before);
    free(after);
}

Test(recall_cli, bad_training_settings_are_one_line_and_no_file) {
    const char *dir = scratch_dir("recall_bad");
    char run[1024];
    snprintf(run, sizeof run, "%s/run.h5", dir);
    const char *bad[] = {"--set recall.pairs=16", "--set recall.queries=1",
                         "--set recall.symbols=1"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd,
                 "train --variant dint --data sotu:0,recall:1 --out '%s' " RECALL_SETS
                 "--set train.steps=2 %s",
                 run, bad[i]);
        cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 2, "%s: %s", bad[i], err);
        cr_assert_eq(count_lines(err), 1, "%s: %s", bad[i], err);
        cr_assert(!file_exists(run), "%s left a file", bad[i]);
    }
    snprintf(cmd, sizeof cmd, "train --variant dint --data sotu:0,recall:0 --out '%s' " TINY_SETS,
             run);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 2, "%s", err);
    cr_assert(strstr(err, "positive") != NULL, "%s", err);
}
