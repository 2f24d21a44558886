#!/usr/bin/env -S /usr/bin/python3
"""Print one run's evaluation tables from its run file: the needle grid (context length x depth)
for every N/R with exact-match counts, the mean answer log-likelihood (uniform digits give
-16.1 nats for 7 digits) and the pooled Wilson 95 % interval, followed (needle task v3 files)
by the pooled keyed rate (both questions of a key-swap pair right; N >= 2), the other-needle
rate (answers that are another needle's number, over all questions incl. key-swap controls),
both with Wilson intervals and counts, and each position-only scorer's pooled accuracy (the
reference line: copy the first, last or middle needle); the ICL accuracy-vs-shots row
(random and class-alternating order, best-minus-worst spread); the perplexity summary; and
the seconds each evaluation took where the file records them.

usage: /usr/bin/python3 harness/report/tables.py RUN.h5"""
import math
import sys

try:
    import h5py
    import numpy as np
except ImportError as exc:  # one line, naming the Debian packages
    sys.exit(f"harness/report/tables.py: error: {exc.name} is missing (apt-get install python3-h5py python3-numpy)")

from summary import scorer_names, wilson


def frac(k, n, unit=""):
    lo, hi = wilson(k, n)
    return f"{k}/{n}{unit} = " + (f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]" if n else "n/a")


def needle_extra_lines(g, i, n):
    """Keyed, other-needle and position-only lines of config i (nothing for files before v3)."""
    if not all(k in g for k in ("keyed", "keyed_total", "other_needle", "questions", "positional_correct")):
        return
    if n >= 2:
        print(f"    keyed (both questions of a key-swap pair right): "
              f"{frac(int(g['keyed'][i].sum()), int(g['keyed_total'][i].sum()), ' samples')}")
    else:
        print("    keyed (both questions of a key-swap pair right): n/a (N = 1)")
    print(f"    other needle (answer = another needle's number): "
          f"{frac(int(g['other_needle'][i].sum()), int(g['questions'][i].sum()), ' questions')}")
    pc = g["positional_correct"][i]
    pc = pc.reshape(-1, pc.shape[-1]).sum(axis=0)
    t = int(g["total"][i].sum())
    names = scorer_names(g)
    print("    position only (copy that needle's number): " + ", ".join(
        f"{names[s] if s < len(names) else s} {frac(int(pc[s]), t)}" for s in range(len(pc))))


def needle_tables(g):
    lengths, depths = g["context_length"][...], g["depth"][...]
    correct, total, ll = g["correct"][...], g["total"][...], g["loglik_sum"][...]
    secs = float(np.nansum(g["seconds"][...]))
    print(f"needle ({g.attrs['parameters']}; {secs:.1f} s)")
    for i, (n, r) in enumerate(zip(g["n_needles"][...], g["n_queried"][...])):
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
    for name, g in f["eval/icl"].items():
        done = g["done"][...].astype(bool)
        shots = g["shots"][...][done]
        secs = float(np.nansum(g["seconds"][...][done]))
        print(f"icl {name} ({g.attrs['parameters']}; {secs:.1f} s)")
        print("  shots             " + "".join(f"{int(k):>8d}" for k in shots))
        for label, key in (("accuracy (random)", "accuracy"), ("accuracy (alt.)", "alternating_accuracy"),
                           ("best - worst", "best_minus_worst")):
            vals = g[key][...][done]
            print(f"  {label:<18}" + "".join(f"{v:>8.3f}" for v in vals))


def ppl_tables(f):
    for name, g in f["eval/ppl"].items():
        a = g.attrs
        print(f"ppl {name}: {int(a['tokens'])} tokens, {a['windows']} windows of {int(a['window'])} "
              f"(stride {int(a['stride'])}): perplexity {a['perplexity']:.3f}, {a['bits_per_byte']:.3f} "
              f"bits/byte; NLL AR-hit {a['nll_ar_hit']:.3f} / other {a['nll_other']:.3f}")


def main(argv):
    if len(argv) != 1:
        sys.exit("usage: /usr/bin/python3 harness/report/tables.py RUN.h5")
    try:
        f = h5py.File(argv[0], "r")
    except OSError as exc:
        sys.exit(f"harness/report/tables.py: error: {argv[0]}: {exc}")
    found = False
    if "eval/needle" in f:
        needle_tables(f["eval/needle"])
        found = True
    if "eval/icl" in f:
        icl_tables(f)
        found = True
    if "eval/ppl" in f:
        ppl_tables(f)
        found = True
    if not found:
        sys.exit(f"harness/report/tables.py: error: {argv[0]} has no /eval group (run dint eval first)")


if __name__ == "__main__":
    main(sys.argv[1:])
