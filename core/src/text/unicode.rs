//! Code points as llama.cpp sees them: its lenient UTF-8 decoder (an invalid byte becomes
//! U+FFFD and decoding resumes at the next byte), the general-category classes of its
//! `unicode_cpt_flags` (Unicode 15.1 tables, generated into `unicode_tables.rs`), its
//! fixed whitespace list, and GPT-2's byte <-> printable-character mapping.

use super::unicode_tables::CLASS_RANGES;

/// The general-category class of a code point (llama.cpp's `unicode_cpt_flags` categories).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Undefined,
    Number,
    Letter,
    Separator,
    Mark,
    Punctuation,
    Symbol,
    Control,
}

const CLASSES: [Class; 8] = [
    Class::Undefined,
    Class::Number,
    Class::Letter,
    Class::Separator,
    Class::Mark,
    Class::Punctuation,
    Class::Symbol,
    Class::Control,
];

/// Code points past U+10FFFF (llama.cpp treats them as undefined).
const MAX_CODEPOINT: u32 = 0x10FFFF;

pub(crate) const REPLACEMENT: u32 = 0xFFFD;

/// The class of `cp`, by binary search over the generated ranges.
pub(crate) fn class_of(cp: u32) -> Class {
    if cp > MAX_CODEPOINT {
        return Class::Undefined;
    }
    // Index of the last range starting at or before cp; the first range starts at 0.
    let idx = CLASS_RANGES.partition_point(|&packed| (packed >> 3) <= cp);
    let packed = CLASS_RANGES.get(idx.wrapping_sub(1)).copied().unwrap_or(0);
    CLASSES[(packed & 7) as usize]
}

/// llama.cpp's whitespace set (Unicode White_Space), which is not a category.
pub(crate) fn is_whitespace(cp: u32) -> bool {
    matches!(
        cp,
        0x09..=0x0D | 0x20 | 0x85 | 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F
            | 0x205F | 0x3000
    )
}

/// Everything the pre-tokenizers ask about one code point. `Flags::default()` (all false)
/// is what llama.cpp's splitters see past the end of the fragment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub letter: bool,
    pub number: bool,
    pub whitespace: bool,
    /// False only past the end of the fragment (llama.cpp: `flags.as_uint() == 0`).
    pub present: bool,
    pub punctuation: bool,
}

pub(crate) fn flags_of(cp: u32) -> Flags {
    let class = class_of(cp);
    Flags {
        letter: class == Class::Letter,
        number: class == Class::Number,
        whitespace: is_whitespace(cp),
        present: true,
        punctuation: class == Class::Punctuation,
    }
}

/// Decodes one code point at the start of `bytes` the way llama.cpp's
/// `unicode_cpt_from_utf8` does: the lead byte alone decides the length, continuation
/// bytes must be 10xxxxxx, overlong forms and surrogates are accepted. On failure (and for
/// values past U+10FFFF, which llama.cpp cannot re-encode) the result is U+FFFD consuming
/// one byte. Returns `(code point, bytes consumed)`; `bytes` must not be empty.
pub(crate) fn decode(bytes: &[u8]) -> (u32, usize) {
    let Some(&b0) = bytes.first() else {
        return (REPLACEMENT, 1);
    };
    let cont = |i: usize| {
        bytes
            .get(i)
            .copied()
            .filter(|b| b & 0xC0 == 0x80)
            .map(|b| (b & 0x3F) as u32)
    };
    let b0w = b0 as u32;
    let decoded = if b0 & 0x80 == 0 {
        Some((b0w, 1))
    } else if b0 & 0x40 == 0 {
        None
    } else if b0 & 0x20 == 0 {
        cont(1).map(|c1| (((b0w & 0x1F) << 6) | c1, 2))
    } else if b0 & 0x10 == 0 {
        match (cont(1), cont(2)) {
            (Some(c1), Some(c2)) => Some((((b0w & 0x0F) << 12) | (c1 << 6) | c2, 3)),
            _ => None,
        }
    } else if b0 & 0x08 == 0 {
        match (cont(1), cont(2), cont(3)) {
            (Some(c1), Some(c2), Some(c3)) => {
                Some((((b0w & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4))
            }
            _ => None,
        }
    } else {
        None
    };
    match decoded {
        Some((cp, len)) if cp <= MAX_CODEPOINT => (cp, len),
        _ => (REPLACEMENT, 1),
    }
}

/// Encodes `cp` (at most U+10FFFF) as UTF-8 into `buf`; returns the length.
pub(crate) fn encode(cp: u32, buf: &mut [u8; 4]) -> usize {
    if cp < 0x80 {
        buf[0] = cp as u8;
        1
    } else if cp < 0x800 {
        buf[0] = 0xC0 | (cp >> 6) as u8;
        buf[1] = 0x80 | (cp & 0x3F) as u8;
        2
    } else if cp < 0x10000 {
        buf[0] = 0xE0 | (cp >> 12) as u8;
        buf[1] = 0x80 | ((cp >> 6) & 0x3F) as u8;
        buf[2] = 0x80 | (cp & 0x3F) as u8;
        3
    } else {
        buf[0] = 0xF0 | ((cp >> 18) & 0x07) as u8;
        buf[1] = 0x80 | ((cp >> 12) & 0x3F) as u8;
        buf[2] = 0x80 | ((cp >> 6) & 0x3F) as u8;
        buf[3] = 0x80 | (cp & 0x3F) as u8;
        4
    }
}

/// The length llama.cpp gives a UTF-8 sequence from its lead byte alone
/// (`unicode_len_utf8`): 1 for ASCII, stray continuation bytes and 0xF8..0xFF.
pub(crate) fn sequence_len(lead: u8) -> usize {
    match lead >> 4 {
        0xC | 0xD => 2,
        0xE => 3,
        0xF => 4,
        _ => 1,
    }
}

#[cfg(test)]
/// GPT-2's byte-level alphabet: byte `b` is written as this code point in vocab texts.
/// Printable Latin-1 bytes stand for themselves; the other 68 are moved to U+0100.. in
/// byte order.
pub(crate) fn byte_to_codepoint(b: u8) -> u32 {
    let stands_for_itself = |x: u8| matches!(x, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
    if stands_for_itself(b) {
        return b as u32;
    }
    let moved_before = (0..b).filter(|&x| !stands_for_itself(x)).count() as u32;
    0x100 + moved_before
}

/// The inverse of [`byte_to_codepoint`]; `None` for code points outside the alphabet.
pub(crate) fn codepoint_to_byte(cp: u32) -> Option<u8> {
    match cp {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(cp as u8),
        0x100..=0x143 => {
            let nth = (cp - 0x100) as usize;
            (0..=255u8)
                .filter(|&x| !matches!(x, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF))
                .nth(nth)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_is_a_bijection() {
        for b in 0..=255u8 {
            assert_eq!(codepoint_to_byte(byte_to_codepoint(b)), Some(b));
        }
        assert_eq!(byte_to_codepoint(b' '), 0x120); // 'Ġ'
        assert_eq!(byte_to_codepoint(b'\n'), 0x10A); // 'Ċ'
        assert_eq!(codepoint_to_byte(0x144), None);
    }

    #[test]
    fn decoder_matches_llama_cpp_leniency() {
        assert_eq!(decode(b"\xC3\xA9"), (0xE9, 2));
        assert_eq!(decode(b"\xC0\x80"), (0, 2)); // overlong accepted
        assert_eq!(decode(b"\xED\xA0\x80"), (0xD800, 3)); // surrogate accepted
        assert_eq!(decode(b"\x80"), (REPLACEMENT, 1));
        assert_eq!(decode(b"\xE4\x41"), (REPLACEMENT, 1));
        assert_eq!(decode(b"\xF4\x90\x80\x80"), (REPLACEMENT, 1)); // past U+10FFFF
        assert_eq!(decode(b"\xFF"), (REPLACEMENT, 1));
    }

    #[test]
    fn classes() {
        assert_eq!(class_of('a' as u32), Class::Letter);
        assert_eq!(class_of('5' as u32), Class::Number);
        assert_eq!(class_of('½' as u32), Class::Number);
        assert_eq!(class_of('!' as u32), Class::Punctuation);
        assert_eq!(class_of('$' as u32), Class::Symbol);
        assert_eq!(class_of(0x301), Class::Mark);
        assert_eq!(class_of(0x50000), Class::Undefined);
        assert_eq!(class_of(0x10FFFF), Class::Undefined);
        assert_eq!(class_of(0xE000), Class::Control);
        assert!(is_whitespace(0x3000) && !is_whitespace(0x200B));
    }
}
