//! What `armlet` answers to bad input, end to end (the table of docs/bad-input.md): a model
//! whose weights are NaN, files that are not models, prompts and arguments that are not
//! text or do not fit. Each is one line `armlet: MESSAGE` on stderr and exit status 1,
//! never a panic; a full context during generation is a note and a normal exit.

use armlet_core::gguf::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name)
}

fn micro() -> Vec<u8> {
    std::fs::read(fixture("falcon-h1-micro-Q4_K_S.gguf")).unwrap()
}

/// Writes `bytes` to a file of this test binary's scratch folder.
fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile_cli-{name}"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn armlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_armlet")).args(args).stdin(Stdio::null()).output().expect("run armlet")
}

/// Runs armlet and checks that it failed cleanly with exactly `message`.
fn fails_with(args: &[&str], message: &str) {
    let o = armlet(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(err.lines().last(), Some(format!("armlet: {message}").as_str()), "{args:?}");
}

/// The micro model with every weight of the F32 tensor `name` set to `value`.
fn with_weights(name: &str, value: f32) -> Vec<u8> {
    let mut b = micro();
    let (at, len) = {
        let file = File::parse(&b).unwrap();
        let t = file.tensor(name).unwrap();
        (t.data.as_ptr() as usize - b.as_ptr() as usize, t.data.len())
    };
    for v in b[at..at + len].chunks_exact_mut(4) {
        v.copy_from_slice(&value.to_le_bytes());
    }
    b
}

#[test]
fn nan_or_infinite_weights_are_reported_not_sampled() {
    for (tensor, value) in [("output_norm.weight", f32::NAN), ("blk.0.attn_norm.weight", f32::INFINITY)] {
        let path = scratch_file(&format!("{tensor}-{value}.gguf"), &with_weights(tensor, value));
        let p = path.to_str().unwrap();
        // Greedy and sampled: the sampler checks the logits before either.
        for temp in ["0", "0.8"] {
            fails_with(
                &["-m", p, "-p", "Hello", "-n", "4", "--temp", temp, "-no-cnv"],
                "the model produced a NaN or infinite logit (token 0); refusing to sample",
            );
        }
    }
}

#[test]
fn files_that_are_not_models_are_refused_with_what_is_wrong() {
    let text = scratch_file("text.gguf", b"hello\n");
    let truncated = scratch_file("truncated.gguf", &micro()[..5000]);
    let mut arch = micro();
    let at = arch.windows(9).position(|w| w == b"falcon-h1").unwrap();
    arch[at..at + 9].copy_from_slice(b"mamba-xyz");
    let arch = scratch_file("arch.gguf", &arch);
    let mut missing = micro();
    let at = missing.windows(11).position(|w| w == b"blk.1.ssm_d").unwrap();
    missing[at..at + 11].copy_from_slice(b"blk.1.ssm_q");
    let missing = scratch_file("missing.gguf", &missing);
    let mut merges = micro();
    let at = {
        let file = File::parse(&merges).unwrap();
        let merge = file.get("tokenizer.ggml.merges").and_then(|v| v.as_array()).and_then(|a| a.iter().nth(5));
        merge.and_then(|m| m.as_bytes()).unwrap().as_ptr() as usize - merges.as_ptr() as usize
    };
    merges[at] = 0xFF; // no token text starts with a byte that is not UTF-8
    let merges = scratch_file("merges.gguf", &merges);
    let cases = [
        (&merges, "tokenizer: tokenizer.ggml.merges[5] is not two tokens of the vocabulary separated by a space"),
        (&text, "not a GGUF file (magic 68 65 6c 6c, expected \"GGUF\") (at byte 0)"),
        (&truncated, "array length 3072 exceeds the file (at byte 952)"),
        (&arch, "unsupported architecture `mamba-xyz` (supported: falcon-h1, gemma3, llama)"),
        (&missing, "missing tensor blk.1.ssm_d"),
    ];
    for (path, message) in cases {
        let p = path.to_str().unwrap();
        fails_with(&["-m", p, "-p", "Hi", "-no-cnv"], &format!("{p}: {message}"));
    }
    fails_with(
        &["-m", "/nonexistent/model.gguf", "-p", "Hi"],
        "cannot open model file /nonexistent/model.gguf: No such file or directory (os error 2)",
    );
}

#[test]
fn prompts_and_arguments_that_are_not_text_or_do_not_fit_are_refused() {
    let model = fixture("falcon-h1-micro-Q4_K_S.gguf");
    let m = model.to_str().unwrap();
    let not_utf8 = scratch_file("not-utf8.txt", b"caf\xe9\n");
    let nf = not_utf8.to_str().unwrap();
    fails_with(&["-m", m, "-f", nf, "-no-cnv"], &format!("prompt file {nf} is not UTF-8 text"));
    let long = "word ".repeat(50);
    fails_with(
        &["-m", m, "-p", &long, "-c", "8", "-no-cnv"],
        "the prompt has 101 tokens but the context holds 8 (use -c to make it larger)",
    );
    fails_with(
        &["-m", m, "-p", &"a".repeat(20_000), "-no-cnv"],
        "cannot tokenize the prompt: text of 20000 bytes between special tokens; the tokenizer's working memory takes 4096",
    );
    fails_with(&["-m", m, "-p", "Hi", "-n", "abc"], "-n: \"abc\" is not a valid number");
    fails_with(&["-m", m, "-p", "Hi", "--temp", "hot"], "--temp: \"hot\" is not a valid number");
    fails_with(&["-m", m, "-p", "Hi", "-c", "-5"], "-c: \"-5\" is not a valid number");
    fails_with(
        &["-m", m, "-p", "Hi", "-c", "999999999", "-no-cnv"],
        &format!("{m}: context of 999999999 tokens is beyond the model's limit of 262144"),
    );
    fails_with(&["-m", m, "--bogus"], "unknown option --bogus (see armlet --help)");
    fails_with(&["-m", m, "-p"], "-p needs a value");
    fails_with(
        &["-m", m, "-p", "Hi", "--mem-limit", "1"],
        "not enough memory: the model file alone is 0.4 MiB and 0.0 MiB is available (--mem-limit)",
    );
}

#[cfg(unix)]
#[test]
fn an_argument_that_is_not_utf8_is_refused_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let model = fixture("falcon-h1-micro-Q4_K_S.gguf");
    let o = Command::new(env!("CARGO_BIN_EXE_armlet"))
        .arg("-m")
        .arg(&model)
        .arg("-p")
        .arg(std::ffi::OsStr::from_bytes(b"caf\xe9"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "armlet: argument \"caf\\xE9\" is not UTF-8 text\n");
}

#[test]
fn a_full_context_ends_generation_with_a_note_not_an_error() {
    let model = fixture("falcon-h1-micro-Q4_K_S.gguf");
    let o = armlet(&["-m", model.to_str().unwrap(), "-p", "Hi", "-c", "6", "-n", "50", "--ignore-eos", "-no-cnv"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("armlet: the context is full (6 tokens); use -c to make it larger"), "{err}");
}
