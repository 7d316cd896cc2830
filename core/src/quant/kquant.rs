//! The K-quant weight blocks (256-element superblocks): Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. Block
//! layouts as byte offsets into the file encoding, the sub-block scale and code decoding,
//! and exact row dequantization (ggml's `to_float`). Their products with Q8_K activations
//! are `kernels::kquant`.
#![forbid(unsafe_code)]

use super::q8::QK_K;
use super::GgmlType;
use crate::math::f16_to_f32;

pub const Q2_K_BYTES: usize = 84;
pub const Q3_K_BYTES: usize = 110;
pub const Q4_K_BYTES: usize = 144;
pub const Q5_K_BYTES: usize = 176;
pub const Q6_K_BYTES: usize = 210;

const _: () = {
    assert!(Q2_K_BYTES == QK_K / 16 + QK_K / 4 + 4);
    assert!(Q3_K_BYTES == QK_K / 8 + QK_K / 4 + 12 + 2);
    assert!(Q4_K_BYTES == 4 + 12 + QK_K / 2);
    assert!(Q5_K_BYTES == 4 + 12 + QK_K / 8 + QK_K / 2);
    assert!(Q6_K_BYTES == QK_K / 2 + QK_K / 4 + QK_K / 16 + 2);
};

// Field offsets inside each block.
pub const Q2_K_SCALES: usize = 0;
pub const Q2_K_QS: usize = 16;
pub const Q2_K_D: usize = 80;
pub const Q3_K_HMASK: usize = 0;
pub const Q3_K_QS: usize = 32;
pub const Q3_K_SCALES: usize = 96;
pub const Q3_K_D: usize = 108;
pub const Q4_K_SCALES: usize = 4;
pub const Q4_K_QS: usize = 16;
pub const Q5_K_QH: usize = 16;
pub const Q5_K_QS: usize = 48;
pub const Q6_K_QL: usize = 0;
pub const Q6_K_QH: usize = 128;
pub const Q6_K_SCALES: usize = 192;
pub const Q6_K_D: usize = 208;

/// Bytes per superblock of a K-quant type.
pub fn block_bytes(ty: GgmlType) -> usize {
    match ty {
        GgmlType::Q2_K => Q2_K_BYTES,
        GgmlType::Q3_K => Q3_K_BYTES,
        GgmlType::Q4_K => Q4_K_BYTES,
        GgmlType::Q5_K => Q5_K_BYTES,
        _ => Q6_K_BYTES,
    }
}

#[inline(always)]
pub fn f16_at(b: &[u8], off: usize) -> f32 {
    match b.get(off..off + 2) {
        Some(s) => f16_to_f32(u16::from_le_bytes([s[0], s[1]])),
        None => 0.0,
    }
}

#[inline(always)]
pub(crate) fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// Q4_K/Q5_K: the 8 six-bit scales and 8 six-bit mins packed in 12 bytes
/// (`get_scale_min_k4`).
#[inline(always)]
pub fn scales_mins_k4(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..4 {
        sc[j] = byte(s, j) & 63;
        m[j] = byte(s, j + 4) & 63;
        sc[j + 4] = (byte(s, j + 8) & 0xf) | ((byte(s, j) >> 6) << 4);
        m[j + 4] = (byte(s, j + 8) >> 4) | ((byte(s, j + 4) >> 6) << 4);
    }
    (sc, m)
}

/// Q3_K: the 16 six-bit scales, minus 32.
#[inline(always)]
pub fn scales_q3_k(s: &[u8]) -> [i32; 16] {
    let mut out = [0i32; 16];
    for (j, o) in out.iter_mut().enumerate() {
        let lo = (byte(s, j % 8) >> (4 * (j / 8))) & 0xf;
        let hi = (byte(s, 8 + j % 4) >> (2 * (j / 4))) & 3;
        *o = (lo | (hi << 4)) as i32 - 32;
    }
    out
}

/// The quant codes of one superblock, in element order: unsigned for Q2_K/Q4_K/Q5_K, signed
/// (offset removed) for Q3_K/Q6_K.
pub fn block_codes(ty: GgmlType, b: &[u8]) -> [i8; QK_K] {
    let mut q = [0i8; QK_K];
    match ty {
        GgmlType::Q2_K | GgmlType::Q3_K => {
            let qs_off = if ty == GgmlType::Q2_K { Q2_K_QS } else { Q3_K_QS };
            for (i, o) in q.iter_mut().enumerate() {
                let (h, s, l) = (i / 128, (i / 32) % 4, i % 32);
                let c = (byte(b, qs_off + 32 * h + l) >> (2 * s)) & 3;
                *o = if ty == GgmlType::Q2_K {
                    c as i8
                } else {
                    let hbit = (byte(b, Q3_K_HMASK + l) >> (i / 32)) & 1;
                    c as i8 - if hbit == 0 { 4 } else { 0 }
                };
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            let qs_off = if ty == GgmlType::Q4_K { Q4_K_QS } else { Q5_K_QS };
            for (i, o) in q.iter_mut().enumerate() {
                let (c, h, l) = (i / 64, (i / 32) % 2, i % 32);
                let mut v = (byte(b, qs_off + 32 * c + l) >> (4 * h)) & 0xf;
                if ty == GgmlType::Q5_K {
                    v |= ((byte(b, Q5_K_QH + l) >> (i / 32)) & 1) << 4;
                }
                *o = v as i8;
            }
        }
        _ => {
            for (i, o) in q.iter_mut().enumerate() {
                let (a, t) = (i / 128, i % 128);
                let lo = (byte(b, Q6_K_QL + 64 * a + t % 64) >> (4 * (t / 64))) & 0xf;
                let hi = (byte(b, Q6_K_QH + 32 * a + t % 32) >> (2 * (t / 32))) & 3;
                *o = (lo | (hi << 4)) as i8 - 32;
            }
        }
    }
    q
}

/// Dequantizes a row (`src.len()` = blocks * block bytes, `out.len()` = blocks * 256), with
/// the float expressions of `gguf.quants`.
pub fn dequantize_row(ty: GgmlType, src: &[u8], out: &mut [f32]) {
    for (b, o) in src.chunks_exact(block_bytes(ty)).zip(out.chunks_exact_mut(QK_K)) {
        let q = block_codes(ty, b);
        match ty {
            GgmlType::Q2_K => {
                let (d, dmin) = (f16_at(b, Q2_K_D), f16_at(b, Q2_K_D + 2));
                for j in 0..16 {
                    let s = byte(b, Q2_K_SCALES + j);
                    let dl = d * (s & 0xf) as f32;
                    let ml = dmin * (s >> 4) as f32;
                    for k in 16 * j..16 * j + 16 {
                        o[k] = dl * q[k] as f32 - ml;
                    }
                }
            }
            GgmlType::Q3_K => {
                let d = f16_at(b, Q3_K_D);
                let sc = scales_q3_k(b.get(Q3_K_SCALES..Q3_K_SCALES + 12).unwrap_or(&[]));
                for j in 0..16 {
                    let dl = d * sc[j] as f32;
                    for k in 16 * j..16 * j + 16 {
                        o[k] = dl * q[k] as f32;
                    }
                }
            }
            GgmlType::Q4_K | GgmlType::Q5_K => {
                let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
                let (sc, m) = scales_mins_k4(b.get(Q4_K_SCALES..Q4_K_SCALES + 12).unwrap_or(&[]));
                for j in 0..8 {
                    let dl = d * sc[j] as f32;
                    let ml = dmin * m[j] as f32;
                    for k in 32 * j..32 * j + 32 {
                        o[k] = dl * q[k] as f32 - ml;
                    }
                }
            }
            _ => {
                let d = f16_at(b, Q6_K_D);
                for j in 0..16 {
                    let dl = d * byte(b, Q6_K_SCALES + j) as i8 as f32;
                    for k in 16 * j..16 * j + 16 {
                        o[k] = dl * q[k] as f32;
                    }
                }
            }
        }
    }
}
