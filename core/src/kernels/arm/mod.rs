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
//! - `asm_batch_q4k`, `asm_batch_q5k`, `asm_batch_legacy` and their driver `batch`: Q4_K,
//!   Q5_K, Q4_1, Q4_0 and Q8_0 products of four prompt tokens at once, each weight word decoded once for the four
//!   (twin `kernels::batch`).
//! - `asm_k4finish`: the float part of Q4_K/Q5_K/Q2_K rows of 2 or 3 blocks and of Q6_K/Q3_K
//!   rows of 2 (the small matrices of single-token generation, and the Q6_K LM head), six or
//!   eight blocks' VFP11 chains side by side.
//! - `matvec`: the drivers that call them and do the float part in the portable twins' exact
//!   order (`kernels::kquant`, `kernels::legacy`), so only the integer dot products differ
//!   between the twins, and those are exact.
//! - `asm_silu` (twin `kernels::silu::silu_quads_portable`), `asm_scan` (twin
//!   `kernels::scan::scan_head_portable`) and `asm_f16acc` (twin
//!   `kernels::f16acc::accumulate_rounded_portable`): the same IEEE single operations as
//!   their twins in the same order, scheduled so the VFP11's 8-cycle latencies overlap.
#![allow(unsafe_code)]

mod matvec;
#[macro_use]
mod asm_steps;
mod asm_batch_legacy;
mod asm_batch_q4k;
mod asm_batch_q5k;
mod asm_f16acc;
mod asm_k4finish;
mod asm_legacy;
mod asm_q23k;
mod asm_q4k;
mod asm_q5;
mod asm_q5k;
mod asm_q6k;
mod asm_scan;
mod asm_silu;
mod batch;

pub use batch::{matmul4_kquant, matmul4_legacy};
pub use matvec::{matvec_kquant, matvec_q4_0, matvec_q4_1, matvec_q5_0, matvec_q5_1, matvec_q8_0};

use super::f16acc::accumulate_rounded_portable;
use super::scan::scan_head_portable;
use crate::math::round_f16;

/// `x ← silu(x)` over the whole quads of `xs`, every |x| < 87.3365 (`silu_in_place` sends
/// the rest elsewhere).
#[inline]
pub fn silu_quads(xs: &mut [f32]) {
    asm_silu::silu_quads(xs);
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

/// `acc[i] ← r16(acc[i] + v[i]·vs)`, exactly as one value at a time: the runs of eight go
/// through `asm_f16acc`, which leaves the runs it cannot round in place to [`round_f16`].
pub fn accumulate_rounded(acc: &mut [f32], v: &[f32], vs: f32) {
    let n = acc.len().min(v.len());
    let whole = n - n % 8;
    let (runs, tail) = acc.split_at_mut(whole);
    for (a, x) in runs.chunks_mut(256).zip(v.chunks(256)) {
        let Some(unrounded) = asm_f16acc::accumulate_runs(a, x, vs) else {
            accumulate_rounded_portable(a, x, vs);
            continue;
        };
        for (k, run) in a.chunks_exact_mut(8).enumerate() {
            if unrounded >> k & 1 == 1 {
                for s in run {
                    *s = round_f16(*s);
                }
            }
        }
    }
    for (a, &x) in tail.iter_mut().zip(v.get(whole..).unwrap_or(&[])) {
        *a = round_f16(*a + x * vs);
    }
}
