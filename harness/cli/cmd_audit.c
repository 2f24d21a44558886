// dint audit: attention maps and activations of a trained model on real test-split text, per
// layer and head, in fp32 and emulated bf16 / fp16 (tasks/audit.h says exactly what is
// rounded), plus the leakage probe; written to /audit/<precision> and /audit/leakage.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cli.h"
#include "options.h"
#include "eval_io.h"
#include "h5io.h"

#define AUDIT_TASK_VERSION 1

static int write_scalar_attr(hid_t g, const char *name, double v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a < 0 || H5Awrite(a, H5T_NATIVE_DOUBLE, &v) < 0) ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

static int write_precision(hid_t parent, const AuditStats *s) {
    hid_t g = h5_group(parent, audit_precision_name(s->prec));
    int L = s->n_layer, H = s->n_heads, rc = 0;
    long n = (long)L * H;
    enum { NF = 17 };
    const char *names[NF] = {
        "row_sum_mean",     "row_sum_min",       "row_sum_max",   "row_sum_std",  "row_sum_dev_max",
        "row_sum_dev_mean", "negative_fraction", "negative_mass", "entropy_a1",   "entropy_a2",
        "entropy_final",    "logit_top1",        "logit_top10",   "logit_top100", "logit_median",
        "nan_count",        "inf_count"};
    double *v = xmalloc(sizeof(double) * (size_t)n * NF);
    long *hist = xmalloc(sizeof(long) * (size_t)n * AUDIT_HIST_BINS);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            AuditHeadSummary hs;
            audit_head_summary(s, l, h, &hs);
            long i = (long)l * H + h;
            double row[NF] = {hs.row_sum_mean,
                              hs.row_sum_min,
                              hs.row_sum_max,
                              hs.row_sum_std,
                              hs.max_abs_dev,
                              hs.dev_mean,
                              hs.frac_negative,
                              hs.neg_mass_per_row,
                              hs.entropy_a1,
                              hs.entropy_a2,
                              hs.entropy_final,
                              hs.logit_top1,
                              hs.logit_top10,
                              hs.logit_top100,
                              hs.logit_median,
                              (double)(hs.n_nan + hs.logit_nan),
                              (double)(hs.n_inf + hs.logit_inf)};
            for (int k = 0; k < NF; k++) v[(long)k * n + i] = row[k];
            memcpy(hist + i * AUDIT_HIST_BINS, hs.hist, sizeof(long) * AUDIT_HIST_BINS);
        }
    double layers[256], heads[256];
    for (int l = 0; l < L + 1 && l < 256; l++) layers[l] = l;
    for (int h = 0; h < H && h < 256; h++) heads[h] = h;
    hsize_t d2[2] = {(hsize_t)L, (hsize_t)H}, d3[3] = {(hsize_t)L, (hsize_t)H, AUDIT_HIST_BINS};
    for (int k = 0; k < NF; k++) {
        rc |= h5_write(g, names[k], H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, d2, v + (long)k * n);
        hid_t ds = H5Dopen2(g, names[k], H5P_DEFAULT);
        rc |= attach_scale(g, ds, 0, "layer", layers, L);
        rc |= attach_scale(g, ds, 1, "head", heads, H);
        H5Dclose(ds);
    }
    rc |= h5_write(g, "row_sum_dev_hist", H5T_NATIVE_LONG, H5T_STD_I64LE, 3, d3, hist);
    double edges[AUDIT_HIST_BINS + 1];
    for (int b = 0; b < AUDIT_HIST_BINS; b++) {
        double lo, hi;
        audit_hist_bounds(b, &lo, &hi);
        edges[b] = lo;
        edges[b + 1] = hi;
    }
    hsize_t ne = AUDIT_HIST_BINS + 1;
    rc |= h5_write(g, "bin_edges", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &ne, edges);
    // Per layer (and the final stream as layer n_layer).
    enum { NL = 8 };
    const char *lnames[NL] = {"hidden_top1", "hidden_top10", "hidden_median",    "hidden_kurtosis",
                              "lambda",      "gamma",        "expected_row_sum", "hidden_overflow"};
    double *lv = xmalloc(sizeof(double) * (size_t)(L + 1) * NL);
    for (int l = 0; l <= L; l++) {
        AuditLayerSummary ls;
        audit_layer_summary(s, l, &ls);
        double row[NL] = {
            ls.hidden_top1, ls.hidden_top10, ls.hidden_median, ls.kurtosis,
            ls.lambda,      ls.gamma,        ls.expected,      (double)ls.hidden_overflow};
        for (int k = 0; k < NL; k++) lv[(long)k * (L + 1) + l] = row[k];
    }
    hsize_t dl = (hsize_t)(L + 1);
    for (int k = 0; k < NL; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s", lnames[k]);
        rc |= h5_write(g, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &dl, lv + (long)k * (L + 1));
        hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
        rc |= attach_scale(g, ds, 0, "stream", layers, L + 1);
        H5Dclose(ds);
    }
    AuditHeadSummary pooled;
    audit_head_summary(s, -1, -1, &pooled);
    rc |= write_scalar_attr(g, "logit_overflow_margin", pooled.logit_overflow_margin);
    rc |= write_scalar_attr(g, "logit_overflow", (double)pooled.logit_overflow);
    rc |= h5_attr_str(g, "meaning",
                      "per layer and head, over the rows of the final attention map; "
                      "the hidden_* datasets are per stream: the residual stream entering layer l, "
                      "the last entry after the last layer");
    free(v);
    free(hist);
    free(lv);
    H5Gclose(g);
    return rc;
}

int cmd_audit(int argc, char **argv) {
    const char *run = NULL, *out = NULL, *data = NULL, *precisions = "fp32,bf16,fp16";
    int samples = 4, seq = 0, threads = omp_get_num_procs();
    Error err;
    const Option opts[] = {{"--run", OPT_STR, &run},         {"--out", OPT_STR, &out},
                           {"--data", OPT_STR, &data},       {"--precision", OPT_STR, &precisions},
                           {"--samples", OPT_INT, &samples}, {"--seq", OPT_INT, &seq},
                           {"--threads", OPT_INT, &threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("audit", err.msg);
        return EXIT_USAGE;
    }
    if (!run || samples < 1 || seq < 0 || threads < 1) goto usage;
    int want[AUDIT_N_PREC] = {0, 0, 0}, any = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", precisions);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int p = 0; p < AUDIT_N_PREC; p++)
            if (!strcmp(t, audit_precision_name((AuditPrecision)p))) want[p] = found = any = 1;
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
    EvalContext c;
    if (eval_open(&c, run, out, data, threads, &err) != 0 ||
        eval_load_corpus(&c, NULL, &err) != 0) {
        cli_error("audit", err.msg);
        return EXIT_USAGE;
    }
    if (seq == 0) seq = c.cfg.train.seq_len;
    const int *text = c.corpus.tokens[SPLIT_TEST];
    long n_text = c.corpus.n_tokens[SPLIT_TEST];
    int rc = 0;
    if (n_text < seq + 1)
        rc = error_set(&err, "the test split has %ld tokens, fewer than --seq %d", n_text, seq);
    char params[256];
    snprintf(params, sizeof params, "audit v%d; samples %d; seq %d; precisions %s",
             AUDIT_TASK_VERSION, samples, seq, precisions);
    // Already done with these parameters: nothing to do.
    hid_t rf = rc == 0 ? eval_open_results(&c) : -1;
    int done = 0;
    if (rf >= 0) {
        if (H5Lexists(rf, "/audit", H5P_DEFAULT) > 0) {
            hid_t g = H5Gopen2(rf, "/audit", H5P_DEFAULT);
            char *have = h5_read_attr_str(g, "parameters");
            done = have && !strcmp(have, params);
            free(have);
            H5Gclose(g);
        }
        H5Fclose(rf);
    }
    if (rc == 0 && done) {
        fprintf(stderr, "dint audit: %s already holds this audit\n", out ? out : run);
        printf("%s\n", out ? out : run);
        eval_close(&c);
        return 0;
    }
    AuditStats st[AUDIT_N_PREC], *sp[AUDIT_N_PREC];
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        audit_init(&st[p], &c.model, (AuditPrecision)p);
        sp[p] = want[p] ? &st[p] : NULL;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    AuditLeakage leak = {0};
    for (int k = 0; k < samples && rc == 0; k++) {
        // Windows spread evenly over the test split.
        long start = samples > 1 ? (long)((double)(n_text - seq - 1) * k / (samples - 1)) : 0;
        model_forward(&c.model, text + start, text + start + 1, 1, seq);
        audit_accumulate(sp, &c.model, 1, seq);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double el = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        fprintf(stderr, "audit: sample %d of %d | %.1fs | ETA %.0fs\n", k + 1, samples, el,
                el / (k + 1) * (samples - k - 1));
    }
    if (rc == 0 && audit_leakage_probe(&c.model, text, seq, seq / 2, &leak) != 0)
        rc = error_set(&err, "the leakage probe could not run");
    if (rc == 0) {
        char tmp[4200];
        hid_t f = eval_begin(&c, tmp, sizeof tmp, &err);
        if (f < 0)
            rc = -1;
        else {
            if (H5Lexists(f, "/audit", H5P_DEFAULT) > 0) H5Ldelete(f, "/audit", H5P_DEFAULT);
            hid_t g = h5_group(f, "audit");
            int w = h5_attr_str(g, "parameters", params) |
                    h5_attr_i64(g, "task_version", AUDIT_TASK_VERSION) |
                    h5_attr_i64(g, "tokens", (long)samples * seq) |
                    h5_attr_str(g, "inputs", "windows of the test split, evenly spaced");
            for (int p = 0; p < AUDIT_N_PREC; p++)
                if (want[p]) w |= write_precision(g, &st[p]);
            hid_t lg = h5_group(g, "leakage");
            w |= h5_attr_i64(lg, "causal", !leak.changed_before_t) |
                 h5_attr_i64(lg, "position", seq / 2) |
                 h5_attr_i64(lg, "first_changed", leak.first_changed) |
                 h5_attr_i64(lg, "probe_had_effect", leak.changed_from_t);
            w |= write_scalar_attr(lg, "max_abs_diff_before", leak.max_abs_diff_before);
            w |= h5_attr_str(lg, "meaning",
                             "token at `position` replaced; causal = 1 when every logit before it "
                             "stayed bit-identical");
            H5Gclose(lg);
            H5Gclose(g);
            if (w) {
                H5Fclose(f);
                rc = error_set(&err, "writing /audit failed");
            } else {
                rc = eval_commit(&c, f, tmp, &err);
            }
        }
    }
    if (rc == 0) {
        AuditHeadSummary fp;
        audit_head_summary(&st[AUDIT_FP32], -1, -1, &fp);
        // Pooled over layers the expected row sum is NaN when lambda differs per layer: give
        // the range of the per-layer values, as the row-sum figure does.
        char expected[96];
        snprintf(expected, sizeof expected, "expected %.6f", fp.expected);
        if (isnan(fp.expected)) {
            double lo = INFINITY, hi = -INFINITY;
            for (int l = 0; l < st[AUDIT_FP32].n_layer; l++) {
                AuditHeadSummary ls;
                if (audit_head_summary(&st[AUDIT_FP32], l, -1, &ls) == 0 && !isnan(ls.expected))
                    lo = fmin(lo, ls.expected), hi = fmax(hi, ls.expected);
            }
            if (lo <= hi)
                snprintf(expected, sizeof expected,
                         "expected %.6f..%.6f: 1 - lambda (+ gamma) differs per layer", lo, hi);
        }
        fprintf(stderr,
                "dint audit: row sums %.6f..%.6f (%s), max |deviation| %.3g, negative "
                "mass/row %.4g; %s\n",
                fp.row_sum_min, fp.row_sum_max, expected, fp.max_abs_dev, fp.neg_mass_per_row,
                leak.changed_before_t ? "NOT causal: outputs before a changed token changed"
                                      : "causal");
        printf("%s\n", out ? out : run);
    } else {
        cli_error("audit", err.msg);
    }
    for (int p = 0; p < AUDIT_N_PREC; p++) audit_free(&st[p]);
    eval_close(&c);
    return rc == 0 ? 0 : EXIT_USAGE;
usage:
    cli_error(
        "audit",
        "usage: dint audit --run RUN.h5 [--out FILE] [--data SPEC] [--precision fp32,bf16,fp16] "
        "[--samples N] [--seq N] [--threads N]");
    return EXIT_USAGE;
}
