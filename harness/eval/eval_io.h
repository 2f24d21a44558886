// Shared pieces of `dint eval` and `dint audit` (used by harness/eval/driver.c): loading the
// model and its test text, dimension scales, and safe updates of the file that
// receives the results.
#ifndef DINT_EVAL_IO_H
#define DINT_EVAL_IO_H

#include <hdf5.h>

#include "check.h"
#include "config.h"
#include "corpus.h"
#include "model.h"
#include "tokenizer.h"

typedef struct {
    const char *run, *out, *data;
    RunConfig cfg;
    Model model;
    Tokenizer tok;
    Corpus corpus; // loaded on demand by eval_load_corpus
    int corpus_loaded;
    char data_spec[4096];   // the --data the run was trained on (maybe a mixture)
    char corpus_spec[4096]; // the text corpus actually loaded
} EvalContext;

// Load the run's model and tokenizer. data (may be NULL) overrides the run's corpus. writer: lock
// the results file (0: an MPI rank other than 0, which only reads it).
int eval_open(EvalContext *c, const char *run, const char *out, const char *data, int threads,
              int writer, Error *err);
// The run's corpus with its recorded split (or `spec` instead), for held-out text.
int eval_load_corpus(EvalContext *c, const char *spec, Error *err);
void eval_close(EvalContext *c);

// Open a temporary copy of the results file (the run file, or --out, created when absent);
// eval_commit closes it and renames it over the original, so a crash leaves the old file whole.
hid_t eval_begin(const EvalContext *c, char *tmp, size_t cap, Error *err);
int eval_commit(const EvalContext *c, hid_t f, const char *tmp, Error *err);
// The results file to read finished cells from (run or --out), or -1 when it has none yet.
hid_t eval_open_results(const EvalContext *c);

// Make `ds` an HDF5 dimension scale called `name` and attach it to dimension dim of `data`.
int attach_scale(hid_t loc, hid_t data, int dim, const char *name, const double *values, int n);

#endif
