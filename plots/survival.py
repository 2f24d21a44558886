#!/usr/bin/env -S /usr/bin/python3
"""Onset of recall over seeds as time-to-event: per variant the Kaplan-Meier step curve of the
share of runs not yet recalled, S, against tokens seen (or steps, or seconds), its 95 % band
(log-log) shaded, each censored run (never recalled by its last step) marked "+" on the curve at
its censoring time; the legend gives the runs that reached recall and the median onset with its
95 % interval, the title the log-rank p of each pair of variants. The numbers are those of
harness/report/survival.py, from each run's /train/recall_onset.

    /usr/bin/python3 plots/survival.py RUN.h5... -o OUT.png [--unit tokens|steps|seconds]
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402
import importlib.util  # noqa: E402

# This script shares its name with harness/report/survival.py (on the path common.py sets): load
# that module by its path, so neither can shadow the other.
_spec = importlib.util.spec_from_file_location("report_survival", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness", "report", "survival.py"))
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)

XLABELS = {"tokens": "training tokens seen", "steps": "optimizer step", "seconds": "training seconds"}


def curve(km, t_end):
    """The step function S(t) from (0, 1) to t_end: x and y for a 'post' step plot, and the band
    (1 before the first event; 0 where S = 0, where the band is undefined)."""
    x = np.concatenate([[0.0], km["time"], [max(t_end, km["time"][-1] if km["time"].size else 0.0)]])
    y = np.concatenate([[1.0], km["surv"], [km["surv"][-1] if km["surv"].size else 1.0]])
    lo = np.concatenate([[1.0], km["lo"], [km["lo"][-1] if km["lo"].size else 1.0]])
    hi = np.concatenate([[1.0], km["hi"], [km["hi"][-1] if km["hi"].size else 1.0]])
    zero = y <= 0
    lo[zero], hi[zero] = 0.0, 0.0
    return x, y, lo, hi


def surv_at(km, t):
    """S just after t (the curve's value at a censoring time)."""
    i = np.searchsorted(km["time"], t, side="right")
    return 1.0 if i == 0 else float(km["surv"][i - 1])


def draw(ax, table):
    unit = table["unit"]
    for row in table["variants"]:
        km, color = row["km"], C.variant_color(row["variant"])
        x, y, lo, hi = curve(km, float(np.max(row["times"])))
        ax.fill_between(x, lo, hi, step="post", color=color, alpha=0.18, lw=0)
        label = "%s: reached %d/%d, median %s" % (C.variant_name(row["variant"]), row["reached"],
                                                   row["seeds"], S.fmt_median(row, unit))
        ax.step(x, y, where="post", color=color, lw=2, label=label)
        cens = row["times"][row["censored"]]
        if cens.size:
            ax.plot(cens, [surv_at(km, t) for t in cens], ls="none", marker="+", ms=12, mew=2,
                    color=color)
    ax.set_xlim(left=0)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel(XLABELS[unit])
    ax.set_ylabel("share of runs not yet recalled, S")
    if unit != "seconds":
        C.integer_x(ax)
    ax.legend(loc="best")
    tests = "; ".join("%s vs %s p = %.3g" % (C.variant_name(p["a"]), C.variant_name(p["b"]), p["p"])
                      for p in table["pairs"])
    event = table.get("event", "recall (the stored onset)")
    ax.set_title("Onset of %s: Kaplan-Meier, 95 %% band (log-log), + censored" % event
                 + ("\nlog-rank: " + tests if tests else ""))


def render(paths, out, unit="tokens", threshold=None):
    try:
        onsets = S.recall_onsets(paths, note=C.note, threshold=threshold)
        if not onsets:
            raise S.SurvivalError("no run file has %s (%s)" % (S.GROUP, "runs whose mixture has a recall part"))
        table = S.survival_table(onsets, unit)
        if threshold is not None:
            table["event"] = "held-out accuracy >= %g" % threshold
    except S.SurvivalError as e:
        raise C.PlotError(str(e))
    fig, axes = C.new_figure("survival", 1, 1)
    draw(axes[0][0], table)
    return C.save(fig, out)


def main(argv=None):
    p = C.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--unit", choices=tuple(S.UNITS), default="tokens", help="time axis (default tokens)")
    p.add_argument("--threshold", type=float,
                   help="the event: held-out accuracy reaching this (from the stored curve; "
                   "default: the stored onset)")
    a = p.parse_args(argv)
    if a.threshold is not None and not 0 < a.threshold <= 1:
        C.die("--threshold %g: give an accuracy in (0, 1]" % a.threshold)
    render(a.runs, a.out, a.unit, a.threshold)


if __name__ == "__main__":
    C.run_main(main)
