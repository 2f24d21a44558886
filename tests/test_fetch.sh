#!/usr/bin/env bash
# Tests of data/fetch.sh: fetches every source (from the cache when it is there: about a second;
# the first run downloads ~50 MB and takes a minute), checks the documented counts and formats,
# that a tampered cache is refused, and that an unknown source is one clear error.
# usage: bash tests/test_fetch.sh      (exit status 0 when every check passes)
set -uo pipefail
export LC_ALL=C
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fetch="$root/data/fetch.sh"
# Resolved: the fetcher prints real paths, and data/cache may be a symlink to a shared cache.
cache="$(realpath -m "${DINT_DATA_CACHE:-$root/data/cache}")"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
eq() { [ "$1" = "$2" ] || { echo "     got '$1', expected '$2'" >&2; return 1; }; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# --- 1. fetch everything (cached: no network, silent) ------------------------------------------
if bash "$fetch" all >"$tmp/out" 2>"$tmp/err"; then ok "fetch all"; else bad "fetch all"; sed 's/^/     /' "$tmp/err"; fi
names=(sotu moby-dick brown kjv wordnet-noun wordnet-verb spamassassin brown-genres gpt2)
declare -A dir
i=0
while read -r line; do dir[${names[$i]}]="$line"; i=$((i + 1)); done <"$tmp/out"
check "fetch all prints one directory per source" eq "$(wc -l <"$tmp/out")" 9
check "sotu prints its text directory" eq "${dir[sotu]:-}" "$cache/sotu/text"
check "a labelled set prints its cache directory" eq "${dir[wordnet-noun]:-}" "$cache/wordnet-noun"
check "gpt2 prints its cache directory" eq "${dir[gpt2]:-}" "$cache/gpt2"
bash "$fetch" all >/dev/null 2>"$tmp/err2"
check "a cached fetch prints nothing on stderr" eq "$(cat "$tmp/err2")" ""
check "no argument means sotu" eq "$(bash "$fetch" 2>/dev/null)" "$cache/sotu/text"
check "--list has one line of 4 fields per source" \
  eq "$(bash "$fetch" --list | awk -F'\t' 'NF == 4' | cut -f1 | tr '\n' ' ')" "${names[*]} "

# --- 2. counts and formats ---------------------------------------------------------------------
ndocs() { find "$1" -maxdepth 1 -type f -name '*.txt' | wc -l; }
nlines() { wc -l <"$1"; }
check "sotu: 233 documents" eq "$(ndocs "${dir[sotu]}")" 233
check "moby-dick: 139 documents (contents, etymology, extracts, 135 chapters, epilogue)" \
  eq "$(ndocs "${dir[moby-dick]}")" 139
check "moby-dick: book order" eq "$(ls "${dir[moby-dick]}" | sed -n '1p;4p;138p;139p' | tr '\n' ' ')" \
  "000a_contents.txt 001_chapter.txt 135_chapter.txt 136_epilogue.txt "
check "brown: 500 documents" eq "$(ndocs "${dir[brown]}")" 500
check "brown: genres.tsv has 500 samples in 15 genres" \
  eq "$(nlines "${dir[brown]}/../genres.tsv") $(cut -f2 "${dir[brown]}/../genres.tsv" | sort -u | wc -l)" "500 15"
check "brown: no word/TAG tokens left" \
  eq "$(cat "${dir[brown]}"/*.txt | grep -cE '[^ ]/(at|nn|nns|np|in|jj|vbd|vbz|cc|rb|dt)(-tl|-hl)?( |$)' || true)" 0
check "kjv: 66 documents" eq "$(ndocs "${dir[kjv]}")" 66
check "kjv: books 01_genesis ... 66_revelation" \
  eq "$(ls "${dir[kjv]}" | sed -n '1p;$p' | tr '\n' ' ')" "01_genesis.txt 66_revelation.txt "
check "kjv: 31102 verses" eq "$(cat "${dir[kjv]}"/*.txt | grep -c .)" 31102
labelled() { # NAME EXAMPLES LABELS
  local d="${dir[$1]}"
  check "$1: $2 examples, $3 labels" eq "$(nlines "$d/labels.tsv") $(nlines "$d/labels.txt")" "$2 $3"
  check "$1: every line is label<TAB>non-empty text, with a listed label" eq "$(awk -F'\t' '
    FNR == NR { L[$0] = 1; next } NF != 2 || $2 == "" || !($1 in L) || $2 ~ /\r/ { n++ } END { print n + 0 }' \
      "$d/labels.txt" "$d/labels.tsv")" 0
  check "$1: labels.txt is the sorted set of labels" eq "$(cut -f1 "$d/labels.tsv" | sort -u)" "$(cat "$d/labels.txt")"
  check "$1: valid UTF-8" iconv -f UTF-8 -t UTF-8 -o /dev/null "$d/labels.tsv"
}
labelled wordnet-noun 82115 26
labelled wordnet-verb 13767 15
labelled spamassassin 6046 2
labelled brown-genres 500 15
check "spamassassin: labels are ham and spam" eq "$(tr '\n' ' ' <"${dir[spamassassin]}/labels.txt")" "ham spam "
check "every corpus document is valid UTF-8" \
  eq "$(for n in sotu moby-dick brown kjv; do for f in "${dir[$n]}"/*; do iconv -f UTF-8 -t UTF-8 "$f" >/dev/null 2>&1 || echo "$f"; done; done)" ""
check "gpt2: encoder.json and vocab.bpe are OpenAI's" eq "$(cd "${dir[gpt2]}" && sha256sum encoder.json vocab.bpe)" \
"196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783  encoder.json
1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5  vocab.bpe"
check "gpt2: Encoder.js and index.js are there" test -f "${dir[gpt2]}/Encoder.js" -a -f "${dir[gpt2]}/index.js"

# --- 3. a tampered cache is refused, naming the source and the file ------------------------------
mkdir -p "$tmp/cache"
cp -a "$cache/kjv" "$tmp/cache/kjv"
f="$tmp/cache/kjv/text/01_genesis.txt"
b=$(head -c1 "$f"); [ "$b" = Z ] && r=Y || r=Z
printf '%s' "$r" | dd of="$f" bs=1 seek=0 conv=notrunc status=none
DINT_DATA_CACHE="$tmp/cache" bash "$fetch" kjv >"$tmp/t.out" 2>"$tmp/t.err"; rc=$?
check "tampered cache: exit status is not 0" test "$rc" -ne 0
check "tampered cache: nothing printed on stdout" eq "$(cat "$tmp/t.out")" ""
check "tampered cache: one error line naming kjv and the file" \
  eq "$(grep -c . "$tmp/t.err")/$(grep -c 'error: kjv: .*text/01_genesis\.txt' "$tmp/t.err")" "1/1"
check "tampered cache: not silently fetched again" eq "$(head -c1 "$f")" "$r"
rm "$tmp/cache/kjv/text/02_exodus.txt"; cp "$cache/kjv/text/01_genesis.txt" "$f"
DINT_DATA_CACHE="$tmp/cache" bash "$fetch" kjv >/dev/null 2>"$tmp/t.err"; rc=$?
check "cache with a missing file: refused, naming it" \
  eq "$rc $(grep -c 'error: kjv: .*02_exodus\.txt is missing' "$tmp/t.err")" "1 1"
cp "$cache/kjv/text/02_exodus.txt" "$tmp/cache/kjv/text/"; echo extra >"$tmp/cache/kjv/text/67_extra.txt"
DINT_DATA_CACHE="$tmp/cache" bash "$fetch" kjv >/dev/null 2>"$tmp/t.err"; rc=$?
check "cache with an extra file: refused, naming it" \
  eq "$rc $(grep -c 'error: kjv: .*67_extra\.txt' "$tmp/t.err")" "1 1"
rm "$tmp/cache/kjv/text/67_extra.txt"
check "the restored copy is accepted" eq "$(DINT_DATA_CACHE="$tmp/cache" bash "$fetch" kjv 2>&1)" "$tmp/cache/kjv/text"

# --- 4. an unknown source is one clear error ---------------------------------------------------
bash "$fetch" sotu no-such-corpus >"$tmp/u.out" 2>"$tmp/u.err"; rc=$?
check "unknown source: exit status is not 0" test "$rc" -ne 0
check "unknown source: nothing on stdout (checked before any fetch)" eq "$(cat "$tmp/u.out")" ""
check "unknown source: one error line naming it" \
  eq "$(grep -c . "$tmp/u.err")/$(grep -c "unknown source 'no-such-corpus'" "$tmp/u.err")" "1/1"
bash "$fetch" --no-such-option >/dev/null 2>"$tmp/u.err"; rc=$?
check "unknown option: one error line" eq "$rc $(grep -c . "$tmp/u.err")" "1 1"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
