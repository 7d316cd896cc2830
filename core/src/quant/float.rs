//! The float weight formats (F32, F16, BF16): rows decoded to f32 (the embedding lookup).
//! The conversions themselves are `math::half`; the dot products are `kernels::float`.
#![forbid(unsafe_code)]

/// Decodes a row of f32 / f16 / bf16 values (`src.len() == width * out.len()`, checked by
/// the caller).
pub fn dequantize_f32_row(src: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(src.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// See [`dequantize_f32_row`]; `widen` is [`f16_to_f32`](crate::math::f16_to_f32) or
/// [`bf16_to_f32`](crate::math::bf16_to_f32).
pub fn dequantize_half_row(src: &[u8], out: &mut [f32], widen: fn(u16) -> f32) {
    for (o, b) in out.iter_mut().zip(src.chunks_exact(2)) {
        *o = widen(u16::from_le_bytes([b[0], b[1]]));
    }
}
