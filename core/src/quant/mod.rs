//! Weight formats and the matrix-vector products the forward pass runs on them.
//!
//! CONTRACT (fixed; the model code is written against it):
//! - [`Matrix`]: a row-major view of a weight tensor in its file encoding.
//! - [`activation_type`] / [`activation_bytes`]: llama.cpp's `vec_dot_type` pairing and the
//!   scratch bytes it needs (the memory plan sizes its buffers with this).
//! - [`quantize_activations`]: converts an f32 vector once per matrix-vector product.
//! - [`matvec`]: `out[r] = W[r] . x` for every row.
//! - [`dequantize_row`]: one row to f32 (embedding lookup).
#![forbid(unsafe_code)]

pub mod types;

pub use types::GgmlType;
