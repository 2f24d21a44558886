#include "eval_task.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit_eval.h"
#include "icl_eval.h"
#include "needle_eval.h"
#include "ppl_eval.h"
#include "recall_eval.h"

const EvalTask *const eval_tasks[] = {&needle_task, &ppl_task, &icl_task, &recall_task, &audit_task,
                                      NULL};

const EvalTask *eval_task_find(const char *name) {
    for (int i = 0; eval_tasks[i]; i++)
        if (!strcmp(eval_tasks[i]->name, name)) return eval_tasks[i];
    return NULL;
}

void wilson_interval(long k, long n, double *lo, double *hi) {
    if (n == 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double z = gsl_cdf_ugaussian_Pinv(0.975), p = (double)k / n, z2 = z * z;
    double centre = (p + z2 / (2.0 * n)) / (1 + z2 / n);
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
    *lo = fmax(0.0, centre - half);
    *hi = fmin(1.0, centre + half);
}

void eval_appendf(char *buf, size_t cap, size_t *used, const char *fmt, ...) {
    if (*used >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
}
