#!/usr/bin/env -S /usr/bin/python3
"""In-context learning: accuracy against the number of demonstrations (shots), one panel for
random orderings and one for class-alternating orderings. The line is the mean accuracy over
orderings; the band spans the worst to the best ordering of the same demonstrations (the
permutation spread, best minus worst); dotted: chance (1 / classes).

    /usr/bin/python3 plots/icl.py RUN.h5... -o OUT.png [--dataset NAME]
"""
import os
import re
import sys
import warnings

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

GROUP = C.rs.ICL
# (accuracy, best minus worst, accuracy of each ordering) of each order of the demonstrations
ORDERS = ((C.rs.ICL_ACCURACY, C.rs.ICL_BEST_MINUS_WORST, C.rs.ICL_ORDER_ACCURACY, "random order"),
          (C.rs.ICL_ALTERNATING_ACCURACY, C.rs.ICL_ALTERNATING_BEST_MINUS_WORST, C.rs.ICL_ALTERNATING_ORDER_ACCURACY,
           "class-alternating order"))


def load(run, dataset):
    def path(p):
        return C.rs.fill(p, dataset=dataset)
    g = run.need(C.rs.icl_group(dataset))
    shots = run.get(path(C.rs.ICL_SHOTS))
    acc0 = run.get(path(C.rs.ICL_ACCURACY))
    if acc0 is None:
        raise C.missing(run.path, path(C.rs.ICL_ACCURACY))
    if shots is None:
        shots = np.arange(len(acc0))
    done = run.get(path(C.rs.ICL_DONE))
    params = str(C.attr_str(g, C.rs.name(C.rs.ICL_AT_PARAMETERS), ""))
    m = re.search(r"classes (\d+)", params)
    out = {"shots": np.asarray(shots, float), "classes": int(m.group(1)) if m else None, "params": params}
    for acc_path, bmw_path, order_path, _ in ORDERS:
        acc = run.get(path(acc_path))
        if acc is None:
            out[acc_path] = None
            continue
        acc = acc.astype(float)
        ok = np.isfinite(acc)
        if done is not None and len(done) == len(acc):
            ok &= done.astype(bool)
        oa = run.get(path(order_path))
        bmw = run.get(path(bmw_path))
        if oa is not None and oa.ndim == 2 and oa.shape[0] == len(acc):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lo, hi = np.nanmin(oa, axis=1), np.nanmax(oa, axis=1)
        elif bmw is not None:
            lo, hi = acc - bmw / 2, acc + bmw / 2
        else:
            lo = hi = acc
        out[acc_path] = {"acc": np.where(ok, acc, np.nan), "lo": np.where(ok, lo, np.nan),
                       "hi": np.where(ok, hi, np.nan),
                       "bmw": np.where(ok, bmw, np.nan) if bmw is not None else None}
    return out


def render(runs, out, dataset=None):
    dataset = C.pick_subgroup(runs, GROUP, dataset, "dataset", "dint eval icl --run %s", "--dataset")
    data = [load(r, dataset) for r in runs]
    all_shots = sorted({float(s) for d in data for s in d["shots"]})
    xpos = {s: i for i, s in enumerate(all_shots)}
    fig, axes = C.new_figure("icl", 1, 2, sharey=True)
    classes = sorted({d["classes"] for d in data if d["classes"]})
    for ax, (acc_path, _, _, title) in zip(axes[0], ORDERS):
        any_data = False
        for k, (run, d) in enumerate(zip(runs, data)):
            s = d.get(acc_path)
            if s is None:
                continue
            x = np.array([xpos[float(v)] for v in d["shots"]])
            ok = np.isfinite(s["acc"])
            if not ok.any():
                continue
            any_data = True
            bmw = ""
            if s["bmw"] is not None and np.isfinite(s["bmw"]).any():
                bmw = ", max best-worst %.2f" % np.nanmax(s["bmw"])
            ax.fill_between(x[ok], s["lo"][ok], s["hi"][ok], color=run.color, alpha=0.2, lw=0)
            ax.plot(x[ok], s["acc"][ok], color=run.color, ls=run.style, marker="o",
                    lw=C.line_width(k, len(runs)), label=run.label + bmw)
        for c in classes:
            ax.axhline(1.0 / c, color="black", ls=":", lw=1,
                       label="chance (1/%d)" % c if len(classes) == 1 else "chance 1/%d" % c)
        if not any_data:
            ax.text(0.5, 0.5, "no shots evaluated", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks(range(len(all_shots)))
        ax.set_xticklabels(["%g" % s for s in all_shots])
        ax.set_xlim(-0.3, len(all_shots) - 0.7)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("demonstrations in the prompt (shots)")
        ax.set_title("%s: mean over orderings, band = worst..best ordering" % title)
        ax.legend(loc="upper left")
    axes[0, 0].set_ylabel("accuracy (fraction of test queries)")
    fig.suptitle("In-context classification on %s%s" % (
        dataset, " (%d classes)" % classes[0] if len(classes) == 1 else ""))
    return C.save(fig, out)




main = C.render_main(__doc__, render, choice=(
    "--dataset", dict(help="the dataset under /eval/icl (default: the one all runs have)")))


if __name__ == "__main__":
    C.run_main(main)
