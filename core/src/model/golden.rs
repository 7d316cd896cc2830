//! The golden logits format (`.alog`, fixtures/README.md) and the comparison that decides
//! whether armlet's logits are "the same as llama.cpp's": per-row normalised RMS error,
//! its mean over rows, and argmax agreement on rows whose golden top-2 margin is clear.
//! Used by the model tests, the no_main ARM program and `armlet logits --compare`.
#![forbid(unsafe_code)]

use super::{KvCacheType, Model};
use crate::quant::GgmlType;
use core::fmt;

/// Bytes before the token ids: magic, version, n_vocab, n_prompt, n_gen.
pub const HEADER_BYTES: usize = 20;
const MAGIC: &[u8; 4] = b"ALOG";
const VERSION: u32 = 1;

/// Why a byte string is not a valid `.alog` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlogError {
    BadMagic,
    UnsupportedVersion(u32),
    /// The file size does not match its header.
    BadSize {
        expected: u64,
        actual: usize,
    },
}

impl fmt::Display for AlogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlogError::BadMagic => f.write_str("not an ALOG file (bad magic)"),
            AlogError::UnsupportedVersion(v) => write!(f, "ALOG version {v} is not supported (only 1)"),
            AlogError::BadSize { expected, actual } => {
                write!(f, "ALOG file of {actual} bytes, its header implies {expected}")
            }
        }
    }
}

/// A parsed `.alog` file, read in place.
#[derive(Clone, Copy, Debug)]
pub struct Alog<'a> {
    pub n_vocab: usize,
    pub n_prompt: usize,
    pub n_gen: usize,
    tokens: &'a [u8],
    logits: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

impl<'a> Alog<'a> {
    /// Errors: `BadMagic`, `UnsupportedVersion`, `BadSize` (any size mismatch, including a
    /// header shorter than 20 bytes).
    pub fn parse(bytes: &'a [u8]) -> Result<Alog<'a>, AlogError> {
        if bytes.len() < HEADER_BYTES {
            return Err(AlogError::BadSize { expected: HEADER_BYTES as u64, actual: bytes.len() });
        }
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err(AlogError::BadMagic);
        }
        let version = u32_at(bytes, 4);
        if version != VERSION {
            return Err(AlogError::UnsupportedVersion(version));
        }
        let (n_vocab, n_prompt, n_gen) = (u32_at(bytes, 8) as u64, u32_at(bytes, 12) as u64, u32_at(bytes, 16) as u64);
        let rows = n_prompt + n_gen;
        let expected = HEADER_BYTES as u64 + 4 * rows + 4 * rows * n_vocab;
        if expected != bytes.len() as u64 {
            return Err(AlogError::BadSize { expected, actual: bytes.len() });
        }
        // The size matches, so every count fits usize and the splits are in range.
        let (tokens, logits) = bytes[HEADER_BYTES..].split_at(4 * rows as usize);
        Ok(Alog { n_vocab: n_vocab as usize, n_prompt: n_prompt as usize, n_gen: n_gen as usize, tokens, logits })
    }

    /// Rows (= tokens) in the file.
    pub fn rows(&self) -> usize {
        self.n_prompt + self.n_gen
    }

    /// The token ids: the prompt, then the generated ones.
    pub fn tokens(&self) -> impl Iterator<Item = u32> + 'a {
        self.tokens.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Row `i`'s logits (empty past the end).
    pub fn row(&self, i: usize) -> impl Iterator<Item = f32> + 'a {
        let row_bytes = 4 * self.n_vocab;
        let bytes = self.logits.chunks_exact(row_bytes.max(1)).nth(i).unwrap_or(&[]);
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The 20-byte header of an `.alog` file; the token ids and the f32 rows follow.
pub fn header(n_vocab: u32, n_prompt: u32, n_gen: u32) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..4].copy_from_slice(MAGIC);
    for (i, v) in [VERSION, n_vocab, n_prompt, n_gen].into_iter().enumerate() {
        h[4 + 4 * i..8 + 4 * i].copy_from_slice(&v.to_le_bytes());
    }
    h
}

/// The strict tolerances of fixtures/README.md for one precision tier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Tier name (`F32`, `F16`, `quantized`).
    pub name: &'static str,
    /// Largest per-row normalised RMS error.
    pub row: f64,
    /// Largest mean over rows.
    pub mean: f64,
    /// Argmaxes must agree on rows whose golden top-1 minus top-2 exceeds this.
    pub margin: f64,
}

impl Tolerance {
    pub const F32: Tolerance = Tolerance { name: "F32", row: 1e-4, mean: 3e-5, margin: 0.01 };
    pub const F16: Tolerance = Tolerance { name: "F16", row: 3e-3, mean: 1.5e-3, margin: 0.05 };
    pub const QUANTIZED: Tolerance = Tolerance { name: "quantized", row: 5e-2, mean: 1.5e-2, margin: 0.5 };
    /// fixtures/README.md "gemma3 F32 tight": llama.cpp's f16 GELU table flips with the last
    /// bit of a product, so even llama.cpp against itself exceeds the F32 tier on Gemma 3.
    pub const GEMMA3_F32: Tolerance = Tolerance { name: "gemma3 F32 tight", row: 1e-3, mean: 2e-4, margin: 0.01 };

    /// The tier for a model run with a `kv` cache: quantized if any matrix is quantized,
    /// else F16 if any matrix is F16/BF16 or the KV cache is F16, else F32 (for Gemma 3 its
    /// own F32 tier).
    pub fn for_model(model: &Model<'_>, kv: KvCacheType) -> Tolerance {
        let mut tier = if kv == KvCacheType::F16 { Tolerance::F16 } else { Tolerance::F32 };
        let layer_matrices = model.layers.iter().flat_map(|l| {
            let a = &l.attention;
            let mut m = [
                a.q.ty,
                a.k.ty,
                a.v.ty,
                a.o.ty,
                l.ffn.gate.ty,
                l.ffn.up.ty,
                l.ffn.down.ty,
                GgmlType::F32,
                GgmlType::F32,
            ];
            if let Some(mx) = &l.mamba {
                m[7] = mx.in_proj.ty;
                m[8] = mx.out_proj.ty;
            }
            m
        });
        for ty in [model.token_embd.ty, model.output.ty].into_iter().chain(layer_matrices) {
            match ty {
                GgmlType::F32 => {}
                GgmlType::F16 | GgmlType::BF16 => {
                    if tier == Tolerance::F32 {
                        tier = Tolerance::F16;
                    }
                }
                _ => return Tolerance::QUANTIZED,
            }
        }
        if tier == Tolerance::F32 && model.hparams.arch == super::Architecture::Gemma3 {
            return Tolerance::GEMMA3_F32;
        }
        tier
    }
}

/// How one candidate row compares with its golden row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowComparison {
    /// `‖a − b‖ / ‖b‖` (b = golden).
    pub rel_rms: f64,
    pub max_abs: f64,
    pub argmax: usize,
    pub golden_argmax: usize,
    /// Golden top-1 minus top-2.
    pub margin: f64,
    /// Whether every candidate value is finite.
    pub finite: bool,
}

/// Index of the largest value, the lowest index on ties (greedy sampling's rule).
pub fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Compares `candidate` with `golden` (same length; extra values of either are ignored).
pub fn compare_row(candidate: &[f32], golden: impl Iterator<Item = f32>) -> RowComparison {
    let (mut diff2, mut gold2, mut max_abs) = (0f64, 0f64, 0f64);
    let (mut top1, mut top2) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let (mut arg, mut best) = (0, f32::NEG_INFINITY);
    let (mut garg, mut finite) = (0, true);
    for (i, (&a, b)) in candidate.iter().zip(golden).enumerate() {
        finite &= a.is_finite();
        let (a64, b64) = (a as f64, b as f64);
        let d = a64 - b64;
        diff2 += d * d;
        gold2 += b64 * b64;
        max_abs = max_abs.max(d.abs());
        if a > best {
            (arg, best) = (i, a);
        }
        if b64 > top1 {
            (top2, top1, garg) = (top1, b64, i);
        } else if b64 > top2 {
            top2 = b64;
        }
    }
    let rel_rms = libm::sqrt(diff2) / libm::sqrt(gold2).max(1e-30);
    RowComparison { rel_rms, max_abs, argmax: arg, golden_argmax: garg, margin: top1 - top2, finite }
}

/// Running verdict over the rows of one comparison.
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    pub tolerance: Tolerance,
    pub rows: usize,
    pub max_rel_rms: f64,
    sum_rel_rms: f64,
    /// Rows whose argmaxes agree (gated or not).
    pub argmax_agree: usize,
    /// Rows above the per-row tolerance.
    pub bad_rows: usize,
    /// Rows with a clear golden margin whose argmaxes differ.
    pub bad_argmax: usize,
    /// Rows with a non-finite candidate value.
    pub non_finite: usize,
}

impl Verdict {
    pub fn new(tolerance: Tolerance) -> Verdict {
        Verdict {
            tolerance,
            rows: 0,
            max_rel_rms: 0.0,
            sum_rel_rms: 0.0,
            argmax_agree: 0,
            bad_rows: 0,
            bad_argmax: 0,
            non_finite: 0,
        }
    }

    /// Adds one row; returns whether that row alone is within the tolerance.
    pub fn add(&mut self, r: &RowComparison) -> bool {
        self.rows += 1;
        self.sum_rel_rms += r.rel_rms;
        self.max_rel_rms = self.max_rel_rms.max(r.rel_rms);
        let agree = r.argmax == r.golden_argmax;
        self.argmax_agree += agree as usize;
        let row_ok = r.rel_rms <= self.tolerance.row;
        let argmax_ok = agree || r.margin <= self.tolerance.margin;
        self.bad_rows += !row_ok as usize;
        self.bad_argmax += !argmax_ok as usize;
        self.non_finite += !r.finite as usize;
        row_ok && argmax_ok && r.finite
    }

    pub fn mean_rel_rms(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.sum_rel_rms / self.rows as f64
        }
    }

    /// Every row within the tolerance, the mean too, and at least one row compared.
    pub fn passed(&self) -> bool {
        self.rows > 0
            && self.bad_rows == 0
            && self.bad_argmax == 0
            && self.non_finite == 0
            && self.mean_rel_rms() <= self.tolerance.mean
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tolerance;
        write!(
            f,
            "rows {}  max_rel_rms {:.3e}  mean_rel_rms {:.3e}  argmax_agree {}/{}  ({} tolerance: row <= {:e}, mean <= {:e}, argmax where margin > {}): {}",
            self.rows,
            self.max_rel_rms,
            self.mean_rel_rms(),
            self.argmax_agree,
            self.rows,
            t.name,
            t.row,
            t.mean,
            t.margin,
            if self.passed() { "PASS" } else { "FAIL" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_sizes_are_checked() {
        let mut file = [0u8; HEADER_BYTES + 8 + 2 * 3 * 4];
        file[..HEADER_BYTES].copy_from_slice(&header(3, 1, 1));
        file[HEADER_BYTES..HEADER_BYTES + 4].copy_from_slice(&7u32.to_le_bytes());
        file[HEADER_BYTES + 8 + 4..HEADER_BYTES + 8 + 8].copy_from_slice(&2.5f32.to_le_bytes());
        let a = Alog::parse(&file).unwrap();
        assert_eq!((a.n_vocab, a.n_prompt, a.n_gen, a.rows()), (3, 1, 1, 2));
        assert_eq!(a.tokens().next(), Some(7));
        assert_eq!(a.row(0).nth(1), Some(2.5));
        assert_eq!(a.row(2).count(), 0);
        assert_eq!(Alog::parse(&file[..file.len() - 1]).unwrap_err(), AlogError::BadSize { expected: 52, actual: 51 });
        assert_eq!(Alog::parse(&file[..3]).unwrap_err(), AlogError::BadSize { expected: 20, actual: 3 });
        let mut bad = file;
        bad[0] = b'X';
        assert_eq!(Alog::parse(&bad).unwrap_err(), AlogError::BadMagic);
    }

    #[test]
    fn comparison_metrics() {
        let golden = [1.0f32, 3.0, 2.9, 0.0];
        let same = compare_row(&golden, golden.iter().copied());
        assert_eq!((same.rel_rms, same.argmax, same.golden_argmax), (0.0, 1, 1));
        assert!((same.margin - 0.1).abs() < 1e-6);
        let off = compare_row(&[1.0, 2.9, 3.0, 0.0], golden.iter().copied());
        assert_eq!(off.argmax, 2);
        let mut v = Verdict::new(Tolerance::F32);
        assert!(v.add(&same));
        assert!(!v.add(&off)); // rel error ~0.03 and a flipped argmax with margin 0.1 > 0.01
        assert_eq!((v.bad_rows, v.bad_argmax), (1, 1));
        assert!(!v.passed());
        assert_eq!(argmax([1.0f32, 5.0, 5.0].into_iter()), 1);
        assert!(!Verdict::new(Tolerance::F32).passed());
    }
}
