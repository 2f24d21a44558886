#!/usr/bin/env bash
# Long-context evaluation cost: peak resident memory and wall time of `dint eval ppl` at several
# windows and of `dint eval needle` at one context length, on a trained run file (e.g. the main
# job's results/dint.h5). The text is the user's path for long documents (README, `ppl`): a
# directory of three documents of (largest window + 1) bytes each, cut in order from the King
# James Bible (data/cache/kjv, fetched by data/fetch.sh kjv), scored with --max-docs 1, so each
# window size scores the same first document (65,536 / window windows of it). Results go to
# files in a temporary directory (--out), never into RUN. --precision P runs every evaluation with
# its attention at P (docs/precision.md: the reduced-precision kernel, one row at a time; much
# slower than fp32's, so use smaller windows or a small model), to show its memory stays O(T).
# usage: bash harness/bench_long_context.sh RUN.h5 [--windows 8192,16384,32768,65536]
#          [--needle-length 65536 (0: skip)] [--threads N] [--dint PATH] [--precision P]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage="usage: bash harness/bench_long_context.sh RUN.h5 [--windows W,...] [--needle-length N] [--threads N] [--dint PATH] [--precision P]"
[ $# -ge 1 ] || { echo "bench_long_context: error: $usage" >&2; exit 2; }
run="$1"; shift
windows=8192,16384,32768,65536; needle=65536; threads=$(nproc); dint="$root/build/harness/dint"; precision=fp32
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "bench_long_context: error: $1 needs a value ($usage)" >&2; exit 2; }
  case "$1" in
    --windows) windows="$2" ;;
    --needle-length) needle="$2" ;;
    --threads) threads="$2" ;;
    --dint) dint="$2" ;;
    --precision) precision="$2" ;;
    *) echo "bench_long_context: error: unknown option '$1' ($usage)" >&2; exit 2 ;;
  esac
  shift 2
done
[ -r "$run" ] || { echo "bench_long_context: error: cannot read the run file '$run'" >&2; exit 1; }
[ -x "$dint" ] || { echo "bench_long_context: error: no dint at $dint (build first: bash harness/setup.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_long_context: error: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
bash "$root/data/fetch.sh" kjv >/dev/null
max=0
for w in ${windows//,/ } "$needle"; do
  case "$w" in ''|*[!0-9]*) echo "bench_long_context: error: '$w' is not a length ($usage)" >&2; exit 2 ;; esac
  [ "$w" -gt "$max" ] && max=$w
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/docs"
{ cat "$root"/data/cache/kjv/text/*.txt || true; } | head -c $((3 * (max + 1))) | split -a 1 -b $((max + 1)) - "$tmp/docs/doc_"
for f in "$tmp"/docs/doc_*; do mv "$f" "$f.txt"; done

measure() { # label length command...: one table row from /usr/bin/time's peak RSS and wall time
  local label="$1" len="$2"; shift 2
  /usr/bin/time -o "$tmp/time" -f "%M %e" "$@" >/dev/null 2>"$tmp/err" ||
    { echo "bench_long_context: error: $label at $len failed:" >&2; cat "$tmp/err" >&2; exit 1; }
  read -r kb secs <"$tmp/time"
  printf "%-12s %9d %14.0f %10.1f\n" "$label" "$len" "$((kb / 1024))" "$secs"
}
printf "%-12s %9s %14s %10s   (%s, %d threads, attention %s)\n" what tokens "peak RSS MB" "wall s" "$(basename "$run")" "$threads" "$precision"
for w in ${windows//,/ }; do
  measure "eval ppl" "$w" "$dint" eval ppl --run "$run" --out "$tmp/ppl_$w.h5" --data "$tmp/docs" \
    --window "$w" --max-docs 1 --threads "$threads" --precision "$precision"
done
if [ "$needle" -gt 0 ]; then
  measure "eval needle" "$needle" "$dint" eval needle --run "$run" --out "$tmp/needle.h5" --needles 1:1 \
    --lengths "$needle" --depths 0.5 --samples 1 --threads "$threads" --precision "$precision"
fi
