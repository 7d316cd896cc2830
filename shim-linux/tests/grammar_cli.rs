//! Grammars from the command line: `armlet grammar-check` against llama.cpp's verdicts
//! (`shared/grammars/cases.json`), malformed grammars, and constrained generation with
//! `--grammar`, `--grammar-file` and `--json` on SmolLM2, in completion and in chat.
//!
//! The SmolLM2 tests print a notice and pass when `scripts/fetch-smollm2` has not run. The
//! exact-text cases are [`BUILD_INDEPENDENT`]; `core/tests/grammar_smollm2.rs` checks all ten
//! step by step.

#[path = "../../core/tests/gguf_support/json.rs"]
#[allow(dead_code)]
mod json;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const GRAMMARS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/grammars");
const SMOLLM2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");

fn armlet(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_armlet"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("armlet runs");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("armlet finishes")
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("armlet-grammar-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

fn smollm2() -> Option<&'static str> {
    if Path::new(SMOLLM2).exists() {
        Some(SMOLLM2)
    } else {
        eprintln!("SKIPPED: {SMOLLM2} is missing (run scripts/fetch-smollm2)");
        None
    }
}

fn reference(name: &str) -> json::Json {
    let text = std::fs::read_to_string(format!("{GRAMMARS}/{name}")).expect("reference file");
    json::parse(&text).expect("reference JSON")
}

#[test]
fn grammar_check_gives_llama_cpp_verdicts() {
    let cases = reference("cases.json");
    let mut n = 0;
    for g in cases.get("grammars").and_then(|g| g.arr()).expect("grammars") {
        let file = format!("{GRAMMARS}/{}", g.get("file").and_then(|f| f.str()).expect("file"));
        for (i, case) in g.get("cases").and_then(|c| c.arr()).expect("cases").iter().enumerate() {
            let input = case.get("input").and_then(|s| s.str()).expect("input");
            let text = temp_file(&format!("input-{n}"), input.as_bytes());
            let out = armlet(&["grammar-check", &file, text.to_str().unwrap()], None);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let accepted = case.get("accepted") == Some(&json::Json::Bool(true));
            let what = format!("{file} case {i} {input:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
            if accepted {
                assert_eq!(out.status.code(), Some(0), "{what}");
            } else {
                assert_eq!(out.status.code(), Some(1), "{what}");
                let position = case.get("position").and_then(|p| p.num()).expect("position") as usize;
                assert!(stdout.starts_with(&format!("rejected at character {position} ")), "{what}");
                let end = case.get("error").and_then(|e| e.str()) == Some("Unexpected end of input");
                assert_eq!(stdout.contains("unexpected end of input"), end, "{what}");
            }
            n += 1;
        }
    }
    assert_eq!(n, 96);
}

#[test]
fn malformed_grammars_exit_2_naming_line_and_column() {
    let cases = reference("cases.json");
    let expected = [
        ("unbalanced-parens", "line 2, column 1: expecting ')'"),
        ("undefined-rule", "line 1, column 10: Undefined rule identifier 'greeting'"),
        ("bad-escape", "line 1, column 11: unknown escape"),
    ];
    let malformed = cases.get("malformed").and_then(|m| m.arr()).expect("malformed");
    assert_eq!(malformed.len(), expected.len());
    let empty = temp_file("empty", b"");
    for (m, (name, message)) in malformed.iter().zip(expected) {
        assert_eq!(m.get("name").and_then(|n| n.str()), Some(name));
        let grammar = temp_file(&format!("{name}.gbnf"), m.get("grammar").and_then(|g| g.str()).unwrap().as_bytes());
        let out = armlet(&["grammar-check", grammar.to_str().unwrap(), empty.to_str().unwrap()], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
    }
    // Unreadable files are exit 2 as well; a text that is not UTF-8 is a rejection.
    let out = armlet(&["grammar-check", "/nonexistent.gbnf", empty.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let bad = temp_file("latin1", b"caf\xe9");
    let yesno = format!("{GRAMMARS}/yesno.gbnf");
    let out = armlet(&["grammar-check", &yesno, bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
}

/// A llama.cpp constrained run by its label: prompt and expected text.
fn constrained_case(label: &str) -> (String, String, String) {
    let all = reference("smollm2-constrained.json");
    let case = all
        .get("cases")
        .and_then(|c| c.arr())
        .and_then(|c| c.iter().find(|c| c.get("label").and_then(|l| l.str()) == Some(label)))
        .expect("case");
    let s = |v: Option<&json::Json>| v.and_then(|s| s.str()).expect("string").to_string();
    (s(case.get("prompt")), s(case.get("grammar")), s(case.get("constrained").and_then(|c| c.get("text"))))
}

/// The constrained runs whose text llama.cpp's AVX2 build (the reference file's), its AVX-512
/// build and its scalar build (no SIMD, as on a Pi 1) of the same commit all give. The other
/// four pass a near-tie of the model's logits, where each build's summation order picks its own
/// text (`docs/near-ties.md`).
const BUILD_INDEPENDENT: [&str; 6] = ["json-person", "yesno-sky", "yesno-fish", "yesno-rain", "list-fruits", "list-colors"];

#[test]
fn smollm2_constrained_completions_are_llama_cpp_text() {
    let Some(model) = smollm2() else { return };
    for label in BUILD_INDEPENDENT {
        let (prompt, grammar, text) = constrained_case(label);
        let grammar = format!("{GRAMMARS}/{grammar}");
        let args = ["-m", model, "-p", &prompt, "-n", "64", "--temp", "0", "-no-cnv", "--no-escape"];
        let out = armlet(&[&args[..], &["--grammar-file", &grammar, "--no-display-prompt", "-c", "256"]].concat(), None);
        assert!(out.status.success(), "{label}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{text}\n"), "{label}");
    }
    // The same grammar given inline.
    let (prompt, _, text) = constrained_case("yesno-sky");
    let out = armlet(
        &["-m", model, "-p", &prompt, "--temp", "0", "-no-cnv", "--no-escape", "--no-display-prompt", "-c", "256"]
            .iter()
            .copied()
            .chain(["--grammar", "root ::= \"yes\" | \"no\" | \"maybe\""])
            .collect::<Vec<_>>(),
        None,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{text}\n"));
}

#[test]
fn json_mode_writes_one_json_value_in_chat_and_completion() {
    let Some(model) = smollm2() else { return };
    // Chat: the prompt is the first message, the answer must be a whole JSON value.
    let question = "Give me a JSON object with the name and age of a fictional person.";
    let out = armlet(&["-m", model, "-p", question, "--json", "--temp", "0", "-c", "512", "-n", "64"], Some(b""));
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value = json::parse(answer.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {answer:?}"));
    assert!(value.obj().is_some(), "{answer}");
    // Completion under -n: whatever comes out is a beginning of JSON, and the run ends.
    let out = armlet(
        &["-m", model, "-p", "Three colors as JSON:", "--json", "--temp", "0", "-no-cnv", "-n", "12", "--no-display-prompt"],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.starts_with(['{', '[', '"', '-', 't', 'f', 'n']) || text.starts_with(|c: char| c.is_ascii_digit()), "{text:?}");
}

#[test]
fn every_chat_answer_follows_the_grammar_from_its_start() {
    let Some(model) = smollm2() else { return };
    let grammar = format!("{GRAMMARS}/yesno.gbnf");
    let out = armlet(
        &["-m", model, "-p", "Is the sky blue?", "--grammar-file", &grammar, "--temp", "0", "-c", "512"],
        Some(b"Is fire cold?\nIs water wet?\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(answers.len(), 3, "{text:?}");
    assert!(answers.iter().all(|a| ["yes", "no", "maybe"].contains(a)), "{text:?}");
}

#[test]
fn bad_grammar_flags_are_one_line_errors() {
    let Some(model) = smollm2() else { return };
    let cases: [(&[&str], &str); 4] = [
        (&["--grammar", "root ::= (\"a\""], "grammar --grammar: line 1, column 14: expecting ')'"),
        (&["--grammar", "root ::= \"a\"", "--json"], "give one grammar"),
        (&["--grammar-file", "/nonexistent.gbnf"], "cannot read grammar file /nonexistent.gbnf"),
        (&["--grammar", "start ::= \"a\""], "grammar does not contain a 'root' symbol"),
    ];
    for (flags, message) in cases {
        let out = armlet(&[&["-m", model, "-p", "hi", "-no-cnv"], flags].concat(), None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {stderr}");
        assert!(stderr.contains(message) && stderr.lines().count() == 1, "{flags:?}: {stderr}");
    }
}
