#include "runner.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "session.h"

void sweep_run_paths(const Grid *g, const char *out, int job, char *run, char *log, size_t n) {
    const Cell *x = grid_job_cell(g, job);
    int seed = grid_job_seed(g, job);
    snprintf(run, n, "%s/%s-seed%d.h5", out, x->name, seed);
    snprintf(log, n, "%s/%s-seed%d.log", out, x->name, seed);
}

// In a child process: SIGTERM (with its default action, whatever handlers the parent had, MPI's
// included) when the parent dies, or now if it already has.
static void die_with_parent(pid_t parent) {
    signal(SIGTERM, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
}

// fork() with stdio flushed first; the child gets SIGTERM when this process dies.
static pid_t fork_tied(void) {
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) die_with_parent(parent);
    return pid;
}

// Run a shell command and wait: its exit code, or -1. The child gets SIGTERM when this process
// dies, so a killed sweep (or MPI rank) leaves no run going on behind it.
static int run_shell(const char *cmd) {
    pid_t pid = fork_tied();
    if (pid < 0) return -1;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Run `dint ARGS` (this binary), its output appended to log; on failure, r->command_failed.
static int run_self(const char *args, const char *log, const SweepReporter *r) {
    char self[4096], cmd[16384];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    // exec: the shell becomes dint, which keeps the parent-death signal.
    snprintf(cmd, sizeof cmd, "exec '%s' %s >>'%s' 2>&1", self, args, log);
    int rc = run_shell(cmd);
    if (rc != 0 && r->command_failed) r->command_failed(r->ctx, log);
    return rc;
}

// The step of the last "divergence at step N" line of a training log (0 when none says).
static long diverged_step(const char *log) {
    FILE *fp = fopen(log, "r");
    long step = 0;
    char line[4096];
    while (fp && fgets(line, sizeof line, fp)) {
        const char *at = strstr(line, "divergence at step ");
        if (at) sscanf(at + strlen("divergence at step "), "%ld", &step);
    }
    if (fp) fclose(fp);
    return step;
}

// The job's commands (train unless complete, each evaluation, the audit). 0, or -1 with err set.
static int run_commands(const Grid *g, const char *run, const char *log, int job, int complete,
                        const char *extra, const SweepReporter *r, Error *err) {
    const Cell *x = grid_job_cell(g, job);
    int seed = grid_job_seed(g, job);
    char args[16384];
    struct stat st;
    if (!complete) {
        if (stat(run, &st) == 0)
            snprintf(args, sizeof args, "train --out '%s' --resume%s", run, extra);
        else
            snprintf(args, sizeof args,
                     "train --variant %s --data '%s' --out '%s' --seed %d --set "
                     "model.gamma=%s --set model.g_mode=%s "
                     "--set model.head_norm=%s --set model.lambda_init=%s%s%s",
                     x->variant, g->data, run, seed, x->gamma, x->g_mode, x->head_norm,
                     x->lambda_init, g->sets, extra);
        int rc = run_self(args, log, r);
        if (rc == TRAIN_EXIT_DIVERGED) // an outcome: recorded, not evaluated, not retried
            return metrics_mark_diverged(run, diverged_step(log)) == 0
                       ? 0
                       : error_set(err, "cannot record that %s seed %d diverged", x->name, seed);
        if (rc != 0)
            return error_set(err, "training %s seed %d failed (see the lines above)", x->name,
                             seed);
    }
    for (int e = 0; e < g->n_evals; e++)
        for (int p = -1; p < g->n_precisions; p++) { // fp32, then each reduced precision
            char precision[32] = "";
            if (p >= 0)
                snprintf(precision, sizeof precision, " --precision %s",
                         precision_name(g->precisions[p]));
            snprintf(args, sizeof args, "eval %s --run '%s'%s%s", g->evals[e], run, precision,
                     extra);
            if (run_self(args, log, r) != 0)
                return error_set(err, "evaluating %s seed %d failed", x->name, seed);
        }
    if (g->has_audit) {
        // The audit measures every precision in one pass: fp32 and the grid's, unless its
        // options name their own list.
        char precisions[128] = "";
        if (g->n_precisions && !strstr(g->audit, "--precision")) {
            size_t k = (size_t)snprintf(precisions, sizeof precisions, " --precision fp32");
            for (int p = 0; p < g->n_precisions; p++)
                k += (size_t)snprintf(precisions + k, sizeof precisions - k, ",%s",
                                      precision_name(g->precisions[p]));
        }
        snprintf(args, sizeof args, "audit --run '%s' %s%s%s", run, g->audit, precisions, extra);
        if (run_self(args, log, r) != 0)
            return error_set(err, "auditing %s seed %d failed", x->name, seed);
    }
    return 0;
}

int sweep_job(const Grid *g, const char *out, int job, const char *extra, const SweepReporter *r,
              int *was_complete, Error *err) {
    char run[4400], log[4400];
    sweep_run_paths(g, out, job, run, log, sizeof run);
    int diverged = metrics_run_diverged(run) >= 0; // finished: it would diverge again
    int complete = diverged || metrics_run_is_complete(run);
    if (was_complete) *was_complete = complete;
    if (r->run_started)
        r->run_started(r->ctx, job, grid_jobs(g), grid_job_cell(g, job)->name,
                       grid_job_seed(g, job), complete);
    return diverged ? 0 : run_commands(g, run, log, job, complete, extra, r, err);
}

int sweep_job_as_worker(const Grid *g, const char *out, int job, const char *extra,
                        const SweepReporter *r) {
    Error err;
    if (sweep_job(g, out, job, extra, r, NULL, &err) == 0) return 0;
    if (r->job_failed) r->job_failed(r->ctx, err.msg);
    return 1;
}

pid_t sweep_job_start(const Grid *g, const char *out, int job, const char *extra,
                      const SweepReporter *r) {
    pid_t pid = fork_tied();
    if (pid == 0) {
        int rc = sweep_job_as_worker(g, out, job, extra, r);
        fflush(stderr);
        _exit(rc); // no MPI, no atexit handlers in the child
    }
    return pid;
}
