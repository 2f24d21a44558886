#!/usr/bin/env bash
# Step time of a small model (L2 d_model 64, batch 64 x 64 tokens, 2 threads) on a quiet machine
# and with BUSY other CPU-bound processes running, for three OpenMP waiting policies alternated
# ROUNDS times: libgomp's default (idle threads spin about 3 ms: GOMP_SPINCOUNT=300000), dint's
# default (about 20 us: GOMP_SPINCOUNT=2000) and passive (OMP_WAIT_POLICY=passive). The
# measurement behind dint's default (README, "Speed").
# usage: bash harness/bench_busy_machine.sh [--rounds R] [--busy N] [--dint PATH]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=2; busy=1; dint="$root/build/harness/dint"
usage="usage: bash harness/bench_busy_machine.sh [--rounds R] [--busy N] [--dint PATH]"
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "bench_busy_machine: error: $1 needs a value ($usage)" >&2; exit 2; }
  case "$1" in
    --rounds) rounds="$2" ;;
    --busy) busy="$2" ;;
    --dint) dint="$2" ;;
    *) echo "bench_busy_machine: error: unknown option '$1' ($usage)" >&2; exit 2 ;;
  esac
  shift 2
done
for n in "$rounds" "$busy"; do
  case "$n" in ''|*[!0-9]*|0) echo "bench_busy_machine: error: '$n' is not a positive integer ($usage)" >&2; exit 2 ;; esac
done
[ -x "$dint" ] || { echo "bench_busy_machine: error: build first (bash harness/setup.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
hogs=()
stop_hogs() { for p in "${hogs[@]+"${hogs[@]}"}"; do kill "$p" 2>/dev/null || true; done; hogs=(); }
trap 'stop_hogs; rm -rf "$tmp"' EXIT
args=(bench --variant dint --threads 2 --seq 64 --steps 30 --set model.n_layer=2
      --set model.d_model=64 --set model.head_dim=16 --set train.batch_size=64 --json)
step_ms() { /usr/bin/python3 -c 'import json,sys; print("%.1f" % (1e3 * json.load(open(sys.argv[1]))["median_step_s"]))' "$1"; }
for load in quiet busy; do
  if [ "$load" = busy ]; then
    for ((i = 0; i < busy; i++)); do (exec yes >/dev/null) & hogs+=($!); done
  fi
  for ((r = 1; r <= rounds; r++)); do
    env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000 "$dint" "${args[@]}" >"$tmp/gomp.json"
    env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$dint" "${args[@]}" >"$tmp/dint.json"
    env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive "$dint" "${args[@]}" >"$tmp/passive.json"
    echo "$load machine ($([ "$load" = busy ] && echo "$busy other CPU-bound process(es)" || echo "nothing else"))," \
      "round $r: median step $(step_ms "$tmp/gomp.json") ms (libgomp default, spin ~3 ms)," \
      "$(step_ms "$tmp/dint.json") ms (dint default, spin ~20 us)," \
      "$(step_ms "$tmp/passive.json") ms (passive)"
  done
  stop_hogs
done
