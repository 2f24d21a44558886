#include "runfile.h"

#include "h5file.h"
#include "h5io.h"
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

static void utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

// ---- writing ----

static int write_params(hid_t grp, const Model *m, const float *buf) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamInfo *pi = &m->info[i];
        hsize_t dims[2] = {(hsize_t)pi->shape[0], (hsize_t)pi->shape[1]};
        if (h5_write_f32(grp, pi->name, pi->ndim, dims, buf + pi->offset) != 0) return -1;
    }
    return 0;
}

// The root attributes: provenance, config, seed, status.
static int write_root_attrs(hid_t f, const RunState *st) {
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
    rc |= h5_attr_i64(f, schema_name(RUN_AT_PARAM_COUNT), st->model->n_params);
    free(json);
    return rc;
}

// /model/params, /optim (step and moments) and /rng (the batch sampler's state).
static int write_weights_and_state(hid_t f, const RunState *st) {
    const Model *m = st->model;
    int rc = 0;
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
    return rc;
}

// /data: the tokenizer and the corpus the run was trained on (its documents and split).
static int write_data(hid_t f, const RunState *st) {
    int rc = 0;
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

static int write_contents(hid_t f, const RunState *st) {
    int rc = write_root_attrs(f, st);
    rc |= write_weights_and_state(f, st);
    rc |= st->train.write(f, st);
    rc |= write_data(f, st);
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

hid_t runfile_open(const char *path, Error *err) {
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
    hid_t f = runfile_open(path, err);
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

int runfile_read_state(const char *path, RunState *st, char *data_path, int data_path_len,
                       Error *err) {
    hid_t f = runfile_open(path, err);
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
    if (rc == 0) rc = st->train.read(f, st, bad, sizeof bad);
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

int runfile_load_model(const char *path, Model *m, RunConfig *cfg, char *data_spec, int spec_len,
                       Error *err) {
    if (runfile_read_config(path, cfg, err) != 0) return -1;
    if (model_build(m, &cfg->model, err) != 0) return -1;
    hid_t f = runfile_open(path, err);
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
                           RunTrainGroup train, Error *err) {
    AdamW opt;
    adamw_init(&opt, m->n_params);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    RunState st = {.cfg = *cfg,
                   .model = m,
                   .opt = &opt,
                   .data_rng = rng,
                   .train = train,
                   .corpus = NULL,
                   .data_path = note,
                   .status = "imported",
                   .threads = 1};
    utc_now(st.created_utc, sizeof st.created_utc);
    int rc = runfile_write(path, &st, err);
    gsl_rng_free(rng);
    adamw_free(&opt);
    return rc;
}
