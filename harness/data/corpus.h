// Training text: a file or a directory of UTF-8 documents, tokenised and split into train,
// validation and test documents by a recorded seed; batches are windows drawn from the token
// streams of each split.
#ifndef DINT_CORPUS_H
#define DINT_CORPUS_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "check.h"
#include "tokenizer.h"

typedef enum { SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2 } Split;

typedef struct {
    char path[4096];
    int n_docs;
    char **doc_names;         // "file" or "file#paragraph"
    unsigned char *doc_split; // SPLIT_TRAIN, SPLIT_VAL or SPLIT_TEST per document
    long *doc_tokens;         // tokens per document (without the end-of-document token)
    int *tokens[3];           // per split: its documents in order, each followed by EOT
    long n_tokens[3];
    long n_bytes;
} Corpus;

// A directory: every regular file below it (sorted, hidden ones skipped) is a document.
// A single file: its paragraphs (separated by blank lines) are the documents.
// val_fraction and test_fraction of the documents (at least one each when > 0) are held out.
// With cache_path, tokens are read from that token cache when it was made from the same text
// by the same tokenizer, and (re)written otherwise.
int corpus_load(Corpus *c, const char *path, Tokenizer *tok, float val_fraction,
                float test_fraction, uint64_t split_seed, const char *cache_path, Error *err);
void corpus_free(Corpus *c);

// Training batch: B random windows of T + 1 tokens -> tokens (B, T), targets (B, T).
void corpus_train_batch(const Corpus *c, gsl_rng *rng, int *tokens, int *targets, int B, int T);
// Batch i of n held-out batches of a split: fixed windows spread evenly over its stream.
void corpus_heldout_batch(const Corpus *c, Split split, int i, int n, int *tokens, int *targets,
                          int B, int T);

#endif
