// A training run: everything `dint train` holds while it trains (config, tokenizer, model,
// optimizer, history, data) opened from a fresh config or from a run file to resume, and the
// loop that trains it with evaluation, diagnostics, checkpoints and divergence handling. The
// loop prints nothing: it reports through a TrainReporter.
#ifndef DINT_SESSION_H
#define DINT_SESSION_H

#include <gsl/gsl_rng.h>

#include "corpus.h"
#include "datasets.h"
#include "history.h"
#include "mixture.h"
#include "runfile.h"
#include "tokenizer.h"
#include "trainer.h"

typedef struct {
    const char *out;       // the run file (written at checkpoints; read to resume)
    const char *data_spec; // --data; on resume NULL or the run's own spec
    const char *init_from; // NULL, or a run whose weights start this one
    int resume;
    int threads;             // per rank
    const TrainShare *share; // NULL: one process; else data parallel, rank 0 writes the run file
} TrainSetup;

typedef struct {
    RunConfig cfg;
    Tokenizer tokenizer;
    Model model;
    AdamW opt;
    History hist;
    gsl_rng *data_rng;
    Mixture mix;
    Corpus corpus;
    DataSource source;
    RunState state; // what a checkpoint writes; points into this session
    TrainStep step; // draws from the mixture into the buffers below
    const TrainShare *share;
    char data_spec[4096], data_path[4096], corpus_spec[4096], cache[4200];
    int *tokens, *targets;         // (B, T)
    unsigned char *answer_needles; // (B, T)
    int resume;
    unsigned parts; // what is open, so train_session_close frees exactly that
} TrainSession;

// Open a session in place (it must not move afterwards). cfg: the resolved config (from the
// options, or the run file's on resume). Returns 0, or -1 with err filled and nothing open.
int train_session_open(TrainSession *s, const RunConfig *cfg, const TrainSetup *setup, Error *err);
void train_session_close(TrainSession *s);

typedef struct {
    long step;
    int steps;
    double loss;        // this step's
    double answer_loss; // mean over the answer tokens since the last report
    long answer_tokens; // 0: none since the last report
    float lr;
    double grad_norm;
    double tokens_per_s; // since the last report
    double eta_s;
} TrainProgress;

typedef struct {
    void *ctx;
    // recall: the held-out recall accuracy (NaN without a recall part)
    void (*validation)(void *ctx, long step, double val_loss, double recall);
    void (*progress)(void *ctx, const TrainProgress *p); // every train.log_every steps
    // a loss above threshold, the limit of the running window (diagnostics.h)
    void (*loss_spike)(void *ctx, long step, double loss, double median, double threshold);
} TrainReporter;

typedef enum {
    TRAIN_COMPLETE,     // all train.steps done and written
    TRAIN_STOPPED,      // checkpointed after stop_at as asked
    TRAIN_DIVERGED,     // NaN/Inf loss or gradient: err names the step; nothing written for it
    TRAIN_WRITE_FAILED, // a checkpoint could not be written: err says why
} TrainOutcome;

// `dint train`'s exit code for TRAIN_DIVERGED (the sweep records such a run as diverged).
#define TRAIN_EXIT_DIVERGED 3

// Train from the session's step to train.steps, evaluating every train.eval_every steps and
// checkpointing to out every train.checkpoint_every (default: at every evaluation), at the end,
// and after stop_at (> 0) when that comes first. *step_done: the last step taken. Data parallel:
// on every rank together, with the same outcome everywhere; only rank 0 writes the run file.
TrainOutcome train_run(TrainSession *s, const char *out, long stop_at, const TrainReporter *r,
                       long *step_done, Error *err);

#endif
