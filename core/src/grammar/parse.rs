//! The GBNF reader: the same rules, generated rules and element words as llama.cpp's
//! `llama_grammar_parser`, written once over a [`Sink`] that either only counts
//! ([`Counter`], for [`Grammar::measure`]) or writes into the caller's slice ([`Writer`]).
//!
//! A rule is assembled on a scratch stack: a group `( ... )` inside it starts its own rule
//! on top, which is copied out to the element area when the group closes, so rules nest
//! without any allocation.

use super::{element, kind, kind_of, rule_name, value_of, Grammar, GrammarError, Position, Syntax};

/// llama.cpp's `MAX_REPETITION_THRESHOLD`: the most rules one repetition may generate.
const MAX_REPETITION: u64 = 2000;

/// Words per symbol beside the rule table: name offset, name length, first-seen offset,
/// and the left-recursion search (flags and a frame of three words).
const SYMBOL_WORDS: usize = 1 + 3 + 4;

/// Where the parser puts what it reads.
trait Sink {
    /// True when symbols are looked up by name (false: every occurrence counts as new,
    /// an upper bound for the sizes).
    const EXACT: bool;
    fn symbol(&mut self, text: &[u8], start: usize, end: usize) -> Result<u32, GrammarError>;
    fn generated(&mut self, at: usize) -> Result<u32, GrammarError>;
    fn n_symbols(&self) -> u32;
    fn len(&self) -> usize;
    fn push(&mut self, word: u32) -> Result<(), GrammarError>;
    fn truncate(&mut self, len: usize);
    /// Appends a copy of `n` words of the scratch from `from`.
    fn repeat(&mut self, from: usize, n: usize) -> Result<(), GrammarError>;
    /// Moves the scratch from `from` to the end out as rule `rule`.
    fn commit(&mut self, rule: u32, from: usize) -> Result<(), GrammarError>;
}

/// Counts what a grammar needs.
#[derive(Default)]
struct Counter {
    symbols: usize,
    scratch: usize,
    max_scratch: usize,
    elements: usize,
    /// Where the current item started, for the error a runaway size reports.
    at: usize,
    text_len: usize,
}

impl Counter {
    fn words(&self) -> usize {
        self.elements.saturating_add(self.max_scratch).saturating_add(self.symbols.saturating_mul(SYMBOL_WORDS))
    }

    fn check(&self) -> Result<(), GrammarError> {
        if self.words() > Grammar::MAX_WORDS {
            return Err(GrammarError::TooLarge { at: Position { line: 0, column: 0 } });
        }
        Ok(())
    }
}

impl Sink for Counter {
    const EXACT: bool = false;
    fn symbol(&mut self, _: &[u8], _: usize, _: usize) -> Result<u32, GrammarError> {
        self.symbols += 1;
        self.check()?;
        Ok(self.symbols as u32 - 1)
    }
    fn generated(&mut self, at: usize) -> Result<u32, GrammarError> {
        self.at = at.min(self.text_len);
        self.symbol(&[], 0, 0)
    }
    fn n_symbols(&self) -> u32 {
        self.symbols as u32
    }
    fn len(&self) -> usize {
        self.scratch
    }
    fn push(&mut self, _: u32) -> Result<(), GrammarError> {
        self.repeat(0, 1)
    }
    fn truncate(&mut self, len: usize) {
        self.scratch = self.scratch.min(len);
    }
    fn repeat(&mut self, _: usize, n: usize) -> Result<(), GrammarError> {
        self.scratch = self.scratch.saturating_add(n);
        self.max_scratch = self.max_scratch.max(self.scratch);
        self.check()
    }
    fn commit(&mut self, _: u32, from: usize) -> Result<(), GrammarError> {
        self.elements = self.elements.saturating_add(self.scratch.saturating_sub(from));
        self.scratch = from.min(self.scratch);
        self.check()
    }
}

/// Writes the rules into the caller's words.
struct Writer<'w> {
    elements: &'w mut [u32],
    n_elements: usize,
    rule_start: &'w mut [u32],
    scratch: &'w mut [u32],
    n_scratch: usize,
    /// Per symbol: name offset, name length (0 for generated rules), first-seen offset.
    names: &'w mut [u32],
    n_symbols: usize,
}

impl Writer<'_> {
    fn full(&self) -> GrammarError {
        // Only reachable when measure and parse disagree: reported, not trusted.
        GrammarError::ArenaTooSmall { need: self.elements.len() + 1, have: self.elements.len() }
    }

    fn name_of(&self, symbol: usize) -> (usize, usize, usize) {
        let get = |i: usize| self.names.get(symbol * 3 + i).copied().unwrap_or(0) as usize;
        (get(0), get(1), get(2))
    }

    fn add_symbol(&mut self, start: usize, len: usize) -> Result<u32, GrammarError> {
        let id = self.n_symbols;
        let slot = self.names.get_mut(id * 3..id * 3 + 3).ok_or(GrammarError::ArenaTooSmall { need: id, have: id })?;
        slot.copy_from_slice(&[start as u32, len as u32, start as u32]);
        if let Some(s) = self.rule_start.get_mut(id) {
            *s = u32::MAX;
        }
        self.n_symbols += 1;
        Ok(id as u32)
    }
}

impl Sink for Writer<'_> {
    const EXACT: bool = true;
    fn symbol(&mut self, text: &[u8], start: usize, end: usize) -> Result<u32, GrammarError> {
        let name = text.get(start..end).unwrap_or(&[]);
        for s in 0..self.n_symbols {
            let (off, len, _) = self.name_of(s);
            if len == name.len() && text.get(off..off + len) == Some(name) {
                return Ok(s as u32);
            }
        }
        self.add_symbol(start, end - start)
    }
    fn generated(&mut self, at: usize) -> Result<u32, GrammarError> {
        self.add_symbol(at, 0)
    }
    fn n_symbols(&self) -> u32 {
        self.n_symbols as u32
    }
    fn len(&self) -> usize {
        self.n_scratch
    }
    fn push(&mut self, word: u32) -> Result<(), GrammarError> {
        let slot = self.scratch.get_mut(self.n_scratch).ok_or(GrammarError::ArenaTooSmall {
            need: self.n_scratch + 1,
            have: self.n_scratch,
        })?;
        *slot = word;
        self.n_scratch += 1;
        Ok(())
    }
    fn truncate(&mut self, len: usize) {
        self.n_scratch = self.n_scratch.min(len);
    }
    fn repeat(&mut self, from: usize, n: usize) -> Result<(), GrammarError> {
        let end = self.n_scratch + n;
        if from + n > self.n_scratch || end > self.scratch.len() {
            return Err(self.full());
        }
        self.scratch.copy_within(from..from + n, self.n_scratch);
        self.n_scratch = end;
        Ok(())
    }
    fn commit(&mut self, rule: u32, from: usize) -> Result<(), GrammarError> {
        let words = self.scratch.get(from..self.n_scratch).ok_or_else(|| self.full())?;
        let start = self.n_elements;
        let dest = self.elements.get_mut(start..start + words.len()).ok_or(GrammarError::ArenaTooSmall {
            need: start + words.len(),
            have: start,
        })?;
        dest.copy_from_slice(words);
        self.n_elements += words.len();
        // A rule defined twice keeps its last definition, as in llama.cpp.
        if let Some(s) = self.rule_start.get_mut(rule as usize) {
            *s = start as u32;
        }
        self.n_scratch = from;
        Ok(())
    }
}

/// The reader over the text; byte 0 stands for the end, as in the C original.
struct Parser<'t, S> {
    text: &'t [u8],
    sink: S,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

impl<S: Sink> Parser<'_, S> {
    fn at(&self, pos: usize) -> u8 {
        self.text.get(pos).copied().unwrap_or(0)
    }

    fn error(&self, what: Syntax, pos: usize) -> GrammarError {
        GrammarError::Syntax { what, at: Position::of(self.text, pos) }
    }

    fn space(&self, mut pos: usize, newline_ok: bool) -> usize {
        loop {
            match self.at(pos) {
                b' ' | b'\t' => pos += 1,
                b'\r' | b'\n' if newline_ok => pos += 1,
                b'#' => {
                    while !matches!(self.at(pos), 0 | b'\r' | b'\n') {
                        pos += 1;
                    }
                }
                _ => return pos,
            }
        }
    }

    fn name_end(&self, pos: usize) -> Result<usize, GrammarError> {
        let mut end = pos;
        while is_word(self.at(end)) {
            end += 1;
        }
        if end == pos {
            return Err(self.error(Syntax::Name, pos));
        }
        Ok(end)
    }

    /// A decimal integer (saturating: anything that large is refused by the caller).
    fn int(&self, pos: usize) -> Result<(u64, usize), GrammarError> {
        let mut end = pos;
        let mut value = 0u64;
        while self.at(end).is_ascii_digit() {
            value = value.saturating_mul(10).saturating_add(u64::from(self.at(end) - b'0'));
            end += 1;
        }
        if end == pos {
            return Err(self.error(Syntax::Integer, pos));
        }
        Ok((value, end))
    }

    fn hex(&self, pos: usize, digits: u8) -> Result<(u32, usize), GrammarError> {
        let mut value = 0u32;
        for i in 0..digits as usize {
            let d = hex_digit(self.at(pos + i)).ok_or(self.error(Syntax::Hex { digits }, pos))?;
            value = (value << 4) | d;
        }
        Ok((value, pos + digits as usize))
    }

    /// One character of a literal or class: an escape, or a UTF-8 sequence decoded as
    /// llama.cpp decodes grammar text (length from the first byte, stopping at the end).
    fn char(&self, pos: usize) -> Result<(u32, usize), GrammarError> {
        let c = self.at(pos);
        if c == b'\\' {
            return match self.at(pos + 1) {
                b'x' => self.hex(pos + 2, 2),
                b'u' => self.hex(pos + 2, 4),
                b'U' => self.hex(pos + 2, 8),
                b't' => Ok((u32::from(b'\t'), pos + 2)),
                b'r' => Ok((u32::from(b'\r'), pos + 2)),
                b'n' => Ok((u32::from(b'\n'), pos + 2)),
                e @ (b'\\' | b'"' | b'[' | b']' | b'-') => Ok((u32::from(e), pos + 2)),
                _ => Err(self.error(Syntax::UnknownEscape, pos)),
            };
        }
        if c == 0 {
            return Err(self.error(Syntax::UnexpectedEnd, pos));
        }
        let len = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4][usize::from(c >> 4)];
        let mut value = u32::from(c) & ((1u32 << (8 - len)) - 1);
        let mut end = pos + 1;
        while end < pos + len && self.at(end) != 0 {
            value = (value << 6) + u32::from(self.at(end) & 0x3F);
            end += 1;
        }
        Ok((value, end))
    }

    fn rule(&mut self, pos: usize) -> Result<usize, GrammarError> {
        let name_end = self.name_end(pos)?;
        let after = self.space(name_end, false);
        let id = self.sink.symbol(self.text, pos, name_end)?;
        if self.text.get(after..after + 3) != Some(b"::=") {
            return Err(self.error(Syntax::Definition, after));
        }
        let body = self.space(after + 3, true);
        let mut end = self.alternates(body, id, false)?;
        match self.at(end) {
            b'\r' => end += if self.at(end + 1) == b'\n' { 2 } else { 1 },
            b'\n' => end += 1,
            0 => {}
            _ => return Err(self.error(Syntax::NewlineOrEnd, end)),
        }
        Ok(self.space(end, true))
    }

    fn alternates(&mut self, pos: usize, rule: u32, nested: bool) -> Result<usize, GrammarError> {
        let start = self.sink.len();
        let mut pos = self.sequence(pos, nested)?;
        while self.at(pos) == b'|' {
            self.sink.push(element(kind::ALT, 0))?;
            pos = self.space(pos + 1, true);
            pos = self.sequence(pos, nested)?;
        }
        self.sink.push(element(kind::END, 0))?;
        self.sink.commit(rule, start)?;
        Ok(pos)
    }

    /// One alternative: items until something that is not an item.
    fn sequence(&mut self, mut pos: usize, nested: bool) -> Result<usize, GrammarError> {
        // The last item (its first word) and how many rules it stands for, which bounds
        // what repeating it may generate.
        let mut last = self.sink.len();
        let mut n_prev_rules = 1u64;
        loop {
            let c = self.at(pos);
            match c {
                b'"' => {
                    pos += 1;
                    last = self.sink.len();
                    n_prev_rules = 1;
                    while self.at(pos) != b'"' {
                        let (ch, next) = self.char(pos)?;
                        self.sink.push(element(kind::CHAR, ch))?;
                        pos = next;
                    }
                    pos = self.space(pos + 1, nested);
                }
                b'[' => {
                    pos += 1;
                    let first = if self.at(pos) == b'^' {
                        pos += 1;
                        kind::CHAR_NOT
                    } else {
                        kind::CHAR
                    };
                    last = self.sink.len();
                    n_prev_rules = 1;
                    while self.at(pos) != b']' {
                        let (ch, next) = self.char(pos)?;
                        pos = next;
                        let k = if self.sink.len() > last { kind::CHAR_ALT } else { first };
                        self.sink.push(element(k, ch))?;
                        if self.at(pos) == b'-' && self.at(pos + 1) != b']' {
                            if self.at(pos + 1) == 0 {
                                return Err(self.error(Syntax::UnexpectedEnd, pos + 1));
                            }
                            let (upper, next) = self.char(pos + 1)?;
                            self.sink.push(element(kind::CHAR_RNG_UPPER, upper))?;
                            pos = next;
                        }
                    }
                    pos = self.space(pos + 1, nested);
                }
                b'<' | b'!' => return Err(self.error(Syntax::TokenReference, pos)),
                c if is_word(c) => {
                    let end = self.name_end(pos)?;
                    let id = self.sink.symbol(self.text, pos, end)?;
                    pos = self.space(end, nested);
                    last = self.sink.len();
                    n_prev_rules = 1;
                    self.sink.push(element(kind::RULE_REF, id))?;
                }
                b'(' => {
                    let open = pos;
                    pos = self.space(pos + 1, true);
                    let before = self.sink.n_symbols();
                    let sub = self.sink.generated(open)?;
                    pos = self.alternates(pos, sub, true)?;
                    n_prev_rules = u64::from(self.sink.n_symbols().saturating_sub(before)).max(1);
                    last = self.sink.len();
                    self.sink.push(element(kind::RULE_REF, sub))?;
                    if self.at(pos) != b')' {
                        return Err(self.error(Syntax::CloseParen, pos));
                    }
                    pos = self.space(pos + 1, nested);
                }
                b'.' => {
                    last = self.sink.len();
                    n_prev_rules = 1;
                    self.sink.push(element(kind::CHAR_ANY, 0))?;
                    pos = self.space(pos + 1, nested);
                }
                b'*' | b'+' | b'?' => {
                    let (min, max) = match c {
                        b'*' => (0, None),
                        b'+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    let op = pos;
                    pos = self.space(pos + 1, nested);
                    self.repeat(op, last, &mut n_prev_rules, min, max)?;
                }
                b'{' => {
                    let op = pos;
                    pos = self.space(pos + 1, nested);
                    let (min, end) = self.int(pos)?;
                    pos = self.space(end, nested);
                    let max = match self.at(pos) {
                        b'}' => {
                            pos = self.space(pos + 1, nested);
                            Some(min)
                        }
                        b',' => {
                            pos = self.space(pos + 1, nested);
                            let mut max = None;
                            if self.at(pos).is_ascii_digit() {
                                let (n, end) = self.int(pos)?;
                                max = Some(n);
                                pos = self.space(end, nested);
                            }
                            if self.at(pos) != b'}' {
                                return Err(self.error(Syntax::CloseBrace, pos));
                            }
                            pos = self.space(pos + 1, nested);
                            max
                        }
                        _ => return Err(self.error(Syntax::CommaOrBrace, pos)),
                    };
                    if min > MAX_REPETITION {
                        return Err(self.error(Syntax::RepetitionCount, op));
                    }
                    if max.is_some_and(|m| m < min) {
                        return Err(self.error(Syntax::RepetitionOrder, op));
                    }
                    // As in llama.cpp, an upper bound beyond the threshold means "no bound".
                    let max = max.filter(|&m| m <= MAX_REPETITION);
                    self.repeat(op, last, &mut n_prev_rules, min, max)?;
                }
                _ => return Ok(pos),
            }
        }
    }

    /// Rewrites the last item S as llama.cpp does: S{m,n} -> S (m times) then n-m nested
    /// optional rules `S' ::= S S'' |`; S{m,} -> S (m times) then `S' ::= S S' |`.
    fn repeat(
        &mut self,
        op: usize,
        last: usize,
        n_prev_rules: &mut u64,
        min: u64,
        max: Option<u64>,
    ) -> Result<(), GrammarError> {
        let len = self.sink.len();
        if last == len {
            return Err(self.error(Syntax::NothingToRepeat, op));
        }
        let item = len - last;
        let total_rules = match max {
            Some(m) if m > 0 => m,
            _ => min.max(1),
        };
        // The counting pass sees every name as a new symbol, so its n_prev_rules is only an
        // upper bound: the exact check is the writer's; the counter has its size cap.
        if S::EXACT && n_prev_rules.saturating_mul(total_rules) > MAX_REPETITION {
            return Err(GrammarError::TooLarge { at: Position::of(self.text, op) });
        }
        let n_optional = max.map_or(1, |m| m - min);
        // The optional rules first, while the item is still on the scratch (their ids come
        // in the same order as llama.cpp's).
        let mut last_rule = 0;
        for i in 0..n_optional {
            let id = self.sink.generated(op)?;
            let start = self.sink.len();
            self.sink.repeat(last, item)?;
            if i > 0 || max.is_none() {
                self.sink.push(element(kind::RULE_REF, if max.is_none() { id } else { last_rule }))?;
            }
            self.sink.push(element(kind::ALT, 0))?;
            self.sink.push(element(kind::END, 0))?;
            self.sink.commit(id, start)?;
            last_rule = id;
        }
        if min == 0 {
            self.sink.truncate(last);
        } else {
            for _ in 1..min {
                self.sink.repeat(last, item)?;
            }
        }
        if n_optional > 0 {
            self.sink.push(element(kind::RULE_REF, last_rule))?;
        }
        *n_prev_rules = n_prev_rules.saturating_mul(total_rules);
        Ok(())
    }

    fn grammar(&mut self) -> Result<(), GrammarError> {
        if let Some(nul) = self.text.iter().position(|&b| b == 0) {
            return Err(self.error(Syntax::NulByte, nul));
        }
        let mut pos = self.space(0, true);
        while self.at(pos) != 0 {
            pos = self.rule(pos)?;
        }
        Ok(())
    }
}

/// The counting pass: the sizes every part of the writer's layout needs.
fn count(text: &[u8]) -> Result<Counter, GrammarError> {
    let mut p = Parser { text, sink: Counter { text_len: text.len(), ..Counter::default() } };
    match p.grammar() {
        Ok(()) => Ok(p.sink),
        Err(GrammarError::TooLarge { .. }) => Err(GrammarError::TooLarge { at: Position::of(text, p.sink.at) }),
        Err(e) => Err(e),
    }
}

pub(super) fn measure(text: &[u8]) -> Result<usize, GrammarError> {
    count(text).map(|c| c.words())
}

pub(super) fn parse<'a>(text: &[u8], arena: &'a mut [u32]) -> Result<Grammar<'a>, GrammarError> {
    // The counter's figures bound the writer's: same text, same pushes, fewer symbols.
    let c = count(text)?;
    if arena.len() < c.words() {
        return Err(GrammarError::ArenaTooSmall { need: c.words(), have: arena.len() });
    }
    let (elements, rest) = arena.split_at_mut(c.elements);
    let (rule_start, rest) = rest.split_at_mut(c.symbols);
    let (scratch, rest) = rest.split_at_mut(c.max_scratch);
    let (names, work) = rest.split_at_mut(c.symbols * 3);
    let mut p = Parser {
        text,
        sink: Writer { elements, n_elements: 0, rule_start, scratch, n_scratch: 0, names, n_symbols: 0 },
    };
    p.grammar()?;
    let w = p.sink;
    let n_rules = w.n_symbols;
    if n_rules == 0 {
        return Err(GrammarError::Empty);
    }
    let (elements, rule_start) = (&w.elements[..w.n_elements], &w.rule_start[..n_rules]);
    let names = &w.names[..n_rules * 3];
    let symbol_at = |s: usize| Position::of(text, names.get(s * 3 + 2).copied().unwrap_or(0) as usize);
    let symbol_name = |s: usize| {
        let (off, len) = (names.get(s * 3).copied().unwrap_or(0), names.get(s * 3 + 1).copied().unwrap_or(0));
        rule_name(text.get(off as usize..(off + len) as usize).unwrap_or(&[]))
    };
    // Every reference names a defined rule.
    for &start in rule_start.iter() {
        if start == u32::MAX {
            continue;
        }
        for &word in elements.get(start as usize..).unwrap_or(&[]) {
            match kind_of(word) {
                kind::END => break,
                kind::RULE_REF => {
                    let target = value_of(word) as usize;
                    if rule_start.get(target).is_none_or(|&s| s == u32::MAX) {
                        return Err(GrammarError::UndefinedRule { name: symbol_name(target), at: symbol_at(target) });
                    }
                }
                _ => {}
            }
        }
    }
    let root = (0..n_rules)
        .find(|&s| symbol_name(s).as_str() == "root" && names.get(s * 3 + 1).copied() == Some(4))
        .ok_or(GrammarError::NoRoot)?;
    if let Some(r) = left_recursive(elements, rule_start, work) {
        let named = if names.get(r * 3 + 1).copied().unwrap_or(0) > 0 { symbol_name(r) } else { rule_name(b"(group or repetition)") };
        return Err(GrammarError::LeftRecursion { name: named, at: symbol_at(r) });
    }
    Ok(Grammar { elements, rule_start, root: root as u32 })
}

const VISITED: u32 = 1;
const IN_PROGRESS: u32 = 2;
const MAY_BE_EMPTY: u32 = 4;

/// The first rule that reaches itself through leftmost references (a reference counts as
/// leftmost while everything before it in its alternative may match nothing), as
/// llama.cpp's `llama_grammar_detect_left_recursion` finds it; "may match nothing" is, as
/// there, "has an empty alternative". Depth-first with an explicit stack in `work`
/// (four words per rule), each rule explored once.
fn left_recursive(elements: &[u32], rule_start: &[u32], work: &mut [u32]) -> Option<usize> {
    let n = rule_start.len();
    let (flags, frames) = work.split_at_mut(n.min(work.len()));
    flags.fill(0);
    let word = |i: usize| elements.get(i).copied().unwrap_or(element(kind::END, 0));
    let at_end = |w: u32| matches!(kind_of(w), kind::END | kind::ALT);
    for top in 0..n {
        if rule_start[top] == u32::MAX || flags[top] & VISITED != 0 {
            continue;
        }
        // A frame: rule, index of the next element, whether a reference there is leftmost.
        let mut depth = 0usize;
        let enter = |rule: usize, flags: &mut [u32], frames: &mut [u32], depth: &mut usize| -> bool {
            let start = rule_start[rule] as usize;
            flags[rule] |= IN_PROGRESS;
            let mut at_start = true;
            let mut i = start;
            loop {
                let w = word(i);
                if at_end(w) {
                    if at_start {
                        flags[rule] |= MAY_BE_EMPTY;
                        break;
                    }
                    if kind_of(w) == kind::END {
                        break;
                    }
                    at_start = true;
                } else {
                    at_start = false;
                }
                i += 1;
            }
            match frames.get_mut(*depth * 3..*depth * 3 + 3) {
                Some(f) => f.copy_from_slice(&[rule as u32, start as u32, 1]),
                None => return false,
            }
            *depth += 1;
            true
        };
        if !enter(top, flags, frames, &mut depth) {
            return Some(top);
        }
        while depth > 0 {
            let f = (depth - 1) * 3;
            let (rule, i, leftmost) = (frames[f] as usize, frames[f + 1] as usize, frames[f + 2] != 0);
            let w = word(i);
            match kind_of(w) {
                kind::RULE_REF if leftmost => {
                    let target = value_of(w) as usize;
                    if target >= n {
                        frames[f + 1] += 1;
                        continue;
                    }
                    if flags[target] & IN_PROGRESS != 0 {
                        return Some(target);
                    }
                    if flags[target] & VISITED == 0 {
                        // Come back to this reference once the target is done.
                        if !enter(target, flags, frames, &mut depth) {
                            return Some(target);
                        }
                        continue;
                    }
                    frames[f + 2] = u32::from(flags[target] & MAY_BE_EMPTY != 0);
                    frames[f + 1] += 1;
                }
                kind::END => {
                    flags[rule] = (flags[rule] & !IN_PROGRESS) | VISITED;
                    depth -= 1;
                }
                kind::ALT => {
                    frames[f + 2] = 1;
                    frames[f + 1] += 1;
                }
                _ => {
                    frames[f + 2] = 0;
                    frames[f + 1] += 1;
                }
            }
        }
    }
    None
}
