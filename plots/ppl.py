#!/usr/bin/env -S /usr/bin/python3
"""Long-context NLL by position (the DIFF paper's long-context curve): left, the mean NLL of
the token at each position of the test documents' first window (faint: raw; solid: mean over
log-spaced position bins); right, its cumulative mean. Log x axis, one colour per variant, a
vertical line at the training length.

    /usr/bin/python3 plots/ppl.py RUN.h5... -o OUT.png [--corpus NAME]
"""
import os
import sys
import warnings

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

GROUP = C.rs.PPL


def binned(pos, y, n_bins=48):
    """Mean of y over log-spaced bins of position (bins without finite values dropped)."""
    ok = np.isfinite(y) & (pos > 0)
    pos, y = pos[ok], y[ok]
    if len(pos) < 2:
        return pos, y
    edges = np.unique(np.floor(np.logspace(0, np.log10(pos.max() + 1), n_bins)).astype(int))
    idx = np.digitize(pos, edges)
    xs, ys = [], []
    for b in np.unique(idx):
        m = idx == b
        xs.append(np.exp(np.mean(np.log(pos[m]))))
        ys.append(np.mean(y[m]))
    return np.array(xs), np.array(ys)


def load(run, corpus):
    rs = C.rs

    def path(p):
        return rs.fill(p, corpus=corpus)

    def attr(p, *default):
        return C.attr_num(g, rs.name(p), *default)
    g = run.need(rs.ppl_group(corpus))
    nll = run.get(path(rs.PPL_NLL_BY_POSITION))
    if nll is None:
        raise C.missing(run.path, path(rs.PPL_NLL_BY_POSITION))
    cum = run.get(path(rs.PPL_CUMULATIVE_NLL))
    pos = run.get(path(rs.PPL_POSITION), np.arange(1, len(nll) + 1))
    docs = run.get(path(rs.PPL_DOCUMENTS_AT_POSITION))
    nll = nll.astype(float)
    if cum is None:
        ok = np.isfinite(nll)
        cum = np.cumsum(np.where(ok, nll, 0)) / np.maximum(np.cumsum(ok), 1)
    cum = cum.astype(float)
    if docs is not None and len(docs) == len(nll):
        nll = np.where(docs > 0, nll, np.nan)
        cum = np.where(docs > 0, cum, np.nan)
    return {
        "pos": np.asarray(pos, float), "nll": nll, "cum": cum,
        "train_len": attr(rs.PPL_AT_TRAIN_SEQ_LEN, float(run.cfg("train", "seq_len", np.nan) or np.nan)),
        "ppl": attr(rs.PPL_AT_PERPLEXITY), "bpb": attr(rs.PPL_AT_BITS_PER_BYTE),
        "window": attr(rs.PPL_AT_WINDOW), "docs": attr(rs.PPL_AT_DOCUMENTS),
        "ar": attr(rs.PPL_AT_NLL_AR_HIT), "other": attr(rs.PPL_AT_NLL_OTHER),
    }


def render(runs, out, corpus=None):
    corpus = C.pick_subgroup(runs, GROUP, corpus, "corpus", "dint eval ppl --run %s", "--data")
    data = [load(r, corpus) for r in runs]
    fig, axes = C.new_figure("ppl", 1, 2)
    a0, a1 = axes[0]
    for k, (run, d) in enumerate(zip(runs, data)):
        lw = C.line_width(k, len(runs))
        a0.plot(d["pos"], d["nll"], color=run.color, alpha=0.18, lw=0.6, ls=run.style)
        bx, by = binned(d["pos"], d["nll"])
        lab = run.label
        extra = []
        if np.isfinite(d["ppl"]):
            extra.append("ppl %.2f" % d["ppl"])
        if np.isfinite(d["bpb"]):
            extra.append("%.3f bits/byte" % d["bpb"])
        if extra:
            lab += " (" + ", ".join(extra) + ")"
        a0.plot(bx, by, color=run.color, lw=lw, ls=run.style, label=lab)
        ar = ""
        if np.isfinite(d["ar"]) and np.isfinite(d["other"]):
            ar = " (AR-hit %.2f, other %.2f)" % (d["ar"], d["other"])
        a1.plot(d["pos"], d["cum"], color=run.color, lw=lw, ls=run.style, label=run.label + ar)
    lens = sorted({d["train_len"] for d in data if np.isfinite(d["train_len"])})
    for ax in (a0, a1):
        ax.set_xscale("log")
        ax.set_xlabel("position in the document (tokens, log scale)")
        for k, L in enumerate(lens):
            if len(lens) == 1:
                ax.axvline(L, color="black", ls="--", lw=1, label="training length (%d tokens)" % L)
            else:
                runs_l = [r for r, d in zip(runs, data) if d["train_len"] == L]
                ax.axvline(L, color=runs_l[0].color, ls="--", lw=1,
                           label="training length %d (%s)" % (L, ", ".join(r.label for r in runs_l)))
    a0.set_ylabel("NLL of the token at the position (nats/token)")
    a1.set_ylabel("mean NLL over positions 1..p (nats/token)")
    a0.set_title("NLL by position (faint: per position; solid: log-binned mean)")
    a1.set_title("Cumulative mean NLL")
    # Keep the noisy raw curve from flattening the binned ones.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        allv = np.concatenate([C.finite(d["nll"]) for d in data] + [np.array([np.nan])])
        allv = allv[np.isfinite(allv)]
    if len(allv) > 10:
        lo, hi = np.percentile(allv, [0.5, 99.5])
        for d in data:  # the binned curves always fit
            by = C.finite(binned(d["pos"], d["nll"])[1])
            if len(by):
                lo, hi = min(lo, by.min()), max(hi, by.max())
        pad = 0.05 * (hi - lo + 1e-9)
        a0.set_ylim(lo - pad, hi + pad)
    a0.legend(loc="upper right")
    a1.legend(loc="upper right")
    win = sorted({int(d["window"]) for d in data if np.isfinite(d["window"])})
    docs = sorted({int(d["docs"]) for d in data if np.isfinite(d["docs"])})
    fig.suptitle("Long-context NLL on the test documents of %s%s%s" % (
        corpus, ", window %s tokens" % "/".join(map(str, win)) if win else "",
        ", %s documents" % "/".join(map(str, docs)) if docs else ""))
    return C.save(fig, out)




main = C.render_main(__doc__, render, choice=(
    "--corpus", dict(help="the corpus under /eval/ppl (default: the one all runs have)")))


if __name__ == "__main__":
    C.run_main(main)
