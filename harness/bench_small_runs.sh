#!/usr/bin/env bash
# Machine throughput of small models: one 2-thread `dint bench` against two 1-thread ones run at
# the same time (their tok/s added), alternating, ROUNDS times per variant. The measurement behind
# `dint sweep`'s default of one 1-thread process per core for small models (README, "Speed").
# usage: bash harness/bench_small_runs.sh [--rounds R] [--dint PATH]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=2; dint="$root/build/harness/dint"
usage="usage: bash harness/bench_small_runs.sh [--rounds R] [--dint PATH]"
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "bench_small_runs: error: $1 needs a value ($usage)" >&2; exit 2; }
  case "$1" in
    --rounds) rounds="$2" ;;
    --dint) dint="$2" ;;
    *) echo "bench_small_runs: error: unknown option '$1' ($usage)" >&2; exit 2 ;;
  esac
  shift 2
done
case "$rounds" in ''|*[!0-9]*|0) echo "bench_small_runs: error: --rounds '$rounds' is not a positive integer" >&2; exit 2 ;; esac
[ -x "$dint" ] || { echo "bench_small_runs: error: build first (bash harness/setup.sh)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tps() { /usr/bin/python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["tokens_per_s"]))' "$1"; }
# d_model head_dim seq batch steps
for cfg in "64 16 64 64 30" "128 32 256 16 15"; do
  read -r dm hd seq batch steps <<<"$cfg"
  args=(--seq "$seq" --steps "$steps" --set model.d_model="$dm" --set model.head_dim="$hd" --set train.batch_size="$batch" --json)
  for v in transformer dint; do
    for ((r = 1; r <= rounds; r++)); do
      "$dint" bench --variant "$v" --threads 2 "${args[@]}" >"$tmp/two.json"
      "$dint" bench --variant "$v" --threads 1 "${args[@]}" >"$tmp/a.json" &
      a=$!
      "$dint" bench --variant "$v" --threads 1 "${args[@]}" >"$tmp/b.json"
      wait "$a"
      echo "L2 d_model $dm seq $seq batch $batch $v round $r: one 2-thread process $(tps "$tmp/two.json") tok/s; two 1-thread processes $(tps "$tmp/a.json") + $(tps "$tmp/b.json") tok/s"
    done
  done
done
