// Training text: a file or a directory of UTF-8 documents, tokenised and split into train and
// validation documents by a recorded seed; batches are windows drawn from the token streams.
#ifndef DINT_CORPUS_H
#define DINT_CORPUS_H

#include <gsl/gsl_rng.h>
#include <stdint.h>

#include "check.h"
#include "tokenizer.h"

typedef struct {
    char path[4096];
    int n_docs;
    char **doc_names; // "file" or "file#paragraph"
    int *doc_is_val;  // 1 for validation documents
    long *doc_tokens; // tokens per document (without the end-of-document token)
    int *train_tokens, *val_tokens; // documents in order, each followed by the EOT token
    long n_train, n_val;
    long n_bytes;
} Corpus;

// A directory: every regular file below it (sorted, hidden ones skipped) is a document.
// A single file: its paragraphs (separated by blank lines) are the documents.
int corpus_load(Corpus *c, const char *path, const Tokenizer *tok, float val_fraction,
                uint64_t split_seed, Error *err);
void corpus_free(Corpus *c);

// Training batch: B random windows of T + 1 tokens -> tokens (B, T), targets (B, T).
void corpus_train_batch(const Corpus *c, gsl_rng *rng, int *tokens, int *targets, int B, int T);
// Validation batch i of n: fixed windows spread evenly over the validation stream.
void corpus_val_batch(const Corpus *c, int i, int n, int *tokens, int *targets, int B, int T);

#endif
