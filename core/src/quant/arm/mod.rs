//! The ARMv6 kernels (DSP `SMLAD`/`SXTB16`/`UXTB16` through `asm!`) for the hot weight types,
//! each beside its portable twin with the same signature. The public functions here pick the
//! ARM kernel when compiled for `target_arch = "arm"` and the portable twin elsewhere; both
//! twins are always compiled on ARM so `tests-qemu/kernels` can prove they agree bit for bit.
//! The twins share the scale decoding and the float finishing code with `legacy`/`kquant`,
//! so only the integer dot products differ, and those are exact.

pub mod portable;

#[cfg(target_arch = "arm")]
pub mod armv6;

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

/// Q4_1 weights times Q8_1 activations.
#[inline]
pub fn matvec_q4_1(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "arm")]
    armv6::matvec_q4_1(w, rb, act, out);
    #[cfg(not(target_arch = "arm"))]
    portable::matvec_q4_1(w, rb, act, out);
}
