//! The GBNF reader and matcher on their own: what each construct accepts, the errors and
//! where they point, the memory a grammar asks for, and pieces split inside a character.
//! (llama.cpp's verdicts on the shipped grammars are `shim-linux/tests/grammar_cli.rs`.)

use armlet_core::grammar::{Grammar, GrammarError, Matcher, Position, Syntax, JSON_VALUE};

/// Parses `text` and reports whether `input` matches it completely, as grammar-check does.
fn matches(text: &str, input: &str) -> bool {
    let mut rules = vec![0u32; Grammar::measure(text.as_bytes()).expect("measure")];
    let grammar = Grammar::parse(text.as_bytes(), &mut rules).expect("parse");
    let mut stacks = vec![0u32; Matcher::DEFAULT_WORDS];
    let mut m = Matcher::new(grammar, &mut stacks).expect("matcher");
    input.chars().all(|c| m.accept_char(c as u32).expect("stacks fit")) && m.is_complete()
}

fn error(text: &str) -> GrammarError {
    let mut rules = vec![0u32; Grammar::measure(text.as_bytes()).unwrap_or(0)];
    Grammar::parse(text.as_bytes(), &mut rules).expect_err("an error")
}

#[test]
fn repetitions_classes_and_groups() {
    let g = "root ::= [a-c]{2,3} \"-\"? ( \"x\" | [^x-z] )* .";
    for ok in ["ab!", "abc-q", "aaxxww9", "ab-é"] {
        assert!(matches(g, ok), "{ok}");
    }
    for bad in ["a!", "ay!", "ab", ""] {
        assert!(!matches(g, bad), "{bad}");
    }
    assert!(matches("root ::= \"\\x41\\u00e9\\n\\\"\" [\\]\\-]+", "Aé\n\"]-]"));
    // Comments, a rule over several lines inside parentheses and after |, and CRLF.
    let multi = "# c\r\nroot ::= ( \"a\" # one\n  \"b\" ) |\n  \"c\"\r\n";
    assert!(matches(multi, "ab") && matches(multi, "c") && !matches(multi, "a"));
    // Zero repetitions, an empty alternative, recursion on the right.
    assert!(matches("root ::= \"a\"{0} \"b\"", "b"));
    assert!(matches("root ::= | \"a\" root", "") && matches("root ::= | \"a\" root", "aaaa"));
}

#[test]
fn errors_name_what_and_where() {
    let at = |line, column| Position { line, column };
    assert_eq!(error("root ::= [a-"), GrammarError::Syntax { what: Syntax::UnexpectedEnd, at: at(1, 13) });
    assert_eq!(error("root ::= \"a\"{3,2}"), GrammarError::Syntax { what: Syntax::RepetitionOrder, at: at(1, 13) });
    assert_eq!(error("root ::= \"a\"{2001}"), GrammarError::Syntax { what: Syntax::RepetitionCount, at: at(1, 13) });
    assert_eq!(error("root ::= *"), GrammarError::Syntax { what: Syntax::NothingToRepeat, at: at(1, 10) });
    assert_eq!(error("root = \"a\""), GrammarError::Syntax { what: Syntax::Definition, at: at(1, 6) });
    assert_eq!(error("root ::= \"a\" )"), GrammarError::Syntax { what: Syntax::NewlineOrEnd, at: at(1, 14) });
    assert_eq!(error("root ::= <tok>"), GrammarError::Syntax { what: Syntax::TokenReference, at: at(1, 10) });
    assert_eq!(error("root ::= \"\\x4\""), GrammarError::Syntax { what: Syntax::Hex { digits: 2 }, at: at(1, 13) });
    assert_eq!(error("rt ::= \"a\""), GrammarError::NoRoot);
    assert_eq!(error("# nothing\n"), GrammarError::Empty);
    match error("root ::= x\nx ::= \"a\" | root \"b\" | x \"c\"") {
        GrammarError::LeftRecursion { name, .. } => assert!(name == "x" || name == "root", "{name}"),
        e => panic!("{e:?}"),
    }
    // Nested repetitions past llama.cpp's threshold of 2000 generated rules.
    assert!(matches!(error("root ::= (\"a\"{0,50}){0,50}"), GrammarError::TooLarge { .. }));
    // Every error reads as one line.
    assert_eq!(error("root ::= [a-").to_string(), "line 1, column 13: unexpected end of input");
}

#[test]
fn memory_is_measured_and_checked() {
    let text = JSON_VALUE.as_bytes();
    let need = Grammar::measure(text).unwrap();
    let mut short = vec![0u32; need - 1];
    assert_eq!(Grammar::parse(text, &mut short).err(), Some(GrammarError::ArenaTooSmall { need, have: need - 1 }));
    let mut rules = vec![0u32; need];
    let grammar = Grammar::parse(text, &mut rules).unwrap();
    // Deep nesting outgrows a small stack budget: an error, not a crash.
    let mut stacks = vec![0u32; 600];
    let mut m = Matcher::new(grammar, &mut stacks).unwrap();
    let result = "[".repeat(200).chars().try_for_each(|c| m.accept_char(c as u32).map(|_| ()));
    assert!(matches!(result, Err(GrammarError::StacksFull { .. })), "{result:?}");
}

#[test]
fn pieces_split_inside_a_character() {
    let text = b"root ::= \"\xe2\x82\xac\" [0-9]";
    let mut rules = vec![0u32; Grammar::measure(text).unwrap()];
    let grammar = Grammar::parse(text, &mut rules).unwrap();
    let mut stacks = vec![0u32; Matcher::DEFAULT_WORDS];
    let mut m = Matcher::new(grammar, &mut stacks).unwrap();
    // "€" = E2 82 AC in two pieces; a start that cannot become "€" is refused.
    assert!(m.allows(b"\xe2\x82").unwrap());
    assert!(!m.allows(b"\xc3").unwrap());
    assert!(!m.allows(b"\x82").unwrap());
    assert!(m.accept(b"\xe2\x82").unwrap());
    assert!(!m.is_complete());
    assert!(m.allows(b"\xac5").unwrap() && !m.allows(b"\xacx").unwrap());
    assert!(m.accept(b"\xac5").unwrap());
    assert!(m.is_complete());
    // Nothing may follow a complete match.
    assert!(!m.allows(b"5").unwrap());
}
