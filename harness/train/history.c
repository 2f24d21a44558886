#include "history.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "onset.h"
#include "schema.h"
#include "variants.h"

// ---- the container ----

static void *grow(void *p, long cap, size_t elem) {
    void *q = realloc(p, (size_t)cap * elem);
    CHECK(q != NULL, "out of memory growing the training history");
    return q;
}

void history_init(History *h, int n_layer) {
    memset(h, 0, sizeof *h);
    h->n_layer = n_layer;
}

void history_free(History *h) {
    free(h->step);
    free(h->tokens);
    free(h->loss);
    free(h->answer_loss);
    free(h->answer_loss_multi);
    free(h->lr);
    free(h->grad_norm);
    free(h->seconds);
    free(h->lambda);
    free(h->gamma);
    free(h->val_step);
    free(h->val_loss);
    free(h->recall_accuracy);
    free(h->loss_spike);
    free(h->audit_step);
    free(h->row_dev_max);
    free(h->row_dev_mean);
    free(h->grad_norm_layer);
    memset(h, 0, sizeof *h);
}

static void history_reserve(History *h, long n) {
    if (n <= h->cap) return;
    long cap = h->cap ? h->cap : 256;
    while (cap < n) cap *= 2;
    h->step = grow(h->step, cap, sizeof(long));
    h->tokens = grow(h->tokens, cap, sizeof(long));
    h->loss = grow(h->loss, cap, sizeof(double));
    h->answer_loss = grow(h->answer_loss, cap, sizeof(double));
    h->answer_loss_multi = grow(h->answer_loss_multi, cap, sizeof(double));
    h->lr = grow(h->lr, cap, sizeof(double));
    h->grad_norm = grow(h->grad_norm, cap, sizeof(double));
    h->seconds = grow(h->seconds, cap, sizeof(double));
    h->lambda = grow(h->lambda, cap * (h->n_layer ? h->n_layer : 1), sizeof(float));
    h->gamma = grow(h->gamma, cap * (h->n_layer ? h->n_layer : 1), sizeof(float));
    h->loss_spike = grow(h->loss_spike, cap, 1);
    h->cap = cap;
}

static void history_reserve_val(History *h, long n) {
    if (n <= h->cap_val) return;
    long cap = h->cap_val ? h->cap_val : 64;
    while (cap < n) cap *= 2;
    h->val_step = grow(h->val_step, cap, sizeof(long));
    h->val_loss = grow(h->val_loss, cap, sizeof(double));
    h->recall_accuracy = grow(h->recall_accuracy, cap, sizeof(double));
    h->cap_val = cap;
}

static void history_reserve_audit(History *h, long n) {
    if (n <= h->cap_audit) return;
    long cap = h->cap_audit ? h->cap_audit : 64, L = h->n_layer ? h->n_layer : 1;
    while (cap < n) cap *= 2;
    h->audit_step = grow(h->audit_step, cap, sizeof(long));
    h->row_dev_max = grow(h->row_dev_max, cap * L, sizeof(double));
    h->row_dev_mean = grow(h->row_dev_mean, cap * L, sizeof(double));
    h->grad_norm_layer = grow(h->grad_norm_layer, cap * L, sizeof(double));
    h->cap_audit = cap;
}

void history_push_audit(History *h, long step, const double *row_dev_max,
                        const double *row_dev_mean, const double *grad_norm_layer) {
    history_reserve_audit(h, h->n_audit + 1);
    long i = h->n_audit++, L = h->n_layer;
    h->audit_step[i] = step;
    memcpy(h->row_dev_max + i * L, row_dev_max, sizeof(double) * (size_t)L);
    memcpy(h->row_dev_mean + i * L, row_dev_mean, sizeof(double) * (size_t)L);
    memcpy(h->grad_norm_layer + i * L, grad_norm_layer, sizeof(double) * (size_t)L);
}

void history_push(History *h, const HistoryStep *s) {
    history_reserve(h, h->n + 1);
    long i = h->n++;
    h->step[i] = s->step;
    h->loss[i] = s->loss;
    h->answer_loss[i] = s->answer_loss;
    h->answer_loss_multi[i] = s->answer_loss_multi;
    h->lr[i] = s->lr;
    h->grad_norm[i] = s->grad_norm;
    h->tokens[i] = s->tokens;
    h->seconds[i] = s->seconds;
    memcpy(h->lambda + i * h->n_layer, s->lambda, sizeof(float) * (size_t)h->n_layer);
    memcpy(h->gamma + i * h->n_layer, s->gamma, sizeof(float) * (size_t)h->n_layer);
    h->loss_spike[i] = (unsigned char)s->loss_spike;
}

void history_push_val(History *h, long step, double val_loss) {
    history_reserve_val(h, h->n_val + 1);
    h->val_step[h->n_val] = step;
    h->val_loss[h->n_val] = val_loss;
    h->recall_accuracy[h->n_val] = NAN;
    h->n_val++;
}

void history_set_recall(History *h, double accuracy) {
    if (h->n_val > 0) h->recall_accuracy[h->n_val - 1] = accuracy;
}

// ---- the /train group of a run file ----

// /train/onset: the retrieval onset of the answer loss on N >= 2 episodes, recomputed from the
// history at every write, so it always matches the curve stored beside it (on resume too).
static int write_onset(hid_t g_train, const History *h) {
    double *smoothed = xmalloc(sizeof(double) * (size_t)(h->n > 0 ? h->n : 1));
    RetrievalOnset o = retrieval_onset(h->step, h->answer_loss_multi, h->n, ONSET_THRESHOLD,
                                       ONSET_WINDOW, smoothed);
    hid_t g = h5_group(g_train, RUN_TRAIN_ONSET);
    int rc = g < 0;
    if (g >= 0) {
        rc |= h5_attr_i64(g, schema_name(RUN_TRAIN_ONSET_AT_STEP), o.step);
        rc |= h5_attr_i64(g, schema_name(RUN_TRAIN_ONSET_AT_CENSORED), o.censored);
        rc |= h5_attr_f64(g, schema_name(RUN_TRAIN_ONSET_AT_THRESHOLD), o.threshold);
        rc |= h5_attr_i64(g, schema_name(RUN_TRAIN_ONSET_AT_WINDOW), o.window);
        rc |= h5_attr_i64(g, schema_name(RUN_TRAIN_ONSET_AT_MIN_VALUES), o.min_values);
        rc |= h5_attr_str(g, schema_name(RUN_TRAIN_ONSET_AT_MEANING),
                          "the first step at which the mean of answer_loss_multi over the last "
                          "window steps (NaN skipped; at least min_values of them) is <= "
                          "threshold; censored = 1: never, step = the last step");
        rc |= h5_write_f64(g, RUN_TRAIN_ONSET_SMOOTHED, (hsize_t)h->n, smoothed);
        H5Gclose(g);
    }
    free(smoothed);
    return rc;
}

// /train/recall_accuracy and /train/recall_onset (runs whose mixture has a recall part): the
// first evaluation at which the held-out recall accuracy reached the threshold, recomputed from
// the curve at every write like the retrieval onset.
static int write_recall_onset(hid_t g_train, const History *h) {
    int any = 0;
    for (long i = 0; i < h->n_val && !any; i++) any = isfinite(h->recall_accuracy[i]);
    if (!any) return 0;
    int rc =
        h5_write_f64(g_train, RUN_TRAIN_RECALL_ACCURACY, (hsize_t)h->n_val, h->recall_accuracy);
    RecallOnset o = recall_onset(h->val_step, h->recall_accuracy, h->n_val, h->recall_threshold,
                                 h->step, h->tokens, h->seconds, h->n);
    hid_t g = h5_group(g_train, RUN_TRAIN_RECALL_ONSET);
    rc |= g < 0;
    if (g >= 0) {
        rc |= h5_attr_i64(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_STEP), o.step);
        rc |= h5_attr_i64(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_CENSORED), o.censored);
        rc |= h5_attr_i64(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_TOKENS), o.tokens);
        rc |= h5_attr_f64(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_SECONDS), o.seconds);
        rc |= h5_attr_f64(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_THRESHOLD), o.threshold);
        rc |= h5_attr_f64(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_ACCURACY), o.accuracy);
        rc |= h5_attr_str(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_MEANING),
                          "the first evaluation step at which the held-out recall accuracy "
                          "(/train/recall_accuracy) is >= threshold, with the tokens and seconds "
                          "of training by then; censored = 1: never, step = the last evaluation");
        H5Gclose(g);
    }
    return rc;
}

// The /train group: the curves, the diagnostics rows and the onsets computed from them.
static int write_train(hid_t f, const RunState *st) {
    const Model *m = st->model;
    const History *h = st->train.history;
    int L = m->cfg.n_layer;
    int rc = 0;
    hid_t g_train = h5_group(f, RUN_TRAIN);
    rc |= h5_attr_i64(g_train, schema_name(RUN_TRAIN_AT_STEPS_DONE), h->n);
    rc |= h5_attr_i64(g_train, schema_name(RUN_TRAIN_AT_STEPS_PLANNED), st->cfg.train.steps);
    rc |= h5_write_i64(g_train, RUN_TRAIN_STEP, (hsize_t)h->n, h->step);
    rc |= h5_write_f64(g_train, RUN_TRAIN_LOSS, (hsize_t)h->n, h->loss);
    rc |= h5_write_f64(g_train, RUN_TRAIN_ANSWER_LOSS, (hsize_t)h->n, h->answer_loss);
    rc |= h5_write_f64(g_train, RUN_TRAIN_ANSWER_LOSS_MULTI, (hsize_t)h->n, h->answer_loss_multi);
    rc |= h5_write_f64(g_train, RUN_TRAIN_LR, (hsize_t)h->n, h->lr);
    rc |= h5_write_f64(g_train, RUN_TRAIN_GRAD_NORM, (hsize_t)h->n, h->grad_norm);
    rc |= h5_write_i64(g_train, RUN_TRAIN_TOKENS, (hsize_t)h->n, h->tokens);
    rc |= h5_write_f64(g_train, RUN_TRAIN_SECONDS, (hsize_t)h->n, h->seconds);
    hsize_t dims[2] = {(hsize_t)h->n, (hsize_t)L};
    const VariantSpec *vs = variant_spec(m->cfg.variant);
    if (vs->n_maps == 2) rc |= h5_write_f32(g_train, RUN_TRAIN_LAMBDA, 2, dims, h->lambda);
    if (vs->global_term) rc |= h5_write_f32(g_train, RUN_TRAIN_GAMMA, 2, dims, h->gamma);
    hsize_t ns = (hsize_t)h->n, da[2] = {(hsize_t)h->n_audit, (hsize_t)L};
    rc |= h5_write(g_train, RUN_TRAIN_LOSS_SPIKE, H5T_NATIVE_UCHAR, H5T_STD_U8LE, 1, &ns,
                   h->loss_spike);
    rc |= h5_write_i64(g_train, RUN_TRAIN_AUDIT_STEP, (hsize_t)h->n_audit, h->audit_step);
    rc |= h5_write(g_train, RUN_TRAIN_ROW_SUM_DEV_MAX, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, da,
                   h->row_dev_max);
    rc |= h5_write(g_train, RUN_TRAIN_ROW_SUM_DEV_MEAN, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, da,
                   h->row_dev_mean);
    rc |= h5_write(g_train, RUN_TRAIN_GRAD_NORM_LAYER, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, da,
                   h->grad_norm_layer);
    rc |= h5_write_i64(g_train, RUN_TRAIN_VAL_STEP, (hsize_t)h->n_val, h->val_step);
    rc |= h5_write_f64(g_train, RUN_TRAIN_VAL_LOSS, (hsize_t)h->n_val, h->val_loss);
    rc |= write_onset(g_train, h);
    rc |= write_recall_onset(g_train, h);
    H5Gclose(g_train);

    return rc;
}

// The /train group of a run file into the history of st; on failure, what could not be read in bad.
static int read_train(hid_t f, const RunState *st, char *bad, size_t cap) {
    History *h = st->train.history;
    const Model *m = st->model;
    int rc = 0;
    long n = h5_len(f, RUN_TRAIN_STEP), nv = h5_len(f, RUN_TRAIN_VAL_STEP);
    if (n < 0 || nv < 0) {
        snprintf(bad, cap, "%s", RUN_TRAIN);
        return -1;
    }
    history_reserve(h, n + 1);
    history_reserve_val(h, nv + 1);
    h->n = n;
    h->n_val = nv;
    int L = (int)h->n_layer;
    if (h5_read(f, RUN_TRAIN_STEP, H5T_NATIVE_LONG, n, h->step) ||
        h5_read(f, RUN_TRAIN_LOSS, H5T_NATIVE_DOUBLE, n, h->loss) ||
        h5_read(f, RUN_TRAIN_LR, H5T_NATIVE_DOUBLE, n, h->lr) ||
        h5_read(f, RUN_TRAIN_GRAD_NORM, H5T_NATIVE_DOUBLE, n, h->grad_norm) ||
        h5_read(f, RUN_TRAIN_TOKENS, H5T_NATIVE_LONG, n, h->tokens) ||
        h5_read(f, RUN_TRAIN_SECONDS, H5T_NATIVE_DOUBLE, n, h->seconds) ||
        h5_read(f, RUN_TRAIN_VAL_STEP, H5T_NATIVE_LONG, nv, h->val_step) ||
        h5_read(f, RUN_TRAIN_VAL_LOSS, H5T_NATIVE_DOUBLE, nv, h->val_loss)) {
        snprintf(bad, cap, "/train curves");
        rc = -1;
    }
    // Runs without a recall part (and files from before it) have no recall curve: NaN.
    for (long i = 0; i < nv; i++) h->recall_accuracy[i] = NAN;
    if (rc == 0 && h5_len(f, RUN_TRAIN_RECALL_ACCURACY) == nv &&
        h5_read(f, RUN_TRAIN_RECALL_ACCURACY, H5T_NATIVE_DOUBLE, nv, h->recall_accuracy)) {
        snprintf(bad, cap, "%s", RUN_TRAIN_RECALL_ACCURACY);
        rc = -1;
    }
    // Run files from before an answer-loss curve resume with NaN (not measured) there.
    const char *answer_curves[2] = {RUN_TRAIN_ANSWER_LOSS, RUN_TRAIN_ANSWER_LOSS_MULTI};
    double *answer_values[2] = {h->answer_loss, h->answer_loss_multi};
    for (int k = 0; k < 2 && rc == 0; k++) {
        if (h5_len(f, answer_curves[k]) < 0)
            for (long i = 0; i < n; i++) answer_values[k][i] = NAN;
        else if (h5_read(f, answer_curves[k], H5T_NATIVE_DOUBLE, n, answer_values[k])) {
            snprintf(bad, cap, "%s", answer_curves[k]);
            rc = -1;
        }
    }
    memset(h->lambda, 0, sizeof(float) * (size_t)(n * L));
    memset(h->gamma, 0, sizeof(float) * (size_t)(n * L));
    const VariantSpec *vs = variant_spec(m->cfg.variant);
    if (rc == 0 && vs->n_maps == 2 &&
        h5_read(f, RUN_TRAIN_LAMBDA, H5T_NATIVE_FLOAT, (hsize_t)(n * L), h->lambda) != 0) {
        snprintf(bad, cap, "%s", RUN_TRAIN_LAMBDA);
        rc = -1;
    }
    if (rc == 0 && vs->global_term &&
        h5_read(f, RUN_TRAIN_GAMMA, H5T_NATIVE_FLOAT, (hsize_t)(n * L), h->gamma) != 0) {
        snprintf(bad, cap, "%s", RUN_TRAIN_GAMMA);
        rc = -1;
    }
    long na = h5_len(f, RUN_TRAIN_AUDIT_STEP);
    if (rc == 0 && na >= 0) {
        history_reserve_audit(h, na + 1);
        h->n_audit = na;
        if (h5_read(f, RUN_TRAIN_LOSS_SPIKE, H5T_NATIVE_UCHAR, n, h->loss_spike) ||
            h5_read(f, RUN_TRAIN_AUDIT_STEP, H5T_NATIVE_LONG, na, h->audit_step) ||
            h5_read(f, RUN_TRAIN_ROW_SUM_DEV_MAX, H5T_NATIVE_DOUBLE, (hsize_t)(na * L),
                    h->row_dev_max) ||
            h5_read(f, RUN_TRAIN_ROW_SUM_DEV_MEAN, H5T_NATIVE_DOUBLE, (hsize_t)(na * L),
                    h->row_dev_mean) ||
            h5_read(f, RUN_TRAIN_GRAD_NORM_LAYER, H5T_NATIVE_DOUBLE, (hsize_t)(na * L),
                    h->grad_norm_layer)) {
            snprintf(bad, cap, "/train diagnostics");
            rc = -1;
        }
    } else if (rc == 0) {
        snprintf(bad, cap, "%s", RUN_TRAIN_AUDIT_STEP);
        rc = -1;
    }
    if (rc == 0 && n != st->opt->step) {
        snprintf(bad, cap, "/train/step (length %ld, optimizer at step %ld)", n, st->opt->step);
        rc = -1;
    }
    return rc;
}

RunTrainGroup history_train_group(History *h) {
    RunTrainGroup g = {write_train, read_train, h};
    return g;
}
