// The synthetic keyed-recall evaluation as an EvalTask: a grid of context lengths x pair counts,
// `samples` contexts per cell, results in /eval/recall.
#ifndef DINT_TASKS_RECALL_EVAL_H
#define DINT_TASKS_RECALL_EVAL_H

#include "eval_task.h"
#include "recall.h"

#define RECALL_TASK_VERSION 1
#define RECALL_GRID_MAX     32 // entries per axis

typedef struct {
    int n_len, n_pairs;
    int len[RECALL_GRID_MAX], pairs[RECALL_GRID_MAX];
    int queries; // 0: every pair of the cell
    int key_len, noise, distractors, symbols;
    int samples;
    int batch; // contexts per forward
    uint64_t seed;
} RecallGridSpec;

extern const EvalTask recall_task;

// The task's state; every cell's spec is checked first, so a bad cell fails at once (-1, err).
int recall_task_make(void **st, const RecallGridSpec *spec, Error *err);

#endif
