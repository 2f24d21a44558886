#!/usr/bin/env bash
# One writer per file. While an `eval ppl` holds a run file (stopped with SIGSTOP right after it
# took the lock, so the overlap is certain), a second `eval ppl`, an `eval needle`, an `audit` and
# a `train --resume` of the same file are refused at once with one line naming the holder's pid;
# the first then finishes and nothing of its results is lost. A writer killed with -9 leaves a
# lock file that does not block the next one. Also: an output that cannot be created is reported
# before training; the audit of a DIFF run prints the range of the expected row sums.
# Usage: bash tests/test_writers.sh DINT   (prints N passed, N failed; exit 1 on failure)
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
A=""
cleanup_extra() { if [ -n "$A" ]; then kill -KILL "$A" 2>/dev/null; fi; }

tiny_corpus "$T/tiny.txt" 3 60
RUN="$T/run.h5"
"$DINT" train --variant dint --data "$T/tiny.txt" --out "$RUN" --set model.n_layer=1 \
    --set model.d_model=32 --set model.head_dim=8 --set train.seq_len=32 --set train.batch_size=2 \
    --set train.warmup=2 --set train.eval_batches=2 --set train.steps=4 --set train.eval_every=2 \
    --threads 1 --stop-at 2 >/dev/null 2>"$T/err" ||
    { echo "FAIL setup: $(cat "$T/err")"; echo "0 passed, 1 failed"; exit 1; }

# Waits here are for events (a lock file naming a pid, a process ending), however long a loaded
# machine takes. The only clock: HANG_GUARD around commands that must end at once, so generous
# (they take under a second on a quiet machine) that load cannot reach it; it only turns a hang
# into a failure with a message before ctest's TIMEOUT (900 s) ends the whole test.
HANG_GUARD=600

# wait_lock: until the lock file of $RUN names pid $A (0), or $A has ended without that (1).
wait_lock() {
    while kill -0 "$A" 2>/dev/null; do
        [ "$(cat "$RUN.lock" 2>/dev/null)" = "$A" ] && return 0
        sleep 0.05
    done
    return 1
}

"$DINT" eval ppl --run "$RUN" --window 64 --threads 1 >/dev/null 2>"$T/a_err" &
A=$!
if wait_lock; then
    kill -STOP "$A"
    ok
    for cmd in "eval ppl --run $RUN --window 64 --threads 1" \
        "eval needle --run $RUN --needles 1:1 --lengths 192 --depths 0.5 --samples 1 --threads 1" \
        "audit --run $RUN --samples 1 --seq 32 --threads 1" "train --out $RUN --resume"; do
        timeout "$HANG_GUARD" $DINT $cmd >/dev/null 2>"$T/err" </dev/null
        rc=$?
        [ "$rc" -eq 2 ] && ok || bad "second writer ($cmd): exit $rc, expected 2: $(cat "$T/err")"
        [ "$(grep -c '' "$T/err")" -eq 1 ] && grep -q "another dint process (pid $A," "$T/err" && ok ||
            bad "second writer ($cmd): the message does not name pid $A: $(cat "$T/err")"
    done
    kill -CONT "$A"
else
    bad "the first writer never took the lock: $(cat "$T/a_err")"
fi
wait "$A"
rc=$?
A=""
[ "$rc" -eq 0 ] && ok || bad "the first writer failed ($rc): $(cat "$T/a_err")"
[ ! -e "$RUN.lock" ] && ok || bad "the lock file was left behind"
# Its results are all there: every test document, and a second evaluation finds nothing to do.
/usr/bin/python3 - "$RUN" >"$T/check" 2>&1 <<'EOF'
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    g = f["eval/ppl/tiny_txt"]
    done, total = int(g.attrs["documents_done"]), int(g.attrs["documents"])
    print("ok" if done == total and total > 0 else f"documents_done {done} of {total}")
EOF
[ "$(cat "$T/check")" = ok ] && ok || bad "results of the first writer: $(cat "$T/check")"
"$DINT" eval ppl --run "$RUN" --window 64 --threads 1 >/dev/null 2>"$T/err" &&
    grep -q "already done" "$T/err" && ok || bad "a later eval ppl redid work: $(cat "$T/err")"

# A writer killed with -9 keeps no lock.
"$DINT" eval needle --run "$RUN" --needles 1:1 --lengths 192 --depths 0,0.5,1 --samples 2 \
    --threads 1 >/dev/null 2>&1 &
A=$!
wait_lock && ok || bad "eval needle never took the lock"
kill -KILL "$A"
wait "$A" 2>/dev/null
A=""
"$DINT" audit --run "$RUN" --samples 1 --seq 32 --threads 1 >/dev/null 2>"$T/err" && ok ||
    bad "a stale lock file blocked the next writer: $(cat "$T/err")"
# An output that cannot be created is reported before any training step (one line).
echo x >"$T/a_file"
outs=("$T/a_file/run.h5")
if [ "$(id -u)" -ne 0 ]; then # root writes into read-only folders anyway
    mkdir "$T/ro" && chmod 555 "$T/ro" && outs+=("$T/ro/run.h5")
fi
for o in "${outs[@]}"; do
    timeout "$HANG_GUARD" "$DINT" train --variant dint --data "$T/tiny.txt" --out "$o" \
        --set train.steps=50 >/dev/null 2>"$T/err" </dev/null
    rc=$?
    [ "$rc" -eq 2 ] && [ "$(grep -c '' "$T/err")" -eq 1 ] && ! grep -q '^step' "$T/err" && ok ||
        bad "train --out $o: exit $rc, expected one line before any step: $(cat "$T/err")"
done
# DIFF with two layers: lambda differs per layer, so the audit prints the expected range.
"$DINT" train --variant diff --data "$T/tiny.txt" --out "$T/diff.h5" --set model.n_layer=2 \
    --set model.d_model=32 --set model.head_dim=8 --set train.seq_len=32 --set train.steps=1 \
    --set train.warmup=1 --set train.batch_size=2 --set train.eval_batches=1 --threads 1 >/dev/null 2>"$T/err" &&
    "$DINT" audit --run "$T/diff.h5" --samples 1 --seq 32 --threads 1 >/dev/null 2>"$T/err"
grep -q 'expected [0-9.]*\.\.[0-9.]*: 1 - lambda' "$T/err" && ! grep -q 'expected nan' "$T/err" && ok ||
    bad "audit of a 2-layer DIFF run: $(cat "$T/err")"
# Twelve writers started at once: each either writes or is refused naming the pid of one of the
# others (the kernel's holder, never "pid ?", even before the holder wrote its pid).
pids=()
for i in $(seq 12); do
    "$DINT" eval ppl --run "$RUN" --window 64 --threads 1 >/dev/null 2>"$T/many_$i.err" &
    pids+=($!)
done
refused=0
for i in $(seq 12); do
    wait "${pids[$((i - 1))]}"
    rc=$?
    if [ "$rc" -eq 2 ]; then
        refused=$((refused + 1))
        holder=$(sed -n 's/.*another dint process (pid \([0-9]*\),.*/\1/p' "$T/many_$i.err")
        [[ " ${pids[*]} " == *" $holder "* ]] && ok ||
            bad "simultaneous writer $i: the refusal does not name one of the writers: $(cat "$T/many_$i.err")"
    else
        [ "$rc" -eq 0 ] && ok || bad "simultaneous writer $i: exit $rc: $(cat "$T/many_$i.err")"
    fi
done
echo "simultaneous writers: $refused of 12 refused"
[ -z "$(ls "$T" | grep '\.tmp$')" ] && ok || bad "left $(ls "$T" | grep '\.tmp$')"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
