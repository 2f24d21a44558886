#include "run_info.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "runfile.h"
#include "schema.h"
#include "variants.h"

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
    const VariantSpec *vs = variant_spec(mc->variant);
    printf("variant       %s", variant_name(mc->variant));
    if (vs->global_term)
        printf(", global term G %s%s, gamma %s", g_mode_name(mc->g_mode),
               mc->g_mode == GMODE_FULL ? " (NOT causal: future tokens leak into each position)"
                                        : "",
               gamma);
    if (vs->n_maps == 2) {
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
    const VariantSpec *vs = variant_spec(mc->variant);
    if (n > 0 && vs->n_maps == 2) {
        info_last_per_layer(f, RUN_TRAIN_LAMBDA, "lambda", n, mc->n_layer);
        if (vs->global_term) info_last_per_layer(f, RUN_TRAIN_GAMMA, "gamma", n, mc->n_layer);
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
    hid_t f = runfile_open(path, err);
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
