// Training through the `dint` executable on the State of the Union corpus: determinism,
// resume equivalence, run-file round trip, divergence detection, learning; and the training
// library in-process (train_step against what dint train writes).
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "config.h"
#include "corpus.h"
#include "model.h"
#include "h5io.h"
#include "history.h"
#include "layers.h"
#include "mixture.h"
#include "onset.h"
#include "optim.h"
#include "runfile.h"
#include "schema.h"
#include "session.h"
#include "tokenizer.h"
#include "trainer.h"
#include "variants.h"

static char out[1 << 16], err[1 << 16], cmd[8192];

static void train(const char *variant, const char *path, const char *extra) {
    snprintf(cmd, sizeof cmd, "train --variant %s --data '%s' --out '%s' " TINY_SETS "%s", variant,
             sotu_dir(), path, extra);
    int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
    cr_assert_eq(rc, 0, "dint %s failed (%d):\n%s", cmd, rc, err);
}

static void expect_same(const char *a, const char *b, const char *group) {
    char first[256] = "";
    int d = h5_group_diff(a, b, group, first, sizeof first);
    cr_assert_eq(d, 0, "%s differs between %s and %s (%d datasets, first: %s)", group, a, b, d,
                 first);
}

Test(train, same_seed_same_run_different_seed_different_run) {
    const char *dir = scratch_dir("train_det");
    char a[1024], b[1024], c[1024];
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    snprintf(c, sizeof c, "%s/c.h5", dir);
    train("dint", a, "--set train.steps=6 --set train.eval_every=3 --seed 7");
    train("dint", b, "--set train.steps=6 --set train.eval_every=3 --seed 7");
    train("dint", c, "--set train.steps=6 --set train.eval_every=3 --seed 8");
    expect_same(a, b, "/model/params");
    expect_same(a, b, "/optim/m");
    char first[256];
    cr_assert_gt(h5_group_diff(a, c, "/model/params", first, sizeof first), 0,
                 "a different seed must give different weights");
    // /train differs only in wall-clock seconds.
    cr_assert_eq(h5_group_diff(a, b, "/train", first, sizeof first), 1,
                 "only /train/seconds may differ");
    cr_assert_str_eq(first, "seconds");
}

Test(train, one_and_two_threads_agree) {
    const char *dir = scratch_dir("train_threads");
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/t1.h5", dir);
    snprintf(b, sizeof b, "%s/t2.h5", dir);
    train("diff", a, "--set train.steps=4 --set train.eval_every=4 --threads 1");
    train("diff", b, "--set train.steps=4 --set train.eval_every=4 --threads 2");
    expect_same(a, b, "/model/params");
}

Test(train, resume_is_bit_identical_to_an_uninterrupted_run) {
    const char *dir = scratch_dir("train_resume");
    for (int v = 0; v < N_VARIANTS; v++) { // every variant of core/variants.c
        const char *name = VARIANTS[v].name;
        char full[1024], part[1024];
        snprintf(full, sizeof full, "%s/%s_full.h5", dir, name);
        snprintf(part, sizeof part, "%s/%s_part.h5", dir, name);
        const char *sets = "--set train.steps=8 --set train.eval_every=3 --seed 11 ";
        train(name, full, sets);
        char extra[512];
        snprintf(extra, sizeof extra, "%s --stop-at 5", sets);
        train(name, part, extra);
        snprintf(cmd, sizeof cmd, "train --out '%s' --resume", part);
        int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
        cr_assert_eq(rc, 0, "resume failed: %s", err);
        expect_same(full, part, "/model/params");
        expect_same(full, part, "/optim/m");
        expect_same(full, part, "/optim/v");
        expect_same(full, part, "/rng");
        char first[256];
        cr_assert_eq(h5_group_diff(full, part, "/train", first, sizeof first), 1,
                     "%s: training curves differ beyond wall-clock seconds (first: %s)",
                     name, first);
    }
}

// Reads a float64 curve of a run file (n values) into a new array.
static double *read_curve(hid_t f, const char *path, long n) {
    double *v = malloc(sizeof(double) * (size_t)n);
    cr_assert_eq(h5_read(f, path, H5T_NATIVE_DOUBLE, (hsize_t)n, v), 0, "cannot read %s", path);
    return v;
}

// The retrieval onset of a run on a needle mixture: /train/answer_loss_multi holds the answer
// loss of the N >= 2 episodes (NaN or a value of its own where the step's answers were mixed),
// /train/onset equals retrieval_onset on the stored curve with the stored threshold and window
// (censored at the last step here), a stopped run stores its own, and --stop-at + --resume ends
// with the same onset as an uninterrupted run.
Test(train, onset_is_stored_and_resume_gives_the_same) {
    const char *dir = scratch_dir("train_onset");
    char full[1024], part[1024];
    snprintf(full, sizeof full, "%s/full.h5", dir);
    snprintf(part, sizeof part, "%s/part.h5", dir);
    const char *sets = "--set train.seq_len=256 --set train.steps=10 --set train.eval_every=5 "
                       "--seed 5";
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "train --variant dint --data '%s:0.2,needle:0.8' --out '%s' " TINY_SETS "%s%s",
                 sotu_dir(), k ? part : full, sets, k ? " --stop-at 6" : "");
        cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s: %s", cmd, err);
    }
    h5_quiet();
    hid_t f = H5Fopen(part, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, RUN_TRAIN_ONSET, H5P_DEFAULT);
    long step = -1, censored = -1;
    cr_assert_eq(h5_read_attr_num(g, "step", H5T_NATIVE_LONG, &step), 0);
    H5Gclose(g);
    H5Fclose(f);
    cr_assert_eq(step, 6, "the stopped run's onset is censored at its step 6, got %ld", step);
    snprintf(cmd, sizeof cmd, "train --out '%s' --resume", part);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "resume failed: %s", err);
    char first[256] = "";
    cr_assert_eq(h5_group_diff(full, part, "/train", first, sizeof first), 1,
                 "resumed and uninterrupted runs differ beyond wall-clock seconds (first: %s)",
                 first);
    cr_assert_str_eq(first, "seconds");

    f = H5Fopen(full, H5F_ACC_RDONLY, H5P_DEFAULT);
    long n = h5_len(f, RUN_TRAIN_STEP);
    cr_assert_eq(n, 10);
    long *steps = malloc(sizeof(long) * (size_t)n);
    cr_assert_eq(h5_read(f, RUN_TRAIN_STEP, H5T_NATIVE_LONG, (hsize_t)n, steps), 0);
    double *all = read_curve(f, RUN_TRAIN_ANSWER_LOSS, n),
           *multi = read_curve(f, RUN_TRAIN_ANSWER_LOSS_MULTI, n),
           *smoothed = read_curve(f, RUN_TRAIN_ONSET_SMOOTHED, n);
    int finite = 0, own = 0;
    for (long i = 0; i < n; i++) {
        // No answer at all means no N >= 2 answer either; values lie in the plateau's range.
        if (isnan(all[i])) cr_assert(isnan(multi[i]), "step %ld: N >= 2 loss without answers", i);
        if (isfinite(multi[i])) cr_assert(multi[i] > 0.5 && multi[i] < 20, "%g", multi[i]);
        finite += isfinite(multi[i]) != 0;
        own += isfinite(multi[i]) && multi[i] != all[i];
    }
    cr_assert_gt(finite, 0, "no step had an answer of an N >= 2 episode");
    cr_assert_gt(own, 0, "the N >= 2 curve never differs from the all-answers curve");
    g = H5Gopen2(f, RUN_TRAIN_ONSET, H5P_DEFAULT);
    double threshold = NAN;
    long window = 0, min_values = 0;
    h5_read_attr_num(g, "step", H5T_NATIVE_LONG, &step);
    h5_read_attr_num(g, "censored", H5T_NATIVE_LONG, &censored);
    h5_read_attr_num(g, "threshold", H5T_NATIVE_DOUBLE, &threshold);
    h5_read_attr_num(g, "window", H5T_NATIVE_LONG, &window);
    h5_read_attr_num(g, "min_values", H5T_NATIVE_LONG, &min_values);
    H5Gclose(g);
    H5Fclose(f);
    cr_assert_eq(threshold, ONSET_THRESHOLD);
    cr_assert_eq(window, ONSET_WINDOW);
    double *again = malloc(sizeof(double) * (size_t)n);
    RetrievalOnset o = retrieval_onset(steps, multi, n, threshold, window, again);
    cr_assert_eq(step, o.step);
    cr_assert_eq(censored, o.censored);
    cr_assert_eq(min_values, o.min_values);
    cr_assert_eq(censored, 1, "10 steps cannot fill a window of %ld", window);
    cr_assert_eq(step, 10);
    cr_assert(memcmp(again, smoothed, sizeof(double) * (size_t)n) == 0, "smoothed curve differs");
    snprintf(cmd, sizeof cmd, "info '%s'", full);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out, "retrieval     not reached by step 10 (censored; answer loss on N >= 2 "
                          "episodes <= 0.04, mean over 100 steps; no full window)"),
              "dint info:\n%s", out);
    free(steps);
    free(all);
    free(multi);
    free(smoothed);
    free(again);
}

// Load a run file back into a model: its weights reproduce the validation loss it recorded.
Test(train, run_file_round_trip) {
    const char *dir = scratch_dir("train_roundtrip");
    char path[1024];
    snprintf(path, sizeof path, "%s/rt.h5", dir);
    train("dint", path,
          "--set train.steps=3 --set train.eval_every=3 --set model.gamma=learned --threads 1");
    h5_quiet();
    // The run used --threads 1: the same set-up here (OpenMP threads, OpenBLAS kept
    // single-threaded inside them, as dint does), so the forward repeats its operations.
    threads_init(1);
    RunConfig cfg;
    Error e;
    cr_assert_eq(runfile_read_config(path, &cfg, &e), 0, "%s", e.msg);
    cr_assert_eq(cfg.model.variant, VARIANT_DINT);
    cr_assert_eq(cfg.model.gamma_mode, GAMMA_LEARNED);
    cr_assert_eq(cfg.train.steps, 3);
    cr_assert_eq(cfg.seed, 1234);
    Model m;
    cr_assert_eq(model_build(&m, &cfg.model, &e), 0);
    AdamW opt;
    adamw_init(&opt, m.n_params);
    History h;
    history_init(&h, cfg.model.n_layer);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    Corpus corpus = {0};
    RunState st = {.cfg = cfg,
                   .model = &m,
                   .opt = &opt,
                   .data_rng = rng,
                   .train = history_train_group(&h),
                   .corpus = &corpus};
    char data_path[4096];
    cr_assert_eq(runfile_read_state(path, &st, data_path, sizeof data_path, &e), 0, "%s", e.msg);
    cr_assert_str_eq(data_path, sotu_dir());
    cr_assert_eq(opt.step, 3);
    cr_assert_eq(h.n, 3);
    cr_assert_eq(h.n_val, 2);
    Tokenizer tok;
    cr_assert_eq(tokenizer_open(&tok, "byte", NULL, &e), 0);
    cr_assert_eq(corpus_load(&corpus, data_path, &tok, cfg.data.val_fraction,
                             cfg.data.test_fraction, cfg.data.split_seed, NULL, &e),
                 0);
    int B = cfg.train.batch_size, T = cfg.train.seq_len;
    int *tokens = malloc(sizeof(int) * B * T), *targets = malloc(sizeof(int) * B * T);
    double v = 0;
    for (int i = 0; i < cfg.train.eval_batches; i++) {
        corpus_heldout_batch(&corpus, SPLIT_VAL, i, cfg.train.eval_batches, tokens, targets, B, T);
        v += model_forward(&m, tokens, targets, B, T);
    }
    v /= cfg.train.eval_batches;
    cr_assert_eq(v, h.val_loss[1], "reloaded weights give val loss %.9g, file says %.9g", v,
                 h.val_loss[1]);
    // The stored config is the resolved config, field for field.
    char *j1 = config_to_json(&cfg);
    RunConfig again;
    cr_assert_eq(config_from_json(&again, j1, &e), 0, "%s", e.msg);
    char *j2 = config_to_json(&again);
    cr_assert_str_eq(j1, j2);
    free(j1);
    free(j2);
    free(tokens);
    free(targets);
    corpus_free(&corpus);
    gsl_rng_free(rng);
    history_free(&h);
    adamw_free(&opt);
    model_free(&m);
}

Test(train, divergence_is_reported_with_its_step_and_not_written) {
    const char *dir = scratch_dir("train_diverge");
    char path[1024];
    snprintf(path, sizeof path, "%s/nan.h5", dir);
    // lr 10 without clipping: the lambda exponentials overflow within a few steps.
    snprintf(
        cmd, sizeof cmd,
        "train --variant dint --data '%s' --out '%s' " TINY_SETS
        "--set train.steps=50 --set train.eval_every=50 --set train.lr=10 --set train.grad_clip=0",
        sotu_dir(), path);
    int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
    cr_assert_eq(rc, 3, "expected exit 3 (diverged), got %d:\n%s", rc, err);
    cr_assert(strstr(err, "divergence at step ") != NULL, "%s", err);
    cr_assert(!file_exists(path), "a diverged run must not write a run file");
}

Test(train, info_describes_the_run) {
    const char *dir = scratch_dir("train_info");
    char path[1024];
    snprintf(path, sizeof path, "%s/i.h5", dir);
    train("dint", path, "--set train.steps=2 --set train.eval_every=2 --set model.g_mode=full");
    snprintf(cmd, sizeof cmd, "info '%s'", path);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    const char *must[] = {"variant       dint", "NOT causal", "gamma tied",    "2 of 2 steps",
                          "val loss",           "parameters", "233 documents", "\"g_mode\":"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        cr_assert(strstr(out, must[i]) != NULL, "dint info lacks '%s':\n%s", must[i], out);
}

// --init-from: a new run (its own training settings) starts from another run's weights; with
// lr 0 they stay exactly those weights; the source is recorded; another architecture is refused
// with one line and no file.
Test(train, init_from_copies_weights_and_records_the_source) {
    const char *dir = scratch_dir("train_init_from");
    char a[1024], b[1024], c[1024];
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    snprintf(c, sizeof c, "%s/c.h5", dir);
    train("dint", a, "--set train.steps=4 --set train.eval_every=4");
    char extra[2048];
    snprintf(extra, sizeof extra,
             "--init-from '%s' --seed 9 --set train.steps=3 --set train.eval_every=3 "
             "--set train.lr=0 --set train.seq_len=64",
             a);
    train("dint", b, extra);
    expect_same(a, b, "/model/params");
    hid_t f = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    char *from = h5_read_attr_str(f, "init_from");
    H5Fclose(f);
    cr_assert(from && strstr(from, a) && strstr(from, "step 4 of its training"),
              "init_from attribute: '%s'", from ? from : "(missing)");
    free(from);
    run_dint(strcat(strcpy(cmd, "info "), b), out, sizeof out, err, sizeof err);
    cr_assert(strstr(out, "started from") != NULL, "dint info does not show the source:\n%s", out);

    snprintf(cmd, sizeof cmd,
             "train --variant dint --data '%s' --out '%s' --init-from '%s' " TINY_SETS
             "--set model.d_model=64 --set train.steps=2",
             sotu_dir(), c, a);
    int rc = run_dint(cmd, out, sizeof out, err, sizeof err);
    cr_assert_neq(rc, 0, "a different architecture was accepted");
    cr_assert(strstr(err, "another model config") && count_lines(err) == 1, "error: %s", err);
    cr_assert(!file_exists(c), "a refused --init-from left a run file");
    snprintf(cmd, sizeof cmd, "train --out '%s' --resume --init-from '%s'", b, a);
    rc = run_dint(cmd, out, sizeof out, err, sizeof err);
    cr_assert(rc != 0 && strstr(err, "--init-from"), "--resume with --init-from: %s", err);
}

// ---- the training library (harness/train/) in-process ----

static void tiny_config(RunConfig *c, const char *variant) {
    config_defaults(c);
    const char *sets[] = {"model.n_layer=1",      "model.d_model=32",    "model.head_dim=8",
                          "train.seq_len=32",     "train.batch_size=2",  "train.warmup=2",
                          "train.eval_batches=2", "train.log_every=100", "train.steps=5",
                          "train.eval_every=5"};
    Error e;
    cr_assert_eq(config_set(c, "model", "variant", variant, &e), 0);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        cr_assert_eq(config_set_assignment(c, sets[i], &e), 0, "%s: %s", sets[i], e.msg);
    c->seed = 3;
    c->model.vocab_size = tokenizer_vocab_size(c->data.tokenizer);
    cr_assert_eq(config_resolve(c, &e), 0, "%s", e.msg);
}

typedef struct {
    const int *tokens, *targets;
} RepeatedBatch;

static void repeated_batch(void *ctx, int *tokens, int *targets, unsigned char *answer_needles,
                           int B, int T) {
    (void)answer_needles;
    const RepeatedBatch *rb = ctx;
    memcpy(tokens, rb->tokens, sizeof(int) * (size_t)B * T);
    memcpy(targets, rb->targets, sizeof(int) * (size_t)B * T);
}

Test(trainer, train_step_learns_a_repeated_batch) {
    threads_init(1);
    RunConfig cfg;
    tiny_config(&cfg, "dint");
    Model m;
    Error e;
    cr_assert_eq(model_build(&m, &cfg.model, &e), 0, "%s", e.msg);
    model_init_params(&m, 1);
    AdamW opt;
    adamw_init(&opt, m.n_params);
    int B = cfg.train.batch_size, T = cfg.train.seq_len;
    const char *text = "the cat sat on the mat and the dog sat on the log; the cat sat on the mat.";
    int *data = xmalloc(sizeof(int) * 2 * B * T), *tokens = xmalloc(sizeof(int) * B * T),
        *targets = xmalloc(sizeof(int) * B * T);
    for (int i = 0; i < B * T; i++) {
        data[i] = (unsigned char)text[i % (int)strlen(text)];
        data[B * T + i] = (unsigned char)text[(i + 1) % (int)strlen(text)];
    }
    RepeatedBatch rb = {data, data + B * T};
    const TrainStep ts = {.model = &m,
                          .opt = &opt,
                          .t = &cfg.train,
                          .next_batch = repeated_batch,
                          .batch_ctx = &rb,
                          .tokens = tokens,
                          .targets = targets};
    TrainStepResult r;
    double first = 0;
    for (int s = 0; s < 40; s++) {
        cr_assert_eq(train_step(&ts, 3e-3f, &r), 0, "step %d diverged", s);
        cr_assert(isfinite(r.grad_norm) && r.grad_norm > 0);
        cr_assert_eq(r.answer_tokens, 0);
        if (s == 0) first = r.loss;
    }
    cr_assert_eq(opt.step, 40);
    cr_assert_lt(r.loss, 0.5 * first, "loss %.4f after 40 steps on one batch, %.4f at first",
                 r.loss, first);
    free(data);
    free(tokens);
    free(targets);
    adamw_free(&opt);
    model_free(&m);
}

Test(trainer, train_step_equals_what_dint_train_writes) {
    const char *dir = scratch_dir("trainer_cli");
    char path[1024];
    snprintf(path, sizeof path, "%s/cli.h5", dir);
    train("dint", path, "--set train.steps=5 --set train.eval_every=5 --seed 3");
    double written[5], written_norm[5];
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    cr_assert_eq(h5_read(f, "/train/loss", H5T_NATIVE_DOUBLE, 5, written), 0);
    cr_assert_eq(h5_read(f, "/train/grad_norm", H5T_NATIVE_DOUBLE, 5, written_norm), 0);
    H5Fclose(f);

    threads_init(1);
    RunConfig cfg;
    tiny_config(&cfg, "dint");
    TrainSetup setup = {.out = path, .data_spec = sotu_dir(), .threads = 1};
    TrainSession *s = xmalloc(sizeof *s);
    Error e;
    cr_assert_eq(train_session_open(s, &cfg, &setup, &e), 0, "%s", e.msg);
    for (long step = 0; step < 5; step++) {
        TrainStepResult r;
        cr_assert_eq(train_step(&s->step, lr_schedule(&s->cfg.train, step), &r), 0);
        cr_assert(r.loss == written[step], "step %ld: loss %.17g, dint train wrote %.17g", step + 1,
                  r.loss, written[step]);
        cr_assert(r.grad_norm == written_norm[step], "step %ld: grad norm %.17g, written %.17g",
                  step + 1, r.grad_norm, written_norm[step]);
    }
    train_session_close(s);
    free(s);
}

// data.task_loss lives with the mixture; core's parser still reads, prints and checks it.
Test(trainer, task_loss_key_round_trips_through_the_config) {
    RunConfig c, back;
    config_defaults(&c);
    cr_assert_eq(mixture_task_loss(&c), TASK_LOSS_ALL);
    Error e;
    cr_assert_eq(config_set_assignment(&c, "data.task_loss=answers", &e), 0, "%s", e.msg);
    cr_assert_eq(mixture_task_loss(&c), TASK_LOSS_ANSWERS);
    char *json = config_to_json(&c);
    cr_assert(strstr(json, "\"task_loss\":\t\"answers\""), "%s", json);
    cr_assert_eq(config_from_json(&back, json, &e), 0, "%s", e.msg);
    cr_assert_eq(mixture_task_loss(&back), TASK_LOSS_ANSWERS);
    free(json);
    cr_assert_neq(config_set(&c, "data", "task_loss", "nope", &e), 0);
    cr_assert_str_eq(e.msg,
                     "bad value 'nope' for data.task_loss: expected all, queries or answers");
}
