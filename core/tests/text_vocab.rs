//! The tokenizer against llama.cpp's own output: every case of every `.inp`, `.extra.inp`
//! and `.special.inp` in ../shared/vocab gives the ids of the matching `.out`, and the ids
//! detokenize to the `.detok` bytes. Flags per file as the vocab README states.

mod text_support;

use armlet_core::text::{DetokenizeOptions, Detokenizer};
use text_support::{load_vocab, split_cases, vocab_dir, vocab_names, VecSink, VocabFixture};

struct Mismatches {
    count: usize,
    report: String,
}

impl Mismatches {
    fn note(&mut self, what: std::fmt::Arguments) {
        self.count += 1;
        if self.count <= 20 {
            self.report.push_str(&format!("{what}\n"));
        }
    }
}

/// Checks one `.inp` file set (`suffix` is "", ".extra" or ".special").
fn check(v: &VocabFixture, suffix: &str, parse_special: bool, bad: &mut Mismatches) -> usize {
    let dir = vocab_dir();
    let base = format!("ggml-vocab-{}.gguf{suffix}", v.name);
    let inp = std::fs::read(dir.join(format!("{base}.inp"))).unwrap();
    let out = std::fs::read_to_string(dir.join(format!("{base}.out"))).unwrap();
    let detok = std::fs::read(dir.join(format!("{base}.detok"))).unwrap();
    let cases = split_cases(&inp);
    let expected: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    let detoks = split_cases(&detok);
    assert_eq!(cases.len(), expected.len(), "{base}: case count");
    assert_eq!(cases.len(), detoks.len(), "{base}: detok count");
    let tok = v.tokenizer();
    let mut ids = vec![0u32; 4096];
    for (i, case) in cases.iter().enumerate() {
        let n = tok.encode(case, false, parse_special, &mut ids).unwrap();
        if ids[..n] != expected[i][..] {
            bad.note(format_args!(
                "{base} case {i} {:?}:\n  got  {:?}\n  want {:?}",
                String::from_utf8_lossy(case),
                &ids[..n],
                expected[i]
            ));
            continue;
        }
        let mut sink = VecSink::default();
        let mut d = Detokenizer::new(tok, DetokenizeOptions::llama_detokenize());
        for &id in &expected[i] {
            d.push(id, &mut sink).unwrap();
        }
        d.finish(&mut sink).unwrap();
        let text = sink.0;
        if text != detoks[i] {
            bad.note(format_args!(
                "{base} case {i} detok:\n  got  {:?}\n  want {:?}",
                String::from_utf8_lossy(&text),
                String::from_utf8_lossy(detoks[i])
            ));
        }
    }
    cases.len()
}

#[test]
fn every_vocab_case_matches_llama_cpp() {
    let mut bad = Mismatches {
        count: 0,
        report: String::new(),
    };
    let mut total = 0;
    for name in vocab_names() {
        let v = load_vocab(&name);
        total += check(&v, "", false, &mut bad);
        total += check(&v, ".extra", false, &mut bad);
        total += check(&v, ".special", true, &mut bad);
    }
    assert!(total > 2000, "only {total} cases found");
    assert!(
        bad.count == 0,
        "{} of {total} cases differ:\n{}",
        bad.count,
        bad.report
    );
}
