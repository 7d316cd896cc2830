//! The activation formats SmolLM2's products depend on (falcon-h1.md 6.3; the Belgium
//! answer flips without them), checked through the quant layer's public API only:
//! Q4_1 rows are multiplied against activations quantized to Q8_1 whose block sum is
//! `f16(d · Σq)` with the f32 scale `d` (not its f16 rounding), and Q8_0 rows (the tied
//! output head) against Q8_0 activations.

use armlet_core::kernels;
use armlet_core::quant::{self, f16_to_f32, f32_to_f16, GgmlType, Matrix};

fn r16(x: f32) -> f32 {
    f16_to_f32(f32_to_f16(x))
}

/// `W·x` for a one-row matrix of 32 columns.
fn product(ty: GgmlType, row: &[u8], x: &[f32; 32]) -> f32 {
    let w = Matrix::new(ty, 1, 32, row).expect("one block");
    let mut scratch = vec![0u8; quant::activation_bytes(ty, 32).expect("supported")];
    let act = quant::quantize_activations(ty, x, &mut scratch).expect("quantize");
    let mut out = [0f32];
    kernels::matvec(&w, &act, &mut out).expect("matvec");
    out[0]
}

#[test]
fn partner_formats() {
    assert_eq!(quant::activation_type(GgmlType::Q4_1), GgmlType::Q8_1);
    assert_eq!(quant::activation_type(GgmlType::Q5_1), GgmlType::Q8_1);
    assert_eq!(quant::activation_type(GgmlType::Q8_0), GgmlType::Q8_0);
}

/// A Q4_1 block with scale 0 and minimum 1 makes `W·x` equal the activations' block sum
/// `s` exactly (`(dw·dx)·isum + mw·s` with `dw = 0`, `mw = 1`).
#[test]
fn q4_1_uses_the_q8_1_block_sum_of_the_f32_scale() {
    let mut row = [0u8; 20];
    row[2..4].copy_from_slice(&f32_to_f16(1.0).to_le_bytes());

    // x = q/127 with max |x| = 1: the quants are exactly q, the f32 scale is 1/127. Find a
    // quant sum for which f16(d·Σq) and f16(f16(d)·Σq) differ, so the test tells them apart.
    let d = 1.0f32 / 127.0;
    let sum = (128..3000).find(|&s| r16(d * s as f32) != r16(r16(d) * s as f32)).expect("a distinguishing sum");
    let mut q = [0i32; 32];
    q[0] = 127;
    let mut rest = sum - 127;
    for v in q.iter_mut().skip(1) {
        *v = rest.min(100);
        rest -= *v;
    }
    assert_eq!(rest, 0, "sum {sum} fits 31 quants of at most 100");
    let x: [f32; 32] = core::array::from_fn(|i| q[i] as f32 / 127.0);

    let got = product(GgmlType::Q4_1, &row, &x);
    let with_f32_scale = r16(d * sum as f32);
    let with_f16_scale = r16(r16(d) * sum as f32);
    assert_eq!(got, with_f32_scale, "block sum {sum}: with the f16 scale it would be {with_f16_scale}");
    assert_ne!(got, with_f16_scale);
}

/// A Q8_0 row selecting element 0 returns its Q8_0 activation `f16(d)·q`, not `x[0]`.
#[test]
fn q8_0_rows_use_q8_0_activations() {
    let mut row = [0u8; 34];
    row[0..2].copy_from_slice(&f32_to_f16(1.0).to_le_bytes());
    row[2] = 1; // quant 0 = 1, the others 0
    let mut x = [0.25f32; 32];
    x[0] = 1.0;
    let got = product(GgmlType::Q8_0, &row, &x);
    let quantized = r16(1.0 / 127.0) * 127.0;
    assert_eq!(got, quantized);
    assert_ne!(got, x[0], "the activations were used as floats");
}
