#!/usr/bin/env -S /usr/bin/python3
"""The C and Python confidence intervals agree: Wilson intervals (n = 0, k = 0, k = n, small and
large n), t quantiles (df = 1, 2, 5, 30, 1000) and t intervals (no value, one, few, many) from
harness/stats/interval.c (through tests/interval_table.c, the executable ctest passes) and
harness/report/intervals.py, to 1e-9 relative (1e-15 absolute for a Wilson end at 0); plus known values (n = 0 gives [0, 1] in both).
Prints 'N passed, N failed'; exits non-zero on any failure."""
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "harness", "report"))
import intervals  # noqa: E402
import runschema  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import check, finish  # noqa: E402

if len(sys.argv) != 2:
    sys.exit("usage: /usr/bin/python3 tests/test_interval.py INTERVAL_TABLE (ctest passes its build's)")

WILSON = [(0, 0), (0, 1), (1, 1), (0, 5), (5, 5), (2, 7), (1, 3), (0, 100), (100, 100), (37, 100),
          (1, 1000), (999, 1000), (12345, 100000), (0, 10 ** 7), (3, 10 ** 7)]
T_QUANTILE = [(0.975, df) for df in (1, 2, 5, 30, 1000)] + [(0.95, 3), (0.995, 10), (0.6, 2)]
T_INTERVAL = [[], [0.25], [1.0, 2.0], [0.1, 0.5, 0.9], [3.0, 3.0, 3.0],
              [0.251, 0.232, 0.269, 0.3, 0.2], [1e6 + i * 0.37 for i in range(30)],
              [math.sin(i) for i in range(200)]]


def close(a, b, floor=0.0):
    """Equal to 1e-9 relative; within floor when both are near 0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= max(1e-9 * max(abs(a), abs(b)), floor)


requests = ([f"wilson {k} {n}" for k, n in WILSON] + [f"t_quantile {p!r} {df}" for p, df in T_QUANTILE]
            + ["t_interval " + " ".join(repr(x) for x in xs) for xs in T_INTERVAL])
out = subprocess.run([sys.argv[1]], input="\n".join(requests) + "\n", capture_output=True, text=True, check=True)
answers = [[float(v) for v in line.split()] for line in out.stdout.splitlines()]
check(len(answers) == len(requests), f"{len(requests)} answers from {sys.argv[1]}: {len(answers)}")
want = ([intervals.wilson(k, n) for k, n in WILSON] + [(intervals.t_quantile(p, df),) for p, df in T_QUANTILE]
        + [intervals.t_interval(xs) for xs in T_INTERVAL])
for req, c, py in zip(requests, answers, want):
    # A Wilson interval at k = 0 starts at a mathematically exact 0 that both formulas leave as
    # rounding residue (1e-17): compared there to 1e-15 on the [0, 1] scale.
    floor = 1e-15 if req.startswith("wilson") else 0.0
    check(len(c) == len(py) and all(close(a, b, floor) for a, b in zip(c, py)),
          f"{req[:60]}: C {c} vs Python {list(py)}")

# Known values, and n = 0: the uninformative interval in both.
check(intervals.wilson(0, 0) == (0.0, 1.0) and answers[0] == [0.0, 1.0], "Wilson at n = 0 is [0, 1] in C and Python")
check(close(intervals.t_quantile(0.975, 1), 12.706204736174707), "t quantile 0.975, df 1 = 12.7062047361747")
check(close(intervals.t_quantile(0.975, 30), 2.0422724563012373), "t quantile 0.975, df 30 = 2.04227245630124")
m, lo, hi = intervals.t_interval([0.25])
check(m == 0.25 and math.isnan(lo) and math.isnan(hi), "one value: the mean, NaN ends (as dint sweep writes)")
# runschema re-exports them: its readers keep importing them from there.
check(runschema.wilson is intervals.wilson and runschema.t_interval is intervals.t_interval
      and runschema.t_quantile is intervals.t_quantile, "runschema.wilson, t_quantile, t_interval are intervals'")
finish()
