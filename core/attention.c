#include "attention.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "layers.h"
#include "variants.h"

AttnDims attn_dims(const ModelConfig *m, int T) {
    AttnDims a;
    a.T = T;
    a.n_heads = model_n_heads(m);
    a.n_maps = model_n_maps(m);
    a.qk_dim = m->head_dim;
    a.v_dim = model_v_dim(m);
    a.ld = m->d_model;
    a.use_global = variant_spec(m->variant)->global_term && m->gamma_mode != GAMMA_ZERO;
    a.g_mode = m->g_mode;
    a.precision = PRECISION_FP32;
    return a;
}

long attn_qk_offset(const AttnDims *a, int h, int m) {
    return (long)(h * a->n_maps + m) * a->qk_dim;
}
long attn_v_offset(const AttnDims *a, int h) {
    return (long)h * a->v_dim;
}

long attn_map_offset(const AttnDims *a, int b, int h, int m) {
    return (((long)b * a->n_heads + h) * a->n_maps + m) * (long)a->T * a->T;
}

// torch: A = softmax(scale * Q K^T + causal_mask)      A (T, T); Q, K (T, d) with row stride ld
static void causal_softmax_map(float *A, const float *Q, const float *K, const AttnDims *a) {
    int T = a->T;
    float scale = 1.0f / sqrtf((float)a->qk_dim);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, a->qk_dim, scale, Q, a->ld, K, a->ld,
                0.0f, A, T);
    for (int i = 0; i < T; i++) attention_causal_softmax_row(A + (long)i * T, i, T);
}

void attention_causal_softmax_row(float *row, int i, int T) {
    for (int j = i + 1; j < T; j++) row[j] = -INFINITY; // the causal mask
    float mx = -INFINITY;
    for (int j = 0; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
    double sum = 0.0;
    for (int j = 0; j <= i; j++) {
        row[j] = expf(row[j] - mx);
        sum += row[j];
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j <= i; j++) row[j] *= inv;
    for (int j = i + 1; j < T; j++) row[j] = 0.0f;
}

// Per-thread scratch of the global term: C (T, v_dim) and its double accumulator acc (v_dim).
typedef struct {
    float *C;
    double *acc;
} GlobalScratch;

static GlobalScratch global_scratch_alloc(const AttnDims *a) {
    GlobalScratch s = {xmalloc(sizeof(float) * (size_t)a->T * a->v_dim),
                       xmalloc(sizeof(double) * (size_t)a->v_dim)};
    return s;
}

static void global_scratch_free(GlobalScratch *s) {
    free(s->C);
    free(s->acc);
}

// s->C = G_expanded V: running mean of the rows of X (causal, uniform) or its mean row (full),
// with X = O1 = A1 V (causal, full) or X = V (uniform: G[i, j] = 1/(i+1), so G V is the running
// mean of V). C (T, vd) contiguous; X (T, vd) with row stride ld. Sums in double: rows can be
// long.
static void global_term(GlobalScratch *s, const float *O1, const AttnDims *a) {
    int T = a->T, vd = a->v_dim;
    float *C = s->C;
    double *acc = s->acc;
    for (int c = 0; c < vd; c++) acc[c] = 0.0;
    if (a->g_mode != GMODE_FULL) {
        for (int i = 0; i < T; i++)
            for (int c = 0; c < vd; c++) {
                acc[c] += O1[(long)i * a->ld + c];
                C[(long)i * vd + c] = (float)(acc[c] / (i + 1));
            }
    } else {
        for (int i = 0; i < T; i++)
            for (int c = 0; c < vd; c++) acc[c] += O1[(long)i * a->ld + c];
        for (int i = 0; i < T; i++)
            for (int c = 0; c < vd; c++) C[(long)i * vd + c] = (float)(acc[c] / T);
    }
}

void attention_forward(float *out, float *o1, float *o2, float *maps, const float *q,
                       const float *k, const float *v, float lambda, float gamma, int B,
                       const AttnDims *a) {
    int T = a->T, vd = a->v_dim, H = a->n_heads;
#pragma omp parallel
    {
        GlobalScratch gs = global_scratch_alloc(a);
#pragma omp for schedule(dynamic, 1)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            long base = (long)b * T * a->ld;
            const float *V = v + base + attn_v_offset(a, h);
            float *O = out + base + attn_v_offset(a, h);
            for (int m = 0; m < a->n_maps; m++) {
                float *A = maps + attn_map_offset(a, b, h, m);
                causal_softmax_map(A, q + base + attn_qk_offset(a, h, m),
                                   k + base + attn_qk_offset(a, h, m), a);
                float *Om = a->n_maps == 1 ? O : (m == 0 ? o1 : o2) + base + attn_v_offset(a, h);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, vd, T, 1.0f, A, T, V,
                            a->ld, 0.0f, Om, a->ld);
            }
            if (a->n_maps == 2) {
                const float *O1 = o1 + base + attn_v_offset(a, h);
                const float *O2 = o2 + base + attn_v_offset(a, h);
                if (a->use_global) global_term(&gs, a->g_mode == GMODE_UNIFORM ? V : O1, a);
                for (int i = 0; i < T; i++)
                    for (int c = 0; c < vd; c++) {
                        long ix = (long)i * a->ld + c;
                        float val = O1[ix] - lambda * O2[ix];
                        if (a->use_global) val += gamma * gs.C[(long)i * vd + c];
                        O[ix] = val;
                    }
            }
        }
        global_scratch_free(&gs);
    }
}

// dst (T, vd), row stride ld_dst, += gamma R with R_m = sum_{i >= m} dO_i / (i + 1): the
// gradient of a running row mean (causal and uniform G). dO (T, vd) with row stride a->ld.
static void global_suffix_add(float *dst, int ld_dst, const float *dO, float gamma,
                              GlobalScratch *s, const AttnDims *a) {
    int vd = a->v_dim;
    for (int c = 0; c < vd; c++) s->acc[c] = 0.0;
    for (int i = a->T - 1; i >= 0; i--)
        for (int c = 0; c < vd; c++) {
            s->acc[c] += (double)dO[(long)i * a->ld + c] / (i + 1);
            dst[(long)i * ld_dst + c] += gamma * (float)s->acc[c];
        }
}

// dS = A * (dA - rowsum(A * dA)) * scale, in place over dA; zero above the diagonal.
static void causal_softmax_backward(float *dA, const float *A, const AttnDims *a) {
    int T = a->T;
    float scale = 1.0f / sqrtf((float)a->qk_dim);
    for (int i = 0; i < T; i++) {
        const float *p = A + (long)i * T;
        float *g = dA + (long)i * T;
        double dot = 0.0;
        for (int j = 0; j <= i; j++) dot += (double)p[j] * g[j];
        float fdot = (float)dot;
        for (int j = 0; j <= i; j++) g[j] = p[j] * (g[j] - fdot) * scale;
        for (int j = i + 1; j < T; j++) g[j] = 0.0f;
    }
}

void attention_backward(float *dq, float *dk, float *dv, double *dlambda, double *dgamma,
                        const float *dout, const float *o1, const float *o2, const float *maps,
                        const float *q, const float *k, const float *v, float lambda, float gamma,
                        int B, const AttnDims *a) {
    int T = a->T, vd = a->v_dim, H = a->n_heads, d = a->qk_dim;
    double *part_l = xcalloc((size_t)B * H, sizeof(double));
    double *part_g = xcalloc((size_t)B * H, sizeof(double));
#pragma omp parallel
    {
        float *dA = xmalloc(sizeof(float) * (size_t)T * T);
        float *dOm = xmalloc(sizeof(float) * (size_t)T * vd);
        GlobalScratch gs = global_scratch_alloc(a);
#pragma omp for schedule(dynamic, 1)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            long base = (long)b * T * a->ld;
            long vo = base + attn_v_offset(a, h);
            const float *dO = dout + vo;
            for (int m = 0; m < a->n_maps; m++) {
                // dOm: the gradient reaching (A_m V); contiguous (T, vd).
                if (a->n_maps == 1) {
                    for (int i = 0; i < T; i++)
                        memcpy(dOm + (long)i * vd, dO + (long)i * a->ld, sizeof(float) * vd);
                } else if (m == 0) {
                    double sl = 0.0, sg = 0.0;
                    for (int i = 0; i < T; i++)
                        for (int c = 0; c < vd; c++) {
                            sl -= (double)o2[vo + (long)i * a->ld + c] * dO[(long)i * a->ld + c];
                            dOm[(long)i * vd + c] = dO[(long)i * a->ld + c];
                        }
                    if (a->use_global) {
                        global_term(&gs, a->g_mode == GMODE_UNIFORM ? v + vo : o1 + vo, a);
                        for (int i = 0; i < T; i++)
                            for (int c = 0; c < vd; c++)
                                sg += (double)gs.C[(long)i * vd + c] * dO[(long)i * a->ld + c];
                        // dO1 += gamma R; causal R_m = sum_{i>=m} dO_i/(i+1), full R = mean_i dO_i
                        // (uniform: R goes to dV instead, after both maps)
                        if (a->g_mode == GMODE_CAUSAL) {
                            global_suffix_add(dOm, vd, dO, gamma, &gs, a);
                        } else if (a->g_mode == GMODE_FULL) {
                            for (int c = 0; c < vd; c++) gs.acc[c] = 0.0;
                            for (int i = 0; i < T; i++)
                                for (int c = 0; c < vd; c++) gs.acc[c] += dO[(long)i * a->ld + c];
                            for (int i = 0; i < T; i++)
                                for (int c = 0; c < vd; c++)
                                    dOm[(long)i * vd + c] += gamma * (float)(gs.acc[c] / T);
                        }
                    }
                    part_l[bh] = sl;
                    part_g[bh] = sg;
                } else {
                    for (int i = 0; i < T; i++)
                        for (int c = 0; c < vd; c++)
                            dOm[(long)i * vd + c] = -lambda * dO[(long)i * a->ld + c];
                }
                const float *A = maps + attn_map_offset(a, b, h, m);
                const float *V = v + vo;
                // dV (+)= A^T dOm ; dA = dOm V^T
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, vd, T, 1.0f, A, T, dOm, vd,
                            m == 0 ? 0.0f : 1.0f, dv + vo, a->ld);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, vd, 1.0f, dOm, vd, V,
                            a->ld, 0.0f, dA, T);
                causal_softmax_backward(dA, A, a);
                long qo = base + attn_qk_offset(a, h, m);
                // dQ = dS K ; dK = dS^T Q   (scale already folded into dS)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, 1.0f, dA, T, k + qo,
                            a->ld, 0.0f, dq + qo, a->ld);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, 1.0f, dA, T, q + qo,
                            a->ld, 0.0f, dk + qo, a->ld);
            }
            if (a->n_maps == 2 && a->use_global && a->g_mode == GMODE_UNIFORM)
                global_suffix_add(dv + vo, a->ld, dO, gamma, &gs, a);
        }
        free(dA);
        free(dOm);
        global_scratch_free(&gs);
    }
    attention_scalar_grads_sum(part_l, part_g, B * H, dlambda, dgamma);
}

void attention_scalar_grads_sum(double *part_l, double *part_g, int n, double *dlambda,
                                double *dgamma) {
    double sl = 0.0, sg = 0.0;
    for (int i = 0; i < n; i++) { // a fixed order: the same result on any number of threads
        sl += part_l[i];
        sg += part_g[i];
    }
    *dlambda = sl;
    *dgamma = sg;
    free(part_l);
    free(part_g);
}

int attention_final_row_len(const AttnDims *a, int i) {
    return a->n_maps == 2 && a->use_global && a->g_mode == GMODE_FULL ? a->T : i + 1;
}

void attention_global_add_row(double *colsum, const float *a1, int i, AttnRound round) {
    if (round)
        for (int j = 0; j <= i; j++) colsum[j] += round(a1[j]);
    else
        for (int j = 0; j <= i; j++) colsum[j] += a1[j];
}

void attention_global_row(float *g, const double *colsum, int i, const AttnDims *a,
                          AttnRound round) {
    int n = attention_final_row_len(a, i);
    int rows = a->g_mode == GMODE_FULL ? a->T : i + 1;
    for (int j = 0; j < n; j++) {
        float x = a->g_mode == GMODE_UNIFORM ? (float)(1.0 / rows) : (float)(colsum[j] / rows);
        g[j] = round ? round(x) : x;
    }
}

int attention_final_row(float *f, const float *a1, const float *a2, const float *g, int i,
                        float lambda, float gamma, const AttnDims *a, AttnRound round) {
    int n = attention_final_row_len(a, i), two = a->n_maps == 2, glob = two && a->use_global;
    if (!round) { // fp32: the operations of the kernels (no rounding call between them)
        if (!two)
            memcpy(f, a1, sizeof(float) * (size_t)n);
        else if (!glob)
            for (int j = 0; j < n; j++) f[j] = a1[j] - lambda * a2[j];
        else
            for (int j = 0; j < n; j++) {
                float x = a1[j] - lambda * a2[j];
                f[j] = x + gamma * g[j];
            }
    } else { // every stored value and elementwise result rounded (products passed unfused)
        float lam = round(lambda), gam = round(gamma);
        for (int j = 0; j < n; j++) {
            float x = round(a1[j]);
            if (two) {
                x = round(x - round(lam * round(a2[j])));
                if (glob) x = round(x + round(gam * g[j]));
            }
            f[j] = x;
        }
    }
    for (int j = n; j < a->T; j++) f[j] = 0.0f;
    return n;
}

void attention_final_map(float *A, const float *maps, int b, int h, float lambda, float gamma,
                         const AttnDims *a) {
    int T = a->T, glob = a->n_maps == 2 && a->use_global, full = a->g_mode == GMODE_FULL;
    const float *A1 = maps + attn_map_offset(a, b, h, 0);
    const float *A2 = a->n_maps == 2 ? maps + attn_map_offset(a, b, h, 1) : NULL;
    double *colsum = glob ? xcalloc((size_t)T, sizeof(double)) : NULL;
    float *g = glob ? xmalloc(sizeof(float) * (size_t)T) : NULL;
    if (glob && full)
        for (int i = 0; i < T; i++) attention_global_add_row(colsum, A1 + (long)i * T, i, NULL);
    for (int i = 0; i < T; i++) {
        const float *a1 = A1 + (long)i * T;
        if (glob) {
            if (!full) attention_global_add_row(colsum, a1, i, NULL);
            attention_global_row(g, colsum, i, a, NULL);
        }
        attention_final_row(A + (long)i * T, a1, A2 ? A2 + (long)i * T : NULL, g, i, lambda, gamma,
                            a, NULL);
    }
    free(colsum);
    free(g);
}

void attention_forward_ref(float *out, const float *q, const float *k, const float *v, float lambda,
                           float gamma, int B, const AttnDims *a) {
    int T = a->T, d = a->qk_dim, vd = a->v_dim;
    double *P = xmalloc(sizeof(double) * 2 * (size_t)T * T); // the maps
    double *F = xmalloc(sizeof(double) * (size_t)T * T);     // the final map
    for (int b = 0; b < B; b++)
        for (int h = 0; h < a->n_heads; h++) {
            long base = (long)b * T * a->ld;
            for (int m = 0; m < a->n_maps; m++) {
                double *Pm = P + (long)m * T * T;
                const float *Q = q + base + attn_qk_offset(a, h, m);
                const float *K = k + base + attn_qk_offset(a, h, m);
                for (int i = 0; i < T; i++) {
                    double mx = -INFINITY, sum = 0.0;
                    for (int j = 0; j < T; j++) {
                        double s = -INFINITY; // the causal mask
                        if (j <= i) {
                            s = 0.0;
                            for (int c = 0; c < d; c++)
                                s += (double)Q[(long)i * a->ld + c] * K[(long)j * a->ld + c];
                            s /= sqrt((double)d);
                        }
                        Pm[(long)i * T + j] = s;
                        if (s > mx) mx = s;
                    }
                    for (int j = 0; j < T; j++) {
                        double e = exp(Pm[(long)i * T + j] - mx);
                        Pm[(long)i * T + j] = e;
                        sum += e;
                    }
                    for (int j = 0; j < T; j++) Pm[(long)i * T + j] /= sum;
                }
            }
            for (long i = 0; i < (long)T * T; i++)
                F[i] = a->n_maps == 1 ? P[i] : P[i] - lambda * P[(long)T * T + i];
            if (a->n_maps == 2 && a->use_global)
                for (int i = 0; i < T; i++)
                    for (int j = 0; j < T; j++) {
                        // G_j for row i: mean of column j of A1 over the rows row i may see
                        // (uniform: 1/(i+1) on the visible prefix).
                        int rows = a->g_mode == GMODE_FULL ? T : i + 1;
                        double g = 0.0;
                        if (a->g_mode == GMODE_UNIFORM)
                            g = j <= i ? 1.0 : 0.0;
                        else
                            for (int r = 0; r < rows; r++) g += P[(long)r * T + j];
                        F[(long)i * T + j] += gamma * g / rows;
                    }
            const float *V = v + base + attn_v_offset(a, h);
            float *O = out + base + attn_v_offset(a, h);
            for (int i = 0; i < T; i++)
                for (int c = 0; c < vd; c++) {
                    double s = 0.0;
                    for (int j = 0; j < T; j++) s += F[(long)i * T + j] * V[(long)j * a->ld + c];
                    O[(long)i * a->ld + c] = (float)s;
                }
        }
    free(P);
    free(F);
}
