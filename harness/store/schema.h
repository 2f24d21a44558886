// The fixed part of the run-file schema, named once: every group, dataset and attribute that
// `dint train` and `dint import` write (root attributes, /model, /optim, /rng, /train, /data),
// and the summary file `dint sweep` writes. Evaluation groups (/eval/..., /audit) are described
// by each task's own table of outputs (tasks/). `dint schema --json` prints them, and
// harness/report/gen_schema.py generates the Python tables (harness/report/runschema_tables.py,
// imported by runschema.py) and the tables of results/README.md from it; tests/test_schema.py
// checks that those and real files agree.
//
// Naming: RUN_<GROUP>[_<DATASET>] is an absolute path of the run file ("/train/loss" is
// RUN_TRAIN_LOSS); an attribute is the object's path, '@', its name, and its constant has _AT_
// where the '@' is ("/data@tokenizer" is RUN_DATA_AT_TOKENIZER; root attributes are RUN_AT_*).
// SWEEP_* name the sweep summary file the same way. Writers pass dataset and group paths as
// they are (HDF5 resolves an absolute path from any object of the file) and attribute names
// through schema_name(). A part in braces is one name per instance ("/model/params/{param}").
//
// Adding an entry: a constant here and a row in schema.c's table, then
// `harness/report/gen_schema.py --dint build/harness/dint` (the schema_generated test fails until
// the generated copies are regenerated).
#ifndef DINT_SCHEMA_H
#define DINT_SCHEMA_H

#include <stdio.h>

#include "h5file.h"
#include "schema_entry.h"

// ---- run file: root ----
#define RUN_ROOT              "/"
#define RUN_AT_SCHEMA_VERSION "/@schema_version"
#define RUN_AT_DINT_VERSION   "/@dint_version"
#define RUN_AT_GIT_COMMIT     "/@git_commit"
#define RUN_AT_CREATED_UTC    "/@created_utc"
#define RUN_AT_INIT_FROM      "/@init_from"
#define RUN_AT_UPDATED_UTC    "/@updated_utc"
#define RUN_AT_HOST           "/@host"
#define RUN_AT_CONFIG         "/@config"
#define RUN_AT_SEED           "/@seed"
#define RUN_AT_VARIANT        "/@variant"
#define RUN_AT_STATUS         "/@status"
#define RUN_AT_THREADS        "/@threads"
#define RUN_AT_RANKS          "/@ranks"
#define RUN_AT_PARAM_COUNT    "/@param_count"
#define RUN_AT_RUN            "/@run" // results files of `dint eval/audit --out` only
#define RUN_AT_DIGEST         "/@" H5FILE_DIGEST_ATTR

// ---- /model, /optim, /rng ----
#define RUN_MODEL                 "/model"
#define RUN_MODEL_PARAMS          "/model/params"
#define RUN_MODEL_PARAM_MATRIX    RUN_MODEL_PARAMS "/{matrix}"
#define RUN_MODEL_PARAM_VECTOR    RUN_MODEL_PARAMS "/{vector}"
#define RUN_OPTIM                 "/optim"
#define RUN_OPTIM_AT_STEP         "/optim@step"
#define RUN_OPTIM_AT_ALGORITHM    "/optim@algorithm"
#define RUN_OPTIM_M               "/optim/m"
#define RUN_OPTIM_M_MATRIX        RUN_OPTIM_M "/{matrix}"
#define RUN_OPTIM_M_VECTOR        RUN_OPTIM_M "/{vector}"
#define RUN_OPTIM_V               "/optim/v"
#define RUN_OPTIM_V_MATRIX        RUN_OPTIM_V "/{matrix}"
#define RUN_OPTIM_V_VECTOR        RUN_OPTIM_V "/{vector}"
#define RUN_RNG                   "/rng"
#define RUN_RNG_DATA              "/rng/data"
#define RUN_RNG_DATA_AT_ALGORITHM "/rng/data@algorithm"
#define RUN_RNG_DATA_AT_MEANING   "/rng/data@meaning"

// ---- /train ----
#define RUN_TRAIN                           "/train"
#define RUN_TRAIN_AT_STEPS_DONE             "/train@steps_done"
#define RUN_TRAIN_AT_STEPS_PLANNED          "/train@steps_planned"
#define RUN_TRAIN_STEP                      "/train/step"
#define RUN_TRAIN_LOSS                      "/train/loss"
#define RUN_TRAIN_ANSWER_LOSS               "/train/answer_loss"
#define RUN_TRAIN_ANSWER_LOSS_MULTI         "/train/answer_loss_multi"
#define RUN_TRAIN_LR                        "/train/lr"
#define RUN_TRAIN_GRAD_NORM                 "/train/grad_norm"
#define RUN_TRAIN_TOKENS                    "/train/tokens"
#define RUN_TRAIN_SECONDS                   "/train/seconds"
#define RUN_TRAIN_LAMBDA                    "/train/lambda"
#define RUN_TRAIN_GAMMA                     "/train/gamma"
#define RUN_TRAIN_LOSS_SPIKE                "/train/loss_spike"
#define RUN_TRAIN_AUDIT_STEP                "/train/audit_step"
#define RUN_TRAIN_ROW_SUM_DEV_MAX           "/train/row_sum_dev_max"
#define RUN_TRAIN_ROW_SUM_DEV_MEAN          "/train/row_sum_dev_mean"
#define RUN_TRAIN_GRAD_NORM_LAYER           "/train/grad_norm_layer"
#define RUN_TRAIN_VAL_STEP                  "/train/val_step"
#define RUN_TRAIN_VAL_LOSS                  "/train/val_loss"
#define RUN_TRAIN_ONSET                     "/train/onset"
#define RUN_TRAIN_ONSET_AT_STEP             "/train/onset@step"
#define RUN_TRAIN_ONSET_AT_CENSORED         "/train/onset@censored"
#define RUN_TRAIN_ONSET_AT_THRESHOLD        "/train/onset@threshold"
#define RUN_TRAIN_ONSET_AT_WINDOW           "/train/onset@window"
#define RUN_TRAIN_ONSET_AT_MIN_VALUES       "/train/onset@min_values"
#define RUN_TRAIN_ONSET_AT_MEANING          "/train/onset@meaning"
#define RUN_TRAIN_ONSET_SMOOTHED            "/train/onset/smoothed"
#define RUN_TRAIN_RECALL_ACCURACY           "/train/recall_accuracy"
#define RUN_TRAIN_RECALL_ONSET              "/train/recall_onset"
#define RUN_TRAIN_RECALL_ONSET_AT_STEP      "/train/recall_onset@step"
#define RUN_TRAIN_RECALL_ONSET_AT_CENSORED  "/train/recall_onset@censored"
#define RUN_TRAIN_RECALL_ONSET_AT_TOKENS    "/train/recall_onset@tokens"
#define RUN_TRAIN_RECALL_ONSET_AT_SECONDS   "/train/recall_onset@seconds"
#define RUN_TRAIN_RECALL_ONSET_AT_THRESHOLD "/train/recall_onset@threshold"
#define RUN_TRAIN_RECALL_ONSET_AT_ACCURACY  "/train/recall_onset@accuracy"
#define RUN_TRAIN_RECALL_ONSET_AT_MEANING   "/train/recall_onset@meaning"

// ---- /data ----
#define RUN_DATA                       "/data"
#define RUN_DATA_AT_TOKENIZER          "/data@tokenizer"
#define RUN_DATA_AT_TOKENIZER_IDENTITY "/data@tokenizer_identity"
#define RUN_DATA_AT_PATH               "/data@path"
#define RUN_DATA_AT_SPEC               "/data@spec"
#define RUN_DATA_AT_SOURCE             "/data@source"
#define RUN_DATA_AT_MIXTURE            "/data@mixture"
#define RUN_DATA_AT_BYTES              "/data@bytes"
#define RUN_DATA_AT_TRAIN_TOKENS       "/data@train_tokens"
#define RUN_DATA_AT_VAL_TOKENS         "/data@val_tokens"
#define RUN_DATA_AT_TEST_TOKENS        "/data@test_tokens"
#define RUN_DATA_AT_NOTE               "/data@note"
#define RUN_DATA_DOCUMENTS             "/data/documents"
#define RUN_DATA_SPLIT                 "/data/split"
#define RUN_DATA_SPLIT_AT_MEANING      "/data/split@meaning"
#define RUN_DATA_DOCUMENT_TOKENS       "/data/document_tokens"

// ---- /eval: the parent of the evaluation tasks' groups (each task's table names its own) ----
#define RUN_EVAL "/eval"

// ---- the summary file of `dint sweep` (DIR/summary.h5) ----
// Per-metric scalars are named "<metric><suffix>" ("val_loss_mean").
#define SWEEP_SUFFIX_MEAN      "_mean"
#define SWEEP_SUFFIX_STD       "_std"
#define SWEEP_SUFFIX_CI_LOW    "_ci_low"
#define SWEEP_SUFFIX_CI_HIGH   "_ci_high"
#define SWEEP_SUFFIX_DIFF_MEAN "_diff_mean"
#define SWEEP_SUFFIX_P_VALUE   "_p_value"

#define SWEEP_ROOT                     "/"
#define SWEEP_AT_BASELINE              "/@baseline"
#define SWEEP_AT_DIGEST                "/@" H5FILE_DIGEST_ATTR
#define SWEEP_AT_PROCESSES             "/@processes"
#define SWEEP_AT_THREADS_PER_PROCESS   "/@threads_per_process"
#define SWEEP_AT_WALL_SECONDS          "/@wall_seconds"
#define SWEEP_AT_TOKENS_TRAINED        "/@tokens_trained"
#define SWEEP_AT_TOKENS_PER_S          "/@tokens_per_s"
#define SWEEP_CELLS                    "/cells"
#define SWEEP_CELLS_AT_METRICS         "/cells@metrics"
#define SWEEP_CELL                     "/cells/{cell}"
#define SWEEP_CELL_AT_VARIANT          SWEEP_CELL "@variant"
#define SWEEP_CELL_AT_GAMMA            SWEEP_CELL "@gamma"
#define SWEEP_CELL_AT_G_MODE           SWEEP_CELL "@g_mode"
#define SWEEP_CELL_AT_HEAD_NORM        SWEEP_CELL "@head_norm"
#define SWEEP_CELL_AT_LAMBDA_INIT      SWEEP_CELL "@lambda_init"
#define SWEEP_CELL_AT_N_SEEDS          SWEEP_CELL "@n_seeds"
#define SWEEP_CELL_MEAN                SWEEP_CELL "/{metric}" SWEEP_SUFFIX_MEAN
#define SWEEP_CELL_STD                 SWEEP_CELL "/{metric}" SWEEP_SUFFIX_STD
#define SWEEP_CELL_CI_LOW              SWEEP_CELL "/{metric}" SWEEP_SUFFIX_CI_LOW
#define SWEEP_CELL_CI_HIGH             SWEEP_CELL "/{metric}" SWEEP_SUFFIX_CI_HIGH
#define SWEEP_CELL_PER_SEED            SWEEP_CELL "/per_seed"
#define SWEEP_CELL_SECONDS             SWEEP_CELL "/seconds"
#define SWEEP_PAIRED                   "/paired"
#define SWEEP_PAIRED_AT_BASELINE       "/paired@baseline"
#define SWEEP_PAIRED_AT_TEST           "/paired@test"
#define SWEEP_PAIRED_CELL              "/paired/{cell}"
#define SWEEP_PAIRED_DIFF_MEAN         SWEEP_PAIRED_CELL "/{metric}" SWEEP_SUFFIX_DIFF_MEAN
#define SWEEP_PAIRED_P_VALUE           SWEEP_PAIRED_CELL "/{metric}" SWEEP_SUFFIX_P_VALUE
#define SWEEP_SURVIVAL                 "/survival"
#define SWEEP_SURVIVAL_AT_EVENT        "/survival@event"
#define SWEEP_SURVIVAL_AT_TIME         "/survival@time"
#define SWEEP_SURVIVAL_AT_TEST         "/survival@test"
#define SWEEP_SURVIVAL_AT_CELLS        "/survival@cells"
#define SWEEP_SURVIVAL_LOGRANK_P       "/survival/logrank_p"
#define SWEEP_SURVIVAL_LOGRANK_CHI2    "/survival/logrank_chi2"
#define SWEEP_SURVIVAL_CELL            "/survival/{cell}"
#define SWEEP_SURVIVAL_CELL_AT_SEEDS   "/survival/{cell}@seeds"
#define SWEEP_SURVIVAL_CELL_AT_REACHED "/survival/{cell}@reached"
#define SWEEP_SURVIVAL_MEDIAN          "/survival/{cell}/median"
#define SWEEP_SURVIVAL_MEDIAN_LO       "/survival/{cell}/median_ci_low"
#define SWEEP_SURVIVAL_MEDIAN_HI       "/survival/{cell}/median_ci_high"
#define SWEEP_SURVIVAL_TIME            "/survival/{cell}/time"
#define SWEEP_SURVIVAL_SURV            "/survival/{cell}/surv"
#define SWEEP_SURVIVAL_SURV_LO         "/survival/{cell}/surv_ci_low"
#define SWEEP_SURVIVAL_SURV_HI         "/survival/{cell}/surv_ci_high"

// The last name of a path: an attribute's name ("/data@tokenizer" -> "tokenizer") or a
// group's or dataset's own name ("/cells/{cell}/per_seed" -> "per_seed").
const char *schema_name(const char *path);

// The tables: the run file's fixed part and the sweep summary.
extern const SchemaEntry SCHEMA_RUN_FIXED[];
extern const int SCHEMA_RUN_FIXED_COUNT;
extern const SchemaEntry SCHEMA_SWEEP_SUMMARY[];
extern const int SCHEMA_SWEEP_SUMMARY_COUNT;

// Entries of one kind of file: "run" (run files) or "sweep_summary"; task: the evaluation task
// whose outputs they are ("needle"), NULL for the harness's tables.
typedef struct {
    const char *file;
    const SchemaEntry *entries;
    int count;
    const char *task;
} SchemaTable;

// The constant that names entry e of table t (at most cap - 1 characters): its own; for a task's
// entry without one, the task's name in upper case, then the path after the task's group (the
// table's first entry) with '/' -> '_', '@' -> "_AT_" and a part in braces left out unless it
// ends the path: "/eval/ppl/{corpus}@window" -> PPL_AT_WINDOW, "/eval/ppl/{corpus}" ->
// PPL_CORPUS.
void schema_constant(const SchemaEntry *e, const SchemaTable *t, char *out, size_t cap);

// {"schema_version": N, "files": {"run": [entry...], "sweep_summary": [...]}}: the entries of
// tables of the same file are listed together, in the order given. Each entry is an object
// with kind ("group", "dataset", "attribute"), path, dtype, dims, meaning and when (null where
// the C field is NULL), constant (schema_constant), file (its table's) and task (null for the
// harness's tables). harness/report/gen_schema.py makes the Python tables and the tables of
// results/README.md from it. Then "variants" (core/variants.c) and extra (NULL, or more members
// of the root object, as JSON text).
void schema_print_json(FILE *out, const SchemaTable *tables, int n, const char *extra);
// The same for people: one line per entry, grouped by file.
void schema_print_text(FILE *out, const SchemaTable *tables, int n);

#endif
