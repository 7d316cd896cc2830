//! `armlet grammar-check GRAMMAR TEXT`: whether a text matches a GBNF grammar, decided as
//! llama.cpp's gbnf validator decides it (characters fed one at a time from `root`; a text
//! that stops inside the grammar is rejected). Exit 0: accepted; 1: rejected, with the
//! character and byte where and why; 2: the grammar is malformed (line and column) or a
//! file cannot be read.

use std::process::ExitCode;

use crate::grammar_glue::{self, Loaded, Source};

const USAGE: &str = "usage: armlet grammar-check GRAMMAR_FILE TEXT_FILE
  Checks that the whole of TEXT_FILE matches the GBNF grammar in GRAMMAR_FILE.
  exit 0: accepted; 1: rejected (where and why on stdout); 2: malformed grammar or unreadable file";

pub fn run(args: &[String]) -> ExitCode {
    let (grammar_path, text_path) = match args {
        [h] if h == "-h" || h == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [g, t] => (g, t),
        _ => {
            eprintln!("armlet: grammar-check takes two files\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match check(grammar_path, text_path) {
        Ok(Verdict::Accepted { chars }) => {
            println!("accepted: the whole text matches ({chars} characters)");
            ExitCode::SUCCESS
        }
        Ok(Verdict::Rejected { char_pos, byte_pos, why }) => {
            println!("rejected at character {char_pos} (byte {byte_pos}): {why}");
            ExitCode::from(1)
        }
        Err(message) => {
            eprintln!("armlet: {message}");
            ExitCode::from(2)
        }
    }
}

enum Verdict {
    Accepted { chars: usize },
    Rejected { char_pos: usize, byte_pos: usize, why: String },
}

fn check(grammar_path: &str, text_path: &str) -> Result<Verdict, String> {
    let mut loaded = Loaded::read(&Source::File(grammar_path.into()))?;
    let text = std::fs::read(text_path).map_err(|e| format!("cannot read {text_path}: {e}"))?;
    let grammar = loaded.parse().map_err(|e| format!("{grammar_path}: {e}"))?;
    let mut stacks = Vec::new();
    let mut matcher = grammar_glue::matcher(grammar, &mut stacks).map_err(|e| format!("{grammar_path}: {e}"))?;
    let (mut char_pos, mut byte_pos) = (0, 0);
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            if !matcher.accept_char(c as u32).map_err(|e| format!("{grammar_path}: {e}"))? {
                let why = format!("unexpected character {c:?}");
                return Ok(Verdict::Rejected { char_pos, byte_pos, why });
            }
            char_pos += 1;
            byte_pos += c.len_utf8();
        }
        if !chunk.invalid().is_empty() {
            let why = "the text is not valid UTF-8 here".to_string();
            return Ok(Verdict::Rejected { char_pos, byte_pos, why });
        }
    }
    if matcher.is_complete() {
        Ok(Verdict::Accepted { chars: char_pos })
    } else {
        let why = "unexpected end of input (the text is an unfinished beginning of a match)".to_string();
        Ok(Verdict::Rejected { char_pos, byte_pos, why })
    }
}
