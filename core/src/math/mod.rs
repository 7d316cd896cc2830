//! Scalar functions of the forward pass, at the bottom of the core: nothing here imports
//! another module of the crate.
//!
//! - [`expf`] returns exactly what `libm::expf` returns (FreeBSD's algorithm: reduction by
//!   `k·ln 2` in two parts, a rational approximation, scaling by `2^k`), with its argument
//!   ranges chosen by selects instead of branches and the body inlined. [`exp_main`] is its
//!   main range, the steps the SiLU kernels (`kernels::silu`) repeat four values at a time;
//!   arguments with |x| ≥ 87.3 (and NaN, [`outside_fast_range`]) go to `libm::expf` itself.
//! - [`silu`]: `x / (1 + e^-x)` for one value.
//! - [`gelu_f16`]: the tanh GELU of one value as ggml's CPU backend returns it (an f16 table
//!   entry of the f16-rounded input), computed on demand instead of from a 128 KiB table.
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

/// [`exp_main`] of four values, step by step side by side: the same operations on each
/// lane, in straight-line code, so the four chains of dependent VFP operations (~150 cycles
/// of latency each on the VFP11) overlap instead of following each other.
#[inline(always)]
pub fn exp_main4(x: [f32; 4]) -> [f32; 4] {
    let hx = x.map(|x| x.to_bits() & 0x7fff_ffff);
    let sign = x.map(|x| (x.to_bits() >> 31) as i32);
    let rounded: [i32; 4] = core::array::from_fn(|i| (INV_LN2 * x[i] + HALF[sign[i] as usize & 1]) as i32);
    let k: [i32; 4] = core::array::from_fn(|i| {
        let above_1_5 = -((hx[i] > 0x3f851592) as i32);
        let above_0_5 = -((hx[i] > 0x3eb17218) as i32);
        (rounded[i] & above_1_5) | ((1 - 2 * sign[i]) & above_0_5 & !above_1_5)
    });
    let kf = k.map(|k| k as f32);
    let hi: [f32; 4] = core::array::from_fn(|i| x[i] - kf[i] * LN2_HI);
    let lo: [f32; 4] = core::array::from_fn(|i| kf[i] * LN2_LO);
    let r: [f32; 4] = core::array::from_fn(|i| hi[i] - lo[i]);
    let rr: [f32; 4] = core::array::from_fn(|i| r[i] * r[i]);
    let c: [f32; 4] = core::array::from_fn(|i| r[i] - rr[i] * (P1 + rr[i] * P2));
    let q: [f32; 4] = core::array::from_fn(|i| r[i] * c[i] / (2.0 - c[i]));
    let y: [f32; 4] = core::array::from_fn(|i| 1.0 + (q[i] - lo[i] + hi[i]));
    core::array::from_fn(|i| {
        let scaled = y[i] * f32::from_bits(((k[i] + 127) as u32 & 0xff) << 23);
        if hx[i] <= 0x39000000 {
            1.0 + x[i]
        } else {
            scaled
        }
    })
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

/// `√(2/π)` and the cubic coefficient of the tanh GELU, as ggml spells them (f32).
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_COEF_A: f32 = 0.044715;

/// ggml's CPU GELU (`ggml_vec_gelu_f32` / `ggml_vec_geglu_f32` with `GGML_GELU_FP16`, what
/// llama.cpp's Gemma FFN runs): 0 for x <= -10, x for x >= 10, otherwise the entry of its
/// f16 table for f16(x). An entry is `f16(0.5·h·(1 + tanhf(√(2/π)·h·(1 + 0.044715·h·h))))`
/// for `h = f16(x)`, evaluated in f32 with `1 + (0.044715·h)·h` as one fused multiply-add
/// (gcc contracts it in llama.cpp's build; gemma3.md). The entry is recomputed here
/// rather than stored: the table would be 128 KiB of every binary, and this costs one
/// `tanhf` per FFN value, small beside the FFN's products. `tanhf` is `libm`'s, which may
/// differ from the C library's by an ulp; the f16 rounding hides that except at a
/// rounding midpoint.
pub fn gelu_f16(x: f32) -> f32 {
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    if x.is_nan() {
        return x;
    }
    let h = round_f16(x);
    let inner = (SQRT_2_OVER_PI * h) * libm::fmaf(GELU_COEF_A * h, h, 1.0);
    round_f16((0.5 * h) * (1.0 + libm::tanhf(inner)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_the_f16_table_entries() {
        // Entries of ggml's table (f16 bits of the input -> f16 bits of the entry), read from
        // ref_gemma3.py's rebuild of it (the C library's tanhf): 0, ±1, 0.5, -3 (where f32
        // cancellation in 1 + tanh shows), 2.5, and the cut-offs.
        assert_eq!(gelu_f16(0.0), 0.0);
        assert_eq!(gelu_f16(1.0), f16_to_f32(0x3abb));
        assert_eq!(gelu_f16(-1.0), f16_to_f32(0xb115));
        assert_eq!(gelu_f16(0.5), f16_to_f32(0x3588));
        assert_eq!(gelu_f16(-3.0), f16_to_f32(0x9b73));
        assert_eq!(gelu_f16(2.5), f16_to_f32(0x40f8));
        assert_eq!(gelu_f16(-10.0), 0.0);
        assert_eq!(gelu_f16(10.0), 10.0);
        assert_eq!(gelu_f16(12.5), 12.5);
        // The input is rounded to f16 first: every f32 that rounds to 1.0 gives 1.0's entry.
        assert_eq!(gelu_f16(1.000_2), gelu_f16(1.0));
        assert!(gelu_f16(f32::NAN).is_nan());
    }

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

    #[test]
    fn four_lane_exp_equals_exp_main_in_its_range() {
        // Every 31st f32 below the fast limit, either sign, natively; every 7919th under
        // qemu-arm, every 999983rd under Miri. The lanes hold different values (a lane's k,
        // branch and scale are its own).
        let step = if cfg!(miri) { 999983 } else if cfg!(target_arch = "arm") { 7919 } else { 31 };
        let mut lanes = [0f32; 4];
        for (n, bits) in (0..FAST_LIMIT).step_by(step).enumerate() {
            lanes[n % 4] = f32::from_bits(bits | if n % 3 == 0 { 0x8000_0000 } else { 0 });
            let got = exp_main4(lanes);
            for (x, g) in lanes.iter().zip(got) {
                assert_eq!(g.to_bits(), exp_main(*x).to_bits(), "{:#010x}", x.to_bits());
                assert_eq!(g.to_bits(), libm::expf(*x).to_bits(), "{:#010x}", x.to_bits());
            }
        }
    }
}
