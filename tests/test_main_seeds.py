#!/usr/bin/env -S /usr/bin/python3
"""harness/main.sh --seeds K at a tiny scale (the script's test knobs: DINT_MAIN_DINT, no setup.sh;
DINT_MAIN_RESULTS; DINT_MAIN_TINY, a 1-layer model for 4 steps and one-cell evaluations):
(a) it writes the sweep grid of the main job (variants x seeds 1..K, the job's evaluations and
    audit) and the sweep's run files, evaluated and audited, and summary.h5;
(b) the printed table has one row per variant, and its numbers are the mean and 95 % t interval
    over the seeds: the validation loss equals summary.h5's (the sweep's GSL interval), the
    onset is the stored one (">4": censored at step 4), the needle accuracy is recomputed here
    from the runs' counts;
(c) run again, it reuses every finished run (files byte-identical, same table);
(d) bad options are one line and exit 2.
With --mpi MPIRUN: the same job with --ranks 2 and under `mpirun -np 2 bash harness/main.sh`
gives the same runs (weights bit-identical) and the same table as one process.
Prints 'N passed, N failed'; exits non-zero on any failure."""
import hashlib
import math
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import check, finish  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != "--mpi"):
    sys.exit("usage: /usr/bin/python3 tests/test_main_seeds.py DINT [--mpi MPIRUN]")
DINT = os.path.abspath(sys.argv[1])
MPIRUN = sys.argv[3] if len(sys.argv) == 4 else None
VARIANTS = ("transformer", "diff", "dint")
T975_DF1 = 12.706204736174703  # Student t, 0.975 quantile, 1 degree of freedom (2 seeds)



def main_sh(results, *args, launcher=()):
    """harness/main.sh with this build's dint at the tiny scale; part 1 (keyed recall) left out
    unless args give --recall-seeds."""
    env = dict(os.environ, DINT_MAIN_DINT=DINT, DINT_MAIN_RESULTS=results, DINT_MAIN_TINY="1")
    if "--recall-seeds" not in args:
        args = (*args, "--recall-seeds", "0")
    return subprocess.run([*launcher, "bash", os.path.join(ROOT, "harness", "main.sh"), *args],
                          capture_output=True, text=True, env=env)


def table(stdout):
    """{variant: {header: cell}} of the seeds table (columns 2+ spaces apart)."""
    lines = [l for l in stdout.splitlines()]
    i = next(k for k, l in enumerate(lines) if l.startswith("variant "))
    head = re.split(r"\s{2,}", lines[i].strip())
    out = {}
    for line in lines[i + 1:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        out[cells[0]] = dict(zip(head, cells))
    return out


def digest(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def check_job(results, r, seeds, label):
    out = os.path.join(results, f"seeds{seeds}")
    check(r.returncode == 0, f"{label}: main.sh exit {r.returncode}: {r.stderr.strip().splitlines()[-3:]}")
    if r.returncode != 0:
        return None
    grid = open(os.path.join(out, "grid.ini")).read()
    for line in ("variants = transformer, diff, dint", "seeds = " + ", ".join(str(k) for k in range(1, seeds + 1)),
                 "data = sotu:0.4,needle:0.4,icl:wordnet-noun:0.2", "train.steps = 4", "model.d_model = 32",
                 "needle = --needles 1:1,2:2 --lengths 256 --depths 0.5 --samples 1", "ppl = --window 256",
                 "icl = --dataset wordnet-noun", "options = --samples 1 --seq 64"):
        check(line in grid, f"{label}: grid.ini has '{line}'")
    runs = {v: [os.path.join(out, f"{v}-seed{k}.h5") for k in range(1, seeds + 1)] for v in VARIANTS}
    for v in VARIANTS:
        for k, p in enumerate(runs[v], 1):
            with h5py.File(p, "r") as f:
                check(f.attrs["status"] == "complete" and int(f.attrs["seed"]) == k and f.attrs["variant"] == v,
                      f"{label}: {p} complete, seed {k}, variant {v}")
                check(all(g in f for g in ("eval/needle", "eval/ppl/sotu", "eval/icl/wordnet-noun", "audit/fp32",
                                           "train/onset")), f"{label}: {p} evaluated, audited, with its onset")
    check(os.path.exists(os.path.join(out, "summary.h5")), f"{label}: summary.h5")
    check(os.path.exists(os.path.join(out, "figures", "onset_seeds.png"))
          and os.path.exists(os.path.join(out, "figures", "onset.png")), f"{label}: onset figures")
    t = table(r.stdout)
    check(list(t) == list(VARIANTS), f"{label}: one row per variant: {list(t)}")
    with h5py.File(os.path.join(out, "summary.h5"), "r") as s:
        for v in VARIANTS:
            row = t.get(v, {})
            check(row.get("seeds") == str(seeds), f"{label}: {v} seeds column {row.get('seeds')}")
            c = s[f"cells/{v}"]
            want = "%.4f [%.4f, %.4f]" % tuple(float(c[f"val_loss_{q}"][()]) for q in ("mean", "ci_low", "ci_high"))
            check(row.get("val loss") == want, f"{label}: {v} val loss {row.get('val loss')!r} = summary.h5 {want!r}")
            steps = []
            acc = []
            for p in runs[v]:
                with h5py.File(p, "r") as f:
                    a = f["train/onset"].attrs
                    steps.append((int(a["step"]), int(a["censored"])))
                    g = f["eval/needle"]
                    acc.append(g["correct"][0].sum() / g["total"][0].sum())  # config 0: N=1,R=1
            check(steps == [(4, 1)] * seeds and row.get("retrieval onset") == ">4",
                  f"{label}: {v} onset {row.get('retrieval onset')!r} from stored {steps}")
            check(float(c["retrieval_onset_mean"][()]) == 4.0 and float(c["onset_censored_mean"][()]) == 1.0,
                  f"{label}: {v} summary.h5 onset metrics")
            m = float(np.mean(acc))
            half = T975_DF1 * float(np.std(acc, ddof=1)) / math.sqrt(2) if seeds == 2 else math.nan
            want = "%.3f [%.3f, %.3f]" % (m, m - half, m + half)
            check(row.get("needle N=1,R=1") == want, f"{label}: {v} needle N=1,R=1 {row.get('needle N=1,R=1')!r} vs {want!r}")
    return {p: digest(p) for v in VARIANTS for p in runs[v]}


def check_recall(results, r, seeds):
    """Part 1: the recall sweep's runs, its /survival, and the printed comparison."""
    out = os.path.join(results, f"seeds{seeds}", "recall")
    for v in VARIANTS:
        for k in range(1, seeds + 1):
            p = os.path.join(out, f"{v}-seed{k}.h5")
            with h5py.File(p, "r") as f:
                check(f.attrs["status"] == "complete" and "train/recall_onset" in f and "eval/recall" in f,
                      f"part 1: {p} complete with its recall onset and evaluation")
    with h5py.File(os.path.join(out, "summary.h5"), "r") as s:
        check("survival" in s and s["survival"].attrs["cells"] == "transformer,diff,dint",
              "part 1: summary.h5 has /survival for the three variants")
        check(s["survival/logrank_p"].shape == (3, 3), "part 1: a log-rank p for each pair")
    text = r.stdout
    check("keyed recall over seeds, event: recall" in text and "log-rank transformer vs diff" in text
          and "held-out accuracy >= 0.5" in text, "part 1: the comparison is printed with both events")
    check(os.path.exists(os.path.join(out, "figures", "recall_survival.png")), "part 1: the survival figure")


with tempfile.TemporaryDirectory() as tmp:
    if MPIRUN is None:
        res = os.path.join(tmp, "results")
        r = main_sh(res, "--seeds", "2", "--recall-seeds", "2")
        first = check_job(res, r, 2, "--seeds 2")
        check_recall(res, r, 2)
        if first:
            again = main_sh(res, "--seeds", "2", "--recall-seeds", "2")
            check(again.returncode == 0 and table(again.stdout) == table(r.stdout), "run again: the same table")
            check({p: digest(p) for p in first} == first, "run again: every run file unchanged (reused)")
            check("trained; checking evaluations" in again.stderr, "run again: the sweep says the runs are trained")
        for args, msg in ((["--seeds", "0"], "--seeds takes a positive integer"),
                          (["--recall-seeds", "x"], "--recall-seeds takes a non-negative integer"),
                          (["--ranks", "2"], "--ranks spreads the runs of --seeds K"),
                          (["--bogus"], "unknown option '--bogus'")):
            b = main_sh(res, *args)
            check(b.returncode == 2 and len(b.stderr.strip().splitlines()) == 1 and msg in b.stderr,
                  f"main.sh {' '.join(args)}: one line, exit 2: {b.stderr.strip()!r}")
    else:
        one = os.path.join(tmp, "one")
        r1 = main_sh(one, "--seeds", "2")
        check_job(one, r1, 2, "1 process")
        ranks = os.path.join(tmp, "ranks")
        rr = main_sh(ranks, "--seeds", "2", "--ranks", "2")
        check_job(ranks, rr, 2, "--ranks 2")
        check("[rank 1]" in rr.stderr, "--ranks 2: rank 1 ran runs")
        launched = os.path.join(tmp, "launched")
        rl = main_sh(launched, "--seeds", "2",
                     launcher=(MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2"))
        check_job(launched, rl, 2, "mpirun -np 2 bash main.sh")
        check("[rank 1]" in rl.stderr, "launched: rank 1 ran runs")
        check(not [n for n in os.listdir(os.path.join(launched, "seeds2")) if n.startswith(".ready")],
              "launched: the ready marker is removed")
        for other, r_ in ((ranks, rr), (launched, rl)):
            check(r_.returncode == 0 and table(r_.stdout) == table(r1.stdout), f"{other}: the same table")
            for v in VARIANTS:
                for k in (1, 2):
                    a = os.path.join(one, "seeds2", f"{v}-seed{k}.h5")
                    b = os.path.join(other, "seeds2", f"{v}-seed{k}.h5")
                    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
                        same = all(np.array_equal(fa["model/params"][n][...], fb["model/params"][n][...])
                                   for n in fa["model/params"])
                    check(same, f"{other}: {v} seed {k} weights = one process's")

finish()
