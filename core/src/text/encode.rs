//! Text -> token ids, in llama.cpp's order: special tokens are cut out of the raw text
//! first (longest first), then each fragment of plain text is pre-tokenized and merged
//! (byte-level BPE) or merged by score (SentencePiece). Working memory is the scratch part
//! of the tokenizer's arena; the ids go straight to the caller's slice.

use super::pretokenize::split;
use super::table::WordsMut;
use super::unicode::{decode, encode, sequence_len};
use super::vocab::{attr, phi3_keeps_space, VocabModel};
use super::{TextError, Tokenizer};

/// The ids written so far; counts on past the end of the slice so that a too-small slice
/// can report the size it needed.
struct Output<'o> {
    ids: &'o mut [u32],
    n: usize,
}

impl Output<'_> {
    fn push(&mut self, id: u32) {
        if let Some(slot) = self.ids.get_mut(self.n) {
            *slot = id;
        }
        self.n = self.n.saturating_add(1);
    }
}

/// A piece of the input after special-token matching.
enum Fragment<'t> {
    Text(&'t [u8]),
    Token(u32),
}

/// Working memory for one fragment: its bytes as the merges see them, then one u32 per
/// symbol for symbol ends and one per neighbouring pair for the pair's merge priority.
struct Work<'s> {
    text: &'s mut [u8],
    ends: WordsMut<'s>,
    priority: WordsMut<'s>,
}

/// "No merge" priority; real priorities are ranks (BPE) or ordered scores (SentencePiece).
const NO_MERGE: u32 = u32::MAX;

/// C `isspace` in the "C" locale, which llama.cpp's RSTRIP uses.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let pos = from
            + haystack
                .get(from..=last_start)?
                .iter()
                .position(|&b| b == first)?;
        if haystack.get(pos + 1..pos + needle.len()) == Some(rest) {
            return Some(pos);
        }
        from = pos + 1;
    }
    None
}

/// A SentencePiece score as a priority: higher scores give lower values.
fn score_priority(score: f32) -> u32 {
    let bits = score.to_bits();
    let ordered = if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    };
    !ordered
}

impl<'a> Tokenizer<'a> {
    /// Tokenizes `text` into `out` and returns the number of ids, as llama.cpp's
    /// `llama_tokenize(vocab, text, len, out, n, add_special, parse_special)`.
    ///
    /// `add_special` adds BOS/EOS as the vocab asks ([`Tokenizer::adds_bos`]);
    /// `parse_special` matches control tokens written in the text (user-defined tokens are
    /// always matched). Invalid UTF-8 is tokenized as llama.cpp does (byte-level BPE: each
    /// invalid byte as U+FFFD; SentencePiece: byte tokens).
    ///
    /// Errors: [`TextError::OutputFull`] (with the count needed) when `out` is too short;
    /// [`TextError::FragmentTooLong`] when plain text between special tokens exceeds the
    /// arena's working memory; [`TextError::MissingBos`] / [`TextError::MissingEos`];
    /// [`TextError::MissingByteToken`] (SentencePiece vocab without a byte's token);
    /// [`TextError::Busy`] if called from inside another `encode` on the same tokenizer.
    pub fn encode(
        &self,
        text: &[u8],
        add_special: bool,
        parse_special: bool,
        out: &mut [u32],
    ) -> Result<usize, TextError> {
        let mut scratch = self.scratch.try_borrow_mut().map_err(|_| TextError::Busy)?;
        let capacity = scratch.len() / 9;
        let (text_buf, rest) = scratch.split_at_mut(capacity);
        let (ends, rest) = rest.split_at_mut(capacity * 4);
        let priority = rest.get_mut(..capacity * 4).unwrap_or(&mut []);
        let mut work = Work {
            text: text_buf,
            ends: WordsMut(ends),
            priority: WordsMut(priority),
        };
        let mut output = Output { ids: out, n: 0 };

        if add_special && self.add_bos {
            output.push(self.bos.ok_or(TextError::MissingBos)?);
        }
        let mut after_special = true;
        self.partition(text, 0, parse_special, &mut |fragment| {
            match fragment {
                Fragment::Token(id) => {
                    output.push(id);
                    after_special = true;
                }
                Fragment::Text(t) => {
                    match self.model {
                        VocabModel::BytePairGpt2 => self.bpe_fragment(t, &mut work, &mut output)?,
                        VocabModel::SentencePiece => {
                            let prefix = self.add_space_prefix && after_special;
                            self.spm_fragment(t, prefix, &mut work, &mut output)?
                        }
                    }
                    after_special = false;
                }
            }
            Ok(())
        })?;
        if add_special && self.add_eos {
            output.push(self.eos.ok_or(TextError::MissingEos)?);
        }
        if output.n > output.ids.len() {
            return Err(TextError::OutputFull { needed: output.n });
        }
        Ok(output.n)
    }

    /// Whether special token `id` takes part in matching.
    fn matches_special(&self, id: u32, parse_special: bool) -> bool {
        parse_special || self.attr(id) & (attr::CONTROL | attr::UNKNOWN) == 0
    }

    /// Cuts special tokens out of `text`, trying the sorted special list from `first` on:
    /// the first token (in list order) that occurs splits the text at each of its
    /// occurrences; the pieces between are split by the tokens after it. This is what
    /// llama.cpp's `tokenizer_st_partition` produces. Recursion depth is bounded by the
    /// number of special tokens.
    fn partition(
        &self,
        text: &[u8],
        first: usize,
        parse_special: bool,
        emit: &mut impl FnMut(Fragment) -> Result<(), TextError>,
    ) -> Result<(), TextError> {
        let mut rest = text;
        let mut next_candidate = first;
        loop {
            let found = (next_candidate..self.specials.len()).find_map(|k| {
                let id = self.specials.get(k)?;
                if !self.matches_special(id, parse_special) {
                    return None;
                }
                let special = self.token_text(id)?;
                find(rest, special).map(|pos| (k, id, special, pos))
            });
            let Some((k, id, special, mut pos)) = found else {
                return if rest.is_empty() {
                    Ok(())
                } else {
                    emit(Fragment::Text(rest))
                };
            };
            let rstrip = self.rstrip_specials && !phi3_keeps_space(special);
            loop {
                let left = rest.get(..pos).unwrap_or(&[]);
                if !left.is_empty() {
                    self.partition(left, k + 1, parse_special, emit)?;
                }
                emit(Fragment::Token(id))?;
                let mut right = rest.get(pos + special.len()..).unwrap_or(&[]);
                if rstrip {
                    let skip = right.iter().take_while(|&&b| is_c_space(b)).count();
                    right = right.get(skip..).unwrap_or(&[]);
                }
                rest = right;
                match find(rest, special) {
                    Some(p) => pos = p,
                    None => break,
                }
            }
            next_candidate = k + 1;
        }
    }

    /// Byte-level BPE on one plain-text fragment: pre-tokenize, then merge each word.
    fn bpe_fragment(
        &self,
        fragment: &[u8],
        work: &mut Work,
        out: &mut Output,
    ) -> Result<(), TextError> {
        split(
            self.stages,
            fragment,
            0,
            fragment.len(),
            &mut |start, end| {
                // The word as llama.cpp sees it: code points re-encoded, so invalid bytes are
                // U+FFFD and overlong forms are shortened.
                let mut len = 0usize;
                let mut rest = fragment.get(start..end).unwrap_or(&[]);
                let too_long = TextError::FragmentTooLong {
                    len: fragment.len(),
                    max: work.max_fragment(),
                };
                while !rest.is_empty() {
                    let (cp, used) = decode(rest);
                    let mut buf = [0u8; 4];
                    let n = encode(cp, &mut buf);
                    let dst = work.text.get_mut(len..len + n).ok_or(too_long)?;
                    dst.copy_from_slice(buf.get(..n).unwrap_or(&[]));
                    len += n;
                    rest = rest.get(used..).unwrap_or(&[]);
                }
                self.bpe_word(len, work, out);
                Ok(())
            },
        )
    }

    /// Merges the word in `work.text[..len]` (one symbol per byte to start with).
    fn bpe_word(&self, len: usize, work: &mut Work, out: &mut Output) {
        let word = work.text.get(..len).unwrap_or(&[]);
        if self.ignore_merges {
            if let Some(id) = self.find_token(word) {
                out.push(id);
                return;
            }
        }
        for i in 0..len {
            work.ends.set(i, (i + 1) as u32);
        }
        let text: &[u8] = work.text;
        let rank =
            |start: usize, mid: usize, end: usize| match (text.get(start..mid), text.get(mid..end))
            {
                (Some(left), Some(right)) => self.merge_rank(left, right).unwrap_or(NO_MERGE),
                _ => NO_MERGE,
            };
        let n = merge_symbols(len, &mut work.ends, &mut work.priority, &rank);
        for_each_symbol(text, n, &work.ends, |symbol| {
            match self.find_token(symbol) {
                Some(id) => out.push(id),
                None => {
                    // llama.cpp then looks each byte's one-character text up; only printable
                    // ASCII has such a text, other bytes are dropped.
                    for &b in symbol {
                        if (0x21..=0x7E).contains(&b) {
                            if let Some(id) = self.find_token(&[b]) {
                                out.push(id);
                            }
                        }
                    }
                }
            }
        });
    }

    /// SentencePiece on one plain-text fragment: spaces become U+2581 (with one in front
    /// when `prefix_space`), symbols are UTF-8 sequences, pairs merge by token score.
    fn spm_fragment(
        &self,
        fragment: &[u8],
        prefix_space: bool,
        work: &mut Work,
        out: &mut Output,
    ) -> Result<(), TextError> {
        const ESCAPED_SPACE: &[u8] = "\u{2581}".as_bytes();
        let too_long = TextError::FragmentTooLong {
            len: fragment.len(),
            max: work.max_fragment(),
        };
        let mut len = 0usize;
        let spaced = prefix_space.then_some(&b' ');
        for &b in spaced.into_iter().chain(fragment.iter()) {
            let bytes: &[u8] = if b == b' ' {
                ESCAPED_SPACE
            } else {
                core::slice::from_ref(&b)
            };
            work.text
                .get_mut(len..len + bytes.len())
                .ok_or(too_long)?
                .copy_from_slice(bytes);
            len += bytes.len();
        }
        if len == 0 {
            return Ok(());
        }
        let mut n = 0usize;
        let mut pos = 0usize;
        while pos < len {
            let lead = work.text.get(pos).copied().unwrap_or(0);
            pos = (pos + sequence_len(lead)).min(len);
            work.ends.set(n, pos as u32);
            n += 1;
        }
        let text: &[u8] = work.text;
        let priority = |start: usize, _mid: usize, end: usize| {
            text.get(start..end)
                .and_then(|joined| self.find_token(joined))
                .map_or(NO_MERGE, |id| score_priority(self.score(id)))
        };
        let n = merge_symbols(n, &mut work.ends, &mut work.priority, &priority);
        let mut result = Ok(());
        for_each_symbol(text, n, &work.ends, |symbol| {
            if let Some(id) = self.find_token(symbol) {
                out.push(id);
                return;
            }
            for &b in symbol {
                match self.byte_token(b) {
                    Some(id) => out.push(id),
                    None => result = Err(TextError::MissingByteToken { byte: b }),
                }
            }
        });
        result
    }

    /// SentencePiece byte fallback: `<0xXX>`, else the byte itself as a token text.
    fn byte_token(&self, b: u8) -> Option<u32> {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let name = [
            b'<',
            b'0',
            b'x',
            HEX[(b >> 4) as usize],
            HEX[(b & 15) as usize],
            b'>',
        ];
        self.find_token(&name).or_else(|| self.find_token(&[b]))
    }
}

impl Work<'_> {
    /// Longest fragment (input bytes) this working memory takes in the worst case.
    fn max_fragment(&self) -> usize {
        (self.text.len().saturating_sub(3)) / 3
    }
}

/// Calls `each` with the text of every symbol, in order.
fn for_each_symbol(text: &[u8], n: usize, ends: &WordsMut, mut each: impl FnMut(&[u8])) {
    let mut start = 0usize;
    for k in 0..n {
        let end = ends.get(k).unwrap_or(0) as usize;
        each(text.get(start..end).unwrap_or(&[]));
        start = end;
    }
}

/// Repeatedly merges the neighbouring pair with the lowest priority (the leftmost among
/// equals) until no pair can merge: the outcome of llama.cpp's priority queues, which pop
/// the best pair and skip pairs that went stale. Each pair's priority is kept and only the
/// two pairs around a merge are recomputed, so a merge costs one scan of the symbols.
/// `pair_priority(start, mid, end)` gets the byte range of two neighbouring symbols.
/// Returns the number of symbols left.
fn merge_symbols(
    mut n: usize,
    ends: &mut WordsMut,
    priority: &mut WordsMut,
    pair_priority: &dyn Fn(usize, usize, usize) -> u32,
) -> usize {
    let pair = |ends: &WordsMut, k: usize| {
        let start = if k == 0 {
            0
        } else {
            ends.get(k - 1).unwrap_or(0) as usize
        };
        let mid = ends.get(k).unwrap_or(0) as usize;
        let end = ends.get(k + 1).unwrap_or(0) as usize;
        pair_priority(start, mid, end)
    };
    for k in 0..n.saturating_sub(1) {
        let p = pair(ends, k);
        priority.set(k, p);
    }
    while n > 1 {
        let mut best = NO_MERGE;
        let mut at = 0usize;
        for k in 0..n - 1 {
            let p = priority.get(k).unwrap_or(NO_MERGE);
            if p < best {
                best = p;
                at = k;
            }
        }
        if best == NO_MERGE {
            break;
        }
        // Symbol `at` absorbs `at + 1`: drop the end of `at` and the merged pair.
        ends.0.copy_within((at + 1) * 4..n * 4, at * 4);
        priority.0.copy_within((at + 1) * 4..(n - 1) * 4, at * 4);
        n -= 1;
        if at > 0 {
            let p = pair(ends, at - 1);
            priority.set(at - 1, p);
        }
        if at + 1 < n {
            let p = pair(ends, at);
            priority.set(at, p);
        }
    }
    n
}
