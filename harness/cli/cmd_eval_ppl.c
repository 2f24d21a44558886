// dint eval ppl: long-context perplexity on the test documents of the run's corpus (or
// --data), written to /eval/ppl/<corpus> after every document; a restarted evaluation
// continues after the last finished document. The task is tasks/ppl_eval.c; the driver
// harness/eval/driver.c.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "cli.h"
#include "dist.h"
#include "driver.h"
#include "memory_plan.h"
#include "options.h"
#include "ppl_eval.h"

typedef struct {
    int window, stride, ngram, max_docs;
    // Filled by prepare from the run's corpus; freed by release.
    char label[256];
    const int **docs;
    long *n_tokens;
    const char **names;
    int *token_bytes;
} PplJob;

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

static int prepare(void *arg, EvalContext *c, void **state, Error *err) {
    PplJob *j = arg;
    if (j->window == 0) j->window = 4 * c->cfg.train.seq_len; // beyond the training length
    if (j->stride == 0) j->stride = j->window;
    if (j->window < 2 || j->stride < 1 || j->stride > j->window || j->ngram < 1)
        return error_set(err, "need --window >= 2, 1 <= --stride <= --window and --ngram >= 1");
    model_set_inference(&c->model, 1); // forward only: one set of layer activations, no gradients
    corpus_label(c->corpus_spec, j->label, sizeof j->label);
    j->token_bytes = token_bytes(&c->tok);
    // The test documents in corpus order, up to --max-docs.
    const Corpus *cp = &c->corpus;
    int total = 0;
    for (int i = 0; i < cp->n_docs; i++) total += cp->doc_split[i] == SPLIT_TEST;
    if (j->max_docs && total > j->max_docs) total = j->max_docs;
    j->docs = xcalloc((size_t)total + 1, sizeof *j->docs);
    j->n_tokens = xcalloc((size_t)total + 1, sizeof *j->n_tokens);
    j->names = xcalloc((size_t)total + 1, sizeof *j->names);
    long at = 0;
    for (int i = 0, k = 0; i < cp->n_docs && k < total; i++) {
        if (cp->doc_split[i] != SPLIT_TEST) continue;
        j->docs[k] = cp->tokens[SPLIT_TEST] + at, j->n_tokens[k] = cp->doc_tokens[i];
        j->names[k++] = cp->doc_names[i];
        at += cp->doc_tokens[i] + 1; // skip the end-of-document token
    }
    // The model sees at most a document at once; the per-position sums are sized by the window
    // (eight doubles per position in all: the result, a document's and the summary's).
    long longest = 0;
    for (int k = 0; k < total; k++) longest = j->n_tokens[k] > longest ? j->n_tokens[k] : longest;
    long seen = longest < j->window ? longest : j->window;
    char what[128];
    snprintf(what, sizeof what, "eval ppl with a window of %d tokens (longest document %ld)",
             j->window, longest);
    char lower[96];
    snprintf(lower, sizeof lower, "--window (a window above %ld scores nothing more)",
             longest > 1 ? longest - 1 : 1);
    if (memory_check_model(&c->cfg.model, 1, (int)(seen > 1 ? seen : 2), 8.0 * 8.0 * j->window,
                           what, lower, omp_get_max_threads(), err) != 0)
        return -1;
    PplOptions o = {j->window, j->stride, j->ngram};
    PplInputs in = {j->label, total,          j->docs,     j->n_tokens,
                    j->names, j->token_bytes, j->max_docs, c->cfg.train.seq_len};
    return ppl_task_make(state, &o, &in, err);
}

static void release(void *arg) {
    PplJob *j = arg;
    free(j->docs), free(j->n_tokens), free(j->names), free(j->token_bytes);
}

int cmd_eval_ppl(int argc, char **argv) {
    EvalJob job = {.task = &ppl_task, .threads = dist_default_threads()};
    PplJob j = {.ngram = 4};
    Error err;
    const Option opts[] = {
        {"--run", OPT_STR, &job.run},         {"--out", OPT_STR, &job.out},
        {"--data", OPT_STR, &job.data},       {"--window", OPT_INT, &j.window},
        {"--stride", OPT_INT, &j.stride},     {"--ngram", OPT_INT, &j.ngram},
        {"--max-docs", OPT_INT, &j.max_docs}, {"--threads", OPT_INT, &job.threads}};
    if (options_parse(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    if (!job.run || job.threads < 1 || j.max_docs < 0) {
        cli_error(
            "eval",
            "usage: dint eval ppl --run RUN.h5 [--out FILE] [--data SPEC] [--window N (default 4 x "
            "train.seq_len)] "
            "[--stride N (default: the window, disjoint)] [--ngram N] [--max-docs N] [--threads "
            "N]");
        return EXIT_USAGE;
    }
    // The per-position sums alone, before the run and the corpus are read: a window far beyond
    // the machine is refused at once (prepare plans the whole evaluation).
    if (j.window > 0 &&
        memory_check(8.0 * 8.0 * j.window, "eval ppl's per-position sums of the window", "--window",
                     &err) != 0) {
        cli_error("eval", err.msg);
        return EXIT_USAGE;
    }
    job.load_corpus = 1;
    job.prepare = prepare;
    job.release = release;
    job.arg = &j;
    return eval_drive(&job);
}
