// dint eval icl: in-context classification accuracy as the number of demonstrations grows
// until the context is full, with the spread over orderings of the same demonstrations (random
// and class-alternating order), written to /eval/icl/<dataset> after every shot count; a
// restarted evaluation skips finished shot counts. The task is tasks/icl_eval.c; the driver
// harness/eval/driver.c.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "datasets.h"
#include "driver.h"
#include "icl_eval.h"
#include "labelled.h"
#include "options.h"

typedef struct {
    const char *shots; // --shots as given, or NULL
    IclTaskSpec spec;
    LabelledSet set; // loaded by prepare, freed by release
    IclDataset d;
    int shot_list[ICL_MAX_SHOT_COUNTS];
} IclJob;

static int prepare(void *arg, EvalContext *c, void **state, Error *err) {
    IclJob *j = arg;
    IclTaskSpec *s = &j->spec;
    if (s->context == 0) s->context = c->cfg.train.seq_len;
    if (strcmp(s->dataset, "synthetic") != 0) {
        char path[4096];
        DataSource src;
        // The same split as the training mixture's icl component: queries never seen in training.
        if (data_resolve_labels(s->dataset, path, sizeof path, &src, err) != 0 ||
            labelled_load(&j->set, path, 0.2f, c->cfg.data.split_seed, err) != 0)
            return -1;
        j->d = (IclDataset){j->set.n,        (const char *const *)j->set.text,
                            j->set.label,    j->set.is_test,
                            j->set.n_labels, (const char *const *)j->set.names};
        s->set = &j->d;
    }
    if (j->shots) {
        s->n_shots = parse_int_list(j->shots, j->shot_list, ICL_MAX_SHOT_COUNTS, "--shots", err);
        if (s->n_shots < 0) return -1;
        s->shots = j->shot_list;
    }
    return icl_task_make(state, s, &c->tok, err);
}

static void release(void *arg) {
    labelled_free(&((IclJob *)arg)->set);
}

int cmd_eval_icl(int argc, char **argv) {
    EvalJob job = {.task = &icl_task, .threads = dist_default_threads()};
    IclJob j;
    memset(&j, 0, sizeof j);
    IclTaskSpec *s = &j.spec;
    s->dataset = "wordnet-noun", s->episodes = 50, s->orders = 5, s->classes = 4;
    unsigned long long seed = 1;
    Error err;
    const Option opts[] = {{"--run", OPT_STR, &job.run},
                           {"--out", OPT_STR, &job.out},
                           {"--dataset", OPT_STR, &s->dataset},
                           {"--shots", OPT_STR, &j.shots},
                           {"--episodes", OPT_INT, &s->episodes},
                           {"--orders", OPT_INT, &s->orders},
                           {"--context", OPT_INT, &s->context},
                           {"--classes", OPT_INT, &s->classes},
                           {"--seed", OPT_U64, &seed},
                           {"--threads", OPT_INT, &job.threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    s->seed = seed;
    if (!job.run || s->episodes < 1 || s->orders < 1 || job.threads < 1 || s->context < 0 ||
        s->classes < 2) {
        cli_error("eval",
                  "usage: dint eval icl --run RUN.h5 [--out FILE] [--dataset "
                  "NAME|PATH|synthetic] [--shots K,...] "
                  "[--episodes N] [--orders S] [--context TOKENS] [--classes C (synthetic)] "
                  "[--seed N] [--threads N]");
        return EXIT_USAGE;
    }
    job.prepare = prepare;
    job.release = release;
    job.arg = &j;
    return eval_drive(&job);
}
