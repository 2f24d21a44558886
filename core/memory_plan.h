// Memory planned before it is allocated: each command computes what it needs from its shapes
// (model, batch, activations, result arrays) and compares it with what this process may use, so
// an oversized request is one line before any work, never an "out of memory" abort mid-way.
#ifndef DINT_MEMORY_PLAN_H
#define DINT_MEMORY_PLAN_H

#include <stddef.h>

#include "check.h"
#include "config.h"

// --memory-limit SIZE (bytes, or with a K, M, G or T suffix, powers of 1024): 0, or -1 when the
// text is not a positive size.
int memory_parse_size(const char *text, double *bytes);
// What the user allows (0: no limit of the user's; the machine's figure is used).
void memory_set_limit(double bytes);
// Bytes this process may still use: the smallest of --memory-limit, MemAvailable, the free part
// of its cgroup's limit (v2 memory.max or v1 memory.limit_in_bytes) and of RLIMIT_AS. source
// names the figure that decided.
double memory_available(char *source, size_t cap);
// 0 when `need` bytes fit; otherwise -1 with one line: what is needed and for what, what is
// available and from where, and which setting to lower (`lower`).
int memory_check(double need, const char *what, const char *lower, Error *err);

// Training cfg: the model with its gradients, AdamW moments and a micro-batch's activations, the
// in-memory run file (weights and both moments, twice while it is written) and 64 MB for the rest.
int memory_check_training(const RunConfig *cfg, int threads, Error *err);
// Evaluating (forward only) a model of c on (B, T) batches, plus `extra` bytes of the task's own.
int memory_check_model(const ModelConfig *c, int B, int T, double extra, const char *what,
                       const char *lower, int threads, Error *err);
// An evaluation of a model of c on one sequence at a time, at the longest of `lengths`.
int memory_check_lengths(const ModelConfig *c, const char *task, const int *lengths, int n,
                         Error *err);

#endif
