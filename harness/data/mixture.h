// Training data mixtures: `--data sotu:0.8,needle:0.1,icl:wordnet-noun:0.1` draws each training
// sequence from one component chosen by weight: windows of a text corpus, multi-needle
// episodes (haystack from the corpus's train split; training cities and numbers, disjoint
// from evaluation's), copy episodes (a random string, then the same string again), or
// in-context-learning episodes from a labelled set's train split
// (`icl:synthetic` for random label mappings), or synthetic keyed-recall rows (`recall`, knobs in
// the config's recall section; tasks/recall.h). A plain corpus spec is a one-part mixture. The
// text corpus may have weight 0 (`sotu:0,recall:1`): it is then only the validation text.
#ifndef DINT_MIXTURE_H
#define DINT_MIXTURE_H

#include <gsl/gsl_rng.h>

#include "check.h"
#include "config.h"
#include "corpus.h"
#include "labelled.h"
#include "recall.h"
#include "tokenizer.h"

#define MIX_MAX 8

// Scored targets of needle rows in training mixtures (config key data.task_loss): every token,
// the queries and their answers (not the haystack and needles), or the answers alone.
typedef enum { TASK_LOSS_ALL, TASK_LOSS_QUERIES, TASK_LOSS_ANSWERS } TaskLoss;
// data.task_loss of a config (a key of core's KEYS table: the index into
// CONFIG_TASK_LOSS_NAMES, "all", "queries", "answers", in the order of TaskLoss).
TaskLoss mixture_task_loss(const RunConfig *c);

typedef enum { MIX_TEXT, MIX_NEEDLE, MIX_COPY, MIX_ICL, MIX_ICL_SYNTHETIC, MIX_RECALL } MixKind;

typedef struct {
    MixKind kind;
    double weight;   // normalised
    char spec[512];  // corpus spec, or the labelled-set spec for MIX_ICL
    LabelledSet set; // MIX_ICL
} MixComponent;

typedef struct {
    int n;
    MixComponent comp[MIX_MAX];
    int text; // index of the text component (the corpus; validation loss is on its text)
    char description[1024];
    TaskLoss task_loss; // the targets needle rows score (data.task_loss)
    RecallSpec recall;  // the recall rows' knobs (the config's recall section)
} Mixture;

// The index of the recall part, or -1.
int mixture_find(const Mixture *mx, MixKind kind);

// Parse the spec. The text component's corpus spec goes to corpus_spec (to be loaded by the
// caller). Errors: bad weights, unknown parts, no text component, more than one.
int mixture_parse(Mixture *mx, const char *spec, char *corpus_spec, size_t cap, Error *err);
// Load the labelled sets of ICL components (their train/test split uses split_seed).
int mixture_load(Mixture *mx, uint64_t split_seed, Error *err);
void mixture_free(Mixture *mx);

// B sequences of T + 1 tokens -> tokens (B, T), targets (B, T). A one-part text mixture draws
// exactly as corpus_train_batch does. Needle rows' targets outside the parts that
// task_loss scores are TARGET_IGNORE.
// With answer_needles (B, T), each target that is a needle answer token gets the number of
// needles of its episode (1 to 6), a recall answer 1, every other target 0.
void mixture_batch(Mixture *mx, const Corpus *text, Tokenizer *tok, gsl_rng *rng, int *tokens,
                   int *targets, unsigned char *answer_needles, int B, int T);

#endif
