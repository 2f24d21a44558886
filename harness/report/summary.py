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
scored questions); and the retrieval onset (/train/onset: the step at which the smoothed answer
loss on N >= 2 episodes reached its threshold; ">400" when not by step 400, censored).

With --seeds, the runs are several seeds of each variant: one row per variant, and every number
of the table is the mean over its seeds with the 95 % t interval across them (a censored onset
counts as its last step; the cell says how many seeds were censored, and ">" when all were).

With --seeds and runs that hold reduced-precision evaluations (dint eval TASK --precision P:
/eval/precision/P/...), a second table: per variant its fp32 numbers (perplexity NLL per corpus,
recall accuracy and keyed rate, pooled needle accuracy, ICL accuracy at the largest k; mean
[95 % t interval] over seeds), then per precision the change from fp32, paired over seeds (the
mean of each seed's difference with its 95 % t interval).

With --recall (and with --seeds when the runs trained on the recall task), the keyed-recall
comparison over seeds, per variant: seeds that reached recall (/train/recall_onset), the
Kaplan-Meier median onset in tokens with its 95 % interval (a run that never reached recall is
censored, not averaged), the final held-out accuracy and `dint eval recall`'s accuracy and keyed
rate (mean [95 % t interval] over seeds), then the log-rank test of each pair of variants
(harness/report/survival.py).

--recall-threshold=X adds the same comparison for another event: the held-out accuracy first
reaching X (from the stored /train/recall_accuracy, as the onset is defined), e.g. 0.5 at 4
pairs (twice the key-blind chance): leaving the plateau.

usage: /usr/bin/python3 harness/report/summary.py RUN.h5 [RUN.h5 ...] [--seeds] [--recall]
           [--recall-threshold=X] [--json]"""
import json
import math
import sys

try:
    import h5py
    import numpy as np
except ImportError as exc:  # one line, naming the Debian packages
    sys.exit(f"harness/report/summary.py: error: {exc.name} is missing (apt-get install python3-h5py python3-numpy)")

import runschema as rs  # noqa: E402  (harness/report, next to this script)
import survival as sv  # noqa: E402
from h5digest import DigestMismatch, open_verified  # noqa: E402
from runschema import name, t_interval, wilson  # noqa: E402,F401  (tables.py imports wilson from here)


def row(path):
    f = open_verified(path)
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
        last = icl_largest(g)
        if last is not None:
            shots, acc, i = last
            # scored queries at each k
            n = int(g.attrs[name(rs.ICL_AT_EPISODES)]) * int(g.attrs[name(rs.ICL_AT_ORDERS)])
            k = round(acc * n)
            r["icl"] = (dataset, shots, acc, *wilson(k, n), float(g[name(rs.ICL_BEST_MINUS_WORST)][i]))
    r["row_sum_dev"] = {}
    if rs.AUDIT in f:
        for p in rs.AUDIT_PRECISIONS:
            if rs.audit_group(p) in f:
                r["row_sum_dev"][p] = float(np.nanmax(f[rs.fill(rs.AUDIT_ROW_SUM_DEV_MAX, precision=p)][...]))
    r["causal"] = int(f[rs.AUDIT_LEAKAGE].attrs[name(rs.AUDIT_LEAKAGE_AT_CAUSAL)]) if rs.AUDIT_LEAKAGE in f else None
    r["onset"] = None  # (step, censored), from the value dint train stored
    if rs.RUN_TRAIN_ONSET in f:
        a = f[rs.RUN_TRAIN_ONSET].attrs
        r["onset"] = (int(a[name(rs.RUN_TRAIN_ONSET_AT_STEP)]), int(a[name(rs.RUN_TRAIN_ONSET_AT_CENSORED)]))
    r["recall"] = recall_numbers(f)
    r["config"] = cfg
    if eval_precisions(f):  # only then: the output of files without them stays as it was
        r["precision"] = {p: eval_metrics(f, p) for p in ["fp32"] + eval_precisions(f)}
    return r


# ---- the evaluation numbers of one group: the fp32 one (/eval/TASK) or a reduced-precision one
# (/eval/precision/P/TASK, the same layout); row() and tables.py read both through these.
PRECISION_ORDER = ("fp32", "bf16", "fp16", "q8", "q6", "q4")
EVAL_PRECISION = "/eval/precision"


def at_precision(path, precision):
    """The path of an evaluation group at a precision: "/eval/ppl" at "q8" is
    "/eval/precision/q8/ppl"; fp32 (or None) is the path itself."""
    if not precision or precision == "fp32":
        return path
    return path.replace("/eval/", f"{EVAL_PRECISION}/{precision}/", 1)


def by_precision(names):
    """Precision names in the order fp32, bf16, fp16, q8, q6, q4, then others sorted."""
    return sorted(names, key=lambda p: (PRECISION_ORDER.index(p) if p in PRECISION_ORDER else len(PRECISION_ORDER), p))


def eval_precisions(f):
    """The reduced precisions with evaluation groups in f (/eval/precision/<p>)."""
    if EVAL_PRECISION not in f:
        return []
    return by_precision(k for k, v in f[EVAL_PRECISION].items() if isinstance(v, h5py.Group))


def audit_precisions(f):
    """The precisions of the audit's groups (/audit/<p> with row_sum_dev_max)."""
    if rs.AUDIT not in f:
        return []
    return by_precision(k for k, v in f[rs.AUDIT].items()
                        if isinstance(v, h5py.Group) and name(rs.AUDIT_ROW_SUM_DEV_MAX) in v)


def audit_row_sum_dev(f, precision):
    """The largest |row sum - expected| over layers and heads of the audit at a precision."""
    return float(np.nanmax(f[rs.fill(rs.AUDIT_ROW_SUM_DEV_MAX, precision=precision)][...]))


def needle_pooled(g):
    """(correct, total) of a needle group, pooled over N/R, lengths and depths."""
    return int(g[name(rs.NEEDLE_CORRECT)][...].sum()), int(g[name(rs.NEEDLE_TOTAL)][...].sum())


def ppl_nll(g):
    """{corpus: mean NLL (nats/token)} of a ppl group (/eval/ppl or its reduced-precision twin)."""
    return {corpus: float(c.attrs[name(rs.PPL_AT_NLL)]) for corpus, c in g.items()
            if isinstance(c, h5py.Group) and name(rs.PPL_AT_NLL) in c.attrs}


def icl_largest(g):
    """(shots, accuracy, index) at the largest evaluated k of an ICL dataset group, or None."""
    done = np.flatnonzero(g[name(rs.ICL_DONE)][...])
    if not len(done):
        return None
    i = done[-1]
    return int(g[name(rs.ICL_SHOTS)][i]), float(g[name(rs.ICL_ACCURACY)][i]), i


def recall_rates(g):
    """(accuracy, keyed rate) of a recall group from its pooled counts (NaN for no questions)."""
    c, t = g[name(rs.RECALL_CORRECT)][...].sum(), g[name(rs.RECALL_TOTAL)][...].sum()
    k, kt = g[name(rs.RECALL_KEYED)][...].sum(), g[name(rs.RECALL_KEYED_TOTAL)][...].sum()
    return (c / t if t else math.nan, k / kt if kt else math.nan)


def eval_metrics(f, precision):
    """The evaluation numbers the precision comparison uses, at one precision (fp32: the main
    groups): "ppl nll <corpus>", "recall accuracy", "recall keyed rate", "needle accuracy"
    (pooled), "icl accuracy <dataset> (k=K)" (largest k); only those the file has."""
    out = {}
    g = at_precision(rs.PPL, precision)
    if g in f:
        for corpus, nll in ppl_nll(f[g]).items():
            out[f"ppl nll {corpus}"] = nll
    g = at_precision(rs.RECALL, precision)
    if g in f:
        out["recall accuracy"], out["recall keyed rate"] = (float(x) for x in recall_rates(f[g]))
    g = at_precision(rs.NEEDLE, precision)
    if g in f:
        k, t = needle_pooled(f[g])
        out["needle accuracy"] = k / t if t else math.nan
    g = at_precision(rs.ICL, precision)
    if g in f:
        for dataset, dg in f[g].items():
            last = icl_largest(dg)
            if last is not None:
                out[f"icl accuracy {dataset} (k={last[0]})"] = last[1]
    return out


def recall_numbers(f):
    """The final held-out recall accuracy and, with /eval/recall, its pooled accuracy and keyed
    rate; None for runs without a recall part."""
    if rs.RUN_TRAIN_RECALL_ONSET not in f:
        return None
    acc = f[rs.RUN_TRAIN_RECALL_ACCURACY][...]
    acc = acc[np.isfinite(acc)]
    out = {"heldout": float(acc[-1]) if acc.size else math.nan, "eval": math.nan, "keyed": math.nan}
    if rs.RECALL in f:
        out["eval"], out["keyed"] = recall_rates(f[rs.RECALL])
    return out


def fmt_share(values):
    """Mean [95 % t interval] over seeds of a share, the interval cut to [0, 1]."""
    xs = [v for v in values if not math.isnan(v)]
    if not xs:
        return "n/a"
    m, lo, hi = t_interval(xs)
    return f"{m:.3f}" if len(xs) == 1 else f"{m:.3f} [{max(lo, 0.0):.3f}, {min(hi, 1.0):.3f}]"


def recall_block(paths, rows, threshold=None):
    """The keyed-recall comparison over seeds (lines of text), or [] when no run has a recall
    onset; with threshold, the event is the held-out accuracy reaching it (from the stored
    curve) instead of the stored onset."""
    recall_paths = [r["file"] for r in rows if r["recall"] is not None]
    if not recall_paths:
        return []
    onsets = sv.recall_onsets(recall_paths, note=lambda m: None, threshold=threshold)
    table = sv.survival_table(onsets, unit="tokens")
    what = (f"held-out accuracy >= {threshold:g}" if threshold is not None else
            "recall: the stored onset, held-out accuracy >= recall.threshold")
    head = ["variant", "seeds reached", "median onset, tokens [95 % CI]",
            "final held-out accuracy", "eval accuracy", "keyed rate"]
    body = []
    for v in table["variants"]:
        rec = [r["recall"] for r in rows if r["recall"] is not None and str(r["variant"]) == v["variant"]]
        cells = [v["variant"], f"{v['reached']}/{v['seeds']}", sv.fmt_median(v, "tokens")]
        for key in ("heldout", "eval", "keyed"):
            cells.append(fmt_share([x[key] for x in rec]))
        body.append(cells)
    widths = [max(len(h), *(len(t[i]) for t in body)) for i, h in enumerate(head)]
    lines = [f"keyed recall over seeds, event: {what} (a run that never reached it is censored "
             "at its last evaluation; accuracies: mean [95 % t interval] over seeds):",
             "  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(t, widths)) for t in body]
    for p in table["pairs"]:
        lines.append(f"log-rank {p['a']} vs {p['b']}: chi2 = {p['chi2']:.2f}, p = {p['p']:.3g}")
    return lines


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


def fmt_onset(v):
    return "n/a" if v is None else (f">{v[0]}" if v[1] else f"{v[0]}")


def nan_if_none(v, i=0):
    return math.nan if v is None else float(v[i])


def columns(rows):
    """(header, cell text of one run, the number that the --seeds mode averages) per column."""
    needle_keys = sorted({k for r in rows for k in r["needle"]}, key=lambda s: [int(x.split("=")[1]) for x in s.split(",")])
    multi = [k for k in needle_keys if int(k.split(",")[0].split("=")[1]) >= 2]
    cols = [("val loss", lambda r: f"{r['val_loss']:.4f}", lambda r: r["val_loss"]),
            ("retrieval onset", lambda r: fmt_onset(r["onset"]), lambda r: nan_if_none(r["onset"]))]
    cols += [(f"needle {k}", lambda r, k=k: fmt_ci(r["needle"].get(k)), lambda r, k=k: nan_if_none(r["needle"].get(k)))
             for k in needle_keys]
    cols += [("ppl @train len", lambda r: (lambda p: f"{p[1]:.3f} ({p[0]})" if p else "n/a")(r["ppl"].get("train_len")),
              lambda r: nan_if_none(r["ppl"].get("train_len"), 1)),
             ("ppl @window", lambda r: (lambda p: f"{p[1]:.3f} ({p[0]})" if p else "n/a")(r["ppl"].get("window")),
              lambda r: nan_if_none(r["ppl"].get("window"), 1)),
             ("ICL @largest k", lambda r: (lambda i: f"{i[2]:.3f} [{i[3]:.3f}, {i[4]:.3f}] (k={i[1]})" if i else "n/a")(r["icl"]),
              lambda r: nan_if_none(r["icl"], 2)),
             ("row-sum dev fp32", lambda r: f"{r['row_sum_dev'].get('fp32', math.nan):.2e}",
              lambda r: r["row_sum_dev"].get("fp32", math.nan)),
             ("bf16", lambda r: f"{r['row_sum_dev'].get('bf16', math.nan):.2e}", lambda r: r["row_sum_dev"].get("bf16", math.nan))]
    for k in multi:
        cols += [(f"keyed {k}", lambda r, k=k: fmt_ci(r.get("needle_keyed", {}).get(k)),
                  lambda r, k=k: nan_if_none(r.get("needle_keyed", {}).get(k))),
                 (f"other-needle {k}", lambda r, k=k: fmt_ci(r.get("needle_other", {}).get(k)),
                  lambda r, k=k: nan_if_none(r.get("needle_other", {}).get(k))),
                 (f"position-only {k}", lambda r, k=k: fmt_pos(r.get("needle_position_only", {}).get(k)),
                  lambda r, k=k: nan_if_none(r.get("needle_position_only", {}).get(k)))]
    return cols


def by_variant(rows):
    """[(variant, [rows of its seeds])] in the order Transformer, DIFF, DINT, then others."""
    order = rs.VARIANTS
    groups = {}
    for r in rows:
        groups.setdefault(str(r["variant"]), []).append(r)
    return sorted(groups.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))


def fmt_mean(values, head):
    """Mean [95 % t interval] of one column over seeds; the digits of the per-run cell."""
    xs = [v for v in values if not math.isnan(v)]
    if not xs:
        return "n/a"
    m, lo, hi = t_interval(xs)
    f = (lambda x: f"{x:.2e}") if head in ("row-sum dev fp32", "bf16") else \
        (lambda x: f"{x:.0f}") if head == "retrieval onset" else \
        (lambda x: f"{x:.4f}") if head == "val loss" else (lambda x: f"{x:.3f}")
    return f(m) if len(xs) == 1 else f"{f(m)} [{f(lo)}, {f(hi)}]"


def seed_rows(rows):
    """One row per variant: the mean [95 % t interval] over its seeds of every column."""
    cols = columns(rows)
    head = ["variant", "seeds", "params"] + [h for h, _, _ in cols]
    table = []
    for variant, rs_ in by_variant(rows):
        cells = [variant, str(len(rs_)), "/".join(sorted({f"{r['params']:,}" for r in rs_}))]
        for h, _, value in cols:
            cell = fmt_mean([value(r) for r in rs_], h)
            if h == "retrieval onset" and cell != "n/a":
                censored = sum(r["onset"][1] for r in rs_ if r["onset"])
                if censored == len(rs_):
                    cell = ">" + cell.split(" ")[0]
                elif censored:
                    cell += f" ({censored}/{len(rs_)} censored: lower bound)"
            cells.append(cell)
        table.append(cells)
    return head, table


def fmt_delta(m, lo, hi):
    """A change from fp32 with its interval: 4 decimals, or 3 significant digits when all of it
    is below 1e-3 in size but not 0 (bf16 and q8 move a perplexity by 1e-4 nats or less)."""
    size = max(abs(x) for x in (m, lo, hi) if not math.isnan(x))
    big = size >= 1e-3 or size == 0
    f = (lambda x: f"{x:+.4f}") if big else (lambda x: f"{x:+.2e}")
    return f(m) if math.isnan(lo) else f"{f(m)} [{f(lo)}, {f(hi)}]"


def precision_block(rows):
    """The reduced-precision comparison over seeds (lines of text), or [] when no run has
    /eval/precision: per variant its fp32 value (mean [95 % t interval] over seeds), then per
    precision the change from fp32 as a paired mean over the seeds that have both (the mean of
    the per-seed differences, its 95 % t interval)."""
    prec_rows = [r for r in rows if r.get("precision")]
    if not prec_rows:
        return []
    keys = []
    for r in prec_rows:
        for values in r["precision"].values():
            keys += [k for k in values if k not in keys]
    order = ("ppl", "recall", "needle", "icl")
    keys.sort(key=lambda k: (order.index(k.split(" ")[0]) if k.split(" ")[0] in order else len(order), k))
    precisions = by_precision({p for r in prec_rows for p in r["precision"] if p != "fp32"})
    head = ["variant", "precision", "seeds"] + keys
    body = []
    for variant, runs in by_variant(prec_rows):
        base = [r["precision"].get("fp32", {}) for r in runs]
        cells = [variant, "fp32", str(len(runs))]
        for k in keys:
            xs = [b[k] for b in base if k in b and not math.isnan(b[k])]
            if not xs:
                cells.append("n/a")
                continue
            m, lo, hi = t_interval(xs)
            cells.append(f"{m:.4f}" if len(xs) == 1 else f"{m:.4f} [{lo:.4f}, {hi:.4f}]")
        body.append(cells)
        for p in precisions:
            have = [r for r in runs if p in r["precision"]]
            if not have:
                continue
            cells = [variant, p, str(len(have))]
            for k in keys:
                d = [r["precision"][p][k] - r["precision"]["fp32"][k] for r in have
                     if k in r["precision"][p] and k in r["precision"].get("fp32", {})]
                d = [x for x in d if not math.isnan(x)]
                cells.append(fmt_delta(*t_interval(d)) if d else "n/a")
            body.append(cells)
    widths = [max(len(h), *(len(t[i]) for t in body)) for i, h in enumerate(head)]
    lines = ["reduced-precision attention over seeds (dint eval TASK --precision P): the fp32 row is the mean "
             "[95 % t interval] over seeds; each other row the change from fp32, paired over the seeds that "
             "have both (mean of the per-seed differences [95 % t interval]):",
             "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip() for t in body]
    return lines


def run_rows(rows):
    cols = columns(rows)
    head = ["variant", "params"] + [h for h, _, _ in cols]
    return head, [[r["variant"], f"{r['params']:,}"] + [text(r) for _, text, _ in cols] for r in rows]


def main(argv):
    paths = [a for a in argv if not a.startswith("--")]
    if not paths:
        sys.exit("harness/report/summary.py: error: give one or more run files")
    rows = []
    for p in paths:
        try:
            rows.append(row(p))
        except DigestMismatch as exc:
            sys.exit(f"harness/report/summary.py: error: {exc}")
        except (OSError, KeyError) as exc:
            sys.exit(f"harness/report/summary.py: error: {p}: {exc}")
    if "--json" in argv:
        print(json.dumps(rows, default=str))
        return
    block = recall_block(paths, rows) if "--recall" in argv or "--seeds" in argv else []
    for a in argv:  # --recall-threshold=X: a second event, the accuracy reaching X
        if a.startswith("--recall-threshold="):
            try:
                x = float(a.split("=", 1)[1])
            except ValueError:
                x = math.nan
            if not 0 < x <= 1:
                sys.exit(f"harness/report/summary.py: error: {a}: give an accuracy in (0, 1]")
            if block:
                block += [""] + recall_block(paths, rows, threshold=x)
    if "--recall" in argv:
        if not block:
            sys.exit("harness/report/summary.py: error: --recall: no run has a recall onset "
                     "(train with a recall part: --data sotu:0,recall:1)")
        print("\n".join(block))
        return
    head, table = seed_rows(rows) if "--seeds" in argv else run_rows(rows)
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)))
    precision = precision_block(rows) if "--seeds" in argv else []
    if precision:
        print()
        print("\n".join(precision))
    if block:
        print()
        print("\n".join(block))


if __name__ == "__main__":
    main(sys.argv[1:])
