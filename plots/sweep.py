#!/usr/bin/env -S /usr/bin/python3
"""Ablation sweep summary (DIR/summary.h5 from dint sweep): one panel per metric, one row per
cell, the mean over seeds with its 95 % interval as an error bar, coloured by the cell's
variant. The baseline cell is drawn first (diamond, bold label) and its mean and interval are
carried through the panel as a dashed line and a grey band; stars give the paired t-test
against the baseline (/paired/<cell>/<metric>_p_value): * p < 0.05, ** p < 0.01, *** p < 0.001.

    /usr/bin/python3 plots/sweep.py SUMMARY.h5 -o OUT.png [--metrics a,b,...]
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

rs = C.rs
GROUP = rs.SWEEP_CELLS
KNOWN = rs.SWEEP_METRICS
LABELS = {
    "val_loss": ("Final validation loss", "nats/token"),
    "row_sum_dev_max": ("Max |row sum − expected|\n(fp32 audit)", "deviation from the expected row sum"),
    "negative_mass": ("Negative attention mass\nper row (fp32 audit)", "sum of negative weights per row"),
    "loss_spikes": ("Loss spikes\nduring training", "spikes per run (count)"),
    "needle_accuracy": ("Needle retrieval\naccuracy", "exact-match rate (mean over cells)"),
    "retrieval_onset": ("Retrieval onset\n(censored: last step)", "optimizer step"),
    "onset_censored": ("Runs without onset", "share of seeds censored"),
}


def scalar(g, name):
    if name in g:
        try:
            return float(np.asarray(g[name][()]).ravel()[0])
        except (TypeError, ValueError, IndexError):
            return np.nan
    return np.nan


class Summary:
    def __init__(self, path):
        self.path = path
        self.f = C._check_file(path)
        if rs.SWEEP_CELLS not in self.f:
            raise C.missing(path, GROUP)
        g = self.f[rs.SWEEP_CELLS]
        self.baseline = (str(C.attr_str(self.f[rs.SWEEP_PAIRED], rs.name(rs.SWEEP_PAIRED_AT_BASELINE), ""))
                         if rs.SWEEP_PAIRED in self.f else "")
        if not self.baseline:
            self.baseline = str(C.attr_str(self.f, rs.name(rs.SWEEP_AT_BASELINE), ""))
        self.cells = []
        for name, cg in g.items():
            if not hasattr(cg, "keys"):
                continue
            self.cells.append({"name": name, "variant": str(C.attr_str(cg, rs.name(rs.SWEEP_CELL_AT_VARIANT), "")),
                               "n_seeds": C.attr_num(cg, rs.name(rs.SWEEP_CELL_AT_N_SEEDS)), "g": cg,
                               "attrs": {rs.name(k): C.attr_str(cg, rs.name(k))
                                         for k in (rs.SWEEP_CELL_AT_GAMMA, rs.SWEEP_CELL_AT_G_MODE,
                                                   rs.SWEEP_CELL_AT_HEAD_NORM, rs.SWEEP_CELL_AT_LAMBDA_INIT)}})
        if not self.cells:
            raise C.PlotError("%s has an empty /cells (run: dint sweep GRID.ini --out DIR)" % path)
        order = {v: i for i, v in enumerate(C.VARIANT_ORDER)}
        self.cells.sort(key=lambda c: (c["name"] != self.baseline, order.get(c["variant"], 9), c["name"]))
        listed = str(C.attr_str(g, rs.name(rs.SWEEP_CELLS_AT_METRICS), ""))
        metrics = [m for m in listed.split(",") if m] if listed else []
        if not metrics:
            found = set()
            for c in self.cells:
                found.update(k[:-len(rs.SWEEP_SUFFIX_MEAN)] for k in c["g"].keys() if k.endswith(rs.SWEEP_SUFFIX_MEAN))
            metrics = [m for m in KNOWN if m in found] + sorted(found - set(KNOWN))
        self.metrics = metrics

    def value(self, cell, metric, suffix):
        return scalar(cell["g"], metric + suffix)

    def paired(self, cell, metric, suffix):
        p = rs.fill(rs.SWEEP_PAIRED_CELL, cell=cell["name"])
        if p not in self.f:
            return np.nan
        return scalar(self.f[p], metric + suffix)


def stars(p):
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def render(path, out, metrics=None):
    s = Summary(path)
    if metrics:
        bad = [m for m in metrics if m not in s.metrics]
        if bad:
            raise C.PlotError("%s has no metric %s (it has %s)" % (path, ", ".join(bad), ", ".join(s.metrics)))
        s.metrics = metrics
    if not s.metrics:
        raise C.PlotError("%s has no <metric>_mean datasets under /cells" % path)
    n = len(s.cells)
    fig, axes = C.new_figure("sweep", 1, len(s.metrics), sharey=True)
    ys = np.arange(n)[::-1]  # first cell at the top
    base = next((c for c in s.cells if c["name"] == s.baseline), None)
    for ax, m in zip(axes[0], s.metrics):
        title, unit = LABELS.get(m, (m.replace("_", " "), ""))
        means = np.array([s.value(c, m, rs.SWEEP_SUFFIX_MEAN) for c in s.cells])
        lo = np.array([s.value(c, m, rs.SWEEP_SUFFIX_CI_LOW) for c in s.cells])
        hi = np.array([s.value(c, m, rs.SWEEP_SUFFIX_CI_HIGH) for c in s.cells])
        fin = np.concatenate([means[np.isfinite(means)], lo[np.isfinite(lo)], hi[np.isfinite(hi)]])
        logx = len(fin) > 1 and np.all(fin > 0) and fin.max() / fin.min() > 100
        if base is not None:
            bm, bl, bh = (s.value(base, m, w) for w in (rs.SWEEP_SUFFIX_MEAN, rs.SWEEP_SUFFIX_CI_LOW, rs.SWEEP_SUFFIX_CI_HIGH))
            if np.isfinite(bl) and np.isfinite(bh) and (not logx or bl > 0):
                ax.axvspan(bl, bh, color="#cccccc", alpha=0.5, lw=0, label="baseline 95 % interval")
            if np.isfinite(bm):
                ax.axvline(bm, color="black", ls="--", lw=1, label="baseline mean")
        for i, c in enumerate(s.cells):
            y, mu = ys[i], means[i]
            col = C.variant_color(c["variant"])
            if not np.isfinite(mu):
                ax.text(0.02, y, "n/a", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color="#777777")
                continue
            err = None
            if np.isfinite(lo[i]) and np.isfinite(hi[i]) and (not logx or lo[i] > 0):
                err = [[max(mu - lo[i], 0)], [max(hi[i] - mu, 0)]]
            is_base = base is not None and c is base
            ax.errorbar([mu], [y], xerr=err, fmt="D" if is_base else "o", color=col, ms=8 if is_base else 6,
                        mec="black", mew=0.6, capsize=4, lw=1.8)
            st = stars(s.paired(c, m, rs.SWEEP_SUFFIX_P_VALUE))
            if st:
                xr = hi[i] if err is not None else mu
                ax.annotate(st, (xr, y), xytext=(4, -1), textcoords="offset points", va="center", fontsize=11,
                            color="black", fontweight="bold")
        if logx:
            ax.set_xscale("log")
        elif len(fin) and (0 < np.abs(fin).max() < 1e-2 or np.abs(fin).max() >= 1e5):
            ax.xaxis.set_major_formatter(C.matplotlib.ticker.FuncFormatter(lambda v, _: "%.2g" % v))
        if not np.isfinite(means).any():
            ax.text(0.5, 0.5, "no data\n(not evaluated in this sweep)", ha="center", va="center",
                    transform=ax.transAxes, color="#777777")
        ax.set_title(title if "\n" in title else title + "\n", fontsize=10)
        ax.set_xlabel(unit)
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.15)
    ax0 = axes[0, 0]
    ax0.set_yticks(ys)
    labels = []
    for c in s.cells:
        ns = c["n_seeds"]
        labels.append("%s%s%s" % (c["name"], " (n=%d)" % ns if np.isfinite(ns) else "",
                                  "  [baseline]" if c is base else ""))
    ax0.set_yticklabels(labels)
    for t, c in zip(ax0.get_yticklabels(), s.cells):
        t.set_color(C.variant_color(c["variant"]))
        if c is base:
            t.set_fontweight("bold")
    ax0.set_ylim(-0.7, n - 0.3)
    if base is not None:
        ax0.legend(loc="lower left", fontsize=7)
    seeds = sorted({int(c["n_seeds"]) for c in s.cells if np.isfinite(c["n_seeds"])})
    fig.suptitle("Sweep %s: mean over %s seed%s with 95 %% t interval per cell; %s" % (
        os.path.basename(os.path.dirname(os.path.abspath(path))) or path, "/".join(map(str, seeds)) or "?",
        "" if seeds == [1] else "s",
        "stars: paired t-test against baseline %s (* p<0.05, ** p<0.01, *** p<0.001)" % s.baseline
        if base is not None else "no baseline"))
    return C.save(fig, out)


def main(argv=None):
    p = C.base_parser(__doc__.split("\n\n")[0], runs=False)
    p.add_argument("summary", metavar="SUMMARY.h5", help="sweep summary (dint sweep ... --out DIR: DIR/summary.h5)")
    p.add_argument("--metrics", help="comma-separated metrics (default: all in the file)")
    a = p.parse_args(argv)
    render(a.summary, a.out, a.metrics.split(",") if a.metrics else None)


if __name__ == "__main__":
    C.run_main(main)
