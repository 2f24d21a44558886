#!/usr/bin/env -S /usr/bin/python3
"""Row sums of the final attention map: for every layer and head, the distribution over rows
of (row sum - expected row sum), drawn as a violin made from /audit/<precision>/row_sum_dev_hist
(each bin a slice whose width is its share of the rows, on the histogram's own bin scale:
half decades, symmetric around 0, so the y axis reads like a symmetric log scale). The black
tick is the median. One panel per precision (fp32, bf16, fp16), one colour per variant; within
a layer, the variants side by side, each with its heads in order.

    /usr/bin/python3 plots/rowsum.py RUN.h5... -o OUT.png
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np, plt  # noqa: E402

GROUP = C.rs.AUDIT
PRECISIONS = C.rs.AUDIT_PRECISIONS
HALF = 0.42  # half width of a violin, in head slots


def precisions(runs):
    names = C.subgroups(runs, GROUP)
    known = [p for p in PRECISIONS if p in names]
    other = [p for p in names if p not in PRECISIONS and p != C.rs.name(C.rs.AUDIT_LEAKAGE)]
    return known + other


def expected(g, n_layer):
    """Expected row sum per layer from a dataset ([layer] or [layer + 1]) or an attribute."""
    key = C.rs.name(C.rs.AUDIT_EXPECTED_ROW_SUM)
    if key in g and hasattr(g[key], "shape"):
        v = np.asarray(g[key][()], float).ravel()
    elif key in g.attrs:  # files of an earlier audit: an attribute of the same name
        v = np.asarray(g.attrs[key], float).ravel()
    else:
        return None
    if v.size == 1:
        return np.full(n_layer, float(v[0]))
    return v[:n_layer]


def load(run, prec):
    rs = C.rs
    base = rs.audit_group(prec)
    if not run.has(base):
        return None
    g = run.f[base]
    hist = run.get(rs.fill(rs.AUDIT_ROW_SUM_DEV_HIST, precision=prec))
    edges = run.get(rs.fill(rs.AUDIT_BIN_EDGES, precision=prec))
    if hist is None:
        raise C.missing(run.path, rs.fill(rs.AUDIT_ROW_SUM_DEV_HIST, precision=prec))
    if edges is None or len(edges) != hist.shape[2] + 1:
        raise C.PlotError("%s: %s is missing or not bins + 1 long" % (run.path, rs.fill(rs.AUDIT_BIN_EDGES, precision=prec)))
    dev_max = run.get(rs.fill(rs.AUDIT_ROW_SUM_DEV_MAX, precision=prec))
    return {"hist": hist.astype(float), "edges": np.asarray(edges, float), "dev_max": dev_max,
            "expected": expected(g, hist.shape[0])}


def edge_label(v):
    if np.isinf(v):
        return "−∞" if v < 0 else "+∞"
    if v == 0:
        return "0"
    e = np.log10(abs(v))
    sign = "−" if v < 0 else "+"
    if abs(e - round(e)) < 1e-6:
        return r"$%s10^{%d}$" % (sign, round(e))
    m = abs(v) / 10 ** np.floor(e)
    return r"$%s%.2g{\cdot}10^{%d}$" % (sign, m, np.floor(e))


def zero_bin(edges):
    """Index of the bin that holds 0."""
    b = int(np.searchsorted(edges, 0.0, side="right")) - 1
    return min(max(b, 0), len(edges) - 2)


def violin(ax, x, counts, color):
    tot = counts.sum()
    if tot <= 0:
        return
    nz = counts > 0
    b = np.nonzero(nz)[0]
    w = 2 * HALF * counts[nz] / counts.max()
    ax.bar(np.full(len(b), x), np.ones(len(b)), width=w, bottom=b, align="center", color=color,
           alpha=0.85, edgecolor="black", lw=0.3)
    cum = np.cumsum(counts)
    k = int(np.searchsorted(cum, tot / 2.0))
    prev = cum[k - 1] if k > 0 else 0.0
    ym = k + (tot / 2.0 - prev) / max(counts[k], 1e-300)
    ax.plot([x - HALF * 0.9, x + HALF * 0.9], [ym, ym], color="black", lw=1.5)


def render(runs, out):
    C.require_all(runs, GROUP)
    precs = precisions(runs)
    for r in runs:
        if not any(r.has(C.rs.audit_group(p)) for p in precs) or not precs:
            raise C.missing(r.path, C.rs.audit_group("fp32"))
    fig, axes = C.new_figure("rowsum", 1, len(precs))
    handles = {}
    for ax, prec in zip(axes[0], precs):
        data = [(r, load(r, prec)) for r in runs]
        data = [(r, d) for r, d in data if d is not None]
        n_layer = max(d["hist"].shape[0] for _, d in data)
        edges = data[0][1]["edges"]
        for r, d in data[1:]:
            if len(d["edges"]) != len(edges) or not np.allclose(d["edges"], edges, equal_nan=True):
                raise C.PlotError("%s: %s/%s/bin_edges differ from %s's; the violins need one bin scale"
                                  % (r.path, GROUP, prec, data[0][0].path))
        x, centres, occupied, dev_max = 0.0, [], [], 0.0
        for l in range(n_layer):
            start = x
            for r, d in data:
                if l >= d["hist"].shape[0]:
                    continue
                for h in range(d["hist"].shape[1]):
                    c = d["hist"][l, h]
                    violin(ax, x, c, r.color)
                    nz = np.nonzero(c)[0]
                    if len(nz):
                        occupied += [nz[0], nz[-1]]
                    x += 1.0
                x += 0.5
                handles[r.label] = (r.color, d["expected"])
                if d["dev_max"] is not None:
                    v = C.finite(d["dev_max"][l])
                    if len(v):
                        dev_max = max(dev_max, float(v.max()))
            centres.append((start + x - 1.5) / 2.0)
            if l < n_layer - 1:
                ax.axvline(x - 0.25 + 0.5, color="#bbbbbb", lw=0.8)
            x += 1.0
        zb = zero_bin(edges)
        lo = min(occupied + [zb]) - 0.5
        hi = max(occupied + [zb]) + 1.5
        ax.set_ylim(lo, hi)
        ax.axhspan(zb, zb + 1, color="#dddddd", alpha=0.5, zorder=0)
        # Ticks at decade edges in range (all edges when there are few), and "0" for the zero bin.
        idx = [i for i in range(len(edges)) if lo <= i <= hi]
        dec = [i for i in idx if np.isfinite(edges[i]) and edges[i] != 0
               and abs(np.log10(abs(edges[i])) - round(np.log10(abs(edges[i])))) < 1e-6]
        ticks = dec if len(dec) >= 3 else idx
        if len(ticks) > 14:
            ticks = ticks[::int(np.ceil(len(ticks) / 14))]
        ticks = [t for t in ticks if t not in (zb, zb + 1)]
        ax.set_yticks(ticks + [zb + 0.5])
        ax.set_yticklabels([edge_label(edges[t]) for t in ticks] + ["0"])
        ax.set_xticks(centres)
        ax.set_xticklabels(["layer %d" % l for l in range(n_layer)])
        ax.set_xlim(-1, x - 1)
        ax.grid(axis="x", visible=False)
        ax.set_title("%s: max |row sum − expected| = %s" % (prec, "%.3g" % dev_max if dev_max else "0"))
        ax.set_xlabel("layer (variants side by side, heads in order)")
    zb = zero_bin(edges)
    zero = ("; 0: |dev| < %s" % edge_label(abs(edges[zb + 1])).replace("+", "")) if np.isfinite(edges[zb + 1]) else ""
    axes[0, 0].set_ylabel("row sum − expected row sum (histogram bins%s)" % zero)
    from matplotlib.patches import Patch
    legend = []
    for lab, (col, exp) in handles.items():
        e = ""
        if exp is not None:
            v = C.finite(exp)
            if len(v):
                e = " (expected %s)" % ("%.4g" % v[0] if np.allclose(v, v[0]) else "%.3g..%.3g" % (v.min(), v.max()))
        legend.append(Patch(facecolor=col, edgecolor="black", label=lab + e))
    legend.append(plt.Line2D([], [], color="black", lw=1.5, label="median"))
    axes[0, -1].legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.suptitle("Row sum of the final attention map minus its expected value (1 − λ + γ), "
                 "distribution over rows per layer and head")
    return C.save(fig, out)


main = C.render_main(__doc__, render)


if __name__ == "__main__":
    C.run_main(main)
