//! The Q8_K activation quantizer (`kernels::quantize_q8k_block`, on ARM the `asm_q8k`
//! kernel) against its portable twin, byte for byte: the standard block and the pair block
//! of every pair layout, over random blocks and the edge cases of the kernel's argument
//! (all-zero blocks, a negative maximum, ±m ties for the maximum, ties at .5 after scaling,
//! ±0, huge, tiny and subnormal values, a maximum so small that `-127 / mx` overflows,
//! non-finite values).

use armlet_core::kernels::{portable, quantize_q8k};
use armlet_core::quant::q8::{Q8K_BLOCK_BYTES, Q8K_PAIRS_BYTES, QK_K};
use armlet_kernel_tests::Rng;

fn check(xb: &[f32; QK_K], what: &str) {
    // A row of three blocks: `xb`, it reversed, `xb` again (the kernel touches the next
    // block ahead; the last block is handled apart).
    let mut row: Vec<f32> = xb.to_vec();
    row.extend(xb.iter().rev());
    row.extend(xb.iter());
    let nb = row.len() / QK_K;
    for layout in 0..4u8 {
        let (mut ob, mut pb) = (vec![0x5au8; nb * Q8K_BLOCK_BYTES], vec![0xa5u8; nb * Q8K_PAIRS_BYTES]);
        // The same fill: layout 0 leaves the pair blocks' last 16 bytes alone (in both).
        let (mut ob2, mut pb2) = (ob.clone(), pb.clone());
        quantize_q8k(layout, &row, &mut ob, &mut pb);
        portable::quantize_q8k(layout, &row, &mut ob2, &mut pb2);
        if let Some(i) = (0..ob.len()).find(|&i| ob[i] != ob2[i]) {
            panic!("{what}, layout {layout}: std byte {i}: {} vs {}", ob[i], ob2[i]);
        }
        if let Some(i) = (0..pb.len()).find(|&i| pb[i] != pb2[i]) {
            panic!("{what}, layout {layout}: pair byte {i}: {} vs {}", pb[i], pb2[i]);
        }
    }
}

fn random_block(rng: &mut Rng, scale: f32) -> [f32; QK_K] {
    let mut x = [0f32; QK_K];
    for (i, v) in x.iter_mut().enumerate() {
        *v = rng.unit() * scale * if i % 61 == 7 { 20.0 } else { 1.0 };
    }
    x
}

#[test]
fn q8k_kernel_agrees_on_random_blocks() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for scale in [1e-30f32, 1e-6, 0.01, 0.3, 1.0, 7.5, 100.0, 3e4, 1e30] {
        for _ in 0..40 {
            let x = random_block(&mut rng, scale);
            check(&x, &format!("random, scale {scale}"));
            let neg = x.map(|v| -v);
            check(&neg, &format!("negated random, scale {scale}"));
        }
    }
    // Arbitrary finite bit patterns (any exponent, subnormals included).
    for _ in 0..200 {
        let mut x = [0f32; QK_K];
        for v in x.iter_mut() {
            let b = rng.next() as u32;
            let f = f32::from_bits(b);
            *v = if f.is_finite() { f } else { f32::from_bits(b & 0xbfff_ffff) };
        }
        check(&x, "random bits");
        // and a narrower exponent spread
        for v in x.iter_mut() {
            *v = f32::from_bits((v.to_bits() & 0x807f_ffff) | (((rng.next() % 12) as u32 + 120) << 23));
        }
        check(&x, "random bits, exponents 120..131");
    }
}

#[test]
fn q8k_kernel_agrees_on_edge_cases() {
    let mut rng = Rng(12345);
    check(&[0.0; QK_K], "all +0");
    check(&[-0.0; QK_K], "all -0");
    let mut z = [0f32; QK_K];
    for (i, v) in z.iter_mut().enumerate() {
        *v = if i % 3 == 0 { -0.0 } else { 0.0 };
    }
    check(&z, "mixed zeros");
    // One non-zero value at each position, both signs; a negative maximum.
    for pos in [0usize, 1, 2, 3, 15, 16, 31, 32, 100, 127, 128, 200, 254, 255] {
        for v in [1.0f32, -1.0, 3.3e-20, -2.5e7] {
            let mut x = [0f32; QK_K];
            x[pos] = v;
            check(&x, &format!("lone {v} at {pos}"));
            let mut y = random_block(&mut rng, 1.0);
            y[pos] = -50.0 * v.signum();
            check(&y, &format!("max {} at {pos}", -50.0 * v.signum()));
        }
    }
    // ±m ties for the maximum, either first.
    for (a, b) in [(3usize, 200usize), (200, 3), (0, 255), (255, 0), (17, 18)] {
        for m in [5.0f32, -5.0] {
            let mut x = random_block(&mut rng, 1.0);
            x[a] = m;
            x[b] = -m;
            check(&x, &format!("tie {m} at {a}, {} at {b}", -m));
        }
    }
    // A ±m tie with the first one at every position.
    for a in 0..QK_K {
        let b = (a * 37 + 11) % QK_K;
        let mut x = random_block(&mut rng, 1.0);
        x[a] = if a % 2 == 0 { 30.0 } else { -30.0 };
        x[b] = -x[a];
        check(&x, &format!("tie at {a} and {b}"));
    }
    // Small integers: many ties for the maximum, in both signs, anywhere.
    for _ in 0..100 {
        let mut x = [0f32; QK_K];
        for v in x.iter_mut() {
            *v = (rng.next() % 11) as f32 - 5.0;
        }
        check(&x, "small integers");
    }
    // Ties at .5 after scaling: |mx| = 127 (iscale = ∓1) and 254 (∓0.5), halves and odd integers.
    for mx in [127.0f32, -127.0, 254.0, -254.0] {
        let mut x = [0f32; QK_K];
        for (i, v) in x.iter_mut().enumerate() {
            let k = (i as i32 % 255) - 127;
            *v = if mx.abs() == 127.0 { k as f32 + 0.5 } else { (2 * k + 1) as f32 };
            *v = v.clamp(-mx.abs(), mx.abs());
        }
        x[77] = mx;
        check(&x, &format!("ties at .5, mx {mx}"));
    }
    // Huge and tiny values; subnormals beside a normal maximum; maxima near where
    // -127 / mx overflows (127 / f32::MAX ≈ 3.73e-37) and below it (subnormal maxima).
    for (big, small) in [(f32::MAX, 1.0f32), (-f32::MAX, f32::MIN_POSITIVE), (1e38, 1e-38), (1.0, 1e-45), (1e-3, 1e-40)] {
        let mut x = random_block(&mut rng, small);
        x[9] = big;
        check(&x, &format!("huge {big}, small {small}"));
    }
    for mx in [3.8e-37f32, 3.73e-37, 3.7e-37, 1.2e-38, 1e-39, 1e-45, -1e-45] {
        let mut x = random_block(&mut rng, mx.abs());
        x[40] = mx;
        check(&x, &format!("tiny maximum {mx}"));
    }
    // Non-finite values (the caller never sends them; both must still give the same bytes).
    for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, f32::from_bits(0x7f80_0001)] {
        let mut x = random_block(&mut rng, 1.0);
        x[100] = bad;
        check(&x, &format!("non-finite {bad}"));
    }
}
