#!/usr/bin/env python3
"""Generate the weight-format test vectors in core/testdata/quant/.

For every type armlet decodes, writes <TYPE>.blocks (raw blocks in the GGUF encoding) and
<TYPE>.f32 (their dequantization by the `gguf` package's numpy reference, little-endian
f32). The blocks are random bytes with the f16 scale fields overwritten by a mix of ordinary
values and extremes (+-65504, subnormals, zero, +-inf, NaN), plus all-0x00 and all-0xff
blocks (all-min / all-max quants). Deterministic (fixed seed): rerunning gives the same files.

Usage: python3 scripts/gen-quant-vectors.py [OUTDIR]
"""
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

# type -> (block bytes, offsets of f16 fields, blocks to generate)
TYPES = {
    "Q4_0": (T.Q4_0, 18, [0], 96),
    "Q4_1": (T.Q4_1, 20, [0, 2], 96),
    "Q5_0": (T.Q5_0, 22, [0], 96),
    "Q5_1": (T.Q5_1, 24, [0, 2], 96),
    "Q8_0": (T.Q8_0, 34, [0], 96),
    "Q2_K": (T.Q2_K, 84, [80, 82], 32),
    "Q3_K": (T.Q3_K, 110, [108], 32),
    "Q4_K": (T.Q4_K, 144, [0, 2], 32),
    "Q5_K": (T.Q5_K, 176, [0, 2], 32),
    "Q6_K": (T.Q6_K, 210, [208], 32),
}

SPECIAL_F16 = [0x7BFF, 0xFBFF, 0x0001, 0x03FF, 0x8001, 0x0400, 0x0000, 0x8000,
               0x7C00, 0xFC00, 0x7E00, 0x3C00]


def f16_bits(v):
    return int(np.array([v], dtype=np.float16).view(np.uint16)[0])


def make_blocks(rng, nbytes, f16_offs, count):
    blocks = rng.integers(0, 256, size=(count, nbytes), dtype=np.uint8)
    blocks[0, :] = 0x00  # all-min quants, zero scales
    blocks[1, :] = 0xFF  # all-max quants (scales become NaN: checked too)
    blocks[2, :] = 0x00
    blocks[3, :] = 0xFF
    for i in range(2, count):
        for k, off in enumerate(f16_offs):
            if i in (2, 3):
                bits = 0x3C00 if k == 0 else 0x3800  # all-min / all-max quants, sane scales
            elif i % 5 == 0:
                bits = SPECIAL_F16[(i // 5 + k) % len(SPECIAL_F16)]
            else:
                bits = f16_bits(rng.normal() * 10.0 ** rng.uniform(-6, 1))
            blocks[i, off] = bits & 0xFF
            blocks[i, off + 1] = bits >> 8
    return blocks


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "core", "testdata", "quant")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(12)
    for name, (qt, nbytes, offs, count) in TYPES.items():
        blocks = make_blocks(rng, nbytes, offs, count)
        with np.errstate(all="ignore"):
            deq = dequantize(blocks.reshape(-1), qt).astype("<f4").reshape(-1)
        blocks.tofile(os.path.join(out, name + ".blocks"))
        deq.tofile(os.path.join(out, name + ".f32"))
    # Float types: values covering subnormals, extremes, inf and NaN.
    h = np.concatenate([np.array(SPECIAL_F16, dtype=np.uint16),
                        rng.integers(0, 65536, size=1012, dtype=np.uint16)])
    h.astype("<u2").tofile(os.path.join(out, "F16.blocks"))
    dequantize(h.view(np.uint8), T.F16).astype("<f4").tofile(os.path.join(out, "F16.f32"))
    b = rng.integers(0, 65536, size=1024, dtype=np.uint16)
    b.astype("<u2").tofile(os.path.join(out, "BF16.blocks"))
    dequantize(b.view(np.uint8), T.BF16).astype("<f4").tofile(os.path.join(out, "BF16.f32"))
    # f32 -> f16 narrowing vectors (numpy's astype(float16) is IEEE round-to-nearest-even).
    xs = np.concatenate([
        rng.normal(size=2000).astype(np.float32) * np.float32(10.0) ** rng.uniform(-9, 5, 2000).astype(np.float32),
        np.array([65504, 65519.99, 65520, 1e-8, 2.98e-8, 2.99e-8, 6.1e-5, -0.0, np.inf, -np.inf], dtype=np.float32),
    ]).astype(np.float32)
    with np.errstate(all="ignore"):
        hs = xs.astype(np.float16)
    xs.astype("<f4").tofile(os.path.join(out, "f32_to_f16.in"))
    hs.view(np.uint16).astype("<u2").tofile(os.path.join(out, "f32_to_f16.out"))


if __name__ == "__main__":
    main()
