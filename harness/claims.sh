#!/usr/bin/env bash
# The DINT paper's claims, tested with seeds at a scale this machine can run: trains the grids of
# harness/claims/ (one `dint sweep` each: recall.ini, size-d32/-d64/-d96/-d128.ini,
# stability.ini, precision.ini), then writes and prints the claims table (results/claims/claims.md: per claim
# the paper's number, what was measured, the interval over seeds, the test and its p-value, and
# a verdict) and its figures (results/claims/figures/), with harness/claims/claims_table.py.
# Resumable: finished runs and evaluation cells are kept, an interrupted run is resumed.
#
# usage: bash harness/claims.sh [--only NAME,...] [--seeds K] [--scale N] [--ranks R] [--table-only]
#   --only NAME,...  the grids to train (recall, size-d32, size-d64, size-d96, size-d128,
#                    stability, precision; default all); the table is made from every grid that has a
#                    summary
#   --seeds K        seeds per cell, K >= 3 (the recall grid takes at least 5); default: each
#                    grid's own (recall 10, the others 3)
#   --scale N        multiplies every grid's training steps (results/claims/scaleN/)
#   --ranks R        runs each sweep under `mpirun -np R` (default: one rank per core when
#                    OpenMPI is there; its work queue spreads the runs; one thread each)
#   --table-only     no training: the table and figures from the committed summaries
# Under a launcher (`mpirun -np R bash harness/claims.sh`) use --ranks instead: this script
# starts the launcher itself.
# Test knobs (environment, for tests/test_claims.sh; not for results): DINT_CLAIMS_DINT=PATH
# uses that dint and skips setup.sh; DINT_CLAIMS_RESULTS=DIR writes there instead of
# results/claims; DINT_CLAIMS_TINY=1 trains tiny models for a few steps.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage="usage: bash harness/claims.sh [--only NAME,...] [--seeds K] [--scale N] [--ranks R] [--table-only]"
all_grids=(recall size-d32 size-d64 size-d96 size-d128 stability precision)
only="" seeds=0 scale=1 ranks=0 table_only=0
die() { echo "claims: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds|--scale|--ranks)
      [ $# -ge 2 ] || die "$1 needs a value ($usage)"
      case "$2" in ''|*[!0-9]*|0) die "$1 takes a positive integer, not '$2'" ;; esac
      declare "${1#--}=$2"; shift 2 ;;
    --only)
      [ $# -ge 2 ] || die "--only needs a list of grids ($usage)"
      only=$2; shift 2 ;;
    --table-only) table_only=1; shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) die "unknown option '$1' ($usage)" ;;
  esac
done
[ "$seeds" -eq 0 ] || [ "$seeds" -ge 3 ] || die "--seeds takes at least 3 (the seed is the unit: intervals need them)"
[ "$seeds" -le 16 ] || die "--seeds takes at most 16"
[ -z "${OMPI_COMM_WORLD_SIZE:-}${PMI_SIZE:-}" ] || die "do not start claims.sh under a launcher; give --ranks R"
grids=("${all_grids[@]}")
if [ -n "$only" ]; then
  IFS=, read -r -a grids <<<"$only"
  for g in "${grids[@]}"; do
    case " ${all_grids[*]} " in *" $g "*) ;; *) die "unknown grid '$g' in --only (grids: ${all_grids[*]})" ;; esac
  done
fi

out="${DINT_CLAIMS_RESULTS:-$root/results/claims}"; [ "$scale" -gt 1 ] && out="$out/scale$scale"
dint="${DINT_CLAIMS_DINT:-$root/build/harness/dint}"
table=(/usr/bin/python3 "$root/harness/claims/claims_table.py" --results "$out")
if [ "$table_only" -eq 1 ]; then
  exec "${table[@]}"
fi
[ -n "${DINT_CLAIMS_DINT:-}" ] || bash "$root/harness/setup.sh"
bash "$root/data/fetch.sh" sotu wordnet-noun >/dev/null
if [ "$ranks" -eq 0 ]; then
  ranks=1
  command -v mpirun >/dev/null && ranks=$(nproc)
fi
launch=()
if [ "$ranks" -gt 1 ]; then
  command -v mpirun >/dev/null || die "--ranks $ranks needs OpenMPI's mpirun (bash harness/setup.sh installs it)"
  launch=(mpirun -np "$ranks")
  [ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
  [ "$ranks" -gt "$(nproc)" ] && launch+=(--oversubscribe)
fi

# A grid's copy with the seeds (--seeds, else the grid's own) and the scaled steps (and the tiny
# shapes of the test knob).
write_grid() { # name, destination
  local name=$1 dst=$2 k=$seeds
  [ "$name" = recall ] && [ "$k" -gt 0 ] && [ "$k" -lt 5 ] && k=5
  /usr/bin/python3 - "$root/harness/claims/$name.ini" "$dst" "$k" "$scale" "${DINT_CLAIMS_TINY:-}" <<'PY'
import re, sys
src, dst, seeds, scale, tiny = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
text = open(src).read()
def put(key, value):
    global text
    pat = re.compile(r"^%s\s*=.*$" % re.escape(key), re.M)
    if pat.search(text):
        text = pat.sub(lambda m: "%s = %s" % (key, value), text)
    elif value is not None:
        text = text.replace("[train]\n", "[train]\n%s = %s\n" % (key, value), 1)
if seeds:
    put("seeds", ", ".join(str(s) for s in range(1, seeds + 1)))
steps = int(re.search(r"^train\.steps\s*=\s*(\d+)", text, re.M).group(1))
if tiny:  # a few steps of tiny models: the pipeline, not the science
    steps = 12
    d = int(re.search(r"^model\.d_model\s*=\s*(\d+)", text, re.M).group(1))
    for k, v in {"model.d_model": d // 4, "model.head_dim": 4,
                 "train.seq_len": 24 if "recall" in src else 32, "train.batch_size": 4,
                 "train.warmup": 2, "train.eval_every": 4, "train.eval_batches": 1,
                 "train.log_every": 4, "train.audit_every": 6, "recall.symbols": 6,
                 "recall.contexts": 8}.items():
        if k.startswith("recall.") and "recall" not in src:
            continue
        put(k, v)
    text = re.sub(r"--samples \d+", "--samples 4", text)
    text = re.sub(r"--window \d+", "--window 64", text)
    text = re.sub(r"--max-docs \d+", "--max-docs 1", text)
    text = re.sub(r"--episodes \d+", "--episodes 2", text)
    text = re.sub(r"--orders \d+", "--orders 2", text)
    text = re.sub(r"--context \d+", "--context 256", text)
    text = re.sub(r"^precisions\s*=.*$", "precisions = bf16, q4", text, flags=re.M)
put("train.steps", steps * scale)
open(dst + ".tmp", "w").write(text)
PY
  mv "$dst.tmp" "$dst"
}

t0=$(date +%s)
for g in "${grids[@]}"; do
  gout="$out/$g"; mkdir -p "$gout"
  write_grid "$g" "$gout/grid.ini"
  echo "claims: $g: dint sweep $gout/grid.ini (${launch[*]:-one process})" >&2
  OMP_NUM_THREADS=$([ "$ranks" -gt 1 ] && echo 1 || nproc) \
    "${launch[@]}" "$dint" sweep "$gout/grid.ini" --out "$gout" >&2
done
echo "claims: trained in $(( $(date +%s) - t0 )) s" >&2
"${table[@]}"
