//! `armlet tokenize` run as a program on the vocab test vectors of ../shared/vocab: the case
//! text goes in with `-f` (verbatim, `--no-escape`), `--ids` output is compared with the
//! `.out` ids; `.special` cases use `--parse-special`; `--no-bos` everywhere because the
//! vectors were made with add_special = false. Also the piece listing, BOS, and errors.
//!
//! Every `ggml-vocab-NAME.gguf` of the folder is taken. One process per case loads the
//! vocab and builds its tables (0.2 s for gemma3's 262,144 tokens, 0.15 s for llama-bpe and
//! qwen2, 0.03 s for the 50k-65k vocabs), so by default every 8th case of llama-bpe and
//! qwen2, every 4th of gemma3, every 2nd of gpt-2, smollm and falcon (and of a vocab added
//! later), and every case of llama-spm and the fixture vocab are run;
//! `ARMLET_TOKENIZE_ALL=1` runs every case (about 4 CPU-minutes).
//! `ARMLET_TOKENIZE_SPARSE=K` runs only every K-th of those (scripts/test under qemu-arm,
//! where loading the big vocabs takes seconds a case; the host run keeps the default).
//! The core's `text_vocab` test runs every case of every vocab in-process.
//! `ARMLET_EXE` runs another binary (scripts/test: the ARM build under qemu-arm).

use std::path::PathBuf;
use std::process::{Command, Output};

fn vocab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vocab")
}

/// The armlet under test: this build, or (with `ARMLET_EXE="qemu-arm -cpu arm1176 PATH"`,
/// as scripts/test sets it) the ARM binary under qemu.
fn armlet(args: &[&str]) -> Output {
    let exe = std::env::var("ARMLET_EXE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_armlet").to_string());
    let mut words = exe.split_whitespace();
    Command::new(words.next().unwrap())
        .args(words)
        .args(args)
        .output()
        .unwrap()
}

fn split_cases(data: &[u8]) -> Vec<&[u8]> {
    const SEP: &[u8] = b"\n__ggml_vocab_test__\n";
    let mut cases = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        match data[pos..].windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                cases.push(&data[pos..pos + i]);
                pos += i + SEP.len();
            }
            None => {
                cases.push(&data[pos..]);
                break;
            }
        }
    }
    cases
}

fn parse_id_list(stdout: &[u8]) -> Vec<u32> {
    let s = std::str::from_utf8(stdout).unwrap().trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not a list: {s:?}"));
    inner
        .split(", ")
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().unwrap())
        .collect()
}

/// Runs every `stride`-th case of one file set; returns (cases run, mismatch report).
fn check_file(
    vocab: &str,
    suffix: &str,
    stride: usize,
    scratch: &std::path::Path,
) -> (usize, Vec<String>) {
    let gguf = vocab_dir().join(format!("ggml-vocab-{vocab}.gguf"));
    let base = format!("ggml-vocab-{vocab}.gguf{suffix}");
    let inp = std::fs::read(vocab_dir().join(format!("{base}.inp"))).unwrap();
    let out = std::fs::read_to_string(vocab_dir().join(format!("{base}.out"))).unwrap();
    let expected: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    let case_file = scratch.join(format!("{vocab}{suffix}.txt"));
    let mut bad = Vec::new();
    let mut run = 0;
    for (i, case) in split_cases(&inp).iter().enumerate().step_by(stride) {
        std::fs::write(&case_file, case).unwrap();
        let mut args = vec![
            "tokenize",
            "-m",
            gguf.to_str().unwrap(),
            "-f",
            case_file.to_str().unwrap(),
            "--ids",
            "--no-bos",
            "--no-escape",
        ];
        if suffix == ".special" {
            args.push("--parse-special");
        }
        let o = armlet(&args);
        assert!(
            o.status.success(),
            "{base} case {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = parse_id_list(&o.stdout);
        if got != expected[i] {
            bad.push(format!(
                "{base} case {i}: got {got:?} want {:?}",
                expected[i]
            ));
        }
        run += 1;
    }
    (run, bad)
}

#[test]
fn every_vocab_vector_through_the_command_line() {
    let scratch = std::env::temp_dir().join(format!("armlet-tokenize-test-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    // Every vocab of the folder, so that one added there is tested here too.
    let mut vocabs: Vec<String> = std::fs::read_dir(vocab_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            Some(name.strip_prefix("ggml-vocab-")?.strip_suffix(".gguf")?.to_string())
        })
        .collect();
    vocabs.sort();
    assert!(vocabs.iter().any(|v| v == "gemma3") && vocabs.len() >= 8, "vocabs found: {vocabs:?}");
    let sparse: usize = std::env::var("ARMLET_TOKENIZE_SPARSE").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    // Two vocabs at a time (the machine has two cores).
    let results: Vec<(usize, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = vocabs
            .chunks(vocabs.len().div_ceil(2))
            .map(|group| {
                let scratch = &scratch;
                s.spawn(move || {
                    let mut all = (0, Vec::new());
                    for v in group.iter().map(String::as_str) {
                        let stride = sparse
                            * match (std::env::var_os("ARMLET_TOKENIZE_ALL").is_some(), v) {
                                (true, _) | (_, "llama-spm" | "falcon-h1-fixture") => 1,
                                (_, "llama-bpe" | "qwen2") => 8,
                                (_, "gemma3") => 4,
                                _ => 2,
                            };
                        for suffix in ["", ".extra", ".special"] {
                            let (n, bad) = check_file(v, suffix, stride, scratch);
                            all.0 += n;
                            all.1.extend(bad);
                        }
                    }
                    all
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    std::fs::remove_dir_all(&scratch).ok();
    let total: usize = results.iter().map(|r| r.0).sum();
    let bad: Vec<&String> = results.iter().flat_map(|r| r.1.iter()).collect();
    assert!(total > 1200 / sparse, "only {total} cases run");
    assert!(
        bad.is_empty(),
        "{} of {total} cases differ:\n{:#?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn piece_listing_bos_and_escapes_like_llama_tokenize() {
    let spm = vocab_dir().join("ggml-vocab-llama-spm.gguf");
    let o = armlet(&[
        "tokenize",
        "-m",
        spm.to_str().unwrap(),
        "-p",
        "Hello world\\n",
        "--show-count",
    ]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "     1 -> '<s>'\n 15043 -> ' Hello'\n  3186 -> ' world'\n    13 -> '\n'\nTotal number of tokens: 4\n"
    );
    let fixture = vocab_dir().join("ggml-vocab-falcon-h1-fixture.gguf");
    let o = armlet(&[
        "tokenize",
        "-m",
        fixture.to_str().unwrap(),
        "-p",
        "<|im_start|>user",
        "--parse-special",
        "--ids",
    ]);
    assert_eq!(parse_id_list(&o.stdout), [1, 3, 1373]);
    let o = armlet(&["tokenize", "-m", fixture.to_str().unwrap(), "-p", "x"]);
    assert!(o.status.success());
    assert!(
        o.stdout.starts_with(b"     1 -> '<|begin_of_text|>'\n"),
        "add_bos_token = true: BOS first"
    );
    let o = armlet(&["tokenize", "-m", "/nonexistent.gguf", "-p", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("armlet: cannot open model file"));
    let o = armlet(&["tokenize", "-m", fixture.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
}
