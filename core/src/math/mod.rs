//! Scalar functions of the forward pass, at the bottom of the core: nothing here imports
//! another module of the crate.
//!
//! - [`expf`] returns exactly what `libm::expf` returns (FreeBSD's algorithm: reduction by
//!   `k·ln 2` in two parts, a rational approximation, scaling by `2^k`), with its argument
//!   ranges chosen by selects instead of branches and the body inlined. [`exp_main`] is its
//!   main range, the steps the SiLU kernels (`kernels::silu`) repeat four values at a time;
//!   arguments with |x| ≥ 87.3 (and NaN, [`outside_fast_range`]) go to `libm::expf` itself.
//! - [`silu`]: `x / (1 + e^-x)` for one value.
//! - [`half`]: exact f16 and bf16 conversions and the f16 rounding of mode D.
#![forbid(unsafe_code)]

pub mod half;

pub use half::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16, round_f16};

const HALF: [f32; 2] = [0.5, -0.5];
const LN2_HI: f32 = f32::from_bits(0x3f317200);
const LN2_LO: f32 = f32::from_bits(0x35bfbe8e);
const INV_LN2: f32 = f32::from_bits(0x3fb8aa3b);
const P1: f32 = f32::from_bits(0x3e2aaa8f);
const P2: f32 = f32::from_bits(0xbb355215);

/// `|x|`'s bits at and above which `libm::expf` leaves the main path (|x| ≥ 87.3365).
const FAST_LIMIT: u32 = 0x42aeac50;

/// Whether `x` needs `libm::expf`'s special cases (overflow, underflow, NaN).
#[inline(always)]
pub fn outside_fast_range(x: f32) -> bool {
    x.to_bits() & 0x7fff_ffff >= FAST_LIMIT
}

/// `libm::expf(x)` for |x| < 87.3365 with the three argument ranges chosen by masks; any
/// other input gives some value (no panic).
#[inline(always)]
pub fn exp_main(x: f32) -> f32 {
    let hx = x.to_bits() & 0x7fff_ffff;
    let sign = (x.to_bits() >> 31) as i32;
    // k = round(x / ln 2) above 1.5 ln 2, ±1 above 0.5 ln 2, else 0 (then hi = x and lo = 0
    // exactly, as in the reference's k = 0 branch).
    let rounded = (INV_LN2 * x + HALF[sign as usize & 1]) as i32;
    let above_1_5 = -((hx > 0x3f851592) as i32);
    let above_0_5 = -((hx > 0x3eb17218) as i32);
    let k = (rounded & above_1_5) | ((1 - 2 * sign) & above_0_5 & !above_1_5);
    let kf = k as f32;
    let hi = x - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * P2);
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // scalbnf(y, k) for the k this range gives (|k| ≤ 126; k = 0 multiplies by 1): exact.
    let scaled = y * f32::from_bits(((k + 127) as u32 & 0xff) << 23);
    if hx <= 0x39000000 {
        1.0 + x
    } else {
        scaled
    }
}

/// `e^x`, bit for bit `libm::expf(x)`.
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    if outside_fast_range(x) {
        libm::expf(x)
    } else {
        exp_main(x)
    }
}

/// `x / (1 + e^-x)` in f32, as ggml computes it.
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + expf(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expf(x)` against `libm::expf(x)`, bit for bit (NaN as NaN).
    fn check(x: f32) {
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        assert!(same(expf(x), libm::expf(x)), "expf({x:e}) = {:e}, libm {:e}", expf(x), libm::expf(x));
    }

    #[test]
    fn every_range_edge_equals_libm() {
        let edges = [0x39000000u32, 0x3eb17218, 0x3f851592, FAST_LIMIT, 0x42b17218, 0x42cff1b5, 0x7f800000];
        for e in edges {
            for d in 0..3 {
                for sign in [0, 0x8000_0000] {
                    check(f32::from_bits((e + d - 1) | sign));
                }
            }
        }
        for x in [0.0, -0.0, 1.0, -1.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MIN_POSITIVE] {
            check(x);
        }
    }

    #[test]
    fn a_stride_through_every_float_equals_libm() {
        // About a million floats natively; Miri (a hundred times slower) takes every 64th.
        let step = if cfg!(miri) { 262_147 } else { 4_099 };
        let mut bits = 0u32;
        while let Some(next) = bits.checked_add(step) {
            check(f32::from_bits(bits));
            bits = next;
        }
    }
}
