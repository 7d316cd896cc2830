//! Fuzz target: `Tokenizer::encode` on arbitrary bytes (invalid UTF-8, control-token
//! texts, very long runs) with three real vocabularies (byte-level BPE with two
//! pre-tokenizers, SentencePiece). Any panic, hang or out-of-bounds access is a bug; so is
//! an id outside the vocabulary, an `OutputFull` that does not give the count a second call
//! then fills, or, for byte-level BPE on valid UTF-8, ids whose pieces do not spell the
//! input back (less the bytes the vocabulary has no token for, which llama.cpp drops).
//!
//! Input: byte 0 picks the vocabulary and the flags, byte 1 a repeat count (when bits 4-6
//! of byte 0 are all set, the text is repeated 64 times that count, to build long texts past
//! the tokenizer's working memory), the rest is text.
#![no_main]

#[path = "support/vocabs.rs"]
mod vocabs;

use armlet_core::text::{DetokenizeOptions, Detokenizer, TextError, VocabModel, MAX_HELD_BYTES};
use libfuzzer_sys::fuzz_target;
use vocabs::{TOKENIZERS, VOCAB_FILES};

/// Longest text built: past the working memory of the default arena (12 KB of ASCII), so
/// `FragmentTooLong` is exercised too.
const MAX_TEXT_BYTES: usize = 16 << 10;

thread_local! {
    /// Per vocabulary: which bytes have a token whose piece is that one byte.
    static BYTE_HAS_TOKEN: Vec<[bool; 256]> = TOKENIZERS.with(|toks| {
        toks.iter()
            .map(|tok| {
                let mut has = [false; 256];
                for id in 0..tok.n_tokens() as u32 {
                    if let Some(&[b]) = tok.token_piece(id) {
                        has[b as usize] |= !tok.is_control(id);
                    }
                }
                has
            })
            .collect()
    });
}

fuzz_target!(|input: &[u8]| {
    let [control, repeat, rest @ ..] = input else { return };
    let which = usize::from(control & 3) % VOCAB_FILES.len();
    let add_special = control & 4 != 0;
    let parse_special = control & 8 != 0;
    // Long texts are what expose quadratic work; most runs stay short to keep the rate up.
    let copies = if control & 0x70 == 0x70 { usize::from(*repeat) * 64 + 1 } else { 1 };
    let text: Vec<u8> = rest.iter().copied().cycle().take((rest.len() * copies).min(MAX_TEXT_BYTES)).collect();
    TOKENIZERS.with(|toks| {
        let tok = &toks[which];
        // Byte-level BPE gives at most 3 ids per input byte (an invalid byte is U+FFFD);
        // SentencePiece one per byte plus the prefix space; plus BOS and EOS.
        let mut ids = vec![0u32; 3 * text.len() + 4];
        let n = match tok.encode(&text, add_special, parse_special, &mut ids) {
            Ok(n) => n,
            Err(TextError::FragmentTooLong { len, max }) => {
                assert!(len > max && len <= text.len());
                return;
            }
            Err(TextError::MissingBos | TextError::MissingEos | TextError::MissingByteToken { .. }) => return,
            Err(e) => panic!("{} on {} bytes: {e}", VOCAB_FILES[which], text.len()),
        };
        let ids = &ids[..n];
        assert!(ids.iter().all(|&id| (id as usize) < tok.n_tokens()));
        if n > 0 {
            let mut short = vec![0u32; n - 1];
            assert_eq!(
                tok.encode(&text, add_special, parse_special, &mut short),
                Err(TextError::OutputFull { needed: n })
            );
        }
        let round_trip = tok.model() == VocabModel::BytePairGpt2 && !add_special && !parse_special;
        if round_trip && std::str::from_utf8(&text).is_ok() {
            let mut detok = Detokenizer::new(tok, DetokenizeOptions::pieces(true));
            let mut back = Vec::with_capacity(text.len());
            let mut buf = vec![0u8; 4096];
            for &id in ids {
                let k = detok.push_into(id, &mut buf).expect("an id from encode has a piece");
                back.extend_from_slice(&buf[..k]);
            }
            let mut held = [0u8; MAX_HELD_BYTES];
            let k = detok.finish_into(&mut held);
            back.extend_from_slice(&held[..k]);
            // llama.cpp drops a byte that has no token of its own (SmolLM's vocab lacks a few
            // control characters); every other byte must come back, in order.
            let expected: Vec<u8> = BYTE_HAS_TOKEN.with(|t| text.iter().copied().filter(|&b| t[which][b as usize]).collect());
            assert!(back == expected, "{}: the pieces do not spell the text back", VOCAB_FILES[which]);
        }
    });
});
