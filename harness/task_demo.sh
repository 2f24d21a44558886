#!/usr/bin/env bash
# The task demonstration of issue 5: a small DINT trained on a needle mixture (30 % text, 70 %
# rows of needle episodes scored on their questions and answers), then all three evaluations
# written into its run file, and their tables printed with the time each took. Needle
# retrieval in models this small appears only after a long plateau (see README, "Training for
# retrieval"), so this takes about 20 minutes on 2 cores; finished work is reused when run
# again. The needle grid goes to the run file at 2x and 4x the training length (256) for all
# N:R (6 needles and a query need about 430 byte tokens), and at the training length for N=1
# and N=2 to RUN-at-train-length.h5 beside it.
# usage: bash harness/task_demo.sh [--steps N] [--out RUN.h5]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
steps=12000
run="$root/results/task_demo/dint.h5"
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --out) run="$2"; shift 2 ;;
    *) echo "task_demo: error: unknown option '$1' (usage: bash harness/task_demo.sh [--steps N] [--out RUN.h5])" >&2; exit 2 ;;
  esac
done
case "$steps" in ''|*[!0-9]*|0) echo "task_demo: error: --steps takes a positive integer" >&2; exit 2 ;; esac

bash "$root/harness/setup.sh"
bash "$root/data/fetch.sh" sotu wordnet-noun >/dev/null
dint="$root/build/harness/dint"
mkdir -p "$(dirname "$run")"

status=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1],'r').attrs['status'])" "$run" 2>/dev/null || echo none)
SECONDS=0
case "$status" in
  complete) echo "task_demo: training already complete" >&2 ;;
  running|stopped) "$dint" train --out "$run" --resume ;;
  none) "$dint" train --variant dint --out "$run" --seed 1 \
          --data sotu:0.3,needle:0.7 --set data.task_loss=queries \
          --set model.n_layer=2 --set model.d_model=128 --set model.head_dim=32 \
          --set train.seq_len=256 --set train.batch_size=8 --set train.steps="$steps" \
          --set train.warmup=100 --set train.min_lr_frac=0.3 --set train.eval_every=500 --set train.log_every=100 ;;
  *) echo "task_demo: error: $run is not a readable run file; move it away and run again" >&2; exit 1 ;;
esac
echo "task_demo: training: ${SECONDS} s" >&2
SECONDS=0
"$dint" eval needle --run "$run" --needles 1:1,2:2,4:2,6:2 --lengths 512,1024 \
  --depths 0,0.25,0.5,0.75,1 --samples 10 >/dev/null
echo "task_demo: dint eval needle: ${SECONDS} s" >&2
SECONDS=0
"$dint" eval needle --run "$run" --out "${run%.h5}-at-train-length.h5" --needles 1:1,2:2 --lengths 256 \
  --depths 0,0.25,0.5,0.75,1 --samples 10 >/dev/null
echo "task_demo: dint eval needle at the training length: ${SECONDS} s" >&2
SECONDS=0
"$dint" eval ppl --run "$run" --window 2048 --max-docs 4 >/dev/null
echo "task_demo: dint eval ppl: ${SECONDS} s" >&2
SECONDS=0
"$dint" eval icl --run "$run" --dataset wordnet-noun --episodes 8 --orders 3 --context 1024 >/dev/null
echo "task_demo: dint eval icl: ${SECONDS} s" >&2
/usr/bin/python3 "$root/harness/tables.py" "$run"
/usr/bin/python3 "$root/harness/tables.py" "${run%.h5}-at-train-length.h5"
