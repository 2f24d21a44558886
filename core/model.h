// The decoder shared by the three variants: parameters, activations, forward and backward.
// Parameters and gradients are each one contiguous buffer with a table of named tensors
// (names as in the PyTorch reference's state dict) and typed views into it.
#ifndef DINT_MODEL_H
#define DINT_MODEL_H

#include <stdint.h>

#include "attention.h"
#include "config.h"

typedef struct {
    float *attn_norm;             // (D)
    float *wq, *wk, *wv, *wo;     // (D, D) each
    float *lq1, *lk1, *lq2, *lk2; // (d) lambda re-parameterisation (DIFF/DINT)
    float *gq1, *gk1, *gq2, *gk2; // (d) gamma re-parameterisation (DINT, gamma learned)
    float *subln;                 // (2d) head-norm gain (DIFF/DINT with head_norm_gain)
    float *ffn_norm;              // (D)
    float *w_gate, *w_up;         // (F, D)
    float *w_down;                // (D, F)
} LayerParams;

typedef struct {
    float *tok_emb; // (V, D)
    float *norm;    // (D)
    float *lm_head; // (V, D), or tok_emb when tied
    LayerParams *layers;
} ParamViews;

typedef struct {
    char name[96];
    int ndim;
    int shape[2];
    long offset, numel;
    int decay; // weight decay applies (matrices only)
} ParamInfo;

typedef struct {
    float *x_in;        // (B, T, D) residual stream entering the layer
    float *xn1, *rstd1; // (B, T, D), (B, T)
    float *q, *k, *v;   // (B, T, D), rotary applied to q and k
    float *lse;         // (B, heads, maps, T) log-sum-exp of every attention row (streaming kernel)
    float *o1, *o2;     // (B, T, D) A1 V and A2 V (DIFF/DINT; NULL for the Transformer)
    float *att_pre;     // (B, T, D) attention output before the head norm
    float *head_rstd;   // (B, T, heads)
    float *att;         // (B, T, D) input of out_proj
    float *y;           // (B, T, D) residual after attention
    float *xn2, *rstd2;
    float *gate_up; // (B, T, 2F): gate | up, one product (w_gate, w_up adjacent)
    float *hid;     // (B, T, F)
} LayerActs;

typedef struct {
    ModelConfig cfg;
    int n_tensors;
    ParamInfo *info;
    long n_params;
    float *params, *grads;
    ParamViews p, g;
    // Per layer, from the last forward: lambda, gamma and the exponentials behind them.
    float *lambda, *gamma, *lam_e1, *lam_e2, *gam_e1, *gam_e2;
    // Activations for the current (B, T). No (T, T) buffer: attention is the streaming kernel
    // (attention_stream.h), which keeps per row only the log-sum-exp; diagnostics recompute
    // map rows from q and k (attention_map_rows, attention_final_rows).
    // inference (model_set_inference): forward only, for evaluation (logits, and diagnostics
    // that read q and k); the layers share one set of activation buffers (the residual stream
    // alternates between two) except q and k (rotary applied), which every layer keeps; no
    // gradient buffers. Other la[l] fields then hold the last layer's values, and
    // model_backward refuses to run.
    int B, T, inference, acts_inference;
    float *act_buf;
    LayerActs *la;
    float *x_final, *xn_f, *rstd_f, *logits, *nll; // logits (B, T, V) hold probabilities after CE
    float *rope_cos, *rope_sin;                    // (T, d/2)
    float *d_res, *d_a, *d_b, *dq, *dk, *dv, *d_hid, *d_gate_up, *d_logits; // d_gate_up (B, T, 2F)
    int *targets;
    long n_scored; // targets of the last forward that are not TARGET_IGNORE
    // Attention precision of the forward (evaluations: `dint eval --precision`); fp32 (0) after
    // model_init, the only one model_backward accepts.
    Precision attn_precision;
} Model;

int model_build(Model *m, const ModelConfig *cfg, Error *err);
void model_free(Model *m);
// Initialise parameters from seed: matrices N(0, init_std), norms 1, lambda/gamma vectors
// N(0, 0.1) (docs/attention.md §1, §4).
void model_init_params(Model *m, uint64_t seed);
const ParamInfo *model_find_param(const Model *m, const char *name);

// Forward over tokens (B, T). With targets, returns the mean next-token NLL over the scored
// targets (TARGET_IGNORE ones are not; 0 when none is) and sets n_scored, keeping what
// backward needs; without, only fills logits (probabilities are not computed) and returns 0.
double model_forward(Model *m, const int *tokens, const int *targets, int B, int T);
void model_zero_grad(Model *m);
// Forward-only mode (1) or training mode (0, the default) for the next forwards; see `inference`.
void model_set_inference(Model *m, int on);
// Accumulate gradients of (loss_scale * summed NLL) of the last forward into m->grads.
void model_backward(Model *m, const int *tokens, float loss_scale);

// Size of the activations model_forward keeps for (B, T), in floats: every buffer of the arena
// (in inference mode or training mode, as model_set_inference says), the rotary tables included;
// not the int targets (one per token). Per token: the same without the rotary tables, which
// depend on T alone. model_forward's own allocation is this size, so callers that budget memory
// (batch sizes) can ask here instead of mirroring the layout.
long model_activation_floats(const ModelConfig *c, int B, int T, int inference);
long model_activation_floats_per_token(const ModelConfig *c, int inference);
// Parameters of a model of this config, without building it (param_layout's count).
long model_param_count(const ModelConfig *c);
// Bytes a built model holds with a (B, T) batch: weights and gradients, the activations of
// model_forward (inference or training), the rotary tables and the attention rows' scratch of
// `threads` threads; plus AdamW's two moments when `training`. Computed in double, so absurd
// shapes give a large number, not an overflow.
double model_memory_bytes(const ModelConfig *c, int B, int T, int inference, int training,
                          int threads);

// Recompute lambda and gamma of every layer from the parameters (model_forward does too).
void model_compute_scalars(Model *m);
// lambda of layer l as last computed, and gamma (0 for the Transformer and DIFF).
float model_lambda(const Model *m, int layer);
float model_gamma(const Model *m, int layer);

#endif
