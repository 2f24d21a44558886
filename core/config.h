// Run configuration: model shape, attention variant and ablation modes, training and data
// settings. Every key is addressable as "section.key" and serialises to JSON, so the resolved
// config of a run can be stored in its run file and read back exactly.
#ifndef DINT_CONFIG_H
#define DINT_CONFIG_H

#include <stdint.h>

#include "check.h"

typedef enum { VARIANT_TRANSFORMER = 0, VARIANT_DIFF = 1, VARIANT_DINT = 2 } Variant;
// G of DINT's global term: column means of A1 over the visible prefix (causal), over all rows
// (full: sees the future), or uniform over the visible prefix (G[i, j] = 1/(i+1) for j <= i: the
// same row normalisation with no information from the attention; the control of claim 6).
typedef enum { GMODE_CAUSAL = 0, GMODE_FULL = 1, GMODE_UNIFORM = 2 } GMode;
const char *g_mode_name(GMode g);
typedef enum { GAMMA_TIED = 0, GAMMA_ZERO = 1, GAMMA_LEARNED = 2, GAMMA_FIXED = 3 } GammaMode;

typedef struct {
    Variant variant;
    int vocab_size; // set from the tokenizer, not a user key
    int n_layer;
    int d_model;
    int head_dim; // d: the baseline head size; DIFF/DINT heads have q1,q2,k1,k2 of d and v of 2d
    int ffn_dim;  // 0 = 8/3 d_model rounded up to a multiple of 64
    float rope_theta;
    float norm_eps;
    float init_std;
    GMode g_mode;
    GammaMode gamma_mode;
    float gamma_value;   // for GAMMA_FIXED
    int head_norm;       // per-head RMSNorm on DIFF/DINT outputs
    int head_norm_gain;  // learnable per-channel gain (official code) in front of (1 - lambda_init)
    int lambda_schedule; // 1: lambda_init(l) = 0.8 - 0.6 exp(-0.3 l); 0: the constant below
    float lambda_init_const;
    int tie_embeddings;
} ModelConfig;

typedef struct {
    int steps;
    int batch_size; // sequences per micro-batch
    int grad_accum; // micro-batches per optimizer step
    int seq_len;
    float lr;
    float min_lr_frac; // cosine decays to lr * min_lr_frac
    int warmup;
    float weight_decay;
    float beta1, beta2, adam_eps;
    float grad_clip; // 0 = no clipping
    int eval_every;
    int eval_batches;
    int checkpoint_every; // 0 = at every evaluation
    int log_every;
    int audit_every; // training diagnostics cadence (0 = off)
    // A spike: a loss above spike_factor x the running median and above that median plus
    // spike_sigmas robust standard deviations of the last spike_window losses.
    float spike_factor;
    int spike_window;
    float spike_sigmas;
} TrainConfig;

typedef struct {
    char tokenizer[16];
    float val_fraction;
    float test_fraction;
    uint64_t split_seed;
    int task_loss; // data.task_loss: the index of its name in CONFIG_TASK_LOSS_NAMES (TaskLoss of
                   // harness/data/mixture.h, which interprets it)
} DataConfig;

// data.task_loss's names: the targets of the training mixture's task rows that are scored.
extern const char *const CONFIG_TASK_LOSS_NAMES[3];

// The synthetic keyed-recall task (tasks/recall.h), as a training-mixture part (`recall:W`) and
// the defaults of `dint eval recall`: K key->value pairs, then queries for keys of the context.
typedef struct {
    int pairs;       // K: queried-able pairs per context
    int queries;     // queries per context (0: as many as fill half the row), with replacement
    int key_len;     // tokens per key; >= 2: keys share tokens, only the whole key identifies
    int noise;       // gaps between pairs: random filler tokens (1) or one pad token (0)
    int distractors; // extra pairs per context whose key differs from a queried key in one token
    int symbols;     // tokens in each of the key and value sets
    int contexts;    // held-out contexts scored at every evaluation of a training run
    float threshold; // held-out accuracy that counts as recall (the recall onset)
} RecallConfig;

typedef struct {
    ModelConfig model;
    TrainConfig train;
    DataConfig data;
    RecallConfig recall;
    uint64_t seed;
} RunConfig;

void config_defaults(RunConfig *c);

// Set "section.key" from its text value. Unknown keys and malformed values are errors.
int config_set(RunConfig *c, const char *section, const char *key, const char *value, Error *err);
// Same, with "section.key=value" in one string (the --set form).
int config_set_assignment(RunConfig *c, const char *assignment, Error *err);

// Cross-key checks and derived values (ffn_dim, gamma normalised for non-DINT variants).
int config_resolve(RunConfig *c, Error *err);

// The resolved config as JSON text (caller frees), and back.
char *config_to_json(const RunConfig *c);
int config_from_json(RunConfig *c, const char *json, Error *err);

const char *variant_name(Variant v);
int variant_parse(const char *s, Variant *out);
// "tied", "zero", "learned", "fixed:0.5" into buf.
void gamma_mode_format(const ModelConfig *m, char *buf, int n);

// Number of attention heads and their sizes for the variant (docs/attention.md §2).
int model_n_heads(const ModelConfig *m); // 2H for Transformer, H for DIFF/DINT
int model_n_maps(const ModelConfig *m);  // softmax maps per head: 1 or 2
int model_v_dim(const ModelConfig *m);   // d or 2d
float model_lambda_init(const ModelConfig *m, int layer);

#endif
