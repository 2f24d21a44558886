#!/usr/bin/env bash
# tests/test_plots.sh: the plotting scripts (plots/*.py) against real run files made by
# the dint under test with tiny settings (a generated 12 kB corpus; about 20 s in all), plus
# h5py-made synthetic groups: /audit in the layout of the plotting brief (attribute
# expected_row_sum, [layer] per-layer datasets, finite bin edges), /train/audit_* and a sweep
# summary (and /audit, /train/audit_* on the real runs too when this dint cannot make them).
# Checks every PNG exists, is non-empty and has the expected pixel size (read from its header),
# and that a file lacking the group a script needs gives exactly one error line and no PNG.
# Run from anywhere: bash tests/test_plots.sh DINT   (DINT: the executable to test; ctest passes
# its own build's; prints N passed, N failed)
set -u
DINT=$(realpath -m "${1:?usage: bash tests/test_plots.sh DINT (the dint executable to test)}")
cd "$(dirname "$0")/.." || exit 2
PY=/usr/bin/python3
if [ ! -x "$DINT" ]; then
    echo "test_plots: $DINT is missing or not executable; build first, or run it through ctest"
    echo "0 passed, 1 failed"
    exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/test_plots.XXXXXX")
trap 'rm -rf "$T"' EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1${2:+: $2}"; }
START=$(date +%s)

# --- inputs ----------------------------------------------------------------------------------
"$PY" - "$T/tiny.txt" <<'EOF'
import random, sys
random.seed(7)
w = ("the of and to a in that is was he for it with as his on be at by had are but from or have "
     "an they which one you were all we her she there would their nation people year state").split()
paras = [" ".join(random.choice(w) for _ in range(random.randint(60, 90))).capitalize() + "." for _ in range(40)]
open(sys.argv[1], "w").write("\n\n".join(paras) + "\n")
EOF

TRAIN_SETS=(--set model.n_layer=2 --set model.d_model=32 --set model.head_dim=8 --set train.steps=24
            --set train.warmup=3 --set train.seq_len=64 --set train.batch_size=2 --set train.eval_every=8
            --set train.eval_batches=2 --threads 1)
HAVE_TRAIN_AUDIT=1
HAVE_AUDIT=0
"$DINT" 2>&1 | grep -q '^  audit' && HAVE_AUDIT=1

make_run() { # variant: train, evaluate, audit (each step's output in $T/<variant>.log)
    local v=$1 f=$T/$1.h5 log=$T/$1.log
    if ! "$DINT" train --variant "$v" --data "$T/tiny.txt" --out "$f" "${TRAIN_SETS[@]}" \
            --set train.audit_every=4 >>"$log" 2>&1; then
        rm -f "$f"  # a dint without train.audit_every: plain training, synthetic /train/audit_* below
        "$DINT" train --variant "$v" --data "$T/tiny.txt" --out "$f" "${TRAIN_SETS[@]}" >>"$log" 2>&1 || return 1
    fi
    "$DINT" eval needle --run "$f" --needles 1:1,2:1 --lengths 256,384 --depths 0,0.5,1 --samples 1 --threads 1 >>"$log" 2>&1 || return 1
    "$DINT" eval ppl --run "$f" --window 256 --max-docs 2 --threads 1 >>"$log" 2>&1 || return 1
    "$DINT" eval icl --run "$f" --dataset synthetic --shots 1,2,4 --episodes 2 --orders 2 --context 256 --threads 1 >>"$log" 2>&1 || return 1
    if [ "$HAVE_AUDIT" = 1 ]; then
        "$DINT" audit --run "$f" --samples 1 --threads 1 >>"$log" 2>&1 || return 1
    fi
}
pids=()
for v in transformer diff dint; do make_run "$v" & pids+=($!); done
i=0
for v in transformer diff dint; do
    if wait "${pids[$i]}"; then ok "dint train + eval ($v)"; else bad "dint train + eval ($v)" "$(tail -n 1 "$T/$v.log")"; fi
    i=$((i + 1))
done
RUNS=("$T/transformer.h5" "$T/diff.h5" "$T/dint.h5")

# Synthetic groups (h5py).
cat >"$T/synth.py" <<'EOF'
import json, os, sys
import h5py
import numpy as np
sys.path.insert(0, os.path.join(os.getcwd(), "harness", "report"))
from h5digest import edit_stamped  # changed files get a new digest, as dint would write them
rng = np.random.default_rng(1)
SCALE = {"fp32": 1e-7, "bf16": 3e-3, "fp16": 4e-4}


def shape(f):
    v = f.attrs["variant"]
    v = v.decode() if isinstance(v, bytes) else str(v)
    m = json.loads(f.attrs["config"])["model"]
    heads = m["d_model"] // (2 * m["head_dim"]) * (2 if v == "transformer" else 1)
    return v, m["n_layer"], heads


def add_audit(path):
    """/audit as in the plotting brief: [layer, head] statistics, row_sum_dev_hist with finite
    bin_edges (bins + 1), [layer] per-layer datasets, scales layer and head, attribute
    expected_row_sum (scalar, or per layer for DIFF)."""
    with edit_stamped(path) as f:
        v, L, H = shape(f)
        if "audit" in f:
            del f["audit"]
        a = f.create_group("audit")
        pos = np.logspace(-9, -1, 17)
        edges = np.concatenate([-pos[::-1], pos])  # 34 edges, 33 bins; centre bin (-1e-9, 1e-9)
        lam = 0.2 + 0.1 * np.arange(L) if v != "transformer" else np.zeros(L)
        for p, s in SCALE.items():
            g = a.create_group(p)
            ls = g.create_dataset("layer", data=np.arange(L, dtype=float)); ls.make_scale("layer")
            hs = g.create_dataset("head", data=np.arange(H, dtype=float)); hs.make_scale("head")

            def put(name, val):
                d = g.create_dataset(name, data=np.asarray(val, float))
                d.dims[0].attach_scale(ls)
                if d.ndim == 2:
                    d.dims[1].attach_scale(hs)
            hist = np.zeros((L, H, len(edges) - 1), np.int64)
            for l in range(L):
                for h in range(H):
                    dev = rng.normal(3 * s * (v == "diff" and p != "fp32"), s * (1 + 0.3 * h), 400)
                    dev[rng.random(400) < 0.05] = 0.0
                    hist[l, h] = np.histogram(np.clip(dev, edges[0], edges[-1]), bins=edges)[0]
            g.create_dataset("row_sum_dev_hist", data=hist)
            g.create_dataset("bin_edges", data=edges)
            exp = np.ones(L) if v != "diff" else 1 - lam
            put("row_sum_mean", exp[:, None] * np.ones((L, H)))
            put("row_sum_min", exp[:, None] - 3 * s * np.ones((L, H)))
            put("row_sum_max", exp[:, None] + 3 * s * np.ones((L, H)))
            put("row_sum_std", np.full((L, H), s))
            put("row_sum_dev_max", 3 * s * rng.uniform(0.5, 1.5, (L, H)))
            put("negative_fraction", np.full((L, H), 0.0 if v == "transformer" else 0.1))
            put("negative_mass", np.full((L, H), 0.0 if v == "transformer" else -0.01))
            for e in ("entropy_a1", "entropy_a2", "entropy_final"):
                put(e, rng.uniform(1, 3, (L, H)))
            big = {"transformer": 40.0, "diff": 8.0}.get(v, 6.0)
            put("logit_top1", big * rng.uniform(0.5, 1, (L, H)))
            put("logit_top10", 0.6 * big * rng.uniform(0.5, 1, (L, H)))
            put("logit_top100", 0.3 * big * rng.uniform(0.5, 1, (L, H)))
            put("logit_median", rng.uniform(0.3, 0.6, (L, H)))
            put("nan_count", np.zeros((L, H)))
            put("inf_count", np.zeros((L, H)))
            hb = {"transformer": 300.0, "diff": 60.0}.get(v, 40.0)
            put("hidden_top1", hb * rng.uniform(0.5, 1, L))
            put("hidden_top10", 0.5 * hb * rng.uniform(0.5, 1, L))
            put("hidden_median", rng.uniform(0.4, 0.8, L))
            put("hidden_kurtosis", rng.uniform(3, 30, L))
            put("lambda", lam)
            put("gamma", lam if v == "dint" else np.zeros(L))
            g.attrs["expected_row_sum"] = exp if v == "diff" else 1.0


def add_train_audit(path, every=4):
    with edit_stamped(path) as f:
        t = f["train"]
        _, L, _ = shape(f)
        steps = t["step"][:]
        ast = steps[::every]
        for k in ("audit_step", "row_sum_dev_max", "row_sum_dev_mean", "grad_norm_layer", "loss_spike"):
            if k in t:
                del t[k]
        t["audit_step"] = ast
        t["row_sum_dev_max"] = 1e-7 * rng.uniform(0.5, 2, (len(ast), L))
        t["row_sum_dev_mean"] = 2e-8 * rng.uniform(0.5, 2, (len(ast), L))
        t["grad_norm_layer"] = np.exp(-np.arange(len(ast)) / 5.0)[:, None] * rng.uniform(0.5, 2, (len(ast), L))
        spike = np.zeros(len(steps), np.uint8)
        spike[len(steps) // 2] = 1
        t["loss_spike"] = spike


def add_onset(path, cross):
    """A retrieval onset as dint train stores it, for a run whose N >= 2 answer loss drops from
    the plateau (2.0) to 0.01 at step `cross` (None: never; censored)."""
    with edit_stamped(path) as f:
        t = f["train"]
        step = t["step"][:]
        n, w = len(step), 2
        loss = np.where(step < (cross or n + 1), 2.0, 0.01)
        loss[1::5] = np.nan
        smoothed = np.full(n, np.nan)
        for i in range(w - 1, n):
            v = loss[i - w + 1:i + 1]
            v = v[np.isfinite(v)]
            smoothed[i] = v.mean() if len(v) >= 1 else np.nan
        hit = np.flatnonzero(smoothed <= 0.04)
        for k in ("answer_loss_multi", "onset"):
            if k in t:
                del t[k]
        t["answer_loss_multi"] = loss
        g = t.create_group("onset")
        g["smoothed"] = smoothed
        g.attrs.update({"step": int(step[hit[0]]) if len(hit) else int(step[-1]), "censored": 0 if len(hit) else 1,
                        "threshold": 0.04, "window": w, "min_values": 1})


def make_sweep(path):
    """DIR/summary.h5 as dint sweep writes it."""
    cells = [("transformer", "transformer", "zero", "causal", "false"), ("diff", "diff", "zero", "causal", "true"),
             ("diff-headnorm_false", "diff", "zero", "causal", "false"), ("dint", "dint", "tied", "causal", "true"),
             ("dint-gamma_learned", "dint", "learned", "causal", "true"), ("dint-G_full", "dint", "tied", "full", "true")]
    metrics = ["val_loss", "row_sum_dev_max", "negative_mass", "loss_spikes", "needle_accuracy"]
    centre = {"val_loss": 3.0, "row_sum_dev_max": 1e-7, "negative_mass": -0.01, "loss_spikes": 2.0,
              "needle_accuracy": 0.5}
    S, t975 = 3, 4.302652729911275  # seeds; t quantile 0.975 at 2 degrees of freedom
    with h5py.File(path, "w"):
        pass
    with edit_stamped(path) as f:
        f.attrs["baseline"] = "transformer"
        c, pg = f.create_group("cells"), f.create_group("paired")
        c.attrs["metrics"] = ",".join(metrics)
        pg.attrs["baseline"] = "transformer"
        base = None
        for i, (name, v, gm, gmode, hn) in enumerate(cells):
            g = c.create_group(name)
            for k, val in zip(("variant", "gamma", "g_mode", "head_norm", "lambda_init"), (v, gm, gmode, hn, "schedule")):
                g.attrs[k] = val
            g.attrs["n_seeds"] = np.int64(S)
            per = np.zeros((S, len(metrics)))
            for k, m in enumerate(metrics):
                x = centre[m] * (1 + 0.1 * i) + abs(centre[m]) * 0.05 * rng.normal(size=S)
                if m == "row_sum_dev_max":
                    x = centre[m] * 10 ** (i / 2) * rng.uniform(0.7, 1.3, S)
                if m == "needle_accuracy" and name == "dint-G_full":
                    x = np.full(S, np.nan)  # not evaluated: NaN like dint sweep
                per[:, k] = x
                mean, sd = np.mean(x), np.std(x, ddof=1)
                half = t975 * sd / np.sqrt(S)
                for suf, val in (("mean", mean), ("std", sd), ("ci_low", mean - half), ("ci_high", mean + half)):
                    g.create_dataset("%s_%s" % (m, suf), data=val)
            g["per_seed"] = per
            if base is None:
                base = per
                continue
            p = pg.create_group(name)
            for k, m in enumerate(metrics):
                p.create_dataset(m + "_diff_mean", data=np.mean(per[:, k] - base[:, k]))
                p.create_dataset(m + "_p_value", data=[0.2, 0.03, 0.004, 0.0002, 0.6][(i + k) % 5])


def needle_random(path, seed=3):
    """Random per-sample answers (right, another needle's number or none) in /eval/needle and
    the counts correct, other_needle, keyed rewritten from them, so the rate panels show
    non-zero values."""
    r = np.random.default_rng(seed)
    with edit_stamped(path) as f:
        g = f["eval/needle"]
        shape = g["correct"].shape
        C, L, D = shape
        s = g["samples"]
        cell, asked, ctl, smp, q = (s[k][...] for k in ("cell", "asked_needle", "control", "sample", "query"))
        nn = g["n_needles"][...].astype(int)[cell // (L * D)]
        ok = (r.random(len(cell)) < 0.6).astype(np.int32)
        ans = np.where(ok == 1, asked, -1)
        wrong = (ok == 0) & (nn >= 2) & (r.random(len(cell)) < 0.6)
        ans[wrong] = (asked[wrong] + 1) % nn[wrong]
        s["correct"][...], s["answered_needle"][...] = ok, ans
        n = C * L * D
        g["correct"][...] = np.bincount(cell, ok * (ctl == 0), n).reshape(shape).astype(np.int64)
        g["other_needle"][...] = np.bincount(cell, (ans >= 0) & (ans != asked), n).reshape(shape).astype(np.int64)
        keyed = np.zeros(n, np.int64)
        for c, j in {(int(a), int(b)) for a, b in zip(cell, smp)}:
            m = (cell == c) & (smp == j) & (q <= 1)
            if nn[np.flatnonzero(cell == c)[0]] >= 2:
                keyed[c] += int(ok[m].all())
        g["keyed"][...] = keyed.reshape(shape)


def needle_old(path):
    """/eval/needle as before task v3: no keyed, other-needle, positional or question counts."""
    with edit_stamped(path) as f:
        g = f["eval/needle"]
        for k in list(g.keys()):
            if k.startswith(("keyed", "other_needle", "positional", "questions")):
                del g[k]


def strip(path, groups):
    with edit_stamped(path) as f:
        for g in groups:
            if g in f:
                del f[g]


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "audit":
    for p in args: add_audit(p)
elif cmd == "train_audit":
    for p in args: add_train_audit(p)
elif cmd == "onset":  # the first run censored, the others crossing at 1/2 and 3/4 of their steps
    for k, p in enumerate(args):
        n = len(h5py.File(p, "r")["train/step"])
        add_onset(p, None if k == 0 else (n // 2 if k == 1 else 3 * n // 4))
elif cmd == "sweep":
    make_sweep(args[0])
elif cmd == "strip":
    strip(args[0], args[1:])
elif cmd == "needle_random":
    needle_random(args[0])
elif cmd == "needle_old":
    needle_old(args[0])
EOF

synth() { "$PY" "$T/synth.py" "$@" 2>"$T/synth.err" || { bad "synthetic $1" "$(tail -n 1 "$T/synth.err")"; return 1; }; }
# Real runs: synthetic groups only where this dint cannot make them.
for f in "${RUNS[@]}"; do
    [ -f "$f" ] || continue
    "$PY" -c "import h5py,sys; sys.exit(0 if 'audit' in h5py.File(sys.argv[1],'r') else 1)" "$f" || synth audit "$f"
    "$PY" -c "import h5py,sys; sys.exit(0 if 'train/audit_step' in h5py.File(sys.argv[1],'r') else 1)" "$f" \
        || { HAVE_TRAIN_AUDIT=0; synth train_audit "$f"; }
done
echo "note: dint audit $([ $HAVE_AUDIT = 1 ] && echo real || echo synthetic), /train/audit_* $([ $HAVE_TRAIN_AUDIT = 1 ] && echo real || echo synthetic)"
# Copies in the brief's /audit layout, with synthetic training diagnostics.
mkdir -p "$T/syn"
SYN=()
for v in transformer diff dint; do
    [ -f "$T/$v.h5" ] && cp "$T/$v.h5" "$T/syn/$v.h5" && SYN+=("$T/syn/$v.h5")
done
synth audit "${SYN[@]}" && synth train_audit "${SYN[@]}" && synth onset "${SYN[@]}"
synth sweep "$T/summary.h5"
# A run with no evaluations or audits.
cp "$T/transformer.h5" "$T/bare.h5" && synth strip "$T/bare.h5" eval audit train/audit_step train/onset
BARE=$T/bare.h5
# Needle rate panels: a copy with random answers (non-zero keyed and other-needle rates) and a
# copy as the needle task before v3 wrote it.
mkdir -p "$T/nrand" "$T/nold"
cp "$T/dint.h5" "$T/nrand/dint.h5" && synth needle_random "$T/nrand/dint.h5"
cp "$T/diff.h5" "$T/nold/diff.h5" && synth needle_old "$T/nold/diff.h5"

# --- checks ----------------------------------------------------------------------------------
png_ok() { # name file width height
    local r
    r=$("$PY" - "$2" "$3" "$4" <<'EOF'
import os, sys
p, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if not os.path.isfile(p): print("missing"); sys.exit(1)
if os.path.getsize(p) == 0: print("empty"); sys.exit(1)
head = open(p, "rb").read(24)
if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR": print("not a PNG"); sys.exit(1)
W, H = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
if (W, H) != (w, h): print("%dx%d, expected %dx%d" % (W, H, w, h)); sys.exit(1)
EOF
    ) && ok "$1 ($(basename "$2") ${3}x$4)" || bad "$1 ($(basename "$2"))" "$r"
}

plot() { # name expected-status command... : runs, records stdout/stderr in $T/out, $T/err
    local name=$1
    shift
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne 0 ]; then bad "$name" "exit $rc: $(head -n 1 "$T/err")"; return 1; fi
    return 0
}

one_line_error() { # name expected-line command...
    local name=$1 want=$2
    shift 2
    local outpng
    "$@" >"$T/out" 2>"$T/err"
    local rc=$? n
    n=$(wc -l <"$T/err")
    if [ $rc -eq 0 ]; then bad "$name" "exit 0, expected an error"
    elif [ "$n" -ne 1 ]; then bad "$name" "$n lines on stderr: $(tr '\n' '|' <"$T/err")"
    elif [ -n "$want" ] && [ "$(cat "$T/err")" != "$want" ]; then bad "$name" "got: $(cat "$T/err")"
    elif [ -n "$(find "$T/err_out" -name '*.png' 2>/dev/null)" ]; then bad "$name" "a PNG was written"
    else ok "$name"; fi
}

O=$T/png
plot needle.py "$PY" plots/needle.py "${RUNS[@]}" -o "$O/needle" &&
    { png_ok needle.py "$O/needle/needle_N1_R1.png" 1500 900; png_ok needle.py "$O/needle/needle_N2_R1.png" 1500 900
      png_ok needle.py "$O/needle/needle_attention.png" 1200 500; }
plot "needle.py (random answers, pre-v3 file)" "$PY" plots/needle.py "$T/nold/diff.h5" "$T/nrand/dint.h5" -o "$O/needle_syn" &&
    { png_ok "needle.py (random answers, pre-v3 file)" "$O/needle_syn/needle_N1_R1.png" 1500 900
      png_ok "needle.py (random answers, pre-v3 file)" "$O/needle_syn/needle_N2_R1.png" 1500 900; }
# The rate panels' points and Wilson bars, recomputed from the per-sample records (and the
# position-only line from positional_accuracy x total); the pre-v3 file shows accuracy only.
"$PY" - "${RUNS[@]}" "$T/nrand/dint.h5" "$T/nold/diff.h5" >"$T/rates.out" 2>&1 <<'EOF'
import math, sys
sys.path.insert(0, "plots")
sys.dont_write_bytecode = True
import common as C
import needle
from common import np, plt


def wilson(k, n):
    z2 = 1.959963984540054 ** 2
    c, h = (2 * k + z2) / (2 * (n + z2)), math.sqrt(z2) * math.sqrt(k * (n - k) / n + z2 / 4) / (n + z2)
    return max(0.0, c - h), min(1.0, c + h)


fails, checks, nonzero = [], 0, False


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        fails.append(what)


*paths, old = sys.argv[1:]
for path in paths + [old]:
    run = C.Run(path)
    d = needle.load(run)
    s = {k: run.get("/eval/needle/samples/" + k) for k in ("cell", "sample", "query", "control", "correct",
                                                           "asked_needle", "answered_needle")}
    _, L, D = d["acc"].shape
    for ci, n in enumerate(d["n"]):
        fig, ax = plt.subplots()
        needle.depth_panel(ax, d, ci, n, run)
        series = {c.get_label(): c for c in ax.containers}
        pos = [l for l in ax.get_lines() if l.get_label().startswith("position only")]
        want = {"accuracy"} | ({"keyed rate", "other-needle rate"} if n >= 2 and path != old else set())
        check(set(series) == want, "%s N=%d: series %s, expected %s" % (path, n, sorted(series), sorted(want)))
        check(len(pos) == (0 if path == old else 1), "%s N=%d: one position-only line" % (path, n))
        for dd in range(D):
            cells = ci * L * D + np.arange(L) * D + dd
            inc = np.isin(s["cell"], cells)
            sc = inc & (s["control"] == 0)
            exp = {"accuracy": (int(s["correct"][sc].sum()), int(sc.sum())),
                   "other-needle rate": (int((inc & (s["answered_needle"] >= 0) &
                                              (s["answered_needle"] != s["asked_needle"])).sum()), int(inc.sum()))}
            kk = nk = 0
            for c, j in sorted({(int(a), int(b)) for a, b in zip(s["cell"][inc], s["sample"][inc])}):
                m = (s["cell"] == c) & (s["sample"] == j)
                a, b = s["correct"][m & (s["query"] == 0)], s["correct"][m & (s["query"] == 1)]
                if len(a) == 1 and len(b) == 1:
                    nk += 1
                    kk += int(a[0] == 1 and b[0] == 1)
            exp["keyed rate"] = (kk, nk)
            for name, cont in series.items():
                k, m = exp[name]
                nonzero |= name != "accuracy" and k > 0
                lo, hi = wilson(k, m)
                try:
                    y = cont.lines[0].get_ydata()[dd]
                    seg = np.asarray(cont.lines[2][0].get_segments()[dd]).reshape(2, 2)
                except (IndexError, ValueError):  # a point or bar missing
                    check(False, "%s N=%d depth %d %s: no point/bar" % (path, n, dd, name))
                    continue
                check(abs(y - k / m) < 1e-12, "%s N=%d depth %d %s: %.4f, expected %d/%d" % (path, n, dd, name, y, k, m))
                check(abs(seg[0][1] - lo) < 1e-9 and abs(seg[1][1] - hi) < 1e-9,
                      "%s N=%d depth %d %s: bar %s, expected [%.4f, %.4f]" % (path, n, dd, name, seg[:, 1], lo, hi))
            if pos:
                tot = d["total"][ci][:, dd]
                acc = run.get("/eval/needle/positional_accuracy")[ci][:, dd, :]
                best = np.rint(acc * tot[:, None]).sum(axis=0).max()
                check(abs(pos[0].get_ydata()[dd] - best / tot.sum()) < 1e-12, "%s N=%d depth %d: position-only %.4f, "
                      "expected %d/%d" % (path, n, dd, pos[0].get_ydata()[dd], best, tot.sum()))
        plt.close(fig)
check(nonzero, "the random-answer copy has non-zero keyed / other-needle points")
print("%d checks, %d failed" % (checks, len(fails)))
for f in fails[:10]:
    print(f)
sys.exit(1 if fails else 0)
EOF
[ $? -eq 0 ] && ok "needle.py rate panels = per-sample records ($(head -n 1 "$T/rates.out"))" \
    || bad "needle.py rate panels" "$(tr '\n' '|' <"$T/rates.out" | cut -c1-600)"
plot ppl.py "$PY" plots/ppl.py "${RUNS[@]}" -o "$O/ppl.png" && png_ok ppl.py "$O/ppl.png" 1300 500
plot icl.py "$PY" plots/icl.py "${RUNS[@]}" --dataset synthetic -o "$O/icl.png" && png_ok icl.py "$O/icl.png" 1300 500
plot loss.py "$PY" plots/loss.py "${RUNS[@]}" -o "$O/loss.png" && png_ok loss.py "$O/loss.png" 1300 500
plot lambda_gamma.py "$PY" plots/lambda_gamma.py "${RUNS[@]}" -o "$O/lambda.png" && png_ok lambda_gamma.py "$O/lambda.png" 1300 600
plot rowsum.py "$PY" plots/rowsum.py "${RUNS[@]}" -o "$O/rowsum.png" && png_ok rowsum.py "$O/rowsum.png" 1500 600
plot outliers.py "$PY" plots/outliers.py "${RUNS[@]}" -o "$O/outliers.png" && png_ok outliers.py "$O/outliers.png" 1500 500
plot train_audit.py "$PY" plots/train_audit.py "${RUNS[@]}" -o "$O/train_audit.png" && png_ok train_audit.py "$O/train_audit.png" 1500 500
# The brief's /audit layout and synthetic training diagnostics.
plot "rowsum.py (brief layout)" "$PY" plots/rowsum.py "${SYN[@]}" -o "$O/rowsum_syn.png" && png_ok "rowsum.py (brief layout)" "$O/rowsum_syn.png" 1500 600
plot "outliers.py (brief layout)" "$PY" plots/outliers.py "${SYN[@]}" --precision bf16 -o "$O/outliers_syn.png" && png_ok "outliers.py (brief layout)" "$O/outliers_syn.png" 1500 500
plot "train_audit.py (synthetic)" "$PY" plots/train_audit.py "${SYN[@]}" -o "$O/train_audit_syn.png" && png_ok "train_audit.py (synthetic)" "$O/train_audit_syn.png" 1500 500
plot "loss.py (spikes)" "$PY" plots/loss.py "${SYN[@]}" -o "$O/loss_syn.png" && png_ok "loss.py (spikes)" "$O/loss_syn.png" 1300 500
plot onset.py "$PY" plots/onset.py "${RUNS[@]}" -o "$O/onset.png" && png_ok onset.py "$O/onset.png" 1300 500
plot "onset.py (synthetic crossings)" "$PY" plots/onset.py "${SYN[@]}" -o "$O/onset_syn.png" &&
    png_ok "onset.py (synthetic crossings)" "$O/onset_syn.png" 1300 500
# The onset markers and threshold line are the stored values: a filled circle at the onset step,
# an open triangle at the last step of a censored run, a dashed line at the threshold.
"$PY" - "${SYN[@]}" "${RUNS[@]}" >"$T/onset.out" 2>&1 <<'EOF'
import sys
sys.path.insert(0, "plots")
import common as C
import onset
from common import np, plt

fails, checks, kinds = [], 0, set()
for group in (sys.argv[1:4], sys.argv[4:]):
    runs = C.open_runs(group)
    fig, ax = plt.subplots()
    onset.draw(ax, runs)
    lines = {l.get_label(): l for l in ax.get_lines()}
    for r in runs:
        a = r.f["train/onset"].attrs
        name = ("_censored " if a["censored"] else "_onset ") + r.label
        kinds.add(int(a["censored"]))
        checks += 1
        if name not in lines or list(lines[name].get_xdata()) != [int(a["step"])]:
            fails.append("%s: marker %s at %s, stored step %d" % (r.path, name, name in lines and lines[name].get_xdata(), a["step"]))
        elif lines[name].get_marker() != (">" if a["censored"] else "o"):
            fails.append("%s: marker %s" % (r.path, lines[name].get_marker()))
        if not a["censored"]:
            sm = r.f["train/onset/smoothed"][:]
            i = int(np.flatnonzero(r.f["train/step"][:] == a["step"])[0])
            checks += 1
            if lines[name].get_ydata()[0] != sm[i] or not sm[i] <= a["threshold"]:
                fails.append("%s: onset marker at y %s, smoothed %s" % (r.path, lines[name].get_ydata(), sm[i]))
    th = [l for l in ax.get_lines() if l.get_linestyle() == "--" and l.get_label().startswith("threshold")]
    checks += 1
    if len(th) != 1 or list(th[0].get_ydata()) != [0.04, 0.04]:
        fails.append("threshold lines: %s" % [list(l.get_ydata()) for l in th])
    plt.close(fig)
checks += 1
if kinds != {0, 1}:
    fails.append("expected crossing and censored runs, got censored values %s" % kinds)
print("%d checks, %d failed" % (checks, len(fails)))
for f in fails:
    print(f)
sys.exit(1 if fails else 0)
EOF
[ $? -eq 0 ] && ok "onset.py markers and threshold = stored /train/onset ($(head -n 1 "$T/onset.out"))" \
    || bad "onset.py markers" "$(tr '\n' '|' <"$T/onset.out" | cut -c1-600)"
plot sweep.py "$PY" plots/sweep.py "$T/summary.h5" -o "$O/sweep.png" && png_ok sweep.py "$O/sweep.png" 1600 700
# Two runs of one variant get distinct labels; executable with its shebang.
plot "loss.py (shebang, duplicate variant)" ./plots/loss.py "$T/dint.h5" "$T/syn/dint.h5" -o "$O/loss_dup.png" &&
    png_ok "loss.py (shebang, duplicate variant)" "$O/loss_dup.png" 1300 500

# make_all: every figure, then a run that has nothing to plot but its training curves.
if plot make_all.py "$PY" plots/make_all.py "${RUNS[@]}" --sweep "$T/summary.h5" --out "$O/all"; then
    for f in needle_N1_R1:1500:900 needle_N2_R1:1500:900 needle_attention:1200:500 ppl_tiny_txt:1300:500 \
             icl_synthetic:1300:500 loss:1300:500 lambda_gamma:1300:600 rowsum:1500:600 outliers:1500:500 \
             train_audit:1500:500 onset:1300:500 sweep:1600:700; do
        IFS=: read -r n w h <<<"$f"
        png_ok make_all.py "$O/all/$n.png" "$w" "$h"
    done
    grep -q "^12 figures written to .*, 0 skipped, 0 failed$" "$T/out" && ok "make_all.py summary line" \
        || bad "make_all.py summary line" "$(tail -n 1 "$T/out")"
fi
if plot "make_all.py (bare run)" "$PY" plots/make_all.py "$BARE" --out "$O/bare"; then
    png_ok "make_all.py (bare run)" "$O/bare/loss.png" 1300 500
    miss=""
    for s in "skipped needle: no run has /eval/needle" "skipped ppl: no run has /eval/ppl" "skipped icl: no run has /eval/icl" \
             "skipped lambda_gamma: no run has /train/lambda" "skipped rowsum: no run has /audit" \
             "skipped train_audit: no run has /train/audit_step" "skipped sweep: no --sweep" \
             "skipped onset: no run has /train/onset (a run file written before the retrieval onset existed)"; do
        grep -qF "$s" "$T/out" || miss="$miss [$s]"
    done
    [ -z "$miss" ] && ok "make_all.py says what it skipped" || bad "make_all.py says what it skipped" "missing$miss"
    n=$(find "$O/bare" -name '*.png' | wc -l)
    [ "$n" -eq 1 ] && ok "make_all.py (bare run) wrote only loss.png" || bad "make_all.py (bare run)" "$n PNGs"
fi

# One-line errors, no PNG.
E=$T/err_out
one_line_error "needle.py without /eval/needle" \
    "plots/needle.py: error: $BARE has no /eval/needle (run: dint eval needle --run $BARE)" \
    "$PY" plots/needle.py "$BARE" -o "$E"
one_line_error "ppl.py without /eval/ppl" \
    "plots/ppl.py: error: $BARE has no /eval/ppl (run: dint eval ppl --run $BARE)" \
    "$PY" plots/ppl.py "${RUNS[1]}" "$BARE" -o "$E/x.png"
one_line_error "icl.py without /eval/icl" \
    "plots/icl.py: error: $BARE has no /eval/icl (run: dint eval icl --run $BARE)" \
    "$PY" plots/icl.py "$BARE" -o "$E/x.png"
one_line_error "icl.py without the dataset" \
    "plots/icl.py: error: ${RUNS[2]} has no /eval/icl/wordnet-verb (run: dint eval icl --run ${RUNS[2]} --dataset wordnet-verb)" \
    "$PY" plots/icl.py "${RUNS[2]}" --dataset wordnet-verb -o "$E/x.png"
one_line_error "rowsum.py without /audit" \
    "plots/rowsum.py: error: $BARE has no /audit (run: dint audit --run $BARE)" \
    "$PY" plots/rowsum.py "$BARE" -o "$E/x.png"
one_line_error "outliers.py without /audit" \
    "plots/outliers.py: error: $BARE has no /audit (run: dint audit --run $BARE)" \
    "$PY" plots/outliers.py "$BARE" -o "$E/x.png"
one_line_error "train_audit.py without /train/audit_step" \
    "plots/train_audit.py: error: $BARE has no /train/audit_step (train with: --set train.audit_every=N)" \
    "$PY" plots/train_audit.py "$BARE" -o "$E/x.png"
one_line_error "lambda_gamma.py on a Transformer run" \
    "plots/lambda_gamma.py: error: $BARE has no /train/lambda (only DIFF and DINT runs have λ; give a diff or dint run)" \
    "$PY" plots/lambda_gamma.py "$BARE" -o "$E/x.png"
one_line_error "sweep.py on a run file" \
    "plots/sweep.py: error: $BARE has no /cells (it is not a sweep summary: dint sweep GRID.ini --out DIR writes DIR/summary.h5)" \
    "$PY" plots/sweep.py "$BARE" -o "$E/x.png"
one_line_error "loss.py on a sweep summary" \
    "plots/loss.py: error: $T/summary.h5 is a sweep summary, not a run file (give it to plots/sweep.py or --sweep)" \
    "$PY" plots/loss.py "$T/summary.h5" -o "$E/x.png"
one_line_error "loss.py on a text file" "plots/loss.py: error: $T/tiny.txt is not an HDF5 file" \
    "$PY" plots/loss.py "$T/tiny.txt" -o "$E/x.png"
one_line_error "loss.py on a missing file" "plots/loss.py: error: $T/none.h5: no such file" \
    "$PY" plots/loss.py "$T/none.h5" -o "$E/x.png"
one_line_error "make_all.py on a missing file" "plots/make_all.py: error: $T/none.h5: no such file" \
    "$PY" plots/make_all.py "$T/none.h5" --out "$E"
# A missing Debian package: one line naming it.
mkdir -p "$T/nopkg"
echo 'raise ImportError("No module named h5py")' >"$T/nopkg/h5py.py"
one_line_error "missing h5py names python3-h5py" "" env PYTHONPATH="$T/nopkg" "$PY" plots/loss.py "${RUNS[0]}" -o "$E/x.png"
grep -q "python3-h5py" "$T/err" && ok "import error text" || bad "import error text" "$(cat "$T/err")"

echo "($(($(date +%s) - START)) s)"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
