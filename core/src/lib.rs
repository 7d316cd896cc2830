//! armlet-core: GGUF parsing and LLM inference (Falcon-H1, llama, Gemma 3) for the ARM1176, with no
//! standard library and no allocator.
//!
//! The data path: model bytes -> [`gguf::File::parse`] -> [`Model::from_gguf`] ->
//! [`Plan::new`] -> arena -> [`Session`] -> logits -> sampler -> [`Detokenizer`] ->
//! `embedded_io::Write`. Every buffer is a slice the caller hands in; nothing here
//! allocates, and no input makes it panic.
//!
//! # Example
//!
//! Greedy generation from a prompt (the `Vec`s stand for whatever memory the host has:
//! a `static` array on bare metal; the text goes to any `embedded_io::Write`, a UART
//! there, a byte slice here):
//!
//! ```
//! use armlet_core::{gguf, model::{KvCacheType, Model}, plan::Plan, sample::argmax_logits};
//! use armlet_core::session::{arena_from_words, Session};
//! use armlet_core::text::{DetokenizeOptions, Detokenizer, Tokenizer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/falcon-h1-micro-Q4_K_S.gguf");
//! let bytes = std::fs::read(path)?; // on bare metal: the model's bytes where the loader put them
//! let file = gguf::File::parse(&bytes)?;
//! let model = Model::from_gguf(&file)?;
//!
//! // The tokenizer's tables live in an arena the caller gives (4-byte aligned).
//! let mut tables = vec![0u64; Tokenizer::arena_bytes(&file)?.div_ceil(8)];
//! let tok = Tokenizer::new(&file, arena_from_words(&mut tables))?;
//! let mut ids = [0u32; 64];
//! let n = tok.encode(b"Hello! How are you?", true, true, &mut ids)?;
//!
//! // The memory plan for the prompt and 16 new tokens, and the session in its arena.
//! let plan = Plan::new(&model.hparams, n + 16, KvCacheType::F16)?;
//! let mut arena = vec![0u64; plan.arena_bytes().div_ceil(8)];
//! let mut session = Session::new(&model, &plan, arena_from_words(&mut arena))?;
//!
//! let mut text = [0u8; 1024];
//! let mut out: &mut [u8] = &mut text; // an embedded_io::Write
//! let mut detok = Detokenizer::new(&tok, DetokenizeOptions::pieces(false));
//! session.feed_prompt(&ids[..n])?;
//! for _ in 0..16 {
//!     let id = argmax_logits(session.logits()); // greedy: the largest logit
//!     if tok.is_eog(id) {
//!         break;
//!     }
//!     detok.push(id, &mut out)?; // holds an incomplete UTF-8 character for the next token
//!     session.feed(id)?;
//! }
//! detok.finish(&mut out)?;
//! let written = 1024 - out.len();
//! assert!(written > 0);
//! println!("{}", String::from_utf8_lossy(&text[..written]));
//! # Ok(())
//! # }
//! ```
//!
//! The modules, each using only those listed before it (no module imports one that imports
//! it back): [`math`] (scalar functions), [`quant`] (what a weight format is), [`gguf`] (the
//! file), [`kernels`] (the hot loops), [`model`] (the layers and architectures), [`plan`]
//! (the memory plan), [`session`] (a conversation), [`state`] (a conversation saved and
//! restored), [`sample`] and [`text`] (tokens in and out), [`grammar`] (GBNF grammars) and
//! [`constrain`] (sampling under a grammar); `errors` makes every error type a
//! `core::error::Error`. `unsafe` is confined to the ARM kernels in `kernels::arm`.
//!
//! [`Model::from_gguf`]: model::Model::from_gguf
//! [`Plan::new`]: plan::Plan::new
//! [`Session`]: session::Session
//! [`Detokenizer`]: text::Detokenizer
#![no_std]
#![deny(unsafe_code)]

pub mod constrain;
mod errors;
pub mod gguf;
pub mod grammar;
pub mod kernels;
pub mod math;
pub mod model;
pub mod plan;
pub mod quant;
pub mod sample;
pub mod session;
pub mod state;
pub mod text;

#[cfg(feature = "panic-handler")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
