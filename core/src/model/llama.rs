//! Llama (llama.cpp architecture `llama`, docs/llama.md; SmolLM2 is one): a Falcon-H1
//! layer without the Mamba2 branch, with adjacent-pair RoPE (chosen in the hyperparameters)
//! and the attention-output bias honoured. Everything else is the shared blocks:
//!
//! ```text
//! x = Attention(rmsnorm(x, attn_norm)) + x
//! x = SwiGLU(rmsnorm(x, ffn_norm)) + x
//! ```
#![forbid(unsafe_code)]

use super::attention::{self, OutputBias};
use super::ffn;
use super::{Buffers, HParams, Layer, ModelError, Name, Step, Tensors};
use crate::quant::QuantError;

/// Refuses the file-wide tensors of llama variants armlet does not implement: Llama 3's
/// RoPE frequency factors (`rope_freqs.weight`, which change every rotation angle).
pub(crate) fn check_supported(t: &Tensors<'_, '_>) -> Result<(), ModelError> {
    if t.find("rope_freqs.weight").is_some() {
        return Err(ModelError::Unsupported { what: "rope_freqs.weight (Llama 3 RoPE frequency factors)" });
    }
    Ok(())
}

/// Loads layer `l`: input norm, attention (with its optional biases), the post-attention
/// norm `ffn_norm.weight` and the FFN.
pub(crate) fn load_layer<'a>(t: &Tensors<'_, 'a>, h: &HParams, l: usize) -> Result<Layer<'a>, ModelError> {
    Layer::load_transformer(t, h, l, OutputBias::Added, Name::layer_tensor(l, "ffn_norm.weight").as_str())
}

/// Runs the layer for the batch `at` on the hidden states in `b.hidden`.
pub(crate) fn forward_layer(h: &HParams, layer: &Layer<'_>, at: Step, b: &mut Buffers<'_>) -> Result<(), QuantError> {
    attention::block(h, layer, at, b)?;
    let hidden = b.hidden.iter_mut().take(h.n_embd * at.n);
    for (x, a) in hidden.zip(b.block_output.iter()) {
        *x += a;
    }
    ffn::block(h, layer, at.n, b)
}
