//! Gemma 3 (llama.cpp architecture `gemma3`, `../shared/models/gemma3.md`): the llama layer
//! with a norm on each sublayer's output as well as its input, RMS norms of every query
//! and key head, sliding-window layers (chosen in the hyperparameters, with their own RoPE
//! base and a ring of `window` cache slots), the query scaled by the file's rule, GeGLU with
//! ggml's f16 GELU, and the input embedding scaled by sqrt(E):
//!
//! ```text
//! x = E[t] * sqrt(E)
//! x = rmsnorm(Attention(rmsnorm(x, attn_norm)), post_attention_norm) + x
//! x = rmsnorm(GeGLU(rmsnorm(x, ffn_norm)), post_ffw_norm) + x
//! ```
//!
//! The converter already added Gemma's "+1" to every stored norm weight: they are used as is.
#![forbid(unsafe_code)]

use super::attention::{self, OutputBias};
use super::ffn;
use super::norm::rms_norm_in_place;
use super::{Buffers, HParams, Layer, ModelError, Name, Step, Tensors};
use crate::quant::QuantError;

/// Loads layer `l`: the llama tensors (`attn_norm`, attention with optional biases,
/// `ffn_norm`, the FFN) plus the head norms `attn_q_norm` / `attn_k_norm` (`Dh` values each)
/// and the output norms `post_attention_norm` / `post_ffw_norm` (`E` each).
pub(crate) fn load_layer<'a>(t: &Tensors<'_, 'a>, h: &HParams, l: usize) -> Result<Layer<'a>, ModelError> {
    let name = |s: &str| Name::layer_tensor(l, s);
    // llama.cpp's gemma3 graph never adds an attention-output bias.
    let mut layer = Layer::load_transformer(t, h, l, OutputBias::NotInGraph, name("ffn_norm.weight").as_str())?;
    layer.attention.q_norm = Some(t.vector(name("attn_q_norm.weight").as_str(), h.head_dim)?);
    layer.attention.k_norm = Some(t.vector(name("attn_k_norm.weight").as_str(), h.head_dim)?);
    layer.post_attention_norm = Some(t.vector(name("post_attention_norm.weight").as_str(), h.n_embd)?);
    layer.post_ffw_norm = Some(t.vector(name("post_ffw_norm.weight").as_str(), h.n_embd)?);
    Ok(layer)
}

/// `x ← x · sqrt(E)`, the factor rounded to f32 as llama.cpp's `sqrtf(n_embd)` (token
/// embeddings only).
pub(crate) fn scale_embedding(h: &HParams, x: &mut [f32]) {
    let s = libm::sqrtf(h.n_embd as f32);
    x.iter_mut().for_each(|v| *v *= s);
}

/// Runs the layer for the batch `at` on the hidden states in `b.hidden`.
pub(crate) fn forward_layer(h: &HParams, layer: &Layer<'_>, at: Step, b: &mut Buffers<'_>) -> Result<(), QuantError> {
    attention::block(h, layer, at, b)?;
    let e = h.n_embd;
    let out = b.block_output.get_mut(..e * at.n).unwrap_or_default();
    if let Some(norm) = layer.post_attention_norm {
        out.chunks_exact_mut(e).for_each(|row| rms_norm_in_place(row, norm, h.rms_eps));
    }
    for (x, a) in b.hidden.iter_mut().zip(out.iter()) {
        *x += a;
    }
    ffn::block(h, layer, at.n, b)
}
