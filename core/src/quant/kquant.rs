//! The K-quant weight blocks (256-element superblocks): Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. Block
//! layouts as byte offsets into the file encoding, exact row dequantization (ggml's
//! `to_float`), the sub-block scale decoding, and the portable dot products against Q8_K
//! activations (the specification the ARM kernels in `arm/` must match bit for bit).
//!
//! Float order per superblock (shared by every kernel through [`finish_block`]):
//! - Q2_K, Q4_K, Q5_K: `(dw·dx)·f32(isum) − (dmin·dx)·f32(Σ min·bsum)`
//! - Q3_K, Q6_K: `(dw·dx)·f32(isum)` with the −4 / −32 code offsets inside `isum`
//!
//! and superblock `b` of a row goes to partial sum `b % 4` ([`super::RowSum`]).
#![forbid(unsafe_code)]

use super::float::f16_to_f32;
use super::q8::{Q8KBlock, Q8K_BLOCK_BYTES, QK_K};
use super::{GgmlType, RowSum};

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
fn byte(b: &[u8], i: usize) -> u8 {
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

/// The per-superblock scale data every kernel needs: the sub-block scales as i32 (16 of them;
/// Q4_K/Q5_K use the first 8 for their 32-wide sub-blocks), the min correction
/// `Σ min · bsum` (Q2_K/Q4_K/Q5_K), and the f16 `d`, `dmin`.
#[derive(Clone, Copy)]
pub struct BlockScales {
    pub sc: [i32; 16],
    pub msum: i32,
    pub d: f32,
    pub dmin: f32,
}

#[inline(always)]
pub fn block_scales(ty: GgmlType, b: &[u8], bsums: &[i16; 16]) -> BlockScales {
    let mut sc = [0i32; 16];
    let mut msum = 0i32;
    let (d, dmin);
    match ty {
        GgmlType::Q2_K => {
            for j in 0..16 {
                let s = byte(b, Q2_K_SCALES + j);
                sc[j] = (s & 0xf) as i32;
                msum += (s >> 4) as i32 * bsums[j] as i32;
            }
            d = f16_at(b, Q2_K_D);
            dmin = f16_at(b, Q2_K_D + 2);
        }
        GgmlType::Q3_K => {
            sc = scales_q3_k(b.get(Q3_K_SCALES..Q3_K_SCALES + 12).unwrap_or(&[]));
            d = f16_at(b, Q3_K_D);
            dmin = 0.0;
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            let (s, m) = scales_mins_k4(b.get(Q4_K_SCALES..Q4_K_SCALES + 12).unwrap_or(&[]));
            for j in 0..8 {
                sc[j] = s[j] as i32;
                msum += m[j] as i32 * (bsums[2 * j] as i32 + bsums[2 * j + 1] as i32);
            }
            d = f16_at(b, 0);
            dmin = f16_at(b, 2);
        }
        _ => {
            for j in 0..16 {
                sc[j] = byte(b, Q6_K_SCALES + j) as i8 as i32;
            }
            d = f16_at(b, Q6_K_D);
            dmin = 0.0;
        }
    }
    BlockScales { sc, msum, d, dmin }
}

/// The float part of one superblock product (see the module doc).
#[inline(always)]
pub fn finish_block(ty: GgmlType, isum: i32, s: &BlockScales, dx: f32) -> f32 {
    match ty {
        GgmlType::Q3_K | GgmlType::Q6_K => (s.d * dx) * isum as f32,
        _ => (s.d * dx) * isum as f32 - (s.dmin * dx) * s.msum as f32,
    }
}

/// Portable dot of one K-quant row with the standard Q8_K blocks (the specification).
pub fn vec_dot_row(ty: GgmlType, row: &[u8], act: &[u8]) -> f32 {
    let mut sum = RowSum::default();
    let sub = if matches!(ty, GgmlType::Q4_K | GgmlType::Q5_K) { 32 } else { 16 };
    for (i, (b, a)) in row
        .chunks_exact(block_bytes(ty))
        .zip(act.chunks_exact(Q8K_BLOCK_BYTES))
        .enumerate()
    {
        let Ok(a) = <&[u8; Q8K_BLOCK_BYTES]>::try_from(a) else { continue };
        let y = Q8KBlock::parse(a);
        let s = block_scales(ty, b, &y.bsums);
        let q = block_codes(ty, b);
        let mut isum = 0i32;
        for (j, (qw, qx)) in q.chunks_exact(sub).zip(y.qs.chunks_exact(sub)).enumerate() {
            let mut d = 0i32;
            for (w, x) in qw.iter().zip(qx) {
                d += *w as i32 * (*x as i8 as i32);
            }
            isum += s.sc[j] * d;
        }
        sum.add(i, finish_block(ty, isum, &s, y.d));
    }
    sum.finish()
}

/// `out[r] = row r . act` for all rows (validated by the caller). `prepared_for` is the weight
/// type the activations were quantized for: its permuted copy feeds the ARM kernel of that
/// type; any other K-quant uses the standard blocks (same result, bit for bit).
pub fn matvec(ty: GgmlType, prepared_for: GgmlType, w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    let nb = rb / block_bytes(ty);
    let std_len = nb * Q8K_BLOCK_BYTES;
    let (std_part, pairs) = act.split_at(std_len.min(act.len()));
    let same_layout = super::q8::layout_id(ty) == super::q8::layout_id(prepared_for);
    if same_layout && super::arm::has_kquant_kernel(ty) {
        super::arm::matvec_kquant(ty, w, rb, std_part, pairs, out);
    } else {
        for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
            *o = vec_dot_row(ty, row, std_part);
        }
    }
}
