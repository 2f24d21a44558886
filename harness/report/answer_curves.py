"""Needle answer-loss curves of a row of training stages, read from the run files: the per-step
/train/answer_loss and /train/answer_loss_multi counted through the stages (steps and tokens
seen), and their trailing means over the onset window: for N >= 2 episodes the one dint train
stored (/train/onset/smoothed, what the onset is read from), for all answers the same smoothing
(harness/train/onset.h) applied here. Read by harness/recipe_search.py (its --at-steps table) and
plots/recipe_search.py (its figure)."""
import json

import h5py
import numpy as np

import runschema as rs
from h5digest import open_verified
from runschema import name


def trailing_mean(loss, window, min_values=None):
    """The trailing mean of loss over window steps, as harness/train/onset.c smooths: at step i the
    mean of the finite values among loss[i - window + 1 .. i] (fewer at the start), NaN where fewer
    than min_values (default: half the window, rounded up) are finite."""
    loss = np.asarray(loss, dtype=float)
    ok = np.isfinite(loss)
    sums = np.concatenate(([0.0], np.cumsum(np.where(ok, loss, 0.0))))
    counts = np.concatenate(([0], np.cumsum(ok)))
    hi = np.arange(1, len(loss) + 1)
    lo = np.maximum(hi - max(int(window), 1), 0)
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums[hi] - sums[lo]) / n
    need = (max(int(window), 1) + 1) // 2 if min_values is None else int(min_values)
    return np.where(n >= need, mean, np.nan)


def losses(runs):
    """One row's per-step answer losses through its stages, as a dict: step (counted through the
    stages), tokens (seen by the end of each step), all and multi (/train/answer_loss and
    /train/answer_loss_multi, raw), smooth_all and smooth_multi (their trailing means over each
    stage's onset window), thresholds (the stages' onset thresholds)."""
    out = {k: [] for k in ("step", "tokens", "all", "multi", "smooth_all", "smooth_multi")}
    thresholds, offset, tokens = set(), 0, 0
    for run in runs:
        with open_verified(run) as f:
            t = json.loads(f.attrs[name(rs.RUN_AT_CONFIG)])["train"]
            per_step = t["batch_size"] * t.get("grad_accum", 1) * t["seq_len"]
            steps = int(f[rs.RUN_TRAIN].attrs[name(rs.RUN_TRAIN_AT_STEPS_DONE)])
            step = f[rs.RUN_TRAIN_STEP][...].astype(float)
            a = f[rs.RUN_TRAIN_ONSET].attrs
            window = int(a[name(rs.RUN_TRAIN_ONSET_AT_WINDOW)])
            min_values = int(a[name(rs.RUN_TRAIN_ONSET_AT_MIN_VALUES)])
            thresholds.add(float(a[name(rs.RUN_TRAIN_ONSET_AT_THRESHOLD)]))
            for path, key in ((rs.RUN_TRAIN_ANSWER_LOSS, "all"), (rs.RUN_TRAIN_ANSWER_LOSS_MULTI, "multi")):
                out[key].append(f[path][...].astype(float) if path in f else np.full(len(step), np.nan))
            out["smooth_all"].append(trailing_mean(out["all"][-1], window, min_values))
            out["smooth_multi"].append(f[rs.RUN_TRAIN_ONSET_SMOOTHED][...].astype(float))
        out["step"].append(offset + step)
        out["tokens"].append(tokens + step * per_step)
        offset += steps
        tokens += steps * per_step
    out = {k: np.concatenate(v) if v else np.array([]) for k, v in out.items()}
    out["thresholds"] = thresholds
    return out
