#!/usr/bin/env -S /usr/bin/python3
"""Render every figure whose data exists, from run files (one per variant) and an optional
sweep summary, into one directory; say which figures were skipped and why, and which runs were
left out of a figure because they lack its group.

    /usr/bin/python3 plots/make_all.py RUN.h5... [--sweep DIR/summary.h5] --out DIR

Exit status: 0 when every figure that had data was written (skips are not failures); 1 when a
figure failed; 2 when an input cannot be read.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in plots/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

import icl  # noqa: E402
import lambda_gamma  # noqa: E402
import loss  # noqa: E402
import needle  # noqa: E402
import onset  # noqa: E402
import outliers  # noqa: E402
import ppl  # noqa: E402
import precision  # noqa: E402
import rowsum  # noqa: E402
import sweep  # noqa: E402
import train_audit  # noqa: E402

S = C.rs  # the run-file schema (the lambdas below call their runs `rs`)


def plan(runs, out):
    """(figure name, group the runs need, function(runs) -> list of written paths)."""
    jobs = [
        ("loss", S.RUN_TRAIN_LOSS, lambda rs: [loss.render(rs, os.path.join(out, "loss.png"))]),
        ("onset", S.RUN_TRAIN_ONSET, lambda rs: [onset.render(rs, os.path.join(out, "onset.png"))]),
        ("lambda_gamma", S.RUN_TRAIN_LAMBDA, lambda rs: [lambda_gamma.render(rs, os.path.join(out, "lambda_gamma.png"))]),
        ("train_audit", S.RUN_TRAIN_AUDIT_STEP, lambda rs: [train_audit.render(rs, os.path.join(out, "train_audit.png"))]),
        ("needle", S.NEEDLE, lambda rs: needle.render(rs, out)),
    ]
    for corpus in C.subgroups(runs, S.PPL):
        jobs.append(("ppl_" + corpus, S.ppl_group(corpus),
                     lambda rs, c=corpus: [ppl.render(rs, os.path.join(out, "ppl_%s.png" % C.safe_name(c)), c)]))
    if not C.subgroups(runs, S.PPL):
        jobs.append(("ppl", S.PPL, None))
    for ds in C.subgroups(runs, S.ICL):
        jobs.append(("icl_" + ds, S.icl_group(ds),
                     lambda rs, d=ds: [icl.render(rs, os.path.join(out, "icl_%s.png" % C.safe_name(d)), d)]))
    if not C.subgroups(runs, S.ICL):
        jobs.append(("icl", S.ICL, None))
    jobs += [
        ("rowsum", S.AUDIT, lambda rs: [rowsum.render(rs, os.path.join(out, "rowsum.png"))]),
        ("outliers", S.audit_group("fp32"), lambda rs: [outliers.render(rs, os.path.join(out, "outliers.png"), "fp32")]),
    ]
    return jobs


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog=C.PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", metavar="RUN.h5", help="run files (one per variant)")
    p.add_argument("--sweep", metavar="SUMMARY.h5", help="sweep summary (dint sweep ... --out DIR: DIR/summary.h5)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output directory")
    a = p.parse_args(argv)
    if not a.runs and not a.sweep:
        C.die("give run files and/or --sweep SUMMARY.h5")
    runs = C.open_runs(a.runs) if a.runs else []
    if a.sweep:
        sweep.Summary(a.sweep)  # readable and a summary, or one-line error now
    os.makedirs(a.out, exist_ok=True)
    C.QUIET = True
    written, skipped, failed = [], [], []
    for name, group, fn in (plan(runs, a.out) if runs else []):
        have = [r for r in runs if r.has(group)]
        if not have or fn is None:
            h = C.hint(group, "RUN.h5")
            skipped.append("%s: no run has %s%s" % (name, group, " (%s)" % h if h else ""))
            continue
        for r in runs:
            if r not in have:
                print("note: %s: left out %s (no %s)" % (name, r.path, group))
        try:
            for path in fn(have):
                written.append(path)
                print("wrote %s" % path)
        except C.PlotError as e:
            failed.append("%s: %s" % (name, e))
        except Exception as e:  # keep going: the other figures are independent
            failed.append("%s: %s: %s" % (name, type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    if not runs:
        skipped.append("run-file figures: no run files given")
    if a.sweep:
        def draw(name, render):  # one summary figure; a failure is reported, the others still drawn
            try:
                path = render(a.sweep, os.path.join(a.out, name + ".png"))
                written.append(path)
                print("wrote %s" % path)
            except C.PlotError as e:
                failed.append("%s: %s" % (name, e))
            except Exception as e:
                failed.append("%s: %s: %s" % (name, type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
        draw("sweep", sweep.render)
        # reduced precision: only for a sweep with [eval] precisions (<metric>_at_<precision> columns)
        try:
            has_precision = precision.has_precision_columns(a.sweep)
        except C.PlotError:
            has_precision = False
        if has_precision:
            draw("precision", precision.render)
    else:
        skipped.append("sweep: no --sweep SUMMARY.h5 given")
    for s in skipped:
        print("skipped %s" % s)
    for f in failed:
        sys.stderr.write("%s: error: %s\n" % (C.PROG, f))
    print("%d figure%s written to %s, %d skipped, %d failed" % (
        len(written), "" if len(written) == 1 else "s", a.out, len(skipped), len(failed)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    C.run_main(main)
