#!/usr/bin/python3
"""Fast float32 CPU PyTorch 1.13 peer of dint_reference.py, for speed comparisons.

    /usr/bin/python3 tests/reference/bench_fast_torch.py --variant transformer|diff|dint
        [--n-layer 2] [--d-model 128] [--head-dim 32] [--ffn-dim 0] [--seq-len 256]
        [--batch-size 8] [--vocab 257] [--threads 2] [--steps 20] [--warmup-steps 3]
        [--g-mode causal|full] [--gamma tied] [--seed 0] [--jit none|fns|module]
        [--flush-denormal on|off] [--omp-wait-policy passive|active|unset]
        [--malloc-tuning on|off] [--no-parity] [--json]

The same models as dint_reference.py (config from its default_config, as bench_step.py builds
it; --ffn-dim 0 = ceil(8/3 d_model / 64) * 64), written the way a PyTorch user would write them
for speed: heads batched as (B*heads, T, d); q, k, v from one fused Linear (weights [q; k; v])
and gate/up from one (weights [gate; up]), split with split()/unbind() (their backward is one
cat, not zero-filled slices); rotary (interleaved, GPT-J) as one complex multiply on q and k
together; scores as one torch.baddbmm per layer onto a precomputed additive -inf causal mask,
F.softmax; DIFF/DINT compute both maps of every head in that one baddbmm (q1/q2 and k1/k2
stacked along the head axis) and multiply both by V in one bmm (the 2T x T rows of [A1; A2]);
DINT's gamma G V term is gamma * C with C the running (causal) or plain (full) mean of the rows
of A1 V (dint_reference's "fast" impl); lambda_{q,k}{1,2} stacked in one (4, d) tensor per layer;
subln gain pre-multiplied by (1 - lambda_init); F.cross_entropy; torch.optim.AdamW(foreach=True)
with weight decay on exactly the reference's matrices; gradient clipping equal to 1.13's
clip_grad_norm_ on torch._foreach_norm/_foreach_mul_ (1.13's clip_grad_norm_ has no foreach=);
zero_grad(set_to_none=True). torch 1.13 has no scaled_dot_product_attention.

Parity before timing: the model takes the weights of R.build_model(cfg, float32, seed) (q/k/v
and gate/up concatenated), runs one forward+backward on the same batch (min(batch, 4) rows of
seq-len tokens) as the reference, and must match its loss (relative 1e-5) and every parameter
gradient (max abs diff <= 1e-4 * max abs reference gradient + 1e-6), else one line
"bench_fast_torch.py: error: parity with dint_reference failed: <tensor> ..." and exit 1.

Timing: a full training step (forward, backward, clip, lr schedule, AdamW step, zero_grad) on
fresh random tokens each step; median of --steps after --warmup-steps. Prints one line; --json
adds one JSON line (impl "torch_fast", torch, variant, threads, tokens_per_s, median_step_s,
min_step_s, steps, jit, flush_denormal, omp_wait_policy, openblas_threads, malloc_tuning,
parity = max relative gradient error, parity_tensor, parity_tol_frac, shape keys, params).
Bad arguments: one line, exit 2.

What was tried (tokens/s of dint on this 2-core shared machine; C1 = --n-layer 2 --d-model 64
--head-dim 16 --seq-len 64 --batch-size 64 --threads 2, C2 = --n-layer 2 --d-model 128
--head-dim 32 --seq-len 256 --batch-size 16 --threads 2):
  * jit and denormals, all models in one process, steps interleaved, median of 50 steps each
    (runtime settings on), C1 / C2:
        eager (none)                 52.0k (repeat 53.5k) / 17.8k (repeat 17.7k)   <- default
        set_flush_denormal(True)     52.3k / 17.7k   (no gain)
        jit fns (rms_norm, swiglu, rotary scripted)   50.0k / 17.0k   (profiling-executor
                                                      overhead, no fusion)
        jit module (whole model)     52.0k / 17.5k;  module + flush_denormal 51.7k / 17.5k
    The NNC CPU fuser that would make scripting pay is unavailable in Debian's build
    (torch._C._jit_override_can_fuse_on_cpu(True) -> "LLVM Backend not found"). As separate
    processes (medians of 4 alternating runs, noisier): none 40.0k / 19.9k, fns 36.7k / 19.3k,
    module 42.2k / 20.1k, flush_denormal 45.0k / 20.5k: all within the noise.
  * runtime settings (separate processes, medians of 4 alternating runs), C1 / C2:
        libgomp default spin + plain glibc malloc      4.7k /  7.7k
        OMP_WAIT_POLICY=PASSIVE only                  31.4k / 11.5k
        mallopt only                                   8.9k / 10.1k
        both (default)                                40.0k / 19.9k
    so both are on by default (see apply_runtime); --omp-wait-policy unset --malloc-tuning off
    gives the plain runtime that bench_step.py runs with. The mallopt above kept blocks up to
    32 MiB; also disabling mmap (M_MMAP_MAX 0, now the default) changes nothing at C1/C2 but
    takes the README config (--n-layer 6 --d-model 256 --seq-len 1024 --batch-size 4, 128 MiB
    attention maps) from ~400 to ~1300 tok/s (system time 36 s -> 11 s for 4 steps).
  * also tried, no measurable gain (in-process A/B): RMSNorm as x*x instead of pow(2); a
    hand-written autograd.Function for RMSNorm (+2% at C1, 0 at C2; not kept: not idiomatic).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

from bench_args import add_step_arguments, ffn_dim

PROG = "bench_fast_torch.py"


def err(msg, code):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return code


class _ArgParser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit 2
        print(f"{PROG}: error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv):
    ap = _ArgParser(prog=PROG, description=__doc__.split("\n")[0])
    add_step_arguments(ap)
    ap.add_argument("--jit", choices=("none", "fns", "module"), default="none",
                    help="torch.jit.script nothing, the small functions, or the whole model")
    ap.add_argument("--flush-denormal", choices=("on", "off"), default="off")
    ap.add_argument("--omp-wait-policy", choices=("passive", "active", "unset"),
                    default="passive", help="OMP_WAIT_POLICY for torch's OpenMP threads")
    ap.add_argument("--malloc-tuning", choices=("on", "off"), default="on",
                    help="glibc mallopt: keep freed tensor memory instead of unmapping it")
    ap.add_argument("--no-parity", action="store_true",
                    help="skip the gradient check against dint_reference.py")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.threads < 1 or a.seq_len < 1 or a.batch_size < 1:
        ap.error("--steps, --threads, --seq-len, --batch-size must be >= 1")
    if a.warmup_steps < 0 or a.n_layer < 1 or a.d_model < 1 or a.head_dim < 1 or a.vocab < 1:
        ap.error("--warmup-steps must be >= 0 and --n-layer, --d-model, --head-dim, --vocab >= 1")
    if a.ffn_dim < 0:
        ap.error("--ffn-dim must be >= 0 (0 = ceil(8/3 d_model / 64) * 64)")
    return a


def apply_runtime(a):
    """Process settings that must precede `import torch` (thread pools read them at load).

    Debian's torch 1.13 runs elementwise kernels on libgomp threads and float32 GEMMs in
    OpenBLAS (pthreads build), a second pool that ignores torch.set_num_threads: size it from
    --threads. libgomp's default wait policy spins after every parallel region, fighting the
    OpenBLAS workers for the same cores; passive waiting avoids that. glibc returns freed blocks
    above its mmap threshold to the kernel, so every step page-faults its activations back in;
    the mallopt calls keep them (PyTorch's CPU tuning guide suggests jemalloc/tcmalloc for the
    same reason; neither is installed here). Explicit environment settings win."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
    if a.omp_wait_policy != "unset":
        os.environ.setdefault("OMP_WAIT_POLICY", a.omp_wait_policy.upper())
    tuned = False
    if a.malloc_tuning == "on":
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            # M_TRIM_THRESHOLD (-1): keep up to 1 GiB of freed heap; M_MMAP_THRESHOLD (-3) at
            # glibc's maximum (32 MiB) and M_MMAP_MAX (-4) 0: every block from the heap, none
            # from a fresh mmap that is unmapped again on free
            tuned = all([bool(libc.mallopt(-1, 1 << 30)), bool(libc.mallopt(-3, 32 << 20)),
                         bool(libc.mallopt(-4, 0))])
        except (OSError, AttributeError):
            tuned = False
    return tuned


if __name__ == "__main__":
    ARGS = parse_args(sys.argv[1:])  # bad arguments exit 2 here, before torch loads
    MALLOC_TUNED = apply_runtime(ARGS)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dint_reference as R  # noqa: E402
from dint_reference import VARIANTS, rotary_tables  # noqa: E402


# ----------------------------------------------------------------------------- model
# TorchScript-compatible, so that --jit fns / --jit module can compile it unchanged.


def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def swiglu(gu: torch.Tensor) -> torch.Tensor:
    g, u = gu.chunk(2, -1)
    return F.silu(g) * u


def rotary(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Interleaved (GPT-J) rotary on the last dim of x as one complex multiply."""
    xc = torch.view_as_complex(x.unflatten(-1, (-1, 2)))
    return torch.view_as_real(xc * freqs).flatten(-2)


def reparam(v: torch.Tensor, lambda_init: float) -> torch.Tensor:
    """exp(v_q1 . v_k1) - exp(v_q2 . v_k2) + lambda_init; v: rows q1, k1, q2, k2."""
    qs, ks = v.view(2, 2, -1).unbind(1)
    e1, e2 = torch.exp((qs * ks).sum(-1)).unbind(0)
    return e1 - e2 + lambda_init


class FastBlock(nn.Module):
    def __init__(self, cfg, layer: int):
        super().__init__()
        D, d = cfg.d_model, cfg.head_dim
        self.D, self.d, self.H = D, d, cfg.n_heads
        self.eps = float(cfg.norm_eps)
        self.scale = 1.0 / math.sqrt(d)
        self.kind = VARIANTS.index(cfg.variant)  # 0 transformer, 1 diff, 2 dint
        self.lambda_init = float(cfg.lambda_init(layer)) if self.kind else 0.0
        self.full_g = cfg.g_mode == "full"
        # gamma: 0 none, 1 tied (= lambda), 2 fixed, 3 learned
        gm = cfg.gamma_mode if self.kind == 2 else "zero"
        self.gamma_kind = {"zero": 0, "tied": 1, "fixed": 2, "learned": 3}[gm]
        self.gamma_fixed = float(cfg.gamma_fixed)
        self.attn_norm = nn.Parameter(torch.ones(D))
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.out_proj = nn.Linear(D, D, bias=False)
        # rows: lambda_q1, lambda_k1, lambda_q2, lambda_k2 (gamma_* likewise)
        self.lam = nn.Parameter(torch.zeros(4, d)) if self.kind else None
        self.gam = nn.Parameter(torch.zeros(4, d)) if self.gamma_kind == 3 else None
        self.head_norm = bool(self.kind and cfg.head_norm)
        self.subln = (nn.Parameter(torch.ones(2 * d))
                      if self.head_norm and cfg.head_norm_gain else None)
        self.ffn_norm = nn.Parameter(torch.ones(D))
        self.gate_up = nn.Linear(D, 2 * cfg.ffn_dim, bias=False)
        self.down_proj = nn.Linear(cfg.ffn_dim, D, bias=False)

    def attention(self, x: torch.Tensor, freqs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        d, H = self.d, self.H
        # split/unbind rather than slicing: their backward is one cat/stack, not zero-fills
        qk, v = self.qkv(x).split([2 * D, D], dim=-1)  # one GEMM for q, k, v
        # q and k as 4H chunks of size d, rotated together; (2, B, 2H, T, d) after the permute
        q, k = rotary(qk.view(B, T, 2, 2 * H, d), freqs).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = q.reshape(B * 2 * H, T, d), k.reshape(B * 2 * H, T, d)
        # every map at once: (B*2H, T, T); for DIFF/DINT map 2h+m is A_{m+1} of head h
        p = F.softmax(torch.baddbmm(mask, q, k.transpose(1, 2), alpha=self.scale), dim=-1)
        if self.kind == 0:
            v = v.view(B, T, 2 * H, d).transpose(1, 2).reshape(B * 2 * H, T, d)
            o = torch.bmm(p, v).view(B, 2 * H, T, d)
        else:
            v = v.view(B, T, H, 2 * d).transpose(1, 2).reshape(B * H, T, 2 * d)
            # rows of A1 then rows of A2 of each head against the same V: one bmm
            o1, o2 = torch.bmm(p.view(B * H, 2 * T, T), v).view(B, H, 2, T, 2 * d).unbind(2)
            lq = self.lam
            assert lq is not None
            lam = reparam(lq, self.lambda_init)
            if self.gamma_kind == 0:
                o = torch.addcmul(o1, o2, lam, value=-1.0)
            else:
                if self.full_g:
                    C = o1.mean(dim=2, keepdim=True)
                else:
                    cnt = torch.arange(1, T + 1, dtype=o1.dtype, device=o1.device)
                    C = o1.cumsum(2) / cnt.view(T, 1)
                if self.gamma_kind == 1:  # gamma = lambda: o1 + lambda (C - o2)
                    o = torch.addcmul(o1, C - o2, lam)
                else:
                    if self.gamma_kind == 2:
                        gam = torch.full_like(lam, self.gamma_fixed)
                    else:
                        gq = self.gam
                        assert gq is not None
                        gam = reparam(gq, self.lambda_init)
                    o = torch.addcmul(torch.addcmul(o1, o2, lam, value=-1.0), C, gam)
            if self.head_norm:
                w = self.subln
                if w is not None:
                    o = rms_norm(o, w * (1.0 - self.lambda_init), self.eps)
                else:
                    o = (o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + self.eps)
                         * (1.0 - self.lambda_init))
        return self.out_proj(o.transpose(1, 2).reshape(B, T, D))

    def forward(self, x: torch.Tensor, freqs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = x + self.attention(rms_norm(x, self.attn_norm, self.eps), freqs, mask)
        return h + self.down_proj(swiglu(self.gate_up(rms_norm(h, self.ffn_norm, self.eps))))


class FastModel(nn.Module):
    def __init__(self, cfg, seq_len: int):
        super().__init__()
        self.eps = float(cfg.norm_eps)
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList([FastBlock(cfg, l) for l in range(cfg.n_layer)])
        self.norm = nn.Parameter(torch.ones(cfg.d_model))
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        cos, sin = rotary_tables(seq_len, cfg.head_dim, cfg.rope_theta, torch.float32)
        self.register_buffer("freqs", torch.complex(cos, sin).view(seq_len, 1, 1, -1),
                             persistent=False)
        self.register_buffer("mask", torch.full((seq_len, seq_len), float("-inf")).triu(1),
                             persistent=False)

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        freqs, mask = self.freqs[:T], self.mask[:T, :T]
        x = self.tok_embeddings(tokens)
        for b in self.layers:
            x = b(x, freqs, mask)
        logits = self.lm_head(rms_norm(x, self.norm, self.eps))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


# ----------------------------------------------------------------------------- weights, step


def map_names(model):
    """{reference state-dict name: (fast parameter, index or None)}: how each reference tensor
    sits in the fast model (q/k/v rows of qkv, gate/up rows of gate_up, lambda rows of lam)."""
    D = model.lm_head.weight.shape[1]
    out = {"tok_embeddings.weight": (model.tok_embeddings.weight, None)}
    for l, b in enumerate(model.layers):
        p = f"layers.{l}."
        Fd = b.down_proj.weight.shape[1]
        out[p + "attn_norm.weight"] = (b.attn_norm, None)
        for i, n in enumerate("qkv"):
            out[p + f"attn.{n}_proj.weight"] = (b.qkv.weight, slice(i * D, (i + 1) * D))
        out[p + "attn.out_proj.weight"] = (b.out_proj.weight, None)
        for what, par in (("lambda", b.lam), ("gamma", b.gam)):
            if par is not None:
                for i, n in enumerate(("q1", "k1", "q2", "k2")):
                    out[p + f"attn.{what}_{n}"] = (par, i)
        if b.subln is not None:
            out[p + "attn.subln.weight"] = (b.subln, None)
        out[p + "ffn_norm.weight"] = (b.ffn_norm, None)
        out[p + "ffn.gate_proj.weight"] = (b.gate_up.weight, slice(0, Fd))
        out[p + "ffn.up_proj.weight"] = (b.gate_up.weight, slice(Fd, 2 * Fd))
        out[p + "ffn.down_proj.weight"] = (b.down_proj.weight, None)
    out["norm.weight"] = (model.norm, None)
    out["lm_head.weight"] = (model.lm_head.weight, None)
    return out


def _part(t, idx):
    return t if idx is None else t[idx]


def load_reference(model, ref):
    names = map_names(model)
    sd = ref.state_dict()
    if set(sd) != set(names):
        raise RuntimeError(f"state dict names differ: {sorted(set(sd) ^ set(names))[:3]}")
    with torch.no_grad():
        for n, (p, idx) in names.items():
            _part(p, idx).copy_(sd[n])


def param_groups(model, weight_decay):
    """Decay on exactly the tensors the reference decays (its 2-D parameters): embeddings and
    projection matrices; not the stacked (4, d) lambda/gamma vectors nor the norm gains."""
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if n.endswith(".weight") and p.dim() == 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def clip_grad_norm_foreach(params, max_norm):
    """clip_grad_norm_(params, max_norm) of torch 1.13 (norm 2, same clip coefficient formula),
    but with the multi-tensor kernels (1.13's clip_grad_norm_ has no foreach= argument)."""
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    coef = float(max_norm / (total + 1e-6))
    if coef < 1.0:  # 1.13 multiplies by clamp(coef, max=1): skipping * 1.0 is exact
        torch._foreach_mul_(grads, coef)
    return total


def train_step(model, opt, params, tokens, targets, step, tc):
    loss = model(tokens, targets)
    loss.backward()
    if tc.grad_clip > 0:
        clip_grad_norm_foreach(params, tc.grad_clip)
    lr = R.lr_at(step, tc)
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def check_parity(fast, ref, tokens, targets):
    """One forward+backward of both on the same batch. Returns ({max_rel, tensor, tol_frac},
    None) on success (max_rel: largest max|diff| / max|reference grad| over the tensors;
    tol_frac: largest fraction of the tolerance used) or (None, failure message)."""
    ref.zero_grad(set_to_none=True)
    fast.zero_grad(set_to_none=True)
    _, lref = ref(tokens, targets)
    lref.backward()
    lfast = fast(tokens, targets)
    lfast.backward()
    lr, lf = float(lref), float(lfast)
    if not abs(lf - lr) <= 1e-5 * abs(lr):
        return None, f"loss {lf!r} vs reference {lr!r} (relative tolerance 1e-5)"
    # Tolerance: both sides are float32 with the same weights and batch but a different order
    # of operations (fused q/k/v and gate/up GEMMs, both maps in one batched GEMM, baddbmm,
    # complex rotary, folded constants). Rounding differences of a few float32 ulps (6e-8)
    # per operation, summed over the B*T terms of a gradient and carried back through the
    # layers, measured ~1e-6 of a tensor's largest gradient for the matrices and gains, far
    # below 1e-4; a real difference in the function (mask, rotary pairing, a sign, a missing
    # term or scale, a 1% error in lambda) fails it. The 1e-6 absolute floor is for the lambda
    # (and gamma) vectors: their gradient is a sum over all B*T*2d attention outputs that
    # nearly cancels (max ~1e-6..1e-4), where the float32 reference itself is up to 1e-3
    # relative off a float64 run (measured), so only an absolute bound is meaningful there.
    worst, worst_name, tol_frac = 0.0, None, 0.0
    names = map_names(fast)
    for n, p in ref.named_parameters():
        fp, idx = names[n]
        gr = p.grad if p.grad is not None else torch.zeros_like(p)
        gf = _part(fp.grad, idx) if fp.grad is not None else torch.zeros_like(p)
        scale = float(gr.abs().max())
        diff = float((gf - gr).abs().max())
        tol = 1e-4 * scale + 1e-6
        if not diff <= tol:
            return None, f"{n} gradient max abs diff {diff:.3g} > 1e-4 * {scale:.3g} + 1e-6"
        rel = diff / max(scale, 1e-30)
        if rel >= worst:
            worst, worst_name = rel, n
        tol_frac = max(tol_frac, diff / tol)
    ref.zero_grad(set_to_none=True)
    fast.zero_grad(set_to_none=True)
    return {"max_rel": worst, "tensor": worst_name, "tol_frac": tol_frac}, None


def main(a, malloc_tuned):
    ffn = ffn_dim(a)
    torch.set_num_threads(a.threads)
    total = a.warmup_steps + a.steps
    cfg = R.default_config(a.variant, n_layer=a.n_layer, d_model=a.d_model, head_dim=a.head_dim,
                           ffn_dim=ffn, vocab_size=a.vocab, g_mode=a.g_mode, gamma=a.gamma,
                           steps=total, warmup=max(1, a.warmup_steps),
                           batch_size=a.batch_size, seq_len=a.seq_len)
    try:
        mcfg = R.parse_model_config(cfg)
        ref = R.build_model(cfg, torch.float32, seed=a.seed).set_impl("fast")
    except R.SpecError as e:
        return err(str(e), 2)
    tc = R.parse_train_config(cfg)
    if a.flush_denormal == "on":
        torch.set_flush_denormal(True)
    if a.jit == "fns":
        for n in ("rms_norm", "swiglu", "rotary"):
            globals()[n] = torch.jit.script(globals()[n])
    model = FastModel(mcfg, a.seq_len)
    load_reference(model, ref)
    if a.jit == "module":
        model = torch.jit.script(model)
    g = torch.Generator().manual_seed(a.seed)
    parity = None
    if not a.no_parity:
        seq = torch.randint(0, a.vocab, (min(a.batch_size, 4), a.seq_len + 1), generator=g)
        parity, msg = check_parity(model, ref, seq[:, :-1], seq[:, 1:])
        if msg is not None:
            return err(f"parity with dint_reference failed: {msg}", 1)
    del ref
    params = [p for p in model.parameters()]
    opt = torch.optim.AdamW(param_groups(model, tc.weight_decay), lr=tc.lr,
                            betas=(tc.beta1, tc.beta2), eps=tc.adam_eps, foreach=True)
    times = []
    for s in range(total):
        seq = torch.randint(0, a.vocab, (a.batch_size, a.seq_len + 1), generator=g)
        x, y = seq[:, :-1], seq[:, 1:]
        t0 = time.perf_counter()
        train_step(model, opt, params, x, y, s, tc)
        dt = time.perf_counter() - t0
        if s >= a.warmup_steps:
            times.append(dt)
    med = statistics.median(times)
    tps = a.batch_size * a.seq_len / med
    par = (None, None, None) if parity is None else (parity["max_rel"], parity["tensor"],
                                                      parity["tol_frac"])
    ptxt = ("skipped" if parity is None else
            f"max rel grad err {par[0]:.2g} ({par[1]}), {par[2]:.2g} of tolerance")
    print(f"torch_fast {torch.__version__} variant {a.variant} threads {a.threads}: "
          f"{tps:.0f} tok/s (median of {a.steps} steps; jit {a.jit}, flush_denormal "
          f"{a.flush_denormal}; parity {ptxt})")
    if a.json:
        print(json.dumps({"impl": "torch_fast", "torch": torch.__version__, "variant": a.variant,
                          "threads": a.threads, "tokens_per_s": tps, "median_step_s": med,
                          "min_step_s": min(times),
                          "steps": a.steps, "warmup_steps": a.warmup_steps, "jit": a.jit,
                          "flush_denormal": a.flush_denormal == "on",
                          "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                          "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                          "malloc_tuning": malloc_tuned, "parity": par[0],
                          "parity_tensor": par[1], "parity_tol_frac": par[2],
                          "n_layer": a.n_layer, "d_model": a.d_model, "head_dim": a.head_dim,
                          "ffn_dim": ffn, "seq_len": a.seq_len, "batch_size": a.batch_size,
                          "vocab": a.vocab, "g_mode": a.g_mode, "gamma": a.gamma,
                          "params": sum(p.numel() for p in model.parameters())}))
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS, MALLOC_TUNED))
