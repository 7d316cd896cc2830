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

use super::attention::{self, AttentionScratch, AttentionWeights};
use super::ffn::{self, FfnWeights};
use super::mamba2::{self, Mamba2Weights};
use super::{norm, HParams, Layer, ModelError, Name, Tensors};
use crate::quant::QuantError;
use crate::session::Buffers;

/// Loads layer `l`: the shared input norm, attention, Mamba2, the pre-FFN norm and the FFN.
pub(crate) fn load_layer<'a>(t: &Tensors<'_, 'a>, h: &HParams, l: usize) -> Result<Layer<'a>, ModelError> {
    let ssm =
        h.ssm.as_ref().ok_or(ModelError::Invalid { what: "falcon-h1", rule: "needs the ssm.* hyperparameters" })?;
    // llama.cpp's converter names the pre-FFN norm `blk.N.ffn_norm` (no `.weight`) for this
    // architecture; accept the suffixed spelling too.
    let bare = Name::layer_tensor(l, "ffn_norm");
    let ffn_norm_name = if t.find(bare.as_str()).is_some() { bare } else { Name::layer_tensor(l, "ffn_norm.weight") };
    Ok(Layer {
        attn_norm: t.vector(Name::layer_tensor(l, "attn_norm.weight").as_str(), h.n_embd)?,
        attention: AttentionWeights::load(t, h, l)?,
        mamba: Some(Mamba2Weights::load(t, h, ssm, l)?),
        ffn_norm: t.vector(ffn_norm_name.as_str(), h.n_embd)?,
        ffn: FfnWeights::load(t, h, l)?,
    })
}

/// Runs layer `l` for the token at `pos` on the hidden state in `b.hidden`.
pub(crate) fn forward_layer(
    h: &HParams,
    layer: &Layer<'_>,
    l: usize,
    pos: usize,
    n_ctx: usize,
    b: &mut Buffers<'_>,
) -> Result<(), QuantError> {
    norm::rms_norm(b.hidden, layer.attn_norm, h.rms_eps, b.normed);
    let mut scratch =
        AttentionScratch { q: b.queries, k: b.new_key, v: b.new_value, heads: b.head_outputs, scores: b.scores };
    attention::forward(
        h,
        &layer.attention,
        l,
        pos,
        n_ctx,
        b.normed,
        b.rope_angles,
        &mut b.kv,
        &mut scratch,
        b.activation_quant,
        b.block_output,
    )?;
    match (h.ssm.as_ref(), layer.mamba.as_ref()) {
        (Some(ssm), Some(mamba)) => {
            let conv = b.conv_state.chunks_exact_mut(ssm.conv_state_len()).nth(l);
            let state = b.ssm_state.chunks_exact_mut(ssm.ssm_state_len()).nth(l);
            let (Some(conv), Some(state)) = (conv, state) else {
                return Err(QuantError::BadLength { expected: ssm.ssm_state_len(), actual: 0 });
            };
            let proj = &mut *b.ssm_projection;
            mamba2::forward(ssm, h.rms_eps, mamba, b.normed, conv, state, proj, b.activation_quant, b.mixer_output)?;
        }
        // A hybrid layer without its mixer contributes attention only.
        _ => b.mixer_output.fill(0.0),
    }
    for ((x, a), m) in b.hidden.iter_mut().zip(b.block_output.iter()).zip(b.mixer_output.iter()) {
        *x += a + m;
    }

    norm::rms_norm(b.hidden, layer.ffn_norm, h.rms_eps, b.normed);
    ffn::forward(&layer.ffn, b.normed, b.ffn_gate, b.ffn_up, b.activation_quant, b.block_output)?;
    for (x, f) in b.hidden.iter_mut().zip(b.block_output.iter()) {
        *x += f;
    }
    Ok(())
}
