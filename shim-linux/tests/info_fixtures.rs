//! `armlet info` run as a program on every real GGUF in ../shared: the tensor count and every
//! tensor's type (against the fixtures' sidecar JSONs) in the text table and in `--json`,
//! the memory plan with `--ctx`, the layer kinds of a Gemma 3 file, one-line errors, and a
//! closed stdout.

#[path = "../../core/tests/gguf_support/json.rs"]
mod json;
#[path = "../../core/tests/gguf_support/layout.rs"]
mod layout;

use layout::shared;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn armlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_armlet")).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// (path, tensor name -> type name) for every fixture a sidecar describes.
fn fixtures() -> Vec<(PathBuf, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for sidecar in ["falcon-h1-micro.json", "falcon-h1-small.json", "falcon-h1-micro-untied-g2.json"] {
        let text = std::fs::read_to_string(shared().join("fixtures").join(sidecar)).unwrap();
        let doc = json::parse(&text).unwrap();
        for (file, info) in doc.get("files").and_then(|f| f.obj()).unwrap() {
            let types = info.get("tensor_types").and_then(|t| t.obj()).unwrap();
            let types = types.iter().map(|(k, v)| (k.clone(), v.str().unwrap().to_string())).collect();
            out.push((shared().join("fixtures").join(file), types));
        }
    }
    assert_eq!(out.len(), 11);
    out
}

fn vocab_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared().join("vocab"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 8);
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn text_output_lists_every_tensor_with_its_type() {
    for (path, types) in fixtures() {
        let o = armlet(&["info", s(&path)]);
        assert!(o.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
        let text = stdout(&o);
        assert!(text.contains(&format!("{} tensors;", types.len())), "{}: tensor count", path.display());
        assert!(text.contains(&format!("tensors ({})", types.len())));
        for (name, ty) in &types {
            let row = text.lines().find(|l| l.split_whitespace().next() == Some(name.as_str()));
            let row = row.unwrap_or_else(|| panic!("{}: no row for {name}", path.display()));
            assert_eq!(row.split_whitespace().nth(1), Some(ty.as_str()), "{}: {row}", path.display());
        }
        assert!(text.contains("architecture      falcon-h1"));
        assert!(text.contains("vocabulary      3,072 tokens"));
        assert!(text.contains("BOS             1 \"<|begin_of_text|>\""));
        assert!(text.contains("chat template   198 bytes, ChatML"));
        assert!(text.contains("embedding_length"));
        // The per-type summary ends with the total of every tensor.
        let total = text.lines().find(|l| l.trim_start().starts_with("total")).unwrap();
        assert_eq!(total.split_whitespace().nth(1), Some(types.len().to_string().as_str()));
        assert!(total.ends_with("100.0%"));
    }
}

#[test]
fn json_output_parses_and_matches_the_sidecars() {
    for (path, types) in fixtures() {
        let o = armlet(&["info", s(&path), "--json"]);
        assert!(o.status.success());
        let doc = json::parse(&stdout(&o)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(doc.get("architecture").and_then(|a| a.str()), Some("falcon-h1"));
        let tensors = doc.get("tensors").and_then(|t| t.arr()).unwrap();
        assert_eq!(tensors.len(), types.len(), "{}", path.display());
        for (name, ty) in &types {
            let t = tensors.iter().find(|t| t.get("name").and_then(|n| n.str()) == Some(name)).unwrap();
            assert_eq!(t.get("type").and_then(|t| t.str()), Some(ty.as_str()), "{}: {name}", path.display());
        }
        let total: f64 = tensors.iter().map(|t| t.get("bytes").and_then(|b| b.num()).unwrap()).sum();
        assert_eq!(doc.get("tensor_bytes").and_then(|b| b.num()), Some(total));
        let per_type = doc.get("bytes_per_type").and_then(|t| t.arr()).unwrap();
        let by_type: f64 = per_type.iter().map(|t| t.get("bytes").and_then(|b| b.num()).unwrap()).sum();
        let count: f64 = per_type.iter().map(|t| t.get("tensors").and_then(|b| b.num()).unwrap()).sum();
        assert_eq!((by_type, count as usize), (total, types.len()));
        let tok = doc.get("tokenizer").unwrap();
        assert_eq!(tok.get("vocab_size").and_then(|v| v.num()), Some(3072.0));
        assert_eq!(tok.get("merges").and_then(|v| v.num()), Some(2811.0));
        let eos = tok.get("special_tokens").and_then(|s| s.get("eos")).unwrap();
        assert_eq!(eos.get("text").and_then(|t| t.str()), Some("<|end_of_text|>"));
        let hp = doc.get("hyperparameters").unwrap();
        assert_eq!(hp.get("block_count").and_then(|v| v.num()), Some(2.0));
        assert_eq!(hp.get("attention.layer_norm_rms_epsilon").and_then(|v| v.num()), Some(1e-5));
        assert_eq!(doc.get("memory_plan"), None);
    }
}

#[test]
fn vocab_files_have_no_tensors_and_valid_json() {
    for path in vocab_files() {
        let o = armlet(&["info", s(&path), "--json"]);
        assert!(o.status.success(), "{}", path.display());
        let doc = json::parse(&stdout(&o)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(doc.get("tensors").and_then(|t| t.arr()).map(|t| t.len()), Some(0));
        let n = doc.get("tokenizer").and_then(|t| t.get("vocab_size")).and_then(|v| v.num()).unwrap();
        assert!(n >= 3072.0, "{}", path.display());
        let text = stdout(&armlet(&["info", s(&path)]));
        assert!(text.contains("0 tensors;") && text.contains("tensors (0)"));
    }
}

/// The Gemma 3 fixture: its sliding layer 0 and global layer 1, the window and both RoPE
/// bases, in text and JSON; with `--ctx` the sliding layer's ring in the plan.
#[test]
fn gemma3_layer_kinds_and_window() {
    let path = shared().join("fixtures/gemma3-tiny-Q4_K_M.gguf");
    let text = stdout(&armlet(&["info", s(&path), "--ctx", "64"]));
    let want = "attention layers  2: 1 sliding (window 8, RoPE base 10000), 1 global (RoPE base 1000000)";
    assert!(text.contains(want), "{text}");
    assert!(text.contains("  kinds           SG (S sliding, G global, layer 0 first)"), "{text}");
    assert!(text.contains("| KV cache: keys (f16; 1 global layers × 64 positions, 1 sliding × 8) | 9,216 |"), "{text}");
    let doc = json::parse(&stdout(&armlet(&["info", s(&path), "--json"]))).unwrap();
    let layers = doc.get("layers").unwrap();
    let kinds: Vec<&str> =
        layers.get("kinds").and_then(|k| k.arr()).unwrap().iter().map(|k| k.str().unwrap()).collect();
    assert_eq!(kinds, ["sliding", "global"]);
    assert_eq!(layers.get("sliding_window").and_then(|w| w.num()), Some(8.0));
    assert_eq!(layers.get("rope_base_sliding").and_then(|w| w.num()), Some(10000.0));
    // A model without sliding layers says so.
    let micro = stdout(&armlet(&["info", s(&shared().join("fixtures/falcon-h1-micro-Q8_0.gguf"))]));
    assert!(micro.contains("attention layers  2, all global (RoPE base 100000000000)"), "{micro}");
}

#[test]
fn ctx_prints_the_memory_plan() {
    let path = shared().join("fixtures/falcon-h1-micro-Q8_0.gguf");
    let text = stdout(&armlet(&["info", s(&path), "--ctx", "256"]));
    assert!(text.contains("memory plan: 256 positions, f16 KV cache"));
    assert!(text.contains("| KV cache: keys (f16, 256 positions) |"));
    assert!(text.contains("| **arena total** |"));
    let o = armlet(&["info", s(&path), "--ctx", "256", "--kv", "f32", "--json"]);
    let doc = json::parse(&stdout(&o)).unwrap();
    let plan = doc.get("memory_plan").unwrap();
    assert_eq!(plan.get("n_ctx").and_then(|v| v.num()), Some(256.0));
    assert_eq!(plan.get("kv_type").and_then(|v| v.str()), Some("f32"));
    let regions = plan.get("regions").and_then(|r| r.arr()).unwrap();
    let sum: f64 = regions.iter().map(|r| r.get("bytes").and_then(|b| b.num()).unwrap()).sum();
    let padding = plan.get("padding_bytes").and_then(|v| v.num()).unwrap();
    assert_eq!(plan.get("arena_bytes").and_then(|v| v.num()), Some(sum + padding));
    // A vocab-only file has no model to plan for: one line, exit 1.
    let vocab = shared().join("vocab/ggml-vocab-gpt-2.gguf");
    let o = armlet(&["info", s(&vocab), "--ctx", "256"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("armlet: {}: ", s(&vocab))), "{err}");
}

#[test]
fn errors_are_one_line_with_exit_status_1() {
    let dir = std::env::temp_dir().join(format!("armlet-info-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let micro = std::fs::read(shared().join("fixtures/falcon-h1-micro-Q4_K_S.gguf")).unwrap();
    let cut = dir.join("cut.gguf");
    std::fs::write(&cut, &micro[..1000]).unwrap();
    let o = armlet(&["info", s(&cut)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err, format!("armlet: {}: array length 3072 exceeds the file (at byte 952)\n", s(&cut)));
    assert!(o.stdout.is_empty());
    for args in [
        vec!["info"],
        vec!["info", "/nonexistent/model.gguf"],
        vec!["info", s(&cut), "--ctx"],
        vec!["info", s(&cut), "--ctx", "many"],
        vec!["info", s(&cut), "--bogus"],
        vec!["info", s(&cut), s(&cut)],
        vec!["info", s(&dir)],
    ] {
        let o = armlet(&args);
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err.starts_with("armlet: ") && err.lines().count() == 1, "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // The read end is closed before armlet writes anything: every write fails with EPIPE.
    let path = shared().join("fixtures/falcon-h1-small-Q2_K.gguf");
    for flag in [None, Some("--json")] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_armlet"));
        cmd.args(["info", s(&path)]).args(flag).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{flag:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn strings_from_the_file_cannot_drive_the_terminal_and_survive_json() {
    use layout::{fixture, kv, tensor_info, Parts};
    let micro = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
    let mut p = Parts::of(&micro);
    let hostile = "evil\u{1b}[31m\"quoted\"\\\n\u{7}é\u{0}";
    p.kv.push(kv("test.hostile\u{1b}[2J", 8, &layout::gguf_string(hostile.as_bytes())));
    p.infos.push(tensor_info(format!("t\u{1b}]0;{hostile}").as_bytes()[..20].as_ref(), &[8], 0, 1 << 20));
    p.data.resize((1 << 20) + 64, 0);
    let dir = std::env::temp_dir().join(format!("armlet-info-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hostile.gguf");
    std::fs::write(&path, p.to_bytes()).unwrap();

    let o = armlet(&["info", s(&path)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!o.stdout.iter().any(|&b| b == 0x1b || b == 0x07 || b == 0), "a control byte reached the terminal");
    let text = stdout(&o);
    assert!(text.contains(r#"evil\u{1b}[31m\"quoted\"\\\n\u{7}é\u{0}"#), "{text}");

    let o = armlet(&["info", s(&path), "--json"]);
    let doc = json::parse(&stdout(&o)).unwrap();
    let other = doc.get("other_metadata").unwrap();
    assert_eq!(other.get("test.hostile\u{1b}[2J").and_then(|v| v.str()), Some(hostile));
    let names: Vec<&str> =
        doc.get("tensors").and_then(|t| t.arr()).unwrap().iter().map(|t| t.get("name").unwrap().str().unwrap()).collect();
    assert!(names.contains(&&format!("t\u{1b}]0;{hostile}")[..20]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_is_printed_with_exit_status_0() {
    let o = armlet(&["info", "--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("usage: armlet info MODEL.gguf"));
}
