// `dint eval`: each task writes its group into the run file (with dimension scales), skips
// finished cells when run again, and refuses bad options with one line, leaving the file whole.
#include <criterion/criterion.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

static char out[1 << 16], err[1 << 16], cmd[8192];

static const char *make_run(const char *dir) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/run.h5", dir);
    snprintf(
        cmd, sizeof cmd,
        "train --variant dint --data sotu:0.6,needle:0.2,icl:wordnet-noun:0.2 --out '%s' " TINY_SETS
        "--set train.steps=2 --set train.eval_every=2 --set train.seq_len=256",
        path);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    return path;
}

static herr_t first_scale(hid_t did, unsigned dim, hid_t dsid, void *data) {
    (void)did;
    (void)dim;
    H5DSget_scale_name(dsid, (char *)data, 64);
    return 1;
}

Test(eval, tasks_write_their_groups_and_resume_skips_finished_cells) {
    const char *dir = scratch_dir("eval_tasks");
    const char *run = make_run(dir);
    snprintf(cmd, sizeof cmd,
             "eval needle --run '%s' --needles 1:1,2:2 --lengths 256,300 --depths 0,1 --samples 2",
             run);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "cell 8 of 8") != NULL, "%s", err);
    snprintf(cmd, sizeof cmd, "eval ppl --run '%s' --window 128 --max-docs 2", run);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    snprintf(cmd, sizeof cmd,
             "eval icl --run '%s' --dataset wordnet-noun --shots 0,1 --episodes 2 --orders 2", run);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);

    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0);
    hid_t ds = H5Dopen2(f, "/eval/needle/accuracy", H5P_DEFAULT);
    cr_assert(ds >= 0, "no /eval/needle/accuracy");
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[3];
    cr_assert_eq(H5Sget_simple_extent_dims(sp, dims, NULL), 3);
    cr_assert(dims[0] == 2 && dims[1] == 2 && dims[2] == 2, "shape %llu %llu %llu", dims[0],
              dims[1], dims[2]);
    const char *want[3] = {"n_needles", "context_length", "depth"};
    for (int d = 0; d < 3; d++) {
        char name[64] = "";
        H5DSiterate_scales(ds, (unsigned)d, NULL, first_scale, name);
        cr_assert_str_eq(name, want[d]);
    }
    double acc[8];
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, acc);
    for (int i = 0; i < 8; i++) cr_assert(acc[i] >= 0 && acc[i] <= 1, "accuracy %g", acc[i]);
    H5Sclose(sp);
    H5Dclose(ds);
    cr_assert(H5Lexists(f, "/eval/needle/samples", H5P_DEFAULT) > 0);
    ds = H5Dopen2(f, "/eval/needle/samples/correct", H5P_DEFAULT);
    sp = H5Dget_space(ds);
    cr_assert_eq(H5Sget_simple_extent_npoints(sp), 2 * 2 * 2 * (1 + 2),
                 "records: 2 lengths x 2 depths x 2 samples x (1 + 2) queried needles");
    H5Sclose(sp);
    H5Dclose(ds);
    ds = H5Dopen2(f, "/eval/ppl/sotu/nll_by_position", H5P_DEFAULT);
    cr_assert(ds >= 0, "no /eval/ppl/sotu/nll_by_position");
    char name[64] = "";
    H5DSiterate_scales(ds, 0, NULL, first_scale, name);
    cr_assert_str_eq(name, "position");
    H5Dclose(ds);
    hid_t g = H5Gopen2(f, "/eval/ppl/sotu", H5P_DEFAULT);
    const char *attrs[] = {"tokens", "perplexity", "bits_per_byte", "window", "stride"};
    for (int i = 0; i < 5; i++)
        cr_assert(H5Aexists(g, attrs[i]) > 0, "ppl lacks attribute %s", attrs[i]);
    H5Gclose(g);
    ds = H5Dopen2(f, "/eval/icl/wordnet-noun/accuracy", H5P_DEFAULT);
    cr_assert(ds >= 0, "no /eval/icl/wordnet-noun/accuracy");
    H5DSiterate_scales(ds, 0, NULL, first_scale, name);
    cr_assert_str_eq(name, "shots");
    H5Dclose(ds);
    cr_assert(H5Lexists(f, "/eval/icl/wordnet-noun/best_minus_worst", H5P_DEFAULT) > 0);
    cr_assert(H5Lexists(f, "/model/params", H5P_DEFAULT) > 0, "the run file lost its weights");
    H5Fclose(f);

    // Run again: every cell is done, nothing is recomputed or rewritten.
    size_t n0 = 0, n1 = 0;
    char *before = read_all(run, &n0);
    snprintf(cmd, sizeof cmd,
             "eval needle --run '%s' --needles 1:1,2:2 --lengths 256,300 --depths 0,1 --samples 2",
             run);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "every cell was already done") != NULL, "%s", err);
    char *after = read_all(run, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "a finished evaluation changed the file");
    free(before);
    free(after);
}

Test(eval, bad_options_are_one_line_and_leave_the_file_whole) {
    const char *dir = scratch_dir("eval_bad");
    const char *run = make_run(dir);
    size_t n0 = 0;
    char *before = read_all(run, &n0);
    struct {
        const char *args, *needle;
    } cases[] = {
        {"needle --depths ''", "the --depths list is empty"},
        {"needle --needles 2:3", "R = 3 queried of N = 2 needles"},
        {"needle --lengths 100", "context length 100 is too short for 1 needles"},
        {"needle --lengths 256,x", "bad --lengths list"},
        {"ppl --window 1", "need --window >= 2"},
        {"icl --dataset trec", "neither a path nor a known labels"},
        {"icl --shots ''", "the --shots list is empty"},
        {"frob", "unknown task 'frob'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "eval %s --run '%s'", cases[i].args, run);
        if (!strcmp(cases[i].args, "frob")) snprintf(cmd, sizeof cmd, "eval frob");
        int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
        cr_assert_eq(rc, 2, "%s: exit %d (%s)", cmd, rc, err);
        cr_assert_eq(count_lines(err), 1, "%s: one line expected:\n%s", cmd, err);
        cr_assert(strstr(err, cases[i].needle) != NULL, "%s: '%s' lacks '%s'", cmd, err,
                  cases[i].needle);
    }
    size_t n1 = 0;
    char *after = read_all(run, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0,
              "a failed evaluation changed the run file");
    free(before);
    free(after);
}
