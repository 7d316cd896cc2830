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
    let hidden = b.hidden.iter_mut().take(e * n);
    for ((x, a), m) in hidden.zip(b.block_output.iter()).zip(b.mixer_output.iter()) {
        *x += a + m;
    }
    ffn::block(h, layer, n, b)
}
