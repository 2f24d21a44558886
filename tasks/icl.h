// In-context learning (ICL): k labelled demonstrations, then a query; the prediction is the
// label whose answer text the model finds most likely (constrained decoding over the label
// set), as in the DIFF paper's many-shot classification (README.md "Evaluations").
// No file I/O here: the harness loads the labelled set (harness/data/labelled.h) and stores results.
//
// Episode format. Each demonstration is
//     "Input: <text>\nLabel: <label>\n\n"
// and the query is "Input: <text>\nLabel:"; the candidate answer for label i is " <label i>\n".
// A text is truncated to at most ICL_MAX_TEXT_BYTES bytes at a UTF-8 character boundary, and
// any '\n' or '\r' in it becomes a space so that an example stays on its line. The prompt string
// (all demonstrations and the query) is encoded in one tokenizer call, each candidate in its own
// (for GPT-2 the join at "Label:" / " <label>" is a pre-token boundary, so this is the
// tokenization of the whole string). The model sees
//     [eot] prompt candidate
// (eot, the end-of-document token, precedes the prompt as it precedes every document of the
// training stream). An episode fits when 1 + prompt tokens + longest candidate's tokens
// <= max_context.
//
// Scoring. For every label, log p(candidate | eot, prompt) = sum over the candidate's tokens of
// log-softmax(logits)[token], in double from the model's fp32 logits (model_forward without
// targets). The candidates are the rows of one model_forward batch, padded at the end with eot
// to a common length rounded up to a multiple of 32 (causal attention: the padding
// enters no score), split into as few batches of equal size as the activation budget allows
// (ICL_ACT_BUDGET_BYTES; a short last batch repeats a row). Prompts are scored in order of
// length so that core reallocates its activations once per length. Predictions: the argmax of
// the summed log-probability, and of the per-token mean (length-normalised); ties go to the
// lowest label index. Cost: every candidate row recomputes the whole prompt (core has no
// prefix / KV cache), so one prompt costs about n_labels forwards of its length.
//
// Draws. Demonstrations come from the train split (is_test == 0), queries from the test split
// (is_test == 1). All randomness is GSL MT19937; the 64-bit seed is mixed (splitmix64) with a
// stream tag and the episode / ordering numbers into the generator's 32-bit seed:
//   - queries: the test examples in a seeded shuffle, episode e takes the (e mod n_test)-th
//     (a fresh shuffle for every pass over the test set), so the queries of an evaluation are
//     distinct while episodes <= n_test; they do not depend on k;
//   - demonstrations of episode e: from an rng seeded from (seed, e): a random order of the
//     classes and a shuffle of each class's train examples, then k taken round-robin over the
//     classes (class-balanced: counts differ by at most one while classes have examples left).
//     The draw at k is a prefix of the draw at k + 1 (same query, demonstrations a subset),
//     so results at different k are nested; orderings are drawn afresh at each k;
//   - ordering s of episode e: from an rng seeded from (seed, e, s): a uniform shuffle of the k
//     demonstrations (class_alternating = 0), or (class_alternating = 1) a shuffle within each
//     class and of the class cycle (classes with more demonstrations first), then round-robin
//     over the classes, so consecutive demonstrations differ in class whenever the counts allow.
// Accuracies are fractions in [0, 1].
#ifndef DINT_ICL_H
#define DINT_ICL_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "model.h"
#include "tokenizer.h"

#define ICL_MAX_TEXT_BYTES 200
// Default activation memory (core's model_forward buffers, estimated) for one scoring batch;
// a single candidate row is always allowed. icl_set_batch_budget changes it.
#define ICL_ACT_BUDGET_BYTES (512L << 20)
// Synthetic family: input words are this many lowercase letters; at most this many classes.
#define ICL_SYNTH_WORD_LEN    5
#define ICL_SYNTH_MAX_CLASSES 32

typedef struct IclDataset { // a labelled set, already loaded and split by the caller
    int n;
    const char *const *text;        // (n) UTF-8
    const int *label;               // (n) in [0, n_labels)
    const unsigned char *is_test;   // (n) 1: test split (queries), 0: train (demonstrations)
    int n_labels;                   // >= 2; every label needs a train example
    const char *const *label_names; // (n_labels) distinct, non-empty, no newline
} IclDataset;

typedef struct {
    int k;                 // demonstrations per episode (>= 0; >= 1 for the synthetic family)
    int max_context;       // tokens; if an episode does not fit, the call reports fits = 0
    int episodes;          // queries scored at this k (>= 1)
    int orders;            // S random orderings of the same demonstrations per episode (>= 1)
    int class_alternating; // 1: demonstrations alternate classes (round-robin), 0: random order
    uint64_t seed;
} IclOptions;

typedef struct {
    int k, episodes, orders;
    int fits;       // 1 if every episode fit in max_context; 0: nothing was scored (see below)
    int max_tokens; // longest episode: 1 + prompt + longest candidate, in tokens
    double accuracy, accuracy_norm;     // mean over episodes and orderings: argmax of the summed
                                        // label log-likelihood / of the per-token mean
    double best_minus_worst, order_std; // over the orderings' accuracies (order_accuracy):
                                        // max - min, and gsl_stats_sd (NaN when orders == 1)
    double *order_accuracy; // (orders) accuracy (summed log-likelihood) of each ordering
    // Per-sample records.
    int *pred, *pred_norm; // (episodes, orders) predicted label index
    int *truth;            // (episodes) the query's label
    int *query;            // (episodes) dataset index of the query; -1 for synthetic episodes
} IclResult;

// Score a model on d at o->k shots. Returns 0 and fills r (free it with icl_result_free), or -1
// with err set on bad input (options, dataset, tokenizer/model mismatch, k above the number of
// train examples, invalid UTF-8). When some episode does not fit in o->max_context, nothing is
// scored: returns 0 with r->fits = 0, r->max_tokens set, accuracies NaN and arrays NULL, so a
// caller growing k stops there.
int icl_evaluate(Model *m, Tokenizer *tok, const IclDataset *d, const IclOptions *o, IclResult *r,
                 Error *err);
void icl_result_free(IclResult *r);

// Whether every episode of icl_evaluate(d, o) (d NULL: of icl_evaluate_synthetic(n_classes, o))
// fits in o->max_context, found without a model: its first pass, stopped at the first episode
// that does not fit. 1 or 0 (also for k above the train examples), or -1 with err set.
int icl_fits(Tokenizer *tok, const IclDataset *d, int n_classes, const IclOptions *o, Error *err);

// The largest k whose episodes surely fit in max_context for this dataset: from the longest
// demonstration (train), query (test) and candidate, each encoded alone (a demonstration as
// "Input: ...\nLabel: ...\n" plus "\n", which is how it tokenizes inside a prompt). Capped at the
// number of train examples. -1 when the dataset is invalid or not even k = 0 fits.
int icl_max_shots(Tokenizer *tok, const IclDataset *d, int max_context);

// Synthetic family: episode e draws (rng seeded from (seed, e)) n_classes distinct random input
// words of ICL_SYNTH_WORD_LEN lowercase letters and n_classes distinct label words from a fixed
// list of short English words, a random one-to-one mapping between them, k demonstrations
// round-robin over the inputs in a random order (every input appears once k >= n_classes), and
// a query whose input is among the demonstrations. Candidates are the episode's n_classes label
// words. No natural-language knowledge helps: only copying from the context does. Same format,
// orderings and scoring as icl_evaluate; r->query is -1.
int icl_evaluate_synthetic(Model *m, Tokenizer *tok, int n_classes, const IclOptions *o,
                           IclResult *r, Error *err);

// Training data: one episode of k demonstrations and a query with its answer, all from the
// TRAIN split, as tokens: "Input: ..\nLabel: ..\n\n" x k, then "Input: <q>\nLabel: <l>\n".
// Demonstrations are class-balanced in a random order, the query a train example not among
// them (k must leave one). No eot is written: separate episodes as documents (corpus.c appends
// eot after each). Draws from the caller's rng. Returns the number of tokens written (<= cap),
// or -1 (invalid dataset or k, too long for cap, invalid UTF-8).
long icl_training_episode(Tokenizer *tok, const IclDataset *d, int k, gsl_rng *rng, int *out,
                          long cap);
// The same for the synthetic family (k >= 1; the query's input is among the demonstrations).
long icl_synthetic_training_episode(Tokenizer *tok, int n_classes, int k, gsl_rng *rng, int *out,
                                    long cap);

// ---- Building blocks, exposed for tests and per-sample inspection ----

// One episode as drawn: demonstrations in prompt order, the query and the label set.
typedef struct {
    int k;
    const char **demo_text; // (k) untruncated (formatting truncates)
    int *demo_label;        // (k)
    int *demo_index;        // (k) dataset index (synthetic: input-word index)
    const char *query_text;
    int query_label, query_index; // query_index: dataset index (synthetic: input-word index)
    int n_labels;
    const char *const *label_names; // (n_labels)
    // Synthetic episodes only (n_inputs = 0 otherwise): the mapping input i -> input_label[i].
    int n_inputs;
    char **inputs;    // (n_inputs)
    int *input_label; // (n_inputs)
    void *owned_;     // storage the episode owns
} IclEpisode;

// Episode `episode`, ordering `order` of icl_evaluate(d, o) / icl_evaluate_synthetic(n_classes,
// o). Return 0, or -1 with err set. Free with icl_episode_free.
int icl_episode(const IclDataset *d, const IclOptions *o, int episode, int order, IclEpisode *ep,
                Error *err);
int icl_synthetic_episode(int n_classes, const IclOptions *o, int episode, int order,
                          IclEpisode *ep, Error *err);
void icl_episode_free(IclEpisode *ep);

// The episode's prompt text (demonstrations and query, without the answer), NUL-terminated;
// caller frees. *len gets its length.
char *icl_format_prompt(const IclEpisode *ep, size_t *len);

// Constrained decoding of one prompt: logp_sum[i] = log p(" <label_names[i]>\n" | eot, prompt),
// logp_mean[i] = logp_sum[i] / its token count (either may be NULL). Returns the argmax of the
// sum (ties: lowest index) and writes the argmax of the mean to *pred_norm (may be NULL), or -1
// with err set.
int icl_score_labels(Model *m, Tokenizer *tok, const char *prompt, size_t len, int n_labels,
                     const char *const *label_names, double *logp_sum, double *logp_mean,
                     int *pred_norm, Error *err);

// Activation budget of a scoring batch in bytes (process-wide; <= 0 restores
// ICL_ACT_BUDGET_BYTES). For memory-constrained callers, and for tests of the batch split.
void icl_set_batch_budget(long bytes);

#endif
