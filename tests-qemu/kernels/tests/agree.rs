//! The ARM kernels against their portable twins, bit for bit (run under
//! `qemu-arm -cpu arm1176`: `cargo +nightly arm-test --profile release-test -p
//! armlet-kernel-tests`). On the host only the twins' agreement with the public `matvec` runs.

use armlet_core::kernels::{matvec, portable};
use armlet_core::quant::{activation_bytes, quantize_activations, GgmlType, Matrix};
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
    match ty {
        GgmlType::Q8_0 => portable::matvec_q8_0(&data, rb, bytes, &mut slow),
        GgmlType::Q4_1 => portable::matvec_q4_1(&data, rb, bytes, &mut slow),
        GgmlType::Q4_0 => portable::matvec_q4_0(&data, rb, bytes, &mut slow),
        GgmlType::Q5_0 => portable::matvec_q5_0(&data, rb, bytes, &mut slow),
        GgmlType::Q5_1 => portable::matvec_q5_1(&data, rb, bytes, &mut slow),
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
        // Two superblocks; eight legacy blocks (two of the Q5 kernels' groups of 4).
        let cols = ty.block_size() * if ty.block_size() == 32 { 8 } else { 2 };
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
                    GgmlType::Q8_0 | GgmlType::Q4_1 | GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q5_1 => {
                        armlet_core::kernels::legacy::vec_dot_row(ty, row, a.bytes())
                    }
                    _ => armlet_core::kernels::kquant::vec_dot_row(ty, row, a.bytes()),
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

/// Many short K-quant rows (2 and 3 blocks: the small matrices of generation, whose float
/// part runs six blocks at a time in `asm_k4finish`): row counts that span several kernel
/// calls and leave rows after the last whole group, with ordinary scales only and with one
/// special f16 scale (zero, subnormal, infinity, NaN, in either field and sign) planted in
/// a few blocks, so some calls are all normal and others mix the classes.
#[test]
fn k_quant_short_rows_agree_with_special_scales_mixed_in() {
    let specials: [u16; 8] = [0x0000, 0x8000, 0x0001, 0x83ff, 0x7c00, 0xfc00, 0x7e00, 0x0400];
    let mut rng = Rng(0x6b34_f1a1_5400_0023);
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q2_K, GgmlType::Q6_K, GgmlType::Q3_K] {
        for (rows, nb) in [(53, 2), (101, 3), (24, 2), (16, 3), (7, 2), (5, 3)] {
            let cols = nb * 256;
            for plant in [false, true] {
                let mut data = random_matrix(ty, rows, cols, &mut rng, false);
                if plant {
                    let fields = armlet_kernel_tests::f16_fields(ty);
                    let blocks = rows * nb;
                    for (k, &h) in specials.iter().enumerate() {
                        let bi = (k * 37 + 5) % blocks;
                        let off = fields[k % fields.len()];
                        let b = &mut data[bi * ty.block_bytes()..(bi + 1) * ty.block_bytes()];
                        b[off..off + 2].copy_from_slice(&h.to_le_bytes());
                    }
                }
                let w = Matrix::new(ty, rows, cols, &data).unwrap();
                let x = random_activations(cols, &mut rng, 1.0);
                let mut buf = vec![0u8; activation_bytes(ty, cols).unwrap()];
                let a = quantize_activations(ty, &x, &mut buf).unwrap();
                let mut fast = vec![0f32; rows];
                matvec(&w, &a, &mut fast).unwrap();
                let mut slow = vec![0f32; rows];
                let std_len = cols / 256 * armlet_core::quant::q8::Q8K_BLOCK_BYTES;
                let bytes = a.bytes();
                portable::matvec_kquant(ty, &data, w.row_bytes(), &bytes[..std_len], &bytes[std_len..], &mut slow);
                same(ty, &fast, &slow);
            }
        }
    }
}

/// The Q5 kernels decode `d` and `m` themselves and move their signs (onto the integer sum and
/// onto `s`): every class of f16 scale in both signs (zero, subnormal, smallest and largest
/// normal, infinity, NaN, ordinary values), in every block position of a group, against the
/// portable twin, with ordinary and all-zero activations.
#[test]
fn q5_kernels_agree_on_every_f16_scale_class() {
    let classes: [u16; 14] = [0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x8400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x3c00, 0xa1e7, 0x2b9d];
    let mut rng = Rng(0x05e5_0000_0000_0005);
    for ty in [GgmlType::Q5_0, GgmlType::Q5_1] {
        let (rows, cols) = (7, 32 * 13);
        let mut data = random_matrix(ty, rows, cols, &mut rng, false);
        // Rows 0-3 take the finite classes only (so their sums are finite and compared as
        // numbers), rows 4-6 every class, infinities and NaN too.
        let finite: Vec<u16> = classes.iter().copied().filter(|h| h & 0x7c00 != 0x7c00).collect();
        let nb = cols / 32;
        for (i, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
            let list: &[u16] = if i / nb < 4 { &finite } else { &classes };
            for (k, &off) in armlet_kernel_tests::f16_fields(ty).iter().enumerate() {
                let h = list[(i * 5 + k * 3 + i / list.len()) % list.len()];
                b[off..off + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
        let w = Matrix::new(ty, rows, cols, &data).unwrap();
        for xscale in [1.0f32, 0.0] {
            let x = random_activations(cols, &mut rng, xscale);
            let mut buf = vec![0u8; activation_bytes(ty, cols).unwrap()];
            let a = quantize_activations(ty, &x, &mut buf).unwrap();
            let mut fast = vec![0f32; rows];
            matvec(&w, &a, &mut fast).unwrap();
            let mut slow = vec![0f32; rows];
            match ty {
                GgmlType::Q5_0 => portable::matvec_q5_0(&data, w.row_bytes(), a.bytes(), &mut slow),
                _ => portable::matvec_q5_1(&data, w.row_bytes(), a.bytes(), &mut slow),
            }
            same(ty, &fast, &slow);
            if xscale != 0.0 {
                assert!(fast[..4].iter().all(|v| v.is_finite() && *v != 0.0), "{}: the finite rows are finite", ty.name());
            }
        }
    }
}

#[test]
fn activations_prepared_for_another_type_give_the_same_bits() {
    // Q8_0 and Q4_0 weights with Q8_0 activations prepared for Q5_0 (a stream, not their pair
    // copy), Q4_1 weights with Q8_1 activations prepared for Q5_1: the portable path, equal to
    // the ARM kernel's bits.
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

/// Runs the SiLU kernel and its twin over `values` the way `silu_in_place` does (a call,
/// then the stopping quad skipped, then a call on the rest), asserting the same quad counts
/// at every call and the same bits at the end; returns how many calls stopped early.
fn silu_both(values: &[f32]) -> usize {
    let mut fast = values.to_vec();
    let mut slow = values.to_vec();
    let (mut pos, mut stops) = (0, 0);
    loop {
        let a = armlet_core::kernels::silu_quads(&mut fast[pos..]);
        let b = portable::silu_quads(&mut slow[pos..]);
        assert_eq!(a, b, "quads done from {pos} (of {})", values.len());
        pos += 4 * a;
        if values.len() - pos < 4 {
            break;
        }
        stops += 1;
        pos += 4;
    }
    for ((x, f), s) in values.iter().zip(&fast).zip(&slow) {
        assert!(f.to_bits() == s.to_bits(), "silu({x:e} = {:#x}): ARM {f:e} portable {s:e}", x.to_bits());
    }
    stops
}

/// The SiLU kernel against its portable twin: a stride through every float it takes (|x|
/// bits in [0x39800000, 0x42aeac50), both signs), random values over that range, each edge
/// (the kernel's range, `expf`'s tiny path, the `k` ranges 0.5 ln 2 and 1.5 ln 2), and
/// every length 0..=13 with a special value (NaN, ±inf, ±100, ±87.34, tiny, ±0, subnormal)
/// at each position, which must stop the kernel before its quad.
#[test]
fn silu_kernel_agrees_with_its_twin() {
    const LOW: u32 = 0x3980_0000;
    const HIGH: u32 = 0x42ae_ac50;
    let mut values: Vec<f32> = Vec::new();
    let mut bits = LOW;
    while bits < HIGH {
        values.push(f32::from_bits(bits));
        values.push(-f32::from_bits(bits + 500));
        bits += 1_009;
    }
    let mut rng = Rng(0x5117_u64);
    for _ in 0..40_000 {
        let b = LOW + (rng.next() % (HIGH - LOW) as u64) as u32;
        values.push(f32::from_bits(b | ((rng.next() as u32) & 0x8000_0000)));
    }
    for e in [LOW, 0x3eb1_7218, 0x3f85_1592, HIGH - 1, 0x3f00_0000, 0x3f80_0000, 0x4000_0000] {
        for b in e.saturating_sub(40)..=(e + 40).min(HIGH - 1) {
            if b >= LOW {
                values.push(f32::from_bits(b));
                values.push(-f32::from_bits(b));
            }
        }
    }
    values.truncate(values.len() - values.len() % 4);
    assert_eq!(silu_both(&values), 0, "the kernel stopped inside its range");

    let specials = [
        f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 100.0, -100.0,
        f32::from_bits(HIGH), -f32::from_bits(HIGH), f32::from_bits(LOW - 1), -f32::from_bits(LOW - 1),
        f32::from_bits(0x3900_0000), 1e-5, 0.0, -0.0, f32::from_bits(1), -f32::from_bits(0x007f_ffff),
    ];
    for len in 0..=13usize {
        for at in 0..len.max(1) {
            for &sp in &specials {
                let mut v: Vec<f32> = (0..len)
                    .map(|_| {
                        let u = rng.unit();
                        u.signum() * (0.01 + 40.0 * u.abs())
                    })
                    .collect();
                if len > 0 {
                    v[at] = sp;
                }
                let stops = silu_both(&v);
                assert_eq!(stops, usize::from(at < len - len % 4), "len {len}, special {sp:e} at {at}");
            }
        }
    }
}

/// The same bits, treating every NaN as equal (their payloads are not part of the contract).
fn same_f32(what: &str, fast: &[f32], slow: &[f32]) {
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

#[test]
fn scan_kernel_agrees_with_its_twin() {
    use armlet_core::kernels::scan_head;
    let mut rng = Rng(0x5ca7_0000_0000_0003);
    // (channels, N): Falcon-H1's 32 x 64, other multiples of 8 (the kernel's shapes), odd
    // channel counts (a lone channel after the pairs), and N the kernel leaves to the twin.
    let shapes = [(32, 64), (3, 64), (2, 8), (5, 16), (4, 128), (7, 24), (1, 64), (3, 13), (4, 20)];
    // (state scale, x scale): ordinary, subnormal states, huge states (sums overflow to
    // infinities and NaN), tiny x, zero x.
    let scales = [(1.0f32, 1.0f32), (1e-39, 1e-3), (1e30, 1e3), (3e38, 1.0), (1.0, 1e-30), (1.0, 0.0)];
    for (channels, n) in shapes {
        for (sscale, xscale) in scales {
            // Values past the head stand for the next heads' state: read early, never written.
            let tail = 37;
            let state: Vec<f32> = (0..channels * n + tail).map(|_| rng.unit() * sscale).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.unit() * 4.0).collect();
            let c: Vec<f32> = (0..n).map(|_| rng.unit() * 4.0).collect();
            let x: Vec<f32> = (0..channels).map(|_| rng.unit() * xscale).collect();
            let decay = 0.5 + 0.499 * rng.unit();
            let delta = 0.01 + 2.0 * rng.unit().abs();
            let d = rng.unit();
            let (mut fast_state, mut fast_x) = (state.clone(), x.clone());
            let (mut slow_state, mut slow_x) = (state.clone(), x.clone());
            // Two tokens: the second starts from the first's state and outputs.
            for token in 0..2 {
                scan_head(&mut fast_state, &mut fast_x, &b, &c, decay, delta, d);
                portable::scan_head(&mut slow_state, &mut slow_x, &b, &c, decay, delta, d);
                let what = format!("{channels}x{n} scales {sscale:e}/{xscale:e} token {token}");
                same_f32(&format!("{what} state"), &fast_state, &slow_state);
                same_f32(&format!("{what} x"), &fast_x, &slow_x);
            }
            same_f32("state past the head", &fast_state[channels * n..], &state[channels * n..]);
        }
    }
}

/// The two-token scan (the ARM kernel with its lone-channel and other-shape fallbacks)
/// against its twin, token after token with the portable one-token scan: N = 64 (the
/// kernel's) with odd channel counts, more pairs than one call's 16, and shapes it leaves
/// alone; states from subnormal to overflowing, zero and tiny x, zero `B`/`C` values of both
/// signs, an infinity and a NaN in the inputs; the next tokens' rows as `ahead` (read only).
#[test]
fn scan2_kernel_agrees_with_its_twin() {
    use armlet_core::kernels::scan_head2;
    let mut rng = Rng(0x5ca7_0000_0000_0022);
    let shapes = [(32, 64), (3, 64), (1, 64), (2, 64), (34, 64), (64, 64), (5, 16), (4, 128), (7, 24), (3, 13)];
    let scales = [(1.0f32, 1.0f32), (1e-39, 1e-3), (1e30, 1e3), (3e38, 1.0), (1.0, 1e-30), (1.0, 0.0)];
    for (channels, n) in shapes {
        for (case, (sscale, xscale)) in scales.into_iter().enumerate() {
            let tail = 300;
            let state: Vec<f32> = (0..channels * n + tail).map(|_| rng.unit() * sscale).collect();
            let mut bc: Vec<Vec<f32>> = (0..4).map(|_| (0..n).map(|_| rng.unit() * 4.0).collect()).collect();
            if case == 0 && n > 10 {
                bc[0][3] = 0.0;
                bc[1][5] = -0.0;
                bc[2][7] = f32::INFINITY;
                bc[3][9] = -0.0;
            }
            if case == 1 && n > 10 {
                bc[1][2] = f32::NAN;
            }
            let x: Vec<Vec<f32>> = (0..2).map(|_| (0..channels).map(|_| rng.unit() * xscale).collect()).collect();
            let ahead: Vec<f32> = (0..700).map(|_| rng.unit()).collect();
            let decay: [f32; 2] = core::array::from_fn(|_| 0.5 + 0.499 * rng.unit());
            let delta: [f32; 2] = core::array::from_fn(|_| 0.01 + 2.0 * rng.unit().abs());
            let d = rng.unit();
            let (mut fast_state, mut fx0, mut fx1) = (state.clone(), x[0].clone(), x[1].clone());
            let (mut slow_state, mut sx0, mut sx1) = (state.clone(), x[0].clone(), x[1].clone());
            // Two calls: the second starts from the first's state.
            for call in 0..2 {
                let aheads: [&[f32]; 2] = if call == 0 { [&ahead, &ahead[5..]] } else { [&[], &ahead[690..]] };
                scan_head2(&mut fast_state, scan2_tokens(&mut fx0, &mut fx1, &bc, decay, delta, aheads), d);
                portable::scan_head2(&mut slow_state, scan2_tokens(&mut sx0, &mut sx1, &bc, decay, delta, aheads), d);
                let what = format!("{channels}x{n} scales {sscale:e}/{xscale:e} call {call}");
                same_f32(&format!("{what} state"), &fast_state, &slow_state);
                same_f32(&format!("{what} x0"), &fx0, &sx0);
                same_f32(&format!("{what} x1"), &fx1, &sx1);
            }
            same_f32("state past the head", &fast_state[channels * n..], &state[channels * n..]);
        }
    }
}

/// The two tokens of `scan2_kernel_agrees_with_its_twin`: `bc` holds B0, C0, B1, C1.
fn scan2_tokens<'a>(
    x0: &'a mut [f32],
    x1: &'a mut [f32],
    bc: &'a [Vec<f32>],
    decay: [f32; 2],
    delta: [f32; 2],
    aheads: [&'a [f32]; 2],
) -> [armlet_core::kernels::scan::ScanToken<'a>; 2] {
    use armlet_core::kernels::scan::ScanToken;
    [
        ScanToken { x: x0, b: &bc[0], c: &bc[1], decay: decay[0], delta: delta[0], ahead: aheads[0], ahead_x: aheads[1] },
        ScanToken { x: x1, b: &bc[2], c: &bc[3], decay: decay[1], delta: delta[1], ahead: aheads[1], ahead_x: aheads[0] },
    ]
}

/// Mode D's f16-rounded value accumulation (the ARM kernel with its fallback) against its
/// portable twin: rows of 64 and 200 values (runs of eight and a tail), values from f16
/// subnormals to f16 overflow, zeros of both signs and an infinity, so runs take both the
/// in-place rounding and the full one.
#[test]
fn f16_accumulation_agrees_with_its_twin() {
    use armlet_core::kernels::accumulate_rounded;
    let mut rng = Rng(7);
    let scales = [1.0f32, 3e-6, 1e-8, 2e4, 7e4, 0.0];
    for case in 0..120 {
        // One run, two, whole rows, a tail, and more than one call's 32 runs.
        let n = [200, 64, 64, 8, 16, 264, 13][case % 7];
        let scale = scales[case % scales.len()];
        // Every fourth case: f16 values and vs = 0.75, whose sums often fall on a tie.
        let ties = case % 4 == 1;
        let value = |rng: &mut Rng, scale: f32| {
            let x = rng.unit() * scale;
            if ties { armlet_core::math::round_f16(x) } else { x }
        };
        let mut acc: Vec<f32> = (0..n).map(|_| value(&mut rng, scale)).collect();
        let v: Vec<f32> = (0..n).map(|i| if i % 37 == 5 { rng.unit() * 1e5 } else { value(&mut rng, scale) }).collect();
        if case == 7 {
            acc[3] = -0.0;
            acc[20] = f32::INFINITY;
        }
        let vs = if ties { 0.75 } else { 0.25 + rng.unit().abs() };
        let mut fast = acc.clone();
        accumulate_rounded(&mut fast, &v, vs);
        let mut slow = acc.clone();
        portable::accumulate_rounded(&mut slow, &v, vs);
        for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
            assert!(f.to_bits() == s.to_bits() || (f.is_nan() && s.is_nan()), "case {case} value {i}: ARM {f:e} portable {s:e}");
        }
    }
}

/// The heads variant of the f16-rounded accumulation (one kernel call for the heads of a
/// token, each with its own weight) against its portable twin: 1 to 8 heads of 8, 16, 24 or
/// 64 values (the kernel's shapes, and 5 heads of 64 past its 32 runs), values from f16
/// subnormals to f16 overflow, a zero weight, zeros of both signs, an infinity and a NaN.
#[test]
fn f16_head_accumulation_agrees_with_its_twin() {
    use armlet_core::kernels::accumulate_heads;
    let mut rng = Rng(11);
    let scales = [1.0f32, 3e-6, 1e-8, 2e4, 7e4, 0.0];
    for case in 0..160 {
        let dh = [64, 8, 16, 24, 64][case % 5];
        let heads = 1 + case % 8;
        let scale = scales[case % scales.len()];
        let ties = case % 4 == 1;
        let value = |rng: &mut Rng, scale: f32| {
            let x = rng.unit() * scale;
            if ties { armlet_core::math::round_f16(x) } else { x }
        };
        let mut acc: Vec<f32> = (0..heads * dh).map(|_| value(&mut rng, scale)).collect();
        let v: Vec<f32> = (0..dh).map(|i| if i % 37 == 5 { rng.unit() * 1e5 } else { value(&mut rng, scale) }).collect();
        if case % 13 == 7 {
            acc[3] = -0.0;
            acc[heads * dh - 2] = f32::INFINITY;
            acc[dh / 2] = f32::NAN;
        }
        let vs: Vec<f32> = (0..heads)
            .map(|h| if h == 2 { 0.0 } else if ties { 0.75 } else { 0.25 + rng.unit().abs() * [1.0, 1e-4, 1e3][h % 3] })
            .collect();
        let mut fast = acc.clone();
        accumulate_heads(&mut fast, &v, &vs);
        let mut slow = acc.clone();
        portable::accumulate_heads(&mut slow, &v, &vs);
        for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
            assert!(f.to_bits() == s.to_bits() || (f.is_nan() && s.is_nan()), "case {case} value {i}: ARM {f:e} portable {s:e}");
        }
    }
}

/// A value for mode D's attention tests: mostly f16-representable values of the scale
/// (the cache and the queries hold f16 values), with specials mixed in: zeros of both signs,
/// f16 subnormals, f16-range extremes, infinities and NaNs (two payloads).
fn attention_value(rng: &mut Rng, scale: f32, specials: bool) -> f32 {
    let x = armlet_core::math::round_f16(rng.unit() * scale);
    if !specials {
        return x;
    }
    match rng.next() % 64 {
        0 => 0.0,
        1 => -0.0,
        2 => 5.960_464_5e-8 * (1 + rng.next() % 1023) as f32,
        3 => -6.55e4,
        4 => f32::INFINITY,
        5 => f32::NEG_INFINITY,
        6 => f32::from_bits(0x7fc0_1234),
        7 => f32::from_bits(0xffc0_0042),
        _ => x,
    }
}

fn same_bits(what: &str, fast: &[f32], slow: &[f32]) {
    for (i, (f, s)) in fast.iter().zip(slow).enumerate() {
        assert!(f.to_bits() == s.to_bits(), "{what} value {i}: ARM {f:e} ({:#x}) portable {s:e} ({:#x})", f.to_bits(), s.to_bits());
    }
}

/// Mode D's cache-row widening (the ARM kernel with its fallback) against its portable
/// twin and `f16_to_f32`, bit for bit: every f16 code in runs of eight (all-normal runs and
/// runs with zeros, subnormals, infinities and NaNs), then random rows of 64 values with
/// scattered specials, and rows of other lengths and alignments.
#[test]
fn attention_widening_agrees_with_its_twin() {
    use armlet_core::kernels::widen;
    use armlet_core::math::f16_to_f32;
    let codes: Vec<u16> = (0..=u16::MAX).collect();
    for row in codes.chunks(64) {
        let (mut fast, mut slow) = (vec![0f32; 64], vec![0f32; 64]);
        widen(row, &[], &mut fast);
        portable::widen(row, &[], &mut slow);
        let exact: Vec<f32> = row.iter().map(|&h| f16_to_f32(h)).collect();
        same_bits(&format!("codes from {:#06x}", row[0]), &fast, &slow);
        same_bits(&format!("codes from {:#06x}", row[0]), &fast, &exact);
    }
    let mut rng = Rng(0x31de_0000_0000_0021);
    for case in 0..200 {
        let n = [64, 64, 8, 13, 5, 256, 264, 72][case % 8];
        let skip = usize::from(case % 5 == 4);
        let buf: Vec<u16> = (0..n + skip)
            .map(|_| match rng.next() % 50 {
                0 => 0x8000,
                1 => (rng.next() % 0x400) as u16,
                2 => 0x7c00 | (rng.next() % 0x400) as u16,
                _ => 0x0400 + (rng.next() % 0x7800) as u16 | if rng.next() % 2 == 0 { 0x8000 } else { 0 },
            })
            .collect();
        let row = &buf[skip..];
        let (mut fast, mut slow) = (vec![3f32; n + 1], vec![3f32; n + 1]);
        // The next row to widen: none, the row itself, a row as long, a shorter one.
        let ahead: &[u16] = match case % 4 {
            0 => &[],
            1 => row,
            2 => &buf[..n],
            _ => &buf[..n / 2],
        };
        widen(row, ahead, &mut fast[..n]);
        portable::widen(row, ahead, &mut slow[..n]);
        same_bits(&format!("case {case}"), &fast, &slow);
    }
}

/// Mode D's scores (the ARM kernel, pairs of rows against one key, and its odd last row)
/// against the portable twin, bit for bit, NaN payloads included: key lengths 8 to 128 and
/// others (1, 4, 12, 63: the portable path), 1 to 9 rows, plain values and specials.
#[test]
fn attention_scores_agree_with_their_twin() {
    use armlet_core::kernels::dot_rows;
    let mut rng = Rng(0xa77e_0000_0000_0021);
    for d in [64, 8, 16, 24, 32, 56, 72, 128, 1, 4, 12, 63] {
        for rows in 1..=9 {
            for case in 0..12 {
                let specials = case % 3 == 2;
                let scale = [1.0f32, 30.0, 1e-3, 6e4][case % 4];
                let q: Vec<f32> = (0..rows * d + 5).map(|_| attention_value(&mut rng, scale, specials)).collect();
                let k: Vec<f32> = (0..d).map(|_| attention_value(&mut rng, scale, specials)).collect();
                let (mut fast, mut slow) = (vec![7f32; rows + 1], vec![7f32; rows + 1]);
                dot_rows(&q, &k, &mut fast[..rows]);
                portable::dot_rows(&q, &k, &mut slow[..rows]);
                same_bits(&format!("d {d} rows {rows} case {case}"), &fast, &slow);
            }
        }
    }
}

/// Mode D's accumulator rescale at a new maximum (the ARM kernel with its fallback) against
/// its portable twin: rows of 64, 200 and 5 values (runs of eight and tails), values and
/// factors that put products in and out of the in-place rounding range, and specials.
#[test]
fn attention_rescale_agrees_with_its_twin() {
    use armlet_core::kernels::scale_rounded;
    let mut rng = Rng(0x5ca1_e000_0000_0021);
    for case in 0..120 {
        let n = [64, 200, 5, 8, 16][case % 5];
        let scale = [1.0f32, 3e-5, 6e4, 1e-7, 2e4, 0.5][case % 6];
        let acc: Vec<f32> = (0..n).map(|_| attention_value(&mut rng, scale, case % 4 == 3)).collect();
        // 0.75 and 0.375 times an f16 value give a twelfth significant bit: ties, half the
        // time, for the rounding to even.
        let ms = match case % 8 {
            0 => 0.0,
            1 => 1e-30,
            2 => 0.999,
            3 => 0.75,
            4 => 0.375,
            _ => rng.unit().abs(),
        };
        let (mut fast, mut slow) = (acc.clone(), acc.clone());
        scale_rounded(&mut fast, ms);
        portable::scale_rounded(&mut slow, ms);
        same_bits(&format!("case {case} ms {ms:e}"), &fast, &slow);
    }
}

// The host dequantization and dot tests, run again here (on ARM under qemu).
#[path = "../../../core/tests/quant_vectors.rs"]
mod quant_vectors;
#[path = "../../../core/tests/quant_dot.rs"]
mod quant_dot;

/// A batch's product (`matmul`: bands of rows, every token over a band) against each
/// token's own `matvec`, bit for bit, for every weight type with a product: batches of 2, 3
/// and 7 tokens, matrices of one band and of several (a band is about 2.3 KB of weights),
/// rows short and long.
#[test]
fn batched_products_equal_one_token_at_a_time() {
    use armlet_core::kernels::matmul;
    let mut rng = Rng(0xba7c_4ed0_0000_0021);
    let others = [GgmlType::F16, GgmlType::BF16, GgmlType::F32];
    for ty in HOT_TYPES.into_iter().chain(others) {
        for (rows, nb) in [(3, 2), (41, 2), (9, 18), (17, 3)] {
            let cols = nb * if ty.block_size() == 256 { 256 } else { 32 * 8 };
            let data = random_matrix(ty, rows, cols, &mut rng, false);
            let w = Matrix::new(ty, rows, cols, &data).unwrap();
            for n in [2, 3, 7] {
                let xs: Vec<Vec<f32>> = (0..n).map(|_| random_activations(cols, &mut rng, 1.0)).collect();
                let mut bufs = vec![vec![0u8; activation_bytes(ty, cols).unwrap()]; n];
                let acts: Vec<_> = xs.iter().zip(bufs.iter_mut()).map(|(x, b)| quantize_activations(ty, x, b).unwrap()).collect();
                let mut batched = vec![0f32; n * rows];
                matmul(&w, &acts, &mut batched).unwrap();
                for (t, a) in acts.iter().enumerate() {
                    let mut single = vec![0f32; rows];
                    matvec(&w, a, &mut single).unwrap();
                    same(ty, &batched[t * rows..(t + 1) * rows], &single);
                }
                assert!(matmul(&w, &acts, &mut batched[1..]).is_err(), "{}: a short output is refused", ty.name());
            }
        }
    }
}
