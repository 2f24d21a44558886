#!/usr/bin/python3
"""Self-checks of the PyTorch reference (tests/reference/*.py). Runs in a few seconds.

    /usr/bin/python3 tests/reference/selftest.py [-v] [-k SUBSTRING]

Prints one line per check and `N passed, N failed` at the end; exit status 1 on any failure.
"""

import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout

import h5py
import numpy as np
import torch
from torch.nn.utils import stateless

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dint_reference as R  # noqa: E402

PY = sys.executable
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def tiny_cfg(variant, **over):
    return R.default_config(variant, **over)


def rand_tokens(B, T, V, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T), generator=g), torch.randint(0, V, (B, T), generator=g)


def randomize(model, seed, std=0.3):
    """Large random weights (so attention maps are far from uniform) and non-trivial gains."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if p.dim() == 2:
                p.copy_(r * std)
            elif ".lambda_" in n or ".gamma_" in n:
                p.copy_(r * 0.2)
            else:
                p.copy_(1.0 + 0.2 * r)
    return model


def write_input(path, cfg, seed=0, B=2, T=8, model=None):
    """An IN.h5 for parity.py: config attr, float32 params, /parity/tokens and targets."""
    if model is None:
        model = randomize(R.build_model(cfg, torch.float64), seed)
    V = model.cfg.vocab_size
    tok, tgt = rand_tokens(B, T, V, seed + 100)
    with h5py.File(path, "w") as f:
        f.attrs["config"] = json.dumps(cfg)
        for n, p in model.state_dict().items():
            f.create_dataset("model/params/" + n, data=p.to(torch.float32).numpy())
        f.create_dataset("parity/tokens", data=tok.numpy().astype(np.int32))
        f.create_dataset("parity/targets", data=tgt.numpy().astype(np.int32))
    return model, tok, tgt


def run(script, *args, subprocess_=False):
    """Run a script's main(argv): in-process by default (fast), or as a real subprocess.
    Returns (exit status, stdout, stderr)."""
    args = [str(a) for a in args]
    if subprocess_:
        p = subprocess.run([PY, os.path.join(HERE, script), *args],
                           capture_output=True, text=True, cwd=HERE)
        return p.returncode, p.stdout, p.stderr
    mod = __import__(script[:-3])
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = mod.main(args)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return rc or 0, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------------- naive model
# An independent, loop-based numpy implementation of docs/attention.md §1-§5 (one sequence),
# used to check the vectorised PyTorch module's head layout, rotary pairing, G and head norm.


def naive_forward(sd, mc, tokens):
    sd = {k: v.detach().double().numpy() for k, v in sd.items()}
    T, D, d, H = len(tokens), mc.d_model, mc.head_dim, mc.n_heads
    eps = mc.norm_eps

    def rms(x, w=None):
        y = np.empty_like(x)
        for t in range(x.shape[0]):
            y[t] = x[t] / math.sqrt(sum(v * v for v in x[t]) / x.shape[1] + eps)
        return y if w is None else y * w

    def rope(x):  # x: (T, D); rotate every d-wide chunk
        y = x.copy()
        for t in range(T):
            for c in range(D // d):
                for i in range(d // 2):
                    ang = t * mc.rope_theta ** (-2.0 * i / d)
                    a, b = x[t, c * d + 2 * i], x[t, c * d + 2 * i + 1]
                    y[t, c * d + 2 * i] = a * math.cos(ang) - b * math.sin(ang)
                    y[t, c * d + 2 * i + 1] = b * math.cos(ang) + a * math.sin(ang)
        return y

    def softmax_causal(q, k):
        A = np.zeros((T, T))
        for i in range(T):
            s = [float(np.dot(q[i], k[j])) / math.sqrt(d) for j in range(i + 1)]
            mx = max(s)
            e = [math.exp(v - mx) for v in s]
            for j in range(i + 1):
                A[i, j] = e[j] / sum(e)
        return A

    x = sd["tok_embeddings.weight"][tokens]
    lams, gams = [], []
    for l in range(mc.n_layer):
        p = f"layers.{l}."
        xn = rms(x, sd[p + "attn_norm.weight"])
        q = rope(xn @ sd[p + "attn.q_proj.weight"].T)
        k = rope(xn @ sd[p + "attn.k_proj.weight"].T)
        v = xn @ sd[p + "attn.v_proj.weight"].T
        o = np.zeros((T, D))
        if mc.variant == "transformer":
            for h in range(2 * H):
                sl = slice(h * d, (h + 1) * d)
                o[:, sl] = softmax_causal(q[:, sl], k[:, sl]) @ v[:, sl]
        else:
            li = 0.8 - 0.6 * math.exp(-0.3 * l) if mc.lambda_init_mode == "schedule" else mc.lambda_init_const
            lam = (math.exp(np.dot(sd[p + "attn.lambda_q1"], sd[p + "attn.lambda_k1"]))
                   - math.exp(np.dot(sd[p + "attn.lambda_q2"], sd[p + "attn.lambda_k2"])) + li)
            gam = 0.0
            if mc.variant == "dint":
                gam = {"tied": lam, "zero": 0.0, "fixed": mc.gamma_fixed}.get(mc.gamma_mode)
                if mc.gamma_mode == "learned":
                    gam = (math.exp(np.dot(sd[p + "attn.gamma_q1"], sd[p + "attn.gamma_k1"]))
                           - math.exp(np.dot(sd[p + "attn.gamma_q2"], sd[p + "attn.gamma_k2"])) + li)
            lams.append(lam)
            gams.append(gam)
            for h in range(H):
                q1, q2 = q[:, 2 * h * d:2 * h * d + d], q[:, 2 * h * d + d:2 * h * d + 2 * d]
                k1, k2 = k[:, 2 * h * d:2 * h * d + d], k[:, 2 * h * d + d:2 * h * d + 2 * d]
                vh = v[:, 2 * h * d:2 * h * d + 2 * d]
                A1, A2 = softmax_causal(q1, k1), softmax_causal(q2, k2)
                G = np.zeros((T, T))
                for i in range(T):
                    for j in range(T):
                        if mc.g_mode == "full":
                            G[i, j] = sum(A1[m, j] for m in range(T)) / T
                        else:
                            G[i, j] = sum(A1[m, j] for m in range(i + 1)) / (i + 1)
                Af = A1 - lam * A2 + gam * G
                oh = Af @ vh
                if mc.head_norm:
                    w = sd[p + "attn.subln.weight"] if mc.head_norm_gain else None
                    oh = rms(oh, w) * (1 - li)
                o[:, 2 * h * d:2 * h * d + 2 * d] = oh
        x = x + o @ sd[p + "attn.out_proj.weight"].T
        hn = rms(x, sd[p + "ffn_norm.weight"])
        a = hn @ sd[p + "ffn.gate_proj.weight"].T
        silu = a / (1 + np.exp(-a))
        x = x + (silu * (hn @ sd[p + "ffn.up_proj.weight"].T)) @ sd[p + "ffn.down_proj.weight"].T
    x = rms(x, sd["norm.weight"])
    W = sd["tok_embeddings.weight"] if mc.tie_embeddings else sd["lm_head.weight"]
    return x @ W.T, lams, gams


NAIVE_CASES = [
    ("transformer", {}),
    ("diff", {}),
    ("diff", {"head_norm": False}),
    ("diff", {"head_norm_gain": False, "lambda_init": "0.5"}),
    ("dint", {}),
    ("dint", {"g_mode": "full"}),
    ("dint", {"gamma": "learned", "tie_embeddings": True}),
    ("dint", {"gamma": "fixed:0.3", "g_mode": "full", "lambda_init": 0.8}),
    ("dint", {"gamma": "zero"}),
]


@check
def naive_loop_implementation_matches():
    """vectorised module == loop-based numpy version of docs/attention.md (float64, 1e-12)."""
    worst = 0.0
    for i, (variant, over) in enumerate(NAIVE_CASES):
        cfg = tiny_cfg(variant, **over)
        m = randomize(R.build_model(cfg), 10 + i)
        tok, _ = rand_tokens(1, 6, 31, i)
        for impl in ("literal", "fast"):
            m.set_impl(impl)
            with torch.no_grad():
                logits, _ = m(tok)
            ref, lams, gams = naive_forward(m.state_dict(), m.cfg, tok[0].tolist())
            err = float(np.abs(logits[0].numpy() - ref).max())
            worst = max(worst, err)
            assert err < 1e-12, f"{variant} {over} {impl}: max |diff| {err:g}"
        lv, gv = m.lambda_gamma_values()
        if variant != "transformer":
            assert np.allclose(lv, lams, rtol=0, atol=1e-14), (lv, lams)
            assert np.allclose(gv, gams, rtol=0, atol=1e-14), (gv, gams)
    return f"{len(NAIVE_CASES)} configs x 2 impls, max |diff| {worst:.2g}"


GRAD_CASES = [
    ("transformer", {}),
    ("diff", {}),
    ("diff", {"head_norm": False}),
    ("dint", {}),
    ("dint", {"g_mode": "full"}),
    ("dint", {"gamma": "learned"}),
    ("dint", {"gamma": "fixed:0.7", "head_norm_gain": False, "tie_embeddings": True}),
]


def _gradcheck_model(cfg, seed, impl, fast_mode):
    m = randomize(R.build_model(cfg), seed).set_impl(impl)
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in m.named_parameters()]
    tok, tgt = rand_tokens(2, 5, m.cfg.vocab_size, seed)
    proj = torch.randn(2, 5, m.cfg.vocab_size, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(seed))

    def f(*ps):
        logits, loss = stateless.functional_call(m, dict(zip(names, ps)), (tok, tgt))
        return loss, (logits * proj).sum()

    return torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-7, rtol=1e-5,
                                    fast_mode=fast_mode)


@check
def gradcheck_every_variant():
    """torch.autograd.gradcheck (float64, all parameters, outputs: loss and a random projection
    of the logits): full Jacobian on a very small model for transformer / diff / dint, and
    fast_mode (random directions) for every config, literal and fast paths."""
    micro = dict(n_layer=1, d_model=4, head_dim=2, ffn_dim=4, vocab_size=5, lambda_init="0.5")
    for i, variant in enumerate(R.VARIANTS):
        assert _gradcheck_model(tiny_cfg(variant, **micro), 30 + i, "literal", fast_mode=False)
    tiny = dict(n_layer=2, d_model=8, head_dim=2, ffn_dim=8, vocab_size=7)
    n = 0
    for i, (variant, over) in enumerate(GRAD_CASES):
        cfg = tiny_cfg(variant, **{**tiny, **over})
        for impl in ("literal", "fast"):
            assert _gradcheck_model(cfg, 40 + i, impl, fast_mode=True)
        n += 1
    return f"full Jacobian: 3 variants; fast_mode: {n} configs x 2 impls"


def _maps(cfg, seed, T=7):
    m = randomize(R.build_model(cfg), seed).set_capture(True)
    tok, _ = rand_tokens(2, T, m.cfg.vocab_size, seed)
    with torch.no_grad():
        m(tok)
    return m, [b.attn.captured for b in m.layers]


@check
def attention_row_sums():
    """rows of A_final: transformer 1, DIFF 1-lambda, DINT tied 1 (causal and full), fixed 1-lambda+gamma."""
    msgs = []
    cases = [("transformer", {}, lambda c: 1.0),
             ("diff", {}, lambda c: 1.0 - float(c["lambda"])),
             ("dint", {}, lambda c: 1.0),
             ("dint", {"g_mode": "full"}, lambda c: 1.0),
             ("dint", {"gamma": "fixed:0.25"}, lambda c: 1.0 - float(c["lambda"]) + 0.25),
             ("dint", {"gamma": "learned"}, lambda c: 1.0 - float(c["lambda"]) + float(c["gamma"])),
             ("dint", {"gamma": "zero"}, lambda c: 1.0 - float(c["lambda"]))]
    for i, (variant, over, want) in enumerate(cases):
        m, caps = _maps(tiny_cfg(variant, **over), 70 + i)
        for c in caps:
            sums = c["A_final"].sum(-1)
            err = float((sums - want(c)).abs().max())
            assert err < 1e-13, f"{variant} {over}: row sums off by {err:g}"
            if c.get("G") is not None:  # every row of G is a distribution over visible keys
                assert float((c["G"].sum(-1) - 1).abs().max()) < 1e-13
                if over.get("g_mode", "causal") == "causal":
                    assert float(c["G"].triu(1).abs().max()) == 0.0, "causal G has future weight"
                else:
                    assert float(c["G"].triu(1).abs().max()) > 0.0
        if variant == "diff":
            lam = float(caps[0]["lambda"])
            assert abs(lam - 1.0) > 0.05, "lambda ~ 1 makes the DIFF check vacuous"
            msgs.append(f"diff lambda {lam:.3f}")
        if variant == "dint" and not over:
            a = caps[0]["A_final"]
            assert float(a.min()) < 0, "expected some negative DINT weights"
    return ", ".join(msgs) + f"; {len(cases)} configs"


@check
def dint_gamma_zero_equals_diff_exactly():
    """DINT with gamma zero == DIFF, bit for bit (logits, loss, every gradient), both g_modes."""
    for g_mode in ("causal", "full"):
        a = randomize(R.build_model(tiny_cfg("diff")), 5)
        b = R.build_model(tiny_cfg("dint", gamma="zero", g_mode=g_mode))
        b.load_state_dict(a.state_dict(), strict=True)
        tok, tgt = rand_tokens(2, 8, 31, 5)
        for impl in ("literal", "fast"):
            a.set_impl(impl), b.set_impl(impl)
            a.zero_grad(), b.zero_grad()
            la, lossa = a(tok, tgt)
            lb, lossb = b(tok, tgt)
            lossa.backward(), lossb.backward()
            assert torch.equal(la, lb) and torch.equal(lossa, lossb), f"{g_mode} {impl}: logits differ"
            for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
                assert torch.equal(p.grad, q.grad), f"{g_mode} {impl}: grad of {n} differs"
    return "causal and full, literal and fast"


@check
def causal_g_does_not_leak_full_g_does():
    """changing token t leaves logits at positions < t bit-identical (transformer, diff, dint causal)
    and changes them for dint full."""
    t = 4
    out = []
    for variant, over, leaks in (("transformer", {}, False), ("diff", {}, False),
                                 ("dint", {}, False), ("dint", {"gamma": "learned"}, False),
                                 ("dint", {"g_mode": "full"}, True),
                                 ("dint", {"g_mode": "full", "gamma": "fixed:0.5"}, True)):
        m = randomize(R.build_model(tiny_cfg(variant, **over)), 3)
        tok, _ = rand_tokens(2, 8, 31, 3)
        tok2 = tok.clone()
        tok2[:, t] = (tok2[:, t] + 7) % 31
        for impl in ("literal", "fast"):
            m.set_impl(impl)
            with torch.no_grad():
                a, _ = m(tok)
                b, _ = m(tok2)
            same = torch.equal(a[:, :t], b[:, :t])
            assert same != leaks, (f"{variant} {over} {impl}: positions < {t} "
                                   f"{'changed' if not same else 'unchanged'}")
            assert not torch.equal(a[:, t:], b[:, t:])
            if leaks and impl == "literal":
                out.append(f"full: max change before t {float((a[:, :t] - b[:, :t]).abs().max()):.2g}")
    return "; ".join(out)


@check
def fast_path_matches_literal():
    """cheap exact form (running mean of A1 V) == literal G (float64: logits 1e-13, grads 1e-11)."""
    worst = 0.0
    for variant, over in GRAD_CASES + [("dint", {"gamma": "fixed:0.5", "g_mode": "full"})]:
        m = randomize(R.build_model(tiny_cfg(variant, **over)), 9)
        tok, tgt = rand_tokens(2, 8, 31, 9)
        res = []
        for impl in ("literal", "fast"):
            m.set_impl(impl).zero_grad()
            logits, loss = m(tok, tgt)
            loss.backward()
            res.append((logits.detach(), [p.grad.clone() for p in m.parameters()]))
        e = float((res[0][0] - res[1][0]).abs().max())
        g = max(float((x - y).abs().max()) for x, y in zip(res[0][1], res[1][1]))
        worst = max(worst, e, g)
        assert e < 1e-13 and g < 1e-11, f"{variant} {over}: logits {e:g} grads {g:g}"
    return f"max |diff| {worst:.2g}"


@check
def lr_schedule():
    tc = R.TrainConfig(steps=10, warmup=3, lr=0.003, min_lr_frac=0.1, weight_decay=0.1,
                       beta1=0.9, beta2=0.95, adam_eps=1e-8, grad_clip=1.0)
    lrs = [R.lr_at(s, tc) for s in range(12)]
    assert abs(lrs[0] - 0.001) < 1e-15 and abs(lrs[2] - 0.003) < 1e-15
    assert abs(lrs[3] - 0.003) < 1e-15  # first cosine step: frac 0
    frac = (6 - 3) / 7
    assert abs(lrs[6] - (0.0003 + 0.0027 * 0.5 * (1 + math.cos(math.pi * frac)))) < 1e-15
    assert abs(lrs[10] - 0.0003) < 1e-15 and abs(lrs[11] - 0.0003) < 1e-15  # clipped at 1
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    tc0 = R.TrainConfig(10, 0, 0.003, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0)
    assert R.lr_at(0, tc0) == 0.003
    return "warmup, cosine, clip"


@check
def strict_loader():
    """load_from_h5 rejects missing / unexpected / wrong-shape / non-finite params, naming them."""
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "in.h5")
        cfg = tiny_cfg("dint", gamma="learned")
        model, _, _ = write_input(p, cfg)
        m2, _ = R.load_from_h5(p, torch.float64)
        for (n, a), (_, b) in zip(model.state_dict().items(), m2.state_dict().items()):
            assert torch.equal(a.float().double(), b), n
        cases = {
            "missing": (lambda f: f.__delitem__("model/params/layers.1.attn.gamma_k2"),
                        "layers.1.attn.gamma_k2"),
            "unexpected": (lambda f: f.create_dataset("model/params/layers.0.attn.foo", data=np.zeros(3, np.float32)),
                           "layers.0.attn.foo"),
            "shape": (lambda f: (f.__delitem__("model/params/norm.weight"),
                                 f.create_dataset("model/params/norm.weight", data=np.ones(15, np.float32))),
                      "norm.weight"),
            "nonfinite": (lambda f: f["model/params/lm_head.weight"].__setitem__((0, 0), np.nan),
                          "lm_head.weight"),
            "config": (lambda f: f.attrs.__setitem__("config", json.dumps(tiny_cfg("dint", gamma="tied"))),
                       "gamma_"),
        }
        for what, (edit, name) in cases.items():
            q = os.path.join(td, what + ".h5")
            write_input(q, cfg)
            with h5py.File(q, "r+") as f:
                edit(f)
            try:
                R.load_from_h5(q, torch.float64)
            except R.SpecError as e:
                assert name in str(e), f"{what}: message does not name {name}: {e}"
            else:
                raise AssertionError(f"{what}: not rejected")
        # bad configs
        for bad in ({"variant": "gpt"}, {"gamma": "sometimes"}, {"g_mode": "half"},
                    {"head_dim": 3}, {"d_model": 12}, {"lambda_init": "soon"}):
            c = tiny_cfg("dint")
            c["model"].update(bad)
            try:
                R.parse_model_config(c)
            except R.SpecError:
                pass
            else:
                raise AssertionError(f"config {bad} accepted")
    return "5 bad files, 6 bad configs rejected"


def manual_adamw(params, grads_fn, tc, steps):
    """Textbook AdamW (decoupled decay on 2-D params, bias-corrected moments, eps outside sqrt)
    with torch's clip coefficient max_norm / (norm + 1e-6); numpy float64."""
    m = {n: np.zeros_like(p) for n, p in params.items()}
    v = {n: np.zeros_like(p) for n, p in params.items()}
    losses = []
    for s in range(steps):
        loss, g = grads_fn(params)
        losses.append(loss)
        norm = math.sqrt(sum(float((x * x).sum()) for x in g.values()))
        if tc.grad_clip > 0:
            coef = min(1.0, tc.grad_clip / (norm + 1e-6))
            g = {n: x * coef for n, x in g.items()}
        lr = R.lr_at(s, tc)
        t = s + 1
        for n in params:
            p = params[n]
            if p.ndim == 2:
                p = p * (1 - lr * tc.weight_decay)
            m[n] = tc.beta1 * m[n] + (1 - tc.beta1) * g[n]
            v[n] = tc.beta2 * v[n] + (1 - tc.beta2) * g[n] ** 2
            mh = m[n] / (1 - tc.beta1 ** t)
            vh = v[n] / (1 - tc.beta2 ** t)
            params[n] = p - lr * mh / (np.sqrt(vh) + tc.adam_eps)
    return losses, params


@check
def parity_script_end_to_end():
    """parity.py on a DINT input: layout, loss = mean CE of logits, grads = autograd,
    adam losses/params = textbook AdamW, --check-fast, float32 close to float64."""
    with tempfile.TemporaryDirectory() as td:
        inp, out, out32 = (os.path.join(td, x) for x in ("in.h5", "out.h5", "out32.h5"))
        cfg = tiny_cfg("dint", gamma="learned")
        cfg["train"]["grad_clip"] = 0.5  # makes clipping active
        write_input(inp, cfg, seed=1)
        rc, so, se = run("parity.py", inp, out, "--adam-steps", 4, "--check-fast", subprocess_=True)
        assert rc == 0, f"parity.py failed: {se.strip()}"
        assert "check-fast" in so and "ok" in so
        model, _ = R.load_from_h5(inp, torch.float64)
        with h5py.File(inp, "r") as f:
            tok = torch.from_numpy(f["parity/tokens"][()].astype(np.int64))
            tgt = torch.from_numpy(f["parity/targets"][()].astype(np.int64))
        names = [n for n, _ in model.named_parameters()]
        with h5py.File(out, "r") as f:
            assert f.attrs["dtype"] == "float64" and f.attrs["torch_version"] == torch.__version__
            logits = f["logits"][()]
            assert logits.shape == (2, 8, 31) and logits.dtype == np.float64
            assert f["loss"].shape == () and f["lambda"].shape == (2,) and f["gamma"].shape == (2,)
            assert sorted(f["grads"].keys()) == sorted(names) == sorted(f["adam/params"].keys())
            assert f["adam/losses"].shape == (4,)
            # loss = mean cross-entropy of the written logits
            lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
            ce = (lse - np.take_along_axis(logits, tgt.numpy()[..., None], -1)[..., 0]).mean()
            assert abs(ce - f["loss"][()]) < 1e-12
            assert abs(f["adam/losses"][0] - f["loss"][()]) < 1e-14
            lv, gv = model.lambda_gamma_values()
            assert np.allclose(f["lambda"][()], lv, atol=1e-15) and np.allclose(f["gamma"][()], gv, atol=1e-15)
            grads = {n: f["grads/" + n][()] for n in names}
            adam_losses = f["adam/losses"][()]
            adam_params = {n: f["adam/params/" + n][()] for n in names}
            assert f["adam/grad_norm"][0] > 0.5, "clip not active in this test"
        # gradients against a central finite difference of the loss in a random direction
        params = {n: p.detach().clone() for n, p in model.named_parameters()}
        g = torch.Generator().manual_seed(0)
        u = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in params.items()}

        def loss_at(h):
            with torch.no_grad():
                return float(stateless.functional_call(
                    model, {n: params[n] + h * u[n] for n in names}, (tok, tgt))[1])

        h = 1e-5
        fd = (loss_at(h) - loss_at(-h)) / (2 * h)
        an = sum(float((torch.from_numpy(grads[n]) * u[n]).sum()) for n in names)
        assert abs(fd - an) < 1e-7 * max(1.0, abs(an)), f"directional derivative {an} vs fd {fd}"

        # adam trajectory against a textbook AdamW
        tc = R.parse_train_config(cfg)

        def grads_fn(pnp):
            ps = {n: torch.from_numpy(pnp[n]).requires_grad_(True) for n in names}
            _, loss = stateless.functional_call(model, ps, (tok, tgt))
            loss.backward()
            return float(loss), {n: ps[n].grad.numpy() for n in names}

        ml, mp = manual_adamw({n: params[n].numpy().copy() for n in names}, grads_fn, tc, 4)
        assert np.allclose(ml, adam_losses, rtol=0, atol=1e-12), (ml, adam_losses)
        perr = max(float(np.abs(mp[n] - adam_params[n]).max()) for n in names)
        assert perr < 1e-12, f"adam params differ from textbook AdamW by {perr:g}"

        rc, so, se = run("parity.py", inp, out32, "--dtype", "float32", "--adam-steps", 2)
        assert rc == 0, se
        with h5py.File(out, "r") as f64, h5py.File(out32, "r") as f32:
            assert f32.attrs["dtype"] == "float32" and f32["logits"].dtype == np.float64
            e = float(np.abs(f64["logits"][()] - f32["logits"][()]).max())
            assert e < 1e-4, f"float32 logits off by {e:g}"
    return f"fd check, textbook AdamW max |diff| {perr:.2g}, float32 logits |diff| {e:.2g}"


@check
def parity_script_every_variant_and_bad_input():
    """parity.py runs for transformer/diff/dint-full and exits 2 with one line on bad input."""
    with tempfile.TemporaryDirectory() as td:
        for variant, over in (("transformer", {"tie_embeddings": True}), ("diff", {"head_norm": False}),
                              ("dint", {"g_mode": "full"})):
            inp, out = os.path.join(td, variant + ".h5"), os.path.join(td, variant + "_out.h5")
            write_input(inp, tiny_cfg(variant, **over), seed=2)
            rc, so, se = run("parity.py", inp, out, "--adam-steps", 2, "--check-fast")
            assert rc == 0, f"{variant}: {se.strip()}"
            with h5py.File(out, "r") as f:
                if variant == "transformer":
                    assert not f["lambda"][()].any() and not f["gamma"][()].any()
                    assert "lm_head.weight" not in f["grads"]
                else:
                    assert f["lambda"][()].all()
                    if variant == "diff":
                        assert not f["gamma"][()].any()
                    else:
                        assert np.array_equal(f["gamma"][()], f["lambda"][()])
        good = os.path.join(td, "dint.h5")
        bad_cases = {}
        p = os.path.join(td, "bad_tokens.h5")
        write_input(p, tiny_cfg("dint"))
        with h5py.File(p, "r+") as f:
            f["parity/tokens"][0, 0] = 31
        bad_cases["bad_tokens"] = (p, "outside")
        p = os.path.join(td, "no_targets.h5")
        write_input(p, tiny_cfg("dint"))
        with h5py.File(p, "r+") as f:
            del f["parity/targets"]
        bad_cases["no_targets"] = (p, "/parity/targets")
        p = os.path.join(td, "no_config.h5")
        write_input(p, tiny_cfg("dint"))
        with h5py.File(p, "r+") as f:
            del f.attrs["config"]
        bad_cases["no_config"] = (p, "config")
        p = os.path.join(td, "not_h5.h5")
        with open(p, "w") as fh:
            fh.write("hello\n")
        bad_cases["not_h5"] = (p, "HDF5")
        bad_cases["missing_file"] = (os.path.join(td, "nope.h5"), "nope.h5")
        for what, (path, needle) in bad_cases.items():
            rc, so, se = run("parity.py", path, os.path.join(td, "o.h5"))
            lines = se.strip().splitlines()
            assert rc == 2 and len(lines) == 1 and needle in lines[0], f"{what}: rc {rc}, {se!r}"
            assert not os.path.exists(os.path.join(td, "o.h5"))
        assert os.path.exists(good)
    return f"3 variants, {len(bad_cases)} bad inputs"


@check
def export_state_dict_round_trip():
    """export_state_dict.py: export -> load_from_h5 gives the same weights; --demo; bad input."""
    with tempfile.TemporaryDirectory() as td:
        cfg = tiny_cfg("dint", gamma="learned", head_norm_gain=False)
        m = randomize(R.build_model(cfg, torch.float32), 4)
        sd_path, cfg_path, out = (os.path.join(td, x) for x in ("sd.pt", "cfg.json", "out.h5"))
        torch.save(m.state_dict(), sd_path)
        with open(cfg_path, "w") as fh:
            json.dump(cfg, fh)
        rc, so, se = run("export_state_dict.py", sd_path, cfg_path, out)
        assert rc == 0, se
        m2, cfg2 = R.load_from_h5(out, torch.float32)
        assert cfg2 == cfg
        for (n, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
            assert torch.equal(a, b), n
        with h5py.File(out, "r") as f:
            assert all(f["model/params/" + n].dtype == np.float32 for n in f["model/params"])
        # wrong config: names do not match
        with open(cfg_path, "w") as fh:
            json.dump(tiny_cfg("dint", gamma="tied", head_norm_gain=False), fh)
        rc, so, se = run("export_state_dict.py", sd_path, cfg_path, os.path.join(td, "bad.h5"))
        assert rc == 2 and "gamma_" in se and len(se.strip().splitlines()) == 1, se
        assert not os.path.exists(os.path.join(td, "bad.h5"))
        rc, so, se = run("export_state_dict.py", "--demo", os.path.join(td, "demo"), "--steps", 3)
        assert rc == 0 and "bit-identical" in so, so + se
        # the demo's export also feeds parity.py (add a batch)
        demo_h5 = os.path.join(td, "demo", "model.h5")
        with h5py.File(demo_h5, "r+") as f:
            f.create_dataset("parity/tokens", data=np.arange(16, dtype=np.int32).reshape(2, 8) % 31)
            f.create_dataset("parity/targets", data=np.arange(1, 17, dtype=np.int32).reshape(2, 8) % 31)
        rc, so, se = run("parity.py", demo_h5, os.path.join(td, "demo_out.h5"), "--adam-steps", 1)
        assert rc == 0, se
    return "export, strict names, demo, demo -> parity"


@check
def bench_step_runs():
    rc, so, se = run("bench_step.py", "--variant", "dint", "--n-layer", 1, "--d-model", 32,
                     "--head-dim", 8, "--seq-len", 16, "--batch-size", 2, "--threads", 1,
                     "--steps", 2, "--warmup-steps", 1, "--json")
    assert rc == 0, se
    lines = so.strip().splitlines()
    assert lines[0].startswith(f"torch {torch.__version__} variant dint threads 1: ") and "tok/s" in lines[0]
    j = json.loads(lines[1])
    assert j["variant"] == "dint" and j["tokens_per_s"] > 0 and j["ffn_dim"] == 128
    return lines[0]


@check
def bench_fast_torch_passes_parity_for_every_variant():
    """The fast peer checks its loss and gradients against dint_reference before it times (a real
    process: its thread-pool settings precede `import torch`); each variant passes, and its worst
    relative gradient error is reported and small."""
    out = []
    for v in R.VARIANTS:
        rc, so, se = run("bench_fast_torch.py", "--variant", v, "--n-layer", 1, "--d-model", 32,
                         "--head-dim", 8, "--seq-len", 16, "--batch-size", 2, "--threads", 1,
                         "--steps", 2, "--warmup-steps", 1, "--json", subprocess_=True)
        assert rc == 0, se
        j = json.loads(so.strip().splitlines()[-1])
        assert j["impl"] == "torch_fast" and j["variant"] == v and j["tokens_per_s"] > 0, j
        assert j["parity"] is not None and 0 <= j["parity"] <= 1e-3, j
        out.append(f"{v} {j['parity']:.1e}")
    return ", ".join(out)


@check
def parameter_counts_match_readme():
    """n_layer 2, d_model 128, head_dim 32, vocab 257: Transformer 492,416; DIFF/DINT 492,800."""
    got = {}
    for v in R.VARIANTS:
        shapes = R.expected_shapes(tiny_cfg(v, d_model=128, head_dim=32, ffn_dim=384, vocab_size=257))
        got[v] = sum(int(np.prod(s)) for s in shapes.values())
    assert got == {"transformer": 492416, "diff": 492800, "dint": 492800}, got
    return str(got)


def main():
    ap = argparse.ArgumentParser(prog="selftest.py")
    ap.add_argument("-k", default="", help="run only checks whose name contains this")
    ap.add_argument("-v", action="store_true", help="print tracebacks")
    a = ap.parse_args()
    torch.set_num_threads(1)
    passed = failed = 0
    t_all = time.perf_counter()
    for fn in CHECKS:
        if a.k not in fn.__name__:
            continue
        t0 = time.perf_counter()
        try:
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                info = fn()
            passed += 1
            print(f"PASS {fn.__name__} ({time.perf_counter() - t0:.1f}s)" + (f": {info}" if info else ""))
        except Exception as e:
            failed += 1
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
            if a.v:
                traceback.print_exc()
    print(f"{passed} passed, {failed} failed ({time.perf_counter() - t_all:.1f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
