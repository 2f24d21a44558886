// dint train: options to a config, then the training library (harness/train/) trains and
// checkpoints; this file prints its progress.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "config_file.h"
#include "diagnostics.h"
#include "dist.h"
#include "h5file.h"
#include "layers.h"
#include "memory_plan.h"
#include "options.h"
#include "runfile.h"
#include "session.h"
#include "tokenizer.h"

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

typedef struct {
    const char *variant, *data, *out, *config;
    const char *sets[256];
    int n_sets;
    const char *seed;
    const char *init_from; // start from this run file's weights
    int resume;
    long stop_at;
    int threads;
} TrainArgs;

static int take_set(void *ctx, const char *value, Error *err) {
    TrainArgs *a = ctx;
    if (a->n_sets == 256) return error_set(err, "too many --set options (at most 256)");
    a->sets[a->n_sets++] = value;
    return 0;
}

static int take_stop_at(void *ctx, const char *value, Error *err) {
    char *end;
    long *stop_at = ctx;
    errno = 0;
    *stop_at = strtol(value, &end, 10);
    if (*end || !value[0] || errno == ERANGE || *stop_at < 1)
        return error_set(err, "--stop-at takes a step number >= 1, not '%s'", value);
    return 0;
}

static int take_threads(void *ctx, const char *value, Error *err) {
    char *end;
    int *threads = ctx;
    errno = 0;
    long n = strtol(value, &end, 10);
    *threads = n >= 1 && n <= 256 ? (int)n : 0;
    if (*end || !value[0] || errno == ERANGE || *threads < 1)
        return error_set(err, "--threads takes a count from 1 to 256, not '%s'", value);
    return 0;
}

// The options and what they must agree with (files that must or must not exist).
static int parse_args(int argc, char **argv, TrainArgs *a, Error *err) {
    memset(a, 0, sizeof *a);
    a->stop_at = -1;
    a->threads = dist_default_threads(); // cores / ranks on this machine
    const OptionCall set = {take_set, a}, stop_at = {take_stop_at, &a->stop_at},
                     threads = {take_threads, &a->threads};
    const Option opts[] = {{"--variant", OPT_STR, &a->variant},
                           {"--data", OPT_STR, &a->data},
                           {"--out", OPT_STR, &a->out},
                           {"--config", OPT_STR, &a->config},
                           {"--seed", OPT_STR, &a->seed},
                           {"--set", OPT_CALL, (void *)&set},
                           {"--stop-at", OPT_CALL, (void *)&stop_at},
                           {"--threads", OPT_CALL, (void *)&threads},
                           {"--init-from", OPT_STR, &a->init_from},
                           {"--resume", OPT_FLAG, &a->resume}};
    const OptionsStyle style = {" (see dint --help)", 0, 0};
    if (options_parse_styled(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &style, err) !=
        0)
        return -1;
    if (!a->out) return error_set(err, "--out RUN.h5 is required");
    if (a->resume) {
        if (a->variant || a->config || a->n_sets || a->seed || a->init_from)
            return error_set(err,
                             "--resume continues a run with the config stored in '%s'; drop "
                             "--variant, --config, --set, --seed and --init-from",
                             a->out);
        if (!file_exists(a->out))
            return error_set(err, "cannot resume: run file '%s' does not exist", a->out);
        return 0;
    }
    if (!a->variant) return error_set(err, "--variant transformer|diff|dint is required");
    if (!a->data) return error_set(err, "--data PATH (a text file or a directory) is required");
    if (file_exists(a->out))
        return error_set(err,
                         "'%s' already exists; use --resume to continue it or choose another --out",
                         a->out);
    if (a->init_from && !file_exists(a->init_from))
        return error_set(err, "--init-from: run file '%s' does not exist", a->init_from);
    return 0;
}

// The config of a new run: defaults, --config, each --set in order, --variant, --seed.
static int build_config(const TrainArgs *a, RunConfig *cfg, Error *err) {
    config_defaults(cfg);
    if (config_set(cfg, "model", "variant", a->variant, err) != 0)
        return error_set(err, "unknown variant '%s': expected transformer, diff or dint",
                         a->variant);
    if (a->config && config_load_ini(cfg, a->config, err) != 0) return -1;
    for (int i = 0; i < a->n_sets; i++)
        if (config_set_assignment(cfg, a->sets[i], err) != 0) return -1;
    // --variant wins over a variant in the config file or --set.
    config_set(cfg, "model", "variant", a->variant, NULL);
    if (a->seed) {
        unsigned long long s;
        if (options_parse_u64("--seed", a->seed, &s, err) != 0) return -1;
        cfg->seed = s;
    }
    cfg->model.vocab_size = tokenizer_vocab_size(cfg->data.tokenizer);
    // train.grad_accum is given per rank; the run records the micro-batches of a whole step.
    long micro_batches = (long)cfg->train.grad_accum * dist_size();
    if (micro_batches > 1 << 16)
        return error_set(err, "train.grad_accum x %d ranks is %ld micro-batches (at most 65536)",
                         dist_size(), micro_batches);
    cfg->train.grad_accum = (int)micro_batches;
    return config_resolve(cfg, err);
}

static void format_duration(double s, char *buf, size_t n) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    else if (t >= 60)
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, n, "%lds", t);
}

static void print_validation(void *ctx, long step, double val_loss, double recall) {
    (void)ctx;
    if (isnan(recall))
        fprintf(stderr, "step %5ld | val loss %.4f\n", step, val_loss);
    else
        fprintf(stderr, "step %5ld | val loss %.4f | recall accuracy %.3f (held out)\n", step,
                val_loss, recall);
}

static void print_progress(void *ctx, const TrainProgress *p) {
    (void)ctx;
    char eta[32], answer[48] = "";
    format_duration(p->eta_s, eta, sizeof eta);
    if (p->answer_tokens) snprintf(answer, sizeof answer, " | answer loss %.4f", p->answer_loss);
    fprintf(stderr, "step %5ld/%d | loss %.4f%s | lr %.2e | grad norm %.3f | %.0f tok/s | ETA %s\n",
            p->step, p->steps, p->loss, answer, (double)p->lr, p->grad_norm, p->tokens_per_s, eta);
}

// Loss-spike lines: each of the first few, then at most one per LOSS_SPIKE_LINE_EVERY steps, so
// that a mixture's noisy batches cannot bury the progress lines; the count comes at the end.
#define LOSS_SPIKE_FIRST_LINES 3
#define LOSS_SPIKE_LINE_EVERY  100

static void print_loss_spike(void *ctx, long step, double loss, double median, double threshold) {
    LossSpikeLines *lines = ctx;
    long held, held_since;
    if (!loss_spike_lines_take(lines, step, &held, &held_since)) return;
    char more[96] = "";
    if (held)
        snprintf(more, sizeof more, "; and %ld more since step %ld", held, held_since);
    else if (lines->lines == lines->first)
        snprintf(more, sizeof more, "; more: at most one line per %ld steps", lines->every);
    fprintf(stderr, "step %5ld | loss spike: %.4f is above %.4f (running median %.4f)%s\n", step,
            loss, threshold, median, more);
}

// The spikes of the whole run (its /train/loss_spike), once training has ended.
static void print_loss_spike_count(const History *h) {
    long first, last;
    long count = train_count_loss_spikes(h, &first, &last);
    char where[64] = "";
    if (count == 1)
        snprintf(where, sizeof where, " (at step %ld)", first);
    else if (count > 1)
        snprintf(where, sizeof where, " (first at step %ld, last at step %ld)", first, last);
    fprintf(stderr, "dint train: loss spikes: %ld of %ld steps%s\n", count, h->n, where);
}

// Train the opened session to the end (or --stop-at) and say how it ended.
static int run_session(TrainSession *s, const TrainArgs *a) {
    const TrainConfig *t = &s->cfg.train;
    long tokens_per_step = (long)t->batch_size * t->seq_len * t->grad_accum;
    int rank = dist_rank(), ranks = dist_size();
    char share[96] = "";
    if (ranks > 1)
        snprintf(share, sizeof share, " on each of %d ranks (%d micro-batches per step)", ranks,
                 t->grad_accum);
    if (rank == 0)
        fprintf(stderr,
                "dint train: %s, %ld parameters, %s %ld steps to go (%ld tokens each), %d "
                "thread(s)%s\n",
                variant_name(s->cfg.model.variant), s->model.n_params, a->resume ? "resuming," : "",
                (long)t->steps - s->opt.step, tokens_per_step, a->threads, share);
    if (rank == 0 && t->grad_accum % ranks != 0)
        fprintf(stderr,
                "dint train: note: %d micro-batches per step do not split evenly over %d ranks; "
                "some ranks wait\n",
                t->grad_accum, ranks);
    // Every rank computes the same numbers; rank 0 prints them.
    LossSpikeLines spike_lines;
    loss_spike_lines_init(&spike_lines, LOSS_SPIKE_FIRST_LINES, LOSS_SPIKE_LINE_EVERY);
    const TrainReporter reporter = rank == 0 ? (TrainReporter){&spike_lines, print_validation,
                                                               print_progress, print_loss_spike}
                                             : (TrainReporter){0};
    Error err;
    long step;
    TrainOutcome outcome = train_run(s, a->out, a->stop_at, &reporter, &step, &err);
    if (rank != 0)
        return outcome == TRAIN_COMPLETE || outcome == TRAIN_STOPPED ? 0
               : outcome == TRAIN_DIVERGED                           ? EXIT_DIVERGED
                                                                     : EXIT_USAGE;
    if (s->hist.n) print_loss_spike_count(&s->hist);
    switch (outcome) {
    case TRAIN_COMPLETE:
        printf("%s\n", a->out);
        fprintf(stderr, "dint train: done; run file %s (see: dint info %s)\n", a->out, a->out);
        return 0;
    case TRAIN_STOPPED:
        fprintf(stderr,
                "dint train: stopped after step %ld as asked; continue with: dint train --out %s "
                "--resume\n",
                step, a->out);
        return 0;
    case TRAIN_DIVERGED:
        cli_error("train", err.msg);
        return EXIT_DIVERGED;
    case TRAIN_WRITE_FAILED:
        break;
    }
    cli_error("train", err.msg);
    return EXIT_USAGE;
}

// Data parallel over the MPI ranks (harness/dist/): the TrainShare of this rank.
static void share_sum_floats(void *ctx, float *a, long n) {
    (void)ctx;
    dist_sum_floats(a, n);
}

static void share_sum_doubles(void *ctx, double *a, long n) {
    (void)ctx;
    dist_sum_doubles(a, n);
}

static void share_broadcast_doubles(void *ctx, double *a, long n, int root) {
    (void)ctx;
    dist_broadcast_doubles(a, n, root);
}

// The options, the config, its memory plan and the lock (rank 0, the writer); 0, or -1 with err
// filled. A new run is planned before its lock is taken, so an oversized one touches no file.
static int prepare(int argc, char **argv, TrainArgs *a, RunConfig *cfg, Error *err) {
    if (parse_args(argc, argv, a, err) != 0) return -1;
    threads_init(a->threads);
    if (!a->resume &&
        (build_config(a, cfg, err) != 0 || memory_check_training(cfg, a->threads, err) != 0))
        return -1;
    // One writer per run file: a second train --resume (or an eval) of it is refused at once.
    if (dist_rank() == 0 && h5file_lock(a->out, err) != 0) return -1;
    if (a->resume &&
        (runfile_read_config(a->out, cfg, err) != 0 || memory_check_training(cfg, a->threads, err)))
        return -1;
    return 0;
}

int cmd_train(int argc, char **argv) {
    Error err;
    TrainArgs a;
    RunConfig cfg;
    // With several ranks, every rank must open its session before any trains.
    int ok = prepare(argc, argv, &a, &cfg, &err) == 0;
    if (!ok) cli_error("train", err.msg);
    if (!dist_all_ok(ok)) return EXIT_USAGE;
    const TrainShare share = {.rank = dist_rank(),
                              .ranks = dist_size(),
                              .sum_floats = share_sum_floats,
                              .sum_doubles = share_sum_doubles,
                              .broadcast_doubles = share_broadcast_doubles};
    const TrainSetup setup = {a.out,    a.data,    a.init_from,
                              a.resume, a.threads, dist_size() > 1 ? &share : NULL};
    TrainSession *session = xmalloc(sizeof *session); // large: path buffers, mixture sets
    int rc = EXIT_USAGE;
    ok = train_session_open(session, &cfg, &setup, &err) == 0;
    if (!ok) cli_error("train", err.msg);
    if (dist_all_ok(ok)) rc = run_session(session, &a);
    if (ok) train_session_close(session);
    free(session);
    return rc;
}
