#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "dist.h"
#include "metrics.h"

typedef struct {
    int next, total, done, failed;
    double t0;
    const SweepReporter *r;
} SweepQueue;

static SweepQueue queue_start(const Grid *g, const SweepReporter *r) {
    return (SweepQueue){.total = grid_jobs(g), .t0 = now_seconds(), .r = r};
}

// The next job to hand out (-1: none, or a run failed and the sweep winds down), after counting
// the finished one.
static int queue_next(SweepQueue *q, int finished_job, int finished_rc) {
    if (finished_job >= 0) {
        q->done++;
        q->failed += finished_rc != 0;
        if (q->r->runs_done) q->r->runs_done(q->r->ctx, q->done, q->total, now_seconds() - q->t0);
    }
    return q->failed || q->next == q->total ? -1 : q->next++;
}

// A child's exit status as a job's exit code: 0 when it exited with 0.
static int child_rc(int status) {
    return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

// Every run's metrics into vals, once all have run.
static void read_all_metrics(const Grid *g, const char *out, double *vals) {
    for (int job = 0; job < grid_jobs(g); job++) {
        char run[4400], log[4400];
        sweep_run_paths(g, out, job, run, log, sizeof run);
        metrics_read_run(run, vals + (long)job * sweep_metric_count());
    }
}

// One process: every run in grid order, its metrics read as it finishes.
static int sweep_in_turn(const Grid *g, const char *out, const SweepReporter *r, double *vals,
                         Error *err) {
    int total = grid_jobs(g), ran = 0;
    double t0 = now_seconds();
    for (int job = 0; job < total; job++) {
        int complete;
        if (sweep_job(g, out, job, "", r, &complete, err) != 0) return -1;
        ran |= !complete;
        char run[4400], log[4400];
        sweep_run_paths(g, out, job, run, log, sizeof run);
        metrics_read_run(run, vals + (long)job * sweep_metric_count());
        if (ran && r->runs_done) r->runs_done(r->ctx, job + 1, total, now_seconds() - t0);
    }
    return 0;
}

// Rank 0 of several: hand out jobs (its own included, in a child process so that rank 0 keeps
// answering the queue) until all are done. The number of failed runs.
static int serve_queue(const Grid *g, const char *out, const char *extra, const SweepReporter *r) {
    SweepQueue q = queue_start(g, r);
    int workers = dist_size() - 1, own_job = queue_next(&q, -1, 0);
    pid_t own = own_job >= 0 ? sweep_job_start(g, out, own_job, extra, r) : 0;
    while (own > 0 || workers > 0) {
        int busy = 0, worker, job, rc, st;
        if (own > 0 && waitpid(own, &st, WNOHANG) == own) {
            busy = 1;
            own_job = queue_next(&q, own_job, child_rc(st));
            own = own_job >= 0 ? sweep_job_start(g, out, own_job, extra, r) : 0;
        }
        if (dist_queue_poll(&worker, &job, &rc)) {
            busy = 1;
            int next = queue_next(&q, job, rc);
            dist_queue_reply(worker, next);
            workers -= next < 0;
        }
        if (!busy) usleep(5000);
    }
    return q.failed;
}

// One machine, no MPI: up to `jobs` runs at once, each a child process with `extra`
// (" --threads T"); the next run starts when one ends, in grid order. The number of failed runs.
static int sweep_local_pool(const Grid *g, const char *out, int jobs, const char *extra,
                            const SweepReporter *r) {
    SweepQueue q = queue_start(g, r);
    pid_t *pid = xcalloc((size_t)jobs, sizeof(pid_t));
    int *job_of = xcalloc((size_t)jobs, sizeof(int)), running = 0;
    for (int slot = 0; slot < jobs; slot++) {
        int job = queue_next(&q, -1, 0);
        if (job < 0) break;
        job_of[slot] = job, pid[slot] = sweep_job_start(g, out, job, extra, r), running++;
    }
    while (running > 0) {
        int st;
        pid_t done = waitpid(-1, &st, 0);
        if (done < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int slot = 0; slot < jobs; slot++) {
            if (pid[slot] != done || done <= 0) continue;
            int next = queue_next(&q, job_of[slot], child_rc(st));
            pid[slot] = next >= 0 ? sweep_job_start(g, out, next, extra, r) : 0;
            job_of[slot] = next;
            running -= next < 0;
        }
    }
    free(pid);
    free(job_of);
    return q.failed;
}

// Several MPI ranks: rank 0 serves the queue, the others ask it for jobs. The number of failed
// runs on rank 0, 0 on the others.
static int sweep_on_ranks(const Grid *g, const char *out, const char *extra,
                          const SweepReporter *r) {
    int failed = 0;
    if (dist_rank() == 0) {
        failed = serve_queue(g, out, extra, r);
    } else {
        int job = -1, rc = 0;
        while ((job = dist_queue_next(job, rc)) >= 0)
            rc = sweep_job_as_worker(g, out, job, extra, r);
    }
    dist_wait_all();
    return failed;
}

void sweep_plan(const Grid *g, int jobs_asked, Throughput *tp) {
    int cores = dist_default_threads(), total = grid_jobs(g), jobs = jobs_asked;
    *tp = (Throughput){.processes = 1, .threads = cores};
    if (dist_size() > 1) {
        tp->processes = dist_size();
        return;
    }
    if (jobs == 0) jobs = grid_is_small_model(g) ? cores : 1;
    if (jobs > total) jobs = total;
    if (jobs > 1) {
        tp->processes = jobs;
        tp->threads = cores / jobs > 1 ? cores / jobs : 1;
    }
}

// Tokens each run has trained so far (tokens[job]).
static void read_all_tokens(const Grid *g, const char *out, double *tokens) {
    for (int job = 0; job < grid_jobs(g); job++) {
        char run[4400], log[4400];
        sweep_run_paths(g, out, job, run, log, sizeof run);
        tokens[job] = metrics_run_tokens(run);
    }
}

// The jobs, as tp says: the number of failed runs (pool, ranks), or -1 with err set (in turn).
static int run_jobs(const Grid *g, const char *out, const SweepReporter *r, double *vals,
                    const Throughput *tp, Error *err) {
    char extra[32];
    snprintf(extra, sizeof extra, " --threads %d", tp->threads);
    if (dist_size() > 1) return sweep_on_ranks(g, out, extra, r);
    if (tp->processes > 1) return sweep_local_pool(g, out, tp->processes, extra, r);
    return sweep_in_turn(g, out, r, vals, err);
}

int sweep_run_all(const Grid *g, const char *out, const SweepReporter *r, double *vals,
                  Throughput *tp, Error *err) {
    int total = grid_jobs(g), reporter = dist_rank() == 0;
    int in_turn = dist_size() == 1 && tp->processes == 1;
    double *before = xcalloc((size_t)total, sizeof(double));
    double *after = xcalloc((size_t)total, sizeof(double));
    if (reporter) read_all_tokens(g, out, before);
    double t0 = now_seconds();
    int rc = run_jobs(g, out, r, vals, tp, err);
    if (reporter && !in_turn && rc > 0)
        rc = error_set(err, "%d run(s) failed (see the lines above)", rc);
    else if (reporter && !in_turn)
        read_all_metrics(g, out, vals);
    if (reporter) {
        tp->wall_seconds = now_seconds() - t0;
        read_all_tokens(g, out, after);
        tp->tokens = 0.0;
        for (int job = 0; job < total; job++)
            tp->tokens += after[job] > before[job] ? after[job] - before[job] : 0.0;
    }
    free(before);
    free(after);
    return rc == 0 ? 0 : -1;
}
