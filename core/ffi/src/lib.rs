//! armlet-ffi: armlet-core behind a C ABI (`armlet.h`), for firmware and programs in C.
//!
//! The caller owns all memory: it asks each piece's size (`armlet_*_size`), hands in an
//! [`ARMLET_ALIGN`]-aligned buffer of that size, and gets an opaque handle living at the
//! buffer's start. Nothing allocates. Every function checks its pointers and lengths and
//! returns an [`ArmletStatus`]; none panics on any input (the code is panic-free by
//! construction: checked arithmetic and slicing, no indexing that can fail), so no panic
//! can cross the boundary even where the library is built with `panic = "abort"`.
//!
//! The path: `armlet_model_init` (the GGUF bytes) -> `armlet_tokenizer_init` ->
//! `armlet_tokenize` -> `armlet_session_init` -> `armlet_session_feed` ->
//! `armlet_session_next_greedy` / `armlet_sampler_next` -> `armlet_detokenize`.
//!
//! Modules: [`status`] (codes and messages), `place` (the only code turning raw pointers
//! into references), [`model`], [`text`] (tokenizer, detokenizer), [`session`] (with the
//! state saved and restored), [`sampler`].
#![no_std]
// The C functions are `unsafe fn` (raw pointers); their bodies still hold no unsafe
// operation: those live in `place`, each in a block with its SAFETY comment.
#![deny(unsafe_op_in_unsafe_fn)]

// Host builds (tests, the rlib) take std's panic handler; the staticlibs for ARM are
// built with the `panic-handler` feature, the core's handler, and no std.
#[cfg(not(feature = "panic-handler"))]
extern crate std;

pub mod model;
mod place;
pub mod sampler;
pub mod session;
pub mod status;
pub mod text;

pub use model::*;
pub use sampler::*;
pub use session::*;
pub use status::*;
pub use text::*;

/// The alignment every handle buffer needs (each handle's own alignment is at most this).
pub const ARMLET_ALIGN: usize = 8;
pub(crate) const ALIGN: usize = ARMLET_ALIGN;
