//! Row dequantization of every supported type against the `gguf` package's numpy reference
//! (vectors made by scripts/gen-quant-vectors.py, committed in core/testdata/quant/).

use armlet_core::quant::{dequantize_row, f16_to_f32, f32_to_f16, GgmlType};

macro_rules! vectors {
    ($name:literal) => {
        (
            &include_bytes!(concat!("../testdata/quant/", $name, ".blocks"))[..],
            &include_bytes!(concat!("../testdata/quant/", $name, ".f32"))[..],
        )
    };
}

fn check(ty: GgmlType, (blocks, want): (&[u8], &[u8])) {
    let nblocks = blocks.len() / ty.block_bytes();
    assert_eq!(nblocks * ty.block_bytes(), blocks.len());
    let n = nblocks * ty.block_size();
    assert_eq!(want.len(), 4 * n);
    let mut out = vec![0f32; n];
    // The whole file as one row, and block by block.
    dequantize_row(ty, blocks, &mut out).unwrap();
    let mut mismatches = 0;
    for (i, (got, w)) in out.iter().zip(want.chunks_exact(4)).enumerate() {
        let w = f32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let same = got.to_bits() == w.to_bits() || (got.is_nan() && w.is_nan());
        if !same {
            if mismatches < 5 {
                eprintln!("{} element {i}: got {got:e} ({:#x}) want {w:e} ({:#x})", ty.name(), got.to_bits(), w.to_bits());
            }
            mismatches += 1;
        }
    }
    assert_eq!(mismatches, 0, "{}: {mismatches} mismatches", ty.name());
    let mut one = vec![0f32; ty.block_size()];
    for (b, o) in blocks.chunks_exact(ty.block_bytes()).zip(out.chunks_exact(ty.block_size())) {
        dequantize_row(ty, b, &mut one).unwrap();
        assert!(one.iter().zip(o).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())));
    }
    // Wrong source length is an error, not a panic.
    assert!(dequantize_row(ty, &blocks[1..], &mut out).is_err());
}

#[test]
fn q4_0() { check(GgmlType::Q4_0, vectors!("Q4_0")); }
#[test]
fn q4_1() { check(GgmlType::Q4_1, vectors!("Q4_1")); }
#[test]
fn q5_0() { check(GgmlType::Q5_0, vectors!("Q5_0")); }
#[test]
fn q5_1() { check(GgmlType::Q5_1, vectors!("Q5_1")); }
#[test]
fn q8_0() { check(GgmlType::Q8_0, vectors!("Q8_0")); }
#[test]
fn q2_k() { check(GgmlType::Q2_K, vectors!("Q2_K")); }
#[test]
fn q3_k() { check(GgmlType::Q3_K, vectors!("Q3_K")); }
#[test]
fn q4_k() { check(GgmlType::Q4_K, vectors!("Q4_K")); }
#[test]
fn q5_k() { check(GgmlType::Q5_K, vectors!("Q5_K")); }
#[test]
fn q6_k() { check(GgmlType::Q6_K, vectors!("Q6_K")); }
#[test]
fn f16() { check(GgmlType::F16, vectors!("F16")); }
#[test]
fn bf16() { check(GgmlType::BF16, vectors!("BF16")); }

#[test]
fn f32_to_f16_matches_numpy() {
    let xs = include_bytes!("../testdata/quant/f32_to_f16.in");
    let hs = include_bytes!("../testdata/quant/f32_to_f16.out");
    for (x, h) in xs.chunks_exact(4).zip(hs.chunks_exact(2)) {
        let x = f32::from_le_bytes([x[0], x[1], x[2], x[3]]);
        let h = u16::from_le_bytes([h[0], h[1]]);
        assert_eq!(f32_to_f16(x), h, "x = {x:e}");
        assert_eq!(f16_to_f32(h).to_bits(), f16_to_f32(f32_to_f16(x)).to_bits());
    }
}
