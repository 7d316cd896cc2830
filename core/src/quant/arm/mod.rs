//! The ARMv6 kernels for the hot weight types (Q2_K..Q6_K, Q8_0, Q4_1; also Q4_0), each beside its
//! portable twin with the same signature. The public functions here pick the ARM kernel when
//! compiled for `target_arch = "arm"` and the portable twin elsewhere; both twins are always
//! compiled on ARM so `tests-qemu/kernels` can prove they agree bit for bit.
//!
//! - `asm_*`: hand-scheduled naked-asm block kernels for the ARM1176 timing (DSP `SMLAD`,
//!   `UXTB16`/`SXTB16`, no interlock in the inner steps, touch loads ahead in the weight
//!   stream so line fills overlap the arithmetic); they return exact integer sums per block.
//!   `asm_steps` holds the step macros they share.
//! - `armv6`: the drivers that call them and do the float part in the portable twins' exact
//!   order, so only the integer dot products differ between the twins, and those are exact.

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
