#include "model.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_stream.h"
#include "layers.h"
#include "phase_timer.h"
#include "variants.h"

// Walks the parameter list in its one fixed order. With `info`, records each tensor; with
// `views`, points each view at base + offset. Returns the total number of floats.
static long param_layout(const ModelConfig *c, ParamInfo *info, int *n_info, ParamViews *views,
                         float *base) {
    long off = 0;
    int n = 0;
    int D = c->d_model, d = c->head_dim, F = c->ffn_dim, V = c->vocab_size;
    const VariantSpec *vs = variant_spec(c->variant);
#define ADD(slot, rows, cols, ...)                                                                 \
    do {                                                                                           \
        long numel_ = (long)(rows) * ((cols) > 0 ? (cols) : 1);                                    \
        if (info) {                                                                                \
            ParamInfo *pi = &info[n];                                                              \
            snprintf(pi->name, sizeof pi->name, __VA_ARGS__);                                      \
            pi->ndim = (cols) > 0 ? 2 : 1;                                                         \
            pi->shape[0] = (rows);                                                                 \
            pi->shape[1] = (cols) > 0 ? (cols) : 1;                                                \
            pi->offset = off;                                                                      \
            pi->numel = numel_;                                                                    \
            pi->decay = (cols) > 0;                                                                \
        }                                                                                          \
        if (slot) *(slot) = base + off;                                                            \
        off += numel_;                                                                             \
        n++;                                                                                       \
    } while (0)
    ADD(views ? &views->tok_emb : NULL, V, D, "tok_embeddings.weight");
    for (int l = 0; l < c->n_layer; l++) {
        LayerParams *lp = views ? &views->layers[l] : NULL;
        ADD(lp ? &lp->attn_norm : NULL, D, 0, "layers.%d.attn_norm.weight", l);
        ADD(lp ? &lp->wq : NULL, D, D, "layers.%d.attn.q_proj.weight", l);
        ADD(lp ? &lp->wk : NULL, D, D, "layers.%d.attn.k_proj.weight", l);
        ADD(lp ? &lp->wv : NULL, D, D, "layers.%d.attn.v_proj.weight", l);
        ADD(lp ? &lp->wo : NULL, D, D, "layers.%d.attn.out_proj.weight", l);
        if (vs->learns_lambda) {
            ADD(lp ? &lp->lq1 : NULL, d, 0, "layers.%d.attn.lambda_q1", l);
            ADD(lp ? &lp->lk1 : NULL, d, 0, "layers.%d.attn.lambda_k1", l);
            ADD(lp ? &lp->lq2 : NULL, d, 0, "layers.%d.attn.lambda_q2", l);
            ADD(lp ? &lp->lk2 : NULL, d, 0, "layers.%d.attn.lambda_k2", l);
        }
        if (vs->global_term && c->gamma_mode == GAMMA_LEARNED) {
            ADD(lp ? &lp->gq1 : NULL, d, 0, "layers.%d.attn.gamma_q1", l);
            ADD(lp ? &lp->gk1 : NULL, d, 0, "layers.%d.attn.gamma_k1", l);
            ADD(lp ? &lp->gq2 : NULL, d, 0, "layers.%d.attn.gamma_q2", l);
            ADD(lp ? &lp->gk2 : NULL, d, 0, "layers.%d.attn.gamma_k2", l);
        }
        if (vs->head_norm && c->head_norm && c->head_norm_gain)
            ADD(lp ? &lp->subln : NULL, vs->n_maps * d, 0, "layers.%d.attn.subln.weight", l);
        ADD(lp ? &lp->ffn_norm : NULL, D, 0, "layers.%d.ffn_norm.weight", l);
        ADD(lp ? &lp->w_gate : NULL, F, D, "layers.%d.ffn.gate_proj.weight", l);
        ADD(lp ? &lp->w_up : NULL, F, D, "layers.%d.ffn.up_proj.weight", l);
        ADD(lp ? &lp->w_down : NULL, D, F, "layers.%d.ffn.down_proj.weight", l);
    }
    ADD(views ? &views->norm : NULL, D, 0, "norm.weight");
    if (!c->tie_embeddings)
        ADD(views ? &views->lm_head : NULL, V, D, "lm_head.weight");
    else if (views)
        views->lm_head = views->tok_emb;
#undef ADD
    if (n_info) *n_info = n;
    return off;
}

int model_build(Model *m, const ModelConfig *cfg, Error *err) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (cfg->vocab_size < 2)
        return error_set(err, "vocabulary size %d is too small", cfg->vocab_size);
    int n = 0;
    param_layout(cfg, NULL, &n, NULL, NULL);
    m->n_tensors = n;
    m->info = xcalloc((size_t)n, sizeof(ParamInfo));
    m->n_params = param_layout(cfg, m->info, NULL, NULL, NULL);
    m->params = xcalloc((size_t)m->n_params, sizeof(float));
    m->grads = xcalloc((size_t)m->n_params, sizeof(float));
    int L = cfg->n_layer;
    m->p.layers = xcalloc((size_t)L, sizeof(LayerParams));
    m->g.layers = xcalloc((size_t)L, sizeof(LayerParams));
    param_layout(cfg, NULL, NULL, &m->p, m->params);
    param_layout(cfg, NULL, NULL, &m->g, m->grads);
    for (int l = 0; l < L; l++) // the FFN's gate and up run as one (2F, D) product
        CHECK(m->p.layers[l].w_up == m->p.layers[l].w_gate + (long)cfg->ffn_dim * cfg->d_model,
              "param_layout: w_up must follow w_gate");
    m->lambda = xcalloc((size_t)L * 6, sizeof(float));
    m->gamma = m->lambda + L;
    m->lam_e1 = m->lambda + 2 * L;
    m->lam_e2 = m->lambda + 3 * L;
    m->gam_e1 = m->lambda + 4 * L;
    m->gam_e2 = m->lambda + 5 * L;
    return 0;
}

static void free_acts(Model *m) {
    free(m->act_buf);
    free(m->la);
    free(m->targets);
    m->act_buf = NULL;
    m->la = NULL;
    m->targets = NULL;
    m->B = m->T = 0;
    m->acts_inference = 0;
}

void model_free(Model *m) {
    free_acts(m);
    free(m->info);
    free(m->params);
    free(m->grads);
    free(m->p.layers);
    free(m->g.layers);
    free(m->lambda);
    memset(m, 0, sizeof *m);
}

const ParamInfo *model_find_param(const Model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->info[i].name, name)) return &m->info[i];
    return NULL;
}

void model_init_params(Model *m, uint64_t seed) {
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, (unsigned long)seed);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamInfo *pi = &m->info[i];
        float *w = m->params + pi->offset;
        const char *last = strrchr(pi->name, '.');
        int is_norm = strstr(pi->name, "norm.weight") || strstr(pi->name, "subln.weight");
        int is_lambda = last && (!strncmp(last, ".lambda_", 8) || !strncmp(last, ".gamma_", 7));
        for (long j = 0; j < pi->numel; j++) {
            if (is_norm)
                w[j] = 1.0f;
            else if (is_lambda)
                w[j] = (float)gsl_ran_gaussian(rng, 0.1);
            else
                w[j] = (float)gsl_ran_gaussian(rng, m->cfg.init_std);
        }
    }
    gsl_rng_free(rng);
}

static float dotf(const float *a, const float *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

// lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init; gamma likewise, or tied/fixed/zero.
static void compute_lambda_gamma(Model *m) {
    const ModelConfig *c = &m->cfg;
    const VariantSpec *vs = variant_spec(c->variant);
    for (int l = 0; l < c->n_layer; l++) {
        m->lambda[l] = m->gamma[l] = 0.0f;
        if (vs->n_maps == 1) continue;
        const LayerParams *lp = &m->p.layers[l];
        float li = model_lambda_init(c, l);
        m->lambda[l] = li; // a variant without a learned λ keeps λ_init
        if (vs->learns_lambda) {
            m->lam_e1[l] = expf(dotf(lp->lq1, lp->lk1, c->head_dim));
            m->lam_e2[l] = expf(dotf(lp->lq2, lp->lk2, c->head_dim));
            m->lambda[l] = m->lam_e1[l] - m->lam_e2[l] + li;
        }
        if (!vs->global_term) continue;
        switch (c->gamma_mode) {
        case GAMMA_TIED:
            m->gamma[l] = m->lambda[l];
            break;
        case GAMMA_ZERO:
            m->gamma[l] = 0.0f;
            break;
        case GAMMA_FIXED:
            m->gamma[l] = c->gamma_value;
            break;
        case GAMMA_LEARNED:
            m->gam_e1[l] = expf(dotf(lp->gq1, lp->gk1, c->head_dim));
            m->gam_e2[l] = expf(dotf(lp->gq2, lp->gk2, c->head_dim));
            m->gamma[l] = m->gam_e1[l] - m->gam_e2[l] + li;
            break;
        }
    }
}

void model_compute_scalars(Model *m) {
    compute_lambda_gamma(m);
}
float model_lambda(const Model *m, int layer) {
    return m->lambda[layer];
}
float model_gamma(const Model *m, int layer) {
    return m->gamma[layer];
}

// Per layer: x_in, xn1, q, k, v, att_pre, att, y, xn2 (9 BT D), o1, o2, rstd1, rstd2,
// head_rstd, lse, gate_up (2 BT F), hid. In inference mode one set serves every layer (x_in
// alternates between two buffers) except q and k, kept per layer (2 BT D each), and there
// are no gradient buffers. alloc_acts lays them out in this order and checks the total.
long model_activation_floats_per_token(const ModelConfig *c, int inference) {
    long D = c->d_model, F = c->ffn_dim, V = c->vocab_size, L = c->n_layer;
    long H = model_n_heads(c), maps = model_n_maps(c);
    long o_sz = maps == 2 ? D : 0; // o1, o2 each
    long per_layer = D * 9 + 2 * o_sz + 2 + H + F * 3 + H * maps;
    long sets = inference ? 1 : L;
    long grads = inference ? 0 : D * 6 + F * 3 + V;
    long qk_more = inference ? (L - 1) * 2 * D : 0; // q, k of every layer, kept
    // + x_alt (inference), x_final, xn_f, rstd_f, logits, nll
    return per_layer * sets + (inference ? D : 0) + qk_more + D * 2 + 1 + V + 1 + grads;
}

long model_param_count(const ModelConfig *c) {
    return param_layout(c, NULL, NULL, NULL, NULL);
}

double model_memory_bytes(const ModelConfig *c, int B, int T, int inference, int training,
                          int threads) {
    double n = (double)model_param_count(c), per_token = 0.0;
    // model_activation_floats_per_token in double (its long would overflow for absurd shapes)
    double D = c->d_model, F = c->ffn_dim, V = c->vocab_size, L = c->n_layer;
    double H = model_n_heads(c), maps = model_n_maps(c);
    double per_layer = D * 9 + 2 * (maps == 2 ? D : 0) + 2 + H + F * 3 + H * maps;
    per_token = per_layer * (inference ? 1 : L) + (inference ? D + (L - 1) * 2 * D : 0) + D * 2 +
                2 + V + (inference ? 0 : D * 6 + F * 3 + V);
    double acts = (double)B * T * per_token + (double)T * c->head_dim;
    // The attention rows (attention_stream.c), per thread: a block of rows of both maps'
    // probabilities over T keys, column sums, and in the backward pass each map's (T, 2d) output
    // gradient.
    double attn = (double)threads * (2.0 * ATTN_ROW_BLOCK * T + 4.0 * T + 4.0 * T * c->head_dim);
    double floats = 2 * n + acts + attn + (training ? 2 * n : 0);
    return 4.0 * floats + 4.0 * B * T; // + the token ids
}

long model_activation_floats(const ModelConfig *c, int B, int T, int inference) {
    return (long)B * T * model_activation_floats_per_token(c, inference) +
           (long)T * (c->head_dim / 2) * 2; // + the rotary tables
}

static void alloc_acts(Model *m, int B, int T) {
    if (m->B == B && m->T == T && m->acts_inference == m->inference) return;
    free_acts(m);
    const ModelConfig *c = &m->cfg;
    long BT = (long)B * T, D = c->d_model, F = c->ffn_dim, V = c->vocab_size;
    int H = model_n_heads(c), maps = model_n_maps(c), L = c->n_layer, half = c->head_dim / 2;
    int inf = m->inference;
    long o_sz = maps == 2 ? BT * D : 0; // o1, o2 each
    long sets = inf ? 1 : L;
    long total = model_activation_floats(c, B, T, inf);
    m->act_buf = xcalloc((size_t)total, sizeof(float));
    m->la = xcalloc((size_t)L, sizeof(LayerActs));
    m->targets = xcalloc((size_t)BT, sizeof(int));
    float *p = m->act_buf;
#define TAKE(n) (p += (n), p - (n))
    for (int l = 0; l < sets; l++) {
        LayerActs *a = &m->la[l];
        a->x_in = TAKE(BT * D);
        a->xn1 = TAKE(BT * D);
        a->rstd1 = TAKE(BT);
        a->q = TAKE(BT * D);
        a->k = TAKE(BT * D);
        a->v = TAKE(BT * D);
        a->lse = TAKE(BT * H * maps);
        a->o1 = o_sz ? TAKE(o_sz) : NULL;
        a->o2 = o_sz ? TAKE(o_sz) : NULL;
        a->att_pre = TAKE(BT * D);
        a->head_rstd = TAKE(BT * H);
        a->att = TAKE(BT * D);
        a->y = TAKE(BT * D);
        a->xn2 = TAKE(BT * D);
        a->rstd2 = TAKE(BT);
        a->gate_up = TAKE(BT * 2 * F);
        a->hid = TAKE(BT * F);
    }
    float *x_alt = inf ? TAKE(BT * D) : NULL;
    for (int l = 1; inf && l < L; l++) {
        m->la[l] = m->la[0];
        m->la[l].x_in = l % 2 ? x_alt : m->la[0].x_in;
        m->la[l].q = TAKE(BT * D); // diagnostics (needle attention mass) read every layer's
        m->la[l].k = TAKE(BT * D);
    }
    m->x_final = TAKE(BT * D);
    m->xn_f = TAKE(BT * D);
    m->rstd_f = TAKE(BT);
    m->logits = TAKE(BT * V);
    m->nll = TAKE(BT);
    m->rope_cos = TAKE((long)T * half);
    m->rope_sin = TAKE((long)T * half);
    if (!inf) {
        m->d_res = TAKE(BT * D);
        m->d_a = TAKE(BT * D);
        m->d_b = TAKE(BT * D);
        m->dq = TAKE(BT * D);
        m->dk = TAKE(BT * D);
        m->dv = TAKE(BT * D);
        m->d_hid = TAKE(BT * F);
        m->d_gate_up = TAKE(BT * 2 * F);
        m->d_logits = TAKE(BT * V);
    } else {
        m->d_res = m->d_a = m->d_b = m->dq = m->dk = m->dv = NULL;
        m->d_hid = m->d_gate_up = m->d_logits = NULL;
    }
#undef TAKE
    CHECK(p - m->act_buf == total, "activation layout mismatch (%ld vs %ld)",
          (long)(p - m->act_buf), total);
    rope_tables(m->rope_cos, m->rope_sin, T, c->head_dim, c->rope_theta);
    m->B = B;
    m->T = T;
    m->acts_inference = inf;
}

void model_set_inference(Model *m, int on) {
    m->inference = on != 0;
}

// Per-head RMSNorm over v_dim features times the gain and (1 - lambda_init)
// (docs/attention.md §4).
static int has_head_norm(const ModelConfig *c) {
    return variant_spec(c->variant)->head_norm && c->head_norm;
}

double model_forward(Model *m, const int *tokens, const int *targets, int B, int T) {
    const ModelConfig *c = &m->cfg;
    alloc_acts(m, B, T);
    compute_lambda_gamma(m);
    int BT = B * T, D = c->d_model, F = c->ffn_dim, V = c->vocab_size, d = c->head_dim;
    AttnDims ad = attn_dims(c, T);
    ad.precision = m->attn_precision;
    for (int i = 0; i < BT; i++)
        CHECK(tokens[i] >= 0 && tokens[i] < V, "token id %d at %d is outside the vocabulary (%d)",
              tokens[i], i, V);
    float *x = m->la[0].x_in;
    PHASE_TIMED(PHASE_EMBEDDING, embedding_forward(x, tokens, m->p.tok_emb, BT, D));
    // The residual add that ends a layer (x_out = mlp + y) is left to the norm that reads x_out
    // next (residual_rmsnorm_forward): res_pending is the y still to add.
    const float *res_pending = NULL;
    for (int l = 0; l < c->n_layer; l++) {
        LayerActs *a = &m->la[l];
        const LayerParams *lp = &m->p.layers[l];
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE,
                    residual_rmsnorm_forward(a->xn1, a->rstd1, a->x_in, res_pending, lp->attn_norm,
                                             BT, D, c->norm_eps));
        float *qkv[3] = {a->q, a->k, a->v};
        const float *w_qkv[3] = {lp->wq, lp->wk, lp->wv};
        PHASE_TIMED(PHASE_MATMUL_FORWARD, matmul_forward_shared(qkv, a->xn1, w_qkv, 3, BT, D, D));
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE, {
            rope_forward(a->q, m->rope_cos, m->rope_sin, B, T, D, d);
            rope_forward(a->k, m->rope_cos, m->rope_sin, B, T, D, d);
        });
        PHASE_TIMED(PHASE_ATTENTION_FORWARD,
                    attention_stream_forward(a->att_pre, a->o1, a->o2, a->lse, a->q, a->k, a->v,
                                             m->lambda[l], m->gamma[l], B, &ad));
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE, {
            if (has_head_norm(c))
                rmsnorm_forward_scaled(a->att, a->head_rstd, a->att_pre, lp->subln,
                                       1.0f - model_lambda_init(c, l), BT * ad.n_heads, ad.v_dim,
                                       c->norm_eps);
            else
                memcpy(a->att, a->att_pre, sizeof(float) * (size_t)BT * D);
        });
        PHASE_TIMED(PHASE_MATMUL_FORWARD, matmul_forward(a->y, a->att, lp->wo, BT, D, D));
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE,
                    residual_rmsnorm_forward(a->xn2, a->rstd2, a->y, a->x_in, lp->ffn_norm, BT, D,
                                             c->norm_eps));
        // gate and up in one product: w_gate and w_up are adjacent rows of one (2F, D) block.
        PHASE_TIMED(PHASE_MATMUL_FORWARD,
                    matmul_forward(a->gate_up, a->xn2, lp->w_gate, BT, D, 2 * F));
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE,
                    swiglu_forward(a->hid, a->gate_up, a->gate_up + F, BT, F, 2 * F));
        float *out = l + 1 < c->n_layer ? m->la[l + 1].x_in : m->x_final;
        PHASE_TIMED(PHASE_MATMUL_FORWARD, matmul_forward(out, a->hid, lp->w_down, BT, F, D));
        res_pending = a->y;
    }
    PHASE_TIMED(PHASE_NORM_ELEMENTWISE,
                residual_rmsnorm_forward(m->xn_f, m->rstd_f, m->x_final, res_pending, m->p.norm, BT,
                                         D, c->norm_eps));
    PHASE_TIMED(PHASE_MATMUL_FORWARD, matmul_forward(m->logits, m->xn_f, m->p.lm_head, BT, D, V));
    m->n_scored = 0;
    if (!targets) return 0.0;
    for (int i = 0; i < BT; i++) {
        CHECK(targets[i] == TARGET_IGNORE || (targets[i] >= 0 && targets[i] < V),
              "target id %d at %d is outside the vocabulary (%d)", targets[i], i, V);
        m->n_scored += targets[i] != TARGET_IGNORE;
    }
    memcpy(m->targets, targets, sizeof(int) * (size_t)BT);
    double total;
    PHASE_TIMED(PHASE_LOSS, total = cross_entropy_forward(m->logits, m->nll, targets, BT, V));
    return m->n_scored ? total / (double)m->n_scored : 0.0;
}

void model_zero_grad(Model *m) {
    memset(m->grads, 0, sizeof(float) * (size_t)m->n_params);
}

// d/dq of exp(q . k) = exp(q . k) k, and symmetrically for k.
static void exp_dot_backward(float *dq, float *dk, const float *q, const float *k, float e,
                             double upstream, int n) {
    float s = (float)(upstream * e);
    for (int i = 0; i < n; i++) {
        dq[i] += s * k[i];
        dk[i] += s * q[i];
    }
}

void model_backward(Model *m, const int *tokens, float loss_scale) {
    const ModelConfig *c = &m->cfg;
    const VariantSpec *vs = variant_spec(c->variant);
    int B = m->B, T = m->T, BT = B * T, D = c->d_model, F = c->ffn_dim, V = c->vocab_size;
    int d = c->head_dim;
    AttnDims ad = attn_dims(c, T);
    CHECK(m->attn_precision == PRECISION_FP32,
          "model_backward: the forward emulated %s attention (evaluations only)",
          precision_name(m->attn_precision));
    CHECK(!m->acts_inference && m->d_res,
          "model_backward: the last forward ran in inference mode (no activations kept)");
    PHASE_TIMED(PHASE_LOSS,
                cross_entropy_backward(m->d_logits, m->logits, m->targets, loss_scale, BT, V));
    PHASE_TIMED(PHASE_MATMUL_BACKWARD, matmul_backward_write(m->d_a, m->g.lm_head, m->d_logits,
                                                             m->xn_f, m->p.lm_head, BT, D, V));
    PHASE_TIMED(PHASE_NORM_ELEMENTWISE,
                rmsnorm_backward_write(m->d_res, m->g.norm, m->d_a, 1.0f, m->x_final, m->p.norm,
                                       m->rstd_f, BT, D));
    for (int l = c->n_layer - 1; l >= 0; l--) {
        LayerActs *a = &m->la[l];
        const LayerParams *lp = &m->p.layers[l];
        LayerParams *gp = &m->g.layers[l];
        // FFN: d_res is the gradient of the layer output (= of y through the residual).
        PHASE_TIMED(PHASE_MATMUL_BACKWARD, matmul_backward_write(m->d_hid, gp->w_down, m->d_res,
                                                                 a->hid, lp->w_down, BT, F, D));
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE,
                    swiglu_backward(m->d_gate_up, m->d_gate_up + F, m->d_hid, a->gate_up,
                                    a->gate_up + F, BT, F, 2 * F));
        PHASE_TIMED(PHASE_MATMUL_BACKWARD, matmul_backward_write(m->d_a, gp->w_gate, m->d_gate_up,
                                                                 a->xn2, lp->w_gate, BT, D, 2 * F));
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE, rmsnorm_backward(m->d_res, gp->ffn_norm, m->d_a, a->y,
                                                             lp->ffn_norm, a->rstd2, BT, D));
        // Attention: d_res is now the gradient of y.
        PHASE_TIMED(PHASE_MATMUL_BACKWARD,
                    matmul_backward_write(m->d_a, gp->wo, m->d_res, a->att, lp->wo, BT, D, D));
        float *d_att_pre = m->d_a;
        if (has_head_norm(c)) {
            PHASE_TIMED(PHASE_NORM_ELEMENTWISE,
                        rmsnorm_backward_write(m->d_b, gp->subln, m->d_a,
                                               1.0f - model_lambda_init(c, l), a->att_pre,
                                               lp->subln, a->head_rstd, BT * ad.n_heads, ad.v_dim));
            d_att_pre = m->d_b;
        }
        double dlam = 0.0, dgam = 0.0;
        // One map: the streaming backward takes the forward's output (A V) as o1.
        PHASE_TIMED(PHASE_ATTENTION_BACKWARD,
                    attention_stream_backward(m->dq, m->dk, m->dv, &dlam, &dgam, d_att_pre,
                                              ad.n_maps == 1 ? a->att_pre : a->o1, a->o2, a->lse,
                                              a->q, a->k, a->v, m->lambda[l], m->gamma[l], B, &ad));
        if (vs->global_term && c->gamma_mode == GAMMA_TIED) dlam += dgam; // γ is λ
        if (vs->learns_lambda) {
            exp_dot_backward(gp->lq1, gp->lk1, lp->lq1, lp->lk1, m->lam_e1[l], dlam, d);
            exp_dot_backward(gp->lq2, gp->lk2, lp->lq2, lp->lk2, m->lam_e2[l], -dlam, d);
        }
        if (vs->global_term && c->gamma_mode == GAMMA_LEARNED) {
            exp_dot_backward(gp->gq1, gp->gk1, lp->gq1, lp->gk1, m->gam_e1[l], dgam, d);
            exp_dot_backward(gp->gq2, gp->gk2, lp->gq2, lp->gk2, m->gam_e2[l], -dgam, d);
        }
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE, {
            rope_backward(m->dq, m->rope_cos, m->rope_sin, B, T, D, d);
            rope_backward(m->dk, m->rope_cos, m->rope_sin, B, T, D, d);
        });
        float *dw_qkv[3] = {gp->wq, gp->wk, gp->wv};
        const float *d_qkv[3] = {m->dq, m->dk, m->dv}, *w_qkv[3] = {lp->wq, lp->wk, lp->wv};
        PHASE_TIMED(PHASE_MATMUL_BACKWARD,
                    matmul_backward_shared(m->d_a, dw_qkv, d_qkv, a->xn1, w_qkv, 3, BT, D, D));
        PHASE_TIMED(PHASE_NORM_ELEMENTWISE,
                    rmsnorm_backward(m->d_res, gp->attn_norm, m->d_a, a->x_in, lp->attn_norm,
                                     a->rstd1, BT, D));
    }
    PHASE_TIMED(PHASE_EMBEDDING, embedding_backward(m->g.tok_emb, m->d_res, tokens, BT, D));
}
