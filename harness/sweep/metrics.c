#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driver.h"
#include "h5io.h"
#include "schema.h"

// The metrics in summary order. A row without a dataset is an evaluation task's metric of that
// name (tasks/*_eval.c), found in the task registry when first asked for.
static SweepMetric metrics[SWEEP_MAX_METRICS] = {
    [METRIC_VAL_LOSS] = {"val_loss", RUN_TRAIN_VAL_LOSS, EVAL_REDUCE_LAST},
    [METRIC_ROW_SUM_DEV_MAX] = {"row_sum_dev_max", NULL, 0},
    [METRIC_NEGATIVE_MASS] = {"negative_mass", NULL, 0},
    [METRIC_LOSS_SPIKES] = {"loss_spikes", RUN_TRAIN_LOSS_SPIKE, EVAL_REDUCE_SUM},
    [METRIC_NEEDLE_ACCURACY] = {"needle_accuracy", NULL, 0},
    // A censored run counts with its last step: the mean is then a lower bound, and the share of
    // censored runs says how many seeds never got there.
    [METRIC_RETRIEVAL_ONSET] = {"retrieval_onset", RUN_TRAIN_ONSET_AT_STEP, EVAL_REDUCE_LAST},
    [METRIC_ONSET_CENSORED] = {"onset_censored", RUN_TRAIN_ONSET_AT_CENSORED, EVAL_REDUCE_LAST},
    // The recall onset in tokens (a time-to-event: /survival has its Kaplan-Meier statistics),
    // the final held-out accuracy, and `dint eval recall`'s accuracy and keyed rate.
    [METRIC_RECALL_ONSET_TOKENS] = {"recall_onset_tokens", RUN_TRAIN_RECALL_ONSET_AT_TOKENS,
                                    EVAL_REDUCE_LAST},
    [METRIC_RECALL_CENSORED] = {"recall_censored", RUN_TRAIN_RECALL_ONSET_AT_CENSORED,
                                EVAL_REDUCE_LAST},
    [METRIC_RECALL_HELDOUT] = {"recall_heldout_accuracy", RUN_TRAIN_RECALL_ACCURACY,
                               EVAL_REDUCE_LAST},
    [METRIC_RECALL_ACCURACY] = {"recall_accuracy", NULL, 0},
    [METRIC_RECALL_KEYED] = {"recall_keyed_rate", NULL, 0},
    // The parameter count (claims about parameter efficiency), the largest deviation of a row
    // sum from 1 over training's audits and the largest gradient norm (stability), and the best
    // held-out recall accuracy over training (reached 0.9 at some evaluation).
    [METRIC_PARAM_COUNT] = {"param_count", RUN_AT_PARAM_COUNT, EVAL_REDUCE_LAST},
    [METRIC_TRAIN_ROW_SUM_DEV_MAX] = {"train_row_sum_dev_max", RUN_TRAIN_ROW_SUM_DEV_MAX,
                                      EVAL_REDUCE_MAX},
    [METRIC_GRAD_NORM_MAX] = {"grad_norm_max", RUN_TRAIN_GRAD_NORM, EVAL_REDUCE_MAX},
    [METRIC_RECALL_HELDOUT_MAX] = {"recall_heldout_max", RUN_TRAIN_RECALL_ACCURACY,
                                   EVAL_REDUCE_MAX},
    // λ over training and layers: a DIFF row sums to 1 - λ, so |row sum - 1| lies between them.
    [METRIC_LAMBDA_MIN] = {"lambda_min", RUN_TRAIN_LAMBDA, EVAL_REDUCE_MIN},
    [METRIC_LAMBDA_MAX] = {"lambda_max", RUN_TRAIN_LAMBDA, EVAL_REDUCE_MAX},
    // 1 for a run whose training diverged (metrics_run_diverged), 0 otherwise: not in the run file.
    [METRIC_DIVERGED] = {"diverged", "{run}.diverged", EVAL_REDUCE_LAST},
};

static int n_metrics = N_KNOWN_METRICS;

// Each task metric fills its row, or is appended after the rows; every row without a dataset
// must be some task's metric.
static void resolve_task_metrics(void) {
    static int resolved;
    if (resolved) return;
    for (int t = 0; eval_tasks[t]; t++)
        for (int i = 0; i < eval_tasks[t]->n_metrics; i++) {
            const EvalMetric *em = &eval_tasks[t]->metrics[i];
            int k = 0;
            while (k < n_metrics && strcmp(metrics[k].name, em->name)) k++;
            if (k == n_metrics) {
                CHECK(n_metrics < SWEEP_MAX_METRICS, "more than %d sweep metrics",
                      SWEEP_MAX_METRICS);
                metrics[n_metrics++] = *em;
                continue;
            }
            CHECK(!metrics[k].dataset, "task %s's metric %s is already a metric of the sweep",
                  eval_tasks[t]->name, em->name);
            metrics[k] = *em;
        }
    for (int k = 0; k < n_metrics; k++)
        CHECK(metrics[k].dataset, "sweep metric %s: no task declares it", metrics[k].name);
    resolved = 1;
}

// Whether grid g runs task t: an [eval] line of its name, or the audit.
static int grid_runs_task(const Grid *g, const EvalTask *t) {
    if (!strcmp(t->name, "audit")) return g->has_audit;
    size_t n = strlen(t->name);
    for (int e = 0; e < g->n_evals; e++)
        if (!strncmp(g->evals[e], t->name, n) && g->evals[e][n] == ' ') return 1;
    return 0;
}

void sweep_metrics_use_grid(const Grid *g) {
    static char names[SWEEP_MAX_METRICS][64], paths[SWEEP_MAX_METRICS][320];
    static int n_base = -1;
    resolve_task_metrics();
    if (n_base < 0) n_base = n_metrics;
    n_metrics = n_base;
    for (int p = 0; p < g->n_precisions; p++) {
        Precision prec = g->precisions[p];
        for (int t = 0; eval_tasks[t]; t++) {
            if (!grid_runs_task(g, eval_tasks[t])) continue;
            for (int i = 0; i < eval_tasks[t]->n_metrics; i++) {
                const EvalMetric *em = &eval_tasks[t]->metrics[i];
                CHECK(n_metrics < SWEEP_MAX_METRICS, "more than %d sweep metrics",
                      SWEEP_MAX_METRICS);
                int k = n_metrics++;
                snprintf(names[k], sizeof names[k], "%s_at_%s", em->name, precision_name(prec));
                // The audit keeps each precision in its own group (/audit/fp32, /audit/q8, ...);
                // an evaluation's moves under /eval/precision/P.
                if (!strncmp(em->dataset, "/audit/fp32/", 12))
                    snprintf(paths[k], sizeof paths[k], "/audit/%s/%s", precision_name(prec),
                             em->dataset + 12);
                else
                    eval_group_at_precision(em->dataset, prec, paths[k], sizeof paths[k]);
                metrics[k] = (SweepMetric){names[k], paths[k], em->reduce};
            }
        }
    }
}

const SweepMetric *sweep_metric(int k) {
    resolve_task_metrics();
    return &metrics[k];
}

int sweep_metric_count(void) {
    resolve_task_metrics();
    return n_metrics;
}

// A run file opened read-only, or -1 when there is none (or HDF5 cannot open it).
static hid_t open_run(const char *run) {
    struct stat st;
    if (stat(run, &st) != 0) return -1;
    return H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
}

// A scalar attribute ("/train/onset@step") as a double, NaN when absent.
static double read_attribute(hid_t f, const char *path) {
    char object[256];
    const char *at = strchr(path, '@');
    snprintf(object, sizeof object, "%.*s", (int)(at - path), path);
    double v = NAN;
    if (!h5_exists(f, object)) return NAN;
    hid_t o = H5Oopen(f, object, H5P_DEFAULT);
    if (o < 0) return NAN;
    if (h5_read_attr_num(o, at + 1, H5T_NATIVE_DOUBLE, &v) != 0) v = NAN;
    H5Oclose(o);
    return v;
}

// n values (n > 0) reduced as the metric says, NaN entries skipped.
static double reduce(const double *x, long n, EvalReduce how) {
    if (how == EVAL_REDUCE_LAST) return x[n - 1];
    double acc = how == EVAL_REDUCE_MAX ? -INFINITY : how == EVAL_REDUCE_MIN ? INFINITY : 0;
    long count = 0;
    for (long j = 0; j < n; j++) {
        if (isnan(x[j])) continue;
        acc = how == EVAL_REDUCE_MAX   ? fmax(acc, x[j])
              : how == EVAL_REDUCE_MIN ? fmin(acc, x[j])
                                       : acc + x[j];
        count++;
    }
    return count == 0 ? NAN : how == EVAL_REDUCE_MEAN ? acc / count : acc;
}

// path with each "{...}" component replaced by the first member (name order) of the group before
// it; -1 when a group is absent or empty.
static int resolve_labels(hid_t f, const char *path, char *out, size_t cap) {
    size_t k = 0;
    out[0] = '\0';
    for (const char *p = path; *p;) {
        if (*p != '{') {
            if (k + 1 >= cap) return -1;
            out[k++] = *p++;
            out[k] = '\0';
            continue;
        }
        const char *close = strchr(p, '}');
        if (!close || k == 0) return -1;
        char group[256];
        snprintf(group, sizeof group, "%.*s", (int)(k - 1), out); // without the trailing '/'
        if (!h5_exists(f, group)) return -1;
        ssize_t len = H5Lget_name_by_idx(f, group, H5_INDEX_NAME, H5_ITER_INC, 0, out + k, cap - k,
                                         H5P_DEFAULT);
        if (len <= 0 || (size_t)len >= cap - k) return -1;
        k += (size_t)len;
        p = close + 1;
    }
    return 0;
}

// One metric of a run file: its dataset reduced as the metric says (or its attribute), NaN when
// absent.
static double read_metric(hid_t f, const SweepMetric *m) {
    char path[512];
    if (resolve_labels(f, m->dataset, path, sizeof path) != 0) return NAN;
    if (strchr(path, '@')) return read_attribute(f, path);
    double *x;
    long n = h5_read_f64_all(f, path, &x);
    double v = n == 0 && m->reduce == EVAL_REDUCE_SUM ? 0 : n > 0 ? reduce(x, n, m->reduce) : NAN;
    free(x);
    return v;
}

long metrics_run_diverged(const char *run) {
    char path[4400];
    snprintf(path, sizeof path, "%s.diverged", run);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    long step = -1;
    if (fscanf(fp, "%ld", &step) != 1 || step < 0) step = 0; // damaged: diverged all the same
    fclose(fp);
    return step;
}

int metrics_mark_diverged(const char *run, long step) {
    char path[4400], tmp[4500];
    snprintf(path, sizeof path, "%s.diverged", run);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) return -1;
    int ok = fprintf(fp, "%ld\n", step) > 0;
    ok &= fclose(fp) == 0;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

void metrics_read_run(const char *run, double *v) {
    for (int i = 0; i < sweep_metric_count(); i++) v[i] = NAN;
    if (metrics_run_diverged(run) >= 0) {
        v[METRIC_DIVERGED] = 1;
        return;
    }
    hid_t f = open_run(run);
    if (f < 0) return;
    for (int i = 0; i < sweep_metric_count(); i++)
        if (i != METRIC_DIVERGED) v[i] = read_metric(f, sweep_metric(i));
    v[METRIC_DIVERGED] = 0;
    H5Fclose(f);
}

double metrics_run_tokens(const char *run) {
    static const SweepMetric tokens = {"tokens", RUN_TRAIN_TOKENS, EVAL_REDUCE_LAST};
    hid_t f = open_run(run);
    if (f < 0) return 0.0;
    double v = read_metric(f, &tokens);
    H5Fclose(f);
    return isfinite(v) ? v : 0.0;
}

double metrics_run_seconds(const char *run) {
    static const SweepMetric seconds = {"seconds", RUN_TRAIN_SECONDS, EVAL_REDUCE_LAST};
    hid_t f = open_run(run);
    if (f < 0) return NAN;
    double v = read_metric(f, &seconds);
    H5Fclose(f);
    return v;
}

int metrics_run_is_complete(const char *run) {
    char *status = NULL;
    hid_t f = open_run(run);
    if (f >= 0) {
        status = h5_read_attr_str(f, schema_name(RUN_AT_STATUS));
        H5Fclose(f);
    }
    int complete = status && !strcmp(status, "complete");
    free(status);
    return complete;
}
