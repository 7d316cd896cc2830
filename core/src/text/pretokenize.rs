//! Pre-tokenizers of byte-level BPE vocabs: split a text fragment into the words that the
//! merges then run on, exactly as llama.cpp's `unicode_regex_split` does, without a regex
//! engine. llama.cpp runs a list of regexes per pre-type, each one splitting the pieces of
//! the one before; three of them (GPT-2, Llama 3, Qwen2) are its hand-written splitters,
//! the others are simple character-class regexes over its "collapsed" text, written here
//! as the class runs they match. Positions are byte offsets into the fragment; code points
//! are decoded with llama.cpp's lenient decoder (see `unicode::decode`).

use super::unicode::{decode, flags_of, Flags};

/// One regex of a pre-tokenizer's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` (GPT-2).
    Gpt2,
    /// Llama 3: case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`,
    /// ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`.
    Llama3,
    /// Qwen2: Llama 3 with single digits (`\p{N}`).
    Qwen2,
    /// `[\p{P}\$\+<=>\^~\|`]+` (Falcon; `with_backtick: false` is the default pre-type's
    /// `[\p{P}\$\+<=>\^~\|]+`).
    PunctuationRuns { with_backtick: bool },
    /// `\p{N}`: every number character on its own (StarCoder, SmolLM).
    EachNumber,
    /// `\p{N}+`.
    NumberRuns,
    /// `[0-9][0-9][0-9]`.
    ThreeAsciiDigits,
}

/// A fragment of text and the end of the range being split inside it.
struct Span<'t> {
    text: &'t [u8],
    end: usize,
}

impl Span<'_> {
    /// The code point at `pos` and the position after it; `None` at or past the end.
    fn at(&self, pos: usize) -> Option<(u32, usize)> {
        if pos >= self.end {
            return None;
        }
        let rest = self.text.get(pos..self.end)?;
        let (cp, len) = decode(rest);
        Some((cp, pos + len))
    }

    fn cp(&self, pos: usize) -> Option<u32> {
        self.at(pos).map(|(cp, _)| cp)
    }

    fn flags(&self, pos: usize) -> Flags {
        self.at(pos).map(|(cp, _)| flags_of(cp)).unwrap_or_default()
    }

    /// The position after the code point at `pos` (or `pos` at the end).
    fn next(&self, pos: usize) -> usize {
        self.at(pos).map_or(pos, |(_, next)| next)
    }

    /// Advances from `pos` while `pred` holds for the code point's flags.
    fn skip_while(&self, mut pos: usize, pred: impl Fn(Flags) -> bool) -> usize {
        while let Some((cp, next)) = self.at(pos) {
            if !pred(flags_of(cp)) {
                break;
            }
            pos = next;
        }
        pos
    }

    /// Advances from `pos` while the code point satisfies `pred`.
    fn skip_while_cp(&self, mut pos: usize, pred: impl Fn(u32) -> bool) -> usize {
        while let Some((cp, next)) = self.at(pos) {
            if !pred(cp) {
                break;
            }
            pos = next;
        }
        pos
    }
}

const CR: u32 = '\r' as u32;
const LF: u32 = '\n' as u32;
const SPACE: u32 = ' ' as u32;
const QUOTE: u32 = '\'' as u32;

fn is_other(f: Flags) -> bool {
    f.present && !(f.whitespace || f.letter || f.number)
}

/// Splits `text[start..end]` with `stages` (each stage splits the pieces of the one before)
/// and calls `emit(word_start, word_end)` for every final piece, in order.
pub(crate) fn split<E>(
    stages: &[Stage],
    text: &[u8],
    start: usize,
    end: usize,
    emit: &mut impl FnMut(usize, usize) -> Result<(), E>,
) -> Result<(), E> {
    let Some((&stage, rest)) = stages.split_first() else {
        return if start < end {
            emit(start, end)
        } else {
            Ok(())
        };
    };
    let span = Span { text, end };
    let mut pos = start;
    while pos < end {
        let piece_end = next_piece(stage, &span, pos).clamp(span.next(pos), end);
        split(rest, text, pos, piece_end, emit)?;
        pos = piece_end;
    }
    Ok(())
}

/// The end of the piece that starts at `pos` (always past `pos`).
fn next_piece(stage: Stage, s: &Span, pos: usize) -> usize {
    match stage {
        Stage::Gpt2 => gpt2_piece(s, pos),
        Stage::Llama3 => llama3_piece(s, pos, 3),
        Stage::Qwen2 => llama3_piece(s, pos, 1),
        Stage::PunctuationRuns { with_backtick } => {
            let member = |cp: u32| {
                if cp < 0x80 {
                    (cp as u8).is_ascii_punctuation() && (with_backtick || cp != '`' as u32)
                } else {
                    flags_of(cp).punctuation
                }
            };
            class_run(s, pos, member)
        }
        Stage::EachNumber => {
            if s.flags(pos).number {
                s.next(pos)
            } else {
                s.skip_while(pos, |f| !f.number)
            }
        }
        Stage::NumberRuns => class_run(s, pos, |cp| flags_of(cp).number),
        Stage::ThreeAsciiDigits => {
            let digit = |p: usize| {
                s.cp(p)
                    .filter(|c| (b'0' as u32..=b'9' as u32).contains(c))
                    .is_some()
            };
            // ASCII digits are one byte each, so a match is 3 bytes long.
            let starts_match = |p: usize| digit(p) && digit(p + 1) && digit(p + 2);
            if starts_match(pos) {
                return pos + 3;
            }
            let mut p = s.next(pos);
            while p < s.end && !starts_match(p) {
                p = s.next(p);
            }
            p
        }
    }
}

/// A run of code points that all are, or all are not, members (a regex `[class]+` leaves
/// the text between its matches as pieces too).
fn class_run(s: &Span, pos: usize, member: impl Fn(u32) -> bool) -> usize {
    let inside = s.cp(pos).is_some_and(&member);
    s.skip_while_cp(pos, |cp| member(cp) == inside)
}

/// The length of a contraction (`'s 't 'm 'd 're 've 'll`) at `pos`, if there is one.
fn contraction(s: &Span, pos: usize, ignore_case: bool) -> Option<usize> {
    let lower = |cp: u32| {
        if ignore_case && (b'A' as u32..=b'Z' as u32).contains(&cp) {
            cp + 32
        } else {
            cp
        }
    };
    let (_, p1) = s.at(pos).filter(|&(cp, _)| cp == QUOTE)?;
    let (c1, p2) = s.at(p1)?;
    let c1 = lower(c1);
    if matches!(char::from_u32(c1), Some('s' | 't' | 'm' | 'd')) {
        return Some(p2);
    }
    let (c2, p3) = s.at(p2)?;
    let pair = (char::from_u32(c1), char::from_u32(lower(c2)));
    matches!(
        pair,
        (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))
    )
    .then_some(p3)
}

/// The whitespace run at `pos`: (position after its last code point, position of its last
/// code point, position after its last CR/LF if any).
fn whitespace_run(s: &Span, pos: usize) -> Option<(usize, usize, Option<usize>)> {
    let mut p = pos;
    let mut last_start = None;
    let mut after_newline = None;
    while let Some((cp, next)) = s.at(p) {
        if !flags_of(cp).whitespace {
            break;
        }
        if cp == CR || cp == LF {
            after_newline = Some(next);
        }
        last_start = Some(p);
        p = next;
    }
    last_start.map(|last| (p, last, after_newline))
}

/// `\s+(?!\S)|\s+`: a run of two or more followed by more text leaves its last whitespace
/// for the next piece.
fn whitespace_piece(s: &Span, pos: usize, run_end: usize, last_start: usize) -> usize {
    if last_start > pos && run_end < s.end {
        last_start
    } else {
        run_end
    }
}

fn gpt2_piece(s: &Span, pos: usize) -> usize {
    if let Some(end) = contraction(s, pos, false) {
        return end;
    }
    let Some((cp, next)) = s.at(pos) else {
        return pos;
    };
    let (body, f2) = if cp == SPACE {
        (next, s.flags(next))
    } else {
        (pos, flags_of(cp))
    };
    if f2.letter {
        return s.skip_while(body, |f| f.letter);
    }
    if f2.number {
        return s.skip_while(body, |f| f.number);
    }
    if is_other(f2) {
        return s.skip_while(body, is_other);
    }
    match whitespace_run(s, pos) {
        Some((run_end, last_start, _)) => whitespace_piece(s, pos, run_end, last_start),
        None => next,
    }
}

/// Llama 3 (`max_digits` 3) and Qwen2 (`max_digits` 1).
fn llama3_piece(s: &Span, pos: usize, max_digits: usize) -> usize {
    if let Some(end) = contraction(s, pos, true) {
        return end;
    }
    let Some((cp, next)) = s.at(pos) else {
        return pos;
    };
    let f = flags_of(cp);
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if !(cp == CR || cp == LF || f.number) && (f.letter || s.flags(next).letter) {
        return s.skip_while(next, |f| f.letter);
    }
    // \p{N}{1,max_digits}: digits are taken in groups from the left
    if f.number {
        let mut p = pos;
        for _ in 0..max_digits {
            match s.at(p) {
                Some((c, n)) if flags_of(c).number => p = n,
                _ => break,
            }
        }
        return p;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*` (llama.cpp tests the current code point's presence, not
    // the next one's, so a lone trailing space ends up here as well)
    let (body, f2) = if cp == SPACE {
        (next, s.flags(next))
    } else {
        (pos, f)
    };
    if !(f2.whitespace || f2.letter || f2.number) && f.present {
        let p = s.skip_while(body, is_other);
        return s.skip_while_cp(p, |c| c == CR || c == LF);
    }
    match whitespace_run(s, pos) {
        // \s*[\r\n]+
        Some((_, _, Some(after_newline))) => after_newline,
        Some((run_end, last_start, None)) => whitespace_piece(s, pos, run_end, last_start),
        None => next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces<'a>(stages: &[Stage], text: &'a str) -> heapless::Vec<&'a str, 64> {
        let mut out = heapless::Vec::new();
        split::<()>(stages, text.as_bytes(), 0, text.len(), &mut |a, b| {
            out.push(&text[a..b]).map_err(|_| ())
        })
        .unwrap();
        out
    }

    #[test]
    fn gpt2_words() {
        assert_eq!(
            pieces(&[Stage::Gpt2], "Hello world's  end \n"),
            ["Hello", " world", "'s", " ", " end", " \n"]
        );
    }

    #[test]
    fn llama3_words() {
        assert_eq!(
            pieces(&[Stage::Llama3], "I'M 12345 ok!!\n\nx   y"),
            ["I", "'M", " ", "123", "45", " ok", "!!\n\n", "x", "  ", " y"]
        );
    }

    #[test]
    fn falcon_stages() {
        let falcon = [
            Stage::PunctuationRuns {
                with_backtick: true,
            },
            Stage::Gpt2,
            Stage::ThreeAsciiDigits,
        ];
        assert_eq!(
            pieces(&falcon, "a 12345,b"),
            ["a", " ", "123", "45", ",", "b"]
        );
    }
}
