// In-context learning as an EvalTask: one cell per shot count k (both orderings: random and
// class-alternating), grown until the context is full; results in /eval/icl/<dataset label>.
#ifndef DINT_TASKS_ICL_EVAL_H
#define DINT_TASKS_ICL_EVAL_H

#include "eval_task.h"
#include "icl.h"

#define ICL_TASK_VERSION    1
#define ICL_MAX_SHOT_COUNTS 32

typedef struct {
    const char *dataset;   // the --dataset as given ("synthetic", a name or a path)
    const IclDataset *set; // the loaded labelled set; NULL for the synthetic family
    int classes;           // classes of the synthetic family
    int n_shots;           // shot counts given; 0: 0 (1 synthetic), 1, 2, 4, ... while they fit
    const int *shots;      // (n_shots)
    int episodes, orders, context;
    uint64_t seed;
} IclTaskSpec;

extern const EvalTask icl_task;

// Checks the shot counts (or finds the default ones) for this tokenizer; -1 with err set.
// spec->set and tok must outlive the state.
int icl_task_make(void **st, const IclTaskSpec *spec, Tokenizer *tok, Error *err);

#endif
