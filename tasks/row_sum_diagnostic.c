#include "row_sum_diagnostic.h"

#include <math.h>
#include <stdlib.h>

#include "attention_stream.h"
#include "audit.h"

void audit_row_sum_deviation(const Model *m, int B, int T, double *max_dev_per_layer,
                             double *mean_dev_per_layer) {
    audit_row_sum_deviation_maps(m, B, T, NULL, max_dev_per_layer, mean_dev_per_layer);
}

void audit_row_sum_deviation_maps(const Model *m, int B, int T, const float *const *maps,
                                  double *max_dev_per_layer, double *mean_dev_per_layer) {
    const ModelConfig *c = &m->cfg;
    CHECK(B == m->B && T == m->T && B >= 1,
          "audit_row_sum_deviation: (B, T) = (%d, %d) but the last forward ran (%d, %d)", B, T,
          m->B, m->T);
    AttnDims ad = attn_dims(c, T);
    int L = c->n_layer, H = ad.n_heads, n_tasks = L * H;
    double *pmax = xcalloc((size_t)n_tasks, sizeof(double));
    double *psum = xcalloc((size_t)n_tasks, sizeof(double));
    long *pcnt = xcalloc((size_t)n_tasks, sizeof(long));
    int two = ad.n_maps == 2, glob = two && ad.use_global, full = glob && ad.g_mode == GMODE_FULL;
#pragma omp parallel
    {
        double *colsum = xmalloc(sizeof(double) * (size_t)T);
        float *P1 = xmalloc(sizeof(float) * (size_t)ATTN_ROW_BLOCK * T);
        float *P2 = xmalloc(sizeof(float) * (size_t)ATTN_ROW_BLOCK * T);
        float *f = xmalloc(sizeof(float) * (size_t)T), *g = xmalloc(sizeof(float) * (size_t)T);
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < n_tasks; task++) {
            int l = task / H, h = task % H;
            float lambda = model_lambda(m, l), gamma = model_gamma(m, l);
            double expected =
                1.0 - (ad.n_maps == 2 ? lambda : 0.0f) + (ad.use_global ? gamma : 0.0f);
            for (int j = 0; j < T; j++) colsum[j] = 0.0;
            if (full) // batch item 0, all rows
                for (int i0 = 0; i0 < T; i0 += ATTN_ROW_BLOCK) {
                    int n = T - i0 < ATTN_ROW_BLOCK ? T - i0 : ATTN_ROW_BLOCK;
                    audit_map_rows(P1, NULL, m, maps, l, 0, h, 0, i0, n, &ad);
                    for (int r = 0; r < n; r++)
                        attention_global_add_row(colsum, P1 + (long)r * T, i0 + r, NULL);
                }
            // Causal G needs every row in order for the column sums; otherwise only the
            // sampled rows i = T-1, T-1-8, ... are computed, one at a time.
            int first = (T - 1) % AUDIT_ROWDEV_STRIDE;
            int step = glob && !full ? 1 : AUDIT_ROWDEV_STRIDE;
            for (int i0 = glob && !full ? 0 : first; i0 < T;) {
                int n = step == 1 ? (T - i0 < ATTN_ROW_BLOCK ? T - i0 : ATTN_ROW_BLOCK) : 1;
                audit_map_rows(P1, NULL, m, maps, l, 0, h, 0, i0, n, &ad);
                if (two) audit_map_rows(P2, NULL, m, maps, l, 0, h, 1, i0, n, &ad);
                for (int r = 0; r < n; r++) {
                    int i = i0 + r;
                    const float *A1 = P1 + (long)r * T, *A2 = two ? P2 + (long)r * T : NULL;
                    if (glob && !full) attention_global_add_row(colsum, A1, i, NULL);
                    if ((i - first) % AUDIT_ROWDEV_STRIDE != 0 || i < first) continue;
                    if (glob) attention_global_row(g, colsum, i, &ad, NULL);
                    int len = attention_final_row(f, A1, A2, g, i, lambda, gamma, &ad, NULL);
                    double rs = 0.0;
                    for (int j = 0; j < len; j++) rs += f[j];
                    double d = fabs(rs - expected);
                    if (d > pmax[task] || isnan(d)) pmax[task] = d;
                    psum[task] += d;
                    pcnt[task]++;
                }
                i0 += step == 1 ? n : AUDIT_ROWDEV_STRIDE;
            }
        }
        free(colsum);
        free(P1);
        free(P2);
        free(f);
        free(g);
    }
    for (int l = 0; l < L; l++) { // fixed-order reduction over heads
        double mx = 0.0, sm = 0.0;
        long n = 0;
        for (int h = 0; h < H; h++) {
            int k = l * H + h;
            if (pmax[k] > mx || isnan(pmax[k])) mx = pmax[k];
            sm += psum[k];
            n += pcnt[k];
        }
        if (max_dev_per_layer) max_dev_per_layer[l] = mx;
        if (mean_dev_per_layer) mean_dev_per_layer[l] = n ? sm / (double)n : NAN;
    }
    free(pmax);
    free(psum);
    free(pcnt);
}
