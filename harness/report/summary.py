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

import runschema as rs  # noqa: E402  (harness/report, next to this script)
from runschema import name, wilson  # noqa: E402,F401  (tables.py imports wilson from here)


def row(path):
    f = h5py.File(path, "r")
    cfg = json.loads(f.attrs[name(rs.RUN_AT_CONFIG)])
    r = {"file": path, "variant": f.attrs[name(rs.RUN_AT_VARIANT)],
         "params": int(f.attrs[name(rs.RUN_AT_PARAM_COUNT)])}
    val_loss = f[rs.RUN_TRAIN_VAL_LOSS]
    r["val_loss"] = float(val_loss[-1]) if len(val_loss) else math.nan
    r["needle"] = {}
    if rs.NEEDLE in f:
        g = f[rs.NEEDLE]
        correct, total = g[name(rs.NEEDLE_CORRECT)][...], g[name(rs.NEEDLE_TOTAL)][...]
        for i, (n, q) in enumerate(zip(g[name(rs.NEEDLE_N_NEEDLES)][...], g[name(rs.NEEDLE_N_QUERIED)][...])):
            k, t = int(correct[i].sum()), int(total[i].sum())
            r["needle"][f"N={int(n)},R={int(q)}"] = (k / t if t else math.nan, *wilson(k, t))
        r.update(needle_extra(g))
    r["ppl"] = {}
    if rs.PPL in f:
        g = f[rs.ppl_group(next(iter(f[rs.PPL])))]
        cum = g[name(rs.PPL_CUMULATIVE_NLL)][...]
        train_len = int(g.attrs[name(rs.PPL_AT_TRAIN_SEQ_LEN)])
        if train_len <= len(cum):
            r["ppl"]["train_len"] = (train_len, math.exp(cum[train_len - 1]))
        r["ppl"]["window"] = (len(cum), math.exp(cum[-1]))
    r["icl"] = None
    if rs.ICL in f:
        dataset = next(iter(f[rs.ICL]))
        g = f[rs.icl_group(dataset)]
        done = np.flatnonzero(g[name(rs.ICL_DONE)][...])
        if len(done):
            i = done[-1]
            acc = float(g[name(rs.ICL_ACCURACY)][i])
            # scored queries at each k
            n = int(g.attrs[name(rs.ICL_AT_EPISODES)]) * int(g.attrs[name(rs.ICL_AT_ORDERS)])
            k = round(acc * n)
            r["icl"] = (dataset, int(g[name(rs.ICL_SHOTS)][i]), acc, *wilson(k, n),
                        float(g[name(rs.ICL_BEST_MINUS_WORST)][i]))
    r["row_sum_dev"] = {}
    if rs.AUDIT in f:
        for p in rs.AUDIT_PRECISIONS:
            if rs.audit_group(p) in f:
                r["row_sum_dev"][p] = float(np.nanmax(f[rs.fill(rs.AUDIT_ROW_SUM_DEV_MAX, precision=p)][...]))
    r["causal"] = int(f[rs.AUDIT_LEAKAGE].attrs[name(rs.AUDIT_LEAKAGE_AT_CAUSAL)]) if rs.AUDIT_LEAKAGE in f else None
    r["config"] = cfg
    return r


def rate(k, n):
    """(rate, Wilson low, Wilson high, k, n) of pooled counts."""
    k, n = int(k), int(n)
    return (k / n if n else math.nan, *wilson(k, n), k, n)


def scorer_names(g):
    v = g.attrs.get(name(rs.NEEDLE_AT_POSITIONAL_SCORERS), rs.NEEDLE_DEFAULT_SCORERS)
    return (v.decode() if isinstance(v, bytes) else str(v)).split(",")


def needle_extra(g):
    """Per N/R with N >= 2, pooled over lengths and depths: needle_keyed and needle_other
    (rate, low, high, k, n), needle_position_only (rate, low, high, k, n, scorer): the best
    positional scorer. None where the file lacks the counts (needle task before v3)."""
    out = {"needle_keyed": {}, "needle_other": {}, "needle_position_only": {}}
    have = all(name(k) in g for k in rs.NEEDLE_V3_COUNTS)
    names = scorer_names(g)
    total = g[name(rs.NEEDLE_TOTAL)][...]
    for i, (n, q) in enumerate(zip(g[name(rs.NEEDLE_N_NEEDLES)][...], g[name(rs.NEEDLE_N_QUERIED)][...])):
        if int(n) < 2:
            continue
        key = f"N={int(n)},R={int(q)}"
        if not have:
            for d in out.values():
                d[key] = None
            continue
        out["needle_keyed"][key] = rate(g[name(rs.NEEDLE_KEYED)][i].sum(), g[name(rs.NEEDLE_KEYED_TOTAL)][i].sum())
        out["needle_other"][key] = rate(g[name(rs.NEEDLE_OTHER_NEEDLE)][i].sum(), g[name(rs.NEEDLE_QUESTIONS)][i].sum())
        positional = g[name(rs.NEEDLE_POSITIONAL_CORRECT)]
        pc = positional[i].reshape(-1, positional.shape[-1]).sum(axis=0)
        best = int(np.argmax(pc))  # the first of equals
        scorer = names[best] if best < len(names) else str(best)
        out["needle_position_only"][key] = (*rate(pc[best], total[i].sum()), scorer)
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
