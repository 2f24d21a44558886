#!/usr/bin/env -S /usr/bin/python3
"""Time-to-event statistics of the onset of recall over seeds: each run either reached the event
at some time (tokens seen, steps or seconds) or is censored at its last step. Per variant the
Kaplan-Meier curve S(t) of "not yet recalled" with Greenwood standard errors and a 95 % band on
the log(-log S) scale (R's survfit conf.type = "log-log"), the median onset with its interval,
and for each pair of variants the two-sample log-rank test. The numbers and their definitions
are those of harness/stats/survival.c (numpy only, no scipy).

The run files hold /train/recall_onset with attributes step, censored (0/1), tokens (seen at the
onset, or at the last step when censored), seconds and threshold; the root holds variant and
seed. Files without that group are skipped with a note.

usage: /usr/bin/python3 harness/report/survival.py RUN.h5... [--unit tokens|steps|seconds] [--json]
(--json: the table as JSON; Infinity stands for "not reached", NaN for an undefined band end)"""
import argparse
import json
import math
import os
import sys

import runschema_tables as rt  # noqa: E402  (generated from dint schema --json)
from runschema_tables import VARIANTS as VARIANT_ORDER  # core/variants.c

try:
    import numpy as np
except ImportError as exc:  # one line, naming the Debian package
    sys.exit(f"survival.py: error: {exc.name} is missing (apt-get install python3-numpy)")

PROG = "survival.py"
GROUP = rt.RUN_TRAIN_RECALL_ONSET
Z95 = 1.959963984540054  # the 0.975 quantile of the standard normal
UNITS = {"tokens": "tokens", "steps": "step", "seconds": "seconds"}  # --unit -> onset field


class SurvivalError(ValueError):
    """Bad input: printed by the CLI as one line `survival.py: error: MESSAGE`, exit 2."""


def _inputs(times, events):
    t = np.asarray(times, dtype=float).ravel()
    e = np.asarray(events).ravel() != 0
    if t.size < 1 or t.size != e.size:
        raise SurvivalError("need one or more subjects, as many events as times")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise SurvivalError("times must be finite and >= 0")
    return t, e


def _first(times, mask):
    i = np.flatnonzero(mask)
    return float(times[i[0]]) if i.size else math.inf


def kaplan_meier(times, events):
    """Kaplan-Meier estimate: times >= 0, events nonzero for an event and 0 for censored.
    Returns n, n_events and, per distinct event time (ascending), arrays time, at_risk (time >=
    t: a subject censored at t is at risk there), events, surv (S just after t), se (Greenwood;
    NaN where S = 0), lo, hi (95 %, log-log; NaN where S = 0 or 1); median (first time S <= 0.5),
    median_lo (first time the lower band lo <= 0.5), median_hi (first time the upper band hi <=
    0.5), as R's survfit reads the median's interval off the band; S = 0 counts as reached for
    both ends; inf when not reached. Raises SurvivalError on bad input."""
    t, e = _inputs(times, events)
    uniq, inv = np.unique(t, return_inverse=True)
    count = np.bincount(inv, minlength=uniq.size)
    died = np.bincount(inv, weights=e.astype(float), minlength=uniq.size).astype(np.int64)
    at_risk = t.size - np.cumsum(count) + count
    keep = died > 0
    time, r, d = uniq[keep], at_risk[keep].astype(np.int64), died[keep]
    surv = np.cumprod(1.0 - d / r)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(np.where(r > d, d / (r * np.maximum(r - d, 1.0)), np.inf))
        se = np.where(surv > 0, surv * np.sqrt(gw), np.nan)
        inner = (surv > 0) & (surv < 1)
        a = np.where(inner, Z95 * np.sqrt(gw) / -np.log(np.where(inner, surv, 0.5)), np.nan)
        lo = np.where(inner, surv ** np.exp(a), np.nan)
        hi = np.where(inner, surv ** np.exp(-a), np.nan)
        zero = surv <= 0  # the band collapses onto 0 there
        return {
            "n": int(t.size), "n_events": int(e.sum()), "time": time, "at_risk": r, "events": d,
            "surv": surv, "se": se, "lo": lo, "hi": hi,
            "median": _first(time, surv <= 0.5),
            "median_lo": _first(time, zero | (lo <= 0.5)),
            "median_hi": _first(time, zero | (hi <= 0.5)),
        }


def logrank(times_a, events_a, times_b, events_b):
    """Two-sample log-rank (Mantel-Cox) test: chi2 (1 df), p, observed and expected events of
    a and b, and the hypergeometric variance of observed[0] - expected[0] (ties included).
    With no events at all: chi2 = 0, p = 1. Raises SurvivalError on bad input."""
    ta, ea = _inputs(times_a, events_a)
    tb, eb = _inputs(times_b, events_b)
    uniq, inv = np.unique(np.concatenate([ta, tb]), return_inverse=True)
    ia, ib = inv[:ta.size], inv[ta.size:]
    m = uniq.size
    ca, cb = np.bincount(ia, minlength=m), np.bincount(ib, minlength=m)
    da = np.bincount(ia, weights=ea.astype(float), minlength=m)
    db = np.bincount(ib, weights=eb.astype(float), minlength=m)
    ra = (ta.size - np.cumsum(ca) + ca).astype(float)
    rb = (tb.size - np.cumsum(cb) + cb).astype(float)
    d, r = da + db, ra + rb
    expected = [float(np.sum(d * ra / r)), float(np.sum(d * rb / r))]
    terms = np.where(r > 1, ra * rb * d * (r - d) / (r * r * np.maximum(r - 1, 1.0)), 0.0)
    variance = float(np.sum(terms))
    observed = [float(ea.sum()), float(eb.sum())]
    if variance > 0:
        chi2 = (observed[0] - expected[0]) ** 2 / variance
        p = math.erfc(math.sqrt(chi2 / 2))  # the 1-df chi-square upper tail
    else:
        chi2, p = 0.0, 1.0
    return {"chi2": chi2, "p": p, "observed": observed, "expected": expected, "variance": variance}


# --- run files ------------------------------------------------------------------------------
def _note(msg):
    sys.stderr.write(f"{PROG}: note: {msg}\n")


def _text(v):
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def onset_at(f, threshold):
    """The recall onset of an open run file at another threshold, from its stored curve exactly
    as harness/train/onset.c defines it: the first evaluation whose held-out accuracy is >=
    threshold, or the last one that measured it (censored); (step, tokens, seconds, censored)."""
    acc = np.asarray(f[rt.RUN_TRAIN_RECALL_ACCURACY][...], dtype=float)
    vstep = np.asarray(f[rt.RUN_TRAIN_VAL_STEP][...])
    ok = np.flatnonzero(np.isfinite(acc))
    if not ok.size:
        raise SurvivalError(f"{f.filename}: /train/recall_accuracy has no value")
    hit = ok[acc[ok] >= threshold]
    i, censored = (int(hit[0]), False) if hit.size else (int(ok[-1]), True)
    step = int(vstep[i])
    steps = np.asarray(f[rt.RUN_TRAIN_STEP][...])
    j = np.flatnonzero(steps == step)
    tokens = int(f[rt.RUN_TRAIN_TOKENS][j[0]]) if j.size else 0
    seconds = float(f[rt.RUN_TRAIN_SECONDS][j[0]]) if j.size else 0.0
    return step, tokens, seconds, censored


def recall_onsets(paths, note=_note, threshold=None):
    """One dict per run file that has /train/recall_onset: file, variant, seed, tokens, step,
    seconds, censored (bool); with threshold, the onset at that held-out accuracy instead of the
    stored one (onset_at). Files without the group are skipped with note(message). Raises
    SurvivalError for a missing file, a file that is not HDF5 or a group lacking an attribute."""
    try:
        import h5py
        from h5digest import DigestMismatch, open_verified
    except ImportError:
        raise SurvivalError("h5py is missing (apt-get install python3-h5py)")
    out = []
    for path in paths:
        if not os.path.exists(path):
            raise SurvivalError(f"{path}: no such file")
        if os.path.isdir(path) or not h5py.is_hdf5(path):
            raise SurvivalError(f"{path} is not an HDF5 file")
        try:
            with open_verified(path) as f:
                if GROUP.strip("/") not in f:
                    note(f"{path} has no {GROUP}; skipped")
                    continue
                a = f[GROUP].attrs
                need = ("step", "censored", "tokens", "seconds")
                lacking = [k for k in need if k not in a]
                if lacking:
                    raise SurvivalError(f"{path}: {GROUP} has no attribute {lacking[0]}")
                seed = f.attrs.get("seed")
                out.append({
                    "file": path,
                    "variant": _text(f.attrs.get("variant", "?")) or "?",
                    "seed": None if seed is None else int(np.asarray(seed).ravel()[0]),
                    "tokens": int(np.asarray(a["tokens"]).ravel()[0]),
                    "step": int(np.asarray(a["step"]).ravel()[0]),
                    "seconds": float(np.asarray(a["seconds"]).ravel()[0]),
                    "censored": bool(int(np.asarray(a["censored"]).ravel()[0])),
                })
                if threshold is not None:
                    o = out[-1]
                    o["step"], o["tokens"], o["seconds"], o["censored"] = onset_at(f, threshold)
        except DigestMismatch as exc:
            raise SurvivalError(str(exc))
        except OSError as exc:
            raise SurvivalError(f"{path} cannot be read as HDF5 ({str(exc).splitlines()[0]})")
    return out


def _variant_order(variants):
    seen = []
    for v in variants:
        if v not in seen:
            seen.append(v)
    known = [v for v in VARIANT_ORDER if v in seen]
    return known + [v for v in seen if v not in VARIANT_ORDER]


def survival_table(onsets, unit="tokens"):
    """Per variant (transformer, diff, dint, then others): seeds (runs), seed_ids, reached
    (events), median, median_lo, median_hi (inf: not reached), max_censored (the largest
    censoring time, or None), times and censored (the runs' onsets), km (kaplan_meier); and per
    pair of variants (in that order) the log-rank a, b, chi2, p, observed, expected, variance."""
    if unit not in UNITS:
        raise SurvivalError(f"unit must be one of {', '.join(UNITS)}, not {unit}")
    key = UNITS[unit]
    rows = []
    for v in _variant_order(o["variant"] for o in onsets):
        runs = [o for o in onsets if o["variant"] == v]
        times = np.array([float(o[key]) for o in runs])
        events = np.array([0 if o["censored"] else 1 for o in runs])
        km = kaplan_meier(times, events)
        cens = times[events == 0]
        rows.append({
            "variant": v, "seeds": len(runs), "seed_ids": [o["seed"] for o in runs],
            "reached": int(events.sum()), "median": km["median"], "median_lo": km["median_lo"],
            "median_hi": km["median_hi"], "max_censored": float(cens.max()) if cens.size else None,
            "times": times, "censored": events == 0, "km": km,
        })
    pairs = []
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            a, b = rows[i], rows[j]
            lr = logrank(a["times"], ~a["censored"], b["times"], ~b["censored"])
            pairs.append({"a": a["variant"], "b": b["variant"], **lr})
    return {"unit": unit, "variants": rows, "pairs": pairs}


def fmt_time(x, unit):
    if unit == "seconds":
        return "%.1f" % x
    return "%d" % round(x)


def fmt_median(row, unit):
    """'M [lo, hi]', with 'not reached' for an infinite end; '>X' when the median is not reached
    (X the largest censoring time)."""
    def end(x):
        return "not reached" if math.isinf(x) else fmt_time(x, unit)
    if math.isinf(row["median"]):
        x = row["max_censored"]
        head = ">" + fmt_time(x, unit) if x is not None else "not reached"
    else:
        head = fmt_time(row["median"], unit)
    return "%s [%s, %s]" % (head, end(row["median_lo"]), end(row["median_hi"]))


def format_table(table):
    unit = table["unit"]
    lines = ["%-12s %5s %7s  median onset (%s) [95 %% interval]" % ("variant", "seeds", "reached", unit)]
    for r in table["variants"]:
        lines.append("%-12s %5d %7d  %s" % (r["variant"], r["seeds"], r["reached"], fmt_median(r, unit)))
    for p in table["pairs"]:
        lines.append("log-rank %s vs %s: chi2 = %.3f, p = %.3g" % (p["a"], p["b"], p["chi2"], p["p"]))
    return "\n".join(lines)


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN.h5", help="run files (several seeds per variant)")
    p.add_argument("--unit", choices=tuple(UNITS), default="tokens", help="time axis (default tokens)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.add_argument("--threshold", type=float, help="the onset at this held-out accuracy, from "
                   "the stored curve (default: the stored onset, recall.threshold)")
    a = p.parse_args(argv)
    try:
        if a.threshold is not None and not 0 < a.threshold <= 1:
            raise SurvivalError(f"--threshold {a.threshold}: give an accuracy in (0, 1]")
        onsets = recall_onsets(a.runs, threshold=a.threshold)
        if not onsets:
            raise SurvivalError(f"no run file has {GROUP}")
        table = survival_table(onsets, a.unit)
    except SurvivalError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    if a.json:
        print(json.dumps(_plain(table)))
    else:
        print(format_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
