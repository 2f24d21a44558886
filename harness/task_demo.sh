#!/usr/bin/env bash
# The task demonstration of issue 5: a small DINT (2 layers, d_model 128) trained on a needle
# mixture (30 % text, 70 % rows of needle episodes scored on their questions and answers) in
# two stages, 12,000 steps of 8 x 256 tokens, then (--init-from) 6,000 steps of 8 x 512 at a
# lower learning rate; then all three evaluations written into the final run file, and their
# tables printed with the time each took. Needle retrieval in models this small appears only
# after a long plateau (README, "Training for retrieval"): this takes about 45 minutes on 2
# cores. Finished work is reused when run again.
# usage: bash harness/task_demo.sh [--out-dir DIR]   (default results/task_demo)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/results/task_demo"
while [ $# -gt 0 ]; do
  case "$1" in
    --out-dir) dir="$2"; shift 2 ;;
    *) echo "task_demo: error: unknown option '$1' (usage: bash harness/task_demo.sh [--out-dir DIR])" >&2; exit 2 ;;
  esac
done

bash "$root/harness/setup.sh"
bash "$root/data/fetch.sh" sotu wordnet-noun >/dev/null
dint="$root/build/harness/dint"
mkdir -p "$dir"
stage1="$dir/dint-stage1-256.h5" run="$dir/dint.h5"
model=(--set model.n_layer=2 --set model.d_model=128 --set model.head_dim=32)
data=(--data sotu:0.3,needle:0.7 --set data.task_loss=queries)

# train OUT [dint train options]: train, resume, or reuse a complete run file.
train() {
  local out="$1"; shift
  local status
  status=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1],'r').attrs['status'])" "$out" 2>/dev/null || echo none)
  SECONDS=0
  case "$status" in
    complete) echo "task_demo: $(basename "$out"): training already complete" >&2 ;;
    running|stopped) "$dint" train --out "$out" --resume ;;
    none) "$dint" train --variant dint --out "$out" "$@" ;;
    *) echo "task_demo: error: $out is not a readable run file; move it away and run again" >&2; exit 1 ;;
  esac
  echo "task_demo: $(basename "$out"): training: ${SECONDS} s" >&2
}

train "$stage1" --seed 1 "${data[@]}" "${model[@]}" --set train.seq_len=256 --set train.batch_size=8 \
  --set train.steps=12000 --set train.warmup=100 --set train.min_lr_frac=0.3 \
  --set train.eval_every=500 --set train.log_every=100
train "$run" --init-from "$stage1" --seed 2 "${data[@]}" "${model[@]}" --set train.seq_len=512 \
  --set train.batch_size=8 --set train.steps=6000 --set train.lr=1e-3 --set train.warmup=100 \
  --set train.min_lr_frac=0.3 --set train.eval_every=500 --set train.log_every=100

SECONDS=0
"$dint" eval needle --run "$run" --needles 1:1,2:2,4:2,6:2 --lengths 512,1024 \
  --depths 0,0.25,0.5,0.75,1 --samples 10 >/dev/null
echo "task_demo: dint eval needle: ${SECONDS} s" >&2
SECONDS=0
"$dint" eval ppl --run "$run" --window 2048 --max-docs 4 >/dev/null
echo "task_demo: dint eval ppl: ${SECONDS} s" >&2
SECONDS=0
"$dint" eval icl --run "$run" --dataset wordnet-noun --episodes 8 --orders 3 --context 512 >/dev/null
echo "task_demo: dint eval icl: ${SECONDS} s" >&2
/usr/bin/python3 "$root/harness/report/tables.py" "$run"
