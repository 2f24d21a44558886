#!/usr/bin/env -S /usr/bin/python3
"""Reduced-precision attention in a sweep summary (DIR/summary.h5 from dint sweep with
`[eval] precisions = ...`): one metric against the attention's bits (fp32 32, bf16 and fp16 16,
q8 8, q6 6, q4 4; bf16 and fp16 side by side at 16, told apart by the marker), one line per cell
coloured by its variant, each point the mean over the cell's seeds (/cells/<cell>/per_seed, the
columns <metric> and <metric>_at_<precision>) with its 95 % t interval (none for one seed). Below,
on the same x axis and a log y axis, the audit's largest |row sum - expected|
(row_sum_dev_max[_at_<precision>]) per cell, when the summary has it.

    /usr/bin/python3 plots/precision.py SUMMARY.h5 -o OUT.png [--metric NAME] [--cells a,b,...] [--change]

With --change the upper panel shows each seed's change from its own fp32 value instead (mean and
95 % t interval of the paired differences): seeds differ by more than precision moves a metric.

The default metric is the first of ppl_nll, recall_accuracy, needle_accuracy, icl_accuracy_many
that has data at a reduced precision. A precision the summary lacks is left out. Bad input (a
missing file, not a summary, an unknown metric or cell, no <metric>_at_<precision> column at
all) is one line `plots/precision.py: error: ...` and exit status 1 (2 for a usage error).
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

try:
    from scipy import stats as _stats
except ImportError as _e:  # one line, naming the Debian package, as common.py does
    sys.stderr.write("%s: error: cannot import scipy (%s); install the Debian package python3-scipy: "
                     "apt-get install python3-scipy, and run with /usr/bin/python3\n"
                     % (C.PROG, str(_e).splitlines()[0] if str(_e) else "ImportError"))
    sys.exit(1)

rs = C.rs
# (precision, bits, x offset in log2 units so bf16 and fp16 do not overlap (the axis is reversed:
# + is left), marker)
PRECISIONS = (("fp32", 32, 0.0, "o"), ("bf16", 16, 0.1, "s"), ("fp16", 16, -0.1, "^"),
              ("q8", 8, 0.0, "o"), ("q6", 6, 0.0, "o"), ("q4", 4, 0.0, "o"))
DEFAULT_METRICS = ("ppl_nll", "recall_accuracy", "needle_accuracy", "icl_accuracy_many")
AUDIT_METRIC = "row_sum_dev_max"
AT = "_at_"
LABELS = {
    "ppl_nll": "perplexity evaluation: NLL (nats/token)",
    "ppl_nll_within_train": "NLL within the training length (nats/token)",
    "ppl_nll_beyond_train": "NLL beyond the training length (nats/token)",
    "recall_accuracy": "keyed recall: accuracy (dint eval recall)",
    "recall_keyed_rate": "keyed recall: keyed rate",
    "needle_accuracy": "needle retrieval: exact-match rate",
    "icl_accuracy_many": "ICL accuracy at the largest k",
    AUDIT_METRIC: "audit: max |row sum − expected|",
}
# Figure size (inches at C.DPI): with the audit panel, and without it.
SIZE = (13.0, 8.0)       # 1300 x 800
SIZE_ONE = (13.0, 5.0)   # 1300 x 500
C.SIZES.setdefault("precision", SIZE)
C.SIZES.setdefault("precision_one", SIZE_ONE)


def column(metric, precision):
    """Summary column of metric at a precision: fp32 is the metric itself."""
    return metric if precision == "fp32" else metric + AT + precision


def metric_names(f):
    """The metric names of /cells@metrics: a comma-joined string or an array of strings."""
    v = f[rs.SWEEP_CELLS].attrs.get(rs.name(rs.SWEEP_CELLS_AT_METRICS), None)
    if v is None:
        return []
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, str):
        return [m.strip() for m in v.split(",") if m.strip()]
    out = []
    for x in np.asarray(v).ravel():
        x = x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
        out += [m.strip() for m in x.split(",") if m.strip()]
    return out


def mean_ci(xs):
    """(mean, low, high, n) over the finite values: Student's t at 95 %, n - 1 degrees of
    freedom; NaN ends for n < 2."""
    xs = np.asarray(xs, dtype=float)
    xs = xs[np.isfinite(xs)]
    n = len(xs)
    if n == 0:
        return (np.nan, np.nan, np.nan, 0)
    m = float(np.mean(xs))
    if n < 2:
        return (m, np.nan, np.nan, 1)
    half = float(_stats.t.ppf(0.975, n - 1)) * float(np.std(xs, ddof=1)) / np.sqrt(n)
    return (m, m - half, m + half, n)


class Summary:
    """The cells of a sweep summary and their per-seed columns."""

    def __init__(self, path):
        self.path = path
        self.f = C._check_file(path)
        if rs.SWEEP_CELLS not in self.f:
            raise C.missing(path, rs.SWEEP_CELLS)
        self.metrics = metric_names(self.f)
        if not self.metrics:
            raise C.PlotError("%s has no %s (not a summary written by dint sweep)" % (path, rs.SWEEP_CELLS_AT_METRICS))
        self.index = {m: k for k, m in enumerate(self.metrics)}
        order = {v: i for i, v in enumerate(C.VARIANT_ORDER)}
        self.cells = []
        for name, g in self.f[rs.SWEEP_CELLS].items():
            if not hasattr(g, "keys") or rs.name(rs.SWEEP_CELL_PER_SEED) not in g:
                continue
            per = np.asarray(g[rs.name(rs.SWEEP_CELL_PER_SEED)][()], dtype=float)
            if per.ndim == 1:
                per = per[:, None] if len(self.metrics) == 1 else per[None, :]
            self.cells.append({"name": name, "variant": str(C.attr_str(g, rs.name(rs.SWEEP_CELL_AT_VARIANT), "")),
                               "per_seed": per})
        if not self.cells:
            raise C.PlotError("%s has no cell with %s (run: dint sweep GRID.ini --out DIR)"
                              % (path, rs.SWEEP_CELL_PER_SEED))
        self.cells.sort(key=lambda c: (order.get(c["variant"], len(order)), c["name"]))

    def values(self, cell, col):
        """The seeds' values of one column (empty when the summary lacks it)."""
        k = self.index.get(col)
        per = cell["per_seed"]
        if k is None or k >= per.shape[1]:
            return np.array([])
        return per[:, k]

    def has_data(self, col):
        return any(np.isfinite(self.values(c, col)).any() for c in self.cells)

    def precisions(self, metric):
        """The reduced precisions with a column for metric, in PRECISIONS order."""
        return [p for p, _, _, _ in PRECISIONS if p != "fp32" and column(metric, p) in self.index]

    def base_metrics(self):
        """Metrics that have at least one <metric>_at_<precision> column."""
        known = {p for p, _, _, _ in PRECISIONS}
        out = []
        for m in self.metrics:
            if AT in m:
                base, p = m.rsplit(AT, 1)
                if p in known and base not in out:
                    out.append(base)
        return out


def has_precision_columns(path):
    """True when the summary at path has a <metric>_at_<precision> column (make_all's guard)."""
    return bool(Summary(path).base_metrics())


def pick_metric(s, wanted):
    bases = s.base_metrics()
    if not bases:
        raise C.PlotError("%s has no <metric>_at_<precision> column (sweep with [eval] precisions = bf16, q8, ...)"
                          % s.path)
    if wanted:
        if wanted not in s.metrics and wanted not in bases:
            raise C.PlotError("%s has no metric %s (with precisions: %s)" % (s.path, wanted, ", ".join(bases)))
        if wanted not in bases:
            raise C.PlotError("%s has no %s_at_<precision> column (with precisions: %s)"
                              % (s.path, wanted, ", ".join(bases)))
        return wanted
    for m in DEFAULT_METRICS:
        if m in bases and any(s.has_data(column(m, p)) for p in s.precisions(m)):
            return m
    for m in bases:
        if m != AUDIT_METRIC and any(s.has_data(column(m, p)) for p in s.precisions(m)):
            return m
    raise C.PlotError("%s: no metric has data at a reduced precision (columns %s are all NaN)"
                      % (s.path, ", ".join(column(m, p) for m in bases for p in s.precisions(m))))


def xpos(p, k, n):
    """x of precision p for the k-th of n cells: log2(bits) plus the bf16/fp16 offset plus a
    small spread of the cells so their error bars do not hide each other."""
    bits, off = next((b, o) for q, b, o, _ in PRECISIONS if q == p)
    spread = 0.025 * (k - (n - 1) / 2) if n > 1 else 0.0
    return np.log2(bits) + off + spread


def draw(ax, s, metric, styles, log=False, change=False):
    """One line per cell: mean and 95 % t interval at each precision with data (change: of the
    per-seed difference from the seed's fp32 value, paired). Returns the number of points drawn."""
    points = 0
    n = len(s.cells)
    for k, c in enumerate(s.cells):
        col = C.variant_color(c["variant"])
        xs, ys = [], []
        for p, _, _, marker in PRECISIONS:
            cname = column(metric, p)
            if cname not in s.index:
                continue
            v = s.values(c, cname)
            if change:
                base = s.values(c, metric)
                v = v - base if v.size == base.size else np.array([])
            m, lo, hi, nn = mean_ci(v)
            if not np.isfinite(m) or (log and m <= 0):
                continue
            x = xpos(p, k, n)
            err = None
            if nn >= 2 and np.isfinite(lo) and np.isfinite(hi):
                low = max(m - lo, 0.0) if (not log or lo > 0) else 0.0  # log axis: cut at 0
                err = [[low], [max(hi - m, 0.0)]]
            ax.errorbar([x], [m], yerr=err, fmt=marker, color=col, ms=7, mec="black", mew=0.6, capsize=4, lw=1.4)
            xs.append(x)
            ys.append(m)
            points += 1
        if xs:
            ax.plot(xs, ys, styles[k], color=col, lw=1.6, label="%s (n=%d)" % (c["name"], c["per_seed"].shape[0]))
    if log and points:
        ax.set_yscale("log")
    return points


def render(path, out, metric=None, cells=None, change=False):
    s = Summary(path)
    if cells:
        names = {c["name"] for c in s.cells}
        bad = [c for c in cells if c not in names]
        if bad:
            raise C.PlotError("%s has no cell %s (it has %s)" % (path, ", ".join(bad), ", ".join(sorted(names))))
        s.cells = [c for c in s.cells if c["name"] in cells]
    metric = pick_metric(s, metric)
    audit = AUDIT_METRIC in s.index and any(s.has_data(column(AUDIT_METRIC, p))
                                            for p, _, _, _ in PRECISIONS if column(AUDIT_METRIC, p) in s.index)
    if not audit:
        C.note("%s has no audit metric (%s[_at_<precision>]); the row-sum panel is left out" % (path, AUDIT_METRIC))
    # line styles: a second cell of one variant gets another style (as run files do)
    seen, styles = {}, []
    for c in s.cells:
        k = seen.get(c["variant"], 0)
        seen[c["variant"]] = k + 1
        styles.append(C.DUP_STYLES[k % len(C.DUP_STYLES)])
    if audit:
        fig, axes = C.new_figure("precision", 2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    else:
        fig, axes = C.new_figure("precision_one", 1, 1)
    ax = axes[0, 0]
    if not draw(ax, s, metric, styles, change=change):
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#777777")
    label = LABELS.get(metric, metric.replace("_", " "))
    if change:
        ax.axhline(0.0, color="#999999", lw=0.8, zorder=0)
        label = "change from fp32, paired by seed:\n" + label
    ax.set_ylabel(label)
    ax.legend(loc="best", fontsize=8)
    if audit:
        ax2 = axes[1, 0]
        if not draw(ax2, s, AUDIT_METRIC, styles, log=True):
            ax2.text(0.5, 0.5, "no positive values", ha="center", va="center", transform=ax2.transAxes,
                     color="#777777")
        ax2.set_ylabel(LABELS[AUDIT_METRIC] + "\n(log; a bar reaching 0 is cut)")
    bottom = axes[-1, 0]
    used = [p for p, _, _, _ in PRECISIONS
            if p == "fp32" or p in s.precisions(metric) or (audit and p in s.precisions(AUDIT_METRIC))]
    ticks = {}
    for p, bits, _, _ in PRECISIONS:
        if p in used:
            ticks.setdefault(bits, []).append(p)
    tx = sorted(ticks, reverse=True)
    bottom.set_xticks([np.log2(b) for b in tx])
    bottom.set_xticklabels(["%d bits\n%s" % (b, "/".join(ticks[b])) for b in tx])
    lo_x, hi_x = np.log2(min(tx)), np.log2(max(tx))
    bottom.set_xlim(hi_x + 0.35, lo_x - 0.35)  # decreasing bits to the right
    both16 = "bf16" in used and "fp16" in used
    bottom.set_xlabel("attention precision (bits, log scale%s)" % ("; at 16: bf16 ■ left, fp16 ▲ right" if both16 else ""))
    for a in axes[:, 0]:
        a.grid(axis="x", visible=False)
    seeds = sorted({c["per_seed"].shape[0] for c in s.cells})
    fig.suptitle("Reduced-precision attention, %s: mean over n = %s seed%s per cell with 95 %% t interval" % (
        os.path.basename(os.path.dirname(os.path.abspath(path))) or path, "/".join(map(str, seeds)),
        "" if seeds == [1] else "s"))
    return C.save(fig, out)


def main(argv=None):
    p = C.base_parser(__doc__.split("\n\n")[0], runs=False)
    p.add_argument("summary", metavar="SUMMARY.h5", help="sweep summary (dint sweep ... --out DIR: DIR/summary.h5)")
    p.add_argument("--metric", help="metric to plot (default: the first of %s with data)" % ", ".join(DEFAULT_METRICS))
    p.add_argument("--cells", help="comma-separated cells (default: all)")
    p.add_argument("--change", action="store_true",
                   help="plot each seed's change from its own fp32 value (paired), not the value")
    a = p.parse_args(argv)
    render(a.summary, a.out, a.metric, [c for c in a.cells.split(",") if c] if a.cells else None, a.change)


def run(fn):
    """common.run_main with exit status 1 for bad input (argparse's usage errors stay 2)."""
    try:
        fn()
    except C.PlotError as e:
        C.die(str(e), 1)
    except (OSError, KeyError, ValueError) as e:
        if os.environ.get("PLOTS_DEBUG"):
            raise
        C.die("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "failed"), 1)


if __name__ == "__main__":
    run(main)
