#!/usr/bin/env -S /usr/bin/python3
"""λ (solid) and γ (dashed, DINT) of every layer over training, one panel per layer, one
colour per variant; dotted grey: the layer's λ_init from the run's config. Transformer runs
have no λ and are left out (with a note); at least one DIFF or DINT run is needed.

    /usr/bin/python3 plots/lambda_gamma.py RUN.h5... -o OUT.png
"""
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

GROUP = C.rs.RUN_TRAIN_LAMBDA


def render(runs, out):
    have = [r for r in runs if r.has(GROUP)]
    if not have:
        raise C.missing(runs[0].path, GROUP)
    for r in runs:
        if r not in have:
            C.note("%s has no %s (%s run): left out" % (r.path, GROUP, r.variant))
    n_layer = max(r.get(GROUP).shape[1] for r in have)
    ncols = min(n_layer, 4)
    nrows = int(math.ceil(n_layer / ncols))
    fig, axes = C.new_figure("lambda", nrows, ncols, sharex=True, sharey=True)
    for l in range(nrows * ncols):
        ax = axes[l // ncols, l % ncols]
        if l >= n_layer:
            ax.set_visible(False)
            continue
        inits = set()
        for k, r in enumerate(have):
            lam = r.get(GROUP).astype(float)
            if l >= lam.shape[1]:
                continue
            step = r.get(C.rs.RUN_TRAIN_STEP, np.arange(1, lam.shape[0] + 1))
            lw = C.line_width(k, len(have))
            ax.plot(step, lam[:, l], color=r.color, lw=lw, ls=r.style, label="%s λ" % r.label)
            gam = r.get(C.rs.RUN_TRAIN_GAMMA)
            if gam is not None and l < gam.shape[1]:
                mode = r.cfg("model", "gamma", "")
                ax.plot(step, gam[:, l].astype(float), color=r.color, lw=max(1.0, lw - 0.6), ls="--",
                        label="%s γ%s" % (r.label, " (tied: = λ)" if mode == "tied" else " (%s)" % mode if mode else ""))
            li = C.lambda_init(r, l)
            if np.isfinite(li):
                inits.add(round(float(li), 6))
        for li in sorted(inits):
            ax.axhline(li, color="#888888", ls=":", lw=1.2, label="λ_init = %.3f" % li)
        ax.set_title("layer %d" % l)
        C.integer_x(ax)
        if l // ncols == nrows - 1 or l + ncols >= n_layer:
            ax.set_xlabel("optimizer step")
        if l % ncols == 0:
            ax.set_ylabel("λ, γ (dimensionless)")
        if l == 0 or len(inits) > 0:
            ax.legend(loc="best", fontsize=8)
    left = [r.label for r in runs if r not in have]
    fig.suptitle("Re-parameterised λ (solid) and γ (dashed) per layer over training%s" % (
        " (no λ: %s)" % ", ".join(left) if left else ""))
    return C.save(fig, out)


main = C.render_main(__doc__, render)


if __name__ == "__main__":
    C.run_main(main)
