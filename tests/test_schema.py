#!/usr/bin/env -S /usr/bin/python3
"""The run-file schema is named once in C (harness/store/schema.c and each evaluation task's
table of outputs, printed by `dint schema --json`); harness/report/gen_schema.py generates the
Python tables (harness/report/runschema_tables.py, imported by runschema.py) and the tables of
results/README.md, the reader's schema, from it. This test checks that
(a) the C tables and the Python ones are the same, entry by entry and field by field, and each
    entry's constant, file and task in `dint schema --json` are the runschema name of its path,
    its file and its task;
(b) real files hold exactly the schema's entries: a tiny run trained on a needle and ICL mixture,
    then evaluated (needle, ppl, icl) and audited, a run started with --init-from, and a
    two-cell sweep's summary: every group, dataset and attribute matches an entry (a part in
    braces matches any name; literal entries win over placeholders) of the same kind, dtype
    and rank, dimension scales are attached where the entry's dims name them, and every entry
    present in all files (when = null) is there whenever its parent is;
(c) every path results/README.md lists is in the schema, and every schema path is in it;
(d) the content digest computed in Python (harness/report/h5digest.py) equals the one dint stores,
    and both refuse an edited file.
HDF5's own dimension-scale bookkeeping (attributes CLASS, NAME, REFERENCE_LIST, DIMENSION_LIST)
is not part of the schema.
Prints 'N passed, N failed'; exits non-zero on any failure."""
import json
import os
import re
import subprocess
import sys
import tempfile

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "harness", "report"))
import runschema as rs  # noqa: E402
import h5digest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import check, finish  # noqa: E402

if len(sys.argv) != 2:
    sys.exit("usage: /usr/bin/python3 tests/test_schema.py DINT (the dint executable to test; ctest passes its own build's)")
DINT = os.path.abspath(sys.argv[1])
H5DS_ATTRS = {"CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST"}



def dint(*args):
    subprocess.run([DINT, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---- (a) C tables == Python mirror ------------------------------------------------------------

def by_path(entries, where):
    out = {}
    for e in entries:
        check(e["path"] not in out, f"{where}: {e['path']} listed once")
        out[e["path"]] = e
    return out


def compare_tables():
    got = json.loads(subprocess.run([DINT, "schema", "--json"], check=True, capture_output=True, text=True).stdout)
    want = rs.as_json()
    check(got["schema_version"] == want["schema_version"], "schema_version of dint schema and runschema.py")
    check(sorted(got["files"]) == sorted(want["files"]), f"files: {sorted(got['files'])} vs {sorted(want['files'])}")
    for file in want["files"]:
        c = by_path(got["files"].get(file, []), f"dint schema {file}")
        p = by_path(want["files"][file], f"runschema.py {file}")
        for path in sorted(set(c) | set(p)):
            if path not in c or path not in p:
                check(False, f"{file} {path}: only in {'runschema.py' if path in p else 'dint schema'}")
                continue
            diff = [k for k in p[path] if c[path].get(k) != p[path][k]]
            check(not diff, f"{file} {path}: {', '.join(f'{k} {c[path].get(k)!r} (C) vs {p[path][k]!r} (Python)' for k in diff)}")
            e = c[path]
            check(getattr(rs, e.get("constant") or "-", None) == path and e.get("file") == file,
                  f"{file} {path}: constant {e.get('constant')!r} is runschema's name of the path, file {e.get('file')!r}")
            task = e.get("task")
            check(task is None if not path.startswith(("/eval/", "/audit")) else
                  path.startswith((f"/eval/{task}", f"/{task}")),
                  f"{file} {path}: task {task!r}")


# ---- (b) real files == schema -----------------------------------------------------------------

def pattern(path):
    """A schema path as a regular expression: a part in braces matches one name."""
    return re.compile("".join("[^/@]+" if part.startswith("{") else re.escape(part)
                              for part in re.split(r"(\{[^}]*\})", path)) + r"\Z")


def parent_of(path):
    if "@" in path:
        return path.rsplit("@", 1)[0] or "/"
    return path.rsplit("/", 1)[0] or "/" if path != "/" else None


def dtype_name(dt):
    return "string" if h5py.check_string_dtype(dt) is not None or dt.kind in "SO" else dt.name


def file_objects(f):
    """(kind, path, dtype, rank, h5 object) of every group, dataset and attribute of a file."""
    out = []

    def visit(path, obj):
        if isinstance(obj, h5py.Dataset):
            out.append((rs.DATASET, path, dtype_name(obj.dtype), obj.ndim, obj))
        else:
            out.append((rs.GROUP, path, None, None, obj))
        for a in obj.attrs:
            if isinstance(obj, h5py.Dataset) and a in H5DS_ATTRS:
                continue
            aid = obj.attrs.get_id(a)
            out.append((rs.ATTRIBUTE, f"{path}@{a}", dtype_name(aid.dtype), len(aid.shape or ()), None))

    visit("/", f)
    f.visititems(lambda name, obj: visit("/" + name, obj))
    return out


def rank_of(entry):
    return len(entry.dims.split(",")) if entry.dims else 0


def check_file(path, entries, label):
    """Every object of the file matches an entry; every always-present entry is there."""
    compiled = [(e, pattern(e.path), e.path.count("{")) for e in entries]
    assigned = {}  # concrete path -> entry
    with h5py.File(path, "r") as f:
        objects = file_objects(f)
        for kind, p, dtype, rank, obj in objects:
            cands = [(n, e) for e, rx, n in compiled if e.kind == kind and rx.match(p)]
            if not cands:
                check(False, f"{label}: {kind} {p} is not in the schema")
                continue
            best = min(n for n, _ in cands)
            cands = [e for n, e in cands if n == best]
            fits = [e for e in cands if e.dtype == dtype and (kind == rs.GROUP or rank_of(e) == rank)]
            e = (fits or cands)[0]
            assigned[p] = e
            check(bool(fits), f"{label}: {p} is {dtype} of rank {rank}; the schema says {e.dtype} ({e.dims})")
        # dimension scales: each scale attached to dimension i is named by the entry's dims
        for kind, p, dtype, rank, obj in objects:
            if kind != rs.DATASET or p not in assigned or "DIMENSION_LIST" not in obj.attrs:
                continue
            dims = assigned[p].dims.split(",")
            for i in range(min(obj.ndim, len(dims))):
                for scale in obj.dims[i].values():
                    se = assigned.get(scale.name)
                    check(se is not None and se.dims == dims[i],
                          f"{label}: {p} dimension {i} ({dims[i]}) has the scale {scale.name} ({se.dims if se else '?'})")
        present = {}
        for p, e in assigned.items():
            present.setdefault(e.path, []).append(p)
        paths = {e.path for e in entries}
        for e in entries:
            parent = parent_of(e.path)
            check(parent is None or parent in paths, f"{label}: the parent of {e.path} is in the schema")
            if e.when is not None:
                continue
            if parent is None:
                check(e.path in present, f"{label}: {e.path} is present")
                continue
            for inst in present.get(parent, []):
                check(any(parent_of(c) == inst for c in present.get(e.path, [])),
                      f"{label}: {e.kind} {e.path} is missing under {inst} (it is in every file)")
    return assigned


def real_files(tmp):
    run = os.path.join(tmp, "run.h5")
    tiny = ["--set", "model.n_layer=1", "--set", "model.d_model=32", "--set", "model.head_dim=8",
            "--set", "train.warmup=1", "--set", "train.eval_batches=1"]
    dint("train", "--variant", "dint", "--data", "sotu:0.5,needle:0.3,icl:wordnet-noun:0.2", "--out", run, *tiny,
         "--set", "train.steps=3", "--set", "train.seq_len=128", "--set", "train.batch_size=2",
         "--set", "train.eval_every=3", "--set", "train.audit_every=2")
    dint("eval", "needle", "--run", run, "--needles", "1:1,2:2", "--lengths", "256", "--depths", "0,1", "--samples", "2")
    dint("eval", "ppl", "--run", run, "--window", "256", "--max-docs", "1")
    dint("eval", "ppl", "--run", run, "--window", "256", "--max-docs", "1", "--precision", "q8")
    dint("eval", "icl", "--run", run, "--dataset", "wordnet-noun", "--shots", "0,1", "--episodes", "2",
         "--orders", "2", "--context", "512")
    dint("audit", "--run", run, "--samples", "1", "--seq", "64")
    init = os.path.join(tmp, "init.h5")
    dint("train", "--variant", "dint", "--data", "sotu", "--init-from", run, "--out", init, *tiny,
         "--set", "train.steps=1", "--set", "train.seq_len=64", "--set", "train.batch_size=1",
         "--set", "train.eval_every=1")
    grid = os.path.join(tmp, "grid.ini")
    with open(grid, "w") as g:
        g.write("[grid]\nvariants = transformer, diff\nseeds = 1\ndata = sotu\nbaseline = transformer\n[train]\n"
                "model.n_layer = 1\nmodel.d_model = 32\nmodel.head_dim = 8\ntrain.steps = 1\ntrain.seq_len = 32\n"
                "train.batch_size = 1\ntrain.eval_every = 1\ntrain.eval_batches = 1\ntrain.warmup = 1\n")
    dint("sweep", grid, "--out", os.path.join(tmp, "sweep"))
    return run, init, os.path.join(tmp, "sweep", "summary.h5")


def check_real_files():
    with tempfile.TemporaryDirectory() as tmp:
        run, init, summary = real_files(tmp)
        got = check_file(run, rs.RUN_FILE, "run file")
        used = {e.path for e in got.values()}
        for group in (rs.NEEDLE, rs.PPL_CORPUS, rs.ICL_DATASET, rs.AUDIT_PRECISION, rs.AUDIT_LEAKAGE,
                      rs.RUN_TRAIN_LAMBDA, rs.RUN_TRAIN_GAMMA):
            check(group in used, f"the test's run file has {group} (so its entries were checked)")
        got = check_file(init, rs.RUN_FILE, "--init-from run file")
        check(rs.RUN_AT_INIT_FROM in {e.path for e in got.values()}, "the --init-from run has /@init_from")
        got = check_file(summary, rs.SWEEP_SUMMARY, "sweep summary")
        check(rs.SWEEP_PAIRED_DIFF_MEAN in {e.path for e in got.values()}, "the sweep summary has paired differences")
        check_digests(tmp, (run, init, summary))


def check_digests(tmp, paths):
    """(d) the Python digest (harness/report/h5digest.py) is the one dint stored, on files with
    every kind of object (evaluation groups, dimension scales, string datasets, a sweep summary);
    and an edit both see refuses the file in both."""
    for path in paths:
        with h5py.File(path, "r") as f:
            computed, stored = h5digest.digest(f)
        check(stored == f"crc32:{computed:08x}", f"{os.path.basename(path)}: Python digest {computed:08x}, stored {stored}")
    edited = os.path.join(tmp, "edited.h5")
    with open(paths[0], "rb") as f:
        data = f.read()
    old = b'"variant":\t"dint"'
    check(data.count(old) == 1, "the config's variant appears once in the run file")
    with open(edited, "wb") as f:
        f.write(data.replace(old, b'"variant":\t"diff"'))
    try:
        h5digest.open_verified(edited).close()
        check(False, "h5digest.open_verified accepts a file whose config was edited")
    except h5digest.DigestMismatch as e:
        check("do not match its digest" in str(e), f"h5digest refuses the edited file: {e}")
    r = subprocess.run([DINT, "check", edited], capture_output=True, text=True)
    check(r.returncode == 2 and "do not match its digest" in r.stderr, f"dint check refuses it too: {r.stderr.strip()}")


# ---- (c) results/README.md == schema ----------------------------------------------------------

def expand(path):
    """`/audit/<precision>/row_sum_{mean,min}` -> /audit/{precision}/row_sum_mean, .../row_sum_min."""
    m = re.search(r"\{([^}]*)\}", path)
    if not m:
        return [re.sub(r"<([^>]+)>", r"{\1}", path)]
    return [q for alt in m.group(1).split(",") for q in expand(path[:m.start()] + alt + path[m.end():])]


def readme_paths():
    """{file: set of paths} from the tables of results/README.md: the backticked paths of each
    row's first cell, under the level-2 headings "Run file ..." and "Sweep summary ..."."""
    out, file = {"run": set(), "sweep_summary": set()}, None
    with open(os.path.join(ROOT, "results", "README.md")) as fh:
        for line in fh:
            if line.startswith("## "):
                file = "run" if "Run file" in line else "sweep_summary" if "Sweep summary" in line else None
            elif file and line.startswith("| `"):
                for p in re.findall(r"`([^`]+)`", line.split("|")[1]):
                    out[file].update(expand(p))
    return out


def check_readme():
    listed = readme_paths()
    for file, entries in rs.FILES.items():
        schema = {e.path for e in entries}
        for p in sorted(listed[file] - schema):
            check(False, f"results/README.md lists {p} ({file}), which is not in the schema")
        for p in sorted(schema - listed[file]):
            check(False, f"results/README.md lacks {p} ({file})")
        check(listed[file] == schema, f"results/README.md lists the {file} schema ({len(schema)} paths)")


compare_tables()
check_readme()
check_real_files()
finish()
