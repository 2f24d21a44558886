#!/usr/bin/python3
"""Export a PyTorch state dict of the reference model to the harness's HDF5 weight layout.

    /usr/bin/python3 tests/reference/export_state_dict.py STATE_DICT.pt CONFIG.json OUT.h5
    /usr/bin/python3 tests/reference/export_state_dict.py --demo OUT_DIR
                     [--variant transformer|diff|dint] [--config CONFIG.json] [--steps 5] [--seed 0]

STATE_DICT.pt: torch.save(model.state_dict()) of dint_reference.DintReference (or any module
with the same parameter names). CONFIG.json: the config JSON (an object with a "model" section,
as in a run file's `config` attribute; a bare model section is wrapped as {"model": ...}).
Names and shapes are checked strictly against the config.

OUT.h5: root attr `config` (the JSON text), /model/params/<name> float32 with the PyTorch shape
((out, in) for matrices), Fletcher-32 checksummed; root attrs torch_version, exported_by.

--demo builds a random reference model, trains it a few AdamW steps on random tokens, saves
OUT_DIR/state_dict.pt and OUT_DIR/config.json, exports OUT_DIR/model.h5, reloads it with
dint_reference.load_from_h5 and checks the logits are bit-identical.
Exit status: 0 ok, 1 demo round trip mismatch, 2 bad input (one line on stderr).
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping

import torch

import dint_reference as R

PROG = "export_state_dict.py"


def fail(msg, code=2):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(code)


def read_config_file(path):
    try:
        with open(path, "r", encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise R.SpecError(f"{path}: cannot read ({e.strerror})") from None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise R.SpecError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise R.SpecError(f"{path}: not a JSON object")
    if "model" not in cfg:
        cfg = {"model": cfg}
        text = json.dumps(cfg)
    return cfg, text


def load_state_dict_file(path):
    try:
        sd = torch.load(path, map_location="cpu")
    except Exception as e:  # torch.load raises many kinds
        raise R.SpecError(f"{path}: cannot load a state dict ({type(e).__name__}: {e})") from None
    if not isinstance(sd, Mapping) or not all(isinstance(k, str) for k in sd):
        raise R.SpecError(f"{path}: not a state dict (a mapping of names to tensors)")
    for k, v in sd.items():
        if not torch.is_tensor(v):
            raise R.SpecError(f"{path}: entry '{k}' is not a tensor")
        if not v.is_floating_point():
            raise R.SpecError(f"{path}: parameter '{k}' is not floating point ({v.dtype})")
    return sd


def export(state_dict, cfg, config_text, out_path, source="state dict"):
    """Check `state_dict` against `cfg` and write OUT.h5 (float32 params)."""
    import h5py

    shapes = R.expected_shapes(cfg)
    R.check_state_dict(state_dict, shapes, what=source)
    for k, v in state_dict.items():
        if not torch.isfinite(v).all():
            raise R.SpecError(f"{source}: parameter '{k}' has non-finite values")
    tmp = out_path + ".tmp"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["config"] = config_text
            f.attrs["torch_version"] = str(torch.__version__)
            f.attrs["exported_by"] = "tests/reference/export_state_dict.py"
            g = f.create_group("model/params")
            for k in shapes:  # state-dict order of the reference module
                a = state_dict[k].detach().to(torch.float32).contiguous().numpy()
                g.create_dataset(k, data=a, fletcher32=a.size > 0)
        os.replace(tmp, out_path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise R.SpecError(f"{out_path}: cannot write ({e})") from None


def demo(out_dir, variant, config_path, steps, seed):
    if config_path:
        cfg, _ = read_config_file(config_path)
    else:
        cfg = R.default_config(variant)
    cfg.setdefault("train", R.default_config(variant)["train"])
    text = json.dumps(cfg)
    mcfg = R.parse_model_config(cfg)
    tc = R.parse_train_config(cfg)
    os.makedirs(out_dir, exist_ok=True)

    torch.manual_seed(seed)
    model = R.build_model(cfg, torch.float32, seed=seed).set_impl("fast")
    g = torch.Generator().manual_seed(seed + 1)
    B = int(cfg["train"].get("batch_size", 2))
    T = int(cfg["train"].get("seq_len", 8))
    opt = R.make_optimizer(model, tc)
    for s in range(steps):
        seq = torch.randint(0, mcfg.vocab_size, (B, T + 1), generator=g)
        loss, gnorm, lr = R.train_step(model, opt, seq[:, :-1], seq[:, 1:], s, tc)
        print(f"{PROG}: demo step {s}: loss {loss:.6f} grad_norm {gnorm:.4f} lr {lr:.3g}")

    sd_path = os.path.join(out_dir, "state_dict.pt")
    cfg_path = os.path.join(out_dir, "config.json")
    h5_path = os.path.join(out_dir, "model.h5")
    torch.save(model.state_dict(), sd_path)
    with open(cfg_path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")

    # the ordinary export path, from the files just written
    cfg2, text2 = read_config_file(cfg_path)
    export(load_state_dict_file(sd_path), cfg2, text2, h5_path, source=sd_path)

    loaded, _ = R.load_from_h5(h5_path, torch.float32)
    loaded.set_impl("fast")
    seq = torch.randint(0, mcfg.vocab_size, (B, T), generator=g)
    with torch.no_grad():
        a, _ = model(seq)
        b, _ = loaded(seq)
    same = torch.equal(a, b)
    print(f"{PROG}: demo: {sd_path} + {cfg_path} -> {h5_path}; reloaded logits "
          f"{'bit-identical' if same else 'DIFFER (max %g)' % float((a - b).abs().max())}")
    return 0 if same else 1


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description="Export a reference state dict to HDF5.")
    ap.add_argument("paths", nargs="*", help="STATE_DICT.pt CONFIG.json OUT.h5, or OUT_DIR with --demo")
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--variant", choices=R.VARIANTS, default="dint")
    ap.add_argument("--config", default=None, help="(demo) config JSON; default a tiny model")
    ap.add_argument("--steps", type=int, default=5, help="(demo) training steps")
    ap.add_argument("--seed", type=int, default=0, help="(demo) seed")
    args = ap.parse_args(argv)
    try:
        if args.demo:
            if len(args.paths) != 1:
                fail("--demo takes one argument, OUT_DIR")
            return demo(args.paths[0], args.variant, args.config, args.steps, args.seed)
        if len(args.paths) != 3:
            fail("expected STATE_DICT.pt CONFIG.json OUT.h5 (or --demo OUT_DIR)")
        sd_path, cfg_path, out_path = args.paths
        cfg, text = read_config_file(cfg_path)
        sd = load_state_dict_file(sd_path)
        export(sd, cfg, text, out_path, source=sd_path)
        print(f"{PROG}: {sd_path} ({len(sd)} parameters, variant {cfg['model'].get('variant')}) "
              f"-> {out_path}")
        return 0
    except R.SpecError as e:
        fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
