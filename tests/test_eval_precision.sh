#!/usr/bin/env bash
# Evaluations at a reduced attention precision (issue 27): `dint eval ... --precision P` writes
# the task's group under /eval/precision/P beside the fp32 one (which it leaves as it was); on a
# trained model an 8-bit evaluation's perplexity differs from fp32 by a small, bounded amount and
# a 4-bit one by more; a finished evaluation is skipped when asked again; a bad precision is one
# line, exit 2, the file unchanged; the audit at qK; a sweep grid's [eval] precisions.
# Usage: bash tests/test_eval_precision.sh DINT
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$T/run.h5"
OMP_NUM_THREADS=1 "$DINT" train --variant dint --data sotu --out "$RUN" --set model.n_layer=2 \
    --set model.d_model=64 --set model.head_dim=16 --set train.seq_len=128 --set train.batch_size=8 \
    --set train.steps=200 --set train.eval_every=100 --set train.eval_batches=2 --threads 1 \
    >/dev/null 2>"$T/err" || { echo "FAIL setup: $(tail -n 1 "$T/err")"; echo "0 passed, 1 failed"; exit 1; }
ppl() { "$DINT" eval ppl --run "$RUN" --window 128 --max-docs 2 --threads 1 "$@" >/dev/null 2>"$T/err"; }
ppl && ok || bad "eval ppl fp32: $(tail -n 1 "$T/err")"
nll() { /usr/bin/python3 -c 'import h5py,sys
f = h5py.File(sys.argv[1], "r"); g = f[sys.argv[2]]; (c,) = list(g); print(repr(g[c].attrs["nll"]))' "$RUN" "$1"; }
fp32=$(nll /eval/ppl)
for p in q8 q4 bf16; do
    ppl --precision $p && ok || bad "eval ppl --precision $p: $(tail -n 1 "$T/err")"
done
[ "$(nll /eval/ppl)" = "$fp32" ] && ok || bad "the fp32 results changed after the reduced-precision evaluations"
/usr/bin/python3 - "$fp32" "$(nll /eval/precision/q8/ppl)" "$(nll /eval/precision/q4/ppl)" \
    "$(nll /eval/precision/bf16/ppl)" <<'PY' && ok || bad "perplexity at reduced precision (see above)"
import sys
fp32, q8, q4, bf16 = map(float, sys.argv[1:])
d8, d4, db = abs(q8 - fp32), abs(q4 - fp32), abs(bf16 - fp32)
print(f"NLL fp32 {fp32:.6f}, q8 {q8:.6f} ({d8:.2e}), q4 {q4:.6f} ({d4:.2e}), bf16 {bf16:.6f} ({db:.2e})")
ok = 0 < d8 < 0.01 and d4 > d8 and 0 < db < 0.01 and d4 < 0.5
sys.exit(0 if ok else 1)
PY
# Any task, the same rule: the needle task's group moves too.
"$DINT" eval needle --run "$RUN" --needles 1:1 --lengths 256 --depths 0.5 --samples 1 --threads 1 \
    --precision q6 >/dev/null 2>"$T/err" &&
    /usr/bin/python3 -c 'import h5py,sys; sys.exit("eval/precision/q6/needle/accuracy" not in h5py.File(sys.argv[1], "r"))' \
        "$RUN" && ok ||
    bad "eval needle --precision q6: no /eval/precision/q6/needle ($(tail -n 1 "$T/err"))"
# Asked again: finished, nothing rewritten.
before=$(sha256sum <"$RUN")
ppl --precision q8 && [ "$(sha256sum <"$RUN")" = "$before" ] && ok || bad "a finished q8 evaluation was run again"
# Bad input: one line, exit 2, the file as it was.
for args in "eval ppl --run $RUN --precision fp8" "eval ppl --run $RUN --precision" "audit --run $RUN --precision q8,q5"; do
    # shellcheck disable=SC2086
    "$DINT" $args >/dev/null 2>"$T/err"
    rc=$?
    [ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && [ "$(sha256sum <"$RUN")" = "$before" ] && ok ||
        bad "dint $args: exit $rc, expected 2 with one line and the file unchanged: $(cat "$T/err")"
done
grep -q "fp32, bf16, fp16, q8, q6 or q4" <<<"$("$DINT" eval ppl --run "$RUN" --precision fp8 2>&1)" && ok ||
    bad "the bad-precision line does not list the precisions"

# The audit at every precision: a map stored at qK no longer sums to 1, by more at fewer bits;
# fp32 stays at rounding level and bf16 below one part in 20.
"$DINT" audit --run "$RUN" --samples 1 --seq 64 --precision fp32,bf16,q8,q6,q4 --threads 1 >/dev/null 2>"$T/err" &&
    /usr/bin/python3 - "$RUN" <<'PY' && ok || bad "audit at reduced precision (see above; $(tail -n 1 "$T/err"))"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
dev = {p: float(np.max(f["audit"][p]["row_sum_dev_max"])) for p in ["fp32", "bf16", "q8", "q6", "q4"]}
print("audit row-sum deviation:", {p: f"{v:.2e}" for p, v in dev.items()})
ok = dev["fp32"] < 1e-5 and dev["fp32"] < dev["bf16"] < 0.05 and dev["q8"] < dev["q6"] < dev["q4"] < 1.0
ok &= 1e-4 < dev["q8"] < 0.1
sys.exit(0 if ok else 1)
PY

# A sweep grid's [eval] precisions: each evaluation and the audit run at every precision listed,
# and the summary's "<metric>_at_<precision>" columns are the run files' values.
OMP_NUM_THREADS=1 "$DINT" sweep "$root/tests/tiny_precision_grid.ini" --out "$T/sw" >/dev/null 2>"$T/err" &&
    /usr/bin/python3 - "$T/sw" <<'PY' && ok || bad "a sweep with [eval] precisions (see above; $(tail -n 1 "$T/err"))"
import sys, h5py, numpy as np
d = sys.argv[1]
s = h5py.File(d + "/summary.h5", "r")
names = s["cells"].attrs["metrics"].split(",")
per = np.asarray(s["cells/dint/per_seed"])
want = [m + "_at_" + p for p in ["q8", "q4"] for m in
        ["ppl_nll", "ppl_nll_within_train", "ppl_nll_beyond_train", "row_sum_dev_max", "negative_mass"]]
fails = [] if names[-len(want):] == want else [f"summary's last metrics {names[-len(want):]}, expected {want}"]
for k in (1, 2):
    f = h5py.File(f"{d}/dint-seed{k}.h5", "r")
    if sorted(f["eval/precision"]) != ["q4", "q8"]:
        fails.append(f"seed {k}: /eval/precision has {sorted(f['eval/precision'])}")
    for p in ("q8", "q4"):
        got = per[k - 1, names.index("ppl_nll_at_" + p)]
        if got != f[f"eval/precision/{p}/ppl/sotu"].attrs["nll"]:
            fails.append(f"seed {k}: ppl_nll_at_{p} {got} is not the run file's")
        dev = per[k - 1, names.index("row_sum_dev_max_at_" + p)]
        if dev != np.max(f[f"audit/{p}/row_sum_dev_max"]):
            fails.append(f"seed {k}: row_sum_dev_max_at_{p} {dev} is not the run file's")
for x in fails:
    print("FAIL", x)
sys.exit(1 if fails else 0)
PY
sed 's/^precisions = .*/precisions = q8, q5/' "$root/tests/tiny_precision_grid.ini" >"$T/bad.ini"
"$DINT" sweep "$T/bad.ini" --out "$T/sw2" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "unknown precision 'q5'" "$T/err" && [ ! -e "$T/sw2/summary.h5" ] &&
    ok || bad "a grid with precision q5: exit $rc, expected 2 with one line: $(cat "$T/err")"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
