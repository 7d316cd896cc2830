//! Products of the 32-element "legacy" weight blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with Q8_0 /
//! Q8_1 activations, in llama.cpp's float order per type ([`finish_block`]), block `b` of a
//! row into partial sum `b % 4` (`RowSum`). [`vec_dot_row`] is the specification the ARM
//! kernels of Q8_0, Q4_1 and Q4_0 (`arm::asm_legacy`) and of Q5_0 and Q5_1 (`arm::asm_q5`)
//! match bit for bit.
#![forbid(unsafe_code)]

use super::RowSum;
use crate::quant::legacy::{block_bytes, block_codes, f16_at};
use crate::quant::q8::{act_block, Q8_BLOCK_BYTES};
use crate::quant::GgmlType;

/// The float part of one block product, in llama.cpp's order for the type. `isum` is the
/// integer dot of the codes (signed codes for Q4_0/Q5_0, i.e. `q - 8` / `q - 16`).
#[inline(always)]
pub fn finish_block(ty: GgmlType, isum: i32, dw: f32, mw: f32, dx: f32, sx: f32) -> f32 {
    match ty {
        GgmlType::Q8_0 => isum as f32 * (dw * dx),
        GgmlType::Q4_0 => (isum as f32 * dw) * dx,
        GgmlType::Q5_0 => (dw * dx) * isum as f32,
        _ => (dw * dx) * isum as f32 + mw * sx,
    }
}

/// The float value of one block product (weight block `b`, standard activation block `a`) in
/// llama.cpp's order: the term [`vec_dot_row`] adds to the block's partial sum.
#[inline(always)]
pub fn block_value(ty: GgmlType, b: &[u8], a: &[u8; Q8_BLOCK_BYTES]) -> f32 {
    let offset = match ty {
        GgmlType::Q4_0 => 8,
        GgmlType::Q5_0 => 16,
        _ => 0,
    };
    let (dx, sx, qx) = act_block(a);
    let q = block_codes(ty, b);
    let mut isum = 0i32;
    for (w, x) in q.iter().zip(qx) {
        isum += (w - offset) * (*x as i8 as i32);
    }
    let mw = if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) { f16_at(b, 2) } else { 0.0 };
    finish_block(ty, isum, f16_at(b, 0), mw, dx, sx)
}

/// Portable dot of one legacy row with Q8_0/Q8_1 activations (the specification).
pub fn vec_dot_row(ty: GgmlType, row: &[u8], act: &[u8]) -> f32 {
    let mut sum = RowSum::default();
    for (i, (b, a)) in row
        .chunks_exact(block_bytes(ty))
        .zip(act.chunks_exact(Q8_BLOCK_BYTES))
        .enumerate()
    {
        let Ok(a) = <&[u8; Q8_BLOCK_BYTES]>::try_from(a) else { continue };
        sum.add(i, block_value(ty, b, a));
    }
    sum.finish()
}

/// Every row of `w` (rows of `rb` bytes) dotted with `act` by [`vec_dot_row`]: the portable
/// twin of the ARM drivers, and the product of the types without an ARM kernel.
pub fn matvec_portable(ty: GgmlType, w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(w.chunks_exact(rb)) {
        *o = vec_dot_row(ty, row, act);
    }
}

/// `out[r] = row r . act` for all rows (validated by the caller: `w.len() = out.len() * rb`).
/// `prepared_for` is the weight type the activations were quantized for: when it is `ty`
/// itself and `ty` has an ARM kernel, the activations carry that kernel's pair copy.
pub fn matvec(ty: GgmlType, prepared_for: GgmlType, w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    match ty {
        GgmlType::Q8_0 if prepared_for == ty => super::matvec_q8_0(w, rb, act, out),
        GgmlType::Q4_1 if prepared_for == ty => super::matvec_q4_1(w, rb, act, out),
        GgmlType::Q4_0 if prepared_for == ty => super::matvec_q4_0(w, rb, act, out),
        GgmlType::Q5_0 if prepared_for == ty => super::matvec_q5_0(w, rb, act, out),
        GgmlType::Q5_1 if prepared_for == ty => super::matvec_q5_1(w, rb, act, out),
        _ => matvec_portable(ty, w, rb, act, out),
    }
}
