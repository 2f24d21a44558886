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
    Precision precision; // --precision: the attention's emulated precision (fp32: none)
    void *opts;     // the task's options struct, parsed (task->prepare builds the state from it)
    long max_cells; // > 0: score at most this many cells in this run (tests); 0: all
} EvalJob;

// An evaluation at a reduced attention precision (--precision P, P not fp32) keeps its results
// beside the fp32 ones: the task's group moved under /eval/precision/P ("/eval/ppl/sotu" ->
// "/eval/precision/q8/ppl/sotu"), with the same layout. A group not under /eval/ is not moved
// (the audit, whose own --precision lists the formats it measures maps in, never sets one).
#define EVAL_PRECISION_ROOT "/eval/precision"
void eval_group_at_precision(const char *group, Precision p, char *out, size_t cap);
// The schema of those groups: the two groups above them, then every entry of every task's
// outputs under /eval/, moved, its constant PRECISION_ and the entry's own. The count; *entries
// (malloc'ed, with their strings) is freed by eval_precision_schema_free.
int eval_precision_schema(SchemaEntry **entries);
void eval_precision_schema_free(SchemaEntry *entries, int n);

// Run the job; the results file's path goes to stdout. 0, or -1 with err set (err->msg empty:
// the error was reported already, as under MPI, where each failing rank says its own line).
int eval_drive(const EvalJob *job, Error *err);

#endif
