//! The ARMv6 kernels, each beside its portable twin: the matrix-vector products of the hot
//! weight types (Q2_K..Q6_K, Q8_0, Q4_1; also Q4_0), and two VFP11 kernels of the forward
//! pass, SiLU and the Mamba2 scan. The public functions here pick the ARM kernel when
//! compiled for `target_arch = "arm"` and the portable twin elsewhere; both twins are always
//! compiled on ARM so `tests-qemu/kernels` can prove they agree bit for bit. This is the one
//! place in the core with `unsafe`.
//!
//! - `asm_q*`, `asm_legacy`: hand-scheduled naked-asm block kernels for the ARM1176 timing
//!   (DSP `SMLAD`, `UXTB16`/`SXTB16`, no interlock in the inner steps, touch loads ahead in
//!   the weight stream so line fills overlap the arithmetic); they return exact integer sums
//!   per block. `asm_steps` holds the step macros they share.
//! - `armv6`: the drivers that call them and do the float part in the portable twins' exact
//!   order, so only the integer dot products differ between the twins, and those are exact.
//! - `asm_silu` (twin `math::silu_quads_portable`), `asm_scan` (twin
//!   `model::mamba2::scan_head_portable`) and `asm_f16acc` (twin
//!   `model::attention::accumulate_rounded_portable`): the same IEEE single operations as
//!   their twins in the same order, scheduled so the VFP11's 8-cycle latencies overlap.

pub mod portable;

#[cfg(target_arch = "arm")]
pub mod armv6;
#[cfg(target_arch = "arm")]
#[macro_use]
mod asm_steps;
#[cfg(target_arch = "arm")]
mod asm_legacy;
#[cfg(target_arch = "arm")]
mod asm_q23k;
#[cfg(target_arch = "arm")]
mod asm_q4k;
#[cfg(target_arch = "arm")]
mod asm_q5k;
#[cfg(target_arch = "arm")]
mod asm_q6k;
#[cfg(target_arch = "arm")]
pub mod asm_silu;
#[cfg(target_arch = "arm")]
pub mod asm_f16acc;
#[cfg(target_arch = "arm")]
mod asm_scan;

use super::GgmlType;

/// Whether [`matvec_kquant`] has a dedicated kernel for `ty`.
pub fn has_kquant_kernel(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K)
}

/// K-quant matvec: `w` = rows of `rb` bytes, `std_act` = standard Q8_K blocks, `pairs` =
/// their permuted i16 copy for `ty`'s layout.
#[inline]
pub fn matvec_kquant(ty: GgmlType, w: &[u8], rb: usize, std_act: &[u8], pairs: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "arm")]
    armv6::matvec_kquant(ty, w, rb, std_act, pairs, out);
    #[cfg(not(target_arch = "arm"))]
    portable::matvec_kquant(ty, w, rb, std_act, pairs, out);
}

/// Q8_0 weights times Q8_0 activations (armlet's 40-byte blocks).
#[inline]
pub fn matvec_q8_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "arm")]
    armv6::matvec_q8_0(w, rb, act, out);
    #[cfg(not(target_arch = "arm"))]
    portable::matvec_q8_0(w, rb, act, out);
}

/// Q4_0 weights times Q8_0 activations (prepared for Q4_0, with their pair copy).
#[inline]
pub fn matvec_q4_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "arm")]
    armv6::matvec_q4_0(w, rb, act, out);
    #[cfg(not(target_arch = "arm"))]
    portable::matvec_legacy(super::GgmlType::Q4_0, w, rb, act, out);
}

/// Q4_1 weights times Q8_1 activations.
#[inline]
pub fn matvec_q4_1(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "arm")]
    armv6::matvec_q4_1(w, rb, act, out);
    #[cfg(not(target_arch = "arm"))]
    portable::matvec_q4_1(w, rb, act, out);
}

/// `x ← silu(x)` over the whole quads of `xs`, every |x| < 87.3365 (`math::silu_in_place`
/// sends the rest elsewhere): the VFP11 kernel on ARM, the portable twin elsewhere.
#[inline]
pub fn silu_quads(xs: &mut [f32]) {
    #[cfg(target_arch = "arm")]
    asm_silu::silu_quads(xs);
    #[cfg(not(target_arch = "arm"))]
    crate::math::silu_quads_portable(xs);
}

/// The Mamba2 selective scan of one SSM head (`model::mamba2::scan_head_portable` has the
/// contract): on ARM the channel pairs go through the VFP11 kernel when N is a multiple of
/// 8, and a lone last channel (and any other shape) through the portable twin. `state` may
/// run past the head (to the layer's end): the kernel reads the next head's first lines
/// early, and writes only this head's rows.
#[inline]
pub fn scan_head(state: &mut [f32], x: &mut [f32], b: &[f32], c: &[f32], decay: f32, delta: f32, d: f32) {
    #[cfg(target_arch = "arm")]
    {
        let paired = x.len() - x.len() % 2;
        let (pairs, lone) = x.split_at_mut(paired);
        if asm_scan::scan_pairs(state, pairs, b, c, decay, delta, d) {
            if let Some(rest) = state.get_mut(paired * b.len()..) {
                crate::model::mamba2::scan_head_portable(rest, lone, b, c, decay, delta, d);
            }
            return;
        }
    }
    crate::model::mamba2::scan_head_portable(state, x, b, c, decay, delta, d);
}
