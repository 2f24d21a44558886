// A sweep's summary.h5: per cell, each metric's mean, standard deviation and 95 % t interval
// across seeds (and every seed's values); per cell against the baseline cell, the paired
// differences with a two-sided paired t-test (GSL); the recall onset as a time-to-event
// (/survival: Kaplan-Meier per cell, log-rank per pair of cells); and what the invocation
// trained. The names are schema.h's SWEEP_*.
#ifndef DINT_SWEEP_SUMMARY_H
#define DINT_SWEEP_SUMMARY_H

#include "check.h"
#include "grid.h"
#include "metrics.h"
#include "queue.h"

// One metric of one cell over its seeds (NaN values left out).
typedef struct {
    int n;                            // seeds with a value
    double mean, sd, ci_low, ci_high; // sd and the interval: NaN below 2 seeds
} MetricSummary;

typedef struct {
    int n_cells; // cells summarized: 0 when the summary file could not even be started
    MetricSummary cell[MAX_CELLS][SWEEP_MAX_METRICS];
} SweepSummary;

// Write DIR/summary.h5 from vals[job * sweep_metric_count() + metric] (job: cell * n_seeds + seed
// index) and tp, with each cell's statistics in *table. 0, or -1 with err set.
int summary_write(const char *dir, const Grid *g, const double *vals, const Throughput *tp,
                  SweepSummary *table, Error *err);

#endif
