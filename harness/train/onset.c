#include "onset.h"

#include <math.h>

RetrievalOnset retrieval_onset(const long *step, const double *loss, long n, double threshold,
                               long window, double *smoothed) {
    RetrievalOnset o = {.step = n > 0 ? step[n - 1] : 0,
                        .censored = 1,
                        .threshold = threshold,
                        .window = window,
                        .min_values = (window + 1) / 2};
    for (long i = 0; i < n; i++) {
        double mean = NAN;
        if (window >= 1 && i + 1 >= window) {
            // Summed from scratch in step order: no running sum whose rounding depends on history.
            double sum = 0.0;
            long count = 0;
            for (long j = i - window + 1; j <= i; j++)
                if (isfinite(loss[j])) sum += loss[j], count++;
            if (count >= o.min_values) mean = sum / (double)count;
        }
        if (smoothed) smoothed[i] = mean;
        if (o.censored && mean <= threshold) {
            o.step = step[i];
            o.censored = 0;
        }
    }
    return o;
}

RecallOnset recall_onset(const long *val_step, const double *accuracy, long n_val, double threshold,
                         const long *step, const long *tokens, const double *seconds, long n) {
    RecallOnset o = {.censored = 1, .threshold = threshold, .accuracy = NAN};
    long at = -1;
    for (long i = 0; i < n_val; i++) {
        if (!isfinite(accuracy[i])) continue;
        at = i;
        if (accuracy[i] >= threshold) {
            o.censored = 0;
            break;
        }
    }
    if (at < 0) return o;
    o.step = val_step[at];
    o.accuracy = accuracy[at];
    for (long i = 0; i < n; i++) // step numbers rise: the entry of the onset's step
        if (step[i] == o.step) {
            o.tokens = tokens[i];
            o.seconds = seconds[i];
            break;
        }
    return o;
}
