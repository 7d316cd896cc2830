//! Falcon-H1 (llama.cpp architecture `falcon-h1`, docs/falcon-h1.md): which tensors a layer
//! has, and the layer itself. Attention and the Mamba2 mixer read the same normed input
//! and both add to the residual; then the SwiGLU FFN:
//!
//! ```text
//! h = rmsnorm(x, attn_norm)
//! x = (Attention(h) + Mamba2(h)) + x
//! x = SwiGLU(rmsnorm(x, ffn_norm)) + x
//! ```
#![forbid(unsafe_code)]

use super::attention::{self, OutputBias};
use super::ffn;
use super::norm::rms_norm_rows;
use crate::kernels::vector::add_sum_in_place;
use super::mamba2::{self, Mamba2Weights};
use super::{Buffers, HParams, Layer, ModelError, Name, Rows, Step, Tensors};
use crate::quant::QuantError;

/// Loads layer `l`: the shared input norm, attention, Mamba2, the pre-FFN norm and the FFN.
pub(crate) fn load_layer<'a>(t: &Tensors<'_, 'a>, h: &HParams, l: usize) -> Result<Layer<'a>, ModelError> {
    let ssm =
        h.ssm.as_ref().ok_or(ModelError::Invalid { what: "falcon-h1", rule: "needs the ssm.* hyperparameters" })?;
    // llama.cpp's converter names the pre-FFN norm `blk.N.ffn_norm` (no `.weight`) for this
    // architecture; accept the suffixed spelling too.
    let bare = Name::layer_tensor(l, "ffn_norm");
    let ffn_norm_name = if t.find(bare.as_str()).is_some() { bare } else { Name::layer_tensor(l, "ffn_norm.weight") };
    let mut layer = Layer::load_transformer(t, h, l, OutputBias::NotInGraph, ffn_norm_name.as_str())?;
    layer.mamba = Some(Mamba2Weights::load(t, h, ssm, l)?);
    Ok(layer)
}

/// Runs the layer for the batch `at` on the hidden states in `b.hidden`.
pub(crate) fn forward_layer(h: &HParams, layer: &Layer<'_>, at: Step, b: &mut Buffers<'_>) -> Result<(), QuantError> {
    attention::block(h, layer, at, b)?;
    let (e, n) = (h.n_embd, at.n);
    match (h.ssm.as_ref(), layer.mamba.as_ref()) {
        (Some(ssm), Some(mamba)) => {
            let conv = b.conv_state.chunks_exact_mut(ssm.conv_state_len()).nth(at.layer);
            let state = b.ssm_state.chunks_exact_mut(ssm.ssm_state_len()).nth(at.layer);
            let (Some(conv), Some(state)) = (conv, state) else {
                return Err(QuantError::BadLength { expected: ssm.ssm_state_len(), actual: 0 });
            };
            let proj = &mut *b.ssm_projection;
            let out = b.mixer_output.get_mut(..e * n).unwrap_or_default();
            let input = Rows::packed(b.normed, e, n);
            mamba2::forward(ssm, h.rms_eps, mamba, input, conv, state, proj, b.activation_quant, out)?;
        }
        // A hybrid layer without its mixer contributes attention only.
        _ => b.mixer_output.fill(0.0),
    }
    // The residual, then the FFN's norm, four tokens at a time: each row is normed while the
    // add has it in the cache (a batch's hidden rows fill the whole D-cache).
    let (width, len) = (4 * e.max(1), (e * n).min(b.hidden.len()));
    let hidden = b.hidden[..len].chunks_mut(width).zip(b.normed.chunks_mut(width));
    let blocks = b.block_output.chunks(width).zip(b.mixer_output.chunks(width));
    for ((x, normed), (a, m)) in hidden.zip(blocks) {
        add_sum_in_place(x, a, m);
        rms_norm_rows(x, layer.ffn_norm, h.rms_eps, e, x.len() / e.max(1), normed);
    }
    ffn::block_normed(h, layer, n, b)
}
