//! RMS normalisation, as ggml computes it: squares in f32 summed in f64, the mean rounded
//! to f32, then `x · (1/sqrt(mean + ε))` and a separate multiply by the weight
//! (falcon-h1.md 3.2(a)). Used by every architecture for the layer norms, the output norm
//! and the grouped norm of the Mamba2 mixer.
#![forbid(unsafe_code)]

use super::F32Vector;

/// `1 / sqrt(mean(x²) + eps)` with ggml's precision.
fn inverse_rms(x: &[f32], eps: f32) -> f32 {
    // One sequential f64 chain, exactly ggml's order: a reordered sum can move the f32 mean
    // by an ulp, which is enough to flip an activation's quantization code downstream. The
    // cost is ~E f64 adds per norm, negligible beside the matrix products.
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len().max(1) as f64) as f32;
    1.0 / libm::sqrtf(mean + eps)
}

/// `out[i] = (x[i] · s) · w[i]` with `s = 1/rms(x)`.
pub fn rms_norm(x: &[f32], w: F32Vector<'_>, eps: f32, out: &mut [f32]) {
    let s = inverse_rms(x, eps);
    for ((o, &v), w) in out.iter_mut().zip(x).zip(w.iter()) {
        *o = (v * s) * w;
    }
}

/// [`rms_norm`] in place.
pub fn rms_norm_in_place(x: &mut [f32], w: F32Vector<'_>, eps: f32) {
    let s = inverse_rms(x, eps);
    for (v, w) in x.iter_mut().zip(w.iter()) {
        *v = (*v * s) * w;
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
}
