//! Grammars for the shim: the text from `--grammar`, `--grammar-file` or `--json`, read
//! into words sized by the core's own measure, and a matcher over it.

use armlet_core::grammar::{Grammar, GrammarError, Matcher};

/// Where a grammar came from, for messages.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Text(String),
    File(std::path::PathBuf),
    Json,
}

/// A grammar's text and the words its rules live in.
pub struct Loaded {
    pub text: Vec<u8>,
    pub name: String,
    words: Vec<u32>,
}

impl Loaded {
    /// Reads the grammar's text; a file that cannot be read is an error naming it.
    pub fn read(source: &Source) -> Result<Loaded, String> {
        let (text, name) = match source {
            Source::Text(t) => (t.clone().into_bytes(), "--grammar".to_string()),
            Source::File(p) => {
                let text = std::fs::read(p).map_err(|e| format!("cannot read grammar file {}: {e}", p.display()))?;
                (text, p.display().to_string())
            }
            Source::Json => (armlet_core::grammar::JSON_VALUE.as_bytes().to_vec(), "--json".to_string()),
        };
        Ok(Loaded { text, name, words: Vec::new() })
    }

    /// Bytes the rules and the matcher's stacks take.
    pub fn memory_bytes(&self) -> Result<usize, GrammarError> {
        Ok((Grammar::measure(&self.text)? + Matcher::DEFAULT_WORDS) * 4)
    }

    /// The parsed grammar (its rules in this value's words).
    pub fn parse(&mut self) -> Result<Grammar<'_>, GrammarError> {
        self.words = vec![0; Grammar::measure(&self.text)?];
        Grammar::parse(&self.text, &mut self.words)
    }
}

/// A matcher with its own stack words.
pub fn matcher<'g>(grammar: Grammar<'g>, stacks: &'g mut Vec<u32>) -> Result<Matcher<'g, 'g>, GrammarError> {
    stacks.resize(Matcher::DEFAULT_WORDS, 0);
    Matcher::new(grammar, stacks)
}
