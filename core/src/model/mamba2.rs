//! The Mamba2 mixer of hybrid models (Falcon-H1), one token at a time (falcon-h1.md
//! 3.2(c)): input projection into z | xBC | dt, the causal depthwise convolution with its
//! rolling state, SiLU, the selective state update per SSM head with grouped B/C, the D
//! skip, the SiLU(z) gate, the optional grouped RMS norm, and the output projection.
//! The per-layer conv and SSM states live in the session's arena.
#![forbid(unsafe_code)]

use super::norm::rms_norm_in_place;
use super::{linear, F32Vector, HParams, ModelError, Name, SsmParams, Tensors};
use crate::math::{expf, multiply_in_place, silu_in_place};
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
        libm::logf(1.0 + expf(x))
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
    let head_len = ps * n;
    let mut head_start = 0;
    let params = dt.iter().zip(w.dt_bias.iter()).zip(w.a.iter()).zip(w.d.iter());
    for (h, (xh, (((&dt, dt_bias), a), d))) in x.chunks_exact_mut(ps).zip(params).enumerate() {
        // The state from this head to the layer's end: the scan reads the next head's first
        // lines early, so their fills overlap this head's arithmetic.
        let Some(sh) = ssm_state.get_mut(head_start..).filter(|s| s.len() >= head_len) else { break };
        head_start += head_len;
        let g = h / heads_per_group;
        let (Some(bg), Some(cg)) = (b.get(g * n..(g + 1) * n), c.get(g * n..(g + 1) * n)) else { break };
        let delta = softplus(dt + dt_bias);
        let decay = expf(delta * a);
        crate::quant::arm::scan_head(sh, xh, bg, cg, decay, delta, d);
    }

    // z is not needed after the gate: SiLU it in place.
    silu_in_place(z);
    multiply_in_place(x, z);
    if let Some(norm) = w.norm {
        let group_len = p.inner_size / p.n_groups;
        for (yg, wg) in x.chunks_exact_mut(group_len).zip(norm.chunks(group_len)) {
            rms_norm_in_place(yg, wg, eps);
        }
    }
    linear(&w.out_proj, None, x, qbuf, out)
}

/// The causal depthwise convolution, in place over `xbc`: each channel sums its `K-1`
/// remembered inputs and the new one (sequential f32 sum from tap 0), adds the bias and
/// shifts the raw input into its state; then SiLU over all channels.
fn convolve(k: usize, w: &Mamba2Weights<'_>, xbc: &mut [f32], conv_state: &mut [f32]) {
    let done = match (w.conv_weight.as_slice(), w.conv_bias.as_slice()) {
        (Some(taps), Some(biases)) => convolve_quads(k, taps, biases, xbc, conv_state),
        _ => 0,
    };
    convolve_channels(k, w, xbc, conv_state, done);
    silu_in_place(xbc);
}

/// The whole quads of channels, with the weights read in place as f32: four channels go tap
/// by tap side by side, so the VFP11 overlaps four independent sums instead of waiting its
/// 8-cycle latency on each step of one. Returns the channels done.
fn convolve_quads(k: usize, taps: &[f32], biases: &[f32], xbc: &mut [f32], conv_state: &mut [f32]) -> usize {
    let kept = k - 1;
    let mut done = 0;
    let quads = xbc.chunks_exact_mut(4).zip(conv_state.chunks_exact_mut(4 * kept));
    for ((quad, state), (w, bias)) in quads.zip(taps.chunks_exact(4 * k).zip(biases.chunks_exact(4))) {
        let mut acc = [0f32; 4];
        for t in 0..kept {
            for (c, acc) in acc.iter_mut().enumerate() {
                *acc += state[c * kept + t] * w[c * k + t];
            }
        }
        for (c, acc) in acc.iter_mut().enumerate() {
            *acc += quad[c] * w[c * k + kept];
        }
        for (c, (x, state)) in quad.iter_mut().zip(state.chunks_exact_mut(kept)).enumerate() {
            shift_in(state, *x);
            *x = acc[c] + bias[c];
        }
        done += 4;
    }
    done
}

/// Channels `from..` one at a time, the weights decoded from the file's bytes (any alignment).
fn convolve_channels(k: usize, w: &Mamba2Weights<'_>, xbc: &mut [f32], conv_state: &mut [f32], from: usize) {
    let mut taps = w.conv_weight.iter().skip(from * k);
    let channels = xbc.iter_mut().zip(conv_state.chunks_exact_mut(k - 1)).zip(w.conv_bias.iter()).skip(from);
    for ((x, state), bias) in channels {
        let mut acc = 0f32;
        for (&s, wk) in state.iter().zip(taps.by_ref()) {
            acc += s * wk;
        }
        if let Some(last) = taps.next() {
            acc += *x * last;
        }
        shift_in(state, *x);
        *x = acc + bias;
    }
}

/// Shifts `raw` into a channel's remembered inputs from the newest end (a loop, not
/// `copy_within`: for the K-1 = 3 values of a channel, a memmove call costs more).
#[inline(always)]
fn shift_in(state: &mut [f32], raw: f32) {
    let mut carried = raw;
    for s in state.iter_mut().rev() {
        carried = core::mem::replace(s, carried);
    }
}

/// How far past the start of an 8-value step the scan reads a channel's state early:
/// index 15 is the last value of the next step, so its line (and, when the state is not
/// line-aligned, the line before it, touched one step earlier) is filling while this step
/// computes.
const STATE_LOOKAHEAD: usize = 15;

/// The selective scan of one SSM head: for each channel `i`, `S_i ← S_i·decay + B·xd_i`
/// with `xd_i = x_i·δ`, then `x_i ← Σ S_i·C + x_i·D`. `state` starts with the head's
/// `[Ps][N]` (values past it are only read, as early touches). This is the portable twin of
/// the ARM kernel (`quant::arm::scan_head` picks one), and what the host runs.
///
/// Channels go in pairs, so each load of `B` and `C` serves two state rows and the VFP has
/// two independent chains to interleave. The state (megabytes per token) comes from memory
/// every token, and the core would stall on each line fill; so each 8-value step first
/// loads a value of each row's next step (an ordinary load: the fill proceeds under the
/// arithmetic) and consumes it, as an integer that feeds only `black_box`, at the start of
/// the following step, by which time the line has arrived. Each channel's arithmetic and
/// its order are [`scan_steps`]'s exactly.
pub fn scan_head_portable(state: &mut [f32], x: &mut [f32], b: &[f32], c: &[f32], decay: f32, delta: f32, d: f32) {
    let n = b.len();
    let wide = n - n % 8;
    let mut touched = 0u32;
    let mut pending = [0u32; 2];
    let mut pairs = x.chunks_exact_mut(2);
    let mut start = 0;
    for xp in pairs.by_ref() {
        let xd = [xp[0] * delta, xp[1] * delta];
        let mut acc = [[0f32; 4]; 2];
        let mut at = start;
        for (b8, c8) in b.chunks_exact(8).zip(c.chunks_exact(8)) {
            touched ^= pending[0] ^ pending[1];
            pending = [at + STATE_LOOKAHEAD, at + n + STATE_LOOKAHEAD]
                .map(|i| state.get(i).map_or(0, |v| v.to_bits()));
            let Some(rows) = state.get_mut(at..at + n + 8) else { return };
            let (first, rest) = rows.split_at_mut(8);
            let (Ok(s0), Some(Ok(s1)), Ok(b8), Ok(c8)) =
                (first.try_into(), rest.get_mut(n - 8..).map(<&mut [f32; 8]>::try_from), b8.try_into(), c8.try_into())
            else {
                return;
            };
            scan_pair_step(s0, s1, b8, c8, decay, xd, &mut acc);
            at += 8;
        }
        for (k, xi) in xp.iter_mut().enumerate() {
            let row = start + k * n;
            let (Some(s), Some(bt), Some(ct)) = (state.get_mut(at + k * n..row + n), b.get(wide..), c.get(wide..))
            else {
                return;
            };
            scan_steps(s, bt, ct, decay, xd[k], &mut acc[k]);
            let y = (acc[k][0] + acc[k][1]) + (acc[k][2] + acc[k][3]);
            *xi = y + *xi * d;
        }
        start += 2 * n;
    }
    if let (Some(xi), Some(s)) = (pairs.into_remainder().first_mut(), state.get_mut(start..start + n)) {
        let xd = *xi * delta;
        let mut acc = [0f32; 4];
        scan_steps(s, b, c, decay, xd, &mut acc);
        let y = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        *xi = y + *xi * d;
    }
    core::hint::black_box(touched ^ pending[0] ^ pending[1]);
}

/// Eight values of two channels sharing `B` and `C`: each row's updates and accumulations
/// as [`scan_steps`] does them (value `j` into `acc[j % 4]`), staged so that every VFP
/// result has other work between it and its use.
#[inline(always)]
fn scan_pair_step(
    s0: &mut [f32; 8],
    s1: &mut [f32; 8],
    b: &[f32; 8],
    c: &[f32; 8],
    decay: f32,
    xd: [f32; 2],
    acc: &mut [[f32; 4]; 2],
) {
    for half in 0..2 {
        let o = 4 * half;
        let new0: [f32; 4] = core::array::from_fn(|j| s0[o + j] * decay + b[o + j] * xd[0]);
        let new1: [f32; 4] = core::array::from_fn(|j| s1[o + j] * decay + b[o + j] * xd[1]);
        for (j, (n0, n1)) in new0.into_iter().zip(new1).enumerate() {
            s0[o + j] = n0;
            s1[o + j] = n1;
            acc[0][j] += n0 * c[o + j];
            acc[1][j] += n1 * c[o + j];
        }
    }
}

/// Consecutive values of one channel's scan: `S ← S·decay + B·xd`, `acc += S·C` with four
/// independent accumulators (the VFP11's add latency would otherwise serialise it), value
/// `j` of each group of four into `acc[j]`, a tail shorter than four into `acc[0]`.
#[inline(always)]
fn scan_steps(s: &mut [f32], b: &[f32], c: &[f32], decay: f32, xd: f32, acc: &mut [f32; 4]) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_matches_definition_and_cutoff() {
        assert_eq!(softplus(25.0), 25.0);
        assert_eq!(softplus(0.0), libm::logf(2.0));
        assert_eq!(softplus(20.0), libm::logf(1.0 + expf(20.0)));
    }

    #[test]
    fn scan_head_updates_state_and_sums() {
        // Three channels of N = 13 (a pair and a lone channel): an 8-value step, a group of
        // four and a scalar tail each.
        let mut state: [f32; 39] = core::array::from_fn(|i| (i % 13) as f32 + 1.0);
        let b = [1.0f32; 13];
        let c: [f32; 13] = core::array::from_fn(|i| if i % 2 == 0 { 1.0 } else { 0.0 });
        let mut x = [2.0f32, 4.0, 6.0];
        scan_head_portable(&mut state, &mut x, &b, &c, 0.5, 0.5, 3.0);
        // Channel k: xd = k + 1, so S_j = (j + 1)/2 + k + 1.
        for (k, row) in state.chunks_exact(13).enumerate() {
            let xd = k as f32 + 1.0;
            let expect: [f32; 13] = core::array::from_fn(|j| (j as f32 + 1.0) * 0.5 + xd);
            assert_eq!(row, expect, "channel {k}");
        }
        let y = |xd: f32| (0..13).step_by(2).map(|j| (j as f32 + 1.0) * 0.5 + xd).sum::<f32>();
        assert_eq!(x, [y(1.0) + 2.0 * 3.0, y(2.0) + 4.0 * 3.0, y(3.0) + 6.0 * 3.0]);
    }
}
