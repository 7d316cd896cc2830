//! Interactive chat driven through a real terminal (tmux): two turns typed at the prompt,
//! `/reset`, then Ctrl-D. Checks the turn structure the person sees: the prompt marker
//! after each answer, an answer to each turn, a clean exit with statistics.

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let o = Command::new("tmux").args(args).output().expect("tmux must be installed (scripts/setup)");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits until the pane shows `count` prompt markers, returning the pane text.
fn wait_for_prompts(session: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pane = tmux(&["capture-pane", "-p", "-J", "-S", "-200", "-t", session]);
        if pane.lines().filter(|l| l.starts_with("> ")).count() >= count || Instant::now() > deadline {
            return pane;
        }
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_turns_reset_and_ctrl_d_in_a_terminal() {
    let model = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/falcon-h1-small-Q4_K_S.gguf");
    let session = format!("armlet-chat-{}", std::process::id());
    let log = std::env::temp_dir().join(format!("{session}.stderr"));
    let cmd = format!(
        "{} -m {} -cnv -n 8 --temp 0 --ignore-eos 2>{}; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_armlet"),
        model.display(),
        log.display()
    );
    tmux(&["new-session", "-d", "-x", "200", "-y", "50", "-s", &session, &cmd]);
    let first = wait_for_prompts(&session, 1);
    assert!(first.lines().any(|l| l.starts_with("> ")), "no prompt marker:\n{first}");

    tmux(&["send-keys", "-t", &session, "What is the capital of Belgium?", "Enter"]);
    let after_one = wait_for_prompts(&session, 2);
    tmux(&["send-keys", "-t", &session, "And of France?", "Enter"]);
    let after_two = wait_for_prompts(&session, 3);
    tmux(&["send-keys", "-t", &session, "/reset", "Enter"]);
    let after_reset = wait_for_prompts(&session, 4);
    tmux(&["send-keys", "-t", &session, "C-d", ""]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut end = String::new();
    while Instant::now() < deadline {
        end = tmux(&["capture-pane", "-p", "-J", "-S", "-200", "-t", &session]);
        if end.contains("EXIT=") {
            break;
        }
        sleep(Duration::from_millis(100));
    }
    tmux(&["kill-session", "-t", &session]);
    let stats = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::remove_file(&log).ok();

    // Each turn: the typed line after a marker, then the model's answer, then a new marker.
    let turn = |pane: &str, typed: &str| {
        let lines: Vec<&str> = pane.lines().collect();
        let i = lines.iter().position(|l| *l == format!("> {typed}")).unwrap_or_else(|| panic!("{typed:?} not echoed:\n{pane}"));
        let answer: String = lines[i + 1..].iter().take_while(|l| !l.starts_with("> ")).cloned().collect();
        assert!(!answer.trim().is_empty(), "no answer to {typed:?}:\n{pane}");
        assert!(lines[i + 1..].iter().any(|l| l.starts_with("> ")), "no prompt after the answer to {typed:?}:\n{pane}");
    };
    turn(&after_one, "What is the capital of Belgium?");
    turn(&after_two, "And of France?");
    assert!(after_reset.contains("(conversation reset)"), "{after_reset}");
    assert!(end.contains("EXIT=0"), "Ctrl-D did not end the chat cleanly:\n{end}\n{stats}");
    assert!(stats.contains("eval time") && stats.contains("/    16 tokens"), "statistics after two 8-token answers:\n{stats}");
}
