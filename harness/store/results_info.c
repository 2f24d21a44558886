#include "results_info.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5file.h"
#include "h5io.h"
#include "schema.h"

#define LABEL "%-13s "

// A whole dataset as doubles (HDF5 converts the integer types), or NULL when absent or empty;
// *n gets its element count.
static double *read_doubles(hid_t g, const char *name, long *n) {
    double *v;
    long k = h5_read_f64_all(g, name, &v);
    *n = k > 0 ? k : 0;
    return v;
}

static double attr_number(hid_t g, const char *name) {
    double v = NAN;
    h5_read_attr_num(g, name, H5T_NATIVE_DOUBLE, &v);
    return v;
}

static void print_parameters(hid_t g) {
    char *parameters = h5_read_attr_str(g, "parameters");
    if (parameters) printf(LABEL "(%s)\n", "", parameters);
    free(parameters);
}

// The sums of `count` over the finished cells (done != 0); both have n elements (0 if absent).
static double sum_done(hid_t g, const char *count, const double *done, long n) {
    long m;
    double *v = read_doubles(g, count, &m), s = 0;
    for (long i = 0; v && m == n && i < n; i++)
        if (done[i] != 0) s += v[i];
    free(v);
    return s;
}

static long count_done(const double *done, long n) {
    long k = 0;
    for (long i = 0; i < n; i++) k += done[i] != 0;
    return k;
}

static double ratio(double a, double b) {
    return b > 0 ? a / b : NAN;
}

// Needle and recall: rates over the finished cells from the stored counts.
static void print_counted_task(hid_t g, const char *task, const char *unit, const char *keyed_unit,
                               const char *other, const char *other_rate) {
    long n;
    double *done = read_doubles(g, "done", &n);
    double correct = sum_done(g, "correct", done, n), total = sum_done(g, "total", done, n);
    double keyed = sum_done(g, "keyed", done, n), keyed_total = sum_done(g, "keyed_total", done, n);
    double others = sum_done(g, other, done, n);
    double asked = !strcmp(task, "recall") ? total : sum_done(g, "questions", done, n);
    printf(LABEL "accuracy %.3f (%.0f of %.0f %s), keyed %.3f (%.0f of %.0f %s), %s %.3f; %ld of "
                 "%ld cells done\n",
           task, ratio(correct, total), correct, total, unit, ratio(keyed, keyed_total), keyed,
           keyed_total, keyed_unit, other_rate, ratio(others, asked), count_done(done, n), n);
    free(done);
    print_parameters(g);
}

static void print_ppl(hid_t g, const char *corpus) {
    printf(LABEL "%s: nll %.4f, perplexity %.2f, %.4f bits/byte over %.0f tokens of %.0f of %.0f "
                 "test documents\n",
           "ppl", corpus, attr_number(g, "nll"), attr_number(g, "perplexity"),
           attr_number(g, "bits_per_byte"), attr_number(g, "tokens"),
           attr_number(g, "documents_done"), attr_number(g, "documents"));
    print_parameters(g);
}

static void print_icl(hid_t g, const char *dataset) {
    long n, n_done, n_acc, n_alt;
    double *shots = read_doubles(g, "shots", &n), *done = read_doubles(g, "done", &n_done);
    double *acc = read_doubles(g, "accuracy", &n_acc);
    double *alternating = read_doubles(g, "alternating_accuracy", &n_alt);
    printf(LABEL "%s:", "icl", dataset);
    int shown = 0;
    for (long i = 0; n_done == n && n_acc == n && n_alt == n && i < n; i++)
        if (done[i] != 0)
            printf("%s k = %.0f: accuracy %.3f (alternating %.3f)", shown++ ? "," : "", shots[i],
                   acc[i], alternating[i]);
    printf("%s\n", shown ? "" : " no shot count finished");
    free(shots);
    free(done);
    free(acc);
    free(alternating);
    print_parameters(g);
}

// The largest finite value of a dataset (max) or the mean of its finite values.
static double finite_stat(hid_t g, const char *name, int max) {
    long n, used = 0;
    double *v = read_doubles(g, name, &n), s = max ? -INFINITY : 0;
    for (long i = 0; i < n; i++)
        if (isfinite(v[i])) {
            s = max ? fmax(s, v[i]) : s + v[i];
            used++;
        }
    free(v);
    return used == 0 ? NAN : max ? s : s / (double)used;
}

static void print_audit(hid_t f) {
    hid_t g = H5Gopen2(f, "/audit", H5P_DEFAULT);
    const char *precisions[] = {"fp32", "bf16", "fp16"};
    printf(LABEL, "audit");
    int shown = 0;
    for (int i = 0; i < 3; i++) {
        if (H5Lexists(g, precisions[i], H5P_DEFAULT) <= 0) continue;
        hid_t p = H5Gopen2(g, precisions[i], H5P_DEFAULT);
        printf("%s%s: max |row sum - expected| %.3g, negative mass/row %.3g", shown++ ? "; " : "",
               precisions[i], finite_stat(p, "row_sum_dev_max", 1),
               finite_stat(p, "negative_mass", 0));
        H5Gclose(p);
    }
    printf("%s\n", shown ? "" : "no precision measured");
    print_parameters(g);
    if (H5Lexists(g, "leakage", H5P_DEFAULT) > 0) {
        hid_t lg = H5Gopen2(g, "leakage", H5P_DEFAULT);
        double causal = attr_number(lg, "causal"), position = attr_number(lg, "position");
        printf(LABEL "%s (token %.0f changed)\n", "leakage probe",
               causal == 1 ? "causal: outputs before the changed token are bit-identical"
                           : "NOT CAUSAL: outputs before the changed token changed",
               position);
        H5Gclose(lg);
    }
    H5Gclose(g);
}

// Each subgroup of `path` (one per corpus or dataset) to `print`.
static void print_each(hid_t f, const char *path, void (*print)(hid_t, const char *)) {
    hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
    H5G_info_t info;
    if (g < 0 || H5Gget_info(g, &info) < 0) {
        if (g >= 0) H5Gclose(g);
        return;
    }
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char name[256];
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                               H5P_DEFAULT) < 0)
            continue;
        hid_t sub = H5Gopen2(g, name, H5P_DEFAULT);
        if (sub < 0) continue;
        print(sub, name);
        H5Gclose(sub);
    }
    H5Gclose(g);
}

int results_info(const char *path, Error *err) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 1;
    hid_t f = h5file_open_read(path, err);
    if (f < 0) return -1;
    char *run = h5_read_attr_str(f, schema_name(RUN_AT_RUN));
    if (!run || H5Aexists(f, schema_name(RUN_AT_SCHEMA_VERSION)) > 0) {
        free(run);
        H5Fclose(f);
        return 1;
    }
    printf(LABEL "%s (written by dint eval/audit --out)\n", "results file", path);
    printf(LABEL "%s (the run whose model was evaluated; dint info on it for its training)\n",
           "run", run);
    free(run);
    int has_eval = H5Lexists(f, "/eval", H5P_DEFAULT) > 0, shown = 0;
    if (has_eval && H5Lexists(f, "/eval/ppl", H5P_DEFAULT) > 0) {
        print_each(f, "/eval/ppl", print_ppl);
        shown++;
    }
    if (has_eval && H5Lexists(f, "/eval/needle", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, "/eval/needle", H5P_DEFAULT);
        print_counted_task(g, "needle", "queried needles", "key-swap pairs", "other_needle",
                           "other needle");
        H5Gclose(g);
        shown++;
    }
    if (has_eval && H5Lexists(f, "/eval/recall", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, "/eval/recall", H5P_DEFAULT);
        print_counted_task(g, "recall", "queries", "contexts", "other_value", "other value");
        H5Gclose(g);
        shown++;
    }
    if (has_eval && H5Lexists(f, "/eval/icl", H5P_DEFAULT) > 0) {
        print_each(f, "/eval/icl", print_icl);
        shown++;
    }
    if (H5Lexists(f, "/audit", H5P_DEFAULT) > 0) {
        print_audit(f);
        shown++;
    }
    if (!shown) printf(LABEL "none yet\n", "evaluations");
    H5Fclose(f);
    return 0;
}
