#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    double acc = how == EVAL_REDUCE_MAX ? -INFINITY : 0;
    long count = 0;
    for (long j = 0; j < n; j++) {
        if (isnan(x[j])) continue;
        acc = how == EVAL_REDUCE_MAX ? fmax(acc, x[j]) : acc + x[j];
        count++;
    }
    return count == 0 ? NAN : how == EVAL_REDUCE_MEAN ? acc / count : acc;
}

// One metric of a run file: its dataset reduced as the metric says (or its attribute), NaN when
// absent.
static double read_metric(hid_t f, const SweepMetric *m) {
    if (strchr(m->dataset, '@')) return read_attribute(f, m->dataset);
    double *x;
    long n = h5_read_f64_all(f, m->dataset, &x);
    double v = n == 0 && m->reduce == EVAL_REDUCE_SUM ? 0 : n > 0 ? reduce(x, n, m->reduce) : NAN;
    free(x);
    return v;
}

void metrics_read_run(const char *run, double *v) {
    for (int i = 0; i < sweep_metric_count(); i++) v[i] = NAN;
    hid_t f = open_run(run);
    if (f < 0) return;
    for (int i = 0; i < sweep_metric_count(); i++) v[i] = read_metric(f, sweep_metric(i));
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
