"""Independent PyTorch reference of the dint-bench model (Transformer, DIFF, DINT).

Written from the model's definition (now docs/attention.md, sections 1-6) and the DIFF paper /
official microsoft/unilm Diff-Transformer semantics, not from the C code in core/.

    model, config = load_from_h5("in.h5", torch.float64)
    logits, loss = model(tokens, targets)          # tokens, targets: (B, T) int64

State-dict names (they match /model/params/<name> of the C harness's run files):

    tok_embeddings.weight                         (V, D)
    layers.<l>.attn_norm.weight                   (D)
    layers.<l>.attn.{q,k,v,out}_proj.weight       (D, D)
    layers.<l>.attn.lambda_{q1,k1,q2,k2}          (d)     DIFF, DINT
    layers.<l>.attn.gamma_{q1,k1,q2,k2}           (d)     DINT with gamma = learned
    layers.<l>.attn.subln.weight                  (2d)    DIFF, DINT with head_norm and head_norm_gain
    layers.<l>.ffn_norm.weight                    (D)
    layers.<l>.ffn.{gate,up}_proj.weight          (F, D)
    layers.<l>.ffn.down_proj.weight               (D, F)
    norm.weight                                   (D)
    lm_head.weight                                (V, D)  unless tie_embeddings

Attention implementations (module attribute ``impl`` of DintReference, set with set_impl()):

    "literal" (default): the attention maps A1, A2, G and A_final are materialised as N x N
                         matrices exactly as docs/attention.md §5 defines them, then O = A_final V.
    "fast":              O = A1 V - lambda A2 V + gamma C, with C the running mean (causal) or
                         the mean (full) of the rows of A1 V, or the running mean of V (uniform)
                         (docs/attention.md §6, the cheap exact form). Same function, different
                         rounding.
"""

import json
import math
from typing import NamedTuple
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

class VariantSpec(NamedTuple):
    """What a variant's attention has (core/variants.c): softmax maps per head, a learned λ,
    DINT's global term G, the per-head norm."""
    n_maps: int
    learns_lambda: bool
    global_term: bool
    head_norm: bool


# The variants, one row each, as in core/variants.c.
VARIANT_SPECS = {
    "transformer": VariantSpec(1, False, False, False),
    "diff": VariantSpec(2, True, False, True),
    "dint": VariantSpec(2, True, True, True),
}
VARIANTS = tuple(VARIANT_SPECS)


class SpecError(ValueError):
    """Bad config, bad weights or bad input data (one clear line)."""


# --------------------------------------------------------------------------- config


def _get(section, key, where):
    if not isinstance(section, dict) or key not in section:
        raise SpecError(f"config: missing key '{where}.{key}'")
    return section[key]


def _as_int(v, name):
    if isinstance(v, bool):
        raise SpecError(f"config: '{name}' must be an integer, got {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    raise SpecError(f"config: '{name}' must be an integer, got {v!r}")


def _as_float(v, name):
    if isinstance(v, bool):
        raise SpecError(f"config: '{name}' must be a number, got {v!r}")
    if isinstance(v, (int, float)):
        x = float(v)
    elif isinstance(v, str):
        try:
            x = float(v.strip())
        except ValueError:
            raise SpecError(f"config: '{name}' must be a number, got {v!r}") from None
    else:
        raise SpecError(f"config: '{name}' must be a number, got {v!r}")
    if not math.isfinite(x):
        raise SpecError(f"config: '{name}' must be finite, got {v!r}")
    return x


def _as_bool(v, name):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise SpecError(f"config: '{name}' must be a boolean, got {v!r}")


@dataclass(frozen=True)
class ModelConfig:
    variant: str
    n_layer: int
    d_model: int
    head_dim: int
    ffn_dim: int
    vocab_size: int
    rope_theta: float
    norm_eps: float
    init_std: float
    g_mode: str  # "causal" | "full" | "uniform"          (DINT)
    gamma_mode: str  # "tied" | "zero" | "learned" | "fixed"  (DINT)
    gamma_fixed: float  # value for gamma_mode == "fixed"
    head_norm: bool  # (DIFF, DINT)
    head_norm_gain: bool  # (DIFF, DINT)
    lambda_init_mode: str  # "schedule" | "constant"       (DIFF, DINT)
    lambda_init_const: float
    tie_embeddings: bool

    @property
    def n_heads(self):
        """H: DIFF/DINT heads; the Transformer has 2H heads of size d."""
        return self.d_model // (2 * self.head_dim)

    def lambda_init(self, layer):
        if self.lambda_init_mode == "schedule":
            return 0.8 - 0.6 * math.exp(-0.3 * layer)
        return self.lambda_init_const


def parse_model_config(cfg):
    """cfg: the whole config dict (with a "model" section) or the model section itself."""
    if isinstance(cfg, str):
        try:
            cfg = json.loads(cfg)
        except json.JSONDecodeError as e:
            raise SpecError(f"config: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise SpecError("config: must be a JSON object")
    m = cfg["model"] if "model" in cfg else cfg
    if not isinstance(m, dict):
        raise SpecError("config: 'model' must be an object")
    W = "model"
    variant = _get(m, "variant", W)
    if variant not in VARIANTS:
        raise SpecError(f"config: model.variant must be one of {VARIANTS}, got {variant!r}")
    n_layer = _as_int(_get(m, "n_layer", W), "model.n_layer")
    d_model = _as_int(_get(m, "d_model", W), "model.d_model")
    head_dim = _as_int(_get(m, "head_dim", W), "model.head_dim")
    ffn_dim = _as_int(_get(m, "ffn_dim", W), "model.ffn_dim")
    vocab = _as_int(_get(m, "vocab_size", W), "model.vocab_size")
    theta = _as_float(_get(m, "rope_theta", W), "model.rope_theta")
    eps = _as_float(_get(m, "norm_eps", W), "model.norm_eps")
    init_std = _as_float(m.get("init_std", 0.02), "model.init_std")
    tie = _as_bool(_get(m, "tie_embeddings", W), "model.tie_embeddings")
    for name, v in (("n_layer", n_layer), ("d_model", d_model), ("head_dim", head_dim),
                    ("ffn_dim", ffn_dim), ("vocab_size", vocab)):
        if v <= 0:
            raise SpecError(f"config: model.{name} must be positive, got {v}")
    if head_dim % 2:
        raise SpecError(f"config: model.head_dim must be even (rotary pairs), got {head_dim}")
    if d_model % (2 * head_dim):
        raise SpecError(f"config: model.d_model ({d_model}) must be a multiple of "
                        f"2*head_dim ({2 * head_dim})")
    if theta <= 0 or eps < 0:
        raise SpecError("config: model.rope_theta must be > 0 and model.norm_eps >= 0")

    g_mode, gamma_mode, gamma_fixed = "causal", "zero", 0.0
    head_norm, head_norm_gain = False, False
    li_mode, li_const = "schedule", 0.0
    spec = VARIANT_SPECS[variant]
    if spec.head_norm:
        head_norm = _as_bool(_get(m, "head_norm", W), "model.head_norm")
        head_norm_gain = _as_bool(_get(m, "head_norm_gain", W), "model.head_norm_gain")
        li = _get(m, "lambda_init", W)
        if isinstance(li, str) and li.strip() == "schedule":
            li_mode = "schedule"
        else:
            li_mode, li_const = "constant", _as_float(li, "model.lambda_init")
    if spec.global_term:
        g_mode = _get(m, "g_mode", W)
        if g_mode not in ("causal", "full", "uniform"):
            raise SpecError(f"config: model.g_mode must be 'causal', 'full' or 'uniform', got {g_mode!r}")
        g = _get(m, "gamma", W)
        if not isinstance(g, str):
            raise SpecError(f"config: model.gamma must be a string, got {g!r}")
        if g in ("tied", "zero", "learned"):
            gamma_mode = g
        elif g.startswith("fixed:"):
            gamma_mode, gamma_fixed = "fixed", _as_float(g[len("fixed:"):], "model.gamma")
        else:
            raise SpecError(f"config: model.gamma must be tied|zero|learned|fixed:<v>, got {g!r}")
    return ModelConfig(variant, n_layer, d_model, head_dim, ffn_dim, vocab, theta, eps,
                       init_std, g_mode, gamma_mode, gamma_fixed, head_norm, head_norm_gain,
                       li_mode, li_const, tie)


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    warmup: int
    lr: float
    min_lr_frac: float
    weight_decay: float
    beta1: float
    beta2: float
    adam_eps: float
    grad_clip: float


def parse_train_config(cfg):
    if isinstance(cfg, str):
        cfg = json.loads(cfg)
    t = cfg.get("train") if isinstance(cfg, dict) else None
    if not isinstance(t, dict):
        raise SpecError("config: missing section 'train'")
    W = "train"
    tc = TrainConfig(
        steps=_as_int(_get(t, "steps", W), "train.steps"),
        warmup=_as_int(_get(t, "warmup", W), "train.warmup"),
        lr=_as_float(_get(t, "lr", W), "train.lr"),
        min_lr_frac=_as_float(_get(t, "min_lr_frac", W), "train.min_lr_frac"),
        weight_decay=_as_float(_get(t, "weight_decay", W), "train.weight_decay"),
        beta1=_as_float(_get(t, "beta1", W), "train.beta1"),
        beta2=_as_float(_get(t, "beta2", W), "train.beta2"),
        adam_eps=_as_float(_get(t, "adam_eps", W), "train.adam_eps"),
        grad_clip=_as_float(_get(t, "grad_clip", W), "train.grad_clip"),
    )
    if tc.steps < 0 or tc.warmup < 0 or tc.lr < 0 or tc.grad_clip < 0:
        raise SpecError("config: train.steps, train.warmup, train.lr, train.grad_clip must be >= 0")
    if not (0 <= tc.beta1 < 1 and 0 <= tc.beta2 < 1):
        raise SpecError("config: train.beta1 and train.beta2 must be in [0, 1)")
    return tc


def lr_at(step, tc):
    """Learning rate of 0-based optimizer step `step`: linear warmup, then cosine to lr*min_lr_frac."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    lo = tc.lr * tc.min_lr_frac
    span = tc.steps - tc.warmup
    frac = 1.0 if span <= 0 else min(1.0, (step - tc.warmup) / span)
    return lo + (tc.lr - lo) * 0.5 * (1.0 + math.cos(math.pi * frac))


# --------------------------------------------------------------------------- layers


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2, last dim) + eps) [* weight], in the dtype of x."""

    def __init__(self, dim, eps, gain=True):
        super().__init__()
        self.eps = eps
        if gain:
            self.weight = nn.Parameter(torch.ones(dim))
        else:
            self.register_parameter("weight", None)

    def forward(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return y if self.weight is None else y * self.weight


def rotary_tables(seq_len, dim, theta, dtype, device=None):
    """cos, sin of shape (seq_len, dim/2): angle[t, i] = t * theta^(-2i/dim), computed in float64."""
    i = torch.arange(dim // 2, dtype=torch.float64, device=device)
    inv_freq = torch.pow(torch.tensor(float(theta), dtype=torch.float64, device=device),
                         -2.0 * i / dim)
    t = torch.arange(seq_len, dtype=torch.float64, device=device)
    ang = t[:, None] * inv_freq[None, :]
    return torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)


def apply_rotary(x, cos, sin):
    """Interleaved (GPT-J) rotary on the last dim of x: (B, T, chunks, d); cos, sin: (T, d/2)."""
    c = cos[None, :, None, :]
    s = sin[None, :, None, :]
    xe, xo = x[..., 0::2], x[..., 1::2]
    return torch.stack((xe * c - xo * s, xo * c + xe * s), dim=-1).flatten(-2)


def causal_softmax(q, k, scale):
    """softmax(q k^T * scale + M) over the last dim; q, k: (..., T, d)."""
    T = q.shape[-2]
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    mask = torch.full((T, T), float("-inf"), dtype=s.dtype, device=s.device).triu(1)
    return torch.softmax(s + mask, dim=-1)


def running_row_mean(x, dim=-2):
    """Row i of the result is the mean of rows 0..i of x (0-based): cumsum / (i+1)."""
    n = x.shape[dim]
    count = torch.arange(1, n + 1, dtype=x.dtype, device=x.device)
    shape = [1] * x.dim()
    shape[dim] = n
    return x.cumsum(dim=dim) / count.view(shape)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        D, d = cfg.d_model, cfg.head_dim
        self.cfg, self.layer = cfg, layer
        self.variant = cfg.variant
        self.spec = VARIANT_SPECS[cfg.variant]
        self.d = d
        self.H = cfg.n_heads
        self.scale = 1.0 / math.sqrt(d)
        self.q_proj = nn.Linear(D, D, bias=False)
        self.k_proj = nn.Linear(D, D, bias=False)
        self.v_proj = nn.Linear(D, D, bias=False)
        self.out_proj = nn.Linear(D, D, bias=False)
        self.lambda_init = cfg.lambda_init(layer) if self.spec.n_maps == 2 else 0.0
        if self.spec.n_maps == 2:
            if self.spec.learns_lambda:
                self.lambda_q1 = nn.Parameter(torch.zeros(d))
                self.lambda_k1 = nn.Parameter(torch.zeros(d))
                self.lambda_q2 = nn.Parameter(torch.zeros(d))
                self.lambda_k2 = nn.Parameter(torch.zeros(d))
            if self.spec.global_term and cfg.gamma_mode == "learned":
                self.gamma_q1 = nn.Parameter(torch.zeros(d))
                self.gamma_k1 = nn.Parameter(torch.zeros(d))
                self.gamma_q2 = nn.Parameter(torch.zeros(d))
                self.gamma_k2 = nn.Parameter(torch.zeros(d))
            self.subln = RMSNorm(2 * d, cfg.norm_eps, gain=cfg.head_norm_gain) if cfg.head_norm else None
        self.impl = "literal"
        self.capture = False  # when True, forward stores self.captured (maps, lambda, gamma)
        self.captured = None

    # lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init    (a 0-d tensor)
    def lambda_full(self):
        if self.spec.n_maps == 1:
            return None
        if not self.spec.learns_lambda:  # a fixed λ: λ_init
            return torch.tensor(self.lambda_init, dtype=self.q_proj.weight.dtype)
        return (torch.exp(torch.dot(self.lambda_q1, self.lambda_k1))
                - torch.exp(torch.dot(self.lambda_q2, self.lambda_k2)) + self.lambda_init)

    def gamma_full(self, lam):
        """gamma of a DINT layer (tensor or float); None when there is no G term."""
        if not self.spec.global_term:
            return None
        mode = self.cfg.gamma_mode
        if mode == "tied":
            return lam
        if mode == "zero":
            return None
        if mode == "fixed":
            return self.cfg.gamma_fixed
        return (torch.exp(torch.dot(self.gamma_q1, self.gamma_k1))
                - torch.exp(torch.dot(self.gamma_q2, self.gamma_k2)) + self.lambda_init)

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        d, H = self.d, self.H
        # every d-wide chunk of q and of k gets rotary of dimension d
        q = apply_rotary(self.q_proj(x).view(B, T, 2 * H, d), cos, sin)
        k = apply_rotary(self.k_proj(x).view(B, T, 2 * H, d), cos, sin)
        v = self.v_proj(x)

        if self.spec.n_maps == 1:
            q, k = q.transpose(1, 2), k.transpose(1, 2)  # (B, 2H, T, d)
            v = v.view(B, T, 2 * H, d).transpose(1, 2)
            A = causal_softmax(q, k, self.scale)
            if self.capture:
                self.captured = {"A_final": A.detach(), "lambda": None, "gamma": None}
            o = torch.matmul(A, v)  # (B, 2H, T, d)
            return self.out_proj(o.transpose(1, 2).reshape(B, T, D))

        # DIFF / DINT: chunk 2h is q1 (k1) of head h, chunk 2h+1 is q2 (k2)
        q = q.view(B, T, H, 2, d).permute(0, 2, 3, 1, 4)  # (B, H, 2, T, d)
        k = k.view(B, T, H, 2, d).permute(0, 2, 3, 1, 4)
        v = v.view(B, T, H, 2 * d).transpose(1, 2)  # (B, H, T, 2d)
        A1 = causal_softmax(q[:, :, 0], k[:, :, 0], self.scale)  # (B, H, T, T)
        A2 = causal_softmax(q[:, :, 1], k[:, :, 1], self.scale)
        lam = self.lambda_full()
        gam = self.gamma_full(lam)
        full_g = self.cfg.g_mode == "full"
        uniform_g = self.cfg.g_mode == "uniform"

        if self.impl == "literal":
            A = A1 - lam * A2
            G = None
            if gam is not None:
                if full_g:  # G[i, j] = (1/N) sum_m A1[m, j], the same for every row i
                    G = A1.mean(dim=-2, keepdim=True).expand(B, H, T, T)
                elif uniform_g:  # G[i, j] = 1/(i+1) for j <= i: no information from A1
                    ones = torch.ones(T, T, dtype=A1.dtype, device=A1.device).tril()
                    G = (ones / ones.sum(dim=-1, keepdim=True)).expand(B, H, T, T)
                else:  # G[i, j] = (1/(i+1)) sum_{m<=i} A1[m, j]
                    G = running_row_mean(A1, dim=-2)
                A = A + gam * G
            if self.capture:
                self.captured = {"A1": A1.detach(), "A2": A2.detach(),
                                 "G": None if G is None else G.detach(),
                                 "A_final": A.detach(), "lambda": lam.detach(),
                                 "gamma": gam.detach() if torch.is_tensor(gam) else gam}
            o = torch.matmul(A, v)  # (B, H, T, 2d)
        elif self.impl == "fast":
            o1 = torch.matmul(A1, v)
            o = o1 - lam * torch.matmul(A2, v)
            if gam is not None:
                if uniform_g:  # G V with G uniform over the prefix: the running mean of V
                    C = running_row_mean(v, dim=-2)
                else:
                    C = o1.mean(dim=-2, keepdim=True) if full_g else running_row_mean(o1, dim=-2)
                o = o + gam * C
            if self.capture:
                self.captured = {"A_final": None, "lambda": lam.detach(),
                                 "gamma": gam.detach() if torch.is_tensor(gam) else gam}
        else:
            raise ValueError(f"unknown attention impl {self.impl!r}")

        if self.subln is not None:
            o = self.subln(o) * (1.0 - self.lambda_init)
        return self.out_proj(o.transpose(1, 2).reshape(B, T, D))


class FeedForward(nn.Module):
    def __init__(self, D, Fd):
        super().__init__()
        self.gate_proj = nn.Linear(D, Fd, bias=False)
        self.up_proj = nn.Linear(D, Fd, bias=False)
        self.down_proj = nn.Linear(Fd, D, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg, layer)
        self.ffn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_dim)

    def forward(self, x, cos, sin):
        h = x + self.attn(self.attn_norm(x), cos, sin)
        return h + self.ffn(self.ffn_norm(h))


class DintReference(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if not isinstance(cfg, ModelConfig):
            cfg = parse_model_config(cfg)
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg, l) for l in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        if cfg.tie_embeddings:
            self.lm_head = None
        else:
            self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self._rope_cache = {}

    # ---- configuration of the attention kernels
    def set_impl(self, impl):
        if impl not in ("literal", "fast"):
            raise ValueError(f"impl must be 'literal' or 'fast', got {impl!r}")
        for b in self.layers:
            b.attn.impl = impl
        return self

    def set_capture(self, on=True):
        for b in self.layers:
            b.attn.capture = on
            b.attn.captured = None
        return self

    @torch.no_grad()
    def init_weights(self, seed=0):
        """Random init like the harness's description: matrices N(0, init_std), norm gains 1,
        lambda/gamma vectors N(0, 0.1). (Not bit-compatible with the C initialiser.)"""
        g = torch.Generator().manual_seed(int(seed))
        for name, p in self.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * self.cfg.init_std)
            elif ".lambda_" in name or ".gamma_" in name:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.1)
            else:
                p.fill_(1.0)
        return self

    def lambda_gamma_values(self):
        """Per-layer (lambda, gamma) floats of the current weights; 0 where not applicable."""
        lams, gams = [], []
        with torch.no_grad():
            for b in self.layers:
                lam = b.attn.lambda_full()
                gam = b.attn.gamma_full(lam)
                lams.append(0.0 if lam is None else float(lam))
                gams.append(0.0 if gam is None else float(gam))
        return lams, gams

    def _rope(self, T, dtype, device):
        key = (T, dtype, device)
        if key not in self._rope_cache:
            self._rope_cache[key] = rotary_tables(T, self.cfg.head_dim, self.cfg.rope_theta,
                                                  dtype, device)
        return self._rope_cache[key]

    def forward(self, tokens, targets=None):
        """tokens, targets: (B, T) integer tensors. Returns (logits (B, T, V), mean CE loss or None)."""
        B, T = tokens.shape
        x = self.tok_embeddings(tokens.long())
        cos, sin = self._rope(T, x.dtype, x.device)
        for b in self.layers:
            x = b(x, cos, sin)
        x = self.norm(x)
        w = self.tok_embeddings.weight if self.lm_head is None else self.lm_head.weight
        logits = F.linear(x, w)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T).long())
        return logits, loss


def build_model(config, dtype=torch.float64, seed=None):
    model = DintReference(parse_model_config(config)).to(dtype)
    if seed is not None:
        model.init_weights(seed)
    return model


def expected_shapes(config):
    """{name: shape} of every parameter the config implies, in state-dict order."""
    m = DintReference(parse_model_config(config))
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def check_state_dict(state, shapes, what="state dict"):
    """Strict name/shape check: raise SpecError naming the first problem."""
    missing = [k for k in shapes if k not in state]
    if missing:
        raise SpecError(f"{what}: missing parameter '{missing[0]}'"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    unexpected = [k for k in state if k not in shapes]
    if unexpected:
        raise SpecError(f"{what}: unexpected parameter '{unexpected[0]}'"
                        + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
    for k, shp in shapes.items():
        got = tuple(state[k].shape)
        if got != tuple(shp):
            raise SpecError(f"{what}: parameter '{k}' has shape {got}, expected {tuple(shp)}")


def read_config_attr(f):
    if "config" not in f.attrs:
        raise SpecError(f"{f.filename}: no root attribute 'config'")
    raw = f.attrs["config"]
    if hasattr(raw, "shape") and getattr(raw, "shape", ()) not in ((), None):
        if raw.size != 1:
            raise SpecError(f"{f.filename}: root attribute 'config' is not a single string")
        raw = raw.reshape(-1)[0]
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if not isinstance(raw, str):
        raise SpecError(f"{f.filename}: root attribute 'config' is not a string")
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise SpecError(f"{f.filename}: root attribute 'config' is not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise SpecError(f"{f.filename}: root attribute 'config' is not a JSON object")
    return cfg, raw


def load_from_h5(path, dtype=torch.float64):
    """Read root attr `config` and /model/params/<name>; return (model in `dtype`, config dict).

    Strict: a missing or unexpected name, a wrong shape or a non-finite value raises SpecError
    naming the parameter."""
    import h5py
    import numpy as np

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SpecError(f"{path}: cannot open as HDF5 ({e})") from None
    with f:
        cfg, _ = read_config_attr(f)
        mcfg = parse_model_config(cfg)
        if "model/params" not in f or not isinstance(f["model/params"], h5py.Group):
            raise SpecError(f"{path}: no group /model/params")
        grp = f["model/params"]
        state = {}
        for name, obj in grp.items():
            if not isinstance(obj, h5py.Dataset):
                raise SpecError(f"{path}: unexpected parameter '/model/params/{name}' (not a dataset)")
            if obj.dtype.kind != "f":
                raise SpecError(f"{path}: parameter '{name}' is not floating point ({obj.dtype})")
            a = np.asarray(obj[()])
            state[name] = a
    model = DintReference(mcfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_state_dict(state, shapes, what=str(path))
    for k, a in state.items():
        if not np.all(np.isfinite(a)):
            raise SpecError(f"{path}: parameter '{k}' has non-finite values")
    model = model.to(dtype)
    with torch.no_grad():
        sd = model.state_dict()
        for k, a in state.items():
            # float32 -> dtype is exact for float64, identity for float32
            sd[k].copy_(torch.from_numpy(np.ascontiguousarray(a)).to(dtype))
    return model, cfg


def adamw_param_groups(model, weight_decay):
    """AdamW groups: decay on 2-D parameters (matrices, incl. embeddings) only."""
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() != 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, tc: TrainConfig):
    return torch.optim.AdamW(adamw_param_groups(model, tc.weight_decay), lr=tc.lr,
                             betas=(tc.beta1, tc.beta2), eps=tc.adam_eps)


def train_step(model, opt, tokens, targets, step, tc: TrainConfig):
    """One optimizer step (0-based `step`): forward, backward, clip, lr(step), AdamW.
    Returns (loss, grad_norm_before_clip, lr)."""
    opt.zero_grad(set_to_none=True)
    _, loss = model(tokens, targets)
    loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if tc.grad_clip > 0:
        gnorm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
    else:
        gnorm = torch.norm(torch.stack([torch.norm(p.grad.detach()) for p in params]))
    lr = lr_at(step, tc)
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    return float(loss.detach()), float(gnorm), lr


def default_config(variant="dint", **over):
    """A full config dict (model + train) for tests, the demo and the benchmark."""
    model = {"variant": variant, "n_layer": 2, "d_model": 16, "head_dim": 4, "ffn_dim": 64,
             "rope_theta": 10000, "norm_eps": 1e-05, "init_std": 0.02, "g_mode": "causal",
             "gamma": "tied", "head_norm": True, "head_norm_gain": True,
             "lambda_init": "schedule", "tie_embeddings": False, "vocab_size": 31}
    train = {"steps": 10, "batch_size": 2, "grad_accum": 1, "seq_len": 8, "lr": 0.003,
             "min_lr_frac": 0.1, "warmup": 3, "weight_decay": 0.1, "beta1": 0.9,
             "beta2": 0.95, "adam_eps": 1e-08, "grad_clip": 1.0}
    for k, v in over.items():
        if k in train:
            train[k] = v
        else:
            model[k] = v
    return {"model": model, "train": train, "seed": "1234"}
