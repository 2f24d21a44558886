// A new evaluation task, whole, as tests/test_extend.sh adds it to a copy of the tree: this file
// goes to tasks/ and `EVAL_TASK(next_token_task)` to tasks/eval_registry.h, nothing else.
// `dint eval next-token`: the share of positions of --windows windows of the run's test split
// where the model's most likely next token is the true one, one window per cell.
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_task.h"

#define NT_MAX_WINDOWS 64

typedef struct {
    int window, windows; // the options
    const int *text;     // the test split (owned by the harness)
    long n_text;
    unsigned char done[NT_MAX_WINDOWS];
    double accuracy[NT_MAX_WINDOWS];
} NextToken;

static const NextToken NT_DEFAULTS = {.window = 64, .windows = 4};

static const EvalOption NT_OPTIONS[] = {
    {"--window", EVAL_OPT_INT, offsetof(NextToken, window), "TOKENS"},
    {"--windows", EVAL_OPT_INT, offsetof(NextToken, windows), "N"},
};

static int nt_check(void *opts, Error *err) {
    const NextToken *o = opts;
    if (o->window < 2 || o->windows < 1 || o->windows > NT_MAX_WINDOWS)
        return error_set(err, "need --window >= 2 and --windows from 1 to %d", NT_MAX_WINDOWS);
    return 0;
}

static int nt_prepare(void *opts, const EvalInputs *in, void **state, Error *err) {
    NextToken *t = xmalloc(sizeof *t);
    *t = *(const NextToken *)opts;
    t->text = in->test_tokens, t->n_text = in->n_test_tokens;
    if (t->n_text < (long)t->windows * t->window + 1) {
        error_set(err, "the test split has %ld tokens: too few for %d windows of %d",
                  in->n_test_tokens, t->windows, t->window);
        free(t);
        return -1;
    }
    model_set_inference(in->model, 1);
    *state = t;
    return 0;
}

static void nt_group(const void *st, char *buf, size_t cap) {
    (void)st;
    snprintf(buf, cap, "/eval/next_token");
}
static void nt_parameters(const void *st, char *buf, size_t cap) {
    const NextToken *t = st;
    snprintf(buf, cap, "next_token v1; window %d; windows %d", t->window, t->windows);
}
static long nt_cells(const void *st) {
    return ((const NextToken *)st)->windows;
}
static int nt_read_back(void *st, const EvalReader *r) {
    NextToken *t = st;
    return r->dataset(r->ctx, "done", EVAL_U8, t->windows, t->done) ||
           r->dataset(r->ctx, "accuracy", EVAL_F64, t->windows, t->accuracy);
}
static int nt_cell_done(const void *st, long cell) {
    return ((const NextToken *)st)->done[cell];
}

static int nt_score_cell(void *st, Model *m, long cell, char *line, size_t cap, Error *err) {
    (void)line, (void)cap, (void)err;
    NextToken *t = st;
    const int *tokens = t->text + cell * t->window;
    int T = t->window, V = m->cfg.vocab_size, hits = 0;
    model_forward(m, tokens, NULL, 1, T); // logits (1, T, V)
    for (int i = 0; i < T; i++) {
        const float *row = m->logits + (long)i * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        hits += best == tokens[i + 1];
    }
    t->accuracy[cell] = (double)hits / T;
    return 0;
}
static void nt_cell_finished(void *st, long cell, double seconds) {
    (void)seconds;
    ((NextToken *)st)->done[cell] = 1;
}
static int nt_write(const void *st, const EvalWriter *w) {
    const NextToken *t = st;
    char params[128];
    nt_parameters(t, params, sizeof params);
    long n = t->windows;
    return w->attr_str(w->ctx, "", "parameters", params) |
           w->dataset(w->ctx, "accuracy", EVAL_F64, 1, &n, t->accuracy) |
           w->dataset(w->ctx, "done", EVAL_U8, 1, &n, t->done);
}
static void nt_progress(const void *st, long cell, const EvalProgress *p, char *line, size_t cap) {
    snprintf(line, cap, "next-token: window %ld: accuracy %.3f | %ld of %ld | ETA %.0fs", cell,
             ((const NextToken *)st)->accuracy[cell], p->finished, p->todo, p->eta);
}

static const SchemaEntry NT_OUTPUTS[] = {
    SCHEMA_GROUP_ENTRY("/eval/next_token", "next-token accuracy", "after dint eval next-token"),
    SCHEMA_ATTRIBUTE_ENTRY("/eval/next_token@parameters", "string", "window and windows", NULL),
    SCHEMA_DATASET_ENTRY("/eval/next_token/accuracy", "float64", "window",
                         "share of positions whose argmax is the next token", NULL),
    SCHEMA_DATASET_ENTRY("/eval/next_token/done", "uint8", "window", "1 where scored", NULL),
};

// What a sweep summary compares across seeds: the mean accuracy over the windows.
static const EvalMetric NT_METRICS[] = {
    {"next_token_accuracy", "/eval/next_token/accuracy", EVAL_REDUCE_MEAN},
};

const EvalTask next_token_task = {
    .name = "next-token",
    .command = "eval",
    .version = 1,
    .about = "next-token argmax accuracy on windows of the run's test split",
    .options = NT_OPTIONS,
    .n_options = 2,
    .options_size = sizeof(NextToken),
    .options_default = &NT_DEFAULTS,
    .reads_corpus = 1,
    .check_options = nt_check,
    .prepare = nt_prepare,
    .metrics = NT_METRICS,
    .n_metrics = 1,
    .outputs = NT_OUTPUTS,
    .n_outputs = 4,
    .writes_each_cell = 1,
    .damaged_advice = "write elsewhere with --out FILE",
    .all_done_note = "dint eval next-token: every window was already scored\n",
    .group_path = nt_group,
    .parameters = nt_parameters,
    .n_cells = nt_cells,
    .read_back = nt_read_back,
    .cell_done = nt_cell_done,
    .score_cell = nt_score_cell,
    .cell_finished = nt_cell_finished,
    .write = nt_write,
    .progress = nt_progress,
    .free = free,
};
