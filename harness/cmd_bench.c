// dint bench: training-step throughput of one variant on random tokens, beside the machine's
// measured single-thread sgemm rate, so speed is reported as a ratio measured in the same run.
#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "options.h"
#include "layers.h"
#include "model.h"
#include "optim.h"
#include "tokenizer.h"

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

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
        double t0 = seconds_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double g = 2.0 * n * n * n / (seconds_now() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

// Floating-point operations of one training step per token, as this code executes them:
// 6 per matmul weight (forward 2, backward 4) and the attention products over full T x T
// score matrices (the causal half is computed and then masked).
static double flops_per_token(const ModelConfig *c, int T) {
    double D = c->d_model, F = c->ffn_dim, V = c->vocab_size;
    double mat = c->n_layer * (4 * D * D + 3 * D * F) + V * D;
    double H = model_n_heads(c), maps = model_n_maps(c), d = c->head_dim, vd = model_v_dim(c);
    double attn = c->n_layer * H * maps * (2 * T * d + 2 * T * vd) * 3;
    return 6 * mat + attn;
}

int cmd_bench(int argc, char **argv) {
    RunConfig cfg;
    config_defaults(&cfg);
    cfg.model.n_layer = 2;
    int steps = 10, warmup = 2, threads = omp_get_num_procs(), json = 0;
    Error err;
    for (int i = 1; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(argv[i], "--variant") && val)
            bad = config_set(&cfg, "model", "variant", argv[++i], &err);
        else if (!strcmp(argv[i], "--set") && val)
            bad = config_set_assignment(&cfg, argv[++i], &err);
        else if (!strcmp(argv[i], "--seq") && val)
            bad = config_set(&cfg, "train", "seq_len", argv[++i], &err);
        else if ((!strcmp(argv[i], "--steps") || !strcmp(argv[i], "--threads")) && val) {
            const Option opt = {argv[i], OPT_INT, !strcmp(argv[i], "--steps") ? &steps : &threads};
            char *pair[3] = {argv[0], argv[i], argv[i + 1]};
            bad = options_parse(3, pair, &opt, 1, &err);
            i++;
        } else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            snprintf(err.msg, sizeof err.msg,
                     "unknown option '%.200s' (dint bench [--variant V] [--seq N] [--set k=v]... "
                     "[--steps N] [--threads N] [--json])",
                     argv[i]);
            bad = -1;
        }
        if (bad) {
            cli_error("bench", err.msg);
            return EXIT_USAGE;
        }
    }
    if (steps < 1 || threads < 1) {
        cli_error("bench", "--steps and --threads must be positive");
        return EXIT_USAGE;
    }
    cfg.model.vocab_size = tokenizer_vocab_size(cfg.data.tokenizer);
    if (config_resolve(&cfg, &err) != 0) {
        cli_error("bench", err.msg);
        return EXIT_USAGE;
    }
    threads_init(1);
    double ceiling = sgemm_ceiling();
    threads_init(threads);
    Model m;
    model_build(&m, &cfg.model, &err);
    model_init_params(&m, cfg.seed);
    AdamW opt;
    adamw_init(&opt, m.n_params);
    int B = cfg.train.batch_size, T = cfg.train.seq_len;
    int *tokens = xmalloc(sizeof(int) * B * T), *targets = xmalloc(sizeof(int) * B * T);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 1);
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int)gsl_rng_uniform_int(rng, 256);
        targets[i] = (int)gsl_rng_uniform_int(rng, 256);
    }
    double *times = xmalloc(sizeof(double) * steps);
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = seconds_now();
        model_zero_grad(&m);
        model_forward(&m, tokens, targets, B, T);
        model_backward(&m, tokens, 1.0f / (B * T));
        double gn = grad_global_norm(m.grads, m.n_params);
        grad_clip(m.grads, m.n_params, gn, cfg.train.grad_clip);
        adamw_step(&opt, &m, 1e-3f, &cfg.train);
        if (s >= warmup) times[s - warmup] = seconds_now() - t0;
    }
    qsort(times, steps, sizeof(double), cmp_double);
    double median = times[steps / 2];
    double tps = B * T / median;
    double gflops = flops_per_token(&cfg.model, T) * tps / 1e9;
    if (json)
        printf("{\"impl\": \"dint\", \"variant\": \"%s\", \"threads\": %d, \"n_layer\": %d, "
               "\"d_model\": %d, "
               "\"seq_len\": %d, \"batch_size\": %d, \"params\": %ld, \"tokens_per_s\": %.1f, "
               "\"gflops\": %.2f, \"sgemm_1thread_gflops\": %.2f}\n",
               variant_name(cfg.model.variant), threads, cfg.model.n_layer, cfg.model.d_model, T, B,
               m.n_params, tps, gflops, ceiling);
    else
        printf("dint %s, %d thread(s), %d layers x d_model %d, batch %d x seq %d, %ld parameters: "
               "%.0f tok/s (median of %d steps), %.1f GFLOP/s = %.0f%% of %d x the measured "
               "single-thread sgemm rate (%.1f GFLOP/s)\n",
               variant_name(cfg.model.variant), threads, cfg.model.n_layer, cfg.model.d_model, B, T,
               m.n_params, tps, steps, gflops, 100 * gflops / (ceiling * threads), threads,
               ceiling);
    free(times);
    free(tokens);
    free(targets);
    gsl_rng_free(rng);
    adamw_free(&opt);
    model_free(&m);
    return 0;
}
