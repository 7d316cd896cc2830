//! Shared helpers for the ARM-vs-portable kernel tests and the kernel benchmark: a seeded
//! generator of weight matrices (random blocks with ordinary, extreme and subnormal f16
//! scales, all-min and all-max quants) and activations.

use armlet_core::quant::{f32_to_f16, GgmlType};

/// xorshift64: deterministic, no dependencies.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Byte offsets of the f16 scale fields of one block.
pub fn f16_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// `rows x cols` weights of a quantized type. With `extremes`, blocks cycle through all-min
/// quants, all-max quants, f16 scales of +-65504, subnormal and zero scales.
pub fn random_matrix(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng, extremes: bool) -> Vec<u8> {
    let rb = ty.row_bytes(cols as u64).expect("block multiple") as usize;
    let mut data: Vec<u8> = (0..rows * rb).map(|_| rng.next() as u8).collect();
    for (bi, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
        if extremes {
            match bi % 9 {
                0 => b.iter_mut().for_each(|v| *v = 0x00),
                1 => b.iter_mut().for_each(|v| *v = 0xff),
                _ => {}
            }
        }
        for (k, &off) in f16_fields(ty).iter().enumerate() {
            let v = match (extremes, bi % 7) {
                (true, 0) => 65504.0,
                (true, 1) => -65504.0,
                (true, 2) => 1.0e-7,
                (true, 3) => 0.0,
                _ => 0.01 * (1.5 + rng.unit()),
            };
            let v = if k == 1 { -0.5 * v } else { v };
            b[off..off + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
        }
    }
    data
}

/// Activations with a few outliers (as real hidden states have).
pub fn random_activations(n: usize, rng: &mut Rng, scale: f32) -> Vec<f32> {
    (0..n).map(|i| rng.unit() * scale * if i % 61 == 0 { 20.0 } else { 1.0 }).collect()
}

/// The types with ARM kernels (the hot ones, Q4_0, and Gemma 3's Q5_0 and Q5_1).
pub const HOT_TYPES: [GgmlType; 10] = [
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q8_0,
    GgmlType::Q4_1,
    GgmlType::Q4_0,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
];
