//! Every loop the forward pass spends its time in, in one place: the matrix-vector product
//! of each weight type ([`matvec`]), SiLU and GELU ([`silu`]), the Mamba2 scan ([`scan`]), mode D's
//! f16-rounded value accumulation ([`f16acc`]) and its scores and rescale ([`attend`]).
//!
//! Each kernel is a portable function, which is the specification, and the hot ones have an
//! ARMv6 twin in `arm/` (DSP `SMLAD` for the integer products, VFP11-scheduled float code)
//! that gives the same bits. Which twin runs is chosen by `cfg` here and nowhere else (the
//! `pub use` pair below); `tests-qemu/kernels` proves the pairs agree on ARM through
//! [`portable`]. `arm/` is the only place in the core with `unsafe` and `asm!`.
//!
//! Kernels read the weight and activation layouts that `quant` describes, and the scalar
//! functions of `math`; neither of those imports kernels. Activation quantization stays in
//! `quant`: it runs once per input vector (linear in its width, where a product is width ×
//! rows) and one conversion serves every matrix that reads the same input; only Q8_K's block
//! loop has an ARM kernel here (`quantize_q8k`), which the model hands to
//! `quant::quantize_activations_with`.
#![deny(unsafe_code)]

#[cfg(target_arch = "arm")]
mod arm;
pub mod attend;
pub mod batch;
pub mod f16acc;
pub mod float;
pub mod kquant;
pub mod legacy;
pub mod scan;
pub mod silu;
pub mod vector;

pub use silu::{gelu_in_place, silu_in_place};

use crate::math::{bf16_to_f32, f16_to_f32};
use crate::quant::{activation_type, row_bytes_of, Activations, GgmlType, Matrix, QuantError};

// The one choice between an ARM kernel and its portable twin.
#[cfg(target_arch = "arm")]
pub use arm::{
    accumulate_heads, accumulate_rounded, dot_rows, scale_rounded, widen, matmul4_kquant, matmul4_legacy, matvec_kquant, matvec_q4_0, matvec_q4_1, matvec_q5_0, matvec_q5_1, matvec_q8_0,
    quantize_q8k, scan_head, scan_head2, silu_quads,
};
#[cfg(not(target_arch = "arm"))]
pub use portable::{
    accumulate_heads, accumulate_rounded, dot_rows, scale_rounded, widen, matmul4_kquant, matmul4_legacy, matvec_kquant, matvec_q4_0, matvec_q4_1, matvec_q5_0, matvec_q5_1, matvec_q8_0,
    quantize_q8k, scan_head, scan_head2, silu_quads,
};

/// The portable twins under the ARM kernels' names and signatures: what every other target
/// runs, and what the agreement tests hold the ARM kernels to.
///
/// - `matvec_kquant(ty, w, rb, std_act, pairs, out)`: K-quant rows of `rb` bytes times the
///   standard Q8_K blocks (`pairs`, their permuted copy, feeds only the ARM kernel).
/// - `matvec_q8_0`, `matvec_q4_1`, `matvec_q4_0`, `matvec_q5_0`, `matvec_q5_1`
///   `(w, rb, act, out)`: rows times activations prepared for that weight type.
/// - `silu_quads(xs) -> done`: SiLU over the leading whole quads of `xs`, stopping before the
///   first quad with a value outside the kernel's range ([`silu::silu_quads_portable`]).
/// - `scan_head(state, x, b, c, decay, delta, d)`: one SSM head ([`scan::scan_head_portable`]).
/// - `scan_head2(state, tokens, d)`: one SSM head over two consecutive tokens
///   ([`scan::scan_head2_portable`]).
/// - `accumulate_rounded(acc, v, vs)`: `acc[i] ← r16(acc[i] + v[i]·vs)`.
/// - `accumulate_heads(acc, v, vs)`: `accumulate_rounded` of each `v.len()` values of `acc`
///   with its own `vs[h]` ([`f16acc::accumulate_heads_portable`]).
/// - `dot_rows(q, k, out)`: mode D's scores of the query rows `q` against one key
///   ([`attend::dot_rows_portable`]).
/// - `scale_rounded(acc, ms)`: `acc[i] ← r16(ms·acc[i])`.
/// - `widen(row, ahead, out)`: a cached f16 row to f32, exactly as `math::f16_to_f32`
///   (`ahead`, the next row to widen, may be read early).
/// - `matmul4_kquant(ty, w, rb, acts, rows, out)`: K-quant rows times four tokens' Q8_K
///   activations ([`batch`]), token-major in `out`.
/// - `matmul4_legacy(ty, w, rb, acts, rows, out)`: Q4_1, Q4_0 or Q8_0 rows times four
///   tokens' activations prepared for `ty` ([`batch`]), token-major in `out`.
/// - `quantize_q8k(layout, x, std, pairs)`: activations to Q8_K blocks and their pair blocks
///   (`quant::q8::quantize_q8_k_portable`).
pub mod portable {
    pub use crate::quant::q8::quantize_q8_k_portable as quantize_q8k;
    pub use super::attend::dot_rows_portable as dot_rows;
    pub use super::attend::scale_rounded_portable as scale_rounded;
    pub use super::attend::widen_portable as widen;
    pub use super::batch::matmul4_kquant_portable as matmul4_kquant;
    pub use super::batch::matmul4_legacy_portable as matmul4_legacy;
    pub use super::f16acc::accumulate_heads_portable as accumulate_heads;
    pub use super::f16acc::accumulate_rounded_portable as accumulate_rounded;
    pub use super::kquant::matvec_portable as matvec_kquant;
    pub use super::scan::scan_head2_portable as scan_head2;
    pub use super::scan::scan_head_portable as scan_head;
    pub use super::silu::silu_quads_portable as silu_quads;
    use crate::quant::GgmlType;

    /// Q8_0 weights times Q8_0 activations, row by row.
    pub fn matvec_q8_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
        super::legacy::matvec_portable(GgmlType::Q8_0, w, rb, act, out)
    }

    /// Q4_1 weights times Q8_1 activations, row by row.
    pub fn matvec_q4_1(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
        super::legacy::matvec_portable(GgmlType::Q4_1, w, rb, act, out)
    }

    /// Q4_0 weights times Q8_0 activations, row by row.
    pub fn matvec_q4_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
        super::legacy::matvec_portable(GgmlType::Q4_0, w, rb, act, out)
    }

    /// Q5_0 weights times Q8_0 activations, row by row.
    pub fn matvec_q5_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
        super::legacy::matvec_portable(GgmlType::Q5_0, w, rb, act, out)
    }

    /// Q5_1 weights times Q8_1 activations, row by row.
    pub fn matvec_q5_1(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
        super::legacy::matvec_portable(GgmlType::Q5_1, w, rb, act, out)
    }
}

/// `out[r] = W[r] . x` for every row `r`. Errors: `BadLength` when `out.len() != w.rows` or
/// `x.len() != w.cols` (or `w.data` does not match its shape), `ActivationMismatch` when `x`
/// was prepared for a weight type with another partner format, `UnsupportedType`.
pub fn matvec(w: &Matrix, x: &Activations, out: &mut [f32]) -> Result<(), QuantError> {
    let rb = check(w, core::slice::from_ref(x), out)?;
    if w.rows > 0 {
        rows_times(w.ty, x, w.data, rb, out)?;
    }
    Ok(())
}

/// Bytes of weights a band of [`matmul`] covers, and of activations a group of tokens may
/// hold: a band and one group's activations stay in the ARM1176's 16 KB L1 D-cache together.
const BAND_BYTES: usize = 6144;
const GROUP_BYTES: usize = 6144;

/// `out[t · w.rows + r] = W[r] . xs[t]` for every token `t` and row `r`: the product of a
/// batch, each output the same bits as [`matvec`] of that token gives. For a type with a
/// batched kernel ([`batch`]) the tokens go four at a time through it, each weight block
/// decoded once for the four. The others (and the last 1-3 tokens) go in groups whose
/// activations fit `GROUP_BYTES`, and the rows in bands of about `BAND_BYTES`; every token of a group runs over a band before the next band is read, so
/// the weights are read from memory once per group instead of once per token. Errors: those
/// of [`matvec`] for any token, and `BadLength` when `out.len() != xs.len() · w.rows`.
pub fn matmul(w: &Matrix, xs: &[Activations], out: &mut [f32]) -> Result<(), QuantError> {
    let rb = check(w, xs, out)?;
    if w.rows == 0 {
        return Ok(());
    }
    let tiled = batch::tiles(w.ty, w.data, rb, w.rows, xs, out);
    let (xs, out) = (&xs[tiled..], &mut out[tiled * w.rows..]);
    let act_bytes = xs.first().map_or(0, |x| x.bytes().len().max(x.values().map_or(0, |v| v.len() * 4)));
    let group = (GROUP_BYTES / act_bytes.max(1)).max(1);
    let band = (BAND_BYTES / rb.max(1)).max(1);
    for (xs, out) in xs.chunks(group).zip(out.chunks_mut(group * w.rows)) {
        if let [x] = xs {
            // One token reads every weight once anyway: one call over all rows, as `matvec`.
            rows_times(w.ty, x, w.data, rb, out)?;
            continue;
        }
        let mut first = 0;
        while first < w.rows {
            let rows = band.min(w.rows - first);
            // The weights from the band to the matrix's end: a kernel may read ahead of the band.
            let weights = w.data.get(first * rb..).unwrap_or(&[]);
            for (x, out) in xs.iter().zip(out.chunks_exact_mut(w.rows)) {
                rows_times(w.ty, x, weights, rb, &mut out[first..first + rows])?;
            }
            first += rows;
        }
    }
    Ok(())
}

/// Checks a product's shapes: every token's activations against `w`, and `out` for
/// `xs.len()` tokens. Returns the bytes of a weight row.
fn check(w: &Matrix, xs: &[Activations], out: &[f32]) -> Result<usize, QuantError> {
    let rb = row_bytes_of(w.ty, w.cols)?;
    let expected = w.rows.checked_mul(xs.len()).ok_or(QuantError::BadLength { expected: usize::MAX, actual: out.len() })?;
    if out.len() != expected {
        return Err(QuantError::BadLength { expected, actual: out.len() });
    }
    let total = rb
        .checked_mul(w.rows)
        .ok_or(QuantError::BadLength { expected: usize::MAX, actual: w.data.len() })?;
    if w.data.len() != total {
        return Err(QuantError::BadLength { expected: total, actual: w.data.len() });
    }
    for x in xs {
        if x.len() != w.cols {
            return Err(QuantError::BadLength { expected: w.cols, actual: x.len() });
        }
        if x.ty() != activation_type(w.ty) {
            return Err(QuantError::ActivationMismatch { weight: w.ty, activations: x.ty() });
        }
    }
    Ok(rb)
}

/// `out[r] = row r of w . x` for the first `out.len()` rows of `w` (rows of `rb` bytes; `w`
/// may run on past them), after [`check`].
fn rows_times(ty: GgmlType, x: &Activations, w: &[u8], rb: usize, out: &mut [f32]) -> Result<(), QuantError> {
    use GgmlType::*;
    if rb == 0 {
        out.fill(0.0);
        return Ok(());
    }
    let rows = w.chunks_exact(rb);
    match (ty, x.values()) {
        (F32, Some(xs)) => {
            for (o, row) in out.iter_mut().zip(rows) {
                *o = float::dot_f32_row(row, xs);
            }
        }
        (F16, None) => {
            for (o, row) in out.iter_mut().zip(rows) {
                *o = float::dot_half_row(row, x.bytes(), f16_to_f32);
            }
        }
        (BF16, None) => {
            for (o, row) in out.iter_mut().zip(rows) {
                *o = float::dot_half_row(row, x.bytes(), bf16_to_f32);
            }
        }
        (Q4_0 | Q5_0 | Q8_0 | Q4_1 | Q5_1, None) => legacy::matvec(ty, x.weight_type(), w, rb, x.bytes(), out),
        (Q2_K | Q3_K | Q4_K | Q5_K | Q6_K, None) => kquant::matvec(ty, x.weight_type(), w, rb, x.bytes(), out),
        _ => return Err(QuantError::UnsupportedType(ty)),
    }
    Ok(())
}

/// Four partial f32 sums over blocks (block `b` goes to partial `b % 4`), added as
/// `(s0 + s1) + (s2 + s3)`: the per-row float order every quantized kernel (portable and
/// ARM) follows, so they agree bit for bit while keeping VFP11 add chains independent.
#[derive(Clone, Copy, Default)]
pub(crate) struct RowSum {
    s: [f32; 4],
}

impl RowSum {
    #[inline(always)]
    pub(crate) fn add(&mut self, block: usize, v: f32) {
        self.s[block & 3] += v;
    }
    #[inline(always)]
    pub(crate) fn finish(&self) -> f32 {
        (self.s[0] + self.s[1]) + (self.s[2] + self.s[3])
    }

    /// The value of a row of `NB` blocks (block `b` added to partial `b`), with the same
    /// bits as adding them to a fresh `RowSum` and finishing it. For `NB <= 3` the adds to
    /// the partials' initial `+0.0` are left out, which shortens the chain of dependent
    /// adds by one (8 cycles on the VFP11): `0 + v` differs from `v` only when `v` is
    /// `-0`, an add keeps a zero's sign only when both operands are `-0`, and partial 3 is
    /// never used, so the last add is of `+0` and makes any zero `+0` in both forms.
    #[cfg(any(target_arch = "arm", test))]
    #[inline(always)]
    pub(crate) fn of_blocks<const NB: usize>(v: [f32; NB]) -> f32 {
        match v.as_slice() {
            [v0] => (v0 + 0.0) + 0.0,
            [v0, v1] => (v0 + v1) + 0.0,
            [v0, v1, v2] => (v0 + v1) + (v2 + 0.0),
            _ => {
                let mut sum = RowSum::default();
                for (b, &x) in v.iter().enumerate() {
                    sum.add(b, x);
                }
                sum.finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_of_few_blocks_has_the_row_sums_bits() {
        let specials = [0.0f32, -0.0, 1.0, -1.0, 1e-45, -1e-45, 3.0e38, -3.0e38, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::from_bits(0xffc0_1234), 0.1, -0.3];
        // Which of two NaN operands an add returns is not defined (the compiler may swap
        // them): any NaN stands for NaN.
        let bits = |x: f32| if x.is_nan() { f32::NAN.to_bits() } else { x.to_bits() };
        let full = |v: &[f32]| {
            let mut sum = RowSum::default();
            v.iter().enumerate().for_each(|(b, &x)| sum.add(b, x));
            bits(sum.finish())
        };
        for &a in &specials {
            assert_eq!(bits(RowSum::of_blocks([a])), full(&[a]), "{a}");
            for &b in &specials {
                assert_eq!(bits(RowSum::of_blocks([a, b])), full(&[a, b]), "{a} {b}");
                for &c in &specials {
                    assert_eq!(bits(RowSum::of_blocks([a, b, c])), full(&[a, b, c]), "{a} {b} {c}");
                    assert_eq!(bits(RowSum::of_blocks([a, b, c, -a])), full(&[a, b, c, -a]), "{a} {b} {c}");
                }
            }
        }
    }
    use crate::quant::{f32_to_f16, quantize_activations};

    #[test]
    fn f32_and_f16_matvec() {
        let w: [f32; 8] = [1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 0.25, 8.0];
        let mut bytes = [0u8; 32];
        for (b, v) in bytes.chunks_exact_mut(4).zip(w) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        let m = Matrix::new(GgmlType::F32, 2, 4, &bytes).unwrap();
        let x = [1.0f32, 1.0, 2.0, 0.5];
        let a = quantize_activations(GgmlType::F32, &x, &mut []).unwrap();
        let mut out = [0f32; 2];
        matvec(&m, &a, &mut out).unwrap();
        assert_eq!(out, [11.0, 4.0]);

        let mut hb = [0u8; 16];
        for (b, v) in hb.chunks_exact_mut(2).zip(w) {
            b.copy_from_slice(&f32_to_f16(v).to_le_bytes());
        }
        let m = Matrix::new(GgmlType::F16, 2, 4, &hb).unwrap();
        let x = [1.0f32, 1.0, 2.0, 0.1];
        let mut buf = [0u8; 8];
        let a = quantize_activations(GgmlType::F16, &x, &mut buf).unwrap();
        matvec(&m, &a, &mut out).unwrap();
        let x3 = f16_to_f32(f32_to_f16(0.1));
        assert_eq!(out[0], (9.0f64 + 4.0 * x3 as f64) as f32);
        assert!(matches!(matvec(&m, &a, &mut [0f32; 3]), Err(QuantError::BadLength { .. })));
    }
}
