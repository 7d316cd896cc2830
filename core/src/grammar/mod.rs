//! GBNF grammars as llama.cpp reads and applies them: [`Grammar::parse`] turns the text into
//! rules, [`Matcher`] follows them over the characters or token pieces generated so far and
//! says which piece may come next and whether the text may end here.
//!
//! No allocation: [`Grammar::measure`] reads the text once and says how many words the
//! rules need; the caller hands that many in. The matcher's parse stacks live in a second
//! slice of the caller's choosing ([`Matcher::DEFAULT_WORDS`] suits every grammar we ship),
//! and a grammar whose stacks outgrow it is an error ([`GrammarError::StacksFull`]), never a
//! crash.
//!
//! The semantics are llama.cpp's (`llama-grammar.cpp`): repetitions are expanded into
//! generated rules, left recursion is refused, a character is matched against the top of
//! every live parse stack, and a token piece is allowed when some stack survives all of its
//! characters, a UTF-8 sequence split across pieces included. Token references (`<...>`)
//! are not supported.
#![forbid(unsafe_code)]

mod matcher;
mod parse;
mod utf8;

pub use matcher::Matcher;
pub use utf8::Partial;

use core::fmt;

/// A grammar for one JSON value (object, array, string, number, `true`, `false`, `null`),
/// at most one space or a newline with indentation between its tokens: the `--json` mode.
pub const JSON_VALUE: &str = r#"# one JSON value
root   ::= value
value  ::= object | array | string | number | ( "true" | "false" | "null" ) gap
object ::= "{" gap ( string ":" gap value ( "," gap string ":" gap value )* )? "}" gap
array  ::= "[" gap ( value ( "," gap value )* )? "]" gap
string ::= "\"" ( [^"\\\x00-\x1F\x7F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\"" gap
number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )? gap
gap    ::= ( " " | "\n" [ ]{0,16} )?
"#;

/// Element kinds, in the top 3 bits of an element word; the value is the low 29 bits.
pub(crate) mod kind {
    /// End of a rule.
    pub const END: u32 = 0;
    /// Start of another alternative of the rule.
    pub const ALT: u32 = 1;
    /// A reference to the rule whose id is the value.
    pub const RULE_REF: u32 = 2;
    /// A character (or the first of a character class).
    pub const CHAR: u32 = 3;
    /// The first character of a negated class.
    pub const CHAR_NOT: u32 = 4;
    /// The upper end of a range whose lower end is the previous element.
    pub const CHAR_RNG_UPPER: u32 = 5;
    /// One more character of the class.
    pub const CHAR_ALT: u32 = 6;
    /// `.`: any character.
    pub const CHAR_ANY: u32 = 7;
}

const VALUE_BITS: u32 = 29;
const VALUE_MASK: u32 = (1 << VALUE_BITS) - 1;

/// One element word. Values above 29 bits (only `\U` escapes can write them) are clamped:
/// no decoded character comes near that, so every comparison keeps its answer.
pub(crate) fn element(kind: u32, value: u32) -> u32 {
    (kind << VALUE_BITS) | value.min(VALUE_MASK)
}

pub(crate) fn kind_of(word: u32) -> u32 {
    word >> VALUE_BITS
}

pub(crate) fn value_of(word: u32) -> u32 {
    word & VALUE_MASK
}

/// Where in the grammar text something was found: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    fn of(text: &[u8], offset: usize) -> Position {
        let before = text.get(..offset).unwrap_or(text);
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        // Columns count characters: continuation bytes do not start one.
        let column = 1 + before.get(line_start..).unwrap_or(&[]).iter().filter(|&&b| b & 0xC0 != 0x80).count();
        Position { line: line as u32, column: column as u32 }
    }
}

/// A rule name as written (cut at 48 bytes).
pub type RuleName = heapless::String<48>;

fn rule_name(text: &[u8]) -> RuleName {
    let mut name = RuleName::new();
    for &b in text.iter().take(48) {
        // Names are ASCII word characters (the parser accepts nothing else).
        let _ = name.push(b as char);
    }
    name
}

/// Why a grammar cannot be read or followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrammarError {
    /// The text breaks the GBNF syntax: what was expected, and where.
    Syntax { what: Syntax, at: Position },
    /// A rule is used but never defined (the first use).
    UndefinedRule { name: RuleName, at: Position },
    /// The grammar has no `root` rule.
    NoRoot,
    /// A rule can reach itself without consuming a character (llama.cpp refuses these too).
    LeftRecursion { name: RuleName, at: Position },
    /// The text holds no rule.
    Empty,
    /// Repetitions would expand into more rules than llama.cpp allows (2000), or the
    /// grammar into more words than [`Grammar::MAX_WORDS`].
    TooLarge { at: Position },
    /// The rules' slice is shorter than [`Grammar::measure`] said.
    ArenaTooSmall { need: usize, have: usize },
    /// The matcher's stacks need more than the words it was given.
    StacksFull { words: usize },
}

/// The syntax errors, worded as llama.cpp words them where it has a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Name,
    Definition,
    NewlineOrEnd,
    UnexpectedEnd,
    UnknownEscape,
    Hex { digits: u8 },
    CloseParen,
    CloseBrace,
    CommaOrBrace,
    Integer,
    NothingToRepeat,
    /// `{m,n}` with n < m.
    RepetitionOrder,
    /// `{m,...}` with m above 2000.
    RepetitionCount,
    /// `<token>` and `!<token>` name tokens of a vocabulary: not supported.
    TokenReference,
    /// A NUL byte, which ends a grammar in llama.cpp without a word.
    NulByte,
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Syntax::Name => f.write_str("expecting name"),
            Syntax::Definition => f.write_str("expecting ::="),
            Syntax::NewlineOrEnd => f.write_str("expecting newline or end"),
            Syntax::UnexpectedEnd => f.write_str("unexpected end of input"),
            Syntax::UnknownEscape => f.write_str("unknown escape"),
            Syntax::Hex { digits } => write!(f, "expecting {digits} hex chars"),
            Syntax::CloseParen => f.write_str("expecting ')'"),
            Syntax::CloseBrace => f.write_str("expecting '}'"),
            Syntax::CommaOrBrace => f.write_str("expecting ',' or '}'"),
            Syntax::Integer => f.write_str("expecting an int"),
            Syntax::NothingToRepeat => f.write_str("expecting preceding item to */+/?/{"),
            Syntax::RepetitionOrder => f.write_str("repetition {m,n} with n smaller than m"),
            Syntax::RepetitionCount => {
                f.write_str("number of repetitions exceeds sane defaults, please reduce the number of repetitions")
            }
            Syntax::TokenReference => f.write_str("token references (<...>) are not supported"),
            Syntax::NulByte => f.write_str("NUL byte in the grammar"),
        }
    }
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrammarError::Syntax { what, at } => write!(f, "line {}, column {}: {what}", at.line, at.column),
            GrammarError::UndefinedRule { name, at } => {
                write!(f, "line {}, column {}: Undefined rule identifier '{name}'", at.line, at.column)
            }
            GrammarError::NoRoot => f.write_str("grammar does not contain a 'root' symbol"),
            GrammarError::LeftRecursion { name, at } => write!(
                f,
                "line {}, column {}: unsupported grammar, left recursion detected for rule '{name}'",
                at.line, at.column
            ),
            GrammarError::Empty => f.write_str("the grammar has no rules"),
            GrammarError::TooLarge { at } => write!(
                f,
                "line {}, column {}: the repetitions expand into too many rules, please reduce the number of repetitions or rule complexity",
                at.line, at.column
            ),
            GrammarError::ArenaTooSmall { need, have } => {
                write!(f, "the grammar needs {need} words of memory, {have} were given")
            }
            GrammarError::StacksFull { words } => write!(
                f,
                "the grammar's parse stacks outgrew their {words} words (a deeply nested or very ambiguous grammar)"
            ),
        }
    }
}

/// A parsed grammar: rules of element words, read in place from the caller's slice.
#[derive(Clone, Copy, Debug)]
pub struct Grammar<'a> {
    /// Every rule's elements, one after the other, each ending with `END`.
    elements: &'a [u32],
    /// Rule id -> index of its first element.
    rule_start: &'a [u32],
    root: u32,
}

impl<'a> Grammar<'a> {
    /// The most words a grammar may take (64 MiB): far beyond any useful grammar, and a
    /// bound that keeps [`Grammar::measure`] from trusting a hostile text's arithmetic.
    pub const MAX_WORDS: usize = 16 << 20;

    /// How many `u32` words [`Grammar::parse`] needs for this text. The syntax is checked on
    /// the way; undefined rules and left recursion are found by `parse`.
    pub fn measure(text: &[u8]) -> Result<usize, GrammarError> {
        parse::measure(text)
    }

    /// Reads a GBNF text into `arena` (at least [`Grammar::measure`] words).
    pub fn parse(text: &[u8], arena: &'a mut [u32]) -> Result<Grammar<'a>, GrammarError> {
        parse::parse(text, arena)
    }

    /// The number of rules, generated ones included.
    pub fn n_rules(&self) -> usize {
        self.rule_start.len()
    }

    fn word(&self, i: u32) -> u32 {
        // Indices come from the rules themselves; an out-of-range one reads as END.
        self.elements.get(i as usize).copied().unwrap_or(element(kind::END, 0))
    }

    fn start_of(&self, rule: u32) -> u32 {
        self.rule_start.get(rule as usize).copied().unwrap_or(u32::MAX)
    }
}
