#include "clock.h"
#include "session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diagnostics.h"
#include "rng.h"

enum { PART_TOKENIZER = 1, PART_MODEL = 2, PART_CORPUS = 4, PART_BUFFERS = 8 };

static void mixture_next_batch(void *ctx, int *tokens, int *targets, unsigned char *answer_needles,
                               int B, int T) {
    TrainSession *s = ctx;
    mixture_batch(&s->mix, &s->corpus, &s->tokenizer, s->data_rng, tokens, targets, answer_needles,
                  B, T);
}

// Model, optimizer, history and the batch generator, and the run state a checkpoint writes.
static int open_model(TrainSession *s, const TrainSetup *setup, Error *err) {
    if (data_open_tokenizer(&s->tokenizer, s->cfg.data.tokenizer, err) != 0) return -1;
    s->parts |= PART_TOKENIZER;
    if (model_build(&s->model, &s->cfg.model, err) != 0) return -1;
    adamw_init(&s->opt, s->model.n_params);
    history_init(&s->hist, s->cfg.model.n_layer);
    s->hist.recall_threshold = s->cfg.recall.threshold;
    s->data_rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(s->data_rng, rng_stream_seed32(s->cfg.seed, 1));
    memset(&s->mix, 0, sizeof s->mix);
    s->parts |= PART_MODEL;
    s->state = (RunState){.cfg = s->cfg,
                          .model = &s->model,
                          .opt = &s->opt,
                          .data_rng = s->data_rng,
                          .train = history_train_group(&s->hist),
                          .corpus = &s->corpus,
                          .data_path = s->data_path,
                          .data_spec = s->data_spec,
                          .data_source = s->source.packages,
                          .tokenizer_identity = s->tokenizer.identity,
                          .status = "running",
                          .threads = setup->threads,
                          .ranks = setup->share ? setup->share->ranks : 1};
    return 0;
}

// Resume: weights, optimizer, RNG and history from the run file, on the same data. Otherwise
// fresh weights (or another run's, --init-from) and the creation time.
static int start_or_resume(TrainSession *s, const TrainSetup *setup, Error *err) {
    RunState *st = &s->state;
    if (setup->resume) {
        if (runfile_read_state(setup->out, st, s->data_spec, sizeof s->data_spec, err) != 0)
            return -1;
        if (setup->data_spec && strcmp(setup->data_spec, s->data_spec) != 0)
            return error_set(err,
                             "the run was trained on '%.250s', not '%.250s'; resume without "
                             "--data",
                             s->data_spec, setup->data_spec);
        return 0;
    }
    snprintf(s->data_spec, sizeof s->data_spec, "%s", setup->data_spec);
    model_init_params(&s->model, rng_stream_seed32(s->cfg.seed, 0));
    int rc = 0;
    if (setup->init_from)
        rc = runfile_read_init_source(setup->init_from, &s->cfg, &s->model, st->init_from,
                                      sizeof st->init_from, err);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(st->created_utc, sizeof st->created_utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return rc;
}

// The mixture and its text corpus, checked against the run (resume) and the sequence length.
static int open_data(TrainSession *s, Error *err) {
    RunState *st = &s->state;
    int rc = mixture_parse(&s->mix, s->data_spec, s->corpus_spec, sizeof s->corpus_spec, err);
    if (rc == 0) rc = mixture_load(&s->mix, s->cfg.data.split_seed, err);
    st->data_mixture = s->mix.description;
    s->mix.task_loss = mixture_task_loss(&s->cfg);
    s->mix.recall = recall_spec_from_config(&s->cfg.recall);
    if (rc != 0) return -1;
    // Training rows are seq_len + 1 tokens, the held-out contexts seq_len.
    if (mixture_find(&s->mix, MIX_RECALL) >= 0 &&
        (recall_check(&s->mix.recall, s->cfg.train.seq_len + 1, err) != 0 ||
         recall_check(&s->mix.recall, s->cfg.train.seq_len, err) != 0))
        return -1;
    if (data_resolve_corpus(s->corpus_spec, s->data_path, sizeof s->data_path, &s->source, err) !=
        0)
        return -1;
    if (s->source.name[0])
        data_token_cache_path(s->source.name, &s->tokenizer, s->cache, sizeof s->cache);
    const DataConfig *d = &s->cfg.data;
    if (corpus_load(&s->corpus, s->data_path, &s->tokenizer, d->val_fraction, d->test_fraction,
                    d->split_seed, s->cache[0] ? s->cache : NULL, err) != 0)
        return -1;
    s->parts |= PART_CORPUS;
    const long *n = s->corpus.n_tokens;
    if (s->resume &&
        (n[0] != st->data_tokens[0] || n[1] != st->data_tokens[1] || n[2] != st->data_tokens[2]))
        return error_set(err,
                         "the data at '%.250s' changed since the run started (%ld/%ld/%ld "
                         "train/val/test tokens, the run file recorded %ld/%ld/%ld); resume "
                         "needs the same data",
                         s->data_path, n[0], n[1], n[2], st->data_tokens[0], st->data_tokens[1],
                         st->data_tokens[2]);
    int T = s->cfg.train.seq_len;
    if (n[SPLIT_TRAIN] < T + 1 || n[SPLIT_VAL] < T + 1)
        return error_set(err,
                         "the corpus is too small for train.seq_len = %d: %ld train and %ld "
                         "validation tokens (need more than seq_len in each; use more text or a "
                         "shorter seq_len)",
                         T, n[SPLIT_TRAIN], n[SPLIT_VAL]);
    return 0;
}

int train_session_open(TrainSession *s, const RunConfig *cfg, const TrainSetup *setup, Error *err) {
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->resume = setup->resume;
    s->share = setup->share;
    if (open_model(s, setup, err) != 0 || start_or_resume(s, setup, err) != 0 ||
        open_data(s, err) != 0) {
        train_session_close(s);
        return -1;
    }
    long BT = (long)s->cfg.train.batch_size * s->cfg.train.seq_len;
    s->tokens = xmalloc(sizeof(int) * (size_t)BT);
    s->targets = xmalloc(sizeof(int) * (size_t)BT);
    s->answer_needles = xmalloc((size_t)BT);
    s->parts |= PART_BUFFERS;
    s->step = (TrainStep){.model = &s->model,
                          .opt = &s->opt,
                          .t = &s->cfg.train,
                          .next_batch = mixture_next_batch,
                          .batch_ctx = s,
                          .share = setup->share,
                          .tokens = s->tokens,
                          .targets = s->targets,
                          .answer_needles = s->answer_needles};
    return 0;
}

void train_session_close(TrainSession *s) {
    if (s->parts & PART_BUFFERS) {
        free(s->tokens);
        free(s->targets);
        free(s->answer_needles);
    }
    if (s->parts & PART_CORPUS) corpus_free(&s->corpus);
    if (s->parts & PART_MODEL) {
        mixture_free(&s->mix);
        gsl_rng_free(s->data_rng);
        history_free(&s->hist);
        adamw_free(&s->opt);
        model_free(&s->model);
    }
    if (s->parts & PART_TOKENIZER) tokenizer_close(&s->tokenizer);
    s->parts = 0;
}

// Wall-clock time of the run and what accumulated since the last progress report.
typedef struct {
    double t0, seconds_before; // when this process started training; time trained before it
    double t_log;
    long step_log;
    double answer_nll;
    long answer_tokens;
} ProgressClock;

static void report_progress(TrainSession *s, const TrainReporter *r, ProgressClock *c, long step,
                            const TrainStepResult *res, float lr) {
    const TrainConfig *t = &s->cfg.train;
    long tokens_per_step = (long)t->batch_size * t->seq_len * t->grad_accum;
    double now = now_seconds();
    double tps = (double)(step - c->step_log) * tokens_per_step / (now - c->t_log + 1e-9);
    TrainProgress p = {.step = step,
                       .steps = t->steps,
                       .loss = res->loss,
                       .answer_loss =
                           c->answer_tokens ? c->answer_nll / (double)c->answer_tokens : NAN,
                       .answer_tokens = c->answer_tokens,
                       .lr = lr,
                       .grad_norm = res->grad_norm,
                       .tokens_per_s = tps,
                       .eta_s = (double)(t->steps - step) * tokens_per_step / (tps + 1e-9)};
    if (r->progress) r->progress(r->ctx, &p);
    c->answer_nll = 0.0;
    c->answer_tokens = 0;
    c->t_log = now;
    c->step_log = step;
}

// The validation loss at step, recorded and reported; -1 (err filled) when it is not finite.
static int validate(TrainSession *s, const TrainReporter *r, long step, Error *err) {
    double v = train_validation_loss(&s->model, &s->corpus, &s->cfg.train, s->tokens, s->targets,
                                     s->share);
    if (!isfinite(v)) {
        if (step == 0) return error_set(err, "divergence at step 0: validation loss is %g", v);
        return error_set(err,
                         "divergence at step %ld: validation loss is %g; the run file keeps the "
                         "last good checkpoint",
                         step, v);
    }
    history_push_val(&s->hist, step, v);
    double recall = NAN;
    if (mixture_find(&s->mix, MIX_RECALL) >= 0) {
        // The same held-out contexts for every seed of a sweep (from data.split_seed), from a
        // stream no run's training data draws from (stream 2; batches use stream 1).
        recall = recall_heldout_accuracy(&s->model, &s->mix.recall, s->cfg.recall.contexts,
                                         rng_stream_seed32(s->cfg.data.split_seed, 2),
                                         s->cfg.train.batch_size, s->cfg.train.seq_len, s->tokens);
        history_set_recall(&s->hist, recall);
    }
    if (r->validation) r->validation(r->ctx, step, v, recall);
    return 0;
}

// Record a finished step: its history entry, a loss spike, the audit row every audit_every.
static void record_step(TrainSession *s, const TrainReporter *r, ProgressClock *c, long step,
                        const TrainStepResult *res, float lr) {
    const TrainConfig *t = &s->cfg.train;
    History *h = &s->hist;
    long tokens_per_step = (long)t->batch_size * t->seq_len * t->grad_accum;
    long tokens_seen = (h->n ? h->tokens[h->n - 1] : 0) + tokens_per_step;
    double seconds = c->seconds_before + (now_seconds() - c->t0);
    LossSpikeLimit limit;
    int spike = train_loss_spike_limit(h, t, &limit) == 0 && res->loss > limit.threshold;
    double answer_loss = res->answer_tokens ? res->answer_nll / (double)res->answer_tokens : NAN;
    double answer_loss_multi =
        res->answer_tokens_multi ? res->answer_nll_multi / (double)res->answer_tokens_multi : NAN;
    if (res->answer_tokens)
        c->answer_nll += res->answer_nll, c->answer_tokens += res->answer_tokens;
    HistoryStep entry = {.step = step,
                         .tokens = tokens_seen,
                         .loss = res->loss,
                         .answer_loss = answer_loss,
                         .answer_loss_multi = answer_loss_multi,
                         .lr = lr,
                         .grad_norm = res->grad_norm,
                         .seconds = seconds,
                         .lambda = s->model.lambda,
                         .gamma = s->model.gamma,
                         .loss_spike = spike};
    history_push(h, &entry);
    if (spike && r->loss_spike)
        r->loss_spike(r->ctx, step, res->loss, limit.median, limit.threshold);
    // Cheap diagnostics from this step's last micro-batch.
    if (t->audit_every && (step % t->audit_every == 0 || step == 1))
        train_record_audit(h, &s->model, step, t->batch_size, t->seq_len, res->clip_scale,
                           t->grad_accum, s->share);
}

static int is_writer(const TrainSession *s) {
    return !s->share || s->share->rank == 0;
}

// The run file, written by rank 0; every rank learns whether that worked.
static int write_checkpoint(TrainSession *s, const char *out, Error *err) {
    double ok = !is_writer(s) || runfile_write(out, &s->state, err) == 0;
    if (s->share && s->share->ranks > 1) s->share->broadcast_doubles(s->share->ctx, &ok, 1, 0);
    if (!ok && !is_writer(s)) error_set(err, "rank 0 could not write the run file '%s'", out);
    return ok ? 0 : -1;
}

TrainOutcome train_run(TrainSession *s, const char *out, long stop_at, const TrainReporter *r,
                       long *step_done, Error *err) {
    const TrainConfig *t = &s->cfg.train;
    long step = s->opt.step;
    *step_done = step;
    if (!s->resume && validate(s, r, 0, err) != 0) return TRAIN_DIVERGED;
    double seconds_before = s->hist.n ? s->hist.seconds[s->hist.n - 1] : 0.0;
    ProgressClock clock = {.seconds_before = seconds_before, .step_log = step};
    clock.t0 = clock.t_log = now_seconds();
    int checkpoint_every = t->checkpoint_every ? t->checkpoint_every : t->eval_every;
    while (step < t->steps) {
        TrainStepResult res;
        float lr = lr_schedule(t, step);
        if (train_step(&s->step, lr, &res) != 0) {
            int bad_loss = !isfinite(res.loss);
            error_set(err,
                      "divergence at step %ld: %s is %g; the run file keeps the last good "
                      "checkpoint (lower train.lr or raise train.warmup)",
                      step + 1, bad_loss ? "loss" : "gradient norm",
                      bad_loss ? res.loss : res.grad_norm);
            return TRAIN_DIVERGED;
        }
        *step_done = ++step;
        record_step(s, r, &clock, step, &res, lr);
        if (step % t->log_every == 0 || step == t->steps)
            report_progress(s, r, &clock, step, &res, lr);
        if ((step % t->eval_every == 0 || step == t->steps) && validate(s, r, step, err) != 0)
            return TRAIN_DIVERGED;
        int stop_here = stop_at > 0 && step >= stop_at && step < t->steps;
        if (step % checkpoint_every == 0 || step == t->steps || stop_here) {
            s->state.status = step == t->steps ? "complete" : (stop_here ? "stopped" : "running");
            if (write_checkpoint(s, out, err) != 0) return TRAIN_WRITE_FAILED;
        }
        if (stop_here) return TRAIN_STOPPED;
    }
    return TRAIN_COMPLETE;
}
