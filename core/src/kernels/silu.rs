//! The FFN's activations over a vector: SiLU (the Mamba2 conv output and gate, the SwiGLU
//! gate), ggml's f16 GELU (the GeGLU gate of Gemma, [`gelu_in_place`]), and the gating
//! product. Each SiLU is an `e^x` (a chain of about twenty VFP11 operations), so the quads
//! in `e^x`'s main range go to the four-lane kernel `arm::asm_silu` through
//! [`super::silu_quads`]; [`silu_quads_portable`] is its specification, step for step
//! [`exp_main`]'s arithmetic.
#![forbid(unsafe_code)]

use crate::math::{exp_main, gelu_f16, outside_fast_range, silu};

/// The twin of the ARM kernel `asm_silu`: `x ← silu(x)` for the whole quads of `xs`, each
/// value in the fast range (|x| < 87.3365; others get some value).
pub fn silu_quads_portable(xs: &mut [f32]) {
    let whole = xs.len() - xs.len() % 4;
    for x in &mut xs[..whole] {
        *x = *x / (1.0 + exp_main(-*x));
    }
}

/// `x ← silu(x)` for every value: runs of quads in the fast range go to the kernel, the rest
/// one value at a time.
pub fn silu_in_place(xs: &mut [f32]) {
    let whole = xs.len() - xs.len() % 4;
    let (quads, tail) = xs.split_at_mut(whole);
    let mut rest = quads;
    while !rest.is_empty() {
        let fast = rest.chunks_exact(4).take_while(|q| !q.iter().any(|&v| outside_fast_range(v))).count() * 4;
        let (run, after) = rest.split_at_mut(fast);
        super::silu_quads(run);
        let (special, after) = after.split_at_mut(after.len().min(4));
        for x in special {
            *x = silu(*x);
        }
        rest = after;
    }
    for x in tail {
        *x = silu(*x);
    }
}

/// `x ← gelu(x)` for every value, as ggml's CPU backend computes it ([`gelu_f16`]).
pub fn gelu_in_place(xs: &mut [f32]) {
    for x in xs {
        *x = gelu_f16(*x);
    }
}

/// `y ← y · z` value by value.
pub fn multiply_in_place(ys: &mut [f32], zs: &[f32]) {
    for (y, z) in ys.iter_mut().zip(zs) {
        *y *= z;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silu_in_place_equals_the_scalar_form_around_special_values() {
        let xs: [f32; 11] = [-3.5, 0.25, 90.0, 7.0, 1e-6, -88.0, -2.0, f32::NAN, 4.0, -0.5, 30.0];
        let mut a = xs;
        silu_in_place(&mut a);
        for (x, y) in xs.iter().zip(a) {
            assert!(silu(*x).to_bits() == y.to_bits() || (y.is_nan() && x.is_nan()), "silu({x})");
        }
        let mut quads = [0.5f32, -1.5, 3.0, -40.0, 2e-5, 0.0, -0.0, 12.0];
        let expect = quads.map(silu);
        silu_quads_portable(&mut quads);
        assert_eq!(quads.map(f32::to_bits), expect.map(f32::to_bits));
    }
}
