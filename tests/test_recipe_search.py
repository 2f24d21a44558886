#!/usr/bin/env -S /usr/bin/python3
"""harness/recipe_search.py on a 2-recipe file of tiny shapes (one recipe for two variants, one
two-stage curriculum): every cell of its markdown table is recomputed here from the run files
(steps, batch and seq of each stage from the config, the data spec, wall time from
/train/seconds, the onset from /train/onset with the steps of earlier stages added, the mean
answer losses of the last 100 steps, the needle accuracy and keyed rate from the counts);
the curriculum's second stage starts from the first's weights; --only re-runs one recipe by name
reusing its finished runs (files byte-identical); --jobs 2 gives the serial table (wall times
aside); --table-only --figure writes a PNG of the
answer-loss curves (tokens seen through the stages, the trailing mean over the onset window), a
--figure in a missing directory or without matplotlib is one line; --at-steps prints the mean
answer losses at given steps and the first step below --below, and plots/recipe_search.py draws
the trailing means against the tokens seen, both checked on a hand-made curve; the committed
harness/recipes.ini parses and its table lists every recipe as not run; bad names are one line,
exit 2.
Prints 'N passed, N failed'; exits non-zero on any failure."""
import hashlib
import importlib.util
import json
import os
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
if len(sys.argv) != 2:
    sys.exit("usage: /usr/bin/python3 tests/test_recipe_search.py DINT")
DINT = os.path.abspath(sys.argv[1])
SCRIPT = os.path.join(ROOT, "harness", "recipe_search.py")

TINY = ("--set model.n_layer=1 --set model.d_model=32 --set model.head_dim=8 --set train.seq_len=256 "
        "--set train.batch_size=2 --set train.warmup=1 --set train.eval_batches=1 --set train.log_every=2")
RECIPES = f"""[DEFAULT]
tiny = {TINY}

[tiny-needle]
variants = transformer, dint
stage1 = --data sotu:0.3,needle:0.7 --seed 3 %(tiny)s --set data.task_loss=queries
    --set train.steps=5 --set train.eval_every=5
note = a tiny recipe

[tiny-curriculum]
variants = diff
stage1 = --data sotu:0.5,copy:0.5 --seed 1 %(tiny)s --set train.steps=3 --set train.eval_every=3
stage2 = --data sotu:0.3,needle:0.7 --seed 2 %(tiny)s --set train.steps=4 --set train.eval_every=4
    --set train.lr=1e-3
note = copy, then needles
"""



def search(*args):
    return subprocess.run(["/usr/bin/python3", SCRIPT, "--dint", DINT, *args], capture_output=True, text=True)


def rows(markdown):
    lines = [l for l in markdown.splitlines() if l.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in l.strip("|").split("|")))) for l in lines[2:]]


def expected(runs):
    """The row's cells recomputed from the run files."""
    stages, seconds, offset, onset, any_multi = [], 0.0, 0, None, False
    for run in runs:
        with h5py.File(run, "r") as f:
            cfg = json.loads(f.attrs["config"])["train"]
            n = len(f["train/step"])
            stages.append(f"{n:,} ({cfg['batch_size']} x {cfg['seq_len']})")
            seconds += float(f["train/seconds"][-1])
            any_multi |= bool(np.isfinite(f["train/answer_loss_multi"][...]).any())
            a = f["train/onset"].attrs
            if onset is None and a["censored"] == 0:
                onset = offset + int(a["step"])
            offset += n
    with h5py.File(runs[0], "r") as f:
        data = f"`{f['data'].attrs['spec']}`"
    with h5py.File(runs[-1], "r") as f:
        loss = []
        for k in ("answer_loss", "answer_loss_multi"):
            v = f["train/" + k][-100:]
            v = v[np.isfinite(v)]
            loss.append(f"{np.mean(v):.3f}" if len(v) else "n/a")
        g = f["eval/needle"]
        cfgs = list(zip(g["n_needles"][...].astype(int), g["n_queried"][...].astype(int)))
        acc = {}
        for key, c in (("N=1 accuracy", (1, 1)), ("N=2, R=2 accuracy", (2, 2))):
            i = cfgs.index(c)
            k, t = int(g["correct"][i].sum()), int(g["total"][i].sum())
            acc[key] = f"{k / t:.2f} ({k}/{t})"
        i = cfgs.index((2, 2))
        k, t = int(g["keyed"][i].sum()), int(g["keyed_total"][i].sum())
        acc["keyed rate N=2"] = f"{k / t:.2f} ({k}/{t})"
        lengths = list(g["context_length"][...].astype(int))
    return {"steps (batch x seq), per stage": " + ".join(stages), "data": data,
            "wall time": f"{seconds:.1f} s",
            "retrieval onset": (f">{offset:,}" if onset is None else f"{onset:,}") if any_multi else "n/a (no N ≥ 2 answers)",
            "answer loss, last 100 steps (all / N ≥ 2)": " / ".join(loss), **acc}, lengths


def digest(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


with tempfile.TemporaryDirectory() as tmp:
    recipes = os.path.join(tmp, "recipes.ini")
    with open(recipes, "w") as fh:
        fh.write(RECIPES)
    res = os.path.join(tmp, "runs")
    md = os.path.join(tmp, "table.md")
    r = search("--recipes", recipes, "--results", res, "--eval-samples", "1", "--out", md)
    check(r.returncode == 0, f"recipe_search exit {r.returncode}: {r.stderr.strip().splitlines()[-2:]}")
    got = rows(r.stdout) if r.returncode == 0 else []
    check(os.path.exists(md) and open(md).read() == r.stdout, "--out writes the same markdown")
    check([(x["recipe"], x["variant"]) for x in got] ==
          [("tiny-needle", "transformer"), ("tiny-needle", "dint"), ("tiny-curriculum", "diff")],
          f"one row per recipe and variant: {[(x.get('recipe'), x.get('variant')) for x in got]}")
    for row in got:
        n_stages = 2 if row["recipe"] == "tiny-curriculum" else 1
        runs = [os.path.join(res, row["recipe"], f"{row['variant']}-stage{k}.h5") for k in range(1, n_stages + 1)]
        want, lengths = expected(runs)
        for col, v in want.items():
            check(row.get(col) == v, f"{row['recipe']} {row['variant']} {col}: table {row.get(col)!r}, files {v!r}")
        check(lengths == [256], f"{row['recipe']} {row['variant']}: evaluated at the training length: {lengths}")
        check(row["note"] in ("a tiny recipe", "copy, then needles"), "note column")
    # --jobs 2: the same rows trained two at a time, one process each, into other files: the same
    # table but for the wall times.
    resj = os.path.join(tmp, "runs-jobs")
    rj = search("--recipes", recipes, "--results", resj, "--eval-samples", "1", "--jobs", "2")
    strip = lambda rs_: [{k: v for k, v in x.items() if k != "wall time"} for x in rs_]
    check(rj.returncode == 0 and strip(rows(rj.stdout)) == strip(got),
          f"--jobs 2: the serial table ({rj.returncode}, {rj.stderr.strip().splitlines()[-2:]})")
    bj = search("--recipes", recipes, "--results", resj, "--jobs", "0")
    check(bj.returncode == 2 and len(bj.stderr.strip().splitlines()) == 1, f"--jobs 0: one line, exit 2")
    # The curriculum: stage 2 started from stage 1 (recorded), the steps add up (3 + 4).
    stage2 = os.path.join(res, "tiny-curriculum", "diff-stage2.h5")
    with h5py.File(stage2, "r") as f:
        check("diff-stage1.h5" in str(f.attrs.get("init_from", "")), "stage 2 records --init-from stage 1")
    cur = [x for x in got if x["recipe"] == "tiny-curriculum"]
    check(cur and cur[0]["steps (batch x seq), per stage"] == "3 (2 x 256) + 4 (2 x 256)"
          and cur[0]["retrieval onset"] == ">7", f"curriculum row: {cur}")
    # --only: one recipe, its finished runs reused unchanged.
    files = [os.path.join(res, "tiny-needle", f"{v}-stage1.h5") for v in ("transformer", "dint")]
    before = [digest(p) for p in files]
    r2 = search("--recipes", recipes, "--results", res, "--eval-samples", "1", "--only", "tiny-needle")
    check(r2.returncode == 0 and [x["recipe"] for x in rows(r2.stdout)] == ["tiny-needle"] * 2,
          "--only tiny-needle: its two rows")
    check(rows(r2.stdout) == got[:2], "--only: the same cells")
    check([digest(p) for p in files] == before and "already complete" in r2.stderr, "--only reuses the finished runs")
    # --variants: only that variant's rows (nothing trained: they are finished).
    rv = search("--recipes", recipes, "--results", res, "--eval-samples", "1", "--variants", "dint")
    check(rv.returncode == 0 and rows(rv.stdout) == [x for x in got if x["variant"] == "dint"],
          f"--variants dint: its rows only ({[(x.get('recipe'), x.get('variant')) for x in rows(rv.stdout)]})")
    bv = search("--recipes", recipes, "--results", res, "--variants", "gpt")
    check(bv.returncode == 2 and len(bv.stderr.strip().splitlines()) == 1, "--variants gpt: one line, exit 2")
    # --figure with --table-only: the answer-loss curves of the finished rows as a PNG (renamed
    # into place from FILE.tmp.png); a --figure in a directory that does not exist is one line.
    png = os.path.join(tmp, "curves.png")
    fg = search("--recipes", recipes, "--results", res, "--table-only", "--figure", png)
    head = open(png, "rb").read(8) if os.path.exists(png) else b""
    check(fg.returncode == 0 and rows(fg.stdout) == got, f"--table-only --figure: exit {fg.returncode}, the same table "
          f"({fg.stderr.strip().splitlines()[-3:]})")
    check(head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 5000 and not os.path.exists(png[:-4] + ".tmp.png"),
          f"--figure writes a PNG: {head!r}, {os.path.getsize(png) if head else 0} bytes")
    nowhere = os.path.join(tmp, "no-such-dir", "curves.png")
    b = search("--recipes", recipes, "--results", res, "--table-only", "--figure", nowhere)
    check(b.returncode != 0 and len(b.stderr.strip().splitlines()) == 1 and "no-such-dir" in b.stderr
          and not os.path.exists(os.path.dirname(nowhere)),
          f"--figure in a missing directory: {b.returncode}, {b.stderr.strip()!r}")
    b = subprocess.run(["/usr/bin/python3", "-c", "import runpy, sys; sys.modules['matplotlib'] = None; "
                        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                        SCRIPT, "--recipes", recipes, "--results", res, "--table-only", "--figure", png],
                       capture_output=True, text=True)
    check(b.returncode != 0 and len(b.stderr.strip().splitlines()) == 1 and "python3-matplotlib" in b.stderr,
          f"--figure without matplotlib: {b.returncode}, {b.stderr.strip()!r}")
    # What it draws (harness/report/answer_curves.py): tokens seen through the stages (batch x
    # grad_accum x seq per step), the trailing mean of all answers over the onset window (NaN steps
    # skipped, at least /train/onset@min_values finite) and, for N >= 2, the stored
    # /train/onset/smoothed.
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.join(ROOT, "harness", "report"))
    import answer_curves as mod
    c = mod.losses([os.path.join(res, "tiny-curriculum", f"diff-stage{k}.h5") for k in (1, 2)])
    x, y_all, y_multi, th = c["tokens"], c["smooth_all"], c["smooth_multi"], c["thresholds"]
    check(list(x) == [512, 1024, 1536, 2048, 2560, 3072, 3584], f"tokens seen through the curriculum: {list(x)}")
    with h5py.File(os.path.join(res, "tiny-curriculum", "diff-stage2.h5"), "r") as f:
        window, theta = int(f["train/onset"].attrs["window"]), float(f["train/onset"].attrs["threshold"])
    check(th == {theta} and (window + 1) // 2 > 4 and np.isnan(y_all).all() and np.isnan(y_multi).all(),
          f"fewer than half of the {window}-step window finite: no curve ({y_all}, {th})")
    tm = mod.trailing_mean([1.0, np.nan, 3.0, np.nan, np.nan, 5.0], 4)
    check(np.array_equal(tm, [np.nan, np.nan, 2.0, 2.0, np.nan, 4.0], equal_nan=True), f"trailing mean: {tm}")
    tm = mod.trailing_mean([1.0, np.nan, 3.0, np.nan, np.nan, 5.0], 4, min_values=1)
    check(np.array_equal(tm, [1.0, 1.0, 2.0, 2.0, 3.0, 4.0]), f"trailing mean, at least 1 value: {tm}")
    with h5py.File(os.path.join(res, "tiny-curriculum", "diff-stage2.h5"), "r") as f:
        stored = f["train/onset/smoothed"][...].astype(float)
    check(np.array_equal(y_multi[3:], stored, equal_nan=True), "N >= 2: the stored /train/onset/smoothed")
    # --at-steps on a hand-made curve: the curriculum's two stages (3 + 4 steps of 512 tokens)
    # copied, their answer losses replaced and their onset window set to 2 steps (1 value enough).
    res2 = os.path.join(tmp, "handmade")
    os.makedirs(os.path.join(res2, "tiny-curriculum"))
    made = {1: [3.0, 3.0, 3.0], 2: [2.0, 0.5, 0.4, np.nan]}
    for k, loss in made.items():
        dst = os.path.join(res2, "tiny-curriculum", f"diff-stage{k}.h5")
        with open(os.path.join(res, "tiny-curriculum", f"diff-stage{k}.h5"), "rb") as src, open(dst, "wb") as out:
            out.write(src.read())
        with edit_stamped(dst) as f:
            f["train/answer_loss"][...] = loss
            f["train/answer_loss_multi"][...] = [1.0] + [np.nan] * (len(loss) - 1)
            f["train/onset"].attrs["window"] = 2
            f["train/onset"].attrs["min_values"] = 1
    at = search("--recipes", recipes, "--results", res2, "--table-only", "--only", "tiny-curriculum",
                "--at-steps", "1,5,7,8", "--below", "1.0")
    tables = at.stdout.split("\n\n")
    got_at = rows(tables[1]) if at.returncode == 0 and len(tables) == 2 else []
    # Step 5: mean of steps 1-5 = (3 + 3 + 3 + 2 + 0.5) / 5; N >= 2: step 1 only (1.0). Step 7:
    # steps 1-6 (step 7 is NaN). First below 1.0: the 2-step trailing mean within stage 2 is
    # 2, 1.25, 0.45 -> step 6 (3 + 3 steps of 512 tokens).
    want = {"recipe": "tiny-curriculum", "variant": "diff", "step 1": "3.00 / 1.00", "step 5": "2.30 / 1.00",
            "step 7": f"{(9 + 2 + 0.5 + 0.4) / 6:.2f} / 1.00", "step 8": "–",
            "all answers first below 1 nat": "6 (0.0 M tokens)"}
    check(got_at == [want], f"--at-steps on a hand-made curve: {got_at or at.stderr.strip()}")
    nb = search("--recipes", recipes, "--results", res2, "--table-only", "--only", "tiny-curriculum",
                "--at-steps", "7", "--below", "0.3")
    check(nb.returncode == 0 and "| never (>7) |" in nb.stdout, f"--below 0.3: never reached ({nb.stdout[-200:]})")
    # plots/recipe_search.py draws those rows: a 1300 x 500 PNG; its left panel's curve is the
    # 2-step trailing mean within each stage against the tokens seen (the figure kept in memory).
    made_png = os.path.join(tmp, "handmade.png")
    stages = [os.path.join(res2, "tiny-curriculum", f"diff-stage{k}.h5") for k in (1, 2)]
    pl = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "plots", "recipe_search.py"), ",".join(stages),
                         "-o", made_png], capture_output=True, text=True)
    with open(made_png, "rb") as fh:
        head = fh.read(24)
    size = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
    check(pl.returncode == 0 and size == (1300, 500), f"plots/recipe_search.py: exit {pl.returncode}, size {size}")
    spec = importlib.util.spec_from_file_location("plots_recipe_search", os.path.join(ROOT, "plots", "recipe_search.py"))
    fig_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fig_mod)
    kept = []
    fig_mod.C.save = lambda fig, out: kept.append(fig)
    fig_mod.render([("tiny-curriculum", "diff", stages)], made_png)
    line = kept[0].axes[0].get_lines()[0] if kept and kept[0].axes[0].get_lines() else None
    xy = (list(line.get_xdata() * 1e6), list(line.get_ydata())) if line else ([], [])
    check(np.allclose(xy[0], [512 * k for k in range(1, 8)]) and
          np.allclose(xy[1], [3, 3, 3, 2, 1.25, 0.45, 0.4]) and line.get_label() == "tiny-curriculum (diff)",
          f"plots/recipe_search.py draws the trailing means against tokens: {xy}")
    pb = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "plots", "recipe_search.py"),
                         os.path.join(tmp, "none.h5"), "-o", made_png], capture_output=True, text=True)
    check(pb.returncode == 2 and len(pb.stderr.strip().splitlines()) == 1, f"plots/recipe_search.py on a missing "
          f"file: exit {pb.returncode}, {pb.stderr.strip()!r}")
    for bad in (("--at-steps", "0"), ("--at-steps", "x"), ("--at-steps", "5", "--below", "-1")):
        b = search("--recipes", recipes, "--results", res2, "--table-only", *bad)
        check(b.returncode == 2 and len(b.stderr.strip().splitlines()) == 1, f"{' '.join(bad)}: one line, exit 2")
    # Bad arguments: one line, exit 2.
    b = search("--recipes", recipes, "--results", res, "--only", "nope")
    check(b.returncode == 2 and len(b.stderr.strip().splitlines()) == 1 and "no recipe nope" in b.stderr,
          f"unknown recipe: {b.stderr.strip()!r}")
    with open(os.path.join(tmp, "bad.ini"), "w") as fh:
        fh.write("[x]\nvariants = gpt\nstage1 = --data sotu\n")
    b = search("--recipes", os.path.join(tmp, "bad.ini"), "--results", res)
    check(b.returncode == 2 and "variants must list" in b.stderr, f"bad variant: {b.stderr.strip()!r}")
    # The committed recipe file: parses, every recipe listed (not run here).
    t = search("--table-only", "--results", os.path.join(tmp, "none"))
    committed = rows(t.stdout) if t.returncode == 0 else []
    check(t.returncode == 0 and len(committed) >= 11 and all(x["steps (batch x seq), per stage"] == "not run" for x in committed),
          f"harness/recipes.ini: {len(committed)} rows, all not run ({t.stderr.strip()[:200]})")
    check(sum("candidate" in x["note"] for x in committed) >= 3 and
          any(x["recipe"] == "task-demo-256-then-512" for x in committed), "recipes.ini: README's recipes and candidates")

finish()
