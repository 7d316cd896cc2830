//! `armlet` on a model whose metadata names a special token the vocabulary does not have
//! (BOS 2^31, EOS one past the last token, EOT, PAD, UNK out of range): a run, a chat,
//! `armlet serve`, `tokenize`, `perplexity` and `logits` stop before any work with one
//! line naming the file, the key and the id, and exit status 1. The same file with ids
//! inside the vocabulary runs.

#[path = "../../core/tests/gguf_support/layout.rs"]
mod layout;

use layout::{fixture, kv_u32, Parts};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The Falcon-H1 micro model (a 3072-token vocabulary).
const MICRO: &str = "fixtures/falcon-h1-micro-Q4_K_S.gguf";
const N_VOCAB: u32 = 3072;

/// The key of an encoded metadata entry.
fn entry_key(entry: &[u8]) -> &[u8] {
    let len = u64::from_le_bytes(entry[..8].try_into().unwrap()) as usize;
    &entry[8..8 + len]
}

/// The micro model with each `(key, id)` set (replacing the file's entry, or added), written
/// to this test binary's scratch folder.
fn micro_with(name: &str, ids: &[(&str, u32)]) -> PathBuf {
    let mut parts = Parts::of(&fixture(MICRO));
    for &(key, id) in ids {
        parts.kv.retain(|e| entry_key(e) != key.as_bytes());
        parts.kv.push(kv_u32(key, id));
    }
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("special_ids_cli-{name}.gguf"));
    std::fs::write(&path, parts.to_bytes()).unwrap();
    path
}

fn armlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_armlet"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run armlet")
}

#[test]
fn a_special_token_id_outside_the_vocabulary_is_one_clear_error() {
    let cases = [
        ("bos", "tokenizer.ggml.bos_token_id", 1u32 << 31),
        ("eos", "tokenizer.ggml.eos_token_id", N_VOCAB),
        ("eot", "tokenizer.ggml.eot_token_id", N_VOCAB + 5),
        ("pad", "tokenizer.ggml.padding_token_id", N_VOCAB),
        ("unk", "tokenizer.ggml.unknown_token_id", u32::MAX),
    ];
    let text = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("special_ids_cli-text.txt");
    std::fs::write(&text, "Hello world. ".repeat(20)).unwrap();
    let t = text.to_str().unwrap();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("special_ids_cli-logits.txt");
    let l = out.to_str().unwrap();
    for (name, key, id) in cases {
        let path = micro_with(name, &[(key, id)]);
        let p = path.to_str().unwrap();
        let message = format!("{key} is {id}, outside the vocabulary of {N_VOCAB} tokens");
        // A completion, a chat (the fixture has a template), the server (refused before it
        // listens), and the tools that tokenize.
        let runs: [(&[&str], String); 6] = [
            (
                &["-m", p, "-p", "Hi", "-n", "4", "-no-cnv"],
                format!("armlet: {p}: tokenizer: {message}"),
            ),
            (&["-m", p, "-p", "Hi"], format!("armlet: {p}: tokenizer: {message}")),
            (
                &["serve", "-m", p, "--port", "0"],
                format!("armlet: {p}: tokenizer: {message}"),
            ),
            (
                &["tokenize", "-m", p, "-p", "Hi"],
                format!("armlet: {p}: tokenizer: {message}"),
            ),
            (
                &["perplexity", "-m", p, "-f", t, "-c", "16"],
                format!("armlet: {p}: tokenizer: {message}"),
            ),
            (
                &["logits", "-m", p, "-p", "Hi", "-n", "1", "-o", l],
                format!("armlet: {p}: tokenizer: {message}"),
            ),
        ];
        for (args, expected) in runs {
            let o = armlet(args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
            assert_eq!(
                err.lines().collect::<Vec<_>>(),
                [expected.as_str()],
                "{args:?}: one line"
            );
            assert!(o.stdout.is_empty(), "{args:?}: nothing generated");
        }
    }
}

#[test]
fn special_token_ids_inside_the_vocabulary_run() {
    let path = micro_with(
        "in-range",
        &[
            ("tokenizer.ggml.eos_token_id", N_VOCAB - 1),
            ("tokenizer.ggml.eot_token_id", 4),
            ("tokenizer.ggml.padding_token_id", N_VOCAB - 1),
            ("tokenizer.ggml.unknown_token_id", 0),
        ],
    );
    let o = armlet(&[
        "-m",
        path.to_str().unwrap(),
        "-p",
        "Hi",
        "-n",
        "4",
        "-no-cnv",
        "-s",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Hi"));
}
