// The needle evaluation as an EvalTask: the grid of needle configurations (N:R) x context
// lengths x depths, `samples` samples per cell, results in /eval/needle.
#ifndef DINT_TASKS_NEEDLE_EVAL_H
#define DINT_TASKS_NEEDLE_EVAL_H

#include "eval_task.h"
#include "tokenizer.h"

#define NEEDLE_GRID_MAX 32 // entries per axis

typedef struct {
    int n_cfg, n_len, n_depth, samples;
    int N[NEEDLE_GRID_MAX], R[NEEDLE_GRID_MAX], len[NEEDLE_GRID_MAX];
    double depth[NEEDLE_GRID_MAX];
    uint64_t seed;
} NeedleGridSpec;

extern const EvalTask needle_task;

// The task's state for a grid on haystack tokens hay (n_hay, the test split) for a model of
// n_layer layers; every cell's sample is drawn once first, so a bad cell fails at once (-1, err).
// tok and hay must outlive the state.
int needle_task_make(void **st, const NeedleGridSpec *spec, Tokenizer *tok, const int *hay,
                     long n_hay, int n_layer, Error *err);

#endif
