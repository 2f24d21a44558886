#include "eval_io.h"

#include <hdf5_hl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets.h"
#include "h5file.h"
#include "h5io.h"
#include "layers.h"
#include "mixture.h"
#include "runfile.h"

int eval_open(EvalContext *c, const char *run, const char *out, const char *data, int threads,
              int writer, Error *err) {
    memset(c, 0, sizeof *c);
    c->run = run;
    c->out = out;
    c->data = data;
    threads_init(threads);
    // One writer per results file, and a damaged one refused before any work is spent.
    struct stat sb;
    const char *res = out ? out : run;
    if (writer && h5file_lock(res, err) != 0) return -1;
    if ((out && stat(out, &sb) == 0 && h5file_check(out, NULL, err) != 0) ||
        runfile_load_model(run, &c->model, &c->cfg, c->data_spec, sizeof c->data_spec, err) != 0) {
        h5file_unlock();
        return -1;
    }
    if (data_open_tokenizer(&c->tok, c->cfg.data.tokenizer, err) != 0) {
        model_free(&c->model);
        h5file_unlock();
        return -1;
    }
    return 0;
}

int eval_load_corpus(EvalContext *c, const char *spec, Error *err) {
    if (c->corpus_loaded) return 0;
    const char *given = spec ? spec : c->data ? c->data : c->data_spec;
    if (!given[0])
        return error_set(err,
                         "the run records no corpus (imported weights?): give --data NAME|PATH");
    // A training mixture's text part is the corpus.
    char use[4096], path[4096], cache[4200] = "";
    Mixture mx;
    if (mixture_parse(&mx, given, use, sizeof use, err) != 0) return -1;
    DataSource src;
    if (data_resolve_corpus(use, path, sizeof path, &src, err) != 0) return -1;
    snprintf(c->corpus_spec, sizeof c->corpus_spec, "%s", use);
    if (src.name[0]) data_token_cache_path(src.name, &c->tok, cache, sizeof cache);
    if (corpus_load(&c->corpus, path, &c->tok, c->cfg.data.val_fraction, c->cfg.data.test_fraction,
                    c->cfg.data.split_seed, cache[0] ? cache : NULL, err) != 0)
        return -1;
    c->corpus_loaded = 1;
    return 0;
}

void eval_close(EvalContext *c) {
    if (c->corpus_loaded) corpus_free(&c->corpus);
    tokenizer_close(&c->tok);
    model_free(&c->model);
    h5file_unlock();
}

static const char *results_path(const EvalContext *c) {
    return c->out ? c->out : c->run;
}

hid_t eval_begin(const EvalContext *c, char *tmp, size_t cap, Error *err) {
    const char *path = results_path(c);
    snprintf(tmp, cap, "%s", path); // kept for the callers; the file is built in memory
    struct stat st;
    if (stat(path, &st) == 0) {
        return h5file_open_mem(path, err);
    }
    hid_t f = h5file_create_mem(path, err);
    if (f >= 0 && h5_attr_str(f, "run", c->run) != 0) {
        H5Fclose(f);
        f = error_set(err, "cannot create '%s' in memory", path);
    }
    return f;
}

int eval_commit(const EvalContext *c, hid_t f, const char *tmp, Error *err) {
    (void)tmp;
    return h5file_save(f, results_path(c), err);
}

hid_t eval_open_results(const EvalContext *c) {
    struct stat st;
    if (stat(results_path(c), &st) != 0) return -1;
    Error e;
    return h5file_open_read(results_path(c), &e);
}

int attach_scale(hid_t loc, hid_t data, int dim, const char *name, const double *values, int n) {
    hid_t ds;
    if (H5Lexists(loc, name, H5P_DEFAULT) > 0) {
        ds = H5Dopen2(loc, name, H5P_DEFAULT);
    } else {
        hsize_t d = (hsize_t)n;
        if (h5_write(loc, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &d, values) != 0) return -1;
        ds = H5Dopen2(loc, name, H5P_DEFAULT);
        if (ds < 0 || H5DSset_scale(ds, name) < 0) return -1;
    }
    int rc = H5DSattach_scale(data, ds, (unsigned)dim) < 0 ? -1 : 0;
    H5Dclose(ds);
    return rc;
}
