#!/usr/bin/env bash
# dint under MPI (mpirun -np 2), against one process:
#   sweep     a 2-rank sweep writes the same runs and summary (and table) as a 1-rank sweep
#   restart   a 2-rank sweep killed mid-way (no run goes on once its rank is gone), restarted as
#             one process, finishes with every run equal to the uninterrupted sweep's; finished
#             runs untouched, none trained twice
#   train     2-rank data-parallel training equals 1 rank with grad_accum 2 within the stated
#             tolerance (its first loss exactly), is identical when repeated, resumes with 1 rank
#   eval      2-rank needle, ICL and perplexity evaluations write the same groups as 1-rank
#             ones (ICL up to the shot count that does not fit, as one process stops there)
#   refuse    commands that do not share their work refuse several ranks; a 2-rank audit (3
#             samples: 2 on rank 0, 1 on rank 1, folded into shared statistics) writes the same
#             /audit group as a 1-rank audit, bit for bit
# usage: test_mpi.sh DINT MPIEXEC [PART...]
#        (parts: sweep restart train eval refuse; default all)
# Prints N passed, N failed; exit 1 on failure.
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
set -o pipefail
MPIEXEC="${2:?usage: test_mpi.sh DINT MPIEXEC [PART...]}"
shift 2
parts="${*:-sweep restart train eval refuse}"
TMP="$T"
check() { # name command...: counts a pass, or names the failure
  local name="$1"
  shift
  if "$@"; then ok; else bad "$name"; fi
}
finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}
TINY_SETS="--set model.n_layer=1 --set model.d_model=32 --set model.head_dim=8 --set train.seq_len=32
  --set train.batch_size=2 --set train.warmup=2 --set train.eval_batches=2 --set train.log_every=100"
mpi() { "$MPIEXEC" --allow-run-as-root --oversubscribe -np "$@"; }
py=/usr/bin/python3

# Compare two run files (or two summaries): every dataset and attribute, NaN equal to NaN, except
# wall-clock times and how the work was run (threads, ranks, host; a summary's processes and the
# throughput of the invocation that wrote it), and the content digest, which covers those too.
# tol = 0: bit for bit; else the largest difference relative to the dataset's largest magnitude.
same_h5() { # a b tol
  "$py" - "$@" <<'EOF'
import sys, h5py, numpy as np
a, b, tol = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), float(sys.argv[3])
skip_attrs = {"created_utc", "updated_utc", "host", "threads", "ranks", "seconds", "elapsed_s",
              "processes", "threads_per_process", "wall_seconds", "tokens_trained", "tokens_per_s",
              "digest"}
bad = []
def attrs(x, y, where):
    for k in set(x.attrs) | set(y.attrs):
        if k in skip_attrs: continue
        if k not in x.attrs or k not in y.attrs or str(x.attrs[k]) != str(y.attrs[k]):
            bad.append(f"attribute {where}@{k}")
def visit(name, obj):
    if name not in b: return bad.append(f"{name} missing")
    attrs(obj, b[name], name)
    if not isinstance(obj, h5py.Dataset) or name.split("/")[-1] == "seconds": return
    x, y = obj[()], b[name][()]
    if x.dtype.kind not in "fc" or tol == 0:
        same = np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
        if not same: bad.append(f"{name} differs")
        return
    x, y = x.astype(float), y.astype(float)
    if not np.array_equal(np.isnan(x), np.isnan(y)): return bad.append(f"{name}: NaN pattern")
    ok = ~np.isnan(x)
    # Row-sum deviations are rounding noise around 1 themselves: compared on the scale of 1.
    scale = 1.0 if "row_sum_dev" in name else (np.max(np.abs(x[ok]), initial=0) or 1.0)
    rel = np.max(np.abs(x[ok] - y[ok]), initial=0) / scale
    if rel > tol: bad.append(f"{name}: relative difference {rel:.3g} > {tol:g}")
attrs(a, b, "/")
a.visititems(visit)
b.visit(lambda n: bad.append(f"{n} only in {sys.argv[2]}") if n not in a else None)
if bad: print("\n".join(bad[:10]))
sys.exit(1 if bad else 0)
EOF
}

attr_of() { "$py" -c 'import sys,h5py; print(h5py.File(sys.argv[1],"r").attrs.get(sys.argv[2], "absent"))' "$@"; }

grid="$TMP/grid.ini"
cat >"$grid" <<EOF
[grid]
variants = transformer, dint
seeds = 1, 2
data = sotu:0.8,needle:0.2
baseline = transformer
[train]
model.n_layer = 1
model.d_model = 32
model.head_dim = 8
train.steps = 4
train.seq_len = 64
train.batch_size = 2
train.eval_every = 2
train.warmup = 1
train.eval_batches = 1
[eval]
needle = --needles 1:1 --lengths 256 --depths 0.5 --samples 2
[audit]
options = --samples 1 --seq 64
EOF
runs="transformer-seed1 transformer-seed2 dint-seed1 dint-seed2"

reference_sweep() { # the 1-rank sweep every sweep test compares with (made once)
  [ -f "$TMP/one/summary.h5" ] && return 0
  "$DINT" sweep "$grid" --out "$TMP/one" >"$TMP/one.out" 2>"$TMP/one.err" ||
    { bad "the 1-rank reference sweep: $(tail -n 3 "$TMP/one.err")"; finish; exit 1; }
}

same_sweep() { # dir: its runs and summary equal the reference's, bit for bit
  local dir="$1" r
  for r in $runs summary; do
    same_h5 "$TMP/one/$r.h5" "$dir/$r.h5" 0 || { echo "$dir/$r.h5 differs from the 1-rank sweep's"; return 1; }
  done
}

if [[ " $parts " == *" sweep "* ]]; then
  reference_sweep
  mpi 2 "$DINT" sweep "$grid" --out "$TMP/two" >"$TMP/two.out" 2>"$TMP/two.err"
  check "2-rank sweep succeeds" test $? -eq 0
  check "2-rank sweep: same runs and summary as 1 rank" same_sweep "$TMP/two"
  check "2-rank sweep: same summary table on stdout" cmp -s "$TMP/one.out" "$TMP/two.out"
  check "2-rank sweep: both ranks ran runs" \
    bash -c "grep -q '^\[rank 0\] \[sweep\] run ' '$TMP/two.err' && grep -q '^\[rank 1\] \[sweep\] run ' '$TMP/two.err'"
  check "2-rank sweep: stderr lines carry their rank" bash -c "! grep -v '^\[rank [01]\] ' '$TMP/two.err'"
fi

if [[ " $parts " == *" restart "* ]]; then
  reference_sweep
  dir="$TMP/killed"
  # mpirun itself in the background (not through a function: $! must be its pid).
  "$MPIEXEC" --allow-run-as-root --oversubscribe -np 2 "$DINT" sweep "$grid" --out "$dir" \
    >/dev/null 2>"$TMP/killed.err" &
  launcher=$!
  # Waits below are for events, however long a loaded machine takes (ctest's TIMEOUT is the hang
  # guard): the first run done (or the launcher gone, which the checks then report).
  while kill -0 "$launcher" 2>/dev/null &&
    ! grep -q '\[sweep\] 1 of 4 runs done' "$TMP/killed.err" 2>/dev/null; do
    sleep 0.05
  done
  kill -TERM "$launcher"
  wait "$launcher"
  # The ranks gone (mpirun may return first), their runs have had their parent-death SIGTERM.
  while pgrep -f -- "sweep ${grid} --out ${dir}\$" >/dev/null; do sleep 0.05; done
  logs_at_kill=$(cat "$dir"/*.log 2>/dev/null | md5sum)
  while pgrep -f -- "${dir}[/]" >/dev/null; do sleep 0.05; done
  # A run left going would have gone on writing its log until it ended; a killed one writes nothing.
  check "killed sweep: no run went on after its rank was gone" \
    test "$(cat "$dir"/*.log 2>/dev/null | md5sum)" = "$logs_at_kill"
  finished=() # trained, evaluated and audited (the audit comes last)
  for r in $runs; do
    "$py" -c 'import sys,h5py; sys.exit(int("audit" not in h5py.File(sys.argv[1],"r")))' "$dir/$r.h5" 2>/dev/null &&
      finished+=("$r") && cp "$dir/$r.h5" "$TMP/$r.before"
  done
  check "killed sweep: stopped mid-way (some runs finished, not all)" \
    test "${#finished[@]}" -ge 1 -a "${#finished[@]}" -lt 4 -a ! -f "$dir/summary.h5"
  "$DINT" sweep "$grid" --out "$dir" >/dev/null 2>"$TMP/restart.err"
  check "restart with 1 rank succeeds" test $? -eq 0
  check "restarted sweep: runs and summary equal the uninterrupted sweep's" same_sweep "$dir"
  for r in "${finished[@]}"; do
    check "restarted sweep: finished run $r untouched" cmp -s "$TMP/$r.before" "$dir/$r.h5"
  done
  # Not trained twice: at most one start from step 0 (later starts resume) and at most one "done"
  # line. A log may lack either: a run killed between writing its file and printing the line
  # (seen under ASan on a loaded machine) is resumed or found complete, not retrained; that the
  # results equal the uninterrupted sweep's is same_sweep's check above.
  for r in $runs; do
    starts=$(grep -c 'steps to go' "$dir/$r.log")
    resumes=$(grep -c 'resuming,' "$dir/$r.log")
    check "restarted sweep: $r trained to the end once" \
      test "$((starts - resumes))" -le 1 -a "$(grep -c 'dint train: done' "$dir/$r.log")" -le 1
  done
fi

if [[ " $parts " == *" train "* ]]; then
  tiny=(--variant dint --data sotu --seed 3 --threads 1 $TINY_SETS --set train.steps=6
        --set train.eval_every=3 --set train.audit_every=2)
  "$DINT" train "${tiny[@]}" --set train.grad_accum=2 --out "$TMP/one.h5" >/dev/null 2>"$TMP/train1.err"
  check "1 rank x grad_accum 2 trains" test $? -eq 0
  mpi 2 "$DINT" train "${tiny[@]}" --out "$TMP/two.h5" >"$TMP/train2.out" 2>"$TMP/train2.err"
  check "2 ranks x grad_accum 1 train" test $? -eq 0
  check "2 ranks: only rank 0 reports" bash -c "! grep -q '^\[rank 1\]' '$TMP/train2.err'"
  check "2 ranks: the run file records 2 ranks" test "$(attr_of "$TMP/two.h5" ranks)" = 2
  check "1 rank: no ranks attribute (unchanged run file)" test "$(attr_of "$TMP/one.h5" ranks)" = absent
  check "dint info names the ranks" bash -c "'$DINT' info '$TMP/two.h5' | grep -q '1 thread(s) on each of 2 MPI ranks'"
  check "2 ranks: the same config (grad_accum 2 per step)" \
    test "$(attr_of "$TMP/one.h5" config)" = "$(attr_of "$TMP/two.h5" config)"
  # Tolerance: rounding of the gradient sum only (see README, Scale-out with MPI): 1e-5 relative.
  check "2 ranks = 1 rank x grad_accum 2 within 1e-5" same_h5 "$TMP/one.h5" "$TMP/two.h5" 1e-5
  check "2 ranks: the first loss is the 1-rank one, bit for bit" \
    "$py" -c 'import sys,h5py; a,b=[h5py.File(p,"r")["train/loss"][0] for p in sys.argv[1:]]; sys.exit(int(a != b))' \
    "$TMP/one.h5" "$TMP/two.h5"
  mpi 2 "$DINT" train "${tiny[@]}" --out "$TMP/again.h5" >/dev/null 2>&1
  check "2 ranks again: bit-identical run file" same_h5 "$TMP/two.h5" "$TMP/again.h5" 0
  mpi 2 "$DINT" train "${tiny[@]}" --out "$TMP/part.h5" --stop-at 3 >/dev/null 2>&1
  "$DINT" train --out "$TMP/part.h5" --resume --threads 1 >/dev/null 2>"$TMP/resume.err"
  check "2-rank run resumed by 1 rank succeeds" test $? -eq 0
  check "resumed with 1 rank: equals the 2-rank run within 1e-5" same_h5 "$TMP/two.h5" "$TMP/part.h5" 1e-5
  "$DINT" train "${tiny[@]}" --set train.grad_accum=2 --out "$TMP/part1.h5" --stop-at 3 >/dev/null 2>&1
  mpi 2 "$DINT" train --out "$TMP/part1.h5" --resume --threads 1 >/dev/null 2>&1
  check "1-rank run resumed by 2 ranks: equals 1 rank within 1e-5" same_h5 "$TMP/one.h5" "$TMP/part1.h5" 1e-5
fi

tiny_run() { # a small trained run at $TMP/run.h5 (made once)
  [ -f "$TMP/run.h5" ] && return 0
  "$DINT" train --variant dint --data sotu --seed 4 --threads 1 $TINY_SETS --set train.steps=2 \
    --set train.eval_every=2 --out "$TMP/run.h5" >/dev/null 2>"$TMP/run.err" ||
    { bad "training the run to evaluate: $(tail -n 1 "$TMP/run.err")"; finish; exit 1; }
}

if [[ " $parts " == *" eval "* ]]; then
  tiny_run
  cp "$TMP/run.h5" "$TMP/eval1.h5"
  cp "$TMP/run.h5" "$TMP/eval2.h5"
  needle=(--needles 1:1,2:2 --lengths 256,384 --depths 0,0.5,1 --samples 2 --threads 1)
  "$DINT" eval needle --run "$TMP/eval1.h5" "${needle[@]}" >/dev/null 2>"$TMP/eval1.err"
  check "1-rank needle evaluation succeeds" test $? -eq 0
  mpi 2 "$DINT" eval needle --run "$TMP/eval2.h5" "${needle[@]}" >"$TMP/eval2.out" 2>"$TMP/eval2.err"
  check "2-rank needle evaluation succeeds" test $? -eq 0
  check "2-rank needle evaluation: the results file on stdout once" \
    test "$(cat "$TMP/eval2.out")" = "$TMP/eval2.h5"
  check "2-rank needle evaluation: both ranks scored cells" \
    bash -c "grep -q '^\[rank 0\] needle' '$TMP/eval2.err' && grep -q '^\[rank 1\] needle' '$TMP/eval2.err'"
  check "2-rank needle evaluation = 1 rank, bit for bit (times aside)" \
    same_h5 "$TMP/eval1.h5" "$TMP/eval2.h5" 0
  mpi 2 "$DINT" eval needle --run "$TMP/eval2.h5" "${needle[@]}" >/dev/null 2>"$TMP/again.err"
  check "2-rank needle evaluation again: every cell already done" \
    grep -q 'every cell was already done' "$TMP/again.err"
  icl=(--dataset wordnet-noun --shots 0,1,2,4,8 --episodes 2 --orders 2 --context 256 --threads 1)
  "$DINT" eval icl --run "$TMP/eval1.h5" "${icl[@]}" >/dev/null 2>"$TMP/icl1.err"
  check "1-rank ICL evaluation succeeds, stopping at a shot count" \
    grep -q 'do not fit in 256 tokens; stopping' "$TMP/icl1.err"
  mpi 2 "$DINT" eval icl --run "$TMP/eval2.h5" "${icl[@]}" >/dev/null 2>"$TMP/icl2.err"
  check "2-rank ICL evaluation succeeds" test $? -eq 0
  check "2-rank ICL evaluation = 1 rank, bit for bit (times aside)" \
    same_h5 "$TMP/eval1.h5" "$TMP/eval2.h5" 0
  ppl=(--window 64 --stride 32 --max-docs 5 --threads 1)
  "$DINT" eval ppl --run "$TMP/eval1.h5" "${ppl[@]}" >/dev/null 2>"$TMP/ppl1.err"
  check "1-rank perplexity evaluation succeeds" test $? -eq 0
  mpi 2 "$DINT" eval ppl --run "$TMP/eval2.h5" "${ppl[@]}" >/dev/null 2>"$TMP/ppl2.err"
  check "2-rank perplexity evaluation succeeds" test $? -eq 0
  check "2-rank perplexity = 1 rank, bit for bit (sums added in document order)" \
    same_h5 "$TMP/eval1.h5" "$TMP/eval2.h5" 0
fi

if [[ " $parts " == *" refuse "* ]]; then
  tiny_run
  mpi 2 "$DINT" info "$TMP/run.h5" >"$TMP/info.out" 2>"$TMP/info.err"
  check "info on 2 ranks: refused" test $? -ne 0
  check "info on 2 ranks: one line saying so" \
    bash -c "test \$(grep -c \"does not run on several MPI ranks\" '$TMP/info.err') -eq 1"
  # The run is DINT (two maps and the global term); 3 samples give the ranks unequal shares.
  cp "$TMP/run.h5" "$TMP/audit1.h5"
  cp "$TMP/run.h5" "$TMP/audit2.h5"
  "$DINT" audit --run "$TMP/audit1.h5" --samples 3 --seq 32 --threads 1 >/dev/null 2>"$TMP/audit1.err"
  check "1-rank audit succeeds" test $? -eq 0
  mpi 2 "$DINT" audit --run "$TMP/audit2.h5" --samples 3 --seq 32 --threads 1 >"$TMP/audit2.out" \
    2>"$TMP/audit2.err"
  check "2-rank audit succeeds" test $? -eq 0
  check "2-rank audit: the results file on stdout once" test "$(cat "$TMP/audit2.out")" = "$TMP/audit2.h5"
  check "2-rank audit: samples 1 and 3 on rank 0, sample 2 on rank 1" \
    bash -c "test \$(grep -c '^\[rank 0\] audit: sample [13] of 3' '$TMP/audit2.err') -eq 2 &&
      test \$(grep -c '^\[rank 1\] audit: sample 2 of 3' '$TMP/audit2.err') -eq 1"
  check "2-rank audit = 1 rank, bit for bit (samples merged in order; times aside)" \
    same_h5 "$TMP/audit1.h5" "$TMP/audit2.h5" 0
fi

finish
