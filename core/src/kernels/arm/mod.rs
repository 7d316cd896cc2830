//! The ARMv6 twins of the hot kernels, compiled only for `target_arch = "arm"`: the
//! matrix-vector products of the hot weight types (Q2_K..Q6_K, Q8_0, Q4_1; also Q4_0, and Q5_0
//! and Q5_1, Gemma 3's), and
//! three VFP11 kernels of the forward pass: SiLU, the Mamba2 scan and mode D's value
//! accumulation. Each function here has the name and signature of its portable twin in
//! `kernels::portable`, and gives the same bits. This is the one place in the core with
//! `unsafe` and `asm!`.
//!
//! - `asm_q*`, `asm_legacy`: hand-scheduled naked-asm block kernels for the ARM1176 timing
//!   (DSP `SMLAD`, `UXTB16`/`SXTB16`, no interlock in the inner steps, touch loads ahead in
//!   the weight stream so line fills overlap the arithmetic); they return exact integer sums
//!   per block (`asm_q5` also does the float part: see there). `asm_steps` holds the step
//!   macros they share.
//! - `asm_batch_q4k`, `asm_batch_q5k`, `asm_batch_q2k`, `asm_batch_q3k`, `asm_batch_q6k`,
//!   `asm_batch_legacy` and their driver `batch`: Q4_K, Q5_K, Q2_K, Q3_K, Q6_K, Q4_1, Q4_0
//!   and Q8_0 products of four prompt tokens at once, each weight word decoded once for the
//!   four (twin `kernels::batch`).
//! - `asm_k4finish`: the float part of Q4_K/Q5_K/Q2_K rows of 2 or 3 blocks and of Q6_K/Q3_K
//!   rows of 2 (the small matrices of single-token generation, and the Q6_K LM head), six or
//!   eight blocks' VFP11 chains side by side.
//! - `matvec`: the drivers that call them and do the float part in the portable twins' exact
//!   order (`kernels::kquant`, `kernels::legacy`), so only the integer dot products differ
//!   between the twins, and those are exact.
//! - `asm_q8k` (twin `quant::q8::quantize_q8_k_portable`): activations to Q8_K blocks and
//!   their pair blocks, the maximum on the values' bits, the rounding as `VMLA`s, the
//!   quants, pairs and sums packed with DSP instructions.
//! - `asm_silu` (twin `kernels::silu::silu_quads_portable`), `asm_scan` (twins
//!   `kernels::scan::scan_head_portable`, and `scan_head2_portable` for the two-token kernel
//!   of the prompt batch) and `asm_f16acc` (twin
//!   `kernels::f16acc::accumulate_rounded_portable`): the same IEEE single operations as
//!   their twins in the same order, scheduled so the VFP11's 8-cycle latencies overlap.
#![allow(unsafe_code)]

mod matvec;
#[macro_use]
mod asm_steps;
mod asm_batch_k4finish;
mod asm_batch_legacy;
#[macro_use]
mod asm_batch_q2k;
mod asm_batch_q3k;
mod asm_attn;
mod asm_batch_q4k;
mod asm_batch_q5k;
mod asm_batch_q6k;
mod asm_f16acc;
mod asm_k4finish;
mod asm_legacy;
mod asm_q23k;
mod asm_q4k;
mod asm_q5;
mod asm_q5k;
mod asm_q6k;
mod asm_q8k;
mod asm_scan;
mod asm_silu;
mod batch;

pub use asm_q8k::quantize_q8k;
pub use batch::{matmul4_kquant, matmul4_legacy};
pub use matvec::{matvec_kquant, matvec_q4_0, matvec_q4_1, matvec_q5_0, matvec_q5_1, matvec_q8_0};

use super::attend::{dot, dot_rows_portable, scale_rounded_portable, widen_portable};
use super::f16acc::accumulate_rounded_portable;
use super::scan::{scan_head_portable, ScanToken};
use crate::math::{f16_to_f32, round_f16};

/// `x ← silu(x)` over the leading whole quads of `xs` up to the first quad with a value
/// outside the kernel's range; returns how many quads it did (`silu_quads_portable` has the
/// contract).
#[inline]
pub fn silu_quads(xs: &mut [f32]) -> usize {
    asm_silu::silu_quads(xs)
}

/// The Mamba2 selective scan of one SSM head (`scan_head_portable` has the contract): the
/// channel pairs go through the VFP11 kernel when N is a multiple of 8, and a lone last
/// channel (and any other shape) through the portable twin. `state` may run past the head
/// (to the layer's end): the kernel reads the next head's first lines early, and writes only
/// this head's rows.
#[inline]
pub fn scan_head(state: &mut [f32], x: &mut [f32], b: &[f32], c: &[f32], decay: f32, delta: f32, d: f32) {
    let paired = x.len() - x.len() % 2;
    let (pairs, lone) = x.split_at_mut(paired);
    if asm_scan::scan_pairs(state, pairs, b, c, decay, delta, d) {
        if let Some(rest) = state.get_mut(paired * b.len()..) {
            scan_head_portable(rest, lone, b, c, decay, delta, d);
        }
        return;
    }
    scan_head_portable(state, x, b, c, decay, delta, d);
}

/// The Mamba2 scan of one SSM head over two consecutive tokens (`scan_head2_portable` has
/// the contract): with N = 64, the channel pairs go through the two-token VFP11 kernel
/// (`asm_scan::scan2_pairs`), a lone last channel token by token through the twin; any other
/// shape is two calls of [`scan_head`].
#[inline]
pub fn scan_head2(state: &mut [f32], t: [ScanToken<'_>; 2], d: f32) {
    let [t0, t1] = t;
    let n = t0.b.len();
    let paired = t0.x.len() - t0.x.len() % 2;
    if t1.x.len() == t0.x.len() && paired > 0 {
        let done = {
            let (p0, _) = t0.x.split_at_mut(paired);
            let (p1, _) = t1.x.split_at_mut(paired);
            let pairs = [ScanToken { x: p0, ..t0 }, ScanToken { x: p1, ..t1 }];
            asm_scan::scan2_pairs(state, pairs, d)
        };
        if done {
            if let Some(rest) = state.get_mut(paired * n..) {
                for tok in [t0, t1] {
                    let lone = tok.x.get_mut(paired..).unwrap_or_default();
                    scan_head_portable(rest, lone, tok.b, tok.c, tok.decay, tok.delta, d);
                }
            }
            return;
        }
    }
    for tok in [t0, t1] {
        scan_head(state, tok.x, tok.b, tok.c, tok.decay, tok.delta, d);
    }
}

/// `acc[i] ← r16(acc[i] + v[i]·vs)`, exactly as one value at a time: the runs of eight go
/// through `asm_f16acc`, which leaves the runs it cannot round in place to [`round_f16`].
pub fn accumulate_rounded(acc: &mut [f32], v: &[f32], vs: f32) {
    let n = acc.len().min(v.len());
    let whole = n - n % 8;
    // Calls of at most 32 runs, by index: a head (64 values) is one call, and the chunk
    // iterators this replaced compiled to ~100 cycles of bookkeeping per call.
    let mut at = 0;
    while at < whole {
        let end = whole.min(at + 256);
        let (Some(a), Some(x)) = (acc.get_mut(at..end), v.get(at..end)) else { break };
        match asm_f16acc::accumulate_runs(a, x, vs) {
            None => accumulate_rounded_portable(a, x, vs),
            // Almost always: every run rounded in place.
            Some(0) => {}
            Some(unrounded) => {
                for (k, run) in a.chunks_exact_mut(8).enumerate() {
                    if unrounded >> k & 1 == 1 {
                        for s in run {
                            *s = round_f16(*s);
                        }
                    }
                }
            }
        }
        at = end;
    }
    for (a, &x) in acc.get_mut(whole..n).unwrap_or_default().iter_mut().zip(v.get(whole..n).unwrap_or_default()) {
        *a = round_f16(*a + x * vs);
    }
}

/// [`accumulate_rounded`] for the heads of a token that share a value row (`acc` holds one
/// accumulator of `v.len()` values per `vs[h]`): one call of `asm_f16acc`'s heads kernel
/// where the shape fits it (a call per head cost ~90 cycles besides its runs), the runs it
/// cannot round in place to [`round_f16`]; any other shape head by head
/// (`f16acc::accumulate_heads_portable` has the contract).
#[inline]
pub fn accumulate_heads(acc: &mut [f32], v: &[f32], vs: &[f32]) {
    match asm_f16acc::accumulate_heads(acc, v, vs) {
        // Almost always: every run rounded in place.
        Some(0) => {}
        Some(unrounded) => round_runs(acc, unrounded),
        None => accumulate_each_head(acc, v, vs),
    }
}

/// [`round_f16`] of the runs of eight of `acc` whose bit is set in `unrounded`. Out of line
/// (rare), as is [`accumulate_each_head`]: inlined, they doubled the code of the attention
/// loop, and the I-cache misses cost more than the calls saved.
#[cold]
#[inline(never)]
fn round_runs(acc: &mut [f32], unrounded: u32) {
    for (k, run) in acc.chunks_exact_mut(8).enumerate() {
        if unrounded >> k & 1 == 1 {
            for s in run {
                *s = round_f16(*s);
            }
        }
    }
}

/// [`accumulate_heads`] head by head, for the shapes its kernel does not take.
#[cold]
#[inline(never)]
fn accumulate_each_head(acc: &mut [f32], v: &[f32], vs: &[f32]) {
    for (a, &s) in acc.chunks_mut(v.len().max(1)).zip(vs) {
        accumulate_rounded(a, v, s);
    }
}

/// `out[r] = dot(q[r·d..(r + 1)·d], k)`, `d = k.len()` (`attend::dot_rows_portable` has the
/// contract): pairs of rows through `asm_attn` when `d` is a multiple of 8, a last odd row
/// (and any other shape) through the portable `dot`.
#[inline]
pub fn dot_rows(q: &[f32], k: &[f32], out: &mut [f32]) {
    // The rows `q` holds, by a product in the usual case: the ARM1176 has no divide
    // instruction, and this runs for every cached position of every pass.
    let rows = if !k.is_empty() && out.len().saturating_mul(k.len()) <= q.len() {
        out.len()
    } else {
        out.len().min(q.len() / k.len().max(1))
    };
    let paired = rows - rows % 2;
    let Some(out) = out.get_mut(..rows) else { return };
    if !asm_attn::dot_pairs(q, k, &mut out[..paired]) {
        dot_rows_portable(q, k, out);
        return;
    }
    if let (Some(o), Some(row)) = (out.get_mut(paired), q.get(paired * k.len()..(paired + 1) * k.len())) {
        *o = dot(row, k);
    }
}

/// `acc[i] ← r16(ms·acc[i])`, exactly as one value at a time: the runs of eight go through
/// `asm_attn`, which leaves the runs it cannot round in place to [`round_f16`].
pub fn scale_rounded(acc: &mut [f32], ms: f32) {
    let whole = acc.len() - acc.len() % 8;
    let (runs, tail) = acc.split_at_mut(whole);
    for a in runs.chunks_mut(256) {
        let Some(unrounded) = asm_attn::scale_runs(a, ms) else {
            scale_rounded_portable(a, ms);
            continue;
        };
        if unrounded == 0 {
            continue;
        }
        round_runs(a, unrounded);
    }
    scale_rounded_portable(tail, ms);
}

/// Widens a cached f16 row into `out`, exactly as [`f16_to_f32`]: the runs of eight go
/// through `asm_attn`, which leaves the runs holding a zero, subnormal, infinity or NaN to
/// [`f16_to_f32`], and reads the next row's lines (`ahead`) early.
#[inline]
pub fn widen(row: &[u16], ahead: &[u16], out: &mut [f32]) {
    let n = row.len().min(out.len());
    let whole = n - n % 8;
    let Some(unusual) = asm_attn::widen_runs(&row[..whole], ahead, &mut out[..whole]) else {
        widen_portable(row, ahead, out);
        return;
    };
    if unusual != 0 {
        for (k, (o8, h8)) in out.chunks_exact_mut(8).zip(row.chunks_exact(8)).enumerate() {
            if unusual >> k & 1 == 1 {
                for (o, &h) in o8.iter_mut().zip(h8) {
                    *o = f16_to_f32(h);
                }
            }
        }
    }
    for (o, &h) in out[whole..n].iter_mut().zip(&row[whole..n]) {
        *o = f16_to_f32(h);
    }
}
