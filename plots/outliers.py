#!/usr/bin/env -S /usr/bin/python3
"""Activation outliers (the DIFF paper's Table 5) from /audit/<precision>: grouped bars, log y,
one colour per variant. Left: attention logits |q·k/√d| (top-1, top-10, top-100: the largest
over all layers and heads; median: the median of the per-head medians). Middle: hidden states
|x| of the residual stream (top-1, top-10 over all streams; median of the per-stream medians).
Right: the outlier ratio top-1 / median of both.

    /usr/bin/python3 plots/outliers.py RUN.h5... -o OUT.png [--precision fp32]
"""
import os
import sys
import warnings

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

GROUP = C.rs.AUDIT


def stat(run, prec, path, how):
    v = run.get(C.rs.fill(path, precision=prec))
    if v is None:
        return np.nan
    v = C.finite(np.abs(v))
    if not len(v):
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(v.max() if how == "max" else np.median(v))


def load(run, prec):
    rs = C.rs
    run.need(GROUP)
    run.need(rs.audit_group(prec))
    d = {
        "logit": [("top-1", stat(run, prec, rs.AUDIT_LOGIT_TOP1, "max")),
                  ("top-10", stat(run, prec, rs.AUDIT_LOGIT_TOP10, "max")),
                  ("top-100", stat(run, prec, rs.AUDIT_LOGIT_TOP100, "max")),
                  ("median", stat(run, prec, rs.AUDIT_LOGIT_MEDIAN, "med"))],
        "hidden": [("top-1", stat(run, prec, rs.AUDIT_HIDDEN_TOP1, "max")),
                   ("top-10", stat(run, prec, rs.AUDIT_HIDDEN_TOP10, "max")),
                   ("median", stat(run, prec, rs.AUDIT_HIDDEN_MEDIAN, "med"))],
        "kurtosis": stat(run, prec, rs.AUDIT_HIDDEN_KURTOSIS, "max"),
    }
    if all(not np.isfinite(v) for _, v in d["logit"] + d["hidden"]):
        raise C.missing(run.path, rs.fill(rs.AUDIT_LOGIT_TOP1, precision=prec))
    lt, lm = d["logit"][0][1], d["logit"][3][1]
    ht, hm = d["hidden"][0][1], d["hidden"][2][1]
    with np.errstate(all="ignore"):
        d["ratio"] = [("logits", lt / lm if lm > 0 else np.nan), ("hidden states", ht / hm if hm > 0 else np.nan)]
    return d


def bars(ax, runs, data, key):
    cats = [c for c, _ in data[0][key]]
    n = len(runs)
    width = 0.8 / n
    top = 0.0
    lows = []
    for k, (r, d) in enumerate(zip(runs, data)):
        vals = np.array([v for _, v in d[key]], float)
        x = np.arange(len(cats)) - 0.4 + width * (k + 0.5)
        ok = np.isfinite(vals) & (vals > 0)
        lab = r.label
        if key == "hidden" and np.isfinite(d["kurtosis"]):
            lab += " (max kurtosis %.3g)" % d["kurtosis"]
        ax.bar(x[ok], vals[ok], width * 0.9, color=r.color, edgecolor="black", lw=0.5, label=lab,
               hatch="//" if r.style != "-" else None)
        for xi, v in zip(x[ok], vals[ok]):
            ax.text(xi, v * 1.08, "%.3g" % v, ha="center", va="bottom", fontsize=7, rotation=90 if n > 3 else 0)
        for xi, v in zip(x[~ok], vals[~ok]):
            ax.text(xi, 1.0, "n/a", ha="center", va="bottom", fontsize=7)
        if ok.any():
            top = max(top, vals[ok].max())
            lows.append(vals[ok].min())
    ax.set_yscale("log")
    if top > 0:
        lo = min(lows) if lows else top
        ax.set_ylim(lo / 3.0, top * (6.0 if n > 3 else 4.0))
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels(cats)
    ax.grid(axis="x", visible=False)


def render(runs, out, prec="fp32"):
    data = [load(r, prec) for r in runs]
    fig, axes = C.new_figure("outliers", 1, 3)
    a0, a1, a2 = axes[0]
    bars(a0, runs, data, "logit")
    bars(a1, runs, data, "hidden")
    bars(a2, runs, data, "ratio")
    a0.set_title("Attention logits q·k/√d")
    a0.set_ylabel("|logit| (log scale)")
    a0.set_xlabel("largest over layers and heads / median of head medians")
    a1.set_title("Hidden states (residual stream)")
    a1.set_ylabel("|activation| (log scale)")
    a1.set_xlabel("largest over streams / median of stream medians")
    a2.set_title("Outlier ratio top-1 / median")
    a2.set_ylabel("top-1 / median (log scale)")
    a2.set_xlabel("activation")
    for ax in (a0, a1, a2):
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle("Activation outliers (audit, %s): largest and median magnitudes" % prec)
    return C.save(fig, out)


main = C.render_main(__doc__, render, choice=(
    "--precision", dict(default="fp32", help="audit precision group (default fp32)")))


if __name__ == "__main__":
    C.run_main(main)
