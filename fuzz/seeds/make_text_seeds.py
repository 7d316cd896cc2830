#!/usr/bin/env python3
"""Writes the seeds of the tokenize and detokenize fuzz targets (fuzz/seeds/{tokenize,
detokenize}/) from the llama.cpp tokenizer test texts in ../shared/vocab (*.inp, one text
per `__ggml_vocab_test__` block) and their expected ids (*.out). A tokenize seed is
[control byte, repeat byte, text]; a detokenize seed is [control byte, 3-byte ids]. The
control byte's low two bits pick the vocabulary in the order of
fuzz_targets/support/vocabs.rs. Run from this folder.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "..", "..", "shared", "vocab")
FILES = ["ggml-vocab-falcon-h1-fixture.gguf", "ggml-vocab-smollm.gguf", "ggml-vocab-llama-spm.gguf"]
SEP = b"\n__ggml_vocab_test__\n"

for d in ("tokenize", "detokenize"):
    os.makedirs(os.path.join(HERE, d), exist_ok=True)
for which, name in enumerate(FILES):
    texts = open(os.path.join(VOCAB, name + ".inp"), "rb").read().split(SEP)
    outs = open(os.path.join(VOCAB, name + ".out"), "rb").read().split(b"\n")
    for i, text in enumerate(texts[:40]):
        # Flags 4 (add_special) and 8 (parse_special) alternate; every 8th seed is long.
        control = which | (4 if i % 2 else 0) | (8 if i % 3 == 0 else 0) | (0x70 if i % 8 == 7 else 0)
        with open(os.path.join(HERE, "tokenize", f"{which}-{i:02}"), "wb") as f:
            f.write(bytes([control, 3]) + text)
    for i, line in enumerate(outs[:40]):
        ids = [int(x) for x in line.split()]
        if not ids:
            continue
        with open(os.path.join(HERE, "detokenize", f"{which}-{i:02}"), "wb") as f:
            f.write(bytes([which | (i % 4) << 2]) + b"".join(x.to_bytes(3, "little") for x in ids))
