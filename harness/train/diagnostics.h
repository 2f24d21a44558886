// Training diagnostics: loss spikes against the running median, and the audit rows recorded
// every train.audit_every steps (attention row-sum deviation, per-layer gradient norms).
#ifndef DINT_DIAGNOSTICS_H
#define DINT_DIAGNOSTICS_H

#include "config.h"
#include "model.h"
#include "runfile.h"
#include "trainer.h"

// 1 when loss is above spike_factor times the median of the last spike_window losses in h
// (once 10 losses exist).
int train_is_loss_spike(const History *h, double loss, const TrainConfig *t);

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
