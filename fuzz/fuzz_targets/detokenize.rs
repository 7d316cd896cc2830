//! Fuzz target: the streaming `Detokenizer` on arbitrary id sequences, in range or not,
//! with the three vocabularies of the tokenize target and every option. An id outside the
//! vocabulary must be `UnknownToken` (and leave the stream usable), a short buffer
//! `OutputFull` with the size needed; nothing may panic or read out of bounds. What comes
//! out with the llama-detokenize options must match `token_piece` for plain pieces when
//! cleaning is off.
//!
//! Input: byte 0 picks the vocabulary and the options, then 3-byte little-endian ids
//! (mostly in range for these vocabularies, up to 2^24, and 0xFFFFFF as u32::MAX).
#![no_main]

#[path = "support/vocabs.rs"]
mod vocabs;

use armlet_core::text::{DetokenizeOptions, Detokenizer, TextError, MAX_HELD_BYTES};
use libfuzzer_sys::fuzz_target;
use vocabs::{TOKENIZERS, VOCAB_FILES};

fuzz_target!(|input: &[u8]| {
    let [control, rest @ ..] = input else { return };
    let which = usize::from(control & 3) % VOCAB_FILES.len();
    let options = match (control >> 2) & 3 {
        0 => DetokenizeOptions::llama_detokenize(),
        1 => DetokenizeOptions::pieces(true),
        2 => DetokenizeOptions::pieces(false),
        _ => DetokenizeOptions { special: false, clean: true },
    };
    let ids = rest.chunks_exact(3).map(|c| match u32::from_le_bytes([c[0], c[1], c[2], 0]) {
        0xFF_FFFF => u32::MAX,
        id => id,
    });
    TOKENIZERS.with(|toks| {
        let tok = &toks[which];
        let mut detok = Detokenizer::new(tok, options);
        let mut out = vec![0u8; 4096];
        let (mut produced, mut fed) = (0usize, 0usize);
        for id in ids {
            let Some(piece) = tok.token_piece(id) else {
                assert!((id as usize) >= tok.n_tokens());
                assert_eq!(detok.push_into(id, &mut out), Err(TextError::UnknownToken { id }));
                continue;
            };
            let needed = piece.len() + MAX_HELD_BYTES;
            if needed > 1 {
                assert_eq!(detok.push_into(id, &mut out[..needed - 1]), Err(TextError::OutputFull { needed }));
            }
            let n = detok.push_into(id, &mut out).expect("an id in range with room for its piece");
            assert!(n <= needed);
            produced += n;
            fed += piece.len();
        }
        let mut held = [0u8; MAX_HELD_BYTES];
        produced += detok.finish_into(&mut held);
        // Without cleaning nothing is added: at most the pieces' bytes come out (special
        // pieces may be dropped, UTF-8 sequences held, never invented).
        if !options.clean {
            assert!(produced <= fed, "{produced} bytes out of {fed} bytes of pieces");
        }
    });
});
