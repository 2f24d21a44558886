// One entry of the run-file schema: an HDF5 group, dataset or attribute, named once.
// The harness's fixed part (harness/store/schema.c) and each evaluation task's table of outputs
// (tasks/*.c) are arrays of these; `dint schema` prints them all, harness/report/gen_schema.py
// generates the Python tables (harness/report/runschema_tables.py) and the tables of
// results/README.md from that, and tests check that these and real run files agree.
#ifndef DINT_TASKS_SCHEMA_ENTRY_H
#define DINT_TASKS_SCHEMA_ENTRY_H

typedef enum { SCHEMA_GROUP, SCHEMA_DATASET, SCHEMA_ATTRIBUTE } SchemaKind;

typedef struct {
    SchemaKind kind;
    // Absolute path. For an attribute: the object's path, then '@', then the attribute name
    // ("/eval/needle@task_version", "/@seed"). A part in braces is one name per instance:
    // "/eval/ppl/{corpus}/nll_by_position", "/model/params/{param}".
    const char *path;
    const char
        *dtype;       // "float32", "float64", "int64", "uint8", "uint64", "string"; NULL for groups
    const char *dims; // dimension names, comma-separated ("config,context_length,depth"); "" scalar
    const char *meaning; // one line for the reader
    // NULL: in every run file that has the entry's group. Otherwise when it is present, in words
    // ("diff,dint", "gamma = learned", "runs started with --init-from"): tests that compare a
    // real run file with the schema do not require it.
    const char *when;
    // The constant that names the path: the macro of harness/store/schema.h (RUN_AT_DIGEST) for
    // the harness's tables; NULL in a task's table, where `dint schema` derives it from the
    // path (schema_constant in harness/store/schema.h: "/eval/needle/samples@meaning" is
    // NEEDLE_SAMPLES_AT_MEANING). harness/report/runschema.py defines the same names.
    const char *constant;
} SchemaEntry;

// One entry of each kind, written out (when: as SchemaEntry.when).
#define SCHEMA_GROUP_ENTRY(path, meaning, when)                                                    \
    { SCHEMA_GROUP, path, NULL, NULL, meaning, when, NULL }
#define SCHEMA_DATASET_ENTRY(path, dtype, dims, meaning, when)                                     \
    { SCHEMA_DATASET, path, dtype, dims, meaning, when, NULL }
#define SCHEMA_ATTRIBUTE_ENTRY(path, dtype, meaning, when)                                         \
    { SCHEMA_ATTRIBUTE, path, dtype, "", meaning, when, NULL }

// Rows of a task's table of outputs under its group G (a string literal, "/eval/needle"): a
// dataset G/path, an attribute G path ("@seed", "/samples@meaning"), the `meaning` attribute of
// G/path, and a rate: G/name with its Wilson interval datasets name_ci_low, name_ci_high and the
// meaning attribute of each.
#define SCHEMA_TASK_DATASET(G, path, dtype, dims, meaning)                                         \
    { SCHEMA_DATASET, G "/" path, dtype, dims, meaning, NULL, NULL }
#define SCHEMA_TASK_ATTR(G, path, dtype, meaning)                                                  \
    { SCHEMA_ATTRIBUTE, G path, dtype, "", meaning, NULL, NULL }
#define SCHEMA_TASK_MEANING(G, path)                                                               \
    { SCHEMA_ATTRIBUTE, G "/" path "@meaning", "string", "", "what " path " is", NULL, NULL }
#define SCHEMA_TASK_RATE(G, name, dims, meaning)                                                   \
    SCHEMA_TASK_DATASET(G, name, "float64", dims, meaning), SCHEMA_TASK_MEANING(G, name),          \
        SCHEMA_TASK_DATASET(G, name "_ci_low", "float64", dims,                                    \
                            "Wilson 95 % interval of " name ", lower end"),                        \
        SCHEMA_TASK_MEANING(G, name "_ci_low"),                                                    \
        SCHEMA_TASK_DATASET(G, name "_ci_high", "float64", dims,                                   \
                            "Wilson 95 % interval of " name ", upper end"),                        \
        SCHEMA_TASK_MEANING(G, name "_ci_high")

#endif
