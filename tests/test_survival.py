#!/usr/bin/env -S /usr/bin/python3
"""harness/report/survival.py against the worked example of tests/test_survival.c (the same
numbers, the same tolerances): the Freireich et al. (1963) 6-MP/placebo remission data as
analysed in Kleinbaum & Klein, "Survival Analysis: A Self-Learning Text", ch. 2; the edge cases;
then recall_onsets, survival_table, the CLI and plots/survival.py on small run files written
here (3 variants x 3 seeds, some censored, one file without the group, one not HDF5).
Prints 'N passed, N failed'; exits non-zero on any failure."""
import json
import math
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
import h5py  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "harness", "report"))
from pycheck import check, finish  # noqa: E402
import survival as sv  # noqa: E402

REPORT = os.path.join(ROOT, "harness", "report", "survival.py")
PLOT = os.path.join(ROOT, "plots", "survival.py")


def near(x, want, tol, what):
    check(abs(x - want) <= tol, f"{what}: got {x!r}, want {want!r} +- {tol}")


# --- the worked example -----------------------------------------------------------------------
MP = [6, 6, 6, -6, 7, -9, 10, -10, -11, 13, 16, -17, -19, -20, 22, 23, -25, -32, -32, -34, -35]
MP_T, MP_E = [abs(x) for x in MP], [int(x > 0) for x in MP]  # negative: censored (6+ etc.)
PL_T = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
PL_E = [1] * 21

km = sv.kaplan_meier(MP_T, MP_E)
check(km["n"] == 21 and km["n_events"] == 9, "6-MP: 21 patients, 9 relapses")
check(list(km["time"]) == [6, 7, 10, 13, 16, 22, 23], f"6-MP event times {km['time']}")
check(list(km["at_risk"]) == [21, 17, 15, 12, 11, 7, 6], f"6-MP at risk {km['at_risk']}")
check(list(km["events"]) == [3, 1, 1, 1, 1, 1, 1], f"6-MP events {km['events']}")
for s, want in zip(km["surv"], (0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448)):
    near(s, want, 5e-4, "6-MP S (published, 3 decimals)")
near(km["surv"][1], 18 / 21 * 16 / 17, 1e-15, "S(7) exact")
near(km["se"][0], 0.0764, 5e-5, "Greenwood SE at t=6")
# By hand (as in test_survival.c): S = 6/7, v = 1/126, a = z sqrt(v) / -log S = 1.1327065;
# lo = S^(e^a) = 0.6197180, hi = S^(e^-a) = 0.9515517.
near(km["lo"][0], 0.6197180, 1e-6, "log-log lo at t=6")
near(km["hi"][0], 0.9515517, 1e-6, "log-log hi at t=6")
check(bool(np.all((km["lo"] < km["surv"]) & (km["surv"] < km["hi"]))), "band around S")
near(km["lo"][2], 0.5032, 5e-5, "lo at t=10")
near(km["lo"][3], 0.4316, 5e-5, "lo at t=13")
check(km["median"] == 23 and km["median_lo"] == 13 and math.isinf(km["median_hi"]),
      f"6-MP median 23 [13, not reached]: {km['median']} [{km['median_lo']}, {km['median_hi']}]")

kp = sv.kaplan_meier(PL_T, PL_E)
check(kp["median"] == 8 and kp["median_lo"] == 4 and kp["median_hi"] == 11,
      f"placebo median 8 [4, 11]: {kp['median']} [{kp['median_lo']}, {kp['median_hi']}]")
check(kp["surv"][-1] == 0 and math.isnan(kp["se"][-1]) and math.isnan(kp["lo"][-1])
      and math.isnan(kp["hi"][-1]), "placebo S = 0 at 23, SE and band undefined")

lr = sv.logrank(MP_T, MP_E, PL_T, PL_E)
check(lr["observed"] == [9.0, 21.0], f"observed {lr['observed']}")
near(lr["expected"][0], 19.25, 5e-3, "E 6-MP")
near(lr["expected"][1], 10.75, 5e-3, "E placebo")
near(lr["chi2"], 16.79, 5e-3, "log-rank chi-square")
near(lr["p"], 4.2e-5, 5e-7, "p")
near(lr["chi2"], (lr["observed"][0] - lr["expected"][0]) ** 2 / lr["variance"], 1e-12, "(O-E)^2/V")
sw = sv.logrank(PL_T, PL_E, MP_T, MP_E)
near(sw["chi2"], lr["chi2"], 1e-12 * lr["chi2"], "swapped chi2")
near(sw["p"], lr["p"], 1e-12, "swapped p")
check(sw["observed"] == [21.0, 9.0], "swapped observed")

# --- edge cases -------------------------------------------------------------------------------
same = sv.logrank(MP_T, MP_E, MP_T, MP_E)
near(same["chi2"], 0.0, 1e-12, "identical groups chi2")
near(same["p"], 1.0, 1e-12, "identical groups p")
cen = sv.kaplan_meier([5, 3, 9, 9], [0, 0, 0, 0])
check(cen["n_events"] == 0 and cen["time"].size == 0, "all censored: no event times")
check(all(math.isinf(cen[k]) for k in ("median", "median_lo", "median_hi")), "all censored: no median")
none = sv.logrank([5, 3, 9, 9], [0] * 4, [5, 3], [0, 0])
check(none["chi2"] == 0.0 and none["p"] == 1.0 and none["variance"] == 0.0, "no events: chi2 0, p 1")
one = sv.kaplan_meier([7] * 5, [1] * 5)
check(one["time"].tolist() == [7] and one["surv"].tolist() == [0.0] and one["at_risk"].tolist() == [5],
      "all events at one time: S = 0 at 7")
check(one["median"] == one["median_lo"] == one["median_hi"] == 7, "all events at one time: median 7 [7, 7]")
half = sv.kaplan_meier([7] * 4, [1, 1, 0, 0])
check(half["at_risk"].tolist() == [4] and half["surv"].tolist() == [0.5] and half["median"] == 7,
      "censored at the event time are at risk there")
near(half["se"][0], 0.25, 1e-15, "Greenwood 0.5 sqrt(2 / (4 * 2))")
for bad, what in ((([], []), "no subjects"), (([1, -2], [1, 1]), "negative time"),
                  (([1, math.inf], [1, 1]), "infinite time"), (([1, math.nan], [1, 1]), "NaN time"),
                  (([1, 2], [1]), "lengths differ")):
    try:
        sv.kaplan_meier(*bad)
        check(False, f"kaplan_meier refuses {what}")
    except sv.SurvivalError:
        check(True, "")
    try:
        sv.logrank([1, 2], [1, 1], *bad)
        check(False, f"logrank refuses {what}")
    except sv.SurvivalError:
        check(True, "")

# --- run files --------------------------------------------------------------------------------
# (variant, seed, tokens, step, seconds, censored): tokens = 100 per step.
RUNS = [
    ("dint", 1, 500, 5, 5.0, 0), ("dint", 2, 700, 7, 7.5, 0), ("dint", 3, 900, 9, 9.0, 0),
    ("transformer", 1, 1000, 10, 10.0, 0), ("transformer", 2, 2000, 20, 20.0, 0),
    ("transformer", 3, 3000, 30, 30.0, 1),
    ("diff", 1, 1500, 15, 15.0, 0), ("diff", 2, 2500, 25, 25.0, 1), ("diff", 3, 2500, 25, 26.0, 1),
]


def write_run(path, variant, seed, tokens, step, seconds, censored, group=True):
    with h5py.File(path, "w") as f:
        f.attrs["variant"] = variant
        f.attrs["seed"] = np.uint64(seed)
        f.create_group("train")
        if group:
            g = f.create_group("train/recall_onset")
            g.attrs["step"] = np.int64(step)
            g.attrs["censored"] = np.int64(censored)
            g.attrs["tokens"] = np.int64(tokens)
            g.attrs["seconds"] = np.float64(seconds)
            g.attrs["threshold"] = np.float64(0.9)


def run(*args):
    return subprocess.run(["/usr/bin/python3", *args], capture_output=True, text=True)


with tempfile.TemporaryDirectory() as tmp:
    paths = []
    for r in RUNS:
        p = os.path.join(tmp, "%s_%d.h5" % (r[0], r[1]))
        write_run(p, *r)
        paths.append(p)
    old = os.path.join(tmp, "old.h5")
    write_run(old, "dint", 9, 0, 0, 0.0, 0, group=False)
    notes = []
    onsets = sv.recall_onsets(paths + [old], note=notes.append)
    check(len(onsets) == 9, f"9 onsets read, got {len(onsets)}")
    check(len(notes) == 1 and "old.h5" in notes[0] and "/train/recall_onset" in notes[0],
          f"a file without the group is skipped with a note: {notes}")
    o = onsets[5]
    check(o == {"file": paths[5], "variant": "transformer", "seed": 3, "tokens": 3000, "step": 30,
                "seconds": 30.0, "censored": True}, f"one onset read back: {o}")

    table = sv.survival_table(onsets)
    rows = {r["variant"]: r for r in table["variants"]}
    check([r["variant"] for r in table["variants"]] == ["transformer", "diff", "dint"],
          "variants ordered transformer, diff, dint")
    check([(r["seeds"], r["reached"]) for r in table["variants"]] == [(3, 2), (3, 1), (3, 3)],
          "seeds and reached per variant")
    # transformer: S = 2/3 at 1000, 1/3 at 2000: median 2000. diff: S = 2/3 at 1500, then two
    # censored at 2500: not reached (>2500). dint: 2/3, 1/3, 0 at 500, 700, 900: median 700.
    check(rows["transformer"]["median"] == 2000, "transformer median 2000")
    check(math.isinf(rows["diff"]["median"]) and rows["diff"]["max_censored"] == 2500, "diff not reached, >2500")
    check(rows["dint"]["median"] == 700 and rows["dint"]["median_hi"] == 900, "dint median 700, upper end 900")
    check([(p["a"], p["b"]) for p in table["pairs"]] ==
          [("transformer", "diff"), ("transformer", "dint"), ("diff", "dint")], "pairs")
    for p in table["pairs"]:
        ra, rb = rows[p["a"]], rows[p["b"]]
        want = sv.logrank(ra["times"], ~ra["censored"], rb["times"], ~rb["censored"])
        check(p["chi2"] == want["chi2"] and p["p"] == want["p"], f"pair {p['a']}-{p['b']} is the log-rank")
    # transformer vs dint by hand: at 500, 700, 900 (dint) risk sets 3/3, 3/2, 3/1: E = 1/2, 3/5,
    # 3/4, V = 1/4, 6/25, 3/16; at 1000 and 2000 only transformer is at risk: E = 1 + 1, V = 0.
    # O = 2, E = 3.85, V = 0.6775, chi2 = 1.85^2 / 0.6775 = 5.0516605.
    td = table["pairs"][1]
    near(td["expected"][0], 3.85, 1e-12, "transformer vs dint E")
    near(td["variance"], 0.6775, 1e-12, "transformer vs dint V")
    near(td["chi2"], 3.4225 / 0.6775, 1e-12, "transformer vs dint chi2")
    near(td["p"], math.erfc(math.sqrt(3.4225 / 0.6775 / 2)), 1e-15, "transformer vs dint p")
    steps = sv.survival_table(onsets, unit="steps")
    check([r["median"] for r in steps["variants"]][0::2] == [20, 7], "medians in steps")
    secs = sv.survival_table(onsets, unit="seconds")
    check(secs["variants"][2]["median"] == 7.5, "median in seconds")

    # The CLI.
    out = run(REPORT, *paths, old)
    lines = out.stdout.splitlines()
    check(out.returncode == 0 and "note" in out.stderr, f"CLI exit 0 with a note: {out.returncode} {out.stderr!r}")
    check(len(lines) == 7, f"header, 3 variants, 3 pairs: {lines}")
    if len(lines) == 7:
        check(lines[1].split()[:4] == ["transformer", "3", "2", "2000"], f"transformer row: {lines[1]}")
        check(lines[2].split()[:4] == ["diff", "3", "1", ">2500"] and "not reached" in lines[2],
              f"diff row: {lines[2]}")
        check(lines[3].split()[:4] == ["dint", "3", "3", "700"] and lines[3].endswith("900]"),
              f"dint row: {lines[3]}")
        check(lines[5] == "log-rank transformer vs dint: chi2 = %.3f, p = %.3g" % (td["chi2"], td["p"]),
              f"pair line: {lines[5]}")
    js = run(REPORT, *paths, "--json", "--unit", "steps")
    try:
        doc = json.loads(js.stdout)
        check(doc["unit"] == "steps" and [r["reached"] for r in doc["variants"]] == [2, 1, 3]
              and doc["variants"][0]["median"] == 20, "--json table")
    except ValueError:
        check(False, f"--json parses: {js.stdout[:200]!r}")
    junk = os.path.join(tmp, "junk.h5")
    with open(junk, "w") as fh:
        fh.write("not hdf5\n")
    for args, what in (([os.path.join(tmp, "missing.h5")], "missing file"), ([junk], "not HDF5"),
                       ([old], "no file with the group")):
        bad = run(REPORT, *args)
        err = bad.stderr.splitlines()
        # Only the skipped file's note may come before the error line.
        check(bad.returncode == 2 and bad.stdout == "" and len(err) == (2 if args == [old] else 1)
              and err[-1].startswith("survival.py: error: "), f"CLI {what}: {bad.returncode} {bad.stderr!r}")

    # The figure: a PNG of the size plots/common.py gives "survival" (13 x 5 in at 100 dpi).
    png = os.path.join(tmp, "survival.png")
    fig = run(PLOT, *paths, "-o", png)
    check(fig.returncode == 0 and os.path.exists(png), f"plots/survival.py: {fig.returncode} {fig.stderr!r}")
    if os.path.exists(png):
        with open(png, "rb") as fh:
            head = fh.read(24)
        check(head[:8] == b"\x89PNG\r\n\x1a\n", "a PNG")
        size = (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"))
        check(size == (1300, 500), f"PNG 1300 x 500, got {size}")
        check(not os.path.exists(os.path.join(tmp, "survival.tmp.png")), "no temporary file left")
    fig = run(PLOT, *paths, "-o", os.path.join(tmp, "steps.png"), "--unit", "steps")
    check(fig.returncode == 0, f"plots/survival.py --unit steps: {fig.stderr!r}")
    bad = run(PLOT, junk, "-o", os.path.join(tmp, "bad.png"))
    check(bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
          and bad.stderr.startswith("plots/survival.py: error: ")
          and not os.path.exists(os.path.join(tmp, "bad.png")), f"plot of a bad file: {bad.stderr!r}")

# Another event from the stored curve (survival.py --threshold, summary.py --recall-threshold):
# the first evaluation at that held-out accuracy, with the training tokens and seconds of its
# step, as harness/train/onset.c defines the stored onset; censored at the last measured one.
with tempfile.TemporaryDirectory() as tmp:
    p = os.path.join(tmp, "curve.h5")
    write_run(p, "dint", 1, 15000, 150, 75.0, 1)
    with h5py.File(p, "a") as f:
        f["train/val_step"] = np.array([0, 50, 100, 150], dtype=np.int64)
        f["train/recall_accuracy"] = np.array([0.1, 0.3, 0.6, np.nan])
        f["train/step"] = np.arange(1, 151, dtype=np.int64)
        f["train/tokens"] = 100 * np.arange(1, 151, dtype=np.int64)
        f["train/seconds"] = 0.5 * np.arange(1, 151)
    with h5py.File(p, "r") as f:
        check(sv.onset_at(f, 0.5) == (100, 10000, 50.0, False), f"onset at 0.5: {sv.onset_at(f, 0.5)}")
        check(sv.onset_at(f, 0.6) == (100, 10000, 50.0, False), "onset at 0.6: >= counts")
        check(sv.onset_at(f, 0.7) == (100, 10000, 50.0, True),
              f"onset at 0.7: censored at the last measured evaluation (NaN skipped): {sv.onset_at(f, 0.7)}")
        check(sv.onset_at(f, 0.05) == (0, 0, 0.0, False), "onset at step 0: no tokens yet")
    o = sv.recall_onsets([p], threshold=0.3)[0]
    check((o["step"], o["tokens"], o["censored"]) == (50, 5000, False), f"recall_onsets(threshold=0.3): {o}")
    o = sv.recall_onsets([p])[0]
    check((o["step"], o["censored"]) == (150, True), "without threshold: the stored onset")
    cli = run(REPORT, p, "--threshold", "0.5", "--json")
    check(cli.returncode == 0 and json.loads(cli.stdout)["variants"][0]["reached"] == 1,
          f"survival.py --threshold 0.5: {cli.stdout!r} {cli.stderr!r}")
    bad = run(REPORT, p, "--threshold", "1.5")
    check(bad.returncode == 2 and "--threshold" in bad.stderr, f"--threshold 1.5 refused: {bad.stderr!r}")
    fig = run(PLOT, p, "--threshold", "0.5", "-o", os.path.join(tmp, "exit.png"))
    check(fig.returncode == 0 and os.path.exists(os.path.join(tmp, "exit.png")),
          f"plots/survival.py --threshold: {fig.stderr!r}")

finish()
