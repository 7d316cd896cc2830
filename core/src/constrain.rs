//! Generation under a grammar, in llama.cpp's order: the sampler chooses as if there were
//! no grammar; if the grammar refuses that token, the refused tokens are masked and the
//! sampler chooses again (a greedy run thus gives llama.cpp's constrained text). A token
//! is allowed when its whole piece (special tokens as written) fits the grammar; an
//! end-of-generation token when the text so far is a complete match.
#![forbid(unsafe_code)]

use crate::grammar::{GrammarError, Matcher};
use crate::sample::{Candidate, SampleError, Sampler};
use crate::text::Tokenizer;
use core::fmt;

/// Why a constrained choice failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConstrainError {
    Sample(SampleError),
    Grammar(GrammarError),
    /// The grammar allows no token of this vocabulary here (its next characters are in no
    /// token, and it may not end).
    NoTokenAllowed,
    /// `accept` was given a token the grammar refuses.
    Refused { token: u32 },
}

impl From<SampleError> for ConstrainError {
    fn from(e: SampleError) -> Self {
        ConstrainError::Sample(e)
    }
}

impl From<GrammarError> for ConstrainError {
    fn from(e: GrammarError) -> Self {
        ConstrainError::Grammar(e)
    }
}

impl fmt::Display for ConstrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConstrainError::Sample(e) => e.fmt(f),
            ConstrainError::Grammar(e) => write!(f, "grammar: {e}"),
            ConstrainError::NoTokenAllowed => {
                f.write_str("the grammar allows no token of the vocabulary here, and it may not end here")
            }
            ConstrainError::Refused { token } => write!(f, "the grammar refuses token {token}"),
        }
    }
}

/// Whether the grammar allows `token` next.
pub fn allows(matcher: &mut Matcher<'_, '_>, tok: &Tokenizer<'_>, token: u32) -> Result<bool, GrammarError> {
    if tok.is_eog(token) {
        return Ok(matcher.is_complete());
    }
    match tok.token_piece(token) {
        // An empty piece, or one starting with NUL, fits no grammar (as in llama.cpp).
        Some(piece) if piece.first().is_some_and(|&b| b != 0) => matcher.allows(piece),
        _ => Ok(false),
    }
}

/// The next token: the sampler's choice if the grammar allows it, else its choice among
/// the allowed tokens. The matcher does not move; [`accept`] the token once it is used.
pub fn sample(
    sampler: &mut Sampler,
    matcher: &mut Matcher<'_, '_>,
    tok: &Tokenizer<'_>,
    logits: &[f32],
    recent: &[u32],
    scratch: &mut [Candidate],
) -> Result<u32, ConstrainError> {
    let first = sampler.sample(logits, recent, scratch)?;
    if allows(matcher, tok, first)? {
        return Ok(first);
    }
    let mut allowed = |id: u32| allows(matcher, tok, id).map_err(ConstrainError::from);
    sampler.sample_filtered(logits, recent, scratch, &mut allowed)?.ok_or(ConstrainError::NoTokenAllowed)
}

/// Moves the grammar past `token`. End-of-generation tokens leave it where it is.
pub fn accept(matcher: &mut Matcher<'_, '_>, tok: &Tokenizer<'_>, token: u32) -> Result<(), ConstrainError> {
    let fits = if tok.is_eog(token) {
        matcher.is_complete()
    } else {
        match tok.token_piece(token) {
            Some(piece) if piece.first().is_some_and(|&b| b != 0) => matcher.accept(piece)?,
            _ => false,
        }
    };
    if fits {
        Ok(())
    } else {
        Err(ConstrainError::Refused { token })
    }
}
