// Cheap training diagnostic of the attention maps (train.audit_every): how far the final map's
// rows are from their expected sum, on a subsample of rows, between full audits (audit.h).
#ifndef DINT_TASKS_ROW_SUM_DIAGNOSTIC_H
#define DINT_TASKS_ROW_SUM_DIAGNOSTIC_H

#include "model.h"

// From the last forward's q and k (map rows recomputed as attention_map_rows does, fp32, final
// map as attention_final_map forms it): |row sum - expected| of batch item 0 on the rows
// i = T-1, T-1-8, T-1-16, ... >= 0 (every AUDIT_ROWDEV_STRIDE-th row counting back from the
// last, so the longest row is always in), over all heads. Per layer: the largest and the mean
// |deviation| (either pointer may be NULL; arrays of n_layer). Cost per head: the sampled rows'
// scores, T^2 d / 16 multiply-adds per map; with DINT's global term every row of A1 (its column
// sums), T^2 d / 2. O(T) memory per row.
#define AUDIT_ROWDEV_STRIDE 8
void audit_row_sum_deviation(const Model *m, int B, int T, double *max_dev_per_layer,
                             double *mean_dev_per_layer);
// The same with maps[l] (B, heads, maps, T, T) used for layer l where not NULL.
void audit_row_sum_deviation_maps(const Model *m, int B, int T, const float *const *maps,
                                  double *max_dev_per_layer, double *mean_dev_per_layer);

#endif
