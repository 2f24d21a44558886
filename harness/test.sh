#!/usr/bin/env bash
# The whole test suite: set up (packages incl. PyTorch for the parity reference, Release and
# ASan/UBSan builds), fetch every pinned data source, run every ctest test (labels
# unit, cli, train, parity, data, plots), then the C tests again under ASan, LSan and UBSan, then
# each fuzz target for a few seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/harness/setup.sh" --for-tests
bash "$root/data/fetch.sh" all >/dev/null
status=0
(cd "$root/build" && ctest --output-on-failure) || status=1
# Address, leak and undefined-behaviour checks over the C tests (and the dint runs they start).
# Not repeated there: the Python/plot tests, main_seeds / mpi_main, which drive harness/main.sh
# through the same dint sweep paths test_sweep and mpi_sweep already cover (2 min each under ASan),
# recipe_search, a Python driver of the dint train (--init-from) and eval needle runs that
# test_train and test_needle cover, and extend, which builds its own Release copy of the tree.
(cd "$root/build-sanitize" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -E 'reference_selftest|data_fetch|plots|summary_table|main_seeds|mpi_main|recipe_search|extend|claims|precision_report') || status=1
# Every fuzz target for a few seconds on its committed seeds (ASan/UBSan; longer: harness/fuzz.sh).
(cd "$root/build-fuzz" && ctest --output-on-failure -L fuzz) || status=1
exit $status
