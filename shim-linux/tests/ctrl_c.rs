//! Ctrl-C as llama.cpp's interactive mode takes it, in a real terminal (tmux): during an
//! answer it ends the answer and gives the prompt back with the conversation kept, at the
//! prompt or twice within a second it ends the chat with the statistics and status 130; it
//! ends a completion the same way. The answers run long (--ignore-eos), so only a Ctrl-C
//! that works ends them in time.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/falcon-h1-small-Q4_K_S.gguf")
}

/// Polls `get` until `done` holds, panicking with the last value after `secs` seconds.
fn wait_until(what: &str, secs: u64, get: impl Fn() -> String, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let now = get();
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}:\n{now}");
        sleep(Duration::from_millis(50));
    }
}

/// A file in the temporary directory, removed when the test ends, passed or not.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, suffix: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("armlet-{name}-{}.{suffix}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

/// armlet in a terminal of its own tmux server, stderr to a log file; the shell prints
/// EXIT=status when armlet ends.
struct Terminal {
    socket: TempFile,
    log: TempFile,
}

impl Terminal {
    fn start(name: &str, args: &str) -> Terminal {
        let (socket, log) = (TempFile::new(name, "tmux"), TempFile::new(name, "stderr"));
        // The terminal sends SIGINT to the shell too, and dash (tmux's shell when $SHELL is
        // unset) dies of it unless it traps it; armlet still starts with the default action.
        let cmd = format!(
            "trap : INT; {} -m {} {args} 2>{}; echo EXIT=$?",
            env!("CARGO_BIN_EXE_armlet"),
            model().display(),
            log.0.display()
        );
        let t = Terminal { socket, log };
        let new = ["-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50", "-s", "t", &cmd];
        // The screen stays readable after the shell ends.
        t.tmux(&[&new[..], &[";", "set-option", "-t", "t", "remain-on-exit", "on"]].concat());
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket.0)
            .args(args)
            .output()
            .expect("tmux must be installed (scripts/setup)");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", "t", keys, ""]);
    }

    fn type_line(&self, line: &str) {
        self.tmux(&["send-keys", "-t", "t", line, "Enter"]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-2000", "-t", "t"])
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log.0).unwrap_or_default()
    }

    /// Waits until the screen shows `count` prompt markers.
    fn wait_for_prompts(&self, count: usize) -> String {
        let what = format!("{count} prompt markers");
        let screen = wait_until(&what, 30, || self.screen(), |s| prompts(s) >= count || s.contains("EXIT="));
        assert!(prompts(&screen) >= count, "armlet ended before {what}:\n{screen}\n{}", self.stderr());
        screen
    }

    /// Waits until the shell prints armlet's exit status, and returns it.
    fn wait_for_exit(&self) -> String {
        let screen = wait_until("armlet to exit", 30, || self.screen(), |s| s.contains("EXIT="));
        let status = screen.split("EXIT=").nth(1).unwrap_or("");
        status.chars().take_while(char::is_ascii_digit).collect()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn prompts(screen: &str) -> usize {
    screen.lines().filter(|l| l.starts_with("> ")).count()
}

/// The answer printed after the line `> typed`, up to the next prompt marker, without the
/// terminal's echo of Ctrl-C.
fn answer_to(screen: &str, typed: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let marker = format!("> {typed}");
    let i = lines.iter().position(|l| *l == marker).unwrap_or_else(|| panic!("{typed:?} not echoed:\n{screen}"));
    let answer: String = lines[i + 1..].iter().take_while(|l| !l.starts_with("> ")).cloned().collect();
    answer.replace("^C", "").trim().to_string()
}

/// The token count of the statistics line `line` ("prompt eval time", "eval time").
fn stat_tokens(stderr: &str, line: &str) -> usize {
    let named = |l: &&str| l.trim_start_matches("armlet:").trim_start().starts_with(&format!("{line} ="));
    let l = stderr.lines().find(named).unwrap_or_else(|| panic!("no {line:?}:\n{stderr}"));
    let count = l.split(" / ").nth(1).and_then(|r| r.split_whitespace().next());
    count.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no token count in {l:?}"))
}

/// The tokens of each prompt evaluation that --verbose-prompt listed, one block per turn.
fn fed_blocks(stderr: &str) -> Vec<String> {
    stderr.split("armlet: prompt of ").skip(1).map(str::to_string).collect()
}

/// A first message of about `sentences` x 21 tokens: its evaluation takes a while.
fn long_prompt_file(name: &str, sentences: usize) -> TempFile {
    let file = TempFile::new(name, "txt");
    std::fs::write(&file.0, "The quick brown fox jumps over the lazy dog. ".repeat(sentences)).unwrap();
    file
}

#[test]
fn ctrl_c_ends_the_answer_then_at_the_prompt_ends_the_chat() {
    let t = Terminal::start("ctrl-c-answer", "-cnv -n 400 --temp 0 --ignore-eos --verbose-prompt");
    t.wait_for_prompts(1);
    let first = "What is the capital of Belgium?";
    t.type_line(first);
    wait_until("the first answer to start", 30, || t.screen(), |s| s.contains(first) && !answer_to(s, first).is_empty());
    t.keys("C-c");
    let screen = t.wait_for_prompts(2);
    assert!(!answer_to(&screen, first).is_empty(), "the partial answer is gone:\n{screen}");

    let second = "And of France?";
    t.type_line(second);
    let screen = t.wait_for_prompts(3);
    assert!(!answer_to(&screen, second).is_empty(), "no answer to {second:?}:\n{screen}");

    t.keys("C-c");
    let status = t.wait_for_exit();
    let stderr = t.stderr();
    assert_eq!(status, "130", "Ctrl-C at the prompt:\n{}\n{stderr}", t.screen());
    // The second answer ran its 400 tokens, the first was cut short.
    let generated = stat_tokens(&stderr, "eval time");
    assert!(generated > 400 && generated < 800, "{generated} tokens generated:\n{stderr}");
    assert!(stat_tokens(&stderr, "prompt eval time") > 0, "{stderr}");
    // The second turn fed only the end of the cut answer's turn and the new message: the
    // conversation kept the partial answer as it is in the session's state.
    let blocks = fed_blocks(&stderr);
    assert_eq!(blocks.len(), 2, "{stderr}");
    let end_of_turn = blocks[1].lines().nth(1).unwrap_or("");
    assert!(end_of_turn.ends_with("-> \"<|im_end|>\""), "second turn fed from {end_of_turn:?}:\n{stderr}");
}

#[test]
fn ctrl_c_during_the_prompt_evaluation_gives_an_empty_answer() {
    let prompt = long_prompt_file("ctrl-c-prompt", 30);
    let t = Terminal::start(
        "ctrl-c-prompt",
        &format!("-cnv -f {} -n 16 --temp 0 --ignore-eos --verbose-prompt", prompt.0.display()),
    );
    wait_until("the prompt evaluation to start", 30, || t.stderr(), |e| e.contains("armlet: prompt of "));
    t.keys("C-c");
    let screen = t.wait_for_prompts(1);
    let before_prompt: String = screen.lines().take_while(|l| !l.starts_with("> ")).collect();
    assert!(before_prompt.replace("^C", "").trim().is_empty(), "an answer despite Ctrl-C:\n{screen}");

    let next = "What is the capital of Belgium?";
    t.type_line(next);
    let screen = t.wait_for_prompts(2);
    assert!(!answer_to(&screen, next).is_empty(), "no answer to {next:?}:\n{screen}");
    t.keys("C-d");
    let status = t.wait_for_exit();
    let stderr = t.stderr();
    assert_eq!(status, "0", "Ctrl-D after the empty answer:\n{stderr}");
    assert_eq!(stat_tokens(&stderr, "eval time"), 16, "only the second answer has tokens:\n{stderr}");
    let blocks = fed_blocks(&stderr);
    assert_eq!(blocks.len(), 2, "{stderr}");
    assert!(blocks[1].lines().nth(1).unwrap_or("").ends_with("-> \"<|im_end|>\""), "{stderr}");
}

#[test]
fn two_ctrl_c_within_a_second_end_the_chat_mid_answer() {
    let prompt = long_prompt_file("ctrl-c-twice", 100);
    let t = Terminal::start(
        "ctrl-c-twice",
        &format!("-cnv -f {} -n 16 --temp 0 --ignore-eos --verbose-prompt", prompt.0.display()),
    );
    wait_until("the prompt evaluation to start", 30, || t.stderr(), |e| e.contains("armlet: prompt of "));
    t.keys("C-c");
    sleep(Duration::from_millis(300));
    t.keys("C-c");
    let status = t.wait_for_exit();
    let stderr = t.stderr();
    assert_eq!(status, "130", "two Ctrl-C:\n{}\n{stderr}", t.screen());
    // Ended at once, in the middle of the 2000-token evaluation, not after it.
    assert_eq!(stat_tokens(&stderr, "prompt eval time"), 0, "{stderr}");
    assert_eq!(prompts(&t.screen()), 0, "the chat went back to its prompt:\n{}", t.screen());
}

#[test]
fn ctrl_c_ends_a_completion_with_the_statistics() {
    let prompt = "Once upon a time";
    let mut child = Command::new(env!("CARGO_BIN_EXE_armlet"))
        .args(["-m", model().to_str().unwrap(), "-no-cnv", "-p", prompt, "-n", "-1", "-c", "4096", "--ignore-eos"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run armlet");
    let pipe_reader = |mut pipe: Box<dyn std::io::Read + Send>| {
        let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        move || text.lock().unwrap().clone()
    };
    let stdout = pipe_reader(Box::new(child.stdout.take().unwrap()));
    let stderr_bytes = pipe_reader(Box::new(child.stderr.take().unwrap()));
    let stderr = || String::from_utf8_lossy(&stderr_bytes()).into_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let out = stdout();
        if out.len() > prompt.len() + 20 {
            break out;
        }
        assert!(Instant::now() < deadline, "no generated text:\n{}", stderr());
        sleep(Duration::from_millis(20));
    };
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("SIGINT did not end the completion:\n{}", stderr());
        }
        sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "{status}:\n{}", stderr());
    // The readers may not have taken the last bytes yet.
    let err = wait_until("the statistics", 5, stderr, |e| e.contains("peak memory") || e.contains("memory plan"));
    assert!(stat_tokens(&err, "eval time") > 0, "{err}");
    assert!(stat_tokens(&err, "prompt eval time") > 0, "{err}");
    let out = stdout();
    assert!(out.starts_with(&shown) && out.ends_with(b"\n"), "the text so far, then a newline:\n{}", String::from_utf8_lossy(&out));
}
