//! Ctrl-C as llama.cpp's interactive mode takes it. During a chat answer the first Ctrl-C
//! only asks the answer to stop: the generation loop polls [`stop_requested`] before each
//! token, and the chat goes back to its prompt. Anywhere else (at the prompt, in a
//! completion) and at a second Ctrl-C within a second, the handler thread ends the program
//! itself, as a normal end would: a newline, the statistics, then status 130. It cannot
//! leave that to the main thread, which may be blocked in `read_line` (that retries on
//! EINTR) or in a prompt evaluation that takes 20 s on a Pi.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set while a chat answer, its prompt evaluation included, is under way.
static ANSWERING: AtomicBool = AtomicBool::new(false);
/// A Ctrl-C asked the current answer to stop.
static STOP: AtomicBool = AtomicBool::new(false);

/// A second Ctrl-C sooner than this after the first ends the program even in an answer.
const DOUBLE_PRESS: Duration = Duration::from_secs(1);

/// Takes over SIGINT; `report` prints the statistics on the way out.
pub fn install(report: impl Fn() + Send + 'static) -> Result<(), String> {
    let mut last: Option<Instant> = None;
    ctrlc::set_handler(move || {
        let now = Instant::now();
        let again = last.is_some_and(|t| now.duration_since(t) < DOUBLE_PRESS);
        last = Some(now);
        if ANSWERING.load(Ordering::SeqCst) && !again {
            STOP.store(true, Ordering::SeqCst);
            return;
        }
        // Held until the exit, so the main thread prints nothing after the newline.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out);
        let _ = out.flush();
        report();
        std::process::exit(130);
    })
    .map_err(|e| format!("cannot catch Ctrl-C: {e}"))
}

/// Marks the start (true) or the end (false) of a chat answer. A new answer forgets a
/// Ctrl-C that came too late to stop the previous one.
pub fn answering(on: bool) {
    if on {
        STOP.store(false, Ordering::SeqCst);
    }
    ANSWERING.store(on, Ordering::SeqCst);
}

/// Whether a Ctrl-C asked the current answer to stop.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
