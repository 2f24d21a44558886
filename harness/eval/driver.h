// The one evaluation driver: runs any EvalTask (tasks/eval_task.h) on a run file.
//
// It opens the run (eval_open: the results file locked, damaged files refused, the model and
// tokenizer loaded; the corpus when asked), lets the command build the task's state from it,
// compares the stored group's `parameters` with the task's (other parameters: refused in one
// line, or replaced when the task says so), reads finished cells back, scores the others with
// one progress line each (and an ETA), and writes the task's group into an in-memory copy of
// the results file that replaces it atomically (eval_begin / eval_commit) after every finished
// cell or once at the end. Errors are one line "dint <command>: error: ..." on stderr; the
// results file's path goes to stdout on success.
#ifndef DINT_EVAL_DRIVER_H
#define DINT_EVAL_DRIVER_H

#include "eval_io.h"
#include "eval_task.h"

typedef struct {
    const EvalTask *task;
    const char *run, *out, *data; // --run, --out (NULL: the run file), --data (NULL: the run's)
    int threads;
    int load_corpus; // load the run's text corpus (c->corpus) before prepare
    // Build the task's state from the opened run (defaults that depend on the run's config, the
    // task's inputs): 0 with *state set, or -1 with err set. arg: the command's options.
    int (*prepare)(void *arg, EvalContext *c, void **state, Error *err);
    void (*release)(void *arg); // NULL, or frees what prepare loaded into arg (after the run)
    void *arg;
    long max_cells; // > 0: score at most this many cells in this run (tests); 0: all
} EvalJob;

// Run the job: returns the exit status (0, or EXIT_USAGE after one error line).
int eval_drive(const EvalJob *job);

#endif
