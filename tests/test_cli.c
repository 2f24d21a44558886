// Bad input to `dint`: one clear error line, a non-zero exit, and no file created or damaged.
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "config.h"

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

// The train command of these tests, its output in dir, ending in "--config" or "--set" etc.
static const char *train_cmd(const char *dir, const char *extra) {
    snprintf(cmd, sizeof cmd, "train --variant dint --data '%s' --out '%s/x.h5' %s", sotu_dir(),
             dir, extra);
    return cmd;
}

Test(cli, config_directory_is_refused) {
    const char *dir = scratch_dir("cli_config_dir");
    char extra[1200];
    snprintf(extra, sizeof extra, "--config '%s'", dir);
    expect_error(train_cmd(dir, extra), 2, "is a directory; give an .ini file");
    snprintf(extra, sizeof extra, "%s/x.h5", dir);
    cr_assert(!file_exists(extra), "a refused config must not start a run");
}

Test(cli, out_of_range_integers_are_refused) {
    const char *dir = scratch_dir("cli_range");
    // 2^70: strtoull saturates at 2^64 - 1 with ERANGE.
    expect_error(train_cmd(dir, "--seed 1180591620717411303424"), 2,
                 "option --seed: 1180591620717411303424 is out of range (at most "
                 "18446744073709551615)");
    expect_error(train_cmd(dir, "--seed ' 5'"), 2, "--seed takes a non-negative integer");
    expect_error(train_cmd(dir, "--set data.split_seed=1180591620717411303424"), 2,
                 "value '1180591620717411303424' for data.split_seed is out of range");
    expect_error(train_cmd(dir, "--set 'data.split_seed=-1'"), 2,
                 "bad value '-1' for data.split_seed");
    expect_error(train_cmd(dir, "--set train.steps=1e400"), 2, "bad value '1e400' for train.steps");
    char ini[1024], extra[1200];
    snprintf(ini, sizeof ini, "%s/big.ini", dir);
    write_text(ini, "[data]\nsplit_seed = 1180591620717411303424\n");
    snprintf(extra, sizeof extra, "--config '%s'", ini);
    expect_error(train_cmd(dir, extra), 2, "big.ini:2: value '1180591620717411303424'");
    snprintf(extra, sizeof extra, "%s/x.h5", dir);
    cr_assert(!file_exists(extra));
    // Options of the other commands, refused before any file is read.
    expect_error("eval icl --run none.h5 --episodes 99999999999", 2,
                 "option --episodes: 99999999999 is out of range");
    expect_error("eval needle --run none.h5 --seed 1180591620717411303424", 2,
                 "option --seed: 1180591620717411303424 is out of range");
    // A stored config (JSON) with such a seed.
    RunConfig c;
    Error e = {""};
    cr_assert_eq(config_from_json(&c, "{\"seed\": \"1180591620717411303424\"}", &e), -1);
    cr_assert(strstr(e.msg, "seed '1180591620717411303424' is out of range"), "%s", e.msg);
    cr_assert_eq(config_from_json(&c, "{\"seed\": \"18446744073709551615\"}", &e), 0, "%s", e.msg);
    cr_assert_eq(c.seed, UINT64_MAX);
}

Test(cli, tokenize_refuses_a_directory_and_an_unreadable_path) {
    const char *dir = scratch_dir("cli_tokenize");
    snprintf(cmd, sizeof cmd, "tokenize '%s'", dir);
    expect_error(cmd, 2, "is a directory; give a text file");
    cr_assert_eq(out[0], '\0', "nothing on stdout: %s", out);
    snprintf(cmd, sizeof cmd, "tokenize '%s/none.txt'", dir);
    expect_error(cmd, 2, "none.txt': No such file or directory");
}

// inih splits a line longer than its buffer into several, which shifted every later line
// number; such a line is refused at its own number, and shorter ones keep theirs.
Test(cli, ini_line_numbers_survive_long_lines) {
    const char *dir = scratch_dir("cli_ini_long");
    char ini[1024], extra[1200], text[2048];
    snprintf(ini, sizeof ini, "%s/c.ini", dir);
    snprintf(extra, sizeof extra, "--config '%s'", ini);
    char longest[200], too_long[260];
    memset(longest, 'x', sizeof longest - 1); // 199 characters: inih's longest line
    longest[0] = ';';
    longest[sizeof longest - 1] = '\0';
    memset(too_long, 'x', sizeof too_long - 1); // 259 characters
    too_long[0] = ';';
    too_long[sizeof too_long - 1] = '\0';
    snprintf(text, sizeof text, "[model]\r\n%s\r\nn_layer = 2\n[train]\nstepz = 3\n", longest);
    write_text(ini, text);
    expect_error(train_cmd(dir, extra), 2, "c.ini:5: unknown config key 'train.stepz'");
    snprintf(text, sizeof text, "[model]\nn_layer = 2\n%s\n[train]\nstepz = 3\n", too_long);
    write_text(ini, text);
    expect_error(train_cmd(dir, extra), 2, "c.ini:3: line longer than 199 characters; shorten it");
    // An error before the long line is the one reported.
    snprintf(text, sizeof text, "[model]\nn_layerz = 2\n%s\n", too_long);
    write_text(ini, text);
    expect_error(train_cmd(dir, extra), 2, "c.ini:2: unknown config key 'model.n_layerz'");
}

Test(cli, keys_set_twice_are_refused) {
    const char *dir = scratch_dir("cli_ini_twice");
    char ini[1024], extra[1200];
    snprintf(ini, sizeof ini, "%s/c.ini", dir);
    snprintf(extra, sizeof extra, "--config '%s'", ini);
    write_text(ini,
               "[model]\nn_layer = 2\n; a comment\n\n[train]\nsteps = 3\n[model]\nn_layer = 3\n");
    expect_error(train_cmd(dir, extra), 2, "c.ini:8: model.n_layer set twice (first on line 2)");
    // inih appends an indented line to the previous value: refused, not read as a key.
    write_text(ini, "[model]\n  n_layer = 2\n  d_model = 64\n");
    expect_error(train_cmd(dir, extra), 2,
                 "c.ini:3: indented line read as a continuation of model.n_layer's value");
    snprintf(extra, sizeof extra, "%s/x.h5", dir);
    cr_assert(!file_exists(extra));
    // A stored config (JSON): cJSON keeps both members.
    RunConfig c;
    Error e = {""};
    cr_assert_eq(config_from_json(&c, "{\"model\": {\"n_layer\": 2, \"n_layer\": 3}}", &e), -1);
    cr_assert(strstr(e.msg, "sets model.n_layer twice"), "%s", e.msg);
    cr_assert_eq(
        config_from_json(&c, "{\"model\": {\"n_layer\": 2}, \"model\": {\"n_layer\": 3}}", &e), -1);
    cr_assert(strstr(e.msg, "sets model.n_layer twice"), "%s", e.msg);
    cr_assert_eq(config_from_json(&c, "{\"seed\": \"1\", \"seed\": \"2\"}", &e), -1);
    cr_assert(strstr(e.msg, "gives the seed twice"), "%s", e.msg);
    cr_assert_eq(
        config_from_json(&c, "{\"model\": {\"n_layer\": 2}, \"train\": {\"steps\": 50}}", &e), 0,
        "%s", e.msg);
}

// `dint COMMAND --help` prints that command's usage on stdout and exits 0, for every command and
// evaluation task; `dint --help` lists them all.
Test(cli, every_command_has_help) {
    const char *commands[] = {"train",    "info",        "check", "eval needle", "eval ppl",
                              "eval icl", "eval recall", "audit", "sweep",       "tokenize",
                              "schema",   "import",      "bench"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s --help", commands[i]);
        int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
        cr_assert_eq(rc, 0, "dint %s: exit %d: %s", cmd, rc, err);
        char want[64];
        snprintf(want, sizeof want, "usage: dint %s ", commands[i]);
        cr_assert(strstr(out, want) != NULL, "dint %s: stdout lacks '%s': %s", cmd, want, out);
    }
    cr_assert_eq(run_dint("--help", out, sizeof out, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "dint %s ", commands[i]);
        cr_assert(strstr(out, want) != NULL, "dint --help lacks '%s'", want);
    }
    expect_error("eval bogus --help", 2, "unknown task 'bogus'");
}

// Sweep grids are INI files too: the same reader, the same refusals and true line numbers.
Test(cli, grid_files_refuse_keys_set_twice_and_long_lines) {
    const char *dir = scratch_dir("cli_grid_ini");
    char grid[1024], long_line[400];
    snprintf(grid, sizeof grid, "%s/g.ini", dir);
    write_text(grid, "[grid]\nvariants = dint\ndata = sotu\nvariants = diff\n");
    snprintf(cmd, sizeof cmd, "sweep '%s' --out '%s/out'", grid, dir);
    expect_error(cmd, 2, "g.ini:4: grid.variants set twice (first on line 2)");
    memset(long_line, 'x', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\0';
    char text[1024];
    snprintf(text, sizeof text, "[grid]\n; %s\nvariants = dint\nbogus = 1\n", long_line);
    write_text(grid, text);
    expect_error(cmd, 2, "g.ini:2: line longer than 199 characters");
    snprintf(cmd, sizeof cmd, "sweep '%s' --out '%s/out'", dir, dir);
    expect_error(cmd, 2, "is a directory; give an .ini file");
    snprintf(grid, sizeof grid, "%s/out", dir);
    cr_assert(!file_exists(grid), "a refused grid must not start a sweep");
}

// A 4-step tiny run in dir (its path returned).
static const char *tiny_run(const char *dir) {
    static char run[1024];
    snprintf(run, sizeof run, "%s/run.h5", dir);
    char train[4096];
    snprintf(train, sizeof train,
             "train --variant dint --data '%s' --out '%s' " TINY_SETS
             "--set train.steps=4 --set train.eval_every=4",
             sotu_dir(), run);
    cr_assert_eq(run_dint(train, out, sizeof out, err, sizeof err), 0, "%s", err);
    return run;
}

Test(cli, icl_shot_counts) {
    const char *dir = scratch_dir("cli_icl_shots");
    const char *run = tiny_run(dir);
    char res[1024];
    snprintf(res, sizeof res, "%s/res.h5", dir);
    const char *common = "--episodes 2 --orders 1 --context 256";
    snprintf(cmd, sizeof cmd, "eval icl --run '%s' --out '%s' %s --dataset synthetic --shots 0",
             run, res, common);
    expect_error(cmd, 2, "--shots 0: the synthetic task needs 1 shot or more");
    snprintf(cmd, sizeof cmd,
             "eval icl --run '%s' --out '%s' %s --dataset synthetic --shots 1,100000", run, res,
             common);
    expect_error(cmd, 2,
                 "--shots 100000: its episodes do not fit in a context of 256 tokens; the largest "
                 "shot count that fits is ");
    snprintf(cmd, sizeof cmd,
             "eval icl --run '%s' --out '%s' %s --dataset wordnet-noun --shots 100000", run, res,
             common);
    expect_error(cmd, 2, "train examples to draw demonstrations from; the largest shot count");
    snprintf(cmd, sizeof cmd, "eval icl --run '%s' --out '%s' %s --dataset wordnet-noun --shots 0",
             run, res, "--context 20");
    expect_error(cmd, 2,
                 "no episode of 'wordnet-noun' fits in a context of 20 tokens, not even "
                 "with 0 shots; give a longer --context");
    cr_assert(!file_exists(res), "a refused evaluation must not write its results file");
    // Zero-shot is evaluated (README: k = 0, 1, 2, ...).
    snprintf(cmd, sizeof cmd,
             "eval icl --run '%s' --out '%s' --episodes 2 --orders 1 --context 512 --dataset "
             "wordnet-noun --shots 0",
             run, res);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "icl wordnet-noun: 0 shots: accuracy"), "%s", err);
    snprintf(cmd, sizeof cmd, "info '%s'", res);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out, "wordnet-noun: k = 0: accuracy "), "%s", out);
}

Test(cli, info_summarises_a_results_file) {
    const char *dir = scratch_dir("cli_info_results");
    const char *run = tiny_run(dir);
    char res[1024];
    snprintf(res, sizeof res, "%s/res.h5", dir);
    const char *evals[] = {
        "eval ppl --window 64 --max-docs 1",
        "eval icl --dataset synthetic --shots 1,2 --episodes 2 --orders 1 --context 256",
        "eval needle --needles 1:1 --lengths 256 --depths 0.5 --samples 2",
        "audit --samples 1 --seq 64"};
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "%s --run '%s' --out '%s'", evals[i], run, res);
        cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s: %s", cmd, err);
    }
    size_t n_before = 0, n_after = 0;
    char *before = read_all(res, &n_before);
    snprintf(cmd, sizeof cmd, "info '%s'", res);
    int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
    cr_assert_eq(rc, 0, "dint info on a results file: exit %d; stderr: %s", rc, err);
    cr_assert_eq(err[0], '\0', "nothing on stderr: %s", err);
    char run_line[1200];
    snprintf(run_line, sizeof run_line, "run           %s (the run whose model was evaluated", run);
    const char *must[] = {"results file  ",
                          run_line,
                          "ppl           ",
                          "perplexity ",
                          "bits/byte",
                          "(ppl v1; window 64;",
                          "icl           synthetic: k = 1: accuracy ",
                          ", k = 2: accuracy ",
                          "needle        accuracy ",
                          "1 of 1 cells done",
                          "audit         fp32: max |row sum - expected| ",
                          "leakage probe causal"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        cr_assert(strstr(out, must[i]) != NULL, "dint info lacks '%s':\n%s", must[i], out);
    char *after = read_all(res, &n_after);
    cr_assert(n_before == n_after && memcmp(before, after, n_before) == 0,
              "dint info changed the results file");
    free(before);
    free(after);
    // A run file still reads as one.
    snprintf(cmd, sizeof cmd, "info '%s'", run);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out, "run file      ") != NULL, "%s", out);
}
