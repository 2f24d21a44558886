#!/usr/bin/env -S /usr/bin/python3
"""The main job's summary table (harness/report/summary.py) and one run's evaluation tables
(harness/report/tables.py) report exactly what the run files hold:
each number is recomputed here from the HDF5 datasets, by a separate route, and compared.
The retrieval onset column is the stored /train/onset (">" for a censored run).
The needle keyed rate, other-needle rate and position-only reference are recomputed from the
count datasets and from the per-sample records, on the real runs (an untrained model answers
little right, so also on a copy whose per-sample answers are randomised and whose counts are
rewritten from them) and on a copy without the v3 datasets (n/a).
Prints 'N passed, N failed'; exits non-zero on any failure."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import check, finish  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness", "report"))
from h5digest import edit_stamped  # noqa: E402  (changed files get a new digest, as dint writes them)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The executable under test: ctest passes it (any build folder); by hand, build/ is the default.
if len(sys.argv) != 2:
    sys.exit("usage: /usr/bin/python3 tests/test_summary.py DINT (the dint executable to test; ctest passes its own build's)")
DINT = os.path.abspath(sys.argv[1])



def dint(*args):
    subprocess.run([DINT, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py(script, *args):
    return subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "report", script), *args],
                          check=True, capture_output=True, text=True).stdout


def wilson95(k, n):  # written out again here, not imported from harness/report/summary.py
    if n == 0:
        return (math.nan, math.nan)
    z2 = 1.959963984540054 ** 2
    p = k / n
    c = (2 * k + z2) / (2 * (n + z2))
    h = math.sqrt(z2) * math.sqrt(n * p * (1 - p) + z2 / 4) / (n + z2)
    return (max(0.0, c - h), min(1.0, c + h))


CONFIGS = ((1, 1), (2, 1), (2, 2))  # --needles 1:1,2:1,2:2, one length, two depths: config = cell // 2
SCORERS = ("first", "last", "middle")


def from_samples(f, i):
    """Per-sample route for config i: (correct, scored), (keyed, pairs), (other, questions)."""
    s = {k: f["eval/needle/samples/" + k][...] for k in f["eval/needle/samples"]}
    sel = s["cell"] // 2 == i
    scored = sel & (s["control"] == 0)
    other = sel & (s["answered_needle"] >= 0) & (s["answered_needle"] != s["asked_needle"])
    keyed = pairs = 0
    for c, j in sorted({(int(c), int(j)) for c, j in zip(s["cell"][sel], s["sample"][sel])}):
        m = (s["cell"] == c) & (s["sample"] == j)
        q0, q1 = s["correct"][m & (s["query"] == 0)], s["correct"][m & (s["query"] == 1)]
        if len(q0) == 1 and len(q1) == 1:  # a key-swap pair (N >= 2)
            pairs += 1
            keyed += int(q0[0] == 1 and q1[0] == 1)
    return ((int(s["correct"][scored].sum()), int(scored.sum())), (keyed, pairs),
            (int(other.sum()), int(sel.sum())))


def randomise(src, dst, seed):
    """Copy of a run with random per-sample answers (right, another needle's number or none)
    and the count datasets rewritten from them."""
    shutil.copy(src, dst)
    rng = np.random.default_rng(seed)
    with edit_stamped(dst) as f:
        g = f["eval/needle"]
        shape = g["correct"].shape
        s = g["samples"]
        cell, asked, ctl = s["cell"][...], s["asked_needle"][...], s["control"][...]
        nn = g["n_needles"][...].astype(int)[cell // 2]
        ok = (rng.random(len(cell)) < 0.6).astype(np.int32)
        ans = np.where(ok == 1, asked, -1)
        wrong = (ok == 0) & (nn >= 2) & (rng.random(len(cell)) < 0.6)
        ans[wrong] = (asked[wrong] + 1) % nn[wrong]
        s["correct"][...], s["answered_needle"][...] = ok, ans
        n = int(np.prod(shape))
        g["correct"][...] = np.bincount(cell, ok * (ctl == 0), n).reshape(shape).astype(np.int64)
        g["other_needle"][...] = np.bincount(cell, (ans >= 0) & (ans != asked), n).reshape(shape).astype(np.int64)
        key = cell * 1000 + s["sample"][...]
        both = {k: True for k in key}
        for k, o, q in zip(key, ok, s["query"][...]):
            if q in (0, 1):
                both[k] = both[k] and o == 1
        keyed = np.zeros(n, np.int64)
        for k, b in both.items():
            keyed[k // 1000] += int(b and nn[np.flatnonzero(key == k)[0]] >= 2)
        g["keyed"][...] = keyed.reshape(shape)


def strip_v3(src, dst):
    """Copy of a run as the needle task before v3 wrote it (no keyed/other/positional data)."""
    shutil.copy(src, dst)
    with edit_stamped(dst) as f:
        g = f["eval/needle"]
        for k in list(g.keys()):
            if k.startswith(("keyed", "other_needle", "positional", "questions")):
                del g[k]


def table_cells(text):
    """{header: [value per row]} of harness/report/summary.py's table (columns 2+ spaces apart)."""
    lines = text.rstrip("\n").splitlines()
    head = re.split(r"\s{2,}", lines[0].strip())
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    return {h: [r[k] if k < len(r) else "" for r in rows] for k, h in enumerate(head)}


with tempfile.TemporaryDirectory() as tmp:
    runs = []
    for v in ("transformer", "dint"):
        run = os.path.join(tmp, f"{v}.h5")
        dint("train", "--variant", v, "--data", "sotu:0.7,needle:0.3", "--out", run, "--set", "model.n_layer=1",
             "--set", "model.d_model=32", "--set", "model.head_dim=8", "--set", "train.steps=3", "--set",
             "train.seq_len=128", "--set", "train.batch_size=2", "--set", "train.eval_every=3", "--set",
             "train.warmup=1", "--set", "train.eval_batches=1")
        dint("eval", "needle", "--run", run, "--needles", "1:1,2:1,2:2", "--lengths", "256", "--depths", "0,1",
             "--samples", "3")
        dint("eval", "ppl", "--run", run, "--window", "256", "--max-docs", "2")
        dint("eval", "icl", "--run", run, "--dataset", "wordnet-noun", "--shots", "0,1", "--episodes", "3",
             "--orders", "2", "--context", "512")
        dint("audit", "--run", run, "--samples", "1", "--seq", "64")
        runs.append(run)
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "report", "summary.py"), *runs, "--json"],
                         check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    table = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "report", "summary.py"), *runs],
                           check=True, capture_output=True, text=True).stdout
    check(len(table.strip().splitlines()) == 3, "the table has a header and one row per run")
    for run, r in zip(runs, rows):
        f = h5py.File(run, "r")
        check(r["variant"] == f.attrs["variant"], "variant")
        check(r["val_loss"] == float(f["train/val_loss"][-1]), "validation loss is the last /train/val_loss")
        scored = f["eval/needle/samples/control"][...] == 0
        for i, (nn, rr) in enumerate(CONFIGS):
            key = f"N={nn},R={rr}"
            sel = (f["eval/needle/samples/cell"][...] // 2 == i) & scored
            k = int(np.sum(f["eval/needle/samples/correct"][...][sel]))
            n = int(np.sum(sel))
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
        a = f["train/onset"].attrs
        check(r["onset"] == [int(a["step"]), int(a["censored"])] and r["onset"] == [3, 1],
              f"onset is the stored /train/onset (3 steps: censored at 3): {r['onset']}")
    cells = table_cells(table)
    check(cells["retrieval onset"] == [">3", ">3"], f"the table's onset column: {cells.get('retrieval onset')}")

    # Keyed rate, other-needle rate and position-only reference: summary (JSON and table) and
    # tables against the count datasets and the per-sample records.
    rand = os.path.join(tmp, "random.h5")
    randomise(runs[1], rand, 5)
    old = os.path.join(tmp, "old.h5")
    strip_v3(runs[0], old)
    files = runs + [rand]
    rows = json.loads(py("summary.py", *files, old, "--json"))
    cells = table_cells(py("summary.py", *files, old))
    some_nonzero = False
    for idx, (run, r) in enumerate(zip(files, rows)):
        f = h5py.File(run, "r")
        g = f["eval/needle"]
        text = py("tables.py", run)
        total = g["total"][...]
        for i, (nn, rr) in enumerate(CONFIGS):
            key, tkey = f"N={nn},R={rr}", f"N={nn}, R={rr}"
            (kc, nc), (kk, nk), (ko, no) = from_samples(f, i)
            # the file's counts agree with its per-sample records
            check((int(g["correct"][i].sum()), int(total[i].sum())) == (kc, nc), f"{run}: {key} correct/total = samples")
            check(int(g["other_needle"][i].sum()) == ko and int(g["questions"][i].sum()) == no,
                  f"{run}: {key} other_needle/questions = samples ({ko}/{no})")
            if nn >= 2:
                check(int(g["keyed"][i].sum()) == kk and int(g["keyed_total"][i].sum()) == nk,
                      f"{run}: {key} keyed/keyed_total = samples ({kk}/{nk})")
            # position-only: the best scorer, via positional_accuracy x total (not positional_correct)
            pc = np.rint(g["positional_accuracy"][...][i] * total[i][..., None]).reshape(-1, 3).sum(axis=0)
            best = int(np.argmax(pc))
            t = int(total[i].sum())
            if nn < 2:
                check(key not in r["needle_keyed"] and key not in r["needle_position_only"],
                      f"summary: no keyed/position-only entry for {key}")
                check(f"keyed {key}" not in cells, f"summary table: no keyed column for {key}")
            else:
                some_nonzero |= kk > 0 and ko > 0
                for name, got, (k, n) in (("keyed", r["needle_keyed"][key], (kk, nk)),
                                          ("other-needle", r["needle_other"][key], (ko, no))):
                    lo, hi = wilson95(k, n)
                    check(got[3:5] == [k, n] and abs(got[0] - k / n) < 1e-12 and abs(got[1] - lo) < 1e-9
                          and abs(got[2] - hi) < 1e-9, f"summary: {run} {name} {key} = {k}/{n} from the samples: {got}")
                    check(cells[f"{name} {key}"][idx] == f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]",
                          f"summary table: {name} {key} of {run}: {cells[f'{name} {key}'][idx]!r}")
                pos = r["needle_position_only"][key]
                check(pos[3:5] == [int(pc[best]), t] and abs(pos[0] - pc[best] / t) < 1e-12 and pos[5] == SCORERS[best],
                      f"summary: {run} position-only {key} = best scorer {SCORERS[best]} {int(pc[best])}/{t}: {pos}")
                check(cells[f"position-only {key}"][idx] == f"{pc[best] / t:.3f} ({SCORERS[best]})",
                      f"summary table: position-only {key} of {run}")
                lo, hi = wilson95(kk, nk)
                check(f"{tkey}: " in text and f"pair right): {kk}/{nk} samples = {kk / nk:.3f} [{lo:.3f}, {hi:.3f}]"
                      in text.split(f"{tkey}:")[1].split("length \\ depth")[0], f"tables: {run} keyed {key} {kk}/{nk}")
            block = text.split(f"{tkey}:")[1].split("length \\ depth")[0]
            lo, hi = wilson95(ko, no)
            check(f"number): {ko}/{no} questions = {ko / no:.3f} [{lo:.3f}, {hi:.3f}]" in block,
                  f"tables: {run} other-needle {key} {ko}/{no}")
            want = ", ".join(f"{SCORERS[k]} {int(pc[k])}/{t} = {pc[k] / t:.3f} [{wilson95(pc[k], t)[0]:.3f}, "
                             f"{wilson95(pc[k], t)[1]:.3f}]" for k in range(3))
            check(f"number): {want}" in block, f"tables: {run} position-only scorers {key}: want {want}")
    check(some_nonzero, "the randomised copy has keyed and other-needle answers (the checks above can fail)")
    # The copy without the v3 datasets: n/a, accuracy unchanged.
    r_old, r_src = rows[-1], rows[0]
    for nn, rr in CONFIGS[1:]:
        key = f"N={nn},R={rr}"
        check(r_old["needle_keyed"][key] is None and r_old["needle_other"][key] is None
              and r_old["needle_position_only"][key] is None, f"summary: old file {key} keyed/other/position-only null")
        check(all(cells[f"{w} {key}"][-1] == "n/a" for w in ("keyed", "other-needle", "position-only")),
              f"summary table: old file shows n/a for {key}")
        check(r_old["needle"][key] == r_src["needle"][key], f"summary: old file keeps needle accuracy {key}")
    t_old = py("tables.py", old)
    check("keyed" not in t_old and "other needle" not in t_old and "N=2, R=2: " in t_old,
          "tables: old file prints the accuracy lines only")

    # harness/report/tables.py: the needle grid, the ICL row and the perplexity line of one run, each
    # number recomputed from the per-sample records and datasets.
    for run in runs:
        f = h5py.File(run, "r")
        text = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "report", "tables.py"), run],
                              check=True, capture_output=True, text=True).stdout
        scored = f["eval/needle/samples/control"][...] == 0
        cell = np.where(scored, f["eval/needle/samples/cell"][...], -1)  # key-swap controls are not scored
        ok = f["eval/needle/samples/correct"][...]
        ll = f["eval/needle/samples/loglik"][...]
        for i, (nn, rr) in enumerate(CONFIGS):
            key = f"N={nn}, R={rr}"
            sel = cell // 2 == i
            check(f"{key}: {int(ok[sel].sum())}/{int(sel.sum())} exact" in text, f"tables: needle {key} pooled count")
            block = text.split(f"{key}:")[1].splitlines()
            head = [j for j, line in enumerate(block) if line.strip().startswith("length \\ depth")][0]
            lines = block[head + 1].split(")")
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
    bad = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "harness", "report", "tables.py"), "/nonexistent.h5"],
                         capture_output=True, text=True)
    check(bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "error" in bad.stderr,
          "tables: a missing file is one error line")

finish()
