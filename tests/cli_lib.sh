# Sourced by the shell tests of dint's command line (test_damaged.sh, test_write_errors.sh,
# test_writers.sh): DINT from the first argument (the executable of the build under test, from
# ctest), a temporary folder $T removed at exit (a test may define cleanup_extra for more),
# pass/fail counters, and a tiny text corpus.
set -u
DINT=$(realpath -m "${1:?usage: bash $(basename "$0") DINT}")
T=$(mktemp -d "${TMPDIR:-/tmp}/$(basename "$0" .sh).XXXXXX")
cleanup_extra() { :; }
trap 'cleanup_extra; rm -rf "$T"' EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }

# tiny_corpus FILE SEED PARAGRAPHS: paragraphs of 70 common words drawn at random.
tiny_corpus() {
    /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import random, sys
random.seed(int(sys.argv[2]))
w = "the of and to a in that is was he for it with as his on be at by had are but from".split()
paras = [" ".join(random.choice(w) for _ in range(70)).capitalize() + "." for _ in range(int(sys.argv[3]))]
open(sys.argv[1], "w").write("\n\n".join(paras) + "\n")
PY
}
