// Long-context perplexity as an EvalTask: one cell per test document (in corpus order, up to
// max_docs), results in /eval/ppl/<corpus label>. Finished documents are a prefix.
#ifndef DINT_TASKS_PPL_EVAL_H
#define DINT_TASKS_PPL_EVAL_H

#include "eval_task.h"
#include "ppl.h"

#define PPL_TASK_VERSION 1

typedef struct {
    const char *label;        // corpus label: the group is /eval/ppl/<label>
    int n_docs;               // test documents to score (the cells)
    const int *const *tokens; // (n_docs) each document's tokens
    const long *n_tokens;     // (n_docs)
    const char *const *names; // (n_docs) document names, for the progress line
    const int *token_bytes;   // (vocabulary) UTF-8 bytes of each token's text
    int max_docs;             // the --max-docs option (0: all), recorded in the parameters
    int train_seq_len;        // the run's training length, recorded as an attribute
} PplInputs;

extern const EvalTask ppl_task;

// The inputs' arrays must outlive the state. Returns 0 (o was checked by the caller).
int ppl_task_make(void **st, const PplOptions *o, const PplInputs *in, Error *err);

#endif
