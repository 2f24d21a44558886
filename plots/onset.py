#!/usr/bin/env -S /usr/bin/python3
"""Retrieval onset per variant: the needle answer loss on episodes with two or more needles
(/train/answer_loss_multi, faint, per step) and its trailing mean over the onset's window
(/train/onset/smoothed, solid) on one log axis, the threshold as a dashed horizontal line, and
each run's onset (/train/onset@step): a filled circle where the smoothed loss reached the
threshold, an open triangle at the last step for a censored run (not reached). Every value is the
one dint train stored; nothing is recomputed here.

    /usr/bin/python3 plots/onset.py RUN.h5... -o OUT.png
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402

rs = C.rs
GROUP = rs.RUN_TRAIN_ONSET


def draw(ax, runs):
    """The curves, markers and threshold of every run on one axis."""
    thresholds, windows = set(), set()
    for k, r in enumerate(runs):
        g = r.need(GROUP)
        step_at = int(C.attr_num(g, rs.name(rs.RUN_TRAIN_ONSET_AT_STEP)))
        censored = int(C.attr_num(g, rs.name(rs.RUN_TRAIN_ONSET_AT_CENSORED)))
        thresholds.add(C.attr_num(g, rs.name(rs.RUN_TRAIN_ONSET_AT_THRESHOLD)))
        windows.add(int(C.attr_num(g, rs.name(rs.RUN_TRAIN_ONSET_AT_WINDOW))))
        smoothed = r.get(rs.RUN_TRAIN_ONSET_SMOOTHED, np.array([])).astype(float)
        raw = r.get(rs.RUN_TRAIN_ANSWER_LOSS_MULTI, np.full(len(smoothed), np.nan)).astype(float)
        step = r.get(rs.RUN_TRAIN_STEP, np.arange(1, len(smoothed) + 1)).astype(float)
        lw = C.line_width(k, len(runs))
        raw_ok = np.isfinite(raw) & (raw > 0)
        if raw_ok.any():
            ax.plot(step[raw_ok], raw[raw_ok], color=r.color, alpha=0.2, lw=0.6, ls=r.style)
        ok = np.isfinite(smoothed) & (smoothed > 0)
        when = ("onset at step %d" % step_at) if not censored else ("not reached by step %d" % step_at)
        ax.plot(step[ok], smoothed[ok], color=r.color, lw=lw, ls=r.style, label="%s: %s" % (r.label, when))
        # The marker sits on the smoothed curve at the onset step (censored: the last step), else
        # at the curve's last value, else at the last raw value (no full window yet).
        at = np.flatnonzero(step == step_at)
        y = smoothed[at[0]] if len(at) and ok[at[0]] else np.nan
        if np.isnan(y):
            y = smoothed[ok][-1] if ok.any() else (raw[raw_ok][-1] if raw_ok.any() else 1.0)
        if censored:
            ax.plot([step_at], [y], marker=">", ms=10, mfc="white", mec=r.color, mew=2, ls="none",
                    label="_censored %s" % r.label)
        else:
            ax.plot([step_at], [y], marker="o", ms=9, color=r.color, ls="none", label="_onset %s" % r.label)
            ax.axvline(step_at, color=r.color, lw=0.8, ls=":")
    for t in sorted(thresholds):
        if np.isfinite(t) and t > 0:
            ax.axhline(t, color="black", lw=1, ls="--", label="threshold %g nats per answer token" % t)
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("answer loss, N ≥ 2 episodes (nats per answer token, log)")
    C.integer_x(ax)
    ax.legend(loc="lower left")
    w = "/".join(str(x) for x in sorted(windows))
    ax.set_title("Retrieval onset: answer loss on episodes with N ≥ 2 needles (faint: per step; solid: "
                 "mean over the last %s steps; ● onset, ▷ censored: not reached)" % w)


def render(runs, out):
    C.require_all(runs, GROUP)
    fig, axes = C.new_figure("onset", 1, 1)
    draw(axes[0][0], runs)
    return C.save(fig, out)


main = C.render_main(__doc__, render)


if __name__ == "__main__":
    C.run_main(main)
