// dint import: turn weights written by the PyTorch reference (tests/reference/
// export_state_dict.py: root attribute `config`, datasets /model/params/<state-dict name>)
// into a run file this harness can read, evaluate and describe.
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "h5io.h"
#include "runfile.h"
#include "tokenizer.h"

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

// Read every parameter by name with its exact shape; names the model lacks are errors too.
static int read_weights(hid_t f, Model *m, Error *err) {
    hid_t g = H5Gopen2(f, "/model/params", H5P_DEFAULT);
    if (g < 0) return error_set(err, "no /model/params group");
    int rc = 0;
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const ParamInfo *pi = &m->info[i];
        if (H5Lexists(g, pi->name, H5P_DEFAULT) <= 0) {
            rc = error_set(err, "missing parameter %s", pi->name);
            break;
        }
        hid_t ds = H5Dopen2(g, pi->name, H5P_DEFAULT);
        hid_t sp = H5Dget_space(ds);
        hsize_t dims[3] = {0, 0, 0};
        int rank = H5Sget_simple_extent_ndims(sp);
        if (rank >= 1 && rank <= 2) H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Sclose(sp);
        H5Dclose(ds);
        int want1 = pi->ndim == 2 ? pi->shape[1] : 1;
        if (rank != pi->ndim || (int)dims[0] != pi->shape[0] ||
            (rank == 2 && (int)dims[1] != want1))
            rc = error_set(err, "parameter %s has shape (%llu%s%llu), expected (%d%s%d)", pi->name,
                           (unsigned long long)dims[0], rank == 2 ? ", " : "",
                           rank == 2 ? (unsigned long long)dims[1] : 0ULL, pi->shape[0],
                           pi->ndim == 2 ? ", " : "", pi->ndim == 2 ? pi->shape[1] : 0);
        else if (h5_read(g, pi->name, H5T_NATIVE_FLOAT, (hsize_t)pi->numel,
                         m->params + pi->offset) != 0)
            rc = error_set(err, "cannot read parameter %s (corrupt file?)", pi->name);
    }
    if (rc == 0) {
        char extra[256] = "";
        ExtraCtx c = {m, extra, sizeof extra};
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, find_unexpected, &c);
        if (extra[0])
            rc = error_set(err,
                           "unexpected parameter %s for this config (wrong variant or gamma mode?)",
                           extra);
    }
    H5Gclose(g);
    return rc;
}

int cmd_import(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *variant = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--variant") && i + 1 < argc)
            variant = argv[++i];
        else if (argv[i][0] != '-' && !in)
            in = argv[i];
        else {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "unexpected argument '%.200s' (usage: dint import WEIGHTS.h5 --out RUN.h5 "
                     "[--variant V])",
                     argv[i]);
            cli_error("import", msg);
            return EXIT_USAGE;
        }
    }
    Error err;
    if (!in || !out) {
        cli_error("import", "usage: dint import WEIGHTS.h5 --out RUN.h5 [--variant V]");
        return EXIT_USAGE;
    }
    struct stat sb;
    if (stat(out, &sb) == 0) {
        snprintf(err.msg, sizeof err.msg, "'%s' already exists; choose another --out", out);
        cli_error("import", err.msg);
        return EXIT_USAGE;
    }
    size_t n = strlen(in);
    if (n > 3 && !strcmp(in + n - 3, ".pt")) {
        cli_error("import", "a .pt state dict must first be converted: /usr/bin/python3 "
                            "tests/reference/export_state_dict.py STATE.pt CONFIG.json WEIGHTS.h5");
        return EXIT_USAGE;
    }
    if (stat(in, &sb) != 0 || H5Fis_hdf5(in) <= 0) {
        snprintf(err.msg, sizeof err.msg, "'%s' is not a readable HDF5 file", in);
        cli_error("import", err.msg);
        return EXIT_USAGE;
    }
    hid_t f = H5Fopen(in, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *json = f >= 0 ? h5_read_attr_str(f, "config") : NULL;
    RunConfig cfg;
    int rc = 0;
    if (!json)
        rc = error_set(&err, "'%s' has no root attribute 'config' (JSON)", in);
    else if (config_from_json(&cfg, json, &err) != 0)
        rc = -1;
    free(json);
    if (rc == 0 && cfg.model.vocab_size != tokenizer_vocab_size(cfg.data.tokenizer))
        rc = error_set(&err, "vocab_size %d does not match the %s tokenizer (%d)",
                       cfg.model.vocab_size, cfg.data.tokenizer,
                       tokenizer_vocab_size(cfg.data.tokenizer));
    Variant v;
    if (rc == 0 && variant && (variant_parse(variant, &v) != 0 || v != cfg.model.variant))
        rc = error_set(&err, "--variant %s does not match the weights' config (%s)", variant,
                       variant_name(cfg.model.variant));
    Model m;
    int built = 0;
    if (rc == 0 && model_build(&m, &cfg.model, &err) == 0)
        built = 1;
    else if (rc == 0)
        rc = -1;
    if (rc == 0) rc = read_weights(f, &m, &err);
    if (f >= 0) H5Fclose(f);
    if (rc == 0) {
        AdamW opt;
        adamw_init(&opt, m.n_params);
        History hist;
        history_init(&hist, cfg.model.n_layer);
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        char note[4200];
        snprintf(note, sizeof note, "imported from %s; trained elsewhere", in);
        RunState st = {.cfg = cfg,
                       .model = &m,
                       .opt = &opt,
                       .data_rng = rng,
                       .hist = &hist,
                       .corpus = NULL,
                       .data_path = note,
                       .status = "imported",
                       .threads = 1};
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(st.created_utc, sizeof st.created_utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
        rc = runfile_write(out, &st, &err);
        gsl_rng_free(rng);
        history_free(&hist);
        adamw_free(&opt);
    }
    if (built) model_free(&m);
    if (rc != 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "%s: %s", in, err.msg);
        cli_error("import", msg);
        return EXIT_USAGE;
    }
    printf("%s\n", out);
    return 0;
}
