//! The batched kernels (Q4_K, Q5_K, Q2_K, Q3_K, Q6_K, Q4_1, Q4_0, Q8_0: four tokens per weight block decoded once)
//! against their portable twins and against each token's own `matvec`, bit for bit (run
//! under `qemu-arm -cpu arm1176`: `cargo +nightly arm-test --profile release-test -p
//! armlet-kernel-tests --test agree_batch`; on the host the twins meet themselves and
//! `matvec`).

use armlet_core::kernels::{matmul, matmul4_kquant, matmul4_legacy, matvec, portable};
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

/// One product of a `ty` (Q4_K or Q5_K) matrix and four tokens (activations prepared for
/// `prep`: Q4_K or Q5_K, which share their pair layout; scales `xscales`) through
/// `matmul4_kquant` (the ARM kernel on ARM) and through the portable twin.
fn check(ty: GgmlType, data: &[u8], rows: usize, cols: usize, prep: GgmlType, rng: &mut Rng, xscales: [f32; 4], what: &str) {
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
                        check(GgmlType::Q4_K, &data, rows, cols, prep, &mut rng, xscales, &what);
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
        check(ty, &data, rows, cols, ty, &mut rng, [1.0, 127.0, -1.0, 1e-6], &format!("fill {fill:#x}"));
    }
}

/// Many Q4_K rows of 1 to 4 blocks (rows of 2 and 3 blocks finish in
/// `asm_batch_k4finish`, straight into the four tokens' outputs): row counts that span
/// several kernel calls and end in a short call, with ordinary scales only and with special
/// f16 scales (zero, subnormal, infinity, NaN, the largest finite, in either field and
/// sign) planted in a few blocks, so some calls are all normal (asm) and others are redone
/// in Rust.
#[test]
fn batched_q4k_rows_agree_with_special_scales_planted() {
    let specials: [u16; 12] = [0x0000, 0x8000, 0x0001, 0x83ff, 0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x7bff, 0xfbff, 0x0400, 0x8400];
    let mut rng = Rng(0xba7c_4ed0_0000_0423);
    let ty = GgmlType::Q4_K;
    let fields = f16_fields(ty);
    for nb in 1usize..=4 {
        for rows in [1usize, 2, 5, 6, 7, 12, 13, 53, 101] {
            let cols = nb * 256;
            for plant in [0usize, 1, 3] {
                let mut data = random_matrix(ty, rows, cols, &mut rng, false);
                let blocks = rows * nb;
                for k in 0..plant {
                    let bi = (k * 37 + rows * 5 + nb) % blocks;
                    let h = specials[(k * 5 + rows + nb) % specials.len()];
                    let off = fields[(k + rows) % fields.len()];
                    let b = &mut data[bi * ty.block_bytes()..(bi + 1) * ty.block_bytes()];
                    b[off..off + 2].copy_from_slice(&h.to_le_bytes());
                }
                for xscales in [[1.0f32, 1e-3, 300.0, 1.0], [0.0, 1.0, 1e-30, 65000.0]] {
                    let what = format!("Q4_K {rows}x{cols} {plant} planted scales {xscales:?}");
                    check(GgmlType::Q4_K, &data, rows, cols, ty, &mut rng, xscales, &what);
                }
            }
        }
        // Rows whose value is -0 before the row sum's `+ 0` (negative `d`, positive `dmin`,
        // a token of zero activations): the sum must come out +0.
        {
            let (rows, cols) = (13, nb * 256);
            let mut data = random_matrix(ty, rows, cols, &mut rng, false);
            for (bi, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
                if (bi / nb) % 2 == 0 {
                    b[fields[0]..fields[0] + 2].copy_from_slice(&0xbc00u16.to_le_bytes());
                    b[fields[1]..fields[1] + 2].copy_from_slice(&0x3c00u16.to_le_bytes());
                }
            }
            check(GgmlType::Q4_K, &data, rows, cols, ty, &mut rng, [0.0; 4], &format!("Q4_K {rows}x{cols} zero sums"));
        }
        // Every special in each field of one block of a 7-row matrix.
        for &h in &specials {
            for &off in fields {
                let (rows, cols) = (7, nb * 256);
                let mut data = random_matrix(ty, rows, cols, &mut rng, false);
                let bi = 3 * nb + nb / 2;
                data[bi * ty.block_bytes() + off..bi * ty.block_bytes() + off + 2].copy_from_slice(&h.to_le_bytes());
                check(GgmlType::Q4_K, &data, rows, cols, ty, &mut rng, [1.0, -2.0, 0.5, 3.0], &format!("Q4_K {rows}x{cols} scale {h:#06x} at {off}"));
            }
        }
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

/// The batched kernel of `ty` against its twin on random blocks (with `extremes`: blocks
/// cycling through all-min and all-max fields), activations prepared for each of `preps`
/// (types of `ty`'s pair layout): rows of 1-4 blocks through the batched kernel (several
/// to a call, a call's last rows, and many calls: 100 rows), 5 and 18 blocks through the
/// single-token path.
fn twin_sweep(ty: GgmlType, seed: u64, preps: [GgmlType; 2]) {
    let mut rng = Rng(seed);
    for nb in [1usize, 2, 3, 4, 5, 18] {
        for rows in [1usize, 3, 7, 13, 40, 100] {
            if nb > 4 && rows > 13 {
                continue;
            }
            let cols = nb * 256;
            for extremes in [false, true] {
                let data = random_matrix(ty, rows, cols, &mut rng, extremes);
                for prep in preps {
                    for xscales in [[1.0f32, 1e-3, 300.0, 1.0], [0.0, 1.0, 0.0, 65000.0]] {
                        let what = format!("{} {rows}x{cols} extremes {extremes} prepared for {} scales {xscales:?}", ty.name(), prep.name());
                        check(ty, &data, rows, cols, prep, &mut rng, xscales, &what);
                    }
                }
            }
        }
    }
}

/// Every byte of `ty`'s blocks but the f16 scales set to one pattern (all quants, high bits,
/// scales and mins at their minimum or maximum, and alternating bits), rows of each of
/// `nbs` blocks, with activations at ±127; `more(fill, nb, rng)` runs the type's own
/// checks for each pattern.
fn fill_sweep(ty: GgmlType, seed: u64, nbs: &[usize], mut more: impl FnMut(u8, usize, &mut Rng)) {
    let mut rng = Rng(seed);
    let fields = f16_fields(ty);
    for fill in [0x00u8, 0xff, 0x55, 0xaa, 0x0f, 0xf0, 0x33, 0xcc] {
        for &nb in nbs {
            let (rows, cols) = (5, nb * 256);
            let mut data = random_matrix(ty, rows, cols, &mut rng, false);
            for b in data.chunks_exact_mut(ty.block_bytes()) {
                for (i, v) in b.iter_mut().enumerate() {
                    if !fields.iter().any(|&o| i == o || i == o + 1) {
                        *v = fill;
                    }
                }
            }
            for xscales in [[1.0f32, 127.0, -1.0, 1e-6], [-1.0, -1.0, -1.0, -1.0]] {
                check(ty, &data, rows, cols, ty, &mut rng, xscales, &format!("{} fill {fill:#x} {nb} blocks {xscales:?}", ty.name()));
            }
            more(fill, nb, &mut rng);
        }
    }
}

/// Every class of f16 scale (each of `ty`'s f16 fields) in both signs (zero, subnormal,
/// smallest and largest normal, infinity, NaN, ordinary values) in every block position;
/// with `planted`, also a few specials among ordinary rows (some calls all normal, the asm
/// float part, others redone in Rust) and rows summing to -0 (negative `d`, positive
/// `dmin`, a token of zero activations).
fn scale_class_sweep(ty: GgmlType, seed: u64, planted: bool) {
    let classes: [u16; 14] = [0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x8400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x3c00, 0xa1e7, 0x2b9d];
    let mut rng = Rng(seed);
    let fields = f16_fields(ty);
    let name = ty.name();
    for nb in [1usize, 2, 3, 4] {
        let (rows, cols) = (29, nb * 256);
        let mut data = random_matrix(ty, rows, cols, &mut rng, false);
        for (i, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
            for (k, &off) in fields.iter().enumerate() {
                let h = classes[(i * 5 + k * 3 + i / classes.len()) % classes.len()];
                b[off..off + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
        for xscales in [[1.0f32, 1.0, 1e-3, 300.0], [0.0, 1.0, 0.0, 0.0]] {
            check(ty, &data, rows, cols, ty, &mut rng, xscales, &format!("{name} scale classes {nb} blocks {xscales:?}"));
        }
        if !planted {
            continue;
        }
        for plant in [1usize, 3] {
            let rows = 53;
            let mut data = random_matrix(ty, rows, cols, &mut rng, false);
            for k in 0..plant {
                let bi = (k * 37 + rows * 5 + nb) % (rows * nb);
                let h = classes[(k * 5 + rows + nb) % 11];
                let off = fields[(k + rows) % fields.len()];
                data[bi * ty.block_bytes() + off..bi * ty.block_bytes() + off + 2].copy_from_slice(&h.to_le_bytes());
            }
            check(ty, &data, rows, cols, ty, &mut rng, [1.0, -2.0, 0.5, 3.0], &format!("{name} {plant} planted {nb} blocks"));
        }
        let (rows, cols) = (13, nb * 256);
        let mut data = random_matrix(ty, rows, cols, &mut rng, false);
        for (bi, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
            if (bi / nb) % 2 == 0 {
                for (&off, h) in fields.iter().zip([0xbc00u16, 0x3c00]) {
                    b[off..off + 2].copy_from_slice(&h.to_le_bytes());
                }
            }
        }
        check(ty, &data, rows, cols, ty, &mut rng, [0.0; 4], &format!("{name} {rows}x{cols} zero sums"));
    }
}

/// `matmul` of batches of 4 to 11 tokens (one or two tiles, and a rest of 1-3) equals each
/// token's own `matvec` on `ty` matrices of the `shapes` (rows, cols).
fn products_sweep(ty: GgmlType, seed: u64, shapes: &[(usize, usize)]) {
    let mut rng = Rng(seed);
    for &(rows, cols) in shapes {
        let data = random_matrix(ty, rows, cols, &mut rng, false);
        let w = Matrix::new(ty, rows, cols, &data).unwrap();
        for n in [4usize, 5, 8, 11] {
            let xs: Vec<Vec<f32>> = (0..n).map(|_| random_activations(cols, &mut rng, 1.0)).collect();
            let mut bufs = vec![vec![0u8; activation_bytes(ty, cols).unwrap()]; n];
            let acts: Vec<_> = xs.iter().zip(bufs.iter_mut()).map(|(x, b)| quantize_activations(ty, x, b).unwrap()).collect();
            let mut batched = vec![0f32; n * rows];
            matmul(&w, &acts, &mut batched).unwrap();
            for (t, a) in acts.iter().enumerate() {
                let mut single = vec![0f32; rows];
                matvec(&w, a, &mut single).unwrap();
                same(&format!("{} {rows}x{cols}, {n} tokens, token {t}", ty.name()), &batched[t * rows..(t + 1) * rows], &single);
            }
        }
    }
}

#[test]
fn batched_q5k_kernel_agrees_with_its_twin() {
    twin_sweep(GgmlType::Q5_K, 0xba7c_5ed0_0000_0521, [GgmlType::Q5_K, GgmlType::Q4_K]);
}

/// All quants, `qh` bits, scales and mins at one pattern.
#[test]
fn batched_q5k_kernel_agrees_on_all_min_all_max_quants() {
    fill_sweep(GgmlType::Q5_K, 0x0521, &[1, 3, 4], |_, _, _| {});
}

/// The driver widens the scales the kernel hands back.
#[test]
fn batched_q5k_kernel_agrees_on_every_f16_scale_class() {
    scale_class_sweep(GgmlType::Q5_K, 0x05e5_0000_0000_0521, false);
}

/// The 90M model's shapes of Q5_K matrices (`attn_v`, `ffn_down`) and rows wider than the
/// kernel takes.
#[test]
fn batched_q5k_products_equal_one_token_at_a_time() {
    products_sweep(GgmlType::Q5_K, 0xba7c_5ed0_0000_0522, &[(128, 512), (512, 768), (24, 768), (37, 1024), (9, 1280)]);
}

#[test]
fn batched_q2k_kernel_agrees_with_its_twin() {
    twin_sweep(GgmlType::Q2_K, 0xba7c_2ed0_0000_0221, [GgmlType::Q2_K, GgmlType::Q3_K]);
}

/// All quants, scales and mins at one pattern.
#[test]
fn batched_q2k_kernel_agrees_on_all_min_all_max_quants() {
    fill_sweep(GgmlType::Q2_K, 0x0221, &[1, 3, 4], |_, _, _| {});
}

#[test]
fn batched_q2k_kernel_agrees_on_every_f16_scale_class() {
    scale_class_sweep(GgmlType::Q2_K, 0x02e5_0000_0000_0221, true);
}

/// The 90M Q2_K model's shapes of Q2_K matrices and rows wider than the kernel takes.
#[test]
fn batched_q2k_products_equal_one_token_at_a_time() {
    products_sweep(GgmlType::Q2_K, 0xba7c_2ed0_0000_0222, &[(128, 512), (512, 768), (24, 768), (37, 1024), (9, 1280)]);
}

#[test]
fn batched_q3k_kernel_agrees_with_its_twin() {
    twin_sweep(GgmlType::Q3_K, 0xba7c_3ed0_0000_0321, [GgmlType::Q3_K, GgmlType::Q2_K]);
}

/// All quants, `hmask` bits and 6-bit scales at one pattern (`hmask` all set, all clear,
/// alternating); then random blocks whose `hmask` (bytes 0..32) alone has the pattern.
#[test]
fn batched_q3k_kernel_agrees_on_all_min_all_max_quants() {
    let ty = GgmlType::Q3_K;
    fill_sweep(ty, 0x0321, &[1, 2, 3, 4], |fill, nb, rng| {
        let (rows, cols) = (5, nb * 256);
        let mut data = random_matrix(ty, rows, cols, rng, false);
        for b in data.chunks_exact_mut(ty.block_bytes()) {
            b[..32].fill(fill);
        }
        check(ty, &data, rows, cols, ty, rng, [1.0, -3.0, 0.25, 100.0], &format!("Q3_K hmask {fill:#x} {nb} blocks"));
    });
}

/// `d` of every class, planted among ordinary rows, and -0 rows (negative `d`).
#[test]
fn batched_q3k_kernel_agrees_on_every_f16_scale_class() {
    scale_class_sweep(GgmlType::Q3_K, 0x03e5_0000_0000_0321, true);
}

/// The 90M Q2_K model's shapes of Q3_K matrices (`attn_output`, `ffn_down`) and rows wider
/// than the kernel takes.
#[test]
fn batched_q3k_products_equal_one_token_at_a_time() {
    products_sweep(GgmlType::Q3_K, 0xba7c_3ed0_0000_0322, &[(512, 512), (512, 768), (24, 768), (37, 1024), (9, 1280)]);
}

#[test]
fn batched_q6k_kernel_agrees_with_its_twin() {
    let mut rng = Rng(0xba7c_6ed0_0000_0621);
    // 1-4 blocks a row: rows several to a call, a call's last rows, and many calls (100
    // rows); 5, 8 and 18 blocks: bands of rows (a band's last rows at 40 and 100), segments
    // of 4 blocks and a shorter last one.
    let ty = GgmlType::Q6_K;
    for nb in [1usize, 2, 3, 4, 5, 8, 18] {
        for rows in [1usize, 3, 7, 13, 40, 100] {
            if nb > 8 && rows > 40 {
                continue;
            }
            let cols = nb * 256;
            for extremes in [false, true] {
                let data = random_matrix(ty, rows, cols, &mut rng, extremes);
                for xscales in [[1.0f32, 1e-3, 300.0, 1.0], [0.0, 1.0, 0.0, 65000.0]] {
                    let what = format!("Q6_K {rows}x{cols} extremes {extremes} scales {xscales:?}");
                    check(ty, &data, rows, cols, ty, &mut rng, xscales, &what);
                }
            }
        }
    }
}

/// Every byte but the f16 `d` set to one pattern (all quants at their minimum or maximum, the
/// int8 scales at -128, -1, 0, 127 and alternating bits), with activations at ±127.
#[test]
fn batched_q6k_kernel_agrees_on_all_min_all_max_quants() {
    let mut rng = Rng(0x0621);
    let ty = GgmlType::Q6_K;
    for fill in [0x00u8, 0xff, 0x55, 0xaa, 0x0f, 0xf0, 0x33, 0xcc, 0x80, 0x7f] {
        for nb in [1usize, 2, 4, 6] {
            let (rows, cols) = (5, nb * 256);
            let mut data = random_matrix(ty, rows, cols, &mut rng, false);
            for b in data.chunks_exact_mut(ty.block_bytes()) {
                b[..208].fill(fill);
            }
            for xscales in [[1.0f32, 127.0, -1.0, 1e-6], [-1.0, -1.0, -1.0, -1.0]] {
                check(ty, &data, rows, cols, ty, &mut rng, xscales, &format!("Q6_K fill {fill:#x} {nb} blocks {xscales:?}"));
            }
        }
    }
}

/// Random blocks with the extreme int8 scales (-128 and 127) planted at every sub-block
/// position, alone and all 16 at once, and quants all 0 or all 63 under them.
#[test]
fn batched_q6k_kernel_agrees_on_planted_extreme_scales() {
    let mut rng = Rng(0x5ca1_e000_0000_0621);
    let ty = GgmlType::Q6_K;
    for nb in [1usize, 2, 3, 4, 7] {
        let (rows, cols) = (17, nb * 256);
        let mut data = random_matrix(ty, rows, cols, &mut rng, false);
        for (bi, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
            let sc = if bi % 2 == 0 { 0x80u8 } else { 0x7f };
            match bi % 5 {
                0 => b[192..208].fill(sc),
                1 => b[192 + bi % 16] = sc,
                2 => {
                    b[192..208].fill(sc);
                    b[..192].fill(0xff);
                }
                3 => {
                    b[192..208].fill(sc);
                    b[..192].fill(0x00);
                }
                _ => {
                    for (j, v) in b[192..208].iter_mut().enumerate() {
                        *v = if j % 2 == 0 { 0x80 } else { 0x7f };
                    }
                }
            }
        }
        for xscales in [[1.0f32, -1.0, 300.0, 1e-3], [65000.0, -65000.0, 1.0, 0.5]] {
            check(ty, &data, rows, cols, ty, &mut rng, xscales, &format!("Q6_K planted scales {nb} blocks {xscales:?}"));
        }
    }
}

/// Every class of f16 `d` in both signs (zero, subnormal, smallest and largest normal,
/// infinity, NaN, ordinary values) in every block position, and rows summing to -0
/// (negative `d`, a token of zero activations).
#[test]
fn batched_q6k_kernel_agrees_on_every_f16_scale_class() {
    let classes: [u16; 14] = [0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x8400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x3c00, 0xa1e7, 0x2b9d];
    let mut rng = Rng(0x06e5_0000_0000_0621);
    let ty = GgmlType::Q6_K;
    for nb in [1usize, 2, 3, 4, 5, 8] {
        let (rows, cols) = (29, nb * 256);
        let mut data = random_matrix(ty, rows, cols, &mut rng, false);
        for (i, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
            let h = classes[(i * 5 + i / classes.len()) % classes.len()];
            b[208..210].copy_from_slice(&h.to_le_bytes());
        }
        for xscales in [[1.0f32, 1.0, 1e-3, 300.0], [0.0, 1.0, 0.0, 0.0]] {
            check(ty, &data, rows, cols, ty, &mut rng, xscales, &format!("Q6_K scale classes {nb} blocks {xscales:?}"));
        }
        let (rows, cols) = (13, nb * 256);
        let mut data = random_matrix(ty, rows, cols, &mut rng, false);
        for (bi, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
            if (bi / nb) % 2 == 0 {
                b[208..210].copy_from_slice(&0xbc00u16.to_le_bytes());
            }
        }
        check(ty, &data, rows, cols, ty, &mut rng, [0.0; 4], &format!("Q6_K {rows}x{cols} zero sums"));
        check(ty, &data, rows, cols, ty, &mut rng, [0.0, 1.0, 0.0, -1.0], &format!("Q6_K {rows}x{cols} zero and -0 sums"));
    }
}

/// The tied LM head's shape (512 columns = 2 blocks, 32768 rows: many calls, the touch
/// variant up to the last call and the plain one there).
#[test]
fn batched_q6k_kernel_agrees_on_the_lm_head_shape() {
    let mut rng = Rng(0x1a4d_0000_0000_0621);
    let ty = GgmlType::Q6_K;
    let (rows, cols) = (32768, 512);
    let data = random_matrix(ty, rows, cols, &mut rng, false);
    check(ty, &data, rows, cols, ty, &mut rng, [1.0, 0.3, 20.0, 1e-2], "Q6_K LM head 32768x512");
}

/// Gemma 3 270M's Q6_K `ffn_down` shape (2048 columns = 8 blocks, 640 rows: 20 bands of 32
/// rows, two segments each).
#[test]
fn batched_q6k_kernel_agrees_on_the_gemma3_ffn_down_shape() {
    let mut rng = Rng(0x6e3a_0000_0000_0621);
    let ty = GgmlType::Q6_K;
    let (rows, cols) = (640, 2048);
    for extremes in [false, true] {
        let data = random_matrix(ty, rows, cols, &mut rng, extremes);
        check(ty, &data, rows, cols, ty, &mut rng, [1.0, 0.3, 20.0, 1e-2], &format!("Q6_K 640x2048 extremes {extremes}"));
    }
}

/// `matmul` of batches of 4 to 11 tokens equals each token's own `matvec` on Q6_K rows of 1-4
/// blocks (several to a call) and wider ones (bands and segments; 18 blocks: wider than
/// `matvec`'s calls of 16).
#[test]
fn batched_q6k_products_equal_one_token_at_a_time() {
    products_sweep(GgmlType::Q6_K, 0xba7c_6ed0_0000_0622, &[(128, 512), (512, 768), (24, 768), (37, 1024), (9, 1280), (64, 256), (70, 2048), (5, 4608)]);
}

/// The legacy types with a batched kernel.
const LEGACY: [GgmlType; 3] = [GgmlType::Q4_1, GgmlType::Q4_0, GgmlType::Q8_0];

/// One product of a legacy matrix and the four tokens `xs` through `matmul4_legacy` (the ARM
/// kernel on ARM), through the portable twin, and token by token through `matvec`.
fn check_legacy(ty: GgmlType, data: &[u8], rows: usize, cols: usize, xs: &[Vec<f32>], what: &str) {
    let w = Matrix::new(ty, rows, cols, data).unwrap();
    let rb = w.row_bytes();
    let mut bufs = vec![vec![0u8; activation_bytes(ty, cols).unwrap()]; 4];
    let prepared: Vec<_> = xs.iter().zip(bufs.iter_mut()).map(|(x, b)| quantize_activations(ty, x, b).unwrap()).collect();
    let acts = [prepared[0].bytes(), prepared[1].bytes(), prepared[2].bytes(), prepared[3].bytes()];
    let mut fast = vec![0f32; 4 * rows];
    matmul4_legacy(ty, data, rb, acts, rows, &mut fast);
    let mut slow = vec![0f32; 4 * rows];
    portable::matmul4_legacy(ty, data, rb, acts, rows, &mut slow);
    same(&format!("{what} (twin)"), &fast, &slow);
    for (t, a) in prepared.iter().enumerate() {
        let mut single = vec![0f32; rows];
        matvec(&w, a, &mut single).unwrap();
        same(&format!("{what} (token {t}'s matvec)"), &fast[t * rows..(t + 1) * rows], &single);
    }
}

#[test]
fn batched_legacy_kernels_agree_with_their_twins() {
    let mut rng = Rng(0xba7c_4ed0_0000_0041);
    for ty in LEGACY {
        // 1-48 blocks a row go through the batched kernel (rows several to a call, a call's
        // last rows; rows over 24 blocks in two segments, the second of 1 to 24 blocks; more
        // than a band of 128 rows); 49 and 64 blocks take the single-token path.
        for nb in [1usize, 2, 3, 5, 18, 24, 25, 28, 47, 48, 49, 64] {
            let row_counts: &[usize] = match nb {
                5 | 48 => &[1, 3, 131],
                _ if nb < 18 => &[1, 3, 7, 13, 50],
                _ => &[1, 3, 7],
            };
            for &rows in row_counts {
                let cols = nb * 32;
                for extremes in [false, true] {
                    let data = random_matrix(ty, rows, cols, &mut rng, extremes);
                    for xscales in [[1.0f32, 1e-3, 300.0, 1.0], [0.0, 1.0, 0.0, 65000.0]] {
                        let xs: Vec<Vec<f32>> = xscales.iter().map(|&s| random_activations(cols, &mut rng, s)).collect();
                        let what = format!("{} {rows}x{cols} extremes {extremes} scales {xscales:?}", ty.name());
                        check_legacy(ty, &data, rows, cols, &xs, &what);
                    }
                }
            }
        }
    }
}

/// All-min and all-max codes (and alternating patterns) against activations at ±127: the
/// largest integer sums the kernels meet.
#[test]
fn batched_legacy_kernels_agree_on_extreme_codes_and_activations() {
    let mut rng = Rng(0x0041);
    let (rows, cols) = (5, 7 * 32);
    let signs: Vec<f32> = (0..cols).map(|i| if i % 3 == 0 { -1.0 } else { 1.0 }).collect();
    let xs = vec![vec![1.0f32; cols], vec![-1.0f32; cols], signs.clone(), signs.iter().map(|v| -v).collect()];
    for ty in LEGACY {
        for fill in [0x00u8, 0xff, 0x80, 0x7f, 0x55, 0xaa, 0x0f, 0xf0] {
            let mut data = random_matrix(ty, rows, cols, &mut rng, false);
            // Keep the f16 scales, set every code byte to `fill`.
            let fields = f16_fields(ty);
            for b in data.chunks_exact_mut(ty.block_bytes()) {
                for (i, v) in b.iter_mut().enumerate() {
                    if !fields.iter().any(|&o| i == o || i == o + 1) {
                        *v = fill;
                    }
                }
            }
            check_legacy(ty, &data, rows, cols, &xs, &format!("{} fill {fill:#x}", ty.name()));
        }
    }
}

/// Every class of f16 scale in both signs (zero, subnormal, smallest and largest normal,
/// infinity, NaN, ordinary values) in every block position, with ordinary and all-zero
/// activations: the driver widens the scales the kernel hands back.
#[test]
fn batched_legacy_kernels_agree_on_every_f16_scale_class() {
    let classes: [u16; 14] = [0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x8400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x3c00, 0xa1e7, 0x2b9d];
    let finite: Vec<u16> = classes.iter().copied().filter(|h| h & 0x7c00 != 0x7c00).collect();
    let mut rng = Rng(0x05e5_0000_0000_0041);
    for ty in LEGACY {
        let (rows, cols) = (7, 32 * 13);
        let mut data = random_matrix(ty, rows, cols, &mut rng, false);
        // Rows 0-3 take the finite classes only (their sums are finite and compared as
        // numbers), rows 4-6 every class, infinities and NaN too.
        let nb = cols / 32;
        for (i, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
            let list: &[u16] = if i / nb < 4 { &finite } else { &classes };
            for (k, &off) in f16_fields(ty).iter().enumerate() {
                let h = list[(i * 5 + k * 3 + i / list.len()) % list.len()];
                b[off..off + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
        for xscales in [[1.0f32, 1.0, 1e-3, 300.0], [0.0, 1.0, 0.0, 0.0]] {
            let xs: Vec<Vec<f32>> = xscales.iter().map(|&s| random_activations(cols, &mut rng, s)).collect();
            check_legacy(ty, &data, rows, cols, &xs, &format!("{} scale classes, activations {xscales:?}", ty.name()));
        }
    }
}

/// `matmul` of batches of 4 to 16 tokens (one to four tiles, and a rest of 1-3) equals each
/// token's own `matvec` on SmolLM2-135M's shapes (576 and 1536 columns) and on rows wider
/// than the batched kernels take; and activations prepared for another type of the same
/// format (Q8_0 weights with Q4_0's, whose scale entries hold `Σ x`; Q4_0 weights with
/// Q8_0's or Q5_0's) take the single-token path to the same bits.
#[test]
fn batched_legacy_products_equal_one_token_at_a_time() {
    let mut rng = Rng(0xba7c_4ed0_0000_0042);
    for ty in LEGACY {
        let others: &[GgmlType] = match ty {
            GgmlType::Q8_0 => &[GgmlType::Q4_0],
            GgmlType::Q4_0 => &[GgmlType::Q8_0, GgmlType::Q5_0],
            _ => &[GgmlType::Q5_1],
        };
        for (rows, cols) in [(64, 576), (24, 1536), (9, 2048)] {
            let data = random_matrix(ty, rows, cols, &mut rng, false);
            let w = Matrix::new(ty, rows, cols, &data).unwrap();
            for n in [4usize, 5, 8, 11, 16] {
                for prep in core::iter::once(ty).chain(others.iter().copied()) {
                    let xs: Vec<Vec<f32>> = (0..n).map(|_| random_activations(cols, &mut rng, 1.0)).collect();
                    let mut bufs = vec![vec![0u8; activation_bytes(prep, cols).unwrap()]; n];
                    let acts: Vec<_> = xs.iter().zip(bufs.iter_mut()).map(|(x, b)| quantize_activations(prep, x, b).unwrap()).collect();
                    let mut batched = vec![0f32; n * rows];
                    matmul(&w, &acts, &mut batched).unwrap();
                    for (t, a) in acts.iter().enumerate() {
                        let mut single = vec![0f32; rows];
                        matvec(&w, a, &mut single).unwrap();
                        let what = format!("{} {rows}x{cols}, {n} tokens prepared for {}, token {t}", ty.name(), prep.name());
                        same(&what, &batched[t * rows..(t + 1) * rows], &single);
                    }
                }
            }
        }
    }
}
