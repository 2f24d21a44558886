#!/usr/bin/env -S /usr/bin/python3
"""Search training recipes for needle retrieval: train every recipe of a recipe file (or the ones
named) for each variant it lists, evaluate the result on the needle task at its training length,
and print README's "Training for retrieval" table as markdown, every number read from the run
files. Finished work is reused: a complete stage is kept, an interrupted one resumed, finished
evaluation cells skipped, so any row can be re-run by name.

    /usr/bin/python3 harness/recipe_search.py [--only NAME[,NAME...]] [--variants V[,V...]] [--recipes FILE]
        [--results DIR] [--dint PATH] [--threads N] [--jobs N] [--eval-samples S] [--no-eval]
        [--table-only] [--out FILE.md] [--figure FILE.png] [--at-steps S,... [--below X]]

Recipe file (INI; default harness/recipes.ini): one section per recipe, its name the section's.
  variants = transformer, diff, dint   the variants to train it for
  stage1   = DINT TRAIN OPTIONS         --data, --seed, --set ... of the first run
  stage2   = ...                        optional: a curriculum stage started from the previous
                                        stage's weights (--init-from); stage3, ... likewise
  note     = TEXT                       shown in the table (e.g. what README reported)
[DEFAULT] holds shared values, used as %(name)s.

Runs: DIR/<recipe>/<variant>-stage<k>.h5 (default DIR results/recipes), dint's output in .log
beside each. Columns: training per stage (steps x batch x seq, from the run's config), data
(/data@spec of stage 1), wall time (the stages' /train/seconds), the retrieval onset
(/train/onset, steps counted through the stages: the first stage whose onset is not censored;
">N" when no stage reached it by step N; n/a without needle episodes of N >= 2), the mean of /train/answer_loss and of
/train/answer_loss_multi (N >= 2 episodes) over the last 100 steps of the last stage, and with
the evaluation (dint eval needle --needles 1:1,2:2 at the last stage's train.seq_len, depths
0, 0.25, 0.5, 0.75, 1, S samples per cell) the pooled accuracy at N = 1 and N = 2 (R = 2) and the
keyed rate at N = 2. --jobs N trains and evaluates up to N rows at once, one process per row
(this script for that row alone), then prints the table; the default is one process per core (at
most one per row), each with cores / N threads. Exit status 1 when a run failed (the
others go on), 2 on bad arguments.

--at-steps S,... also prints, for every row whose run files are all complete, the mean of
/train/answer_loss and /train/answer_loss_multi over the 100 steps ending at each step S (steps
counted through the stages; '–' past the row's end) and the first step at which the trailing mean
of all answers over the onset window (/train/onset@window, within each stage) is below --below
(default 1.0 nat per answer token), with the tokens seen by then: harness/report/answer_curves.py.
--figure FILE.png also draws those rows' answer-loss curves against the tokens seen
(plots/recipe_search.py, which says what it draws; needs matplotlib, Debian python3-matplotlib,
imported only then); both work with --table-only.
"""
import argparse
import configparser
import json
import math
import os
import subprocess
import sys
import time

try:
    import h5py
    import numpy as np
except ImportError as exc:  # one line, naming the Debian packages
    sys.exit(f"harness/recipe_search.py: error: {exc.name} is missing (apt-get install python3-h5py python3-numpy)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "harness", "report"))
import runschema as rs  # noqa: E402
from answer_curves import losses  # noqa: E402
from h5digest import open_verified  # noqa: E402
from runschema import name  # noqa: E402

PROG = "harness/recipe_search.py"
LAST_STEPS = 100  # the final answer loss: mean over the last stage's last 100 steps
DEPTHS = "0,0.25,0.5,0.75,1"
VARIANTS = rs.VARIANTS  # what dint train --variant accepts (core/variants.c)


def die(msg):
    sys.stderr.write(f"{PROG}: error: {msg}\n")
    sys.exit(2)


def load_recipes(path):
    """[(name, variants, [stage options], note)] in file order."""
    cp = configparser.ConfigParser()
    try:
        with open(path) as fh:
            cp.read_file(fh)
    except (OSError, configparser.Error) as exc:
        die(f"{path}: {str(exc).splitlines()[0]}")
    out = []
    for sec in cp.sections():
        try:
            variants = [v.strip() for v in cp.get(sec, "variants").split(",") if v.strip()]
            stages = []
            while cp.has_option(sec, f"stage{len(stages) + 1}"):
                stages.append(cp.get(sec, f"stage{len(stages) + 1}").split())
            note = cp.get(sec, "note", fallback="")
        except configparser.Error as exc:
            die(f"{path}: [{sec}]: {str(exc).splitlines()[0]}")
        bad = [v for v in variants if v not in VARIANTS]
        if not variants or bad:
            die(f"{path}: [{sec}]: variants must list transformer, diff or dint (got {', '.join(bad) or 'none'})")
        if not stages:
            die(f"{path}: [{sec}] has no stage1 (the dint train options of its first run)")
        out.append((sec, variants, stages, note))
    return out


def status_of(path):
    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs[name(rs.RUN_AT_STATUS)])
    except (OSError, KeyError):
        return "none" if not os.path.exists(path) else "unreadable"


def dint_run(args, log, dint):
    """Run dint with its output appended to log; 0 or its exit code (the last log line shown)."""
    with open(log, "a") as fh:
        rc = subprocess.run([dint, *args], stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        with open(log) as fh:
            lines = fh.read().strip().splitlines()
        sys.stderr.write(f"{PROG}: dint {args[0]} failed: {lines[-1] if lines else '(no output)'} (see {log})\n")
    return rc


def train_stages(recipe, variant, stages, a):
    """Train, resume or keep each stage; the run files, or None when one failed."""
    runs = []
    for k, opts in enumerate(stages, 1):
        run = os.path.join(a.results, recipe, f"{variant}-stage{k}.h5")
        log = run[:-3] + ".log"
        st = status_of(run)
        threads = ["--threads", str(a.threads)] if a.threads else []
        if st == "complete":
            sys.stderr.write(f"{PROG}: {recipe} {variant} stage {k}: already complete\n")
        elif st in ("running", "stopped"):
            sys.stderr.write(f"{PROG}: {recipe} {variant} stage {k}: resuming\n")
            if dint_run(["train", "--out", run, "--resume", *threads], log, a.dint):
                return None
        elif st == "none":
            sys.stderr.write(f"{PROG}: {recipe} {variant} stage {k}: training\n")
            init = ["--init-from", runs[-1]] if runs else []
            if dint_run(["train", "--variant", variant, "--out", run, *init, *opts, *threads], log, a.dint):
                return None
        else:
            sys.stderr.write(f"{PROG}: {run} is not a readable run file; move it away and run again\n")
            return None
        runs.append(run)
    return runs


def train_rows_in_parallel(recipes, a):
    """--jobs N: each row (recipe, variant) trained and evaluated by a process of its own running
    this script for that row alone (--only R --variants V), at most N at a time; rows start in file
    order. The number of rows that failed."""
    cmd = [sys.executable, os.path.abspath(__file__), "--recipes", a.recipes, "--results", a.results,
           "--dint", a.dint, "--eval-samples", str(a.eval_samples)]
    # Without --threads each row gets its share of the cores, so N rows' OpenMP and OpenBLAS
    # threads do not fight over them.
    threads = a.threads or max(1, (os.cpu_count() or 1) // a.jobs)
    cmd += ["--threads", str(threads), "--jobs", "1"] + (["--no-eval"] if a.no_eval else [])
    pending = [(recipe, v) for recipe, variants, _, _ in recipes for v in variants]
    running, failed = [], 0
    while pending or running:
        while pending and len(running) < a.jobs:
            recipe, v = pending.pop(0)
            running.append(subprocess.Popen(cmd + ["--only", recipe, "--variants", v], stdout=subprocess.DEVNULL))
        time.sleep(0.2)
        for p in [p for p in running if p.poll() is not None]:
            failed += p.returncode != 0
            running.remove(p)
    return failed


def evaluate(run, a):
    with open_verified(run) as f:
        seq = json.loads(f.attrs[name(rs.RUN_AT_CONFIG)])["train"]["seq_len"]
    threads = ["--threads", str(a.threads)] if a.threads else []
    return dint_run(["eval", "needle", "--run", run, "--needles", "1:1,2:2", "--lengths", str(seq),
                     "--depths", DEPTHS, "--samples", str(a.eval_samples), *threads], run[:-3] + ".log", a.dint)


def fmt_seconds(s):
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def measure(runs):
    """The table's cells of one (recipe, variant) from its stages' run files."""
    stages, seconds, offset, onset, measured = [], 0.0, 0, None, False
    for run in runs:
        with open_verified(run) as f:
            t = json.loads(f.attrs[name(rs.RUN_AT_CONFIG)])["train"]
            steps = int(f[rs.RUN_TRAIN].attrs[name(rs.RUN_TRAIN_AT_STEPS_DONE)])
            stages.append(f"{steps:,} ({t['batch_size'] * t.get('grad_accum', 1)} x {t['seq_len']})")
            seconds += float(f[rs.RUN_TRAIN_SECONDS][-1]) if steps else 0.0
            measured |= bool(np.isfinite(f[rs.RUN_TRAIN_ANSWER_LOSS_MULTI][...]).any())
            a = f[rs.RUN_TRAIN_ONSET].attrs
            if onset is None and not int(a[name(rs.RUN_TRAIN_ONSET_AT_CENSORED)]):
                onset = offset + int(a[name(rs.RUN_TRAIN_ONSET_AT_STEP)])
            offset += steps
    with open_verified(runs[0]) as f:
        data = str(f[rs.RUN_DATA].attrs[name(rs.RUN_DATA_AT_SPEC)])
    cells = {"training": " + ".join(stages), "data": f"`{data}`", "wall time": fmt_seconds(seconds),
             "onset": f">{offset:,}" if onset is None else f"{onset:,}"}
    if not measured:
        cells["onset"] = "n/a (no N ≥ 2 answers)"
    with open_verified(runs[-1]) as f:
        losses = []
        for path in (rs.RUN_TRAIN_ANSWER_LOSS, rs.RUN_TRAIN_ANSWER_LOSS_MULTI):
            v = f[path][-LAST_STEPS:] if path in f else np.array([])
            v = v[np.isfinite(v)]
            losses.append(f"{v.mean():.3f}" if len(v) else "n/a")
        cells["answer loss"] = " / ".join(losses)
        for col in ("N=1", "N=2", "keyed N=2"):
            cells[col] = "n/a"
        if rs.NEEDLE in f:
            g = f[rs.NEEDLE]
            configs = list(zip(g[name(rs.NEEDLE_N_NEEDLES)][...].astype(int), g[name(rs.NEEDLE_N_QUERIED)][...].astype(int)))
            correct, total = g[name(rs.NEEDLE_CORRECT)][...], g[name(rs.NEEDLE_TOTAL)][...]
            for col, cfg in (("N=1", (1, 1)), ("N=2", (2, 2))):
                if cfg in configs:
                    i = configs.index(cfg)
                    k, n = int(correct[i].sum()), int(total[i].sum())
                    cells[col] = f"{k / n:.2f} ({k}/{n})" if n else "n/a"
            if (2, 2) in configs and name(rs.NEEDLE_KEYED) in g:
                i = configs.index((2, 2))
                k, n = int(g[name(rs.NEEDLE_KEYED)][i].sum()), int(g[name(rs.NEEDLE_KEYED_TOTAL)][i].sum())
                cells["keyed N=2"] = f"{k / n:.2f} ({k}/{n})" if n else "n/a"
    return cells


def at_steps_cells(runs, at_steps, below):
    """The cells of one row of the --at-steps table: at each step S (counted through the stages),
    the mean of the raw answer losses over the LAST_STEPS steps ending at S (all / N >= 2, NaN
    skipped), '–' past the row's end; then the first step at which the trailing mean of all
    answers (onset window) is below `below`, with the tokens seen by then."""
    c = losses(runs)
    cells = {}
    for s in at_steps:
        sel = (c["step"] > s - LAST_STEPS) & (c["step"] <= s)
        if not len(c["step"]) or s > c["step"][-1] or not sel.any():
            cells[f"step {s:,}"] = "–"
            continue
        means = []
        for key in ("all", "multi"):
            v = c[key][sel]
            v = v[np.isfinite(v)]
            means.append(f"{v.mean():.2f}" if len(v) else "n/a")
        cells[f"step {s:,}"] = " / ".join(means)
    hit = np.flatnonzero(np.nan_to_num(c["smooth_all"], nan=np.inf) < below)
    cells["first below"] = (f"{int(c['step'][hit[0]]):,} ({c['tokens'][hit[0]] / 1e6:.1f} M tokens)"
                            if len(hit) else f"never (>{int(c['step'][-1]) if len(c['step']) else 0:,})")
    return cells


def at_steps_markdown(rows, at_steps, below):
    """The --at-steps table of rows [(recipe, variant, run files)] as markdown."""
    heads = ["recipe", "variant"] + [f"step {s:,}" for s in at_steps] + [f"all answers first below {below:g} nat"]
    keys = ["recipe", "variant"] + [f"step {s:,}" for s in at_steps] + ["first below"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for recipe, variant, runs in rows:
        cells = {"recipe": recipe, "variant": variant, **at_steps_cells(runs, at_steps, below)}
        lines.append("| " + " | ".join(cells[k] for k in keys) + " |")
    return "\n".join(lines) + "\n"


def figure_target(path):
    """Check --figure before any work: its directory exists and it is not a directory."""
    d = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        die(f"--figure {path} is a directory (give FILE.png)")
    if not os.path.isdir(d):
        die(f"--figure {path}: no directory {d}")
    if not os.access(d, os.W_OK):
        die(f"--figure {path}: directory {d} is not writable")


def import_figure():
    """plots/recipe_search.py, which draws --figure (its import checks matplotlib)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # one line, naming the Debian package
        sys.exit(f"{PROG}: error: {exc.name or 'matplotlib'} is missing, --figure needs it "
                 "(apt-get install python3-matplotlib)")
    import importlib.util
    spec = importlib.util.spec_from_file_location("plots_recipe_search", os.path.join(ROOT, "plots", "recipe_search.py"))
    figure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figure)
    figure.C.QUIET = True  # no "wrote" line on stdout, which holds the table
    return figure


COLUMNS = (("recipe", "recipe"), ("variant", "variant"), ("training", "steps (batch x seq), per stage"),
           ("data", "data"), ("wall time", "wall time"), ("onset", "retrieval onset"),
           ("answer loss", f"answer loss, last {LAST_STEPS} steps (all / N ≥ 2)"), ("N=1", "N=1 accuracy"),
           ("N=2", "N=2, R=2 accuracy"), ("keyed N=2", "keyed rate N=2"), ("note", "note"))


def markdown(rows):
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")).replace("|", "\\|") for k, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="comma-separated recipe names (default: every recipe of the file)")
    p.add_argument("--variants", help="comma-separated variants: only the rows of these (e.g. one variant per "
                   "process, to train a recipe's variants side by side)")
    p.add_argument("--recipes", default=os.path.join(ROOT, "harness", "recipes.ini"))
    p.add_argument("--results", default=os.path.join(ROOT, "results", "recipes"))
    p.add_argument("--dint", default=os.path.join(ROOT, "build", "harness", "dint"))
    p.add_argument("--threads", type=int, default=0, help="dint --threads (default: dint's)")
    p.add_argument("--jobs", type=int, default=None, help="rows trained at once, one process each (default: "
                   "one per core, at most one per row: the recipes' small models train more tokens per second "
                   "on the whole machine as one-thread processes side by side); without --threads each gets "
                   "cores / N threads")
    p.add_argument("--eval-samples", type=int, default=10, help="needle samples per cell (default 10)")
    p.add_argument("--no-eval", action="store_true", help="no needle evaluation")
    p.add_argument("--table-only", action="store_true", help="train nothing: the table of what exists")
    p.add_argument("--out", help="also write the markdown table to this file")
    p.add_argument("--figure", metavar="FILE.png", help="also draw the answer-loss curves (needs matplotlib)")
    p.add_argument("--at-steps", metavar="S,...", help=f"also print, for every finished row, the mean answer "
                   f"loss (all / N >= 2) over the {LAST_STEPS} steps ending at each step S (counted through the "
                   "stages) and the first step at which the trailing mean of all answers is below --below")
    p.add_argument("--below", type=float, default=1.0, help="the --at-steps threshold, nats per answer token "
                   "(default 1.0)")
    a = p.parse_args(argv)
    at_steps = []
    if a.at_steps is not None:
        try:
            at_steps = [int(x.replace("_", "")) for x in a.at_steps.split(",") if x.strip()]
        except ValueError:
            at_steps = []
        if not at_steps or min(at_steps) < 1:
            die(f"--at-steps {a.at_steps}: expected comma-separated positive step numbers, e.g. 2000,4000")
    if not (math.isfinite(a.below) and a.below > 0):
        die(f"--below {a.below}: expected a positive number of nats")
    figure = None
    if a.figure:
        figure_target(a.figure)
        figure = import_figure()
    recipes = load_recipes(a.recipes)
    if a.only:
        wanted = [w.strip() for w in a.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in [r[0] for r in recipes]]
        if unknown:
            die(f"no recipe {', '.join(unknown)} in {a.recipes} (it has: {', '.join(r[0] for r in recipes)})")
        recipes = [r for r in recipes if r[0] in wanted]
    if a.variants:
        only_v = [v.strip() for v in a.variants.split(",") if v.strip()]
        bad = [v for v in only_v if v not in VARIANTS]
        if bad or not only_v:
            die(f"--variants: expected transformer, diff or dint (got {', '.join(bad) or 'none'})")
        recipes = [(r, [v for v in vs if v in only_v], st, n) for r, vs, st, n in recipes]
    if a.jobs is not None and a.jobs < 1:
        die(f"--jobs {a.jobs}: expected at least 1")
    if a.jobs is None:
        a.jobs = max(1, min(os.cpu_count() or 1, sum(len(vs) for _, vs, _, _ in recipes)))
    if not a.table_only and not os.access(a.dint, os.X_OK):
        die(f"{a.dint} is not an executable dint (build it: bash harness/setup.sh, or give --dint)")
    rows, failed, complete = [], 0, []
    for recipe, _, _, _ in recipes:
        os.makedirs(os.path.join(a.results, recipe), exist_ok=True)
    train_here = not a.table_only and a.jobs == 1
    if not a.table_only and a.jobs > 1:
        failed = train_rows_in_parallel(recipes, a)
    for recipe, variants, stages, note in recipes:
        for v in variants:
            row = {"recipe": recipe, "variant": v, "note": note}
            runs = [os.path.join(a.results, recipe, f"{v}-stage{k}.h5") for k in range(1, len(stages) + 1)]
            if train_here:
                runs = train_stages(recipe, v, stages, a)
                if runs and not a.no_eval and evaluate(runs[-1], a) != 0:
                    runs = None
                failed += runs is None
            if runs and all(status_of(r) == "complete" for r in runs):
                row.update(measure(runs))
                complete.append((recipe, v, runs))
            else:
                row["training"] = "failed" if not a.table_only else "not run"
            rows.append(row)
    text = markdown(rows)
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text)
    if at_steps:
        sys.stdout.write("\n" + at_steps_markdown(complete, at_steps, a.below))
    if a.figure:
        try:
            figure.render(complete, a.figure)
        except OSError as exc:
            die(f"--figure {a.figure}: {exc.strerror or exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
