// Bad input to `dint`: one clear error line, a non-zero exit, and no file created or damaged.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

static char out[1 << 16], err[1 << 16];

// Runs `dint args`, expects exit `code`, exactly one stderr line containing `needle`.
static void expect_error(const char *args, int code, const char *needle) {
    int rc = run_dint(args, out, sizeof out, err, sizeof err);
    cr_assert_eq(rc, code, "dint %s: exit %d, expected %d; stderr: %s", args, rc, code, err);
    cr_assert_eq(count_lines(err), 1, "dint %s: expected one error line, got:\n%s", args, err);
    cr_assert(strstr(err, needle) != NULL, "dint %s: error should mention '%s', got: %s", args,
              needle, err);
}

static char cmd[8192];

Test(cli, unknown_command_and_variant) {
    const char *dir = scratch_dir("cli_variant");
    expect_error("frobnicate", 2, "unknown command 'frobnicate'");
    snprintf(cmd, sizeof cmd, "train --variant mamba --data '%s' --out '%s/x.h5'", sotu_dir(), dir);
    expect_error(cmd, 2, "unknown variant 'mamba'");
    snprintf(cmd, sizeof cmd, "%s/x.h5", dir);
    cr_assert(!file_exists(cmd), "a failed run must not create its run file");
}

Test(cli, bad_config_keys_and_values) {
    const char *dir = scratch_dir("cli_config");
    struct {
        const char *set, *needle;
    } cases[] = {
        {"model.n_heads=4", "unknown config key 'model.n_heads'"},
        {"train.steps=ten", "bad value 'ten' for train.steps"},
        {"train.steps=2.5", "bad value '2.5' for train.steps"},
        {"train.lr=-1", "bad value '-1' for train.lr"},
        {"model.g_mode=sideways", "bad value 'sideways' for model.g_mode"},
        {"model.gamma=fixed:abc", "bad value 'fixed:abc' for model.gamma"},
        {"model.head_norm=maybe", "bad value 'maybe' for model.head_norm"},
        {"model.d_model=100", "must be a multiple of 2 * model.head_dim"},
        {"nosection", "expected section.key=value"},
        {"data.tokenizer=klingon", "bad value 'klingon' for data.tokenizer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s/x.h5' --set %s",
                 sotu_dir(), dir, cases[i].set);
        expect_error(cmd, 2, cases[i].needle);
    }
    // An INI file with an unknown key names the file and line.
    char ini[1024];
    snprintf(ini, sizeof ini, "%s/bad.ini", dir);
    write_text(ini, "[model]\nn_layer = 2\n[train]\nstepz = 3\n");
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s/x.h5' --config '%s'",
             sotu_dir(), dir, ini);
    expect_error(cmd, 2, "bad.ini:4: unknown config key 'train.stepz'");
    snprintf(cmd, sizeof cmd,
             "train --variant dint --data '%s' --out '%s/x.h5' --config '%s/none.ini'", sotu_dir(),
             dir, dir);
    expect_error(cmd, 2, "cannot open config file");
    snprintf(cmd, sizeof cmd, "%s/x.h5", dir);
    cr_assert(!file_exists(cmd));
}

Test(cli, bad_data) {
    const char *dir = scratch_dir("cli_data");
    char path[1024];
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s/missing' --out '%s/x.h5'", dir, dir);
    expect_error(cmd, 2,
                 "is neither a path nor a known corpus (known: sotu, moby-dick, brown, kjv)");
    snprintf(path, sizeof path, "%s/empty", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && : > '%s/a.txt'", path, path);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s/x.h5'", path, dir);
    expect_error(cmd, 2, "is empty");
    snprintf(path, sizeof path, "%s/latin1.txt", dir);
    write_text(path, "para one\n\ncaf\xe9 au lait\n");
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s/x.h5'", path, dir);
    expect_error(cmd, 2, "not UTF-8 text (invalid byte at offset 13)");
    snprintf(path, sizeof path, "%s/small.txt", dir);
    write_text(path, "one short paragraph\n\nand another\n");
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s/x.h5'", path, dir);
    expect_error(cmd, 2, "has 2 documents: too few to hold out 1 for validation and 1 for test");
    write_text(path, "one short paragraph\n\nand another\n\na third\n\nand a fourth\n");
    expect_error(cmd, 2, "too small for train.seq_len");
    snprintf(path, sizeof path, "%s/x.h5", dir);
    cr_assert(!file_exists(path));
}

Test(cli, bad_arguments) {
    const char *dir = scratch_dir("cli_args");
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s'", sotu_dir());
    expect_error(cmd, 2, "--out RUN.h5 is required");
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s/x.h5' --seed -3",
             sotu_dir(), dir);
    expect_error(cmd, 2, "--seed takes a non-negative integer");
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s/x.h5' --frob", sotu_dir(),
             dir);
    expect_error(cmd, 2, "unknown option '--frob'");
    expect_error("info", 2, "expected one argument");
    snprintf(cmd, sizeof cmd, "train --out '%s/none.h5' --resume", dir);
    expect_error(cmd, 2, "does not exist");
}

// A real run file, then damaged copies of it.
Test(cli, corrupt_run_files_are_refused_and_left_alone) {
    const char *dir = scratch_dir("cli_corrupt");
    char good[1024], trunc[1024], flip[1024], junk[1024];
    snprintf(good, sizeof good, "%s/good.h5", dir);
    snprintf(cmd, sizeof cmd,
             "train --variant dint --data '%s' --out '%s' " TINY_SETS
             "--set train.steps=4 --set train.eval_every=2 --stop-at 2",
             sotu_dir(), good);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    size_t n = 0;
    char *bytes = read_all(good, &n);
    cr_assert(n > 1000);

    // Existing output is never overwritten by a fresh run.
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s'", sotu_dir(), good);
    expect_error(cmd, 2, "already exists; use --resume");

    snprintf(trunc, sizeof trunc, "%s/trunc.h5", dir);
    FILE *f = fopen(trunc, "wb");
    fwrite(bytes, 1, n / 2, f);
    fclose(f);
    snprintf(flip, sizeof flip, "%s/flip.h5", dir);
    char *damaged = malloc(n);
    memcpy(damaged, bytes, n);
    for (size_t i = n * 6 / 10; i < n * 6 / 10 + 64; i++) damaged[i] ^= 0x5A;
    f = fopen(flip, "wb");
    fwrite(damaged, 1, n, f);
    fclose(f);
    snprintf(junk, sizeof junk, "%s/junk.h5", dir);
    write_text(junk, "this is not an HDF5 file\n");

    const char *bad[] = {trunc, flip, junk};
    for (int i = 0; i < 3; i++) {
        size_t before_n = 0, after_n = 0;
        char *before = read_all(bad[i], &before_n);
        snprintf(cmd, sizeof cmd, "train --out '%s' --resume", bad[i]);
        int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
        cr_assert_eq(rc, 2, "resume of %s: exit %d; stderr: %s", bad[i], rc, err);
        cr_assert_eq(count_lines(err), 1, "resume of %s: one line expected, got:\n%s", bad[i], err);
        cr_assert(strstr(err, "corrupt") != NULL, "resume of %s should say corrupt: %s", bad[i],
                  err);
        if (i != 1) { // the flipped file may still open; its damage shows when reading weights
            snprintf(cmd, sizeof cmd, "info '%s'", bad[i]);
            expect_error(cmd, 2, "corrupt");
        }
        char *after = read_all(bad[i], &after_n);
        cr_assert(before_n == after_n && memcmp(before, after, before_n) == 0,
                  "%s was modified by a failed command", bad[i]);
        free(before);
        free(after);
    }
    // The good file still reads, unchanged.
    cr_assert_eq(run_dint((snprintf(cmd, sizeof cmd, "info '%s'", good), cmd), out, sizeof out, err,
                          sizeof err),
                 0, "%s", err);
    size_t m = 0;
    char *again = read_all(good, &m);
    cr_assert(m == n && memcmp(again, bytes, n) == 0);
    free(again);
    free(bytes);
    free(damaged);
}
