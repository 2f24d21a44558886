// The evaluation tasks, one line each, in the order `dint --help` and `dint schema` list them.
// A new task: its files in tasks/ (found by the build) and one line here.
EVAL_TASK(needle_task)
EVAL_TASK(ppl_task)
EVAL_TASK(icl_task)
EVAL_TASK(recall_task)
EVAL_TASK(audit_task)
