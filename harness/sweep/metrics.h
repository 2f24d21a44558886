// What the sweep reads from its run files: the metrics a summary compares across seeds, the
// tokens a run has trained, and whether it is complete.
#ifndef DINT_SWEEP_METRICS_H
#define DINT_SWEEP_METRICS_H

#include "eval_task.h"
#include "grid.h"

// A metric: its name in the summary ("<name>_mean", ...; a column of per_seed), the run file's
// dataset (or scalar attribute) it reduces, and how (NaN entries skipped). A path component
// "{...}" (an evaluation's corpus or dataset label) stands for the group's first member in name
// order: the one label a run evaluated on.
typedef EvalMetric SweepMetric;

enum {
    METRIC_VAL_LOSS,
    METRIC_ROW_SUM_DEV_MAX,
    METRIC_NEGATIVE_MASS,
    METRIC_LOSS_SPIKES,
    METRIC_NEEDLE_ACCURACY,
    METRIC_RETRIEVAL_ONSET,
    METRIC_ONSET_CENSORED,
    METRIC_RECALL_ONSET_TOKENS,
    METRIC_RECALL_CENSORED,
    METRIC_RECALL_HELDOUT,
    METRIC_RECALL_ACCURACY,
    METRIC_RECALL_KEYED,
    METRIC_PARAM_COUNT,
    METRIC_TRAIN_ROW_SUM_DEV_MAX,
    METRIC_GRAD_NORM_MAX,
    METRIC_RECALL_HELDOUT_MAX,
    METRIC_LAMBDA_MIN,
    METRIC_LAMBDA_MAX,
    METRIC_DIVERGED,
    N_KNOWN_METRICS // then the metrics of tasks that have no row here, in registry order
};
#define SWEEP_MAX_METRICS 96

// Metric k in summary order (the columns of per_seed and /cells@metrics): the run's own (the
// training curves and onsets), or an evaluation task's, as the task declares it (its
// EvalTask.metrics: the task's file names its outputs once).
const SweepMetric *sweep_metric(int k);
// How many metrics a summary has: the rows of harness/sweep/metrics.c, then the metrics of
// evaluation tasks that have no row there (a new task's, at the end, in registry order).
int sweep_metric_count(void);
// After those, for each of g's reduced precisions ([eval] precisions) in order, the metrics of the
// tasks g evaluates (and of the audit when g audits) at that precision, as
// "<metric>_at_<precision>" reading the precision's group (/eval/precision/P/..., /audit/P/...).
// Without precisions, the metrics above alone. Call once the grid is loaded, before any metric is
// read.
void sweep_metrics_use_grid(const Grid *g);

// A run that diverged in training (NaN/Inf loss or gradient) is an outcome of the sweep, not a
// failure: the sweep writes the step to "<run>.diverged" beside the run file (which keeps its last
// good checkpoint), never trains it again, and its metrics are NaN except "diverged" (1; 0 for
// every other run). The step, or -1 for a run that has not diverged.
long metrics_run_diverged(const char *run);
// Record that run diverged at step (the marker above, written whole or not at all). 0 or -1.
int metrics_mark_diverged(const char *run, long step);

// Metric values of one run file, v[sweep_metric_count()] (NaN where the run lacks the group).
void metrics_read_run(const char *run, double *v);
// Tokens a run file has trained so far (0 without one).
double metrics_run_tokens(const char *run);
// Wall seconds its training took (the last /train/seconds, resumes included; NaN without one):
// not a metric, since it is not a result (a summary keeps it apart, as /cells/<cell>/seconds).
double metrics_run_seconds(const char *run);
// Whether the run file exists and its status is "complete".
int metrics_run_is_complete(const char *run);

#endif
