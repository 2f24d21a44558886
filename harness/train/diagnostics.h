// Training diagnostics: loss spikes against the running median and spread, which lines of them
// a terminal gets, and the audit rows recorded every train.audit_every steps (attention row-sum
// deviation, per-layer gradient norms).
#ifndef DINT_DIAGNOSTICS_H
#define DINT_DIAGNOSTICS_H

#include "config.h"
#include "model.h"
#include "history.h"
#include "trainer.h"

// What a step's loss is compared with: the last spike_window losses in h.
typedef struct {
    double median;
    double spread;    // robust std: max(1.4826 MAD, (99th percentile - median) / 2.326)
    double threshold; // max(spike_factor x median, median + spike_sigmas x spread)
} LossSpikeLimit;

// The limit from the last spike_window losses in h: 0, or -1 while h holds fewer than 10.
int train_loss_spike_limit(const History *h, const TrainConfig *t, LossSpikeLimit *out);

// 1 when loss is above the limit of the last spike_window losses in h (once 10 losses exist).
int train_is_loss_spike(const History *h, double loss, const TrainConfig *t);

// Spikes flagged in h (/train/loss_spike): their count, the steps of the first and the last
// (-1 when none).
long train_count_loss_spikes(const History *h, long *first_step, long *last_step);

// Which spikes get a terminal line: each of the first `first`, then at most one per `every`
// steps; a line after held spikes says how many were held since which step.
typedef struct {
    int first;
    long every;
    long lines;      // printed so far
    long last_line;  // step of the last printed line
    long held;       // spikes not printed since that line
    long held_since; // step of the first of them
} LossSpikeLines;

void loss_spike_lines_init(LossSpikeLines *l, int first, long every);

// A spike at step: 1 to print its line now, with *held spikes not printed since step
// *held_since before it (*held 0: none); 0 to hold it.
int loss_spike_lines_take(LossSpikeLines *l, long step, long *held, long *held_since);

// Gradient L2 norm of each layer's tensors (names "layers.<l>."), out (n_layer), undoing the
// clipping that multiplied the gradients by clip_scale.
void train_layer_grad_norms(const Model *m, float clip_scale, double *out);

// Append the audit row of this step to h: from the last micro-batch (B, T) of the step, the
// sampled attention rows (recomputed from its q and k) and the unclipped gradient norms. With a
// share (or NULL), on every rank together: the rows come from the rank that computed the last of
// the grad_accum micro-batches.
void train_record_audit(History *h, const Model *m, long step, int B, int T, float clip_scale,
                        int grad_accum, const TrainShare *share);

#endif
