#!/usr/bin/env bash
# Run every libFuzzer target (tests/fuzz/) for SECONDS each under ASan/UBSan, starting from the
# committed seeds (tests/fuzz/corpus/<target>) plus what earlier runs found (build-fuzz/corpus/<target>,
# kept between runs). Crashing inputs go to build-fuzz/artifacts/. Prints one line per target
# (executions, new inputs, crashes) and appends it to build-fuzz/fuzz-log.txt.
# usage: bash harness/fuzz.sh SECONDS [TARGET...]   (targets: config grid labelled tokenizer runfile)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: bash harness/fuzz.sh SECONDS [TARGET...]" >&2
    exit 2
fi
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config grid labelled tokenizer runfile)
command -v clang >/dev/null || { echo "fuzz.sh: error: clang is missing (bash harness/setup.sh --for-tests)" >&2; exit 1; }
b="$root/build-fuzz"
CC=clang cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DDINT_FUZZ=ON >/dev/null
cmake --build "$b" -j2 --target "${targets[@]/#/fuzz_}" >/dev/null
mkdir -p "$b/artifacts"
status=0
for t in "${targets[@]}"; do
    mkdir -p "$b/corpus/$t"
    log="$b/fuzz_$t.log"
    rc=0
    "$b/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=20 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$b/artifacts/$t-" "$b/corpus/$t" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    units=$(sed -n 's/^stat::new_units_added: *//p' "$log")
    crashes=$(grep -c 'Test unit written to' "$log" || true)
    line="$(date -u +%FT%TZ) fuzz_$t: ${secs}s, ${execs:-?} executions, ${units:-?} new inputs, $crashes crashes (exit $rc)"
    echo "$line" | tee -a "$b/fuzz-log.txt"
    if [ "$rc" -ne 0 ]; then
        status=1
        grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 >&2
    fi
done
exit $status
