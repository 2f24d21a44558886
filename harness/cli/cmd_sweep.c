// dint sweep GRID.ini --out DIR [--jobs N]: ablation grids. Each cell (a variant with its gamma
// mode, G mode, head norm and lambda_init) is trained once per seed on the same data and token
// budget, then evaluated and audited as the grid says, by running this same `dint` binary (one
// run at a time, N at once with --jobs, or one per MPI rank); a summary HDF5 gives each metric's
// mean, standard deviation and 95 % interval across seeds per cell, and paired differences
// against a baseline cell with a paired t-test (GSL). Finished runs are skipped, so a stopped
// sweep continues where it was.
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "config_file.h"
#include "dist.h"
#include "h5file.h"
#include "h5io.h"
#include "schema.h"
#include "survival.h"

#define MAX_CELLS 64
#define MAX_SEEDS 16
#define MAX_LIST  16
// How a metric reduces its run-file dataset (NaN entries skipped).
typedef enum {
    REDUCE_LAST, // the last entry (NaN when the dataset is empty)
    REDUCE_MAX,
    REDUCE_MEAN,
    REDUCE_SUM // 0 when the dataset is empty
} Reduction;

typedef struct {
    const char *name;    // in the summary: "<name>_mean", ...; a column of per_seed
    const char *dataset; // where it comes from in each run file (a dataset, or a scalar attribute)
    Reduction reduce;
} SweepMetric;

enum {
    METRIC_VAL_LOSS,
    METRIC_ROW_SUM_DEV_MAX,
    METRIC_NEGATIVE_MASS,
    METRIC_LOSS_SPIKES,
    METRIC_NEEDLE_ACCURACY,
    METRIC_RETRIEVAL_ONSET,
    METRIC_ONSET_CENSORED,
    METRIC_RECALL_ONSET_TOKENS,
    METRIC_RECALL_CENSORED,
    METRIC_RECALL_HELDOUT,
    METRIC_RECALL_ACCURACY,
    METRIC_RECALL_KEYED,
    N_METRICS
};

// The /audit and /eval paths are outputs of the audit and needle tasks (their tables in tasks/).
static const SweepMetric METRICS[N_METRICS] = {
    [METRIC_VAL_LOSS] = {"val_loss", RUN_TRAIN_VAL_LOSS, REDUCE_LAST},
    [METRIC_ROW_SUM_DEV_MAX] = {"row_sum_dev_max", "/audit/fp32/row_sum_dev_max", REDUCE_MAX},
    [METRIC_NEGATIVE_MASS] = {"negative_mass", "/audit/fp32/negative_mass", REDUCE_MEAN},
    [METRIC_LOSS_SPIKES] = {"loss_spikes", RUN_TRAIN_LOSS_SPIKE, REDUCE_SUM},
    [METRIC_NEEDLE_ACCURACY] = {"needle_accuracy", "/eval/needle/accuracy", REDUCE_MEAN},
    // A censored run counts with its last step: the mean is then a lower bound, and the share of
    // censored runs says how many seeds never got there.
    [METRIC_RETRIEVAL_ONSET] = {"retrieval_onset", RUN_TRAIN_ONSET_AT_STEP, REDUCE_LAST},
    [METRIC_ONSET_CENSORED] = {"onset_censored", RUN_TRAIN_ONSET_AT_CENSORED, REDUCE_LAST},
    // The recall onset in tokens (a time-to-event: /survival has its Kaplan-Meier statistics),
    // the final held-out accuracy, and `dint eval recall`'s accuracy and keyed rate.
    [METRIC_RECALL_ONSET_TOKENS] = {"recall_onset_tokens", RUN_TRAIN_RECALL_ONSET_AT_TOKENS,
                                    REDUCE_LAST},
    [METRIC_RECALL_CENSORED] = {"recall_censored", RUN_TRAIN_RECALL_ONSET_AT_CENSORED, REDUCE_LAST},
    [METRIC_RECALL_HELDOUT] = {"recall_heldout_accuracy", RUN_TRAIN_RECALL_ACCURACY, REDUCE_LAST},
    [METRIC_RECALL_ACCURACY] = {"recall_accuracy", "/eval/recall/accuracy", REDUCE_MEAN},
    [METRIC_RECALL_KEYED] = {"recall_keyed_rate", "/eval/recall/keyed_rate", REDUCE_MEAN},
};

typedef struct {
    char name[64];
    char variant[16], gamma[32], g_mode[16], head_norm[8], lambda_init[32];
} Cell;

typedef struct {
    char variants[MAX_LIST][16], gammas[MAX_LIST][32], g_modes[MAX_LIST][16],
        head_norms[MAX_LIST][8], lambdas[MAX_LIST][32];
    int n_variants, n_gammas, n_g_modes, n_head_norms, n_lambdas;
    int seeds[MAX_SEEDS], n_seeds;
    char data[1024], baseline[64];
    char sets[4096]; // " --set k=v" ...
    char evals[8][1024];
    int n_evals;
    char audit[512];
    int has_audit;
    Cell cells[MAX_CELLS];
    int n_cells;
    RunConfig cfg; // the defaults with the [train] keys applied: the model size (--jobs default)
} Grid;

static int split_list(const char *v, char out[][32], int width, int max) {
    int n = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        char *e = t + strlen(t);
        while (e > t && e[-1] == ' ') *--e = '\0';
        if (!*t || n == max) return -1;
        snprintf((char *)out + (size_t)n * width, (size_t)width, "%s", t);
        n++;
    }
    return n;
}

static int on_grid(void *user, const char *section, const char *name, const char *value,
                   Error *err) {
    Grid *g = user;
    int n = 0;
    if (!strcmp(section, "grid")) {
        if (!strcmp(name, "variants"))
            n = g->n_variants = split_list(value, (char(*)[32])g->variants, 16, MAX_LIST);
        else if (!strcmp(name, "gamma"))
            n = g->n_gammas = split_list(value, g->gammas, 32, MAX_LIST);
        else if (!strcmp(name, "g_mode"))
            n = g->n_g_modes = split_list(value, (char(*)[32])g->g_modes, 16, MAX_LIST);
        else if (!strcmp(name, "head_norm"))
            n = g->n_head_norms = split_list(value, (char(*)[32])g->head_norms, 8, MAX_LIST);
        else if (!strcmp(name, "lambda_init"))
            n = g->n_lambdas = split_list(value, g->lambdas, 32, MAX_LIST);
        else if (!strcmp(name, "seeds")) {
            char tmp[MAX_SEEDS][32];
            n = g->n_seeds = split_list(value, tmp, 32, MAX_SEEDS);
            for (int i = 0; i < n; i++) {
                char *end;
                long v = strtol(tmp[i], &end, 10);
                if (*end || v < 0 || v > 2147483647L)
                    n = 0; // not a seed: reported below
                else
                    g->seeds[i] = (int)v;
            }
        } else if (!strcmp(name, "data"))
            n = snprintf(g->data, sizeof g->data, "%s", value) > 0;
        else if (!strcmp(name, "baseline"))
            n = snprintf(g->baseline, sizeof g->baseline, "%s", value) > 0;
        else
            n = -2;
    } else if (!strcmp(section, "train")) {
        size_t k = strlen(g->sets);
        snprintf(g->sets + k, sizeof g->sets - k, " --set '%s=%s'", name, value);
        char assignment[1200];
        snprintf(assignment, sizeof assignment, "%s=%s", name, value);
        Error ignored; // a bad key or value is the training run's to report, in its one line
        (void)config_set_assignment(&g->cfg, assignment, &ignored);
        n = 1;
    } else if (!strcmp(section, "eval")) {
        if (strcmp(name, "needle") && strcmp(name, "ppl") && strcmp(name, "icl") &&
            strcmp(name, "recall"))
            n = -2;
        else if (g->n_evals < 8) {
            snprintf(g->evals[g->n_evals++], sizeof g->evals[0], "%s %s", name, value);
            n = 1;
        }
    } else if (!strcmp(section, "audit") && !strcmp(name, "options")) {
        snprintf(g->audit, sizeof g->audit, "%s", value);
        g->has_audit = n = 1;
    } else {
        n = -2;
    }
    if (n == -2) return error_set(err, "unknown key '%s' in [%s]", name, section);
    if (n <= 0) return error_set(err, "bad value '%s' for %s.%s", value, section, name);
    return 0;
}

// The cross product, with the axes that do not apply to a variant collapsed.
static int build_cells(Grid *g) {
    if (!g->n_gammas) g->n_gammas = 1, snprintf(g->gammas[0], 32, "tied");
    if (!g->n_g_modes) g->n_g_modes = 1, snprintf(g->g_modes[0], 16, "causal");
    if (!g->n_head_norms) g->n_head_norms = 1, snprintf(g->head_norms[0], 8, "true");
    if (!g->n_lambdas) g->n_lambdas = 1, snprintf(g->lambdas[0], 32, "schedule");
    for (int v = 0; v < g->n_variants; v++)
        for (int a = 0; a < g->n_gammas; a++)
            for (int b = 0; b < g->n_g_modes; b++)
                for (int c = 0; c < g->n_head_norms; c++)
                    for (int d = 0; d < g->n_lambdas; d++) {
                        int dint = !strcmp(g->variants[v], "dint"),
                            tf = !strcmp(g->variants[v], "transformer");
                        if ((!dint && (a || b)) || (tf && (c || d))) continue;
                        if (g->n_cells == MAX_CELLS) return -1;
                        Cell *x = &g->cells[g->n_cells++];
                        snprintf(x->variant, sizeof x->variant, "%s", g->variants[v]);
                        snprintf(x->gamma, sizeof x->gamma, "%s", dint ? g->gammas[a] : "zero");
                        snprintf(x->g_mode, sizeof x->g_mode, "%s",
                                 dint ? g->g_modes[b] : "causal");
                        snprintf(x->head_norm, sizeof x->head_norm, "%s",
                                 tf ? "false" : g->head_norms[c]);
                        snprintf(x->lambda_init, sizeof x->lambda_init, "%s",
                                 tf ? "schedule" : g->lambdas[d]);
                        char name[64];
                        int k = snprintf(name, sizeof name, "%s", x->variant);
                        if (dint && g->n_gammas > 1)
                            k += snprintf(name + k, sizeof name - k, "-gamma_%s", g->gammas[a]);
                        if (dint && g->n_g_modes > 1)
                            k += snprintf(name + k, sizeof name - k, "-G_%s", g->g_modes[b]);
                        if (!tf && g->n_head_norms > 1)
                            k += snprintf(name + k, sizeof name - k, "-headnorm_%s",
                                          g->head_norms[c]);
                        if (!tf && g->n_lambdas > 1)
                            snprintf(name + k, sizeof name - k, "-lambda_%s", g->lambdas[d]);
                        memcpy(x->name, name, sizeof name);
                        for (char *p = x->name; *p; p++)
                            if (*p == ':') *p = '_';
                    }
    return 0;
}

// The last line of log on stderr, as `tail -n 1` prints it.
static void show_last_line(const char *log) {
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

// In a child process: SIGTERM (with its default action, whatever handlers the parent had, MPI's
// included) when the parent dies, or now if it already has.
static void die_with_parent(pid_t parent) {
    signal(SIGTERM, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
}

// Run a shell command and wait: its exit code, or -1. The child gets SIGTERM when this process
// dies, so a killed sweep (or MPI rank) leaves no run going on behind it.
static int run_shell(const char *cmd) {
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        die_with_parent(parent);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Run `dint ARGS` (this binary), its output appended to log; on failure, show the log's last
// line (the child's one-line error).
static int run_self(const char *args, const char *log) {
    char self[4096], cmd[16384];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    // exec: the shell becomes dint, which keeps the parent-death signal.
    snprintf(cmd, sizeof cmd, "exec '%s' %s >>'%s' 2>&1", self, args, log);
    int rc = run_shell(cmd);
    if (rc != 0) show_last_line(log);
    return rc;
}

// Whether every group on the way to path, and path itself, exists (H5Lexists needs each one).
static int path_exists(hid_t f, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = strchr(buf + 1, '/');; p = strchr(p + 1, '/')) {
        if (p) *p = '\0';
        if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) return 0;
        if (!p) return 1;
        *p = '/';
    }
}

// A scalar attribute ("/train/onset@step") as a double, NaN when absent.
static double read_attribute(hid_t f, const char *path) {
    char object[256];
    const char *at = strchr(path, '@');
    snprintf(object, sizeof object, "%.*s", (int)(at - path), path);
    double v = NAN;
    if (!path_exists(f, object)) return NAN;
    hid_t o = H5Oopen(f, object, H5P_DEFAULT);
    if (o < 0) return NAN;
    if (H5Aexists(o, at + 1) <= 0 || h5_read_attr_num(o, at + 1, H5T_NATIVE_DOUBLE, &v) != 0)
        v = NAN;
    H5Oclose(o);
    return v;
}

// One metric of a run file: its dataset reduced as the metric says (or its attribute), NaN when
// absent.
static double read_metric(hid_t f, const SweepMetric *m) {
    if (strchr(m->dataset, '@')) return read_attribute(f, m->dataset);
    if (!path_exists(f, m->dataset)) return NAN;
    hid_t ds = H5Dopen2(f, m->dataset, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    double *buf = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1)), v = NAN;
    if (n == 0 && m->reduce == REDUCE_SUM) {
        v = 0;
    } else if (n > 0 && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
        double acc = m->reduce == REDUCE_MAX ? -INFINITY : 0;
        long cnt = 0;
        for (hssize_t j = 0; j < n; j++) {
            if (isnan(buf[j])) continue;
            acc = m->reduce == REDUCE_MAX ? fmax(acc, buf[j]) : acc + buf[j];
            cnt++;
        }
        v = m->reduce == REDUCE_LAST   ? buf[n - 1]
            : cnt == 0                 ? NAN
            : m->reduce == REDUCE_MEAN ? acc / cnt
                                       : acc;
    }
    free(buf);
    H5Sclose(sp);
    H5Dclose(ds);
    return v;
}

// Metric values of one run file (NaN where the run lacks the group).
static void read_metrics(const char *path, double *v) {
    for (int i = 0; i < N_METRICS; i++) v[i] = NAN;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    for (int i = 0; i < N_METRICS; i++) v[i] = read_metric(f, &METRICS[i]);
    H5Fclose(f);
}

// A scalar float64 dataset inside its object header (compact: covered by its checksum).
static int write_scalar(hid_t loc, const char *name, double v, hid_t compact) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, compact, H5P_DEFAULT);
    int rc = ds < 0 || H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return rc;
}

// One cell's recall onsets over seeds (tokens; censored ones at their last evaluation) into t
// and ev: the number of seeds with a recall onset.
static int cell_onsets(const Grid *g, const double *vals, int c, double *t, int *ev) {
    int n = 0;
    for (int s = 0; s < g->n_seeds; s++) {
        const double *v = vals + ((long)c * g->n_seeds + s) * N_METRICS;
        if (isnan(v[METRIC_RECALL_ONSET_TOKENS]) || isnan(v[METRIC_RECALL_CENSORED])) continue;
        t[n] = v[METRIC_RECALL_ONSET_TOKENS];
        ev[n++] = v[METRIC_RECALL_CENSORED] == 0;
    }
    return n;
}

// /survival: the recall onset as a time-to-event over seeds, per cell (Kaplan-Meier curve,
// median and its interval) and for each pair of cells (log-rank). Nothing when no run has one.
static int write_survival(hid_t f, const Grid *g, const double *vals, hid_t compact) {
    int C = g->n_cells, any = 0;
    double t[MAX_SEEDS];
    int ev[MAX_SEEDS];
    for (int c = 0; c < C && !any; c++) any = cell_onsets(g, vals, c, t, ev) > 0;
    if (!any) return 0;
    hid_t sg = h5_group(f, SWEEP_SURVIVAL);
    int rc = sg < 0;
    rc |= h5_attr_str(sg, schema_name(SWEEP_SURVIVAL_AT_EVENT),
                      "recall onset: held-out recall accuracy >= recall.threshold "
                      "(/train/recall_onset); a run that never reached it is censored at its "
                      "last evaluation");
    rc |= h5_attr_str(sg, schema_name(SWEEP_SURVIVAL_AT_TIME), "training tokens");
    rc |= h5_attr_str(sg, schema_name(SWEEP_SURVIVAL_AT_TEST),
                      "two-sample log-rank (Mantel-Cox, 1 df); Kaplan-Meier with Greenwood "
                      "errors and a 95 % log(-log) band (harness/stats/survival.h)");
    double *p = xmalloc(sizeof(double) * (size_t)C * C * 2), *chi2 = p + (long)C * C;
    char names[MAX_CELLS * 66] = "";
    for (int a = 0; a < C; a++) {
        strcat(strcat(names, a ? "," : ""), g->cells[a].name);
        int na = cell_onsets(g, vals, a, t, ev);
        KaplanMeier km;
        hid_t cg = h5_group(sg, g->cells[a].name);
        rc |= cg < 0;
        if (na > 0 && km_estimate(t, ev, na, &km) == 0) {
            long reached = 0;
            for (int i = 0; i < na; i++) reached += ev[i];
            rc |= h5_attr_i64(cg, schema_name(SWEEP_SURVIVAL_CELL_AT_SEEDS), na);
            rc |= h5_attr_i64(cg, schema_name(SWEEP_SURVIVAL_CELL_AT_REACHED), reached);
            rc |= write_scalar(cg, schema_name(SWEEP_SURVIVAL_MEDIAN), km.median, compact);
            rc |= write_scalar(cg, schema_name(SWEEP_SURVIVAL_MEDIAN_LO), km.median_lo, compact);
            rc |= write_scalar(cg, schema_name(SWEEP_SURVIVAL_MEDIAN_HI), km.median_hi, compact);
            rc |= h5_write_f64(cg, schema_name(SWEEP_SURVIVAL_TIME), (hsize_t)km.n_times, km.time);
            rc |= h5_write_f64(cg, schema_name(SWEEP_SURVIVAL_SURV), (hsize_t)km.n_times, km.surv);
            rc |= h5_write_f64(cg, schema_name(SWEEP_SURVIVAL_SURV_LO), (hsize_t)km.n_times, km.lo);
            rc |= h5_write_f64(cg, schema_name(SWEEP_SURVIVAL_SURV_HI), (hsize_t)km.n_times, km.hi);
            km_free(&km);
        }
        if (cg >= 0) H5Gclose(cg);
        for (int b = 0; b < C; b++) {
            double tb[MAX_SEEDS];
            int eb[MAX_SEEDS], nb = cell_onsets(g, vals, b, tb, eb);
            LogRank lr;
            int ok = a != b && na > 0 && nb > 0 && logrank_test(t, ev, na, tb, eb, nb, &lr) == 0;
            p[(long)a * C + b] = ok ? lr.p : NAN;
            chi2[(long)a * C + b] = ok ? lr.chi2 : NAN;
        }
    }
    hsize_t dims[2] = {(hsize_t)C, (hsize_t)C};
    rc |= h5_write(sg, schema_name(SWEEP_SURVIVAL_LOGRANK_P), H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2,
                   dims, p);
    rc |= h5_write(sg, schema_name(SWEEP_SURVIVAL_LOGRANK_CHI2), H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE,
                   2, dims, chi2);
    rc |= h5_attr_str(sg, schema_name(SWEEP_SURVIVAL_AT_CELLS), names);
    free(p);
    H5Gclose(sg);
    return rc;
}

// What one invocation trained, for the summary: runs at once, threads each, wall clock, and the
// training tokens it added (each run's last /train/tokens after, less before).
typedef struct {
    int processes, threads;
    double wall_seconds, tokens;
} Throughput;

static int write_summary(const char *dir, const Grid *g, double *vals /* cell, seed, metric */,
                         const Throughput *tp, Error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.h5", dir);
    hid_t f = h5file_create_mem(path, err);
    if (f < 0) return -1;
    // Scalars inside their object header, which carries a checksum (they cannot be chunked).
    hid_t compact = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(compact, H5D_COMPACT);
    int rc = 0, S = g->n_seeds, base = -1;
    for (int c = 0; c < g->n_cells; c++)
        if (!strcmp(g->cells[c].name, g->baseline)) base = c;
    rc |= h5_attr_str(f, schema_name(SWEEP_AT_BASELINE), base >= 0 ? g->baseline : "");
    rc |= h5_attr_i64(f, schema_name(SWEEP_AT_PROCESSES), tp->processes) |
          h5_attr_i64(f, schema_name(SWEEP_AT_THREADS_PER_PROCESS), tp->threads) |
          h5_attr_f64(f, schema_name(SWEEP_AT_WALL_SECONDS), tp->wall_seconds) |
          h5_attr_i64(f, schema_name(SWEEP_AT_TOKENS_TRAINED), (long)tp->tokens) |
          h5_attr_f64(f, schema_name(SWEEP_AT_TOKENS_PER_S),
                      tp->wall_seconds > 0 ? tp->tokens / tp->wall_seconds : 0.0);
    hid_t cells = h5_group(f, SWEEP_CELLS), paired = h5_group(f, SWEEP_PAIRED);
    rc |= h5_attr_str(paired, schema_name(SWEEP_PAIRED_AT_BASELINE), base >= 0 ? g->baseline : "");
    rc |= h5_attr_str(paired, schema_name(SWEEP_PAIRED_AT_TEST),
                      "paired t-test over seeds (two-sided), GSL t distribution");
    printf("%-36s", "cell");
    for (int k = 0; k < N_METRICS; k++) printf(" %26s", METRICS[k].name);
    printf("\n");
    for (int c = 0; c < g->n_cells; c++) {
        const Cell *x = &g->cells[c];
        hid_t cg = h5_group(cells, x->name);
        rc |= h5_attr_str(cg, schema_name(SWEEP_CELL_AT_VARIANT), x->variant) |
              h5_attr_str(cg, schema_name(SWEEP_CELL_AT_GAMMA), x->gamma) |
              h5_attr_str(cg, schema_name(SWEEP_CELL_AT_G_MODE), x->g_mode) |
              h5_attr_str(cg, schema_name(SWEEP_CELL_AT_HEAD_NORM), x->head_norm) |
              h5_attr_str(cg, schema_name(SWEEP_CELL_AT_LAMBDA_INIT), x->lambda_init) |
              h5_attr_i64(cg, schema_name(SWEEP_CELL_AT_N_SEEDS), S);
        hid_t pg = base >= 0 && c != base ? h5_group(paired, x->name) : -1;
        printf("%-36s", x->name);
        for (int k = 0; k < N_METRICS; k++) {
            double xs[MAX_SEEDS], diffs[MAX_SEEDS];
            int n = 0, nd = 0;
            for (int s = 0; s < S; s++) {
                double v = vals[((long)c * S + s) * N_METRICS + k];
                if (!isnan(v)) xs[n++] = v;
                if (pg >= 0) {
                    double b = vals[((long)base * S + s) * N_METRICS + k];
                    if (!isnan(v) && !isnan(b)) diffs[nd++] = v - b;
                }
            }
            double mean = n ? gsl_stats_mean(xs, 1, n) : NAN,
                   sd = n > 1 ? gsl_stats_sd(xs, 1, n) : NAN;
            double half = n > 1 ? gsl_cdf_tdist_Pinv(0.975, n - 1) * sd / sqrt(n) : NAN;
            double out[4] = {mean, sd, mean - half, mean + half};
            const char *suffix[4] = {SWEEP_SUFFIX_MEAN, SWEEP_SUFFIX_STD, SWEEP_SUFFIX_CI_LOW,
                                     SWEEP_SUFFIX_CI_HIGH};
            for (int q = 0; q < 4; q++) {
                char name[96];
                snprintf(name, sizeof name, "%s%s", METRICS[k].name, suffix[q]);
                hid_t sp = H5Screate(H5S_SCALAR);
                hid_t ds =
                    H5Dcreate2(cg, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, compact, H5P_DEFAULT);
                rc |= (ds < 0 ||
                       H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &out[q]) < 0);
                if (ds >= 0) H5Dclose(ds);
                H5Sclose(sp);
            }
            char cell[64];
            if (n > 1)
                snprintf(cell, sizeof cell, "%.4g [%.4g, %.4g]", mean, out[2], out[3]);
            else
                snprintf(cell, sizeof cell, "%.4g", mean);
            printf(" %26s", cell);
            if (pg >= 0) {
                double dm = nd ? gsl_stats_mean(diffs, 1, nd) : NAN, p = NAN;
                if (nd > 1) {
                    double dsd = gsl_stats_sd(diffs, 1, nd);
                    double t = dsd > 0 ? dm / (dsd / sqrt(nd)) : (dm == 0 ? 0 : INFINITY);
                    p = isinf(t) ? 0.0 : 2 * gsl_cdf_tdist_Q(fabs(t), nd - 1);
                }
                double pv[2] = {dm, p};
                const char *pn[2] = {SWEEP_SUFFIX_DIFF_MEAN, SWEEP_SUFFIX_P_VALUE};
                for (int q = 0; q < 2; q++) {
                    char name[96];
                    snprintf(name, sizeof name, "%s%s", METRICS[k].name, pn[q]);
                    hid_t sp = H5Screate(H5S_SCALAR);
                    hid_t ds =
                        H5Dcreate2(pg, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, compact, H5P_DEFAULT);
                    rc |= (ds < 0 || H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                              &pv[q]) < 0);
                    if (ds >= 0) H5Dclose(ds);
                    H5Sclose(sp);
                }
            }
        }
        printf("\n");
        hsize_t sd2[2] = {(hsize_t)S, N_METRICS};
        rc |= h5_write(cg, schema_name(SWEEP_CELL_PER_SEED), H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2,
                       sd2, vals + (long)c * S * N_METRICS);
        if (pg >= 0) H5Gclose(pg);
        H5Gclose(cg);
    }
    char metric_list[512] = "";
    for (int k = 0; k < N_METRICS; k++) strcat(strcat(metric_list, k ? "," : ""), METRICS[k].name);
    rc |= h5_attr_str(cells, schema_name(SWEEP_CELLS_AT_METRICS), metric_list);
    rc |= write_survival(f, g, vals, compact);
    H5Gclose(cells);
    H5Gclose(paired);
    H5Pclose(compact);
    if (rc) {
        H5Fclose(f);
        return error_set(err, "cannot assemble '%s' in memory (out of memory?)", path);
    }
    return h5file_save(f, path, err);
}

// Read and check a grid file into g (zeroed by the caller): 0, or -1 with err set.
static int load_grid(const char *grid_path, Grid *g, Error *err) {
    config_defaults(&g->cfg);
    int rc = 0;
    if (ini_read(grid_path, "grid file", on_grid, g, err) != 0)
        rc = -1;
    else if (!g->n_variants)
        rc = error_set(err, "%s: [grid] variants is required", grid_path);
    else if (!g->data[0])
        rc = error_set(err, "%s: [grid] data is required", grid_path);
    else if (build_cells(g) != 0)
        rc = error_set(err, "%s: more than %d cells", grid_path, MAX_CELLS);
    if (rc == 0 && !g->n_seeds) g->n_seeds = 1, g->seeds[0] = 1;
    if (rc == 0 && g->baseline[0]) {
        int found = 0;
        for (int c = 0; c < g->n_cells; c++) found |= !strcmp(g->cells[c].name, g->baseline);
        if (!found)
            rc = error_set(err, "%s: baseline '%s' is not a cell of the grid", grid_path,
                           g->baseline);
    }
    return rc;
}

int sweep_grid_check(const char *grid_path, int *cells, Error *err) {
    Grid *g = xcalloc(1, sizeof *g);
    int rc = load_grid(grid_path, g, err);
    if (rc == 0 && cells) *cells = g->n_cells * g->n_seeds;
    free(g);
    return rc;
}

// The run file and log of one (cell, seed) of the grid.
static void run_paths(const Grid *g, const char *out, int job, char *run, char *log, size_t n) {
    const Cell *x = &g->cells[job / g->n_seeds];
    int seed = g->seeds[job % g->n_seeds];
    snprintf(run, n, "%s/%s-seed%d.h5", out, x->name, seed);
    snprintf(log, n, "%s/%s-seed%d.log", out, x->name, seed);
}

static int run_is_complete(const char *run) {
    struct stat st;
    char *status = NULL;
    if (stat(run, &st) == 0) {
        hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f >= 0) {
            status = h5_read_attr_str(f, schema_name(RUN_AT_STATUS));
            H5Fclose(f);
        }
    }
    int complete = status && !strcmp(status, "complete");
    free(status);
    return complete;
}

// Job `job` of the grid (cell job / n_seeds, seed job % n_seeds): trained, or resumed when its
// run file exists, unless complete; then evaluated and audited as the grid says. extra: options
// added to every command (" --threads N" on MPI ranks, else ""). 0, or -1 with err set.
static int sweep_run(const Grid *g, const char *out, int job, int complete, const char *extra,
                     Error *err) {
    const Cell *x = &g->cells[job / g->n_seeds];
    int seed = g->seeds[job % g->n_seeds];
    char run[4400], log[4400], args[16384];
    run_paths(g, out, job, run, log, sizeof run);
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
        if (run_self(args, log) != 0)
            return error_set(err, "training %s seed %d failed (see the lines above)", x->name,
                             seed);
    }
    for (int e = 0; e < g->n_evals; e++) {
        snprintf(args, sizeof args, "eval %s --run '%s'%s", g->evals[e], run, extra);
        if (run_self(args, log) != 0)
            return error_set(err, "evaluating %s seed %d failed", x->name, seed);
    }
    if (g->has_audit) {
        snprintf(args, sizeof args, "audit --run '%s' %s%s", run, g->audit, extra);
        if (run_self(args, log) != 0)
            return error_set(err, "auditing %s seed %d failed", x->name, seed);
    }
    return 0;
}

// Tokens a run file has trained so far (0 without one).
static double run_tokens(const char *run) {
    static const SweepMetric tokens = {"tokens", RUN_TRAIN_TOKENS, REDUCE_LAST};
    struct stat st;
    if (stat(run, &st) != 0) return 0.0;
    hid_t f = H5Fopen(run, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0.0;
    double v = read_metric(f, &tokens);
    H5Fclose(f);
    return isfinite(v) ? v : 0.0;
}

// Every run's tokens before this invocation trains (before[job]).
static void tokens_before_all(const Grid *g, const char *out, double *before) {
    for (int job = 0; job < g->n_cells * g->n_seeds; job++) {
        char run[4400], log[4400];
        run_paths(g, out, job, run, log, sizeof run);
        before[job] = run_tokens(run);
    }
}

static void tokens_after_all(const Grid *g, const char *out, const double *before, double t0,
                             Throughput *tp) {
    tp->wall_seconds = now_seconds() - t0;
    tp->tokens = 0.0;
    for (int job = 0; job < g->n_cells * g->n_seeds; job++) {
        char run[4400], log[4400];
        run_paths(g, out, job, run, log, sizeof run);
        double added = run_tokens(run) - before[job];
        tp->tokens += added > 0 ? added : 0.0;
    }
}

// One process: every run in grid order, its metrics read as it finishes.
static int sweep_in_turn(const Grid *g, const char *out, double *vals, Error *err) {
    int total = g->n_cells * g->n_seeds, ran = 0;
    double t0 = now_seconds();
    for (int job = 0; job < total; job++) {
        char run[4400], log[4400];
        run_paths(g, out, job, run, log, sizeof run);
        int complete = run_is_complete(run);
        fprintf(stderr, "[sweep] run %d of %d: %s seed %d%s\n", job + 1, total,
                g->cells[job / g->n_seeds].name, g->seeds[job % g->n_seeds],
                complete ? " (trained; checking evaluations)" : "");
        ran |= !complete;
        if (sweep_run(g, out, job, complete, "", err) != 0) return -1;
        read_metrics(run, vals + (long)job * N_METRICS);
        double el = now_seconds() - t0;
        if (ran)
            fprintf(stderr, "[sweep] %d of %d runs done, %.0fs elapsed, ETA %.0fs\n", job + 1,
                    total, el, el / (job + 1) * (total - job - 1));
    }
    return 0;
}

// One job on this rank, announced with the rank prefix; its exit code (0: done).
static int sweep_job_here(const Grid *g, const char *out, int job, const char *extra) {
    char run[4400], log[4400];
    run_paths(g, out, job, run, log, sizeof run);
    int complete = run_is_complete(run);
    fprintf(stderr, "[sweep] run %d of %d: %s seed %d%s\n", job + 1, g->n_cells * g->n_seeds,
            g->cells[job / g->n_seeds].name, g->seeds[job % g->n_seeds],
            complete ? " (trained; checking evaluations)" : "");
    Error err;
    if (sweep_run(g, out, job, complete, extra, &err) == 0) return 0;
    cli_error("sweep", err.msg);
    return 1;
}

// Rank 0's own job runs in a child process, so that rank 0 keeps answering the queue.
static pid_t start_job(const Grid *g, const char *out, int job, const char *extra) {
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        die_with_parent(parent);
        int rc = sweep_job_here(g, out, job, extra);
        fflush(stderr);
        _exit(rc); // no MPI, no atexit handlers in the child
    }
    return pid;
}

typedef struct {
    int next, total, done, failed;
    double t0;
} SweepQueue;

// The next job to hand out (-1: none, or a run failed and the sweep winds down), after counting
// the finished one.
static int queue_next(SweepQueue *q, int finished_job, int finished_rc) {
    if (finished_job >= 0) {
        q->done++;
        q->failed += finished_rc != 0;
        double el = now_seconds() - q->t0;
        fprintf(stderr, "[sweep] %d of %d runs done, %.0fs elapsed, ETA %.0fs\n", q->done, q->total,
                el, el / q->done * (q->total - q->done));
    }
    return q->failed || q->next == q->total ? -1 : q->next++;
}

// Rank 0 of several: hand out jobs (its own included) until all are done.
static int serve_queue(const Grid *g, const char *out, const char *extra) {
    SweepQueue q = {.total = g->n_cells * g->n_seeds};
    q.t0 = now_seconds();
    int workers = dist_size() - 1, own_job = queue_next(&q, -1, 0);
    pid_t own = own_job >= 0 ? start_job(g, out, own_job, extra) : 0;
    while (own > 0 || workers > 0) {
        int busy = 0, worker, job, rc, st;
        if (own > 0 && waitpid(own, &st, WNOHANG) == own) {
            busy = 1;
            own_job = queue_next(&q, own_job, !WIFEXITED(st) || WEXITSTATUS(st) != 0);
            own = own_job >= 0 ? start_job(g, out, own_job, extra) : 0;
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

// One machine, no MPI, --jobs N > 1: up to N runs at once, each a child process (as rank 0 runs
// its own job) with `extra` (" --threads T"); the next run starts when one ends, in grid order.
static int sweep_local_pool(const Grid *g, const char *out, int jobs, const char *extra,
                            double *vals, Error *err) {
    SweepQueue q = {.total = g->n_cells * g->n_seeds};
    q.t0 = now_seconds();
    pid_t *pid = xcalloc((size_t)jobs, sizeof(pid_t));
    int *job_of = xcalloc((size_t)jobs, sizeof(int)), running = 0;
    for (int slot = 0; slot < jobs; slot++) {
        int job = queue_next(&q, -1, 0);
        if (job < 0) break;
        job_of[slot] = job, pid[slot] = start_job(g, out, job, extra), running++;
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
            int next = queue_next(&q, job_of[slot], !WIFEXITED(st) || WEXITSTATUS(st) != 0);
            pid[slot] = next >= 0 ? start_job(g, out, next, extra) : 0;
            job_of[slot] = next;
            running -= next < 0;
        }
    }
    free(pid);
    free(job_of);
    if (q.failed) return error_set(err, "%d run(s) failed (see the lines above)", q.failed);
    for (int job = 0; job < q.total; job++) {
        char run[4400], log[4400];
        run_paths(g, out, job, run, log, sizeof run);
        read_metrics(run, vals + (long)job * N_METRICS);
    }
    return 0;
}

// Small models (the retrieval experiments' sizes) leave most of a core idle between their short
// parallel regions: one thread per process and one process per core trains more tokens per
// second on the whole machine than one process on every core (measured: README, "Speed").
static int grid_is_small_model(const Grid *g) {
    return g->cfg.model.d_model <= 128 && g->cfg.model.n_layer <= 4 && g->cfg.train.seq_len <= 512;
}

// Several MPI ranks: a dynamic work queue (rank 0 serves it and runs jobs too); each run is its
// own process writing its own file, as in one process. Rank 0 then reads every run's metrics.
static int sweep_on_ranks(const Grid *g, const char *out, double *vals, Error *err) {
    char extra[32];
    snprintf(extra, sizeof extra, " --threads %d", dist_default_threads());
    int failed = 0;
    if (dist_rank() == 0) {
        failed = serve_queue(g, out, extra);
    } else {
        int job = -1, rc = 0;
        while ((job = dist_queue_next(job, rc)) >= 0) rc = sweep_job_here(g, out, job, extra);
    }
    dist_wait_all();
    if (dist_rank() != 0) return 0;
    if (failed) return error_set(err, "%d run(s) failed (see the lines above)", failed);
    for (int job = 0; job < g->n_cells * g->n_seeds; job++) {
        char run[4400], log[4400];
        run_paths(g, out, job, run, log, sizeof run);
        read_metrics(run, vals + (long)job * N_METRICS);
    }
    return 0;
}

int cmd_sweep(int argc, char **argv) {
    const char *grid_path = NULL, *out = NULL;
    const char *usage = "usage: dint sweep GRID.ini --out DIR [--jobs N]";
    int jobs = 0; // 0: the default (one per core for small models, else 1)
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 1 || v > 256) {
                cli_error("sweep", "--jobs: expected a number of processes from 1 to 256");
                return EXIT_USAGE;
            }
            jobs = (int)v;
        } else if (argv[i][0] != '-' && !grid_path)
            grid_path = argv[i];
        else {
            cli_error("sweep", usage);
            return EXIT_USAGE;
        }
    }
    if (!grid_path || !out) {
        cli_error("sweep", usage);
        return EXIT_USAGE;
    }
    if (jobs > 0 && dist_size() > 1) {
        cli_error("sweep", "--jobs is for one machine without MPI; under mpirun every rank is a "
                           "process already (drop --jobs, or drop mpirun)");
        return EXIT_USAGE;
    }
    Grid *g = xcalloc(1, sizeof *g);
    Error err;
    int rc = load_grid(grid_path, g, &err);
    if (rc == 0 && mkdir(out, 0755) != 0) {
        struct stat st;
        if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = error_set(&err, "cannot create directory '%s'", out);
    }
    if (rc != 0) {
        cli_error("sweep", err.msg);
        free(g);
        return EXIT_USAGE;
    }
    h5_quiet();
    int total = g->n_cells * g->n_seeds, cores = dist_default_threads();
    double *vals = xcalloc((size_t)total * N_METRICS, sizeof(double));
    double *before = xcalloc((size_t)total, sizeof(double));
    Throughput tp = {.processes = 1, .threads = cores};
    if (dist_size() > 1) {
        if (dist_rank() == 0) tokens_before_all(g, out, before);
        double t0 = now_seconds();
        rc = sweep_on_ranks(g, out, vals, &err);
        if (dist_rank() != 0) { // rank 0 reports and writes the summary
            free(vals);
            free(before);
            free(g);
            return rc == 0 ? 0 : EXIT_USAGE;
        }
        tp.processes = dist_size();
        tokens_after_all(g, out, before, t0, &tp);
    } else {
        if (jobs == 0) jobs = grid_is_small_model(g) ? cores : 1;
        if (jobs > total) jobs = total;
        if (jobs < 1) jobs = 1;
        tokens_before_all(g, out, before);
        double t0 = now_seconds();
        if (jobs > 1) {
            char extra[32];
            tp.processes = jobs;
            tp.threads = cores / jobs > 1 ? cores / jobs : 1;
            snprintf(extra, sizeof extra, " --threads %d", tp.threads);
            fprintf(stderr, "[sweep] %d runs at once, %d thread(s) each\n", jobs, tp.threads);
            rc = sweep_local_pool(g, out, jobs, extra, vals, &err);
        } else {
            rc = sweep_in_turn(g, out, vals, &err);
        }
        tokens_after_all(g, out, before, t0, &tp);
    }
    if (rc == 0) rc = write_summary(out, g, vals, &tp, &err);
    if (rc == 0) {
        if (tp.tokens > 0)
            fprintf(stderr,
                    "[sweep] trained %.0f tokens in %.1f s with %d process(es) x %d thread(s): "
                    "%.0f tokens/s for the machine\n",
                    tp.tokens, tp.wall_seconds, tp.processes, tp.threads,
                    tp.tokens / tp.wall_seconds);
        fprintf(stderr, "dint sweep: summary in %s/summary.h5\n", out);
    } else {
        cli_error("sweep", err.msg);
    }
    free(vals);
    free(before);
    free(g);
    return rc == 0 ? 0 : EXIT_USAGE;
}
