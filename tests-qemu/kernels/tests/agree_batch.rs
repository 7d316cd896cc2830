//! The batched K-quant kernel (four tokens per weight block decoded once) against its
//! portable twin and against each token's own `matvec`, bit for bit (run under `qemu-arm
//! -cpu arm1176`: `cargo +nightly arm-test --profile release-test -p armlet-kernel-tests
//! --test agree_batch`; on the host the twin meets itself and `matvec`).

use armlet_core::kernels::{matmul, matmul4_kquant, matvec, portable};
use armlet_core::quant::{activation_bytes, quantize_activations, GgmlType, Matrix};
use armlet_kernel_tests::{f16_fields, random_activations, random_matrix, Rng};

fn same(what: &str, fast: &[f32], slow: &[f32]) {
    assert_eq!(fast.len(), slow.len(), "{what}: lengths");
    for (i, (f, s)) in fast.iter().zip(slow).enumerate() {
        assert!(
            f.to_bits() == s.to_bits() || (f.is_nan() && s.is_nan()),
            "{what} [{i}]: ARM {f:e} ({:#x}) portable {s:e} ({:#x})",
            f.to_bits(),
            s.to_bits()
        );
    }
}

/// One product of a matrix and four tokens (activations prepared for `prep`: Q4_K, or Q5_K
/// which shares its pair layout; scales `xscales`) through `matmul4_kquant` (the ARM kernel
/// on ARM) and through the portable twin.
fn check(data: &[u8], rows: usize, cols: usize, prep: GgmlType, rng: &mut Rng, xscales: [f32; 4], what: &str) {
    let ty = GgmlType::Q4_K;
    let rb = Matrix::new(ty, rows, cols, data).unwrap().row_bytes();
    let xs: Vec<Vec<f32>> = xscales.iter().map(|&s| random_activations(cols, rng, s)).collect();
    let mut bufs = vec![vec![0u8; activation_bytes(prep, cols).unwrap()]; 4];
    let prepared: Vec<_> = xs.iter().zip(bufs.iter_mut()).map(|(x, b)| quantize_activations(prep, x, b).unwrap()).collect();
    let acts = [prepared[0].bytes(), prepared[1].bytes(), prepared[2].bytes(), prepared[3].bytes()];
    let mut fast = vec![0f32; 4 * rows];
    matmul4_kquant(ty, data, rb, acts, rows, &mut fast);
    let mut slow = vec![0f32; 4 * rows];
    portable::matmul4_kquant(ty, data, rb, acts, rows, &mut slow);
    same(what, &fast, &slow);
}

#[test]
fn batched_q4k_kernel_agrees_with_its_twin() {
    let mut rng = Rng(0xba7c_4ed0_0000_0421);
    // 1-4 blocks a row go through the batched kernel (rows several to a call, and a call's
    // last rows); 5 and 18 blocks take the single-token path.
    for nb in [1usize, 2, 3, 4, 5, 18] {
        for rows in [1usize, 3, 7, 13, 40] {
            let cols = nb * 256;
            for extremes in [false, true] {
                let data = random_matrix(GgmlType::Q4_K, rows, cols, &mut rng, extremes);
                for prep in [GgmlType::Q4_K, GgmlType::Q5_K] {
                    for xscales in [[1.0f32, 1e-3, 300.0, 1.0], [0.0, 1.0, 0.0, 65000.0]] {
                        let what = format!("Q4_K {rows}x{cols} extremes {extremes} prepared for {} scales {xscales:?}", prep.name());
                        check(&data, rows, cols, prep, &mut rng, xscales, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn batched_q4k_kernel_agrees_on_all_min_all_max_quants() {
    let mut rng = Rng(0x0421);
    let ty = GgmlType::Q4_K;
    for fill in [0x00u8, 0xff, 0x55, 0xaa, 0x0f, 0xf0] {
        let (rows, cols) = (5, 3 * 256);
        let mut data = random_matrix(ty, rows, cols, &mut rng, false);
        // Keep the f16 scales, set every other byte (scales, mins, quants) to `fill`.
        let fields = f16_fields(ty);
        for b in data.chunks_exact_mut(ty.block_bytes()) {
            for (i, v) in b.iter_mut().enumerate() {
                if !fields.iter().any(|&o| i == o || i == o + 1) {
                    *v = fill;
                }
            }
        }
        check(&data, rows, cols, ty, &mut rng, [1.0, 127.0, -1.0, 1e-6], &format!("fill {fill:#x}"));
    }
}

/// `matmul` of batches of 4 to 16 tokens (one to four tiles, and a rest of 1-3) equals each token's
/// own `matvec` on the 90M model's shapes of Q4_K matrices.
#[test]
fn batched_q4k_products_equal_one_token_at_a_time() {
    let mut rng = Rng(0xba7c_4ed0_0000_0422);
    let ty = GgmlType::Q4_K;
    for (rows, cols) in [(128, 512), (24, 768), (37, 1024)] {
        let data = random_matrix(ty, rows, cols, &mut rng, false);
        let w = Matrix::new(ty, rows, cols, &data).unwrap();
        for n in [4usize, 5, 8, 11, 12, 16] {
            let xs: Vec<Vec<f32>> = (0..n).map(|_| random_activations(cols, &mut rng, 1.0)).collect();
            let mut bufs = vec![vec![0u8; activation_bytes(ty, cols).unwrap()]; n];
            let acts: Vec<_> = xs.iter().zip(bufs.iter_mut()).map(|(x, b)| quantize_activations(ty, x, b).unwrap()).collect();
            let mut batched = vec![0f32; n * rows];
            matmul(&w, &acts, &mut batched).unwrap();
            for (t, a) in acts.iter().enumerate() {
                let mut single = vec![0f32; rows];
                matvec(&w, a, &mut single).unwrap();
                same(&format!("{rows}x{cols}, {n} tokens, token {t}"), &batched[t * rows..(t + 1) * rows], &single);
            }
        }
    }
}
