// Parity with an independent PyTorch implementation (tests/reference/, written from the DIFF
// paper, the official module's semantics and docs/attention.md), in the way llm.c's
// test_gpt2.c proves its GPT-2. For every variant and every DINT G/gamma mode, on a fixed
// batch: logits, loss and every parameter gradient, then the losses of 10 AdamW steps.
//
// The reference runs in float64 from the same fp32 weights, so it is the exact value of the
// function and each error below is this harness's own fp32 error. Tolerances, per tensor
// family, are about 10x the largest error measured over all cases here (2026-11):
//  - logits (max-abs error / max |logit|) and loss (relative): 1e-5; measured 9.5e-7 and
//    3.8e-8. fp32 has 6e-8 unit roundoff and a 2-layer forward accumulates a few hundred
//    roundings per value. The ceiling is 1e-4.
//  - gradients (||c - r|| / ||r|| per tensor): 2e-5; measured 1.7e-6. Backward chains twice
//    as many operations and the softmax backward subtracts nearly equal terms.
//  - lambda/gamma vector gradients: 1e-4; measured 5.9e-6. They are a scalar d lambda, a sum
//    of O(B T H 2d) terms of mixed sign, times exp(q.k) factors.
//  - AdamW losses: 2e-5 relative at each of 10 steps; measured 1.6e-6. Adam divides by
//    sqrt(v), so rounding-level gradient differences can change an element's first step.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad_util.h"
#include "h5io.h"
#include "layers.h"
#include "model.h"
#include "optim.h"

#define PYTHON "/usr/bin/python3"

typedef struct {
    const char *label;
    Variant variant;
    GMode g;
    GammaMode gamma;
    float gamma_value;
    int head_norm, head_norm_gain, lambda_schedule, tie;
} ParityCase;

static const ParityCase CASES[] = {
    {"transformer", VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_ZERO, 0, 1, 1, 1, 0},
    {"diff", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0, 1, 1, 1, 0},
    {"diff head_norm=off", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0, 0, 1, 1, 0},
    {"diff lambda_init=0.5 fixed-gain tied-emb", VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0, 1, 0, 0,
     1},
    {"dint causal tied", VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0, 1, 1, 1, 0},
    {"dint causal zero", VARIANT_DINT, GMODE_CAUSAL, GAMMA_ZERO, 0, 1, 1, 1, 0},
    {"dint causal learned", VARIANT_DINT, GMODE_CAUSAL, GAMMA_LEARNED, 0, 1, 1, 1, 0},
    {"dint causal fixed:0.5", VARIANT_DINT, GMODE_CAUSAL, GAMMA_FIXED, 0.5f, 1, 1, 1, 0},
    {"dint full tied", VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 0, 1, 1, 1, 0},
    {"dint full zero", VARIANT_DINT, GMODE_FULL, GAMMA_ZERO, 0, 1, 1, 1, 0},
    {"dint full learned", VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0, 1, 1, 1, 0},
    {"dint full fixed:0.5", VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.5f, 1, 1, 1, 0},
    {"dint uniform tied", VARIANT_DINT, GMODE_UNIFORM, GAMMA_TIED, 0, 1, 1, 1, 0},
    {"dint uniform learned", VARIANT_DINT, GMODE_UNIFORM, GAMMA_LEARNED, 0, 1, 1, 1, 0},
};

enum { B = 2, T = 12, ADAM_STEPS = 10 };

static RunConfig case_config(const ParityCase *pc) {
    RunConfig rc;
    config_defaults(&rc);
    rc.model = tiny_model_config(pc->variant, pc->g, pc->gamma, pc->gamma_value);
    rc.model.head_norm = pc->head_norm;
    rc.model.head_norm_gain = pc->head_norm_gain;
    rc.model.lambda_schedule = pc->lambda_schedule;
    rc.model.lambda_init_const = 0.5f;
    rc.model.tie_embeddings = pc->tie;
    rc.train.steps = ADAM_STEPS;
    rc.train.warmup = 3;
    rc.train.lr = 1e-2f;
    rc.train.batch_size = B;
    rc.train.seq_len = T;
    cr_assert_eq(config_resolve(&rc, NULL), 0);
    return rc;
}

static void write_input(const char *path, const RunConfig *rc, const Model *m, const int *tokens,
                        const int *targets) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot create %s", path);
    char *json = config_to_json(rc);
    cr_assert_eq(h5_attr_str(f, "config", json), 0);
    free(json);
    hid_t gm = h5_group(f, "model"), gp = h5_group(gm, "params");
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamInfo *pi = &m->info[i];
        hsize_t dims[2] = {(hsize_t)pi->shape[0], (hsize_t)pi->shape[1]};
        cr_assert_eq(h5_write_f32(gp, pi->name, pi->ndim, dims, m->params + pi->offset), 0);
    }
    hid_t gb = h5_group(f, "parity");
    hsize_t bt[2] = {B, T};
    cr_assert_eq(h5_write(gb, "tokens", H5T_NATIVE_INT, H5T_STD_I32LE, 2, bt, tokens), 0);
    cr_assert_eq(h5_write(gb, "targets", H5T_NATIVE_INT, H5T_STD_I32LE, 2, bt, targets), 0);
    H5Gclose(gb);
    H5Gclose(gp);
    H5Gclose(gm);
    H5Fclose(f);
}

static double *read_ref(hid_t f, const char *name, long n) {
    double *buf = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    cr_assert_eq(h5_read(f, name, H5T_NATIVE_DOUBLE, (hsize_t)n, buf), 0,
                 "reference output lacks %s (%ld values)", name, n);
    return buf;
}

// ||c - r|| / ||r|| over n values (c in fp32, r in float64).
static double rel_norm_err(const float *c, const double *r, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += (c[i] - r[i]) * (c[i] - r[i]);
        den += r[i] * r[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

typedef struct {
    double logits, loss, grad, grad_lambda, adam_loss;
} Worst;
static Worst worst;

// Largest error per (case, tensor family), printed as a table at the end.
enum { FAM_LOGITS, FAM_LOSS, FAM_EMB, FAM_ATTN, FAM_NORM, FAM_FFN, FAM_LAMBDA, FAM_ADAM, N_FAM };
static const char *FAMILY[N_FAM] = {"logits", "loss", "embed/head",   "q/k/v/out",
                                    "norms",  "ffn",  "lambda/gamma", "adam loss"};
static double family_worst[16][N_FAM];

static int family_of(const char *name) {
    if (strstr(name, ".lambda_") || strstr(name, ".gamma_")) return FAM_LAMBDA;
    if (strstr(name, "norm") || strstr(name, "subln")) return FAM_NORM;
    if (strstr(name, "_proj") && strstr(name, ".attn.")) return FAM_ATTN;
    if (strstr(name, ".ffn.")) return FAM_FFN;
    return FAM_EMB;
}

static void run_case(const ParityCase *pc, double *fw) {
    RunConfig rc = case_config(pc);
    Model m;
    cr_assert_eq(model_build(&m, &rc.model, NULL), 0);
    model_init_params(&m, 42);
    int tokens[B * T], targets[B * T];
    tiny_tokens(tokens, B * T, rc.model.vocab_size, 3);
    tiny_tokens(targets, B * T, rc.model.vocab_size, 4);
    char in[512], out[512], cmd[2048];
    snprintf(in, sizeof in, "%s/parity_in.h5", SCRATCH_DIR);
    snprintf(out, sizeof out, "%s/parity_out.h5", SCRATCH_DIR);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && rm -f '%s'", SCRATCH_DIR, out);
    cr_assert_eq(system(cmd), 0);
    write_input(in, &rc, &m, tokens, targets);
    snprintf(cmd, sizeof cmd, PYTHON " '%s/parity.py' '%s' '%s' --adam-steps %d", REFERENCE_DIR, in,
             out, ADAM_STEPS);
    cr_assert_eq(system(cmd), 0, "[%s] the PyTorch reference failed: %s", pc->label, cmd);

    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "[%s] no reference output", pc->label);
    long V = rc.model.vocab_size;
    // Logits: raw, from a forward without targets.
    model_forward(&m, tokens, NULL, B, T);
    double *rl = read_ref(f, "/logits", (long)B * T * V);
    double maxerr = 0, maxref = 0;
    for (long i = 0; i < (long)B * T * V; i++) {
        maxerr = fmax(maxerr, fabs(m.logits[i] - rl[i]));
        maxref = fmax(maxref, fabs(rl[i]));
    }
    free(rl);
    double e = maxerr / maxref;
    worst.logits = fmax(worst.logits, e);
    fw[FAM_LOGITS] = e;
    cr_expect_leq(e, 1e-5, "[%s] logits: relative error %.3e > 1e-5", pc->label, e);

    model_zero_grad(&m);
    double loss = model_forward(&m, tokens, targets, B, T);
    model_backward(&m, tokens, 1.0f / (B * T));
    double *rloss = read_ref(f, "/loss", 1);
    e = fabs(loss - rloss[0]) / fabs(rloss[0]);
    worst.loss = fmax(worst.loss, e);
    fw[FAM_LOSS] = e;
    cr_expect_leq(e, 1e-5, "[%s] loss: %.9g vs reference %.9g (relative error %.3e)", pc->label,
                  loss, rloss[0], e);
    free(rloss);
    for (int i = 0; i < m.n_tensors; i++) {
        const ParamInfo *pi = &m.info[i];
        char name[160];
        snprintf(name, sizeof name, "/grads/%s", pi->name);
        double *rg = read_ref(f, name, pi->numel);
        double err = rel_norm_err(m.grads + pi->offset, rg, pi->numel);
        free(rg);
        int scalar_path = strstr(pi->name, ".lambda_") || strstr(pi->name, ".gamma_");
        double tol = scalar_path ? 1e-4 : 2e-5;
        fw[family_of(pi->name)] = fmax(fw[family_of(pi->name)], err);
        if (scalar_path)
            worst.grad_lambda = fmax(worst.grad_lambda, err);
        else
            worst.grad = fmax(worst.grad, err);
        cr_expect_leq(err, tol, "[%s] gradient of %s: relative error %.3e > %.0e", pc->label,
                      pi->name, err, tol);
    }

    // 10 AdamW steps on the same batch, same schedule and clipping as dint train.
    AdamW opt;
    adamw_init(&opt, m.n_params);
    double *rlosses = read_ref(f, "/adam/losses", ADAM_STEPS);
    for (int s = 0; s < ADAM_STEPS; s++) {
        model_zero_grad(&m);
        double l = model_forward(&m, tokens, targets, B, T);
        model_backward(&m, tokens, 1.0f / (B * T));
        double gn = grad_global_norm(m.grads, m.n_params);
        grad_clip(m.grads, m.n_params, gn, rc.train.grad_clip);
        adamw_step(&opt, &m, lr_schedule(&rc.train, s), &rc.train);
        e = fabs(l - rlosses[s]) / fabs(rlosses[s]);
        worst.adam_loss = fmax(worst.adam_loss, e);
        fw[FAM_ADAM] = fmax(fw[FAM_ADAM], e);
        cr_expect_leq(e, 2e-5, "[%s] AdamW step %d loss %.9g vs reference %.9g (relative %.3e)",
                      pc->label, s, l, rlosses[s], e);
    }
    free(rlosses);
    adamw_free(&opt);
    H5Fclose(f);
    model_free(&m);
}

Test(parity, every_variant_and_mode_against_pytorch) {
    h5_quiet();
    threads_init(2);
    memset(&worst, 0, sizeof worst);
    size_t n_cases = sizeof CASES / sizeof CASES[0];
    // DINT_PARITY_ONLY=LABEL runs the cases whose label starts with LABEL (tests/test_extend.sh).
    const char *only = getenv("DINT_PARITY_ONLY");
    int ran = 0;
    for (size_t i = 0; i < n_cases; i++)
        if (!only || !strncmp(CASES[i].label, only, strlen(only)))
            run_case(&CASES[i], family_worst[i]), ran++;
    cr_assert(ran > 0, "no parity case matches DINT_PARITY_ONLY=%s", only ? only : "");
    printf("%-42s", "largest relative error");
    for (int k = 0; k < N_FAM; k++) printf(" %12s", FAMILY[k]);
    printf("\n");
    for (size_t i = 0; i < n_cases; i++) {
        if (only && strncmp(CASES[i].label, only, strlen(only))) continue;
        printf("%-42s", CASES[i].label);
        for (int k = 0; k < N_FAM; k++) {
            if (family_worst[i][k] == 0 && k == FAM_LAMBDA &&
                CASES[i].variant == VARIANT_TRANSFORMER)
                printf(" %12s", "-");
            else
                printf(" %12.2e", family_worst[i][k]);
        }
        printf("\n");
    }
    // The largest errors seen, for the record (ctest --output-on-failure -V shows them).
    printf("parity worst relative errors: logits %.2e, loss %.2e, gradients %.2e, "
           "lambda/gamma gradients %.2e, AdamW losses %.2e\n",
           worst.logits, worst.loss, worst.grad, worst.grad_lambda, worst.adam_loss);
}
