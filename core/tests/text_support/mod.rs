//! Shared by the text tests: the vocab files in ../shared/vocab, their case format, and
//! tokenizers built once per file (the GGUF bytes and arenas are leaked: tests are short).
#![allow(dead_code)]

use std::path::PathBuf;

use armlet_core::gguf::File;
use armlet_core::text::Tokenizer;

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

pub fn vocab_dir() -> PathBuf {
    shared().join("vocab")
}

/// NAME of every `ggml-vocab-NAME.gguf`, sorted.
pub fn vocab_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vocab_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("ggml-vocab-")?
                .strip_suffix(".gguf")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Splits a `.inp` / `.detok` file the way llama.cpp's test-tokenizer-0 does.
pub fn split_cases(data: &[u8]) -> Vec<&[u8]> {
    const SEP: &[u8] = b"\n__ggml_vocab_test__\n";
    let mut cases = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        match data[pos..].windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                cases.push(&data[pos..pos + i]);
                pos += i + SEP.len();
            }
            None => {
                cases.push(&data[pos..]);
                break;
            }
        }
    }
    cases
}

pub fn leak_file(path: &std::path::Path) -> File<'static> {
    let bytes: &'static [u8] = Box::leak(std::fs::read(path).unwrap().into_boxed_slice());
    File::parse(bytes).unwrap()
}

pub fn tokenizer_for(file: &File<'static>, max_fragment: usize) -> Tokenizer<'static> {
    let size = Tokenizer::arena_bytes_for(file, max_fragment).unwrap();
    let arena: &'static mut [u8] = Box::leak(vec![0u8; size].into_boxed_slice());
    Tokenizer::new(file, arena).unwrap()
}

pub struct VocabFixture {
    pub name: String,
    pub file: File<'static>,
    tok: Tokenizer<'static>,
}

impl VocabFixture {
    pub fn tokenizer(&self) -> &Tokenizer<'static> {
        &self.tok
    }
}

pub fn load_vocab(name: &str) -> VocabFixture {
    let file = leak_file(&vocab_dir().join(format!("ggml-vocab-{name}.gguf")));
    let tok = tokenizer_for(&file, armlet_core::text::DEFAULT_MAX_FRAGMENT_BYTES);
    VocabFixture {
        name: name.to_string(),
        file,
        tok,
    }
}

/// An `embedded_io::Write` sink that collects into a Vec.
#[derive(Default)]
pub struct VecSink(pub Vec<u8>);

impl embedded_io::ErrorType for VecSink {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for VecSink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
