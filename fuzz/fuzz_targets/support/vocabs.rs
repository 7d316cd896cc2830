//! The vocabularies the text fuzz targets use, loaded once per process from
//! ../shared/vocab: the Falcon-H1 fixture's byte-level BPE, SmolLM's (StarCoder
//! pre-tokenizer) and Llama's SentencePiece. The file bytes and the tokenizer arenas are
//! leaked: they live as long as the fuzzing process.

use armlet_core::gguf::File;
use armlet_core::text::Tokenizer;

pub const VOCAB_FILES: [&str; 3] =
    ["ggml-vocab-falcon-h1-fixture.gguf", "ggml-vocab-smollm.gguf", "ggml-vocab-llama-spm.gguf"];

fn load(name: &str) -> Tokenizer<'static> {
    let path = format!("{}/../../shared/vocab/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // An 8-byte-aligned copy, as the shim makes.
    let words: &'static mut [u64] = Box::leak(vec![0u64; bytes.len().div_ceil(8)].into_boxed_slice());
    let aligned: &'static mut [u8] = &mut armlet_core::session::arena_from_words(words)[..bytes.len()];
    aligned.copy_from_slice(&bytes);
    let aligned: &'static [u8] = aligned;
    let file: File<'static> = File::parse(aligned).expect("a shared vocab parses");
    // The arena armlet itself uses (working memory for DEFAULT_MAX_FRAGMENT_BYTES): the
    // tokenizer's merge loop is quadratic in the length of one word, and this bound is what
    // keeps its worst case short (core/tests/hostile_text.rs times it).
    let size = Tokenizer::arena_bytes(&file).expect("a shared vocab sizes");
    let arena: &'static mut [u8] = Box::leak(vec![0u8; size].into_boxed_slice());
    Tokenizer::new(&file, arena).expect("a shared vocab loads")
}

thread_local! {
    // Leaked rather than owned, so nothing is dropped at exit and the leak checker, which
    // finds the slice through this pointer, does not report the arenas.
    pub static TOKENIZERS: &'static [Tokenizer<'static>] =
        Vec::leak(VOCAB_FILES.iter().map(|n| load(n)).collect());
}
