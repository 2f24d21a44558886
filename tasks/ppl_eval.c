// Perplexity as an EvalTask: documents are scored in order into one PplResult; the group holds
// the curves, the totals and the raw accumulators an interrupted evaluation continues from.
#include "ppl_eval.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_plan.h"

typedef struct {
    PplOptions o;
    PplInputs in;
    char label[256];
    PplResult r;
    long done; // documents finished (a prefix of the cells)
    int *tb;   // (tb_cap) byte lengths of the current document's tokens
    long tb_cap;
    PplTrace *traces; // (in.n_docs) when deferred: each scored document, added by import_cell
} PplTaskState;

static void ppl_state_free(void *st) {
    PplTaskState *s = st;
    if (!s) return;
    ppl_result_free(&s->r);
    free(s->tb);
    for (long i = 0; s->traces && i < s->in.n_docs; i++) ppl_trace_free(&s->traces[i]);
    free(s->traces);
    free(s);
}

static void ppl_group_path(const void *st, char *buf, size_t cap) {
    snprintf(buf, cap, "/eval/ppl/%s", ((const PplTaskState *)st)->label);
}

static void ppl_params_text(const void *st, char *buf, size_t cap) {
    const PplTaskState *s = st;
    if (cap > 512) cap = 512; // stored texts have always been cut there
    snprintf(buf, cap, "ppl v%d; window %d; stride %d; ngram %d; max_docs %d", PPL_TASK_VERSION,
             s->o.context, s->o.stride, s->o.ngram, s->in.max_docs);
}

static long ppl_n_cells(const void *st) {
    return ((const PplTaskState *)st)->in.n_docs;
}

static int ppl_read_back(void *st, const EvalReader *rd) {
    PplTaskState *s = st;
    PplResult *r = &s->r;
    double tot[3];
    long cnt[5], done = 0;
    if (rd->attr_i64(rd->ctx, "", "documents_done", &done) != 0 ||
        rd->dataset(rd->ctx, "accumulators/nll_sum", EVAL_F64, r->context, r->nll_sum) ||
        rd->dataset(rd->ctx, "documents_at_position", EVAL_I64, r->context, r->count) ||
        rd->dataset(rd->ctx, "accumulators/nll_totals", EVAL_F64, 3, tot) ||
        rd->dataset(rd->ctx, "accumulators/counts", EVAL_I64, 5, cnt))
        return -1;
    r->nll = tot[0], r->nll_ar_hit = tot[1], r->nll_other = tot[2];
    r->tokens = cnt[0], r->tokens_ar_hit = cnt[1], r->tokens_other = cnt[2], r->bytes = cnt[3],
    r->windows = cnt[4];
    r->documents = done;
    s->done = done;
    return 0;
}

static int ppl_cell_done(const void *st, long cell) {
    return cell < ((const PplTaskState *)st)->done;
}

static int ppl_score_cell(void *st, Model *m, long cell, char *line, size_t cap, Error *err) {
    (void)line, (void)cap;
    PplTaskState *s = st;
    const int *doc = s->in.tokens[cell];
    long n = s->in.n_tokens[cell];
    if (n > s->tb_cap) {
        s->tb_cap = n;
        free(s->tb);
        s->tb = xmalloc(sizeof(int) * (size_t)n);
    }
    for (long j = 0; j < n; j++) s->tb[j] = s->in.token_bytes[doc[j]];
    if (s->traces) return ppl_trace_document(m, doc, s->tb, n, &s->o, &s->traces[cell], err);
    return ppl_score_document(m, doc, s->tb, n, &s->o, &s->r, err) != 0 ? -1 : 0;
}

static void ppl_cell_finished(void *st, long cell, double seconds) {
    (void)seconds;
    PplTaskState *s = st;
    if (!s->traces) s->done = cell + 1; // deferred: done once added, by import_cell
}

// What a sweep compares: the NLL over the whole windows, within the training length and beyond
// it ({corpus}: the one corpus a run was evaluated on).
static const EvalMetric PPL_METRICS[] = {
    {"ppl_nll", "/eval/ppl/{corpus}@nll", EVAL_REDUCE_LAST},
    {"ppl_nll_within_train", "/eval/ppl/{corpus}@nll_within_train", EVAL_REDUCE_LAST},
    {"ppl_nll_beyond_train", "/eval/ppl/{corpus}@nll_beyond_train", EVAL_REDUCE_LAST},
};

// ---- Split over MPI ranks: documents are traced, then added on rank 0 in document order ----

static void ppl_defer(void *st) {
    PplTaskState *s = st;
    s->traces = xcalloc((size_t)(s->in.n_docs > 0 ? s->in.n_docs : 1), sizeof(PplTrace));
}

static long ppl_export_cell(const void *st, long cell, double *out) {
    const PplTrace *t = &((const PplTaskState *)st)->traces[cell];
    if (out) {
        out[0] = t->scored, out[1] = (double)t->windows;
        for (long i = 0; i < t->n; i++) {
            double *v = out + 2 + 4 * i;
            v[0] = t->nll[i], v[1] = t->bytes[i], v[2] = t->pos[i], v[3] = t->hit[i];
        }
    }
    return 2 + 4 * t->n;
}

static void ppl_import_cell(void *st, long cell, const double *in, long n) {
    PplTaskState *s = st;
    PplTrace t = {.scored = (int)in[0], .windows = (long)in[1]};
    for (long k = 2; k + 4 <= n; k += 4)
        ppl_trace_push(&t, in[k], (int)in[k + 1], (int)in[k + 2], (int)in[k + 3]);
    ppl_trace_add(&t, &s->r);
    ppl_trace_free(&t);
    s->done = cell + 1;
}

static int write_curves(const EvalWriter *w, const PplTaskState *s) {
    const PplResult *r = &s->r;
    int rc = 0, T = s->o.context;
    double *mean = xmalloc(sizeof(double) * (size_t)T * 3), *cum = mean + T, *pos = mean + 2 * T;
    double run_sum = 0;
    long run_n = 0;
    for (int p = 0; p < T; p++) {
        mean[p] = r->count[p] ? r->nll_sum[p] / r->count[p] : NAN;
        if (r->count[p]) run_sum += mean[p], run_n++;
        cum[p] = run_n ? run_sum / run_n : NAN;
        pos[p] = p + 1;
    }
    long d = T;
    rc |= w->dataset(w->ctx, "nll_by_position", EVAL_F64, 1, &d, mean);
    rc |= w->dataset(w->ctx, "cumulative_nll", EVAL_F64, 1, &d, cum);
    rc |= w->dataset(w->ctx, "documents_at_position", EVAL_I64, 1, &d, r->count);
    const char *names[] = {"nll_by_position", "cumulative_nll", "documents_at_position"};
    for (int k = 0; k < 3; k++) rc |= w->scale(w->ctx, names[k], 0, "position", pos, T);
    rc |= w->attr_str(w->ctx, "nll_by_position", "meaning",
                      "mean NLL (nats) of the token at each position of a document's first window, "
                      "over the test documents reaching it (position 1 = 2nd token given the 1st)");
    rc |=
        w->attr_str(w->ctx, "cumulative_nll", "meaning",
                    "running mean of nll_by_position over positions 1..p (the DIFF paper's curve)");
    free(mean);
    return rc;
}

// Mean NLL per token of the first windows' positions p (1-based, p tokens of context) with
// p < train_len (what training saw) or p >= train_len (beyond it); NaN without tokens there.
static double nll_over_positions(const PplResult *r, int T, int train_len, int beyond) {
    double sum = 0;
    long n = 0;
    for (int i = 0; i < T; i++)
        if ((i + 1 >= train_len) == beyond) sum += r->nll_sum[i], n += r->count[i];
    return n ? sum / n : NAN;
}

static int ppl_write_results(const void *st, const EvalWriter *w) {
    const PplTaskState *s = st;
    const PplOptions *o = &s->o;
    const PplResult *r = &s->r;
    char params[512];
    ppl_params_text(s, params, sizeof params);
    int rc = write_curves(w, s);
    rc |= w->attr_str(w->ctx, "", "parameters", params);
    rc |= w->attr_i64(w->ctx, "", "task_version", PPL_TASK_VERSION);
    rc |= w->attr_i64(w->ctx, "", "window", o->context);
    rc |= w->attr_i64(w->ctx, "", "stride", o->stride);
    rc |= w->attr_str(w->ctx, "", "windows",
                      o->stride == o->context
                          ? "disjoint"
                          : "strided with overlap (each window scores its last `stride` tokens)");
    rc |= w->attr_i64(w->ctx, "", "ngram", o->ngram);
    rc |= w->attr_i64(w->ctx, "", "train_seq_len", s->in.train_seq_len);
    rc |= w->attr_i64(w->ctx, "", "tokens", r->tokens);
    rc |= w->attr_i64(w->ctx, "", "bytes", r->bytes);
    rc |= w->attr_i64(w->ctx, "", "documents_done", s->done);
    rc |= w->attr_i64(w->ctx, "", "documents", s->in.n_docs);
    rc |= w->attr_str(w->ctx, "", "split", "test");
    double vals[] = {ppl_mean_nll(r), ppl_perplexity(r), ppl_bits_per_byte(r),
                     r->tokens_ar_hit ? r->nll_ar_hit / r->tokens_ar_hit : NAN,
                     r->tokens_other ? r->nll_other / r->tokens_other : NAN};
    const char *keys[] = {"nll", "perplexity", "bits_per_byte", "nll_ar_hit", "nll_other"};
    for (int k = 0; k < 5; k++) rc |= w->attr_f64(w->ctx, "", keys[k], vals[k]);
    int L = s->in.train_seq_len;
    rc |= w->attr_f64(w->ctx, "", "nll_within_train", nll_over_positions(r, o->context, L, 0));
    rc |= w->attr_f64(w->ctx, "", "nll_beyond_train", nll_over_positions(r, o->context, L, 1));
    rc |= w->attr_i64(w->ctx, "", "tokens_ar_hit", r->tokens_ar_hit);
    rc |= w->attr_i64(w->ctx, "", "tokens_other", r->tokens_other);
    // Raw accumulators, so an interrupted evaluation can continue exactly.
    rc |= w->group(w->ctx, "accumulators");
    long d = o->context, n3 = 3, n5 = 5;
    double tot[3] = {r->nll, r->nll_ar_hit, r->nll_other};
    long cnt[5] = {r->tokens, r->tokens_ar_hit, r->tokens_other, r->bytes, r->windows};
    rc |= w->dataset(w->ctx, "accumulators/nll_sum", EVAL_F64, 1, &d, r->nll_sum);
    rc |= w->dataset(w->ctx, "accumulators/nll_totals", EVAL_F64, 1, &n3, tot);
    rc |= w->dataset(w->ctx, "accumulators/counts", EVAL_I64, 1, &n5, cnt);
    return rc;
}

static void ppl_progress(const void *st, long cell, const EvalProgress *p, char *line, size_t cap) {
    const PplTaskState *s = st;
    PplResult doc = {0}; // deferred (MPI ranks): this document's own numbers
    if (s->traces && ppl_result_init(&doc, s->o.context) == 0)
        ppl_trace_add(&s->traces[cell], &doc);
    const PplResult *r = s->traces ? &doc : &s->r;
    snprintf(line, cap,
             "ppl %s: document %ld of %ld (%s, %ld tokens) | %s NLL %.4f, %.4f bits/byte | "
             "ETA %.0fs",
             s->label, cell + 1, (long)s->in.n_docs, s->in.names[cell], s->in.n_tokens[cell],
             s->traces ? "document" : "running", ppl_mean_nll(r), ppl_bits_per_byte(r), p->eta);
    ppl_result_free(&doc);
}

int ppl_task_make(void **st, const PplOptions *o, const PplInputs *in, Error *err) {
    PplTaskState *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->in = *in;
    snprintf(s->label, sizeof s->label, "%s", in->label);
    if (ppl_result_init(&s->r, o->context) != 0) {
        free(s);
        return error_set(err, "need --window >= 2");
    }
    *st = s;
    return 0;
}

#define PPL_GROUP(path, meaning, when)                                                             \
    { SCHEMA_GROUP, "/eval/ppl" path, NULL, NULL, meaning, when, NULL }
#define PPL_DATASET(path, dtype, dims, meaning)                                                    \
    { SCHEMA_DATASET, "/eval/ppl/{corpus}/" path, dtype, dims, meaning, NULL, NULL }
#define PPL_ATTR(path, dtype, meaning)                                                             \
    { SCHEMA_ATTRIBUTE, "/eval/ppl/{corpus}" path, dtype, "", meaning, NULL, NULL }

static const SchemaEntry PPL_OUTPUTS[] = {
    PPL_GROUP("", "long-context perplexity, one group per corpus", "after dint eval ppl"),
    PPL_GROUP("/{corpus}",
              "perplexity on the corpus's test documents (label: file name, '.' -> '_')", NULL),
    PPL_ATTR("@parameters", "string", "the options that make results comparable"),
    PPL_ATTR("@task_version", "int64", "version of the ppl task"),
    PPL_ATTR("@window", "int64", "tokens per window (predictions per window)"),
    PPL_ATTR("@stride", "int64", "window stride"),
    PPL_ATTR("@windows", "string", "disjoint or strided windows"),
    PPL_ATTR("@ngram", "int64", "n of the AR-hit split"),
    PPL_ATTR("@train_seq_len", "int64", "the run's training length"),
    PPL_ATTR("@tokens", "int64", "scored tokens"),
    PPL_ATTR("@bytes", "int64", "UTF-8 bytes of the scored tokens"),
    PPL_ATTR("@documents_done", "int64", "documents finished"),
    PPL_ATTR("@documents", "int64", "documents to score"),
    PPL_ATTR("@split", "string", "the split the documents come from"),
    PPL_ATTR("@nll", "float64", "mean NLL per scored token (nats)"),
    PPL_ATTR("@perplexity", "float64", "exp of the mean NLL"),
    PPL_ATTR("@bits_per_byte", "float64", "NLL in bits per UTF-8 byte"),
    PPL_ATTR("@nll_ar_hit", "float64", "mean NLL of AR-hit tokens"),
    PPL_ATTR("@nll_other", "float64", "mean NLL of the other tokens"),
    PPL_ATTR("@nll_within_train", "float64",
             "mean NLL of the first windows' positions with fewer tokens of context than the "
             "training length"),
    PPL_ATTR("@nll_beyond_train", "float64",
             "mean NLL of the first windows' positions at or beyond the training length (NaN "
             "when the window is not longer)"),
    PPL_ATTR("@tokens_ar_hit", "int64", "AR-hit tokens"),
    PPL_ATTR("@tokens_other", "int64", "other tokens"),
    PPL_DATASET("nll_by_position", "float64", "position",
                "mean NLL at each position of the first window"),
    PPL_ATTR("/nll_by_position@meaning", "string", "what nll_by_position is"),
    PPL_DATASET("cumulative_nll", "float64", "position", "running mean of nll_by_position"),
    PPL_ATTR("/cumulative_nll@meaning", "string", "what cumulative_nll is"),
    PPL_DATASET("documents_at_position", "int64", "position", "documents reaching each position"),
    PPL_DATASET("position", "float64", "position", "dimension scale: position 1 .. window"),
    PPL_GROUP("/{corpus}/accumulators", "raw sums an interrupted evaluation continues from", NULL),
    PPL_DATASET("accumulators/nll_sum", "float64", "position", "summed NLL at each position"),
    PPL_DATASET("accumulators/nll_totals", "float64", "total", "NLL sums: all, AR hit, other"),
    PPL_DATASET("accumulators/counts", "int64", "count",
                "tokens, AR-hit tokens, other, bytes, windows"),
};
#undef PPL_GROUP
#undef PPL_DATASET
#undef PPL_ATTR

// ---- The command: dint eval ppl ----
// Long-context perplexity on the test documents of the run's corpus (or --data), in corpus order.

typedef struct {
    int window, stride, ngram, max_docs;
    // Filled by prepare from the run's corpus; freed by release.
    char label[256];
    const int **docs;
    int *token_bytes;
} PplCommandOptions;

static const PplCommandOptions PPL_DEFAULTS = {.ngram = 4};

#define OPT(flag, kind, field, metavar)                                                            \
    { flag, kind, offsetof(PplCommandOptions, field), metavar }
static const EvalOption PPL_OPTIONS[] = {
    OPT("--window", EVAL_OPT_INT, window, "N"),
    OPT("--stride", EVAL_OPT_INT, stride, "N"),
    OPT("--ngram", EVAL_OPT_INT, ngram, "N"),
    OPT("--max-docs", EVAL_OPT_INT, max_docs, "N"),
};
#undef OPT

static int ppl_check_options(void *opts, Error *err) {
    const PplCommandOptions *o = opts;
    if (o->max_docs < 0) return error_set(err, "--max-docs must be >= 0 (0: every test document)");
    // The per-position sums alone, before the run and the corpus are read: a window far beyond
    // the machine is refused at once (prepare plans the whole evaluation).
    if (o->window > 0)
        return memory_check(8.0 * 8.0 * o->window, "eval ppl's per-position sums of the window",
                            "--window", err);
    return 0;
}

static void corpus_label(const char *spec, char *buf, size_t cap) {
    const char *slash = strrchr(spec, '/');
    snprintf(buf, cap, "%.200s", slash && slash[1] ? slash + 1 : spec);
    for (char *p = buf; *p; p++)
        if (*p == '.' || *p == ' ') *p = '_';
}

// The byte length of every token's text, for bits per byte.
static int *token_bytes(Tokenizer *tok) {
    int V = tok->vocab_size;
    int *tb = xmalloc(sizeof(int) * (size_t)V);
    for (int v = 0; v < V; v++) {
        long b = tokenizer_decode(tok, &v, 1, NULL, 0);
        tb[v] = b > 0 ? (int)b : 0;
    }
    if (V > BYTE_TOKENIZER_EOT && tok->eot < V && !strcmp(tok->name, "byte")) tb[tok->eot] = 0;
    return tb;
}

// The model sees at most a document at once; the per-position sums are sized by the window
// (eight doubles per position in all: the result, a document's and the summary's).
static int ppl_check_memory(const PplCommandOptions *o, const EvalInputs *in, int n_docs,
                            Error *err) {
    long longest = 0;
    for (int k = 0; k < n_docs; k++)
        if (in->test_doc_tokens[k] > longest) longest = in->test_doc_tokens[k];
    long seen = longest < o->window ? longest : o->window;
    char what[128], lower[96];
    snprintf(what, sizeof what, "eval ppl with a window of %d tokens (longest document %ld)",
             o->window, longest);
    snprintf(lower, sizeof lower, "--window (a window above %ld scores nothing more)",
             longest > 1 ? longest - 1 : 1);
    return memory_check_model(&in->cfg->model, 1, (int)(seen > 1 ? seen : 2), 8.0 * 8.0 * o->window,
                              what, lower, omp_get_max_threads(), err);
}

static int ppl_prepare(void *opts, const EvalInputs *in, void **state, Error *err) {
    PplCommandOptions *o = opts;
    if (o->window == 0) o->window = 4 * in->cfg->train.seq_len; // beyond the training length
    if (o->stride == 0) o->stride = o->window;
    if (o->window < 2 || o->stride < 1 || o->stride > o->window || o->ngram < 1)
        return error_set(err, "need --window >= 2, 1 <= --stride <= --window and --ngram >= 1");
    model_set_inference(in->model, 1); // forward only: one set of layer activations, no gradients
    corpus_label(in->corpus_spec, o->label, sizeof o->label);
    o->token_bytes = token_bytes(in->tok);
    // The test documents in corpus order, up to --max-docs.
    int total = in->n_test_docs;
    if (o->max_docs && total > o->max_docs) total = o->max_docs;
    o->docs = xcalloc((size_t)total + 1, sizeof *o->docs);
    long at = 0;
    for (int k = 0; k < total; k++) {
        o->docs[k] = in->test_tokens + at;
        at += in->test_doc_tokens[k] + 1; // skip the end-of-document token
    }
    if (ppl_check_memory(o, in, total, err) != 0) return -1;
    PplOptions po = {o->window, o->stride, o->ngram};
    PplInputs pin = {o->label,           total,          o->docs,     in->test_doc_tokens,
                     in->test_doc_names, o->token_bytes, o->max_docs, in->cfg->train.seq_len};
    return ppl_task_make(state, &po, &pin, err);
}

static void ppl_release(void *opts) {
    PplCommandOptions *o = opts;
    free(o->docs), free(o->token_bytes);
}

const EvalTask ppl_task = {
    .name = "ppl",
    .command = "eval",
    .about = "long-context perplexity on the run's test documents (or --data), written to "
             "/eval/ppl/<corpus> after every document",
    .options = PPL_OPTIONS,
    .n_options = (int)(sizeof PPL_OPTIONS / sizeof PPL_OPTIONS[0]),
    .options_size = sizeof(PplCommandOptions),
    .options_default = &PPL_DEFAULTS,
    .reads_corpus = 1,
    .check_options = ppl_check_options,
    .prepare = ppl_prepare,
    .release = ppl_release,
    .version = PPL_TASK_VERSION,
    .outputs = PPL_OUTPUTS,
    .n_outputs = (int)(sizeof PPL_OUTPUTS / sizeof PPL_OUTPUTS[0]),
    .metrics = PPL_METRICS,
    .n_metrics = (int)(sizeof PPL_METRICS / sizeof PPL_METRICS[0]),
    .writes_each_cell = 1,
    .damaged_advice = "write elsewhere with --out FILE",
    .all_done_note = "dint eval ppl: every document was already done\n",
    .group_path = ppl_group_path,
    .parameters = ppl_params_text,
    .n_cells = ppl_n_cells,
    .read_back = ppl_read_back,
    .cell_done = ppl_cell_done,
    .score_cell = ppl_score_cell,
    .cell_finished = ppl_cell_finished,
    .write = ppl_write_results,
    .progress = ppl_progress,
    .free = ppl_state_free,
    .defer = ppl_defer,
    .cell_export = ppl_export_cell,
    .cell_import = ppl_import_cell,
};
