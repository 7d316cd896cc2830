//! The parser on every real GGUF file in ../shared: the fixtures' tensors (count, type of
//! each, shape-derived byte size) against their sidecar JSONs, and the metadata of the fixtures
//! and of the vocab-only files against their READMEs.

#[path = "gguf_support/json.rs"]
mod json;

use armlet_core::gguf::{File, Value, ValueType};
use armlet_core::quant::GgmlType;
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn gguf_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    v.sort();
    v
}

/// A fixture named in a sidecar JSON: file name, expected size, tensor name -> type name.
type Expected = (String, u64, Vec<(String, String)>);

fn sidecar_expectations() -> Vec<Expected> {
    let mut out = Vec::new();
    for sidecar in ["falcon-h1-micro.json", "falcon-h1-small.json", "falcon-h1-micro-untied-g2.json", "gemma3-tiny.json"] {
        let text = String::from_utf8(read(&shared().join("fixtures").join(sidecar))).unwrap();
        let doc = json::parse(&text).unwrap();
        for (file, info) in doc.get("files").and_then(|f| f.obj()).unwrap() {
            let size = info.get("size").and_then(|s| s.num()).unwrap() as u64;
            let types = info.get("tensor_types").and_then(|t| t.obj()).unwrap();
            let types = types.iter().map(|(k, v)| (k.clone(), v.str().unwrap().to_string())).collect();
            out.push((file.clone(), size, types));
        }
    }
    out
}

#[test]
fn every_fixture_matches_its_sidecar() {
    let expected = sidecar_expectations();
    let on_disk = gguf_files("fixtures");
    // Each fixture on disk is described by a sidecar, and each described file exists.
    assert_eq!(expected.len(), on_disk.len(), "sidecars describe {} files, {} on disk", expected.len(), on_disk.len());
    for (name, size, types) in &expected {
        let bytes = read(&shared().join("fixtures").join(name));
        assert_eq!(bytes.len() as u64, *size, "{name}: size");
        let file = File::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(file.tensor_count() as usize, types.len(), "{name}: tensor count");
        assert_eq!(file.tensors().count(), types.len(), "{name}: tensors iterated");
        for (tensor_name, type_name) in types {
            let t = file.tensor(tensor_name).unwrap_or_else(|| panic!("{name}: no tensor {tensor_name}"));
            assert_eq!(t.ty.name(), type_name, "{name}: type of {tensor_name}");
            let expected_bytes = t.ty.row_bytes(t.ne[0]).unwrap() * t.ne[1] * t.ne[2] * t.ne[3];
            assert_eq!(t.data.len() as u64, expected_bytes, "{name}: bytes of {tensor_name}");
            assert_eq!(t.n_elements(), t.shape().iter().product::<u64>());
            assert_eq!(t.offset % file.alignment(), 0);
        }
    }
}

fn u32_of(file: &File, key: &str) -> u32 {
    file.get(key).and_then(|v| v.as_u32()).unwrap_or_else(|| panic!("{key}"))
}

fn array_len(file: &File, key: &str) -> u64 {
    file.get(key).and_then(|v| v.as_array()).map(|a| a.len()).unwrap_or_else(|| panic!("{key}"))
}

#[test]
fn fixture_metadata_is_falcon_h1_with_the_readme_shapes() {
    // (prefix, embedding_length, feed_forward_length, ssm.group_count) from fixtures/README.md.
    let shapes = [("falcon-h1-micro-untied-g2", 64, 128, 2), ("falcon-h1-micro", 64, 128, 1), ("falcon-h1-small", 256, 512, 1)];
    // The gemma3 fixtures have their own section of the README (and their own tests).
    let falcon = gguf_files("fixtures").into_iter().filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("falcon-h1"));
    for path in falcon {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let (_, embd, ffn, groups) = shapes.iter().find(|s| name.starts_with(s.0)).unwrap();
        let bytes = read(&path);
        let file = File::parse(&bytes).unwrap();
        assert_eq!(file.version(), 3, "{name}");
        assert_eq!(file.get_str("general.architecture"), Some("falcon-h1"), "{name}");
        assert_eq!(u32_of(&file, "falcon-h1.embedding_length"), *embd, "{name}");
        assert_eq!(u32_of(&file, "falcon-h1.feed_forward_length"), *ffn, "{name}");
        assert_eq!(u32_of(&file, "falcon-h1.block_count"), 2, "{name}");
        assert_eq!(u32_of(&file, "falcon-h1.ssm.group_count"), *groups, "{name}");
        assert_eq!(u32_of(&file, "falcon-h1.context_length"), 262144, "{name}");
        assert_eq!(file.get("falcon-h1.rope.freq_base").and_then(|v| v.as_f32()), Some(1e11), "{name}");
        assert_eq!(file.get_str("tokenizer.ggml.model"), Some("gpt2"), "{name}");
        assert_eq!(file.get_str("tokenizer.ggml.pre"), Some("falcon-h1"), "{name}");
        assert_eq!(array_len(&file, "tokenizer.ggml.tokens"), 3072, "{name}");
        assert_eq!(array_len(&file, "tokenizer.ggml.token_type"), 3072, "{name}");
        assert_eq!(array_len(&file, "tokenizer.ggml.merges"), 2811, "{name}");
        assert_eq!(u32_of(&file, "tokenizer.ggml.bos_token_id"), 1, "{name}");
        assert_eq!(u32_of(&file, "tokenizer.ggml.eos_token_id"), 2, "{name}");
        assert_eq!(u32_of(&file, "tokenizer.ggml.padding_token_id"), 0, "{name}");
        assert_eq!(file.get("tokenizer.ggml.add_bos_token").and_then(|v| v.as_bool()), Some(true));
        assert_eq!(file.get("tokenizer.ggml.add_eos_token").and_then(|v| v.as_bool()), Some(false));
        let tokens = file.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()).unwrap();
        let control: Vec<&str> = tokens.iter().take(5).map(|t| t.as_str().unwrap()).collect();
        assert_eq!(control, ["<|pad|>", "<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]);
        let types = file.get("tokenizer.ggml.token_type").and_then(|v| v.as_array()).unwrap();
        assert_eq!(types.elem_type(), ValueType::I32);
        assert_eq!(types.get_fixed(4).and_then(|v| v.as_u32()), Some(3), "{name}: <|im_end|> is CONTROL");
        assert_eq!(types.get_fixed(5).and_then(|v| v.as_u32()), Some(1), "{name}: NORMAL");
        assert!(file.get_str("tokenizer.chat_template").unwrap().contains("<|im_start|>"));
        // Every token is a UTF-8 string, and iterating visits exactly `len` of them.
        assert_eq!(tokens.iter().filter(|t| t.as_str().is_some()).count(), 3072);
        assert_eq!(file.metadata().count() as u64, file.metadata_count());
    }
}

#[test]
fn the_output_tensor_is_tied_except_in_the_untied_fixture() {
    for path in gguf_files("fixtures") {
        let bytes = read(&path);
        let file = File::parse(&bytes).unwrap();
        let untied = path.to_str().unwrap().contains("untied");
        assert_eq!(file.tensor("output.weight").is_some(), untied, "{}", path.display());
        let embd = file.tensor("token_embd.weight").unwrap();
        assert_eq!((embd.n_dims, embd.ne[1]), (2, 3072), "{}", path.display());
    }
}

#[test]
fn every_vocab_file_matches_the_vocab_readme() {
    // From vocab/README.md: name, architecture, model, pre, tokens, merges, bos, eos.
    type Row = (&'static str, &'static str, &'static str, &'static str, u64, u64, u32, u32);
    let table: [Row; 8] = [
        ("gpt-2", "gpt2", "gpt2", "gpt-2", 50257, 50000, 50256, 50256),
        ("llama-bpe", "llama", "gpt2", "llama-bpe", 128256, 280147, 128000, 128001),
        ("qwen2", "qwen2", "gpt2", "qwen2", 151936, 151387, 151643, 151643),
        ("falcon", "falcon", "gpt2", "falcon", 65024, 64784, 11, 11),
        ("llama-spm", "llama", "llama", "default", 32000, 0, 1, 2),
        ("smollm", "llama", "gpt2", "smollm", 49152, 48900, 1, 2),
        ("falcon-h1-fixture", "falcon-h1", "gpt2", "falcon-h1", 3072, 2811, 1, 2),
        ("gemma3", "gemma3", "llama", "default", 262144, 0, 2, 1),
    ];
    let files = gguf_files("vocab");
    assert_eq!(files.len(), table.len());
    for (name, arch, model, pre, n_tokens, n_merges, bos, eos) in table {
        let path = shared().join("vocab").join(format!("ggml-vocab-{name}.gguf"));
        let bytes = read(&path);
        let file = File::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(file.tensor_count(), 0, "{name}");
        assert_eq!(file.tensors().count(), 0, "{name}");
        assert_eq!(file.get_str("general.architecture"), Some(arch), "{name}");
        assert_eq!(file.get_str("tokenizer.ggml.model"), Some(model), "{name}");
        assert_eq!(file.get_str("tokenizer.ggml.pre"), Some(pre), "{name}");
        let tokens = file.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()).unwrap();
        assert_eq!((tokens.elem_type(), tokens.len()), (ValueType::String, n_tokens), "{name}");
        assert_eq!(tokens.iter().count() as u64, n_tokens, "{name}");
        let merges = file.get("tokenizer.ggml.merges").and_then(|v| v.as_array()).map_or(0, |a| a.len());
        assert_eq!(merges, n_merges, "{name}");
        assert_eq!(u32_of(&file, "tokenizer.ggml.bos_token_id"), bos, "{name}");
        assert_eq!(u32_of(&file, "tokenizer.ggml.eos_token_id"), eos, "{name}");
        assert_eq!(file.metadata().count() as u64, file.metadata_count(), "{name}");
        // Every value can be read back through the typed accessors it claims.
        for (key, value) in file.metadata() {
            match value {
                Value::Array(a) => assert_eq!(a.iter().count() as u64, a.len(), "{name}: {key}"),
                Value::Str(s) => assert_eq!(value.as_bytes(), Some(s)),
                _ => assert!(value.value_type().fixed_size().is_some(), "{name}: {key}"),
            }
        }
    }
}

#[test]
fn spm_scores_are_f32_arrays_read_in_constant_time() {
    let bytes = read(&shared().join("vocab/ggml-vocab-llama-spm.gguf"));
    let file = File::parse(&bytes).unwrap();
    let scores = file.get("tokenizer.ggml.scores").and_then(|v| v.as_array()).unwrap();
    assert_eq!((scores.elem_type(), scores.len()), (ValueType::F32, 32000));
    let via_iter: Vec<f32> = scores.iter().map(|v| v.as_f32().unwrap()).collect();
    for i in [0u64, 1, 259, 31999] {
        assert_eq!(scores.get_fixed(i).and_then(|v| v.as_f32()), Some(via_iter[i as usize]));
    }
    assert_eq!(scores.get_fixed(32000), None);
    assert_eq!(GgmlType::from_id(0), Some(GgmlType::F32));
}
