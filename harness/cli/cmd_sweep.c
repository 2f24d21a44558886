// dint sweep GRID.ini --out DIR [--jobs N]: ablation grids. Each cell (a variant with its gamma
// mode, G mode, head norm and lambda_init) is trained once per seed on the same data and token
// budget, then evaluated and audited as the grid says, by running this same `dint` binary (one
// run at a time, N at once with --jobs, or one per MPI rank); a summary HDF5 gives each metric's
// mean, standard deviation and 95 % interval across seeds per cell, and paired differences
// against a baseline cell with a paired t-test (GSL). Finished runs are skipped, so a stopped
// sweep continues where it was. The work is harness/sweep/'s; this file parses the options and
// prints what happens.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "cli.h"
#include "dist.h"
#include "grid.h"
#include "h5io.h"
#include "queue.h"
#include "summary.h"

static void show_run_started(void *ctx, int job, int total, const char *cell, int seed,
                             int complete) {
    (void)ctx;
    fprintf(stderr, "[sweep] run %d of %d: %s seed %d%s\n", job + 1, total, cell, seed,
            complete ? " (trained; checking evaluations)" : "");
}

static void show_runs_done(void *ctx, int done, int total, double elapsed_s) {
    (void)ctx;
    fprintf(stderr, "[sweep] %d of %d runs done, %.0fs elapsed, ETA %.0fs\n", done, total,
            elapsed_s, elapsed_s / done * (total - done));
}

// The last line of a failed command's log on stderr (its one-line error), as `tail -n 1`
// prints it.
static void show_last_line(void *ctx, const char *log) {
    (void)ctx;
    size_t n = 0;
    FILE *f = fopen(log, "rb");
    char *text = NULL;
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        rewind(f);
        text = xmalloc((size_t)(size > 0 ? size : 0) + 1);
        n = size > 0 ? fread(text, 1, (size_t)size, f) : 0;
        fclose(f);
    }
    if (!text) {
        fprintf(stderr, "(see %s)\n", log);
        return;
    }
    size_t start = n && text[n - 1] == '\n' ? n - 1 : n;
    while (start > 0 && text[start - 1] != '\n') start--;
    fwrite(text + start, 1, n - start, stderr);
    fflush(stderr);
    free(text);
}

static void show_job_failed(void *ctx, const char *msg) {
    (void)ctx;
    cli_error("sweep", msg);
}

// Each cell's statistics, one row per cell: the mean [95 % interval] of every metric. Nothing
// when the summary could not be started.
static void print_table(const SweepSummary *table, const Grid *g) {
    if (table->n_cells == 0) return;
    printf("%-36s", "cell");
    for (int k = 0; k < sweep_metric_count(); k++) printf(" %26s", sweep_metric(k)->name);
    printf("\n");
    for (int c = 0; c < table->n_cells; c++) {
        printf("%-36s", g->cells[c].name);
        for (int k = 0; k < sweep_metric_count(); k++) {
            const MetricSummary *m = &table->cell[c][k];
            char cell[64];
            if (m->n > 1)
                snprintf(cell, sizeof cell, "%.4g [%.4g, %.4g]", m->mean, m->ci_low, m->ci_high);
            else
                snprintf(cell, sizeof cell, "%.4g", m->mean);
            printf(" %26s", cell);
        }
        printf("\n");
    }
}

// The options: 0, or EXIT_USAGE after printing why.
static int parse_options(int argc, char **argv, const char **grid_path, const char **out,
                         int *jobs) {
    const char *usage = "usage: dint sweep GRID.ini --out DIR [--jobs N]";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            *out = argv[++i];
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 1 || v > 256) {
                cli_error("sweep", "--jobs: expected a number of processes from 1 to 256");
                return EXIT_USAGE;
            }
            *jobs = (int)v;
        } else if (argv[i][0] != '-' && !*grid_path)
            *grid_path = argv[i];
        else {
            cli_error("sweep", usage);
            return EXIT_USAGE;
        }
    }
    if (!*grid_path || !*out) {
        cli_error("sweep", usage);
        return EXIT_USAGE;
    }
    if (*jobs > 0 && dist_size() > 1) {
        cli_error("sweep", "--jobs is for one machine without MPI; under mpirun every rank is a "
                           "process already (drop --jobs, or drop mpirun)");
        return EXIT_USAGE;
    }
    return 0;
}

// Run the grid into out and, on rank 0, write and print its summary. 0, or -1 with err set.
static int sweep(const Grid *g, const char *out, int jobs, Error *err) {
    const SweepReporter reporter = {.run_started = show_run_started,
                                    .runs_done = show_runs_done,
                                    .command_failed = show_last_line,
                                    .job_failed = show_job_failed};
    Throughput tp;
    sweep_plan(g, jobs, &tp);
    if (dist_size() == 1 && tp.processes > 1)
        fprintf(stderr, "[sweep] %d runs at once, %d thread(s) each\n", tp.processes, tp.threads);
    double *vals = xcalloc((size_t)grid_jobs(g) * sweep_metric_count(), sizeof(double));
    SweepSummary *table = xcalloc(1, sizeof *table);
    int rc = sweep_run_all(g, out, &reporter, vals, &tp, err);
    if (dist_rank() == 0) { // rank 0 reports and writes the summary
        if (rc == 0) rc = summary_write(out, g, vals, &tp, table, err);
        print_table(table, g);
    }
    if (rc == 0 && dist_rank() == 0) {
        if (tp.tokens > 0)
            fprintf(stderr,
                    "[sweep] trained %.0f tokens in %.1f s with %d process(es) x %d thread(s): "
                    "%.0f tokens/s for the machine\n",
                    tp.tokens, tp.wall_seconds, tp.processes, tp.threads,
                    tp.tokens / tp.wall_seconds);
        fprintf(stderr, "dint sweep: summary in %s/summary.h5\n", out);
    }
    free(table);
    free(vals);
    return rc;
}

int cmd_sweep(int argc, char **argv) {
    const char *grid_path = NULL, *out = NULL;
    int jobs = 0; // 0: the default (one per core for small models, else 1)
    int rc = parse_options(argc, argv, &grid_path, &out, &jobs);
    if (rc != 0) return rc;
    Grid *g = xcalloc(1, sizeof *g);
    Error err;
    rc = grid_load(grid_path, g, &err);
    if (rc == 0) sweep_metrics_use_grid(g);
    if (rc == 0 && mkdir(out, 0755) != 0) {
        struct stat st;
        if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = error_set(&err, "cannot create directory '%s'", out);
    }
    if (rc == 0) {
        h5_quiet();
        rc = sweep(g, out, jobs, &err);
    }
    if (rc != 0) cli_error("sweep", err.msg);
    free(g);
    return rc == 0 ? 0 : EXIT_USAGE;
}
