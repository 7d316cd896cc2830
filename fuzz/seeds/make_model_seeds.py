#!/usr/bin/env python3
"""Writes the small model seeds of the model_load fuzz target (fuzz/seeds/model_load/).

Each seed is a micro fixture of ../shared/fixtures cut down so that libFuzzer runs fast and
most mutations land in structure: the tokenizer arrays are dropped (the vocabulary size then
comes from token_embd.weight), the embedding keeps its first N_VOCAB rows, and the
context length is small. A `llama` seed is made from the same weights by renaming the
architecture and dropping the Mamba2 tensors, so both loaders are fuzzed. Needs the `gguf`
PyPI package. Run from this folder.
"""
import os
import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "..", "shared", "fixtures")
OUT = os.path.join(HERE, "model_load")
N_VOCAB = 32


def field_value(f):
    """A reader field as a value the writer takes (scalar, string or list)."""
    t = f.types[0]
    if t == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    if t == gguf.GGUFValueType.ARRAY:
        sub = f.types[1]
        if sub == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    return f.parts[f.data[0]].tolist()[0]


def shrink(src, dst, arch):
    r = gguf.GGUFReader(os.path.join(FIXTURES, src))
    w = gguf.GGUFWriter(os.path.join(OUT, dst), arch)
    old = r.fields["general.architecture"]
    old_arch = bytes(old.parts[old.data[0]]).decode()
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or name.startswith("tokenizer."):
            continue
        if arch != old_arch and name.startswith(old_arch + ".ssm."):
            continue
        key = arch + name[len(old_arch):] if name.startswith(old_arch + ".") else name
        if key.endswith(".context_length"):
            w.add_uint32(key, 64)
            continue
        if key.endswith(".vocab_size"):
            w.add_uint32(key, N_VOCAB)
            continue
        t = f.types[0]
        v = field_value(f)
        if t == gguf.GGUFValueType.ARRAY:
            w.add_array(key, v)
        else:
            w.add_key_value(key, v, t)
    for t in r.tensors:
        if arch != old_arch and ".ssm_" in t.name:
            continue
        data = np.array(t.data)
        if t.name in ("token_embd.weight", "output.weight"):
            data = data[:N_VOCAB]
        name = t.name
        if arch == "llama" and name.endswith(".ffn_norm"):
            name += ".weight"  # llama spells it with the suffix, falcon-h1 without
        qtype = gguf.GGMLQuantizationType(t.tensor_type)
        if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            w.add_tensor(name, data, raw_dtype=qtype)
        else:
            w.add_tensor(name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


os.makedirs(OUT, exist_ok=True)
for ty in ["F32", "F16", "Q8_0", "Q4_K_S", "Q2_K"]:
    shrink(f"falcon-h1-micro-{ty}.gguf", f"falcon-h1-{ty}.gguf", "falcon-h1")
shrink("falcon-h1-micro-untied-g2-F32.gguf", "falcon-h1-untied-g2-F32.gguf", "falcon-h1")
shrink("falcon-h1-micro-Q4_K_S.gguf", "llama-Q4_K_S.gguf", "llama")
shrink("falcon-h1-micro-F16.gguf", "llama-F16.gguf", "llama")
