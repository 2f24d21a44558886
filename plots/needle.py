#!/usr/bin/env -S /usr/bin/python3
"""Multi-needle retrieval heatmaps (the DIFF paper's Figure 5): for each needle configuration
N/R one figure, one panel per run (variant), needle depth (rows) x context length (columns),
exact-match accuracy 0..1 annotated in each cell, plus an average row over depths. Under the
heatmaps a row of panels (one per run) against needle depth, pooled over context lengths
(summed counts, Wilson 95 % error bars): accuracy; for N >= 2 also the keyed rate (both
questions of a key-swap pair answered right; a positional copier scores 0) and the
other-needle rate (answers that are another needle's number, over all questions incl. the
key-swap controls); and as a dashed grey reference line (like a chance line) the
position-only accuracy: at each depth the best of the scripted scorers that copy the first,
the last or the middle needle (files of needle task v3; older files show accuracy only). Also
needle_attention.png: the attention mass the answer position puts on the answer needle, per
layer (the DIFF paper's Table 3).

    /usr/bin/python3 plots/needle.py RUN.h5... -o DIR   ->  DIR/needle_N<n>_R<r>.png, DIR/needle_attention.png
"""
import os
import sys
import warnings

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402  (checks numpy, h5py, matplotlib first)
from common import np, plt  # noqa: E402

GROUP = C.rs.NEEDLE
KEYED_COLOR, OTHER_COLOR, POS_COLOR = "#CC79A7", "#D55E00", "#777777"


def wilson(k, n):
    """k/n (NaN where n = 0) and its Wilson 95 % interval (runschema.wilson) of arrays."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
    lo, hi = np.vectorize(C.rs.wilson, otypes=[float, float])(k, n)
    return p, lo, hi


def load(run):
    g = run.need(GROUP)
    acc = run.get(C.rs.NEEDLE_ACCURACY)
    if acc is None or acc.ndim != 3:
        raise C.PlotError("%s: %s is missing or not (config, length, depth)" % (run.path, C.rs.NEEDLE_ACCURACY))
    n_cfg = acc.shape[0]
    nn = run.get(C.rs.NEEDLE_N_NEEDLES, np.arange(1, n_cfg + 1))
    nq = run.get(C.rs.NEEDLE_N_QUERIED, np.ones(n_cfg))
    lengths = run.get(C.rs.NEEDLE_CONTEXT_LENGTH, np.arange(acc.shape[1]))
    depths = run.get(C.rs.NEEDLE_DEPTH, np.linspace(0, 1, acc.shape[2]))
    return {
        "acc": acc.astype(float), "n": np.asarray(nn).astype(int), "r": np.asarray(nq).astype(int),
        "lengths": np.asarray(lengths, float), "depths": np.asarray(depths, float),
        "samples": C.attr_num(g, C.rs.name(C.rs.NEEDLE_AT_SAMPLES_PER_CELL)),
        "mass_needle": run.get(C.rs.NEEDLE_ATTENTION_MASS_NEEDLE),
        "mass_rest": run.get(C.rs.NEEDLE_ATTENTION_MASS_REST),
        # integer counts (config, length, depth[, scorer]), keyed by dataset name; None in files that lack them
        **{C.rs.name(p): run.get(p) for p in COUNTS},
    }


COUNTS = (C.rs.NEEDLE_CORRECT, C.rs.NEEDLE_TOTAL, C.rs.NEEDLE_QUESTIONS, C.rs.NEEDLE_OTHER_NEEDLE, C.rs.NEEDLE_KEYED,
          C.rs.NEEDLE_KEYED_TOTAL, C.rs.NEEDLE_POSITIONAL_CORRECT)


def configs(data):
    seen = []
    for d in data:
        for n, r in zip(d["n"], d["r"]):
            if (n, r) not in seen:
                seen.append((int(n), int(r)))
    return sorted(seen)


def heatmap(ax, d, ci, title, cmap):
    acc = d["acc"][ci].T  # (depth, length)
    with warnings.catch_warnings():  # all-NaN columns: mean NaN, shown as n/a
        warnings.simplefilter("ignore")
        avg = np.nanmean(acc, axis=0)
        overall = np.nanmean(acc)
    grid = np.vstack([acc, avg[None, :]])
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    nd, nl = acc.shape
    for i in range(nd + 1):
        for j in range(nl):
            v = grid[i, j]
            if np.isfinite(v):
                txt, col = "%.2f" % v, ("white" if v < 0.2 or v > 0.85 else "black")
            else:
                txt, col = "n/a", "#555555"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8 if nl > 6 else 9, color=col,
                    fontweight="bold" if i == nd else "normal")
    ax.axhline(nd - 0.5, color="white", lw=3)
    ax.set_xticks(range(nl))
    ax.set_xticklabels([C.fmt_tokens(x) for x in d["lengths"]])
    ax.set_yticks(range(nd + 1))
    ax.set_yticklabels(["%g%%" % (100 * x) for x in d["depths"]] + ["avg"])
    ax.set_xlabel("context length (tokens)")
    ax.grid(False)
    ax.set_title("%s   (mean %s)" % (title, "%.2f" % overall if np.isfinite(overall) else "n/a"))


def by_depth(d, ci, num, den):
    """Counts (datasets num / den) of config ci summed over context lengths: (k, n) per depth, or None."""
    num, den = d[C.rs.name(num)], d[C.rs.name(den)]
    if num is None or den is None:
        return None
    return num[ci].sum(axis=0), den[ci].sum(axis=0)


def series(ax, x, kn, label, color, style, marker):
    p, lo, hi = wilson(*kn)
    ok = np.isfinite(p)
    if not ok.any():
        return
    yerr = [np.maximum(p[ok] - lo[ok], 0), np.maximum(hi[ok] - p[ok], 0)]
    ax.errorbar(x[ok], p[ok], yerr=yerr, color=color, ls=style, marker=marker, ms=5, lw=1.6, capsize=3, label=label)


def depth_panel(ax, d, ci, n, run):
    """Accuracy, keyed rate and other-needle rate vs depth, pooled over lengths, with the best
    position-only scorer as the reference line."""
    depths = d["depths"]
    x = 100 * depths
    step = (x.max() - x.min()) / max(len(x) - 1, 1) if len(x) > 1 else 10.0
    dx = 0.05 * step if n >= 2 else 0.0  # small offsets so the error bars do not hide each other
    acc = by_depth(d, ci, C.rs.NEEDLE_CORRECT, C.rs.NEEDLE_TOTAL)
    if acc is not None:
        series(ax, x - dx, acc, "accuracy", run.color, "-", "o")
    else:  # no counts: mean of the cell accuracies, no interval
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ax.plot(x, np.nanmean(d["acc"][ci], axis=0), color=run.color, marker="o", label="accuracy")
    if n >= 2:
        kk = by_depth(d, ci, C.rs.NEEDLE_KEYED, C.rs.NEEDLE_KEYED_TOTAL)
        if kk is not None:
            series(ax, x, kk, "keyed rate", KEYED_COLOR, "-.", "s")
        on = by_depth(d, ci, C.rs.NEEDLE_OTHER_NEEDLE, C.rs.NEEDLE_QUESTIONS)
        if on is not None:
            series(ax, x + dx, on, "other-needle rate", OTHER_COLOR, ":", "^")
    positional, total = d[C.rs.name(C.rs.NEEDLE_POSITIONAL_CORRECT)], d[C.rs.name(C.rs.NEEDLE_TOTAL)]
    if positional is not None and total is not None:
        pc = positional[ci].sum(axis=0)  # (depth, scorer)
        tot = total[ci].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            best = np.max(pc, axis=1) / tot
        if np.isfinite(best).any():
            ax.plot(x, best, color=POS_COLOR, ls="--", lw=1.4, marker="_", ms=14,  # marker: visible at one depth
                    label="position only (best of first/last/middle)")
    ax.set_xticks(x)
    ax.set_xticklabels(["%g%%" % v for v in x])
    ax.set_xlim(x.min() - 0.5 * step, x.max() + 0.5 * step)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("needle depth (% of context), pooled over context lengths")
    ax.set_title(run.label, color=run.color)


def render_config(runs, data, n, r, out):
    fig, axes = C.new_figure("needle", 2, len(runs), gridspec_kw={"height_ratios": [3, 2]})
    cmap = plt.get_cmap("RdYlGn").copy()
    cmap.set_bad("#dddddd")
    for k, (run, d) in enumerate(zip(runs, data)):
        ax = axes[0, k]
        hits = [i for i in range(len(d["n"])) if d["n"][i] == n and d["r"][i] == r]
        if not hits:
            ax.text(0.5, 0.5, "N=%d, R=%d\nnot evaluated" % (n, r), ha="center", va="center", transform=ax.transAxes)
            ax.set_title(run.label)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            axes[1, k].set_visible(False)
            continue
        heatmap(ax, d, hits[0], run.label, cmap)
        depth_panel(axes[1, k], d, hits[0], n, run)
        for sp in ax.spines.values():
            sp.set_edgecolor(run.color)
            sp.set_linewidth(3)
        ax.title.set_color(run.color)
        if k == 0:
            ax.set_ylabel("needle depth (% of context)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=axes[0, :].tolist(), fraction=0.025, pad=0.01, label="exact-match accuracy")
    handles, labels = {}, []
    vis = [ax for ax in axes[1, :] if ax.get_visible()]
    for ax in vis:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if vis:
        vis[0].set_ylabel("rate (Wilson 95 % bars)")
    if labels:  # one legend, in the first rate panel
        vis[0].legend([handles[lab] for lab in labels], labels, loc="best", fontsize=8, framealpha=0.85)
    samples = sorted({int(d["samples"]) for d in data if np.isfinite(d["samples"])})
    fig.suptitle("Multi-needle retrieval: N = %d needle%s, R = %d queried; exact-match accuracy, below: rates vs depth%s"
                 % (n, "s" if n != 1 else "", r,
                    " (samples per cell: %s)" % "/".join(map(str, samples)) if samples else ""))
    return C.save(fig, out)


def render_attention(runs, data, out):
    have = [(run, d) for run, d in zip(runs, data) if d["mass_needle"] is not None and d["mass_needle"].ndim == 4]
    if not have:
        return None
    fig, axes = C.new_figure("needle_attention", 1, 1)
    ax = axes[0, 0]
    n_layer = max(d["mass_needle"].shape[3] for _, d in have)
    width = 0.8 / len(have)
    for k, (run, d) in enumerate(have):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = np.nanmean(d["mass_needle"].reshape(-1, d["mass_needle"].shape[3]), axis=0)
            rest = (np.nanmean(d["mass_rest"].reshape(-1, d["mass_rest"].shape[3]), axis=0)
                    if d["mass_rest"] is not None else np.full_like(m, np.nan))
        x = np.arange(len(m)) - 0.4 + width * (k + 0.5)
        ax.bar(x, m, width * 0.9, color=run.color, label=run.label, edgecolor="black", lw=0.5)
        for xi, mi, ri in zip(x, m, rest):
            if np.isfinite(mi):
                ax.text(xi, mi, "%.3f" % mi + ("\n(rest %.2f)" % ri if np.isfinite(ri) else ""),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(n_layer))
    ax.set_xticklabels(["layer %d" % i for i in range(n_layer)])
    ax.set_ylabel("attention mass on the answer needle (fraction of the row)")
    ax.set_xlabel("layer")
    ax.set_ylim(0, max(0.05, ax.get_ylim()[1] * 1.15))
    ax.legend(loc="upper left")
    ax.set_title("Attention from the answer position to the answer needle, mean over configs, lengths, depths"
                 " and heads (DIFF paper Table 3)")
    return C.save(fig, out)


def render(runs, outdir):
    C.require_all(runs, GROUP)
    data = [load(r) for r in runs]
    outs = []
    for n, r in configs(data):
        outs.append(render_config(runs, data, n, r, os.path.join(outdir, "needle_N%d_R%d.png" % (n, r))))
    a = render_attention(runs, data, os.path.join(outdir, "needle_attention.png"))
    if a:
        outs.append(a)
    return outs


main = C.render_main(__doc__, render, outdir=True)


if __name__ == "__main__":
    C.run_main(main)
