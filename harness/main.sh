#!/usr/bin/env bash
# The main job: from a fresh Debian 12 machine (as root) to a three-way comparison with figures.
# Installs what is missing, builds, fetches the pinned data, then two parts:
#  1. Keyed recall over seeds: Transformer, DIFF and DINT trained on the synthetic keyed-recall
#     task (tasks/recall.h) with --recall-seeds seeds each (5 by default), as a `dint sweep` with
#     one process per core; each run's recall onset (held-out accuracy >= 0.9) is a time-to-event:
#     seeds that reached it, the Kaplan-Meier median onset with its interval, the final accuracy
#     and keyed rate over seeds, the log-rank test of each pair, and the survival curves.
#  2. Natural text: the three variants with the same parameter count, data mixture, token budget
#     and seed, evaluated (multi-needle grid, long-context perplexity, in-context learning) and
#     audited.
# It renders the figures and prints both tables and the paths of everything written. Finished
# work is reused when run again (complete runs are kept, interrupted ones resumed, finished
# evaluation cells skipped).
#
# usage: bash harness/main.sh [--scale N] [--seeds K] [--ranks R] [--recall-seeds K]
#   --scale N  multiplies the training steps and evaluation samples (1 is the ~25-minute default
#              on 2 cores; larger N writes to results/scaleN/)
#   --seeds K  trains K seeds (1..K) of each variant and reports, for every number of the table,
#              the mean and 95 % t interval over the seeds (the retrieval onset included). It is
#              a `dint sweep`: this script writes the grid (the same settings and evaluations as
#              the default job, seeds = 1..K) to results/seedsK/grid.ini (results/scaleN/seedsK
#              with --scale) and the sweep writes <variant>-seed<k>.h5, their logs and
#              summary.h5 beside it; figures go to its figures/. K = 1 (the default) is the job
#              above, written to results/ as always.
#   --recall-seeds K  seeds per variant of part 1 (default 5; 0 leaves part 1 out). Part 1 runs
#              in the single-process job only (started under a launcher it is left out: it
#              spreads over the cores itself, with `mpirun -np <cores>` when OpenMPI is there).
#   --ranks R  runs that sweep under `mpirun -np R` (its work queue spreads the variants and
#              seeds over the ranks; --allow-run-as-root as root, --oversubscribe beyond the
#              cores). Equivalently, start the whole script under a launcher:
#              `mpirun -np R bash harness/main.sh --seeds K`: rank 0 installs, builds, fetches
#              and writes the grid while the other ranks wait for it, then every rank joins the
#              sweep and rank 0 draws the figures and prints the table.
# Test knobs (environment, for tests/test_main_seeds.py; not for results): DINT_MAIN_DINT=PATH
# uses that dint and skips setup.sh (no installs, no build); DINT_MAIN_RESULTS=DIR writes there
# instead of results/; DINT_MAIN_TINY=1 trains and evaluates a tiny model for a few steps.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage="usage: bash harness/main.sh [--scale N] [--seeds K] [--ranks R] [--recall-seeds K]"
scale=1 seeds=1 ranks=1 recall_seeds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --scale|--seeds|--ranks)
      [ $# -ge 2 ] || { echo "main: error: $1 needs a value ($usage)" >&2; exit 2; }
      case "$2" in ''|*[!0-9]*|0) echo "main: error: $1 takes a positive integer" >&2; exit 2 ;; esac
      declare "${1#--}=$2"; shift 2 ;;
    --recall-seeds)
      [ $# -ge 2 ] || { echo "main: error: $1 needs a value ($usage)" >&2; exit 2; }
      case "$2" in ''|*[!0-9]*) echo "main: error: $1 takes a non-negative integer" >&2; exit 2 ;; esac
      [ "$2" -le 16 ] || { echo "main: error: --recall-seeds takes at most 16 seeds" >&2; exit 2; }
      recall_seeds=$2; shift 2 ;;
    *) echo "main: error: unknown option '$1' ($usage)" >&2; exit 2 ;;
  esac
done
# Started by a launcher (mpirun, srun): this process's rank and the job's size.
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-${SLURM_PROCID:-0}}}}
size=${OMPI_COMM_WORLD_SIZE:-${PMI_SIZE:-${SLURM_STEP_NUM_TASKS:-1}}}
if [ "$size" -gt 1 ] && { [ "$seeds" -lt 2 ] || [ "$ranks" -gt 1 ]; }; then
  [ "$rank" -eq 0 ] && echo "main: error: under a launcher give --seeds K (K >= 2) and no --ranks:" \
    "the ranks share the seeds' runs (the single-seed job runs in one process)" >&2
  exit 2
fi
if [ "$ranks" -gt 1 ] && [ "$seeds" -lt 2 ]; then
  echo "main: error: --ranks spreads the runs of --seeds K (K >= 2) over MPI ranks; give --seeds" >&2
  exit 2
fi

out="${DINT_MAIN_RESULTS:-$root/results}"; [ "$scale" -gt 1 ] && out="$out/scale$scale"
[ "$seeds" -gt 1 ] && out="$out/seeds$seeds"
if [ -n "${DINT_MAIN_DINT:-}" ]; then
  dint="$DINT_MAIN_DINT"
else
  dint="$root/build/harness/dint"
fi
# The rank-0 side of a launched job tells the others that the build, data and grid are ready.
ready="$out/.ready-${PMIX_NAMESPACE:-${SLURM_JOB_ID:-job}.${SLURM_STEP_ID:-0}}"
if [ "$rank" -gt 0 ]; then
  while [ ! -e "$ready" ]; do sleep 1; done
  exec "$dint" sweep "$out/grid.ini" --out "$out"
fi

[ -n "${DINT_MAIN_DINT:-}" ] || bash "$root/harness/setup.sh"
bash "$root/data/fetch.sh" sotu wordnet-noun >/dev/null
mkdir -p "$out/figures"
# The variants, from the table in core (core/variants.c): "transformer diff dint".
read -r -a variants < <(DINT_NO_MPI=1 "$dint" variants --names) # not a rank of a launched job
variant_list=$(printf '%s, ' "${variants[@]}") && variant_list=${variant_list%, }

# ---- part 1: keyed recall over seeds ----
# The cell of the cost-to-recall map (harness/recall_map.py, README "Keyed recall") where the
# variants' onsets differ within the budget (they leave the plateau at different rates): 2 layers, d_model 64, rows of 64 tokens, 4 pairs of
# single-token keys from 16 symbols, 16 queries per row, 3000 steps of 32 rows (6.1 M tokens).
recall_sets=(model.n_layer=2 model.d_model=64 model.head_dim=16 train.seq_len=64 train.batch_size=32
             train.steps=$((3000 * scale)) train.warmup=50 train.eval_every=50 train.eval_batches=1
             train.log_every=500 train.audit_every=0 recall.pairs=4 recall.symbols=16)
recall_eval="--samples $((100 * scale)) --threads 1"
if [ -n "${DINT_MAIN_TINY:-}" ]; then
  recall_sets=(model.n_layer=2 model.d_model=32 model.head_dim=8 train.seq_len=24 train.batch_size=8
               train.steps=$((20 * scale)) train.warmup=2 train.eval_every=10 train.eval_batches=1
               train.log_every=10 train.audit_every=0 recall.pairs=4 recall.symbols=6 recall.contexts=8)
  recall_eval="--samples 4 --threads 1"
fi
recall_runs=()
if [ "$recall_seeds" -gt 0 ] && [ "$size" -gt 1 ]; then
  echo "main: part 1 (keyed recall) is left out under a launcher; run it in one process" >&2
elif [ "$recall_seeds" -gt 0 ]; then
  rout="$out/recall"; mkdir -p "$rout/figures"
  {
    echo "# harness/main.sh part 1: keyed recall, $recall_seeds seeds per variant"
    echo "[grid]"
    echo "variants = $variant_list"
    echo "seeds = $(seq -s ', ' 1 "$recall_seeds")"
    echo "data = sotu:0,recall:1"
    echo "[train]"
    for s in "${recall_sets[@]}"; do echo "${s%%=*} = ${s#*=}"; done
    echo "[eval]"
    echo "recall = $recall_eval"
  } >"$rout/grid.ini.tmp"
  mv "$rout/grid.ini.tmp" "$rout/grid.ini"
  cores=$(nproc)
  echo "main: part 1: keyed recall, $recall_seeds seeds x ${#variants[@]} variants ($cores processes): dint sweep $rout/grid.ini" >&2
  if [ "$cores" -gt 1 ] && command -v mpirun >/dev/null; then
    launch=(mpirun -np "$cores")
    [ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
    "${launch[@]}" "$dint" sweep "$rout/grid.ini" --out "$rout" >&2
  else
    "$dint" sweep "$rout/grid.ini" --out "$rout" >&2
  fi
  for v in "${variants[@]}"; do
    for k in $(seq 1 "$recall_seeds"); do recall_runs+=("$rout/$v-seed$k.h5"); done
  done
  if [ -f "$root/plots/survival.py" ]; then
    { /usr/bin/python3 "$root/plots/survival.py" "${recall_runs[@]}" -o "$rout/figures/recall_survival.png" &&
      /usr/bin/python3 "$root/plots/survival.py" "${recall_runs[@]}" --threshold 0.5 \
        -o "$rout/figures/exit_survival.png"; } >&2 ||
      echo "main: the survival figures could not be drawn (see above)" >&2
  fi
fi
print_recall() {
  [ "${#recall_runs[@]}" -gt 0 ] || return 0
  echo
  /usr/bin/python3 "$root/harness/report/summary.py" --recall --recall-threshold=0.5 "${recall_runs[@]}"
  echo "recall runs: $out/recall/<variant>-seed<k>.h5; sweep summary: $out/recall/summary.h5;" \
    "figures: $out/recall/figures/{recall,exit}_survival.png"
}

# ---- part 2: natural text ----

steps=$((300 * scale)); samples=$((5 * scale)); episodes=$((8 * scale)); docs=$((4 * scale))
data="sotu:0.4,needle:0.4,icl:wordnet-noun:0.2"
sets=(model.n_layer=4 model.d_model=128 model.head_dim=32 train.seq_len=512 train.batch_size=8
      train.steps=$steps train.warmup=40 train.eval_every=100 train.log_every=50)
needle=(--needles 1:1,2:2,4:2,6:2 --lengths 512,1024 --depths 0,0.25,0.5,0.75,1 --samples "$samples")
ppl=(--window 2048 --max-docs "$docs")
icl=(--dataset wordnet-noun --episodes "$episodes" --orders 3 --context 1024)
audit=(--samples 4)
if [ -n "${DINT_MAIN_TINY:-}" ]; then
  sets=(model.n_layer=1 model.d_model=32 model.head_dim=8 train.seq_len=256 train.batch_size=2
        train.steps=$((4 * scale)) train.warmup=1 train.eval_every=4 train.eval_batches=1 train.log_every=2)
  needle=(--needles 1:1,2:2 --lengths 256 --depths 0.5 --samples 1)
  ppl=(--window 256 --max-docs 1)
  icl=(--dataset wordnet-noun --shots 0,1 --episodes 1 --orders 1 --context 256)
  audit=(--samples 1 --seq 64)
fi

if [ "$seeds" -gt 1 ]; then
  # The same job as a sweep grid: variants x seeds 1..K, the settings and evaluations above.
  {
    echo "# harness/main.sh --seeds $seeds --scale $scale: the main job, $seeds seeds per variant"
    echo "[grid]"
    echo "variants = $variant_list"
    echo "seeds = $(seq -s ', ' 1 "$seeds")"
    echo "data = $data"
    echo "[train]"
    for s in "${sets[@]}"; do echo "${s%%=*} = ${s#*=}"; done
    echo "[eval]"
    echo "needle = ${needle[*]}"
    echo "ppl = ${ppl[*]}"
    echo "icl = ${icl[*]}"
    echo "[audit]"
    echo "options = ${audit[*]}"
  } >"$out/grid.ini.tmp"
  mv "$out/grid.ini.tmp" "$out/grid.ini"
  echo "main: $seeds seeds x ${#variants[@]} variants: dint sweep $out/grid.ini" >&2
  if [ "$size" -gt 1 ]; then
    touch "$ready"
    "$dint" sweep "$out/grid.ini" --out "$out" >&2
    rm -f "$ready"
  elif [ "$ranks" -gt 1 ]; then
    launch=(mpirun -np "$ranks")
    [ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
    [ "$ranks" -gt "$(nproc)" ] && launch+=(--oversubscribe)
    "${launch[@]}" "$dint" sweep "$out/grid.ini" --out "$out" >&2
  else
    "$dint" sweep "$out/grid.ini" --out "$out" >&2
  fi
  runs=() first=()
  for v in "${variants[@]}"; do
    first+=("$out/$v-seed1.h5")
    for k in $(seq 1 "$seeds"); do runs+=("$out/$v-seed$k.h5"); done
  done
  if [ -f "$root/plots/make_all.py" ]; then
    { /usr/bin/python3 "$root/plots/make_all.py" "${first[@]}" --sweep "$out/summary.h5" --out "$out/figures" &&
      /usr/bin/python3 "$root/plots/onset.py" "${runs[@]}" -o "$out/figures/onset_seeds.png"; } >&2 ||
      echo "main: some figures could not be drawn (see above)" >&2
  fi
  echo
  /usr/bin/python3 "$root/harness/report/summary.py" --seeds "${runs[@]}"
  print_recall
  echo
  echo "run files (figures of seed 1, the sweep's means and every seed's onset):"; printf '  %s\n' "${runs[@]}"
  echo "sweep:"; echo "  $out/grid.ini"; echo "  $out/summary.h5"
  echo "figures:";  ls -1 "$out/figures"/*.png 2>/dev/null | sed 's/^/  /' || echo "  (none)"
  exit 0
fi

common=(--data "$data" --seed 1)
for s in "${sets[@]}"; do common+=(--set "$s"); done
runs=()
for v in "${variants[@]}"; do
  run="$out/$v.h5"; runs+=("$run")
  status=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1],'r').attrs['status'])" "$run" 2>/dev/null || echo none)
  case "$status" in
    complete) echo "main: $v: training already complete" >&2 ;;
    running|stopped) echo "main: $v: resuming training" >&2; "$dint" train --out "$run" --resume >/dev/null ;;
    none) echo "main: $v: training $steps steps" >&2; "$dint" train --variant "$v" --out "$run" "${common[@]}" >/dev/null ;;
    *) echo "main: error: $run is not a readable run file; move it away and run again" >&2; exit 1 ;;
  esac
  echo "main: $v: evaluating and auditing" >&2
  "$dint" eval needle --run "$run" "${needle[@]}" >/dev/null
  "$dint" eval ppl --run "$run" "${ppl[@]}" >/dev/null
  "$dint" eval icl --run "$run" "${icl[@]}" >/dev/null
  "$dint" audit --run "$run" "${audit[@]}" >/dev/null
done

if [ -f "$root/plots/make_all.py" ]; then
  /usr/bin/python3 "$root/plots/make_all.py" "${runs[@]}" --out "$out/figures" >&2 || echo "main: some figures could not be drawn (see above)" >&2
fi
echo
/usr/bin/python3 "$root/harness/report/summary.py" "${runs[@]}"
print_recall
echo
echo "run files:"; printf '  %s\n' "${runs[@]}"
echo "figures:";  ls -1 "$out/figures"/*.png 2>/dev/null | sed 's/^/  /' || echo "  (none)"
