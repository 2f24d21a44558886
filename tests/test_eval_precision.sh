#!/usr/bin/env bash
# Evaluations at a reduced attention precision (issue 27): `dint eval ... --precision P` writes
# the task's group under /eval/precision/P beside the fp32 one (which it leaves as it was); on a
# trained model an 8-bit evaluation's perplexity differs from fp32 by a small, bounded amount and
# a 4-bit one by more; a finished evaluation is skipped when asked again; a bad precision, or one
# asked of the audit (which emulates bf16 / fp16 itself), is one line, exit 2, the file unchanged.
# Usage: bash tests/test_eval_precision.sh DINT
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
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
for args in "eval ppl --run $RUN --precision fp8" "eval ppl --run $RUN --precision" "audit --run $RUN --precision q8"; do
    # shellcheck disable=SC2086
    "$DINT" $args >/dev/null 2>"$T/err"
    rc=$?
    [ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && [ "$(sha256sum <"$RUN")" = "$before" ] && ok ||
        bad "dint $args: exit $rc, expected 2 with one line and the file unchanged: $(cat "$T/err")"
done
grep -q "fp32, bf16, fp16, q8, q6 or q4" <<<"$("$DINT" eval ppl --run "$RUN" --precision fp8 2>&1)" && ok ||
    bad "the bad-precision line does not list the precisions"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
