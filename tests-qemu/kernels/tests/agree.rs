//! The ARM kernels against their portable twins, bit for bit (run under
//! `qemu-arm -cpu arm1176`: `cargo +nightly arm-test --profile release-test -p
//! armlet-kernel-tests`). On the host only the twins' agreement with the public `matvec` runs.

use armlet_core::quant::{activation_bytes, matvec, quantize_activations, GgmlType, Matrix};
use armlet_kernel_tests::{random_activations, random_matrix, Rng, HOT_TYPES};

/// Runs one product through `matvec` (the ARM kernel on ARM) and through the portable twin.
fn both(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng, extremes: bool, xscale: f32) -> (Vec<f32>, Vec<f32>) {
    let data = random_matrix(ty, rows, cols, rng, extremes);
    let w = Matrix::new(ty, rows, cols, &data).unwrap();
    let x = random_activations(cols, rng, xscale);
    let mut buf = vec![0u8; activation_bytes(ty, cols).unwrap()];
    let a = quantize_activations(ty, &x, &mut buf).unwrap();
    let mut fast = vec![0f32; rows];
    matvec(&w, &a, &mut fast).unwrap();
    let mut slow = vec![0f32; rows];
    let rb = w.row_bytes();
    let bytes = a.bytes();
    use armlet_core::quant::arm::portable;
    match ty {
        GgmlType::Q8_0 => portable::matvec_q8_0(&data, rb, bytes, &mut slow),
        GgmlType::Q4_1 => portable::matvec_q4_1(&data, rb, bytes, &mut slow),
        GgmlType::Q4_0 => portable::matvec_legacy(ty, &data, rb, bytes, &mut slow),
        _ => {
            let std_len = cols / 256 * armlet_core::quant::q8::Q8K_BLOCK_BYTES;
            portable::matvec_kquant(ty, &data, rb, &bytes[..std_len], &bytes[std_len..], &mut slow)
        }
    }
    (fast, slow)
}

fn same(ty: GgmlType, fast: &[f32], slow: &[f32]) {
    for (r, (f, s)) in fast.iter().zip(slow).enumerate() {
        assert!(
            f.to_bits() == s.to_bits() || (f.is_nan() && s.is_nan()),
            "{} row {r}: ARM {f:e} ({:#x}) portable {s:e} ({:#x})",
            ty.name(),
            f.to_bits(),
            s.to_bits()
        );
    }
}

#[test]
fn arch_is_reported() {
    eprintln!("running on {}", std::env::consts::ARCH);
}

#[test]
fn hot_kernels_agree_on_random_blocks() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for ty in HOT_TYPES {
        let cols = if ty.block_size() == 256 { 1024 } else { 512 };
        for xscale in [1.0f32, 1e-3, 300.0] {
            let (f, s) = both(ty, 17, cols, &mut rng, false, xscale);
            same(ty, &f, &s);
        }
    }
}

#[test]
fn hot_kernels_agree_on_extreme_blocks() {
    let mut rng = Rng(0x0bad_cafe_0000_0002);
    for ty in HOT_TYPES {
        let cols = if ty.block_size() == 256 { 2304 } else { 576 };
        let (f, s) = both(ty, 23, cols, &mut rng, true, 1.0);
        same(ty, &f, &s);
        // all-zero activations
        let (f, s) = both(ty, 5, cols, &mut rng, true, 0.0);
        same(ty, &f, &s);
    }
}

#[test]
fn hot_kernels_agree_on_all_min_all_max_quants() {
    let mut rng = Rng(77);
    for ty in HOT_TYPES {
        let cols = ty.block_size() * 2;
        for fill in [0x00u8, 0xff, 0x55, 0xaa] {
            let mut data = random_matrix(ty, 3, cols, &mut rng, false);
            // Keep the f16 scales, set every other byte to `fill`.
            let fields = armlet_kernel_tests::f16_fields(ty);
            for b in data.chunks_exact_mut(ty.block_bytes()) {
                for (i, v) in b.iter_mut().enumerate() {
                    if !fields.iter().any(|&o| i == o || i == o + 1) {
                        *v = fill;
                    }
                }
            }
            let w = Matrix::new(ty, 3, cols, &data).unwrap();
            let x = random_activations(cols, &mut rng, 1.0);
            let mut buf = vec![0u8; activation_bytes(ty, cols).unwrap()];
            let a = quantize_activations(ty, &x, &mut buf).unwrap();
            let mut fast = vec![0f32; 3];
            matvec(&w, &a, &mut fast).unwrap();
            let mut slow = vec![0f32; 3];
            for (r, o) in slow.iter_mut().enumerate() {
                let row = w.row(r).unwrap();
                *o = match ty {
                    GgmlType::Q8_0 | GgmlType::Q4_1 | GgmlType::Q4_0 => armlet_core::quant::legacy::vec_dot_row(ty, row, a.bytes()),
                    _ => armlet_core::quant::kquant::vec_dot_row(ty, row, a.bytes()),
                };
            }
            same(ty, &fast, &slow);
        }
    }
}

#[test]
fn hot_kernels_agree_across_kernel_calls_and_partial_groups() {
    // Rows longer than one kernel call (16 superblocks / 32 legacy blocks), and row lengths
    // that leave 1, 2 or 3 blocks after the groups of 4.
    let mut rng = Rng(0x1234_5678_9abc_def0);
    for ty in HOT_TYPES {
        let shapes: &[usize] = if ty.block_size() == 256 { &[18, 5, 2, 7] } else { &[41, 35, 6, 3] };
        for &nb in shapes {
            let cols = nb * ty.block_size();
            let (f, s) = both(ty, 6, cols, &mut rng, false, 1.0);
            same(ty, &f, &s);
        }
    }
}

#[test]
fn activations_prepared_for_another_type_give_the_same_bits() {
    // Q8_0 and Q4_0 weights with Q8_0 activations prepared for Q5_0 (no pair copy), Q4_1
    // weights with Q8_1 activations prepared for Q5_1: the portable path, equal to the ARM
    // kernel's bits.
    let mut rng = Rng(99);
    for (ty, other) in [(GgmlType::Q8_0, GgmlType::Q5_0), (GgmlType::Q4_0, GgmlType::Q5_0), (GgmlType::Q4_1, GgmlType::Q5_1)] {
        let data = random_matrix(ty, 5, 256, &mut rng, false);
        let w = Matrix::new(ty, 5, 256, &data).unwrap();
        let x = random_activations(256, &mut rng, 1.0);
        let mut b1 = vec![0u8; activation_bytes(ty, 256).unwrap()];
        let mut b2 = vec![0u8; activation_bytes(other, 256).unwrap()];
        let (mut o1, mut o2) = ([0f32; 5], [0f32; 5]);
        matvec(&w, &quantize_activations(ty, &x, &mut b1).unwrap(), &mut o1).unwrap();
        matvec(&w, &quantize_activations(other, &x, &mut b2).unwrap(), &mut o2).unwrap();
        same(ty, &o1, &o2);
    }
}

// The host dequantization and dot tests, run again here (on ARM under qemu).
#[path = "../../../core/tests/quant_vectors.rs"]
mod quant_vectors;
#[path = "../../../core/tests/quant_dot.rs"]
mod quant_dot;
