// Every job of a sweep's grid, run in one of three ways: in turn in this process; in a pool of
// child processes on one machine (--jobs N); or through a dynamic work queue over MPI ranks
// (harness/dist/dist.h: rank 0 serves it and runs jobs too). Each run is its own process writing
// its own file in every case.
#ifndef DINT_SWEEP_QUEUE_H
#define DINT_SWEEP_QUEUE_H

#include "check.h"
#include "grid.h"
#include "runner.h"

// What one invocation trained, for the summary: runs at once, threads each, wall clock, and the
// training tokens it added (each run's last /train/tokens after, less before).
typedef struct {
    int processes, threads;
    double wall_seconds, tokens;
} Throughput;

// How the jobs will run: tp->processes at once with tp->threads each. Under MPI, one per rank
// with this machine's share of the cores; else jobs_asked (0: one per core for small models,
// else 1) at most one per job, the cores shared among them.
void sweep_plan(const Grid *g, int jobs_asked, Throughput *tp);

// Run every job as tp (from sweep_plan) says, then read every run's metrics into
// vals[job * sweep_metric_count() + metric] and fill tp's wall clock and tokens. On MPI ranks other
// than 0 only the jobs are run (vals and tp left as they are). 0, or -1 with err set.
int sweep_run_all(const Grid *g, const char *out, const SweepReporter *r, double *vals,
                  Throughput *tp, Error *err);

#endif
