#!/usr/bin/env -S /usr/bin/python3
"""The cost-to-recall map as a figure, one panel per event (recall: held-out accuracy >= 0.9;
plateau exit: >= 0.5): for each cell of the map (harness/recall_map.py) and each variant, the
Kaplan-Meier median onset in training tokens with its 95 % interval (a dot and a bar, log axis);
where fewer than half the seeds reached the event there is no median: an open triangle at the
largest censoring time marks "later than this". The seeds that reached it are written under each
marker ("3/5"). Drawn by `harness/recall_map.py --figure FILE.png`, which passes the numbers it
read from the run files; nothing is recomputed here."""
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

VARIANTS = C.VARIANT_ORDER


def panel(ax, tables, labels, what):
    """One event's medians: tables {cell: survival table or None}."""
    cells = [c for c in tables if tables[c] is not None]
    width = 0.8 / len(VARIANTS)
    for j, v in enumerate(VARIANTS):
        color = C.variant_color(v)
        for i, c in enumerate(cells):
            row = next((r for r in tables[c]["variants"] if r["variant"] == v), None)
            if row is None:
                continue
            x = i + (j - (len(VARIANTS) - 1) / 2) * width
            if math.isinf(row["median"]):
                y = row["max_censored"]
                ax.plot([x], [y], marker="^", mfc="none", color=color, ms=8,
                        label=v if i == 0 else None)
            else:
                y = row["median"]
                hi = row["median_hi"] if not math.isinf(row["median_hi"]) else (row["max_censored"] or y)
                ax.errorbar([x], [y], yerr=[[y - row["median_lo"]], [max(hi - y, 0)]], fmt="o",
                            color=color, capsize=3, label=v if i == 0 else None)
            ax.annotate(f"{row['reached']}/{row['seeds']}", (x, y), textcoords="offset points",
                        xytext=(0, -14), ha="center", fontsize=8, color=color)
    ax.set_yscale("log")
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([f"{c}\n{labels[c]}" for c in cells], fontsize=8)
    ax.set_ylabel("training tokens")
    ax.set_title(what, fontsize=10)
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)


def draw(recall, exits, labels, path):
    """recall, exits: {cell: survival table (harness/report/survival.py, tokens) or None} of the
    two events; labels: {cell: its settings in words}; path: the PNG to write."""
    if not any(t is not None for t in recall.values()):
        C.die("no finished cell to draw")
    fig, axes = C.new_figure("recall_map", ncols=2)
    panel(axes[0][0], recall, labels, "recall (held-out accuracy >= 0.9)")
    panel(axes[0][1], exits, labels, "plateau exit (accuracy >= 0.5)")
    fig.suptitle("cost to recall: Kaplan-Meier median onset in training tokens [95 % CI]; open "
                 "triangle = fewer than half the seeds reached it (at the budget); k/n = seeds "
                 "that reached it", fontsize=10)
    C.save(fig, path)
