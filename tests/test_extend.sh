#!/usr/bin/env bash
# What it takes to extend dint, shown on a copy of the source tree: a new evaluation task is one
# file in tasks/ plus one line of tasks/eval_registry.h (tests/extend/next_token_eval.c). The copy
# builds, `dint eval next-token` has its help line, runs on a real run file, resumes, refuses bad
# options in one line, and `dint schema --json` lists its outputs. A new variant (DIFF with a
# fixed λ) is one line in each of four files: it trains and matches its PyTorch reference. Then
# the layers: a file that includes a header of a layer above its own does not build.
# Usage: bash tests/test_extend.sh DINT   (DINT: the build under test, which must not know them)
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TREE="$T/tree"
mkdir -p "$TREE"
# The tracked files as they are in the working tree (the change under test included).
(cd "$SRC" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$TREE"
[ -d "$SRC/data/cache" ] && ln -s "$SRC/data/cache" "$TREE/data/cache"

# ---- The change: one new file, one registry line ----
cp "$SRC/tests/extend/next_token_eval.c" "$TREE/tasks/"
echo 'EVAL_TASK(next_token_task)' >>"$TREE/tasks/eval_registry.h"
diff <(cd "$SRC" && cat tasks/eval_registry.h) "$TREE/tasks/eval_registry.h" | grep -c '^[<>]' \
  | grep -qx 1 && ok || bad "the registry changed by more than one line"

# ---- A new variant: DIFF with λ fixed at λ_init, one line in each of four files ----
# (its id, its row of the variant table, its row of the PyTorch reference, its parity case).
/usr/bin/python3 - "$TREE" <<'PY' && ok || bad "the variant's lines did not apply"
import sys
root = sys.argv[1]
def add(path, anchor, line, before=False):
    p = f"{root}/{path}"
    s = open(p).read()
    assert s.count(anchor) == 1, (path, anchor)
    s = s.replace(anchor, line + anchor if before else anchor + line)
    open(p, "w").write(s)
add("core/config.h", " VARIANT_DINT = 2", ", VARIANT_DIFF_FIXED = 3")
add("core/variants.c", "};\nconst int N_VARIANTS",
    '    {VARIANT_DIFF_FIXED, "diff_fixed", "DIFF (fixed λ)", 2, 0, 0, 1, "DIFF with λ = λ_init"},\n', before=True)
add("tests/reference/dint_reference.py", '    "dint": VariantSpec(2, True, True, True),\n',
    '    "diff_fixed": VariantSpec(2, False, False, True),\n')
add("tests/test_parity.c", "};\n\nenum { B = 2",
    '    {"diff_fixed", VARIANT_DIFF_FIXED, GMODE_CAUSAL, GAMMA_ZERO, 0, 1, 1, 1, 0},\n', before=True)
PY
nfiles=$(for f in core/config.h core/variants.c tests/reference/dint_reference.py tests/test_parity.c; do
  cmp -s "$SRC/$f" "$TREE/$f" || echo "$f"; done | wc -l)
[ "$nfiles" -eq 4 ] && ok || bad "the variant changed $nfiles files, 4 expected"

# The copy's own build (its executables in a folder this test names: it never guesses where a
# build put them); the build under test ($DINT) stays as it is and knows neither addition.
COPY_BUILD="$T/extended-build"
cmake -S "$TREE" -B "$COPY_BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$T/bin" \
  >"$T/cmake.log" 2>&1 &&
  cmake --build "$COPY_BUILD" --target dint test_parity -j2 >>"$T/cmake.log" 2>&1 ||
  { tail -20 "$T/cmake.log"; echo "0 passed, 1 failed (the extended tree does not build)"; exit 1; }
X="$T/bin/dint"
"$DINT" eval next-token --help >/dev/null 2>&1 && bad "the build under test knows next-token" || ok
"$DINT" variants --names | grep -qw diff_fixed && bad "the build under test knows diff_fixed" || ok
grep "warning:" "$T/cmake.log" >"$T/warnings"
[ ! -s "$T/warnings" ] && ok || bad "the extended tree builds with warnings: $(head -3 "$T/warnings")"

"$X" eval next-token --help >"$T/help" 2>&1 && grep -q "usage: dint eval next-token --run RUN.h5 .*\[--window TOKENS\]" "$T/help" &&
  grep -q "next-token argmax accuracy" "$T/help" && ok || bad "help: $(cat "$T/help")"
"$X" --help | grep -q "dint eval next-token" && ok || bad "dint --help lacks the new task"

tiny_corpus "$T/tiny.txt" 3 40
RUN="$T/run.h5"
"$X" train --variant dint --data "$T/tiny.txt" --out "$RUN" --set model.n_layer=1 \
  --set model.d_model=32 --set model.head_dim=8 --set train.seq_len=32 --set train.batch_size=2 \
  --set train.warmup=2 --set train.eval_batches=2 --set train.steps=3 --set train.eval_every=3 \
  --threads 1 >/dev/null 2>"$T/err" || bad "train: $(cat "$T/err")"
"$X" eval next-token --run "$RUN" --window 16 --windows 3 --threads 1 >"$T/out" 2>"$T/err" &&
  ok || bad "eval next-token: $(cat "$T/err")"
grep -c "^next-token: window" "$T/err" | grep -qx 3 && ok || bad "3 progress lines expected: $(cat "$T/err")"
/usr/bin/python3 - "$RUN" <<'PY' && ok || bad "results"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    acc, done = f["eval/next_token/accuracy"][()], f["eval/next_token/done"][()]
    assert acc.shape == (3,) and all(0 <= a <= 1 for a in acc), acc
    assert list(done) == [1, 1, 1], done
    assert f["eval/next_token"].attrs["parameters"] == "next_token v1; window 16; windows 3"
PY
"$X" check "$RUN" >/dev/null 2>&1 && ok || bad "check after the new task's write"
"$X" eval next-token --run "$RUN" --window 16 --windows 3 --threads 1 >/dev/null 2>"$T/err" &&
  grep -q "every window was already scored" "$T/err" && ok || bad "resume: $(cat "$T/err")"
cp "$RUN" "$T/before.h5"
"$X" eval next-token --run "$RUN" --window 1 >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "need --window >= 2" "$T/err" &&
  cmp -s "$RUN" "$T/before.h5" && ok || bad "bad option: exit $rc: $(cat "$T/err")"
"$X" schema --json | grep -q '"/eval/next_token/accuracy"' && ok || bad "schema lacks the outputs"
"$X" schema --json | grep -q '"name": "next_token_accuracy", "dataset": "/eval/next_token/accuracy", "reduce": "mean"}]' &&
  ok || bad "the sweep's metrics lack the task's, last"
# The generated copies of the schema (Python constants, results/README.md tables): stale until
# one command regenerates them, then current, with the task's constants.
G="$TREE/harness/report/gen_schema.py"
/usr/bin/python3 "$G" --dint "$X" --check >/dev/null 2>&1 && bad "gen_schema --check missed the new task" || ok
/usr/bin/python3 "$G" --dint "$X" >/dev/null && /usr/bin/python3 "$G" --dint "$X" --check >/dev/null &&
  grep -q '^NEXT_TOKEN_ACCURACY = "/eval/next_token/accuracy"' "$TREE/harness/report/runschema_tables.py" &&
  grep -q '/eval/next_token/accuracy' "$TREE/results/README.md" && ok || bad "regenerated schema copies"

# The new variant: listed, trained (no λ vectors; λ = λ_init in every layer), and equal to its
# PyTorch reference (logits, loss, every gradient, 10 AdamW steps) within the parity tolerances.
"$X" variants --names | grep -qw diff_fixed && ok || bad "dint variants lacks diff_fixed"
VRUN="$T/fixed.h5"
"$X" train --variant diff_fixed --data "$T/tiny.txt" --out "$VRUN" --set model.n_layer=2 \
  --set model.d_model=32 --set model.head_dim=8 --set train.seq_len=32 --set train.batch_size=2 \
  --set train.warmup=2 --set train.eval_batches=2 --set train.steps=3 --set train.eval_every=3 \
  --threads 1 >/dev/null 2>"$T/err" && ok || bad "train --variant diff_fixed: $(cat "$T/err")"
/usr/bin/python3 - "$VRUN" <<'PY' && ok || bad "the diff_fixed run file"
import math, sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    names = list(f["model/params"])
    assert not any("lambda_q" in n for n in names), names
    assert any("subln" in n for n in names), names
    lam = f["train/lambda"][()]
    want = [0.8 - 0.6 * math.exp(-0.3 * l) for l in range(2)]
    assert all(abs(row[l] - want[l]) < 1e-6 for row in lam for l in range(2)), (lam, want)
PY
(cd "$T/bin" && DINT_PARITY_ONLY=diff_fixed ./test_parity >"$T/parity.log" 2>&1) &&
  grep -q "^diff_fixed" "$T/parity.log" && ok || bad "parity of diff_fixed: $(tail -5 "$T/parity.log")"

# ---- The layers: an include against their direction does not build ----
# (core -> stats -> tasks -> dist -> data -> store -> train -> eval -> cli; harness/CMakeLists.txt)
against() { # FILE HEADER TARGET: FILE includes HEADER of a higher layer; TARGET must fail to build
  cp "$TREE/$1" "$T/saved.c"
  sed -i "1i #include \"$2\"" "$TREE/$1"
  if cmake --build "$COPY_BUILD" --target "$3" >"$T/layer.log" 2>&1; then
    bad "$1 including $2 built"
  else
    grep -q "$2: No such file" "$T/layer.log" && ok || bad "$1 + $2: $(grep -m1 error "$T/layer.log")"
  fi
  cp "$T/saved.c" "$TREE/$1"
}
against core/model.c eval_task.h dint_core
against tasks/needle.c runfile.h dint_tasks
against harness/store/h5file.c driver.h dint_store
against harness/store/runfile.c onset.h dint_store
against harness/eval/driver.c cli.h dint_eval

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
