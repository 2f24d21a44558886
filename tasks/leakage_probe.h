// Leakage probe (docs/attention.md §5, G in a decoder): change one token and check, bit by
// bit, whether any logit before it moved. A causal model's earlier outputs cannot see it; DINT
// with g_mode full is not causal and the probe flags it.
#ifndef DINT_TASKS_LEAKAGE_PROBE_H
#define DINT_TASKS_LEAKAGE_PROBE_H

#include "model.h"

// Forward tokens (1, T), replace tokens[t] with (tokens[t] + 1) % vocab, forward again, compare
// the logits bit by bit. Overwrites the model's activations (B = 1, T). Returns -1 (out
// untouched) when T < 1, t outside [0, T), vocab < 2 or a token is outside the vocabulary.
typedef struct {
    int changed_before_t;       // 1: a logit at a position < t differs: not causal
    int changed_from_t;         // 1: a logit at a position >= t differs (the probe had an effect)
    int first_changed;          // lowest position whose logits differ, -1 if none
    double max_abs_diff_before; // largest |logit difference| at positions < t
    int replacement;            // the token put at t
} AuditLeakage;
int audit_leakage_probe(Model *m, const int *tokens, int T, int t, AuditLeakage *out);
// The same, reporting only changed_before_t (1 = not causal, e.g. DINT g_mode full).
int audit_leakage(Model *m, const int *tokens, int T, int t, int *changed_before_t);

#endif
