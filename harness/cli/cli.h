// The `dint` subcommands.
#ifndef DINT_CLI_H
#define DINT_CLI_H

#include "check.h"
#include "eval_task.h"
#include "session.h"

int cmd_train(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_audit(int argc, char **argv);
// `dint eval NAME` (or `dint audit`) for a task of the registry; its usage line (no "usage: dint
// ").
int eval_task_command(const EvalTask *t, int argc, char **argv);
void eval_task_usage(const EvalTask *t, char *buf, size_t cap);
int cmd_schema(int argc, char **argv);
int cmd_variants(int argc, char **argv);

// One-line error to stderr: "dint <cmd>: error: <msg>".
void cli_error(const char *cmd, const char *msg);

#define EXIT_USAGE    2                   // bad arguments, config or input files
#define EXIT_DIVERGED TRAIN_EXIT_DIVERGED // NaN or Inf loss or gradient during training

#endif
