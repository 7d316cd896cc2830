//! The 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) and the float formats
//! (F16, BF16), encoded exactly as ggml's reference quantizers (`quantize_row_*_ref` in
//! ggml-quants.c) do when llama-quantize runs without an importance matrix. Each function
//! takes whole blocks of `x` and fills `out`, whose length the caller sized with
//! `GgmlType::row_bytes`; the float arithmetic follows the C expression order so that the
//! bytes are identical.

use armlet_core::quant::{f32_to_bf16, f32_to_f16};

pub const QK: usize = 32;

/// The element of largest magnitude (the first one on ties), as ggml's `amax`/`max` scan.
fn signed_absmax(block: &[f32]) -> f32 {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in block {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// The smallest and largest element (ggml starts from FLT_MAX / -FLT_MAX).
fn min_max(block: &[f32]) -> (f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in block {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 {
        1.0 / d
    } else {
        0.0
    }
}

fn put_f16(out: &mut [u8], at: usize, v: f32) {
    out[at..at + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
}

/// Symmetric 4-bit: d = max / -8, codes (x/d + 8.5) truncated, capped at 15.
pub fn quantize_q4_0(x: &[f32], out: &mut [u8]) {
    for (b, o) in x.chunks_exact(QK).zip(out.chunks_exact_mut(18)) {
        let d = signed_absmax(b) / -8.0;
        let id = inverse(d);
        put_f16(o, 0, d);
        for j in 0..QK / 2 {
            // C casts the float to int8_t (truncation); the values lie in [0, 17).
            let lo = ((b[j] * id + 8.5) as i8).min(15) as u8;
            let hi = ((b[j + QK / 2] * id + 8.5) as i8).min(15) as u8;
            o[2 + j] = lo | (hi << 4);
        }
    }
}

/// Asymmetric 4-bit: d = (max - min) / 15, m = min.
pub fn quantize_q4_1(x: &[f32], out: &mut [u8]) {
    for (b, o) in x.chunks_exact(QK).zip(out.chunks_exact_mut(20)) {
        let (min, max) = min_max(b);
        let d = (max - min) / 15.0;
        let id = inverse(d);
        put_f16(o, 0, d);
        put_f16(o, 2, min);
        for j in 0..QK / 2 {
            let lo = (((b[j] - min) * id + 0.5) as i8).min(15) as u8;
            let hi = (((b[j + QK / 2] - min) * id + 0.5) as i8).min(15) as u8;
            o[4 + j] = lo | (hi << 4);
        }
    }
}

/// Symmetric 5-bit: d = max / -16; the fifth bits go to a 32-bit mask.
pub fn quantize_q5_0(x: &[f32], out: &mut [u8]) {
    for (b, o) in x.chunks_exact(QK).zip(out.chunks_exact_mut(22)) {
        let d = signed_absmax(b) / -16.0;
        let id = inverse(d);
        put_f16(o, 0, d);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let lo = ((b[j] * id + 16.5) as i8).min(31) as u8;
            let hi = ((b[j + QK / 2] * id + 16.5) as i8).min(31) as u8;
            o[6 + j] = (lo & 0x0f) | ((hi & 0x0f) << 4);
            qh |= (((lo & 0x10) >> 4) as u32) << j;
            qh |= (((hi & 0x10) >> 4) as u32) << (j + QK / 2);
        }
        o[2..6].copy_from_slice(&qh.to_le_bytes());
    }
}

/// Asymmetric 5-bit: d = (max - min) / 31, m = min (no cap on the code, as in ggml).
pub fn quantize_q5_1(x: &[f32], out: &mut [u8]) {
    for (b, o) in x.chunks_exact(QK).zip(out.chunks_exact_mut(24)) {
        let (min, max) = min_max(b);
        let d = (max - min) / 31.0;
        let id = inverse(d);
        put_f16(o, 0, d);
        put_f16(o, 2, min);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let lo = ((b[j] - min) * id + 0.5) as u8;
            let hi = ((b[j + QK / 2] - min) * id + 0.5) as u8;
            o[8 + j] = (lo & 0x0f) | ((hi & 0x0f) << 4);
            qh |= (((lo & 0x10) >> 4) as u32) << j;
            qh |= (((hi & 0x10) >> 4) as u32) << (j + QK / 2);
        }
        o[4..8].copy_from_slice(&qh.to_le_bytes());
    }
}

/// Symmetric 8-bit: d = amax / 127, codes rounded half away from zero.
pub fn quantize_q8_0(x: &[f32], out: &mut [u8]) {
    for (b, o) in x.chunks_exact(QK).zip(out.chunks_exact_mut(34)) {
        let amax = b.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = inverse(d);
        put_f16(o, 0, d);
        for (q, &v) in o[2..].iter_mut().zip(b) {
            *q = (v * id).round() as i8 as u8;
        }
    }
}

/// IEEE half precision, round to nearest even.
pub fn quantize_f16(x: &[f32], out: &mut [u8]) {
    for (&v, o) in x.iter().zip(out.chunks_exact_mut(2)) {
        o.copy_from_slice(&f32_to_f16(v).to_le_bytes());
    }
}

/// bfloat16, round to nearest even.
pub fn quantize_bf16(x: &[f32], out: &mut [u8]) {
    for (&v, o) in x.iter().zip(out.chunks_exact_mut(2)) {
        o.copy_from_slice(&f32_to_bf16(v).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use armlet_core::quant::{dequantize_row, GgmlType};

    type Encoder = fn(&[f32], &mut [u8]);
    /// Encoder, step relative to the block's largest magnitude, allowed error in steps (the
    /// symmetric _0 formats have codes -8..7 / -16..15 with the largest magnitude mapped to
    /// the negative end, so an opposite-signed value of the same size is clipped by a step).
    const ENCODERS: [(GgmlType, Encoder, f32, f32); 7] = [
        (GgmlType::Q4_0, quantize_q4_0, 1.0 / 8.0, 1.01),
        (GgmlType::Q4_1, quantize_q4_1, 2.0 / 15.0, 0.51),
        (GgmlType::Q5_0, quantize_q5_0, 1.0 / 16.0, 1.01),
        (GgmlType::Q5_1, quantize_q5_1, 2.0 / 31.0, 0.51),
        (GgmlType::Q8_0, quantize_q8_0, 1.0 / 127.0, 0.51),
        (GgmlType::F16, quantize_f16, 1.0 / 1024.0, 0.51),
        (GgmlType::BF16, quantize_bf16, 1.0 / 128.0, 0.51),
    ];

    /// Each value comes back within its format's rounding error, and zeros stay zero.
    #[test]
    fn every_value_is_within_half_a_step() {
        let x: Vec<f32> = (0..2 * QK).map(|i| ((i * 29 % 31) as f32 - 15.0) / 15.0 * if i < QK { 1.0 } else { 0.01 }).collect();
        for (ty, enc, step, steps) in ENCODERS {
            let mut bytes = vec![0u8; ty.row_bytes(x.len() as u64).unwrap() as usize];
            let mut y = vec![0f32; x.len()];
            enc(&[0.0; 2 * QK], &mut bytes);
            dequantize_row(ty, &bytes, &mut y).unwrap();
            assert!(y.iter().all(|&v| v == 0.0), "{ty:?} zeros");
            enc(&x, &mut bytes);
            dequantize_row(ty, &bytes, &mut y).unwrap();
            for (b, (xb, yb)) in x.chunks(QK).zip(y.chunks(QK)).enumerate() {
                let range = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (a, c) in xb.iter().zip(yb) {
                    assert!((a - c).abs() <= range * step * steps, "{ty:?} block {b}: {a} -> {c}");
                }
            }
        }
    }
}
