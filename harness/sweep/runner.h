// One job of a sweep: its run trained (or resumed) by running this same `dint` binary, then
// evaluated and audited as the grid says, each command's output appended to the run's log.
// Resume rules: a complete run file is not trained again (its evaluations are still run, and
// skip the cells they already hold); an incomplete one is resumed; a missing one is started.
#ifndef DINT_SWEEP_RUNNER_H
#define DINT_SWEEP_RUNNER_H

#include <stddef.h>
#include <sys/types.h>

#include "check.h"
#include "grid.h"

// What a sweep tells its caller as it goes (every callback optional): job is 0-based.
typedef struct {
    void *ctx;
    // complete: the run is trained already (only its evaluations are checked)
    void (*run_started)(void *ctx, int job, int total, const char *cell, int seed, int complete);
    void (*runs_done)(void *ctx, int done, int total, double elapsed_s);
    // a command of a run failed: log holds its output (the command's one-line error last)
    void (*command_failed)(void *ctx, const char *log);
    // in a process of its own (a child, or an MPI worker): why its job failed
    void (*job_failed)(void *ctx, const char *msg);
} SweepReporter;

// The run file and log of one job of the grid (each of n bytes).
void sweep_run_paths(const Grid *g, const char *out, int job, char *run, char *log, size_t n);

// Job `job` of the grid, announced to r: trained, or resumed when its run file exists, unless
// complete; then evaluated and audited as the grid says. extra: options added to every command
// (" --threads N" when runs share the machine, else ""). *was_complete (may be NULL): whether the
// run was complete before. 0, or -1 with err set.
int sweep_job(const Grid *g, const char *out, int job, const char *extra, const SweepReporter *r,
              int *was_complete, Error *err);

// sweep_job in a process that runs jobs for others (a child, an MPI worker): 0 when done, else 1
// with the reason told to r->job_failed.
int sweep_job_as_worker(const Grid *g, const char *out, int job, const char *extra,
                        const SweepReporter *r);
// Fork a child that runs sweep_job_as_worker and exits with its code; it gets SIGTERM when this
// process dies. Its pid, or -1.
pid_t sweep_job_start(const Grid *g, const char *out, int job, const char *extra,
                      const SweepReporter *r);

#endif
