//! Token pieces as characters, the way llama.cpp's grammar decodes them: a piece may end
//! inside a UTF-8 sequence, whose start is carried to the next piece as a [`Partial`].
//! Like the C original, the decoder stops at a NUL byte, takes the length of a sequence
//! from its first byte and does not check the bytes that follow it (a piece that continues
//! a partial sequence must start with continuation bytes; a stray continuation byte where a
//! sequence should start makes the piece invalid).

/// A UTF-8 sequence begun but not finished: the bits so far and how many bytes are missing.
/// `n_remain` is -1 after invalid input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Partial {
    pub value: u32,
    pub n_remain: i8,
}

/// What a piece decodes to after a partial sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decoded<'p> {
    piece: &'p [u8],
    start: Partial,
    /// The state after the piece.
    pub end: Partial,
    /// False when the piece breaks UTF-8: llama.cpp then decodes it to no character.
    pub valid: bool,
}

/// Bytes still expected after a first byte (-1: not a first byte).
fn remaining_after(first: u8) -> i8 {
    [0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, 1, 1, 2, 3][usize::from(first >> 4)]
}

impl<'p> Decoded<'p> {
    pub fn new(piece: &'p [u8], start: Partial) -> Decoded<'p> {
        let piece = piece.iter().position(|&b| b == 0).map_or(piece, |nul| &piece[..nul]);
        let mut d = Decoded { piece, start, end: start, valid: true };
        let mut chars = d.chars();
        for _ in chars.by_ref() {}
        d.end = chars.state;
        d.valid = !chars.invalid;
        d
    }

    /// The complete characters of the piece. Check `valid` first: llama.cpp drops every
    /// character of an invalid piece, this iterator stops at the break.
    pub fn chars(&self) -> Chars<'p> {
        Chars { bytes: self.piece, at: 0, state: self.start, continuing: self.start.n_remain > 0, invalid: false }
    }
}

/// Iterator over the characters a piece completes.
#[derive(Clone)]
pub(crate) struct Chars<'p> {
    bytes: &'p [u8],
    at: usize,
    state: Partial,
    /// Still finishing the sequence the previous piece began.
    continuing: bool,
    invalid: bool,
}

impl Iterator for Chars<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.invalid {
            return None;
        }
        if self.continuing {
            while self.state.n_remain > 0 {
                let b = *self.bytes.get(self.at)?;
                if b >> 6 != 2 {
                    self.invalid = true;
                    self.state = Partial { value: 0, n_remain: -1 };
                    return None;
                }
                self.state.value = (self.state.value << 6) + u32::from(b & 0x3F);
                self.state.n_remain -= 1;
                self.at += 1;
            }
            self.continuing = false;
            return Some(self.state.value);
        }
        let first = *self.bytes.get(self.at)?;
        self.at += 1;
        let n_remain = remaining_after(first);
        if n_remain < 0 {
            self.invalid = true;
            self.state = Partial { value: 0, n_remain };
            return None;
        }
        let mut value = u32::from(first) & ((1u32 << (7 - n_remain)) - 1);
        let mut left = n_remain;
        while left > 0 {
            let Some(&b) = self.bytes.get(self.at) else { break };
            value = (value << 6) + u32::from(b & 0x3F);
            self.at += 1;
            left -= 1;
        }
        self.state = Partial { value, n_remain: left };
        if left == 0 {
            Some(value)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(piece: &[u8], start: Partial) -> (heapless::Vec<u32, 16>, Partial, bool) {
        let d = Decoded::new(piece, start);
        (d.chars().collect(), d.end, d.valid)
    }

    #[test]
    fn whole_split_and_broken_sequences() {
        let none = Partial::default();
        let (c, p, ok) = chars("é!".as_bytes(), none);
        assert_eq!((c.as_slice(), p.n_remain, ok), (&[0xE9u32, 0x21][..], 0, true));
        // "€" = E2 82 AC split after two bytes, then finished.
        let (c, p, ok) = chars(&[b'a', 0xE2, 0x82], none);
        assert_eq!((c.as_slice(), p.n_remain, ok), (&[0x61u32][..], 1, true));
        let (c, p2, ok) = chars(&[0xAC, b'b'], p);
        assert_eq!((c.as_slice(), p2.n_remain, ok), (&[0x20AC, 0x62][..], 0, true));
        // A continuation byte where a sequence should start, and a new start inside one.
        assert!(!chars(&[b'a', 0x82], none).2);
        assert!(!chars(b"a", p).2);
        // NUL ends the piece.
        assert_eq!(chars(b"ab\0cd", none).0.as_slice(), &[0x61, 0x62]);
    }
}
