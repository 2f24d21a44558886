// dint eval needle: the multi-needle grid (needle configurations x context lengths x depths),
// written to /eval/needle after every finished cell; a restarted evaluation skips those cells.
#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "options.h"
#include "eval_io.h"
#include "h5io.h"
#include "needle.h"

#define MAXL 32

#define NPOS NEEDLE_N_POSITIONAL

typedef struct {
    int n_cfg, n_len, n_depth, samples, n_layer;
    int N[MAXL], R[MAXL], len[MAXL];
    double depth[MAXL];
    uint64_t seed;
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

static void grid_free(NeedleGrid *g) {
    free(g->done), free(g->correct), free(g->total), free(g->loglik), free(g->seconds);
    free(g->questions), free(g->other), free(g->keyed), free(g->keyed_total);
    free(g->pos_correct), free(g->pos_keyed);
    free(g->mass_needle), free(g->mass_rest);
    free(g->rec_cell), free(g->rec_sample), free(g->rec_query), free(g->rec_pos);
    free(g->rec_correct), free(g->rec_asked), free(g->rec_answered), free(g->rec_control);
    free(g->rec_number), free(g->rec_loglik);
}

static long cells(const NeedleGrid *g) {
    return (long)g->n_cfg * g->n_len * g->n_depth;
}

static void params_text(const NeedleGrid *g, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "needle v%d; seed %llu; samples %d; needles",
                                NEEDLE_TASK_VERSION, (unsigned long long)g->seed, g->samples);
    for (int i = 0; i < g->n_cfg && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, " %d:%d", g->N[i], g->R[i]);
    k += (size_t)snprintf(buf + k, cap - k, "; lengths");
    for (int i = 0; i < g->n_len && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, " %d", g->len[i]);
    k += (size_t)snprintf(buf + k, cap - k, "; depths");
    for (int i = 0; i < g->n_depth && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, " %g", g->depth[i]);
}

typedef struct {
    int cell, sample, query, pos, correct, asked, answered, control;
    long number;
    double loglik;
} NeedleRecord;

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

static int cell_counts(NeedleGrid *g, CellCounts *out) {
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

// Read back finished cells of an evaluation with the same parameters.
static int resume(const EvalContext *c, NeedleGrid *g, Error *err) {
    hid_t f = eval_open_results(c);
    if (f < 0 || H5Lexists(f, "/eval", H5P_DEFAULT) <= 0 ||
        H5Lexists(f, "/eval/needle", H5P_DEFAULT) <= 0) {
        if (f >= 0) H5Fclose(f);
        return 0;
    }
    hid_t grp = H5Gopen2(f, "/eval/needle", H5P_DEFAULT);
    char want[2048];
    params_text(g, want, sizeof want);
    char *have = h5_read_attr_str(grp, "parameters");
    int rc = 0;
    if (!have || strcmp(have, want) != 0) {
        rc = error_set(err,
                       "the results file already holds /eval/needle with other parameters (%s); "
                       "write elsewhere with --out FILE",
                       have ? have : "unknown");
    } else {
        long n = cells(g), L = g->n_layer, nr = h5_len(grp, "samples/cell");
        if (nr < 0) nr = 0;
        CellCounts cc[16];
        int ncc = cell_counts(g, cc);
        int bad = h5_read(grp, "done", H5T_NATIVE_UCHAR, n, g->done) ||
                  h5_read(grp, "loglik_sum", H5T_NATIVE_DOUBLE, n, g->loglik) ||
                  h5_read(grp, "seconds", H5T_NATIVE_DOUBLE, n, g->seconds) ||
                  h5_read(grp, "attention_mass_needle", H5T_NATIVE_DOUBLE, n * L, g->mass_needle) ||
                  h5_read(grp, "attention_mass_rest", H5T_NATIVE_DOUBLE, n * L, g->mass_rest);
        for (int i = 0; i < ncc && !bad; i++)
            bad = h5_read(grp, cc[i].name, H5T_NATIVE_LONG, n * cc[i].per_cell, cc[i].v);
        if (!bad && nr > 0) {
            NeedleRecord zero = {0};
            for (long i = 0; i < nr; i++) push_record(g, &zero); // size the arrays
            bad = h5_read(grp, "samples/cell", H5T_NATIVE_INT, nr, g->rec_cell) ||
                  h5_read(grp, "samples/sample", H5T_NATIVE_INT, nr, g->rec_sample) ||
                  h5_read(grp, "samples/query", H5T_NATIVE_INT, nr, g->rec_query) ||
                  h5_read(grp, "samples/needle_position", H5T_NATIVE_INT, nr, g->rec_pos) ||
                  h5_read(grp, "samples/correct", H5T_NATIVE_INT, nr, g->rec_correct) ||
                  h5_read(grp, "samples/asked_needle", H5T_NATIVE_INT, nr, g->rec_asked) ||
                  h5_read(grp, "samples/answered_needle", H5T_NATIVE_INT, nr, g->rec_answered) ||
                  h5_read(grp, "samples/control", H5T_NATIVE_INT, nr, g->rec_control) ||
                  h5_read(grp, "samples/number", H5T_NATIVE_LONG, nr, g->rec_number) ||
                  h5_read(grp, "samples/loglik", H5T_NATIVE_DOUBLE, nr, g->rec_loglik);
        }
        if (bad)
            rc = error_set(
                err,
                "the stored /eval/needle is damaged; delete it or write elsewhere with --out FILE");
    }
    free(have);
    H5Gclose(grp);
    H5Fclose(f);
    return rc;
}

// One (cfg, len, depth[, extra]) dataset of doubles with its dimension scales and meaning.
static int write_cell_dataset(hid_t grp, const NeedleGrid *g, const char *name, int extra,
                              const double *extra_scale, const char *extra_name, const double *v,
                              const char *meaning) {
    hsize_t dims[4] = {(hsize_t)g->n_cfg, (hsize_t)g->n_len, (hsize_t)g->n_depth,
                       (hsize_t)(extra > 0 ? extra : 1)};
    double sN[MAXL], sR[MAXL], sL[MAXL];
    for (int i = 0; i < g->n_cfg; i++) sN[i] = g->N[i], sR[i] = g->R[i];
    for (int i = 0; i < g->n_len; i++) sL[i] = g->len[i];
    int rc = h5_write(grp, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, extra > 0 ? 4 : 3, dims, v);
    if (rc) return rc;
    hid_t ds = H5Dopen2(grp, name, H5P_DEFAULT);
    rc |= attach_scale(grp, ds, 0, "n_needles", sN, g->n_cfg);
    rc |= attach_scale(grp, ds, 0, "n_queried", sR, g->n_cfg);
    rc |= attach_scale(grp, ds, 1, "context_length", sL, g->n_len);
    rc |= attach_scale(grp, ds, 2, "depth", g->depth, g->n_depth);
    if (extra > 0) rc |= attach_scale(grp, ds, 3, extra_name, extra_scale, extra);
    if (meaning) rc |= h5_attr_str(ds, "meaning", meaning);
    H5Dclose(ds);
    return rc;
}

// rate = k / n per entry with its Wilson interval (NaN where n = 0), as NAME, NAME_ci_low,
// NAME_ci_high.
static int write_rate(hid_t grp, const NeedleGrid *g, const char *name, const long *k,
                      const long *n, int extra, const double *extra_scale, const char *extra_name,
                      const char *meaning) {
    long m = cells(g) * (extra > 0 ? extra : 1);
    double *r = xmalloc(sizeof(double) * (size_t)m * 3), *lo = r + m, *hi = r + 2 * m;
    for (long i = 0; i < m; i++) {
        r[i] = n[i] ? (double)k[i] / n[i] : NAN;
        wilson_interval(k[i], n[i], &lo[i], &hi[i]);
        if (!n[i]) lo[i] = hi[i] = NAN;
    }
    char lo_name[128], hi_name[128];
    snprintf(lo_name, sizeof lo_name, "%s_ci_low", name);
    snprintf(hi_name, sizeof hi_name, "%s_ci_high", name);
    int rc = write_cell_dataset(grp, g, name, extra, extra_scale, extra_name, r, meaning) ||
             write_cell_dataset(grp, g, lo_name, extra, extra_scale, extra_name, lo,
                                "Wilson 95 % interval, lower end") ||
             write_cell_dataset(grp, g, hi_name, extra, extra_scale, extra_name, hi,
                                "Wilson 95 % interval, upper end");
    free(r);
    return rc;
}

static int write_results(const EvalContext *c, NeedleGrid *g, Error *err) {
    char tmp[4200];
    hid_t f = eval_begin(c, tmp, sizeof tmp, err);
    if (f < 0) return -1;
    if (H5Lexists(f, "/eval", H5P_DEFAULT) <= 0) H5Gclose(h5_group(f, "eval"));
    if (H5Lexists(f, "/eval/needle", H5P_DEFAULT) > 0) H5Ldelete(f, "/eval/needle", H5P_DEFAULT);
    hid_t grp = h5_group(f, "/eval/needle");
    long n = cells(g);
    int rc = 0;
    char params[2048];
    params_text(g, params, sizeof params);
    rc |= h5_attr_str(grp, "parameters", params);
    rc |= h5_attr_i64(grp, "task_version", NEEDLE_TASK_VERSION);
    rc |= h5_attr_u64(grp, "seed", g->seed);
    rc |= h5_attr_i64(grp, "samples_per_cell", g->samples);
    rc |= h5_attr_str(grp, "haystack", "test split of the run's corpus");
    rc |= h5_attr_str(grp, "scoring",
                      "teacher-forced: exact match = argmax at every answer token (greedy "
                      "decoding's output); loglik = summed log-probability of the right number");
    rc |= h5_attr_str(grp, "layout",
                      "the first asked needle (uniform among the N) at the cell's depth, every "
                      "other needle at an independent uniform sentence boundary (both ends "
                      "included), ties in random order");
    const char *pos_names = "first,last,middle";
    rc |= h5_attr_str(grp, "positional_scorers", pos_names);
    double spos[NPOS], sl[64];
    for (int i = 0; i < NPOS; i++) spos[i] = i;
    for (int i = 0; i < g->n_layer && i < 64; i++) sl[i] = i;
    rc |= write_rate(grp, g, "accuracy", g->correct, g->total, 0, NULL, NULL,
                     "exact-match rate of queried needles per cell; NaN where not evaluated");
    rc |= write_rate(grp, g, "other_needle_rate", g->other, g->questions, 0, NULL, NULL,
                     "share of all questions of the cell (queried and key-swap controls) whose "
                     "greedy answer is another needle's number: a positional copier scores high");
    long *keyed_n = xmalloc(sizeof(long) * (size_t)n * NPOS);
    for (long i = 0; i < n * NPOS; i++) keyed_n[i] = g->keyed_total[i / NPOS];
    rc |= write_rate(grp, g, "keyed_rate", g->keyed, g->keyed_total, 0, NULL, NULL,
                     "share of samples with N >= 2 where both questions of the key-swap pair "
                     "(two needles of one context) are answered right; a positional copier "
                     "scores 0");
    long *pos_n = xmalloc(sizeof(long) * (size_t)n * NPOS);
    for (long i = 0; i < n * NPOS; i++) pos_n[i] = g->total[i / NPOS];
    rc |= write_rate(grp, g, "positional_accuracy", g->pos_correct, pos_n, NPOS, spos, "scorer",
                     "accuracy of scripted scorers that see only positions (scorer 0 copies the "
                     "first needle, 1 the last = nearest the question, 2 the one nearest the "
                     "middle) on the same questions: the reference line for accuracy");
    rc |= write_rate(grp, g, "positional_keyed_rate", g->pos_keyed, keyed_n, NPOS, spos, "scorer",
                     "keyed_rate of the positional scorers (0 by construction)");
    free(pos_n);
    free(keyed_n);
    rc |= write_cell_dataset(grp, g, "loglik_sum", 0, NULL, NULL, g->loglik, NULL);
    rc |= write_cell_dataset(grp, g, "seconds", 0, NULL, NULL, g->seconds, NULL);
    rc |=
        write_cell_dataset(grp, g, "attention_mass_needle", g->n_layer, sl, "layer", g->mass_needle,
                           "mean over samples and heads of the final attention map's weight, "
                           "from the position predicting the answer, on the answer needle's "
                           "tokens (per layer)");
    rc |= write_cell_dataset(grp, g, "attention_mass_rest", g->n_layer, sl, "layer", g->mass_rest,
                             NULL);
    hsize_t dims[4] = {(hsize_t)g->n_cfg, (hsize_t)g->n_len, (hsize_t)g->n_depth, NPOS};
    rc |= h5_write(grp, "done", H5T_NATIVE_UCHAR, H5T_STD_U8LE, 3, dims, g->done);
    CellCounts cc[16];
    int ncc = cell_counts(g, cc);
    for (int i = 0; i < ncc; i++)
        rc |= h5_write(grp, cc[i].name, H5T_NATIVE_LONG, H5T_STD_I64LE, cc[i].per_cell > 1 ? 4 : 3,
                       dims, cc[i].v);
    hid_t s = h5_group(grp, "samples");
    hsize_t nr = (hsize_t)g->n_rec;
    rc |= h5_write(s, "cell", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_cell);
    rc |= h5_write(s, "sample", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_sample);
    rc |= h5_write(s, "query", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_query);
    rc |= h5_write(s, "needle_position", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_pos);
    rc |= h5_write(s, "correct", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_correct);
    rc |= h5_write(s, "asked_needle", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_asked);
    rc |= h5_write(s, "answered_needle", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_answered);
    rc |= h5_write(s, "control", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_control);
    rc |= h5_write(s, "number", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &nr, g->rec_number);
    rc |= h5_write(s, "loglik", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &nr, g->rec_loglik);
    rc |= h5_attr_str(
        s, "meaning",
        "one row per question: cell = (config * lengths + length) * depths + depth (row-major); "
        "query = the question's index in its sample (the first R are scored, a later one is the "
        "key-swap control, control = 1, not counted in accuracy); asked_needle = the needle asked "
        "about (its generation index, uniform among the N); answered_needle = the needle whose "
        "number greedy decoding emits, -1 when none; needle_position = token index of the asked "
        "needle in the context");
    H5Gclose(s);
    H5Gclose(grp);
    if (rc != 0) {
        H5Fclose(f);
        return error_set(err, "writing /eval/needle failed");
    }
    return eval_commit(c, f, tmp, err);
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
        g->mass_needle[cell * g->n_layer + l] += sc->mass_needle[l] / g->samples;
        g->mass_rest[cell * g->n_layer + l] += sc->mass_rest[l] / g->samples;
    }
}

int cmd_eval_needle(int argc, char **argv) {
    const char *run = NULL, *out = NULL, *data = NULL, *needles = "1:1,2:2,4:2,6:2";
    const char *lengths = "512,1024,2048,4096", *depths = "0,0.25,0.5,0.75,1";
    int samples = 50, threads = omp_get_num_procs();
    unsigned long long seed = 1;
    Error err;
    const Option opts[] = {{"--run", OPT_STR, &run},         {"--out", OPT_STR, &out},
                           {"--data", OPT_STR, &data},       {"--needles", OPT_STR, &needles},
                           {"--lengths", OPT_STR, &lengths}, {"--depths", OPT_STR, &depths},
                           {"--samples", OPT_INT, &samples}, {"--seed", OPT_U64, &seed},
                           {"--threads", OPT_INT, &threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    if (!run) goto usage;
    NeedleGrid g;
    memset(&g, 0, sizeof g);
    g.samples = samples;
    g.seed = seed;
    if (samples < 1 || threads < 1) {
        cli_error("eval", "--samples and --threads must be positive");
        return EXIT_USAGE;
    }
    // N:R pairs.
    for (const char *p = needles; *p;) {
        int n, r, used = 0;
        if (sscanf(p, "%d:%d%n", &n, &r, &used) != 2 || g.n_cfg == MAXL) {
            snprintf(err.msg, sizeof err.msg, "bad --needles '%s': expected N:R pairs like 1:1,6:2",
                     needles);
            cli_error("eval", err.msg);
            return EXIT_USAGE;
        }
        if (r > n || r < 1) {
            snprintf(err.msg, sizeof err.msg,
                     "bad --needles '%s': R = %d queried of N = %d needles (need 1 <= R <= N)",
                     needles, r, n);
            cli_error("eval", err.msg);
            return EXIT_USAGE;
        }
        g.N[g.n_cfg] = n, g.R[g.n_cfg++] = r;
        p += used;
        if (*p == ',')
            p++;
        else if (*p) {
            cli_error("eval", "bad --needles: expected N:R pairs separated by commas");
            return EXIT_USAGE;
        }
    }
    if ((g.n_len = parse_int_list(lengths, g.len, MAXL, "--lengths", &err)) < 0 ||
        (g.n_depth = parse_double_list(depths, g.depth, MAXL, "--depths", &err)) < 0 ||
        g.n_cfg == 0) {
        cli_error("eval", g.n_cfg == 0 ? "the --needles list is empty" : err.msg);
        return EXIT_USAGE;
    }
    EvalContext c;
    if (eval_open(&c, run, out, data, threads, &err) != 0 ||
        eval_load_corpus(&c, NULL, &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    g.n_layer = c.cfg.model.n_layer;
    model_set_inference(&c.model, 1); // forward only; every layer's q, k kept for the mass
    long n = cells(&g);
    g.done = xcalloc((size_t)n, 1);
    g.correct = xcalloc((size_t)n, sizeof(long));
    g.total = xcalloc((size_t)n, sizeof(long));
    g.questions = xcalloc((size_t)n, sizeof(long));
    g.other = xcalloc((size_t)n, sizeof(long));
    g.keyed = xcalloc((size_t)n, sizeof(long));
    g.keyed_total = xcalloc((size_t)n, sizeof(long));
    g.pos_correct = xcalloc((size_t)n * NPOS, sizeof(long));
    g.pos_keyed = xcalloc((size_t)n * NPOS, sizeof(long));
    g.loglik = xcalloc((size_t)n, sizeof(double));
    g.seconds = xcalloc((size_t)n, sizeof(double));
    g.mass_needle = xcalloc((size_t)n * g.n_layer, sizeof(double));
    g.mass_rest = xcalloc((size_t)n * g.n_layer, sizeof(double));
    const int *hay = c.corpus.tokens[SPLIT_TEST];
    long n_hay = c.corpus.n_tokens[SPLIT_TEST];
    // Check every (configuration, length) before any work: bad options fail at once.
    int rc = 0;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    for (int a = 0; a < g.n_cfg && rc == 0; a++)
        for (int b = 0; b < g.n_len && rc == 0; b++)
            for (int d = 0; d < g.n_depth && rc == 0; d++) {
                NeedleSpec spec = {.n_needles = g.N[a],
                                   .n_queried = g.R[a],
                                   .length = g.len[b],
                                   .depth = g.depth[d],
                                   .layout = NEEDLE_LAYOUT_DEPTH};
                NeedleSample s;
                gsl_rng_set(rng, 1);
                if (needle_make(&s, &c.tok, hay, n_hay, &spec, NEEDLE_POOL_EVAL, rng, &err) != 0)
                    rc = -1;
                else
                    needle_free(&s);
            }
    if (rc == 0) rc = resume(&c, &g, &err);
    if (rc != 0) {
        cli_error("eval", err.msg);
        gsl_rng_free(rng);
        grid_free(&g);
        eval_close(&c);
        return EXIT_USAGE;
    }
    long todo = 0, finished = 0;
    for (long i = 0; i < n; i++) todo += !g.done[i];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long cell = 0; cell < n && rc == 0; cell++) {
        if (g.done[cell]) continue;
        int a = (int)(cell / ((long)g.n_len * g.n_depth)), b = (int)(cell / g.n_depth % g.n_len),
            d = (int)(cell % g.n_depth);
        NeedleSpec spec = {.n_needles = g.N[a],
                           .n_queried = g.R[a],
                           .length = g.len[b],
                           .depth = g.depth[d],
                           .layout = NEEDLE_LAYOUT_DEPTH};
        // Each cell has its own stream: seed, then the cell index (results do not depend on order).
        gsl_rng_set(
            rng, (unsigned long)((seed * 1000003ULL + (unsigned long long)cell) & 0xFFFFFFFFULL));
        struct timespec c0, c1;
        clock_gettime(CLOCK_MONOTONIC, &c0);
        for (int k = 0; k < samples && rc == 0; k++) {
            NeedleSample s;
            if (needle_make(&s, &c.tok, hay, n_hay, &spec, NEEDLE_POOL_EVAL, rng, &err) != 0) {
                rc = -1;
                break;
            }
            NeedleScore sc;
            score_sample(&g, &c.model, &s, cell, k, &sc);
            needle_free(&s);
        }
        if (rc != 0) break;
        clock_gettime(CLOCK_MONOTONIC, &c1);
        g.seconds[cell] = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9;
        g.done[cell] = 1;
        finished++;
        if (write_results(&c, &g, &err) != 0) {
            rc = -1;
            break;
        }
        double el = (double)(c1.tv_sec - t0.tv_sec) + (c1.tv_nsec - t0.tv_nsec) * 1e-9;
        double eta = el / finished * (todo - finished);
        char keyed[96] = "";
        if (g.keyed_total[cell])
            snprintf(keyed, sizeof keyed, " | keyed %.3f | other needle %.3f",
                     (double)g.keyed[cell] / g.keyed_total[cell],
                     (double)g.other[cell] / g.questions[cell]);
        fprintf(stderr,
                "needle N=%d R=%d length %d depth %.2f: accuracy %.3f (%ld/%ld)%s | position "
                "only: first %.2f last %.2f middle %.2f | cell %ld of %ld | %.1fs | ETA %.0fs\n",
                g.N[a], g.R[a], g.len[b], g.depth[d], (double)g.correct[cell] / g.total[cell],
                g.correct[cell], g.total[cell], keyed,
                (double)g.pos_correct[cell * NPOS] / g.total[cell],
                (double)g.pos_correct[cell * NPOS + 1] / g.total[cell],
                (double)g.pos_correct[cell * NPOS + 2] / g.total[cell], finished, todo,
                g.seconds[cell], eta);
    }
    if (rc == 0 && todo == 0) fprintf(stderr, "dint eval needle: every cell was already done\n");
    if (rc == 0)
        printf("%s\n", out ? out : run);
    else
        cli_error("eval", err.msg);
    gsl_rng_free(rng);
    grid_free(&g);
    eval_close(&c);
    return rc == 0 ? 0 : EXIT_USAGE;
usage:
    cli_error("eval",
              "usage: dint eval needle --run RUN.h5 [--out FILE] [--data SPEC] [--needles N:R,...] "
              "[--lengths L,...] [--depths D,...] [--samples S] [--seed N] [--threads N]");
    return EXIT_USAGE;
}
