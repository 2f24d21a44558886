// dint eval ppl: long-context perplexity on the test documents of the run's corpus (or
// --data), written to /eval/ppl/<corpus> after every document; a restarted evaluation
// continues after the last finished document.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "options.h"
#include "eval_io.h"
#include "h5io.h"
#include "ppl.h"

#define PPL_TASK_VERSION 1

static void corpus_label(const char *spec, char *buf, size_t cap) {
    const char *slash = strrchr(spec, '/');
    snprintf(buf, cap, "%.200s", slash && slash[1] ? slash + 1 : spec);
    for (char *p = buf; *p; p++)
        if (*p == '.' || *p == ' ') *p = '_';
}

static int write_ppl(const EvalContext *c, const char *group, const PplOptions *o,
                     const PplResult *r, long docs_done, long docs_total, const char *params,
                     Error *err) {
    char tmp[4200];
    hid_t f = eval_begin(c, tmp, sizeof tmp, err);
    if (f < 0) return -1;
    if (H5Lexists(f, "/eval", H5P_DEFAULT) <= 0) H5Gclose(h5_group(f, "eval"));
    if (H5Lexists(f, "/eval/ppl", H5P_DEFAULT) <= 0) H5Gclose(h5_group(f, "/eval/ppl"));
    if (H5Lexists(f, group, H5P_DEFAULT) > 0) H5Ldelete(f, group, H5P_DEFAULT);
    hid_t g = h5_group(f, group);
    int rc = 0, T = o->context;
    double *mean = xmalloc(sizeof(double) * (size_t)T * 3), *cum = mean + T, *pos = mean + 2 * T;
    double run_sum = 0;
    long run_n = 0;
    for (int p = 0; p < T; p++) {
        mean[p] = r->count[p] ? r->nll_sum[p] / r->count[p] : NAN;
        if (r->count[p]) run_sum += mean[p], run_n++;
        cum[p] = run_n ? run_sum / run_n : NAN;
        pos[p] = p + 1;
    }
    hsize_t d = (hsize_t)T;
    rc |= h5_write(g, "nll_by_position", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &d, mean);
    rc |= h5_write(g, "cumulative_nll", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &d, cum);
    rc |= h5_write(g, "documents_at_position", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &d, r->count);
    const char *names[] = {"nll_by_position", "cumulative_nll", "documents_at_position"};
    for (int k = 0; k < 3; k++) {
        hid_t ds = H5Dopen2(g, names[k], H5P_DEFAULT);
        rc |= attach_scale(g, ds, 0, "position", pos, T);
        H5Dclose(ds);
    }
    hid_t ds = H5Dopen2(g, "nll_by_position", H5P_DEFAULT);
    rc |= h5_attr_str(ds, "meaning",
                      "mean NLL (nats) of the token at each position of a document's first window, "
                      "over the test documents reaching it (position 1 = 2nd token given the 1st)");
    H5Dclose(ds);
    ds = H5Dopen2(g, "cumulative_nll", H5P_DEFAULT);
    rc |=
        h5_attr_str(ds, "meaning",
                    "running mean of nll_by_position over positions 1..p (the DIFF paper's curve)");
    H5Dclose(ds);
    rc |= h5_attr_str(g, "parameters", params);
    rc |= h5_attr_i64(g, "task_version", PPL_TASK_VERSION);
    rc |= h5_attr_i64(g, "window", o->context);
    rc |= h5_attr_i64(g, "stride", o->stride);
    rc |= h5_attr_str(g, "windows",
                      o->stride == o->context
                          ? "disjoint"
                          : "strided with overlap (each window scores its last `stride` tokens)");
    rc |= h5_attr_i64(g, "ngram", o->ngram);
    rc |= h5_attr_i64(g, "train_seq_len", c->cfg.train.seq_len);
    rc |= h5_attr_i64(g, "tokens", r->tokens);
    rc |= h5_attr_i64(g, "bytes", r->bytes);
    rc |= h5_attr_i64(g, "documents_done", docs_done);
    rc |= h5_attr_i64(g, "documents", docs_total);
    rc |= h5_attr_str(g, "split", "test");
    double vals[] = {ppl_mean_nll(r), ppl_perplexity(r), ppl_bits_per_byte(r),
                     r->tokens_ar_hit ? r->nll_ar_hit / r->tokens_ar_hit : NAN,
                     r->tokens_other ? r->nll_other / r->tokens_other : NAN};
    const char *keys[] = {"nll", "perplexity", "bits_per_byte", "nll_ar_hit", "nll_other"};
    for (int k = 0; k < 5; k++) {
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(g, keys[k], H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc |= (a < 0 || H5Awrite(a, H5T_NATIVE_DOUBLE, &vals[k]) < 0) ? -1 : 0;
        if (a >= 0) H5Aclose(a);
        H5Sclose(sp);
    }
    rc |= h5_attr_i64(g, "tokens_ar_hit", r->tokens_ar_hit);
    rc |= h5_attr_i64(g, "tokens_other", r->tokens_other);
    // Raw accumulators, so an interrupted evaluation can continue exactly.
    hid_t acc = h5_group(g, "accumulators");
    rc |= h5_write(acc, "nll_sum", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &d, r->nll_sum);
    double tot[3] = {r->nll, r->nll_ar_hit, r->nll_other};
    long cnt[5] = {r->tokens, r->tokens_ar_hit, r->tokens_other, r->bytes, r->windows};
    hsize_t n3 = 3, n5 = 5;
    rc |= h5_write(acc, "nll_totals", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &n3, tot);
    rc |= h5_write(acc, "counts", H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &n5, cnt);
    H5Gclose(acc);
    H5Gclose(g);
    free(mean);
    if (rc != 0) {
        H5Fclose(f);
        return error_set(err, "writing %s failed", group);
    }
    return eval_commit(c, f, tmp, err);
}

// Continue a finished-in-part evaluation with the same parameters: returns documents done.
static long resume_ppl(const EvalContext *c, const char *group, const char *params, PplResult *r,
                       Error *err) {
    hid_t f = eval_open_results(c);
    if (f < 0) return 0;
    long done = 0;
    if (H5Lexists(f, "/eval", H5P_DEFAULT) > 0 && H5Lexists(f, "/eval/ppl", H5P_DEFAULT) > 0 &&
        H5Lexists(f, group, H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
        char *have = h5_read_attr_str(g, "parameters");
        if (!have || strcmp(have, params) != 0) {
            done = error_set(err,
                             "the results file already holds %s with other parameters (%s); write "
                             "elsewhere with --out FILE",
                             group, have ? have : "unknown");
        } else {
            double tot[3];
            long cnt[5];
            if (h5_read_attr_num(g, "documents_done", H5T_NATIVE_LONG, &done) != 0 ||
                h5_read(g, "accumulators/nll_sum", H5T_NATIVE_DOUBLE, (hsize_t)r->context,
                        r->nll_sum) ||
                h5_read(g, "documents_at_position", H5T_NATIVE_LONG, (hsize_t)r->context,
                        r->count) ||
                h5_read(g, "accumulators/nll_totals", H5T_NATIVE_DOUBLE, 3, tot) ||
                h5_read(g, "accumulators/counts", H5T_NATIVE_LONG, 5, cnt))
                done = error_set(err, "the stored %s is damaged; write elsewhere with --out FILE",
                                 group);
            else {
                r->nll = tot[0], r->nll_ar_hit = tot[1], r->nll_other = tot[2];
                r->tokens = cnt[0], r->tokens_ar_hit = cnt[1], r->tokens_other = cnt[2],
                r->bytes = cnt[3], r->windows = cnt[4];
                r->documents = done;
            }
        }
        free(have);
        H5Gclose(g);
    }
    H5Fclose(f);
    return done;
}

int cmd_eval_ppl(int argc, char **argv) {
    const char *run = NULL, *out = NULL, *data = NULL;
    int window = 0, stride = 0, ngram = 4, max_docs = 0, threads = omp_get_num_procs();
    Error err;
    const Option opts[] = {{"--run", OPT_STR, &run},           {"--out", OPT_STR, &out},
                           {"--data", OPT_STR, &data},         {"--window", OPT_INT, &window},
                           {"--stride", OPT_INT, &stride},     {"--ngram", OPT_INT, &ngram},
                           {"--max-docs", OPT_INT, &max_docs}, {"--threads", OPT_INT, &threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    if (!run || threads < 1 || max_docs < 0) goto usage;
    EvalContext c;
    if (eval_open(&c, run, out, data, threads, &err) != 0 ||
        eval_load_corpus(&c, NULL, &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    if (window == 0) window = 4 * c.cfg.train.seq_len; // beyond the training length by default
    if (stride == 0) stride = window;
    PplOptions o = {window, stride, ngram};
    PplResult r;
    if (window < 2 || stride < 1 || stride > window || ngram < 1) {
        cli_error("eval", "need --window >= 2, 1 <= --stride <= --window and --ngram >= 1");
        eval_close(&c);
        return EXIT_USAGE;
    }
    ppl_result_init(&r, window);
    model_set_inference(&c.model, 1); // forward only: one set of layer activations, no gradients
    char label[256], group[300], params[512];
    corpus_label(c.corpus_spec, label, sizeof label);
    snprintf(group, sizeof group, "/eval/ppl/%s", label);
    snprintf(params, sizeof params, "ppl v%d; window %d; stride %d; ngram %d; max_docs %d",
             PPL_TASK_VERSION, window, stride, ngram, max_docs);
    // Byte length of every token, for bits per byte.
    int V = c.tok.vocab_size;
    int *token_bytes_of = xmalloc(sizeof(int) * (size_t)V);
    for (int v = 0; v < V; v++) {
        long b = tokenizer_decode(&c.tok, &v, 1, NULL, 0);
        token_bytes_of[v] = b > 0 ? (int)b : 0;
    }
    if (V > BYTE_TOKENIZER_EOT && c.tok.eot < V && !strcmp(c.tok.name, "byte"))
        token_bytes_of[c.tok.eot] = 0;
    long done = resume_ppl(&c, group, params, &r, &err), total = 0, finished = 0;
    int rc = done < 0 ? -1 : 0;
    const Corpus *cp = &c.corpus;
    for (int i = 0; i < cp->n_docs; i++) total += cp->doc_split[i] == SPLIT_TEST;
    if (max_docs && total > max_docs) total = max_docs;
    long at = 0, k = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int *tb = NULL;
    long tb_cap = 0;
    for (int i = 0; i < cp->n_docs && rc == 0 && k < total; i++) {
        if (cp->doc_split[i] != SPLIT_TEST) continue;
        const int *doc = cp->tokens[SPLIT_TEST] + at;
        long n = cp->doc_tokens[i];
        at += n + 1; // skip the end-of-document token
        if (k++ < done) continue;
        if (n > tb_cap) {
            tb_cap = n;
            free(tb);
            tb = xmalloc(sizeof(int) * (size_t)n);
        }
        for (long j = 0; j < n; j++) tb[j] = token_bytes_of[doc[j]];
        if (ppl_score_document(&c.model, doc, tb, n, &o, &r, &err) != 0 ||
            write_ppl(&c, group, &o, &r, k, total, params, &err) != 0) {
            rc = -1;
            break;
        }
        finished++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double el = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        fprintf(stderr,
                "ppl %s: document %ld of %ld (%s, %ld tokens) | running NLL %.4f, %.4f bits/byte | "
                "ETA %.0fs\n",
                label, k, total, cp->doc_names[i], n, ppl_mean_nll(&r), ppl_bits_per_byte(&r),
                el / finished * (total - k));
    }
    if (rc == 0 && finished == 0 && done >= total)
        fprintf(stderr, "dint eval ppl: every document was already done\n");
    if (rc == 0)
        printf("%s\n", out ? out : run);
    else
        cli_error("eval", err.msg);
    free(tb);
    free(token_bytes_of);
    ppl_result_free(&r);
    eval_close(&c);
    return rc == 0 ? 0 : EXIT_USAGE;
usage:
    cli_error(
        "eval",
        "usage: dint eval ppl --run RUN.h5 [--out FILE] [--data SPEC] [--window N (default 4 x "
        "train.seq_len)] "
        "[--stride N (default: the window, disjoint)] [--ngram N] [--max-docs N] [--threads N]");
    return EXIT_USAGE;
}
