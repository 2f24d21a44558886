// ICL as an EvalTask: per shot count the accuracies of both orderings, their spread over
// orderings and their Wilson intervals, as one row of every dataset of /eval/icl/<label>.
#include "icl_eval.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interval.h"

#define MAX_SHOTS ICL_MAX_SHOT_COUNTS

typedef struct {
    IclTaskSpec spec;
    Tokenizer *tok;
    char label[128];
    int n_shots, shots[MAX_SHOTS];
    unsigned char done[MAX_SHOTS];
    // [mode][shot]: mode 0 random order, 1 class-alternating
    double acc[2][MAX_SHOTS], acc_norm[2][MAX_SHOTS], bmw[2][MAX_SHOTS], sd[2][MAX_SHOTS],
        secs[MAX_SHOTS];
    long correct[2][MAX_SHOTS], total[2][MAX_SHOTS];
    double *order_acc[2]; // (shots, orders)
} IclGrid;

static const char *const PREFIX[2] = {"", "alternating_"};

static void icl_grid_free(void *st) {
    IclGrid *g = st;
    if (!g) return;
    free(g->order_acc[0]);
    free(g->order_acc[1]);
    free(g);
}

static void icl_group_path(const void *st, char *buf, size_t cap) {
    snprintf(buf, cap, "/eval/icl/%s", ((const IclGrid *)st)->label);
}

static void icl_params_text(const void *st, char *buf, size_t cap) {
    const IclGrid *g = st;
    const IclTaskSpec *s = &g->spec;
    size_t k = 0;
    if (cap > 512) cap = 512; // stored texts have always been cut there
    eval_appendf(buf, cap, &k,
                 "icl v%d; seed %llu; episodes %d; orders %d; context %d; classes %d; shots",
                 ICL_TASK_VERSION, (unsigned long long)s->seed, s->episodes, s->orders, s->context,
                 s->set ? s->set->n_labels : s->classes);
    for (int i = 0; i < g->n_shots; i++) eval_appendf(buf, cap, &k, " %d", g->shots[i]);
}

static long icl_n_cells(const void *st) {
    return ((const IclGrid *)st)->n_shots;
}

static int icl_read_back(void *st, const EvalReader *r) {
    IclGrid *g = st;
    int S = g->n_shots, O = g->spec.orders;
    int bad = r->dataset(r->ctx, "done", EVAL_U8, S, g->done) ||
              r->dataset(r->ctx, "seconds", EVAL_F64, S, g->secs);
    for (int mode = 0; mode < 2 && !bad; mode++) {
        char n[5][64];
        const char *col[5] = {"accuracy", "accuracy_norm", "best_minus_worst", "order_std",
                              "order_accuracy"};
        for (int k = 0; k < 5; k++) snprintf(n[k], sizeof n[k], "%s%s", PREFIX[mode], col[k]);
        bad = r->dataset(r->ctx, n[0], EVAL_F64, S, g->acc[mode]) ||
              r->dataset(r->ctx, n[1], EVAL_F64, S, g->acc_norm[mode]) ||
              r->dataset(r->ctx, n[2], EVAL_F64, S, g->bmw[mode]) ||
              r->dataset(r->ctx, n[3], EVAL_F64, S, g->sd[mode]) ||
              r->dataset(r->ctx, n[4], EVAL_F64, (long)S * O, g->order_acc[mode]);
        for (int i = 0; i < S; i++) {
            g->total[mode][i] = g->done[i] ? (long)g->spec.episodes * O : 0;
            g->correct[mode][i] = g->done[i] ? lround(g->acc[mode][i] * g->total[mode][i]) : 0;
        }
    }
    return bad ? -1 : 0;
}

static int icl_cell_done(const void *st, long cell) {
    return ((const IclGrid *)st)->done[cell];
}

static int icl_score_cell(void *st, Model *m, long cell, char *line, size_t cap, Error *err) {
    IclGrid *g = st;
    const IclTaskSpec *s = &g->spec;
    int i = (int)cell;
    for (int mode = 0; mode < 2; mode++) {
        IclOptions o = {g->shots[i], s->context, s->episodes, s->orders, mode, s->seed};
        IclResult r;
        int rc = s->set ? icl_evaluate(m, g->tok, s->set, &o, &r, err)
                        : icl_evaluate_synthetic(m, g->tok, s->classes, &o, &r, err);
        if (rc != 0) return -1;
        int fits = r.fits;
        if (fits) {
            g->acc[mode][i] = r.accuracy, g->acc_norm[mode][i] = r.accuracy_norm;
            g->bmw[mode][i] = r.best_minus_worst, g->sd[mode][i] = r.order_std;
            g->total[mode][i] = (long)s->episodes * s->orders;
            g->correct[mode][i] = lround(r.accuracy * g->total[mode][i]);
            memcpy(g->order_acc[mode] + (long)i * s->orders, r.order_accuracy,
                   sizeof(double) * (size_t)s->orders);
        }
        icl_result_free(&r);
        if (!fits) { // the context is full: stop growing k
            snprintf(line, cap, "icl %s: %d shots do not fit in %d tokens; stopping", g->label,
                     g->shots[i], s->context);
            // The grid keeps its shot counts: the cells scored so far are already written, and
            // on MPI ranks this rank's results may still be gathered and written by rank 0.
            return EVAL_CELL_STOP;
        }
    }
    return 0;
}

static void icl_cell_finished(void *st, long cell, double seconds) {
    IclGrid *g = st;
    g->secs[cell] = seconds;
    g->done[cell] = 1;
}

static int icl_write_results(const void *st, const EvalWriter *w) {
    const IclGrid *g = st;
    int rc = 0, S = g->n_shots;
    double shots[MAX_SHOTS], lo[MAX_SHOTS], hi[MAX_SHOTS];
    for (int i = 0; i < S; i++) shots[i] = g->shots[i];
    char params[512];
    icl_params_text(g, params, sizeof params);
    rc |= w->attr_str(w->ctx, "", "parameters", params);
    rc |= w->attr_i64(w->ctx, "", "task_version", ICL_TASK_VERSION);
    rc |= w->attr_i64(w->ctx, "", "episodes", g->spec.episodes);
    rc |= w->attr_i64(w->ctx, "", "orders", g->spec.orders);
    rc |= w->attr_str(
        w->ctx, "", "format",
        "\"Input: <text>\\nLabel: <label>\\n\\n\" x k, then \"Input: <query>\\nLabel:\"; "
        "prediction: the label with the highest log-likelihood (constrained decoding)");
    for (int mode = 0; mode < 2; mode++) {
        for (int i = 0; i < S; i++)
            wilson_interval(g->correct[mode][i], g->total[mode][i], &lo[i], &hi[i]);
        struct {
            const char *name;
            const double *v;
        } cols[] = {{"accuracy", g->acc[mode]},
                    {"accuracy_norm", g->acc_norm[mode]},
                    {"accuracy_ci_low", lo},
                    {"accuracy_ci_high", hi},
                    {"best_minus_worst", g->bmw[mode]},
                    {"order_std", g->sd[mode]}};
        long d = S, d2[2] = {S, g->spec.orders};
        for (int k = 0; k < 6; k++) {
            char name[64];
            snprintf(name, sizeof name, "%s%s", PREFIX[mode], cols[k].name);
            rc |= w->dataset(w->ctx, name, EVAL_F64, 1, &d, cols[k].v);
            rc |= w->scale(w->ctx, name, 0, "shots", shots, S);
        }
        char name[64];
        snprintf(name, sizeof name, "%sorder_accuracy", PREFIX[mode]);
        rc |= w->dataset(w->ctx, name, EVAL_F64, 2, d2, g->order_acc[mode]);
        rc |= w->scale(w->ctx, name, 0, "shots", shots, S);
    }
    long d = S;
    rc |= w->dataset(w->ctx, "done", EVAL_U8, 1, &d, g->done);
    rc |= w->dataset(w->ctx, "seconds", EVAL_F64, 1, &d, g->secs);
    rc |= w->attr_str(
        w->ctx, "best_minus_worst", "meaning",
        "accuracy of the best minus the worst of the orderings of the same demonstrations");
    return rc;
}

static void icl_progress(const void *st, long cell, const EvalProgress *p, char *line, size_t cap) {
    const IclGrid *g = st;
    int i = (int)cell;
    snprintf(line, cap,
             "icl %s: %d shots: accuracy %.3f (alternating %.3f), best-worst %.3f | %.1fs",
             g->label, g->shots[i], g->acc[0][i], g->acc[1][i], g->bmw[0][i], p->cell_seconds);
}

static void make_label(const char *dataset, int synthetic, char *label, size_t cap) {
    snprintf(label, cap, "%.100s",
             synthetic               ? "synthetic"
             : strrchr(dataset, '/') ? strrchr(dataset, '/') + 1
                                     : dataset);
    for (char *p = label; *p; p++)
        if (*p == '.') *p = '_';
}

static int train_examples(const IclDataset *d) {
    int n = 0;
    for (int i = 0; d && i < d->n; i++) n += !d->is_test[i];
    return n;
}

// Whether the episodes of k shots fit in both orderings that a cell scores, without a model.
static int shots_fit(const IclTaskSpec *s, Tokenizer *tok, int k, Error *err) {
    for (int mode = 0; mode < 2; mode++) {
        IclOptions o = {k, s->context, s->episodes, s->orders, mode, s->seed};
        int fits = icl_fits(tok, s->set, s->classes, &o, err);
        if (fits != 1) return fits;
    }
    return 1;
}

// The largest shot count in [least, above) that fits, least - 1 when none does, -2 on error.
// A binary search: the draw at k + 1 holds the draw at k, so episodes only grow with k.
static int largest_fitting_shots(const IclTaskSpec *s, Tokenizer *tok, int least, int above,
                                 Error *err) {
    long fitting = least - 1, too_long = above;
    while (too_long - fitting > 1) {
        long mid = fitting + (too_long - fitting) / 2;
        int fits = shots_fit(s, tok, (int)mid, err);
        if (fits < 0) return -2;
        if (fits)
            fitting = mid;
        else
            too_long = mid;
    }
    return (int)fitting;
}

// Refuse shot count k, which cannot be scored, naming the largest that can.
static int refuse_shots(const IclTaskSpec *s, Tokenizer *tok, int k, int least, Error *err) {
    int n_train = train_examples(s->set), best = largest_fitting_shots(s, tok, least, k, err);
    if (best == -2) return -1;
    if (best < least)
        return error_set(err,
                         "no episode of '%s' fits in a context of %d tokens, not even with %d "
                         "shot%s; give a longer --context",
                         s->dataset, s->context, least, least == 1 ? "" : "s");
    if (s->set && k > n_train)
        return error_set(err,
                         "--shots %d: '%s' has %d train examples to draw demonstrations from; the "
                         "largest shot count that fits (context %d tokens) is %d",
                         k, s->dataset, n_train, s->context, best);
    return error_set(err,
                     "--shots %d: its episodes do not fit in a context of %d tokens; the largest "
                     "shot count that fits is %d",
                     k, s->context, best);
}

int icl_task_make(void **st, const IclTaskSpec *spec, Tokenizer *tok, Error *err) {
    IclGrid *g = xcalloc(1, sizeof *g);
    g->spec = *spec;
    g->tok = tok;
    int synthetic = spec->set == NULL, rc = 0, least = synthetic ? 1 : 0;
    make_label(spec->dataset, synthetic, g->label, sizeof g->label);
    if (spec->n_shots > 0) {
        g->n_shots = spec->n_shots;
        memcpy(g->shots, spec->shots, sizeof(int) * (size_t)spec->n_shots);
        int n_train = train_examples(spec->set);
        for (int i = 0; rc == 0 && i < g->n_shots; i++) {
            int k = g->shots[i];
            if (k < 0)
                rc = error_set(err, "--shots %d: a shot count is a number of demonstrations (>= 0)",
                               k);
            else if (k < least)
                rc = error_set(err,
                               "--shots 0: the synthetic task needs 1 shot or more (its query "
                               "repeats a demonstration); zero-shot needs a labelled --dataset");
            // A count that can never be scored is refused (a demonstration takes a token at
            // least); the first one must fit exactly (else nothing is scored), a later one that
            // does not stops the evaluation there.
            else if (k + 3L > spec->context || (!synthetic && k > n_train))
                rc = refuse_shots(spec, tok, k, least, err);
            else if (i == 0) {
                int fits = shots_fit(spec, tok, k, err);
                if (fits == 0) rc = refuse_shots(spec, tok, k, least, err);
                if (fits < 0) rc = -1;
            }
        }
    } else {
        // 0 (1 for synthetic), 1, 2, 4, ... up to what surely fits in the context.
        int most = synthetic ? 64 : icl_max_shots(tok, spec->set, spec->context);
        if (most < 0)
            rc = error_set(err, "no episode of '%s' fits in a context of %d tokens", spec->dataset,
                           spec->context);
        else if (synthetic) { // the family has no length bound: is the first count scored?
            int fits = shots_fit(spec, tok, least, err);
            if (fits == 0) rc = refuse_shots(spec, tok, least, least, err);
            if (fits < 0) rc = -1;
        }
        for (int k = least; rc == 0 && k <= most && g->n_shots < MAX_SHOTS; k = k ? 2 * k : 1)
            g->shots[g->n_shots++] = k;
    }
    for (int m = 0; m < 2; m++) {
        g->order_acc[m] = xcalloc((size_t)MAX_SHOTS * spec->orders, sizeof(double));
        for (int i = 0; i < MAX_SHOTS; i++)
            g->acc[m][i] = g->acc_norm[m][i] = g->bmw[m][i] = g->sd[m][i] = NAN;
    }
    if (rc != 0) {
        icl_grid_free(g);
        return -1;
    }
    *st = g;
    return 0;
}

#define ICL_DATASET(path, dtype, dims, meaning)                                                    \
    { SCHEMA_DATASET, "/eval/icl/{dataset}/" path, dtype, dims, meaning, NULL, NULL }
#define ICL_ATTR(path, dtype, meaning)                                                             \
    { SCHEMA_ATTRIBUTE, "/eval/icl/{dataset}" path, dtype, "", meaning, NULL, NULL }
#define MODE(p, what)                                                                              \
    ICL_DATASET(p "accuracy", "float64", "shots", "accuracy, " what),                              \
        ICL_DATASET(p "accuracy_norm", "float64", "shots",                                         \
                    "accuracy of the length-normalised likelihood, " what),                        \
        ICL_DATASET(p "accuracy_ci_low", "float64", "shots",                                       \
                    "Wilson 95 % interval of accuracy, lower end, " what),                         \
        ICL_DATASET(p "accuracy_ci_high", "float64", "shots",                                      \
                    "Wilson 95 % interval of accuracy, upper end, " what),                         \
        ICL_DATASET(p "best_minus_worst", "float64", "shots",                                      \
                    "best minus worst ordering's accuracy, " what),                                \
        ICL_DATASET(p "order_std", "float64", "shots",                                             \
                    "standard deviation over orderings, " what),                                   \
        ICL_DATASET(p "order_accuracy", "float64", "shots,order",                                  \
                    "accuracy of each ordering, " what)

static const SchemaEntry ICL_OUTPUTS[] = {
    {SCHEMA_GROUP, "/eval/icl", NULL, NULL, "in-context learning, one group per dataset",
     "after dint eval icl", NULL},
    {SCHEMA_GROUP, "/eval/icl/{dataset}", NULL, NULL,
     "accuracy by shot count (label: dataset name, '.' -> '_')", NULL, NULL},
    ICL_ATTR("@parameters", "string", "the options that make results comparable"),
    ICL_ATTR("@task_version", "int64", "version of the icl task"),
    ICL_ATTR("@episodes", "int64", "queries per shot count"),
    ICL_ATTR("@orders", "int64", "orderings of the same demonstrations per query"),
    ICL_ATTR("@format", "string", "the prompt format and the prediction rule"),
    MODE("", "random order"),
    MODE("alternating_", "class-alternating order"),
    ICL_ATTR("/best_minus_worst@meaning", "string", "what best_minus_worst is"),
    ICL_DATASET("shots", "float64", "shots", "dimension scale: demonstrations per prompt"),
    ICL_DATASET("done", "uint8", "shots", "1 where the shot count is finished"),
    ICL_DATASET("seconds", "float64", "shots", "seconds the shot count took"),
};
#undef ICL_DATASET
#undef ICL_ATTR
#undef MODE

// ---- Split over MPI ranks: one shot count's results as doubles ----

static long icl_export_cell(const void *st, long cell, double *out) {
    const IclGrid *g = st;
    int O = g->spec.orders;
    long k = 0;
#define PUT(x) (out ? (void)(out[k] = (double)(x)) : (void)0), k++
    PUT(g->secs[cell]);
    for (int mode = 0; mode < 2; mode++) {
        PUT(g->acc[mode][cell]), PUT(g->acc_norm[mode][cell]), PUT(g->bmw[mode][cell]);
        PUT(g->sd[mode][cell]), PUT(g->correct[mode][cell]), PUT(g->total[mode][cell]);
        for (int o = 0; o < O; o++) PUT(g->order_acc[mode][cell * O + o]);
    }
#undef PUT
    return k;
}

static void icl_import_cell(void *st, long cell, const double *in, long n) {
    IclGrid *g = st;
    int O = g->spec.orders;
    long k = 0;
    CHECK(n == 1 + 2 * (6 + O), "icl cell of %ld values", n);
    g->secs[cell] = in[k++];
    for (int mode = 0; mode < 2; mode++) {
        g->acc[mode][cell] = in[k++], g->acc_norm[mode][cell] = in[k++];
        g->bmw[mode][cell] = in[k++], g->sd[mode][cell] = in[k++];
        g->correct[mode][cell] = (long)in[k++], g->total[mode][cell] = (long)in[k++];
        for (int o = 0; o < O; o++) g->order_acc[mode][cell * O + o] = in[k++];
    }
    g->done[cell] = 1;
}

// What a sweep compares: accuracy and its spread over orderings at the largest shot count (the
// last entry: many-shot) and that shot count ({dataset}: the one dataset evaluated).
static const EvalMetric ICL_METRICS[] = {
    {"icl_accuracy_many", "/eval/icl/{dataset}/accuracy", EVAL_REDUCE_LAST},
    {"icl_order_std_many", "/eval/icl/{dataset}/order_std", EVAL_REDUCE_LAST},
    {"icl_best_minus_worst_many", "/eval/icl/{dataset}/best_minus_worst", EVAL_REDUCE_LAST},
    {"icl_shots_many", "/eval/icl/{dataset}/shots", EVAL_REDUCE_LAST},
};

// ---- The command: dint eval icl ----

typedef struct {
    const char *dataset, *shots; // --shots as given, or NULL
    int episodes, orders, context, classes;
    unsigned long long seed;
    IclTaskSpec spec;
    IclDataset set; // loaded by prepare (owned by the harness)
    int shot_list[ICL_MAX_SHOT_COUNTS];
} IclCommandOptions;

static const IclCommandOptions ICL_DEFAULTS = {
    .dataset = "wordnet-noun", .episodes = 50, .orders = 5, .classes = 4, .seed = 1};

#define OPT(flag, kind, field, metavar)                                                            \
    { flag, kind, offsetof(IclCommandOptions, field), metavar }
static const EvalOption ICL_OPTIONS[] = {
    OPT("--dataset", EVAL_OPT_STR, dataset, "NAME|PATH|synthetic"),
    OPT("--shots", EVAL_OPT_STR, shots, "K,..."),
    OPT("--episodes", EVAL_OPT_INT, episodes, "N"),
    OPT("--orders", EVAL_OPT_INT, orders, "S"),
    OPT("--context", EVAL_OPT_INT, context, "TOKENS"),
    OPT("--classes", EVAL_OPT_INT, classes, "C"),
    OPT("--seed", EVAL_OPT_U64, seed, "N"),
};
#undef OPT

static int icl_check_options(void *opts, Error *err) {
    IclCommandOptions *o = opts;
    if (o->episodes < 1 || o->orders < 1 || o->context < 0 || o->classes < 2)
        return error_set(err, "--episodes and --orders must be >= 1, --context >= 0 (0: the run's "
                              "train.seq_len) and --classes (synthetic) >= 2");
    IclTaskSpec *s = &o->spec;
    *s = (IclTaskSpec){.dataset = o->dataset,
                       .classes = o->classes,
                       .episodes = o->episodes,
                       .orders = o->orders,
                       .context = o->context,
                       .seed = o->seed};
    if (o->shots) {
        s->n_shots = parse_int_list(o->shots, o->shot_list, ICL_MAX_SHOT_COUNTS, "--shots", err);
        if (s->n_shots < 0) return -1;
        s->shots = o->shot_list;
    }
    return 0;
}

static int icl_prepare(void *opts, const EvalInputs *in, void **state, Error *err) {
    IclCommandOptions *o = opts;
    IclTaskSpec *s = &o->spec;
    if (s->context == 0) s->context = in->cfg->train.seq_len;
    if (strcmp(s->dataset, "synthetic") != 0) {
        if (in->load_labelled(in, s->dataset, &o->set, err) != 0) return -1;
        s->set = &o->set;
    }
    return icl_task_make(state, s, in->tok, err);
}

const EvalTask icl_task = {
    .name = "icl",
    .command = "eval",
    .about = "in-context classification accuracy as demonstrations grow until the context is "
             "full, with the spread over orderings, written to /eval/icl/<dataset>",
    .options = ICL_OPTIONS,
    .n_options = (int)(sizeof ICL_OPTIONS / sizeof ICL_OPTIONS[0]),
    .options_size = sizeof(IclCommandOptions),
    .options_default = &ICL_DEFAULTS,
    .check_options = icl_check_options,
    .prepare = icl_prepare,
    .version = ICL_TASK_VERSION,
    .outputs = ICL_OUTPUTS,
    .n_outputs = (int)(sizeof ICL_OUTPUTS / sizeof ICL_OUTPUTS[0]),
    .metrics = ICL_METRICS,
    .n_metrics = (int)(sizeof ICL_METRICS / sizeof ICL_METRICS[0]),
    .writes_each_cell = 1,
    .reports_before_write = 1,
    .damaged_advice = "write elsewhere with --out FILE",
    .group_path = icl_group_path,
    .parameters = icl_params_text,
    .n_cells = icl_n_cells,
    .read_back = icl_read_back,
    .cell_done = icl_cell_done,
    .score_cell = icl_score_cell,
    .cell_finished = icl_cell_finished,
    .write = icl_write_results,
    .progress = icl_progress,
    .free = icl_grid_free,
    .cell_export = icl_export_cell,
    .cell_import = icl_import_cell,
};
