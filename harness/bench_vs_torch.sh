#!/usr/bin/env bash
# Training-step speed of dint against the PyTorch reference (tests/reference/bench_step.py),
# same config and thread count, measured side by side in one run: the two alternate ROUNDS
# times per variant and the ratio of their medians is reported (the machine is shared and
# noisy; absolute numbers drift, ratios measured together hold better).
# usage: bash harness/bench_vs_torch.sh [--threads N] [--rounds R] [--seq N] [--d-model D] [--n-layer L]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=$(nproc); rounds=3; seq=256; dmodel=128; nlayer=2; batch=8; headdim=32
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --seq) seq="$2"; shift 2 ;;
    --d-model) dmodel="$2"; shift 2 ;;
    --n-layer) nlayer="$2"; shift 2 ;;
    *) echo "bench_vs_torch: error: unknown option '$1'" >&2; exit 2 ;;
  esac
done
dint="$root/build/harness/dint"
[ -x "$dint" ] || { echo "bench_vs_torch: error: build first (bash harness/setup.sh)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "bench_vs_torch: error: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1; }
printf "%-12s %12s %12s %8s   (%d threads, %d layers, d_model %d, batch %d x seq %d, %d rounds)\n" \
  variant "dint tok/s" "torch tok/s" ratio "$threads" "$nlayer" "$dmodel" "$batch" "$seq" "$rounds"
for v in transformer diff dint; do
  d=(); t=()
  for ((r = 0; r < rounds; r++)); do
    d+=("$("$dint" bench --variant "$v" --threads "$threads" --seq "$seq" --set model.d_model="$dmodel" \
          --set model.n_layer="$nlayer" --set model.head_dim="$headdim" --set train.batch_size="$batch" --json |
          /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
    t+=("$(/usr/bin/python3 "$root/tests/reference/bench_step.py" --variant "$v" --threads "$threads" \
          --seq-len "$seq" --d-model "$dmodel" --n-layer "$nlayer" --head-dim "$headdim" --batch-size "$batch" --json |
          tail -1 | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
  done
  /usr/bin/python3 - "$v" "${d[*]}" "${t[*]}" <<'PY'
import statistics, sys
v, d, t = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
md, mt = statistics.median(d), statistics.median(t)
print(f"{v:<12} {md:12.0f} {mt:12.0f} {md / mt:8.2f}")
PY
done
