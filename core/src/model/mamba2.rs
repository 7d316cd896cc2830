//! The Mamba2 mixer of hybrid models (Falcon-H1), its state advanced token by token (falcon-h1.md
//! 3.2(c)): input projection into z | xBC | dt, the causal depthwise convolution with its
//! rolling state, SiLU, the selective state update per SSM head with grouped B/C, the D
//! skip, the SiLU(z) gate, the optional grouped RMS norm, and the output projection.
//! The per-layer conv and SSM states live in the session's arena.
#![forbid(unsafe_code)]

use super::norm::rms_norm_in_place;
use super::{linear, F32Vector, HParams, ModelError, Name, Rows, SsmParams, Tensors};
use crate::kernels::scan::ScanToken;
use crate::kernels::vector::mul_in_place;
use crate::kernels::{self, silu_in_place};
use crate::math::expf;
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

/// The mixer for the `input.n` tokens of a batch: `out_t = W_out · norm(gate(scan(conv(xBC_t))))`.
/// The projections run on the whole batch. The convolution and the scan carry state from
/// token to token, so they run token by token in order; the scan goes head by head, each
/// head through every token of the batch, so a head's state (8 KB for the 90M model) is
/// read from memory once per batch instead of once per token (heads never read each other's
/// state, so the results are those of token-by-token feeding, bit for bit). `conv_state` is
/// this layer's `[Cd][K-1]` (oldest first), `ssm_state` its `[Hs][Ps][N]`, `proj` a scratch
/// of `in_proj_rows()` values per token.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    p: &SsmParams,
    eps: f32,
    w: &Mamba2Weights<'_>,
    input: Rows<'_>,
    conv_state: &mut [f32],
    ssm_state: &mut [f32],
    proj: &mut [f32],
    qbuf: &mut [u8],
    out: &mut [f32],
) -> Result<(), QuantError> {
    let (width, n) = (p.in_proj_rows(), input.n);
    let proj = proj.get_mut(..width * n).unwrap_or_default();
    linear(input, qbuf, [(&w.in_proj, None, &mut *proj)])?;
    convolve(p, w, proj, conv_state);
    scan(p, w, proj, ssm_state);
    for token in proj.chunks_exact_mut(width.max(1)) {
        let (z, xbc, _) = split_token(p, token);
        let x = xbc.get_mut(..p.inner_size).unwrap_or_default();
        // z is not needed after the gate: SiLU it in place.
        silu_in_place(z);
        mul_in_place(x, z);
        // Normed token by token, while the token's y is still in the cache (a batch's
        // projections are far larger than it).
        if let Some(norm) = w.norm {
            let group_len = p.inner_size / p.n_groups;
            for (yg, wg) in x.chunks_exact_mut(group_len).zip(norm.chunks(group_len)) {
                rms_norm_in_place(yg, wg, eps);
            }
        }
    }
    // Each token's gated y sits after its z, inside its projection row.
    let y = Rows { data: proj.get(p.inner_size..).unwrap_or(&[]), stride: width, width: p.inner_size, n };
    linear(y, qbuf, [(&w.out_proj, None, out)])
}

/// One token's projection row as `z`, `xBC` and `dt`.
fn split_token<'r>(p: &SsmParams, row: &'r mut [f32]) -> (&'r mut [f32], &'r mut [f32], &'r mut [f32]) {
    let (z, rest) = row.split_at_mut(p.inner_size.min(row.len()));
    let (xbc, dt) = rest.split_at_mut(p.conv_channels().min(rest.len()));
    (z, xbc, dt)
}

/// The selective state update of every head for every token of `proj` (rows of convolved
/// `z | xBC | dt`): `x` of each token becomes `y` in place (each `y[h][i]` needs only
/// `x[h][i]` and the group's shared B, C), head by head, each head's tokens in order, two at
/// a time ([`kernels::scan_head2`]: each state value loaded once for both) and an odd last
/// one alone. Each call names where the next call's B, C and x lie, for early reads.
///
/// Not inlined: its locals then stay out of `Session::forward`'s frame, which keeps the size
/// it had with the one-token loop, so the attention's stack rows keep their cache sets.
#[inline(never)]
fn scan(p: &SsmParams, w: &Mamba2Weights<'_>, proj: &mut [f32], ssm_state: &mut [f32]) {
    let (width, n, ps) = (p.in_proj_rows().max(1), p.state_size, p.head_dim());
    let heads_per_group = p.n_heads / p.n_groups;
    let head_len = ps * n;
    let whole = proj.len() - proj.len() % width;
    let mut head_start = 0;
    let params = w.dt_bias.iter().zip(w.a.iter()).zip(w.d.iter());
    for (h, ((dt_bias, a), d)) in params.enumerate().take(p.n_heads) {
        // The state from this head to the layer's end: the scan reads the next head's first
        // lines early, so their fills overlap this head's arithmetic.
        let Some(sh) = ssm_state.get_mut(head_start..).filter(|s| s.len() >= head_len) else { return };
        head_start += head_len;
        let g = h / heads_per_group;
        // This head's x and its group's B within a projection row.
        let (x_at, b_at) = (p.inner_size + h * ps, 2 * p.inner_size + g * n);
        let all = proj.get_mut(..whole).unwrap_or_default();
        let mut row = 0;
        while row * width < all.len() {
            let (before, from) = all.split_at_mut(row * width);
            let two = from.len() >= 2 * width;
            let (now, after) = from.split_at_mut(if two { 2 * width } else { width });
            row += if two { 2 } else { 1 };
            let (row0, row1) = now.split_at_mut(width);
            let Some((x0, b0, c0, dt0)) = head_part(p, row0, h, g) else { return };
            let second = head_part(p, row1, h, g);
            // One call site of softplus, so it stays inlined.
            let dts = [dt0, second.as_ref().map_or(0.0, |s| s.3)];
            let mut steps = [(0f32, 0f32); 2];
            for (step, dt) in steps.iter_mut().zip(dts).take(if second.is_some() { 2 } else { 1 }) {
                let delta = softplus(dt + dt_bias);
                *step = (expf(delta * a), delta);
            }
            let [(decay0, delta0), (decay1, delta1)] = steps;
            if let Some((x1, b1, c1, _)) = second {
                // The next call: this head's next two tokens; after the batch's last pair, the
                // next head's first two (its x, its group's B and C), and only then may the
                // kernel read past this head's state (the next head's first lines).
                let last = after.is_empty();
                let next_b = 2 * p.inner_size + (h + 1) / heads_per_group * n;
                let (ahead, xa, ba): (&[f32], usize, usize) = if last { (before, x_at + ps, next_b) } else { (after, x_at, b_at) };
                let at = |row: usize, off: usize| ahead.get(row * width + off..).unwrap_or(&[]);
                let t0 = ScanToken { x: x0, b: b0, c: c0, decay: decay0, delta: delta0, ahead: at(0, ba), ahead_x: at(0, xa) };
                let t1 = ScanToken { x: x1, b: b1, c: c1, decay: decay1, delta: delta1, ahead: at(1, ba), ahead_x: at(1, xa) };
                let state = if last { &mut *sh } else { sh.get_mut(..head_len).unwrap_or_default() };
                kernels::scan_head2(state, [t0, t1], d);
            } else {
                kernels::scan_head(sh, x0, b0, c0, decay0, delta0, d);
            }
        }
    }
}

/// Head `h`'s `x`, group `g`'s `B` and `C`, and the head's `dt` in one token's projection row
/// (None for a row too short, or an empty one).
fn head_part<'r>(p: &SsmParams, row: &'r mut [f32], h: usize, g: usize) -> Option<(&'r mut [f32], &'r [f32], &'r [f32], f32)> {
    let (n, ps) = (p.state_size, p.head_dim());
    let (_, xbc, dt) = split_token(p, row);
    let (x, bc) = xbc.split_at_mut(p.inner_size.min(xbc.len()));
    let (b, c) = bc.split_at((p.n_groups * n).min(bc.len()));
    let (Some(xh), Some(bg), Some(cg), Some(&dt)) =
        (x.get_mut(h * ps..(h + 1) * ps), b.get(g * n..(g + 1) * n), c.get(g * n..(g + 1) * n), dt.get(h))
    else {
        return None;
    };
    Some((xh, bg, cg, dt))
}

/// The causal depthwise convolution of every token of `proj` (rows of `z | xBC | dt`), in
/// place over each token's xBC: each channel sums its `K-1` remembered inputs and the new
/// one (sequential f32 sum from tap 0), adds the bias and shifts the raw input into its
/// state; then SiLU over all channels. A channel's outputs need only its own inputs, so the
/// whole quads of channels go through every token of the batch at once (their taps, biases
/// and state read once per batch, not once per token); the rest go token by token.
fn convolve(p: &SsmParams, w: &Mamba2Weights<'_>, proj: &mut [f32], conv_state: &mut [f32]) {
    let (width, k) = (p.in_proj_rows().max(1), p.conv_kernel);
    let xbc_at = p.inner_size;
    let done = match (w.conv_weight.as_slice(), w.conv_bias.as_slice()) {
        (Some(taps), Some(biases)) => match k {
            4 => convolve_quads::<4>(taps, biases, proj, width, xbc_at, conv_state),
            3 => convolve_quads::<3>(taps, biases, proj, width, xbc_at, conv_state),
            2 => convolve_quads::<2>(taps, biases, proj, width, xbc_at, conv_state),
            _ => 0,
        },
        _ => 0,
    };
    for token in proj.chunks_exact_mut(width) {
        let (_, xbc, _) = split_token(p, token);
        convolve_channels(k, w, xbc, conv_state, done);
        silu_in_place(xbc);
    }
}

/// The whole quads of channels for every token of `proj` (rows of `width`, xBC from
/// `xbc_at`), with the weights read in place as f32. A quad's taps and its window of the
/// last `K` inputs stay in registers from token to token; its four channels go tap by tap
/// side by side, so the VFP11 overlaps four independent sums instead of waiting its
/// 8-cycle latency on each step of one. Returns the channels done.
fn convolve_quads<const K: usize>(
    taps: &[f32],
    biases: &[f32],
    proj: &mut [f32],
    width: usize,
    xbc_at: usize,
    conv_state: &mut [f32],
) -> usize {
    let kept = K - 1;
    let mut done = 0;
    let quads = taps.chunks_exact(4 * K).zip(biases.chunks_exact(4)).zip(conv_state.chunks_exact_mut(4 * kept));
    for ((w, bias), state) in quads {
        let at = xbc_at + done;
        if at + 4 > width {
            break;
        }
        // window[c][..K-1]: the channel's remembered inputs, oldest first; [K-1]: the new one.
        let mut window = [[0f32; K]; 4];
        let mut taps = [[0f32; K]; 4];
        for c in 0..4 {
            window[c][..kept].copy_from_slice(&state[c * kept..(c + 1) * kept]);
            taps[c].copy_from_slice(&w[c * K..(c + 1) * K]);
        }
        // The quad's inputs of the next token are loaded while this one computes: the token
        // rows are far apart, so each is a cache miss whose fill then overlaps the arithmetic.
        let rows = proj.len() / width;
        let quad = |proj: &[f32], t: usize| -> [f32; 4] {
            let mut q = [0f32; 4];
            if let Some(x) = proj.get(t * width + at..t * width + at + 4) {
                q.copy_from_slice(x);
            }
            q
        };
        let mut next = quad(proj, 0);
        for t in 0..rows {
            let new = next;
            if t + 1 < rows {
                next = quad(proj, t + 1);
            }
            let Some(x) = proj.get_mut(t * width + at..t * width + at + 4) else { break };
            for c in 0..4 {
                window[c][kept] = new[c];
            }
            // Every product first, then the four sums tap by tap, each from +0.0 in tap order
            // as the plain loop adds them: no step waits on the one before in its channel
            // until the products are done.
            let mut products = [[0f32; 4]; K];
            for j in 0..K {
                for c in 0..4 {
                    products[j][c] = window[c][j] * taps[c][j];
                }
            }
            let mut acc = [0f32; 4];
            for p in &products {
                for c in 0..4 {
                    acc[c] += p[c];
                }
            }
            for c in 0..4 {
                x[c] = acc[c] + bias[c];
                for j in 0..kept {
                    window[c][j] = window[c][j + 1];
                }
            }
        }
        for c in 0..4 {
            state[c * kept..(c + 1) * kept].copy_from_slice(&window[c][..kept]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_matches_definition_and_cutoff() {
        assert_eq!(softplus(25.0), 25.0);
        assert_eq!(softplus(0.0), libm::logf(2.0));
        assert_eq!(softplus(20.0), libm::logf(1.0 + expf(20.0)));
    }
}
