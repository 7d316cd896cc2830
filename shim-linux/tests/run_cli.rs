//! The completion command end to end: the walkthrough's command line, reproducible
//! sampling, streaming output with statistics, and every error a person can make, each with
//! its message and exit status 1.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name)
}

fn armlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_armlet")).args(args).output().expect("run armlet")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SEED_LINE: [&str; 10] = ["-p", "Hello! How are you?", "-n", "32", "--threads", "1", "--ctx-size", "128", "--no-mmap", "-no-cnv"];

#[test]
fn the_walkthrough_command_prints_text_and_statistics() {
    let model = fixture("falcon-h1-small-Q4_K_S.gguf");
    let mut args = vec!["-m", model.to_str().unwrap()];
    args.extend(SEED_LINE);
    args.extend(["--ignore-eos"]);
    let o = armlet(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("Hello! How are you?"), "{out}");
    assert!(out.len() > "Hello! How are you?".len() + 10, "no generated text: {out}");
    let err = stderr(&o);
    for want in ["load time", "prompt eval time", "/    10 tokens", "eval time", "/    32 tokens", "peak memory", "memory plan"] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn same_seed_same_text_other_seed_other_text() {
    let model = fixture("falcon-h1-small-Q4_K_S.gguf");
    let run = |seed: &str| {
        let o = armlet(&["-m", model.to_str().unwrap(), "-p", "Hello", "-n", "24", "-s", seed, "--temp", "1.0", "-no-cnv", "--ignore-eos"]);
        assert!(o.status.success(), "{}", stderr(&o));
        o.stdout
    };
    assert_eq!(run("42"), run("42"));
    assert_ne!(run("42"), run("43"));
}

#[test]
fn json_statistics_are_one_object() {
    let model = fixture("falcon-h1-micro-Q4_K_S.gguf");
    let o = armlet(&["-m", model.to_str().unwrap(), "-p", "Hi", "-n", "4", "-no-cnv", "--stats-json", "--ignore-eos"]);
    assert!(o.status.success());
    let line = stderr(&o).lines().last().unwrap_or_default().to_string();
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    for key in ["\"load_ms\"", "\"prompt_tokens\":", "\"generated_tokens\":4", "\"peak_resident_bytes\"", "\"plan_bytes\""] {
        assert!(line.contains(key), "{key} missing in {line}");
    }
}

fn expect_error(args: &[&str], want: &str) {
    let o = armlet(args);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("armlet: ") && err.contains(want), "{args:?}: expected {want:?}, got {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}

#[test]
fn errors_a_person_can_act_on() {
    let dir = std::env::temp_dir().join(format!("armlet-run-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let micro = fixture("falcon-h1-micro-Q4_K_S.gguf");
    let micro = micro.to_str().unwrap();

    expect_error(&["-m", "/nonexistent/model.gguf", "-p", "x"], "cannot open model file /nonexistent/model.gguf");
    let not_gguf = dir.join("not.gguf");
    std::fs::write(&not_gguf, b"this is not a model").unwrap();
    expect_error(&["-m", not_gguf.to_str().unwrap(), "-p", "x"], "not a GGUF file");
    expect_error(&["-m", dir.to_str().unwrap(), "-p", "x"], "is a directory");
    let vocab = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vocab/ggml-vocab-gpt-2.gguf");
    expect_error(&["-m", vocab.to_str().unwrap(), "-p", "x"], "unsupported architecture `gpt2` (supported:");

    // The micro Q2_K file's Q4_0 matrices relabelled IQ4_NL (same block size, same bytes):
    // a type armlet does not compute with must be named.
    let mut bytes = std::fs::read(fixture("falcon-h1-micro-Q2_K.gguf")).unwrap();
    let name = b"blk.0.attn_q.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let type_at = at + 4 + 8 * n_dims;
    assert_eq!(u32::from_le_bytes(bytes[type_at..type_at + 4].try_into().unwrap()), 2, "expected Q4_0");
    bytes[type_at..type_at + 4].copy_from_slice(&20u32.to_le_bytes());
    let iq = dir.join("iq4nl.gguf");
    std::fs::write(&iq, &bytes).unwrap();
    expect_error(&["-m", iq.to_str().unwrap(), "-p", "x"], "IQ4_NL");

    expect_error(&["-m", micro, "-p", "x", "-c", "300000"], "beyond the model's limit of 262144");
    expect_error(&["-m", micro, "-p", "x", "--mem-limit", "100K"], "not enough memory");
    expect_error(&["-m", micro, "-p", "x", "--mem-limit", "600K"], "model 0.4 MiB + buffers");
    expect_error(&["-m", micro, "-no-cnv", "-p", ""], "empty prompt");
    expect_error(&["-m", micro, "-p", "x", "-n", "many"], "-n: \"many\" is not a valid number");
    expect_error(&["-m", micro, "-p", "x", "--temp", "-1"], "--temp: -1 is out of range");
    expect_error(&["-m", micro, "-p", "x", "--frobnicate"], "unknown option --frobnicate");
    expect_error(&["-m", micro, "-p", "x", "-c", "0x10"], "-c: \"0x10\" is not a valid number");
    let long = "word ".repeat(200);
    expect_error(&["-m", micro, "-no-cnv", "-p", &long, "-c", "16"], "the context holds 16");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_reads_like_a_man_page_summary() {
    let o = armlet(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for flag in ["-m, --model", "-p, --prompt", "-f, --file", "-n, --n-predict", "-c, --ctx-size", "-t, --threads", "--no-mmap", "--mmap", "-s, --seed", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n", "-e, --escape", "--verbose-prompt", "-cnv, --conversation", "-no-cnv", "-sys, --system-prompt", "--mem-limit", "--json", "info", "logits"] {
        assert!(out.contains(flag), "--help lacks {flag}");
    }
}
