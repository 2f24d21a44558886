#!/usr/bin/env -S /usr/bin/python3
"""Multi-needle retrieval heatmaps (the DIFF paper's Figure 5): for each needle configuration
N/R one figure, one panel per run (variant), needle depth (rows) x context length (columns),
exact-match accuracy 0..1 annotated in each cell, plus an average row over depths. Also
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

GROUP = "/eval/needle"


def load(run):
    g = run.need(GROUP)
    acc = run.get(GROUP + "/accuracy")
    if acc is None or acc.ndim != 3:
        raise C.PlotError("%s: %s/accuracy is missing or not (config, length, depth)" % (run.path, GROUP))
    n_cfg = acc.shape[0]
    nn = run.get(GROUP + "/n_needles", np.arange(1, n_cfg + 1))
    nq = run.get(GROUP + "/n_queried", np.ones(n_cfg))
    lengths = run.get(GROUP + "/context_length", np.arange(acc.shape[1]))
    depths = run.get(GROUP + "/depth", np.linspace(0, 1, acc.shape[2]))
    return {
        "acc": acc.astype(float), "n": np.asarray(nn).astype(int), "r": np.asarray(nq).astype(int),
        "lengths": np.asarray(lengths, float), "depths": np.asarray(depths, float),
        "samples": C.attr_num(g, "samples_per_cell"),
        "mass_needle": run.get(GROUP + "/attention_mass_needle"),
        "mass_rest": run.get(GROUP + "/attention_mass_rest"),
    }


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


def render_config(runs, data, n, r, out):
    fig, axes = C.new_figure("needle", 1, len(runs))
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
            continue
        heatmap(ax, d, hits[0], run.label, cmap)
        for sp in ax.spines.values():
            sp.set_edgecolor(run.color)
            sp.set_linewidth(3)
        ax.title.set_color(run.color)
        if k == 0:
            ax.set_ylabel("needle depth (% of context)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=axes[0, :].tolist(), fraction=0.025, pad=0.01, label="exact-match accuracy")
    samples = sorted({int(d["samples"]) for d in data if np.isfinite(d["samples"])})
    fig.suptitle("Multi-needle retrieval: N = %d needle%s, R = %d queried; exact-match accuracy%s"
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
