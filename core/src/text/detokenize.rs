//! Ids -> bytes, one token at a time, with the output of llama.cpp's `llama_detokenize`
//! (or of concatenated `llama_token_to_piece` calls, which is what llama.cpp's CLI prints
//! while generating). Bytes leave only when the UTF-8 character they belong to is complete,
//! so a terminal never sees half a character; invalid sequences pass through unchanged.
//! `clean_spaces` (llama.cpp's three passes over the joined text) is done as three small
//! streaming rewriters, each holding back the few bytes its rule still has to look at.

use super::unicode::sequence_len;
use super::{TextError, Tokenizer};

/// How ids become text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetokenizeOptions {
    /// Print control tokens (`<|im_end|>` ...) as their text; otherwise they print nothing.
    pub special: bool,
    /// Apply `llama_detokenize`'s rules: drop the leading space of the first token when the
    /// vocab adds a space prefix (SentencePiece), and the vocab's `clean_spaces` passes.
    pub clean: bool,
}

impl DetokenizeOptions {
    /// `llama_detokenize(remove_special = false, unparse_special = true)`, as the vocab test
    /// vectors were made.
    pub fn llama_detokenize() -> Self {
        DetokenizeOptions {
            special: true,
            clean: true,
        }
    }

    /// Plain `llama_token_to_piece` of every token, as llama.cpp's CLI streams generated
    /// text.
    pub fn pieces(special: bool) -> Self {
        DetokenizeOptions {
            special,
            clean: false,
        }
    }
}

/// Most bytes a push can release beyond the token's own piece (held back earlier).
pub const MAX_HELD_BYTES: usize = 9;

/// Streaming detokenizer. See [`crate::text`] for an example.
pub struct Detokenizer<'t, 'a> {
    tok: &'t Tokenizer<'a>,
    options: DetokenizeOptions,
    first_token: bool,
    clean: bool,
    punctuation: SpaceBeforePunctuation,
    quote: LoneQuote,
    contraction: Contraction,
    utf8: Utf8Hold,
}

impl<'t, 'a> Detokenizer<'t, 'a> {
    pub fn new(tok: &'t Tokenizer<'a>, options: DetokenizeOptions) -> Self {
        Detokenizer {
            tok,
            options,
            first_token: true,
            clean: options.clean && tok.clean_spaces,
            punctuation: SpaceBeforePunctuation::default(),
            quote: LoneQuote::default(),
            contraction: Contraction::default(),
            utf8: Utf8Hold::default(),
        }
    }

    /// The token's bytes before any holding back: its piece, empty for a control token when
    /// control tokens are not printed, one leading space dropped on the first token when
    /// the rules say so.
    fn piece(&mut self, id: u32) -> Result<&'a [u8], TextError> {
        let mut piece = self
            .tok
            .token_piece(id)
            .ok_or(TextError::UnknownToken { id })?;
        if !self.options.special && self.tok.is_control(id) {
            piece = &[];
        } else if self.first_token && self.options.clean && self.tok.add_space_prefix {
            piece = piece.strip_prefix(b" ").unwrap_or(piece);
        }
        self.first_token = false;
        Ok(piece)
    }

    fn feed(&mut self, bytes: &[u8], emit: &mut impl FnMut(u8)) {
        let Detokenizer {
            clean,
            punctuation,
            quote,
            contraction,
            utf8,
            ..
        } = self;
        for &b in bytes {
            if *clean {
                punctuation.push(b, &mut |c| {
                    quote.push(c, &mut |d| contraction.push(d, &mut |e| utf8.push(e, emit)))
                });
            } else {
                utf8.push(b, emit);
            }
        }
    }

    fn drain(&mut self, emit: &mut impl FnMut(u8)) {
        let Detokenizer {
            punctuation,
            quote,
            contraction,
            utf8,
            ..
        } = self;
        punctuation.flush(&mut |c| {
            quote.push(c, &mut |d| contraction.push(d, &mut |e| utf8.push(e, emit)))
        });
        quote.flush(&mut |d| contraction.push(d, &mut |e| utf8.push(e, emit)));
        contraction.flush(&mut |e| utf8.push(e, emit));
        utf8.flush(emit);
    }

    /// Detokenizes `id` into `out` and returns how many bytes are ready there. `out` must
    /// hold the token's piece plus [`MAX_HELD_BYTES`]; otherwise nothing is consumed.
    ///
    /// Errors: [`TextError::UnknownToken`], [`TextError::OutputFull`].
    pub fn push_into(&mut self, id: u32, out: &mut [u8]) -> Result<usize, TextError> {
        let needed = self
            .tok
            .token_piece(id)
            .ok_or(TextError::UnknownToken { id })?
            .len()
            + MAX_HELD_BYTES;
        if out.len() < needed {
            return Err(TextError::OutputFull { needed });
        }
        let piece = self.piece(id)?;
        let mut n = 0usize;
        self.feed(piece, &mut |b| {
            if let Some(slot) = out.get_mut(n) {
                *slot = b;
                n += 1;
            }
        });
        Ok(n)
    }

    /// Detokenizes `id` and writes the bytes that are ready to `sink`.
    pub fn push<W: embedded_io::Write>(
        &mut self,
        id: u32,
        sink: &mut W,
    ) -> Result<(), DetokenizeError<W::Error>> {
        let piece = self.piece(id).map_err(DetokenizeError::Text)?;
        let mut chunk = Chunk::new(sink);
        self.feed(piece, &mut |b| chunk.put(b));
        chunk.finish()
    }

    /// Releases everything still held (at the end of the text) into `out`; at most
    /// [`MAX_HELD_BYTES`] bytes.
    pub fn finish_into(&mut self, out: &mut [u8; MAX_HELD_BYTES]) -> usize {
        let mut n = 0usize;
        self.drain(&mut |b| {
            if let Some(slot) = out.get_mut(n) {
                *slot = b;
                n += 1;
            }
        });
        n
    }

    /// Releases everything still held (at the end of the text) to `sink`.
    pub fn finish<W: embedded_io::Write>(
        &mut self,
        sink: &mut W,
    ) -> Result<(), DetokenizeError<W::Error>> {
        let mut chunk = Chunk::new(sink);
        self.drain(&mut |b| chunk.put(b));
        chunk.finish()
    }
}

/// A detokenizer error: a bad id, or the sink's own error.
#[derive(Debug, PartialEq, Eq)]
pub enum DetokenizeError<E> {
    Text(TextError),
    Sink(E),
}

/// Buffers bytes on the stack and writes them to the sink in chunks; the first sink error
/// stops further writes and is reported at the end.
struct Chunk<'w, W: embedded_io::Write> {
    sink: &'w mut W,
    buf: [u8; 64],
    len: usize,
    error: Option<W::Error>,
}

impl<'w, W: embedded_io::Write> Chunk<'w, W> {
    fn new(sink: &'w mut W) -> Self {
        Chunk {
            sink,
            buf: [0; 64],
            len: 0,
            error: None,
        }
    }

    fn put(&mut self, b: u8) {
        if self.len == self.buf.len() {
            self.write_out();
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn write_out(&mut self) {
        if self.error.is_none() {
            if let Err(e) = self.sink.write_all(self.buf.get(..self.len).unwrap_or(&[])) {
                self.error = Some(e);
            }
        }
        self.len = 0;
    }

    fn finish(mut self) -> Result<(), DetokenizeError<W::Error>> {
        self.write_out();
        match self.error {
            Some(e) => Err(DetokenizeError::Sink(e)),
            None => Ok(()),
        }
    }
}

/// Holds the bytes of an incomplete UTF-8 sequence until it completes or breaks.
#[derive(Default)]
struct Utf8Hold {
    held: [u8; 4],
    len: usize,
    expected: usize,
}

impl Utf8Hold {
    fn push(&mut self, b: u8, emit: &mut impl FnMut(u8)) {
        if self.len > 0 {
            if b & 0xC0 == 0x80 {
                if let Some(slot) = self.held.get_mut(self.len) {
                    *slot = b;
                    self.len += 1;
                }
                if self.len >= self.expected {
                    self.flush(emit);
                }
                return;
            }
            // The sequence broke off: pass it through as it is.
            self.flush(emit);
        }
        if (0xC0..0xF8).contains(&b) {
            self.held[0] = b;
            self.len = 1;
            self.expected = sequence_len(b);
        } else {
            emit(b);
        }
    }

    fn flush(&mut self, emit: &mut impl FnMut(u8)) {
        for &b in self.held.iter().take(self.len) {
            emit(b);
        }
        self.len = 0;
    }
}

/// Pass 1: a space right before `?`, `!`, `.` or `,` is dropped.
#[derive(Default)]
struct SpaceBeforePunctuation {
    space_held: bool,
}

impl SpaceBeforePunctuation {
    fn push(&mut self, b: u8, emit: &mut impl FnMut(u8)) {
        if self.space_held {
            self.space_held = false;
            if !matches!(b, b'?' | b'!' | b'.' | b',') {
                emit(b' ');
            }
        }
        if b == b' ' {
            self.space_held = true;
        } else {
            emit(b);
        }
    }

    fn flush(&mut self, emit: &mut impl FnMut(u8)) {
        if core::mem::take(&mut self.space_held) {
            emit(b' ');
        }
    }
}

/// Pass 2: `" ' "` becomes `"'"`. As in llama.cpp's in-place loop, the space eaten after
/// the quote cannot start another match.
#[derive(Default)]
struct LoneQuote {
    /// 0: nothing held; 1: a space; 2: a space and a quote.
    held: u8,
}

impl LoneQuote {
    fn push(&mut self, b: u8, emit: &mut impl FnMut(u8)) {
        match self.held {
            1 => {
                if b == b'\'' {
                    self.held = 2;
                    return;
                }
                emit(b' ');
                self.held = 0;
            }
            2 => {
                self.held = 0;
                if b == b' ' {
                    emit(b'\'');
                    return;
                }
                emit(b' ');
                emit(b'\'');
            }
            _ => {}
        }
        if b == b' ' {
            self.held = 1;
        } else {
            emit(b);
        }
    }

    fn flush(&mut self, emit: &mut impl FnMut(u8)) {
        if self.held >= 1 {
            emit(b' ');
        }
        if self.held == 2 {
            emit(b'\'');
        }
        self.held = 0;
    }
}

/// Pass 3: the space before `'s`, `'m`, `'re` and `'ve` is dropped (not before `'t`, `'d`,
/// `'ll`).
#[derive(Default)]
struct Contraction {
    /// Bytes held after a space: `" "`, `" '"` or `" 'r"` / `" 'v"`.
    held: [u8; 3],
    len: usize,
}

impl Contraction {
    fn push(&mut self, b: u8, emit: &mut impl FnMut(u8)) {
        match self.len {
            1 if b == b'\'' => {
                self.hold(b);
                return;
            }
            2 => match b {
                b's' | b'm' => {
                    self.len = 0;
                    emit(b'\'');
                    emit(b);
                    return;
                }
                b'r' | b'v' => {
                    self.hold(b);
                    return;
                }
                _ => self.flush(emit),
            },
            3 => {
                if b == b'e' {
                    let x1 = self.held[2];
                    self.len = 0;
                    emit(b'\'');
                    emit(x1);
                    emit(b);
                    return;
                }
                self.flush(emit);
            }
            _ => self.flush(emit),
        }
        if b == b' ' {
            self.hold(b);
        } else {
            emit(b);
        }
    }

    fn hold(&mut self, b: u8) {
        if let Some(slot) = self.held.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn flush(&mut self, emit: &mut impl FnMut(u8)) {
        for &b in self.held.iter().take(self.len) {
            emit(b);
        }
        self.len = 0;
    }
}
