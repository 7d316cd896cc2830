//! The 32-element "legacy" weight blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0. Block layouts (byte
//! offsets in the file encoding), the code decoding and exact row dequantization (ggml's
//! `to_float`). Their products with Q8_0 / Q8_1 activations are `kernels::legacy`.
#![forbid(unsafe_code)]

use super::q8::QK8;
use super::GgmlType;
use crate::math::f16_to_f32;

pub const Q4_0_BYTES: usize = 18;
pub const Q4_1_BYTES: usize = 20;
pub const Q5_0_BYTES: usize = 22;
pub const Q5_1_BYTES: usize = 24;
pub const Q8_0_BYTES: usize = 34;

const _: () = {
    assert!(Q4_0_BYTES == 2 + QK8 / 2);
    assert!(Q4_1_BYTES == 4 + QK8 / 2);
    assert!(Q5_0_BYTES == 2 + 4 + QK8 / 2);
    assert!(Q5_1_BYTES == 4 + 4 + QK8 / 2);
    assert!(Q8_0_BYTES == 2 + QK8);
};

#[inline(always)]
pub(crate) fn f16_at(b: &[u8], off: usize) -> f32 {
    match b.get(off..off + 2) {
        Some(s) => f16_to_f32(u16::from_le_bytes([s[0], s[1]])),
        None => 0.0,
    }
}

#[inline(always)]
fn u32_at(b: &[u8], off: usize) -> u32 {
    match b.get(off..off + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Unsigned quant codes of one block (0..15 for Q4_x, 0..31 for Q5_x, i8 for Q8_0).
#[inline(always)]
pub fn block_codes(ty: GgmlType, b: &[u8]) -> [i32; QK8] {
    let mut q = [0i32; QK8];
    match ty {
        GgmlType::Q8_0 => {
            for (o, v) in q.iter_mut().zip(&b[2..]) {
                *o = *v as i8 as i32;
            }
        }
        _ => {
            let (qs_off, qh) = match ty {
                GgmlType::Q4_0 => (2, None),
                GgmlType::Q4_1 => (4, None),
                GgmlType::Q5_0 => (6, Some(u32_at(b, 2))),
                _ => (8, Some(u32_at(b, 4))),
            };
            let qs = b.get(qs_off..qs_off + 16).unwrap_or(&[0; 16]);
            for j in 0..16 {
                let mut lo = (qs[j] & 0x0f) as i32;
                let mut hi = (qs[j] >> 4) as i32;
                if let Some(h) = qh {
                    lo |= (((h >> j) & 1) << 4) as i32;
                    hi |= (((h >> (j + 16)) & 1) << 4) as i32;
                }
                q[j] = lo;
                q[j + 16] = hi;
            }
        }
    }
    q
}

/// Bytes per block of a legacy type.
pub fn block_bytes(ty: GgmlType) -> usize {
    match ty {
        GgmlType::Q4_0 => Q4_0_BYTES,
        GgmlType::Q4_1 => Q4_1_BYTES,
        GgmlType::Q5_0 => Q5_0_BYTES,
        GgmlType::Q5_1 => Q5_1_BYTES,
        _ => Q8_0_BYTES,
    }
}

/// Dequantizes a row (`src.len()` = blocks * block bytes, `out.len()` = blocks * 32).
pub fn dequantize_row(ty: GgmlType, src: &[u8], out: &mut [f32]) {
    for (b, o) in src.chunks_exact(block_bytes(ty)).zip(out.chunks_exact_mut(QK8)) {
        let d = f16_at(b, 0);
        let q = block_codes(ty, b);
        match ty {
            GgmlType::Q4_0 => o.iter_mut().zip(q).for_each(|(o, q)| *o = d * (q - 8) as f32),
            GgmlType::Q5_0 => o.iter_mut().zip(q).for_each(|(o, q)| *o = d * (q - 16) as f32),
            GgmlType::Q8_0 => o.iter_mut().zip(q).for_each(|(o, q)| *o = q as f32 * d),
            _ => {
                let m = f16_at(b, 2);
                o.iter_mut().zip(q).for_each(|(o, q)| *o = d * q as f32 + m);
            }
        }
    }
}
