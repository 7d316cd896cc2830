//! Text in and out, exactly as llama.cpp does it: tokenization (byte-level BPE with the
//! pre-tokenizers of `gpt2`, Llama 3 / Falcon-H1, Qwen2, Falcon, SmolLM / StarCoder, and
//! SentencePiece with byte fallback), special tokens in the prompt, the end-of-generation
//! set, streaming detokenization and chat templates. No allocation: the tokenizer's tables
//! and working memory live in a caller-provided arena, and token texts stay in the GGUF
//! bytes.
//!
//! # API
//!
//! ```ignore
//! let file = gguf::File::parse(&bytes)?;
//! let mut arena = vec![0u8; Tokenizer::arena_bytes(&file)?];   // or a static on bare metal
//! let tok = Tokenizer::new(&file, &mut arena)?;
//!
//! // Text -> ids. add_special: BOS/EOS as the vocab asks (tok.adds_bos()); parse_special:
//! // `<|im_start|>` written in the text becomes its control token.
//! let mut ids = [0u32; 512];
//! let n = tok.encode(b"Hello! How are you?", true, true, &mut ids)?;   // TextError::OutputFull{needed}
//!
//! // Ids -> text, streaming: bytes come out only when a UTF-8 character is complete.
//! let mut detok = Detokenizer::new(&tok, DetokenizeOptions::llama_detokenize());
//! for &id in &ids[..n] { detok.push(id, &mut sink)?; }   // sink: embedded_io::Write
//! detok.finish(&mut sink)?;
//! tok.is_eog(id);  tok.token_piece(id);  tok.bos();  tok.eog_ids();
//!
//! // Chat: render a conversation for the file's template into a buffer, then encode it
//! // with parse_special = true.
//! let template = ChatTemplate::detect(tok.chat_template());  // template.recognized == false -> warn
//! let len = template.render(&[Message { role: b"user", content: b"Hi" }], true, &mut buf)?;
//! ```
//!
//! * [`Tokenizer::arena_bytes`] gives the exact arena size: hash tables (token text -> id,
//!   merge pair -> rank), per-token offsets, attributes and pieces, plus working memory for
//!   plain-text fragments of up to [`DEFAULT_MAX_FRAGMENT_BYTES`] bytes;
//!   [`Tokenizer::arena_bytes_for`] sizes it for longer ones. Everything past the tables is
//!   working memory, so a bigger arena takes longer fragments.
//! * `encode` takes `&self` (the working memory sits in a `RefCell`): the tokenizer can be
//!   shared by a detokenizer and the code that encodes the next turn, on one thread.
//! * Ids are `u32`; the arena is `&mut [u8]` with no alignment requirement.
//!
//! llama.cpp behaviours reproduced (see `shared/vocab/README.md`): bytes without a token
//! are dropped; `ignore_merges` for the Llama 3 pre-types; SentencePiece puts a space in
//! front of every text fragment that starts the input or follows a special token; special
//! tokens are matched longest first, user-defined ones even without `parse_special`; the
//! attributes and end-of-generation tokens llama.cpp derives from token texts;
//! `clean_spaces` in detokenization.
//!
//! Known differences from llama.cpp, all on input llama.cpp itself mishandles: a UTF-8
//! sequence for a code point past U+10FFFF is taken as invalid (U+FFFD) where llama.cpp
//! throws; empty token texts are never matched (llama.cpp renames them `[EMPTY_<id>]`);
//! when several tokens carry one FIM text list's texts the lowest id is taken (llama.cpp
//! takes whichever its hash map yields first); special tokens of equal length are tried
//! by id (llama.cpp's sort leaves their order unspecified). One difference is chosen: a
//! special-token id in the metadata outside the vocabulary is refused
//! ([`TextError::SpecialTokenOutOfRange`]) where llama.cpp warns and uses its default id.
#![forbid(unsafe_code)]

mod chat;
mod detokenize;
mod encode;
mod pretokenize;
mod table;
mod unicode;
mod unicode_tables;
mod vocab;

pub use chat::{ChatFamily, ChatTemplate, Message};
pub use detokenize::{DetokenizeError, DetokenizeOptions, Detokenizer, MAX_HELD_BYTES};
pub use vocab::{Tokenizer, VocabModel, DEFAULT_MAX_FRAGMENT_BYTES};

/// What went wrong in the text layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextError {
    /// A required metadata key is absent.
    MissingKey { key: &'static str },
    /// A metadata key has the wrong type.
    WrongType { key: &'static str },
    /// A per-token array is shorter than the token list.
    ArrayTooShort {
        key: &'static str,
        len: u64,
        needed: usize,
    },
    /// `tokenizer.ggml.model` is neither `gpt2` nor `llama`.
    UnsupportedModel,
    /// `tokenizer.ggml.pre` names a pre-tokenizer armlet does not implement.
    UnsupportedPreTokenizer,
    /// The token or merge list is empty or longer than u32 ids allow.
    BadTokenCount,
    /// Two tokens have the same text (llama.cpp refuses such vocabs too).
    DuplicateToken { id: u32 },
    /// The tables do not fit in the arena.
    ArenaTooSmall { needed: usize, got: usize },
    /// A size computation overflowed, or the file is too large for u32 offsets.
    TooLarge,
    /// The output slice is too short; `needed` ids would have been written.
    OutputFull { needed: usize },
    /// Plain text between special tokens is longer than the working memory takes
    /// (`max` input bytes); build the tokenizer with `Tokenizer::arena_bytes_for`.
    FragmentTooLong { len: usize, max: usize },
    /// BOS is to be added but the vocab has none.
    MissingBos,
    /// EOS is to be added but the vocab has none.
    MissingEos,
    /// A SentencePiece vocab has neither `<0xXX>` nor the byte itself for a byte.
    MissingByteToken { byte: u8 },
    /// `encode` was called while another `encode` on the same tokenizer was running.
    Busy,
    /// A token id outside the vocabulary.
    UnknownToken { id: u32 },
    /// Merge `rank` of `tokenizer.ggml.merges` is not two known tokens separated by a
    /// space.
    BadMerge { rank: u32 },
    /// The special-token id at metadata key `key` (BOS, EOS, EOT, PAD, UNK, FIM...) is not
    /// a token of the `n_tokens`-token vocabulary.
    SpecialTokenOutOfRange {
        key: &'static str,
        id: u64,
        n_tokens: usize,
    },
}

impl core::fmt::Display for TextError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            TextError::MissingKey { key } => write!(f, "missing metadata key {key}"),
            TextError::WrongType { key } => write!(f, "metadata key {key} has the wrong type"),
            TextError::ArrayTooShort { key, len, needed } => {
                write!(f, "{key} has {len} elements, the vocab has {needed} tokens")
            }
            TextError::UnsupportedModel => write!(
                f,
                "unsupported tokenizer.ggml.model (armlet knows gpt2 and llama)"
            ),
            TextError::UnsupportedPreTokenizer => write!(f, "unsupported tokenizer.ggml.pre"),
            TextError::BadTokenCount => write!(f, "token or merge list empty or too long"),
            TextError::DuplicateToken { id } => {
                write!(f, "token {id} repeats an earlier token's text")
            }
            TextError::ArenaTooSmall { needed, got } => {
                write!(f, "tokenizer arena too small: {got} bytes, {needed} needed")
            }
            TextError::TooLarge => write!(f, "tokenizer tables too large"),
            TextError::OutputFull { needed } => {
                write!(f, "output holds fewer than the {needed} tokens")
            }
            TextError::FragmentTooLong { len, max } => {
                write!(f, "text of {len} bytes between special tokens; the tokenizer's working memory takes {max}")
            }
            TextError::MissingBos => write!(f, "the vocab asks for BOS but has none"),
            TextError::MissingEos => write!(f, "the vocab asks for EOS but has none"),
            TextError::MissingByteToken { byte } => write!(f, "no token for byte 0x{byte:02X}"),
            TextError::Busy => write!(f, "tokenizer busy (encode called from inside encode)"),
            TextError::UnknownToken { id } => write!(f, "token id {id} is not in the vocabulary"),
            TextError::BadMerge { rank } => write!(
                f,
                "tokenizer.ggml.merges[{rank}] is not two tokens of the vocabulary separated by a space"
            ),
            TextError::SpecialTokenOutOfRange { key, id, n_tokens } => write!(
                f,
                "{key} is {id}, outside the vocabulary of {n_tokens} tokens"
            ),
        }
    }
}
