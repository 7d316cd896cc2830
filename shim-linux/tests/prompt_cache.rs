//! `--prompt-cache FILE` and the chat's `/save` and `/load`, end to end: a run that reuses a
//! cache prints the same text as a run without it and evaluates fewer prompt tokens; every
//! kind of bad cache is one warning line and a run from scratch; a failed write keeps the
//! old file; a chat saved, reset and loaded answers as if it had never stopped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name)
}

const SMOLLM2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");

/// A fresh folder for one test's cache files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("armlet-pc-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn armlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_armlet")).args(args).stdin(Stdio::null()).output().expect("run armlet")
}

fn text(o: &Output) -> String {
    assert!(o.status.success(), "armlet failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The number in the statistics line `prompt eval time = … / N tokens`.
fn evaluated(o: &Output) -> usize {
    let err = stderr(o);
    let line = err.lines().find(|l| l.contains("prompt eval time")).unwrap_or_else(|| panic!("no prompt eval line:\n{err}"));
    let n = line.split('/').nth(1).and_then(|s| s.split_whitespace().next()).expect("token count");
    n.parse().expect("a number")
}

fn reused(o: &Output) -> Option<usize> {
    let err = stderr(o);
    let line = err.lines().find(|l| l.contains("tokens reused"))?;
    line.split('/').nth(1)?.split_whitespace().next()?.parse().ok()
}

/// A completion of `prompt` with seeded sampling (so the sampler's random stream is checked
/// too), the prompt not echoed, and `extra` flags.
fn complete(model: &Path, prompt: &str, extra: &[&str]) -> Output {
    let m = model.to_str().unwrap();
    let mut args = vec!["-m", m, "-p", prompt, "-n", "12", "-s", "7", "-c", "64", "-no-cnv", "--no-display-prompt", "--ignore-eos"];
    args.extend(extra);
    armlet(&args)
}

const SHORT: &str = "Hello there, friend";
const LONG: &str = "Hello there, friend. Tell me about the old lighthouse by the sea";

/// The cache after SHORT, then LONG: the same text as without it, fewer tokens evaluated.
fn check_longer_prompt(model: &Path, test: &str) {
    let dir = scratch(test);
    let pc = dir.join("pc.bin");
    let pc = pc.to_str().unwrap();
    let first = complete(model, SHORT, &["--prompt-cache", pc]);
    assert_eq!(text(&first), text(&complete(model, SHORT, &[])));
    assert!(!stderr(&first).contains("warning"), "{}", stderr(&first));
    assert!(Path::new(pc).is_file(), "the cache was not written");

    let plain = complete(model, LONG, &[]);
    assert!(text(&plain).trim().len() > 8, "too little text to compare: {:?}", text(&plain));
    let cached = complete(model, LONG, &["--prompt-cache", pc]);
    assert_eq!(text(&cached), text(&plain), "the cache changed the text");
    let n_short = evaluated(&first);
    assert_eq!(reused(&cached), Some(n_short), "{}", stderr(&cached));
    assert_eq!(evaluated(&cached) + n_short, evaluated(&plain), "{}", stderr(&cached));

    // The same prompt again: nothing evaluated, the same text, the file not rewritten.
    let before = std::fs::read(pc).expect("cache");
    let again = complete(model, LONG, &["--prompt-cache", pc]);
    assert_eq!(text(&again), text(&plain));
    assert_eq!(evaluated(&again), 0, "{}", stderr(&again));
    assert_eq!(std::fs::read(pc).expect("cache"), before, "an exact match rewrote the cache");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn falcon_h1_reuses_its_cache_for_a_longer_prompt() {
    check_longer_prompt(&fixture("falcon-h1-small-Q4_K_S.gguf"), "falcon");
}

#[test]
fn smollm2_reuses_its_cache_for_a_longer_prompt() {
    if !Path::new(SMOLLM2).is_file() {
        eprintln!("SKIPPED: {SMOLLM2} is not there (scripts/fetch-smollm2 fetches it)");
        return;
    }
    check_longer_prompt(Path::new(SMOLLM2), "smollm2");
}

/// llama (attention only) cuts a cache back to the common beginning; Falcon-H1 cannot, says
/// so, and evaluates the whole prompt. Both give the text of a run without a cache.
#[test]
fn only_an_attention_model_rewinds_a_cache() {
    let dir = scratch("rewind");
    let pc = dir.join("pc.bin");
    let pc = pc.to_str().unwrap();
    let falcon = fixture("falcon-h1-small-Q4_K_S.gguf");
    text(&complete(&falcon, LONG, &["--prompt-cache", pc]));
    let o = complete(&falcon, SHORT, &["--prompt-cache", pc]);
    assert_eq!(text(&o), text(&complete(&falcon, SHORT, &[])));
    assert!(stderr(&o).contains("recurrent state cannot be rewound"), "{}", stderr(&o));
    assert_eq!(reused(&o), Some(0));

    if !Path::new(SMOLLM2).is_file() {
        eprintln!("SKIPPED the llama half: {SMOLLM2} is not there");
        return;
    }
    let smol = Path::new(SMOLLM2);
    std::fs::remove_file(pc).expect("remove");
    text(&complete(smol, LONG, &["--prompt-cache", pc]));
    let plain = complete(smol, SHORT, &[]);
    let o = complete(smol, SHORT, &["--prompt-cache", pc]);
    assert_eq!(text(&o), text(&plain));
    // Every token of SHORT is in the cache; the last one is evaluated again for its logits.
    assert_eq!(evaluated(&o), 1, "{}", stderr(&o));
    assert_eq!(reused(&o), Some(evaluated(&plain) - 1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Gemma 3 (the tiny fixture, window 8): a cache of a prompt longer than the window cannot be
/// cut back to a shorter common beginning (the sliding layer's ring has overwritten it), says
/// so and evaluates the whole prompt; with `--swa-full` it is cut back and reused. Both give
/// the text of a run without a cache.
#[test]
fn a_sliding_window_ring_rewinds_only_with_swa_full() {
    let dir = scratch("swa");
    let pc = dir.join("pc.bin");
    let pc = pc.to_str().unwrap();
    let gemma = fixture("gemma3-tiny-Q8_0.gguf");
    let plain = complete(&gemma, SHORT, &[]);
    text(&complete(&gemma, LONG, &["--prompt-cache", pc]));
    let o = complete(&gemma, SHORT, &["--prompt-cache", pc]);
    assert_eq!(text(&o), text(&plain));
    assert!(stderr(&o).contains("sliding-window layers no longer hold"), "{}", stderr(&o));
    assert_eq!(reused(&o), Some(0));

    std::fs::remove_file(pc).expect("remove");
    text(&complete(&gemma, LONG, &["--prompt-cache", pc, "--swa-full"]));
    let o = complete(&gemma, SHORT, &["--prompt-cache", pc, "--swa-full"]);
    assert_eq!(text(&o), text(&plain));
    assert_eq!(evaluated(&o), 1, "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// --prompt-cache-all saves the generated tokens too; --prompt-cache-ro never writes.
#[test]
fn all_and_read_only() {
    let dir = scratch("all-ro");
    let pc = dir.join("pc.bin");
    let pcs = pc.to_str().unwrap();
    let model = fixture("falcon-h1-small-Q4_K_S.gguf");
    text(&complete(&model, SHORT, &["--prompt-cache", pcs, "--prompt-cache-ro"]));
    assert!(!pc.exists(), "--prompt-cache-ro wrote the cache");
    let prompt_only = {
        text(&complete(&model, SHORT, &["--prompt-cache", pcs]));
        std::fs::metadata(&pc).expect("cache").len()
    };
    std::fs::remove_file(&pc).expect("remove");
    text(&complete(&model, SHORT, &["--prompt-cache", pcs, "--prompt-cache-all"]));
    let with_output = std::fs::metadata(&pc).expect("cache").len();
    // 12 more positions of K and V; the logits and the Mamba2 state are there in both.
    assert!(with_output > prompt_only, "{with_output} <= {prompt_only}");
    let before = std::fs::read(&pc).expect("cache");
    text(&complete(&model, LONG, &["--prompt-cache", pcs, "--prompt-cache-ro"]));
    assert_eq!(std::fs::read(&pc).expect("cache"), before, "--prompt-cache-ro rewrote the cache");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs SHORT with `--prompt-cache bad`, which must warn once, naming the file and
/// `reason`, and print the text of a run without a cache.
fn falls_back(model: &Path, bad: &Path, extra: &[&str], reason: &str) {
    let mut args = vec!["--prompt-cache", bad.to_str().unwrap(), "--prompt-cache-ro"];
    args.extend(extra);
    let o = complete(model, SHORT, &args);
    let err = stderr(&o);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{reason}: {err}");
    assert!(warnings[0].contains(bad.to_str().unwrap()) && warnings[0].contains(reason), "{reason}: {err}");
    assert!(warnings[0].ends_with("evaluating the prompt from scratch"), "{err}");
    assert_eq!(text(&o), text(&complete(model, SHORT, extra)), "{reason}");
}

#[test]
fn every_bad_cache_is_a_warning_and_a_run_from_scratch() {
    let dir = scratch("bad");
    let model = fixture("falcon-h1-small-Q4_K_S.gguf");
    let good = dir.join("good.bin");
    text(&complete(&model, SHORT, &["--prompt-cache", good.to_str().unwrap()]));
    let bytes = std::fs::read(&good).expect("cache");
    let variant = |name: &str, b: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, b).expect("write");
        p
    };
    falls_back(&model, &variant("cut.bin", &bytes[..bytes.len() - 1000]), &[], "truncated");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0xFF;
    falls_back(&model, &variant("flipped.bin", &flipped), &[], "checksum mismatch");
    let mut version = bytes.clone();
    version[8] = 99;
    falls_back(&model, &variant("version.bin", &version), &[], "state format version 99");
    falls_back(&model, &variant("text.bin", b"not a state at all, just text\n"), &[], "not an armlet state file");
    falls_back(&fixture("falcon-h1-micro-Q4_K_S.gguf"), &good, &[], "another shape");
    // Same shape, other weights: the same fixture quantized to Q8_0.
    falls_back(&fixture("falcon-h1-small-Q8_0.gguf"), &good, &[], "another model file");
    falls_back(&model, &good, &["-ctk", "f32"], "made with a f16 KV cache, this run uses f32");
    let long = dir.join("long.bin");
    text(&complete(&model, LONG, &["--prompt-cache", long.to_str().unwrap()]));
    falls_back(&model, &long, &["-c", "12"], "the context has 12");
    falls_back(&model, &dir, &[], "it is a directory");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Makes `cmd` run as user nobody when the tests run as root (as in CI), where file
/// permissions would not bind.
fn unprivileged(cmd: &mut Command) {
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.is_ok_and(|u| u == "0") {
        cmd.uid(65534).gid(65534);
    }
}

#[test]
fn an_unreadable_cache_and_an_unwritable_folder_are_warnings() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("perm");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let model = fixture("falcon-h1-small-Q4_K_S.gguf");
    let good = dir.join("good.bin");
    text(&complete(&model, SHORT, &["--prompt-cache", good.to_str().unwrap()]));
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let run = |extra: &[&str]| {
        let m = model.to_str().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_armlet"));
        cmd.args(["-m", m, "-p", SHORT, "-n", "12", "-s", "7", "-c", "64", "-no-cnv", "--no-display-prompt", "--ignore-eos"]);
        cmd.args(extra).stdin(Stdio::null());
        unprivileged(&mut cmd);
        cmd.output().expect("run armlet")
    };
    let plain = text(&complete(&model, SHORT, &[]));
    let o = run(&["--prompt-cache", good.to_str().unwrap()]);
    assert_eq!(text(&o), plain);
    let err = stderr(&o);
    assert!(err.contains("cannot read it") && err.contains("Permission denied"), "{err}");
    // The folder is root's (or read-only): the new state cannot be written; a warning.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let o = run(&["--prompt-cache", dir.join("new.bin").to_str().unwrap()]);
    assert_eq!(text(&o), plain);
    assert!(stderr(&o).contains("not saved") && stderr(&o).contains("the old file is kept"), "{}", stderr(&o));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A full disk, as a file-size limit (`ulimit -f`) smaller than the new state: the write
/// fails half way, the old cache stays as it was, and the answer is printed.
#[test]
fn a_full_disk_keeps_the_old_cache() {
    let dir = scratch("full");
    let model = fixture("falcon-h1-small-Q4_K_S.gguf");
    let pc = dir.join("pc.bin");
    text(&complete(&model, "Hi", &["--prompt-cache", pc.to_str().unwrap()]));
    let before = std::fs::read(&pc).expect("cache");
    let limit_blocks = before.len() / 1024 / 2;
    let script = format!(
        "trap '' XFSZ; ulimit -f {limit_blocks}; exec \"$0\" -m {} -p 'Hello there' -n 12 -s 7 -c 64 -no-cnv --no-display-prompt --ignore-eos --prompt-cache {}",
        model.display(),
        pc.display()
    );
    let o = Command::new("sh").args(["-c", &script, env!("CARGO_BIN_EXE_armlet")]).stdin(Stdio::null()).output().expect("sh");
    assert_eq!(text(&o), text(&complete(&model, "Hello there", &[])));
    assert!(stderr(&o).contains("not saved") && stderr(&o).contains("the old file is kept"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&pc).expect("cache"), before, "the old cache was damaged");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(leftovers.len(), 1, "a temporary file was left behind: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Chat lines typed on stdin (not a terminal); the model's answers in order.
fn chat(lines: &[&str]) -> (String, String) {
    use std::io::Write;
    let model = fixture("falcon-h1-small-Q4_K_S.gguf");
    let mut child = Command::new(env!("CARGO_BIN_EXE_armlet"))
        .args(["-m", model.to_str().unwrap(), "-cnv", "-n", "8", "--temp", "0", "--ignore-eos", "-c", "256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run armlet");
    let mut input = child.stdin.take().expect("stdin");
    for l in lines {
        writeln!(input, "{l}").expect("type");
    }
    drop(input);
    let o = child.wait_with_output().expect("armlet");
    (text(&o), stderr(&o))
}

#[test]
fn a_chat_saved_reset_and_loaded_goes_on_as_before() {
    let dir = scratch("chat");
    let file = dir.join("chat.state");
    let f = file.to_str().unwrap();
    let (straight, _) = chat(&["What is the capital of Belgium?", "And of France?"]);
    let save = format!("/save {f}");
    let load = format!("/load {f}");
    let (resumed, _) = chat(&["What is the capital of Belgium?", &save, "/reset", "Something else", &load, "And of France?"]);
    assert!(resumed.contains("(saved ") && resumed.contains("(loaded "), "{resumed}");
    let last = |s: &str| s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").to_string();
    assert_eq!(last(&resumed), last(&straight), "straight:\n{straight}\nresumed:\n{resumed}");
    // A bad file: the reason, and the conversation goes on untouched.
    let mut bytes = std::fs::read(&file).expect("state");
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).expect("write");
    let (kept, _) = chat(&["What is the capital of Belgium?", &load, "And of France?"]);
    assert!(kept.contains("checksum mismatch") && kept.contains("the conversation goes on as it was"), "{kept}");
    assert_eq!(last(&kept), last(&straight));
    let (missing, _) = chat(&["What is the capital of Belgium?", "/load /nonexistent/chat.state", "And of France?"]);
    assert!(missing.contains("no such file"), "{missing}");
    assert_eq!(last(&missing), last(&straight));
    let _ = std::fs::remove_dir_all(&dir);
}

/// In a chat the cache holds the first turn (system message and template included): the
/// same first question again is answered from it, with the same answer.
#[test]
fn a_chat_reuses_the_cache_for_its_first_turn() {
    let dir = scratch("chat-cache");
    let pc = dir.join("pc.bin");
    let model = fixture("falcon-h1-small-Q4_K_S.gguf");
    let run = |cache: bool| {
        let mut args = vec!["-m", model.to_str().unwrap(), "-cnv", "-sys", "Be brief.", "-n", "8", "--temp", "0", "--ignore-eos"];
        if cache {
            args.extend(["--prompt-cache", pc.to_str().unwrap()]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_armlet"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run armlet");
        use std::io::Write;
        writeln!(child.stdin.take().expect("stdin"), "What is the capital of Belgium?").expect("type");
        child.wait_with_output().expect("armlet")
    };
    let plain = run(false);
    let first = run(true);
    let second = run(true);
    assert_eq!(text(&first), text(&plain));
    assert_eq!(text(&second), text(&plain));
    assert_eq!(reused(&second), Some(evaluated(&first)), "{}", stderr(&second));
    assert_eq!(evaluated(&second), 0, "{}", stderr(&second));
    let _ = std::fs::remove_dir_all(&dir);
}
