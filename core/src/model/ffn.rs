//! The gated feed-forward block shared by every architecture:
//! `W_down · (act(W_gate·x) ⊙ (W_up·x))`, with optional biases after each product; `act` is
//! SiLU (SwiGLU: Falcon-H1, llama) or ggml's f16 tanh GELU (GeGLU: Gemma 3), and Gemma 3
//! normalises the block's output before it joins the residual.
#![forbid(unsafe_code)]

use super::norm::rms_norm_in_place;
use super::{linear, norm_rows, Architecture, Buffers, F32Vector, HParams, Layer, ModelError, Name, Rows, Tensors};
use crate::kernels;
use crate::quant::{Matrix, QuantError};

/// One layer's FFN weights.
#[derive(Clone, Copy, Debug)]
pub struct FfnWeights<'a> {
    /// `[F][E]`
    pub gate: Matrix<'a>,
    /// `[F][E]`
    pub up: Matrix<'a>,
    /// `[E][F]`
    pub down: Matrix<'a>,
    pub gate_bias: Option<F32Vector<'a>>,
    pub up_bias: Option<F32Vector<'a>>,
    pub down_bias: Option<F32Vector<'a>>,
}

impl<'a> FfnWeights<'a> {
    /// Loads `blk.{layer}.ffn_{gate,up,down}.weight` and their optional biases.
    pub(crate) fn load(t: &Tensors<'_, 'a>, h: &HParams, layer: usize) -> Result<Self, ModelError> {
        let name = |s: &str| Name::layer_tensor(layer, s);
        let (e, f) = (h.n_embd, h.n_ff);
        Ok(FfnWeights {
            gate: t.matrix(name("ffn_gate.weight").as_str(), e, f)?,
            up: t.matrix(name("ffn_up.weight").as_str(), e, f)?,
            down: t.matrix(name("ffn_down.weight").as_str(), f, e)?,
            gate_bias: t.optional_vector(name("ffn_gate.bias").as_str(), f)?,
            up_bias: t.optional_vector(name("ffn_up.bias").as_str(), f)?,
            down_bias: t.optional_vector(name("ffn_down.bias").as_str(), e)?,
        })
    }
}

/// The gate's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    Silu,
    Gelu,
}

/// `out_t = W_down · (act(W_gate·x_t) ⊙ W_up·x_t)` for the `x.n` rows; `gate` and `up`
/// hold `F` values per row.
pub(crate) fn forward(
    act: Gate,
    w: &FfnWeights<'_>,
    x: Rows<'_>,
    gate: &mut [f32],
    up: &mut [f32],
    qbuf: &mut [u8],
    out: &mut [f32],
) -> Result<(), QuantError> {
    linear(x, qbuf, [(&w.gate, w.gate_bias, &mut *gate), (&w.up, w.up_bias, &mut *up)])?;
    // Value by value, so the whole batch at once is each row on its own.
    match act {
        Gate::Silu => kernels::silu_in_place(gate),
        Gate::Gelu => kernels::gelu_in_place(gate),
    }
    kernels::vector::mul_in_place(gate, up);
    linear(Rows::packed(gate, w.gate.rows, x.n), qbuf, [(&w.down, w.down_bias, out)])
}

/// The FFN half of a layer, the same in every architecture:
/// `b.hidden += FFN(rmsnorm(b.hidden, ffn_norm))` for every token of the batch, the FFN's
/// output first normed by the layer's `post_ffw_norm` when it has one (`b.normed` and
/// `b.block_output` are its scratch).
pub(crate) fn block(h: &HParams, layer: &Layer<'_>, n: usize, b: &mut Buffers<'_>) -> Result<(), QuantError> {
    norm_rows(b.hidden, layer.ffn_norm, h.rms_eps, h.n_embd, n, b.normed);
    block_normed(h, layer, n, b)
}

/// [`block`] after its norm: `b.normed` holds `rmsnorm(b.hidden, ffn_norm)` of the `n` rows.
pub(crate) fn block_normed(h: &HParams, layer: &Layer<'_>, n: usize, b: &mut Buffers<'_>) -> Result<(), QuantError> {
    let (e, f) = (h.n_embd, h.n_ff);
    let (gate, up) = (b.ffn_gate.get_mut(..f * n).unwrap_or_default(), b.ffn_up.get_mut(..f * n).unwrap_or_default());
    let out = b.block_output.get_mut(..e * n).unwrap_or_default();
    let act = if h.arch == Architecture::Gemma3 { Gate::Gelu } else { Gate::Silu };
    forward(act, &layer.ffn, Rows::packed(b.normed, e, n), gate, up, b.activation_quant, out)?;
    if let Some(norm) = layer.post_ffw_norm {
        out.chunks_exact_mut(e).for_each(|row| rms_norm_in_place(row, norm, h.rms_eps));
    }
    kernels::vector::add_in_place(b.hidden, out);
    Ok(())
}
