#!/usr/bin/env -S /usr/bin/python3
"""Recipe search curves: the needle answer loss of every row (one recipe trained for one variant,
through its stages) against the tokens seen, in two panels sharing the x axis: all answers
(/train/answer_loss) and episodes with N >= 2 needles (/train/answer_loss_multi, with the onset
threshold /train/onset@threshold dashed). Each curve is the trailing mean over the onset window W
(/train/onset@window) within each stage: the finite values among the last W steps (fewer at a
stage's start), NaN with fewer than /train/onset@min_values of them, so a stage without needle
answers (a copy stage) draws nothing; for N >= 2 it is the stored /train/onset/smoothed, the curve
the onset is read from (harness/report/answer_curves.py). Tokens per step: train.batch_size x train.grad_accum x train.seq_len of each
stage's config. Log y axis, x in millions of tokens; one colour per recipe, a line style per
variant. harness/recipe_search.py --figure draws it for the rows of its table.

    /usr/bin/python3 plots/recipe_search.py STAGE1.h5[,STAGE2.h5...]... -o OUT.png

Each argument is one row: its stages' run files joined by commas; the row is labelled
"recipe (variant)" from the layout of harness/recipe_search.py (DIR/<recipe>/<variant>-stage<k>.h5).
"""
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
from common import np  # noqa: E402
from answer_curves import losses  # noqa: E402 (harness/report is on the path through common)

VARIANT_STYLES = {"transformer": "--", "diff": ":", "dint": "-"}


def tab20_index(i):
    """tab20's dark shades for the first 10 recipes, then its light ones: neighbours differ in hue."""
    i %= 20
    return 2 * (i % 10) + i // 10


def row_label(runs):
    """(recipe, variant) of a row from its first stage's path: DIR/<recipe>/<variant>-stage1.h5."""
    base = os.path.basename(runs[0])
    variant = base.split("-stage")[0] if "-stage" in base else os.path.splitext(base)[0]
    return os.path.basename(os.path.dirname(os.path.abspath(runs[0]))), variant


def render(rows, out):
    """rows: [(recipe, variant, [stage run files])]; writes out (PNG)."""
    recipes = list(dict.fromkeys(r for r, _, _ in rows))
    fig, axes = C.new_figure("recipe_search", 1, 2, sharex=True)
    left, right = axes[0]
    cmap = C.plt.get_cmap("tab20")
    thresholds, drawn, x_max = set(), {}, 0.0
    for k, (recipe, variant, runs) in enumerate(rows):
        c = losses(runs)
        thresholds |= c["thresholds"]
        x = c["tokens"] / 1e6
        x_max = max(x_max, float(x.max()) if len(x) else 0.0)
        style = dict(color=cmap(tab20_index(recipes.index(recipe))), label=f"{recipe} ({variant})",
                     ls=VARIANT_STYLES.get(variant, "-."), lw=C.line_width(k, len(rows)))
        for ax, y in ((left, c["smooth_all"]), (right, c["smooth_multi"])):
            y = np.where(y > 0, y, np.nan)  # log axis
            ax.plot(x, y, **style)
            drawn[ax] = drawn.get(ax, False) or bool(np.isfinite(y).any())
    for t in sorted(thresholds):
        if math.isfinite(t) and t > 0:
            right.axhline(t, color="black", lw=1, ls="--", label=f"onset threshold {t:g}")
    for ax, title in ((left, "all answers (/train/answer_loss)"),
                      (right, "episodes with N ≥ 2 needles (/train/answer_loss_multi)")):
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("tokens seen, all stages (millions)")
        ax.set_ylabel("answer loss (nats per answer token, log)")
        if not drawn.get(ax):  # fixed limits: the log axis has no value to scale to
            ax.set_ylim(0.01, 10)
            ax.text(0.5, 0.5, "no curve: fewer than W/2 needle answers in every window" if rows
                    else "no complete run", transform=ax.transAxes, ha="center", va="center", color=C.OTHER_COLOR)
    left.set_xlim(0, x_max or 1)  # shared with the right panel
    handles, labels = right.get_legend_handles_labels()
    if handles:
        right.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                     ncol=1 + (len(handles) - 1) // 28)
    fig.suptitle("Needle answer loss against tokens seen (trailing mean over the onset window within each stage)")
    return C.save(fig, out)


def main(argv=None):
    p = C.base_parser(__doc__.split("\n\n")[0], runs=False)
    p.add_argument("rows", nargs="+", metavar="STAGE1.h5[,STAGE2.h5...]", help="one row per argument")
    a = p.parse_args(argv)
    rows = []
    for arg in a.rows:
        runs = [r for r in arg.split(",") if r]
        for r in runs:
            C.Run(r)  # one line for a missing, damaged or foreign file
        rows.append((*row_label(runs), runs))
    render(rows, a.out)


if __name__ == "__main__":
    C.run_main(main)
