// The audit as an EvalTask: per precision the row-sum, sign, entropy and outlier statistics of
// every (layer, head) and residual stream, and the leakage probe, as the /audit group.
#include "audit_eval.h"
#include "audit_wire.h"
#include "leakage_probe.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_plan.h"

typedef struct {
    AuditTaskSpec spec;
    AuditStats st[AUDIT_N_PREC];
    AuditLeakage leak;
    int done;          // the stored audit has these parameters
    AuditSample *kept; // (samples) when deferred: each measured sample, merged by import
} AuditTaskState;

static void audit_state_free(void *p) {
    AuditTaskState *s = p;
    if (!s) return;
    for (int i = 0; i < AUDIT_N_PREC; i++) audit_free(&s->st[i]);
    for (int i = 0; s->kept && i < s->spec.samples; i++) audit_sample_free(&s->kept[i]);
    free(s->kept);
    free(s);
}

static void audit_group_path(const void *st, char *buf, size_t cap) {
    (void)st;
    snprintf(buf, cap, "/audit");
}

static void audit_params_text(const void *st, char *buf, size_t cap) {
    const AuditTaskSpec *s = &((const AuditTaskState *)st)->spec;
    if (cap > 256) cap = 256; // stored texts have always been cut there
    snprintf(buf, cap, "audit v%d; samples %d; seq %d; precisions %s", AUDIT_TASK_VERSION,
             s->samples, s->seq, s->precisions);
}

static long audit_n_cells(const void *st) {
    return ((const AuditTaskState *)st)->spec.samples;
}

// Stored with the same parameters: the audit is done (it is written whole or not at all).
static int audit_read_back(void *st, const EvalReader *r) {
    (void)r;
    ((AuditTaskState *)st)->done = 1;
    return 0;
}

static int audit_cell_done(const void *st, long cell) {
    (void)cell;
    return ((const AuditTaskState *)st)->done;
}

// Into the statistics of every precision audited.
static void merge_sample(AuditTaskState *s, const AuditSample *x) {
    AuditStats *sp[AUDIT_N_PREC];
    for (int p = 0; p < AUDIT_N_PREC; p++) sp[p] = s->spec.want[p] ? &s->st[p] : NULL;
    audit_sample_merge(sp, x);
}

static int audit_score_cell(void *st, Model *m, long cell, char *line, size_t cap, Error *err) {
    (void)line, (void)cap, (void)err;
    AuditTaskState *s = st;
    const AuditTaskSpec *a = &s->spec;
    // Windows spread evenly over the test split.
    long k = cell, start = a->samples > 1
                               ? (long)((double)(a->n_text - a->seq - 1) * k / (a->samples - 1))
                               : 0;
    model_forward(m, a->text + start, a->text + start + 1, 1, a->seq);
    AuditSample x;
    audit_sample(&x, m, a->want, 1, a->seq, NULL);
    if (s->kept) {
        s->kept[cell] = x;
        return 0;
    }
    merge_sample(s, &x);
    audit_sample_free(&x);
    return 0;
}

static void audit_cell_finished(void *st, long cell, double seconds) {
    (void)st, (void)cell, (void)seconds;
}

// ---- Split over MPI ranks: samples measured apart, merged on rank 0 in sample order ----

static void audit_defer(void *st) {
    AuditTaskState *s = st;
    s->kept = xcalloc((size_t)s->spec.samples, sizeof(AuditSample));
}

static long audit_export_cell(const void *st, long cell, double *out) {
    return audit_sample_export(&((const AuditTaskState *)st)->kept[cell], out);
}

static void audit_import_cell(void *st, long cell, const double *in, long n) {
    AuditSample x;
    CHECK(audit_sample_import(&x, in, n) == 0,
          "audit: sample %ld came back malformed (%ld numbers)", cell + 1, n);
    merge_sample(st, &x);
    audit_sample_free(&x);
}

static int audit_finish(void *st, Model *m, Error *err) {
    AuditTaskState *s = st;
    if (audit_leakage_probe(m, s->spec.text, s->spec.seq, s->spec.seq / 2, &s->leak) != 0)
        return error_set(err, "the leakage probe could not run");
    return 0;
}

// Two of them are what a sweep summary compares (the fp32 audit's).
#define AUDIT_ROW_SUM_DEV_MAX "row_sum_dev_max"
#define AUDIT_NEGATIVE_MASS   "negative_mass"
enum { NF = 17, NL = 8 };
static const char *const HEAD_NAMES[NF] = {"row_sum_mean",
                                           "row_sum_min",
                                           "row_sum_max",
                                           "row_sum_std",
                                           AUDIT_ROW_SUM_DEV_MAX,
                                           "row_sum_dev_mean",
                                           "negative_fraction",
                                           AUDIT_NEGATIVE_MASS,
                                           "entropy_a1",
                                           "entropy_a2",
                                           "entropy_final",
                                           "logit_top1",
                                           "logit_top10",
                                           "logit_top100",
                                           "logit_median",
                                           "nan_count",
                                           "inf_count"};
static const char *const LAYER_NAMES[NL] = {"hidden_top1",      "hidden_top10",   "hidden_median",
                                            "hidden_kurtosis",  "lambda",         "gamma",
                                            "expected_row_sum", "hidden_overflow"};

// Per (layer, head): the NF summaries and the row-sum deviation histogram.
static int write_heads(const EvalWriter *w, const char *pn, const AuditStats *s,
                       const double *layers, const double *heads) {
    int L = s->n_layer, H = s->n_heads, rc = 0;
    long n = (long)L * H;
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
    long d2[2] = {L, H}, d3[3] = {L, H, AUDIT_HIST_BINS};
    char name[64];
    for (int k = 0; k < NF; k++) {
        snprintf(name, sizeof name, "%s/%s", pn, HEAD_NAMES[k]);
        rc |= w->dataset(w->ctx, name, EVAL_F64, 2, d2, v + (long)k * n);
        rc |= w->scale(w->ctx, name, 0, "layer", layers, L);
        rc |= w->scale(w->ctx, name, 1, "head", heads, H);
    }
    snprintf(name, sizeof name, "%s/row_sum_dev_hist", pn);
    rc |= w->dataset(w->ctx, name, EVAL_I64, 3, d3, hist);
    free(v);
    free(hist);
    return rc;
}

// Per stream (the residual stream entering each layer, then the final one).
static int write_streams(const EvalWriter *w, const char *pn, const AuditStats *s,
                         const double *layers) {
    int L = s->n_layer, rc = 0;
    double *lv = xmalloc(sizeof(double) * (size_t)(L + 1) * NL);
    for (int l = 0; l <= L; l++) {
        AuditLayerSummary ls;
        audit_layer_summary(s, l, &ls);
        double row[NL] = {
            ls.hidden_top1, ls.hidden_top10, ls.hidden_median, ls.kurtosis,
            ls.lambda,      ls.gamma,        ls.expected,      (double)ls.hidden_overflow};
        for (int k = 0; k < NL; k++) lv[(long)k * (L + 1) + l] = row[k];
    }
    long dl = L + 1;
    for (int k = 0; k < NL; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s/%s", pn, LAYER_NAMES[k]);
        rc |= w->dataset(w->ctx, name, EVAL_F64, 1, &dl, lv + (long)k * (L + 1));
        rc |= w->scale(w->ctx, name, 0, "stream", layers, L + 1);
    }
    free(lv);
    return rc;
}

static int write_precision(const EvalWriter *w, const AuditStats *s) {
    const char *pn = precision_name(s->prec);
    int L = s->n_layer, H = s->n_heads;
    int rc = w->group(w->ctx, pn);
    double layers[256], heads[256];
    for (int l = 0; l < L + 1 && l < 256; l++) layers[l] = l;
    for (int h = 0; h < H && h < 256; h++) heads[h] = h;
    rc |= write_heads(w, pn, s, layers, heads);
    double edges[AUDIT_HIST_BINS + 1];
    for (int b = 0; b < AUDIT_HIST_BINS; b++) {
        double lo, hi;
        audit_hist_bounds(b, &lo, &hi);
        edges[b] = lo;
        edges[b + 1] = hi;
    }
    long ne = AUDIT_HIST_BINS + 1;
    char name[64];
    snprintf(name, sizeof name, "%s/bin_edges", pn);
    rc |= w->dataset(w->ctx, name, EVAL_F64, 1, &ne, edges);
    rc |= write_streams(w, pn, s, layers);
    AuditHeadSummary pooled;
    audit_head_summary(s, -1, -1, &pooled);
    rc |= w->attr_f64(w->ctx, pn, "logit_overflow_margin", pooled.logit_overflow_margin);
    rc |= w->attr_f64(w->ctx, pn, "logit_overflow", (double)pooled.logit_overflow);
    rc |= w->attr_str(w->ctx, pn, "meaning",
                      "per layer and head, over the rows of the final attention map; "
                      "the hidden_* datasets are per stream: the residual stream entering layer l, "
                      "the last entry after the last layer");
    return rc;
}

static int audit_write_results(const void *st, const EvalWriter *w) {
    const AuditTaskState *s = st;
    const AuditTaskSpec *a = &s->spec;
    char params[256];
    audit_params_text(s, params, sizeof params);
    int rc = w->attr_str(w->ctx, "", "parameters", params) |
             w->attr_i64(w->ctx, "", "task_version", AUDIT_TASK_VERSION) |
             w->attr_i64(w->ctx, "", "tokens", (long)a->samples * a->seq) |
             w->attr_str(w->ctx, "", "inputs", "windows of the test split, evenly spaced");
    for (int p = 0; p < AUDIT_N_PREC; p++)
        if (a->want[p]) rc |= write_precision(w, &s->st[p]);
    const AuditLeakage *leak = &s->leak;
    rc |= w->group(w->ctx, "leakage");
    rc |= w->attr_i64(w->ctx, "leakage", "causal", !leak->changed_before_t) |
          w->attr_i64(w->ctx, "leakage", "position", a->seq / 2) |
          w->attr_i64(w->ctx, "leakage", "first_changed", leak->first_changed) |
          w->attr_i64(w->ctx, "leakage", "probe_had_effect", leak->changed_from_t);
    rc |= w->attr_f64(w->ctx, "leakage", "max_abs_diff_before", leak->max_abs_diff_before);
    rc |= w->attr_str(w->ctx, "leakage", "meaning",
                      "token at `position` replaced; causal = 1 when every logit before it "
                      "stayed bit-identical");
    return rc;
}

static void audit_progress(const void *st, long cell, const EvalProgress *p, char *line,
                           size_t cap) {
    snprintf(line, cap, "audit: sample %ld of %d | %.1fs | ETA %.0fs", cell + 1,
             ((const AuditTaskState *)st)->spec.samples, p->elapsed, p->eta);
}

static void audit_summary(const void *st, char *line, size_t cap) {
    const AuditTaskState *s = st;
    AuditHeadSummary fp;
    audit_head_summary(&s->st[PRECISION_FP32], -1, -1, &fp);
    // Pooled over layers the expected row sum is NaN when lambda differs per layer: give
    // the range of the per-layer values, as the row-sum figure does.
    char expected[96];
    snprintf(expected, sizeof expected, "expected %.6f", fp.expected);
    if (isnan(fp.expected)) {
        double lo = INFINITY, hi = -INFINITY;
        for (int l = 0; l < s->st[PRECISION_FP32].n_layer; l++) {
            AuditHeadSummary ls;
            if (audit_head_summary(&s->st[PRECISION_FP32], l, -1, &ls) == 0 && !isnan(ls.expected))
                lo = fmin(lo, ls.expected), hi = fmax(hi, ls.expected);
        }
        if (lo <= hi)
            snprintf(expected, sizeof expected,
                     "expected %.6f..%.6f: 1 - lambda (+ gamma) differs per layer", lo, hi);
    }
    snprintf(line, cap,
             "dint audit: row sums %.6f..%.6f (%s), max |deviation| %.3g, negative "
             "mass/row %.4g; %s",
             fp.row_sum_min, fp.row_sum_max, expected, fp.max_abs_dev, fp.neg_mass_per_row,
             s->leak.changed_before_t ? "NOT causal: outputs before a changed token changed"
                                      : "causal");
}

int audit_task_make(void **st, const AuditTaskSpec *spec, const Model *m, Error *err) {
    if (spec->n_text < spec->seq + 1)
        return error_set(err, "the test split has %ld tokens, fewer than --seq %d", spec->n_text,
                         spec->seq);
    AuditTaskState *s = xcalloc(1, sizeof *s);
    s->spec = *spec;
    for (int p = 0; p < AUDIT_N_PREC; p++) audit_init(&s->st[p], m, (Precision)p);
    *st = s;
    return 0;
}

#define AUDIT_PATH(path) "/audit/{precision}/" path
#define AUDIT_DATASET(path, dims, meaning)                                                         \
    { SCHEMA_DATASET, AUDIT_PATH(path), "float64", dims, meaning, NULL, NULL }
#define AUDIT_PER_HEAD(name, meaning)   AUDIT_DATASET(name, "layer,head", meaning)
#define AUDIT_PER_STREAM(name, meaning) AUDIT_DATASET(name, "stream", meaning)
#define AUDIT_ATTR(obj, name, dtype, meaning)                                                      \
    { SCHEMA_ATTRIBUTE, obj "@" name, dtype, "", meaning, NULL, NULL }

static const SchemaEntry AUDIT_OUTPUTS[] = {
    {SCHEMA_GROUP, "/audit", NULL, NULL, "attention and activation audit", "after dint audit",
     NULL},
    AUDIT_ATTR("/audit", "parameters", "string", "the options that make results comparable"),
    AUDIT_ATTR("/audit", "task_version", "int64", "version of the audit task"),
    AUDIT_ATTR("/audit", "tokens", "int64", "tokens audited (samples x seq)"),
    AUDIT_ATTR("/audit", "inputs", "string", "where the audited windows come from"),
    {SCHEMA_GROUP, "/audit/{precision}", NULL, NULL,
     "one precision (fp32, bf16, fp16, q8, q6, q4): maps and activations rounded or quantised to "
     "it",
     "precisions asked", NULL},
    AUDIT_ATTR("/audit/{precision}", "logit_overflow_margin", "float64",
               "max |logit| over the format's largest value"),
    AUDIT_ATTR("/audit/{precision}", "logit_overflow", "float64",
               "logits that would round to +-inf"),
    // Named after its group, not by the rule (which would give AUDIT_AT_MEANING).
    {SCHEMA_ATTRIBUTE, "/audit/{precision}@meaning", "string", "", "what the datasets are over",
     NULL, "AUDIT_PRECISION_AT_MEANING"},
    AUDIT_PER_HEAD("row_sum_mean", "mean row sum of the final map"),
    AUDIT_PER_HEAD("row_sum_min", "smallest row sum"),
    AUDIT_PER_HEAD("row_sum_max", "largest row sum"),
    AUDIT_PER_HEAD("row_sum_std", "population standard deviation of the row sums"),
    AUDIT_PER_HEAD(AUDIT_ROW_SUM_DEV_MAX, "largest |row sum - expected|"),
    AUDIT_PER_HEAD("row_sum_dev_mean", "mean (row sum - expected)"),
    AUDIT_PER_HEAD("negative_fraction", "share of negative entries of the final map"),
    AUDIT_PER_HEAD(AUDIT_NEGATIVE_MASS, "mean over rows of the sum of negative entries"),
    AUDIT_PER_HEAD("entropy_a1", "mean entropy of A1's rows"),
    AUDIT_PER_HEAD("entropy_a2", "mean entropy of A2's rows (NaN for the Transformer)"),
    AUDIT_PER_HEAD("entropy_final", "mean entropy of the final map's |rows|"),
    AUDIT_PER_HEAD("logit_top1", "largest |attention logit|"),
    AUDIT_PER_HEAD("logit_top10", "10th largest |attention logit|"),
    AUDIT_PER_HEAD("logit_top100", "100th largest |attention logit|"),
    AUDIT_PER_HEAD("logit_median", "median |attention logit|"),
    AUDIT_PER_HEAD("nan_count", "NaN entries of maps and logits"),
    AUDIT_PER_HEAD("inf_count", "infinite entries of maps and logits"),
    {SCHEMA_DATASET, AUDIT_PATH("row_sum_dev_hist"), "int64", "layer,head,bin",
     "histogram of row sum - expected", NULL, NULL},
    AUDIT_DATASET("bin_edges", "edge", "edges of the histogram's bins"),
    AUDIT_PER_STREAM("hidden_top1", "largest |x| of the residual stream"),
    AUDIT_PER_STREAM("hidden_top10", "10th largest |x|"),
    AUDIT_PER_STREAM("hidden_median", "median |x|"),
    AUDIT_PER_STREAM("hidden_kurtosis", "kurtosis of x"),
    AUDIT_PER_STREAM("lambda", "lambda of the layer (0 for the final stream)"),
    AUDIT_PER_STREAM("gamma", "gamma of the layer (0 for the final stream)"),
    AUDIT_PER_STREAM("expected_row_sum", "expected row sum of the layer's final map"),
    AUDIT_PER_STREAM("hidden_overflow", "entries of x that would round to +-inf"),
    AUDIT_DATASET("layer", "layer", "dimension scale: layer index"),
    AUDIT_DATASET("head", "head", "dimension scale: head index"),
    AUDIT_DATASET("stream", "stream",
                  "dimension scale: stream index (n_layer = after the last layer)"),
    {SCHEMA_GROUP, "/audit/leakage", NULL, NULL, "the leakage probe", NULL, NULL},
    AUDIT_ATTR("/audit/leakage", "causal", "int64",
               "1 when every logit before the changed token stayed"),
    AUDIT_ATTR("/audit/leakage", "position", "int64", "the replaced token's position"),
    AUDIT_ATTR("/audit/leakage", "first_changed", "int64",
               "first position whose logits changed, -1 none"),
    AUDIT_ATTR("/audit/leakage", "probe_had_effect", "int64",
               "1 when a logit from the position on changed"),
    AUDIT_ATTR("/audit/leakage", "max_abs_diff_before", "float64",
               "largest |logit change| before it"),
    AUDIT_ATTR("/audit/leakage", "meaning", "string", "what the probe does"),
};
#undef AUDIT_PATH
#undef AUDIT_DATASET
#undef AUDIT_PER_HEAD
#undef AUDIT_PER_STREAM
#undef AUDIT_ATTR

// ---- The command: dint audit ----
// Attention maps and activations of a trained model on real test-split text, per layer and head,
// in fp32 and emulated bf16 / fp16 (tasks/audit.h says exactly what is rounded), plus the
// leakage probe; the options struct is the task's spec.

static const AuditTaskSpec AUDIT_DEFAULTS = {.samples = 4, .precisions = "fp32,bf16,fp16"};

#define OPT(flag, kind, field, metavar)                                                            \
    { flag, kind, offsetof(AuditTaskSpec, field), metavar }
static const EvalOption AUDIT_OPTIONS[] = {
    OPT("--precision", EVAL_OPT_STR, precisions, "fp32,bf16,fp16"),
    OPT("--samples", EVAL_OPT_INT, samples, "N"),
    OPT("--seq", EVAL_OPT_INT, seq, "N"),
};
#undef OPT

static int audit_check_options(void *opts, Error *err) {
    AuditTaskSpec *s = opts;
    if (s->samples < 1 || s->seq < 0)
        return error_set(err, "--samples must be >= 1 and --seq >= 0 (0: the run's train.seq_len)");
    int any = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s->precisions);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int p = 0; p < AUDIT_N_PREC; p++)
            if (!strcmp(t, precision_name((Precision)p))) s->want[p] = found = any = 1;
        if (!found)
            return error_set(err, "unknown precision '%.40s' (fp32, bf16, fp16, q8, q6 or q4)", t);
    }
    if (!any) return error_set(err, "the --precision list is empty");
    return 0;
}

static int audit_prepare(void *opts, const EvalInputs *in, void **state, Error *err) {
    AuditTaskSpec *s = opts;
    const ModelConfig *mc = &in->cfg->model;
    if (s->seq == 0) s->seq = in->cfg->train.seq_len;
    // Per precision, every layer's and head's row statistics of a sample (AuditRow, 48 bytes).
    double rows = 3.0 * mc->n_layer * model_n_heads(mc) * s->seq * 48.0;
    char what[96];
    snprintf(what, sizeof what, "audit at %d tokens", s->seq);
    if (memory_check_model(mc, 1, s->seq, rows, what, "--seq", omp_get_max_threads(), err) != 0)
        return -1;
    s->text = in->test_tokens;
    s->n_text = in->n_test_tokens;
    return audit_task_make(state, s, in->model, err);
}

// What a sweep summary compares: the largest row-sum deviation and the mean negative mass (fp32).
static const EvalMetric AUDIT_METRICS[] = {
    {"row_sum_dev_max", "/audit/fp32/" AUDIT_ROW_SUM_DEV_MAX, EVAL_REDUCE_MAX},
    {"negative_mass", "/audit/fp32/" AUDIT_NEGATIVE_MASS, EVAL_REDUCE_MEAN},
};

const EvalTask audit_task = {
    .name = "audit",
    .command = "audit",
    .about = "attention maps and activations per layer and head in fp32 and emulated bf16 / "
             "fp16, plus the leakage probe, written to /audit",
    .options = AUDIT_OPTIONS,
    .n_options = (int)(sizeof AUDIT_OPTIONS / sizeof AUDIT_OPTIONS[0]),
    .options_size = sizeof(AuditTaskSpec),
    .options_default = &AUDIT_DEFAULTS,
    .reads_corpus = 1,
    .check_options = audit_check_options,
    .prepare = audit_prepare,
    .metrics = AUDIT_METRICS,
    .n_metrics = (int)(sizeof AUDIT_METRICS / sizeof AUDIT_METRICS[0]),
    .version = AUDIT_TASK_VERSION,
    .outputs = AUDIT_OUTPUTS,
    .n_outputs = (int)(sizeof AUDIT_OUTPUTS / sizeof AUDIT_OUTPUTS[0]),
    .replaces_other_parameters = 1,
    .reports_before_write = 1,
    .damaged_advice = "write elsewhere with --out FILE",
    .all_done_note = "dint audit: %s already holds this audit\n",
    .group_path = audit_group_path,
    .parameters = audit_params_text,
    .n_cells = audit_n_cells,
    .read_back = audit_read_back,
    .cell_done = audit_cell_done,
    .score_cell = audit_score_cell,
    .cell_finished = audit_cell_finished,
    .finish = audit_finish,
    .write = audit_write_results,
    .progress = audit_progress,
    .summary = audit_summary,
    .free = audit_state_free,
    .cell_export = audit_export_cell,
    .cell_import = audit_import_cell,
    .defer = audit_defer,
};
