// dint schema [--json]: every group, dataset and attribute of a run file (the harness's fixed
// part and each evaluation task's outputs) and of a sweep summary, from the tables in C.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "driver.h"
#include "eval_task.h"
#include "metrics.h"
#include "schema.h"

// "sweep_metrics": the sweep summary's metrics in order, with what each reduces (sweep/metrics.h).
static void sweep_metrics_json(char *buf, size_t cap) {
    static const char *const REDUCE_NAMES[] = {"last", "max", "mean", "sum", "min"};
    size_t used = 0;
    eval_appendf(buf, cap, &used, "\"sweep_metrics\": [");
    for (int k = 0; k < sweep_metric_count(); k++) {
        const SweepMetric *m = sweep_metric(k);
        eval_appendf(buf, cap, &used,
                     "%s{\"name\": \"%s\", \"dataset\": \"%s\", \"reduce\": \"%s\"}", k ? ", " : "",
                     m->name, m->dataset, REDUCE_NAMES[m->reduce]);
    }
    eval_appendf(buf, cap, &used, "]");
}

int cmd_schema(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            cli_error("schema", "usage: dint schema [--json]");
            return EXIT_USAGE;
        }
    }
    // The run file: the harness's fixed part, then each registered evaluation task's outputs.
    SchemaTable tables[16];
    int n = 0;
    tables[n++] = (SchemaTable){"run", SCHEMA_RUN_FIXED, SCHEMA_RUN_FIXED_COUNT, NULL};
    for (int t = 0; eval_tasks[t] && n < 15; t++)
        tables[n++] = (SchemaTable){"run", eval_tasks[t]->outputs, eval_tasks[t]->n_outputs,
                                    eval_tasks[t]->name};
    // The evaluations at a reduced precision: the tasks' /eval entries, moved (driver.h).
    SchemaEntry *moved;
    int n_moved = eval_precision_schema(&moved);
    tables[n++] = (SchemaTable){"run", moved, n_moved, "precision"};
    tables[n++] =
        (SchemaTable){"sweep_summary", SCHEMA_SWEEP_SUMMARY, SCHEMA_SWEEP_SUMMARY_COUNT, NULL};
    if (json) {
        char metrics[4096];
        sweep_metrics_json(metrics, sizeof metrics);
        schema_print_json(stdout, tables, n, metrics);
    } else
        schema_print_text(stdout, tables, n);
    eval_precision_schema_free(moved, n_moved);
    return 0;
}
