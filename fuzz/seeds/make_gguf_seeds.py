#!/usr/bin/env python3
"""Writes the small GGUF seed files of the gguf_parse fuzz target (fuzz/seeds/gguf_parse/).

Small seeds keep libFuzzer fast (thousands of runs per second) while still holding every
part of the format: header, each metadata value type, nested and string arrays, tensor
infos of several types, alignment padding and tensor data. Needs the `gguf` PyPI package
(the one ../shared/fixtures/make_fixtures.py uses). Run from this folder.
"""
import numpy as np
import gguf

def model(path, alignment=None):
    w = gguf.GGUFWriter(path, "falcon-h1")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_name("seed")
    w.add_uint32("falcon-h1.block_count", 1)
    w.add_float32("falcon-h1.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_float64("test.f64", 0.5)
    w.add_int8("test.i8", -1)
    w.add_uint16("test.u16", 7)
    w.add_int16("test.i16", -7)
    w.add_int64("test.i64", -70)
    w.add_uint64("test.u64", 70)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "a", "b", "ab"])
    w.add_token_types([3, 1, 1, 1])
    w.add_token_merges(["a b"])
    w.add_array("test.nested", [[1, 2], [3]])
    w.add_tensor("norm", np.ones(8, dtype=np.float32))
    w.add_tensor("half", np.ones((2, 4), dtype=np.float16))
    q8 = np.zeros((2, 34), dtype=np.uint8)  # two Q8_0 blocks of 32 values
    w.add_tensor("q8", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    q4k = np.zeros((1, 144), dtype=np.uint8)  # one Q4_K block of 256 values
    w.add_tensor("q4k", q4k, raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

def vocab_only(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>", "\u2581a"])
    w.add_token_scores([0.0, 0.0, 0.0, -1.5])
    w.add_bos_token_id(1)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()

model("gguf_parse/model.gguf")
model("gguf_parse/model-align64.gguf", alignment=64)
vocab_only("gguf_parse/vocab.gguf")
