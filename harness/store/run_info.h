// `dint info` on a run file: its status and provenance, model, training progress and losses,
// retrieval and recall onsets, data, the leakage probe and which evaluations it holds, and its
// config on one line.
#ifndef DINT_RUN_INFO_H
#define DINT_RUN_INFO_H

#include "check.h"

// Print a human-readable summary of a run file to stdout.
int runfile_info(const char *path, Error *err);

#endif
