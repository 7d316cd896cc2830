//! `armlet info` on thousands of damaged files, as a program: each run must end within a
//! time limit with exit status 0 (the damage left a valid file; its `--json` must then still
//! be valid JSON) or 1 with a single line `armlet: PATH: MESSAGE (at byte N)` on stderr:
//! never a panic (101), a signal or a hang.

#[path = "../../core/tests/gguf_support/json.rs"]
mod json;
#[path = "../../core/tests/gguf_support/layout.rs"]
mod layout;

use layout::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);

/// The micro fixture with its big tokenizer arrays dropped and only its small tensors kept
/// (moved together), so each damaged copy is a few KB and most damage hits structure.
fn small_model() -> Vec<u8> {
    let micro = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
    let l = Layout::of(&micro);
    let mut p = Parts::of(&micro);
    p.kv.retain(|e| e.len() < 200);
    p.infos.clear();
    p.data.clear();
    let parsed = armlet_core::gguf::File::parse(&micro).unwrap();
    for (t, info) in parsed.tensors().zip(&l.infos) {
        if t.data.len() <= 1536 {
            let offset = p.data.len() as u64;
            p.infos.push(tensor_info(t.name.as_bytes(), &info.ne, info.type_id, offset));
            p.data.extend(t.data);
            p.data.resize(p.data.len().next_multiple_of(32), 0);
        }
    }
    p.to_bytes()
}

/// One damage: a bit flip, a random byte, an interesting value in a field, a cut, a hole.
fn mutate(b: &mut Vec<u8>, fields: &[Field], rng: &mut Rng) {
    const VALUES: [u64; 10] = [0, 1, 2, 5, 32, 64, 1 << 31, 1 << 32, 1 << 63, u64::MAX];
    match rng.below(6) {
        0 => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(b.len());
            b[i] = rng.next() as u8;
        }
        2 | 3 => {
            let f = fields[rng.below(fields.len())];
            if f.at + f.width <= b.len() {
                let v = if rng.below(2) == 0 { VALUES[rng.below(VALUES.len())] } else { rng.next() % 40 };
                b[f.at..f.at + f.width].copy_from_slice(&v.to_le_bytes()[..f.width]);
            }
        }
        4 => b.truncate(rng.below(b.len()).max(1)),
        _ => {
            let at = rng.below(b.len());
            let n = (1 + rng.below(8)).min(b.len() - at);
            b.drain(at..at + n);
        }
    }
}

struct Verdict {
    ok: usize,
    failed: usize,
}

/// Runs `armlet info` on `path` and checks the outcome; returns whether it exited 0.
fn run_one(path: &Path, json: bool, out: &Path, err: &Path) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_armlet"));
    cmd.arg("info").arg(path);
    if json {
        cmd.arg("--json");
    }
    // Output goes to files, so a large output can never block the child while we wait.
    cmd.stdout(std::fs::File::create(out).unwrap()).stderr(std::fs::File::create(err).unwrap());
    cmd.stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let kept = std::env::temp_dir().join("armlet-info-hang.gguf");
            let _ = std::fs::copy(path, &kept);
            panic!("armlet info hung on a damaged file (kept as {})", kept.display());
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let stderr = std::fs::read_to_string(err).unwrap();
    let keep = |why: &str| -> ! {
        let kept = std::env::temp_dir().join("armlet-info-failure.gguf");
        let _ = std::fs::copy(path, &kept);
        panic!("{why}: status {status:?}, stderr {stderr:?} (file kept as {})", kept.display());
    };
    match status.code() {
        Some(0) => {
            if !stderr.is_empty() {
                keep("exit 0 with a message");
            }
            if json {
                let text = std::fs::read_to_string(out).unwrap_or_else(|_| keep("--json wrote invalid UTF-8"));
                if let Err(e) = json::parse(&text) {
                    keep(&format!("--json wrote invalid JSON ({e})"));
                }
            }
            true
        }
        Some(1) => {
            let prefix = format!("armlet: {}: ", path.display());
            let one_line = stderr.ends_with('\n') && stderr.lines().count() == 1;
            if !(one_line && stderr.starts_with(&prefix) && stderr.trim_end().ends_with(')') && stderr.contains("(at byte ")) {
                keep("exit 1 without the one-line message");
            }
            false
        }
        _ => keep("neither exit 0 nor 1 (a panic is 101, a signal has no code)"),
    }
}

fn campaign(name: &str, base: &[u8], runs: usize, seed: u64, dir: &Path) -> Verdict {
    let layout = Layout::of(base);
    let mut rng = Rng(seed);
    let path = dir.join(format!("{name}.gguf"));
    let (out, err) = (dir.join(format!("{name}.out")), dir.join(format!("{name}.err")));
    let mut v = Verdict { ok: 0, failed: 0 };
    for i in 0..runs {
        let mut b = base.to_vec();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut b, &layout.fields, &mut rng);
        }
        std::fs::write(&path, &b).unwrap();
        if run_one(&path, i % 2 == 1, &out, &err) {
            v.ok += 1;
        } else {
            v.failed += 1;
        }
    }
    v
}

#[test]
fn thousands_of_damaged_files_give_exit_0_or_a_one_line_error() {
    let dir: PathBuf = std::env::temp_dir().join(format!("armlet-info-mutations-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let small = small_model();
    let vocab = fixture("vocab/ggml-vocab-falcon-h1-fixture.gguf");
    let started = Instant::now();
    // Two campaigns in parallel (the machine has two cores).
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| campaign("small-model", &small, 3000, 11, &dir));
        let b = s.spawn(|| campaign("vocab", &vocab, 1000, 12, &dir));
        (a.join().unwrap(), b.join().unwrap())
    });
    eprintln!(
        "small model: {} valid, {} refused; vocab: {} valid, {} refused; {:?}",
        a.ok,
        a.failed,
        b.ok,
        b.failed,
        started.elapsed()
    );
    // Both outcomes occur, so both paths of the command were exercised.
    assert!(a.ok > 0 && a.failed > 0 && b.failed > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
