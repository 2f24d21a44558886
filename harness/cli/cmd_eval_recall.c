// dint eval recall: the synthetic keyed-recall grid (context lengths x pair counts), written to
// /eval/recall after every finished cell; a restarted evaluation skips those cells. Knobs not
// given default to the run's own recall section and training length, so a model is evaluated on
// the task it was trained on. The task is tasks/recall_eval.c; the driver harness/eval/driver.c.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "driver.h"
#include "memory_plan.h"
#include "options.h"
#include "recall_eval.h"

typedef struct {
    RecallGridSpec grid;
    const char *lengths, *pairs; // NULL: the run's train.seq_len and recall.pairs
    int queries, key_len, noise, distractors, symbols; // -1: the run's
} RecallOptions;

static int prepare(void *arg, EvalContext *c, void **state, Error *err) {
    RecallOptions *o = arg;
    RecallGridSpec *g = &o->grid;
    const RecallConfig *rc = &c->cfg.recall;
    model_set_inference(&c->model, 1);
    g->queries = o->queries >= 0 ? o->queries : rc->queries;
    g->key_len = o->key_len >= 0 ? o->key_len : rc->key_len;
    g->noise = o->noise >= 0 ? o->noise : rc->noise;
    g->distractors = o->distractors >= 0 ? o->distractors : rc->distractors;
    g->symbols = o->symbols >= 0 ? o->symbols : rc->symbols;
    if (o->lengths) {
        if ((g->n_len = parse_int_list(o->lengths, g->len, RECALL_GRID_MAX, "--lengths", err)) < 0)
            return -1;
    } else {
        g->n_len = 1, g->len[0] = c->cfg.train.seq_len;
    }
    if (o->pairs) {
        if ((g->n_pairs = parse_int_list(o->pairs, g->pairs, RECALL_GRID_MAX, "--pairs", err)) < 0)
            return -1;
    } else {
        g->n_pairs = 1, g->pairs[0] = rc->pairs;
    }
    for (int i = 0; i < g->n_pairs; i++)
        if (g->pairs[i] < 2 || g->pairs[i] > RECALL_MAX_PAIRS)
            return error_set(err, "bad --pairs: %d (each from 2 to %d)", g->pairs[i],
                             RECALL_MAX_PAIRS);
    if (memory_check_lengths(&c->cfg.model, "eval recall", g->len, g->n_len, err) != 0) return -1;
    return recall_task_make(state, g, err);
}

int cmd_eval_recall(int argc, char **argv) {
    RecallOptions o = {.queries = -1, .key_len = -1, .noise = -1, .distractors = -1, .symbols = -1};
    EvalJob job = {.task = &recall_task, .threads = dist_default_threads()};
    int samples = 200, batch = 16;
    unsigned long long seed = 1;
    Error err;
    const Option opts[] = {
        {"--run", OPT_STR, &job.run},        {"--out", OPT_STR, &job.out},
        {"--lengths", OPT_STR, &o.lengths},  {"--pairs", OPT_STR, &o.pairs},
        {"--queries", OPT_INT, &o.queries},  {"--key-len", OPT_INT, &o.key_len},
        {"--noise", OPT_INT, &o.noise},      {"--distractors", OPT_INT, &o.distractors},
        {"--samples", OPT_INT, &samples},    {"--batch", OPT_INT, &batch},
        {"--symbols", OPT_INT, &o.symbols},  {"--seed", OPT_U64, &seed},
        {"--threads", OPT_INT, &job.threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    if (!job.run) {
        cli_error(
            "eval",
            "usage: dint eval recall --run RUN.h5 [--out FILE] [--lengths T,...] "
            "[--pairs K,...] [--queries Q] [--key-len L] [--noise 0|1] "
            "[--distractors D] [--symbols S] [--samples S] [--batch B] [--seed N] [--threads N]");
        return EXIT_USAGE;
    }
    if (samples < 2 || batch < 1 || job.threads < 1 || o.noise > 1 || o.queries == 1 ||
        o.key_len == 0 || o.key_len > RECALL_MAX_KEY_LEN || o.distractors > 32) {
        cli_error("eval",
                  "--samples must be >= 2; --batch and --threads >= 1; --noise 0 or 1; "
                  "--queries 0 (half the context) or >= 2; --key-len 1 to 4; --distractors 0 "
                  "to 32");
        return EXIT_USAGE;
    }
    o.grid.samples = samples;
    o.grid.batch = batch;
    o.grid.seed = seed;
    job.prepare = prepare;
    job.arg = &o;
    return eval_drive(&job);
}
