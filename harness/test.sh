#!/usr/bin/env bash
# The whole test suite: set up (packages incl. PyTorch for the parity reference, Release and
# ASan/UBSan builds), fetch every pinned data source, run every ctest test (labels
# unit, cli, train, parity, data), then the C tests again under ASan and UBSan.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/harness/setup.sh" --for-tests
bash "$root/data/fetch.sh" all >/dev/null
status=0
(cd "$root/build" && ctest --output-on-failure) || status=1
# OpenMP's runtime keeps thread pools alive at exit; LeakSanitizer is not built in here (gcc
# ASan has it, but leaks are not the point of this pass): address + undefined behaviour.
(cd "$root/build-sanitize" && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -E 'reference_selftest|data_fetch|plots|summary_table') || status=1
exit $status
