//! 16-bit floats: bit-exact conversions between f32 and IEEE binary16 or bfloat16, in
//! integer code (the VFPv2 of the ARM1176 has no half-float instructions), and [`round_f16`],
//! the rounding to f16 precision that mode D applies to queries and value accumulators.
#![forbid(unsafe_code)]

/// Widens an IEEE binary16 value to f32, exactly (subnormals, infinities and NaN payloads
/// included).
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let sign = (h & 0x8000) << 16;
    let exp = (h >> 10) & 0x1f;
    let man = h & 0x3ff;
    let bits = if exp == 0x1f {
        // Inf / NaN: keep the payload.
        sign | 0x7f80_0000 | (man << 13)
    } else if exp != 0 {
        sign | ((exp + 112) << 23) | (man << 13)
    } else if man == 0 {
        sign
    } else {
        // Subnormal: value = man * 2^-24; normalise so the top set bit becomes the implicit 1.
        let p = 31 - man.leading_zeros(); // 0..=9, position of the top set bit
        sign | ((p + 103) << 23) | ((man << (23 - p)) & 0x007f_ffff)
    };
    f32::from_bits(bits)
}

/// Narrows f32 to IEEE binary16 with round-to-nearest-even, producing subnormals, and
/// overflowing to infinity from 65520 up (as llama.cpp's conversion and x86 F16C do).
/// NaN stays NaN (quiet, sign and top payload bits kept).
#[inline]
pub fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let abs = b & 0x7fff_ffff;
    if abs > 0x7f80_0000 {
        return sign | 0x7e00 | ((abs >> 13) & 0x3ff) as u16;
    }
    if abs >= 0x477f_f000 {
        // >= 65520.0 (and +-inf): rounds to infinity.
        return sign | 0x7c00;
    }
    if abs >= 0x3880_0000 {
        // Normal f16 range: rebias the exponent (127 -> 15) and round off 13 mantissa bits.
        let base = (abs - (112 << 23)) >> 13;
        let rem = abs & 0x1fff;
        let up = rem > 0x1000 || (rem == 0x1000 && (base & 1) == 1);
        return sign | (base + up as u32) as u16;
    }
    // Subnormal or zero: result = round(|x| * 2^24) as the raw mantissa.
    let exp = abs >> 23;
    if exp < 102 {
        // |x| < 2^-25: rounds to zero (2^-25 itself is exp 102 and ties to even = 0).
        return sign;
    }
    let m = (abs & 0x007f_ffff) | 0x0080_0000;
    let shift = 126 - exp; // 14..=24
    let q = m >> shift;
    let rem = m & ((1u32 << shift) - 1);
    let half = 1u32 << (shift - 1);
    let up = rem > half || (rem == half && (q & 1) == 1);
    sign | (q + up as u32) as u16
}

/// Widens bfloat16 to f32 (exact: the top half of the f32 bits).
#[inline]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Narrows f32 to bfloat16 with round-to-nearest-even; NaN is forced quiet (as
/// `ggml_compute_fp32_to_bf16`).
#[inline]
pub fn f32_to_bf16(x: f32) -> u16 {
    let u = x.to_bits();
    if (u & 0x7fff_ffff) > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    ((u as u64 + (0x7fff + ((u >> 16) & 1)) as u64) >> 16) as u16
}

/// `r16(x)`: round to binary16 precision (nearest, ties to even) and widen back, exactly
/// as `f16_to_f32(f32_to_f16(x))`. Values in the normal f16 range take a short path that
/// rounds the f32 mantissa in place; subnormals, overflow, Inf and NaN take the full one.
#[inline]
pub fn round_f16(x: f32) -> f32 {
    let bits = x.to_bits();
    let exp = (bits >> 23) & 0xff;
    // 2^-14 <= |x| < 2^16: the result is a normal f16 or overflows to infinity.
    if (113..=142).contains(&exp) {
        let rounded = (bits + 0xfff + ((bits >> 13) & 1)) & !0x1fff;
        if (rounded >> 23) & 0xff == 143 {
            return f32::from_bits((bits & 0x8000_0000) | 0x7f80_0000);
        }
        return f32::from_bits(rounded);
    }
    f16_to_f32(f32_to_f16(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_widening_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8); // 2^-24
        assert_eq!(f16_to_f32(0x03ff), 6.097_555_2e-5);
        assert_eq!(f16_to_f32(0x0400), 6.103_515_6e-5);
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
    }

    #[test]
    fn f16_round_trip_all_values() {
        // Every code natively; every 61st under Miri, which only needs the paths.
        for h in (0..=u16::MAX).step_by(if cfg!(miri) { 61 } else { 1 }) {
            let f = f16_to_f32(h);
            if f.is_nan() {
                assert!(f16_to_f32(f32_to_f16(f)).is_nan());
            } else {
                assert_eq!(f32_to_f16(f), h, "h={h:#06x}");
            }
        }
    }

    /// Reference narrowing through f64 arithmetic: pick the nearest of the two neighbouring
    /// f16 values, ties to even.
    fn ref_f32_to_f16(x: f32) -> u16 {
        if x.is_nan() {
            return 0x7e00;
        }
        let sign = if x.is_sign_negative() { 0x8000 } else { 0 };
        let a = (x as f64).abs();
        if a >= 65520.0 {
            return sign | 0x7c00;
        }
        // f16 values are exactly k * 2^-24 (subnormal) or on their binade grid; search.
        let mut lo = 0u16;
        let mut hi = 0x7bffu16;
        while lo < hi {
            let mid = (lo + hi + 1) / 2;
            if (f16_to_f32(mid) as f64) <= a { lo = mid } else { hi = mid - 1 }
        }
        let below = lo;
        if below == 0x7bff {
            // between 65504 and 65520
            return sign | 0x7bff;
        }
        let above = below + 1;
        let (vb, va) = (f16_to_f32(below) as f64, f16_to_f32(above) as f64);
        let r = if a - vb < va - a {
            below
        } else if a - vb > va - a {
            above
        } else if below & 1 == 0 {
            below
        } else {
            above
        };
        sign | r
    }

    #[test]
    fn f16_narrowing_matches_reference() {
        let mut s = 0x1234_5678u32;
        let check = |b: u32| {
            let x = f32::from_bits(b);
            let got = f32_to_f16(x);
            let want = ref_f32_to_f16(x);
            if x.is_nan() {
                assert!(f16_to_f32(got).is_nan());
            } else {
                assert_eq!(got, want, "x={x:e} bits={b:#010x}");
            }
        };
        for e in 90u32..=150 {
            for m in [0u32, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7fffff, 0x400000] {
                check((e << 23) | m);
                check(0x8000_0000 | (e << 23) | m);
            }
        }
        // Miri checks the same code paths on a hundredth of the values (minutes, not hours).
        for _ in 0..if cfg!(miri) { 2_000 } else { 200_000 } {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            // bias towards the f16 range
            let b = (s & 0x807f_ffff) | (((s >> 23) % 60 + 95) << 23);
            check(b);
        }
        check(0x477f_efff); // just below 65520
        check(0x477f_f000); // 65520 -> inf
        check(0x7f80_0000);
        check(0x0000_0001);
    }

    #[test]
    fn bf16_round_trip_and_rounding() {
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80); // tie to even
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
    }

    #[test]
    fn fast_f16_rounding_equals_the_conversion_round_trip() {
        let edges = [
            0.0f32,
            -0.0,
            6.1e-5,
            1.0 / 16384.0, // 2^-14: the smallest normal f16
            f32::MIN_POSITIVE * 4096.0, // 2^-114: far below f16, rounds to zero
            65504.0,
            f32::from_bits(0x477f_efff),
            65520.0,
            -65520.0,
            1e-8,
            f32::INFINITY,
        ];
        let strided = (0..=u32::MAX / 997).map(|i| f32::from_bits(i.wrapping_mul(997)));
        for x in edges.into_iter().chain(strided) {
            let (fast, slow) = (round_f16(x), f16_to_f32(f32_to_f16(x)));
            assert!(
                fast.to_bits() == slow.to_bits() || (fast.is_nan() && slow.is_nan()),
                "{x:e}: {fast:e} vs {slow:e}"
            );
        }
    }
}
