//! `armlet` on SmolLM2-135M-Instruct (architecture `llama`) as a person runs it: a raw
//! ChatML prompt with `-no-cnv` answers as llama.cpp does, and chat mode (`-cnv`) renders
//! the file's template with its default system message and keeps the conversation.
//! Runs when `scripts/fetch-smollm2` has put the model in `.cache/smollm2/` (`scripts/test`
//! does); otherwise each test prints a notice and passes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn model() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.is_file() {
        Some(path.display().to_string())
    } else {
        eprintln!("SKIPPED: {} is missing (run scripts/fetch-smollm2 to fetch it)", path.display());
        None
    }
}

/// Runs armlet with `args` and `stdin` as its input.
fn armlet(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_armlet"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run armlet");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("armlet finishes");
    assert!(out.status.success(), "armlet {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

const SYSTEM: &str =
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";

#[test]
fn raw_chatml_prompt_answers_like_llama_cpp() {
    let Some(m) = model() else { return };
    // The prompt's \n are escapes, which armlet processes by default (as llama.cpp's -e).
    let prompt = r"<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let o = armlet(&["-m", &m, "-p", prompt, "-no-cnv", "--temp", "0", "-n", "64", "-c", "512"], "");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.trim_end().ends_with("The capital of France is Paris."), "{out}");
    assert!(out.starts_with("<|im_start|>user\nWhat is the capital of France?"), "the prompt is echoed: {out}");
}

/// The prompt `--verbose-prompt` lists on stderr (`  id -> "piece"` lines, each piece in
/// Rust's debug quoting), as the pieces' quoted texts joined: the debug quoting of the whole
/// prompt, without its outer quotes.
fn verbose_prompt_quoted(stderr: &str) -> String {
    let mut text = String::new();
    for line in stderr.lines() {
        let Some((id, piece)) = line.split_once(" -> ") else { continue };
        if id.trim().parse::<u32>().is_ok() {
            text.push_str(piece.strip_prefix('"').and_then(|p| p.strip_suffix('"')).expect("a quoted piece"));
        }
    }
    text
}

#[test]
fn chat_mode_renders_the_template_with_its_default_system_message() {
    let Some(m) = model() else { return };
    let args =
        ["-m", &m, "-cnv", "-p", "What is the capital of Germany?", "--verbose-prompt", "--temp", "0", "-c", "512"];
    let o = armlet(&args, "");
    let rendered = verbose_prompt_quoted(&String::from_utf8_lossy(&o.stderr));
    let want = format!("{SYSTEM}<|im_start|>user\nWhat is the capital of Germany?<|im_end|>\n<|im_start|>assistant\n");
    assert_eq!(rendered, format!("{want:?}").trim_matches('"'));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.trim(), "The capital of Germany is Berlin.");
}

/// smollm2.md's two-turn chat: the first answer stays in the context for the second.
#[test]
fn chat_mode_keeps_the_conversation() {
    let Some(m) = model() else { return };
    let o = armlet(
        &["-m", &m, "-cnv", "--temp", "0", "-c", "512"],
        "What is the capital of Germany?\nAnd what is the capital of Japan?\n",
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let answers: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(answers, ["The capital of Germany is Berlin.", "The capital of Japan is Tokyo."], "{out}");
}
