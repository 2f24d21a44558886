#!/usr/bin/python3
"""PyTorch side of the dint-bench parity check.

    /usr/bin/python3 tests/reference/parity.py IN.h5 OUT.h5 [--dtype float64|float32]
                                               [--adam-steps 10] [--check-fast] [--threads N]

IN.h5:  root attr `config` (JSON), /model/params/<name> (float32), /parity/tokens and
        /parity/targets (integer, (B, T)).
OUT.h5 (all float64):
        /logits (B, T, V), /loss (), /grads/<name> (d mean loss / d param, unclipped),
        /lambda (n_layer), /gamma (n_layer)  (0 where not applicable),
        /adam/losses (S), /adam/lr (S), /adam/grad_norm (S)  (norm before clipping),
        /adam/params/<name> after the last of S = --adam-steps AdamW steps on the same batch;
        root attrs torch_version, dtype, impl, adam_steps, input, config.
The attention maps are materialised literally (impl "literal"). --check-fast also runs the
cheap exact form (running mean of A1 V) and fails if logits, loss or gradients disagree.
Exit status: 0 ok, 1 --check-fast disagreement, 2 bad input (one line on stderr).
"""

import argparse
import copy
import os
import sys

import numpy as np
import torch

import dint_reference as R

PROG = "parity.py"


def fail(msg, code=2):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(code)


def read_batch(path, vocab):
    import h5py

    with h5py.File(path, "r") as f:
        out = []
        for name in ("parity/tokens", "parity/targets"):
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise R.SpecError(f"{path}: no dataset /{name}")
            a = np.asarray(f[name][()])
            if a.dtype.kind not in "iu":
                raise R.SpecError(f"{path}: /{name} must be integer, got {a.dtype}")
            if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
                raise R.SpecError(f"{path}: /{name} must have shape (B, T) with B, T >= 1, got {a.shape}")
            if a.min() < 0 or a.max() >= vocab:
                raise R.SpecError(f"{path}: /{name} has values outside [0, {vocab})")
            out.append(torch.from_numpy(a.astype(np.int64)))
    if out[0].shape != out[1].shape:
        raise R.SpecError(f"{path}: /parity/tokens {tuple(out[0].shape)} and /parity/targets "
                          f"{tuple(out[1].shape)} differ in shape")
    return out


def forward_backward(model, tokens, targets):
    model.zero_grad(set_to_none=True)
    logits, loss = model(tokens, targets)
    loss.backward()
    grads = {n: (torch.zeros_like(p) if p.grad is None else p.grad.detach().clone())
             for n, p in model.named_parameters()}
    return logits.detach(), loss.detach(), grads


def max_rel_diff(a, b):
    scale = max(float(a.abs().max()), 1e-30)
    return float((a - b).abs().max()) / scale


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--adam-steps", type=int, default=10)
    ap.add_argument("--check-fast", action="store_true",
                    help="also run the cheap exact G V form and check it agrees")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    args = ap.parse_args(argv)
    if args.adam_steps < 0:
        fail("--adam-steps must be >= 0")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    try:
        model, cfg = R.load_from_h5(args.input, dtype)
        tc = R.parse_train_config(cfg)
        tokens, targets = read_batch(args.input, model.cfg.vocab_size)
    except R.SpecError as e:
        fail(str(e))
    except (OSError, KeyError) as e:
        fail(f"{args.input}: {e}")
    model.set_impl("literal")

    # ---- forward / backward of the loaded weights
    lams, gams = model.lambda_gamma_values()
    logits, loss, grads = forward_backward(model, tokens, targets)
    if not torch.isfinite(loss):
        fail(f"{args.input}: loss is not finite ({float(loss)})")

    fast_report = None
    if args.check_fast:
        fast = copy.deepcopy(model).set_impl("fast")
        f_logits, f_loss, f_grads = forward_backward(fast, tokens, targets)
        diffs = {"logits": max_rel_diff(logits, f_logits), "loss": max_rel_diff(loss, f_loss)}
        for n in grads:
            diffs["grads/" + n] = max_rel_diff(grads[n], f_grads[n])
        tol = 1e-9 if dtype == torch.float64 else 2e-3
        worst = max(diffs, key=diffs.get)
        fast_report = (diffs[worst], worst, tol)

    # ---- AdamW on the same batch
    adam_model = copy.deepcopy(model)
    opt = R.make_optimizer(adam_model, tc)
    a_loss, a_lr, a_norm = [], [], []
    for s in range(args.adam_steps):
        l, g, lr = R.train_step(adam_model, opt, tokens, targets, s, tc)
        a_loss.append(l)
        a_norm.append(g)
        a_lr.append(lr)

    # ---- write OUT.h5 (via a temp file, renamed at the end)
    import h5py

    tmp = args.output + ".tmp"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["torch_version"] = str(torch.__version__)
            f.attrs["dtype"] = args.dtype
            f.attrs["impl"] = "literal"
            f.attrs["adam_steps"] = np.int64(args.adam_steps)
            f.attrs["input"] = os.path.abspath(args.input)
            f.attrs["config"] = R.json.dumps(cfg)
            f.create_dataset("logits", data=logits.double().numpy())
            f.create_dataset("loss", data=np.float64(loss))
            for n, g in grads.items():
                f.create_dataset("grads/" + n, data=g.double().numpy())
            f.create_dataset("lambda", data=np.asarray(lams, dtype=np.float64))
            f.create_dataset("gamma", data=np.asarray(gams, dtype=np.float64))
            f.create_dataset("adam/losses", data=np.asarray(a_loss, dtype=np.float64))
            f.create_dataset("adam/lr", data=np.asarray(a_lr, dtype=np.float64))
            f.create_dataset("adam/grad_norm", data=np.asarray(a_norm, dtype=np.float64))
            for n, p in adam_model.named_parameters():
                f.create_dataset("adam/params/" + n, data=p.detach().double().numpy())
            if fast_report is not None:
                f.attrs["check_fast_max_rel_diff"] = fast_report[0]
        os.replace(tmp, args.output)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        fail(f"{args.output}: cannot write ({e})")

    print(f"{PROG}: {args.input} -> {args.output}: variant {model.cfg.variant}, {args.dtype}, "
          f"loss {float(loss):.10g}, {args.adam_steps} AdamW steps"
          + (f", last loss {a_loss[-1]:.10g}" if a_loss else ""))
    if fast_report is not None:
        d, worst, tol = fast_report
        ok = d <= tol
        print(f"{PROG}: check-fast: literal vs fast max relative difference {d:.3g} "
              f"(at {worst}, tolerance {tol:g}): {'ok' if ok else 'FAILED'}")
        if not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
