// One interface for every evaluation task (needle, ppl, icl, audit, and any new one).
//
// A task is a descriptor (EvalTask: name, version, table of outputs, and the functions below)
// plus a state that the task's own `*_task_make` builds from options and inputs (model,
// tokenizer, token arrays, a labelled set: the harness loads them). The state holds the grid of
// cells and the numbers scored so far. The one driver (harness/eval/driver.c) does what every
// task shares: it opens the run file, compares the stored `parameters` attribute with the
// task's, reads finished cells back, scores the others one at a time with one progress line and
// ETA, and writes each finished cell's results through an EvalWriter into a copy of the file
// that replaces the original atomically. Tasks do no I/O: they score (numbers in, numbers out),
// format text and describe their results through the writer and reader below, whose HDF5 calls
// are in the harness.
#ifndef DINT_TASKS_EVAL_TASK_H
#define DINT_TASKS_EVAL_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "config.h"
#include "model.h"
#include "tokenizer.h"
#include "schema_entry.h"

// Element types of written datasets: (memory type in the task -> file type)
typedef enum {
    EVAL_F64, // double -> float64
    EVAL_I64, // long -> int64
    EVAL_I32, // int -> int32
    EVAL_U8   // unsigned char -> uint8
} EvalDtype;

// Writes one task's results. Paths are relative to the task's group ("" = the group itself;
// "samples/cell" = dataset cell of the subgroup samples, made with `group` first). Every function
// returns 0, or -1 on failure (the driver then reports one line and keeps the old file).
typedef struct {
    void *ctx;
    int (*group)(void *ctx, const char *path);
    // dims (rank): the dataset's shape; numeric datasets get a checksum
    int (*dataset)(void *ctx, const char *path, EvalDtype type, int rank, const long *dims,
                   const void *data);
    int (*attr_str)(void *ctx, const char *object, const char *name, const char *value);
    int (*attr_i64)(void *ctx, const char *object, const char *name, long value);
    int (*attr_u64)(void *ctx, const char *object, const char *name, uint64_t value);
    int (*attr_f64)(void *ctx, const char *object, const char *name, double value);
    // Dimension `dim` of `dataset` gets the scale `name` (values (n)): a float64 dataset in the
    // dataset's own group ("fp32/lambda" -> "fp32/stream"), made on first use and shared by
    // every dataset of that group that attaches it.
    int (*scale)(void *ctx, const char *dataset, int dim, const char *name, const double *values,
                 int n);
} EvalWriter;

// Reads back a task's stored results (same relative paths). 0, or -1 when absent or of another
// size: the driver then reports the stored group as damaged.
typedef struct {
    void *ctx;
    int (*dataset)(void *ctx, const char *path, EvalDtype type, long numel, void *out);
    long (*length)(void *ctx, const char *path); // first dimension, -1 when absent
    int (*attr_i64)(void *ctx, const char *object, const char *name, long *out);
} EvalReader;

// Timing of the cell just finished, from the driver's one clock.
typedef struct {
    long finished, todo; // cells finished in this run (this one included), cells this run does
    double cell_seconds; // this cell
    double elapsed;      // since the first cell of this run started
    double eta;          // elapsed / finished * (todo - finished)
} EvalProgress;

// A task's options, as a table: `dint eval NAME --flag VALUE` parses them into the task's own
// options struct (a copy of its defaults), prints them in its usage line and --help.
typedef enum {
    EVAL_OPT_STR, // const char *
    EVAL_OPT_INT, // int
    EVAL_OPT_U64, // uint64_t
} EvalOptionKind;

typedef struct {
    const char *flag; // "--samples"
    EvalOptionKind kind;
    size_t offset;       // of the value in the task's options struct (offsetof)
    const char *metavar; // "S": the usage line shows [--samples S]
} EvalOption;

// An output that `dint sweep` compares across seeds and cells, under its own name in the summary
// ("needle_accuracy": columns <name>_mean, ... and a column of per_seed): the task names it here
// with the dataset it reduces, so the sweep writes no task's paths (harness/sweep/metrics.c).
typedef enum {
    EVAL_REDUCE_LAST, // the last entry (NaN when the dataset is empty)
    EVAL_REDUCE_MAX,
    EVAL_REDUCE_MEAN,
    EVAL_REDUCE_SUM, // 0 when the dataset is empty
    EVAL_REDUCE_MIN
} EvalReduce; // NaN entries skipped

typedef struct {
    const char *name;    // in the summary
    const char *dataset; // absolute path in a run file (a dataset, or a scalar attribute)
    EvalReduce reduce;
} EvalMetric;

// Every evaluation accepts these besides its own (--data: the tasks that read the run's corpus).
#define EVAL_COMMON_OPTIONS "--run RUN.h5 [--out FILE]"

typedef struct EvalInputs EvalInputs;
struct IclDataset;

// What the harness hands a task's prepare: the opened run, its corpus when the task reads one,
// and the services of the layers above tasks (loading a labelled set).
struct EvalInputs {
    const RunConfig *cfg;
    Model *model;
    Tokenizer *tok;
    // The run's corpus (or --data), for tasks with reads_corpus: the documents of its test split
    // in corpus order, joined by the end-of-document token.
    const char *corpus_spec;
    const int *test_tokens; // (n_test_tokens)
    long n_test_tokens;
    int n_test_docs;
    const long *test_doc_tokens;       // (n_test_docs) tokens of each, without the EOT
    const char *const *test_doc_names; // (n_test_docs)
    // A labelled set by name or path, split as the training mixture splits it (held-out queries);
    // owned by the harness until the evaluation ends. 0, or -1 with err set.
    int (*load_labelled)(const EvalInputs *in, const char *spec, struct IclDataset *out,
                         Error *err);
    void *harness; // the harness's own context for its services
};

// score_cell's results besides 0 (scored) and -1 (error, err set).
#define EVAL_CELL_STOP 1 // the cell cannot be scored (ICL: the context is full): no more cells

typedef struct EvalTask {
    const char *name;    // "needle": `dint eval needle`
    const char *command; // the subcommand named in error lines: "eval" or "audit"
    int version;         // task version, in the parameters text and the task_version attribute
    const SchemaEntry *outputs; // every group, dataset and attribute the task writes
    int n_outputs;
    // Stored results with other parameters: 0 refused (one line), 1 recomputed and replaced.
    int replaces_other_parameters;
    // 1: the results are written after every finished cell; 0: once, after the last cell.
    int writes_each_cell;
    // 1: a cell's progress line is printed before its results are written (else after).
    int reports_before_write;
    // The command: what `dint eval NAME --help` says it does (one line), its options (a table
    // over an options struct of options_size bytes, starting as a copy of options_default), and
    // whether it reads the run's corpus (then --data is accepted too).
    const char *about;
    const EvalOption *options;
    int n_options;
    size_t options_size;
    const void *options_default;
    int reads_corpus;
    // Checks the parsed options (one error line: what is wrong and what to give instead).
    int (*check_options)(void *opts, Error *err);
    // Builds the state from the options and the opened run: 0, or -1 with err set.
    int (*prepare)(void *opts, const EvalInputs *in, void **state, Error *err);
    void (*release)(void *opts); // NULL, or frees what prepare kept in opts (after the run)
    const EvalMetric *metrics;   // what a sweep summary compares (NULL: nothing)
    int n_metrics;
    const char *damaged_advice; // after "the stored GROUP is damaged; "
    // Printed (one %s: the results file) when no cell is left to do; NULL: nothing.
    const char *all_done_note;

    // The absolute path of the task's group ("/eval/ppl/sotu") and its parameters text: the
    // string that makes results comparable, stored as the group's `parameters` attribute.
    void (*group_path)(const void *st, char *buf, size_t cap);
    void (*parameters)(const void *st, char *buf, size_t cap);
    long (*n_cells)(const void *st);
    // Read finished cells back from stored results with the same parameters.
    int (*read_back)(void *st, const EvalReader *r);
    int (*cell_done)(const void *st, long cell);
    // Score one cell on m (the task draws its own inputs, seeded per cell). `line` (cap) may
    // receive a note for the user (printed by the driver) when the result is EVAL_CELL_STOP.
    int (*score_cell)(void *st, Model *m, long cell, char *line, size_t cap, Error *err);
    // The cell is finished: mark it done and keep its time.
    void (*cell_finished)(void *st, long cell, double seconds);
    // After the last cell, before the final write; NULL: nothing.
    int (*finish)(void *st, Model *m, Error *err);
    // The whole group's contents (the driver has made the group empty).
    int (*write)(const void *st, const EvalWriter *w);
    // The progress line of a finished cell (no newline).
    void (*progress)(const void *st, long cell, const EvalProgress *p, char *line, size_t cap);
    // A closing line after a run that scored cells (no newline); NULL: none.
    void (*summary)(const void *st, char *line, size_t cap);
    void (*free)(void *st);
    // Evaluation split over MPI ranks (NULL: the task runs on one rank). A finished cell's
    // results as doubles (out NULL: just their count), and back into a state with the same
    // parameters, as if the cell had been scored there (cells' records kept in cell order).
    long (*cell_export)(const void *st, long cell, double *out);
    void (*cell_import)(void *st, long cell, const double *in, long n);
    // NULL, or called before scoring on ranks by a task whose cells add into shared sums:
    // score_cell then keeps each cell apart, and only cell_import adds it (rank 0 imports its
    // own cells too, in cell order, so the sums are one process's to the bit).
    void (*defer)(void *st);
} EvalTask;

// Every task, for listings (`dint schema`) and tests. NULL-terminated.
extern const EvalTask *const eval_tasks[];
const EvalTask *eval_task_find(const char *name);

// Comma-separated option lists: "512,1024" and "0,0.25"; the count, or -1 with err set for an
// empty list, a bad number or more than max entries.
int parse_int_list(const char *s, int *out, int max, const char *what, Error *err);
int parse_double_list(const char *s, double *out, int max, const char *what, Error *err);

// Append printf-style text to buf (cap) at *used, never past cap. For parameters texts.
void eval_appendf(char *buf, size_t cap, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
