#include "eval_task.h"

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

void eval_appendf(char *buf, size_t cap, size_t *used, const char *fmt, ...) {
    if (*used >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
}
