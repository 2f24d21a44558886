#include "schema.h"

#include <ctype.h>
#include <string.h>

#include "runfile.h"
#include "variants.h"

// Rows of the harness's tables: path is a constant of schema.h, whose name `dint schema --json`
// gives the generated Python module (RUN_AT_DIGEST, ...).
#define SCHEMA_ROW_GROUP(path, meaning, when)                                                      \
    { SCHEMA_GROUP, path, NULL, NULL, meaning, when, #path }
#define SCHEMA_ROW_DATASET(path, dtype, dims, meaning, when)                                       \
    { SCHEMA_DATASET, path, dtype, dims, meaning, when, #path }
#define SCHEMA_ROW_ATTRIBUTE(path, dtype, meaning, when)                                           \
    { SCHEMA_ATTRIBUTE, path, dtype, "", meaning, when, #path }

#define NOT_IMPORTED "runs trained on a corpus (not imported weights)"

// RUN_FIXED in harness/report/runschema_tables.py (generated from `dint schema --json`).
const SchemaEntry SCHEMA_RUN_FIXED[] = {
    SCHEMA_ROW_GROUP(RUN_ROOT,
                     "one run: its config, weights, optimizer and RNG state, curves and data split",
                     NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_SCHEMA_VERSION, "int64", "run-file schema version (1)", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_DINT_VERSION, "string", "the dint version that wrote the file",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(
        RUN_AT_GIT_COMMIT, "string",
        "the commit of the build that wrote the file (-dirty when built from uncommitted changes)",
        NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_CREATED_UTC, "string", "when the run started (UTC, ISO 8601)",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_UPDATED_UTC, "string",
                         "when the file was last written (UTC, ISO 8601)", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_HOST, "string", "the host name of the machine that wrote the file",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(
        RUN_AT_INIT_FROM, "string",
        "the run file whose weights this run started from, the step its training had reached and "
        "its creation time",
        "runs started with --init-from"),
    SCHEMA_ROW_ATTRIBUTE(
        RUN_AT_CONFIG, "string",
        "the resolved config as JSON (every key of README Config keys, plus model.vocab_size and "
        "seed)",
        NULL),
    SCHEMA_ROW_ATTRIBUTE(
        RUN_AT_SEED, "uint64",
        "the run seed; parameter init and batch sampling use two 32-bit MT19937 seeds derived from "
        "it (splitmix64, streams 0 and 1)",
        NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_VARIANT, "string", "transformer, diff or dint", NULL),
    SCHEMA_ROW_ATTRIBUTE(
        RUN_AT_STATUS, "string",
        "running (checkpoint of a run in progress), stopped (--stop-at), complete or imported",
        NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_THREADS, "int64", "OpenMP threads of the last training command",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_RANKS, "int64",
                         "MPI ranks of the last training command (data parallel)",
                         "runs last trained on more than one rank (absent: one process)"),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_PARAM_COUNT, "int64", "number of model parameters", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_AT_RUN, "string", "the run file whose model was evaluated",
                         "results files written with --out (not run files)"),
    SCHEMA_ROW_ATTRIBUTE(
        RUN_AT_DIGEST, "string",
        "CRC-32 (zlib) of every group name, dataset and attribute in name order, itself excluded: "
        "\"crc32:\" and 8 hex digits; verified on every read",
        "files written since digests (a notice names older files)"),

    SCHEMA_ROW_GROUP(RUN_MODEL, "the model", NULL),
    SCHEMA_ROW_GROUP(RUN_MODEL_PARAMS, "weights, named like the PyTorch reference's state dict",
                     NULL),
    SCHEMA_ROW_DATASET(
        RUN_MODEL_PARAM_MATRIX, "float32", "out,in",
        "a weight matrix: tok_embeddings.weight, layers.<l>.attn.{q,k,v,out}_proj.weight, "
        "layers.<l>.ffn.{gate,up,down}_proj.weight, lm_head.weight (absent when embeddings are "
        "tied)",
        NULL),
    SCHEMA_ROW_DATASET(
        RUN_MODEL_PARAM_VECTOR, "float32", "n",
        "a weight vector: layers.<l>.attn_norm.weight, layers.<l>.ffn_norm.weight, norm.weight, "
        "layers.<l>.attn.lambda_{q1,k1,q2,k2} (diff, dint), layers.<l>.attn.gamma_{q1,k1,q2,k2} "
        "(dint, gamma = learned), layers.<l>.attn.subln.weight (head-norm gain)",
        NULL),

    SCHEMA_ROW_GROUP(RUN_OPTIM, "AdamW state", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_OPTIM_AT_STEP, "int64", "optimizer steps taken", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_OPTIM_AT_ALGORITHM, "string",
                         "AdamW (decoupled weight decay on matrices)", NULL),
    SCHEMA_ROW_GROUP(RUN_OPTIM_M, "AdamW first moments, one per parameter", NULL),
    SCHEMA_ROW_DATASET(RUN_OPTIM_M_MATRIX, "float32", "out,in", "first moment of a weight matrix",
                       NULL),
    SCHEMA_ROW_DATASET(RUN_OPTIM_M_VECTOR, "float32", "n", "first moment of a weight vector", NULL),
    SCHEMA_ROW_GROUP(RUN_OPTIM_V, "AdamW second moments, one per parameter", NULL),
    SCHEMA_ROW_DATASET(RUN_OPTIM_V_MATRIX, "float32", "out,in", "second moment of a weight matrix",
                       NULL),
    SCHEMA_ROW_DATASET(RUN_OPTIM_V_VECTOR, "float32", "n", "second moment of a weight vector",
                       NULL),

    SCHEMA_ROW_GROUP(RUN_RNG, "random generator state", NULL),
    SCHEMA_ROW_DATASET(RUN_RNG_DATA, "uint8", "state_bytes",
                       "state of the batch-sampling generator after the last step", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_RNG_DATA_AT_ALGORITHM, "string", "the generator (mt19937)", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_RNG_DATA_AT_MEANING, "string", "what the dataset holds, in words",
                         NULL),

    SCHEMA_ROW_GROUP(RUN_TRAIN,
                     "training curves, one entry per optimizer step unless said otherwise", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_AT_STEPS_DONE, "int64", "optimizer steps done", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_AT_STEPS_PLANNED, "int64", "train.steps of the config", NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_STEP, "int64", "step", "optimizer step, 1-based", NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_LOSS, "float64", "step",
                       "mean training NLL of the step's batch over its scored targets (nats per "
                       "token; needle rows "
                       "score what data.task_loss says)",
                       NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_ANSWER_LOSS, "float64", "step",
                       "mean NLL of the step's needle answer tokens (a space and 7 digits per "
                       "answer; chance about "
                       "2.0 nats); NaN in steps without needle rows",
                       NULL),
    SCHEMA_ROW_DATASET(
        RUN_TRAIN_ANSWER_LOSS_MULTI, "float64", "step",
        "the same over the answers of needle episodes with two or more needles (a copier of some "
        "needle pays about ln(N) / 8 nats per answer token there); NaN in steps without such "
        "answers",
        NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_LR, "float64", "step", "learning rate used", NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_GRAD_NORM, "float64", "step",
                       "global gradient norm before clipping", NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_TOKENS, "int64", "step", "cumulative training tokens", NULL),
    SCHEMA_ROW_DATASET(
        RUN_TRAIN_SECONDS, "float64", "step",
        "cumulative wall-clock seconds (the only field that differs between two runs of one config "
        "and seed)",
        NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_LAMBDA, "float32", "step,layer",
                       "lambda of each layer at each step", "diff, dint"),
    SCHEMA_ROW_DATASET(RUN_TRAIN_GAMMA, "float32", "step,layer",
                       "gamma of each layer at each step (equals lambda when gamma = tied)",
                       "dint"),
    SCHEMA_ROW_DATASET(
        RUN_TRAIN_LOSS_SPIKE, "uint8", "step",
        "1 where the step's loss exceeded both train.spike_factor x the median of the previous "
        "train.spike_window losses and that median + train.spike_sigmas x their robust standard "
        "deviation",
        NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_AUDIT_STEP, "int64", "audit",
                       "the steps of the diagnostics below, every train.audit_every steps", NULL),
    SCHEMA_ROW_DATASET(
        RUN_TRAIN_ROW_SUM_DEV_MAX, "float64", "audit,layer",
        "max |row sum - expected| over sampled rows (batch item 0, every 8th row from the last) of "
        "the step's last micro-batch",
        NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_ROW_SUM_DEV_MEAN, "float64", "audit,layer",
                       "mean |row sum - expected| over the same rows", NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_GRAD_NORM_LAYER, "float64", "audit,layer",
                       "each layer's gradient norm before clipping", NULL),
    SCHEMA_ROW_DATASET(RUN_TRAIN_VAL_STEP, "int64", "val",
                       "steps of the validation loss: 0, every train.eval_every steps and the last",
                       NULL),
    SCHEMA_ROW_DATASET(
        RUN_TRAIN_VAL_LOSS, "float64", "val",
        "validation NLL over train.eval_batches fixed windows spread evenly over the validation "
        "documents",
        NULL),
    SCHEMA_ROW_GROUP(
        RUN_TRAIN_ONSET,
        "the retrieval onset: the first step at which the trailing mean of answer_loss_multi is at "
        "or below the threshold (harness/train/onset.h), recomputed from the history at every "
        "write",
        NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_ONSET_AT_STEP, "int64",
                         "the onset step; when censored, the last step trained (0 without steps)",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_ONSET_AT_CENSORED, "int64",
                         "1 when the threshold was never reached, else 0", NULL),
    SCHEMA_ROW_ATTRIBUTE(
        RUN_TRAIN_ONSET_AT_THRESHOLD, "float64",
        "the threshold in nats per answer token (ONSET_THRESHOLD: below half of ln(2) / 8, the "
        "loss of a model that copies some needle of the context but not the asked one)",
        NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_ONSET_AT_WINDOW, "int64",
                         "the steps of the trailing mean (ONSET_WINDOW)", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_ONSET_AT_MIN_VALUES, "int64",
                         "the finite values a window needs to count (half the window, rounded up)",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_ONSET_AT_MEANING, "string", "the definition in words", NULL),
    SCHEMA_ROW_DATASET(
        RUN_TRAIN_ONSET_SMOOTHED, "float64", "step",
        "the trailing mean of answer_loss_multi at each step (NaN before a full window or with too "
        "few values)",
        NULL),
    SCHEMA_ROW_DATASET(
        RUN_TRAIN_RECALL_ACCURACY, "float64", "val",
        "held-out recall accuracy at each evaluation step (/train/val_step): the share of the "
        "queries of recall.contexts fixed held-out contexts answered right by greedy decoding; NaN "
        "where not measured",
        "runs whose mixture has a recall part"),
    SCHEMA_ROW_GROUP(
        RUN_TRAIN_RECALL_ONSET,
        "the recall onset: the first evaluation at which recall_accuracy is >= recall.threshold "
        "(harness/train/onset.h), recomputed from the curve at every write",
        "runs whose mixture has a recall part"),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_RECALL_ONSET_AT_STEP, "int64",
                         "the onset step; when censored, the last evaluation step",
                         "runs whose mixture has a recall part"),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_RECALL_ONSET_AT_CENSORED, "int64",
                         "1 when the threshold was never reached, else 0",
                         "runs whose mixture has a recall part"),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_RECALL_ONSET_AT_TOKENS, "int64",
                         "training tokens seen by that step",
                         "runs whose mixture has a recall part"),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_RECALL_ONSET_AT_SECONDS, "float64",
                         "training seconds by that step", "runs whose mixture has a recall part"),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_RECALL_ONSET_AT_THRESHOLD, "float64",
                         "the accuracy that counts as recall (recall.threshold)",
                         "runs whose mixture has a recall part"),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_RECALL_ONSET_AT_ACCURACY, "float64",
                         "the held-out accuracy at that step",
                         "runs whose mixture has a recall part"),
    SCHEMA_ROW_ATTRIBUTE(RUN_TRAIN_RECALL_ONSET_AT_MEANING, "string", "the definition in words",
                         "runs whose mixture has a recall part"),

    SCHEMA_ROW_GROUP(RUN_DATA, "the corpus the run was trained on and its split", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_TOKENIZER, "string", "data.tokenizer: byte or gpt2", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_TOKENIZER_IDENTITY, "string",
                         "the tokenizer's identity (its files and their checksums; empty for byte)",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_PATH, "string",
                         "the corpus folder or file read (empty for imported weights)", NULL),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_SPEC, "string",
                         "--data as given (a corpus name, a path or a mixture)", NOT_IMPORTED),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_SOURCE, "string",
                         "package@version of a named corpus, or empty", NOT_IMPORTED),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_MIXTURE, "string",
                         "the training mixture with normalised weights", NOT_IMPORTED),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_BYTES, "int64", "bytes of text in the corpus", NOT_IMPORTED),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_TRAIN_TOKENS, "int64", "tokens of the training split",
                         NOT_IMPORTED),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_VAL_TOKENS, "int64", "tokens of the validation split",
                         NOT_IMPORTED),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_TEST_TOKENS, "int64", "tokens of the test split",
                         NOT_IMPORTED),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_AT_NOTE, "string", "where imported weights came from",
                         "imported weights"),
    SCHEMA_ROW_DATASET(RUN_DATA_DOCUMENTS, "string", "document", "the document names",
                       NOT_IMPORTED),
    SCHEMA_ROW_DATASET(
        RUN_DATA_SPLIT, "uint8", "document",
        "each document's split: 0 train, 1 validation, 2 test (a seeded shuffle by "
        "data.split_seed; data.val_fraction and data.test_fraction of the documents, at least one "
        "each)",
        NOT_IMPORTED),
    SCHEMA_ROW_ATTRIBUTE(RUN_DATA_SPLIT_AT_MEANING, "string", "the split codes in words",
                         NOT_IMPORTED),
    SCHEMA_ROW_DATASET(RUN_DATA_DOCUMENT_TOKENS, "int64", "document", "tokens of each document",
                       NOT_IMPORTED),

    SCHEMA_ROW_GROUP(RUN_EVAL, "evaluation results, one group per task (needle, ppl, icl)",
                     "after dint eval"),
};
const int SCHEMA_RUN_FIXED_COUNT = (int)(sizeof SCHEMA_RUN_FIXED / sizeof SCHEMA_RUN_FIXED[0]);

#define BY_CELL(what) what " per cell over seeds"

// SWEEP_SUMMARY in harness/report/runschema_tables.py (generated from `dint schema --json`).
const SchemaEntry SCHEMA_SWEEP_SUMMARY[] = {
    SCHEMA_ROW_GROUP(SWEEP_ROOT, "the summary of a dint sweep (DIR/summary.h5)", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_AT_BASELINE, "string", "the baseline cell of the grid, or empty",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(
        SWEEP_AT_DIGEST, "string",
        "CRC-32 (zlib) of every group name, dataset and attribute in name order, itself excluded: "
        "\"crc32:\" and 8 hex digits; verified on every read",
        "files written since digests (a notice names older files)"),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_AT_PROCESSES, "int64",
                         "runs trained at once by the invocation that wrote the summary", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_AT_THREADS_PER_PROCESS, "int64", "OpenMP threads of each run", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_AT_WALL_SECONDS, "float64", "wall-clock seconds of that invocation",
                         NULL),
    SCHEMA_ROW_ATTRIBUTE(
        SWEEP_AT_TOKENS_TRAINED, "int64",
        "training tokens that invocation added over all runs (a resumed run counts only its new "
        "ones)",
        NULL),
    SCHEMA_ROW_ATTRIBUTE(
        SWEEP_AT_TOKENS_PER_S, "float64",
        "the machine's throughput: tokens_trained / wall_seconds (0 when nothing was trained)",
        NULL),
    SCHEMA_ROW_GROUP(SWEEP_CELLS, "one group per cell of the grid", NULL),
    SCHEMA_ROW_ATTRIBUTE(
        SWEEP_CELLS_AT_METRICS, "string",
        "the metrics, comma-separated, in summary order (`dint schema --json` lists them as "
        "sweep_metrics, each with the run-file dataset it reduces and how)",
        NULL),
    SCHEMA_ROW_GROUP(SWEEP_CELL,
                     "one cell: a variant with its gamma mode, G mode, head norm and lambda_init",
                     NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_CELL_AT_VARIANT, "string", "model.variant", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_CELL_AT_GAMMA, "string", "model.gamma", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_CELL_AT_G_MODE, "string", "model.g_mode", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_CELL_AT_HEAD_NORM, "string", "model.head_norm", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_CELL_AT_LAMBDA_INIT, "string", "model.lambda_init", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_CELL_AT_N_SEEDS, "int64", "seeds run per cell", NULL),
    SCHEMA_ROW_DATASET(SWEEP_CELL_MEAN, "float64", "", BY_CELL("mean of the metric"), NULL),
    SCHEMA_ROW_DATASET(SWEEP_CELL_STD, "float64", "", BY_CELL("standard deviation of the metric"),
                       NULL),
    SCHEMA_ROW_DATASET(SWEEP_CELL_CI_LOW, "float64", "",
                       BY_CELL("95 % t interval of the mean, low end"), NULL),
    SCHEMA_ROW_DATASET(SWEEP_CELL_CI_HIGH, "float64", "",
                       BY_CELL("95 % t interval of the mean, high end"), NULL),
    SCHEMA_ROW_DATASET(SWEEP_CELL_PER_SEED, "float64", "seed,metric",
                       "each seed's metrics (NaN where missing)", NULL),
    SCHEMA_ROW_DATASET(
        SWEEP_CELL_SECONDS, "float64", "seed",
        "each seed's training time (wall seconds, /train/seconds; NaN without a run): "
        "how long, not a result",
        NULL),
    SCHEMA_ROW_GROUP(SWEEP_PAIRED, "paired differences against the baseline cell", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_PAIRED_AT_BASELINE, "string", "the baseline cell, or empty", NULL),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_PAIRED_AT_TEST, "string",
                         "the test: paired t-test over seeds (two-sided)", NULL),
    SCHEMA_ROW_GROUP(SWEEP_PAIRED_CELL, "one cell other than the baseline",
                     "grids with a baseline"),
    SCHEMA_ROW_DATASET(SWEEP_PAIRED_DIFF_MEAN, "float64", "",
                       "mean over seeds of cell minus baseline", NULL),
    SCHEMA_ROW_DATASET(SWEEP_PAIRED_P_VALUE, "float64", "", "p value of the paired t-test", NULL),
    SCHEMA_ROW_GROUP(SWEEP_SURVIVAL,
                     "the recall onset over seeds as a time-to-event (Kaplan-Meier per cell, "
                     "log-rank per pair of "
                     "cells)",
                     "grids whose runs have a recall part"),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_SURVIVAL_AT_EVENT, "string", "the event and the censoring, in words",
                         "grids whose runs have a recall part"),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_SURVIVAL_AT_TIME, "string", "the time axis: training tokens",
                         "grids whose runs have a recall part"),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_SURVIVAL_AT_TEST, "string", "the estimator and the test",
                         "grids whose runs have a recall part"),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_SURVIVAL_AT_CELLS, "string",
                         "the cells of the log-rank matrices, comma-separated, in their order",
                         "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_LOGRANK_P, "float64", "cell,cell",
                       "log-rank p-value of each pair of cells (NaN on the diagonal)",
                       "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_LOGRANK_CHI2, "float64", "cell,cell",
                       "log-rank chi-square (1 df) of each pair of cells",
                       "grids whose runs have a recall part"),
    SCHEMA_ROW_GROUP(SWEEP_SURVIVAL_CELL, "the seeds of one cell",
                     "grids whose runs have a recall part"),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_SURVIVAL_CELL_AT_SEEDS, "int64", "seeds with a recall onset record",
                         "grids whose runs have a recall part"),
    SCHEMA_ROW_ATTRIBUTE(SWEEP_SURVIVAL_CELL_AT_REACHED, "int64", "seeds that reached recall",
                         "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_MEDIAN, "float64", "",
                       "Kaplan-Meier median onset in tokens (inf: not reached)",
                       "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_MEDIAN_LO, "float64", "",
                       "95 % interval of the median, low end (from the log(-log) band)",
                       "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_MEDIAN_HI, "float64", "",
                       "95 % interval of the median, high end (inf: not reached)",
                       "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_TIME, "float64", "time",
                       "the distinct onset times (tokens; empty when no seed reached recall)",
                       "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_SURV, "float64", "time",
                       "Kaplan-Meier share of seeds not yet at recall just after each time",
                       "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_SURV_LO, "float64", "time",
                       "95 % pointwise band, low end (log(-log); NaN where S is 0 or 1)",
                       "grids whose runs have a recall part"),
    SCHEMA_ROW_DATASET(SWEEP_SURVIVAL_SURV_HI, "float64", "time", "95 % pointwise band, high end",
                       "grids whose runs have a recall part"),
};
const int SCHEMA_SWEEP_SUMMARY_COUNT =
    (int)(sizeof SCHEMA_SWEEP_SUMMARY / sizeof SCHEMA_SWEEP_SUMMARY[0]);

const char *schema_name(const char *path) {
    const char *at = strchr(path, '@'), *slash = strrchr(path, '/');
    return at ? at + 1 : slash ? slash + 1 : path;
}

static const char *kind_name(SchemaKind k) {
    return k == SCHEMA_GROUP ? "group" : k == SCHEMA_DATASET ? "dataset" : "attribute";
}

static void json_string(FILE *out, const char *s) {
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

// Appends s[0..len) in upper case to out (cap) at *used, never past cap - 1.
// Upper case, and '_' for what a Python name cannot hold ("next-token" -> "NEXT_TOKEN").
static void append_upper(char *out, size_t cap, size_t *used, const char *s, size_t len) {
    for (size_t i = 0; i < len && *used + 1 < cap; i++)
        out[(*used)++] = isalnum((unsigned char)s[i]) ? (char)toupper((unsigned char)s[i]) : '_';
    out[*used] = '\0';
}

void schema_constant(const SchemaEntry *e, const SchemaTable *t, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    if (e->constant || !t->task) {
        snprintf(out, cap, "%s", e->constant ? e->constant : "");
        return;
    }
    append_upper(out, cap, &used, t->task, strlen(t->task));
    const char *group = t->entries[0].path, *p = e->path;
    if (!strncmp(p, group, strlen(group))) p += strlen(group);
    while (*p) {
        const char *sep = *p == '@' ? "_AT_" : "_";
        if (*p == '/' || *p == '@') p++;
        size_t len = strcspn(p, "/@");
        int braces = p[0] == '{' && len >= 2;
        if (!braces || !p[len]) {
            append_upper(out, cap, &used, sep, strlen(sep));
            append_upper(out, cap, &used, p + braces, len - 2 * (size_t)braces);
        }
        p += len;
    }
}

static void json_field(FILE *out, const char *name, const char *value) {
    fprintf(out, ", \"%s\": ", name);
    json_string(out, value);
}

static void json_entry(FILE *out, const SchemaEntry *e, const SchemaTable *t) {
    char constant[128];
    schema_constant(e, t, constant, sizeof constant);
    fprintf(out, "{\"kind\": \"%s\"", kind_name(e->kind));
    json_field(out, "path", e->path);
    json_field(out, "dtype", e->dtype);
    json_field(out, "dims", e->dims);
    json_field(out, "meaning", e->meaning);
    json_field(out, "when", e->when);
    json_field(out, "constant", constant);
    json_field(out, "file", t->file);
    json_field(out, "task", t->task);
    fputc('}', out);
}

// Index of the first table of the same file as table i (its files are listed once, there).
static int first_of_file(const SchemaTable *tables, int i) {
    for (int j = 0; j < i; j++)
        if (!strcmp(tables[j].file, tables[i].file)) return j;
    return i;
}

void schema_print_json(FILE *out, const SchemaTable *tables, int n, const char *extra) {
    fprintf(out, "{\"schema_version\": %d, \"files\": {", RUNFILE_SCHEMA_VERSION);
    int files = 0;
    for (int i = 0; i < n; i++) {
        if (first_of_file(tables, i) != i) continue;
        fprintf(out, "%s\n\"%s\": [", files++ ? "]," : "", tables[i].file);
        int k = 0;
        for (int j = i; j < n; j++) {
            if (strcmp(tables[j].file, tables[i].file)) continue;
            for (int e = 0; e < tables[j].count; e++) {
                fputs(k++ ? ",\n  " : "\n  ", out);
                json_entry(out, &tables[j].entries[e], &tables[j]);
            }
        }
    }
    // The variants of core/variants.c, for the scripts and plots that list them.
    fprintf(out, "%s},\n\"variants\": [", files ? "]" : "");
    for (int i = 0; i < N_VARIANTS; i++)
        fprintf(out, "%s{\"name\": \"%s\", \"label\": \"%s\"}", i ? ", " : "", VARIANTS[i].name,
                VARIANTS[i].label);
    fprintf(out, "]%s%s}\n", extra ? ",\n" : "", extra ? extra : "");
}

void schema_print_text(FILE *out, const SchemaTable *tables, int n) {
    for (int i = 0; i < n; i++) {
        if (first_of_file(tables, i) != i) continue;
        fprintf(out, "%s%s file (schema version %d)\n", i ? "\n" : "",
                !strcmp(tables[i].file, "run") ? "run" : tables[i].file, RUNFILE_SCHEMA_VERSION);
        for (int j = i; j < n; j++) {
            if (strcmp(tables[j].file, tables[i].file)) continue;
            for (int e = 0; e < tables[j].count; e++) {
                const SchemaEntry *x = &tables[j].entries[e];
                fprintf(out, "  %-9s %s", kind_name(x->kind), x->path);
                if (x->dtype) fprintf(out, "  %s", x->dtype);
                if (x->kind == SCHEMA_DATASET) fprintf(out, " (%s)", x->dims);
                if (x->when) fprintf(out, "  [%s]", x->when);
                fprintf(out, "\n      %s\n", x->meaning);
            }
        }
    }
}
