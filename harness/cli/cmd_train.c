// dint train: build the config, load the corpus, train with AdamW, checkpoint to the run file.
#include <cjson/cJSON.h>
#include <gsl/gsl_rng.h>
#include <hdf5.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config_file.h"
#include "corpus.h"
#include "audit.h"
#include "datasets.h"
#include "h5file.h"
#include "h5io.h"
#include "mixture.h"
#include "layers.h"
#include "model.h"
#include "optim.h"
#include "runfile.h"
#include "tokenizer.h"

// Independent 32-bit seeds for parameter init and batch sampling, derived from the run seed
// (MT19937 takes 32 bits), so the data order does not depend on the model's size.
static unsigned long derive_seed(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (unsigned long)((z ^ (z >> 31)) & 0xFFFFFFFFULL);
}

// A loss above spike_factor times the median of the previous spike_window losses (once 10
// losses exist).
static int is_loss_spike(const History *h, double loss, const TrainConfig *t) {
    long n = h->n < t->spike_window ? h->n : t->spike_window;
    if (n < 10) return 0;
    double *w = xmalloc(sizeof(double) * (size_t)n);
    memcpy(w, h->loss + h->n - n, sizeof(double) * (size_t)n);
    gsl_sort(w, 1, (size_t)n);
    double median = gsl_stats_median_from_sorted_data(w, 1, (size_t)n);
    free(w);
    return loss > t->spike_factor * median;
}

// Gradient L2 norm of each layer's tensors (names "layers.<l>."), before clipping.
static void layer_grad_norms(const Model *m, double *out, float clip_scale) {
    for (int l = 0; l < m->cfg.n_layer; l++) {
        char prefix[32];
        int np = snprintf(prefix, sizeof prefix, "layers.%d.", l);
        double ss = 0.0;
        for (int i = 0; i < m->n_tensors; i++) {
            const ParamInfo *pi = &m->info[i];
            if (strncmp(pi->name, prefix, (size_t)np) != 0) continue;
            const float *g = m->grads + pi->offset;
            for (long j = 0; j < pi->numel; j++) ss += (double)g[j] * g[j];
        }
        out[l] = sqrt(ss) / clip_scale;
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void format_duration(double s, char *buf, size_t n) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    else if (t >= 60)
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, n, "%lds", t);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

typedef struct {
    const char *variant, *data, *out, *config;
    const char *sets[256];
    int n_sets;
    const char *seed;
    const char *init_from; // start from this run file's weights
    int resume;
    long stop_at;
    int threads;
} TrainArgs;

static int parse_args(int argc, char **argv, TrainArgs *a, Error *err) {
    memset(a, 0, sizeof *a);
    a->stop_at = -1;
    a->threads = omp_get_num_procs();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE                                                                                 \
    if (!val) return error_set(err, "option %s needs a value", arg);                               \
    i++
        if (!strcmp(arg, "--variant")) {
            NEED_VALUE;
            a->variant = val;
        } else if (!strcmp(arg, "--data")) {
            NEED_VALUE;
            a->data = val;
        } else if (!strcmp(arg, "--out")) {
            NEED_VALUE;
            a->out = val;
        } else if (!strcmp(arg, "--config")) {
            NEED_VALUE;
            a->config = val;
        } else if (!strcmp(arg, "--seed")) {
            NEED_VALUE;
            a->seed = val;
        } else if (!strcmp(arg, "--set")) {
            NEED_VALUE;
            if (a->n_sets == 256) return error_set(err, "too many --set options (at most 256)");
            a->sets[a->n_sets++] = val;
        } else if (!strcmp(arg, "--stop-at")) {
            NEED_VALUE;
            char *end;
            a->stop_at = strtol(val, &end, 10);
            if (*end || a->stop_at < 1)
                return error_set(err, "--stop-at takes a step number >= 1, not '%s'", val);
        } else if (!strcmp(arg, "--threads")) {
            NEED_VALUE;
            char *end;
            a->threads = (int)strtol(val, &end, 10);
            if (*end || a->threads < 1 || a->threads > 256)
                return error_set(err, "--threads takes a count from 1 to 256, not '%s'", val);
        } else if (!strcmp(arg, "--init-from")) {
            NEED_VALUE;
            a->init_from = val;
        } else if (!strcmp(arg, "--resume"))
            a->resume = 1;
        else
            return error_set(err, "unknown option '%s' (see dint --help)", arg);
#undef NEED_VALUE
    }
    if (!a->out) return error_set(err, "--out RUN.h5 is required");
    if (a->resume) {
        if (a->variant || a->config || a->n_sets || a->seed || a->init_from)
            return error_set(err,
                             "--resume continues a run with the config stored in '%s'; drop "
                             "--variant, --config, --set, --seed and --init-from",
                             a->out);
        if (!file_exists(a->out))
            return error_set(err, "cannot resume: run file '%s' does not exist", a->out);
        return 0;
    }
    if (!a->variant) return error_set(err, "--variant transformer|diff|dint is required");
    if (!a->data) return error_set(err, "--data PATH (a text file or a directory) is required");
    if (file_exists(a->out))
        return error_set(err,
                         "'%s' already exists; use --resume to continue it or choose another --out",
                         a->out);
    if (a->init_from && !file_exists(a->init_from))
        return error_set(err, "--init-from: run file '%s' does not exist", a->init_from);
    return 0;
}

// The "model" object of a config as JSON text (to compare two runs' architectures).
static char *model_json(const RunConfig *c) {
    char *all = config_to_json(c);
    cJSON *root = cJSON_Parse(all);
    free(all);
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "model"));
    cJSON_Delete(root);
    return text;
}

// --init-from: copy the weights of another run whose model config is the same (training
// settings, data and seed may differ: a curriculum stage); the optimizer starts fresh.
// provenance gets "PATH (step N of its training, created T)".
static int init_from_run(Model *m, const RunConfig *cfg, const char *path, char *provenance,
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
            hid_t g = H5Gopen2(f, "/train", H5P_DEFAULT);
            if (g >= 0) {
                h5_read_attr_num(g, "steps_done", H5T_NATIVE_LONG, &steps);
                H5Gclose(g);
            }
            created = h5_read_attr_str(f, "created_utc");
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

static int build_config(const TrainArgs *a, RunConfig *cfg, Error *err) {
    config_defaults(cfg);
    if (config_set(cfg, "model", "variant", a->variant, err) != 0)
        return error_set(err, "unknown variant '%s': expected transformer, diff or dint",
                         a->variant);
    if (a->config && config_load_ini(cfg, a->config, err) != 0) return -1;
    for (int i = 0; i < a->n_sets; i++)
        if (config_set_assignment(cfg, a->sets[i], err) != 0) return -1;
    // --variant wins over a variant in the config file or --set.
    config_set(cfg, "model", "variant", a->variant, NULL);
    if (a->seed) {
        char *end;
        unsigned long long s = strtoull(a->seed, &end, 10);
        if (*end || a->seed[0] == '-' || !a->seed[0])
            return error_set(err, "--seed takes a non-negative integer, not '%s'", a->seed);
        cfg->seed = s;
    }
    cfg->model.vocab_size = tokenizer_vocab_size(cfg->data.tokenizer);
    return config_resolve(cfg, err);
}

// Mean validation NLL over the fixed validation windows.
static double validation_loss(Model *m, const Corpus *c, const TrainConfig *t, int *tokens,
                              int *targets) {
    double total = 0.0;
    for (int i = 0; i < t->eval_batches; i++) {
        corpus_heldout_batch(c, SPLIT_VAL, i, t->eval_batches, tokens, targets, t->batch_size,
                             t->seq_len);
        total += model_forward(m, tokens, targets, t->batch_size, t->seq_len);
    }
    return total / t->eval_batches;
}

int cmd_train(int argc, char **argv) {
    Error err;
    TrainArgs a;
    if (parse_args(argc, argv, &a, &err) != 0) {
        cli_error("train", err.msg);
        return EXIT_USAGE;
    }
    threads_init(a.threads);
    // One writer per run file: a second train --resume (or an eval) of it is refused at once.
    if (h5file_lock(a.out, &err) != 0) {
        cli_error("train", err.msg);
        return EXIT_USAGE;
    }
    RunConfig cfg;
    char data_spec[4096], data_path[4096];
    if (a.resume) {
        if (runfile_read_config(a.out, &cfg, &err) != 0) {
            cli_error("train", err.msg);
            return EXIT_USAGE;
        }
    } else {
        if (build_config(&a, &cfg, &err) != 0) {
            cli_error("train", err.msg);
            return EXIT_USAGE;
        }
        snprintf(data_spec, sizeof data_spec, "%s", a.data);
    }
    const TrainConfig *t = &cfg.train;
    Tokenizer tokenizer;
    if (data_open_tokenizer(&tokenizer, cfg.data.tokenizer, &err) != 0) {
        cli_error("train", err.msg);
        return EXIT_USAGE;
    }
    Tokenizer *tok = &tokenizer;
    DataSource source = {0};

    Model model;
    if (model_build(&model, &cfg.model, &err) != 0) {
        cli_error("train", err.msg);
        return EXIT_USAGE;
    }
    AdamW opt;
    adamw_init(&opt, model.n_params);
    History hist;
    history_init(&hist, cfg.model.n_layer);
    gsl_rng *data_rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(data_rng, derive_seed(cfg.seed, 1));
    Corpus corpus;
    RunState st = {.cfg = cfg,
                   .model = &model,
                   .opt = &opt,
                   .data_rng = data_rng,
                   .hist = &hist,
                   .corpus = &corpus,
                   .data_path = data_path,
                   .data_spec = data_spec,
                   .data_source = source.packages,
                   .tokenizer_identity = tok->identity,
                   .status = "running",
                   .threads = a.threads};
    int rc = 0;
    if (a.resume) {
        if (runfile_read_state(a.out, &st, data_spec, sizeof data_spec, &err) != 0) {
            cli_error("train", err.msg);
            rc = EXIT_USAGE;
        } else if (a.data && strcmp(a.data, data_spec) != 0) {
            char msg[600];
            snprintf(msg, sizeof msg,
                     "the run was trained on '%.250s', not '%.250s'; resume without --data",
                     data_spec, a.data);
            cli_error("train", msg);
            rc = EXIT_USAGE;
        }
    } else {
        model_init_params(&model, derive_seed(cfg.seed, 0));
        if (a.init_from && init_from_run(&model, &cfg, a.init_from, st.init_from,
                                         sizeof st.init_from, &err) != 0) {
            cli_error("train", err.msg);
            rc = EXIT_USAGE;
        }
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(st.created_utc, sizeof st.created_utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    char cache[4200] = "", corpus_spec[4096] = "";
    Mixture mix;
    memset(&mix, 0, sizeof mix);
    if (rc == 0 && (mixture_parse(&mix, data_spec, corpus_spec, sizeof corpus_spec, &err) != 0 ||
                    mixture_load(&mix, cfg.data.split_seed, &err) != 0)) {
        cli_error("train", err.msg);
        rc = EXIT_USAGE;
    }
    st.data_mixture = mix.description;
    mix.task_loss = cfg.data.task_loss;
    if (rc == 0 &&
        data_resolve_corpus(corpus_spec, data_path, sizeof data_path, &source, &err) != 0) {
        cli_error("train", err.msg);
        rc = EXIT_USAGE;
    } else if (rc == 0 && source.name[0]) {
        data_token_cache_path(source.name, tok, cache, sizeof cache);
    }
    if (rc == 0 &&
        corpus_load(&corpus, data_path, tok, cfg.data.val_fraction, cfg.data.test_fraction,
                    cfg.data.split_seed, cache[0] ? cache : NULL, &err) != 0) {
        cli_error("train", err.msg);
        rc = EXIT_USAGE;
    }
    if (rc == 0 && a.resume &&
        (corpus.n_tokens[0] != st.data_tokens[0] || corpus.n_tokens[1] != st.data_tokens[1] ||
         corpus.n_tokens[2] != st.data_tokens[2])) {
        snprintf(err.msg, sizeof err.msg,
                 "the data at '%.250s' changed since the run started (%ld/%ld/%ld train/val/test "
                 "tokens, the run file recorded %ld/%ld/%ld); resume needs the same data",
                 data_path, corpus.n_tokens[0], corpus.n_tokens[1], corpus.n_tokens[2],
                 st.data_tokens[0], st.data_tokens[1], st.data_tokens[2]);
        cli_error("train", err.msg);
        corpus_free(&corpus);
        rc = EXIT_USAGE;
    }
    int B = t->batch_size, T = t->seq_len;
    if (rc == 0 && (corpus.n_tokens[SPLIT_TRAIN] < T + 1 || corpus.n_tokens[SPLIT_VAL] < T + 1)) {
        snprintf(err.msg, sizeof err.msg,
                 "the corpus is too small for train.seq_len = %d: %ld train and %ld validation "
                 "tokens (need more than seq_len in each; use more text or a shorter seq_len)",
                 T, corpus.n_tokens[SPLIT_TRAIN], corpus.n_tokens[SPLIT_VAL]);
        cli_error("train", err.msg);
        corpus_free(&corpus);
        rc = EXIT_USAGE;
    }
    if (rc != 0) {
        mixture_free(&mix);
        tokenizer_close(&tokenizer);
        gsl_rng_free(data_rng);
        history_free(&hist);
        adamw_free(&opt);
        model_free(&model);
        return rc;
    }

    int *tokens = xmalloc(sizeof(int) * (size_t)B * T),
        *targets = xmalloc(sizeof(int) * (size_t)B * T);
    unsigned char *is_answer = xmalloc((size_t)B * T);
    long step = opt.step;
    long tokens_seen = hist.n ? hist.tokens[hist.n - 1] : 0;
    double seconds_before = hist.n ? hist.seconds[hist.n - 1] : 0.0;
    long tokens_per_step = (long)B * T * t->grad_accum;
    int checkpoint_every = t->checkpoint_every ? t->checkpoint_every : t->eval_every;
    fprintf(stderr,
            "dint train: %s, %ld parameters, %s %ld steps to go (%ld tokens each), %d thread(s)\n",
            variant_name(cfg.model.variant), model.n_params, a.resume ? "resuming," : "",
            (long)t->steps - step, tokens_per_step, a.threads);
    if (!a.resume) {
        double v = validation_loss(&model, &corpus, t, tokens, targets);
        if (!isfinite(v)) {
            fprintf(stderr, "dint train: error: divergence at step 0: validation loss is %g\n", v);
            rc = EXIT_DIVERGED;
        } else {
            history_push_val(&hist, 0, v);
            fprintf(stderr, "step %5d | val loss %.4f\n", 0, v);
        }
    }
    double t0 = now_seconds(), t_log = t0, log_answer_nll = 0.0;
    long log_answer_n = 0;
    long step_log = step;
    while (rc == 0 && step < t->steps) {
        model_zero_grad(&model);
        double loss = 0.0, answer_nll = 0.0;
        long n_answer = 0;
        for (int micro = 0; micro < t->grad_accum; micro++) {
            mixture_batch(&mix, &corpus, tok, data_rng, tokens, targets, is_answer, B, T);
            loss += model_forward(&model, tokens, targets, B, T) / t->grad_accum;
            for (long i = 0; i < (long)B * T; i++)
                if (is_answer[i]) answer_nll += model.nll[i], n_answer++;
            // The mean over this micro-batch's scored targets (all of them without
            // data.task_loss = all).
            if (model.n_scored)
                model_backward(&model, tokens, 1.0f / ((float)model.n_scored * t->grad_accum));
        }
        double gnorm = grad_global_norm(model.grads, model.n_params);
        if (!isfinite(loss) || !isfinite(gnorm)) {
            fprintf(stderr,
                    "dint train: error: divergence at step %ld: %s is %g; the run file keeps "
                    "the last good checkpoint (lower train.lr or raise train.warmup)\n",
                    step + 1, isfinite(loss) ? "gradient norm" : "loss",
                    isfinite(loss) ? gnorm : loss);
            rc = EXIT_DIVERGED;
            break;
        }
        float gnorm_scale = grad_clip(model.grads, model.n_params, gnorm, t->grad_clip);
        float lr = lr_schedule(t, step);
        adamw_step(&opt, &model, lr, t);
        step++;
        tokens_seen += tokens_per_step;
        double elapsed = now_seconds() - t0;
        int spike = is_loss_spike(&hist, loss, t);
        double answer_loss = n_answer ? answer_nll / (double)n_answer : NAN;
        if (n_answer) log_answer_nll += answer_nll, log_answer_n += n_answer;
        history_push(&hist, step, loss, answer_loss, lr, gnorm, tokens_seen,
                     seconds_before + elapsed, model.lambda, model.gamma, spike);
        if (spike)
            fprintf(stderr, "step %5ld | loss spike: %.4f is above %.3g x the running median\n",
                    step, loss, (double)t->spike_factor);
        if (t->audit_every && (step % t->audit_every == 0 || step == 1)) {
            // Cheap diagnostics from this step's last micro-batch: sampled attention rows
            // (recomputed from its q and k) and (unclipped norms of) its gradients.
            int L = cfg.model.n_layer;
            double *diag = xcalloc((size_t)L * 3, sizeof(double));
            layer_grad_norms(&model, diag + 2 * L, gnorm_scale);
            audit_row_sum_deviation(&model, B, T, diag, diag + L);
            history_push_audit(&hist, step, diag, diag + L, diag + 2 * L);
            free(diag);
        }
        if (step % t->log_every == 0 || step == t->steps) {
            double now = now_seconds();
            double tps = (double)(step - step_log) * tokens_per_step / (now - t_log + 1e-9);
            double eta = (double)(t->steps - step) * tokens_per_step / (tps + 1e-9);
            char eta_s[32];
            format_duration(eta, eta_s, sizeof eta_s);
            char answer_s[48] = "";
            if (log_answer_n)
                snprintf(answer_s, sizeof answer_s, " | answer loss %.4f",
                         log_answer_nll / (double)log_answer_n);
            fprintf(stderr,
                    "step %5ld/%d | loss %.4f%s | lr %.2e | grad norm %.3f | %.0f tok/s | ETA %s\n",
                    step, t->steps, loss, answer_s, (double)lr, gnorm, tps, eta_s);
            log_answer_nll = 0.0;
            log_answer_n = 0;
            t_log = now;
            step_log = step;
        }
        int eval_now = step % t->eval_every == 0 || step == t->steps;
        if (eval_now) {
            double v = validation_loss(&model, &corpus, t, tokens, targets);
            if (!isfinite(v)) {
                fprintf(stderr,
                        "dint train: error: divergence at step %ld: validation loss is %g; "
                        "the run file keeps the last good checkpoint\n",
                        step, v);
                rc = EXIT_DIVERGED;
                break;
            }
            history_push_val(&hist, step, v);
            fprintf(stderr, "step %5ld | val loss %.4f\n", step, v);
        }
        int stop_here = a.stop_at > 0 && step >= a.stop_at && step < t->steps;
        if (step % checkpoint_every == 0 || step == t->steps || stop_here) {
            st.status = step == t->steps ? "complete" : (stop_here ? "stopped" : "running");
            if (runfile_write(a.out, &st, &err) != 0) {
                cli_error("train", err.msg);
                rc = EXIT_USAGE;
                break;
            }
        }
        if (stop_here) {
            fprintf(stderr,
                    "dint train: stopped after step %ld as asked; continue with: dint train --out "
                    "%s --resume\n",
                    step, a.out);
            break;
        }
    }
    if (rc == 0 && step >= t->steps) {
        if (a.resume && hist.n == opt.step && step == t->steps && !a.stop_at)
            fprintf(stderr, "dint train: %s holds a complete run (%ld steps)\n", a.out, step);
        printf("%s\n", a.out);
        fprintf(stderr, "dint train: done; run file %s (see: dint info %s)\n", a.out, a.out);
    }
    free(tokens);
    free(targets);
    free(is_answer);
    corpus_free(&corpus);
    mixture_free(&mix);
    tokenizer_close(&tokenizer);
    gsl_rng_free(data_rng);
    history_free(&hist);
    adamw_free(&opt);
    model_free(&model);
    return rc;
}
