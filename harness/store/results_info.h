// `dint info` on a results file: the file that `dint eval TASK --out FILE` and `dint audit --out
// FILE` write (the root attribute `run` and the task groups, no run-file schema; see
// results/README.md). It prints which run was evaluated, each evaluation's parameters and its
// main numbers.
#ifndef DINT_RESULTS_INFO_H
#define DINT_RESULTS_INFO_H

#include "check.h"

// Print the summary of the results file `path` to stdout and return 0. Returns 1, printing
// nothing, when path is not a results file (absent, not a regular file, a run file, or without
// the root attribute `run`): the caller reads it as a run file. -1 with err set when the file
// cannot be read (damaged).
int results_info(const char *path, Error *err);

#endif
