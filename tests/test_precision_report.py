#!/usr/bin/env -S /usr/bin/python3
"""The reduced-precision reports against a real tiny sweep: `dint sweep` with
`[eval] precisions = q8, q4` and an audit (2 seeds of dint and transformer), then
- plots/precision.py draws the summary (a non-empty PNG of the documented size, exit 0), and a
  bad --metric or a run file instead of a summary is one error line with a non-zero exit;
- harness/report/tables.py prints each seed's q4 perplexity NLL as the file's
  /eval/precision/q4/ppl/sotu@nll (to the printed digits) and its change from fp32;
- harness/report/summary.py --seeds prints the precision table, whose (dint, q4) perplexity
  change is the paired mean over seeds with its 95 % t interval, recomputed here from the run
  files' attributes (scipy's t quantile, not the harness's).
Prints 'N passed, N failed'; exits non-zero on any failure.

usage: /usr/bin/python3 tests/test_precision_report.py DINT"""
import math
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import check, finish  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if len(sys.argv) != 2:
    sys.exit("usage: /usr/bin/python3 tests/test_precision_report.py DINT (the dint executable to test)")
DINT = os.path.abspath(sys.argv[1])
SEEDS = (1, 2)
VARIANTS = ("dint", "transformer")

GRID = os.path.join(ROOT, "tests", "tiny_precision_grid.ini")  # q8 and q4, ppl and the audit


def run(*args):
    return subprocess.run(["/usr/bin/python3", *args], capture_output=True, text=True, cwd=ROOT)


def numbers(text):
    """The floats of a printed cell: '+1.25e-05 [-2.1e-05, +4.6e-05]' -> [1.25e-05, -2.1e-05, 4.6e-05]."""
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?", text)]


def printed_tolerance(text):
    """Half a unit in the last printed digit of a number as printed."""
    m = re.match(r"[-+]?\d+\.(\d+)(?:e([-+]?\d+))?", text.strip())
    return 0.5 * 10 ** (-len(m.group(1)) + (int(m.group(2)) if m.group(2) else 0)) * 1.0001


with tempfile.TemporaryDirectory() as tmp:
    grid = GRID
    out = os.path.join(tmp, "out")
    sw = subprocess.run([DINT, "sweep", grid, "--out", out], capture_output=True, text=True)
    if sw.returncode != 0:
        print(f"FAIL setup: dint sweep exit {sw.returncode}: {(sw.stderr.strip().splitlines() or [''])[-1]}")
        print("0 passed, 1 failed")
        sys.exit(1)
    summary = os.path.join(out, "summary.h5")
    runs = {v: [os.path.join(out, f"{v}-seed{s}.h5") for s in SEEDS] for v in VARIANTS}
    check(os.path.exists(summary) and all(os.path.exists(p) for ps in runs.values() for p in ps),
          "dint sweep wrote the summary and one run file per variant and seed")
    with h5py.File(runs["dint"][0], "r") as f:
        check("eval/precision/q4/ppl/sotu" in f and "audit/q4/row_sum_dev_max" in f,
              "the run files hold /eval/precision/q4/ppl/sotu and /audit/q4")

    # plots/precision.py: a PNG, 1300 x 800 with the audit panel.
    png = os.path.join(tmp, "precision.png")
    r = run("plots/precision.py", summary, "-o", png)
    check(r.returncode == 0 and os.path.exists(png) and os.path.getsize(png) > 0,
          f"plots/precision.py wrote a PNG (exit {r.returncode}: {r.stderr.strip()})")
    if os.path.exists(png):
        with open(png, "rb") as fh:
            head = fh.read(24)
        size = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
        check(head[:8] == b"\x89PNG\r\n\x1a\n" and size == (1300, 800), f"precision.png is a 1300x800 PNG: {size}")
    r = run("plots/precision.py", summary, "-o", os.path.join(tmp, "x.png"), "--metric", "row_sum_dev_max",
            "--cells", "dint")
    check(r.returncode == 0, f"plots/precision.py --metric row_sum_dev_max --cells dint: exit {r.returncode}")
    for what, args in (("a bad metric name", (summary, "--metric", "no_such_metric")),
                       ("a run file instead of a summary", (runs["dint"][0],))):
        bad = os.path.join(tmp, "bad.png")
        r = run("plots/precision.py", *args, "-o", bad)
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and lines[0].startswith("plots/precision.py: error: ")
              and not os.path.exists(bad), f"plots/precision.py with {what}: exit {r.returncode}, stderr {lines}")

    # harness/report/tables.py: the q4 NLL of each run as the file holds it.
    for path in runs["dint"] + runs["transformer"]:
        with h5py.File(path, "r") as f:
            nll = float(f["eval/precision/q4/ppl/sotu"].attrs["nll"])
            ref = float(f["eval/ppl/sotu"].attrs["nll"])
            rsd = float(np.nanmax(f["audit/q4/row_sum_dev_max"][...]))
        r = run("harness/report/tables.py", path)
        text = r.stdout
        check(r.returncode == 0 and "reduced precision" in text, f"tables.py {path}: a reduced-precision section")
        block = text.split("\n  q4:\n")[1] if "\n  q4:\n" in text else ""
        m = re.search(r"ppl sotu: NLL (\S+) \(fp32 (\S+), change (\S+)\)", block)
        check(m is not None, f"tables.py {path}: a q4 ppl line")
        if m:
            check(abs(float(m.group(1)) - nll) <= printed_tolerance(m.group(1)),
                  f"tables.py {path}: q4 NLL {m.group(1)} = /eval/precision/q4/ppl/sotu@nll {nll!r}")
            check(abs(float(m.group(2)) - ref) <= printed_tolerance(m.group(2)),
                  f"tables.py {path}: fp32 NLL {m.group(2)} = /eval/ppl/sotu@nll {ref!r}")
            check(abs(float(m.group(3)) - (nll - ref)) <= printed_tolerance(m.group(3)),
                  f"tables.py {path}: the change {m.group(3)} = {nll - ref!r}")
        m = re.search(r"audit: max \|row sum - expected\| (\S+)", block)
        check(m is not None and abs(float(m.group(1)) - rsd) <= printed_tolerance(m.group(1)),
              f"tables.py {path}: q4 audit max row_sum_dev_max = {rsd!r}")

    # harness/report/summary.py --seeds: the paired change of (dint, q4), recomputed.
    r = run("harness/report/summary.py", "--seeds", *runs["dint"], *runs["transformer"])
    check(r.returncode == 0, f"summary.py --seeds: exit {r.returncode}: {r.stderr.strip()}")
    lines = r.stdout.splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith("reduced-precision attention over seeds")]
    check(len(start) == 1, "summary.py --seeds prints the reduced-precision table")
    if start:
        table = lines[start[0] + 1:]
        head = re.split(r"\s{2,}", table[0].strip())
        rows = {}
        for line in table[1:]:
            if not line.strip():
                break
            cells = re.split(r"\s{2,}", line.strip())
            rows[(cells[0], cells[1])] = dict(zip(head, cells))
        check(set(rows) == {(v, p) for v in VARIANTS for p in ("fp32", "q8", "q4")},
              f"one row per variant and precision: {sorted(rows)}")
        diffs = []
        for path in runs["dint"]:
            with h5py.File(path, "r") as f:
                diffs.append(float(f["eval/precision/q4/ppl/sotu"].attrs["nll"]) - float(f["eval/ppl/sotu"].attrs["nll"]))
        mean = float(np.mean(diffs))
        half = float(stats.t.ppf(0.975, len(diffs) - 1)) * float(np.std(diffs, ddof=1)) / math.sqrt(len(diffs))
        cell = rows.get(("dint", "q4"), {}).get("ppl nll sotu", "")
        got = numbers(cell)
        want = (mean, mean - half, mean + half)
        parts = re.findall(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?", cell)
        check(len(got) == 3 and all(abs(g - w) <= printed_tolerance(t) for g, w, t in zip(got, want, parts)),
              f"summary.py: dint q4 ppl change {cell!r} = paired mean {mean:.6g} [{mean - half:.6g}, {mean + half:.6g}]")
        check(rows.get(("dint", "q4"), {}).get("seeds") == "2", "summary.py: dint q4 paired over 2 seeds")
        fp32 = [float(h5py.File(p, "r")["eval/ppl/sotu"].attrs["nll"]) for p in runs["transformer"]]
        got = numbers(rows.get(("transformer", "fp32"), {}).get("ppl nll sotu", ""))
        check(len(got) == 3 and abs(got[0] - np.mean(fp32)) <= 5e-5,
              f"summary.py: transformer fp32 NLL mean {got[:1]} = {np.mean(fp32):.6f}")

finish()
