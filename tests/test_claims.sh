#!/usr/bin/env bash
# harness/claims.sh end to end at a tiny scale (issue 26): every grid trained and summarised, a
# claims table with the 8 claims (seeds, intervals, a test and a verdict each) made from the
# summaries alone (--table-only gives the same file), a second invocation that trains nothing,
# bad options refused in one line; the metrics the table reads checked against the run files
# (ppl within/beyond the training length, DINT-uniform's cell); a diverged run recorded by the
# sweep as an outcome, not a failure.
# Usage: bash tests/test_claims.sh DINT
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
R="$T/claims"
claims() { DINT_CLAIMS_DINT="$DINT" DINT_CLAIMS_RESULTS="$R" DINT_CLAIMS_TINY=1 bash "$root/harness/claims.sh" "$@"; }

# Bad options: exit 2, one line, nothing written.
for args in "--seeds 2" "--seeds x" "--only nosuch" "--scale 0" "--frobnicate" "--ranks"; do
    # shellcheck disable=SC2086
    claims $args >/dev/null 2>"$T/err"
    rc=$?
    [ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^claims: error: " "$T/err" && [ ! -e "$R" ] &&
        ok || bad "claims.sh $args: exit $rc, expected 2 with one line and nothing written: $(cat "$T/err")"
done
DINT_CLAIMS_RESULTS="$T/none" bash "$root/harness/claims.sh" --table-only >/dev/null 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && ok ||
    bad "--table-only without results: exit $rc, expected 2 with one line: $(cat "$T/err")"

# The whole default set, tiny, one process (the sweeps' MPI spreading is tests/test_mpi.sh's).
claims --ranks 1 >"$T/table.out" 2>"$T/log"
rc=$?
[ "$rc" -eq 0 ] && ok || { bad "claims.sh exit $rc: $(tail -n 5 "$T/log")"; echo "$PASS passed, $FAIL failed"; exit 1; }
/usr/bin/python3 - "$R" <<'PY' || FAIL=$((FAIL + 1))
import os, re, sys
import h5py, numpy as np
R = sys.argv[1]
fails = []
md = open(os.path.join(R, "claims.md")).read()
rows = [l for l in md.splitlines() if re.match(r"^\| \d\. ", l)]
if [r[2] for r in rows] != list("12345678"):
    fails.append(f"claims.md rows {[r[:14] for r in rows]}, expected claims 1-8")
for r in rows:
    cols = [c.strip() for c in r.strip("|").split(" | ")]
    if len(cols) != 7:
        fails.append(f"row {r[:20]}: {len(cols)} columns, expected 7")
        continue
    claim, paper, setup, measured, test, verdict, resolve = cols
    if not re.search(r"supported|contradicted|not resolved at this scale", verdict):
        fails.append(f"{claim}: verdict {verdict!r}")
    if "p = " not in test:
        fails.append(f"{claim}: no p-value in {test!r}")
    if not re.search(r"\[[-\d.e]+, [-\d.e]+\]|\d+/\d+", measured):
        fails.append(f"{claim}: no interval in {measured!r}")
    if claim.startswith(("1.", "6.")) and "10 seeds" not in setup:
        fails.append(f"{claim}: {setup!r}: the recall grid's default is 10 seeds")
    if claim.startswith(("2.", "3.", "5.", "7.", "8.")) and "3 seeds" not in setup:
        fails.append(f"{claim}: {setup!r}: expected 3 seeds")
for name in ["recall", "size-d32", "size-d64", "size-d96", "size-d128", "stability", "precision"]:
    with h5py.File(os.path.join(R, name, "summary.h5"), "r") as f:
        for cell, g in f["cells"].items():
            want = 10 if name == "recall" else 3
            if int(g.attrs["n_seeds"]) != want:
                fails.append(f"{name}/{cell}: {g.attrs['n_seeds']} seeds, expected {want}")
# DINT with G uniform is a cell of the recall grid, trained with g_mode uniform.
with h5py.File(os.path.join(R, "recall", "summary.h5"), "r") as f:
    if f["cells/dint-G_uniform"].attrs["g_mode"] != "uniform":
        fails.append("recall: dint-G_uniform is not g_mode uniform")
with h5py.File(os.path.join(R, "recall", "dint-G_uniform-seed1.h5"), "r") as f:
    import json
    if json.loads(f.attrs["config"])["model"]["g_mode"] != "uniform":
        fails.append("dint-G_uniform-seed1.h5: config lacks g_mode uniform")
# The ppl metrics against the run file's own accumulators, and the summary's per-seed column.
with h5py.File(os.path.join(R, "size-d128", "summary.h5"), "r") as f:
    names = f["cells"].attrs["metrics"].split(",")
    per = np.asarray(f["cells/dint/per_seed"])
for k in range(3):
    with h5py.File(os.path.join(R, "size-d128", f"dint-seed{k + 1}.h5"), "r") as f:
        (corpus,) = list(f["eval/ppl"])
        g = f["eval/ppl"][corpus]
        L = int(g.attrs["train_seq_len"])
        s, c = np.asarray(g["accumulators/nll_sum"]), np.asarray(g["documents_at_position"])
        pos = np.arange(1, s.size + 1)
        for attr, sel in (("nll_within_train", pos < L), ("nll_beyond_train", pos >= L)):
            want = s[sel].sum() / c[sel].sum()
            if abs(g.attrs[attr] - want) > 1e-9 * abs(want):
                fails.append(f"dint seed {k + 1}: {attr} {g.attrs[attr]} != {want} from the accumulators")
            if abs(per[k, names.index("ppl_" + attr)] - want) > 1e-9 * abs(want):
                fails.append(f"summary dint seed {k + 1}: ppl_{attr} {per[k, names.index('ppl_' + attr)]} != {want}")
        if not g.attrs["nll_beyond_train"] > 0:
            fails.append("nll_beyond_train is not positive: the window must be longer than training")
# Claim 8's inputs: every precision of the grid evaluated, and the summary's columns are the run
# files' values (ppl and the audit's row sums on the precision grid, recall on the recall grid).
for name, metric, path in (("precision", "ppl_nll", "eval/precision/{p}/ppl"),
                           ("precision", "row_sum_dev_max", "audit/{p}/row_sum_dev_max"),
                           ("recall", "recall_accuracy", "eval/precision/{p}/recall")):
    with h5py.File(os.path.join(R, name, "summary.h5"), "r") as f:
        names = f["cells"].attrs["metrics"].split(",")
        per = np.asarray(f["cells/dint/per_seed" if name == "precision" else "cells/diff/per_seed"])
    run = os.path.join(R, name, ("dint" if name == "precision" else "diff") + "-seed2.h5")
    with h5py.File(run, "r") as f:
        for p in ["bf16", "q4"]:  # the tiny grids' precisions (claims.sh)
            col = f"{metric}_at_{p}"
            if col not in names:
                fails.append(f"{name}: no column {col}")
                continue
            g = f[path.format(p=p)]
            if metric == "ppl_nll":
                want = g[list(g)[0]].attrs["nll"]
            elif metric == "row_sum_dev_max":
                want = np.max(g)
            else:
                want = np.nanmean(g["accuracy"]) if "accuracy" in g else np.nan
            if not abs(per[1, names.index(col)] - want) <= 1e-12 * abs(want):
                fails.append(f"{name}: {col} seed 2 {per[1, names.index(col)]} is not the run file's {want}")
if "| 8. Stability under reduced precision" not in md or "cost q4" not in md:
    fails.append("claims.md: no claim 8 row or details")
for f in fails:
    print("FAIL", f)
sys.exit(1 if fails else 0)
PY
[ $? -eq 0 ] && ok

# The table and figures from the summaries alone: the same claims.md.
cp "$R/claims.md" "$T/claims.first.md"
rm -f "$R/claims.md"
DINT_CLAIMS_RESULTS="$R" bash "$root/harness/claims.sh" --table-only >/dev/null 2>"$T/err"
cmp -s "$R/claims.md" "$T/claims.first.md" && [ -s "$R/figures/parameter_efficiency.png" ] &&
    [ -s "$R/figures/recall_survival.png" ] && [ -s "$R/figures/precision_ppl.png" ] &&
    [ -s "$R/figures/precision_recall.png" ] && ok ||
    bad "--table-only: claims.md differs from the first or a figure is missing: $(cat "$T/err")"

# Again: resumable, so nothing is trained (every run file keeps its training as it was); with
# --seeds 3 the recall grid takes its least, 5 seeds (a subset of the runs made above).
sums() { find "$R" -name '*-seed*.h5' -exec /usr/bin/python3 -c 'import h5py,sys
for p in sorted(sys.argv[1:]):
    with h5py.File(p, "r") as f: print(p, f["train"].attrs["steps_done"], f.attrs["updated_utc"])' {} + | sort; }
sums >"$T/before"
claims --ranks 1 --only size-d32,recall --seeds 3 >/dev/null 2>"$T/log2"
rc=$?
sums >"$T/after"
[ "$rc" -eq 0 ] && ! grep -q "steps to go" "$T/log2" && cmp -s "$T/before" "$T/after" && ok ||
    bad "a second claims.sh trained again (exit $rc): $(diff "$T/before" "$T/after" | head -n 4)"
grep -q "^seeds = 1, 2, 3, 4, 5$" "$R/recall/grid.ini" && grep -q "^seeds = 1, 2, 3$" "$R/size-d32/grid.ini" &&
    ok || bad "--seeds 3: recall grid $(grep '^seeds' "$R/recall/grid.ini"), size-d32 $(grep '^seeds' "$R/size-d32/grid.ini")"

# A run that diverges is the sweep's outcome: recorded beside the run file, diverged = 1 in the
# summary with NaN metrics, not retried, and the sweep exits 0.
cat >"$T/diverge.ini" <<'EOF'
[grid]
variants = diff
seeds = 1, 2
data = sotu:1
[train]
model.n_layer = 1
model.d_model = 16
model.head_dim = 4
train.seq_len = 32
train.batch_size = 4
train.steps = 30
train.warmup = 1
train.lr = 10
train.eval_every = 5
EOF
OMP_NUM_THREADS=1 "$DINT" sweep "$T/diverge.ini" --out "$T/dv" >/dev/null 2>"$T/err"
rc=$?
/usr/bin/python3 - "$T/dv" <<'PY'
import glob, math, os, sys
import h5py, numpy as np
d = sys.argv[1]
marks = sorted(glob.glob(os.path.join(d, "*.diverged")))
with h5py.File(os.path.join(d, "summary.h5"), "r") as f:
    names = f["cells"].attrs["metrics"].split(",")
    per = np.asarray(f["cells/diff/per_seed"])
bad = []
if not marks:
    bad.append("no run diverged at train.lr = 10")
for m in marks:
    seed = int(m.split("-seed")[1].split(".")[0])
    row = per[seed - 1]
    step = int(open(m).read().split()[0])
    if row[names.index("diverged")] != 1 or not math.isnan(row[names.index("val_loss")]):
        bad.append(f"{m}: summary row diverged={row[names.index('diverged')]} val_loss={row[names.index('val_loss')]}")
    if not 0 < step <= 30:
        bad.append(f"{m}: step {step}")
for b in bad:
    print("FAIL", b)
sys.exit(1 if bad else 0)
PY
[ $? -eq 0 ] && [ "$rc" -eq 0 ] && ok || bad "divergence in a sweep: exit $rc: $(tail -n 2 "$T/err")"
OMP_NUM_THREADS=1 "$DINT" sweep "$T/diverge.ini" --out "$T/dv" >"$T/out2" 2>"$T/err2"
[ $? -eq 0 ] && ! grep -q "divergence at step" "$T/err2" && ok ||
    bad "the sweep retried a diverged run: $(grep -m1 divergence "$T/err2")"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
