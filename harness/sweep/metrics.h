// What the sweep reads from its run files: the metrics a summary compares across seeds, the
// tokens a run has trained, and whether it is complete.
#ifndef DINT_SWEEP_METRICS_H
#define DINT_SWEEP_METRICS_H

// How a metric reduces its run-file dataset (NaN entries skipped).
typedef enum {
    REDUCE_LAST, // the last entry (NaN when the dataset is empty)
    REDUCE_MAX,
    REDUCE_MEAN,
    REDUCE_SUM // 0 when the dataset is empty
} Reduction;

typedef struct {
    const char *name;    // in the summary: "<name>_mean", ...; a column of per_seed
    const char *dataset; // where it comes from in each run file (a dataset, or a scalar attribute)
    Reduction reduce;
} SweepMetric;

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
    N_METRICS
};

// The metrics in summary order (the columns of per_seed and /cells@metrics).
extern const SweepMetric SWEEP_METRICS[N_METRICS];

// Metric values of one run file, v[N_METRICS] (NaN where the run lacks the group).
void metrics_read_run(const char *run, double *v);
// Tokens a run file has trained so far (0 without one).
double metrics_run_tokens(const char *run);
// Whether the run file exists and its status is "complete".
int metrics_run_is_complete(const char *run);

#endif
