//! The float formats' products (F32, F16, BF16 weights): llama.cpp's portable kernels for
//! them, each product rounded to f32 and the sums in f64 with four independent accumulators,
//! rounded once at the end. No ARM twin: VFP11 double adds are what they are, and F16 files
//! are not what a Pi runs.
#![forbid(unsafe_code)]

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_f32_matches_f64_sum() {
        let a: [f32; 7] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5];
        let b: [f32; 7] = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 4.0];
        assert_eq!(dot_f32(&a, &b), -1.0);
    }
}
