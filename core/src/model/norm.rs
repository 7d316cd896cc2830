//! RMS normalisation, as ggml computes it: squares in f32 summed in f64, the mean rounded
//! to f32, then `x · (1/sqrt(mean + ε))` and a separate multiply by the weight
//! (falcon-h1.md 3.2(a)). Used by every architecture for the layer norms, the output norm
//! and the grouped norm of the Mamba2 mixer.
#![forbid(unsafe_code)]

use super::F32Vector;
use crate::kernels::vector::{scale_weighted, scale_weighted_in_place, sum_squares, sum_squares4};

/// `1 / sqrt(mean + eps)` of a row of `len` values whose squares sum to `sum`, with ggml's
/// precision.
fn inverse_rms_of(sum: f64, len: usize, eps: f32) -> f32 {
    let mean = (sum / len.max(1) as f64) as f32;
    1.0 / libm::sqrtf(mean + eps)
}

/// `1 / sqrt(mean(x²) + eps)` with ggml's precision.
fn inverse_rms(x: &[f32], eps: f32) -> f32 {
    // One sequential f64 chain, exactly ggml's order: a reordered sum can move the f32 mean
    // by an ulp, which is enough to flip an activation's quantization code downstream. Rows
    // of a batch run their chains side by side instead ([`rms_norm_rows`]).
    inverse_rms_of(sum_squares(x), x.len(), eps)
}

/// `out[i] = (x[i] · s) · w[i]`: the weights read in place when 4-aligned (GGUF tensor
/// data always is), else decoded from the bytes.
fn scale(x: &[f32], s: f32, w: F32Vector<'_>, out: &mut [f32]) {
    match w.as_slice() {
        Some(w) => scale_weighted(x, s, w, out),
        None => {
            for ((o, &v), w) in out.iter_mut().zip(x).zip(w.iter()) {
                *o = (v * s) * w;
            }
        }
    }
}

/// [`scale`] in place.
fn scale_in_place(x: &mut [f32], s: f32, w: F32Vector<'_>) {
    match w.as_slice() {
        Some(w) => scale_weighted_in_place(x, s, w),
        None => {
            for (v, w) in x.iter_mut().zip(w.iter()) {
                *v = (*v * s) * w;
            }
        }
    }
}

/// `out[i] = (x[i] · s) · w[i]` with `s = 1/rms(x)`.
pub fn rms_norm(x: &[f32], w: F32Vector<'_>, eps: f32, out: &mut [f32]) {
    scale(x, inverse_rms(x, eps), w, out);
}

/// [`rms_norm`] in place.
pub fn rms_norm_in_place(x: &mut [f32], w: F32Vector<'_>, eps: f32) {
    let s = inverse_rms(x, eps);
    scale_in_place(x, s, w);
}

/// [`rms_norm`] of the first `n` rows of `width` values of `x` into those of `out`, four
/// rows' sums side by side (each row's sum is its own chain in its own order, so every row
/// is what [`rms_norm`] makes of it).
pub fn rms_norm_rows(x: &[f32], w: F32Vector<'_>, eps: f32, width: usize, n: usize, out: &mut [f32]) {
    let width = width.max(1);
    let mut xs = x.chunks_exact(width).take(n);
    let mut outs = out.chunks_exact_mut(width);
    loop {
        let (Some(a), Some(b), Some(c), Some(d)) = (xs.next(), xs.next(), xs.next(), xs.next()) else { break };
        let sums = sum_squares4([a, b, c, d]);
        for (x, sum) in [a, b, c, d].into_iter().zip(sums) {
            let Some(out) = outs.next() else { return };
            scale(x, inverse_rms_of(sum, width, eps), w, out);
        }
    }
    // The rows after the last whole four (the iterator above took up to three of them).
    let done = n.min(x.len() / width) / 4 * 4;
    for (x, out) in x.chunks_exact(width).take(n).skip(done).zip(out.chunks_exact_mut(width).skip(done)) {
        rms_norm(x, w, eps, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_weight_gives_unit_rms() {
        let x = [3.0f32, -4.0, 0.0, 5.0, 1.0];
        let ones: [u8; 20] = core::array::from_fn(|i| 1f32.to_le_bytes()[i % 4]);
        let mut out = [0f32; 5];
        rms_norm(&x, F32Vector::new(&ones), 0.0, &mut out);
        let ms: f32 = out.iter().map(|v| v * v).sum::<f32>() / 5.0;
        assert!((ms - 1.0).abs() < 1e-6, "{ms}");
        let mut y = x;
        rms_norm_in_place(&mut y, F32Vector::new(&ones), 0.0);
        assert_eq!(y, out);
    }

    #[test]
    fn rows_side_by_side_equal_one_row_at_a_time() {
        const W: usize = 13;
        let x: [f32; W * 9] = core::array::from_fn(|i| ((i * 37 % 101) as f32 - 50.0) * 0.173 + i as f32 * 1e-3);
        // Weights 4-aligned (read in place) and one byte off (decoded from the bytes).
        let mut bytes = [0u32; W + 1];
        let raw: &mut [u8] = bytemuck::cast_slice_mut(&mut bytes);
        for i in 0..W + 1 {
            raw[4 * i..4 * i + 4].copy_from_slice(&(0.5 + i as f32 * 0.01).to_le_bytes());
        }
        for w in [F32Vector::new(&raw[..4 * W]), F32Vector::new(&raw[1..4 * W + 1])] {
            for n in 0..=9 {
                let mut got = [0f32; W * 9];
                rms_norm_rows(&x, w, 1e-5, W, n, &mut got);
                let mut want = [0f32; W * 9];
                for (x, o) in x.chunks_exact(W).zip(want.chunks_exact_mut(W)).take(n) {
                    let s = 1.0 / libm::sqrtf((x.iter().map(|&v| (v * v) as f64).sum::<f64>() / W as f64) as f32 + 1e-5);
                    for ((o, &v), w) in o.iter_mut().zip(x).zip(w.iter()) {
                        *o = (v * s) * w;
                    }
                }
                assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "n = {n}");
            }
        }
    }
}
