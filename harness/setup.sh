#!/usr/bin/env bash
# Install what is missing (Debian 12, as root) and build dint into build/. With --for-tests,
# also what the test suite needs (PyTorch for the parity reference, clang for the fuzz targets),
# an ASan/UBSan build into build-sanitize/ and the libFuzzer targets into build-fuzz/. Safe to run
# again: it only does what is not done yet.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packages=(build-essential cmake pkg-config git libopenblas-dev libhdf5-dev libgsl-dev
          libcriterion-dev libinih-dev libcjson-dev libpcre2-dev zlib1g-dev libopenmpi-dev openmpi-bin
          python3 python3-h5py python3-numpy python3-matplotlib)
missing=()
# PyTorch for the parity reference; clang and its libFuzzer runtime for the fuzz targets.
[ "${1:-}" = "--for-tests" ] && packages+=(python3-torch clang libclang-rt-14-dev)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: error: missing packages (${missing[*]}); run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build() { # dir, extra cmake args...
  local dir="$1"; shift
  cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$root/$dir" -j"$(nproc)" >/dev/null
}
build build
if [ "${1:-}" = "--for-tests" ]; then
  build build-sanitize -DDINT_SANITIZE=ON
  # Only the fuzz targets (and what they link) in the clang build.
  CC=clang cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_BUILD_TYPE=Release -DDINT_FUZZ=ON >/dev/null
  cmake --build "$root/build-fuzz" -j"$(nproc)" --target fuzz_config fuzz_grid fuzz_labelled \
    fuzz_tokenizer fuzz_runfile >/dev/null
fi
