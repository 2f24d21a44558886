// The evaluation driver (harness/eval/driver.c) with a toy task defined here, as a new task
// would be in tasks/: "next-token accuracy", the fraction of positions of a window of the test
// split where the model's argmax is the next token, one window per cell (3 cells). Run through
// the driver into a real run file: the cells' numbers equal a direct computation, a run limited
// to 2 cells and a second run score each cell once (resume), a run with other parameters is
// refused in one line and leaves the file byte-identical, and the task registry lists every
// task with its table of outputs.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "driver.h"
#include "runfile.h"

// ---- The toy task: everything a new task needs besides a few lines of options ----

typedef struct {
    int window;
    const int *text;
    long n_text;
    unsigned char done[3];
    double accuracy[3];
    int scored; // cells scored by this state (the test's counter)
} Toy;

static double next_token_accuracy(Model *m, const int *tokens, int T) {
    model_forward(m, tokens, NULL, 1, T); // logits (1, T, V)
    int V = m->cfg.vocab_size, hits = 0;
    for (int t = 0; t < T; t++) {
        const float *row = m->logits + (long)t * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        hits += best == tokens[t + 1];
    }
    return (double)hits / T;
}

static void toy_group(const void *st, char *buf, size_t cap) {
    (void)st;
    snprintf(buf, cap, "/eval/toy");
}
static void toy_params(const void *st, char *buf, size_t cap) {
    snprintf(buf, cap, "toy v1; window %d", ((const Toy *)st)->window);
}
static long toy_cells(const void *st) {
    (void)st;
    return 3;
}
static int toy_read(void *st, const EvalReader *r) {
    Toy *t = st;
    return r->dataset(r->ctx, "done", EVAL_U8, 3, t->done) ||
           r->dataset(r->ctx, "accuracy", EVAL_F64, 3, t->accuracy);
}
static int toy_done(const void *st, long cell) {
    return ((const Toy *)st)->done[cell];
}
static int toy_score(void *st, Model *m, long cell, char *line, size_t cap, Error *err) {
    (void)line, (void)cap, (void)err;
    Toy *t = st;
    t->accuracy[cell] = next_token_accuracy(m, t->text + cell * 2 * t->window, t->window);
    t->scored++;
    return 0;
}
static void toy_finished(void *st, long cell, double seconds) {
    (void)seconds;
    ((Toy *)st)->done[cell] = 1;
}
static int toy_write(const void *st, const EvalWriter *w) {
    const Toy *t = st;
    char params[64];
    toy_params(t, params, sizeof params);
    long n = 3;
    double cells[3] = {0, 1, 2};
    return w->attr_str(w->ctx, "", "parameters", params) |
           w->dataset(w->ctx, "accuracy", EVAL_F64, 1, &n, t->accuracy) |
           w->dataset(w->ctx, "done", EVAL_U8, 1, &n, t->done) |
           w->scale(w->ctx, "accuracy", 0, "cell", cells, 3);
}
static void toy_progress(const void *st, long cell, const EvalProgress *p, char *line, size_t cap) {
    snprintf(line, cap, "toy: cell %ld: %.3f | cell %ld of %ld | ETA %.0fs", cell,
             ((const Toy *)st)->accuracy[cell], p->finished, p->todo, p->eta);
}
static void toy_free(void *st) {
    (void)st; // the test owns it
}

static const SchemaEntry TOY_OUTPUTS[] = {
    {SCHEMA_GROUP, "/eval/toy", NULL, "", "next-token accuracy", NULL, NULL},
    {SCHEMA_ATTRIBUTE, "/eval/toy@parameters", "string", "", "the window", NULL, NULL},
    {SCHEMA_DATASET, "/eval/toy/accuracy", "float64", "cell", "argmax = next token share", NULL,
     NULL},
    {SCHEMA_DATASET, "/eval/toy/done", "uint8", "cell", "1 where finished", NULL, NULL},
    {SCHEMA_DATASET, "/eval/toy/cell", "float64", "cell", "dimension scale", NULL, NULL},
};

static Toy toy;
static int toy_text[1024]; // the windows, kept after the driver has closed the corpus

static int toy_prepare(void *opts, const EvalInputs *in, void **state, Error *err) {
    int window = *(int *)opts;
    memset(&toy, 0, sizeof toy);
    toy.window = window;
    toy.n_text = 6L * window + 1;
    if (in->n_test_tokens < toy.n_text || toy.n_text > 1024)
        return error_set(err, "the test split is too short");
    memcpy(toy_text, in->test_tokens, sizeof(int) * (size_t)toy.n_text);
    toy.text = toy_text;
    *state = &toy;
    return 0;
}

static const EvalTask toy_task = {
    .name = "toy",
    .command = "eval",
    .version = 1,
    .outputs = TOY_OUTPUTS,
    .n_outputs = 5,
    .writes_each_cell = 1,
    .damaged_advice = "write elsewhere with --out FILE",
    .all_done_note = "dint eval toy: every cell was already done\n",
    .reads_corpus = 1,
    .prepare = toy_prepare,
    .group_path = toy_group,
    .parameters = toy_params,
    .n_cells = toy_cells,
    .read_back = toy_read,
    .cell_done = toy_done,
    .score_cell = toy_score,
    .cell_finished = toy_finished,
    .write = toy_write,
    .progress = toy_progress,
    .free = toy_free,
};

// ---- What `dint eval` does with a task: options in, one driver call, its error line out ----

static int run_toy(const char *run, int window, long max_cells) {
    EvalJob job = {
        .task = &toy_task, .run = run, .threads = 1, .opts = &window, .max_cells = max_cells};
    Error err;
    int rc = eval_drive(&job, &err);
    if (rc != 0 && err.msg[0]) error_report("eval", err.msg);
    return rc == 0 ? 0 : 2; // as `dint eval` exits
}

// ---- Helpers ----

static char out[1 << 16], err_text[1 << 16], cmd[4096];

static const char *make_run(const char *dir) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/run.h5", dir);
    snprintf(cmd, sizeof cmd,
             "train --variant dint --data sotu --out '%s' " TINY_SETS "--set train.steps=2 "
             "--set train.eval_every=2",
             path);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err_text, sizeof err_text), 0, "%s", err_text);
    return path;
}

// Run fn with stderr captured into buf.
static int with_stderr(char *buf, size_t cap, const char *scratch, const char *run, int window,
                       long max_cells) {
    char path[1200];
    snprintf(path, sizeof path, "%s/stderr.txt", scratch);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    int rc = run_toy(run, window, max_cells);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n = 0;
    char *text = read_all(path, &n);
    snprintf(buf, cap, "%s", text ? text : "");
    free(text);
    return rc;
}

static void read_results(const char *run, unsigned char *done, double *acc) {
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0);
    hid_t ds = H5Dopen2(f, "/eval/toy/done", H5P_DEFAULT);
    cr_assert(ds >= 0, "no /eval/toy/done");
    H5Dread(ds, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, done);
    H5Dclose(ds);
    ds = H5Dopen2(f, "/eval/toy/accuracy", H5P_DEFAULT);
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, acc);
    H5Dclose(ds);
    cr_assert(H5Lexists(f, "/eval/toy/cell", H5P_DEFAULT) > 0, "no dimension scale");
    cr_assert(H5Lexists(f, "/model/params", H5P_DEFAULT) > 0, "the run file lost its weights");
    H5Fclose(f);
}

Test(eval_driver, a_toy_task_runs_resumes_and_refuses_other_parameters) {
    const char *dir = scratch_dir("eval_driver");
    const char *run = make_run(dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    // The expected numbers, computed directly on the same model and windows.
    Model m;
    RunConfig cfg;
    char spec[4096];
    Error e;
    cr_assert_eq(runfile_load_model(run, &m, &cfg, spec, sizeof spec, &e), 0, "%s", e.msg);
    int window = 16;
    char log[8192];
    // Two cells, then the rest: the second run scores only the third cell.
    cr_assert_eq(with_stderr(log, sizeof log, dir, run, window, 2), 0, "%s", log);
    cr_assert_eq(toy.scored, 2);
    cr_assert(strstr(log, "cell 2 of 2") != NULL, "%s", log);
    unsigned char done[3];
    double acc[3];
    read_results(run, done, acc);
    cr_assert(done[0] == 1 && done[1] == 1 && done[2] == 0, "done %d %d %d", done[0], done[1],
              done[2]);
    double first[2] = {acc[0], acc[1]};
    cr_assert_eq(with_stderr(log, sizeof log, dir, run, window, 0), 0, "%s", log);
    cr_assert_eq(toy.scored, 1, "resume rescored finished cells");
    cr_assert(strstr(log, "toy: cell 2:") != NULL && strstr(log, "cell 1 of 1") != NULL, "%s", log);
    read_results(run, done, acc);
    cr_assert(done[0] && done[1] && done[2]);
    cr_assert(acc[0] == first[0] && acc[1] == first[1], "finished cells changed on resume");
    // The values are the direct computation's, bit for bit.
    for (int c = 0; c < 3; c++) {
        double want = next_token_accuracy(&m, toy.text + c * 2 * window, window);
        cr_assert(acc[c] == want, "cell %d: %.17g stored, %.17g computed", c, acc[c], want);
        cr_assert(acc[c] >= 0 && acc[c] <= 1);
    }
    model_free(&m);

    // Everything done: nothing scored, the file unchanged.
    size_t n0 = 0, n1 = 0;
    char *before = read_all(run, &n0);
    cr_assert_eq(with_stderr(log, sizeof log, dir, run, window, 0), 0, "%s", log);
    cr_assert_eq(toy.scored, 0);
    cr_assert(strstr(log, "every cell was already done") != NULL, "%s", log);

    // Other parameters: refused in one line, exit status 2, the file byte-identical.
    cr_assert_eq(with_stderr(log, sizeof log, dir, run, 8, 0), 2);
    cr_assert_eq(toy.scored, 0);
    cr_assert_eq(count_lines(log), 1, "%s", log);
    cr_assert(strstr(log,
                     "dint eval: error: the results file already holds /eval/toy with other "
                     "parameters (toy v1; window 16); write elsewhere with --out FILE") != NULL,
              "%s", log);
    char *after = read_all(run, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "a refused run changed the file");
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", run);
    cr_assert(!file_exists(tmp), "a .tmp was left behind");
    free(before);
    free(after);
}

Test(eval_driver, the_registry_lists_every_task_with_its_outputs) {
    const char *names[] = {"needle", "ppl", "icl", "recall", "audit"};
    int n = 0;
    for (; eval_tasks[n]; n++) {
        const EvalTask *t = eval_tasks[n];
        cr_assert_str_eq(t->name, names[n]);
        cr_assert(eval_task_find(t->name) == t);
        cr_assert(t->n_outputs > 3 && t->outputs != NULL, "%s has no table of outputs", t->name);
        const char *root = !strcmp(t->name, "audit") ? "/audit" : "/eval";
        for (int i = 0; i < t->n_outputs; i++) {
            const SchemaEntry *s = &t->outputs[i];
            cr_assert(!strncmp(s->path, root, strlen(root)), "%s: %s", t->name, s->path);
            cr_assert((s->kind == SCHEMA_GROUP) == (s->dtype == NULL), "%s", s->path);
            cr_assert((s->kind == SCHEMA_ATTRIBUTE) == (strchr(s->path, '@') != NULL), "%s",
                      s->path);
            cr_assert(s->meaning && s->meaning[0], "%s has no meaning", s->path);
        }
    }
    cr_assert_eq(n, 5);
    cr_assert(eval_task_find("toy") == NULL);
}
