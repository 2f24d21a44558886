#!/usr/bin/env -S /usr/bin/python3
"""Print one run's evaluation tables from its run file: the needle grid (context length x depth)
for every N/R with exact-match counts, the mean answer log-likelihood (uniform digits give
-16.1 nats for 7 digits) and the pooled Wilson 95 % interval, followed (needle task v3 files)
by the pooled keyed rate (both questions of a key-swap pair right; N >= 2), the other-needle
rate (answers that are another needle's number, over all questions incl. key-swap controls),
both with Wilson intervals and counts, and each position-only scorer's pooled accuracy (the
reference line: copy the first, last or middle needle); the ICL accuracy-vs-shots row
(random and class-alternating order, best-minus-worst spread); the perplexity summary; and
the seconds each evaluation took where the file records them. A file with reduced-precision
evaluations (dint eval TASK --precision P: /eval/precision/P/...) or an audit at q8/q6/q4 gets a
section "reduced precision": per precision, each evaluation's number beside the fp32 one and the
change (perplexity NLL per corpus, recall accuracy and keyed rate, pooled needle accuracy, ICL
accuracy at the largest k) and the audit's largest |row sum - expected|.

usage: /usr/bin/python3 harness/report/tables.py RUN.h5"""
import math
import sys

try:
    import h5py
    import numpy as np
except ImportError as exc:  # one line, naming the Debian packages
    sys.exit(f"harness/report/tables.py: error: {exc.name} is missing (apt-get install python3-h5py python3-numpy)")

import runschema as rs  # noqa: E402  (harness/report, next to this script)
from h5digest import DigestMismatch, open_verified  # noqa: E402
from runschema import name, wilson  # noqa: E402
from summary import (at_precision, audit_precisions, audit_row_sum_dev, by_precision, eval_precisions,  # noqa: E402
                     icl_largest, needle_pooled, ppl_nll, recall_rates, scorer_names)


def frac(k, n, unit=""):
    lo, hi = wilson(k, n)
    return f"{k}/{n}{unit} = " + (f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]" if n else "n/a")


def needle_extra_lines(g, i, n):
    """Keyed, other-needle and position-only lines of config i (nothing for files before v3)."""
    if not all(name(k) in g for k in rs.NEEDLE_V3_COUNTS):
        return
    if n >= 2:
        print(f"    keyed (both questions of a key-swap pair right): "
              f"{frac(int(g[name(rs.NEEDLE_KEYED)][i].sum()), int(g[name(rs.NEEDLE_KEYED_TOTAL)][i].sum()), ' samples')}")
    else:
        print("    keyed (both questions of a key-swap pair right): n/a (N = 1)")
    print(f"    other needle (answer = another needle's number): "
          f"{frac(int(g[name(rs.NEEDLE_OTHER_NEEDLE)][i].sum()), int(g[name(rs.NEEDLE_QUESTIONS)][i].sum()), ' questions')}")
    pc = g[name(rs.NEEDLE_POSITIONAL_CORRECT)][i]
    pc = pc.reshape(-1, pc.shape[-1]).sum(axis=0)
    t = int(g[name(rs.NEEDLE_TOTAL)][i].sum())
    names = scorer_names(g)
    print("    position only (copy that needle's number): " + ", ".join(
        f"{names[s] if s < len(names) else s} {frac(int(pc[s]), t)}" for s in range(len(pc))))


def needle_tables(g):
    lengths, depths = g[name(rs.NEEDLE_CONTEXT_LENGTH)][...], g[name(rs.NEEDLE_DEPTH)][...]
    correct, total = g[name(rs.NEEDLE_CORRECT)][...], g[name(rs.NEEDLE_TOTAL)][...]
    ll = g[name(rs.NEEDLE_LOGLIK_SUM)][...]
    secs = float(np.nansum(g[name(rs.NEEDLE_SECONDS)][...]))
    print(f"needle ({g.attrs[name(rs.NEEDLE_AT_PARAMETERS)]}; {secs:.1f} s)")
    for i, (n, r) in enumerate(zip(g[name(rs.NEEDLE_N_NEEDLES)][...], g[name(rs.NEEDLE_N_QUERIED)][...])):
        k, t = int(correct[i].sum()), int(total[i].sum())
        lo, hi = wilson(k, t)
        acc = f"{k / t:.3f} [{lo:.3f}, {hi:.3f}]" if t else "n/a"
        print(f"  N={int(n)}, R={int(r)}: {k}/{t} exact = {acc}")
        needle_extra_lines(g, i, int(n))
        print("    length \\ depth " + "".join(f"{d:>16.2f}" for d in depths))
        for j, length in enumerate(lengths):
            cells = []
            for d in range(len(depths)):
                c, tt = int(correct[i, j, d]), int(total[i, j, d])
                cells.append(f"{c:>3d}/{tt:<3d}({ll[i, j, d] / tt:6.1f})" if tt else f"{'-':>16}")
            print(f"    {int(length):>14d} " + "".join(f"{c:>16}" for c in cells))
    print("    (cells: exact matches / queried needles (mean answer log-likelihood, nats))")


def icl_tables(f):
    for dataset, g in f[rs.ICL].items():
        done = g[name(rs.ICL_DONE)][...].astype(bool)
        shots = g[name(rs.ICL_SHOTS)][...][done]
        secs = float(np.nansum(g[name(rs.ICL_SECONDS)][...][done]))
        print(f"icl {dataset} ({g.attrs[name(rs.ICL_AT_PARAMETERS)]}; {secs:.1f} s)")
        print("  shots             " + "".join(f"{int(k):>8d}" for k in shots))
        for label, key in (("accuracy (random)", rs.ICL_ACCURACY), ("accuracy (alt.)", rs.ICL_ALTERNATING_ACCURACY),
                           ("best - worst", rs.ICL_BEST_MINUS_WORST)):
            vals = g[name(key)][...][done]
            print(f"  {label:<18}" + "".join(f"{v:>8.3f}" for v in vals))


def ppl_tables(f):
    for corpus, g in f[rs.PPL].items():
        def at(path):
            return g.attrs[name(path)]
        print(f"ppl {corpus}: {int(at(rs.PPL_AT_TOKENS))} tokens, {at(rs.PPL_AT_WINDOWS)} windows of "
              f"{int(at(rs.PPL_AT_WINDOW))} (stride {int(at(rs.PPL_AT_STRIDE))}): perplexity "
              f"{at(rs.PPL_AT_PERPLEXITY):.3f}, {at(rs.PPL_AT_BITS_PER_BYTE):.3f} bits/byte; NLL AR-hit "
              f"{at(rs.PPL_AT_NLL_AR_HIT):.3f} / other {at(rs.PPL_AT_NLL_OTHER):.3f}")


def change(value, ref, digits):
    """`value (fp32 ref, change +d)`; the change as 3 significant digits."""
    if ref is None or math.isnan(ref):
        return f"{value:.{digits}f} (fp32: n/a)"
    return f"{value:.{digits}f} (fp32 {ref:.{digits}f}, change {value - ref:+.2e})"


def precision_lines(f, p):
    """The lines of one reduced precision: each evaluation under /eval/precision/p against the
    fp32 one, read by the same functions as the fp32 tables, and the audit at p."""
    lines = []
    g = at_precision(rs.PPL, p)
    if g in f:
        ref = ppl_nll(f[rs.PPL]) if rs.PPL in f else {}
        for corpus, nll in ppl_nll(f[g]).items():
            lines.append(f"ppl {corpus}: NLL {change(nll, ref.get(corpus), 6)} nats/token")
    g = at_precision(rs.RECALL, p)
    if g in f:
        acc, keyed = recall_rates(f[g])
        ref = recall_rates(f[rs.RECALL]) if rs.RECALL in f else (math.nan, math.nan)
        line = f"recall: accuracy {change(acc, ref[0], 4)}"
        if not math.isnan(keyed):
            line += f"; keyed rate {change(keyed, ref[1], 4)}"
        lines.append(line)
    g = at_precision(rs.NEEDLE, p)
    if g in f:
        k, t = needle_pooled(f[g])
        ref = needle_pooled(f[rs.NEEDLE]) if rs.NEEDLE in f else (0, 0)
        lines.append(f"needle (pooled over N/R, lengths, depths): {k}/{t} = "
                     + (change(k / t, ref[0] / ref[1] if ref[1] else math.nan, 4) if t else "n/a"))
    g = at_precision(rs.ICL, p)
    if g in f:
        for dataset, dg in f[g].items():
            last = icl_largest(dg)
            if last is None:
                continue
            ref = icl_largest(f[rs.icl_group(dataset)]) if rs.icl_group(dataset) in f else None
            same = ref is not None and ref[0] == last[0]
            lines.append(f"icl {dataset}: accuracy at k={last[0]} {change(last[1], ref[1] if same else None, 4)}")
    if p in audit_precisions(f):
        ref = audit_row_sum_dev(f, "fp32") if "fp32" in audit_precisions(f) else math.nan
        lines.append(f"audit: max |row sum - expected| {audit_row_sum_dev(f, p):.3e}"
                     + (f" (fp32 {ref:.3e})" if not math.isnan(ref) else " (fp32: n/a)"))
    return lines


def precision_tables(f):
    """The reduced-precision section, or False when the file has neither /eval/precision nor
    an audit group beyond fp32, bf16 and fp16."""
    audit = [p for p in audit_precisions(f) if p != "fp32"]
    if not eval_precisions(f) and not [p for p in audit if p not in rs.AUDIT_PRECISIONS]:
        return False
    print("reduced precision (attention emulated at each precision; the fp32 numbers and the change from them):")
    for p in by_precision(set(eval_precisions(f)) | set(audit)):
        lines = precision_lines(f, p)
        if lines:
            print(f"  {p}:")
            for line in lines:
                print(f"    {line}")
    return True


def main(argv):
    if len(argv) != 1:
        sys.exit("usage: /usr/bin/python3 harness/report/tables.py RUN.h5")
    try:
        f = open_verified(argv[0])
    except DigestMismatch as exc:
        sys.exit(f"harness/report/tables.py: error: {exc}")
    except OSError as exc:
        sys.exit(f"harness/report/tables.py: error: {argv[0]}: {exc}")
    found = False
    if rs.NEEDLE in f:
        needle_tables(f[rs.NEEDLE])
        found = True
    if rs.ICL in f:
        icl_tables(f)
        found = True
    if rs.PPL in f:
        ppl_tables(f)
        found = True
    if precision_tables(f):
        found = True
    if not found:
        sys.exit(f"harness/report/tables.py: error: {argv[0]} has no /eval group (run dint eval first)")


if __name__ == "__main__":
    main(sys.argv[1:])
