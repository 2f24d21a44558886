#!/usr/bin/env -S /usr/bin/python3
"""Training-time diagnostics recorded every train.audit_every steps (/train/audit_step): the
largest and the mean |row sum - expected| of the final attention maps per layer, and the
gradient norm of each layer; log y, one colour per variant, lighter shades for lower layers.
Loss spikes (/train/loss_spike) are marked as vertical ticks on the gradient-norm panel.

    /usr/bin/python3 plots/train_audit.py RUN.h5... -o OUT.png
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

GROUP = C.rs.RUN_TRAIN_AUDIT_STEP
PANELS = ((C.rs.RUN_TRAIN_ROW_SUM_DEV_MAX, "Largest |row sum − expected| per layer", "max |row sum − expected|"),
          (C.rs.RUN_TRAIN_ROW_SUM_DEV_MEAN, "Mean |row sum − expected| per layer", "mean |row sum − expected|"),
          (C.rs.RUN_TRAIN_GRAD_NORM_LAYER, "Gradient norm per layer (before clipping)", "‖gradient‖₂ of the layer"))


def render(runs, out):
    C.require_all(runs, GROUP)
    fig, axes = C.new_figure("train_audit", 1, 3, sharex=True)
    n_entries = 0  # legend entries if every (run, layer) got one
    for r in runs:
        v = r.get(C.rs.RUN_TRAIN_ROW_SUM_DEV_MAX)
        n_entries += v.shape[1] if v is not None and v.ndim == 2 else 0
    per_layer_legend = n_entries <= 12
    for ax, (path, title, ylab) in zip(axes[0], PANELS):
        drawn = False
        nonpos = 0
        for k, r in enumerate(runs):
            step = r.get(GROUP).astype(float)
            v = r.get(path)
            if v is None or v.ndim != 2 or v.shape[0] != len(step):
                continue
            shades = C.layer_shades(r.color, v.shape[1])
            for l in range(v.shape[1]):
                y = v[:, l].astype(float)
                ok = np.isfinite(y) & (y > 0)
                nonpos += int((np.isfinite(y) & (y <= 0)).sum())
                if not ok.any():
                    continue
                lab = None
                if per_layer_legend:
                    lab = "%s layer %d" % (r.label, l)
                elif l == v.shape[1] - 1:
                    lab = "%s (lighter: lower layers)" % r.label
                ax.plot(step[ok], y[ok], color=shades[l], ls=r.style, marker="o" if ok.sum() < 30 else None,
                        ms=3, lw=C.line_width(k, len(runs)) - 0.4, label=lab)
                drawn = True
            if path == C.rs.RUN_TRAIN_GRAD_NORM_LAYER:
                sp = r.get(C.rs.RUN_TRAIN_LOSS_SPIKE)
                st = r.get(C.rs.RUN_TRAIN_STEP)
                if sp is not None and st is not None and len(sp) == len(st) and np.any(sp):
                    for s in st[sp.astype(bool)]:
                        ax.axvline(s, color=r.color, alpha=0.5, lw=1, ls=":")
        if drawn:
            ax.set_yscale("log")
            ax.legend(loc="best", fontsize=7, ncol=2 if per_layer_legend and n_entries > 6 else 1)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title + (" (%d values ≤ 0 not shown)" % nonpos if nonpos else ""))
        ax.set_ylabel(ylab + " (log scale)")
        ax.set_xlabel("optimizer step")
        C.integer_x(ax)
    fig.suptitle("Training diagnostics (every train.audit_every steps)")
    return C.save(fig, out)


main = C.render_main(__doc__, render)


if __name__ == "__main__":
    C.run_main(main)
