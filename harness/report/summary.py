#!/usr/bin/env -S /usr/bin/python3
"""Print the main job's comparison table from run files: one row per variant with validation
loss, needle accuracy per N/R (pooled over lengths and depths, Wilson 95 % interval),
perplexity at the training length and at the evaluation window (4x by default), ICL accuracy
at the largest k (Wilson interval) and the largest row-sum deviation (fp32 and bf16); then,
for every N/R with N >= 2 (needle task v3 files; n/a for older ones), pooled over lengths and
depths: the keyed rate (both questions of a key-swap pair right; a positional copier scores
0), the other-needle rate (answers that are another needle's number, over all questions,
key-swap controls included) with Wilson intervals, and the position-only reference: the best
of the scripted scorers that copy the first, last or middle needle (pooled accuracy on the
scored questions).

usage: /usr/bin/python3 harness/report/summary.py RUN.h5 [RUN.h5 ...] [--json]"""
import json
import math
import sys

try:
    import h5py
    import numpy as np
except ImportError as exc:  # one line, naming the Debian packages
    sys.exit(f"harness/report/summary.py: error: {exc.name} is missing (apt-get install python3-h5py python3-numpy)")


def wilson(k, n, z=1.959963984540054):
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def row(path):
    f = h5py.File(path, "r")
    cfg = json.loads(f.attrs["config"])
    r = {"file": path, "variant": f.attrs["variant"], "params": int(f.attrs["param_count"])}
    r["val_loss"] = float(f["train/val_loss"][-1]) if len(f["train/val_loss"]) else math.nan
    r["needle"] = {}
    if "eval/needle" in f:
        g = f["eval/needle"]
        correct, total = g["correct"][...], g["total"][...]
        for i, (n, q) in enumerate(zip(g["n_needles"][...], g["n_queried"][...])):
            k, t = int(correct[i].sum()), int(total[i].sum())
            r["needle"][f"N={int(n)},R={int(q)}"] = (k / t if t else math.nan, *wilson(k, t))
        r.update(needle_extra(g))
    r["ppl"] = {}
    if "eval/ppl" in f:
        name = next(iter(f["eval/ppl"]))
        g = f["eval/ppl"][name]
        cum = g["cumulative_nll"][...]
        train_len = int(g.attrs["train_seq_len"])
        if train_len <= len(cum):
            r["ppl"]["train_len"] = (train_len, math.exp(cum[train_len - 1]))
        r["ppl"]["window"] = (len(cum), math.exp(cum[-1]))
    r["icl"] = None
    if "eval/icl" in f:
        name = next(iter(f["eval/icl"]))
        g = f["eval/icl"][name]
        done = np.flatnonzero(g["done"][...])
        if len(done):
            i = done[-1]
            acc = float(g["accuracy"][i])
            n = int(g.attrs["episodes"]) * int(g.attrs["orders"])  # scored queries at each k
            k = round(acc * n)
            r["icl"] = (name, int(g["shots"][i]), acc, *wilson(k, n), float(g["best_minus_worst"][i]))
    r["row_sum_dev"] = {}
    if "audit" in f:
        for p in ("fp32", "bf16", "fp16"):
            if p in f["audit"]:
                r["row_sum_dev"][p] = float(np.nanmax(f["audit"][p]["row_sum_dev_max"][...]))
    r["causal"] = int(f["audit/leakage"].attrs["causal"]) if "audit/leakage" in f else None
    r["config"] = cfg
    return r


def rate(k, n):
    """(rate, Wilson low, Wilson high, k, n) of pooled counts."""
    k, n = int(k), int(n)
    return (k / n if n else math.nan, *wilson(k, n), k, n)


def scorer_names(g):
    v = g.attrs.get("positional_scorers", "first,last,middle")
    return (v.decode() if isinstance(v, bytes) else str(v)).split(",")


def needle_extra(g):
    """Per N/R with N >= 2, pooled over lengths and depths: needle_keyed and needle_other
    (rate, low, high, k, n), needle_position_only (rate, low, high, k, n, scorer): the best
    positional scorer. None where the file lacks the counts (needle task before v3)."""
    out = {"needle_keyed": {}, "needle_other": {}, "needle_position_only": {}}
    have = all(k in g for k in ("keyed", "keyed_total", "other_needle", "questions", "positional_correct"))
    names = scorer_names(g)
    total = g["total"][...]
    for i, (n, q) in enumerate(zip(g["n_needles"][...], g["n_queried"][...])):
        if int(n) < 2:
            continue
        key = f"N={int(n)},R={int(q)}"
        if not have:
            for d in out.values():
                d[key] = None
            continue
        out["needle_keyed"][key] = rate(g["keyed"][i].sum(), g["keyed_total"][i].sum())
        out["needle_other"][key] = rate(g["other_needle"][i].sum(), g["questions"][i].sum())
        pc = g["positional_correct"][i].reshape(-1, g["positional_correct"].shape[-1]).sum(axis=0)
        best = int(np.argmax(pc))  # the first of equals
        name = names[best] if best < len(names) else str(best)
        out["needle_position_only"][key] = (*rate(pc[best], total[i].sum()), name)
    return out


def fmt_ci(v):
    return "n/a" if v is None or math.isnan(v[0]) else f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def fmt_pos(v):
    return "n/a" if v is None or math.isnan(v[0]) else f"{v[0]:.3f} ({v[5]})"


def main(argv):
    paths = [a for a in argv if not a.startswith("--")]
    if not paths:
        sys.exit("harness/report/summary.py: error: give one or more run files")
    rows = []
    for p in paths:
        try:
            rows.append(row(p))
        except (OSError, KeyError) as exc:
            sys.exit(f"harness/report/summary.py: error: {p}: {exc}")
    if "--json" in argv:
        print(json.dumps(rows, default=str))
        return
    needle_keys = sorted({k for r in rows for k in r["needle"]}, key=lambda s: [int(x.split("=")[1]) for x in s.split(",")])
    multi = [k for k in needle_keys if int(k.split(",")[0].split("=")[1]) >= 2]
    head = ["variant", "params", "val loss"] + [f"needle {k}" for k in needle_keys] + \
           ["ppl @train len", "ppl @window", "ICL @largest k", "row-sum dev fp32", "bf16"] + \
           [f"{what} {k}" for k in multi for what in ("keyed", "other-needle", "position-only")]
    table = []
    for r in rows:
        ppl_t = r["ppl"].get("train_len")
        ppl_w = r["ppl"].get("window")
        icl = r["icl"]
        table.append([r["variant"], f"{r['params']:,}", f"{r['val_loss']:.4f}"] +
                     [fmt_ci(r["needle"].get(k)) for k in needle_keys] +
                     [f"{ppl_t[1]:.3f} ({ppl_t[0]})" if ppl_t else "n/a",
                      f"{ppl_w[1]:.3f} ({ppl_w[0]})" if ppl_w else "n/a",
                      f"{icl[2]:.3f} [{icl[3]:.3f}, {icl[4]:.3f}] (k={icl[1]})" if icl else "n/a",
                      f"{r['row_sum_dev'].get('fp32', math.nan):.2e}", f"{r['row_sum_dev'].get('bf16', math.nan):.2e}"] +
                     [c for k in multi for c in (fmt_ci(r.get("needle_keyed", {}).get(k)),
                                                  fmt_ci(r.get("needle_other", {}).get(k)),
                                                  fmt_pos(r.get("needle_position_only", {}).get(k)))])
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)))


if __name__ == "__main__":
    main(sys.argv[1:])
