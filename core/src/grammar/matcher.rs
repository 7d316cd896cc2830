//! Following a grammar over generated text: the set of parse stacks llama.cpp keeps, each
//! a list of element indices whose top is a character element (an empty stack: the root
//! rule is complete). A character keeps the stacks whose top matches it, each advanced
//! through the rule references that follow until characters are on top again.
//!
//! The stack sets live in six equal parts of the caller's words: the current set, two for
//! trying a piece, and the work of one advance (what is left to expand, what was seen, the
//! stack being expanded). A set that outgrows its part is [`GrammarError::StacksFull`].

use super::utf8::{Decoded, Partial};
use super::{kind, kind_of, value_of, Grammar, GrammarError};

/// A set of stacks, each stored as `[len, elements.., len]` so it can be walked forward
/// and popped from the back.
struct Stacks<'m> {
    words: &'m mut [u32],
    used: usize,
}

impl<'m> Stacks<'m> {
    fn new(words: &'m mut [u32]) -> Stacks<'m> {
        Stacks { words, used: 0 }
    }

    fn clear(&mut self) {
        self.used = 0;
    }

    fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Pushes the stack `base` followed by the elements of `top`.
    fn push(&mut self, base: &[u32], top: &[u32]) -> Result<(), GrammarError> {
        let len = base.len() + top.len();
        let full = GrammarError::StacksFull { words: self.words.len() };
        let dest = self.words.get_mut(self.used..self.used + len + 2).ok_or(full)?;
        dest[0] = len as u32;
        dest[1..1 + base.len()].copy_from_slice(base);
        dest[1 + base.len()..1 + len].copy_from_slice(top);
        dest[1 + len] = len as u32;
        self.used += len + 2;
        Ok(())
    }

    /// Removes the last stack, copying it into `out`; its length.
    fn pop_into(&mut self, out: &mut [u32]) -> Result<Option<usize>, GrammarError> {
        if self.used < 2 {
            return Ok(None);
        }
        let len = self.words[self.used - 1] as usize;
        let start = self.used - 1 - len;
        let full = GrammarError::StacksFull { words: out.len() };
        let dest = out.get_mut(..len).ok_or(full)?;
        dest.copy_from_slice(&self.words[start..start + len]);
        self.used = start - 1;
        Ok(Some(len))
    }

    fn iter(&self) -> StackIter<'_> {
        StackIter { words: &self.words[..self.used] }
    }

    fn contains(&self, stack: &[u32]) -> bool {
        self.iter().any(|s| s == stack)
    }

    /// Pushes `stack` unless the set has it already.
    fn insert(&mut self, stack: &[u32]) -> Result<(), GrammarError> {
        if self.contains(stack) {
            return Ok(());
        }
        self.push(stack, &[])
    }
}

struct StackIter<'s> {
    words: &'s [u32],
}

impl<'s> Iterator for StackIter<'s> {
    type Item = &'s [u32];
    fn next(&mut self) -> Option<&'s [u32]> {
        let len = *self.words.first()? as usize;
        let stack = self.words.get(1..1 + len)?;
        self.words = self.words.get(len + 2..).unwrap_or(&[]);
        Some(stack)
    }
}

/// The work space of one advance.
struct Work<'m> {
    todo: Stacks<'m>,
    seen: Stacks<'m>,
    current: &'m mut [u32],
}

/// Where a grammar's parse stands: the live stacks and a UTF-8 sequence left unfinished by
/// the last piece.
pub struct Matcher<'g, 'm> {
    grammar: Grammar<'g>,
    stacks: Stacks<'m>,
    try_a: Stacks<'m>,
    try_b: Stacks<'m>,
    work: Work<'m>,
    partial: Partial,
}

impl<'g, 'm> Matcher<'g, 'm> {
    /// Words for the stacks that serve any grammar of a few nested levels (128 KiB).
    pub const DEFAULT_WORDS: usize = 32 * 1024;

    /// A matcher at the start of `grammar`, its stacks in `words`.
    pub fn new(grammar: Grammar<'g>, words: &'m mut [u32]) -> Result<Matcher<'g, 'm>, GrammarError> {
        let part = words.len() / 6;
        let (stacks, rest) = words.split_at_mut(part);
        let (try_a, rest) = rest.split_at_mut(part);
        let (try_b, rest) = rest.split_at_mut(part);
        let (todo, rest) = rest.split_at_mut(part);
        let (seen, rest) = rest.split_at_mut(part);
        let mut m = Matcher {
            grammar,
            stacks: Stacks::new(stacks),
            try_a: Stacks::new(try_a),
            try_b: Stacks::new(try_b),
            work: Work { todo: Stacks::new(todo), seen: Stacks::new(seen), current: rest },
            partial: Partial::default(),
        };
        m.reset()?;
        Ok(m)
    }

    /// Back to the start of the grammar (a new answer).
    pub fn reset(&mut self) -> Result<(), GrammarError> {
        self.stacks.clear();
        self.partial = Partial::default();
        let g = self.grammar;
        let mut pos = g.start_of(g.root);
        loop {
            let first = [pos];
            let stack: &[u32] = if at_end_of_sequence(&g, pos) { &[] } else { &first };
            advance(&g, stack, &[], &mut self.work, &mut self.stacks)?;
            pos = end_of_alternative(&g, pos);
            if kind_of(g.word(pos)) != kind::ALT {
                return Ok(());
            }
            pos += 1;
        }
    }

    /// True when the text so far is a complete match: end of generation is allowed.
    pub fn is_complete(&self) -> bool {
        self.stacks.iter().any(|s| s.is_empty())
    }

    /// True when no stack is left: nothing can follow (only after a refused character).
    pub fn is_dead(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Feeds one character; false when the grammar refuses it (the matcher is then dead).
    pub fn accept_char(&mut self, c: u32) -> Result<bool, GrammarError> {
        let g = self.grammar;
        self.try_a.clear();
        accept_char(&g, &self.stacks, c, &mut self.work, &mut self.try_a)?;
        core::mem::swap(&mut self.stacks, &mut self.try_a);
        Ok(!self.stacks.is_empty())
    }

    /// Feeds a token's piece (its text, special tokens as written). False when the grammar
    /// refuses it, which leaves the matcher dead; check with [`Matcher::allows`] first.
    pub fn accept(&mut self, piece: &[u8]) -> Result<bool, GrammarError> {
        let decoded = Decoded::new(piece, self.partial);
        if !decoded.valid {
            self.stacks.clear();
            return Ok(false);
        }
        // A finished parse takes no more text: llama.cpp drops the empty stacks before the
        // piece, which matters when the piece completes no character.
        let g = self.grammar;
        self.try_a.clear();
        for s in self.stacks.iter().filter(|s| !s.is_empty()) {
            self.try_a.push(s, &[])?;
        }
        core::mem::swap(&mut self.stacks, &mut self.try_a);
        for c in decoded.chars() {
            self.try_a.clear();
            accept_char(&g, &self.stacks, c, &mut self.work, &mut self.try_a)?;
            core::mem::swap(&mut self.stacks, &mut self.try_a);
            if self.stacks.is_empty() {
                return Ok(false);
            }
        }
        self.partial = decoded.end;
        Ok(!self.stacks.is_empty())
    }

    /// Whether the grammar allows `piece` next (its whole text, or a beginning of a
    /// character that some continuation could complete). The state does not change.
    pub fn allows(&mut self, piece: &[u8]) -> Result<bool, GrammarError> {
        let decoded = Decoded::new(piece, self.partial);
        if !decoded.valid {
            return Ok(false);
        }
        let g = self.grammar;
        for stack in self.stacks.iter() {
            let Some((&top, base)) = stack.split_last() else { continue };
            let mut chars = decoded.chars();
            let Some(first) = chars.next() else {
                // No character finished: the unfinished one must fit this stack's top.
                if decoded.end.n_remain > 0 && match_partial(&g, top, decoded.end) {
                    return Ok(true);
                }
                continue;
            };
            // Most pieces fail here, on the first character, before any stack is copied.
            let (matched, next) = match_char(&g, top, first);
            if !matched {
                continue;
            }
            // A one-character piece that matches is allowed: a matched stack always advances
            // to at least one stack.
            if decoded.end.n_remain == 0 && chars.clone().next().is_none() {
                return Ok(true);
            }
            self.try_a.clear();
            let after: &[u32] = if at_end_of_sequence(&g, next) { &[] } else { &[next] };
            advance(&g, base, after, &mut self.work, &mut self.try_a)?;
            for c in chars {
                self.try_b.clear();
                accept_char(&g, &self.try_a, c, &mut self.work, &mut self.try_b)?;
                core::mem::swap(&mut self.try_a, &mut self.try_b);
                if self.try_a.is_empty() {
                    break;
                }
            }
            if self.try_a.is_empty() {
                continue;
            }
            if decoded.end.n_remain == 0 {
                return Ok(true);
            }
            let fits_partial = |s: &[u32]| s.last().is_some_and(|&t| match_partial(&g, t, decoded.end));
            if self.try_a.iter().any(fits_partial) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn at_end_of_sequence(g: &Grammar<'_>, pos: u32) -> bool {
    matches!(kind_of(g.word(pos)), kind::END | kind::ALT)
}

fn end_of_alternative(g: &Grammar<'_>, mut pos: u32) -> u32 {
    while !at_end_of_sequence(g, pos) {
        pos += 1;
    }
    pos
}

/// Whether character `c` matches the character element at `pos` (a class with its
/// alternatives and ranges, possibly negated), and the element after it.
fn match_char(g: &Grammar<'_>, mut pos: u32, c: u32) -> (bool, u32) {
    let positive = matches!(kind_of(g.word(pos)), kind::CHAR | kind::CHAR_ANY);
    let mut found = false;
    loop {
        let (w, next) = (g.word(pos), g.word(pos + 1));
        if kind_of(next) == kind::CHAR_RNG_UPPER {
            found |= value_of(w) <= c && c <= value_of(next);
            pos += 2;
        } else if kind_of(w) == kind::CHAR_ANY {
            found = true;
            pos += 1;
        } else {
            found |= value_of(w) == c;
            pos += 1;
        }
        if kind_of(g.word(pos)) != kind::CHAR_ALT {
            return (found == positive, pos);
        }
    }
}

/// Whether some completion of an unfinished UTF-8 sequence could match the element at `pos`.
fn match_partial(g: &Grammar<'_>, mut pos: u32, partial: Partial) -> bool {
    let positive = matches!(kind_of(g.word(pos)), kind::CHAR | kind::CHAR_ANY);
    let n = partial.n_remain;
    // Invalid, or a 7-bit character spread over two bytes (overlong).
    if n < 0 || (n == 1 && partial.value < 2) {
        return false;
    }
    let shift = 6 * n as u32;
    let mut low = partial.value << shift;
    let high = low | ((1u32 << shift) - 1);
    if low == 0 {
        low = match n {
            2 => 1 << 11,
            3 => 1 << 16,
            _ => low,
        };
    }
    loop {
        let (w, next) = (g.word(pos), g.word(pos + 1));
        if kind_of(next) == kind::CHAR_RNG_UPPER {
            if value_of(w) <= high && low <= value_of(next) {
                return positive;
            }
            pos += 2;
        } else if kind_of(w) == kind::CHAR_ANY {
            return true;
        } else {
            if low <= value_of(w) && value_of(w) <= high {
                return positive;
            }
            pos += 1;
        }
        if kind_of(g.word(pos)) != kind::CHAR_ALT {
            return !positive;
        }
    }
}

/// The stacks that survive character `c`, from every stack of `from`, into `out`.
fn accept_char(
    g: &Grammar<'_>,
    from: &Stacks<'_>,
    c: u32,
    work: &mut Work<'_>,
    out: &mut Stacks<'_>,
) -> Result<(), GrammarError> {
    for stack in from.iter() {
        let Some((&top, base)) = stack.split_last() else { continue };
        let (matched, next) = match_char(g, top, c);
        if matched {
            let after: &[u32] = if at_end_of_sequence(g, next) { &[] } else { &[next] };
            advance(g, base, after, work, out)?;
        }
    }
    Ok(())
}

/// Expands the stack `base + top` until every resulting stack has a character element on
/// top (or is empty), adding each new one to `out`: llama.cpp's `advance_stack`.
fn advance(
    g: &Grammar<'_>,
    base: &[u32],
    top: &[u32],
    work: &mut Work<'_>,
    out: &mut Stacks<'_>,
) -> Result<(), GrammarError> {
    work.todo.clear();
    work.seen.clear();
    work.todo.push(base, top)?;
    while let Some(len) = work.todo.pop_into(work.current)? {
        let stack = &work.current[..len];
        if work.seen.contains(stack) {
            continue;
        }
        work.seen.push(stack, &[])?;
        let Some((&pos, rest)) = stack.split_last() else {
            out.insert(stack)?;
            continue;
        };
        match kind_of(g.word(pos)) {
            kind::RULE_REF => {
                // One stack per alternative of the rule: the rest of this sequence below,
                // the alternative's first element on top.
                let mut sub = g.start_of(value_of(g.word(pos)));
                let follow = pos + 1;
                loop {
                    let mut top = [0u32; 2];
                    let mut n = 0;
                    if !at_end_of_sequence(g, follow) {
                        top[n] = follow;
                        n += 1;
                    }
                    if !at_end_of_sequence(g, sub) {
                        top[n] = sub;
                        n += 1;
                    }
                    work.todo.push(rest, &top[..n])?;
                    sub = end_of_alternative(g, sub);
                    if kind_of(g.word(sub)) != kind::ALT {
                        break;
                    }
                    sub += 1;
                }
            }
            kind::CHAR | kind::CHAR_NOT | kind::CHAR_ANY => out.insert(stack)?,
            // The parser never leaves another element on top; such a stack is dropped.
            _ => {}
        }
    }
    Ok(())
}
