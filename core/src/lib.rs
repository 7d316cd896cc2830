//! armlet-core: GGUF parsing and LLM inference (Falcon-H1, llama) for the ARM1176, with no
//! standard library and no allocator.
//!
//! The data path: model bytes -> [`gguf::File::parse`] -> `Model::from_gguf` -> `Plan::new`
//! -> arena -> `Session` -> logits -> sampler -> detokenizer -> `embedded_io::Write`.
//! Every buffer is a slice the caller hands in; nothing here allocates, and no input makes
//! it panic.
//!
//! The modules, each using only those listed before it (no module imports one that imports
//! it back): [`math`] (scalar functions), [`quant`] (what a weight format is), [`gguf`] (the
//! file), [`kernels`] (the hot loops), [`model`] (the layers and architectures), [`plan`]
//! (the memory plan), [`session`] (a conversation), [`state`] (a conversation saved and
//! restored), [`sample`] and [`text`] (tokens in and out), [`grammar`] (GBNF grammars) and
//! [`constrain`] (sampling under a grammar). `unsafe` is confined to the ARM kernels in `kernels::arm`.
#![no_std]
#![deny(unsafe_code)]

pub mod constrain;
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
