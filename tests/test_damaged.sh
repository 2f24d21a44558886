#!/usr/bin/env bash
# Damaged run files: a seeded corpus of copies of a real run file (with /eval/ppl and /audit
# results) truncated at many offsets, with random bytes changed, and with bytes changed inside the
# weights, and with edits Fletcher-32 cannot see (weights, curves, document tokens, the config).
# `dint info`, `train --resume`, `eval ppl` and `audit` on each must end (no hang: see LIMIT),
# never by a signal, with at most one error line; damage inside the weights and every edit must
# be refused (non-zero) by all four. `dint check` must refuse the same files.
# Usage: bash tests/test_damaged.sh DINT [N]   (N damaged files of each kind, default 10)
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
N=${2:-10}
# A hang detector, not a speed test: a reader ends in under a second on a quiet machine (the
# file check's reader has its own limit of 2 s of CPU time, which load does not stretch), so no
# load reaches LIMIT seconds of wall time. Kept below h5file_check's own wall-clock bound on a
# read that blocks (120 s + 10 s per CPU second: 140 s here), so a reader that only ends there
# still counts as hung.
LIMIT=100

tiny_corpus "$T/tiny.txt" 5 40
GOOD="$T/good.h5"
{ "$DINT" train --variant dint --data "$T/tiny.txt" --out "$GOOD" --set model.n_layer=1 \
    --set model.d_model=32 --set model.head_dim=8 --set train.seq_len=32 --set train.batch_size=2 \
    --set train.warmup=2 --set train.eval_batches=2 --set train.steps=3 --set train.eval_every=2 \
    --threads 1 --stop-at 2 &&
  "$DINT" eval ppl --run "$GOOD" --window 64 --max-docs 1 --threads 1 &&
  "$DINT" audit --run "$GOOD" --samples 1 --seq 32 --threads 1; } >/dev/null 2>"$T/err" ||
    { echo "FAIL setup: $(cat "$T/err")"; echo "0 passed, 1 failed"; exit 1; }
"$DINT" check "$GOOD" >/dev/null 2>"$T/err" && ok || bad "check of the good file: $(cat "$T/err")"
# Every non-empty numeric dataset (weights, optimizer state, curves, every result) is checksummed.
/usr/bin/python3 - "$GOOD" >"$T/unsummed" <<'EOF'
import sys
import h5py
def visit(name, obj):
    if isinstance(obj, h5py.Dataset) and obj.size and obj.dtype.kind in "fiub" and not obj.fletcher32:
        print(name)
with h5py.File(sys.argv[1], "r") as f:
    for g in ("model", "optim", "rng", "train", "eval", "audit"):
        if g not in f:
            print("missing group", g)
        else:
            f[g].visititems(visit)
EOF
[ ! -s "$T/unsummed" ] && ok || bad "datasets without a Fletcher-32 checksum: $(head -5 "$T/unsummed")"

# The corpus: trunc_*, flip_* (1 to 256 random bytes anywhere), weights_* (bytes inside the
# stored data of /model/params tensors, found with h5py).
/usr/bin/python3 - "$GOOD" "$T" "$N" <<'EOF'
import random, sys
import h5py
good, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(good, "rb").read()
r = random.Random(20261130)
for i in range(n):
    # Spread over the file, dense near the start where the metadata lives.
    cut = r.randrange(1, 4096) if i % 3 == 0 else r.randrange(1, len(data))
    open(f"{out}/trunc_{i}.h5", "wb").write(data[:cut])
for i in range(n):
    b = bytearray(data)
    for _ in range(r.choice([1, 4, 32, 256])):
        j = r.randrange(len(b))
        b[j] ^= r.randrange(1, 256)
    open(f"{out}/flip_{i}.h5", "wb").write(bytes(b))
# Run files written before metadata checksums (HDF5's earliest format, as h5py writes by
# default): damage there can send HDF5 in circles or crash it, which the reader must survive.
old = f"{out}/old_format.h5"
# (Without the digest: a copy through h5py stores strings differently, and files of that era
# had none.)
SCALE_ATTRS = {"DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "digest"}


def attrs(src, dst):
    for k, v in src.attrs.items():
        if k not in SCALE_ATTRS:
            dst.attrs[k] = v


def copy(src, dst):  # by value (HDF5 1.10.8's H5Ocopy crashes on strings into this format)
    attrs(src, dst)
    for k, v in src.items():
        if isinstance(v, h5py.Group):
            copy(v, dst.create_group(k))
        else:
            attrs(v, dst.create_dataset(k, data=v[()], chunks=v.chunks, fletcher32=v.fletcher32))


with h5py.File(good, "r") as f, h5py.File(old, "w", libver="earliest") as o:
    copy(f, o)
odata = open(old, "rb").read()
for i in range(n):
    b = bytearray(odata)
    for _ in range(256):
        j = r.randrange(len(b))
        b[j] ^= r.randrange(1, 256)
    open(f"{out}/oldflip_{i}.h5", "wb").write(bytes(b))
spans = []
with h5py.File(good, "r") as f:
    for name, ds in f["model/params"].items():
        info = ds.id.get_chunk_info(0)
        spans.append((name, info.byte_offset, info.size))
for i in range(4):
    name, off, size = spans[r.randrange(len(spans))]
    b = bytearray(data)
    b[off + r.randrange(size)] ^= 0x10
    open(f"{out}/weights_{i}.h5", "wb").write(bytes(b))


# Edits Fletcher-32 cannot see (it sums 16-bit words modulo 65535): a word turned from 0x0000 to
# 0xFFFF, or +1, -2, +1 on three neighbouring words. Each must still read back through h5py (the
# edit is blind to the checksum) with a changed value; the content digest must refuse them.
def blind_edit(dataset, tag):
    with h5py.File(good, "r") as f:
        ds = f[dataset]
        info = ds.id.get_chunk_info(0)
        before = ds[()].copy()
        n = ds.size * ds.dtype.itemsize
    off = info.byte_offset
    b = bytearray(data)
    words = [(b[off + k] << 8) | b[off + k + 1] for k in range(0, n - 1, 2)]
    zero = [k for k, w in enumerate(words) if w == 0]
    if zero:
        k = 2 * zero[0]
        b[off + k] = b[off + k + 1] = 0xFF
    else:  # no 0x0000 word: +1, -2, +1 keeps both Fletcher sums
        k = next(j for j in range(len(words) - 2)
                 if words[j] < 65534 and words[j + 1] > 1 and words[j + 2] < 65534)
        for j, d in ((k, 1), (k + 1, -2), (k + 2, 1)):
            w = words[j] + d
            b[off + 2 * j], b[off + 2 * j + 1] = w >> 8, w & 0xFF
    path = f"{out}/blind_{tag}.h5"
    open(path, "wb").write(bytes(b))
    with h5py.File(path, "r") as f:  # raises if Fletcher-32 saw the edit
        assert (f[dataset][()] != before).any(), f"{dataset}: the edit changed nothing"


first_param = sorted(f for f, _, _ in spans)[0]
blind_edit(f"model/params/{first_param}", "weights")
blind_edit("train/step", "curve_steps")
blind_edit("train/loss", "curve_loss")
blind_edit("data/document_tokens", "tokens")
# Same-length edits of the config JSON (stored without any HDF5 checksum).
for tag, old, new in (("variant", b'"variant":\t"dint"', b'"variant":\t"diff"'),
                      ("steps", b'"steps":\t3,', b'"steps":\t9,'),
                      ("nul", b'"variant":\t"dint"', b'"variant":\x00"dint"')):
    assert data.count(old) == 1, f"config edit {tag}: {old!r} found {data.count(old)} times"
    open(f"{out}/config_{tag}.h5", "wb").write(data.replace(old, new))
EOF
[ $? -eq 0 ] || { echo "FAIL making the damaged files"; echo "0 passed, 1 failed"; exit 1; }

# run NAME FILE ARGS...: run dint on a damaged file with a time limit; exit status in $RC.
run() {
    local what=$1
    shift
    local t0 t1
    t0=$(date +%s%N)
    timeout -s KILL "$LIMIT" "$DINT" "$@" >/dev/null 2>"$T/err" </dev/null
    RC=$?
    t1=$(date +%s%N)
    cat "$T/err" >>"$T/all_errors.txt"
    local ms=$(((t1 - t0) / 1000000))
    if [ "$RC" -ge 124 ]; then
        bad "$what: ended by a signal or the time limit (exit $RC after ${ms} ms): $(tail -2 "$T/err")"
        return
    fi
    ok
    [ "$ms" -le $((LIMIT * 1000)) ] && ok || bad "$what: took ${ms} ms"
    if [ "$RC" -ne 0 ]; then
        [ "$(grep -c 'error' "$T/err")" -eq 1 ] && ok || bad "$what: not one error line: $(cat "$T/err")"
    fi
}

# Something that is not a regular file (a FIFO nobody writes would block a reader) is refused.
mkfifo "$T/fifo.h5"
for c in info check; do
    run "$c on a FIFO" "$c" "$T/fifo.h5"
    [ "$RC" -eq 2 ] && grep -q 'not a regular file' "$T/err" && ok ||
        bad "$c on a FIFO: exit $RC: $(cat "$T/err")"
done
rm -f "$T/fifo.h5"
"$DINT" check "$T/old_format.h5" >/dev/null 2>"$T/err" && ok ||
    bad "check of the earliest-format copy: $(cat "$T/err")"

# The two files of tests/damaged/ (earlier format): HDF5 spins on one and crashes on the other.
cp "$(dirname "$0")/damaged/spins_hdf5.h5" "$T/known_spin.h5"
cp "$(dirname "$0")/damaged/crashes_hdf5.h5" "$T/known_crash.h5"

# A file written before digests (the attribute removed) is read, with a one-line notice.
cp "$GOOD" "$T/no_digest.h5"
/usr/bin/python3 -c 'import sys, h5py; f = h5py.File(sys.argv[1], "r+"); del f.attrs["digest"]' \
    "$T/no_digest.h5"
"$DINT" check "$T/no_digest.h5" >"$T/out" 2>"$T/err" && grep -q 'no digest' "$T/out" && ok ||
    bad "check of a file without a digest: $(cat "$T/out" "$T/err")"
"$DINT" info "$T/no_digest.h5" >/dev/null 2>"$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ] &&
    grep -q 'notice: .* has no content digest' "$T/err" && ok ||
    bad "info of a file without a digest: not one notice line: $(cat "$T/err")"

for f in "$T"/known_*.h5 "$T"/trunc_*.h5 "$T"/flip_*.h5 "$T"/oldflip_*.h5 "$T"/weights_*.h5 \
    "$T"/blind_*.h5 "$T"/config_*.h5; do
    b=$(basename "$f")
    run "info $b" info "$f"
    info_rc=$RC
    run "check $b" check "$f"
    check_rc=$RC
    run "eval ppl $b" eval ppl --run "$f" --window 64 --max-docs 1 --threads 1
    ppl_rc=$RC
    run "audit $b" audit --run "$f" --samples 1 --seq 32 --threads 1
    audit_rc=$RC
    run "train --resume $b" train --out "$f" --resume
    resume_rc=$RC
    case "$b" in
    weights_* | trunc_* | known_* | blind_* | config_*)
        for pair in "info:$info_rc" "check:$check_rc" "eval ppl:$ppl_rc" "audit:$audit_rc" \
            "train --resume:$resume_rc"; do
            [ "${pair##*:}" -ne 0 ] && ok || bad "${pair%%:*} $b: damaged weights or a cut file accepted"
        done
        case "$b" in
        blind_* | config_*)
            grep -q 'do not match its digest' "$T/err" && ok || bad "$b: not refused by the digest: $(cat "$T/err")"
            ;;
        esac
        ;;
    esac
    rm -f "$f" "$f.lock"
done
[ -z "$(ls "$T" | grep '\.tmp$')" ] && ok || bad "left $(ls "$T" | grep '\.tmp$')"
A="$T/all_errors.txt"
echo "refusals: $(grep -c 'did not finish' "$A") time limits, $(grep -c 'crashes HDF5' "$A")" \
    "HDF5 crashes in the checker, $(grep -c 'cannot read' "$A") unreadable objects," \
    "$(grep -c 'error' "$A") error lines in all"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
