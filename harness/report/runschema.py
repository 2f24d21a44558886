#!/usr/bin/env -S /usr/bin/python3
"""The run-file schema for Python: every group, dataset and attribute of a run file (the fixed
part that `dint train` writes and the groups of the evaluation tasks) and of the summary file of
`dint sweep`, named once, plus the helpers the readers need (path builders; the intervals of
harness/report/intervals.py are re-exported).

The constants and the tables of entries come from runschema_tables.py, which
harness/report/gen_schema.py generates from `dint schema --json` (the C tables:
harness/store/schema.c for the fixed part and the sweep summary, each evaluation task's table of
outputs in tasks/); tests/test_schema.py fails when the two differ in any field, when a real run
file holds anything not listed here (or lacks an entry that is always present), or when
results/README.md, the reader's schema (its tables generated the same way), lists other paths.

Naming, as in harness/store/schema.h: a constant is an absolute path (RUN_TRAIN_LOSS =
"/train/loss"); an attribute is its object's path, "@", its name, with _AT_ in the constant
(RUN_DATA_AT_TOKENIZER = "/data@tokenizer"). Evaluation groups are NEEDLE_*, PPL_*, ICL_*,
RECALL_* and AUDIT_*; SWEEP_* name the sweep summary. A part in braces is one name per instance
("/eval/ppl/{corpus}"); fill() and the builders (ppl_group, icl_group, audit_group) make
concrete paths. h5py accepts the absolute paths as they are: f[RUN_TRAIN_LOSS]; name() gives
the last name of a path for attributes and for paths relative to an open group:
g.attrs[name(NEEDLE_AT_PARAMETERS)], g[name(NEEDLE_CORRECT)].

Adding an entry: a row in the C table (schema.h and schema.c, or the task's table in tasks/),
then `/usr/bin/python3 harness/report/gen_schema.py --dint build/harness/dint`.

Importing this module needs nothing beyond the standard library.
"""
import json

from intervals import t_interval, t_quantile, wilson  # noqa: F401  (re-exported for the readers)
from runschema_tables import *  # noqa: F401,F403  (the constants and tables, generated)
from runschema_tables import (AUDIT_PRECISION, FILES, ICL_DATASET, NEEDLE_KEYED, NEEDLE_KEYED_TOTAL,
                              NEEDLE_OTHER_NEEDLE, NEEDLE_POSITIONAL_CORRECT, NEEDLE_QUESTIONS, PPL_CORPUS,
                              SCHEMA_VERSION)


# ---- paths and helpers ----------------------------------------------------------------------

def name(path):
    """The last name of a path: an attribute's name ("/data@tokenizer" -> "tokenizer") or a
    group's or dataset's own name ("/eval/needle/correct" -> "correct")."""
    return path.rsplit("@", 1)[1] if "@" in path else path.rsplit("/", 1)[-1]


def fill(path, **names):
    """A concrete path: fill("/eval/ppl/{corpus}/position", corpus="sotu")."""
    return path.format(**names)


def ci_low(path):
    """The lower end of a rate's Wilson interval ("/eval/needle/accuracy_ci_low")."""
    return path + "_ci_low"


def ci_high(path):
    return path + "_ci_high"


# The count datasets of needle task v3 (files of earlier versions lack them).
NEEDLE_V3_COUNTS = (NEEDLE_KEYED, NEEDLE_KEYED_TOTAL, NEEDLE_OTHER_NEEDLE, NEEDLE_QUESTIONS,
                    NEEDLE_POSITIONAL_CORRECT)
# Order of the scorer dimension when the file has no positional_scorers attribute.
NEEDLE_DEFAULT_SCORERS = "first,last,middle"
AUDIT_PRECISIONS = ("fp32", "bf16", "fp16")


def ppl_group(corpus):
    """"/eval/ppl/sotu" for corpus "sotu"."""
    return fill(PPL_CORPUS, corpus=corpus)


def icl_group(dataset):
    return fill(ICL_DATASET, dataset=dataset)


def audit_group(precision):
    return fill(AUDIT_PRECISION, precision=precision)


# ---- sweep summary: the suffixes of per-metric names (harness/store/schema.h) -------------
SWEEP_SUFFIX_MEAN = "_mean"
SWEEP_SUFFIX_STD = "_std"
SWEEP_SUFFIX_CI_LOW = "_ci_low"
SWEEP_SUFFIX_CI_HIGH = "_ci_high"
SWEEP_SUFFIX_DIFF_MEAN = "_diff_mean"
SWEEP_SUFFIX_P_VALUE = "_p_value"


def as_json():
    """The schema as `dint schema --json` prints it (the fields of Entry)."""
    return {"schema_version": SCHEMA_VERSION,
            "files": {f: [e._asdict() for e in entries] for f, entries in FILES.items()}}


if __name__ == "__main__":
    print(json.dumps(as_json(), indent=1))
