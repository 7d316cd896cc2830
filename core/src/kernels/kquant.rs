//! Products of the K-quant weight blocks (Q2_K..Q6_K) with Q8_K activations. Float order
//! per superblock (shared by every kernel through [`finish_block`]):
//! - Q2_K, Q4_K, Q5_K: `(dw·dx)·f32(isum) − (dmin·dx)·f32(Σ min·bsum)`
//! - Q3_K, Q6_K: `(dw·dx)·f32(isum)` with the −4 / −32 code offsets inside `isum`
//!
//! and superblock `b` of a row goes to partial sum `b % 4` (`RowSum`). [`vec_dot_row`] is
//! the specification the ARM kernels (`arm::asm_q*`) match bit for bit.
#![forbid(unsafe_code)]

use super::RowSum;
use crate::quant::kquant::{
    block_bytes, block_codes, byte, f16_at, scales_mins_k4, scales_q3_k, Q2_K_D, Q2_K_SCALES, Q3_K_D, Q3_K_SCALES,
    Q4_K_SCALES, Q6_K_D, Q6_K_SCALES,
};
use crate::quant::q8::{layout_id, Q8KBlock, Q8K_BLOCK_BYTES};
use crate::quant::GgmlType;

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

/// Whether [`super::matvec_kquant`] has an ARM kernel for `ty` (every K-quant does).
pub fn has_kernel(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K)
}

/// Every row of `w` (rows of `rb` bytes) dotted with the standard Q8_K blocks `std_act` by
/// [`vec_dot_row`]: the portable twin of the ARM drivers (`pairs`, the permuted copy, is
/// theirs alone).
pub fn matvec_portable(ty: GgmlType, w: &[u8], rb: usize, std_act: &[u8], _pairs: &[u8], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        *o = vec_dot_row(ty, row, std_act);
    }
}

/// `out[r] = row r . act` for all rows (validated by the caller). `prepared_for` is the weight
/// type the activations were quantized for: its permuted copy feeds the ARM kernel of that
/// type; any other K-quant uses the standard blocks (same result, bit for bit).
pub fn matvec(ty: GgmlType, prepared_for: GgmlType, w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    let nb = rb / block_bytes(ty);
    let std_len = nb * Q8K_BLOCK_BYTES;
    let (std_part, pairs) = act.split_at(std_len.min(act.len()));
    if layout_id(ty) == layout_id(prepared_for) && has_kernel(ty) {
        super::matvec_kquant(ty, w, rb, std_part, pairs, out);
    } else {
        matvec_portable(ty, w, rb, std_part, pairs, out);
    }
}
