//! `armlet perplexity` against llama-perplexity's numbers on `corpus.txt`
//! (`../shared/models/perplexity.md`), and its one-line errors. By default SmolLM2's first
//! chunk at `-c 128` (a minute on the host's portable kernels); `ARMLET_PPL_FULL=1` runs the
//! whole corpus for SmolLM2 at `-c 128` and `-c 512`, for Gemma 3 270M at `-c 512` and for the
//! 90M Falcon-H1 at `-c 128` (tens of minutes), checking every running value and the final
//! estimate.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared").join(path)
}

const SMOLLM2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
const GEMMA3: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/gemma3/gemma-3-270m-q4_k_m.gguf");
const FALCON_90M: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/bench/falcon-h1-90m-Q4_K_S.gguf");

fn perplexity(model: &Path, text: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["perplexity", "-m", model.to_str().unwrap(), "-f", text.to_str().unwrap()];
    args.extend(extra);
    Command::new(env!("CARGO_BIN_EXE_armlet")).args(&args).stdin(Stdio::null()).output().expect("run armlet")
}

/// The running values `[k]x` and the final estimate of a run's stdout.
fn values(o: &Output) -> (Vec<f64>, f64, f64) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    let running: Vec<f64> = lines
        .next()
        .expect("a line of running values")
        .split(',')
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, s)| {
            let v = s.strip_prefix(&format!("[{}]", i + 1)).unwrap_or_else(|| panic!("not [{}]x: {s}", i + 1));
            v.parse().expect("a number")
        })
        .collect();
    let last = lines.next().expect("the final estimate");
    // The figures themselves, for whoever runs this with --nocapture.
    eprintln!("{}\n{last}", running.iter().enumerate().map(|(i, v)| format!("[{}]{v:.4}", i + 1)).collect::<Vec<_>>().join(","));
    let rest = last.strip_prefix("Final estimate: PPL = ").unwrap_or_else(|| panic!("{last}"));
    let (ppl, err) = rest.split_once(" +/- ").expect("PPL +/- error");
    (running, ppl.parse().expect("ppl"), err.parse().expect("error"))
}

fn within(got: f64, want: f64, tolerance: f64, what: &str) {
    let off = (got / want - 1.0).abs();
    assert!(off <= tolerance, "{what}: {got} against llama.cpp's {want}: {:.2}% off (allowed {:.1}%)", off * 100.0, tolerance * 100.0);
}

/// llama-perplexity's `-b N_CTX` running values (one chunk per decode), from perplexity.md.
const SMOLLM2_C128: [f64; 23] = [
    46.9982, 53.1963, 47.5898, 37.1686, 35.2606, 34.0611, 34.4766, 32.4775, 32.9545, 31.9338, 30.7407, 29.1876, 29.9530,
    29.8202, 31.1996, 32.2412, 32.3840, 32.6509, 34.5182, 32.8182, 32.1489, 32.8980, 32.8197,
];
const SMOLLM2_C512: [f64; 5] = [30.6905, 28.5679, 23.3239, 27.9804, 26.7691];
const GEMMA3_C512: [f64; 5] = [29.1068, 27.9551, 23.4624, 28.5601, 27.9489];

fn full() -> bool {
    std::env::var_os("ARMLET_PPL_FULL").is_some_and(|v| v == "1")
}

#[test]
fn smollm2_c128_agrees_with_llama_perplexity() {
    if !Path::new(SMOLLM2).is_file() {
        eprintln!("SKIPPED: {SMOLLM2} is not there (scripts/fetch-smollm2 fetches it)");
        return;
    }
    let chunks = if full() { "23" } else { "1" };
    let o = perplexity(Path::new(SMOLLM2), &shared("models/corpus.txt"), &["-c", "128", "--chunks", chunks]);
    let (running, ppl, err) = values(&o);
    assert_eq!(running.len(), chunks.parse::<usize>().unwrap());
    for (k, (&got, &want)) in running.iter().zip(&SMOLLM2_C128).enumerate() {
        within(got, want, 0.015, &format!("[{}]", k + 1));
    }
    assert_eq!(ppl, *running.last().unwrap());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(&format!("scored tokens = {}", 63 * running.len())), "{stderr}");
    if full() {
        within(ppl, 32.8197, 0.005, "final");
        within(err, 2.53002, 0.02, "final error");
    }
}

#[test]
fn smollm2_c512_agrees_with_llama_perplexity() {
    if !full() || !Path::new(SMOLLM2).is_file() {
        eprintln!("SKIPPED: set ARMLET_PPL_FULL=1 (and fetch SmolLM2) for the whole corpus at -c 512");
        return;
    }
    let (running, ppl, _) = values(&perplexity(Path::new(SMOLLM2), &shared("models/corpus.txt"), &["-c", "512"]));
    assert_eq!(running.len(), 5);
    for (k, (&got, &want)) in running.iter().zip(&SMOLLM2_C512).enumerate() {
        within(got, want, 0.015, &format!("[{}]", k + 1));
    }
    within(ppl, 26.7691, 0.005, "final");
}

#[test]
fn gemma3_c512_agrees_with_llama_perplexity() {
    if !full() || !Path::new(GEMMA3).is_file() {
        eprintln!("SKIPPED: set ARMLET_PPL_FULL=1 (and run scripts/fetch-gemma3) for Gemma 3 270M at -c 512");
        return;
    }
    let (running, ppl, _) = values(&perplexity(Path::new(GEMMA3), &shared("models/corpus.txt"), &["-c", "512"]));
    assert_eq!(running.len(), 5);
    for (k, (&got, &want)) in running.iter().zip(&GEMMA3_C512).enumerate() {
        within(got, want, 0.015, &format!("[{}]", k + 1));
    }
    within(ppl, 27.9489, 0.01, "final");
}

#[test]
fn falcon_h1_90m_agrees_with_llama_perplexity() {
    if !full() || !Path::new(FALCON_90M).is_file() {
        eprintln!("SKIPPED: set ARMLET_PPL_FULL=1 (and run scripts/make-90m Q4_K_S) for the 90M Falcon-H1");
        return;
    }
    let (running, ppl, _) = values(&perplexity(Path::new(FALCON_90M), &shared("models/corpus.txt"), &["-c", "128"]));
    assert_eq!(running.len(), 41);
    within(ppl, 2744183.1136, 0.02, "final");
}

#[test]
fn bad_input_is_one_line() {
    let model = shared("fixtures/falcon-h1-small-Q4_K_S.gguf");
    let dir = std::env::temp_dir().join(format!("armlet-ppl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let short = dir.join("short.txt");
    std::fs::write(&short, "A few words only.\n").expect("write");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n").expect("write");
    let corpus = shared("models/corpus.txt");
    for (text, extra, want) in [
        (&short, &["-c", "64"][..], "you need at least 128 tokens to evaluate perplexity with a context of 64"),
        (&empty, &[][..], "is empty"),
        (&corpus, &["-c", "1000000"][..], "is beyond the model's limit"),
        (&corpus, &["-c", "2"][..], "a chunk needs at least 4 tokens"),
        (&dir.join("missing.txt"), &[][..], "cannot read"),
    ] {
        let o = perplexity(&model, text, extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{want}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("armlet:")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(want), "{want}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
