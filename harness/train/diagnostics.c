#include "diagnostics.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "row_sum_diagnostic.h"

int train_loss_spike_limit(const History *h, const TrainConfig *t, LossSpikeLimit *out) {
    long n = h->n < t->spike_window ? h->n : t->spike_window;
    if (n < 10) return -1;
    double *w = xmalloc(sizeof(double) * (size_t)n);
    memcpy(w, h->loss + h->n - n, sizeof(double) * (size_t)n);
    gsl_sort(w, 1, (size_t)n);
    double median = gsl_stats_median_from_sorted_data(w, 1, (size_t)n);
    double q99 = gsl_stats_quantile_from_sorted_data(w, 1, (size_t)n, 0.99);
    for (long i = 0; i < n; i++) w[i] = fabs(w[i] - median);
    gsl_sort(w, 1, (size_t)n);
    double mad = gsl_stats_median_from_sorted_data(w, 1, (size_t)n);
    free(w);
    // Both are the standard deviation of normal noise. The MAD is 0 once over half the window
    // shares a level (batches of a mixture: with or without a text row); the upper tail sees
    // such a mode if it holds more than about 1 % of the steps.
    double spread = fmax(1.4826 * mad, (q99 - median) / 2.3263);
    out->median = median;
    out->spread = spread;
    out->threshold = fmax(t->spike_factor * median, median + t->spike_sigmas * spread);
    return 0;
}

int train_is_loss_spike(const History *h, double loss, const TrainConfig *t) {
    LossSpikeLimit limit;
    return train_loss_spike_limit(h, t, &limit) == 0 && loss > limit.threshold;
}

long train_count_loss_spikes(const History *h, long *first_step, long *last_step) {
    long count = 0;
    *first_step = *last_step = -1;
    for (long i = 0; i < h->n; i++) {
        if (!h->loss_spike[i]) continue;
        if (count++ == 0) *first_step = h->step[i];
        *last_step = h->step[i];
    }
    return count;
}

void loss_spike_lines_init(LossSpikeLines *l, int first, long every) {
    *l = (LossSpikeLines){.first = first, .every = every, .last_line = -1, .held_since = -1};
}

int loss_spike_lines_take(LossSpikeLines *l, long step, long *held, long *held_since) {
    if (l->lines > 0 && l->lines >= l->first && step - l->last_line < l->every) {
        if (l->held++ == 0) l->held_since = step;
        return 0;
    }
    *held = l->held;
    *held_since = l->held_since;
    l->lines++;
    l->last_line = step;
    l->held = 0;
    l->held_since = -1;
    return 1;
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
