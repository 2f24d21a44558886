#include "eval_task.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_TASK(task) extern const EvalTask task;
#include "eval_registry.h"
#undef EVAL_TASK

#define EVAL_TASK(task) &task,
const EvalTask *const eval_tasks[] = {
#include "eval_registry.h"
    NULL};
#undef EVAL_TASK

const EvalTask *eval_task_find(const char *name) {
    for (int i = 0; eval_tasks[i]; i++)
        if (!strcmp(eval_tasks[i]->name, name)) return eval_tasks[i];
    return NULL;
}

void eval_appendf(char *buf, size_t cap, size_t *used, const char *fmt, ...) {
    if (*used >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
}

static int parse_list(const char *s, int max, const char *what, Error *err, int is_int, int *iout,
                      double *dout) {
    int n = 0;
    const char *p = s;
    if (!s || !*s) return error_set(err, "the %s list is empty", what);
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || (*end && *end != ',') || !isfinite(v) || (is_int && v != floor(v)))
            return error_set(err, "bad %s list '%s': expected comma-separated %s", what, s,
                             is_int ? "integers" : "numbers");
        if (is_int && (v < INT_MIN || v > INT_MAX))
            return error_set(err,
                             "bad %s list '%s': %.0f is out of range (an integer from %d to %d)",
                             what, s, v, INT_MIN, INT_MAX);
        if (n == max) return error_set(err, "the %s list has more than %d entries", what, max);
        if (is_int)
            iout[n++] = (int)v;
        else
            dout[n++] = v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) return error_set(err, "bad %s list '%s': trailing comma", what, s);
    }
    return n;
}

int parse_int_list(const char *s, int *out, int max, const char *what, Error *err) {
    return parse_list(s, max, what, err, 1, out, NULL);
}
int parse_double_list(const char *s, double *out, int max, const char *what, Error *err) {
    return parse_list(s, max, what, err, 0, NULL, out);
}

