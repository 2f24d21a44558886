#!/usr/bin/env -S /usr/bin/python3
"""The run-file schema for Python: every group, dataset and attribute of a run file (the fixed
part that `dint train` writes and the groups of the evaluation tasks) and of the summary file of
`dint sweep`, named once, plus the helpers the readers need (path builders, the Wilson interval).

This module is the mirror of the tables in C (harness/store/schema.c for the fixed part and the
sweep summary, each evaluation task's table of outputs in tasks/): `dint schema --json` prints
those, and tests/test_schema.py fails when the two differ in any field, when a real run file
holds anything not listed here (or lacks an entry that is always present), or when
results/README.md, the reader's schema, lists other paths.

Naming, as in harness/store/schema.h: a constant is an absolute path (RUN_TRAIN_LOSS =
"/train/loss"); an attribute is its object's path, "@", its name, with _AT_ in the constant
(RUN_DATA_AT_TOKENIZER = "/data@tokenizer"). Evaluation groups are NEEDLE_*, PPL_*, ICL_* and
AUDIT_*; SWEEP_* name the sweep summary. A part in braces is one name per instance
("/eval/ppl/{corpus}"); fill() and the builders (ppl_group, icl_group, audit_group) make
concrete paths. h5py accepts the absolute paths as they are: f[RUN_TRAIN_LOSS]; name() gives
the last name of a path for attributes and for paths relative to an open group:
g.attrs[name(NEEDLE_AT_PARAMETERS)], g[name(NEEDLE_CORRECT)].

Adding an entry: a constant and a row here, the same row in the C table (schema.c or the
task's table in tasks/), and a row in results/README.md.

Importing this module needs nothing beyond the standard library.
"""
import json
import math
from collections import namedtuple

SCHEMA_VERSION = 1

# kind: "group", "dataset" or "attribute"; dtype None for groups; dims None for groups, ""
# for scalars and attributes, else the dimension names, comma-separated; when None for
# entries present in every file that has their parent, else in words.
Entry = namedtuple("Entry", "kind path dtype dims meaning when")
GROUP, DATASET, ATTRIBUTE = "group", "dataset", "attribute"


def _g(path, meaning, when=None):
    return Entry(GROUP, path, None, None, meaning, when)


def _d(path, dtype, dims, meaning, when=None):
    return Entry(DATASET, path, dtype, dims, meaning, when)


def _a(path, dtype, meaning, when=None):
    return Entry(ATTRIBUTE, path, dtype, "", meaning, when)


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


def wilson(k, n, z=1.959963984540054):
    """Wilson score interval (low, high) of k successes out of n at 95 %, the formula of
    wilson_interval in harness/store/eval_io.c; (nan, nan) for n = 0."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _incomplete_beta(a, b, x):
    """Regularized incomplete beta I_x(a, b) by its continued fraction (modified Lentz)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast below the mean
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-16:
            break
    return front * f


def t_quantile(p, df):
    """The p quantile (p > 0.5) of Student's t with df degrees of freedom, by bisection on its
    distribution function (what gsl_cdf_tdist_Pinv gives the sweep summary in C)."""
    def upper_tail(t):  # P(T > t) for t >= 0
        return 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    lo, hi = 0.0, 1.0
    while upper_tail(hi) > 1.0 - p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if upper_tail(mid) > 1.0 - p else (lo, mid)
    return 0.5 * (lo + hi)


def t_interval(xs):
    """(mean, low, high): the 95 % t interval of the mean of xs, as `dint sweep` writes it
    (<metric>_ci_low/_ci_high; sample standard deviation); low = high = mean for one value."""
    n = len(xs)
    m = math.fsum(xs) / n
    if n < 2:
        return (m, m, m)
    sd = math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (n - 1))
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return (m, m - half, m + half)


# ---- run file: the fixed part (harness/store/schema.h) -----------------------------------
RUN_ROOT = "/"
RUN_AT_SCHEMA_VERSION = "/@schema_version"
RUN_AT_DINT_VERSION = "/@dint_version"
RUN_AT_GIT_COMMIT = "/@git_commit"
RUN_AT_CREATED_UTC = "/@created_utc"
RUN_AT_INIT_FROM = "/@init_from"
RUN_AT_UPDATED_UTC = "/@updated_utc"
RUN_AT_HOST = "/@host"
RUN_AT_CONFIG = "/@config"
RUN_AT_SEED = "/@seed"
RUN_AT_VARIANT = "/@variant"
RUN_AT_STATUS = "/@status"
RUN_AT_THREADS = "/@threads"
RUN_AT_RANKS = "/@ranks"
RUN_AT_PARAM_COUNT = "/@param_count"
RUN_AT_RUN = "/@run"
RUN_AT_DIGEST = "/@digest"
RUN_MODEL = "/model"
RUN_MODEL_PARAMS = "/model/params"
RUN_MODEL_PARAM_MATRIX = RUN_MODEL_PARAMS + "/{matrix}"
RUN_MODEL_PARAM_VECTOR = RUN_MODEL_PARAMS + "/{vector}"
RUN_OPTIM = "/optim"
RUN_OPTIM_AT_STEP = "/optim@step"
RUN_OPTIM_AT_ALGORITHM = "/optim@algorithm"
RUN_OPTIM_M = "/optim/m"
RUN_OPTIM_M_MATRIX = RUN_OPTIM_M + "/{matrix}"
RUN_OPTIM_M_VECTOR = RUN_OPTIM_M + "/{vector}"
RUN_OPTIM_V = "/optim/v"
RUN_OPTIM_V_MATRIX = RUN_OPTIM_V + "/{matrix}"
RUN_OPTIM_V_VECTOR = RUN_OPTIM_V + "/{vector}"
RUN_RNG = "/rng"
RUN_RNG_DATA = "/rng/data"
RUN_RNG_DATA_AT_ALGORITHM = "/rng/data@algorithm"
RUN_RNG_DATA_AT_MEANING = "/rng/data@meaning"
RUN_TRAIN = "/train"
RUN_TRAIN_AT_STEPS_DONE = "/train@steps_done"
RUN_TRAIN_AT_STEPS_PLANNED = "/train@steps_planned"
RUN_TRAIN_STEP = "/train/step"
RUN_TRAIN_LOSS = "/train/loss"
RUN_TRAIN_ANSWER_LOSS = "/train/answer_loss"
RUN_TRAIN_ANSWER_LOSS_MULTI = "/train/answer_loss_multi"
RUN_TRAIN_LR = "/train/lr"
RUN_TRAIN_GRAD_NORM = "/train/grad_norm"
RUN_TRAIN_TOKENS = "/train/tokens"
RUN_TRAIN_SECONDS = "/train/seconds"
RUN_TRAIN_LAMBDA = "/train/lambda"
RUN_TRAIN_GAMMA = "/train/gamma"
RUN_TRAIN_LOSS_SPIKE = "/train/loss_spike"
RUN_TRAIN_AUDIT_STEP = "/train/audit_step"
RUN_TRAIN_ROW_SUM_DEV_MAX = "/train/row_sum_dev_max"
RUN_TRAIN_ROW_SUM_DEV_MEAN = "/train/row_sum_dev_mean"
RUN_TRAIN_GRAD_NORM_LAYER = "/train/grad_norm_layer"
RUN_TRAIN_VAL_STEP = "/train/val_step"
RUN_TRAIN_VAL_LOSS = "/train/val_loss"
RUN_TRAIN_ONSET = "/train/onset"
RUN_TRAIN_ONSET_AT_STEP = "/train/onset@step"
RUN_TRAIN_ONSET_AT_CENSORED = "/train/onset@censored"
RUN_TRAIN_ONSET_AT_THRESHOLD = "/train/onset@threshold"
RUN_TRAIN_ONSET_AT_WINDOW = "/train/onset@window"
RUN_TRAIN_ONSET_AT_MIN_VALUES = "/train/onset@min_values"
RUN_TRAIN_ONSET_AT_MEANING = "/train/onset@meaning"
RUN_TRAIN_ONSET_SMOOTHED = "/train/onset/smoothed"
RUN_TRAIN_RECALL_ACCURACY = "/train/recall_accuracy"
RUN_TRAIN_RECALL_ONSET = "/train/recall_onset"
RUN_TRAIN_RECALL_ONSET_AT_STEP = "/train/recall_onset@step"
RUN_TRAIN_RECALL_ONSET_AT_CENSORED = "/train/recall_onset@censored"
RUN_TRAIN_RECALL_ONSET_AT_TOKENS = "/train/recall_onset@tokens"
RUN_TRAIN_RECALL_ONSET_AT_SECONDS = "/train/recall_onset@seconds"
RUN_TRAIN_RECALL_ONSET_AT_THRESHOLD = "/train/recall_onset@threshold"
RUN_TRAIN_RECALL_ONSET_AT_ACCURACY = "/train/recall_onset@accuracy"
RUN_TRAIN_RECALL_ONSET_AT_MEANING = "/train/recall_onset@meaning"
RUN_DATA = "/data"
RUN_DATA_AT_TOKENIZER = "/data@tokenizer"
RUN_DATA_AT_TOKENIZER_IDENTITY = "/data@tokenizer_identity"
RUN_DATA_AT_PATH = "/data@path"
RUN_DATA_AT_SPEC = "/data@spec"
RUN_DATA_AT_SOURCE = "/data@source"
RUN_DATA_AT_MIXTURE = "/data@mixture"
RUN_DATA_AT_BYTES = "/data@bytes"
RUN_DATA_AT_TRAIN_TOKENS = "/data@train_tokens"
RUN_DATA_AT_VAL_TOKENS = "/data@val_tokens"
RUN_DATA_AT_TEST_TOKENS = "/data@test_tokens"
RUN_DATA_AT_NOTE = "/data@note"
RUN_DATA_DOCUMENTS = "/data/documents"
RUN_DATA_SPLIT = "/data/split"
RUN_DATA_SPLIT_AT_MEANING = "/data/split@meaning"
RUN_DATA_DOCUMENT_TOKENS = "/data/document_tokens"
RUN_EVAL = "/eval"

# ---- /eval/needle (dint eval needle) --------------------------------------------------------
RECALL = RUN_EVAL + "/recall"
RECALL_AT_PARAMETERS = RECALL + "@parameters"
RECALL_AT_TASK_VERSION = RECALL + "@task_version"
RECALL_AT_SEED = RECALL + "@seed"
RECALL_AT_SAMPLES_PER_CELL = RECALL + "@samples_per_cell"
RECALL_AT_QUERIES = RECALL + "@queries"
RECALL_AT_KEY_LEN = RECALL + "@key_len"
RECALL_AT_NOISE = RECALL + "@noise"
RECALL_AT_DISTRACTORS = RECALL + "@distractors"
RECALL_AT_SYMBOLS = RECALL + "@symbols"
RECALL_AT_SCORING = RECALL + "@scoring"
RECALL_AT_LAYOUT = RECALL + "@layout"
RECALL_AT_POSITIONAL_SCORERS = RECALL + "@positional_scorers"
RECALL_ACCURACY = RECALL + "/accuracy"
RECALL_ACCURACY_AT_MEANING = RECALL + "/accuracy@meaning"
RECALL_ACCURACY_CI_LOW = RECALL + "/accuracy_ci_low"
RECALL_ACCURACY_CI_LOW_AT_MEANING = RECALL + "/accuracy_ci_low@meaning"
RECALL_ACCURACY_CI_HIGH = RECALL + "/accuracy_ci_high"
RECALL_ACCURACY_CI_HIGH_AT_MEANING = RECALL + "/accuracy_ci_high@meaning"
RECALL_OTHER_VALUE_RATE = RECALL + "/other_value_rate"
RECALL_OTHER_VALUE_RATE_AT_MEANING = RECALL + "/other_value_rate@meaning"
RECALL_OTHER_VALUE_RATE_CI_LOW = RECALL + "/other_value_rate_ci_low"
RECALL_OTHER_VALUE_RATE_CI_LOW_AT_MEANING = RECALL + "/other_value_rate_ci_low@meaning"
RECALL_OTHER_VALUE_RATE_CI_HIGH = RECALL + "/other_value_rate_ci_high"
RECALL_OTHER_VALUE_RATE_CI_HIGH_AT_MEANING = RECALL + "/other_value_rate_ci_high@meaning"
RECALL_KEYED_RATE = RECALL + "/keyed_rate"
RECALL_KEYED_RATE_AT_MEANING = RECALL + "/keyed_rate@meaning"
RECALL_KEYED_RATE_CI_LOW = RECALL + "/keyed_rate_ci_low"
RECALL_KEYED_RATE_CI_LOW_AT_MEANING = RECALL + "/keyed_rate_ci_low@meaning"
RECALL_KEYED_RATE_CI_HIGH = RECALL + "/keyed_rate_ci_high"
RECALL_KEYED_RATE_CI_HIGH_AT_MEANING = RECALL + "/keyed_rate_ci_high@meaning"
RECALL_POSITIONAL_ACCURACY = RECALL + "/positional_accuracy"
RECALL_POSITIONAL_ACCURACY_AT_MEANING = RECALL + "/positional_accuracy@meaning"
RECALL_POSITIONAL_ACCURACY_CI_LOW = RECALL + "/positional_accuracy_ci_low"
RECALL_POSITIONAL_ACCURACY_CI_LOW_AT_MEANING = RECALL + "/positional_accuracy_ci_low@meaning"
RECALL_POSITIONAL_ACCURACY_CI_HIGH = RECALL + "/positional_accuracy_ci_high"
RECALL_POSITIONAL_ACCURACY_CI_HIGH_AT_MEANING = RECALL + "/positional_accuracy_ci_high@meaning"
RECALL_POSITIONAL_KEYED_RATE = RECALL + "/positional_keyed_rate"
RECALL_POSITIONAL_KEYED_RATE_AT_MEANING = RECALL + "/positional_keyed_rate@meaning"
RECALL_POSITIONAL_KEYED_RATE_CI_LOW = RECALL + "/positional_keyed_rate_ci_low"
RECALL_POSITIONAL_KEYED_RATE_CI_LOW_AT_MEANING = RECALL + "/positional_keyed_rate_ci_low@meaning"
RECALL_POSITIONAL_KEYED_RATE_CI_HIGH = RECALL + "/positional_keyed_rate_ci_high"
RECALL_POSITIONAL_KEYED_RATE_CI_HIGH_AT_MEANING = RECALL + "/positional_keyed_rate_ci_high@meaning"
RECALL_LOGLIK_SUM = RECALL + "/loglik_sum"
RECALL_SECONDS = RECALL + "/seconds"
RECALL_CONTEXT_LENGTH = RECALL + "/context_length"
RECALL_PAIRS = RECALL + "/pairs"
RECALL_SCORER = RECALL + "/scorer"
RECALL_DONE = RECALL + "/done"
RECALL_CORRECT = RECALL + "/correct"
RECALL_TOTAL = RECALL + "/total"
RECALL_OTHER_VALUE = RECALL + "/other_value"
RECALL_KEYED = RECALL + "/keyed"
RECALL_KEYED_TOTAL = RECALL + "/keyed_total"
RECALL_POSITIONAL_CORRECT = RECALL + "/positional_correct"
RECALL_POSITIONAL_KEYED = RECALL + "/positional_keyed"
RECALL_SAMPLES = RECALL + "/samples"
RECALL_SAMPLES_AT_MEANING = RECALL + "/samples@meaning"
RECALL_SAMPLES_CELL = RECALL + "/samples/cell"
RECALL_SAMPLES_SAMPLE = RECALL + "/samples/sample"
RECALL_SAMPLES_QUERY = RECALL + "/samples/query"
RECALL_SAMPLES_ASKED_PAIR = RECALL + "/samples/asked_pair"
RECALL_SAMPLES_PAIR_POSITION = RECALL + "/samples/pair_position"
RECALL_SAMPLES_CORRECT = RECALL + "/samples/correct"
RECALL_SAMPLES_PREDICTED = RECALL + "/samples/predicted"
RECALL_SAMPLES_ANSWERED_PAIR = RECALL + "/samples/answered_pair"
RECALL_SAMPLES_LOGLIK = RECALL + "/samples/loglik"
NEEDLE = RUN_EVAL + "/needle"
NEEDLE_AT_PARAMETERS = NEEDLE + "@parameters"
NEEDLE_AT_TASK_VERSION = NEEDLE + "@task_version"
NEEDLE_AT_SEED = NEEDLE + "@seed"
NEEDLE_AT_SAMPLES_PER_CELL = NEEDLE + "@samples_per_cell"
NEEDLE_AT_HAYSTACK = NEEDLE + "@haystack"
NEEDLE_AT_SCORING = NEEDLE + "@scoring"
NEEDLE_AT_LAYOUT = NEEDLE + "@layout"
NEEDLE_AT_POSITIONAL_SCORERS = NEEDLE + "@positional_scorers"
NEEDLE_N_NEEDLES = NEEDLE + "/n_needles"
NEEDLE_N_QUERIED = NEEDLE + "/n_queried"
NEEDLE_CONTEXT_LENGTH = NEEDLE + "/context_length"
NEEDLE_DEPTH = NEEDLE + "/depth"
NEEDLE_LAYER = NEEDLE + "/layer"
NEEDLE_SCORER = NEEDLE + "/scorer"
NEEDLE_ACCURACY = NEEDLE + "/accuracy"
NEEDLE_OTHER_NEEDLE_RATE = NEEDLE + "/other_needle_rate"
NEEDLE_KEYED_RATE = NEEDLE + "/keyed_rate"
NEEDLE_POSITIONAL_ACCURACY = NEEDLE + "/positional_accuracy"
NEEDLE_POSITIONAL_KEYED_RATE = NEEDLE + "/positional_keyed_rate"
NEEDLE_LOGLIK_SUM = NEEDLE + "/loglik_sum"
NEEDLE_SECONDS = NEEDLE + "/seconds"
NEEDLE_ATTENTION_MASS_NEEDLE = NEEDLE + "/attention_mass_needle"
NEEDLE_ATTENTION_MASS_REST = NEEDLE + "/attention_mass_rest"
NEEDLE_DONE = NEEDLE + "/done"
NEEDLE_CORRECT = NEEDLE + "/correct"
NEEDLE_TOTAL = NEEDLE + "/total"
NEEDLE_QUESTIONS = NEEDLE + "/questions"
NEEDLE_OTHER_NEEDLE = NEEDLE + "/other_needle"
NEEDLE_KEYED = NEEDLE + "/keyed"
NEEDLE_KEYED_TOTAL = NEEDLE + "/keyed_total"
NEEDLE_POSITIONAL_CORRECT = NEEDLE + "/positional_correct"
NEEDLE_POSITIONAL_KEYED = NEEDLE + "/positional_keyed"
NEEDLE_SAMPLES = NEEDLE + "/samples"
NEEDLE_SAMPLES_AT_MEANING = NEEDLE_SAMPLES + "@meaning"
NEEDLE_SAMPLES_CELL = NEEDLE_SAMPLES + "/cell"
NEEDLE_SAMPLES_SAMPLE = NEEDLE_SAMPLES + "/sample"
NEEDLE_SAMPLES_QUERY = NEEDLE_SAMPLES + "/query"
NEEDLE_SAMPLES_NEEDLE_POSITION = NEEDLE_SAMPLES + "/needle_position"
NEEDLE_SAMPLES_CORRECT = NEEDLE_SAMPLES + "/correct"
NEEDLE_SAMPLES_ASKED_NEEDLE = NEEDLE_SAMPLES + "/asked_needle"
NEEDLE_SAMPLES_ANSWERED_NEEDLE = NEEDLE_SAMPLES + "/answered_needle"
NEEDLE_SAMPLES_CONTROL = NEEDLE_SAMPLES + "/control"
NEEDLE_SAMPLES_NUMBER = NEEDLE_SAMPLES + "/number"
NEEDLE_SAMPLES_LOGLIK = NEEDLE_SAMPLES + "/loglik"
# The count datasets of needle task v3 (files of earlier versions lack them).
NEEDLE_V3_COUNTS = (NEEDLE_KEYED, NEEDLE_KEYED_TOTAL, NEEDLE_OTHER_NEEDLE, NEEDLE_QUESTIONS,
                    NEEDLE_POSITIONAL_CORRECT)
# Order of the scorer dimension when the file has no positional_scorers attribute.
NEEDLE_DEFAULT_SCORERS = "first,last,middle"

# ---- /eval/ppl/<corpus> (dint eval ppl) -----------------------------------------------------
PPL = RUN_EVAL + "/ppl"
PPL_CORPUS = PPL + "/{corpus}"
PPL_AT_PARAMETERS = PPL_CORPUS + "@parameters"
PPL_AT_TASK_VERSION = PPL_CORPUS + "@task_version"
PPL_AT_WINDOW = PPL_CORPUS + "@window"
PPL_AT_STRIDE = PPL_CORPUS + "@stride"
PPL_AT_WINDOWS = PPL_CORPUS + "@windows"
PPL_AT_NGRAM = PPL_CORPUS + "@ngram"
PPL_AT_TRAIN_SEQ_LEN = PPL_CORPUS + "@train_seq_len"
PPL_AT_TOKENS = PPL_CORPUS + "@tokens"
PPL_AT_BYTES = PPL_CORPUS + "@bytes"
PPL_AT_DOCUMENTS_DONE = PPL_CORPUS + "@documents_done"
PPL_AT_DOCUMENTS = PPL_CORPUS + "@documents"
PPL_AT_SPLIT = PPL_CORPUS + "@split"
PPL_AT_NLL = PPL_CORPUS + "@nll"
PPL_AT_PERPLEXITY = PPL_CORPUS + "@perplexity"
PPL_AT_BITS_PER_BYTE = PPL_CORPUS + "@bits_per_byte"
PPL_AT_NLL_AR_HIT = PPL_CORPUS + "@nll_ar_hit"
PPL_AT_NLL_OTHER = PPL_CORPUS + "@nll_other"
PPL_AT_TOKENS_AR_HIT = PPL_CORPUS + "@tokens_ar_hit"
PPL_AT_TOKENS_OTHER = PPL_CORPUS + "@tokens_other"
PPL_POSITION = PPL_CORPUS + "/position"
PPL_NLL_BY_POSITION = PPL_CORPUS + "/nll_by_position"
PPL_CUMULATIVE_NLL = PPL_CORPUS + "/cumulative_nll"
PPL_DOCUMENTS_AT_POSITION = PPL_CORPUS + "/documents_at_position"
PPL_ACCUMULATORS = PPL_CORPUS + "/accumulators"
PPL_ACCUMULATORS_NLL_SUM = PPL_ACCUMULATORS + "/nll_sum"
PPL_ACCUMULATORS_NLL_TOTALS = PPL_ACCUMULATORS + "/nll_totals"
PPL_ACCUMULATORS_COUNTS = PPL_ACCUMULATORS + "/counts"

# ---- /eval/icl/<dataset> (dint eval icl) ----------------------------------------------------
ICL = RUN_EVAL + "/icl"
ICL_DATASET = ICL + "/{dataset}"
ICL_AT_PARAMETERS = ICL_DATASET + "@parameters"
ICL_AT_TASK_VERSION = ICL_DATASET + "@task_version"
ICL_AT_EPISODES = ICL_DATASET + "@episodes"
ICL_AT_ORDERS = ICL_DATASET + "@orders"
ICL_AT_FORMAT = ICL_DATASET + "@format"
ICL_SHOTS = ICL_DATASET + "/shots"
ICL_DONE = ICL_DATASET + "/done"
ICL_SECONDS = ICL_DATASET + "/seconds"
# Random order, then the same with class-alternating order (ICL_ALTERNATING_*).
ICL_ACCURACY = ICL_DATASET + "/accuracy"
ICL_ACCURACY_NORM = ICL_DATASET + "/accuracy_norm"
ICL_BEST_MINUS_WORST = ICL_DATASET + "/best_minus_worst"
ICL_ORDER_STD = ICL_DATASET + "/order_std"
ICL_ORDER_ACCURACY = ICL_DATASET + "/order_accuracy"
ICL_ALTERNATING_ACCURACY = ICL_DATASET + "/alternating_accuracy"
ICL_ALTERNATING_ACCURACY_NORM = ICL_DATASET + "/alternating_accuracy_norm"
ICL_ALTERNATING_BEST_MINUS_WORST = ICL_DATASET + "/alternating_best_minus_worst"
ICL_ALTERNATING_ORDER_STD = ICL_DATASET + "/alternating_order_std"
ICL_ALTERNATING_ORDER_ACCURACY = ICL_DATASET + "/alternating_order_accuracy"
ICL_BEST_MINUS_WORST_AT_MEANING = ICL_BEST_MINUS_WORST + "@meaning"

# ---- /audit (dint audit) --------------------------------------------------------------------
AUDIT = "/audit"
AUDIT_AT_PARAMETERS = AUDIT + "@parameters"
AUDIT_AT_TASK_VERSION = AUDIT + "@task_version"
AUDIT_AT_TOKENS = AUDIT + "@tokens"
AUDIT_AT_INPUTS = AUDIT + "@inputs"
AUDIT_PRECISIONS = ("fp32", "bf16", "fp16")
AUDIT_PRECISION = AUDIT + "/{precision}"
AUDIT_PRECISION_AT_MEANING = AUDIT_PRECISION + "@meaning"
AUDIT_AT_LOGIT_OVERFLOW = AUDIT_PRECISION + "@logit_overflow"
AUDIT_AT_LOGIT_OVERFLOW_MARGIN = AUDIT_PRECISION + "@logit_overflow_margin"
AUDIT_LAYER = AUDIT_PRECISION + "/layer"
AUDIT_HEAD = AUDIT_PRECISION + "/head"
AUDIT_STREAM = AUDIT_PRECISION + "/stream"
AUDIT_ROW_SUM_MEAN = AUDIT_PRECISION + "/row_sum_mean"
AUDIT_ROW_SUM_MIN = AUDIT_PRECISION + "/row_sum_min"
AUDIT_ROW_SUM_MAX = AUDIT_PRECISION + "/row_sum_max"
AUDIT_ROW_SUM_STD = AUDIT_PRECISION + "/row_sum_std"
AUDIT_ROW_SUM_DEV_MAX = AUDIT_PRECISION + "/row_sum_dev_max"
AUDIT_ROW_SUM_DEV_MEAN = AUDIT_PRECISION + "/row_sum_dev_mean"
AUDIT_NEGATIVE_FRACTION = AUDIT_PRECISION + "/negative_fraction"
AUDIT_NEGATIVE_MASS = AUDIT_PRECISION + "/negative_mass"
AUDIT_ENTROPY_A1 = AUDIT_PRECISION + "/entropy_a1"
AUDIT_ENTROPY_A2 = AUDIT_PRECISION + "/entropy_a2"
AUDIT_ENTROPY_FINAL = AUDIT_PRECISION + "/entropy_final"
AUDIT_LOGIT_TOP1 = AUDIT_PRECISION + "/logit_top1"
AUDIT_LOGIT_TOP10 = AUDIT_PRECISION + "/logit_top10"
AUDIT_LOGIT_TOP100 = AUDIT_PRECISION + "/logit_top100"
AUDIT_LOGIT_MEDIAN = AUDIT_PRECISION + "/logit_median"
AUDIT_NAN_COUNT = AUDIT_PRECISION + "/nan_count"
AUDIT_INF_COUNT = AUDIT_PRECISION + "/inf_count"
AUDIT_ROW_SUM_DEV_HIST = AUDIT_PRECISION + "/row_sum_dev_hist"
AUDIT_BIN_EDGES = AUDIT_PRECISION + "/bin_edges"
AUDIT_HIDDEN_TOP1 = AUDIT_PRECISION + "/hidden_top1"
AUDIT_HIDDEN_TOP10 = AUDIT_PRECISION + "/hidden_top10"
AUDIT_HIDDEN_MEDIAN = AUDIT_PRECISION + "/hidden_median"
AUDIT_HIDDEN_KURTOSIS = AUDIT_PRECISION + "/hidden_kurtosis"
AUDIT_HIDDEN_OVERFLOW = AUDIT_PRECISION + "/hidden_overflow"
AUDIT_LAMBDA = AUDIT_PRECISION + "/lambda"
AUDIT_GAMMA = AUDIT_PRECISION + "/gamma"
AUDIT_EXPECTED_ROW_SUM = AUDIT_PRECISION + "/expected_row_sum"
AUDIT_LEAKAGE = AUDIT + "/leakage"
AUDIT_LEAKAGE_AT_CAUSAL = AUDIT_LEAKAGE + "@causal"
AUDIT_LEAKAGE_AT_POSITION = AUDIT_LEAKAGE + "@position"
AUDIT_LEAKAGE_AT_FIRST_CHANGED = AUDIT_LEAKAGE + "@first_changed"
AUDIT_LEAKAGE_AT_PROBE_HAD_EFFECT = AUDIT_LEAKAGE + "@probe_had_effect"
AUDIT_LEAKAGE_AT_MAX_ABS_DIFF_BEFORE = AUDIT_LEAKAGE + "@max_abs_diff_before"
AUDIT_LEAKAGE_AT_MEANING = AUDIT_LEAKAGE + "@meaning"


def ppl_group(corpus):
    """"/eval/ppl/sotu" for corpus "sotu"."""
    return fill(PPL_CORPUS, corpus=corpus)


def icl_group(dataset):
    return fill(ICL_DATASET, dataset=dataset)


def audit_group(precision):
    return fill(AUDIT_PRECISION, precision=precision)


# ---- sweep summary (DIR/summary.h5 of dint sweep) ----------------------------------------
SWEEP_SUFFIX_MEAN = "_mean"
SWEEP_SUFFIX_STD = "_std"
SWEEP_SUFFIX_CI_LOW = "_ci_low"
SWEEP_SUFFIX_CI_HIGH = "_ci_high"
SWEEP_SUFFIX_DIFF_MEAN = "_diff_mean"
SWEEP_SUFFIX_P_VALUE = "_p_value"
SWEEP_ROOT = "/"
SWEEP_AT_BASELINE = "/@baseline"
SWEEP_AT_DIGEST = "/@digest"
SWEEP_AT_PROCESSES = "/@processes"
SWEEP_AT_THREADS_PER_PROCESS = "/@threads_per_process"
SWEEP_AT_WALL_SECONDS = "/@wall_seconds"
SWEEP_AT_TOKENS_TRAINED = "/@tokens_trained"
SWEEP_AT_TOKENS_PER_S = "/@tokens_per_s"
SWEEP_CELLS = "/cells"
SWEEP_CELLS_AT_METRICS = "/cells@metrics"
SWEEP_CELL = "/cells/{cell}"
SWEEP_CELL_AT_VARIANT = SWEEP_CELL + "@variant"
SWEEP_CELL_AT_GAMMA = SWEEP_CELL + "@gamma"
SWEEP_CELL_AT_G_MODE = SWEEP_CELL + "@g_mode"
SWEEP_CELL_AT_HEAD_NORM = SWEEP_CELL + "@head_norm"
SWEEP_CELL_AT_LAMBDA_INIT = SWEEP_CELL + "@lambda_init"
SWEEP_CELL_AT_N_SEEDS = SWEEP_CELL + "@n_seeds"
SWEEP_CELL_MEAN = SWEEP_CELL + "/{metric}" + SWEEP_SUFFIX_MEAN
SWEEP_CELL_STD = SWEEP_CELL + "/{metric}" + SWEEP_SUFFIX_STD
SWEEP_CELL_CI_LOW = SWEEP_CELL + "/{metric}" + SWEEP_SUFFIX_CI_LOW
SWEEP_CELL_CI_HIGH = SWEEP_CELL + "/{metric}" + SWEEP_SUFFIX_CI_HIGH
SWEEP_CELL_PER_SEED = SWEEP_CELL + "/per_seed"
SWEEP_PAIRED = "/paired"
SWEEP_PAIRED_AT_BASELINE = "/paired@baseline"
SWEEP_PAIRED_AT_TEST = "/paired@test"
SWEEP_PAIRED_CELL = "/paired/{cell}"
SWEEP_PAIRED_DIFF_MEAN = SWEEP_PAIRED_CELL + "/{metric}" + SWEEP_SUFFIX_DIFF_MEAN
SWEEP_PAIRED_P_VALUE = SWEEP_PAIRED_CELL + "/{metric}" + SWEEP_SUFFIX_P_VALUE
SWEEP_SURVIVAL = "/survival"
SWEEP_SURVIVAL_AT_EVENT = "/survival@event"
SWEEP_SURVIVAL_AT_TIME = "/survival@time"
SWEEP_SURVIVAL_AT_TEST = "/survival@test"
SWEEP_SURVIVAL_AT_CELLS = "/survival@cells"
SWEEP_SURVIVAL_LOGRANK_P = "/survival/logrank_p"
SWEEP_SURVIVAL_LOGRANK_CHI2 = "/survival/logrank_chi2"
SWEEP_SURVIVAL_CELL = "/survival/{cell}"
SWEEP_SURVIVAL_CELL_AT_SEEDS = "/survival/{cell}@seeds"
SWEEP_SURVIVAL_CELL_AT_REACHED = "/survival/{cell}@reached"
SWEEP_SURVIVAL_MEDIAN = "/survival/{cell}/median"
SWEEP_SURVIVAL_MEDIAN_LO = "/survival/{cell}/median_ci_low"
SWEEP_SURVIVAL_MEDIAN_HI = "/survival/{cell}/median_ci_high"
SWEEP_SURVIVAL_TIME = "/survival/{cell}/time"
SWEEP_SURVIVAL_SURV = "/survival/{cell}/surv"
SWEEP_SURVIVAL_SURV_LO = "/survival/{cell}/surv_ci_low"
SWEEP_SURVIVAL_SURV_HI = "/survival/{cell}/surv_ci_high"
# The {metric} names, in the order of /cells@metrics and the columns of per_seed (harness/sweep/metrics.c).
SWEEP_METRICS = ("val_loss", "row_sum_dev_max", "negative_mass", "loss_spikes", "needle_accuracy",
                 "retrieval_onset", "onset_censored", "recall_onset_tokens", "recall_censored",
                 "recall_heldout_accuracy", "recall_accuracy", "recall_keyed_rate")


# Field by field the same as SCHEMA_RUN_FIXED in harness/store/schema.c.
RUN_FIXED = (
    _g(RUN_ROOT, 'one run: its config, weights, optimizer and RNG state, curves and data split'),
    _a(RUN_AT_SCHEMA_VERSION, 'int64', 'run-file schema version (1)'),
    _a(RUN_AT_DINT_VERSION, 'string', 'the dint version that wrote the file'),
    _a(RUN_AT_GIT_COMMIT, 'string', 'the commit of the build that wrote the file (-dirty when built from uncommitted changes)'),
    _a(RUN_AT_CREATED_UTC, 'string', 'when the run started (UTC, ISO 8601)'),
    _a(RUN_AT_UPDATED_UTC, 'string', 'when the file was last written (UTC, ISO 8601)'),
    _a(RUN_AT_HOST, 'string', 'the host name of the machine that wrote the file'),
    _a(RUN_AT_INIT_FROM, 'string', 'the run file whose weights this run started from, the step its training had reached and its creation time', 'runs started with --init-from'),
    _a(RUN_AT_CONFIG, 'string', 'the resolved config as JSON (every key of README Config keys, plus model.vocab_size and seed)'),
    _a(RUN_AT_SEED, 'uint64', 'the run seed; parameter init and batch sampling use two 32-bit MT19937 seeds derived from it (splitmix64, streams 0 and 1)'),
    _a(RUN_AT_VARIANT, 'string', 'transformer, diff or dint'),
    _a(RUN_AT_STATUS, 'string', 'running (checkpoint of a run in progress), stopped (--stop-at), complete or imported'),
    _a(RUN_AT_THREADS, 'int64', 'OpenMP threads of the last training command'),
    _a(RUN_AT_RANKS, 'int64', 'MPI ranks of the last training command (data parallel)', 'runs last trained on more than one rank (absent: one process)'),
    _a(RUN_AT_PARAM_COUNT, 'int64', 'number of model parameters'),
    _a(RUN_AT_RUN, 'string', 'the run file whose model was evaluated', 'results files written with --out (not run files)'),
    _a(RUN_AT_DIGEST, 'string',
       'CRC-32 (zlib) of every group name, dataset and attribute in name order, itself excluded: '
       '"crc32:" and 8 hex digits; verified on every read',
       'files written since digests (a notice names older files)'),
    _g(RUN_MODEL, 'the model'),
    _g(RUN_MODEL_PARAMS, "weights, named like the PyTorch reference's state dict"),
    _d(RUN_MODEL_PARAM_MATRIX, 'float32', 'out,in',
       'a weight matrix: tok_embeddings.weight, layers.<l>.attn.{q,k,v,out}_proj.weight, layers.<l>.ffn.{gate,up,down}_proj.weight, lm_head.weight (absent when embeddings are tied)'),
    _d(RUN_MODEL_PARAM_VECTOR, 'float32', 'n',
       'a weight vector: layers.<l>.attn_norm.weight, layers.<l>.ffn_norm.weight, norm.weight, layers.<l>.attn.lambda_{q1,k1,q2,k2} (diff, dint), layers.<l>.attn.gamma_{q1,k1,q2,k2} (dint, gamma = learned), layers.<l>.attn.subln.weight (head-norm gain)'),
    _g(RUN_OPTIM, 'AdamW state'),
    _a(RUN_OPTIM_AT_STEP, 'int64', 'optimizer steps taken'),
    _a(RUN_OPTIM_AT_ALGORITHM, 'string', 'AdamW (decoupled weight decay on matrices)'),
    _g(RUN_OPTIM_M, 'AdamW first moments, one per parameter'),
    _d(RUN_OPTIM_M_MATRIX, 'float32', 'out,in',
       'first moment of a weight matrix'),
    _d(RUN_OPTIM_M_VECTOR, 'float32', 'n',
       'first moment of a weight vector'),
    _g(RUN_OPTIM_V, 'AdamW second moments, one per parameter'),
    _d(RUN_OPTIM_V_MATRIX, 'float32', 'out,in',
       'second moment of a weight matrix'),
    _d(RUN_OPTIM_V_VECTOR, 'float32', 'n',
       'second moment of a weight vector'),
    _g(RUN_RNG, 'random generator state'),
    _d(RUN_RNG_DATA, 'uint8', 'state_bytes',
       'state of the batch-sampling generator after the last step'),
    _a(RUN_RNG_DATA_AT_ALGORITHM, 'string', 'the generator (mt19937)'),
    _a(RUN_RNG_DATA_AT_MEANING, 'string', 'what the dataset holds, in words'),
    _g(RUN_TRAIN, 'training curves, one entry per optimizer step unless said otherwise'),
    _a(RUN_TRAIN_AT_STEPS_DONE, 'int64', 'optimizer steps done'),
    _a(RUN_TRAIN_AT_STEPS_PLANNED, 'int64', 'train.steps of the config'),
    _d(RUN_TRAIN_STEP, 'int64', 'step',
       'optimizer step, 1-based'),
    _d(RUN_TRAIN_LOSS, 'float64', 'step',
       "mean training NLL of the step's batch over its scored targets (nats per token; needle rows score what data.task_loss says)"),
    _d(RUN_TRAIN_ANSWER_LOSS, 'float64', 'step',
       "mean NLL of the step's needle answer tokens (a space and 7 digits per answer; chance about 2.0 nats); NaN in steps without needle rows"),
    _d(RUN_TRAIN_ANSWER_LOSS_MULTI, 'float64', 'step',
       'the same over the answers of needle episodes with two or more needles (a copier of some needle pays about ln(N) / 8 nats per answer token there); NaN in steps without such answers'),
    _d(RUN_TRAIN_LR, 'float64', 'step',
       'learning rate used'),
    _d(RUN_TRAIN_GRAD_NORM, 'float64', 'step',
       'global gradient norm before clipping'),
    _d(RUN_TRAIN_TOKENS, 'int64', 'step',
       'cumulative training tokens'),
    _d(RUN_TRAIN_SECONDS, 'float64', 'step',
       'cumulative wall-clock seconds (the only field that differs between two runs of one config and seed)'),
    _d(RUN_TRAIN_LAMBDA, 'float32', 'step,layer',
       'lambda of each layer at each step', 'diff, dint'),
    _d(RUN_TRAIN_GAMMA, 'float32', 'step,layer',
       'gamma of each layer at each step (equals lambda when gamma = tied)', 'dint'),
    _d(RUN_TRAIN_LOSS_SPIKE, 'uint8', 'step',
       "1 where the step's loss exceeded both train.spike_factor x the median of the previous train.spike_window losses and that median + train.spike_sigmas x their robust standard deviation"),
    _d(RUN_TRAIN_AUDIT_STEP, 'int64', 'audit',
       'the steps of the diagnostics below, every train.audit_every steps'),
    _d(RUN_TRAIN_ROW_SUM_DEV_MAX, 'float64', 'audit,layer',
       "max |row sum - expected| over sampled rows (batch item 0, every 8th row from the last) of the step's last micro-batch"),
    _d(RUN_TRAIN_ROW_SUM_DEV_MEAN, 'float64', 'audit,layer',
       'mean |row sum - expected| over the same rows'),
    _d(RUN_TRAIN_GRAD_NORM_LAYER, 'float64', 'audit,layer',
       "each layer's gradient norm before clipping"),
    _d(RUN_TRAIN_VAL_STEP, 'int64', 'val',
       'steps of the validation loss: 0, every train.eval_every steps and the last'),
    _d(RUN_TRAIN_VAL_LOSS, 'float64', 'val',
       'validation NLL over train.eval_batches fixed windows spread evenly over the validation documents'),
    _g(RUN_TRAIN_ONSET, 'the retrieval onset: the first step at which the trailing mean of answer_loss_multi is at or below the threshold (harness/train/onset.h), recomputed from the history at every write'),
    _a(RUN_TRAIN_ONSET_AT_STEP, 'int64', 'the onset step; when censored, the last step trained (0 without steps)'),
    _a(RUN_TRAIN_ONSET_AT_CENSORED, 'int64', '1 when the threshold was never reached, else 0'),
    _a(RUN_TRAIN_ONSET_AT_THRESHOLD, 'float64', 'the threshold in nats per answer token (ONSET_THRESHOLD: below half of ln(2) / 8, the loss of a model that copies some needle of the context but not the asked one)'),
    _a(RUN_TRAIN_ONSET_AT_WINDOW, 'int64', 'the steps of the trailing mean (ONSET_WINDOW)'),
    _a(RUN_TRAIN_ONSET_AT_MIN_VALUES, 'int64', 'the finite values a window needs to count (half the window, rounded up)'),
    _a(RUN_TRAIN_ONSET_AT_MEANING, 'string', 'the definition in words'),
    _d(RUN_TRAIN_ONSET_SMOOTHED, 'float64', 'step',
       'the trailing mean of answer_loss_multi at each step (NaN before a full window or with too few values)'),
    _d(RUN_TRAIN_RECALL_ACCURACY, 'float64', 'val', 'held-out recall accuracy at each evaluation step (/train/val_step): the share of the queries of recall.contexts fixed held-out contexts answered right by greedy decoding; NaN where not measured', 'runs whose mixture has a recall part'),
    _g(RUN_TRAIN_RECALL_ONSET, 'the recall onset: the first evaluation at which recall_accuracy is >= recall.threshold (harness/train/onset.h), recomputed from the curve at every write', 'runs whose mixture has a recall part'),
    _a(RUN_TRAIN_RECALL_ONSET_AT_STEP, 'int64', 'the onset step; when censored, the last evaluation step', 'runs whose mixture has a recall part'),
    _a(RUN_TRAIN_RECALL_ONSET_AT_CENSORED, 'int64', '1 when the threshold was never reached, else 0', 'runs whose mixture has a recall part'),
    _a(RUN_TRAIN_RECALL_ONSET_AT_TOKENS, 'int64', 'training tokens seen by that step', 'runs whose mixture has a recall part'),
    _a(RUN_TRAIN_RECALL_ONSET_AT_SECONDS, 'float64', 'training seconds by that step', 'runs whose mixture has a recall part'),
    _a(RUN_TRAIN_RECALL_ONSET_AT_THRESHOLD, 'float64', 'the accuracy that counts as recall (recall.threshold)', 'runs whose mixture has a recall part'),
    _a(RUN_TRAIN_RECALL_ONSET_AT_ACCURACY, 'float64', 'the held-out accuracy at that step', 'runs whose mixture has a recall part'),
    _a(RUN_TRAIN_RECALL_ONSET_AT_MEANING, 'string', 'the definition in words', 'runs whose mixture has a recall part'),
    _g(RUN_DATA, 'the corpus the run was trained on and its split'),
    _a(RUN_DATA_AT_TOKENIZER, 'string', 'data.tokenizer: byte or gpt2'),
    _a(RUN_DATA_AT_TOKENIZER_IDENTITY, 'string', "the tokenizer's identity (its files and their checksums; empty for byte)"),
    _a(RUN_DATA_AT_PATH, 'string', 'the corpus folder or file read (empty for imported weights)'),
    _a(RUN_DATA_AT_SPEC, 'string', '--data as given (a corpus name, a path or a mixture)', 'runs trained on a corpus (not imported weights)'),
    _a(RUN_DATA_AT_SOURCE, 'string', 'package@version of a named corpus, or empty', 'runs trained on a corpus (not imported weights)'),
    _a(RUN_DATA_AT_MIXTURE, 'string', 'the training mixture with normalised weights', 'runs trained on a corpus (not imported weights)'),
    _a(RUN_DATA_AT_BYTES, 'int64', 'bytes of text in the corpus', 'runs trained on a corpus (not imported weights)'),
    _a(RUN_DATA_AT_TRAIN_TOKENS, 'int64', 'tokens of the training split', 'runs trained on a corpus (not imported weights)'),
    _a(RUN_DATA_AT_VAL_TOKENS, 'int64', 'tokens of the validation split', 'runs trained on a corpus (not imported weights)'),
    _a(RUN_DATA_AT_TEST_TOKENS, 'int64', 'tokens of the test split', 'runs trained on a corpus (not imported weights)'),
    _a(RUN_DATA_AT_NOTE, 'string', 'where imported weights came from', 'imported weights'),
    _d(RUN_DATA_DOCUMENTS, 'string', 'document',
       'the document names', 'runs trained on a corpus (not imported weights)'),
    _d(RUN_DATA_SPLIT, 'uint8', 'document',
       "each document's split: 0 train, 1 validation, 2 test (a seeded shuffle by data.split_seed; data.val_fraction and data.test_fraction of the documents, at least one each)", 'runs trained on a corpus (not imported weights)'),
    _a(RUN_DATA_SPLIT_AT_MEANING, 'string', 'the split codes in words', 'runs trained on a corpus (not imported weights)'),
    _d(RUN_DATA_DOCUMENT_TOKENS, 'int64', 'document',
       'tokens of each document', 'runs trained on a corpus (not imported weights)'),
    _g(RUN_EVAL, 'evaluation results, one group per task (needle, ppl, icl)', 'after dint eval'),
)

_CELL = "config,context_length,depth"


def _meaning(path):
    return _a(path + "@meaning", "string", "what %s is" % name(path))


def _rate(path, dims, meaning):
    """A rate per entry with its meaning and its Wilson 95 % interval (RATE in needle_eval.c)."""
    n = name(path)
    return (_d(path, "float64", dims, meaning), _meaning(path),
            _d(ci_low(path), "float64", dims, "Wilson 95 %% interval of %s, lower end" % n),
            _meaning(ci_low(path)),
            _d(ci_high(path), "float64", dims, "Wilson 95 %% interval of %s, upper end" % n),
            _meaning(ci_high(path)))


RECALL_OUTPUTS = (  # the mirror of the task's table of outputs in tasks/recall_eval.c
    _g(RECALL, "synthetic keyed-recall grid", "after dint eval recall"),
    _a(RECALL_AT_PARAMETERS, "string", "the options that make results comparable"),
    _a(RECALL_AT_TASK_VERSION, "int64", "version of the recall task"),
    _a(RECALL_AT_SEED, "uint64", "seed of the cells' random streams"),
    _a(RECALL_AT_SAMPLES_PER_CELL, "int64", "contexts per cell"),
    _a(RECALL_AT_QUERIES, "int64", "queries per context (0: as many as fill half the context)"),
    _a(RECALL_AT_KEY_LEN, "int64", "tokens per key"),
    _a(RECALL_AT_NOISE, "int64", "1: random filler between pairs; 0: a pad token"),
    _a(RECALL_AT_DISTRACTORS, "int64", "pairs per context whose key differs from a queried key in one token"),
    _a(RECALL_AT_SYMBOLS, "int64", "tokens in each of the key and value sets"),
    _a(RECALL_AT_SCORING, "string", "how answers are scored"),
    _a(RECALL_AT_LAYOUT, "string", "how a context is laid out"),
    _a(RECALL_AT_POSITIONAL_SCORERS, "string", "names of the position-only scorers, by index"),
    _d(RECALL_ACCURACY, "float64", "context_length,pairs", "share of queries answered with their key's value"),
    _a(RECALL_ACCURACY_AT_MEANING, "string", "what accuracy is"),
    _d(RECALL_ACCURACY_CI_LOW, "float64", "context_length,pairs", "Wilson 95 % interval of accuracy, lower end"),
    _a(RECALL_ACCURACY_CI_LOW_AT_MEANING, "string", "what accuracy_ci_low is"),
    _d(RECALL_ACCURACY_CI_HIGH, "float64", "context_length,pairs", "Wilson 95 % interval of accuracy, upper end"),
    _a(RECALL_ACCURACY_CI_HIGH_AT_MEANING, "string", "what accuracy_ci_high is"),
    _d(RECALL_OTHER_VALUE_RATE, "float64", "context_length,pairs", "share of queries answered with another pair's value"),
    _a(RECALL_OTHER_VALUE_RATE_AT_MEANING, "string", "what other_value_rate is"),
    _d(RECALL_OTHER_VALUE_RATE_CI_LOW, "float64", "context_length,pairs", "Wilson 95 % interval of other_value_rate, lower end"),
    _a(RECALL_OTHER_VALUE_RATE_CI_LOW_AT_MEANING, "string", "what other_value_rate_ci_low is"),
    _d(RECALL_OTHER_VALUE_RATE_CI_HIGH, "float64", "context_length,pairs", "Wilson 95 % interval of other_value_rate, upper end"),
    _a(RECALL_OTHER_VALUE_RATE_CI_HIGH_AT_MEANING, "string", "what other_value_rate_ci_high is"),
    _d(RECALL_KEYED_RATE, "float64", "context_length,pairs", "share of contexts whose key-swap pair is answered right"),
    _a(RECALL_KEYED_RATE_AT_MEANING, "string", "what keyed_rate is"),
    _d(RECALL_KEYED_RATE_CI_LOW, "float64", "context_length,pairs", "Wilson 95 % interval of keyed_rate, lower end"),
    _a(RECALL_KEYED_RATE_CI_LOW_AT_MEANING, "string", "what keyed_rate_ci_low is"),
    _d(RECALL_KEYED_RATE_CI_HIGH, "float64", "context_length,pairs", "Wilson 95 % interval of keyed_rate, upper end"),
    _a(RECALL_KEYED_RATE_CI_HIGH_AT_MEANING, "string", "what keyed_rate_ci_high is"),
    _d(RECALL_POSITIONAL_ACCURACY, "float64", "context_length,pairs,scorer", "accuracy of the position-only scorers"),
    _a(RECALL_POSITIONAL_ACCURACY_AT_MEANING, "string", "what positional_accuracy is"),
    _d(RECALL_POSITIONAL_ACCURACY_CI_LOW, "float64", "context_length,pairs,scorer", "Wilson 95 % interval of positional_accuracy, lower end"),
    _a(RECALL_POSITIONAL_ACCURACY_CI_LOW_AT_MEANING, "string", "what positional_accuracy_ci_low is"),
    _d(RECALL_POSITIONAL_ACCURACY_CI_HIGH, "float64", "context_length,pairs,scorer", "Wilson 95 % interval of positional_accuracy, upper end"),
    _a(RECALL_POSITIONAL_ACCURACY_CI_HIGH_AT_MEANING, "string", "what positional_accuracy_ci_high is"),
    _d(RECALL_POSITIONAL_KEYED_RATE, "float64", "context_length,pairs,scorer", "keyed_rate of the position-only scorers"),
    _a(RECALL_POSITIONAL_KEYED_RATE_AT_MEANING, "string", "what positional_keyed_rate is"),
    _d(RECALL_POSITIONAL_KEYED_RATE_CI_LOW, "float64", "context_length,pairs,scorer", "Wilson 95 % interval of positional_keyed_rate, lower end"),
    _a(RECALL_POSITIONAL_KEYED_RATE_CI_LOW_AT_MEANING, "string", "what positional_keyed_rate_ci_low is"),
    _d(RECALL_POSITIONAL_KEYED_RATE_CI_HIGH, "float64", "context_length,pairs,scorer", "Wilson 95 % interval of positional_keyed_rate, upper end"),
    _a(RECALL_POSITIONAL_KEYED_RATE_CI_HIGH_AT_MEANING, "string", "what positional_keyed_rate_ci_high is"),
    _d(RECALL_LOGLIK_SUM, "float64", "context_length,pairs", "summed log-probability of the right values (nats)"),
    _d(RECALL_SECONDS, "float64", "context_length,pairs", "seconds the cell took"),
    _d(RECALL_CONTEXT_LENGTH, "float64", "context_length", "dimension scale: context lengths (tokens)"),
    _d(RECALL_PAIRS, "float64", "pairs", "dimension scale: key-value pairs per context"),
    _d(RECALL_SCORER, "float64", "scorer", "dimension scale: positional scorer (first, last, middle, order, unanswered)"),
    _d(RECALL_DONE, "uint8", "context_length,pairs", "1 where the cell is finished"),
    _d(RECALL_CORRECT, "int64", "context_length,pairs", "queries answered right"),
    _d(RECALL_TOTAL, "int64", "context_length,pairs", "queries asked"),
    _d(RECALL_OTHER_VALUE, "int64", "context_length,pairs", "queries answered with another pair's value"),
    _d(RECALL_KEYED, "int64", "context_length,pairs", "contexts whose key-swap pair is answered right"),
    _d(RECALL_KEYED_TOTAL, "int64", "context_length,pairs", "contexts whose first two queries ask different keys"),
    _d(RECALL_POSITIONAL_CORRECT, "int64", "context_length,pairs,scorer", "queries the positional scorer gets"),
    _d(RECALL_POSITIONAL_KEYED, "int64", "context_length,pairs,scorer", "key-swap pairs the positional scorer gets"),
    _g(RECALL_SAMPLES, "one row per query"),
    _a(RECALL_SAMPLES_AT_MEANING, "string", "what each column of the rows is"),
    _d(RECALL_SAMPLES_CELL, "int32", "query", "the query's cell (row-major index)"),
    _d(RECALL_SAMPLES_SAMPLE, "int32", "query", "the context's index in its cell"),
    _d(RECALL_SAMPLES_QUERY, "int32", "query", "the query's index in its context"),
    _d(RECALL_SAMPLES_ASKED_PAIR, "int32", "query", "the asked pair's index in context order"),
    _d(RECALL_SAMPLES_PAIR_POSITION, "int32", "query", "token index of the asked pair's key"),
    _d(RECALL_SAMPLES_CORRECT, "int32", "query", "1 when answered right"),
    _d(RECALL_SAMPLES_PREDICTED, "int32", "query", "the greedy token"),
    _d(RECALL_SAMPLES_ANSWERED_PAIR, "int32", "query", "the pair whose value that is, -1 none"),
    _d(RECALL_SAMPLES_LOGLIK, "float64", "query", "log-probability of the right value (nats)"),
)


NEEDLE_OUTPUTS = (  # the mirror of the task's table of outputs in tasks/needle_eval.c
    _g(NEEDLE, "multi-needle retrieval grid", "after dint eval needle"),
    _a(NEEDLE_AT_PARAMETERS, "string", "the options that make results comparable"),
    _a(NEEDLE_AT_TASK_VERSION, "int64", "version of the needle task"),
    _a(NEEDLE_AT_SEED, "uint64", "seed of the cells' random streams"),
    _a(NEEDLE_AT_SAMPLES_PER_CELL, "int64", "samples per cell"),
    _a(NEEDLE_AT_HAYSTACK, "string", "where the haystack text comes from"),
    _a(NEEDLE_AT_SCORING, "string", "how answers are scored"),
    _a(NEEDLE_AT_LAYOUT, "string", "where the needles are placed"),
    _a(NEEDLE_AT_POSITIONAL_SCORERS, "string", "names of the position-only scorers, by index"),
    *_rate(NEEDLE_ACCURACY, _CELL, "exact-match rate of queried needles per cell; NaN where not evaluated"),
    *_rate(NEEDLE_OTHER_NEEDLE_RATE, _CELL, "share of all questions answered with another needle's number"),
    *_rate(NEEDLE_KEYED_RATE, _CELL, "share of samples with N >= 2 whose key-swap pair is answered right"),
    *_rate(NEEDLE_POSITIONAL_ACCURACY, _CELL + ",scorer", "accuracy of the position-only scorers"),
    *_rate(NEEDLE_POSITIONAL_KEYED_RATE, _CELL + ",scorer", "keyed_rate of the position-only scorers"),
    _d(NEEDLE_LOGLIK_SUM, "float64", _CELL, "summed log-likelihood of the right numbers (nats)"),
    _d(NEEDLE_SECONDS, "float64", _CELL, "seconds the cell took"),
    _d(NEEDLE_ATTENTION_MASS_NEEDLE, "float64", _CELL + ",layer", "mean final-map weight on the answer needle's tokens from the answer position, per layer"),
    _meaning(NEEDLE_ATTENTION_MASS_NEEDLE),
    _d(NEEDLE_ATTENTION_MASS_REST, "float64", _CELL + ",layer", "the same weight on every other token"),
    _d(NEEDLE_N_NEEDLES, "float64", "config", "dimension scale: N of each configuration"),
    _d(NEEDLE_N_QUERIED, "float64", "config", "dimension scale: R of each configuration"),
    _d(NEEDLE_CONTEXT_LENGTH, "float64", "context_length", "dimension scale: context lengths (tokens)"),
    _d(NEEDLE_DEPTH, "float64", "depth", "dimension scale: depths of the first asked needle"),
    _d(NEEDLE_SCORER, "float64", "scorer", "dimension scale: positional scorer (first, last, middle)"),
    _d(NEEDLE_LAYER, "float64", "layer", "dimension scale: layer index"),
    _d(NEEDLE_DONE, "uint8", _CELL, "1 where the cell is finished"),
    _d(NEEDLE_CORRECT, "int64", _CELL, "queried needles answered exactly"),
    _d(NEEDLE_TOTAL, "int64", _CELL, "queried needles asked"),
    _d(NEEDLE_QUESTIONS, "int64", _CELL, "every question asked, key-swap controls included"),
    _d(NEEDLE_OTHER_NEEDLE, "int64", _CELL, "questions answered with another needle's number"),
    _d(NEEDLE_KEYED, "int64", _CELL, "samples whose key-swap pair is answered right"),
    _d(NEEDLE_KEYED_TOTAL, "int64", _CELL, "samples with N >= 2"),
    _d(NEEDLE_POSITIONAL_CORRECT, "int64", _CELL + ",scorer", "queried needles the positional scorer gets"),
    _d(NEEDLE_POSITIONAL_KEYED, "int64", _CELL + ",scorer", "key-swap pairs the positional scorer gets"),
    _g(NEEDLE_SAMPLES, "one row per question"),
    _a(NEEDLE_SAMPLES_AT_MEANING, "string", "what each column of the rows is"),
    _d(NEEDLE_SAMPLES_CELL, "int32", "question", "the question's cell (row-major index)"),
    _d(NEEDLE_SAMPLES_SAMPLE, "int32", "question", "the sample's index in its cell"),
    _d(NEEDLE_SAMPLES_QUERY, "int32", "question", "the question's index in its sample"),
    _d(NEEDLE_SAMPLES_NEEDLE_POSITION, "int32", "question", "token index of the asked needle"),
    _d(NEEDLE_SAMPLES_CORRECT, "int32", "question", "1 when answered exactly"),
    _d(NEEDLE_SAMPLES_ASKED_NEEDLE, "int32", "question", "the needle asked about"),
    _d(NEEDLE_SAMPLES_ANSWERED_NEEDLE, "int32", "question", "the needle greedy decoding emits, -1 none"),
    _d(NEEDLE_SAMPLES_CONTROL, "int32", "question", "1 for the key-swap control question"),
    _d(NEEDLE_SAMPLES_NUMBER, "int64", "question", "the right 7-digit number"),
    _d(NEEDLE_SAMPLES_LOGLIK, "float64", "question", "log-likelihood of the right number (nats)"),
)

PPL_OUTPUTS = (  # the mirror of the task's table of outputs in tasks/ppl_eval.c
    _g(PPL, "long-context perplexity, one group per corpus", "after dint eval ppl"),
    _g(PPL_CORPUS, "perplexity on the corpus's test documents (label: file name, '.' -> '_')"),
    _a(PPL_AT_PARAMETERS, "string", "the options that make results comparable"),
    _a(PPL_AT_TASK_VERSION, "int64", "version of the ppl task"),
    _a(PPL_AT_WINDOW, "int64", "tokens per window (predictions per window)"),
    _a(PPL_AT_STRIDE, "int64", "window stride"),
    _a(PPL_AT_WINDOWS, "string", "disjoint or strided windows"),
    _a(PPL_AT_NGRAM, "int64", "n of the AR-hit split"),
    _a(PPL_AT_TRAIN_SEQ_LEN, "int64", "the run's training length"),
    _a(PPL_AT_TOKENS, "int64", "scored tokens"),
    _a(PPL_AT_BYTES, "int64", "UTF-8 bytes of the scored tokens"),
    _a(PPL_AT_DOCUMENTS_DONE, "int64", "documents finished"),
    _a(PPL_AT_DOCUMENTS, "int64", "documents to score"),
    _a(PPL_AT_SPLIT, "string", "the split the documents come from"),
    _a(PPL_AT_NLL, "float64", "mean NLL per scored token (nats)"),
    _a(PPL_AT_PERPLEXITY, "float64", "exp of the mean NLL"),
    _a(PPL_AT_BITS_PER_BYTE, "float64", "NLL in bits per UTF-8 byte"),
    _a(PPL_AT_NLL_AR_HIT, "float64", "mean NLL of AR-hit tokens"),
    _a(PPL_AT_NLL_OTHER, "float64", "mean NLL of the other tokens"),
    _a(PPL_AT_TOKENS_AR_HIT, "int64", "AR-hit tokens"),
    _a(PPL_AT_TOKENS_OTHER, "int64", "other tokens"),
    _d(PPL_NLL_BY_POSITION, "float64", "position", "mean NLL at each position of the first window"),
    _a(PPL_NLL_BY_POSITION + "@meaning", "string", "what nll_by_position is"),
    _d(PPL_CUMULATIVE_NLL, "float64", "position", "running mean of nll_by_position"),
    _a(PPL_CUMULATIVE_NLL + "@meaning", "string", "what cumulative_nll is"),
    _d(PPL_DOCUMENTS_AT_POSITION, "int64", "position", "documents reaching each position"),
    _d(PPL_POSITION, "float64", "position", "dimension scale: position 1 .. window"),
    _g(PPL_ACCUMULATORS, "raw sums an interrupted evaluation continues from"),
    _d(PPL_ACCUMULATORS_NLL_SUM, "float64", "position", "summed NLL at each position"),
    _d(PPL_ACCUMULATORS_NLL_TOTALS, "float64", "total", "NLL sums: all, AR hit, other"),
    _d(PPL_ACCUMULATORS_COUNTS, "int64", "count", "tokens, AR-hit tokens, other, bytes, windows"),
)

ICL_OUTPUTS = (  # the mirror of the task's table of outputs in tasks/icl_eval.c
    _g(ICL, "in-context learning, one group per dataset", "after dint eval icl"),
    _g(ICL_DATASET, "accuracy by shot count (label: dataset name, '.' -> '_')"),
    _a(ICL_AT_PARAMETERS, "string", "the options that make results comparable"),
    _a(ICL_AT_TASK_VERSION, "int64", "version of the icl task"),
    _a(ICL_AT_EPISODES, "int64", "queries per shot count"),
    _a(ICL_AT_ORDERS, "int64", "orderings of the same demonstrations per query"),
    _a(ICL_AT_FORMAT, "string", "the prompt format and the prediction rule"),
    _d(ICL_ACCURACY, "float64", "shots", "accuracy, random order"),
    _d(ICL_ACCURACY_NORM, "float64", "shots", "accuracy of the length-normalised likelihood, random order"),
    _d(ci_low(ICL_ACCURACY), "float64", "shots", "Wilson 95 % interval of accuracy, lower end, random order"),
    _d(ci_high(ICL_ACCURACY), "float64", "shots", "Wilson 95 % interval of accuracy, upper end, random order"),
    _d(ICL_BEST_MINUS_WORST, "float64", "shots", "best minus worst ordering's accuracy, random order"),
    _d(ICL_ORDER_STD, "float64", "shots", "standard deviation over orderings, random order"),
    _d(ICL_ORDER_ACCURACY, "float64", "shots,order", "accuracy of each ordering, random order"),
    _d(ICL_ALTERNATING_ACCURACY, "float64", "shots", "accuracy, class-alternating order"),
    _d(ICL_ALTERNATING_ACCURACY_NORM, "float64", "shots", "accuracy of the length-normalised likelihood, class-alternating order"),
    _d(ci_low(ICL_ALTERNATING_ACCURACY), "float64", "shots", "Wilson 95 % interval of accuracy, lower end, class-alternating order"),
    _d(ci_high(ICL_ALTERNATING_ACCURACY), "float64", "shots", "Wilson 95 % interval of accuracy, upper end, class-alternating order"),
    _d(ICL_ALTERNATING_BEST_MINUS_WORST, "float64", "shots", "best minus worst ordering's accuracy, class-alternating order"),
    _d(ICL_ALTERNATING_ORDER_STD, "float64", "shots", "standard deviation over orderings, class-alternating order"),
    _d(ICL_ALTERNATING_ORDER_ACCURACY, "float64", "shots,order", "accuracy of each ordering, class-alternating order"),
    _a(ICL_BEST_MINUS_WORST_AT_MEANING, "string", "what best_minus_worst is"),
    _d(ICL_SHOTS, "float64", "shots", "dimension scale: demonstrations per prompt"),
    _d(ICL_DONE, "uint8", "shots", "1 where the shot count is finished"),
    _d(ICL_SECONDS, "float64", "shots", "seconds the shot count took"),
)

_HEAD = "layer,head"
AUDIT_OUTPUTS = (  # the mirror of the task's table of outputs in tasks/audit_eval.c
    _g(AUDIT, "attention and activation audit", "after dint audit"),
    _a(AUDIT_AT_PARAMETERS, "string", "the options that make results comparable"),
    _a(AUDIT_AT_TASK_VERSION, "int64", "version of the audit task"),
    _a(AUDIT_AT_TOKENS, "int64", "tokens audited (samples x seq)"),
    _a(AUDIT_AT_INPUTS, "string", "where the audited windows come from"),
    _g(AUDIT_PRECISION, "one precision (fp32, bf16, fp16): maps and activations rounded to it", "precisions asked"),
    _a(AUDIT_AT_LOGIT_OVERFLOW_MARGIN, "float64", "max |logit| over the format's largest value"),
    _a(AUDIT_AT_LOGIT_OVERFLOW, "float64", "logits that would round to +-inf"),
    _a(AUDIT_PRECISION_AT_MEANING, "string", "what the datasets are over"),
    _d(AUDIT_ROW_SUM_MEAN, "float64", "layer,head", "mean row sum of the final map"),
    _d(AUDIT_ROW_SUM_MIN, "float64", "layer,head", "smallest row sum"),
    _d(AUDIT_ROW_SUM_MAX, "float64", "layer,head", "largest row sum"),
    _d(AUDIT_ROW_SUM_STD, "float64", "layer,head", "population standard deviation of the row sums"),
    _d(AUDIT_ROW_SUM_DEV_MAX, "float64", "layer,head", "largest |row sum - expected|"),
    _d(AUDIT_ROW_SUM_DEV_MEAN, "float64", "layer,head", "mean (row sum - expected)"),
    _d(AUDIT_NEGATIVE_FRACTION, "float64", "layer,head", "share of negative entries of the final map"),
    _d(AUDIT_NEGATIVE_MASS, "float64", "layer,head", "mean over rows of the sum of negative entries"),
    _d(AUDIT_ENTROPY_A1, "float64", "layer,head", "mean entropy of A1's rows"),
    _d(AUDIT_ENTROPY_A2, "float64", "layer,head", "mean entropy of A2's rows (NaN for the Transformer)"),
    _d(AUDIT_ENTROPY_FINAL, "float64", "layer,head", "mean entropy of the final map's |rows|"),
    _d(AUDIT_LOGIT_TOP1, "float64", "layer,head", "largest |attention logit|"),
    _d(AUDIT_LOGIT_TOP10, "float64", "layer,head", "10th largest |attention logit|"),
    _d(AUDIT_LOGIT_TOP100, "float64", "layer,head", "100th largest |attention logit|"),
    _d(AUDIT_LOGIT_MEDIAN, "float64", "layer,head", "median |attention logit|"),
    _d(AUDIT_NAN_COUNT, "float64", "layer,head", "NaN entries of maps and logits"),
    _d(AUDIT_INF_COUNT, "float64", "layer,head", "infinite entries of maps and logits"),
    _d(AUDIT_ROW_SUM_DEV_HIST, "int64", "layer,head,bin", "histogram of row sum - expected"),
    _d(AUDIT_BIN_EDGES, "float64", "edge", "edges of the histogram's bins"),
    _d(AUDIT_HIDDEN_TOP1, "float64", "stream", "largest |x| of the residual stream"),
    _d(AUDIT_HIDDEN_TOP10, "float64", "stream", "10th largest |x|"),
    _d(AUDIT_HIDDEN_MEDIAN, "float64", "stream", "median |x|"),
    _d(AUDIT_HIDDEN_KURTOSIS, "float64", "stream", "kurtosis of x"),
    _d(AUDIT_LAMBDA, "float64", "stream", "lambda of the layer (0 for the final stream)"),
    _d(AUDIT_GAMMA, "float64", "stream", "gamma of the layer (0 for the final stream)"),
    _d(AUDIT_EXPECTED_ROW_SUM, "float64", "stream", "expected row sum of the layer's final map"),
    _d(AUDIT_HIDDEN_OVERFLOW, "float64", "stream", "entries of x that would round to +-inf"),
    _d(AUDIT_LAYER, "float64", "layer", "dimension scale: layer index"),
    _d(AUDIT_HEAD, "float64", "head", "dimension scale: head index"),
    _d(AUDIT_STREAM, "float64", "stream", "dimension scale: stream index (n_layer = after the last layer)"),
    _g(AUDIT_LEAKAGE, "the leakage probe"),
    _a(AUDIT_LEAKAGE_AT_CAUSAL, "int64", "1 when every logit before the changed token stayed"),
    _a(AUDIT_LEAKAGE_AT_POSITION, "int64", "the replaced token's position"),
    _a(AUDIT_LEAKAGE_AT_FIRST_CHANGED, "int64", "first position whose logits changed, -1 none"),
    _a(AUDIT_LEAKAGE_AT_PROBE_HAD_EFFECT, "int64", "1 when a logit from the position on changed"),
    _a(AUDIT_LEAKAGE_AT_MAX_ABS_DIFF_BEFORE, "float64", "largest |logit change| before it"),
    _a(AUDIT_LEAKAGE_AT_MEANING, "string", "what the probe does"),
)

# Field by field the same as SCHEMA_SWEEP_SUMMARY in harness/store/schema.c.
SWEEP_SUMMARY = (
    _g(RUN_ROOT, 'the summary of a dint sweep (DIR/summary.h5)'),
    _a(SWEEP_AT_BASELINE, 'string', 'the baseline cell of the grid, or empty'),
    _a(SWEEP_AT_DIGEST, 'string',
       'CRC-32 (zlib) of every group name, dataset and attribute in name order, itself excluded: '
       '"crc32:" and 8 hex digits; verified on every read',
       'files written since digests (a notice names older files)'),
    _a(SWEEP_AT_PROCESSES, 'int64', 'runs trained at once by the invocation that wrote the summary'),
    _a(SWEEP_AT_THREADS_PER_PROCESS, 'int64', 'OpenMP threads of each run'),
    _a(SWEEP_AT_WALL_SECONDS, 'float64', 'wall-clock seconds of that invocation'),
    _a(SWEEP_AT_TOKENS_TRAINED, 'int64',
       'training tokens that invocation added over all runs (a resumed run counts only its new ones)'),
    _a(SWEEP_AT_TOKENS_PER_S, 'float64',
       "the machine's throughput: tokens_trained / wall_seconds (0 when nothing was trained)"),
    _g(SWEEP_CELLS, 'one group per cell of the grid'),
    _a(SWEEP_CELLS_AT_METRICS, 'string', 'the metrics, comma-separated: val_loss, row_sum_dev_max, negative_mass, loss_spikes, needle_accuracy, retrieval_onset, onset_censored, recall_onset_tokens, recall_censored, recall_heldout_accuracy, recall_accuracy, recall_keyed_rate'),
    _g(SWEEP_CELL, 'one cell: a variant with its gamma mode, G mode, head norm and lambda_init'),
    _a(SWEEP_CELL_AT_VARIANT, 'string', 'model.variant'),
    _a(SWEEP_CELL_AT_GAMMA, 'string', 'model.gamma'),
    _a(SWEEP_CELL_AT_G_MODE, 'string', 'model.g_mode'),
    _a(SWEEP_CELL_AT_HEAD_NORM, 'string', 'model.head_norm'),
    _a(SWEEP_CELL_AT_LAMBDA_INIT, 'string', 'model.lambda_init'),
    _a(SWEEP_CELL_AT_N_SEEDS, 'int64', 'seeds run per cell'),
    _d(SWEEP_CELL_MEAN, 'float64', '',
       'mean of the metric per cell over seeds'),
    _d(SWEEP_CELL_STD, 'float64', '',
       'standard deviation of the metric per cell over seeds'),
    _d(SWEEP_CELL_CI_LOW, 'float64', '',
       '95 % t interval of the mean, low end per cell over seeds'),
    _d(SWEEP_CELL_CI_HIGH, 'float64', '',
       '95 % t interval of the mean, high end per cell over seeds'),
    _d(SWEEP_CELL_PER_SEED, 'float64', 'seed,metric',
       "each seed's metrics (NaN where missing)"),
    _g(SWEEP_PAIRED, 'paired differences against the baseline cell'),
    _a(SWEEP_PAIRED_AT_BASELINE, 'string', 'the baseline cell, or empty'),
    _a(SWEEP_PAIRED_AT_TEST, 'string', 'the test: paired t-test over seeds (two-sided)'),
    _g(SWEEP_PAIRED_CELL, 'one cell other than the baseline', 'grids with a baseline'),
    _d(SWEEP_PAIRED_DIFF_MEAN, 'float64', '',
       'mean over seeds of cell minus baseline'),
    _d(SWEEP_PAIRED_P_VALUE, 'float64', '',
       'p value of the paired t-test'),
    _g(SWEEP_SURVIVAL, 'the recall onset over seeds as a time-to-event (Kaplan-Meier per cell, log-rank per pair of cells)', 'grids whose runs have a recall part'),
    _a(SWEEP_SURVIVAL_AT_EVENT, 'string', 'the event and the censoring, in words', 'grids whose runs have a recall part'),
    _a(SWEEP_SURVIVAL_AT_TIME, 'string', 'the time axis: training tokens', 'grids whose runs have a recall part'),
    _a(SWEEP_SURVIVAL_AT_TEST, 'string', 'the estimator and the test', 'grids whose runs have a recall part'),
    _a(SWEEP_SURVIVAL_AT_CELLS, 'string', 'the cells of the log-rank matrices, comma-separated, in their order', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_LOGRANK_P, 'float64', 'cell,cell', 'log-rank p-value of each pair of cells (NaN on the diagonal)', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_LOGRANK_CHI2, 'float64', 'cell,cell', 'log-rank chi-square (1 df) of each pair of cells', 'grids whose runs have a recall part'),
    _g(SWEEP_SURVIVAL_CELL, 'the seeds of one cell', 'grids whose runs have a recall part'),
    _a(SWEEP_SURVIVAL_CELL_AT_SEEDS, 'int64', 'seeds with a recall onset record', 'grids whose runs have a recall part'),
    _a(SWEEP_SURVIVAL_CELL_AT_REACHED, 'int64', 'seeds that reached recall', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_MEDIAN, 'float64', '', 'Kaplan-Meier median onset in tokens (inf: not reached)', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_MEDIAN_LO, 'float64', '', '95 % interval of the median, low end (from the log(-log) band)', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_MEDIAN_HI, 'float64', '', '95 % interval of the median, high end (inf: not reached)', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_TIME, 'float64', 'time', 'the distinct onset times (tokens; empty when no seed reached recall)', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_SURV, 'float64', 'time', 'Kaplan-Meier share of seeds not yet at recall just after each time', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_SURV_LO, 'float64', 'time', '95 % pointwise band, low end (log(-log); NaN where S is 0 or 1)', 'grids whose runs have a recall part'),
    _d(SWEEP_SURVIVAL_SURV_HI, 'float64', 'time', '95 % pointwise band, high end', 'grids whose runs have a recall part'),
)

# The run file: the fixed part, then each evaluation task's outputs (as `dint schema` lists them).
RUN_FILE = RUN_FIXED + NEEDLE_OUTPUTS + PPL_OUTPUTS + ICL_OUTPUTS + RECALL_OUTPUTS + AUDIT_OUTPUTS
FILES = {"run": RUN_FILE, "sweep_summary": SWEEP_SUMMARY}


def as_json():
    """The schema as `dint schema --json` prints it."""
    return {"schema_version": SCHEMA_VERSION,
            "files": {f: [e._asdict() for e in entries] for f, entries in FILES.items()}}


if __name__ == "__main__":
    print(json.dumps(as_json(), indent=1))
