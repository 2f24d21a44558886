#!/usr/bin/env -S /usr/bin/python3
"""The main job's summary table (harness/summary.py) and one run's evaluation tables
(harness/tables.py) report exactly what the run files hold:
each number is recomputed here from the HDF5 datasets, by a separate route, and compared.
Prints 'N passed, N failed'; exits non-zero on any failure."""
import json
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The executable under test: ctest passes it (any build folder); by hand, build/ is the default.
DINT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "build", "harness", "dint")
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}")


def dint(*args):
    subprocess.run([DINT, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


with tempfile.TemporaryDirectory() as tmp:
    runs = []
    for v in ("transformer", "dint"):
        run = os.path.join(tmp, f"{v}.h5")
        dint("train", "--variant", v, "--data", "sotu:0.7,needle:0.3", "--out", run, "--set", "model.n_layer=1",
             "--set", "model.d_model=32", "--set", "model.head_dim=8", "--set", "train.steps=3", "--set",
             "train.seq_len=128", "--set", "train.batch_size=2", "--set", "train.eval_every=3", "--set",
             "train.warmup=1", "--set", "train.eval_batches=1")
        dint("eval", "needle", "--run", run, "--needles", "1:1,2:2", "--lengths", "256", "--depths", "0,1",
             "--samples", "3")
        dint("eval", "ppl", "--run", run, "--window", "256", "--max-docs", "2")
        dint("eval", "icl", "--run", run, "--dataset", "wordnet-noun", "--shots", "0,1", "--episodes", "3",
             "--orders", "2", "--context", "512")
        dint("audit", "--run", run, "--samples", "1", "--seq", "64")
        runs.append(run)
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "summary.py"), *runs, "--json"],
                         check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    table = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "summary.py"), *runs],
                           check=True, capture_output=True, text=True).stdout
    check(len(table.strip().splitlines()) == 3, "the table has a header and one row per run")
    for run, r in zip(runs, rows):
        f = h5py.File(run, "r")
        check(r["variant"] == f.attrs["variant"], "variant")
        check(r["val_loss"] == float(f["train/val_loss"][-1]), "validation loss is the last /train/val_loss")
        for i, key in enumerate(("N=1,R=1", "N=2,R=2")):
            k = int(np.sum(f["eval/needle/samples/correct"][...][f["eval/needle/samples/cell"][...] // 2 == i]))
            n = int(np.sum(f["eval/needle/samples/cell"][...] // 2 == i))
            check(abs(r["needle"][key][0] - k / n) < 1e-12, f"needle {key} accuracy from the per-sample records")
        nll = f["eval/ppl/sotu/nll_by_position"][...]
        check(abs(r["ppl"]["window"][1] - math.exp(np.nanmean(nll))) < 1e-9 * r["ppl"]["window"][1],
              "perplexity at the window is exp of the mean NLL over positions")
        g = f["eval/icl/wordnet-noun"]
        last = int(np.flatnonzero(g["done"][...])[-1])
        check(abs(r["icl"][2] - float(g["accuracy"][last])) < 1e-12 and r["icl"][1] == int(g["shots"][last]),
              "ICL accuracy at the largest evaluated k")
        check(r["row_sum_dev"]["fp32"] == float(np.nanmax(f["audit/fp32/row_sum_dev_max"][...])), "row-sum deviation")
        check(r["causal"] == 1, "causal")
        check(f"{r['val_loss']:.4f}" in table, "the printed table shows the validation loss")

    # harness/tables.py: the needle grid, the ICL row and the perplexity line of one run, each
    # number recomputed from the per-sample records and datasets.
    for run in runs:
        f = h5py.File(run, "r")
        text = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "tables.py"), run],
                              check=True, capture_output=True, text=True).stdout
        cell = f["eval/needle/samples/cell"][...]
        ok = f["eval/needle/samples/correct"][...]
        ll = f["eval/needle/samples/loglik"][...]
        for i, key in enumerate(("N=1, R=1", "N=2, R=2")):
            sel = cell // 2 == i
            check(f"{key}: {int(ok[sel].sum())}/{int(sel.sum())} exact" in text, f"tables: needle {key} pooled count")
            lines = text.split(f"{key}:")[1].splitlines()[2].split(")")
            for d in range(2):  # one length (256), depths 0 and 1: cell index i * 2 + d
                c = cell == i * 2 + d
                want = f"{int(ok[c].sum())}/{int(c.sum())}"
                got = lines[d].split("(")
                check(got[0].split()[-1] == want and abs(float(got[1]) - ll[c].mean()) < 0.051,
                      f"tables: needle {key} depth cell {d}: '{lines[d].strip()})' vs {want} ({ll[c].mean():.2f})")
        g = f["eval/icl/wordnet-noun"]
        row = [line for line in text.splitlines() if line.strip().startswith("accuracy (random)")][0]
        vals = [float(x) for x in row.split(")")[1].split()]
        check(np.allclose(vals, g["accuracy"][...][g["done"][...].astype(bool)], atol=5e-4),
              "tables: ICL accuracy-vs-shots row")
        a = f["eval/ppl/sotu"].attrs
        check(f"perplexity {a['perplexity']:.3f}" in text and f"{int(a['tokens'])} tokens" in text,
              "tables: perplexity line")
    bad = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "tables.py"), "/nonexistent.h5"],
                         capture_output=True, text=True)
    check(bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "error" in bad.stderr,
          "tables: a missing file is one error line")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
