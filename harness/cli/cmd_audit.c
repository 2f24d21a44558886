// dint audit: attention maps and activations of a trained model on real test-split text, per
// layer and head, in fp32 and emulated bf16 / fp16 (tasks/audit.h says exactly what is
// rounded), plus the leakage probe; written to /audit/<precision> and /audit/leakage. The task
// is tasks/audit_eval.c; the driver harness/eval/driver.c.
#include <stdio.h>
#include <string.h>
#include <omp.h>

#include "audit_eval.h"
#include "cli.h"
#include "dist.h"
#include "driver.h"
#include "memory_plan.h"
#include "options.h"

static int prepare(void *arg, EvalContext *c, void **state, Error *err) {
    AuditTaskSpec *s = arg;
    if (s->seq == 0) s->seq = c->cfg.train.seq_len;
    // Per precision, every layer's and head's row statistics of a sample (AuditRow, 48 bytes).
    double rows = 3.0 * c->cfg.model.n_layer * model_n_heads(&c->cfg.model) * s->seq * 48.0;
    char what[96];
    snprintf(what, sizeof what, "audit at %d tokens", s->seq);
    if (memory_check_model(&c->cfg.model, 1, s->seq, rows, what, "--seq", omp_get_max_threads(),
                           err) != 0)
        return -1;
    s->text = c->corpus.tokens[SPLIT_TEST];
    s->n_text = c->corpus.n_tokens[SPLIT_TEST];
    return audit_task_make(state, s, &c->model, err);
}

int cmd_audit(int argc, char **argv) {
    // Samples are dealt over MPI ranks: each rank takes its share of the cores.
    EvalJob job = {.task = &audit_task, .threads = dist_default_threads()};
    AuditTaskSpec s = {.samples = 4, .precisions = "fp32,bf16,fp16"};
    Error err;
    const Option opts[] = {
        {"--run", OPT_STR, &job.run},        {"--out", OPT_STR, &job.out},
        {"--data", OPT_STR, &job.data},      {"--precision", OPT_STR, &s.precisions},
        {"--samples", OPT_INT, &s.samples},  {"--seq", OPT_INT, &s.seq},
        {"--threads", OPT_INT, &job.threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("audit", err.msg);
        return EXIT_USAGE;
    }
    if (!job.run || s.samples < 1 || s.seq < 0 || job.threads < 1) {
        cli_error("audit", "usage: dint audit --run RUN.h5 [--out FILE] [--data SPEC] [--precision "
                           "fp32,bf16,fp16] [--samples N] [--seq N] [--threads N]");
        return EXIT_USAGE;
    }
    int any = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s.precisions);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int p = 0; p < AUDIT_N_PREC; p++)
            if (!strcmp(t, audit_precision_name((AuditPrecision)p))) s.want[p] = found = any = 1;
        if (!found) {
            char msg[200];
            snprintf(msg, sizeof msg, "unknown precision '%.40s' (fp32, bf16, fp16)", t);
            cli_error("audit", msg);
            return EXIT_USAGE;
        }
    }
    if (!any) {
        cli_error("audit", "the --precision list is empty");
        return EXIT_USAGE;
    }
    job.load_corpus = 1;
    job.prepare = prepare;
    job.arg = &s;
    return eval_drive(&job);
}
