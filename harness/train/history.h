// The training history of a run: growable curves, one entry per optimizer step, per validation
// and per diagnostics row, and the /train group of the run file that stores them with the
// onsets computed from them (onset.h). The run file (store/runfile.h) is below the training
// library and reaches this group only through history_train_group.
#ifndef DINT_TRAIN_HISTORY_H
#define DINT_TRAIN_HISTORY_H

#include "runfile.h"

typedef struct {
    long n, cap, n_layer;
    long *step, *tokens;
    double *loss, *lr, *grad_norm, *seconds;
    double *answer_loss;       // (n) mean NLL of the step's needle answer tokens; NaN without any
    double *answer_loss_multi; // (n) the same over answers of episodes with >= 2 needles
    float *lambda, *gamma;     // (n, n_layer)
    unsigned char *loss_spike; // (n) a loss spike (train_is_loss_spike, diagnostics.h)
    // Diagnostics every train.audit_every steps: (n_audit) steps and (n_audit, n_layer) values.
    long n_audit, cap_audit;
    long *audit_step;
    double *row_dev_max, *row_dev_mean, *grad_norm_layer;
    long n_val, cap_val;
    long *val_step;
    double *val_loss;
    double *recall_accuracy; // (n_val) held-out recall accuracy; NaN without a recall part
    double recall_threshold; // the accuracy that counts as recall (recall.threshold)
} History;

// One optimizer step's values, as history_push records them.
typedef struct {
    long step;
    long tokens; // tokens seen by the end of the step
    double loss, answer_loss, answer_loss_multi, lr, grad_norm;
    double seconds;              // training seconds by the end of the step
    const float *lambda, *gamma; // (n_layer) the step's lambda and gamma per layer
    int loss_spike;              // 1: the loss was a spike
} HistoryStep;

void history_init(History *h, int n_layer);
void history_free(History *h);
void history_push(History *h, const HistoryStep *s);
void history_push_audit(History *h, long step, const double *row_dev_max,
                        const double *row_dev_mean, const double *grad_norm_layer);
void history_push_val(History *h, long step, double val_loss);
// The held-out recall accuracy of the last evaluation pushed.
void history_set_recall(History *h, double accuracy);

// h as the /train group of a run file (RunState.train): runfile_write writes it and
// runfile_read_state reads it back into h. h must outlive the writes and reads.
RunTrainGroup history_train_group(History *h);

#endif
