#!/usr/bin/env bash
# Hostile requests and conditions (issue 24): oversized requests refused from the memory plan in
# one line with no file touched; a writer through a symlink sharing the target's lock (and the
# link left a link); the refused writer told the holder's pid; SIGTERM removing the lock and the
# .tmp; standard output that cannot be written failing the command.
# Usage: bash tests/test_hostile.sh DINT
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

tiny_corpus "$T/tiny.txt" 7 40
RUN="$T/run.h5"
"$DINT" train --variant dint --data "$T/tiny.txt" --out "$RUN" --set model.n_layer=1 \
    --set model.d_model=32 --set model.head_dim=8 --set train.seq_len=32 --set train.batch_size=2 \
    --set train.warmup=2 --set train.eval_batches=2 --set train.steps=4 --threads 1 \
    >/dev/null 2>"$T/err" || { echo "FAIL setup: $(cat "$T/err")"; echo "0 passed, 1 failed"; exit 1; }
cp "$RUN" "$T/run.before"

# snapshot: every file of $T with its size and modification time (the lock files included).
snapshot() { find "$T" -maxdepth 1 -type f -printf '%f %s %T@\n' | grep -v '^err ' | sort; }

# refused WHAT ARGS...: exit 2, one line naming the memory needed and the setting to lower, and
# no file created, changed or left behind.
refused() {
    local what=$1
    shift
    local before
    before=$(snapshot)
    "$DINT" "$@" >/dev/null 2>"$T/err" </dev/null
    local rc=$?
    [ "$rc" -eq 2 ] && ok || bad "$what: exit $rc, expected 2: $(cat "$T/err")"
    [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q 'needs about .* of memory, but .* available .*; lower ' "$T/err" &&
        ok || bad "$what: not one line with the plan: $(cat "$T/err")"
    [ "$(snapshot)" = "$before" ] && ok || bad "$what: files changed: $(diff <(echo "$before") <(snapshot))"
}
NEW="$T/new.h5"
refused "train 64 x 400000 tokens" train --variant dint --data "$T/tiny.txt" --out "$NEW" \
    --set train.seq_len=400000 --set train.batch_size=64
refused "train d_model 65536 x 256 layers" train --variant dint --data "$T/tiny.txt" --out "$NEW" \
    --set model.d_model=65536 --set model.head_dim=4096 --set model.n_layer=256
refused "train d_model 16384" train --variant dint --data "$T/tiny.txt" --out "$NEW" \
    --set model.d_model=16384
refused "train --resume under --memory-limit 1M" --memory-limit 1M train --out "$RUN" --resume
refused "eval ppl --window 1e9" eval ppl --run "$RUN" --window 1000000000 --max-docs 1 --threads 1
refused "eval needle at 1e8 tokens" eval needle --run "$RUN" --lengths 100000000 --samples 1 --threads 1
refused "audit at 3e8 tokens" audit --run "$RUN" --seq 300000000 --samples 1 --threads 1
refused "bench 64 x 400000 tokens" bench --variant dint --seq 400000 --set train.batch_size=64
cmp -s "$RUN" "$T/run.before" && ok || bad "the run file changed under refused requests"
"$DINT" --memory-limit banana info "$RUN" >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q "'banana' is not a size" "$T/err" && ok || bad "--memory-limit banana: $(cat "$T/err")"

# A long writer through a symlink holds the target's lock: a writer of the target is refused,
# naming the first one's pid; SIGTERM then ends the first with no lock or .tmp left.
ln -s run.h5 "$T/link.h5"
"$DINT" eval needle --run "$T/link.h5" --lengths 1024 --samples 4 --threads 1 >/dev/null 2>"$T/long.err" &
first=$!
# Stopped once its lock names it (as in test_writers.sh), so the overlap is certain however fast
# the machine.
while kill -0 "$first" 2>/dev/null && [ "$(cat "$RUN.lock" 2>/dev/null)" != "$first" ]; do sleep 0.02; done
kill -STOP "$first" 2>/dev/null
[ -e "$RUN.lock" ] && [ ! -e "$T/link.h5.lock" ] && ok || bad "the lock of the link's writer is not the target's"
"$DINT" eval ppl --run "$RUN" --max-docs 1 --threads 1 >/dev/null 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "being written by another dint process (pid $first," "$T/err" && ok ||
    bad "a writer of the target while the link's writer runs: exit $rc: $(cat "$T/err")"
kill -TERM "$first"
kill -CONT "$first"
wait "$first"
rc=$?
[ "$rc" -eq $((128 + 15)) ] && ok || bad "the writer did not end by SIGTERM (exit $rc)"
[ ! -e "$RUN.lock" ] && [ -z "$(find "$T" -name '*.tmp')" ] && ok ||
    bad "SIGTERM left $(ls "$T" | grep -E 'lock|tmp$')"
"$DINT" check "$RUN" >/dev/null 2>"$T/err" && ok || bad "run file not whole after SIGTERM: $(cat "$T/err")"
# A finished write through the link replaces the target; the link stays a link.
"$DINT" eval ppl --run "$T/link.h5" --max-docs 1 --threads 1 >/dev/null 2>"$T/err"
[ $? -eq 0 ] && [ -L "$T/link.h5" ] && ok || bad "eval through the link: link.h5 is no longer a link: $(tail -1 "$T/err")"
/usr/bin/python3 -c 'import sys, h5py; sys.exit(int("eval/ppl" not in h5py.File(sys.argv[1], "r")))' \
    "$RUN" && ok || bad "the results written through the link are not in the target"

# Standard output that cannot be written: exit 2 and one line, for every command that prints.
for cmd in "schema" "info $RUN" "check $RUN" "tokenize $T/tiny.txt"; do
    # shellcheck disable=SC2086
    "$DINT" $cmd >/dev/full 2>"$T/err"
    rc=$?
    [ "$rc" -eq 2 ] && grep -q 'writing standard output failed' "$T/err" && ok ||
        bad "dint $cmd > /dev/full: exit $rc: $(cat "$T/err")"
done

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
