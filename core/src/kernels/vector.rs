//! The float glue between the kernels, written for the VFP11: the element-wise loops (the
//! residual adds, the gating product, a norm's scaling) and the RMS norm's f64 sums of
//! squares. A VFP11 FADD/FMUL waits 8 cycles (9 in f64) for an operand, so a loop whose
//! every step waits for the one before runs at a fraction of the issue rate. Here eight
//! values, or four rows' sums, go side by side: every value gets the same IEEE operations
//! in the same order as the plain loop, and every row's sum is the same sequential chain,
//! so the results are the plain loop's, bit for bit; only independent operations overlap.
//! Plain Rust (the compiler emits `vldmia`/`vstmia` groups and independent VFP ops).
#![forbid(unsafe_code)]

/// Values per step of the element-wise loops.
const LANES: usize = 8;

/// The first value of a sum of squares: `Iterator::sum` of f64 starts from -0.0 (the
/// squares are never -0.0, so it only matters for an empty row, kept for exactness).
const SUM_START: f64 = -0.0;

/// `y ← y · z` value by value (the first `min(len)` values; likewise below: the slices are
/// cut to the shortest first, so their chunks and remainders line up).
pub fn mul_in_place(ys: &mut [f32], zs: &[f32]) {
    let n = ys.len().min(zs.len());
    let (ys, zs) = (&mut ys[..n], &zs[..n]);
    let mut yc = ys.chunks_exact_mut(LANES);
    let mut zc = zs.chunks_exact(LANES);
    for (y, z) in (&mut yc).zip(&mut zc) {
        let mut a = [0f32; LANES];
        for i in 0..LANES {
            a[i] = y[i] * z[i];
        }
        y.copy_from_slice(&a);
    }
    for (y, z) in yc.into_remainder().iter_mut().zip(zc.remainder()) {
        *y *= z;
    }
}

/// `x ← x + a` value by value (the first `min(len)` values).
pub fn add_in_place(xs: &mut [f32], adds: &[f32]) {
    let n = xs.len().min(adds.len());
    let (xs, adds) = (&mut xs[..n], &adds[..n]);
    let mut xc = xs.chunks_exact_mut(LANES);
    let mut ac = adds.chunks_exact(LANES);
    for (x, a) in (&mut xc).zip(&mut ac) {
        let mut r = [0f32; LANES];
        for i in 0..LANES {
            r[i] = x[i] + a[i];
        }
        x.copy_from_slice(&r);
    }
    for (x, a) in xc.into_remainder().iter_mut().zip(ac.remainder()) {
        *x += a;
    }
}

/// `x ← x + (a + m)` value by value (the first `min(len)` values): Falcon-H1's residual,
/// attention and mixer summed first.
pub fn add_sum_in_place(xs: &mut [f32], a: &[f32], m: &[f32]) {
    let n = xs.len().min(a.len()).min(m.len());
    let (xs, a, m) = (&mut xs[..n], &a[..n], &m[..n]);
    let mut xc = xs.chunks_exact_mut(LANES);
    let mut ac = a.chunks_exact(LANES);
    let mut mc = m.chunks_exact(LANES);
    for ((x, a), m) in (&mut xc).zip(&mut ac).zip(&mut mc) {
        let mut s = [0f32; LANES];
        for i in 0..LANES {
            s[i] = a[i] + m[i];
        }
        for i in 0..LANES {
            s[i] += x[i];
        }
        x.copy_from_slice(&s);
    }
    for ((x, a), m) in xc.into_remainder().iter_mut().zip(ac.remainder()).zip(mc.remainder()) {
        *x += a + m;
    }
}

/// `out[i] = (x[i] · s) · w[i]` (the first `min(len)` values): an RMS norm's scaling.
pub fn scale_weighted(x: &[f32], s: f32, w: &[f32], out: &mut [f32]) {
    let n = x.len().min(w.len()).min(out.len());
    let (x, w, out) = (&x[..n], &w[..n], &mut out[..n]);
    let mut xc = x.chunks_exact(LANES);
    let mut wc = w.chunks_exact(LANES);
    let mut oc = out.chunks_exact_mut(LANES);
    for ((x, w), o) in (&mut xc).zip(&mut wc).zip(&mut oc) {
        let mut r = [0f32; LANES];
        for i in 0..LANES {
            r[i] = x[i] * s;
        }
        for i in 0..LANES {
            r[i] *= w[i];
        }
        o.copy_from_slice(&r);
    }
    for ((x, w), o) in xc.remainder().iter().zip(wc.remainder()).zip(oc.into_remainder()) {
        *o = (x * s) * w;
    }
}

/// [`scale_weighted`] in place.
pub fn scale_weighted_in_place(x: &mut [f32], s: f32, w: &[f32]) {
    let n = x.len().min(w.len());
    let (x, w) = (&mut x[..n], &w[..n]);
    let mut xc = x.chunks_exact_mut(LANES);
    let mut wc = w.chunks_exact(LANES);
    for (x, w) in (&mut xc).zip(&mut wc) {
        let mut r = [0f32; LANES];
        for i in 0..LANES {
            r[i] = x[i] * s;
        }
        for i in 0..LANES {
            r[i] *= w[i];
        }
        x.copy_from_slice(&r);
    }
    for (x, w) in xc.into_remainder().iter_mut().zip(wc.remainder()) {
        *x = (*x * s) * w;
    }
}

/// `Σ (v·v as f64)` over `x` in order, each square rounded to f32 (ggml's RMS norm sum):
/// one chain, but four squares are formed ahead of their adds.
pub fn sum_squares(x: &[f32]) -> f64 {
    let mut sum = SUM_START;
    let mut xc = x.chunks_exact(4);
    for v in &mut xc {
        let q = [(v[0] * v[0]) as f64, (v[1] * v[1]) as f64, (v[2] * v[2]) as f64, (v[3] * v[3]) as f64];
        sum += q[0];
        sum += q[1];
        sum += q[2];
        sum += q[3];
    }
    for &v in xc.remainder() {
        sum += (v * v) as f64;
    }
    sum
}

/// [`sum_squares`] of four rows side by side (each over its first `min(len)` values of the
/// four; callers pass rows of one width): four independent chains, each in its row's order.
pub fn sum_squares4(rows: [&[f32]; 4]) -> [f64; 4] {
    let mut acc = [SUM_START; 4];
    let [r0, r1, r2, r3] = rows;
    for (((&a, &b), &c), &d) in r0.iter().zip(r1).zip(r2).zip(r3) {
        let q = [(a * a) as f64, (b * b) as f64, (c * c) as f64, (d * d) as f64];
        for r in 0..4 {
            acc[r] += q[r];
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values with every f32 special and a spread of magnitudes (a deterministic LCG).
    fn values(n: usize, seed: u32) -> heapless::Vec<f32, 64> {
        let specials = [0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-42, -3e-39, f32::MAX, 1e30];
        let mut s = seed;
        let mut v = heapless::Vec::new();
        for i in 0..n {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let x = if i % 7 == 3 { specials[(s >> 28) as usize % specials.len()] } else { f32::from_bits(s >> 2 | 0x3000_0000) * if s & 1 == 0 { 1.0 } else { -3.0 } };
            let _ = v.push(x);
        }
        v
    }

    fn same(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            // A NaN's sign and payload are not specified (Miri picks them at random).
            assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{x} vs {y}");
        }
    }

    #[test]
    fn element_wise_loops_equal_the_plain_loops() {
        for n in [0, 1, 7, 8, 9, 16, 23, 61] {
            let (x, a, m) = (values(n, 1), values(n, 2), values(n, 3));
            let mut got = x.clone();
            mul_in_place(&mut got, &a);
            let want: heapless::Vec<f32, 64> = x.iter().zip(&a).map(|(x, a)| x * a).collect();
            same(&got, &want);
            let mut got = x.clone();
            add_in_place(&mut got, &a);
            let want: heapless::Vec<f32, 64> = x.iter().zip(&a).map(|(x, a)| x + a).collect();
            same(&got, &want);
            let mut got = x.clone();
            add_sum_in_place(&mut got, &a, &m);
            let want: heapless::Vec<f32, 64> = x.iter().zip(&a).zip(&m).map(|((x, a), m)| x + (a + m)).collect();
            same(&got, &want);
            let s = 0.37f32;
            let mut got = [0f32; 64];
            scale_weighted(&x, s, &a, &mut got[..n]);
            let want: heapless::Vec<f32, 64> = x.iter().zip(&a).map(|(x, a)| (x * s) * a).collect();
            same(&got[..n], &want);
            let mut got = x.clone();
            scale_weighted_in_place(&mut got, s, &a);
            same(&got, &want);
        }
    }

    #[test]
    fn sums_of_squares_equal_the_sequential_sum() {
        for n in [0, 1, 3, 4, 5, 17, 64] {
            let rows = [values(n, 4), values(n, 5), values(n, 6), values(n, 7)];
            let plain = |r: &[f32]| r.iter().map(|&v| (v * v) as f64).sum::<f64>();
            let four = sum_squares4([&rows[0], &rows[1], &rows[2], &rows[3]]);
            for (r, s) in rows.iter().zip(four) {
                // A NaN's sign and payload are not specified (Miri picks them at random).
                let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                assert!(same(sum_squares(r), plain(r)));
                assert!(same(s, plain(r)));
            }
        }
    }
}
