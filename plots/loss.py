#!/usr/bin/env -S /usr/bin/python3
"""Training and validation loss per variant: left, the training loss of every step (faint) and
its moving average (solid), the moving average of the needle answer loss (/train/answer_loss,
dotted, when the mixture has needle rows), loss spikes (/train/loss_spike) marked with x;
right, the validation loss at each evaluation.

    /usr/bin/python3 plots/loss.py RUN.h5... -o OUT.png [--smooth STEPS]
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

GROUP = C.rs.RUN_TRAIN_LOSS


def moving_average(y, w):
    w = max(1, min(int(w), len(y)))
    if w <= 1:
        return y
    ok = np.isfinite(y)
    c = np.cumsum(np.where(ok, y, 0.0))
    n = np.cumsum(ok)
    c = np.concatenate([[0.0], c])
    n = np.concatenate([[0], n])
    i = np.arange(len(y))
    lo = np.maximum(i - w + 1, 0)
    cnt = n[i + 1] - n[lo]
    with np.errstate(all="ignore"):
        return np.where(cnt > 0, (c[i + 1] - c[lo]) / np.maximum(cnt, 1), np.nan)


def render(runs, out, smooth=None):
    C.require_all(runs, GROUP)
    fig, axes = C.new_figure("loss", 1, 2, sharey=True)
    a0, a1 = axes[0]
    spikes_total = 0
    for k, run in enumerate(runs):
        loss = run.get(C.rs.RUN_TRAIN_LOSS).astype(float)
        step = run.get(C.rs.RUN_TRAIN_STEP, np.arange(1, len(loss) + 1)).astype(float)
        lw = C.line_width(k, len(runs))
        w = smooth if smooth else max(1, len(loss) // 50)
        a0.plot(step, loss, color=run.color, alpha=0.25, lw=0.7, ls=run.style)
        a0.plot(step, moving_average(loss, w), color=run.color, lw=lw, ls=run.style,
                label=(("%s (last step: %.3f)" % (run.label, loss[-1])) if w == 1 else
                       ("%s (mean of last %d steps: %.3f)" % (run.label, w, np.nanmean(loss[-w:]))))
                if len(loss) else run.label)
        al = run.get(C.rs.RUN_TRAIN_ANSWER_LOSS)
        if al is not None and len(al) == len(loss) and np.any(np.isfinite(al)):
            am = moving_average(al.astype(float), w)
            a0.plot(step, am, color=run.color, lw=lw, ls=":",
                    label="%s: needle answer loss (chance ~2.0; last %.3f)" % (run.label, am[-1]))
        sp = run.get(C.rs.RUN_TRAIN_LOSS_SPIKE)
        if sp is not None and len(sp) == len(loss) and np.any(sp):
            m = sp.astype(bool)
            spikes_total += int(m.sum())
            a0.plot(step[m], loss[m], "x", color=run.color, ms=8, mew=2, ls="none",
                    label="%s: %d loss spike%s" % (run.label, m.sum(), "s" if m.sum() != 1 else ""))
        vl = run.get(C.rs.RUN_TRAIN_VAL_LOSS)
        vs = run.get(C.rs.RUN_TRAIN_VAL_STEP)
        if vl is not None and len(vl):
            vs = vs if vs is not None and len(vs) == len(vl) else np.arange(len(vl))
            a1.plot(vs, vl, color=run.color, marker="o", ms=4, lw=lw, ls=run.style,
                    label="%s (final %.3f at step %d)" % (run.label, vl[-1], vs[-1]))
    a0.set_title("Training loss (faint: per step; solid: moving average%s)" % (
        "; x: loss spikes" if spikes_total else ""))
    a1.set_title("Validation loss (held-out text)")
    a0.set_ylabel("loss (nats/token)")
    for ax in (a0, a1):
        ax.set_xlabel("optimizer step")
        C.integer_x(ax)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right")
    toks = []
    for r in runs:
        t = r.get(C.rs.RUN_TRAIN_TOKENS)
        if t is not None and len(t):
            toks.append(int(t[-1]))
    fig.suptitle("Training curves%s" % (" (%s tokens per run)" % "/".join(
        "{:,}".format(t) for t in sorted(set(toks))) if toks else ""))
    return C.save(fig, out)


main = C.render_main(__doc__, render, choice=(
    "--smooth", dict(type=int, help="moving-average window in steps (default: steps / 50)")))


if __name__ == "__main__":
    C.run_main(main)
