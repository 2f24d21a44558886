#include "runfile.h"

#include "h5file.h"
#include "h5io.h"
#include "onset.h"
#include "schema.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "git_commit.h"
#define DINT_VERSION "0.1.0"

// ---- history ----

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

void history_push(History *h, long step, double loss, double answer_loss, double answer_loss_multi,
                  double lr, double grad_norm, long tokens, double seconds, const float *lambda,
                  const float *gamma, int loss_spike) {
    history_reserve(h, h->n + 1);
    long i = h->n++;
    h->step[i] = step;
    h->loss[i] = loss;
    h->answer_loss[i] = answer_loss;
    h->answer_loss_multi[i] = answer_loss_multi;
    h->lr[i] = lr;
    h->grad_norm[i] = grad_norm;
    h->tokens[i] = tokens;
    h->seconds[i] = seconds;
    memcpy(h->lambda + i * h->n_layer, lambda, sizeof(float) * (size_t)h->n_layer);
    memcpy(h->gamma + i * h->n_layer, gamma, sizeof(float) * (size_t)h->n_layer);
    h->loss_spike[i] = (unsigned char)loss_spike;
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

static void utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

// ---- writing ----

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

static int write_params(hid_t grp, const Model *m, const float *buf) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamInfo *pi = &m->info[i];
        hsize_t dims[2] = {(hsize_t)pi->shape[0], (hsize_t)pi->shape[1]};
        if (h5_write_f32(grp, pi->name, pi->ndim, dims, buf + pi->offset) != 0) return -1;
    }
    return 0;
}

static int write_contents(hid_t f, const RunState *st) {
    const Model *m = st->model;
    const History *h = st->hist;
    int L = m->cfg.n_layer;
    int rc = 0;
    char *json = config_to_json(&st->cfg);
    char host[256] = "unknown", now[32];
    gethostname(host, sizeof host - 1);
    utc_now(now, sizeof now);
    rc |= h5_attr_i64(f, schema_name(RUN_AT_SCHEMA_VERSION), RUNFILE_SCHEMA_VERSION);
    rc |= h5_attr_str(f, schema_name(RUN_AT_DINT_VERSION), DINT_VERSION);
    rc |= h5_attr_str(f, schema_name(RUN_AT_GIT_COMMIT), DINT_GIT_COMMIT);
    rc |= h5_attr_str(f, schema_name(RUN_AT_CREATED_UTC), st->created_utc);
    if (st->init_from[0]) rc |= h5_attr_str(f, schema_name(RUN_AT_INIT_FROM), st->init_from);
    rc |= h5_attr_str(f, schema_name(RUN_AT_UPDATED_UTC), now);
    rc |= h5_attr_str(f, schema_name(RUN_AT_HOST), host);
    rc |= h5_attr_str(f, schema_name(RUN_AT_CONFIG), json);
    rc |= h5_attr_u64(f, schema_name(RUN_AT_SEED), st->cfg.seed);
    rc |= h5_attr_str(f, schema_name(RUN_AT_VARIANT), variant_name(st->cfg.model.variant));
    rc |= h5_attr_str(f, schema_name(RUN_AT_STATUS), st->status);
    rc |= h5_attr_i64(f, schema_name(RUN_AT_THREADS), st->threads);
    if (st->ranks > 1) rc |= h5_attr_i64(f, schema_name(RUN_AT_RANKS), st->ranks);
    rc |= h5_attr_i64(f, schema_name(RUN_AT_PARAM_COUNT), m->n_params);
    free(json);

    hid_t g_model = h5_group(f, RUN_MODEL);
    hid_t g_params = h5_group(g_model, RUN_MODEL_PARAMS);
    rc |= write_params(g_params, m, m->params);
    H5Gclose(g_params);
    H5Gclose(g_model);

    hid_t g_opt = h5_group(f, RUN_OPTIM);
    rc |= h5_attr_i64(g_opt, schema_name(RUN_OPTIM_AT_STEP), st->opt->step);
    rc |= h5_attr_str(g_opt, schema_name(RUN_OPTIM_AT_ALGORITHM),
                      "AdamW (decoupled weight decay on matrices)");
    hid_t g_m = h5_group(g_opt, RUN_OPTIM_M), g_v = h5_group(g_opt, RUN_OPTIM_V);
    rc |= write_params(g_m, m, st->opt->m);
    rc |= write_params(g_v, m, st->opt->v);
    H5Gclose(g_m);
    H5Gclose(g_v);
    H5Gclose(g_opt);

    hid_t g_rng = h5_group(f, RUN_RNG);
    hsize_t nstate = gsl_rng_size(st->data_rng);
    rc |= h5_write(g_rng, RUN_RNG_DATA, H5T_NATIVE_UCHAR, H5T_STD_U8LE, 1, &nstate,
                   gsl_rng_state(st->data_rng));
    hid_t ds = H5Dopen2(g_rng, RUN_RNG_DATA, H5P_DEFAULT);
    if (ds >= 0) {
        rc |= h5_attr_str(ds, schema_name(RUN_RNG_DATA_AT_ALGORITHM), gsl_rng_name(st->data_rng));
        rc |= h5_attr_str(ds, schema_name(RUN_RNG_DATA_AT_MEANING),
                          "state of the batch-sampling generator after the last step");
        H5Dclose(ds);
    }
    H5Gclose(g_rng);

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
    if (m->cfg.variant != VARIANT_TRANSFORMER)
        rc |= h5_write_f32(g_train, RUN_TRAIN_LAMBDA, 2, dims, h->lambda);
    if (m->cfg.variant == VARIANT_DINT)
        rc |= h5_write_f32(g_train, RUN_TRAIN_GAMMA, 2, dims, h->gamma);
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

    hid_t g_data = h5_group(f, RUN_DATA);
    rc |= h5_attr_str(g_data, schema_name(RUN_DATA_AT_TOKENIZER), st->cfg.data.tokenizer);
    const Corpus *c = st->corpus;
    rc |= h5_attr_str(g_data, schema_name(RUN_DATA_AT_TOKENIZER_IDENTITY),
                      st->tokenizer_identity ? st->tokenizer_identity : "");
    if (c) {
        rc |= h5_attr_str(g_data, schema_name(RUN_DATA_AT_PATH), st->data_path);
        rc |= h5_attr_str(g_data, schema_name(RUN_DATA_AT_SPEC),
                          st->data_spec ? st->data_spec : st->data_path);
        rc |= h5_attr_str(g_data, schema_name(RUN_DATA_AT_SOURCE),
                          st->data_source ? st->data_source : "");
        rc |= h5_attr_str(g_data, schema_name(RUN_DATA_AT_MIXTURE),
                          st->data_mixture ? st->data_mixture : "");
        rc |= h5_attr_i64(g_data, schema_name(RUN_DATA_AT_BYTES), c->n_bytes);
        rc |= h5_attr_i64(g_data, schema_name(RUN_DATA_AT_TRAIN_TOKENS), c->n_tokens[SPLIT_TRAIN]);
        rc |= h5_attr_i64(g_data, schema_name(RUN_DATA_AT_VAL_TOKENS), c->n_tokens[SPLIT_VAL]);
        rc |= h5_attr_i64(g_data, schema_name(RUN_DATA_AT_TEST_TOKENS), c->n_tokens[SPLIT_TEST]);
        rc |= h5_write_strings(g_data, RUN_DATA_DOCUMENTS, c->doc_names, (hsize_t)c->n_docs);
        hsize_t nd = (hsize_t)c->n_docs;
        rc |=
            h5_write(g_data, RUN_DATA_SPLIT, H5T_NATIVE_UCHAR, H5T_STD_U8LE, 1, &nd, c->doc_split);
        hid_t ds = H5Dopen2(g_data, RUN_DATA_SPLIT, H5P_DEFAULT);
        if (ds >= 0) {
            rc |= h5_attr_str(ds, schema_name(RUN_DATA_SPLIT_AT_MEANING),
                              "0 train, 1 validation, 2 test");
            H5Dclose(ds);
        }
        rc |= h5_write_i64(g_data, RUN_DATA_DOCUMENT_TOKENS, nd, c->doc_tokens);
    } else {
        rc |= h5_attr_str(g_data, schema_name(RUN_DATA_AT_PATH), "");
        rc |= h5_attr_str(g_data, schema_name(RUN_DATA_AT_NOTE),
                          st->data_path ? st->data_path : "no training data");
    }
    H5Gclose(g_data);
    return rc;
}

int runfile_write(const char *path, const RunState *st, Error *err) {
    hid_t f = h5file_create_mem(path, err);
    if (f < 0) return -1;
    if (write_contents(f, st) != 0) {
        H5Fclose(f);
        return error_set(err, "cannot assemble '%s' in memory (out of memory?); it is unchanged",
                         path);
    }
    return h5file_save(f, path, err);
}

// ---- reading ----

static hid_t open_runfile(const char *path, Error *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        error_set(err, "run file '%s' does not exist", path);
        return -1;
    }
    hid_t f = h5file_open_read(path, err);
    if (f < 0) return -1;
    long schema = 0;
    if (h5_read_attr_num(f, schema_name(RUN_AT_SCHEMA_VERSION), H5T_NATIVE_LONG, &schema) != 0) {
        H5Fclose(f);
        error_set(err, "'%s' is HDF5 but not a dint run file (no schema_version)", path);
        return -1;
    }
    if (schema != RUNFILE_SCHEMA_VERSION) {
        H5Fclose(f);
        error_set(err, "'%s' has run-file schema %ld; this dint reads schema %d", path, schema,
                  RUNFILE_SCHEMA_VERSION);
        return -1;
    }
    return f;
}

int runfile_read_config(const char *path, RunConfig *cfg, Error *err) {
    hid_t f = open_runfile(path, err);
    if (f < 0) return -1;
    char *json = h5_read_attr_str(f, schema_name(RUN_AT_CONFIG));
    int rc = json ? config_from_json(cfg, json, err)
                  : error_set(err, "'%s' has no config attribute (corrupt run file)", path);
    free(json);
    uint64_t seed;
    if (rc == 0 && h5_read_attr_num(f, schema_name(RUN_AT_SEED), H5T_NATIVE_UINT64, &seed) == 0)
        cfg->seed = seed;
    H5Fclose(f);
    if (rc != 0 && err && !strstr(err->msg, path)) {
        Error e2;
        error_set(&e2, "'%s': %s", path, err->msg);
        *err = e2;
    }
    return rc;
}

static int read_params(hid_t f, const char *group, const Model *m, float *buf, char *bad,
                       int nbad) {
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0) {
        snprintf(bad, nbad, "%s", group);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const ParamInfo *pi = &m->info[i];
        if (h5_read(g, pi->name, H5T_NATIVE_FLOAT, (hsize_t)pi->numel, buf + pi->offset) != 0) {
            snprintf(bad, nbad, "%s/%s", group, pi->name);
            rc = -1;
        }
    }
    H5Gclose(g);
    return rc;
}

// Tokens per split, in the order of Corpus.n_tokens (SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST).
static const char *const SPLIT_TOKENS[3] = {RUN_DATA_AT_TRAIN_TOKENS, RUN_DATA_AT_VAL_TOKENS,
                                            RUN_DATA_AT_TEST_TOKENS};

// A string attribute (caller frees), NULL when the object has none.
static char *attr_if_present(hid_t loc, const char *attr_path) {
    const char *name = schema_name(attr_path);
    return H5Aexists(loc, name) > 0 ? h5_read_attr_str(loc, name) : NULL;
}

// The /train history of a run file into st->hist; on failure, what could not be read in bad.
static int read_history(hid_t f, RunState *st, char *bad, size_t cap) {
    History *h = st->hist;
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
    if (rc == 0 && m->cfg.variant != VARIANT_TRANSFORMER &&
        h5_read(f, RUN_TRAIN_LAMBDA, H5T_NATIVE_FLOAT, (hsize_t)(n * L), h->lambda) != 0) {
        snprintf(bad, cap, "%s", RUN_TRAIN_LAMBDA);
        rc = -1;
    }
    if (rc == 0 && m->cfg.variant == VARIANT_DINT &&
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

int runfile_read_state(const char *path, RunState *st, char *data_path, int data_path_len,
                       Error *err) {
    hid_t f = open_runfile(path, err);
    if (f < 0) return -1;
    char bad[256] = "";
    int rc = 0;
    Model *m = st->model;
    char *status = h5_read_attr_str(f, schema_name(RUN_AT_STATUS));
    if (status && !strcmp(status, "imported")) {
        free(status);
        H5Fclose(f);
        return error_set(
            err, "'%s' holds imported weights and no training state; it cannot be resumed", path);
    }
    free(status);
    if (read_params(f, RUN_MODEL_PARAMS, m, m->params, bad, sizeof bad) != 0 ||
        read_params(f, RUN_OPTIM_M, m, st->opt->m, bad, sizeof bad) != 0 ||
        read_params(f, RUN_OPTIM_V, m, st->opt->v, bad, sizeof bad) != 0)
        rc = -1;
    hid_t g_opt = rc == 0 ? H5Gopen2(f, RUN_OPTIM, H5P_DEFAULT) : -1;
    if (rc == 0 && (g_opt < 0 || h5_read_attr_num(g_opt, schema_name(RUN_OPTIM_AT_STEP),
                                                  H5T_NATIVE_LONG, &st->opt->step) != 0)) {
        snprintf(bad, sizeof bad, "/optim step");
        rc = -1;
    }
    if (g_opt >= 0) H5Gclose(g_opt);
    if (rc == 0 && h5_read(f, RUN_RNG_DATA, H5T_NATIVE_UCHAR, gsl_rng_size(st->data_rng),
                           gsl_rng_state(st->data_rng)) != 0) {
        snprintf(bad, sizeof bad, "%s", RUN_RNG_DATA);
        rc = -1;
    }
    if (rc == 0) rc = read_history(f, st, bad, sizeof bad);
    if (rc == 0) {
        hid_t g = H5Gopen2(f, RUN_DATA, H5P_DEFAULT);
        char *p = g >= 0 ? h5_read_attr_str(g, schema_name(RUN_DATA_AT_SPEC)) : NULL;
        char *created = h5_read_attr_str(f, schema_name(RUN_AT_CREATED_UTC));
        for (int i = 0; i < 3; i++)
            if (g < 0 || h5_read_attr_num(g, schema_name(SPLIT_TOKENS[i]), H5T_NATIVE_LONG,
                                          &st->data_tokens[i]) != 0)
                st->data_tokens[i] = -1;
        if (!p || !created) {
            snprintf(bad, sizeof bad, "/data path or created_utc");
            rc = -1;
        } else {
            snprintf(data_path, data_path_len, "%s", p);
            snprintf(st->created_utc, sizeof st->created_utc, "%s", created);
        }
        char *init = attr_if_present(f, RUN_AT_INIT_FROM);
        snprintf(st->init_from, sizeof st->init_from, "%s", init ? init : "");
        free(init);
        free(p);
        free(created);
        if (g >= 0) H5Gclose(g);
    }
    H5Fclose(f);
    if (rc != 0) return error_set(err, "'%s' is incomplete or corrupt: cannot read %s", path, bad);
    return 0;
}

// ---- info ----

static char *attr_or(hid_t loc, const char *attr_path) {
    return h5_read_attr_str(loc, schema_name(attr_path));
}

static void info_header(hid_t f, const char *path) {
    char *status = attr_or(f, RUN_AT_STATUS), *commit = attr_or(f, RUN_AT_GIT_COMMIT);
    char *created = attr_or(f, RUN_AT_CREATED_UTC), *updated = attr_or(f, RUN_AT_UPDATED_UTC);
    char *version = attr_or(f, RUN_AT_DINT_VERSION);
    long threads = 0, ranks = 1;
    h5_read_attr_num(f, schema_name(RUN_AT_THREADS), H5T_NATIVE_LONG, &threads);
    h5_read_attr_num(f, schema_name(RUN_AT_RANKS), H5T_NATIVE_LONG, &ranks); // absent: 1
    char on_ranks[48] = "";
    if (ranks > 1) snprintf(on_ranks, sizeof on_ranks, " on each of %ld MPI ranks", ranks);
    printf("run file      %s\n", path);
    printf("status        %s (dint %s, commit %s)\n", status ? status : "?",
           version ? version : "?", commit ? commit : "?");
    printf("created       %s, last written %s, %ld thread(s)%s\n", created ? created : "?",
           updated ? updated : "?", threads, on_ranks);
    if (H5Aexists(f, schema_name(RUN_AT_INIT_FROM)) > 0) {
        char *init = attr_or(f, RUN_AT_INIT_FROM);
        printf("started from  %s\n", init ? init : "?");
        free(init);
    }
    free(status);
    free(commit);
    free(created);
    free(updated);
    free(version);
}

static void info_model(hid_t f, const RunConfig *cfg) {
    const ModelConfig *mc = &cfg->model;
    char gamma[32];
    gamma_mode_format(mc, gamma, sizeof gamma);
    printf("variant       %s", variant_name(mc->variant));
    if (mc->variant == VARIANT_DINT)
        printf(", global term G %s%s, gamma %s", mc->g_mode == GMODE_FULL ? "full" : "causal",
               mc->g_mode == GMODE_FULL ? " (NOT causal: future tokens leak into each position)"
                                        : "",
               gamma);
    if (mc->variant != VARIANT_TRANSFORMER) {
        printf(", head norm %s",
               mc->head_norm ? (mc->head_norm_gain ? "on (learned gain)" : "on (fixed)") : "off");
        if (mc->lambda_schedule)
            printf(", lambda_init 0.8 - 0.6 exp(-0.3 l)");
        else
            printf(", lambda_init %.4g", (double)mc->lambda_init_const);
    }
    printf("\n");
    printf(
        "model         %d layers, d_model %d, %d heads (head_dim %d, v %d), ffn %d, vocab %d (%s "
        "tokenizer), %s embeddings\n",
        mc->n_layer, mc->d_model, model_n_heads(mc), mc->head_dim, model_v_dim(mc), mc->ffn_dim,
        mc->vocab_size, cfg->data.tokenizer, mc->tie_embeddings ? "tied" : "untied");
    long params = 0;
    h5_read_attr_num(f, schema_name(RUN_AT_PARAM_COUNT), H5T_NATIVE_LONG, &params);
    printf("parameters    %ld\n", params);
    printf("seed          %llu (data split seed %llu)\n", (unsigned long long)cfg->seed,
           (unsigned long long)cfg->data.split_seed);
}

// "lambda        0.8123, 0.6543  (per layer, last step)" from a (n, L) curve of /train.
static void info_last_per_layer(hid_t f, const char *dataset, const char *label, long n, int L) {
    float *v = xmalloc(sizeof(float) * (size_t)(n * L));
    if (h5_read(f, dataset, H5T_NATIVE_FLOAT, (hsize_t)(n * L), v) == 0) {
        printf("%-14s", label);
        for (int l = 0; l < L; l++) printf("%s%.4f", l ? ", " : "", (double)v[(n - 1) * L + l]);
        printf("  (per layer, last step)\n");
    }
    free(v);
}

static void info_training(hid_t f, const RunConfig *cfg) {
    long n = h5_len(f, RUN_TRAIN_STEP), nv = h5_len(f, RUN_TRAIN_VAL_STEP);
    if (n < 0) n = 0;
    if (nv < 0) nv = 0;
    long tokens = 0;
    double loss = NAN;
    if (n > 0) {
        long *tk = xmalloc(sizeof(long) * (size_t)n);
        double *ls = xmalloc(sizeof(double) * (size_t)n);
        if (h5_read(f, RUN_TRAIN_TOKENS, H5T_NATIVE_LONG, n, tk) == 0) tokens = tk[n - 1];
        if (h5_read(f, RUN_TRAIN_LOSS, H5T_NATIVE_DOUBLE, n, ls) == 0) loss = ls[n - 1];
        free(tk);
        free(ls);
    }
    printf("training      %ld of %d steps, %ld tokens (batch %d x seq %d x accum %d), lr %.3g\n", n,
           cfg->train.steps, tokens, cfg->train.batch_size, cfg->train.seq_len,
           cfg->train.grad_accum, (double)cfg->train.lr);
    if (n > 0) printf("train loss    %.4f at step %ld\n", loss, n);
    if (nv > 0) {
        long *vs = xmalloc(sizeof(long) * (size_t)nv);
        double *vl = xmalloc(sizeof(double) * (size_t)nv);
        if (h5_read(f, RUN_TRAIN_VAL_STEP, H5T_NATIVE_LONG, nv, vs) == 0 &&
            h5_read(f, RUN_TRAIN_VAL_LOSS, H5T_NATIVE_DOUBLE, nv, vl) == 0)
            printf("val loss      %.4f at step %ld (was %.4f at step %ld)\n", vl[nv - 1],
                   vs[nv - 1], vl[0], vs[0]);
        free(vs);
        free(vl);
    }
    const ModelConfig *mc = &cfg->model;
    if (n > 0 && mc->variant != VARIANT_TRANSFORMER) {
        info_last_per_layer(f, RUN_TRAIN_LAMBDA, "lambda", n, mc->n_layer);
        if (mc->variant == VARIANT_DINT)
            info_last_per_layer(f, RUN_TRAIN_GAMMA, "gamma", n, mc->n_layer);
    }
}

// "retrieval     onset at step 6900 (...)" or "not reached by step 400 (censored; ...)", from
// /train/onset (nothing for files written before it existed).
static void info_onset(hid_t f) {
    if (H5Lexists(f, RUN_TRAIN_ONSET, H5P_DEFAULT) <= 0) return;
    hid_t g = H5Gopen2(f, RUN_TRAIN_ONSET, H5P_DEFAULT);
    long step = 0, censored = 1, window = 0;
    double threshold = NAN, last = NAN;
    h5_read_attr_num(g, schema_name(RUN_TRAIN_ONSET_AT_STEP), H5T_NATIVE_LONG, &step);
    h5_read_attr_num(g, schema_name(RUN_TRAIN_ONSET_AT_CENSORED), H5T_NATIVE_LONG, &censored);
    h5_read_attr_num(g, schema_name(RUN_TRAIN_ONSET_AT_WINDOW), H5T_NATIVE_LONG, &window);
    h5_read_attr_num(g, schema_name(RUN_TRAIN_ONSET_AT_THRESHOLD), H5T_NATIVE_DOUBLE, &threshold);
    long n = h5_len(f, RUN_TRAIN_ONSET_SMOOTHED);
    if (n > 0) {
        double *s = xmalloc(sizeof(double) * (size_t)n);
        if (h5_read(f, RUN_TRAIN_ONSET_SMOOTHED, H5T_NATIVE_DOUBLE, n, s) == 0) last = s[n - 1];
        free(s);
    }
    H5Gclose(g);
    char definition[160];
    snprintf(definition, sizeof definition,
             "answer loss on N >= 2 episodes <= %g, mean over %ld steps", threshold, window);
    if (!censored)
        printf("retrieval     onset at step %ld (%s)\n", step, definition);
    else if (isnan(last))
        printf("retrieval     not reached by step %ld (censored; %s; no full window)\n", step,
               definition);
    else
        printf("retrieval     not reached by step %ld (censored; %s; last mean %.4f)\n", step,
               definition, last);
}

// "recall        onset at step 900 (...)" or "not reached by step 1500 (censored; ...)", from
// /train/recall_onset (runs with a recall part only).
static void info_recall_onset(hid_t f) {
    if (H5Lexists(f, RUN_TRAIN_RECALL_ONSET, H5P_DEFAULT) <= 0) return;
    hid_t g = H5Gopen2(f, RUN_TRAIN_RECALL_ONSET, H5P_DEFAULT);
    long step = 0, censored = 1, tokens = 0;
    double threshold = NAN, accuracy = NAN, seconds = NAN;
    h5_read_attr_num(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_STEP), H5T_NATIVE_LONG, &step);
    h5_read_attr_num(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_CENSORED), H5T_NATIVE_LONG,
                     &censored);
    h5_read_attr_num(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_TOKENS), H5T_NATIVE_LONG, &tokens);
    h5_read_attr_num(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_SECONDS), H5T_NATIVE_DOUBLE,
                     &seconds);
    h5_read_attr_num(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_THRESHOLD), H5T_NATIVE_DOUBLE,
                     &threshold);
    h5_read_attr_num(g, schema_name(RUN_TRAIN_RECALL_ONSET_AT_ACCURACY), H5T_NATIVE_DOUBLE,
                     &accuracy);
    H5Gclose(g);
    if (!censored)
        printf("recall        onset at step %ld (%ld tokens, %.0f s; held-out accuracy %.3f >= "
               "%g)\n",
               step, tokens, seconds, accuracy, threshold);
    else
        printf("recall        not reached by step %ld (censored; held-out accuracy %.3f < %g)\n",
               step, accuracy, threshold);
}

static void info_data(hid_t f, const RunConfig *cfg) {
    hid_t g = H5Gopen2(f, RUN_DATA, H5P_DEFAULT);
    if (g < 0) return;
    char *p = attr_or(g, RUN_DATA_AT_PATH);
    long tt = 0, vt = 0, st = 0, nd = h5_len(g, RUN_DATA_DOCUMENTS);
    h5_read_attr_num(g, schema_name(RUN_DATA_AT_TRAIN_TOKENS), H5T_NATIVE_LONG, &tt);
    h5_read_attr_num(g, schema_name(RUN_DATA_AT_VAL_TOKENS), H5T_NATIVE_LONG, &vt);
    h5_read_attr_num(g, schema_name(RUN_DATA_AT_TEST_TOKENS), H5T_NATIVE_LONG, &st);
    char *note = attr_or(g, RUN_DATA_AT_NOTE), *spec = attr_or(g, RUN_DATA_AT_SPEC);
    char *source = attr_or(g, RUN_DATA_AT_SOURCE),
         *tid = attr_or(g, RUN_DATA_AT_TOKENIZER_IDENTITY);
    if (p && p[0]) {
        char *mixture = attr_or(g, RUN_DATA_AT_MIXTURE);
        if (source && source[0]) printf("corpus        %s (%s)\n", spec ? spec : "?", source);
        if (mixture && strchr(mixture, ',')) printf("mixture       %s\n", mixture);
        free(mixture);
        printf("data          %s: %ld documents; tokens: %ld train, %ld validation, %ld test\n", p,
               nd, tt, vt, st);
    } else
        printf("data          none recorded (%s)\n", note ? note : "?");
    if (tid && tid[0])
        printf("tokenizer     %s\n", tid);
    else
        printf("tokenizer     %s\n", cfg->data.tokenizer);
    free(note);
    free(spec);
    free(source);
    free(tid);
    free(p);
    H5Gclose(g);
}

// The leakage probe and which evaluation groups the file holds. These paths belong to the
// evaluation tasks' tables of outputs (tasks/), not to the fixed part in schema.h.
static void info_results(hid_t f) {
    if (H5Lexists(f, "/audit", H5P_DEFAULT) > 0 &&
        H5Lexists(f, "/audit/leakage", H5P_DEFAULT) > 0) {
        hid_t lg = H5Gopen2(f, "/audit/leakage", H5P_DEFAULT);
        long causal = -1, pos = -1;
        h5_read_attr_num(lg, "causal", H5T_NATIVE_LONG, &causal);
        h5_read_attr_num(lg, "position", H5T_NATIVE_LONG, &pos);
        printf("leakage probe %s (token %ld changed)\n",
               causal == 1 ? "causal: outputs before the changed token are bit-identical"
                           : "NOT CAUSAL: outputs before the changed token changed",
               pos);
        H5Gclose(lg);
    }
    const char *groups[] = {"/eval/needle", "/eval/ppl", "/eval/icl", "/audit"};
    int shown = 0;
    for (int i = 0; i < 4; i++) {
        int has = H5Lexists(f, i < 3 ? "/eval" : "/audit", H5P_DEFAULT) > 0 &&
                  H5Lexists(f, groups[i], H5P_DEFAULT) > 0;
        if (has) printf("%s%s", shown++ ? ", " : "results       ", groups[i]);
    }
    if (shown) printf("\n");
}

int runfile_info(const char *path, Error *err) {
    RunConfig cfg;
    if (runfile_read_config(path, &cfg, err) != 0) return -1;
    hid_t f = open_runfile(path, err);
    if (f < 0) return -1;
    info_header(f, path);
    info_model(f, &cfg);
    info_training(f, &cfg);
    info_onset(f);
    info_recall_onset(f);
    info_data(f, &cfg);
    info_results(f);
    char *json = config_to_json(&cfg);
    // One line: the stored attribute holds the same JSON, pretty-printed.
    for (char *p = json; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    printf("config        %s\n", json);
    free(json);
    H5Fclose(f);
    return 0;
}

int runfile_load_model(const char *path, Model *m, RunConfig *cfg, char *data_spec, int spec_len,
                       Error *err) {
    if (runfile_read_config(path, cfg, err) != 0) return -1;
    if (model_build(m, &cfg->model, err) != 0) return -1;
    hid_t f = open_runfile(path, err);
    if (f < 0) {
        model_free(m);
        return -1;
    }
    char bad[256] = "";
    int rc = read_params(f, RUN_MODEL_PARAMS, m, m->params, bad, sizeof bad);
    data_spec[0] = '\0';
    hid_t g = H5Gopen2(f, RUN_DATA, H5P_DEFAULT);
    char *spec = g >= 0 ? h5_read_attr_str(g, schema_name(RUN_DATA_AT_SPEC)) : NULL;
    if (spec) snprintf(data_spec, spec_len, "%s", spec);
    free(spec);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    if (rc != 0) {
        model_free(m);
        return error_set(err, "'%s' is incomplete or corrupt: cannot read %s", path, bad);
    }
    model_compute_scalars(m);
    return 0;
}

// ---- starting from other weights: another run (--init-from), the PyTorch reference ----

// The "model" object of a config as JSON text (to compare two runs' architectures).
static char *model_json(const RunConfig *c) {
    char *all = config_to_json(c);
    cJSON *root = cJSON_Parse(all);
    free(all);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "model"));
    cJSON_Delete(root);
    return text;
}

int runfile_read_init_source(const char *path, const RunConfig *cfg, Model *m, char *provenance,
                             size_t cap, Error *err) {
    Model src;
    RunConfig src_cfg;
    char spec[4096];
    if (runfile_load_model(path, &src, &src_cfg, spec, sizeof spec, err) != 0) return -1;
    char *a = model_json(cfg), *b = model_json(&src_cfg);
    int same = a && b && !strcmp(a, b);
    int rc = 0;
    if (!same)
        rc = error_set(err,
                       "--init-from: '%s' has another model config (%.300s) than this run "
                       "(%.300s); give the same model.* settings",
                       path, b ? b : "?", a ? a : "?");
    else {
        memcpy(m->params, src.params, sizeof(float) * (size_t)m->n_params);
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        long steps = -1;
        char *created = NULL;
        if (f >= 0) {
            hid_t g = H5Gopen2(f, RUN_TRAIN, H5P_DEFAULT);
            if (g >= 0) {
                h5_read_attr_num(g, schema_name(RUN_TRAIN_AT_STEPS_DONE), H5T_NATIVE_LONG, &steps);
                H5Gclose(g);
            }
            created = h5_read_attr_str(f, schema_name(RUN_AT_CREATED_UTC));
            H5Fclose(f);
        }
        snprintf(provenance, cap, "%s (step %ld of its training, created %s)", path, steps,
                 created ? created : "?");
        free(created);
    }
    free(a);
    free(b);
    model_free(&src);
    return rc;
}

int runfile_read_weights_config(const char *path, RunConfig *cfg, Error *err) {
    struct stat sb;
    if (stat(path, &sb) != 0 || H5Fis_hdf5(path) <= 0)
        return error_set(err, "'%s' is not a readable HDF5 file", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *json = f >= 0 ? h5_read_attr_str(f, schema_name(RUN_AT_CONFIG)) : NULL;
    if (f >= 0) H5Fclose(f);
    Error e;
    int rc = 0;
    if (!json)
        rc = error_set(&e, "'%s' has no root attribute 'config' (JSON)", path);
    else if (config_from_json(cfg, json, &e) != 0)
        rc = -1;
    free(json);
    if (rc == 0 && cfg->model.vocab_size != tokenizer_vocab_size(cfg->data.tokenizer))
        rc = error_set(&e, "vocab_size %d does not match the %s tokenizer (%d)",
                       cfg->model.vocab_size, cfg->data.tokenizer,
                       tokenizer_vocab_size(cfg->data.tokenizer));
    if (rc != 0) return error_set(err, "%s: %s", path, e.msg);
    return 0;
}

typedef struct {
    const Model *m;
    char *unexpected;
    size_t cap;
} ExtraCtx;

static herr_t find_unexpected(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    ExtraCtx *c = data;
    if (model_find_param(c->m, name)) return 0;
    snprintf(c->unexpected, c->cap, "%s", name);
    return 1; // stop at the first
}

// One parameter of the group g into m, with its exact shape.
static int read_weight(hid_t g, Model *m, const ParamInfo *pi, Error *err) {
    if (H5Lexists(g, pi->name, H5P_DEFAULT) <= 0)
        return error_set(err, "missing parameter %s", pi->name);
    hid_t ds = H5Dopen2(g, pi->name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[3] = {0, 0, 0};
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank >= 1 && rank <= 2) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(ds);
    int want1 = pi->ndim == 2 ? pi->shape[1] : 1;
    if (rank != pi->ndim || (int)dims[0] != pi->shape[0] || (rank == 2 && (int)dims[1] != want1))
        return error_set(err, "parameter %s has shape (%llu%s%llu), expected (%d%s%d)", pi->name,
                         (unsigned long long)dims[0], rank == 2 ? ", " : "",
                         rank == 2 ? (unsigned long long)dims[1] : 0ULL, pi->shape[0],
                         pi->ndim == 2 ? ", " : "", pi->ndim == 2 ? pi->shape[1] : 0);
    if (h5_read(g, pi->name, H5T_NATIVE_FLOAT, (hsize_t)pi->numel, m->params + pi->offset) != 0)
        return error_set(err, "cannot read parameter %s (corrupt file?)", pi->name);
    return 0;
}

int runfile_read_weights(const char *path, Model *m, Error *err) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = f >= 0 ? H5Gopen2(f, RUN_MODEL_PARAMS, H5P_DEFAULT) : -1;
    int rc = g < 0 ? error_set(err, "no /model/params group") : 0;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) rc = read_weight(g, m, &m->info[i], err);
    if (rc == 0) {
        char extra[256] = "";
        ExtraCtx c = {m, extra, sizeof extra};
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, find_unexpected, &c);
        if (extra[0])
            rc = error_set(err,
                           "unexpected parameter %s for this config (wrong variant or gamma mode?)",
                           extra);
    }
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    return rc;
}

int runfile_write_imported(const char *path, const RunConfig *cfg, Model *m, const char *note,
                           Error *err) {
    AdamW opt;
    adamw_init(&opt, m->n_params);
    History hist;
    history_init(&hist, cfg->model.n_layer);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    RunState st = {.cfg = *cfg,
                   .model = m,
                   .opt = &opt,
                   .data_rng = rng,
                   .hist = &hist,
                   .corpus = NULL,
                   .data_path = note,
                   .status = "imported",
                   .threads = 1};
    utc_now(st.created_utc, sizeof st.created_utc);
    int rc = runfile_write(path, &st, err);
    gsl_rng_free(rng);
    history_free(&hist);
    adamw_free(&opt);
    return rc;
}
