// dint bench: training-step throughput of one variant on random tokens, beside the machine's
// sgemm rate measured in the same run (single-thread, and on --threads threads at once, the way
// the model runs sgemm: OpenBLAS single-threaded inside OpenMP), so speed is also reported as
// model FLOP utilisation; and the process's peak resident memory (getrusage ru_maxrss).
#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "layers.h"
#include "memory_plan.h"
#include "model.h"
#include "optim.h"
#include "options.h"
#include "phase_timer.h"
#include "tokenizer.h"
#include "trainer.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// GFLOP/s of one single-threaded 1024^3 sgemm, best of 3.
static double sgemm_ceiling(void) {
    int n = 1024;
    float *a = xmalloc(sizeof(float) * n * n), *b = xmalloc(sizeof(float) * n * n);
    float *c = xmalloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double g = 2.0 * n * n * n / (now_seconds() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

// GFLOP/s of n threads each running its own single-threaded 1024^3 sgemm at the same time
// (the model's matmuls run that way), total over the threads, best of 3.
static double sgemm_ceiling_threads(int threads) {
    int n = 1024;
    double best = 0;
    float *buf[64][3] = {{0}};
    if (threads > 64) threads = 64;
    for (int t = 0; t < threads; t++)
        for (int j = 0; j < 3; j++) {
            buf[t][j] = xmalloc(sizeof(float) * n * n);
            for (long i = 0; i < (long)n * n; i++) buf[t][j][i] = (float)(i % 7) * 0.1f;
        }
    for (int r = 0; r < 3; r++) {
        double t0 = now_seconds();
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int t = 0; t < threads; t++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, buf[t][0], n,
                        buf[t][1], n, 0.0f, buf[t][2], n);
        double g = threads * 2.0 * n * n * n / (now_seconds() - t0) / 1e9;
        if (g > best) best = g;
    }
    for (int t = 0; t < threads; t++)
        for (int j = 0; j < 3; j++) free(buf[t][j]);
    return best;
}

// Floating-point operations of one training step per token, as this code executes them:
// 6 per matmul weight (forward 2, backward 4) and the streaming attention's products over the
// causal half of the scores (~T/2 keys per query): forward Q K^T and P V, backward the
// recomputed Q K^T, P^T dO, dO V^T, dS^T Q and dS K, per map and head.
static double flops_per_token(const ModelConfig *c, int T) {
    double D = c->d_model, F = c->ffn_dim, V = c->vocab_size;
    double mat = c->n_layer * (4 * D * D + 3 * D * F) + V * D;
    double H = model_n_heads(c), maps = model_n_maps(c), d = c->head_dim, vd = model_v_dim(c);
    double attn = c->n_layer * H * maps * (T / 2.0) * 2 * (4 * d + 3 * vd);
    return 6 * mat + attn;
}

// Model FLOPs per token, the usual definition (6 N + 12 L T d_model, N the parameters without
// the embedding): the numerator of model FLOP utilisation, whatever the kernels execute.
static double model_flops_per_token(const Model *m, int T) {
    const ModelConfig *c = &m->cfg;
    double N = (double)m->n_params - (double)c->vocab_size * c->d_model;
    return 6 * N + 12.0 * c->n_layer * T * c->d_model;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; // kilobytes on Linux
}

// The config key an option sets (--variant, --seq) or a --set assignment (key NULL).
typedef struct {
    RunConfig *cfg;
    const char *section, *key;
} ConfigOption;

static int take_config(void *ctx, const char *value, Error *err) {
    const ConfigOption *o = ctx;
    if (!o->key) return config_set_assignment(o->cfg, value, err);
    return config_set(o->cfg, o->section, o->key, value, err);
}

// The same random tokens every step.
typedef struct {
    const int *tokens, *targets;
} FixedBatch;

static void fixed_batch(void *ctx, int *tokens, int *targets, unsigned char *answer_needles, int B,
                        int T) {
    (void)answer_needles;
    const FixedBatch *fb = ctx;
    memcpy(tokens, fb->tokens, sizeof(int) * (size_t)B * T);
    memcpy(targets, fb->targets, sizeof(int) * (size_t)B * T);
}

static int parse_args(int argc, char **argv, RunConfig *cfg, int *steps, int *threads, int *json,
                      Error *err) {
    ConfigOption variant = {cfg, "model", "variant"}, set = {cfg, NULL, NULL},
                 seq = {cfg, "train", "seq_len"};
    const OptionCall take_variant = {take_config, &variant}, take_set = {take_config, &set},
                     take_seq = {take_config, &seq};
    const Option opts[] = {{"--variant", OPT_CALL, (void *)&take_variant},
                           {"--set", OPT_CALL, (void *)&take_set},
                           {"--seq", OPT_CALL, (void *)&take_seq},
                           {"--steps", OPT_INT, steps},
                           {"--threads", OPT_INT, threads},
                           {"--json", OPT_FLAG, json}};
    const OptionsStyle style = {" (dint bench [--variant V] [--seq N] [--set k=v]... [--steps N] "
                                "[--threads N] [--json])",
                                200, 1};
    return options_parse_styled(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &style, err);
}

// Median seconds of `steps` training steps (after `warmup` untimed ones) on random tokens; the
// mean seconds per step of each phase over the timed steps in phase_mean, and their mean
// step time in *mean_step.
static double median_step_seconds(Model *m, const RunConfig *cfg, int warmup, int steps,
                                  double phase_mean[PHASE_COUNT], double *mean_step) {
    AdamW opt;
    adamw_init(&opt, m->n_params);
    int B = cfg->train.batch_size, T = cfg->train.seq_len;
    int *random = xmalloc(sizeof(int) * B * T * 2), *tokens = xmalloc(sizeof(int) * B * T),
        *targets = xmalloc(sizeof(int) * B * T);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 1);
    for (int i = 0; i < B * T; i++) {
        random[i] = (int)gsl_rng_uniform_int(rng, 256);
        random[B * T + i] = (int)gsl_rng_uniform_int(rng, 256);
    }
    FixedBatch batch = {random, random + B * T};
    TrainConfig one_batch = cfg->train; // one micro-batch per timed step
    one_batch.grad_accum = 1;
    const TrainStep ts = {.model = m,
                          .opt = &opt,
                          .t = &one_batch,
                          .next_batch = fixed_batch,
                          .batch_ctx = &batch,
                          .tokens = tokens,
                          .targets = targets};
    double *times = xmalloc(sizeof(double) * steps);
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            phase_timer_reset();
            phase_timer_enable(1);
        }
        double t0 = now_seconds();
        TrainStepResult r;
        train_step(&ts, 1e-3f, &r); // a NaN step is timed without its AdamW update
        if (s >= warmup) times[s - warmup] = now_seconds() - t0;
    }
    phase_timer_enable(0);
    *mean_step = 0.0;
    for (int s = 0; s < steps; s++) *mean_step += times[s] / steps;
    for (int p = 0; p < PHASE_COUNT; p++) phase_mean[p] = phase_timer_seconds((Phase)p) / steps;
    qsort(times, steps, sizeof(double), cmp_double);
    double median = times[steps / 2];
    free(times);
    free(random);
    free(tokens);
    free(targets);
    gsl_rng_free(rng);
    adamw_free(&opt);
    return median;
}

int cmd_bench(int argc, char **argv) {
    RunConfig cfg;
    config_defaults(&cfg);
    cfg.model.n_layer = 2;
    int steps = 10, warmup = 2, threads = omp_get_num_procs(), json = 0;
    Error err;
    if (parse_args(argc, argv, &cfg, &steps, &threads, &json, &err) != 0) {
        cli_error("bench", err.msg);
        return EXIT_USAGE;
    }
    if (steps < 1 || threads < 1) {
        cli_error("bench", "--steps and --threads must be positive");
        return EXIT_USAGE;
    }
    cfg.model.vocab_size = tokenizer_vocab_size(cfg.data.tokenizer);
    if (config_resolve(&cfg, &err) != 0 || memory_check_training(&cfg, threads, &err) != 0) {
        cli_error("bench", err.msg);
        return EXIT_USAGE;
    }
    threads_init(1);
    double ceiling = sgemm_ceiling();
    threads_init(threads);
    double ceiling_n = sgemm_ceiling_threads(threads);
    double rss_before = peak_rss_mb(); // the sgemm buffers: 12 MB per thread
    Model m;
    if (model_build(&m, &cfg.model, &err) != 0) {
        cli_error("bench", err.msg);
        return EXIT_USAGE;
    }
    model_init_params(&m, cfg.seed);
    int B = cfg.train.batch_size, T = cfg.train.seq_len;
    double phase_mean[PHASE_COUNT], mean_step;
    double median = median_step_seconds(&m, &cfg, warmup, steps, phase_mean, &mean_step);
    double phase_sum = 0.0;
    for (int p = 0; p < PHASE_COUNT; p++) phase_sum += phase_mean[p];
    double tps = B * T / median;
    double gflops = flops_per_token(&cfg.model, T) * tps / 1e9;
    double model_gflops = model_flops_per_token(&m, T) * tps / 1e9;
    double mfu = model_gflops / ceiling_n, rss = peak_rss_mb();
    if (json) {
        printf("{\"impl\": \"dint\", \"variant\": \"%s\", \"threads\": %d, \"n_layer\": %d, "
               "\"d_model\": %d, \"head_dim\": %d, \"ffn_dim\": %d, \"vocab\": %d, "
               "\"seq_len\": %d, \"batch_size\": %d, \"params\": %ld, \"tokens_per_s\": %.1f, "
               "\"median_step_s\": %.6f, \"gflops\": %.2f, \"model_gflops\": %.2f, "
               "\"sgemm_1thread_gflops\": %.2f, \"sgemm_threads_gflops\": %.2f, \"mfu\": %.4f, "
               "\"peak_rss_mb\": %.1f, \"peak_rss_mb_before_model\": %.1f, \"mean_step_s\": %.6f, "
               "\"phases_s\": {",
               variant_name(cfg.model.variant), threads, cfg.model.n_layer, cfg.model.d_model,
               cfg.model.head_dim, cfg.model.ffn_dim, cfg.model.vocab_size, T, B, m.n_params, tps,
               median, gflops, model_gflops, ceiling, ceiling_n, mfu, rss, rss_before, mean_step);
        for (int p = 0; p < PHASE_COUNT; p++)
            printf("\"%s\": %.6f, ", phase_name((Phase)p), phase_mean[p]);
        printf("\"other\": %.6f}}\n", mean_step - phase_sum);
    } else {
        printf("dint %s, %d thread(s), %d layers x d_model %d, batch %d x seq %d, %ld parameters: "
               "%.0f tok/s (median of %d steps), %.1f GFLOP/s executed; model FLOPs (6 N + 12 L T "
               "d_model per token) %.1f GFLOP/s = %.0f%% MFU of the measured %d-thread sgemm rate "
               "(%.1f GFLOP/s; single thread %.1f); peak resident memory %.0f MB\n",
               variant_name(cfg.model.variant), threads, cfg.model.n_layer, cfg.model.d_model, B, T,
               m.n_params, tps, steps, gflops, model_gflops, 100 * mfu, threads, ceiling_n, ceiling,
               rss);
        printf("  per step (mean of %d, %.2f ms):", steps, 1e3 * mean_step);
        for (int p = 0; p < PHASE_COUNT; p++)
            printf(" %s %.2f,", phase_name((Phase)p), 1e3 * phase_mean[p]);
        printf(" other %.2f ms\n", 1e3 * (mean_step - phase_sum));
    }
    model_free(&m);
    return 0;
}
