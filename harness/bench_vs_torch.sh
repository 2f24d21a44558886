#!/usr/bin/env bash
# Training-step speed of dint against the PyTorch reference (tests/reference/bench_step.py),
# same config and thread count, measured side by side in one run: the two alternate ROUNDS
# times per variant and the ratio of their medians is reported (the machine is shared and
# noisy; absolute numbers drift, ratios measured together hold better).
# Each dint measurement also reports its model FLOP utilisation (against the 2-thread sgemm rate
# it measures in the same run) and its peak resident memory.
# usage: bash harness/bench_vs_torch.sh [--threads N] [--rounds R] [--seq N] [--batch B]
#          [--d-model D] [--n-layer L] [--head-dim H] [--steps S] [--torch-steps S] [--dint PATH]
# The config of the README's table (issue 14): --threads 2 --n-layer 6 --d-model 256 --seq 1024
# --batch 4 (PyTorch materialises the (T, T) maps: ~16 s a step there, so --torch-steps 4).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=$(nproc); rounds=3; seq=256; dmodel=128; nlayer=2; batch=8; headdim=32; steps=10; tsteps=20
dint="$root/build/harness/dint"
usage="usage: bash harness/bench_vs_torch.sh [--threads N] [--rounds R] [--seq N] [--batch B] [--d-model D] [--n-layer L] [--head-dim H] [--steps S] [--torch-steps S] [--dint PATH]"
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "bench_vs_torch: error: $1 needs a value ($usage)" >&2; exit 2; }
  case "$1" in
    --threads) threads="$2" ;;
    --rounds) rounds="$2" ;;
    --seq) seq="$2" ;;
    --batch) batch="$2" ;;
    --d-model) dmodel="$2" ;;
    --n-layer) nlayer="$2" ;;
    --head-dim) headdim="$2" ;;
    --steps) steps="$2" ;;
    --torch-steps) tsteps="$2" ;;
    --dint) dint="$2" ;;
    *) echo "bench_vs_torch: error: unknown option '$1' ($usage)" >&2; exit 2 ;;
  esac
  shift 2
done
for n in "$threads" "$rounds" "$seq" "$batch" "$dmodel" "$nlayer" "$headdim" "$steps" "$tsteps"; do
  case "$n" in ''|*[!0-9]*|0) echo "bench_vs_torch: error: '$n' is not a positive integer ($usage)" >&2; exit 2 ;; esac
done
[ -x "$dint" ] || { echo "bench_vs_torch: error: build first (bash harness/setup.sh)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "bench_vs_torch: error: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1; }
printf "%-12s %12s %12s %8s %8s %10s   (%d threads, %d layers, d_model %d, head_dim %d, batch %d x seq %d, %d rounds)\n" \
  variant "dint tok/s" "torch tok/s" ratio "dint MFU" "dint MB" "$threads" "$nlayer" "$dmodel" "$headdim" "$batch" "$seq" "$rounds"
for v in transformer diff dint; do
  d=(); t=(); mfu=(); mem=()
  for ((r = 0; r < rounds; r++)); do
    json=$("$dint" bench --variant "$v" --threads "$threads" --seq "$seq" --steps "$steps" \
          --set model.d_model="$dmodel" --set model.n_layer="$nlayer" --set model.head_dim="$headdim" \
          --set train.batch_size="$batch" --json)
    read -r tps m rss < <(/usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["tokens_per_s"], j["mfu"], j["peak_rss_mb"])' <<<"$json")
    d+=("$tps"); mfu+=("$m"); mem+=("$rss")
    t+=("$(/usr/bin/python3 "$root/tests/reference/bench_step.py" --variant "$v" --threads "$threads" \
          --seq-len "$seq" --d-model "$dmodel" --n-layer "$nlayer" --head-dim "$headdim" --batch-size "$batch" \
          --steps "$tsteps" --warmup-steps 1 --json |
          tail -1 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
  done
  /usr/bin/python3 - "$v" "${d[*]}" "${t[*]}" "${mfu[*]}" "${mem[*]}" <<'PY'
import statistics, sys
v = sys.argv[1]
d, t, mfu, mem = ([float(x) for x in a.split()] for a in sys.argv[2:6])
md, mt = statistics.median(d), statistics.median(t)
print(f"{v:<12} {md:12.0f} {mt:12.0f} {md / mt:8.2f} {100 * statistics.median(mfu):7.0f}% {max(mem):10.0f}")
PY
done
