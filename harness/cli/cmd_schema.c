// dint schema [--json]: every group, dataset and attribute of a run file (the harness's fixed
// part and each evaluation task's outputs) and of a sweep summary, from the tables in C.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "schema.h"

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
    SchemaTable tables[] = {
        {"run", SCHEMA_RUN_FIXED, SCHEMA_RUN_FIXED_COUNT},
        // INTEGRATOR: add one {"run", task->outputs, task->n_outputs} per registered evaluation
        // task here (needle, ppl, icl, audit), in that order.
        {"sweep_summary", SCHEMA_SWEEP_SUMMARY, SCHEMA_SWEEP_SUMMARY_COUNT},
    };
    int n = (int)(sizeof tables / sizeof tables[0]);
    if (json)
        schema_print_json(stdout, tables, n);
    else
        schema_print_text(stdout, tables, n);
    return 0;
}
