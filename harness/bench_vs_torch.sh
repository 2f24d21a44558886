#!/usr/bin/env bash
# Training-step speed of dint against two PyTorch peers, same config and thread count, measured
# side by side in one run: in each of ROUNDS rounds per variant dint, the fast peer and the
# reference peer run one after the other, and the ratio of their medians is reported (the
# machine is shared and noisy; absolute numbers drift, ratios measured together hold better).
#   fast peer       tests/reference/bench_fast_torch.py: the fastest idiomatic float32 PyTorch 1.13
#                   CPU implementation of the same models (fused QKV and gate/up GEMMs, batched
#                   heads, both DIFF/DINT maps in one batched GEMM, foreach AdamW and clipping),
#                   checked against dint_reference.py (loss and every gradient) before it is
#                   timed; it also sets OMP_WAIT_POLICY=PASSIVE, OPENBLAS_NUM_THREADS=--threads and
#                   glibc mallopt (see its docstring; 2-5x on this 2-core machine).
#                   THIS IS THE PEER TO QUOTE.
#   reference peer  tests/reference/bench_step.py: the independent, readable reference
#                   (dint_reference.py), written for correctness, not speed; --no-reference
#                   skips it (its columns print "-").
# Each dint measurement also reports its model FLOP utilisation (against the 2-thread sgemm rate
# it measures in the same run) and its peak resident memory.
# usage: bash harness/bench_vs_torch.sh [--threads N] [--rounds R] [--seq N] [--batch B]
#          [--d-model D] [--n-layer L] [--head-dim H] [--steps S] [--fast-steps S]
#          [--torch-steps S] [--no-reference] [--dint PATH]
#   --steps: dint's timed steps; --fast-steps (default 20): the fast peer's; --torch-steps
#   (default 20): the reference peer's.
# The config of the README's table (issue 14): --threads 2 --n-layer 6 --d-model 256 --seq 1024
# --batch 4 (both peers materialise the (T, T) maps; the reference peer takes ~16 s a step there,
# so --torch-steps 4, or --no-reference; the fast peer ~2.5 s, so --fast-steps 5).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=$(nproc); rounds=3; seq=256; dmodel=128; nlayer=2; batch=8; headdim=32; steps=10; tsteps=20
fsteps=20; reference=1
dint="$root/build/harness/dint"
usage="usage: bash harness/bench_vs_torch.sh [--threads N] [--rounds R] [--seq N] [--batch B] [--d-model D] [--n-layer L] [--head-dim H] [--steps S] [--fast-steps S] [--torch-steps S] [--no-reference] [--dint PATH]"
while [ $# -gt 0 ]; do
  if [ "$1" = --no-reference ]; then reference=0; shift; continue; fi
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
    --fast-steps) fsteps="$2" ;;
    --torch-steps) tsteps="$2" ;;
    --dint) dint="$2" ;;
    *) echo "bench_vs_torch: error: unknown option '$1' ($usage)" >&2; exit 2 ;;
  esac
  shift 2
done
for n in "$threads" "$rounds" "$seq" "$batch" "$dmodel" "$nlayer" "$headdim" "$steps" "$fsteps" "$tsteps"; do
  case "$n" in ''|*[!0-9]*|0) echo "bench_vs_torch: error: '$n' is not a positive integer ($usage)" >&2; exit 2 ;; esac
done
[ -x "$dint" ] || { echo "bench_vs_torch: error: build first (bash harness/setup.sh)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "bench_vs_torch: error: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1; }
# peer_tps SCRIPT ARGS...: tokens/s of one PyTorch peer run (the peer prints its own error line)
peer_tps() {
  local script="$1" out; shift
  out=$(/usr/bin/python3 "$root/tests/reference/$script" "$@" --json) ||
    { echo "bench_vs_torch: error: $script $* failed" >&2; return 1; }
  /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["tokens_per_s"])' <<<"$out"
}
shape=(--threads "$threads" --seq-len "$seq" --d-model "$dmodel" --n-layer "$nlayer" --head-dim "$headdim" --batch-size "$batch")
printf "%-12s %12s %12s %12s %9s %9s %8s %10s   (%d threads, %d layers, d_model %d, head_dim %d, batch %d x seq %d, %d rounds)\n" \
  variant "dint tok/s" "fast tok/s" "ref tok/s" dint/fast dint/ref "dint MFU" "dint MB" \
  "$threads" "$nlayer" "$dmodel" "$headdim" "$batch" "$seq" "$rounds"
for v in $("$dint" variants --names); do
  d=(); f=(); t=(); mfu=(); mem=()
  for ((r = 0; r < rounds; r++)); do
    json=$("$dint" bench --variant "$v" --threads "$threads" --seq "$seq" --steps "$steps" \
          --set model.d_model="$dmodel" --set model.n_layer="$nlayer" --set model.head_dim="$headdim" \
          --set train.batch_size="$batch" --json)
    read -r tps m rss < <(/usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["tokens_per_s"], j["mfu"], j["peak_rss_mb"])' <<<"$json")
    d+=("$tps"); mfu+=("$m"); mem+=("$rss")
    # the fast peer checks its loss and gradients against dint_reference.py before timing
    # (exit 1 on a mismatch); once per variant is enough: same code, weights and batch
    parity=(); [ "$r" -eq 0 ] || parity=(--no-parity)
    f+=("$(peer_tps bench_fast_torch.py --variant "$v" "${shape[@]}" --steps "$fsteps" "${parity[@]}")")
    if [ "$reference" -eq 1 ]; then
      t+=("$(peer_tps bench_step.py --variant "$v" "${shape[@]}" --steps "$tsteps" --warmup-steps 1)")
    fi
  done
  /usr/bin/python3 - "$v" "${d[*]}" "${f[*]}" "${t[*]:-}" "${mfu[*]}" "${mem[*]}" <<'PY'
import statistics, sys
v = sys.argv[1]
d, f, t, mfu, mem = ([float(x) for x in a.split()] for a in sys.argv[2:7])
md, mf = statistics.median(d), statistics.median(f)
mt = statistics.median(t) if t else None
ref = f"{mt:12.0f}" if t else f"{'-':>12}"
ratio = f"{md / mt:9.2f}" if t else f"{'-':>9}"
print(f"{v:<12} {md:12.0f} {mf:12.0f} {ref} {md / mf:9.2f} {ratio} "
      f"{100 * statistics.median(mfu):7.0f}% {max(mem):10.0f}")
PY
done
