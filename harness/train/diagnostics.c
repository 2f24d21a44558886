#include "diagnostics.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

int train_is_loss_spike(const History *h, double loss, const TrainConfig *t) {
    long n = h->n < t->spike_window ? h->n : t->spike_window;
    if (n < 10) return 0;
    double *w = xmalloc(sizeof(double) * (size_t)n);
    memcpy(w, h->loss + h->n - n, sizeof(double) * (size_t)n);
    gsl_sort(w, 1, (size_t)n);
    double median = gsl_stats_median_from_sorted_data(w, 1, (size_t)n);
    free(w);
    return loss > t->spike_factor * median;
}

void train_layer_grad_norms(const Model *m, float clip_scale, double *out) {
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

void train_record_audit(History *h, const Model *m, long step, int B, int T, float clip_scale,
                        int grad_accum, const TrainShare *share) {
    int L = m->cfg.n_layer;
    double *diag = xcalloc((size_t)L * 3, sizeof(double)); // max dev, mean dev, grad norm
    train_layer_grad_norms(m, clip_scale, diag + 2 * L);
    audit_row_sum_deviation(m, B, T, diag, diag + L);
    // Data parallel: the step's last micro-batch is in the model of the rank that computed it.
    if (share && share->ranks > 1)
        share->broadcast_doubles(share->ctx, diag, 2L * L, (grad_accum - 1) % share->ranks);
    history_push_audit(h, step, diag, diag + L, diag + 2 * L);
    free(diag);
}
