#!/usr/bin/env bash
# Two builds of dint side by side: `dint bench --json` of each, alternating (OLD, NEW, OLD, ...),
# for the three variants at the bench's default size and at L2 d64 hd16 T64 B64, ROUNDS rounds;
# prints every measurement and, per (size, variant), the ratio of median tokens/s NEW / OLD.
# Alternating in one session is what makes the ratio fair on a shared, noisy machine (docs/
# precision.md "Memory and speed": the fp32 speed before and after the reduced-precision kernel).
# usage: bash harness/bench_ab.sh OLD_DINT NEW_DINT [ROUNDS (3)] [THREADS (2)]
set -euo pipefail
[ $# -ge 2 ] || { echo "bench_ab: error: usage: bash harness/bench_ab.sh OLD_DINT NEW_DINT [ROUNDS] [THREADS]" >&2; exit 2; }
old=$1 new=$2 rounds=${3:-3} threads=${4:-2}
for b in "$old" "$new"; do [ -x "$b" ] || { echo "bench_ab: error: '$b' is not an executable dint" >&2; exit 2; }; done
small=(--set model.n_layer=2 --set model.d_model=64 --set model.head_dim=16 --set train.seq_len=64 --set train.batch_size=64)
for rep in $(seq 1 "$rounds"); do
  for size in default small; do
    args=(); [ "$size" = small ] && args=("${small[@]}")
    for v in transformer diff dint; do
      for which in old new; do
        bin=$old; [ "$which" = new ] && bin=$new
        tps=$("$bin" bench --variant "$v" --threads "$threads" --steps 20 "${args[@]}" --json 2>/dev/null |
          /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')
        echo "$size $rep $v $which $tps"
      done
    done
  done
done | tee /dev/stderr | /usr/bin/python3 -c '
import collections, statistics, sys
d = collections.defaultdict(list)
for line in sys.stdin:
    size, _, v, which, tps = line.split()
    d[(size, v, which)].append(float(tps))
for size in ("default", "small"):
    for v in ("transformer", "diff", "dint"):
        o, n = d[(size, v, "old")], d[(size, v, "new")]
        print(f"{size:8s} {v:12s} median tokens/s old {statistics.median(o):9.0f} new {statistics.median(n):9.0f} "
              f"ratio {statistics.median(n) / statistics.median(o):.3f}")'
