//! The SwiGLU feed-forward block shared by every architecture:
//! `W_down · (silu(W_gate·x) ⊙ (W_up·x))`, with optional biases after each product.
#![forbid(unsafe_code)]

use super::{linear, linear_shared, norm, Buffers, F32Vector, HParams, Layer, ModelError, Name, Tensors};
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

/// `out = W_down · (silu(W_gate·x) ⊙ W_up·x)`; `gate` and `up` are `F`-long scratch.
pub(crate) fn forward(
    w: &FfnWeights<'_>,
    x: &[f32],
    gate: &mut [f32],
    up: &mut [f32],
    qbuf: &mut [u8],
    out: &mut [f32],
) -> Result<(), QuantError> {
    linear_shared(x, qbuf, [(&w.gate, w.gate_bias, &mut *gate), (&w.up, w.up_bias, &mut *up)])?;
    kernels::silu_in_place(gate);
    kernels::multiply_in_place(gate, up);
    linear(&w.down, w.down_bias, gate, qbuf, out)
}

/// The FFN half of a layer, the same in every architecture:
/// `b.hidden += SwiGLU(rmsnorm(b.hidden, ffn_norm))` (`b.normed` and `b.block_output` are
/// its scratch).
pub(crate) fn block(h: &HParams, layer: &Layer<'_>, b: &mut Buffers<'_>) -> Result<(), QuantError> {
    norm::rms_norm(b.hidden, layer.ffn_norm, h.rms_eps, b.normed);
    forward(&layer.ffn, b.normed, b.ffn_gate, b.ffn_up, b.activation_quant, b.block_output)?;
    for (x, f) in b.hidden.iter_mut().zip(b.block_output.iter()) {
        *x += f;
    }
    Ok(())
}
