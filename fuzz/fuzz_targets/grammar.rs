//! Fuzz target: GBNF text and the matcher. Any grammar text must either parse or give an
//! error (measure and parse must agree), and a parsed grammar must take any characters and
//! pieces without panicking: `allows` then `accept` of the same piece must agree, and a
//! small stack budget must end in `StacksFull`, never in a crash.
//!
//! Input: the grammar text, a NUL byte, then pieces separated by 0xFF bytes.
#![no_main]

use armlet_core::grammar::{Grammar, GrammarError, Matcher};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (text, rest) = match input.iter().position(|&b| b == 0) {
        Some(nul) => (&input[..nul], &input[nul + 1..]),
        None => (input, &[][..]),
    };
    let measured = Grammar::measure(text);
    let Ok(words) = measured else { return };
    if words > 1 << 20 {
        return;
    }
    let mut rules = vec![0u32; words];
    let Ok(grammar) = Grammar::parse(text, &mut rules) else { return };
    // A short stack budget on odd lengths, so overflow is exercised too.
    let stack_words = if text.len() % 2 == 1 { 60 } else { Matcher::DEFAULT_WORDS };
    let mut stacks = vec![0u32; stack_words];
    let Ok(mut matcher) = Matcher::new(grammar, &mut stacks) else { return };
    for piece in rest.split(|&b| b == 0xFF) {
        match matcher.allows(piece) {
            Ok(true) => assert!(matches!(matcher.accept(piece), Ok(true) | Err(GrammarError::StacksFull { .. }))),
            Ok(false) | Err(_) => {
                let _ = matcher.is_complete();
            }
        }
        if let Some(&c) = piece.first() {
            let _ = matcher.accept_char(u32::from(c));
        }
        if matcher.is_dead() {
            let _ = matcher.reset();
        }
    }
});
