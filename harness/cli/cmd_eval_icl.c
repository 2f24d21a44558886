// dint eval icl: in-context classification accuracy as the number of demonstrations grows
// until the context is full, with the spread over orderings of the same demonstrations (random
// and class-alternating order), written to /eval/icl/<dataset> after every shot count; a
// restarted evaluation skips finished shot counts.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "options.h"
#include "datasets.h"
#include "eval_io.h"
#include "h5io.h"
#include "icl.h"
#include "labelled.h"

#define ICL_TASK_VERSION 1
#define MAX_SHOTS        32

typedef struct {
    int n_shots, shots[MAX_SHOTS], orders, episodes;
    unsigned char done[MAX_SHOTS];
    // [mode][shot]: mode 0 random order, 1 class-alternating
    double acc[2][MAX_SHOTS], acc_norm[2][MAX_SHOTS], bmw[2][MAX_SHOTS], sd[2][MAX_SHOTS],
        secs[MAX_SHOTS];
    long correct[2][MAX_SHOTS], total[2][MAX_SHOTS];
    double *order_acc[2]; // (shots, orders)
} IclGrid;

static int write_icl(const EvalContext *c, const char *group, const IclGrid *g, const char *params,
                     Error *err) {
    char tmp[4200];
    hid_t f = eval_begin(c, tmp, sizeof tmp, err);
    if (f < 0) return -1;
    if (H5Lexists(f, "/eval", H5P_DEFAULT) <= 0) H5Gclose(h5_group(f, "eval"));
    if (H5Lexists(f, "/eval/icl", H5P_DEFAULT) <= 0) H5Gclose(h5_group(f, "/eval/icl"));
    if (H5Lexists(f, group, H5P_DEFAULT) > 0) H5Ldelete(f, group, H5P_DEFAULT);
    hid_t grp = h5_group(f, group);
    int rc = 0, S = g->n_shots;
    double shots[MAX_SHOTS], lo[MAX_SHOTS], hi[MAX_SHOTS];
    for (int i = 0; i < S; i++) shots[i] = g->shots[i];
    rc |= h5_attr_str(grp, "parameters", params);
    rc |= h5_attr_i64(grp, "task_version", ICL_TASK_VERSION);
    rc |= h5_attr_i64(grp, "episodes", g->episodes);
    rc |= h5_attr_i64(grp, "orders", g->orders);
    rc |= h5_attr_str(
        grp, "format",
        "\"Input: <text>\\nLabel: <label>\\n\\n\" x k, then \"Input: <query>\\nLabel:\"; "
        "prediction: the label with the highest log-likelihood (constrained decoding)");
    const char *prefix[2] = {"", "alternating_"};
    for (int mode = 0; mode < 2; mode++) {
        for (int i = 0; i < S; i++)
            wilson_interval(g->correct[mode][i], g->total[mode][i], &lo[i], &hi[i]);
        struct {
            const char *name;
            const double *v;
        } cols[] = {{"accuracy", g->acc[mode]},
                    {"accuracy_norm", g->acc_norm[mode]},
                    {"accuracy_ci_low", lo},
                    {"accuracy_ci_high", hi},
                    {"best_minus_worst", g->bmw[mode]},
                    {"order_std", g->sd[mode]}};
        for (int k = 0; k < 6; k++) {
            char name[64];
            snprintf(name, sizeof name, "%s%s", prefix[mode], cols[k].name);
            hsize_t d = (hsize_t)S;
            rc |= h5_write(grp, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &d, cols[k].v);
            hid_t ds = H5Dopen2(grp, name, H5P_DEFAULT);
            rc |= attach_scale(grp, ds, 0, "shots", shots, S);
            H5Dclose(ds);
        }
        char name[64];
        snprintf(name, sizeof name, "%sorder_accuracy", prefix[mode]);
        hsize_t d2[2] = {(hsize_t)S, (hsize_t)g->orders};
        rc |= h5_write(grp, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2, g->order_acc[mode]);
        hid_t ds = H5Dopen2(grp, name, H5P_DEFAULT);
        rc |= attach_scale(grp, ds, 0, "shots", shots, S);
        H5Dclose(ds);
    }
    hsize_t d = (hsize_t)S;
    rc |= h5_write(grp, "done", H5T_NATIVE_UCHAR, H5T_STD_U8LE, 1, &d, g->done);
    rc |= h5_write(grp, "seconds", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &d, g->secs);
    hid_t ds = H5Dopen2(grp, "best_minus_worst", H5P_DEFAULT);
    rc |= h5_attr_str(
        ds, "meaning",
        "accuracy of the best minus the worst of the orderings of the same demonstrations");
    H5Dclose(ds);
    H5Gclose(grp);
    if (rc != 0) {
        H5Fclose(f);
        return error_set(err, "writing %s failed", group);
    }
    return eval_commit(c, f, tmp, err);
}

static int resume_icl(const EvalContext *c, const char *group, IclGrid *g, const char *params,
                      Error *err) {
    hid_t f = eval_open_results(c);
    if (f < 0) return 0;
    int rc = 0;
    if (H5Lexists(f, "/eval", H5P_DEFAULT) > 0 && H5Lexists(f, "/eval/icl", H5P_DEFAULT) > 0 &&
        H5Lexists(f, group, H5P_DEFAULT) > 0) {
        hid_t grp = H5Gopen2(f, group, H5P_DEFAULT);
        char *have = h5_read_attr_str(grp, "parameters");
        if (!have || strcmp(have, params) != 0)
            rc = error_set(err,
                           "the results file already holds %s with other parameters (%s); write "
                           "elsewhere with --out FILE",
                           group, have ? have : "unknown");
        else {
            const char *prefix[2] = {"", "alternating_"};
            int S = g->n_shots, bad = h5_read(grp, "done", H5T_NATIVE_UCHAR, S, g->done) ||
                                      h5_read(grp, "seconds", H5T_NATIVE_DOUBLE, S, g->secs);
            for (int mode = 0; mode < 2 && !bad; mode++) {
                char n1[64], n2[64], n3[64], n4[64], n5[64];
                snprintf(n1, sizeof n1, "%saccuracy", prefix[mode]);
                snprintf(n2, sizeof n2, "%saccuracy_norm", prefix[mode]);
                snprintf(n3, sizeof n3, "%sbest_minus_worst", prefix[mode]);
                snprintf(n4, sizeof n4, "%sorder_std", prefix[mode]);
                snprintf(n5, sizeof n5, "%sorder_accuracy", prefix[mode]);
                bad =
                    h5_read(grp, n1, H5T_NATIVE_DOUBLE, S, g->acc[mode]) ||
                    h5_read(grp, n2, H5T_NATIVE_DOUBLE, S, g->acc_norm[mode]) ||
                    h5_read(grp, n3, H5T_NATIVE_DOUBLE, S, g->bmw[mode]) ||
                    h5_read(grp, n4, H5T_NATIVE_DOUBLE, S, g->sd[mode]) ||
                    h5_read(grp, n5, H5T_NATIVE_DOUBLE, (hsize_t)S * g->orders, g->order_acc[mode]);
                for (int i = 0; i < S; i++) {
                    g->total[mode][i] = g->done[i] ? (long)g->episodes * g->orders : 0;
                    g->correct[mode][i] =
                        g->done[i] ? lround(g->acc[mode][i] * g->total[mode][i]) : 0;
                }
            }
            if (bad)
                rc = error_set(err, "the stored %s is damaged; write elsewhere with --out FILE",
                               group);
        }
        free(have);
        H5Gclose(grp);
    }
    H5Fclose(f);
    return rc;
}

int cmd_eval_icl(int argc, char **argv) {
    const char *run = NULL, *out = NULL, *dataset = "wordnet-noun", *shots_s = NULL;
    int episodes = 50, orders = 5, context = 0, classes = 4, threads = omp_get_num_procs();
    unsigned long long seed = 1;
    Error err;
    const Option opts[] = {{"--run", OPT_STR, &run},           {"--out", OPT_STR, &out},
                           {"--dataset", OPT_STR, &dataset},   {"--shots", OPT_STR, &shots_s},
                           {"--episodes", OPT_INT, &episodes}, {"--orders", OPT_INT, &orders},
                           {"--context", OPT_INT, &context},   {"--classes", OPT_INT, &classes},
                           {"--seed", OPT_U64, &seed},         {"--threads", OPT_INT, &threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    if (!run || episodes < 1 || orders < 1 || threads < 1 || context < 0 || classes < 2) goto usage;
    EvalContext c;
    if (eval_open(&c, run, out, NULL, threads, &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    if (context == 0) context = c.cfg.train.seq_len;
    int synthetic = !strcmp(dataset, "synthetic");
    LabelledSet set;
    memset(&set, 0, sizeof set);
    IclDataset d = {0};
    int rc = 0;
    if (!synthetic) {
        char path[4096];
        DataSource src;
        // The same split as the training mixture's icl component: queries never seen in training.
        if (data_resolve_labels(dataset, path, sizeof path, &src, &err) != 0 ||
            labelled_load(&set, path, 0.2f, c.cfg.data.split_seed, &err) != 0)
            rc = -1;
        d = (IclDataset){set.n,        (const char *const *)set.text, set.label, set.is_test,
                         set.n_labels, (const char *const *)set.names};
    }
    IclGrid g;
    memset(&g, 0, sizeof g);
    g.orders = orders;
    g.episodes = episodes;
    if (rc == 0 && shots_s) {
        g.n_shots = parse_int_list(shots_s, g.shots, MAX_SHOTS, "--shots", &err);
        if (g.n_shots < 0) rc = -1;
        for (int i = 0; rc == 0 && i < g.n_shots; i++)
            if (g.shots[i] < 0 || (synthetic && g.shots[i] < 1))
                rc = error_set(&err, "--shots must be >= %d", synthetic);
    } else if (rc == 0) {
        // 0 (1 for synthetic), 1, 2, 4, ... up to what surely fits in the context.
        int most = synthetic ? 64 : icl_max_shots(&c.tok, &d, context);
        if (most < 0)
            rc = error_set(&err, "no episode of '%s' fits in a context of %d tokens", dataset,
                           context);
        for (int k = synthetic ? 1 : 0; rc == 0 && k <= most && g.n_shots < MAX_SHOTS;
             k = k ? 2 * k : 1)
            g.shots[g.n_shots++] = k;
    }
    char label[128], group[200], params[512];
    snprintf(label, sizeof label, "%.100s",
             synthetic               ? "synthetic"
             : strrchr(dataset, '/') ? strrchr(dataset, '/') + 1
                                     : dataset);
    for (char *p = label; *p; p++)
        if (*p == '.') *p = '_';
    snprintf(group, sizeof group, "/eval/icl/%s", label);
    size_t k = (size_t)snprintf(
        params, sizeof params,
        "icl v%d; seed %llu; episodes %d; orders %d; context %d; classes %d; shots",
        ICL_TASK_VERSION, seed, episodes, orders, context, synthetic ? classes : d.n_labels);
    for (int i = 0; i < g.n_shots && k < sizeof params; i++)
        k += (size_t)snprintf(params + k, sizeof params - k, " %d", g.shots[i]);
    for (int m = 0; m < 2; m++) {
        g.order_acc[m] = xcalloc((size_t)MAX_SHOTS * orders, sizeof(double));
        for (int i = 0; i < MAX_SHOTS; i++)
            g.acc[m][i] = g.acc_norm[m][i] = g.bmw[m][i] = g.sd[m][i] = NAN;
    }
    if (rc == 0) rc = resume_icl(&c, group, &g, params, &err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < g.n_shots && rc == 0; i++) {
        if (g.done[i]) continue;
        int fits = 1;
        for (int mode = 0; mode < 2 && rc == 0; mode++) {
            IclOptions o = {g.shots[i], context, episodes, orders, mode, seed};
            IclResult r;
            rc = synthetic ? icl_evaluate_synthetic(&c.model, &c.tok, classes, &o, &r, &err)
                           : icl_evaluate(&c.model, &c.tok, &d, &o, &r, &err);
            if (rc != 0) break;
            fits = r.fits;
            if (fits) {
                g.acc[mode][i] = r.accuracy, g.acc_norm[mode][i] = r.accuracy_norm;
                g.bmw[mode][i] = r.best_minus_worst, g.sd[mode][i] = r.order_std;
                g.total[mode][i] = (long)episodes * orders;
                g.correct[mode][i] = lround(r.accuracy * g.total[mode][i]);
                memcpy(g.order_acc[mode] + (long)i * orders, r.order_accuracy,
                       sizeof(double) * (size_t)orders);
            }
            icl_result_free(&r);
            if (!fits) break;
        }
        if (rc != 0) break;
        if (!fits) { // the context is full: stop growing k
            fprintf(stderr, "icl %s: %d shots do not fit in %d tokens; stopping\n", label,
                    g.shots[i], context);
            g.n_shots = i;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        g.secs[i] = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        t0 = t1;
        g.done[i] = 1;
        rc = write_icl(&c, group, &g, params, &err);
        fprintf(stderr,
                "icl %s: %d shots: accuracy %.3f (alternating %.3f), best-worst %.3f | %.1fs\n",
                label, g.shots[i], g.acc[0][i], g.acc[1][i], g.bmw[0][i], g.secs[i]);
    }
    if (rc == 0)
        printf("%s\n", out ? out : run);
    else
        cli_error("eval", err.msg);
    free(g.order_acc[0]);
    free(g.order_acc[1]);
    labelled_free(&set);
    eval_close(&c);
    return rc == 0 ? 0 : EXIT_USAGE;
usage:
    cli_error("eval", "usage: dint eval icl --run RUN.h5 [--out FILE] [--dataset "
                      "NAME|PATH|synthetic] [--shots K,...] "
                      "[--episodes N] [--orders S] [--context TOKENS] [--classes C (synthetic)] "
                      "[--seed N] [--threads N]");
    return EXIT_USAGE;
}
