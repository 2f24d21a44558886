// dint eval TASK (and dint audit): any task of the registry (tasks/eval_task.c), its options
// parsed from the task's own table into a copy of its defaults, then run by the one driver
// (harness/eval/driver.c). A task has no command file: its table, check and prepare are all.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "driver.h"
#include "eval_task.h"
#include "options.h"

#define EVAL_MAX_OPTIONS 40

// "eval needle" or "audit": how the task is started.
static void command_name(const EvalTask *t, char *buf, size_t cap) {
    if (!strcmp(t->command, "eval"))
        snprintf(buf, cap, "eval %s", t->name);
    else
        snprintf(buf, cap, "%s", t->command);
}

void eval_task_usage(const EvalTask *t, char *buf, size_t cap) {
    char name[64];
    size_t used = 0;
    command_name(t, name, sizeof name);
    eval_appendf(buf, cap, &used, "%s %s%s", name, EVAL_COMMON_OPTIONS,
                 t->reads_corpus ? " [--data SPEC]" : "");
    for (int i = 0; i < t->n_options; i++)
        eval_appendf(buf, cap, &used, " [%s %s]", t->options[i].flag, t->options[i].metavar);
    if (!strcmp(t->command, "eval")) eval_appendf(buf, cap, &used, " [--precision P]");
    eval_appendf(buf, cap, &used, " [--threads N]");
}

static OptKind option_kind(EvalOptionKind k) {
    return k == EVAL_OPT_STR ? OPT_STR : k == EVAL_OPT_INT ? OPT_INT : OPT_U64;
}

int eval_task_command(const EvalTask *t, int argc, char **argv) {
    EvalJob job = {.task = t, .threads = dist_default_threads()};
    void *opts = xmalloc(t->options_size ? t->options_size : 1);
    memcpy(opts, t->options_default, t->options_size);
    Option table[EVAL_MAX_OPTIONS];
    int n = 0;
    table[n++] = (Option){"--run", OPT_STR, &job.run};
    table[n++] = (Option){"--out", OPT_STR, &job.out};
    if (t->reads_corpus) table[n++] = (Option){"--data", OPT_STR, &job.data};
    for (int i = 0; i < t->n_options && n < EVAL_MAX_OPTIONS - 1; i++)
        table[n++] = (Option){t->options[i].flag, option_kind(t->options[i].kind),
                              (char *)opts + t->options[i].offset};
    const char *precision = NULL;
    if (!strcmp(t->command, "eval")) table[n++] = (Option){"--precision", OPT_STR, &precision};
    table[n++] = (Option){"--threads", OPT_INT, &job.threads};
    Error err;
    char usage[1024] = "usage: dint ";
    eval_task_usage(t, usage + strlen(usage), sizeof usage - strlen(usage));
    int rc = EXIT_USAGE;
    if (options_parse(argc, argv, table, n, &err) != 0)
        cli_error(t->command, err.msg);
    else if (!job.run)
        cli_error(t->command, usage);
    else if (job.threads < 1)
        cli_error(t->command, "--threads must be >= 1");
    else if (precision && precision_parse(precision, &job.precision) != 0) {
        snprintf(
            err.msg, sizeof err.msg,
            "--precision takes fp32, bf16, fp16, q8, q6 or q4 (docs/precision.md), not '%.40s'",
            precision);
        cli_error(t->command, err.msg);
    } else if (t->check_options && t->check_options(opts, &err) != 0)
        cli_error(t->command, err.msg);
    else {
        job.opts = opts;
        rc = eval_drive(&job, &err) == 0 ? 0 : EXIT_USAGE;
        if (rc != 0 && err.msg[0]) cli_error(t->command, err.msg);
    }
    free(opts);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const EvalTask *t = argc >= 2 ? eval_task_find(argv[1]) : NULL;
    if (t && !strcmp(t->command, "eval")) return eval_task_command(t, argc - 1, argv + 1);
    char msg[300], names[200];
    size_t used = 0;
    names[0] = '\0';
    for (int i = 0; eval_tasks[i]; i++)
        if (!strcmp(eval_tasks[i]->command, "eval"))
            eval_appendf(names, sizeof names, &used, "%s%s", used ? ", " : "", eval_tasks[i]->name);
    snprintf(msg, sizeof msg, "unknown task '%.60s' (tasks: %s)", argc >= 2 ? argv[1] : "", names);
    cli_error("eval", msg);
    return EXIT_USAGE;
}

int cmd_audit(int argc, char **argv) {
    return eval_task_command(eval_task_find("audit"), argc, argv);
}
