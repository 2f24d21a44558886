// dint eval needle: the multi-needle grid (needle configurations x context lengths x depths),
// written to /eval/needle after every finished cell; a restarted evaluation skips those cells.
// The task is tasks/needle_eval.c; the driver harness/eval/driver.c.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "driver.h"
#include "memory_plan.h"
#include "needle_eval.h"
#include "options.h"

static int prepare(void *arg, EvalContext *c, void **state, Error *err) {
    NeedleGridSpec *g = arg;
    if (memory_check_lengths(&c->cfg.model, "eval needle", g->len, g->n_len, err) != 0) return -1;
    model_set_inference(&c->model, 1); // forward only; every layer's q, k kept for the mass
    return needle_task_make(state, arg, &c->tok, c->corpus.tokens[SPLIT_TEST],
                            c->corpus.n_tokens[SPLIT_TEST], c->cfg.model.n_layer, err);
}

// "N:R,N:R,...": 0, or an error line (exit status 2).
static int parse_needles(const char *needles, NeedleGridSpec *g, Error *err) {
    for (const char *p = needles; *p;) {
        int n, r, used = 0;
        if (sscanf(p, "%d:%d%n", &n, &r, &used) != 2 || g->n_cfg == NEEDLE_GRID_MAX) {
            snprintf(err->msg, sizeof err->msg,
                     "bad --needles '%s': expected N:R pairs like 1:1,6:2", needles);
            cli_error("eval", err->msg);
            return -1;
        }
        if (r > n || r < 1) {
            snprintf(err->msg, sizeof err->msg,
                     "bad --needles '%s': R = %d queried of N = %d needles (need 1 <= R <= N)",
                     needles, r, n);
            cli_error("eval", err->msg);
            return -1;
        }
        g->N[g->n_cfg] = n, g->R[g->n_cfg++] = r;
        p += used;
        if (*p == ',')
            p++;
        else if (*p) {
            cli_error("eval", "bad --needles: expected N:R pairs separated by commas");
            return -1;
        }
    }
    return 0;
}

int cmd_eval_needle(int argc, char **argv) {
    EvalJob job = {.task = &needle_task, .threads = dist_default_threads()};
    const char *needles = "1:1,2:2,4:2,6:2";
    const char *lengths = "512,1024,2048,4096", *depths = "0,0.25,0.5,0.75,1";
    int samples = 50;
    unsigned long long seed = 1;
    Error err;
    const Option opts[] = {{"--run", OPT_STR, &job.run},        {"--out", OPT_STR, &job.out},
                           {"--data", OPT_STR, &job.data},      {"--needles", OPT_STR, &needles},
                           {"--lengths", OPT_STR, &lengths},    {"--depths", OPT_STR, &depths},
                           {"--samples", OPT_INT, &samples},    {"--seed", OPT_U64, &seed},
                           {"--threads", OPT_INT, &job.threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    if (!job.run) {
        cli_error("eval", "usage: dint eval needle --run RUN.h5 [--out FILE] [--data SPEC] "
                          "[--needles N:R,...] [--lengths L,...] [--depths D,...] [--samples S] "
                          "[--seed N] [--threads N]");
        return EXIT_USAGE;
    }
    NeedleGridSpec g;
    memset(&g, 0, sizeof g);
    g.samples = samples;
    g.seed = seed;
    if (samples < 1 || job.threads < 1) {
        cli_error("eval", "--samples and --threads must be positive");
        return EXIT_USAGE;
    }
    if (parse_needles(needles, &g, &err) != 0) return EXIT_USAGE;
    if ((g.n_len = parse_int_list(lengths, g.len, NEEDLE_GRID_MAX, "--lengths", &err)) < 0 ||
        (g.n_depth = parse_double_list(depths, g.depth, NEEDLE_GRID_MAX, "--depths", &err)) < 0 ||
        g.n_cfg == 0) {
        cli_error("eval", g.n_cfg == 0 ? "the --needles list is empty" : err.msg);
        return EXIT_USAGE;
    }
    job.load_corpus = 1;
    job.prepare = prepare;
    job.arg = &g;
    return eval_drive(&job);
}
