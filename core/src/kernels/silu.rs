//! The FFN's activations over a vector: SiLU (the Mamba2 conv output and gate, the SwiGLU
//! gate) and ggml's f16 GELU (the GeGLU gate of Gemma, [`gelu_in_place`]); the gating product
//! is `kernels::vector`'s. Each SiLU is an `e^x` (a chain of about twenty VFP11 operations) and two
//! divides, so the quads go to the pipelined kernel `arm::asm_silu` through
//! [`super::silu_quads`], which stops at the first quad holding a value outside its range
//! (tiny, huge or not finite) and leaves that quad to [`silu`]; [`silu_quads_portable`] is its
//! specification, step for step [`exp_main`]'s arithmetic and the same stop rule.
#![forbid(unsafe_code)]

use crate::math::{exp_main, gelu_f16, outside_fast_range, silu};

/// The smallest |x| bits the kernel takes: below, `e^x` may take its `1 + x` path (|x| ≤
/// 2^-13), which the kernel leaves to [`silu`]. Such values are rare in activations, and
/// sending their quads back costs less than a second compare for every value; 2^-12 rather
/// than 2^-13 because the kernel's range test then needs only ARM immediates and one register.
const KERNEL_LOW: u32 = 0x3980_0000;

/// Whether the kernel takes `x`: |x| in [2^-12, 87.3365), no inf or NaN.
#[inline(always)]
fn in_kernel_range(x: f32) -> bool {
    x.to_bits() & 0x7fff_ffff >= KERNEL_LOW && !outside_fast_range(x)
}

/// The twin of the ARM kernel `asm_silu`: `x ← silu(x)` for the leading whole quads of `xs`,
/// stopping before the first quad with a value outside the kernel's range; returns how many
/// quads it did (the stopping quad and what follows are untouched).
pub fn silu_quads_portable(xs: &mut [f32]) -> usize {
    let mut done = 0;
    for q in xs.chunks_exact_mut(4) {
        if !q.iter().all(|&v| in_kernel_range(v)) {
            break;
        }
        for x in q {
            *x = *x / (1.0 + exp_main(-*x));
        }
        done += 1;
    }
    done
}

/// `x ← silu(x)` for every value: the kernel runs until a quad it does not take, which goes
/// one value at a time, then again from the next quad.
pub fn silu_in_place(xs: &mut [f32]) {
    let whole = xs.len() - xs.len() % 4;
    let (quads, tail) = xs.split_at_mut(whole);
    let mut rest = quads;
    while !rest.is_empty() {
        let done = super::silu_quads(rest).min(rest.len() / 4) * 4;
        let (_, after) = rest.split_at_mut(done);
        let (special, after) = after.split_at_mut(after.len().min(4));
        for x in special {
            *x = silu(*x);
        }
        rest = after;
    }
    for x in tail {
        *x = silu(*x);
    }
}

/// `x ← gelu(x)` for every value, as ggml's CPU backend computes it ([`gelu_f16`]).
pub fn gelu_in_place(xs: &mut [f32]) {
    for x in xs {
        *x = gelu_f16(*x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silu_in_place_equals_the_scalar_form_around_special_values() {
        let xs: [f32; 11] = [-3.5, 0.25, 90.0, 7.0, 1e-6, -88.0, -2.0, f32::NAN, 4.0, -0.5, 30.0];
        let mut a = xs;
        silu_in_place(&mut a);
        for (x, y) in xs.iter().zip(a) {
            assert!(silu(*x).to_bits() == y.to_bits() || (y.is_nan() && x.is_nan()), "silu({x})");
        }
        let mut quads = [0.5f32, -1.5, 3.0, -40.0, 2e-3, 1.0, -0.25, 12.0, 2e-5, 1.0, 1.0, 1.0];
        let expect = quads.map(silu);
        assert_eq!(silu_quads_portable(&mut quads), 2);
        for (q, e) in quads[..8].iter().zip(&expect[..8]) {
            assert_eq!(q.to_bits(), e.to_bits());
        }
        assert_eq!(quads[8], 2e-5);
    }

    /// The ARM kernel chooses `e^t`'s `k` as `trunc(h + INV_LN2·t)` with `h = ±0x3efffffd`
    /// (the sign of `t`), one conversion, where `exp_main` rounds with ±0.5 and then overrules
    /// the result below 1.5 ln 2 by range masks. The two agree on every value the kernel takes
    /// (|t| bits in [KERNEL_LOW, FAST_LIMIT), both signs): this checks all of them.
    #[test]
    fn one_conversion_gives_exp_mains_k() {
        let inv_ln2 = f32::from_bits(0x3fb8_aa3b);
        // Every value natively on the host (about a second); a thinned sample under Miri and
        // qemu-arm, where it would take hours and minutes (the arithmetic is IEEE's on both).
        let step = if cfg!(any(miri, target_arch = "arm")) { 9973 } else { 1 };
        for hx in (KERNEL_LOW..0x42ae_ac50u32).step_by(step) {
            for sign in [0u32, 0x8000_0000] {
                let t = f32::from_bits(hx | sign);
                let kernel = (inv_ln2 * t + f32::from_bits(0x3eff_fffd | sign)) as i32;
                let rounded = (inv_ln2 * t + if sign == 0 { 0.5 } else { -0.5 }) as i32;
                let k = if hx > 0x3f85_1592 {
                    rounded
                } else if hx > 0x3eb1_7218 {
                    if sign == 0 { 1 } else { -1 }
                } else {
                    0
                };
                assert_eq!(kernel, k, "t = {t:e} ({:#x})", t.to_bits());
            }
        }
    }
}
