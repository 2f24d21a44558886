// The audit as an EvalTask: one cell per window of the test split (evenly spaced), every
// requested precision accumulated from the same forwards, then the leakage probe; results in
// /audit, written once at the end. Stored results with other parameters are replaced. Under MPI
// the samples are dealt over the ranks and merged on rank 0 in sample order (bit for bit).
#ifndef DINT_TASKS_AUDIT_EVAL_H
#define DINT_TASKS_AUDIT_EVAL_H

#include "audit.h"
#include "eval_task.h"

#define AUDIT_TASK_VERSION 1

typedef struct {
    int samples, seq;
    int want[AUDIT_N_PREC]; // precisions to audit
    const char *precisions; // the --precision text as given, recorded in the parameters
    const int *text;        // (n_text) test-split tokens
    long n_text;
} AuditTaskSpec;

extern const EvalTask audit_task;

// -1 with err set when the text is shorter than seq + 1. text must outlive the state.
int audit_task_make(void **st, const AuditTaskSpec *spec, const Model *m, Error *err);

#endif
