// dint eval TASK: dispatch to the task's evaluation.
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_eval(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "needle")) return cmd_eval_needle(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "ppl")) return cmd_eval_ppl(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "icl")) return cmd_eval_icl(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "recall")) return cmd_eval_recall(argc - 1, argv + 1);
    char msg[200];
    snprintf(msg, sizeof msg, "unknown task '%.60s' (tasks: needle, ppl, icl, recall)",
             argc >= 2 ? argv[1] : "");
    cli_error("eval", msg);
    return EXIT_USAGE;
}
