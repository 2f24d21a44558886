// Long-context perplexity: token-level NLL over windows of a document, bits per byte, the NLL
// at each window position averaged over documents, and the DIFF paper's AR-hit split (README.md
// "Evaluations"). No I/O: the caller passes token arrays and reads the numbers back.
//
// Windows. A window at document offset s feeds the model L = min(context, n - 1 - s) input
// tokens tokens[s .. s+L-1] and scores the targets tokens[s+1 .. s+L]; so `context` is the
// model's sequence length T (the number of predictions per window) and a window spans L + 1
// document tokens. Windows start at s = 0, stride, 2 stride, ... A window scores only the
// targets after the last target of the previous window (the first window scores all of its
// targets), and the last window is the one whose targets reach index n - 1. Hence every token
// but the first (index 0, never a target) is scored exactly once: n - 1 tokens per document.
//   stride == context: disjoint windows; every target sees the tokens of its own window only.
//   stride <  context: consecutive windows overlap by context - stride inputs; each window after
//                      the first scores its last `stride` targets (fewer in a short last window),
//                      so every target after the first window sees at least context - stride
//                      earlier tokens.
// Windows are evaluated one at a time (B = 1), so results do not depend on how windows would be
// batched. Attention is the streaming kernel (no (T, T) map), and the caller may put the model
// in inference mode (model_set_inference; dint eval ppl does): memory is then linear in the
// window and independent of the number of layers.
//
// AR hits. The scored target at document index j is an AR hit when the n-gram
// tokens[j-n+1 .. j] (n = ngram, j >= n - 1) also occurs ending at some index k < j anywhere
// earlier in the same document, including text before the current window (so a repeat the
// model can no longer see still counts as a hit). N-grams are matched exactly (hashes, then
// token comparison), so the split is deterministic.
#ifndef DINT_TASKS_PPL_H
#define DINT_TASKS_PPL_H

#include "check.h"
#include "model.h"

typedef struct {
    int context; // model sequence length per window (predictions per window), >= 2
    int stride;  // 1 .. context; == context: disjoint windows
    int ngram;   // n of the AR-hit split, >= 1 (the harness defaults to 4)
} PplOptions;

typedef struct {
    int context;
    // nll_sum (context), count (context): position p is the target at document index p + 1
    // (p = 0: the NLL of the 2nd token given the 1st), from each document's FIRST window only;
    // count[p] documents reached position p. Mean NLL at p: nll_sum[p] / count[p].
    double *nll_sum;
    long *count;
    // Totals over every scored token of every document (per-token float NLLs summed in double).
    double nll, nll_ar_hit, nll_other;
    long tokens, tokens_ar_hit, tokens_other;
    long bytes; // UTF-8 bytes of the scored tokens (index 0 of a document is not scored)
    long windows, documents;
} PplResult;

// Zeroed accumulators for windows of `context`. Returns -1 when context < 2.
int ppl_result_init(PplResult *r, int context);
void ppl_result_free(PplResult *r);

// Score one document, tokens (n) with token_bytes (n) the byte length of each token's text
// (from the tokenizer), and add it to r. Documents shorter than 2 tokens are skipped (return 0,
// r unchanged). Returns -1 with err filled, leaving r unchanged, for: context < 2, stride outside
// 1 .. context, ngram < 1, o->context != r->context, a token outside the model's vocabulary, a
// negative byte length, NULL arrays.
int ppl_score_document(Model *m, const int *tokens, const int *token_bytes, long n,
                       const PplOptions *o, PplResult *r, Error *err);

// What one document adds to a PplResult: its scored targets in scoring order, so that the same
// additions can be made later or elsewhere (evaluation split over MPI ranks) with bit-identical
// sums. ppl_score_document is ppl_trace_document then ppl_trace_add.
typedef struct {
    long n, cap;        // scored targets
    double *nll;        // (n)
    int *bytes, *pos;   // (n) byte length; position in the document's first window, or -1
    unsigned char *hit; // (n) AR hit
    long windows;
    int scored; // 0: shorter than 2 tokens, adds nothing
} PplTrace;

// Score one document into trace (emptied first); the same checks and errors as
// ppl_score_document, with context = o->context.
int ppl_trace_document(Model *m, const int *tokens, const int *token_bytes, long n,
                       const PplOptions *o, PplTrace *trace, Error *err);
// Add a traced document to r (r->context must be the trace's context).
void ppl_trace_add(const PplTrace *t, PplResult *r);
// Append one scored target (for a trace rebuilt from elsewhere).
void ppl_trace_push(PplTrace *t, double nll, int bytes, int pos, int hit);
void ppl_trace_free(PplTrace *t);

// hit (n): hit[j] = 1 when the n-gram ending at j occurred ending earlier in tokens (n)
// (the AR-hit rule above, over the whole array), else 0. ngram >= 1.
void ppl_ar_hits(unsigned char *hit, const int *tokens, long n, int ngram);

// Derived numbers; NAN when nothing was scored (tokens == 0, or bytes == 0 for bits per byte).
double ppl_mean_nll(const PplResult *r);      // nll / tokens
double ppl_perplexity(const PplResult *r);    // exp(mean NLL)
double ppl_bits_per_byte(const PplResult *r); // nll / (bytes ln 2)

#endif
