//! Hostile text: the longest words the default tokenizer arena takes, built to make the
//! merge loop (quadratic in the symbols of one word) do the most work, must tokenize in
//! bounded time with every vocabulary; longer text is refused with `FragmentTooLong`
//! before any work; a vocabulary whose merges name unknown tokens is refused at load.

#[path = "gguf_support/layout.rs"]
mod layout;
#[path = "text_support/mod.rs"]
mod text_support;

use armlet_core::gguf::File;
use armlet_core::text::{DetokenizeOptions, Detokenizer, TextError, Tokenizer, DEFAULT_MAX_FRAGMENT_BYTES, MAX_HELD_BYTES};
use std::time::{Duration, Instant};
use layout::{array, gguf_string, kv, Parts};
use text_support::load_vocab;

/// Texts that each form a single pre-tokenizer word (or, for SentencePiece, a single
/// fragment) with as many merges as possible, as long as the working memory for fragments
/// of `max` bytes takes: a word may be 3·max bytes once invalid bytes become U+FFFD.
fn adversarial_texts(max: usize) -> Vec<(&'static str, Vec<u8>)> {
    let n = 3 * max;
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut letters = Vec::with_capacity(n);
    while letters.len() < n {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        letters.push(b'a' + (rng % 26) as u8);
    }
    vec![
        ("one letter repeated", vec![b'a'; n]),
        ("random letters", letters),
        ("invalid UTF-8 (each byte a U+FFFD)", vec![0xFF; max]),
        ("spaces", vec![b' '; n]),
        ("tabs", vec![b'\t'; n]),
        ("a two-byte character repeated", "é".repeat(n / 2).into_bytes()),
    ]
}

/// Three vocabularies, one of each kind of merge loop input: byte-level BPE with the
/// Llama 3 and the StarCoder pre-tokenizers, and SentencePiece (one fragment, no words).
const VOCABS: [&str; 3] = ["falcon-h1-fixture", "smollm", "llama-spm"];

// Timing under qemu says nothing about the Pi (the merge loop's cost there is in
// docs/bad-input.md); the other tests of this file run on ARM too.
#[cfg_attr(target_arch = "arm", ignore)]
#[test]
fn the_longest_words_the_default_arena_takes_tokenize_quickly() {
    let mut slowest = (Duration::ZERO, String::new());
    for name in VOCABS {
        let v = load_vocab(name);
        let tok = v.tokenizer();
        for (what, mut text) in adversarial_texts(DEFAULT_MAX_FRAGMENT_BYTES) {
            let mut ids = vec![0u32; 3 * text.len() + 4];
            // Refused when the vocab's normalisation grows it (SentencePiece: a space
            // becomes the 3-byte U+2581): then the nominal limit must pass.
            if let Err(TextError::FragmentTooLong { .. }) = tok.encode(&text, true, false, &mut ids) {
                text.truncate(DEFAULT_MAX_FRAGMENT_BYTES);
            }
            let started = Instant::now();
            let n = tok.encode(&text, true, false, &mut ids).unwrap_or_else(|e| panic!("{name}, {what}: {e}"));
            let took = started.elapsed();
            assert!(n > 0);
            eprintln!("{name:>20}, {what}: {n} ids in {took:?}");
            if took > slowest.0 {
                slowest = (took, format!("{name}, {what}"));
            }
        }
    }
    eprintln!("slowest: {} in {:?}", slowest.1, slowest.0);
    // About 0.2 s on the development host (quadratic in the word, but the word is bounded).
    assert!(slowest.0 < Duration::from_secs(3), "{}: {:?}", slowest.1, slowest.0);
}

/// The falcon-h1 fixture vocab with `edit` applied to the bytes of merge `rank`.
fn vocab_with_merge(rank: usize, edit: impl Fn(&mut [u8])) -> Vec<u8> {
    let path = text_support::vocab_dir().join("ggml-vocab-falcon-h1-fixture.gguf");
    let mut bytes = std::fs::read(path).unwrap();
    let file = File::parse(&bytes).unwrap();
    let merges = file.get("tokenizer.ggml.merges").and_then(|v| v.as_array()).unwrap();
    let text = merges.iter().nth(rank).and_then(|v| v.as_bytes()).unwrap();
    let at = text.as_ptr() as usize - bytes.as_ptr() as usize;
    let len = text.len();
    edit(&mut bytes[at..at + len]);
    bytes
}

fn load(bytes: &[u8]) -> Result<(), TextError> {
    let file = File::parse(bytes).expect("still a valid GGUF file");
    let mut arena = vec![0u8; Tokenizer::arena_bytes(&file)?];
    Tokenizer::new(&file, &mut arena).map(|_| ())
}

#[test]
fn a_merge_naming_an_unknown_token_is_refused_at_load() {
    assert_eq!(load(&vocab_with_merge(0, |_| {})), Ok(()));
    // Bytes that byte-level BPE never uses in a token text (0xFF is not valid UTF-8).
    for rank in [0, 1000, 2810] {
        let left_unknown = vocab_with_merge(rank, |m| m[0] = 0xFF);
        assert_eq!(load(&left_unknown), Err(TextError::BadMerge { rank: rank as u32 }));
        let right_unknown = vocab_with_merge(rank, |m| *m.last_mut().unwrap() = 0xFF);
        assert_eq!(load(&right_unknown), Err(TextError::BadMerge { rank: rank as u32 }));
        let no_space = vocab_with_merge(rank, |m| m.iter_mut().filter(|b| **b == b' ').for_each(|b| *b = b'x'));
        assert_eq!(load(&no_space), Err(TextError::BadMerge { rank: rank as u32 }));
    }
    let e = load(&vocab_with_merge(7, |m| m[0] = 0xFF)).unwrap_err();
    assert_eq!(e.to_string(), "tokenizer.ggml.merges[7] is not two tokens of the vocabulary separated by a space");
}

#[test]
fn text_longer_than_the_working_memory_is_refused_before_any_work() {
    let v = load_vocab("smollm");
    let tok = v.tokenizer();
    let mut ids = vec![0u32; 16];
    // The working memory is sized for the worst case (3 bytes per input byte), so plain
    // ASCII is refused only past about three times the nominal limit.
    for n in [4 * DEFAULT_MAX_FRAGMENT_BYTES, 1 << 20] {
        let text = vec![b'a'; n];
        let started = Instant::now();
        let e = tok.encode(&text, false, false, &mut ids).unwrap_err();
        assert!(matches!(e, TextError::FragmentTooLong { len, .. } if len == n), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    // The same text split by special tokens is fine: the limit is per fragment.
    let mut text = vec![b'a'; DEFAULT_MAX_FRAGMENT_BYTES];
    text.extend_from_slice(b"<|im_start|>");
    text.extend(vec![b'b'; DEFAULT_MAX_FRAGMENT_BYTES]);
    let mut ids = vec![0u32; text.len()];
    assert!(tok.encode(&text, false, true, &mut ids).is_ok());
}

/// A byte-level BPE vocab of the printable ASCII characters, the space and a few merges,
/// built here so that Miri can load it in seconds.
fn tiny_vocab() -> Vec<u8> {
    let mut tokens: Vec<String> = (b'!'..=b'~').map(|b| (b as char).to_string()).collect();
    tokens.extend(["\u{120}", "hi", "\u{120}hi", "ll", "he", "hell"].map(String::from));
    let merges = ["h i", "\u{120} hi", "l l", "h e", "he ll"];
    let strings = |list: &[&str]| {
        let mut elems = Vec::new();
        for t in list {
            elems.extend(gguf_string(t.as_bytes()));
        }
        array(8, list.len() as u64, &elems)
    };
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let parts = Parts {
        version: 3,
        kv: vec![
            kv("tokenizer.ggml.model", 8, &gguf_string(b"gpt2")),
            kv("tokenizer.ggml.tokens", 9, &strings(&tokens)),
            kv("tokenizer.ggml.merges", 9, &strings(&merges)),
        ],
        infos: Vec::new(),
        data: Vec::new(),
        alignment: 32,
    };
    parts.to_bytes()
}

/// A short text with an invalid byte through a small vocab and back: small enough for Miri,
/// which `scripts/miri` runs it under (the tokenizer's tables are carved from a byte arena
/// and read through checked views).
#[test]
fn a_short_hostile_text_tokenizes_and_detokenizes() {
    let bytes = tiny_vocab();
    let file = File::parse(&bytes).unwrap();
    let mut arena = vec![0u8; Tokenizer::arena_bytes_for(&file, 64).unwrap()];
    let tok = Tokenizer::new(&file, &mut arena).unwrap();
    let text = b"hi hi hello \xff!";
    let mut ids = [0u32; 64];
    let n = tok.encode(text, false, false, &mut ids).unwrap();
    let pieces: Vec<&[u8]> = ids[..n].iter().map(|&id| tok.token_piece(id).unwrap()).collect();
    // The merges apply; the invalid byte becomes U+FFFD, whose bytes have no token here and
    // are dropped, as llama.cpp drops them.
    assert_eq!(pieces, [&b"hi"[..], b" hi", b" ", b"hell", b"o", b" ", b"!"]);
    let mut short = [0u32; 2];
    assert_eq!(tok.encode(text, false, false, &mut short), Err(TextError::OutputFull { needed: n }));
    assert!(matches!(tok.encode(&[b'a'; 200], false, false, &mut ids), Err(TextError::FragmentTooLong { .. })));
    let mut detok = Detokenizer::new(&tok, DetokenizeOptions::pieces(true));
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    for &id in &ids[..n] {
        let k = detok.push_into(id, &mut buf).unwrap();
        out.extend_from_slice(&buf[..k]);
    }
    let mut held = [0u8; MAX_HELD_BYTES];
    let k = detok.finish_into(&mut held);
    out.extend_from_slice(&held[..k]);
    assert_eq!(out, b"hi hi hello !");
    let bad = tok.n_tokens() as u32;
    assert_eq!(detok.push_into(bad, &mut buf), Err(TextError::UnknownToken { id: bad }));
}
