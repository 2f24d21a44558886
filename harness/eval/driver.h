// The one evaluation driver: runs any EvalTask (tasks/eval_task.h) on a run file.
//
// It opens the run (eval_open: the results file locked, damaged files refused, the model and
// tokenizer loaded; the corpus when asked), lets the task build its state from it (EvalInputs),
// compares the stored group's `parameters` with the task's (other parameters: refused in one
// line, or replaced when the task says so), reads finished cells back, scores the others with
// one progress line each (and an ETA), and writes the task's group into an in-memory copy of
// the results file that replaces it atomically (eval_begin / eval_commit) after every finished
// cell or once at the end.
#ifndef DINT_EVAL_DRIVER_H
#define DINT_EVAL_DRIVER_H

#include "eval_io.h"
#include "eval_task.h"

typedef struct {
    const EvalTask *task;
    const char *run, *out, *data; // --run, --out (NULL: the run file), --data (NULL: the run's)
    int threads;
    void *opts;     // the task's options struct, parsed (task->prepare builds the state from it)
    long max_cells; // > 0: score at most this many cells in this run (tests); 0: all
} EvalJob;

// Run the job; the results file's path goes to stdout. 0, or -1 with err set (err->msg empty:
// the error was reported already, as under MPI, where each failing rank says its own line).
int eval_drive(const EvalJob *job, Error *err);

#endif
