#!/usr/bin/python3
"""Time one full training step (forward, backward, clip, AdamW) of the float32 PyTorch reference.

    /usr/bin/python3 tests/reference/bench_step.py --variant transformer|diff|dint
        [--n-layer 2] [--d-model 128] [--head-dim 32] [--ffn-dim 0] [--seq-len 256]
        [--batch-size 8] [--vocab 257] [--threads 2] [--steps 20] [--warmup-steps 3]
        [--impl fast|literal] [--g-mode causal|full] [--gamma tied] [--json]

Prints `torch <version> variant V threads N: <tokens/s> tok/s (median of S steps)`; with --json
also one JSON line with the same numbers. --impl fast (default) computes G V as the running mean
of the rows of A1 V (spec, "cheap exact computation"); --impl literal materialises G.
--ffn-dim 0 = 8/3 d_model rounded up to a multiple of 64 (the harness default).
"""

import argparse
import json
import statistics
import sys
import time

import torch

import dint_reference as R
from bench_args import add_step_arguments, ffn_dim


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_step.py")
    add_step_arguments(ap)
    ap.add_argument("--impl", choices=("fast", "literal"), default="fast")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.threads < 1 or a.seq_len < 1 or a.batch_size < 1:
        print("bench_step.py: error: --steps, --threads, --seq-len, --batch-size must be >= 1",
              file=sys.stderr)
        return 2
    ffn = ffn_dim(a)
    torch.set_num_threads(a.threads)
    total = a.warmup_steps + a.steps
    cfg = R.default_config(a.variant, n_layer=a.n_layer, d_model=a.d_model, head_dim=a.head_dim,
                           ffn_dim=ffn, vocab_size=a.vocab, g_mode=a.g_mode, gamma=a.gamma,
                           steps=total, warmup=max(1, a.warmup_steps),
                           batch_size=a.batch_size, seq_len=a.seq_len)
    try:
        model = R.build_model(cfg, torch.float32, seed=a.seed).set_impl(a.impl)
    except R.SpecError as e:
        print(f"bench_step.py: error: {e}", file=sys.stderr)
        return 2
    tc = R.parse_train_config(cfg)
    opt = R.make_optimizer(model, tc)
    g = torch.Generator().manual_seed(a.seed)
    times = []
    for s in range(total):
        seq = torch.randint(0, a.vocab, (a.batch_size, a.seq_len + 1), generator=g)
        x, y = seq[:, :-1], seq[:, 1:]
        t0 = time.perf_counter()
        R.train_step(model, opt, x, y, s, tc)
        dt = time.perf_counter() - t0
        if s >= a.warmup_steps:
            times.append(dt)
    med = statistics.median(times)
    tps = a.batch_size * a.seq_len / med
    print(f"torch {torch.__version__} variant {a.variant} threads {a.threads}: "
          f"{tps:.0f} tok/s (median of {a.steps} steps)")
    if a.json:
        print(json.dumps({"torch": torch.__version__, "variant": a.variant, "threads": a.threads,
                          "tokens_per_s": tps, "median_step_s": med, "steps": a.steps,
                          "impl": a.impl, "n_layer": a.n_layer, "d_model": a.d_model,
                          "head_dim": a.head_dim, "ffn_dim": ffn, "seq_len": a.seq_len,
                          "batch_size": a.batch_size, "vocab": a.vocab,
                          "params": sum(p.numel() for p in model.parameters())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
