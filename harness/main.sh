#!/usr/bin/env bash
# The main job: from a fresh Debian 12 machine (as root) to a three-way comparison with figures.
# Installs what is missing, builds, fetches the pinned data, trains Transformer, DIFF and DINT
# with the same parameter count, data mixture, token budget and seed, evaluates all three
# (multi-needle grid, long-context perplexity, in-context learning), audits them, renders the
# figures and prints the summary table and the paths of everything written. Finished work is
# reused when run again (complete runs are kept, interrupted ones resumed, finished evaluation
# cells skipped).
# usage: bash harness/main.sh [--scale N]   (N multiplies the training steps and evaluation
#        samples: 1 is the ~15-minute default on 2 cores; larger N writes to results/scaleN/)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scale=1
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    *) echo "main: error: unknown option '$1' (usage: bash harness/main.sh [--scale N])" >&2; exit 2 ;;
  esac
done
case "$scale" in ''|*[!0-9]*|0) echo "main: error: --scale takes a positive integer" >&2; exit 2 ;; esac

bash "$root/harness/setup.sh"
bash "$root/data/fetch.sh" sotu wordnet-noun >/dev/null
dint="$root/build/harness/dint"
out="$root/results"; [ "$scale" -gt 1 ] && out="$root/results/scale$scale"
mkdir -p "$out/figures"

steps=$((400 * scale)); samples=$((5 * scale)); episodes=$((8 * scale))
data="sotu:0.4,needle:0.4,icl:wordnet-noun:0.2"
common=(--data "$data" --seed 1 --set model.n_layer=4 --set model.d_model=128 --set model.head_dim=32
        --set train.seq_len=512 --set train.batch_size=8 --set train.steps=$steps --set train.warmup=40
        --set train.eval_every=100 --set train.log_every=50)
runs=()
for v in transformer diff dint; do
  run="$out/$v.h5"; runs+=("$run")
  status=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1],'r').attrs['status'])" "$run" 2>/dev/null || echo none)
  case "$status" in
    complete) echo "main: $v: training already complete" >&2 ;;
    running|stopped) echo "main: $v: resuming training" >&2; "$dint" train --out "$run" --resume >/dev/null ;;
    none) echo "main: $v: training $steps steps" >&2; "$dint" train --variant "$v" --out "$run" "${common[@]}" >/dev/null ;;
    *) echo "main: error: $run is not a readable run file; move it away and run again" >&2; exit 1 ;;
  esac
  echo "main: $v: evaluating and auditing" >&2
  "$dint" eval needle --run "$run" --needles 1:1,2:2,4:2,6:2 --lengths 512,1024 --depths 0,0.25,0.5,0.75,1 \
    --samples "$samples" >/dev/null
  "$dint" eval ppl --run "$run" --window 2048 --max-docs $((4 * scale)) >/dev/null
  "$dint" eval icl --run "$run" --dataset wordnet-noun --episodes "$episodes" --orders 3 --context 1024 >/dev/null
  "$dint" audit --run "$run" --samples 4 >/dev/null
done

if [ -f "$root/plots/make_all.py" ]; then
  /usr/bin/python3 "$root/plots/make_all.py" "${runs[@]}" --out "$out/figures" >&2 || echo "main: some figures could not be drawn (see above)" >&2
fi
echo
/usr/bin/python3 "$root/harness/report/summary.py" "${runs[@]}"
echo
echo "run files:"; printf '  %s\n' "${runs[@]}"
echo "figures:";  ls -1 "$out/figures"/*.png 2>/dev/null | sed 's/^/  /' || echo "  (none)"
