"""Shared helpers of the dint-bench plotting scripts: import checks, one-line errors, run-file
loading, the variant colours and the fixed figure sizes.

Every script imports this module first; it checks that the system interpreter has Debian's
numpy, h5py and matplotlib and stops with one line naming the package to install otherwise.
"""
import os
import sys

PROG = "plots/" + os.path.basename(sys.argv[0] or "plots")
if PROG.endswith("/-c") or PROG == "plots/":
    PROG = "plots"

# --- import check -------------------------------------------------------------------------
for _mod, _pkg in (("numpy", "python3-numpy"), ("h5py", "python3-h5py"), ("matplotlib", "python3-matplotlib")):
    try:
        __import__(_mod)
    except ImportError as _e:  # one line, naming the Debian package
        sys.stderr.write("%s: error: cannot import %s (%s); install the Debian package %s: "
                         "apt-get install %s, and run with /usr/bin/python3\n"
                         % (PROG, _mod, str(_e).splitlines()[0] if str(_e) else "ImportError", _pkg, _pkg))
        sys.exit(1)

import json
import re
import warnings

# The run-file schema (paths of groups, datasets and attributes): harness/report/runschema.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness", "report"))
import runschema as rs  # noqa: E402
from h5digest import DigestMismatch, open_verified  # noqa: E402

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# --- figure conventions -------------------------------------------------------------------
DPI = 100
# (width, height) in inches; PNG pixels = inches x DPI (savefig without bbox_inches="tight",
# so the pixel size never depends on the content).
SIZES = {
    "needle": (15.0, 9.0),          # 1500 x 900 (heatmaps over rates-vs-depth panels)
    "needle_attention": (12.0, 5.0),  # 1200 x 500
    "ppl": (13.0, 5.0),             # 1300 x 500
    "icl": (13.0, 5.0),             # 1300 x 500
    "loss": (13.0, 5.0),            # 1300 x 500
    "onset": (13.0, 5.0),           # 1300 x 500
    "lambda": (13.0, 6.0),          # 1300 x 600
    "rowsum": (15.0, 6.0),          # 1500 x 600
    "outliers": (15.0, 5.0),        # 1500 x 500
    "train_audit": (15.0, 5.0),     # 1500 x 500
    "sweep": (16.0, 7.0),           # 1600 x 700
    "recipe_search": (13.0, 5.0),   # 1300 x 500
    "survival": (13.0, 5.0),        # 1300 x 500
    "recall_map": (15.0, 6.0),      # 1500 x 600
}

# One colour per variant in every figure (Okabe-Ito, colour-blind safe).
# The variants and their labels come from core/variants.c (through dint schema --json).
VARIANT_ORDER = rs.VARIANTS
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
VARIANT_COLORS = {v: _PALETTE[i % len(_PALETTE)] for i, v in enumerate(VARIANT_ORDER)}
VARIANT_NAMES = dict(rs.VARIANT_LABELS)
OTHER_COLOR = "#777777"
# Extra line styles when several runs share a variant (seeds, ablations).
DUP_STYLES = ("-", "--", ":", "-.")

plt.rcParams.update({
    "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
    "figure.titlesize": 12, "axes.grid": True, "grid.alpha": 0.3, "savefig.facecolor": "white",
})


def variant_color(v):
    return VARIANT_COLORS.get(v, OTHER_COLOR)


def variant_name(v):
    return VARIANT_NAMES.get(v, v or "?")


def shade(color, t):
    """Mix a colour with white: t = 0 the colour itself, t = 1 white."""
    rgb = np.array(matplotlib.colors.to_rgb(color))
    return tuple(rgb + (1.0 - rgb) * float(t))


def line_width(k, n):
    """Thicker lines for the runs drawn first, so a curve hidden under a later one still shows."""
    return 1.4 + 1.8 * (n - 1 - k) / max(n - 1, 1)


def integer_x(ax):
    """Integer ticks on an x axis of steps."""
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def layer_shades(color, n):
    """n shades of one colour, light (layer 0) to full (last layer)."""
    if n <= 1:
        return [color]
    return [shade(color, 0.6 * (1 - i / (n - 1))) for i in range(n)]


# --- errors -------------------------------------------------------------------------------
class PlotError(Exception):
    """A user-facing problem: printed as one line `plots/x.py: error: MESSAGE`."""


def die(msg, code=2):
    sys.stderr.write("%s: error: %s\n" % (PROG, msg))
    sys.exit(code)


def note(msg):
    sys.stderr.write("%s: note: %s\n" % (PROG, msg))


def run_main(fn):
    """Call fn(); PlotError and I/O problems become one line on stderr and exit status 2
    (PLOTS_DEBUG=1 in the environment shows the traceback of the latter instead)."""
    try:
        fn()
    except PlotError as e:
        die(str(e))
    except (OSError, KeyError, ValueError) as e:
        if os.environ.get("PLOTS_DEBUG"):
            raise
        die("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "failed"))


# What to run when a group is missing.
def hint(group, path):
    p = path
    table = [
        (rs.NEEDLE, "run: dint eval needle --run %s" % p),
        (rs.PPL, "run: dint eval ppl --run %s" % p),
        (rs.ICL, "run: dint eval icl --run %s" % p),
        (rs.RUN_TRAIN_AUDIT_STEP, "train with: --set train.audit_every=N"),
        (rs.RUN_TRAIN_LAMBDA, "only DIFF and DINT runs have λ; give a diff or dint run"),
        (rs.RUN_TRAIN_ONSET, "a run file written before the retrieval onset existed"),
        (rs.RUN_TRAIN_LOSS, "it is not a training run file: dint train ... --out %s" % p),
        (rs.AUDIT, "run: dint audit --run %s" % p),
        (rs.SWEEP_CELLS, "it is not a sweep summary: dint sweep GRID.ini --out DIR writes DIR/summary.h5"),
    ]
    for g, h in table:
        if group.startswith(g):
            return h
    return None


def missing(path, group):
    h = hint(group, path)
    return PlotError("%s has no %s%s" % (path, group, " (%s)" % h if h else ""))


def _check_file(path):
    if not os.path.exists(path):
        raise PlotError("%s: no such file" % path)
    if os.path.isdir(path):
        raise PlotError("%s is a directory, not an HDF5 file" % path)
    if not h5py.is_hdf5(path):
        raise PlotError("%s is not an HDF5 file" % path)
    try:
        return open_verified(path)
    except DigestMismatch as e:
        raise PlotError(str(e))
    except OSError as e:
        raise PlotError("%s cannot be read as HDF5 (%s)" % (path, str(e).splitlines()[0]))


def attr_str(obj, name, default=""):
    v = obj.attrs.get(name, default)
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    return v


def attr_num(obj, name, default=np.nan):
    v = obj.attrs.get(name, None)
    if v is None:
        return default
    try:
        return float(np.asarray(v).ravel()[0])
    except (TypeError, ValueError):
        try:
            return float(v)
        except (TypeError, ValueError):
            return default


# --- run files ----------------------------------------------------------------------------
class Run:
    """One run file (read-only)."""

    def __init__(self, path):
        self.path = path
        self.f = _check_file(path)
        if rs.SWEEP_CELLS in self.f and rs.RUN_TRAIN not in self.f:
            raise PlotError("%s is a sweep summary, not a run file (give it to plots/sweep.py or --sweep)" % path)
        self.variant = str(attr_str(self.f, rs.name(rs.RUN_AT_VARIANT), "")) or "?"
        try:
            self.config = json.loads(attr_str(self.f, rs.name(rs.RUN_AT_CONFIG), "{}") or "{}")
        except ValueError:
            self.config = {}
        self.label = variant_name(self.variant)
        self.style = "-"
        self.stem = os.path.splitext(os.path.basename(path))[0]

    @property
    def color(self):
        return variant_color(self.variant)

    def has(self, group):
        return group.strip("/") in self.f

    def need(self, group):
        if not self.has(group):
            raise missing(self.path, group)
        return self.f[group.strip("/")]

    def get(self, name, default=None):
        name = name.strip("/")
        if name in self.f and isinstance(self.f[name], h5py.Dataset):
            return np.asarray(self.f[name][()])
        return default

    def cfg(self, section, key, default=None):
        return self.config.get(section, {}).get(key, default)

    def close(self):
        try:
            self.f.close()
        except Exception:
            pass


def open_runs(paths):
    """Open run files, sort them transformer, diff, dint (then others, in given order), and give
    each a unique label (the variant's name, plus the file name when variants repeat)."""
    runs = [Run(p) for p in paths]
    order = {v: i for i, v in enumerate(VARIANT_ORDER)}
    runs.sort(key=lambda r: order.get(r.variant, len(order)))
    counts = {}
    for r in runs:
        counts[r.variant] = counts.get(r.variant, 0) + 1
    seen = {}
    for r in runs:
        if counts[r.variant] > 1:
            k = seen.get(r.variant, 0)
            seen[r.variant] = k + 1
            r.label = "%s (%s)" % (variant_name(r.variant), r.stem)
            r.style = DUP_STYLES[k % len(DUP_STYLES)]
    return runs


def require_all(runs, group):
    """Every run must hold group: else the one-line error for the first that lacks it."""
    for r in runs:
        r.need(group)


def subgroups(runs, group):
    """Names of the subgroups of group over the runs (e.g. corpora of /eval/ppl), sorted."""
    names = set()
    for r in runs:
        if r.has(group):
            names.update(k for k, v in r.f[group.strip("/")].items() if isinstance(v, h5py.Group))
    return sorted(names)


def pick_subgroup(runs, group, wanted, what, hint_cmd, opt):
    """Choose one subgroup (corpus, dataset) of group present in every run. hint_cmd is the
    evaluation command with %s for the run path; opt its option naming the subgroup."""
    require_all(runs, group)
    if wanted:
        for r in runs:
            if not r.has(group + "/" + wanted):
                raise PlotError("%s has no %s/%s (run: %s %s %s)" % (r.path, group, wanted, hint_cmd % r.path, opt, wanted))
        return wanted
    per_run = [set(subgroups([r], group)) for r in runs]
    for r, s in zip(runs, per_run):
        if not s:
            raise PlotError("%s has an empty %s (run: %s)" % (r.path, group, hint_cmd % r.path))
    common = sorted(set.intersection(*per_run))
    if not common:
        raise PlotError("no %s is in all of %s; choose one with --%s" % (what, ", ".join(r.path for r in runs), what))
    if len(common) > 1:
        note("%ss %s; plotting %s (choose with --%s)" % (what, ", ".join(common), common[0], what))
    return common[0]


def fmt_tokens(n):
    n = float(n)
    if n >= 1024 and n % 1024 == 0:
        return "%gK" % (n / 1024)
    return "%g" % n


def new_figure(kind, nrows=1, ncols=1, **kw):
    w, h = SIZES[kind]
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), dpi=DPI, layout="constrained", squeeze=False, **kw)
    return fig, axes


QUIET = False  # make_all prints its own "wrote" lines


def save(fig, out):
    """Write fig to out as PNG: into out's .tmp.png first, then renamed, so an interrupted or
    failed write never leaves a partial out (nor the temporary file)."""
    d = os.path.dirname(out)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = (out[:-4] if out.endswith(".png") else out) + ".tmp.png"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig.savefig(tmp, dpi=DPI, format="png")
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    if not QUIET:
        print(out)
    return out


def png_size(path):
    """(width, height) from a PNG header."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s is not a PNG" % path)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def finite(x):
    x = np.asarray(x, dtype=float)
    return x[np.isfinite(x)]


def lambda_init(run, layer):
    """λ_init of a layer from the run's config (schedule 0.8 - 0.6 exp(-0.3 l), l 0-based, as in
    core/config.c), or NaN."""
    v = run.cfg("model", "lambda_init", "schedule")
    if v == "schedule" or v is None:
        return 0.8 - 0.6 * np.exp(-0.3 * layer)
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


def safe_name(s):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(s))


def base_parser(description, runs=True, outdir=False):
    import argparse
    p = argparse.ArgumentParser(prog=PROG, description=description)
    if runs:
        p.add_argument("runs", nargs="+", metavar="RUN.h5", help="run files (one per variant)")
    if outdir:
        p.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    else:
        p.add_argument("-o", "--out", required=True, metavar="OUT.png", help="output PNG")
    return p


def render_main(doc, render, outdir=False, choice=None):
    """main(argv) of a figure script whose whole job is render(runs, out), or, with
    choice = (option, add_argument keywords), render(runs, out, the option's value)."""
    def main(argv=None):
        p = base_parser(doc.split("\n\n")[0], outdir=outdir)
        if choice:
            p.add_argument(choice[0], dest="choice", **choice[1])
        a = p.parse_args(argv)
        if choice:
            render(open_runs(a.runs), a.out, a.choice)
        else:
            render(open_runs(a.runs), a.out)
    return main
