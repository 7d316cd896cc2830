//! The Mamba2 mixer of hybrid models (Falcon-H1), one token at a time (falcon-h1.md
//! 3.2(c)): input projection into z | xBC | dt, the causal depthwise convolution with its
//! rolling state, SiLU, the selective state update per SSM head with grouped B/C, the D
//! skip, the SiLU(z) gate, the optional grouped RMS norm, and the output projection.
//! The per-layer conv and SSM states live in the session's arena.
#![forbid(unsafe_code)]

use super::norm::rms_norm_in_place;
use super::{linear, silu, F32Vector, HParams, ModelError, Name, SsmParams, Tensors};
use crate::quant::{Matrix, QuantError};

/// One layer's Mamba2 weights.
#[derive(Clone, Copy, Debug)]
pub struct Mamba2Weights<'a> {
    /// `[Ds + Cd + Hs][E]`: z, then xBC, then dt rows.
    pub in_proj: Matrix<'a>,
    /// `[Cd][K]`: tap 0 multiplies the oldest input.
    pub conv_weight: F32Vector<'a>,
    /// `[Cd]`
    pub conv_bias: F32Vector<'a>,
    /// `[Hs]`
    pub dt_bias: F32Vector<'a>,
    /// `[Hs]`: `A = -exp(A_log)`, already negative in the file.
    pub a: F32Vector<'a>,
    /// `[Hs]`: the skip weight.
    pub d: F32Vector<'a>,
    /// `[G][Ds/G]`: grouped RMS norm weight; absent means no norm.
    pub norm: Option<F32Vector<'a>>,
    /// `[E][Ds]`
    pub out_proj: Matrix<'a>,
}

impl<'a> Mamba2Weights<'a> {
    /// Loads `blk.{layer}.ssm_*`.
    pub(crate) fn load(t: &Tensors<'_, 'a>, h: &HParams, p: &SsmParams, layer: usize) -> Result<Self, ModelError> {
        let name = |s: &str| Name::layer_tensor(layer, s);
        let (e, ds, hs, g) = (h.n_embd as u64, p.inner_size as u64, p.n_heads as u64, p.n_groups as u64);
        let (cd, k) = (p.conv_channels() as u64, p.conv_kernel as u64);
        let norm_name = name("ssm_norm.weight");
        let norm = match t.find(norm_name.as_str()) {
            None => None,
            Some(_) => Some(t.f32_tensor(norm_name.as_str(), [ds / g, g, 1, 1])?),
        };
        Ok(Mamba2Weights {
            in_proj: t.matrix(name("ssm_in.weight").as_str(), h.n_embd, p.in_proj_rows())?,
            conv_weight: t.f32_tensor(name("ssm_conv1d.weight").as_str(), [k, cd, 1, 1])?,
            conv_bias: t.f32_tensor(name("ssm_conv1d.bias").as_str(), [cd, 1, 1, 1])?,
            dt_bias: t.f32_tensor(name("ssm_dt.bias").as_str(), [hs, 1, 1, 1])?,
            a: t.f32_tensor(name("ssm_a").as_str(), [1, hs, 1, 1])?,
            d: t.f32_tensor(name("ssm_d").as_str(), [1, hs, 1, 1])?,
            norm,
            out_proj: t.matrix(name("ssm_out.weight").as_str(), ds as usize, e as usize)?,
        })
    }
}

/// `ln(1 + e^x)`, or `x` above 20, exactly as llama.cpp writes it (not `log1p`).
#[inline]
fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        libm::logf(1.0 + libm::expf(x))
    }
}

/// The mixer for one token: `out = W_out · norm(gate(scan(conv(xBC))))`.
/// `conv_state` is this layer's `[Cd][K-1]` (oldest first), `ssm_state` its `[Hs][Ps][N]`,
/// `proj` a scratch of `in_proj_rows()` values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    p: &SsmParams,
    eps: f32,
    w: &Mamba2Weights<'_>,
    input: &[f32],
    conv_state: &mut [f32],
    ssm_state: &mut [f32],
    proj: &mut [f32],
    qbuf: &mut [u8],
    out: &mut [f32],
) -> Result<(), QuantError> {
    linear(&w.in_proj, None, input, qbuf, proj)?;
    let (z, rest) = proj.split_at_mut(p.inner_size.min(proj.len()));
    let (xbc, dt) = rest.split_at_mut(p.conv_channels().min(rest.len()));
    convolve(p.conv_kernel, w, xbc, conv_state);

    // y overwrites x in place: each y[h][i] needs only x[h][i] and the shared B, C.
    let (x, bc) = xbc.split_at_mut(p.inner_size.min(xbc.len()));
    let (b, c) = bc.split_at((p.n_groups * p.state_size).min(bc.len()));
    let (n, ps) = (p.state_size, p.head_dim());
    let heads_per_group = p.n_heads / p.n_groups;
    let heads = x.chunks_exact_mut(ps).zip(ssm_state.chunks_exact_mut(ps * n));
    let params = dt.iter().zip(w.dt_bias.iter()).zip(w.a.iter()).zip(w.d.iter());
    for (h, ((xh, sh), (((&dt, dt_bias), a), d))) in heads.zip(params).enumerate() {
        let g = h / heads_per_group;
        let (Some(bg), Some(cg)) = (b.get(g * n..(g + 1) * n), c.get(g * n..(g + 1) * n)) else { break };
        let delta = softplus(dt + dt_bias);
        let decay = libm::expf(delta * a);
        for (xi, s) in xh.iter_mut().zip(sh.chunks_exact_mut(n)) {
            let y = scan_channel(s, bg, cg, decay, *xi * delta);
            *xi = y + *xi * d;
        }
    }

    for (y, z) in x.iter_mut().zip(z.iter()) {
        *y *= silu(*z);
    }
    if let Some(norm) = w.norm {
        let group_len = p.inner_size / p.n_groups;
        for (yg, wg) in x.chunks_exact_mut(group_len).zip(norm.chunks(group_len)) {
            rms_norm_in_place(yg, wg, eps);
        }
    }
    linear(&w.out_proj, None, x, qbuf, out)
}

/// The causal depthwise convolution, in place over `xbc`: each channel sums its `K-1`
/// remembered inputs and the new one (sequential f32 sum from tap 0), adds the bias,
/// applies SiLU, and shifts the raw input into its state.
fn convolve(k: usize, w: &Mamba2Weights<'_>, xbc: &mut [f32], conv_state: &mut [f32]) {
    let taps = w.conv_weight.chunks(k);
    let channels = xbc.iter_mut().zip(conv_state.chunks_exact_mut(k - 1));
    for ((x, state), (wc, bias)) in channels.zip(taps.zip(w.conv_bias.iter())) {
        let raw = *x;
        let mut acc = 0f32;
        let mut wi = wc.iter();
        for (&s, wk) in state.iter().zip(&mut wi) {
            acc += s * wk;
        }
        if let Some(last) = wi.next() {
            acc += raw * last;
        }
        *x = silu(acc + bias);
        state.copy_within(1.., 0);
        if let Some(newest) = state.last_mut() {
            *newest = raw;
        }
    }
}

/// One channel of the selective scan: `S ← S·decay + B·xd`, returns `Σ S·C` (four
/// independent accumulators: the VFP11's add latency would otherwise serialise it).
#[inline]
fn scan_channel(s: &mut [f32], b: &[f32], c: &[f32], decay: f32, xd: f32) -> f32 {
    let mut acc = [0f32; 4];
    let (sc, bc, cc) = (s.chunks_exact_mut(4), b.chunks_exact(4), c.chunks_exact(4));
    let (bt, ct) = (bc.remainder(), cc.remainder());
    let mut s_tail_start = 0;
    for ((s4, b4), c4) in sc.zip(bc).zip(cc) {
        for j in 0..4 {
            s4[j] = s4[j] * decay + b4[j] * xd;
            acc[j] += s4[j] * c4[j];
        }
        s_tail_start += 4;
    }
    if let Some(st) = s.get_mut(s_tail_start..) {
        for ((sv, bv), cv) in st.iter_mut().zip(bt).zip(ct) {
            *sv = *sv * decay + bv * xd;
            acc[0] += *sv * cv;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_matches_definition_and_cutoff() {
        assert_eq!(softplus(25.0), 25.0);
        assert_eq!(softplus(0.0), libm::logf(2.0));
        assert_eq!(softplus(20.0), libm::logf(1.0 + libm::expf(20.0)));
    }

    #[test]
    fn scan_channel_updates_state_and_sums() {
        let mut s = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        let b = [1.0f32; 5];
        let c = [1.0f32, 0.0, 1.0, 0.0, 2.0];
        let y = scan_channel(&mut s, &b, &c, 0.5, 1.0);
        assert_eq!(s, [1.5, 2.0, 2.5, 3.0, 3.5]);
        assert_eq!(y, 1.5 + 2.5 + 7.0);
    }
}
