#!/usr/bin/env python3
"""Independent check of `armlet quantize` against the `gguf` package's numpy quantizers.

usage: quantize_reference.py IN-F32.gguf ARMLET-OUT.gguf

For every tensor of ARMLET-OUT whose type gguf-py can encode (F32, F16, BF16, Q4_0, Q4_1,
Q5_0, Q5_1, Q8_0), the same tensor of the F32 input is encoded with `gguf.quants.quantize`
and the bytes must be identical. K-quant tensors are listed as not checked here (gguf-py
has no K-quant encoder; the fixtures' sha256 cover them). Also checks that both files hold
the same tensor names and shapes (up to trailing 1s, which llama.cpp drops). Exit status 1 on any difference.
"""
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

ENCODABLE = {T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}


def squeezed(shape):
    """The shape without trailing 1s: llama.cpp writes ggml_n_dims dimensions."""
    dims = [int(d) for d in shape]
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return dims


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src = {t.name: t for t in gguf.GGUFReader(sys.argv[1]).tensors}
    out = gguf.GGUFReader(sys.argv[2]).tensors
    if sorted(src) != sorted(t.name for t in out):
        sys.exit("tensor names differ")
    checked, skipped, bad = 0, 0, []
    for t in out:
        s = src[t.name]
        if s.tensor_type != T.F32:
            sys.exit(f"{t.name}: input is not F32")
        if squeezed(s.shape) != squeezed(t.shape):
            bad.append(f"{t.name}: shape {list(t.shape)} != {list(s.shape)}")
            continue
        if t.tensor_type not in ENCODABLE:
            skipped += 1
            continue
        ne0 = int(s.shape[0])
        x = np.asarray(s.data, dtype=np.float32).reshape(-1, ne0)
        want = np.asarray(gguf.quants.quantize(x, t.tensor_type)).tobytes()
        got = np.asarray(t.data).tobytes()
        checked += 1
        if want != got:
            bad.append(f"{t.name}: {t.tensor_type.name} bytes differ from gguf.quants")
    for b in bad:
        print(b)
    print(f"{sys.argv[2]}: {checked} tensors identical to gguf.quants, "
          f"{skipped} K-quant tensors not checked here, {len(bad)} differences")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
