// Labelled text sets for in-context learning: `label<TAB>text` files (the fetched WordNet,
// SpamAssassin and Brown-genre sets, or a user's TREC / Banking-77 / CLINC-150 copy), with a
// fixed train/test split drawn from a recorded seed.
#ifndef DINT_LABELLED_H
#define DINT_LABELLED_H

#include <stdint.h>

#include "check.h"

typedef struct {
    char path[4096];
    int n;       // examples, in file order
    char **text; // (n)
    int *label;  // (n) index into names
    int n_labels;
    char **names;           // (n_labels) sorted (C locale)
    unsigned char *is_test; // (n) 1 for the test split
    uint64_t split_seed;
} LabelledSet;

// Blank lines are skipped; every other line must be label<TAB>text with both non-empty.
// test_fraction of the examples (at least one, and at least one left for training) form the
// test split: a seeded shuffle, the same for the same file and seed.
int labelled_load(LabelledSet *s, const char *path, float test_fraction, uint64_t split_seed,
                  Error *err);
void labelled_free(LabelledSet *s);

#endif
