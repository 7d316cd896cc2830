//! `armlet quantize` refusals: each bad request exits with status 1 and one line on stderr,
//! leaves the input untouched, and leaves no file behind (neither OUT nor a temporary).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ARMLET: &str = env!("CARGO_BIN_EXE_armlet");
const FIXTURES: &str = "/work/shared/fixtures";

/// A scratch directory holding a writable copy of the micro F32 fixture as `in.gguf`.
fn scratch_with_input(test: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("armlet-quantize-err-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.gguf");
    std::fs::copy(Path::new(FIXTURES).join("falcon-h1-micro-F32.gguf"), &input).unwrap();
    (dir, input)
}

fn quantize(args: &[&Path], ty: &str, extra: &[&str]) -> Output {
    Command::new(ARMLET).arg("quantize").args(args).arg(ty).args(extra).output().unwrap()
}

/// Asserts exit status 1 and a single `armlet: ...` line containing every `needle`.
fn assert_refused(run: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "stderr: {stderr}");
    let line = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert!(line.starts_with("armlet: ") && !line.contains('\n'), "not one line: {stderr:?}");
    for n in needles {
        assert!(line.contains(n), "{n:?} missing from {line:?}");
    }
}

/// The names in `dir`, sorted (to see that nothing was left behind).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn unknown_type_lists_the_valid_ones() {
    let (dir, input) = scratch_with_input("type");
    let out = dir.join("out.gguf");
    let run = quantize(&[&input, &out], "Q7_X", &[]);
    assert_refused(&run, &["unknown type 'Q7_X'", "Q4_K_M", "Q2_K", "BF16", "Q8_0"]);
    assert_eq!(listing(&dir), ["in.gguf"]);
    // Names are case-insensitive, as in llama-quantize.
    assert!(quantize(&[&input, &out], "q4_k_s", &[]).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_argument_count_is_refused() {
    let (dir, input) = scratch_with_input("args");
    assert_refused(&quantize(&[&input], "Q8_0", &[]), &["expected 3 arguments"]);
    assert_refused(&quantize(&[&input, &dir.join("o.gguf")], "Q8_0", &["--threads"]), &["unknown option --threads"]);
    assert_eq!(listing(&dir), ["in.gguf"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_that_is_the_input_is_refused_under_any_path() {
    let (dir, input) = scratch_with_input("same");
    let before = std::fs::read(&input).unwrap();
    let hard_link = dir.join("hard.gguf");
    std::fs::hard_link(&input, &hard_link).unwrap();
    let sym_link = dir.join("sym.gguf");
    std::os::unix::fs::symlink(&input, &sym_link).unwrap();
    let dotted = dir.join(".").join("in.gguf");
    for out in [&input, &dotted, &hard_link, &sym_link] {
        assert_refused(&quantize(&[&input, out], "Q8_0", &[]), &["is the input file"]);
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);
    assert_eq!(listing(&dir), ["hard.gguf", "in.gguf", "sym.gguf"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unwritable_output_is_refused() {
    let (dir, input) = scratch_with_input("unwritable");
    let missing_dir = dir.join("no-such-dir").join("out.gguf");
    assert_refused(&quantize(&[&input, &missing_dir], "Q8_0", &[]), &["cannot create", "No such file or directory"]);
    // A path through a regular file fails even for root (permission bits would not).
    let under_file = input.join("out.gguf");
    assert_refused(&quantize(&[&input, &under_file], "Q8_0", &[]), &["cannot create", "Not a directory"]);
    let a_dir = dir.join("a-dir");
    std::fs::create_dir(&a_dir).unwrap();
    assert_refused(&quantize(&[&input, &a_dir], "Q8_0", &[]), &["is a directory"]);
    assert_eq!(listing(&dir), ["a-dir", "in.gguf"]);
    assert!(listing(&a_dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn requantizing_needs_the_flag_and_a_failed_run_keeps_the_old_output() {
    let (dir, _) = scratch_with_input("requant");
    let quantized = dir.join("q8.gguf");
    std::fs::copy(Path::new(FIXTURES).join("falcon-h1-micro-Q8_0.gguf"), &quantized).unwrap();
    let out = dir.join("out.gguf");
    std::fs::write(&out, b"previous contents").unwrap();
    assert_refused(&quantize(&[&quantized, &out], "Q4_0", &[]), &["already quantized (Q8_0)", "--allow-requantize"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");
    assert_eq!(listing(&dir), ["in.gguf", "out.gguf", "q8.gguf"]);

    let run = quantize(&[&quantized, &out], "Q4_0", &["--allow-requantize"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let written = std::fs::read(&out).unwrap();
    assert_eq!(&written[..4], b"GGUF");
    assert_eq!(listing(&dir), ["in.gguf", "out.gguf", "q8.gguf"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn input_that_is_not_gguf_is_refused() {
    let (dir, _) = scratch_with_input("not-gguf");
    let bogus = dir.join("bogus.gguf");
    std::fs::write(&bogus, b"this is not a model file at all, just text").unwrap();
    let out = dir.join("out.gguf");
    assert_refused(&quantize(&[&bogus, &out], "Q8_0", &[]), &["bogus.gguf"]);
    assert_refused(&quantize(&[&dir.join("absent.gguf"), &out], "Q8_0", &[]), &["cannot open", "absent.gguf"]);
    assert_eq!(listing(&dir), ["bogus.gguf", "in.gguf"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
