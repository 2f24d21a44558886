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

typedef struct {
    int n_cfg, n_len, n_depth, samples, n_layer;
    int N[MAXL], R[MAXL], len[MAXL];
    double depth[MAXL];
    uint64_t seed;
    // Per cell (cfg, len, depth): done flag and sums; per cell and layer: attention masses.
    unsigned char *done;
    long *correct, *total;
    double *loglik, *mass_needle, *mass_rest, *seconds;
    // Per queried needle of each sample.
    long n_rec, cap_rec;
    int *rec_cell, *rec_sample, *rec_query, *rec_pos, *rec_correct;
    long *rec_number;
    double *rec_loglik;
} NeedleGrid;

static void grid_free(NeedleGrid *g) {
    free(g->done), free(g->correct), free(g->total), free(g->loglik), free(g->seconds);
    free(g->mass_needle), free(g->mass_rest);
    free(g->rec_cell), free(g->rec_sample), free(g->rec_query), free(g->rec_pos);
    free(g->rec_correct), free(g->rec_number), free(g->rec_loglik);
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

static void push_record(NeedleGrid *g, int cell, int sample, int query, int pos, int correct,
                        long number, double ll) {
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
        GROW(g->rec_number);
        GROW(g->rec_loglik);
#undef GROW
    }
    long i = g->n_rec++;
    g->rec_cell[i] = cell, g->rec_sample[i] = sample, g->rec_query[i] = query, g->rec_pos[i] = pos;
    g->rec_correct[i] = correct, g->rec_number[i] = number, g->rec_loglik[i] = ll;
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
        int bad = h5_read(grp, "done", H5T_NATIVE_UCHAR, n, g->done) ||
                  h5_read(grp, "correct", H5T_NATIVE_LONG, n, g->correct) ||
                  h5_read(grp, "total", H5T_NATIVE_LONG, n, g->total) ||
                  h5_read(grp, "loglik_sum", H5T_NATIVE_DOUBLE, n, g->loglik) ||
                  h5_read(grp, "seconds", H5T_NATIVE_DOUBLE, n, g->seconds) ||
                  h5_read(grp, "attention_mass_needle", H5T_NATIVE_DOUBLE, n * L, g->mass_needle) ||
                  h5_read(grp, "attention_mass_rest", H5T_NATIVE_DOUBLE, n * L, g->mass_rest);
        if (!bad && nr > 0) {
            g->cap_rec = 0;
            for (long i = 0; i < nr; i++) push_record(g, 0, 0, 0, 0, 0, 0, 0); // size the arrays
            bad = h5_read(grp, "samples/cell", H5T_NATIVE_INT, nr, g->rec_cell) ||
                  h5_read(grp, "samples/sample", H5T_NATIVE_INT, nr, g->rec_sample) ||
                  h5_read(grp, "samples/query", H5T_NATIVE_INT, nr, g->rec_query) ||
                  h5_read(grp, "samples/needle_position", H5T_NATIVE_INT, nr, g->rec_pos) ||
                  h5_read(grp, "samples/correct", H5T_NATIVE_INT, nr, g->rec_correct) ||
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

static int write_results(const EvalContext *c, const NeedleGrid *g, Error *err) {
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
    double *acc = xmalloc(sizeof(double) * (size_t)n * 3), *lo = acc + n, *hi = acc + 2 * n;
    for (long i = 0; i < n; i++) {
        acc[i] = g->total[i] ? (double)g->correct[i] / g->total[i] : NAN;
        wilson_interval(g->correct[i], g->total[i], &lo[i], &hi[i]);
        if (!g->total[i]) lo[i] = hi[i] = NAN;
    }
    hsize_t dims[4] = {(hsize_t)g->n_cfg, (hsize_t)g->n_len, (hsize_t)g->n_depth,
                       (hsize_t)g->n_layer};
    const char *names[] = {"accuracy", "accuracy_ci_low", "accuracy_ci_high", "loglik_sum",
                           "seconds"};
    const double *vals[] = {acc, lo, hi, g->loglik, g->seconds};
    double sN[MAXL], sR[MAXL], sL[MAXL], sl[64];
    for (int i = 0; i < g->n_cfg; i++) sN[i] = g->N[i], sR[i] = g->R[i];
    for (int i = 0; i < g->n_len; i++) sL[i] = g->len[i];
    for (int i = 0; i < g->n_layer && i < 64; i++) sl[i] = i;
    for (int k = 0; k < 7 && rc == 0; k++) {
        const char *name =
            k < 5 ? names[k] : (k == 5 ? "attention_mass_needle" : "attention_mass_rest");
        const double *v = k < 5 ? vals[k] : (k == 5 ? g->mass_needle : g->mass_rest);
        int rank = k < 5 ? 3 : 4;
        rc |= h5_write(grp, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, rank, dims, v);
        hid_t ds = H5Dopen2(grp, name, H5P_DEFAULT);
        rc |= attach_scale(grp, ds, 0, "n_needles", sN, g->n_cfg);
        rc |= attach_scale(grp, ds, 0, "n_queried", sR, g->n_cfg);
        rc |= attach_scale(grp, ds, 1, "context_length", sL, g->n_len);
        rc |= attach_scale(grp, ds, 2, "depth", g->depth, g->n_depth);
        if (rank == 4) rc |= attach_scale(grp, ds, 3, "layer", sl, g->n_layer);
        H5Dclose(ds);
    }
    hid_t ds = H5Dopen2(grp, "accuracy", H5P_DEFAULT);
    rc |= h5_attr_str(ds, "meaning",
                      "exact-match rate of queried needles per cell; NaN where not evaluated");
    H5Dclose(ds);
    ds = H5Dopen2(grp, "attention_mass_needle", H5P_DEFAULT);
    rc |= h5_attr_str(ds, "meaning",
                      "mean over samples and heads of the final attention map's weight, from the "
                      "position predicting the answer, on the answer needle's tokens (per layer)");
    H5Dclose(ds);
    rc |= h5_write(grp, "done", H5T_NATIVE_UCHAR, H5T_STD_U8LE, 3, dims, g->done);
    rc |= h5_write(grp, "correct", H5T_NATIVE_LONG, H5T_STD_I64LE, 3, dims, g->correct);
    rc |= h5_write(grp, "total", H5T_NATIVE_LONG, H5T_STD_I64LE, 3, dims, g->total);
    hid_t s = h5_group(grp, "samples");
    hsize_t nr = (hsize_t)g->n_rec;
    rc |= h5_write(s, "cell", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_cell);
    rc |= h5_write(s, "sample", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_sample);
    rc |= h5_write(s, "query", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_query);
    rc |= h5_write(s, "needle_position", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_pos);
    rc |= h5_write(s, "correct", H5T_NATIVE_INT, H5T_STD_I32LE, 1, &nr, g->rec_correct);
    rc |= h5_write(s, "number", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &nr, g->rec_number);
    rc |= h5_write(s, "loglik", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &nr, g->rec_loglik);
    rc |= h5_attr_str(
        s, "meaning",
        "one row per queried needle: cell = (config * lengths + length) * depths + depth "
        "(row-major), needle_position = token index of the needle in the context");
    H5Gclose(s);
    H5Gclose(grp);
    free(acc);
    if (rc != 0) {
        H5Fclose(f);
        return error_set(err, "writing /eval/needle failed");
    }
    return eval_commit(c, f, tmp, err);
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
    long n = cells(&g);
    g.done = xcalloc((size_t)n, 1);
    g.correct = xcalloc((size_t)n, sizeof(long));
    g.total = xcalloc((size_t)n, sizeof(long));
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
                NeedleSpec spec = {g.N[a], g.R[a], g.len[b], g.depth[d]};
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
        NeedleSpec spec = {g.N[a], g.R[a], g.len[b], g.depth[d]};
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
            needle_score(&c.model, &s, &sc);
            for (int r = 0; r < s.n_queried; r++) {
                g.correct[cell] += sc.correct[r];
                g.total[cell]++;
                g.loglik[cell] += sc.loglik[r];
                push_record(&g, (int)cell, k, r, s.needle_start[r], sc.correct[r], s.number[r],
                            sc.loglik[r]);
            }
            for (int l = 0; l < g.n_layer && l < 64; l++) {
                g.mass_needle[cell * g.n_layer + l] += sc.mass_needle[l] / samples;
                g.mass_rest[cell * g.n_layer + l] += sc.mass_rest[l] / samples;
            }
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
        fprintf(stderr,
                "needle N=%d R=%d length %d depth %.2f: accuracy %.3f (%ld/%ld) | cell %ld of %ld "
                "| %.1fs | ETA %.0fs\n",
                g.N[a], g.R[a], g.len[b], g.depth[d], (double)g.correct[cell] / g.total[cell],
                g.correct[cell], g.total[cell], finished, todo, g.seconds[cell], eta);
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
