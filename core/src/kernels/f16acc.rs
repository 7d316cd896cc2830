//! Mode D's value accumulation (falcon-h1.md 6.2): `acc[i] ← r16(acc[i] + v[i]·vs)` for every
//! cached position, head and value dimension of an attention layer, where `r16` rounds to
//! binary16 precision and widens back ([`round_f16`]). The portable specification of the
//! ARM kernel `arm::asm_f16acc` ([`super::accumulate_rounded`] picks one).
#![forbid(unsafe_code)]

use crate::math::round_f16;

/// The twin of the ARM kernel: runs of eight sums are formed first, so the VFP latency of
/// each overlaps the others, and then rounded without a branch per value while all eight lie
/// in `2^-14 <= |x| < 2^15` (where rounding the f32 mantissa in place is exact); a run with
/// any other value takes [`round_f16`].
#[inline]
pub fn accumulate_rounded_portable(acc: &mut [f32], v: &[f32], vs: f32) {
    let mut runs = acc.chunks_exact_mut(8);
    let mut vals = v.chunks_exact(8);
    for (a8, v8) in runs.by_ref().zip(vals.by_ref()) {
        let (Ok(a8), Ok(v8)) = (<&mut [f32; 8]>::try_from(a8), <&[f32; 8]>::try_from(v8)) else { continue };
        let sums: [f32; 8] = core::array::from_fn(|j| a8[j] + v8[j] * vs);
        let mut outside = false;
        for (a, s) in a8.iter_mut().zip(sums) {
            let bits = s.to_bits();
            outside |= ((bits >> 23) & 0xff).wrapping_sub(113) > 141 - 113;
            *a = f32::from_bits((bits + 0xfff + ((bits >> 13) & 1)) & !0x1fff);
        }
        if outside {
            for (a, s) in a8.iter_mut().zip(sums) {
                *a = round_f16(s);
            }
        }
    }
    for (a, &v) in runs.into_remainder().iter_mut().zip(vals.remainder()) {
        *a = round_f16(*a + v * vs);
    }
}

/// The twin of the ARM kernel's heads variant: `acc` holds one accumulator of `v.len()`
/// values per value of `vs` (the heads of a token that share a value row), and each takes
/// [`accumulate_rounded_portable`] with its own `vs`.
#[inline]
pub fn accumulate_heads_portable(acc: &mut [f32], v: &[f32], vs: &[f32]) {
    for (a, &s) in acc.chunks_mut(v.len().max(1)).zip(vs) {
        accumulate_rounded_portable(a, v, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::accumulate_rounded;

    #[test]
    fn run_accumulation_equals_the_one_value_loop() {
        // 19 values (two runs and a tail) per case; magnitudes from f16-subnormal results
        // to overflow, so both the branch-free runs and the fallback are exercised.
        for (case, scale) in [1.0f32, 1e-6, 3e4, 7e4, 1e-9].into_iter().enumerate() {
            let acc0: [f32; 19] = core::array::from_fn(|i| scale * (i as f32 - 9.3) * 0.377);
            let v: [f32; 19] = core::array::from_fn(|i| scale * (1.0 + i as f32 * 0.123));
            let vs = 0.61803;
            let mut fast = acc0;
            accumulate_rounded(&mut fast, &v, vs);
            let one_by_one = core::array::from_fn::<f32, 19, _>(|i| round_f16(acc0[i] + v[i] * vs));
            assert_eq!(fast.map(f32::to_bits), one_by_one.map(f32::to_bits), "case {case}");
        }
    }
}
