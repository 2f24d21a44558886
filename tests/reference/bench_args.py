"""The model and step arguments both PyTorch peers take (bench_step.py, bench_fast_torch.py),
defined once. No torch import here: bench_fast_torch.py must set its thread-pool environment
before torch loads."""


def add_step_arguments(ap):
    """--variant, the shape, --threads, --steps, --warmup-steps, --g-mode, --gamma, --seed."""
    ap.add_argument("--variant", choices=("transformer", "diff", "dint"), required=True)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--ffn-dim", type=int, default=0)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=257)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup-steps", type=int, default=3, help="untimed steps first")
    ap.add_argument("--g-mode", choices=("causal", "full"), default="causal")
    ap.add_argument("--gamma", default="tied")
    ap.add_argument("--seed", type=int, default=0)


def ffn_dim(a):
    """--ffn-dim, or 0 = 8/3 d_model rounded up to a multiple of 64 (the harness default)."""
    return a.ffn_dim or -(-8 * a.d_model // (3 * 64)) * 64
