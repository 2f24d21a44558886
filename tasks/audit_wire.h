// An audit sample (AuditSample, audit.h) as a flat array of doubles and back: the form in which
// MPI ranks send their samples to rank 0, which merges them in sample order (bit for bit the
// statistics of one process). Every number of a sample is exact as a double.
//
// Layout: a header (n_layer, n_heads, rows, want[AUDIT_N_PREC]), then every number in one fixed
// order (tokens; per wanted precision the rows and counts; logits; hidden states; moments;
// lambda and gamma), walked the same way by export and import.
#ifndef DINT_TASKS_AUDIT_WIRE_H
#define DINT_TASKS_AUDIT_WIRE_H

#include "audit.h"

// x as doubles (out NULL: just their count), and back: audit_sample_import makes x from what
// export wrote (n values); -1 when they are not a sample.
long audit_sample_export(const AuditSample *x, double *out);
int audit_sample_import(AuditSample *x, const double *in, long n);

#endif
