#!/usr/bin/env -S /usr/bin/python3
"""The cost-to-recall map: Transformer, DIFF and DINT trained on the synthetic keyed-recall task
(tasks/recall.h) over a small grid of difficulty (pairs K, context length T, key length, filler
noise, model width), several seeds each, with the time to recall (the run file's
/train/recall_onset: the first evaluation whose held-out accuracy is >= 0.9) read back as a
time-to-event per variant: seeds that reached recall, the Kaplan-Meier median onset in tokens with
its 95 % interval, the median wall time of the runs that reached it, the final held-out accuracy,
and the log-rank p-value of each pair of variants (harness/report/survival.py).

Every run is `dint train` with one thread, `--jobs` of them at a time (one process per core is
the fastest use of this machine for models this small); finished runs are reused, so the map can
be extended or re-run by cell.

usage: /usr/bin/python3 harness/recall_map.py [--out DIR] [--only CELL,...] [--seeds K]
           [--variants V,...] [--jobs N] [--table-only] [--markdown FILE] [--figure FILE.png]
           [--dint PATH] [--steps-scale F]
"""
import argparse
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "harness", "report"))
import survival as sv  # noqa: E402

from runschema_tables import RUN_TRAIN_RECALL_ACCURACY, VARIANTS  # noqa: E402  (generated)
# Every run: 2048 tokens per step (batch = 2048 / T), lr 3e-3 with 50 warmup steps and cosine
# decay, evaluated (held-out recall accuracy on 64 contexts) every 50 steps.
COMMON = ["model.n_layer=2", "train.warmup=50", "train.eval_every=50", "train.eval_batches=1",
          "train.log_every=500", "train.audit_every=0", "train.lr=3e-3"]
# name: (d_model, T, pairs K, key_len, noise, symbols, steps)
CELLS = {
    "base": (64, 64, 4, 1, 0, 16, 4000),
    "K8": (64, 64, 8, 1, 0, 16, 2500),
    "K16": (64, 64, 16, 1, 0, 32, 2500),
    "noise": (64, 64, 4, 1, 1, 16, 2500),
    "key2": (64, 64, 4, 2, 0, 16, 2500),
    "d128": (128, 64, 4, 1, 0, 16, 2500),
    "T128": (64, 128, 4, 1, 0, 16, 2500),
    "T256": (64, 256, 4, 1, 0, 16, 2500),
    "K32": (64, 128, 32, 1, 0, 64, 2500),
}


def cell_sets(name, scale):
    d, T, K, L, noise, symbols, steps = CELLS[name]
    return COMMON + [f"model.d_model={d}", f"model.head_dim={16 if d == 64 else 32}",
                     f"train.seq_len={T}", f"train.batch_size={2048 // T}",
                     f"train.steps={max(100, int(steps * scale))}", f"recall.pairs={K}",
                     f"recall.key_len={L}", f"recall.noise={'true' if noise else 'false'}",
                     f"recall.symbols={symbols}"]


def describe(name):
    d, T, K, L, noise, symbols, steps = CELLS[name]
    return (f"d{d} T{T} K{K}" + (f" key{L}" if L > 1 else "") + (" noise" if noise else "")
            + f" S{symbols}")


def run_status(path):
    try:
        import h5py
        with h5py.File(path, "r") as f:
            s = f.attrs["status"]
            return s.decode() if isinstance(s, bytes) else str(s)
    except Exception:
        return None


def train(dint, out, name, variant, seed, scale):
    path = os.path.join(out, name, f"{variant}-seed{seed}.h5")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    status = run_status(path)
    if status == "complete":
        return path, 0
    cmd = [dint, "train", "--out", path, "--threads", "1"]
    if status in ("running", "stopped"):
        cmd += ["--resume"]
    else:
        if os.path.exists(path):
            os.unlink(path)
        cmd += ["--variant", variant, "--data", "sotu:0,recall:1", "--seed", str(seed)]
        for s in cell_sets(name, scale):
            cmd += ["--set", s]
    with open(path[:-3] + ".log", "w") as log:
        rc = subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=log)
    print(f"recall_map: {name} {variant} seed {seed}: {'done' if rc == 0 else f'failed ({rc})'}",
          file=sys.stderr)
    return path, rc


def final_accuracy(path):
    import h5py
    import numpy as np
    from h5digest import open_verified
    with open_verified(path) as f:
        acc = f[RUN_TRAIN_RECALL_ACCURACY][...]
    acc = acc[np.isfinite(acc)]
    return float(acc[-1]) if acc.size else math.nan


EXIT = 0.5  # the plateau-exit event: held-out accuracy >= twice the key-blind chance at K = 4


def cell_rows(out, name, seeds, threshold=None):
    """Per variant: the survival row (tokens; the stored onset, or the accuracy reaching
    threshold) plus median seconds to the event and the mean final held-out accuracy."""
    paths = [os.path.join(out, name, f"{v}-seed{k}.h5") for v in VARIANTS for k in seeds]
    paths = [p for p in paths if run_status(p) == "complete"]
    if not paths:
        return None
    onsets = sv.recall_onsets(paths, note=lambda m: None, threshold=threshold)
    table = sv.survival_table(onsets, unit="tokens")
    secs = sv.survival_table(onsets, unit="seconds")
    for row, srow in zip(table["variants"], secs["variants"]):
        row["median_seconds"] = srow["median"]
        accs = [final_accuracy(o["file"]) for o in onsets if o["variant"] == row["variant"]]
        row["final_accuracy"] = sum(accs) / len(accs)
    return table


def fmt_tokens(x):
    return "not reached" if math.isinf(x) else f"{x / 1e6:.2f} M"


def fmt_event(row):
    if math.isinf(row["median"]):
        med = f">{row['max_censored'] / 1e6:.2f} M"
    else:
        med = f"{fmt_tokens(row['median'])}"
    return (f"{row['reached']}/{row['seeds']}: {med} [{fmt_tokens(row['median_lo'])}, "
            f"{fmt_tokens(row['median_hi'])}]")


def fmt_p(table, v):
    return ", ".join(f"{p['b'] if p['a'] == v else p['a']} {p['p']:.2g}" for p in table["pairs"]
                     if v in (p["a"], p["b"]))


def markdown(out, cells, seeds):
    lines = ["| cell | variant | recall (accuracy ≥ 0.9): seeds, median tokens [95 % CI] | "
             "plateau exit (≥ 0.5): seeds, median tokens [95 % CI] | median time to exit | "
             "final held-out accuracy (mean) | log-rank p, exit (recall) |",
             "|---|---|---|---|---|---|---|"]
    for name in cells:
        rec, ext = cell_rows(out, name, seeds), cell_rows(out, name, seeds, EXIT)
        if rec is None:
            continue
        for r9, r5 in zip(rec["variants"], ext["variants"]):
            v = r9["variant"]
            secs = "–" if math.isinf(r5["median_seconds"]) else f"{r5['median_seconds']:.0f} s"
            lines.append(f"| {name}: {describe(name)} | {v} | {fmt_event(r9)} | {fmt_event(r5)} | "
                         f"{secs} | {r9['final_accuracy']:.3f} | {fmt_p(ext, v)} ({fmt_p(rec, v)}) |")
    return "\n".join(lines) + "\n"


def figure(out, cells, seeds, path):
    sys.path.insert(0, os.path.join(ROOT, "plots"))
    sys.argv[0] = "plots/recall_map.py"
    import recall_map_plot as plot  # noqa: E402  (plots/recall_map_plot.py)
    plot.draw({name: cell_rows(out, name, seeds) for name in cells},
              {name: cell_rows(out, name, seeds, EXIT) for name in cells},
              {name: describe(name) for name in cells}, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "recall_map"))
    ap.add_argument("--only", default=",".join(CELLS))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--markdown")
    ap.add_argument("--figure")
    ap.add_argument("--dint", default=os.path.join(ROOT, "build", "harness", "dint"))
    ap.add_argument("--steps-scale", type=float, default=1.0)
    a = ap.parse_args()
    cells = a.only.split(",")
    bad = [c for c in cells if c not in CELLS] + [v for v in a.variants.split(",") if v not in VARIANTS]
    if bad or a.seeds < 1 or a.jobs < 1:
        sys.exit(f"recall_map.py: error: unknown cell or variant {', '.join(bad)} (cells: "
                 f"{', '.join(CELLS)}), or --seeds/--jobs below 1")
    seeds = list(range(1, a.seeds + 1))
    if not a.table_only:
        if not os.access(a.dint, os.X_OK):
            sys.exit(f"recall_map.py: error: no dint at {a.dint} (build first: bash harness/setup.sh)")
        jobs = [(c, v, k) for c in cells for k in seeds for v in a.variants.split(",")]
        with ThreadPoolExecutor(a.jobs) as ex:
            rcs = list(ex.map(lambda j: train(a.dint, a.out, j[0], j[1], j[2], a.steps_scale)[1], jobs))
        if any(rcs):
            print(f"recall_map.py: {sum(1 for r in rcs if r)} runs failed (see their .log)", file=sys.stderr)
    text = markdown(a.out, cells, seeds)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    if a.figure:
        figure(a.out, cells, seeds, a.figure)


if __name__ == "__main__":
    main()
