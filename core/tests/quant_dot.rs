//! Matrix-vector products of every supported type against the same computation done in f64
//! from the dequantized weights (checked bit-exact against numpy in quant_vectors.rs) and the
//! dequantized activations: within 1e-6 of sum |w_i x_i|. Also checks the activation
//! quantization itself (each code within half a step of x, llama.cpp's scale choice).

use armlet_core::kernels::matvec;
use armlet_core::quant::{
    activation_bytes, dequantize_row, f16_to_f32, f32_to_f16, quantize_activations, GgmlType, Matrix, QuantError,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// f16 field offsets per type (scales to keep finite so the products are meaningful).
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

fn random_matrix(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    let rb = ty.row_bytes(cols as u64).unwrap() as usize;
    let mut data: Vec<u8> = (0..rows * rb).map(|_| rng.next() as u8).collect();
    match ty {
        GgmlType::F32 => {
            for c in data.chunks_exact_mut(4) {
                c.copy_from_slice(&(rng.unit() * 0.1).to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for c in data.chunks_exact_mut(2) {
                c.copy_from_slice(&f32_to_f16(rng.unit() * 0.1).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for c in data.chunks_exact_mut(2) {
                c.copy_from_slice(&((rng.unit().to_bits() >> 16) as u16).to_le_bytes());
            }
        }
        _ => {
            for (bi, b) in data.chunks_exact_mut(ty.block_bytes()).enumerate() {
                match bi % 7 {
                    0 => b.iter_mut().for_each(|v| *v = 0x00), // all-min quants
                    1 => b.iter_mut().for_each(|v| *v = 0xff), // all-max quants
                    _ => {}
                }
                for (k, &off) in f16_fields(ty).iter().enumerate() {
                    let scale = match bi % 5 {
                        0 => 60000.0,  // extreme
                        1 => 3.0e-7,   // f16 subnormal
                        _ => 0.01 * (1.0 + rng.unit()),
                    };
                    let v = if k == 1 { -scale * 0.3 } else { scale };
                    b[off..off + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
                }
            }
        }
    }
    data
}

/// The dequantized activations and, for Q8_1, the stored block sums.
fn dequant_activations(ty: GgmlType, bytes: &[u8], n: usize, x: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let rd = |b: &[u8], o: usize| f32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    match ty {
        GgmlType::F32 => (x.iter().map(|v| *v as f64).collect(), vec![]),
        GgmlType::F16 => (
            bytes.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])) as f64).collect(),
            vec![],
        ),
        GgmlType::BF16 => (
            bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64).collect(),
            vec![],
        ),
        GgmlType::Q8_0 | GgmlType::Q8_1 => {
            let mut v = vec![];
            let mut s = vec![];
            for (b, xb) in bytes.chunks_exact(40).zip(x.chunks_exact(32)) {
                let d = rd(b, 0);
                // d is the f16 rounding of amax/127
                let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert_eq!(d, f16_to_f32(f32_to_f16(amax / 127.0)));
                let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
                let mut qsum = 0i32;
                for (q, xv) in b[8..].iter().zip(xb) {
                    let q = *q as i8;
                    qsum += q as i32;
                    assert!(((xv * id) as f64 - q as f64).abs() <= 0.5 + 1e-6);
                    v.push(d as f64 * q as f64);
                }
                if ty == GgmlType::Q8_1 {
                    assert_eq!(rd(b, 4), f16_to_f32(f32_to_f16((amax / 127.0) * qsum as f32)));
                }
                s.push(rd(b, 4) as f64);
            }
            (v, s)
        }
        _ => {
            let mut v = vec![];
            for (b, xb) in bytes[..n / 256 * 292].chunks_exact(292).zip(x.chunks_exact(256)) {
                let d = rd(b, 0);
                let mut bs = [0i32; 16];
                for (j, (q, xv)) in b[4..260].iter().zip(xb).enumerate() {
                    let q = *q as i8;
                    bs[j / 16] += q as i32;
                    assert!((xv / d - q as f32).abs() <= 0.5001 || q == 127, "x {xv} d {d} q {q}");
                    v.push(d as f64 * q as f64);
                }
                for j in 0..16 {
                    assert_eq!(i16::from_le_bytes([b[260 + 2 * j], b[261 + 2 * j]]) as i32, bs[j]);
                }
            }
            (v, vec![])
        }
    }
}

fn check_type(ty: GgmlType, rows: usize, cols: usize, seed: u64) {
    let mut rng = Rng(seed);
    let data = random_matrix(ty, rows, cols, &mut rng);
    let w = Matrix::new(ty, rows, cols, &data).unwrap();
    let x: Vec<f32> = (0..cols)
        .map(|i| rng.unit() * if i % 97 == 0 { 30.0 } else { 1.0 })
        .collect();
    let mut buf = vec![0u8; activation_bytes(ty, cols).unwrap() + 1];
    // An odd start offset exercises the alignment handling.
    let a = quantize_activations(ty, &x, &mut buf[1..]).unwrap();
    let mut out = vec![0f32; rows];
    matvec(&w, &a, &mut out).unwrap();
    let (xd, sums) = dequant_activations(a.ty(), a.bytes(), cols, &x);
    let mut wrow = vec![0f32; cols];
    let mut worst = 0f64;
    for r in 0..rows {
        dequantize_row(ty, w.row(r).unwrap(), &mut wrow).unwrap();
        let (mut exact, mut mag) = (0f64, 0f64);
        if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) {
            // The same computation: (d_w q_w) . x + m_w * s_x, from the dequantized values.
            let bb = ty.block_bytes();
            for (k, blk) in w.row(r).unwrap().chunks_exact(bb).enumerate() {
                let m = f16_to_f32(u16::from_le_bytes([blk[2], blk[3]])) as f64;
                for i in 32 * k..32 * k + 32 {
                    let wq = wrow[i] as f64 - m;
                    exact += wq * xd[i];
                    mag += (wq * xd[i]).abs();
                }
                exact += m * sums[k];
                mag += (m * sums[k]).abs();
            }
        } else {
            for (wv, xv) in wrow.iter().zip(&xd) {
                exact += *wv as f64 * xv;
                mag += (*wv as f64 * xv).abs();
            }
        }
        let err = (out[r] as f64 - exact).abs() / mag.max(1e-30);
        worst = worst.max(err);
        assert!(err <= 1e-6, "{} row {r}: got {} exact {exact} rel err {err:e}", ty.name(), out[r]);
    }
    eprintln!("{}: worst relative error {worst:e}", ty.name());
    // Row by row through 1-row matrices gives the same bits (multi-row kernels = 1-row).
    for r in 0..rows.min(5) {
        let one = Matrix::new(ty, 1, cols, w.row(r).unwrap()).unwrap();
        let mut o = [0f32; 1];
        matvec(&one, &a, &mut o).unwrap();
        assert_eq!(o[0].to_bits(), out[r].to_bits());
    }
}

#[test]
fn all_types_match_f64_of_dequantized() {
    use GgmlType::*;
    for (i, ty) in [F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K]
        .into_iter()
        .enumerate()
    {
        check_type(ty, 13, 1024, 0x9e37_79b9_7f4a_7c15 ^ i as u64);
        check_type(ty, 4, 256, 77 + i as u64);
    }
}

#[test]
fn kquant_activations_from_another_kquant_layout_give_same_bits() {
    use GgmlType::*;
    let mut rng = Rng(5);
    let x: Vec<f32> = (0..512).map(|_| rng.unit()).collect();
    for ty in [Q2_K, Q3_K, Q4_K, Q5_K, Q6_K] {
        let data = random_matrix(ty, 6, 512, &mut rng);
        let w = Matrix::new(ty, 6, 512, &data).unwrap();
        let mut b1 = vec![0u8; activation_bytes(ty, 512).unwrap()];
        let mut o1 = [0f32; 6];
        matvec(&w, &quantize_activations(ty, &x, &mut b1).unwrap(), &mut o1).unwrap();
        for other in [Q2_K, Q4_K, Q6_K] {
            let mut b2 = vec![0u8; activation_bytes(other, 512).unwrap()];
            let mut o2 = [0f32; 6];
            matvec(&w, &quantize_activations(other, &x, &mut b2).unwrap(), &mut o2).unwrap();
            assert_eq!(o1.map(f32::to_bits), o2.map(f32::to_bits));
        }
    }
}

#[test]
fn shape_errors() {
    let x = [0f32; 64];
    let mut buf = [0u8; 8];
    assert!(matches!(
        quantize_activations(GgmlType::Q8_0, &x, &mut buf),
        Err(QuantError::BadLength { .. })
    ));
    assert!(matches!(
        quantize_activations(GgmlType::Q4_K, &x, &mut buf),
        Err(QuantError::NotBlockMultiple { .. })
    ));
    let mut big = vec![0u8; 4096];
    let a = quantize_activations(GgmlType::Q8_0, &x, &mut big).unwrap();
    let data = vec![0u8; 2 * 34 * 2];
    let w = Matrix::new(GgmlType::Q4_1, 2, 64, &data[..2 * 40]).unwrap();
    assert!(matches!(
        matvec(&w, &a, &mut [0f32; 2]),
        Err(QuantError::ActivationMismatch { .. })
    ));
}
