#!/usr/bin/env -S /usr/bin/python3
"""Print one run's evaluation tables from its run file: the needle grid (context length x depth)
for every N/R with exact-match counts, the mean answer log-likelihood (uniform digits give
-16.1 nats for 7 digits) and the pooled Wilson 95 % interval; the ICL accuracy-vs-shots row
(random and class-alternating order, best-minus-worst spread); the perplexity summary; and
the seconds each evaluation took where the file records them.

usage: /usr/bin/python3 harness/tables.py RUN.h5"""
import math
import sys

try:
    import h5py
    import numpy as np
except ImportError as exc:  # one line, naming the Debian packages
    sys.exit(f"harness/tables.py: error: {exc.name} is missing (apt-get install python3-h5py python3-numpy)")

from summary import wilson


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
        sys.exit("usage: /usr/bin/python3 harness/tables.py RUN.h5")
    try:
        f = h5py.File(argv[0], "r")
    except OSError as exc:
        sys.exit(f"harness/tables.py: error: {argv[0]}: {exc}")
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
        sys.exit(f"harness/tables.py: error: {argv[0]} has no /eval group (run dint eval first)")


if __name__ == "__main__":
    main(sys.argv[1:])
