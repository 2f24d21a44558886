// The needle grid as an EvalTask: cells (cfg, len, depth) in row-major order, each with its own
// random stream; per-cell sums, per-question records, and the whole /eval/needle group.
#include "needle_eval.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interval.h"
#include "memory_plan.h"
#include "needle.h"

#define NEEDLE_GROUP    "/eval/needle"
#define NEEDLE_ACCURACY "accuracy" // the dataset, its row of the outputs and the sweep's metric
#define NPOS NEEDLE_N_POSITIONAL

typedef struct {
    NeedleGridSpec spec;
    Tokenizer *tok;
    const int *hay;
    long n_hay;
    int n_layer;
    gsl_rng *rng;
    // Per cell (cfg, len, depth): done flag and sums; per cell and layer: attention masses.
    unsigned char *done;
    long *correct, *total;
    long *questions, *other;       // every question asked (controls too); answered another's number
    long *keyed, *keyed_total;     // samples with N >= 2; both questions of the pair right
    long *pos_correct, *pos_keyed; // (cell, NPOS) the positional scorers on the same questions
    double *loglik, *mass_needle, *mass_rest, *seconds;
    // Per question of each sample.
    long n_rec, cap_rec;
    int *rec_cell, *rec_sample, *rec_query, *rec_pos, *rec_correct, *rec_asked, *rec_answered,
        *rec_control;
    long *rec_number;
    double *rec_loglik;
} NeedleGrid;

typedef struct {
    int cell, sample, query, pos, correct, asked, answered, control;
    long number;
    double loglik;
} NeedleRecord;

static long needle_grid_cells(const void *st) {
    const NeedleGrid *g = st;
    return (long)g->spec.n_cfg * g->spec.n_len * g->spec.n_depth;
}

static void needle_grid_free(void *st) {
    NeedleGrid *g = st;
    if (!g) return;
    free(g->done), free(g->correct), free(g->total), free(g->loglik), free(g->seconds);
    free(g->questions), free(g->other), free(g->keyed), free(g->keyed_total);
    free(g->pos_correct), free(g->pos_keyed);
    free(g->mass_needle), free(g->mass_rest);
    free(g->rec_cell), free(g->rec_sample), free(g->rec_query), free(g->rec_pos);
    free(g->rec_correct), free(g->rec_asked), free(g->rec_answered), free(g->rec_control);
    free(g->rec_number), free(g->rec_loglik);
    if (g->rng) gsl_rng_free(g->rng);
    free(g);
}

static void needle_group_path(const void *st, char *buf, size_t cap) {
    (void)st;
    snprintf(buf, cap, "/eval/needle");
}

static void needle_params_text(const void *st, char *buf, size_t cap) {
    const NeedleGridSpec *s = &((const NeedleGrid *)st)->spec;
    size_t k = 0;
    if (cap > 2048) cap = 2048; // stored texts have always been cut there
    eval_appendf(buf, cap, &k, "needle v%d; seed %llu; samples %d; needles", NEEDLE_TASK_VERSION,
                 (unsigned long long)s->seed, s->samples);
    for (int i = 0; i < s->n_cfg; i++) eval_appendf(buf, cap, &k, " %d:%d", s->N[i], s->R[i]);
    eval_appendf(buf, cap, &k, "; lengths");
    for (int i = 0; i < s->n_len; i++) eval_appendf(buf, cap, &k, " %d", s->len[i]);
    eval_appendf(buf, cap, &k, "; depths");
    for (int i = 0; i < s->n_depth; i++) eval_appendf(buf, cap, &k, " %g", s->depth[i]);
}

static void push_record(NeedleGrid *g, const NeedleRecord *r) {
    if (g->n_rec == g->cap_rec) {
        g->cap_rec = g->cap_rec ? 2 * g->cap_rec : 1024;
#define GROW(p)                                                                                    \
    p = realloc(p, sizeof(*p) * (size_t)g->cap_rec);                                               \
    CHECK(p != NULL, "out of memory")
        GROW(g->rec_cell);
        GROW(g->rec_sample);
        GROW(g->rec_query);
        GROW(g->rec_pos);
        GROW(g->rec_correct);
        GROW(g->rec_asked);
        GROW(g->rec_answered);
        GROW(g->rec_control);
        GROW(g->rec_number);
        GROW(g->rec_loglik);
#undef GROW
    }
    long i = g->n_rec++;
    g->rec_cell[i] = r->cell, g->rec_sample[i] = r->sample, g->rec_query[i] = r->query;
    g->rec_pos[i] = r->pos, g->rec_correct[i] = r->correct, g->rec_asked[i] = r->asked;
    g->rec_answered[i] = r->answered, g->rec_control[i] = r->control;
    g->rec_number[i] = r->number, g->rec_loglik[i] = r->loglik;
}

// The per-cell sums (name, pointer, entries per cell), read back on resume and written whole.
typedef struct {
    const char *name;
    long *v;
    int per_cell;
} CellCounts;

static int cell_counts(const NeedleGrid *g, CellCounts *out) {
    CellCounts c[] = {{"correct", g->correct, 1},
                      {"total", g->total, 1},
                      {"questions", g->questions, 1},
                      {"other_needle", g->other, 1},
                      {"keyed", g->keyed, 1},
                      {"keyed_total", g->keyed_total, 1},
                      {"positional_correct", g->pos_correct, NPOS},
                      {"positional_keyed", g->pos_keyed, NPOS}};
    int n = (int)(sizeof c / sizeof c[0]);
    memcpy(out, c, sizeof c);
    return n;
}

// The per-question records (name, type, array), in the order they are written.
typedef struct {
    const char *name;
    EvalDtype type;
    void *v;
} RecordColumn;

static int record_columns(const NeedleGrid *g, RecordColumn *out) {
    RecordColumn c[] = {{"samples/cell", EVAL_I32, g->rec_cell},
                        {"samples/sample", EVAL_I32, g->rec_sample},
                        {"samples/query", EVAL_I32, g->rec_query},
                        {"samples/needle_position", EVAL_I32, g->rec_pos},
                        {"samples/correct", EVAL_I32, g->rec_correct},
                        {"samples/asked_needle", EVAL_I32, g->rec_asked},
                        {"samples/answered_needle", EVAL_I32, g->rec_answered},
                        {"samples/control", EVAL_I32, g->rec_control},
                        {"samples/number", EVAL_I64, g->rec_number},
                        {"samples/loglik", EVAL_F64, g->rec_loglik}};
    int n = (int)(sizeof c / sizeof c[0]);
    memcpy(out, c, sizeof c);
    return n;
}

static int needle_read_back(void *st, const EvalReader *r) {
    NeedleGrid *g = st;
    long n = needle_grid_cells(g), L = g->n_layer, nr = r->length(r->ctx, "samples/cell");
    if (nr < 0) nr = 0;
    CellCounts cc[16];
    int ncc = cell_counts(g, cc);
    int bad = r->dataset(r->ctx, "done", EVAL_U8, n, g->done) ||
              r->dataset(r->ctx, "loglik_sum", EVAL_F64, n, g->loglik) ||
              r->dataset(r->ctx, "seconds", EVAL_F64, n, g->seconds) ||
              r->dataset(r->ctx, "attention_mass_needle", EVAL_F64, n * L, g->mass_needle) ||
              r->dataset(r->ctx, "attention_mass_rest", EVAL_F64, n * L, g->mass_rest);
    for (int i = 0; i < ncc && !bad; i++)
        bad = r->dataset(r->ctx, cc[i].name, EVAL_I64, n * cc[i].per_cell, cc[i].v);
    if (!bad && nr > 0) {
        NeedleRecord zero = {0};
        for (long i = 0; i < nr; i++) push_record(g, &zero); // size the arrays
        RecordColumn rc[16];
        int nrc = record_columns(g, rc);
        for (int i = 0; i < nrc && !bad; i++)
            bad = r->dataset(r->ctx, rc[i].name, rc[i].type, nr, rc[i].v);
    }
    return bad ? -1 : 0;
}

// One (cfg, len, depth[, extra]) dataset of doubles with its dimension scales and meaning.
static int write_cell_dataset(const EvalWriter *w, const NeedleGrid *g, const char *name, int extra,
                              const double *extra_scale, const char *extra_name, const double *v,
                              const char *meaning) {
    const NeedleGridSpec *s = &g->spec;
    long dims[4] = {s->n_cfg, s->n_len, s->n_depth, extra > 0 ? extra : 1};
    double sN[NEEDLE_GRID_MAX], sR[NEEDLE_GRID_MAX], sL[NEEDLE_GRID_MAX];
    for (int i = 0; i < s->n_cfg; i++) sN[i] = s->N[i], sR[i] = s->R[i];
    for (int i = 0; i < s->n_len; i++) sL[i] = s->len[i];
    int rc = w->dataset(w->ctx, name, EVAL_F64, extra > 0 ? 4 : 3, dims, v);
    if (rc) return rc;
    rc |= w->scale(w->ctx, name, 0, "n_needles", sN, s->n_cfg);
    rc |= w->scale(w->ctx, name, 0, "n_queried", sR, s->n_cfg);
    rc |= w->scale(w->ctx, name, 1, "context_length", sL, s->n_len);
    rc |= w->scale(w->ctx, name, 2, "depth", s->depth, s->n_depth);
    if (extra > 0) rc |= w->scale(w->ctx, name, 3, extra_name, extra_scale, extra);
    if (meaning) rc |= w->attr_str(w->ctx, name, "meaning", meaning);
    return rc;
}

// rate = k / n per entry with its Wilson interval (NaN where n = 0), as NAME, NAME_ci_low,
// NAME_ci_high.
static int write_rate(const EvalWriter *w, const NeedleGrid *g, const char *name, const long *k,
                      const long *n, int extra, const double *extra_scale, const char *extra_name,
                      const char *meaning) {
    long m = needle_grid_cells(g) * (extra > 0 ? extra : 1);
    double *r = xmalloc(sizeof(double) * (size_t)m * 3), *lo = r + m, *hi = r + 2 * m;
    wilson_rates(k, n, m, r, lo, hi);
    char lo_name[128], hi_name[128];
    snprintf(lo_name, sizeof lo_name, "%s_ci_low", name);
    snprintf(hi_name, sizeof hi_name, "%s_ci_high", name);
    int rc = write_cell_dataset(w, g, name, extra, extra_scale, extra_name, r, meaning) ||
             write_cell_dataset(w, g, lo_name, extra, extra_scale, extra_name, lo,
                                "Wilson 95 % interval, lower end") ||
             write_cell_dataset(w, g, hi_name, extra, extra_scale, extra_name, hi,
                                "Wilson 95 % interval, upper end");
    free(r);
    return rc;
}

static int write_group_attrs(const EvalWriter *w, const NeedleGrid *g) {
    char params[2048];
    needle_params_text(g, params, sizeof params);
    int rc = w->attr_str(w->ctx, "", "parameters", params);
    rc |= w->attr_i64(w->ctx, "", "task_version", NEEDLE_TASK_VERSION);
    rc |= w->attr_u64(w->ctx, "", "seed", g->spec.seed);
    rc |= w->attr_i64(w->ctx, "", "samples_per_cell", g->spec.samples);
    rc |= w->attr_str(w->ctx, "", "haystack", "test split of the run's corpus");
    rc |= w->attr_str(w->ctx, "", "scoring",
                      "teacher-forced: exact match = argmax at every answer token (greedy "
                      "decoding's output); loglik = summed log-probability of the right number");
    rc |= w->attr_str(w->ctx, "", "layout",
                      "the first asked needle (uniform among the N) at the cell's depth, every "
                      "other needle at an independent uniform sentence boundary (both ends "
                      "included), ties in random order");
    rc |= w->attr_str(w->ctx, "", "positional_scorers", "first,last,middle");
    return rc;
}

static int write_rates(const EvalWriter *w, const NeedleGrid *g) {
    long n = needle_grid_cells(g);
    double spos[NPOS];
    for (int i = 0; i < NPOS; i++) spos[i] = i;
    int rc = write_rate(w, g, NEEDLE_ACCURACY, g->correct, g->total, 0, NULL, NULL,
                        "exact-match rate of queried needles per cell; NaN where not evaluated");
    rc |= write_rate(w, g, "other_needle_rate", g->other, g->questions, 0, NULL, NULL,
                     "share of all questions of the cell (queried and key-swap controls) whose "
                     "greedy answer is another needle's number: a positional copier scores high");
    long *keyed_n = xmalloc(sizeof(long) * (size_t)n * NPOS);
    for (long i = 0; i < n * NPOS; i++) keyed_n[i] = g->keyed_total[i / NPOS];
    rc |= write_rate(w, g, "keyed_rate", g->keyed, g->keyed_total, 0, NULL, NULL,
                     "share of samples with N >= 2 where both questions of the key-swap pair "
                     "(two needles of one context) are answered right; a positional copier "
                     "scores 0");
    long *pos_n = xmalloc(sizeof(long) * (size_t)n * NPOS);
    for (long i = 0; i < n * NPOS; i++) pos_n[i] = g->total[i / NPOS];
    rc |= write_rate(w, g, "positional_accuracy", g->pos_correct, pos_n, NPOS, spos, "scorer",
                     "accuracy of scripted scorers that see only positions (scorer 0 copies the "
                     "first needle, 1 the last = nearest the question, 2 the one nearest the "
                     "middle) on the same questions: the reference line for accuracy");
    rc |= write_rate(w, g, "positional_keyed_rate", g->pos_keyed, keyed_n, NPOS, spos, "scorer",
                     "keyed_rate of the positional scorers (0 by construction)");
    free(pos_n);
    free(keyed_n);
    return rc;
}

static int needle_write_results(const void *st, const EvalWriter *w) {
    const NeedleGrid *g = st;
    const NeedleGridSpec *s = &g->spec;
    double sl[64];
    for (int i = 0; i < g->n_layer && i < 64; i++) sl[i] = i;
    int rc = write_group_attrs(w, g) | write_rates(w, g);
    rc |= write_cell_dataset(w, g, "loglik_sum", 0, NULL, NULL, g->loglik, NULL);
    rc |= write_cell_dataset(w, g, "seconds", 0, NULL, NULL, g->seconds, NULL);
    rc |= write_cell_dataset(w, g, "attention_mass_needle", g->n_layer, sl, "layer", g->mass_needle,
                             "mean over samples and heads of the final attention map's weight, "
                             "from the position predicting the answer, on the answer needle's "
                             "tokens (per layer)");
    rc |= write_cell_dataset(w, g, "attention_mass_rest", g->n_layer, sl, "layer", g->mass_rest,
                             NULL);
    long dims[4] = {s->n_cfg, s->n_len, s->n_depth, NPOS};
    rc |= w->dataset(w->ctx, "done", EVAL_U8, 3, dims, g->done);
    CellCounts cc[16];
    int ncc = cell_counts(g, cc);
    for (int i = 0; i < ncc; i++)
        rc |= w->dataset(w->ctx, cc[i].name, EVAL_I64, cc[i].per_cell > 1 ? 4 : 3, dims, cc[i].v);
    rc |= w->group(w->ctx, "samples");
    RecordColumn col[16];
    int ncol = record_columns(g, col);
    long nr = g->n_rec;
    for (int i = 0; i < ncol; i++)
        rc |= w->dataset(w->ctx, col[i].name, col[i].type, 1, &nr, col[i].v);
    rc |= w->attr_str(
        w->ctx, "samples", "meaning",
        "one row per question: cell = (config * lengths + length) * depths + depth (row-major); "
        "query = the question's index in its sample (the first R are scored, a later one is the "
        "key-swap control, control = 1, not counted in accuracy); asked_needle = the needle asked "
        "about (its generation index, uniform among the N); answered_needle = the needle whose "
        "number greedy decoding emits, -1 when none; needle_position = token index of the asked "
        "needle in the context");
    return rc;
}

// Score one sample into the cell's sums and records; the positional scorers on the same
// questions.
static void score_sample(NeedleGrid *g, Model *m, const NeedleSample *s, long cell, int k,
                         NeedleScore *sc) {
    needle_score(m, s, sc);
    int pos_answer[NPOS];
    for (int p = 0; p < NPOS; p++) pos_answer[p] = needle_positional_answer(s, (NeedlePositional)p);
    for (int q = 0; q < s->n_questions; q++) {
        int asked = s->asked[q], scored = q < s->n_queried;
        if (scored) {
            g->correct[cell] += sc->correct[q];
            g->total[cell]++;
            g->loglik[cell] += sc->loglik[q];
            for (int p = 0; p < NPOS; p++)
                g->pos_correct[cell * NPOS + p] += pos_answer[p] == asked;
        }
        g->questions[cell]++;
        g->other[cell] += sc->answered[q] >= 0 && sc->answered[q] != asked;
        NeedleRecord r = {(int)cell,
                          k,
                          q,
                          s->needle_start[asked],
                          sc->correct[q],
                          asked,
                          sc->answered[q],
                          !scored,
                          s->number[asked],
                          sc->loglik[q]};
        push_record(g, &r);
    }
    if (s->control >= 0) {
        int a = s->asked[0], b = s->asked[s->control];
        g->keyed_total[cell]++;
        g->keyed[cell] += sc->correct[0] && sc->correct[s->control];
        for (int p = 0; p < NPOS; p++)
            g->pos_keyed[cell * NPOS + p] += pos_answer[p] == a && pos_answer[p] == b;
    }
    for (int l = 0; l < g->n_layer && l < 64; l++) {
        g->mass_needle[cell * g->n_layer + l] += sc->mass_needle[l] / g->spec.samples;
        g->mass_rest[cell * g->n_layer + l] += sc->mass_rest[l] / g->spec.samples;
    }
}

static NeedleSpec cell_spec(const NeedleGridSpec *s, long cell) {
    int a = (int)(cell / ((long)s->n_len * s->n_depth)), b = (int)(cell / s->n_depth % s->n_len),
        d = (int)(cell % s->n_depth);
    return (NeedleSpec){.n_needles = s->N[a],
                        .n_queried = s->R[a],
                        .length = s->len[b],
                        .depth = s->depth[d],
                        .layout = NEEDLE_LAYOUT_DEPTH};
}

static int needle_score_cell(void *st, Model *m, long cell, char *line, size_t cap, Error *err) {
    (void)line, (void)cap;
    NeedleGrid *g = st;
    NeedleSpec spec = cell_spec(&g->spec, cell);
    // Each cell has its own stream: seed, then the cell index (results do not depend on order).
    gsl_rng_set(g->rng, (unsigned long)((g->spec.seed * 1000003ULL + (unsigned long long)cell) &
                                        0xFFFFFFFFULL));
    for (int k = 0; k < g->spec.samples; k++) {
        NeedleSample s;
        if (needle_make(&s, g->tok, g->hay, g->n_hay, &spec, NEEDLE_POOL_EVAL, g->rng, err) != 0)
            return -1;
        NeedleScore sc;
        score_sample(g, m, &s, cell, k, &sc);
        needle_free(&s);
    }
    return 0;
}

static int needle_cell_done(const void *st, long cell) {
    return ((const NeedleGrid *)st)->done[cell];
}

static void needle_cell_finished(void *st, long cell, double seconds) {
    NeedleGrid *g = st;
    g->seconds[cell] = seconds;
    g->done[cell] = 1;
}

static void needle_progress(const void *st, long cell, const EvalProgress *p, char *line,
                            size_t cap) {
    const NeedleGrid *g = st;
    NeedleSpec s = cell_spec(&g->spec, cell);
    char keyed[96] = "";
    if (g->keyed_total[cell])
        snprintf(keyed, sizeof keyed, " | keyed %.3f | other needle %.3f",
                 (double)g->keyed[cell] / g->keyed_total[cell],
                 (double)g->other[cell] / g->questions[cell]);
    snprintf(line, cap,
             "needle N=%d R=%d length %d depth %.2f: accuracy %.3f (%ld/%ld)%s | position "
             "only: first %.2f last %.2f middle %.2f | cell %ld of %ld | %.1fs | ETA %.0fs",
             s.n_needles, s.n_queried, s.length, s.depth, (double)g->correct[cell] / g->total[cell],
             g->correct[cell], g->total[cell], keyed,
             (double)g->pos_correct[cell * NPOS] / g->total[cell],
             (double)g->pos_correct[cell * NPOS + 1] / g->total[cell],
             (double)g->pos_correct[cell * NPOS + 2] / g->total[cell], p->finished, p->todo,
             p->cell_seconds, p->eta);
}

int needle_task_make(void **st, const NeedleGridSpec *spec, Tokenizer *tok, const int *hay,
                     long n_hay, int n_layer, Error *err) {
    NeedleGrid *g = xcalloc(1, sizeof *g);
    g->spec = *spec;
    g->tok = tok, g->hay = hay, g->n_hay = n_hay, g->n_layer = n_layer;
    g->rng = gsl_rng_alloc(gsl_rng_mt19937);
    long n = needle_grid_cells(g);
    g->done = xcalloc((size_t)n, 1);
    g->correct = xcalloc((size_t)n, sizeof(long));
    g->total = xcalloc((size_t)n, sizeof(long));
    g->questions = xcalloc((size_t)n, sizeof(long));
    g->other = xcalloc((size_t)n, sizeof(long));
    g->keyed = xcalloc((size_t)n, sizeof(long));
    g->keyed_total = xcalloc((size_t)n, sizeof(long));
    g->pos_correct = xcalloc((size_t)n * NPOS, sizeof(long));
    g->pos_keyed = xcalloc((size_t)n * NPOS, sizeof(long));
    g->loglik = xcalloc((size_t)n, sizeof(double));
    g->seconds = xcalloc((size_t)n, sizeof(double));
    g->mass_needle = xcalloc((size_t)n * n_layer, sizeof(double));
    g->mass_rest = xcalloc((size_t)n * n_layer, sizeof(double));
    // Check every (configuration, length, depth) before any work: bad options fail at once.
    for (long cell = 0; cell < n; cell++) {
        NeedleSpec s = cell_spec(spec, cell);
        NeedleSample sample;
        gsl_rng_set(g->rng, 1);
        if (needle_make(&sample, tok, hay, n_hay, &s, NEEDLE_POOL_EVAL, g->rng, err) != 0) {
            needle_grid_free(g);
            return -1;
        }
        needle_free(&sample);
    }
    *st = g;
    return 0;
}

#define NEEDLE_DATASET(path, dtype, dims, meaning)                                                 \
    SCHEMA_TASK_DATASET("/eval/needle", path, dtype, dims, meaning)
#define NEEDLE_ATTR(path, dtype, meaning) SCHEMA_TASK_ATTR("/eval/needle", path, dtype, meaning)
#define NEEDLE_MEANING(path)              SCHEMA_TASK_MEANING("/eval/needle", path)
#define CELL                              "config,context_length,depth"
#define RATE(name, dims, meaning)         SCHEMA_TASK_RATE("/eval/needle", name, dims, meaning)

static const SchemaEntry NEEDLE_OUTPUTS[] = {
    {SCHEMA_GROUP, "/eval/needle", NULL, NULL, "multi-needle retrieval grid",
     "after dint eval needle", NULL},
    NEEDLE_ATTR("@parameters", "string", "the options that make results comparable"),
    NEEDLE_ATTR("@task_version", "int64", "version of the needle task"),
    NEEDLE_ATTR("@seed", "uint64", "seed of the cells' random streams"),
    NEEDLE_ATTR("@samples_per_cell", "int64", "samples per cell"),
    NEEDLE_ATTR("@haystack", "string", "where the haystack text comes from"),
    NEEDLE_ATTR("@scoring", "string", "how answers are scored"),
    NEEDLE_ATTR("@layout", "string", "where the needles are placed"),
    NEEDLE_ATTR("@positional_scorers", "string", "names of the position-only scorers, by index"),
    RATE(NEEDLE_ACCURACY, CELL, "exact-match rate of queried needles per cell; NaN where not evaluated"),
    RATE("other_needle_rate", CELL, "share of all questions answered with another needle's number"),
    RATE("keyed_rate", CELL, "share of samples with N >= 2 whose key-swap pair is answered right"),
    RATE("positional_accuracy", CELL ",scorer", "accuracy of the position-only scorers"),
    RATE("positional_keyed_rate", CELL ",scorer", "keyed_rate of the position-only scorers"),
    NEEDLE_DATASET("loglik_sum", "float64", CELL,
                   "summed log-likelihood of the right numbers (nats)"),
    NEEDLE_DATASET("seconds", "float64", CELL, "seconds the cell took"),
    NEEDLE_DATASET(
        "attention_mass_needle", "float64", CELL ",layer",
        "mean final-map weight on the answer needle's tokens from the answer position, per layer"),
    NEEDLE_MEANING("attention_mass_needle"),
    NEEDLE_DATASET("attention_mass_rest", "float64", CELL ",layer",
                   "the same weight on every other token"),
    NEEDLE_DATASET("n_needles", "float64", "config", "dimension scale: N of each configuration"),
    NEEDLE_DATASET("n_queried", "float64", "config", "dimension scale: R of each configuration"),
    NEEDLE_DATASET("context_length", "float64", "context_length",
                   "dimension scale: context lengths (tokens)"),
    NEEDLE_DATASET("depth", "float64", "depth",
                   "dimension scale: depths of the first asked needle"),
    NEEDLE_DATASET("scorer", "float64", "scorer",
                   "dimension scale: positional scorer (first, last, middle)"),
    NEEDLE_DATASET("layer", "float64", "layer", "dimension scale: layer index"),
    NEEDLE_DATASET("done", "uint8", CELL, "1 where the cell is finished"),
    NEEDLE_DATASET("correct", "int64", CELL, "queried needles answered exactly"),
    NEEDLE_DATASET("total", "int64", CELL, "queried needles asked"),
    NEEDLE_DATASET("questions", "int64", CELL, "every question asked, key-swap controls included"),
    NEEDLE_DATASET("other_needle", "int64", CELL,
                   "questions answered with another needle's number"),
    NEEDLE_DATASET("keyed", "int64", CELL, "samples whose key-swap pair is answered right"),
    NEEDLE_DATASET("keyed_total", "int64", CELL, "samples with N >= 2"),
    NEEDLE_DATASET("positional_correct", "int64", CELL ",scorer",
                   "queried needles the positional scorer gets"),
    NEEDLE_DATASET("positional_keyed", "int64", CELL ",scorer",
                   "key-swap pairs the positional scorer gets"),
    {SCHEMA_GROUP, "/eval/needle/samples", NULL, NULL, "one row per question", NULL, NULL},
    NEEDLE_ATTR("/samples@meaning", "string", "what each column of the rows is"),
    NEEDLE_DATASET("samples/cell", "int32", "question", "the question's cell (row-major index)"),
    NEEDLE_DATASET("samples/sample", "int32", "question", "the sample's index in its cell"),
    NEEDLE_DATASET("samples/query", "int32", "question", "the question's index in its sample"),
    NEEDLE_DATASET("samples/needle_position", "int32", "question",
                   "token index of the asked needle"),
    NEEDLE_DATASET("samples/correct", "int32", "question", "1 when answered exactly"),
    NEEDLE_DATASET("samples/asked_needle", "int32", "question", "the needle asked about"),
    NEEDLE_DATASET("samples/answered_needle", "int32", "question",
                   "the needle greedy decoding emits, -1 none"),
    NEEDLE_DATASET("samples/control", "int32", "question", "1 for the key-swap control question"),
    NEEDLE_DATASET("samples/number", "int64", "question", "the right 7-digit number"),
    NEEDLE_DATASET("samples/loglik", "float64", "question",
                   "log-likelihood of the right number (nats)"),
};
#undef NEEDLE_DATASET
#undef NEEDLE_ATTR
#undef NEEDLE_MEANING
#undef CELL
#undef RATE

// ---- Split over MPI ranks: one cell's sums and records as doubles (exact: counts < 2^53) ----

static long needle_export_cell(const void *st, long cell, double *out) {
    const NeedleGrid *g = st;
    CellCounts cc[16];
    int ncc = cell_counts(g, cc), L = g->n_layer;
    long k = 0;
#define PUT(x) (out ? (void)(out[k] = (double)(x)) : (void)0), k++
    PUT(g->loglik[cell]);
    PUT(g->seconds[cell]);
    for (int l = 0; l < L; l++) PUT(g->mass_needle[cell * L + l]);
    for (int l = 0; l < L; l++) PUT(g->mass_rest[cell * L + l]);
    for (int i = 0; i < ncc; i++)
        for (int j = 0; j < cc[i].per_cell; j++) PUT(cc[i].v[cell * cc[i].per_cell + j]);
    for (long r = 0; r < g->n_rec; r++) {
        if (g->rec_cell[r] != cell) continue;
        PUT(g->rec_sample[r]), PUT(g->rec_query[r]), PUT(g->rec_pos[r]), PUT(g->rec_correct[r]);
        PUT(g->rec_asked[r]), PUT(g->rec_answered[r]), PUT(g->rec_control[r]);
        PUT(g->rec_number[r]), PUT(g->rec_loglik[r]);
    }
#undef PUT
    return k;
}

// The records of cell go after those of lower cells (where scoring in cell order puts them).
static void needle_import_cell(void *st, long cell, const double *in, long n) {
    NeedleGrid *g = st;
    CellCounts cc[16];
    int ncc = cell_counts(g, cc), L = g->n_layer;
    long k = 0;
    g->loglik[cell] = in[k++];
    g->seconds[cell] = in[k++];
    for (int l = 0; l < L; l++) g->mass_needle[cell * L + l] = in[k++];
    for (int l = 0; l < L; l++) g->mass_rest[cell * L + l] = in[k++];
    for (int i = 0; i < ncc; i++)
        for (int j = 0; j < cc[i].per_cell; j++) cc[i].v[cell * cc[i].per_cell + j] = (long)in[k++];
    long at = g->n_rec;
    while (at > 0 && g->rec_cell[at - 1] > cell) at--;
    long first = g->n_rec, added = 0;
    for (; k + 9 <= n; k += 9, added++) {
        const double *v = in + k;
        NeedleRecord r = {(int)cell, (int)v[0], (int)v[1], (int)v[2],  (int)v[3],
                          (int)v[4], (int)v[5], (int)v[6], (long)v[7], v[8]};
        push_record(g, &r);
    }
    // Rotate the appended records [first, n_rec) to position at.
    RecordColumn rc[16];
    int nrc = record_columns(g, rc);
    for (int i = 0; i < nrc && added > 0 && at < first; i++) {
        size_t size = rc[i].type == EVAL_F64   ? sizeof(double)
                      : rc[i].type == EVAL_I64 ? sizeof(long)
                                               : sizeof(int);
        char *base = rc[i].v, *tmp = xmalloc(size * (size_t)added);
        memcpy(tmp, base + size * first, size * added);
        memmove(base + size * (at + added), base + size * at, size * (size_t)(first - at));
        memcpy(base + size * at, tmp, size * added);
        free(tmp);
    }
    g->done[cell] = 1;
}

// What a sweep summary compares: the mean exact-match rate over the grid's cells.
static const EvalMetric NEEDLE_METRICS[] = {
    {"needle_accuracy", NEEDLE_GROUP "/" NEEDLE_ACCURACY, EVAL_REDUCE_MEAN},
};

// ---- The command: dint eval needle ----

typedef struct {
    const char *needles, *lengths, *depths;
    int samples;
    unsigned long long seed;
    NeedleGridSpec grid; // parsed by needle_check_options
} NeedleOptions;

static const NeedleOptions NEEDLE_DEFAULTS = {.needles = "1:1,2:2,4:2,6:2",
                                              .lengths = "512,1024,2048,4096",
                                              .depths = "0,0.25,0.5,0.75,1",
                                              .samples = 50,
                                              .seed = 1};

#define OPT(flag, kind, field, metavar)                                                            \
    { flag, kind, offsetof(NeedleOptions, field), metavar }
static const EvalOption NEEDLE_OPTIONS[] = {
    OPT("--needles", EVAL_OPT_STR, needles, "N:R,..."),
    OPT("--lengths", EVAL_OPT_STR, lengths, "L,..."),
    OPT("--depths", EVAL_OPT_STR, depths, "D,..."),
    OPT("--samples", EVAL_OPT_INT, samples, "S"),
    OPT("--seed", EVAL_OPT_U64, seed, "N"),
};
#undef OPT

// "N:R,N:R,...": 0, or -1 with err set.
static int parse_needles(const char *needles, NeedleGridSpec *g, Error *err) {
    for (const char *p = needles; *p;) {
        int n, r, used = 0;
        if (sscanf(p, "%d:%d%n", &n, &r, &used) != 2 || g->n_cfg == NEEDLE_GRID_MAX)
            return error_set(err, "bad --needles '%s': expected N:R pairs like 1:1,6:2", needles);
        if (r > n || r < 1)
            return error_set(err,
                             "bad --needles '%s': R = %d queried of N = %d needles (need 1 <= R "
                             "<= N)",
                             needles, r, n);
        g->N[g->n_cfg] = n, g->R[g->n_cfg++] = r;
        p += used;
        if (*p == ',')
            p++;
        else if (*p)
            return error_set(err, "bad --needles: expected N:R pairs separated by commas");
    }
    return 0;
}

static int needle_check_options(void *opts, Error *err) {
    NeedleOptions *o = opts;
    NeedleGridSpec *g = &o->grid;
    memset(g, 0, sizeof *g);
    g->samples = o->samples;
    g->seed = o->seed;
    if (o->samples < 1) return error_set(err, "--samples and --threads must be positive");
    if (parse_needles(o->needles, g, err) != 0) return -1;
    if ((g->n_len = parse_int_list(o->lengths, g->len, NEEDLE_GRID_MAX, "--lengths", err)) < 0 ||
        (g->n_depth = parse_double_list(o->depths, g->depth, NEEDLE_GRID_MAX, "--depths", err)) < 0)
        return -1;
    if (g->n_cfg == 0) return error_set(err, "the --needles list is empty");
    return 0;
}

static int needle_prepare(void *opts, const EvalInputs *in, void **state, Error *err) {
    NeedleGridSpec *g = &((NeedleOptions *)opts)->grid;
    if (memory_check_lengths(&in->cfg->model, "eval needle", g->len, g->n_len, err) != 0) return -1;
    model_set_inference(in->model, 1); // forward only; every layer's q, k kept for the mass
    return needle_task_make(state, g, in->tok, in->test_tokens, in->n_test_tokens,
                            in->cfg->model.n_layer, err);
}

const EvalTask needle_task = {
    .name = "needle",
    .command = "eval",
    .about = "the multi-needle grid (needle configurations x context lengths x depths), written "
             "to /eval/needle after every finished cell",
    .options = NEEDLE_OPTIONS,
    .n_options = (int)(sizeof NEEDLE_OPTIONS / sizeof NEEDLE_OPTIONS[0]),
    .options_size = sizeof(NeedleOptions),
    .options_default = &NEEDLE_DEFAULTS,
    .reads_corpus = 1,
    .check_options = needle_check_options,
    .prepare = needle_prepare,
    .metrics = NEEDLE_METRICS,
    .n_metrics = (int)(sizeof NEEDLE_METRICS / sizeof NEEDLE_METRICS[0]),
    .version = NEEDLE_TASK_VERSION,
    .outputs = NEEDLE_OUTPUTS,
    .n_outputs = (int)(sizeof NEEDLE_OUTPUTS / sizeof NEEDLE_OUTPUTS[0]),
    .writes_each_cell = 1,
    .damaged_advice = "delete it or write elsewhere with --out FILE",
    .all_done_note = "dint eval needle: every cell was already done\n",
    .group_path = needle_group_path,
    .parameters = needle_params_text,
    .n_cells = needle_grid_cells,
    .read_back = needle_read_back,
    .cell_done = needle_cell_done,
    .score_cell = needle_score_cell,
    .cell_finished = needle_cell_finished,
    .write = needle_write_results,
    .progress = needle_progress,
    .free = needle_grid_free,
    .cell_export = needle_export_cell,
    .cell_import = needle_import_cell,
};
