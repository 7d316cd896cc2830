//! The float weight formats (F32, F16, BF16): bit-exact conversions in integer code (the
//! VFPv2 of the ARM1176 has no half-float instructions) and the f64-summed dot products
//! llama.cpp's portable kernels use for them. Pure functions over slices; no state.
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

/// Dot product of two f32 slices as llama.cpp's portable `ggml_vec_dot_f32`: each product
/// rounded to f32, the sum in f64 (four independent accumulators), rounded once at the end.
/// Uses the first `min(a.len(), b.len())` elements.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        acc[0] += (x[0] * y[0]) as f64;
        acc[1] += (x[1] * y[1]) as f64;
        acc[2] += (x[2] * y[2]) as f64;
        acc[3] += (x[3] * y[3]) as f64;
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        acc[0] += (x * y) as f64;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) as f32
}

/// One F32 row (little-endian bytes, `4 * x.len()` of them) dotted with f32 activations.
/// Same arithmetic as [`dot_f32`].
pub fn dot_f32_row(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = [0f64; 4];
    let mut cw = row.chunks_exact(16);
    let mut cx = x.chunks_exact(4);
    for (w, x) in (&mut cw).zip(&mut cx) {
        for k in 0..4 {
            let wk = f32::from_le_bytes([w[4 * k], w[4 * k + 1], w[4 * k + 2], w[4 * k + 3]]);
            acc[k] += (wk * x[k]) as f64;
        }
    }
    for (w, x) in cw.remainder().chunks_exact(4).zip(cx.remainder()) {
        acc[0] += (f32::from_le_bytes([w[0], w[1], w[2], w[3]]) * x) as f64;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) as f32
}

/// One row of 16-bit floats (F16 or BF16, little-endian) dotted with activations of the same
/// encoding: the products are exact in f32, summed in f64 and rounded once.
pub fn dot_half_row(row: &[u8], x: &[u8], widen: fn(u16) -> f32) -> f32 {
    let mut acc = [0f64; 4];
    let mut cw = row.chunks_exact(8);
    let mut cx = x.chunks_exact(8);
    for (w, x) in (&mut cw).zip(&mut cx) {
        for k in 0..4 {
            let wk = widen(u16::from_le_bytes([w[2 * k], w[2 * k + 1]]));
            let xk = widen(u16::from_le_bytes([x[2 * k], x[2 * k + 1]]));
            acc[k] += (wk * xk) as f64;
        }
    }
    for (w, x) in cw.remainder().chunks_exact(2).zip(cx.remainder().chunks_exact(2)) {
        let p = widen(u16::from_le_bytes([w[0], w[1]])) * widen(u16::from_le_bytes([x[0], x[1]]));
        acc[0] += p as f64;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) as f32
}

/// Decodes a row of f32 / f16 / bf16 values (`src.len() == width * out.len()`, checked by
/// the caller).
pub fn dequantize_f32_row(src: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(src.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// See [`dequantize_f32_row`]; `widen` is [`f16_to_f32`] or [`bf16_to_f32`].
pub fn dequantize_half_row(src: &[u8], out: &mut [f32], widen: fn(u16) -> f32) {
    for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
        *o = widen(u16::from_le_bytes([b[0], b[1]]));
    }
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
        for h in 0..=u16::MAX {
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
        for _ in 0..200_000 {
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
    fn dot_f32_matches_f64_sum() {
        let a: [f32; 7] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5];
        let b: [f32; 7] = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 4.0];
        assert_eq!(dot_f32(&a, &b), -1.0);
    }
}
