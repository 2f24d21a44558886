#include "summary.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5file.h"
#include "h5io.h"
#include "schema.h"
#include "survival.h"

// One cell's recall onsets over seeds (tokens; censored ones at their last evaluation) into t
// and ev: the number of seeds with a recall onset.
static int cell_onsets(const Grid *g, const double *vals, int c, double *t, int *ev) {
    int n = 0;
    for (int s = 0; s < g->n_seeds; s++) {
        const double *v = vals + ((long)c * g->n_seeds + s) * sweep_metric_count();
        if (isnan(v[METRIC_RECALL_ONSET_TOKENS]) || isnan(v[METRIC_RECALL_CENSORED])) continue;
        t[n] = v[METRIC_RECALL_ONSET_TOKENS];
        ev[n++] = v[METRIC_RECALL_CENSORED] == 0;
    }
    return n;
}

// /survival/<cell>: the Kaplan-Meier curve of na onsets, its median and the median's interval.
static int write_km(hid_t cg, const double *t, const int *ev, int na) {
    KaplanMeier km;
    if (na <= 0 || km_estimate(t, ev, na, &km) != 0) return 0;
    long reached = 0;
    for (int i = 0; i < na; i++) reached += ev[i];
    int rc = h5_attr_i64(cg, schema_name(SWEEP_SURVIVAL_CELL_AT_SEEDS), na);
    rc |= h5_attr_i64(cg, schema_name(SWEEP_SURVIVAL_CELL_AT_REACHED), reached);
    rc |= h5_write_scalar_f64(cg, schema_name(SWEEP_SURVIVAL_MEDIAN), km.median);
    rc |= h5_write_scalar_f64(cg, schema_name(SWEEP_SURVIVAL_MEDIAN_LO), km.median_lo);
    rc |= h5_write_scalar_f64(cg, schema_name(SWEEP_SURVIVAL_MEDIAN_HI), km.median_hi);
    rc |= h5_write_f64(cg, schema_name(SWEEP_SURVIVAL_TIME), (hsize_t)km.n_times, km.time);
    rc |= h5_write_f64(cg, schema_name(SWEEP_SURVIVAL_SURV), (hsize_t)km.n_times, km.surv);
    rc |= h5_write_f64(cg, schema_name(SWEEP_SURVIVAL_SURV_LO), (hsize_t)km.n_times, km.lo);
    rc |= h5_write_f64(cg, schema_name(SWEEP_SURVIVAL_SURV_HI), (hsize_t)km.n_times, km.hi);
    km_free(&km);
    return rc;
}

static int write_survival_attrs(hid_t sg) {
    int rc = h5_attr_str(sg, schema_name(SWEEP_SURVIVAL_AT_EVENT),
                         "recall onset: held-out recall accuracy >= recall.threshold "
                         "(/train/recall_onset); a run that never reached it is censored at its "
                         "last evaluation");
    rc |= h5_attr_str(sg, schema_name(SWEEP_SURVIVAL_AT_TIME), "training tokens");
    rc |= h5_attr_str(sg, schema_name(SWEEP_SURVIVAL_AT_TEST),
                      "two-sample log-rank (Mantel-Cox, 1 df); Kaplan-Meier with Greenwood "
                      "errors and a 95 % log(-log) band (harness/stats/survival.h)");
    return rc;
}

// /survival: the recall onset as a time-to-event over seeds, per cell (Kaplan-Meier curve,
// median and its interval) and for each pair of cells (log-rank). Nothing when no run has one.
static int write_survival(hid_t f, const Grid *g, const double *vals) {
    int C = g->n_cells, any = 0;
    double t[MAX_SEEDS];
    int ev[MAX_SEEDS];
    for (int c = 0; c < C && !any; c++) any = cell_onsets(g, vals, c, t, ev) > 0;
    if (!any) return 0;
    hid_t sg = h5_group(f, SWEEP_SURVIVAL);
    int rc = sg < 0;
    rc |= write_survival_attrs(sg);
    double *p = xmalloc(sizeof(double) * (size_t)C * C * 2), *chi2 = p + (long)C * C;
    char names[MAX_CELLS * 66] = "";
    for (int a = 0; a < C; a++) {
        strcat(strcat(names, a ? "," : ""), g->cells[a].name);
        int na = cell_onsets(g, vals, a, t, ev);
        hid_t cg = h5_group(sg, g->cells[a].name);
        rc |= cg < 0;
        rc |= write_km(cg, t, ev, na);
        if (cg >= 0) H5Gclose(cg);
        for (int b = 0; b < C; b++) {
            double tb[MAX_SEEDS];
            int eb[MAX_SEEDS], nb = cell_onsets(g, vals, b, tb, eb);
            LogRank lr;
            int ok = a != b && na > 0 && nb > 0 && logrank_test(t, ev, na, tb, eb, nb, &lr) == 0;
            p[(long)a * C + b] = ok ? lr.p : NAN;
            chi2[(long)a * C + b] = ok ? lr.chi2 : NAN;
        }
    }
    hsize_t dims[2] = {(hsize_t)C, (hsize_t)C};
    rc |= h5_write(sg, schema_name(SWEEP_SURVIVAL_LOGRANK_P), H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2,
                   dims, p);
    rc |= h5_write(sg, schema_name(SWEEP_SURVIVAL_LOGRANK_CHI2), H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE,
                   2, dims, chi2);
    rc |= h5_attr_str(sg, schema_name(SWEEP_SURVIVAL_AT_CELLS), names);
    free(p);
    H5Gclose(sg);
    return rc;
}

// Mean, standard deviation and 95 % t interval of n values.
static MetricSummary summarize(const double *xs, int n) {
    double mean = n ? gsl_stats_mean(xs, 1, n) : NAN, sd = n > 1 ? gsl_stats_sd(xs, 1, n) : NAN;
    double half = n > 1 ? gsl_cdf_tdist_Pinv(0.975, n - 1) * sd / sqrt(n) : NAN;
    return (MetricSummary){
        .n = n, .mean = mean, .sd = sd, .ci_low = mean - half, .ci_high = mean + half};
}

// Two-sided paired t-test of nd differences: their mean in out[0], the p value in out[1].
static void paired_t_test(const double *diffs, int nd, double out[2]) {
    double dm = nd ? gsl_stats_mean(diffs, 1, nd) : NAN, p = NAN;
    if (nd > 1) {
        double dsd = gsl_stats_sd(diffs, 1, nd);
        double t = dsd > 0 ? dm / (dsd / sqrt(nd)) : (dm == 0 ? 0 : INFINITY);
        p = isinf(t) ? 0.0 : 2 * gsl_cdf_tdist_Q(fabs(t), nd - 1);
    }
    out[0] = dm, out[1] = p;
}

// n scalars <metric name><suffix[i]> = v[i] in loc.
static int write_scalars(hid_t loc, const char *metric, const char *const *suffix, const double *v,
                         int n) {
    int rc = 0;
    for (int q = 0; q < n; q++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s", metric, suffix[q]);
        rc |= h5_write_scalar_f64(loc, name, v[q]);
    }
    return rc;
}

// Metric k of cell c: its statistics over seeds into cg (and *row), and into pg (when >= 0) its
// paired differences against the baseline cell base.
static int write_metric(hid_t cg, hid_t pg, const Grid *g, const double *vals, int c, int base,
                        int k, MetricSummary *row) {
    static const char *const stats[4] = {SWEEP_SUFFIX_MEAN, SWEEP_SUFFIX_STD, SWEEP_SUFFIX_CI_LOW,
                                         SWEEP_SUFFIX_CI_HIGH};
    static const char *const paired[2] = {SWEEP_SUFFIX_DIFF_MEAN, SWEEP_SUFFIX_P_VALUE};
    int S = g->n_seeds, n = 0, nd = 0;
    double xs[MAX_SEEDS], diffs[MAX_SEEDS];
    for (int s = 0; s < S; s++) {
        double v = vals[((long)c * S + s) * sweep_metric_count() + k];
        if (!isnan(v)) xs[n++] = v;
        if (pg >= 0) {
            double b = vals[((long)base * S + s) * sweep_metric_count() + k];
            if (!isnan(v) && !isnan(b)) diffs[nd++] = v - b;
        }
    }
    *row = summarize(xs, n);
    double out[4] = {row->mean, row->sd, row->ci_low, row->ci_high};
    int rc = write_scalars(cg, sweep_metric(k)->name, stats, out, 4);
    if (pg >= 0) {
        double pv[2];
        paired_t_test(diffs, nd, pv);
        rc |= write_scalars(pg, sweep_metric(k)->name, paired, pv, 2);
    }
    return rc;
}

// /cells/<cell> (its settings, statistics and per-seed values) and /paired/<cell> unless it is
// the baseline (base < 0: none); its statistics in row[sweep_metric_count()].
static int write_cell(hid_t cells, hid_t paired, const Grid *g, const char *dir, const double *vals,
                      int c, int base, MetricSummary *row) {
    const Cell *x = &g->cells[c];
    int S = g->n_seeds;
    hid_t cg = h5_group(cells, x->name);
    int rc = h5_attr_str(cg, schema_name(SWEEP_CELL_AT_VARIANT), x->variant) |
             h5_attr_str(cg, schema_name(SWEEP_CELL_AT_GAMMA), x->gamma) |
             h5_attr_str(cg, schema_name(SWEEP_CELL_AT_G_MODE), x->g_mode) |
             h5_attr_str(cg, schema_name(SWEEP_CELL_AT_HEAD_NORM), x->head_norm) |
             h5_attr_str(cg, schema_name(SWEEP_CELL_AT_LAMBDA_INIT), x->lambda_init) |
             h5_attr_i64(cg, schema_name(SWEEP_CELL_AT_N_SEEDS), S);
    hid_t pg = base >= 0 && c != base ? h5_group(paired, x->name) : -1;
    for (int k = 0; k < sweep_metric_count(); k++)
        rc |= write_metric(cg, pg, g, vals, c, base, k, &row[k]);
    hsize_t dims[2] = {(hsize_t)S, sweep_metric_count()}; // [seed][metric]
    rc |= h5_write(cg, schema_name(SWEEP_CELL_PER_SEED), H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, dims,
                   vals + (long)c * S * sweep_metric_count());
    double *seconds = xmalloc(sizeof(double) * (size_t)S); // each seed's training time
    for (int s = 0; s < S; s++) {
        char run[4400], log[4400];
        sweep_run_paths(g, dir, c * S + s, run, log, sizeof run);
        seconds[s] = metrics_run_seconds(run);
    }
    hsize_t ds = (hsize_t)S;
    rc |= h5_write(cg, schema_name(SWEEP_CELL_SECONDS), H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &ds,
                   seconds);
    free(seconds);
    if (pg >= 0) H5Gclose(pg);
    H5Gclose(cg);
    return rc;
}

// The root's attributes: the baseline cell ("" without one) and what the invocation trained.
static int write_root_attrs(hid_t f, const char *baseline, const Throughput *tp) {
    int rc = h5_attr_str(f, schema_name(SWEEP_AT_BASELINE), baseline);
    rc |= h5_attr_i64(f, schema_name(SWEEP_AT_PROCESSES), tp->processes) |
          h5_attr_i64(f, schema_name(SWEEP_AT_THREADS_PER_PROCESS), tp->threads) |
          h5_attr_f64(f, schema_name(SWEEP_AT_WALL_SECONDS), tp->wall_seconds) |
          h5_attr_i64(f, schema_name(SWEEP_AT_TOKENS_TRAINED), (long)tp->tokens) |
          h5_attr_f64(f, schema_name(SWEEP_AT_TOKENS_PER_S),
                      tp->wall_seconds > 0 ? tp->tokens / tp->wall_seconds : 0.0);
    return rc;
}

int summary_write(const char *dir, const Grid *g, const double *vals, const Throughput *tp,
                  SweepSummary *table, Error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.h5", dir);
    table->n_cells = 0;
    hid_t f = h5file_create_mem(path, err);
    if (f < 0) return -1;
    int base = -1;
    for (int c = 0; c < g->n_cells; c++)
        if (!strcmp(g->cells[c].name, g->baseline)) base = c;
    const char *baseline = base >= 0 ? g->baseline : "";
    int rc = write_root_attrs(f, baseline, tp);
    hid_t cells = h5_group(f, SWEEP_CELLS), paired = h5_group(f, SWEEP_PAIRED);
    rc |= h5_attr_str(paired, schema_name(SWEEP_PAIRED_AT_BASELINE), baseline);
    rc |= h5_attr_str(paired, schema_name(SWEEP_PAIRED_AT_TEST),
                      "paired t-test over seeds (two-sided), GSL t distribution");
    for (int c = 0; c < g->n_cells; c++)
        rc |= write_cell(cells, paired, g, dir, vals, c, base, table->cell[c]);
    table->n_cells = g->n_cells;
    char metric_list[2048] = "";
    size_t used = 0;
    for (int k = 0; k < sweep_metric_count(); k++)
        eval_appendf(metric_list, sizeof metric_list, &used, "%s%s", k ? "," : "",
                     sweep_metric(k)->name);
    rc |= h5_attr_str(cells, schema_name(SWEEP_CELLS_AT_METRICS), metric_list);
    rc |= write_survival(f, g, vals);
    H5Gclose(cells);
    H5Gclose(paired);
    if (rc) {
        H5Fclose(f);
        return error_set(err, "cannot assemble '%s' in memory (out of memory?)", path);
    }
    return h5file_save(f, path, err);
}
