// The keyed-recall grid as an EvalTask: cells (length, pairs) in row-major order, each with its
// own random stream; per-cell sums, per-query records (each cell's in a fixed slot, so records
// stay in cell order whatever order cells finish in), and the whole /eval/recall group.
#include "recall_eval.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interval.h"
#include "memory_plan.h"

#define RECALL_GROUP      "/eval/recall"
#define RECALL_ACCURACY   "accuracy"   // the dataset, its row of the outputs and the sweep's metric
#define RECALL_KEYED_RATE "keyed_rate" // the same
#define NPOS              RECALL_N_POSITIONAL

// Per-query record columns.
enum {
    REC_CELL,
    REC_SAMPLE,
    REC_QUERY,
    REC_ASKED,
    REC_POSITION,
    REC_CORRECT,
    REC_PREDICTED,
    REC_ANSWERED,
    REC_INT_COLUMNS
};

typedef struct {
    RecallGridSpec spec;
    long n_cells;
    gsl_rng *rng;
    unsigned char *done;
    long *correct, *total, *other, *keyed, *keyed_total; // (cell)
    long *pos_correct, *pos_keyed;                       // (cell, NPOS)
    double *loglik, *seconds;                            // (cell)
    long *rec_first, n_rec;    // (cell + 1) each cell's first record; records in all
    int *rec[REC_INT_COLUMNS]; // (n_rec) per column
    double *rec_loglik;        // (n_rec)
} RecallGrid;

static const char *const REC_NAMES[REC_INT_COLUMNS] = {
    "samples/cell",          "samples/sample",  "samples/query",     "samples/asked_pair",
    "samples/pair_position", "samples/correct", "samples/predicted", "samples/answered_pair"};

static int cell_length(const RecallGridSpec *s, long cell) {
    return s->len[cell / s->n_pairs];
}

static RecallSpec cell_spec(const RecallGridSpec *s, long cell) {
    int K = s->pairs[cell % s->n_pairs];
    return (RecallSpec){.pairs = K,
                        .queries = s->queries,
                        .key_len = s->key_len,
                        .noise = s->noise,
                        .distractors = s->distractors,
                        .symbols = s->symbols};
}

static long recall_cells(const void *st) {
    return ((const RecallGrid *)st)->n_cells;
}

static void recall_grid_free(void *st) {
    RecallGrid *g = st;
    if (!g) return;
    free(g->done), free(g->correct), free(g->total), free(g->other), free(g->keyed);
    free(g->keyed_total), free(g->pos_correct), free(g->pos_keyed), free(g->loglik);
    free(g->seconds), free(g->rec_first), free(g->rec_loglik);
    for (int c = 0; c < REC_INT_COLUMNS; c++) free(g->rec[c]);
    if (g->rng) gsl_rng_free(g->rng);
    free(g);
}

static void recall_group_path(const void *st, char *buf, size_t cap) {
    (void)st;
    snprintf(buf, cap, "/eval/recall");
}

static void recall_params_text(const void *st, char *buf, size_t cap) {
    const RecallGridSpec *s = &((const RecallGrid *)st)->spec;
    size_t k = 0;
    eval_appendf(buf, cap, &k,
                 "recall v%d; seed %llu; samples %d; queries %d; key_len %d; noise %d; "
                 "distractors %d; symbols %d; lengths",
                 RECALL_TASK_VERSION, (unsigned long long)s->seed, s->samples, s->queries,
                 s->key_len, s->noise, s->distractors, s->symbols);
    for (int i = 0; i < s->n_len; i++) eval_appendf(buf, cap, &k, " %d", s->len[i]);
    eval_appendf(buf, cap, &k, "; pairs");
    for (int i = 0; i < s->n_pairs; i++) eval_appendf(buf, cap, &k, " %d", s->pairs[i]);
}

typedef struct {
    const char *name;
    long *v;
    int per_cell;
} CellCounts;

static int cell_counts(const RecallGrid *g, CellCounts *out) {
    CellCounts c[] = {{"correct", g->correct, 1},
                      {"total", g->total, 1},
                      {"other_value", g->other, 1},
                      {"keyed", g->keyed, 1},
                      {"keyed_total", g->keyed_total, 1},
                      {"positional_correct", g->pos_correct, NPOS},
                      {"positional_keyed", g->pos_keyed, NPOS}};
    memcpy(out, c, sizeof c);
    return (int)(sizeof c / sizeof c[0]);
}

// Records of the done cells, in cell order, packed: (n) rows into cols (caller frees each).
static long pack_records(const RecallGrid *g, int **cols, double **loglik) {
    long n = 0;
    for (long c = 0; c < g->n_cells; c++)
        if (g->done[c]) n += g->rec_first[c + 1] - g->rec_first[c];
    for (int k = 0; k < REC_INT_COLUMNS; k++) cols[k] = xmalloc(sizeof(int) * (size_t)(n + 1));
    *loglik = xmalloc(sizeof(double) * (size_t)(n + 1));
    long at = 0;
    for (long c = 0; c < g->n_cells; c++) {
        if (!g->done[c]) continue;
        long a = g->rec_first[c], m = g->rec_first[c + 1] - a;
        for (int k = 0; k < REC_INT_COLUMNS; k++)
            memcpy(cols[k] + at, g->rec[k] + a, sizeof(int) * (size_t)m);
        memcpy(*loglik + at, g->rec_loglik + a, sizeof(double) * (size_t)m);
        at += m;
    }
    return n;
}

static int recall_read_back(void *st, const EvalReader *r) {
    RecallGrid *g = st;
    long n = g->n_cells;
    CellCounts cc[8];
    int ncc = cell_counts(g, cc);
    int bad = r->dataset(r->ctx, "done", EVAL_U8, n, g->done) ||
              r->dataset(r->ctx, "loglik_sum", EVAL_F64, n, g->loglik) ||
              r->dataset(r->ctx, "seconds", EVAL_F64, n, g->seconds);
    for (int i = 0; i < ncc && !bad; i++)
        bad = r->dataset(r->ctx, cc[i].name, EVAL_I64, n * cc[i].per_cell, cc[i].v);
    if (bad) return -1;
    long want = 0;
    for (long c = 0; c < n; c++)
        if (g->done[c]) want += g->rec_first[c + 1] - g->rec_first[c];
    long nr = r->length(r->ctx, "samples/sample");
    if ((nr < 0 ? 0 : nr) != want) return -1;
    if (want == 0) return 0;
    int *cols[REC_INT_COLUMNS];
    double *loglik;
    pack_records(g, cols, &loglik); // sized buffers; their contents are replaced below
    for (int k = 0; k < REC_INT_COLUMNS && !bad; k++)
        bad = r->dataset(r->ctx, REC_NAMES[k], EVAL_I32, want, cols[k]);
    if (!bad) bad = r->dataset(r->ctx, "samples/loglik", EVAL_F64, want, loglik);
    long at = 0;
    for (long c = 0; c < n && !bad; c++) { // unpack into each done cell's slot
        if (!g->done[c]) continue;
        long a = g->rec_first[c], m = g->rec_first[c + 1] - a;
        for (int k = 0; k < REC_INT_COLUMNS; k++)
            memcpy(g->rec[k] + a, cols[k] + at, sizeof(int) * (size_t)m);
        memcpy(g->rec_loglik + a, loglik + at, sizeof(double) * (size_t)m);
        at += m;
    }
    for (int k = 0; k < REC_INT_COLUMNS; k++) free(cols[k]);
    free(loglik);
    return bad ? -1 : 0;
}

// One (length, pairs[, extra]) dataset of doubles with its dimension scales and meaning.
static int write_cell_dataset(const EvalWriter *w, const RecallGrid *g, const char *name, int extra,
                              const double *v, const char *meaning) {
    const RecallGridSpec *s = &g->spec;
    long dims[3] = {s->n_len, s->n_pairs, extra > 0 ? extra : 1};
    double sl[RECALL_GRID_MAX], sp[RECALL_GRID_MAX], sc[NPOS];
    for (int i = 0; i < s->n_len; i++) sl[i] = s->len[i];
    for (int i = 0; i < s->n_pairs; i++) sp[i] = s->pairs[i];
    for (int i = 0; i < NPOS; i++) sc[i] = i;
    int rc = w->dataset(w->ctx, name, EVAL_F64, extra > 0 ? 3 : 2, dims, v);
    if (rc) return rc;
    rc |= w->scale(w->ctx, name, 0, "context_length", sl, s->n_len);
    rc |= w->scale(w->ctx, name, 1, "pairs", sp, s->n_pairs);
    if (extra > 0) rc |= w->scale(w->ctx, name, 2, "scorer", sc, NPOS);
    if (meaning) rc |= w->attr_str(w->ctx, name, "meaning", meaning);
    return rc;
}

// k / n per entry with its Wilson interval (NaN where n = 0): NAME, NAME_ci_low, NAME_ci_high.
static int write_rate(const EvalWriter *w, const RecallGrid *g, const char *name, const long *k,
                      const long *n, int extra, const char *meaning) {
    long m = g->n_cells * (extra > 0 ? extra : 1);
    double *r = xmalloc(sizeof(double) * (size_t)m * 3), *lo = r + m, *hi = r + 2 * m;
    wilson_rates(k, n, m, r, lo, hi);
    char lo_name[128], hi_name[128];
    snprintf(lo_name, sizeof lo_name, "%s_ci_low", name);
    snprintf(hi_name, sizeof hi_name, "%s_ci_high", name);
    int rc = write_cell_dataset(w, g, name, extra, r, meaning) ||
             write_cell_dataset(w, g, lo_name, extra, lo, "Wilson 95 % interval, lower end") ||
             write_cell_dataset(w, g, hi_name, extra, hi, "Wilson 95 % interval, upper end");
    free(r);
    return rc;
}

static int write_group_attrs(const EvalWriter *w, const RecallGrid *g) {
    const RecallGridSpec *s = &g->spec;
    char params[2048];
    recall_params_text(g, params, sizeof params);
    int rc = w->attr_str(w->ctx, "", "parameters", params);
    rc |= w->attr_i64(w->ctx, "", "task_version", RECALL_TASK_VERSION);
    rc |= w->attr_u64(w->ctx, "", "seed", s->seed);
    rc |= w->attr_i64(w->ctx, "", "samples_per_cell", s->samples);
    rc |= w->attr_i64(w->ctx, "", "queries", s->queries);
    rc |= w->attr_i64(w->ctx, "", "key_len", s->key_len);
    rc |= w->attr_i64(w->ctx, "", "noise", s->noise);
    rc |= w->attr_i64(w->ctx, "", "distractors", s->distractors);
    rc |= w->attr_i64(w->ctx, "", "symbols", s->symbols);
    rc |= w->attr_str(w->ctx, "", "scoring",
                      "greedy: a query is right when the argmax over the vocabulary at its last "
                      "key token is its key's value; loglik = log-probability of that value");
    rc |= w->attr_str(w->ctx, "", "layout",
                      "pairs (and distractors) in random order with uniformly split gaps, then "
                      "the queries (distinct keys uniform among the real pairs, random order); "
                      "tasks/recall.h");
    rc |= w->attr_str(w->ctx, "", "positional_scorers", "first,last,middle,order,unanswered");
    return rc;
}

static int write_rates(const EvalWriter *w, const RecallGrid *g) {
    long n = g->n_cells;
    long *pos_n = xmalloc(sizeof(long) * (size_t)n * NPOS * 2), *keyed_n = pos_n + n * NPOS;
    for (long i = 0; i < n * NPOS; i++)
        pos_n[i] = g->total[i / NPOS], keyed_n[i] = g->keyed_total[i / NPOS];
    int rc = write_rate(w, g, RECALL_ACCURACY, g->correct, g->total, 0,
                        "share of queries answered with their key's value; NaN where not "
                        "evaluated");
    rc |= write_rate(w, g, "other_value_rate", g->other, g->total, 0,
                     "share of queries answered with another pair's value (a key-blind copier "
                     "scores high)");
    rc |= write_rate(w, g, RECALL_KEYED_RATE, g->keyed, g->keyed_total, 0,
                     "share of contexts whose first two queries ask different keys (the key-swap "
                     "pair) where both are answered right; a scorer blind to the key scores 0");
    rc |= write_rate(w, g, "positional_accuracy", g->pos_correct, pos_n, NPOS,
                     "accuracy of scripted scorers that never read the key (0 the first pair's "
                     "value, 1 the last's, 2 the one nearest the middle, 3 label order: query i "
                     "gets pair i's value, 4 elimination: the first pair whose value no earlier "
                     "query was answered with) on the same queries: chance is 1 / (pairs + "
                     "distractors)");
    rc |= write_rate(w, g, "positional_keyed_rate", g->pos_keyed, keyed_n, NPOS,
                     "keyed_rate of those scorers (0 by construction for 0-2)");
    free(pos_n);
    return rc;
}

static int recall_write(const void *st, const EvalWriter *w) {
    const RecallGrid *g = st;
    const RecallGridSpec *s = &g->spec;
    int rc = write_group_attrs(w, g) | write_rates(w, g);
    rc |= write_cell_dataset(w, g, "loglik_sum", 0, g->loglik, NULL);
    rc |= write_cell_dataset(w, g, "seconds", 0, g->seconds, NULL);
    long dims[3] = {s->n_len, s->n_pairs, NPOS};
    rc |= w->dataset(w->ctx, "done", EVAL_U8, 2, dims, g->done);
    CellCounts cc[8];
    int ncc = cell_counts(g, cc);
    for (int i = 0; i < ncc; i++)
        rc |= w->dataset(w->ctx, cc[i].name, EVAL_I64, cc[i].per_cell > 1 ? 3 : 2, dims, cc[i].v);
    int *cols[REC_INT_COLUMNS];
    double *loglik;
    long nr = pack_records(g, cols, &loglik);
    rc |= w->group(w->ctx, "samples");
    for (int k = 0; k < REC_INT_COLUMNS; k++)
        rc |= w->dataset(w->ctx, REC_NAMES[k], EVAL_I32, 1, &nr, cols[k]);
    rc |= w->dataset(w->ctx, "samples/loglik", EVAL_F64, 1, &nr, loglik);
    for (int k = 0; k < REC_INT_COLUMNS; k++) free(cols[k]);
    free(loglik);
    rc |= w->attr_str(w->ctx, "samples", "meaning",
                      "one row per query of the finished cells, in cell order: cell = length "
                      "index * pairs entries + pairs index (each cell has samples x queries rows), "
                      "sample, query (0 and 1 are the key-swap pair when they ask different "
                      "keys), asked_pair = the asked "
                      "pair's index in context order, pair_position = its key's token index, "
                      "correct, predicted = the greedy token, answered_pair = the pair whose value "
                      "that is (-1: none), loglik = log-probability of the right value");
    return rc;
}

static int recall_score_cell(void *st, Model *m, long cell, char *line, size_t cap, Error *err) {
    (void)line, (void)cap, (void)err;
    RecallGrid *g = st;
    RecallSpec spec = cell_spec(&g->spec, cell);
    int T = cell_length(&g->spec, cell), S = g->spec.samples, Q = recall_queries(&spec, T);
    int B = g->spec.batch < S ? g->spec.batch : S;
    // Each cell has its own stream: seed, then the cell index (results do not depend on order).
    gsl_rng_set(g->rng, (unsigned long)((g->spec.seed * 1000003ULL + (unsigned long long)cell) &
                                        0xFFFFFFFFULL));
    RecallSample *smp = xmalloc(sizeof(RecallSample) * (size_t)S);
    for (int k = 0; k < S; k++) recall_make(&smp[k], &spec, T, g->rng);
    RecallAnswer *ans = xmalloc(sizeof(RecallAnswer) * (size_t)S * Q);
    int *tokens = xmalloc(sizeof(int) * (size_t)B * T);
    recall_score(m, smp, S, B, tokens, ans);
    long r = g->rec_first[cell];
    for (int k = 0; k < S; k++) {
        const RecallSample *s = &smp[k];
        int pos[NPOS][RECALL_MAX_PAIRS];
        for (int p = 0; p < NPOS; p++)
            for (int q = 0; q < Q; q++) pos[p][q] = recall_positional_answer(s, p, q);
        for (int q = 0; q < Q; q++, r++) {
            const RecallAnswer *a = &ans[(long)k * Q + q];
            g->correct[cell] += a->correct;
            g->total[cell]++;
            g->other[cell] += a->answered_pair >= 0 && a->answered_pair != s->asked[q];
            g->loglik[cell] += a->logprob;
            for (int p = 0; p < NPOS; p++)
                g->pos_correct[cell * NPOS + p] += pos[p][q] == s->asked[q];
            int row[REC_INT_COLUMNS] = {(int)cell,
                                        k,
                                        q,
                                        s->asked[q],
                                        s->pair_pos[s->asked[q]],
                                        a->correct,
                                        a->predicted,
                                        a->answered_pair};
            for (int c = 0; c < REC_INT_COLUMNS; c++) g->rec[c][r] = row[c];
            g->rec_loglik[r] = a->logprob;
        }
        if (s->asked[0] == s->asked[1]) continue; // no key-swap pair in this context
        g->keyed_total[cell]++;
        g->keyed[cell] += ans[(long)k * Q].correct && ans[(long)k * Q + 1].correct;
        for (int p = 0; p < NPOS; p++)
            g->pos_keyed[cell * NPOS + p] += pos[p][0] == s->asked[0] && pos[p][1] == s->asked[1];
    }
    for (int k = 0; k < S; k++) recall_free(&smp[k]);
    free(smp), free(ans), free(tokens);
    return 0;
}

static int recall_cell_done(const void *st, long cell) {
    return ((const RecallGrid *)st)->done[cell];
}

static void recall_cell_finished(void *st, long cell, double seconds) {
    RecallGrid *g = st;
    g->seconds[cell] = seconds;
    g->done[cell] = 1;
}

static void recall_progress(const void *st, long cell, const EvalProgress *p, char *line,
                            size_t cap) {
    const RecallGrid *g = st;
    double n = (double)g->total[cell];
    snprintf(line, cap,
             "recall length %d pairs %d: accuracy %.3f (%ld/%ld) | keyed %.3f | other value %.3f "
             "| position only: first %.2f last %.2f middle %.2f order %.2f unanswered %.2f | "
             "cell %ld of %ld | %.1fs | ETA %.0fs",
             cell_length(&g->spec, cell), g->spec.pairs[cell % g->spec.n_pairs],
             g->correct[cell] / n, g->correct[cell], g->total[cell],
             (double)g->keyed[cell] / (double)g->keyed_total[cell], g->other[cell] / n,
             g->pos_correct[cell * NPOS] / n, g->pos_correct[cell * NPOS + 1] / n,
             g->pos_correct[cell * NPOS + 2] / n, g->pos_correct[cell * NPOS + 3] / n,
             g->pos_correct[cell * NPOS + 4] / n, p->finished, p->todo, p->cell_seconds, p->eta);
}

// ---- Split over MPI ranks: one cell's sums and records as doubles (exact: counts < 2^53) ----

static long recall_export_cell(const void *st, long cell, double *out) {
    const RecallGrid *g = st;
    CellCounts cc[8];
    int ncc = cell_counts(g, cc);
    long k = 0;
#define PUT(x) (out ? (void)(out[k] = (double)(x)) : (void)0), k++
    PUT(g->loglik[cell]);
    PUT(g->seconds[cell]);
    for (int i = 0; i < ncc; i++)
        for (int j = 0; j < cc[i].per_cell; j++) PUT(cc[i].v[cell * cc[i].per_cell + j]);
    for (long r = g->rec_first[cell]; r < g->rec_first[cell + 1]; r++) {
        for (int c = 0; c < REC_INT_COLUMNS; c++) PUT(g->rec[c][r]);
        PUT(g->rec_loglik[r]);
    }
#undef PUT
    return k;
}

static void recall_import_cell(void *st, long cell, const double *in, long n) {
    RecallGrid *g = st;
    CellCounts cc[8];
    int ncc = cell_counts(g, cc);
    long k = 0;
    g->loglik[cell] = in[k++];
    g->seconds[cell] = in[k++];
    for (int i = 0; i < ncc; i++)
        for (int j = 0; j < cc[i].per_cell; j++) cc[i].v[cell * cc[i].per_cell + j] = (long)in[k++];
    for (long r = g->rec_first[cell]; r < g->rec_first[cell + 1] && k < n; r++) {
        for (int c = 0; c < REC_INT_COLUMNS; c++) g->rec[c][r] = (int)in[k++];
        g->rec_loglik[r] = in[k++];
    }
    g->done[cell] = 1;
}

int recall_task_make(void **st, const RecallGridSpec *spec, Error *err) {
    for (long cell = 0; cell < (long)spec->n_len * spec->n_pairs; cell++) {
        RecallSpec s = cell_spec(spec, cell);
        if (recall_check(&s, cell_length(spec, cell), err) != 0) return -1;
    }
    RecallGrid *g = xcalloc(1, sizeof *g);
    g->spec = *spec;
    long n = g->n_cells = (long)spec->n_len * spec->n_pairs;
    g->rng = gsl_rng_alloc(gsl_rng_mt19937);
    g->done = xcalloc((size_t)n, 1);
    long **counts[] = {&g->correct, &g->total, &g->other, &g->keyed, &g->keyed_total};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        *counts[i] = xcalloc((size_t)n, sizeof(long));
    g->pos_correct = xcalloc((size_t)n * NPOS, sizeof(long));
    g->pos_keyed = xcalloc((size_t)n * NPOS, sizeof(long));
    g->loglik = xcalloc((size_t)n, sizeof(double));
    g->seconds = xcalloc((size_t)n, sizeof(double));
    g->rec_first = xcalloc((size_t)n + 1, sizeof(long));
    for (long c = 0; c < n; c++) {
        RecallSpec cs = cell_spec(spec, c);
        g->rec_first[c + 1] =
            g->rec_first[c] + (long)spec->samples * recall_queries(&cs, cell_length(spec, c));
    }
    g->n_rec = g->rec_first[n];
    for (int c = 0; c < REC_INT_COLUMNS; c++)
        g->rec[c] = xcalloc((size_t)g->n_rec + 1, sizeof(int));
    g->rec_loglik = xcalloc((size_t)g->n_rec + 1, sizeof(double));
    *st = g;
    return 0;
}

#define RECALL_DATASET(path, dtype, dims, meaning)                                                 \
    SCHEMA_TASK_DATASET("/eval/recall", path, dtype, dims, meaning)
#define RECALL_ATTR(path, dtype, meaning) SCHEMA_TASK_ATTR("/eval/recall", path, dtype, meaning)
#define RECALL_MEANING(path)              SCHEMA_TASK_MEANING("/eval/recall", path)
#define CELL                              "context_length,pairs"
#define RATE(name, dims, meaning)         SCHEMA_TASK_RATE("/eval/recall", name, dims, meaning)

static const SchemaEntry RECALL_OUTPUTS[] = {
    {SCHEMA_GROUP, "/eval/recall", NULL, NULL, "synthetic keyed-recall grid",
     "after dint eval recall", NULL},
    RECALL_ATTR("@parameters", "string", "the options that make results comparable"),
    RECALL_ATTR("@task_version", "int64", "version of the recall task"),
    RECALL_ATTR("@seed", "uint64", "seed of the cells' random streams"),
    RECALL_ATTR("@samples_per_cell", "int64", "contexts per cell"),
    RECALL_ATTR("@queries", "int64", "queries per context (0: as many as fill half the context)"),
    RECALL_ATTR("@key_len", "int64", "tokens per key"),
    RECALL_ATTR("@noise", "int64", "1: random filler between pairs; 0: a pad token"),
    RECALL_ATTR("@distractors", "int64",
                "pairs per context whose key differs from a queried key in one token"),
    RECALL_ATTR("@symbols", "int64", "tokens in each of the key and value sets"),
    RECALL_ATTR("@scoring", "string", "how answers are scored"),
    RECALL_ATTR("@layout", "string", "how a context is laid out"),
    RECALL_ATTR("@positional_scorers", "string", "names of the position-only scorers, by index"),
    RATE(RECALL_ACCURACY, CELL, "share of queries answered with their key's value"),
    RATE("other_value_rate", CELL, "share of queries answered with another pair's value"),
    RATE(RECALL_KEYED_RATE, CELL, "share of contexts whose key-swap pair is answered right"),
    RATE("positional_accuracy", CELL ",scorer", "accuracy of the position-only scorers"),
    RATE("positional_keyed_rate", CELL ",scorer", "keyed_rate of the position-only scorers"),
    RECALL_DATASET("loglik_sum", "float64", CELL,
                   "summed log-probability of the right values (nats)"),
    RECALL_DATASET("seconds", "float64", CELL, "seconds the cell took"),
    RECALL_DATASET("context_length", "float64", "context_length",
                   "dimension scale: context lengths (tokens)"),
    RECALL_DATASET("pairs", "float64", "pairs", "dimension scale: key-value pairs per context"),
    RECALL_DATASET("scorer", "float64", "scorer",
                   "dimension scale: positional scorer (first, last, middle, order, unanswered)"),
    RECALL_DATASET("done", "uint8", CELL, "1 where the cell is finished"),
    RECALL_DATASET("correct", "int64", CELL, "queries answered right"),
    RECALL_DATASET("total", "int64", CELL, "queries asked"),
    RECALL_DATASET("other_value", "int64", CELL, "queries answered with another pair's value"),
    RECALL_DATASET("keyed", "int64", CELL, "contexts whose key-swap pair is answered right"),
    RECALL_DATASET("keyed_total", "int64", CELL,
                   "contexts whose first two queries ask different keys"),
    RECALL_DATASET("positional_correct", "int64", CELL ",scorer",
                   "queries the positional scorer gets"),
    RECALL_DATASET("positional_keyed", "int64", CELL ",scorer",
                   "key-swap pairs the positional scorer gets"),
    {SCHEMA_GROUP, "/eval/recall/samples", NULL, NULL, "one row per query", NULL, NULL},
    RECALL_ATTR("/samples@meaning", "string", "what each column of the rows is"),
    RECALL_DATASET("samples/cell", "int32", "query", "the query's cell (row-major index)"),
    RECALL_DATASET("samples/sample", "int32", "query", "the context's index in its cell"),
    RECALL_DATASET("samples/query", "int32", "query", "the query's index in its context"),
    RECALL_DATASET("samples/asked_pair", "int32", "query",
                   "the asked pair's index in context order"),
    RECALL_DATASET("samples/pair_position", "int32", "query",
                   "token index of the asked pair's key"),
    RECALL_DATASET("samples/correct", "int32", "query", "1 when answered right"),
    RECALL_DATASET("samples/predicted", "int32", "query", "the greedy token"),
    RECALL_DATASET("samples/answered_pair", "int32", "query",
                   "the pair whose value that is, -1 none"),
    RECALL_DATASET("samples/loglik", "float64", "query",
                   "log-probability of the right value (nats)"),
};
#undef RECALL_DATASET
#undef RECALL_ATTR
#undef RECALL_MEANING
#undef CELL
#undef RATE

// What a sweep summary compares: the mean accuracy and key-swap rate over the grid's cells.
static const EvalMetric RECALL_METRICS[] = {
    {"recall_accuracy", RECALL_GROUP "/" RECALL_ACCURACY, EVAL_REDUCE_MEAN},
    {"recall_keyed_rate", RECALL_GROUP "/" RECALL_KEYED_RATE, EVAL_REDUCE_MEAN},
};

// ---- The command: dint eval recall ----
// Knobs not given default to the run's own recall section and training length, so a model is
// evaluated on the task it was trained on.

typedef struct {
    const char *lengths, *pairs; // NULL: the run's train.seq_len and recall.pairs
    int queries, key_len, noise, distractors, symbols; // -1: the run's
    int samples, batch;
    unsigned long long seed;
    RecallGridSpec grid; // built by prepare
} RecallOptions;

static const RecallOptions RECALL_DEFAULTS = {.queries = -1,
                                              .key_len = -1,
                                              .noise = -1,
                                              .distractors = -1,
                                              .symbols = -1,
                                              .samples = 200,
                                              .batch = 16,
                                              .seed = 1};

#define OPT(flag, kind, field, metavar)                                                            \
    { flag, kind, offsetof(RecallOptions, field), metavar }
static const EvalOption RECALL_OPTIONS[] = {
    OPT("--lengths", EVAL_OPT_STR, lengths, "T,..."),
    OPT("--pairs", EVAL_OPT_STR, pairs, "K,..."),
    OPT("--queries", EVAL_OPT_INT, queries, "Q"),
    OPT("--key-len", EVAL_OPT_INT, key_len, "L"),
    OPT("--noise", EVAL_OPT_INT, noise, "0|1"),
    OPT("--distractors", EVAL_OPT_INT, distractors, "D"),
    OPT("--symbols", EVAL_OPT_INT, symbols, "S"),
    OPT("--samples", EVAL_OPT_INT, samples, "S"),
    OPT("--batch", EVAL_OPT_INT, batch, "B"),
    OPT("--seed", EVAL_OPT_U64, seed, "N"),
};
#undef OPT

static int recall_check_options(void *opts, Error *err) {
    const RecallOptions *o = opts;
    if (o->samples < 2 || o->batch < 1 || o->noise > 1 || o->queries == 1 || o->key_len == 0 ||
        o->key_len > RECALL_MAX_KEY_LEN || o->distractors > 32)
        return error_set(err, "--samples must be >= 2; --batch and --threads >= 1; --noise 0 or "
                              "1; --queries 0 (half the context) or >= 2; --key-len 1 to 4; "
                              "--distractors 0 to 32");
    return 0;
}

// A list option, or the run's value when it was not given: the count, or -1 with err set.
static int list_or_default(const char *list, int *out, int fallback, const char *what, Error *err) {
    if (list) return parse_int_list(list, out, RECALL_GRID_MAX, what, err);
    out[0] = fallback;
    return 1;
}

static int recall_prepare(void *opts, const EvalInputs *in, void **state, Error *err) {
    RecallOptions *o = opts;
    RecallGridSpec *g = &o->grid;
    const RecallConfig *rc = &in->cfg->recall;
    model_set_inference(in->model, 1);
    *g = (RecallGridSpec){
        .queries = o->queries >= 0 ? o->queries : rc->queries,
        .key_len = o->key_len >= 0 ? o->key_len : rc->key_len,
        .noise = o->noise >= 0 ? o->noise : rc->noise,
        .distractors = o->distractors >= 0 ? o->distractors : rc->distractors,
        .symbols = o->symbols >= 0 ? o->symbols : rc->symbols,
        .samples = o->samples,
        .batch = o->batch,
        .seed = o->seed,
    };
    if ((g->n_len = list_or_default(o->lengths, g->len, in->cfg->train.seq_len, "--lengths", err)) <
            0 ||
        (g->n_pairs = list_or_default(o->pairs, g->pairs, rc->pairs, "--pairs", err)) < 0)
        return -1;
    for (int i = 0; i < g->n_pairs; i++)
        if (g->pairs[i] < 2 || g->pairs[i] > RECALL_MAX_PAIRS)
            return error_set(err, "bad --pairs: %d (each from 2 to %d)", g->pairs[i],
                             RECALL_MAX_PAIRS);
    if (memory_check_lengths(&in->cfg->model, "eval recall", g->len, g->n_len, err) != 0) return -1;
    return recall_task_make(state, g, err);
}

const EvalTask recall_task = {
    .name = "recall",
    .command = "eval",
    .about = "the synthetic keyed-recall grid (context lengths x pair counts), written to "
             "/eval/recall after every finished cell",
    .options = RECALL_OPTIONS,
    .n_options = (int)(sizeof RECALL_OPTIONS / sizeof RECALL_OPTIONS[0]),
    .options_size = sizeof(RecallOptions),
    .options_default = &RECALL_DEFAULTS,
    .check_options = recall_check_options,
    .prepare = recall_prepare,
    .metrics = RECALL_METRICS,
    .n_metrics = (int)(sizeof RECALL_METRICS / sizeof RECALL_METRICS[0]),
    .version = RECALL_TASK_VERSION,
    .outputs = RECALL_OUTPUTS,
    .n_outputs = (int)(sizeof RECALL_OUTPUTS / sizeof RECALL_OUTPUTS[0]),
    .writes_each_cell = 1,
    .damaged_advice = "delete it or write elsewhere with --out FILE",
    .all_done_note = "dint eval recall: every cell was already done\n",
    .group_path = recall_group_path,
    .parameters = recall_params_text,
    .n_cells = recall_cells,
    .read_back = recall_read_back,
    .cell_done = recall_cell_done,
    .score_cell = recall_score_cell,
    .cell_finished = recall_cell_finished,
    .write = recall_write,
    .progress = recall_progress,
    .free = recall_grid_free,
    .cell_export = recall_export_cell,
    .cell_import = recall_import_cell,
};
