#!/usr/bin/env -S /usr/bin/python3
"""Reference for core/precision.h, independent of it: bf16 and fp16 rounding as PyTorch's casts
(round to nearest even, fp16 overflowing to inf) and the symmetric per-row quantiser written out
in float32 tensor operations (scale = max|x| / (2^(bits-1) - 1), torch.round: half to even).

usage: precision_reference.py IN OUT
IN: little-endian binary, int32 rows, int32 row length n, then rows * n float32 values;
OUT: the same values after, in order, bf16, fp16, q8, q6 and q4 (rows * n float32 each)."""
import sys

import numpy as np
import torch


def quantize_rows(x, bits):
    levels = float(2 ** (bits - 1) - 1)
    amax = x.abs().amax(dim=1, keepdim=True)
    scale = amax / torch.tensor(levels, dtype=torch.float32)
    safe = torch.where(amax > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(x / safe), -levels, levels) * safe
    return torch.where(amax > 0, q, x)  # a zero row stays zero


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    raw = open(argv[1], "rb").read()
    rows, n = np.frombuffer(raw[:8], dtype="<i4")
    x = torch.from_numpy(np.frombuffer(raw[8:], dtype="<f4").reshape(rows, n).copy())
    outs = [x.to(torch.bfloat16).to(torch.float32), x.to(torch.float16).to(torch.float32)]
    outs += [quantize_rows(x, b) for b in (8, 6, 4)]
    with open(argv[2], "wb") as f:
        for o in outs:
            f.write(o.numpy().astype("<f4").tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
