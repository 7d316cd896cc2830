//! What a weight format is: the type table, the block layouts and their decoding, and the
//! activation formats the products pair them with. The products themselves, the loops the
//! forward pass spends its time in, are `kernels`, which read the layouts described here.
//!
//! - [`GgmlType`] ([`types`]): every ggml type, its block size and bytes, whether armlet
//!   supports it.
//! - [`Matrix`]: a row-major view of a weight tensor in its file encoding.
//! - [`activation_type`] / [`activation_bytes`]: llama.cpp's `vec_dot_type` pairing and the
//!   scratch bytes it needs (the memory plan sizes its buffers with this).
//! - [`quantize_activations`]: converts an f32 vector once per matrix-vector product
//!   (`kernels::matvec` then multiplies it).
//! - [`dequantize_row`]: one row to f32 (embedding lookup).
//!
//! Layout of this module: `float` (F32/F16/BF16), `legacy` (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0),
//! `kquant` (Q2_K..Q6_K), `q8` (the activation formats). Everything here reads the file's
//! bytes in place (unaligned `&[u8]`, fields parsed with `from_le_bytes`); lengths are
//! validated once at the entry points below.
#![forbid(unsafe_code)]

pub mod types;

pub mod float;
pub mod kquant;
pub mod legacy;
pub mod q8;

pub use crate::math::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};
pub use types::GgmlType;

use core::fmt;

/// What went wrong in a quant-layer call. Every variant is a caller or file error, never a
/// panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantError {
    /// armlet cannot decode or multiply this type (e.g. IQ2_XS).
    UnsupportedType(GgmlType),
    /// A row length that is not a multiple of the type's block size.
    NotBlockMultiple { ty: GgmlType, n: usize },
    /// A slice of the wrong size.
    BadLength { expected: usize, actual: usize },
    /// Activations quantized for another weight type's partner format.
    ActivationMismatch { weight: GgmlType, activations: GgmlType },
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QuantError::UnsupportedType(t) => write!(
                f,
                "unsupported tensor type {} (supported: {})",
                t.name(),
                types::SUPPORTED_WEIGHT_TYPES
            ),
            QuantError::NotBlockMultiple { ty, n } => write!(
                f,
                "row length {n} is not a multiple of the {} block size {}",
                ty.name(),
                ty.block_size()
            ),
            QuantError::BadLength { expected, actual } => {
                write!(f, "slice of length {actual}, expected {expected}")
            }
            QuantError::ActivationMismatch { weight, activations } => write!(
                f,
                "activations in {} format cannot multiply {} weights",
                activations.name(),
                weight.name()
            ),
        }
    }
}

fn check_supported(ty: GgmlType) -> Result<(), QuantError> {
    if ty.is_supported() {
        Ok(())
    } else {
        Err(QuantError::UnsupportedType(ty))
    }
}

/// Bytes of a row of `n` elements of a supported type. Errors: `UnsupportedType`,
/// `NotBlockMultiple` (also when the size overflows).
pub fn row_bytes_of(ty: GgmlType, n: usize) -> Result<usize, QuantError> {
    check_supported(ty)?;
    let bs = ty.block_size();
    if n % bs != 0 {
        return Err(QuantError::NotBlockMultiple { ty, n });
    }
    (n / bs)
        .checked_mul(ty.block_bytes())
        .ok_or(QuantError::NotBlockMultiple { ty, n })
}

/// A row-major weight matrix in its file encoding: `rows` rows of `cols` elements.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
}

impl<'a> Matrix<'a> {
    /// A checked view. Errors: `UnsupportedType` for a type armlet cannot multiply,
    /// `NotBlockMultiple` when `cols` is not a whole number of blocks, `BadLength` when
    /// `data.len() != rows * row_bytes` (or that product overflows).
    pub fn new(ty: GgmlType, rows: usize, cols: usize, data: &'a [u8]) -> Result<Self, QuantError> {
        let rb = row_bytes_of(ty, cols)?;
        let expected = rb
            .checked_mul(rows)
            .ok_or(QuantError::BadLength { expected: usize::MAX, actual: data.len() })?;
        if data.len() != expected {
            return Err(QuantError::BadLength { expected, actual: data.len() });
        }
        Ok(Matrix { ty, rows, cols, data })
    }

    /// Bytes per row (0 if the fields were built by hand with an unsupported combination).
    pub fn row_bytes(&self) -> usize {
        row_bytes_of(self.ty, self.cols).unwrap_or(0)
    }

    /// Row `r`'s bytes, or `None` when out of range.
    pub fn row(&self, r: usize) -> Option<&'a [u8]> {
        let rb = self.row_bytes();
        let start = r.checked_mul(rb)?;
        self.data.get(start..start.checked_add(rb)?)
    }
}

/// llama.cpp's `vec_dot_type`: the format the activations are converted to before a
/// product with `weight` rows. Unsupported types map to themselves.
pub fn activation_type(weight: GgmlType) -> GgmlType {
    use GgmlType::*;
    match weight {
        F32 => F32,
        F16 => F16,
        BF16 => BF16,
        Q4_0 | Q5_0 | Q8_0 => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => Q8_K,
        other => other,
    }
}

/// Slack bytes so the encoded activations can start on a 4-byte boundary of any buffer.
const ALIGN_SLACK: usize = 3;

/// Scratch bytes [`quantize_activations`] needs for `n` activations paired with `weight`
/// (0 for F32). `None` for an unsupported type, a non-multiple of the block size, or
/// overflow.
pub fn activation_bytes(weight: GgmlType, n: usize) -> Option<usize> {
    use GgmlType::*;
    if !weight.is_supported() {
        return None;
    }
    match activation_type(weight) {
        F32 => Some(0),
        F16 | BF16 => n.checked_mul(2),
        Q8_0 | Q8_1 => {
            if n % q8::QK8 != 0 {
                return None;
            }
            q8::q8_bytes(weight, n / q8::QK8)?.checked_add(ALIGN_SLACK)
        }
        Q8_K => {
            if n % q8::QK_K != 0 {
                return None;
            }
            q8::q8k_bytes(weight, n / q8::QK_K)?.checked_add(ALIGN_SLACK)
        }
        _ => None,
    }
}

#[derive(Clone, Copy, Debug)]
enum ActData<'b> {
    F32(&'b [f32]),
    Bytes(&'b [u8]),
}

/// The activation vector converted once per product into the partner format of a weight
/// type (see [`activation_type`]). Build it with [`quantize_activations`].
#[derive(Clone, Copy, Debug)]
pub struct Activations<'b> {
    ty: GgmlType,
    weight: GgmlType,
    n: usize,
    data: ActData<'b>,
}

impl<'b> Activations<'b> {
    /// The activation format (F32, F16, BF16, Q8_0, Q8_1 or Q8_K).
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    /// The weight type these activations were prepared for.
    pub fn weight_type(&self) -> GgmlType {
        self.weight
    }
    /// Whether these activations multiply `weight` rows exactly as ones prepared for it
    /// would, through the same kernel: the same partner format and, for the formats with a
    /// kernel-ordered copy, the same order (Q4_K and Q5_K share theirs). One conversion can
    /// then serve several matrices that read the same input.
    pub fn serves(&self, weight: GgmlType) -> bool {
        if self.ty != activation_type(weight) {
            return false;
        }
        match self.ty {
            GgmlType::Q8_K => q8::layout_id(self.weight) == q8::layout_id(weight),
            GgmlType::Q8_0 | GgmlType::Q8_1 => self.weight == weight,
            _ => true,
        }
    }
    /// Number of activations.
    pub fn len(&self) -> usize {
        self.n
    }
    /// Whether there are no activations.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// The encoded bytes (empty for F32).
    pub fn bytes(&self) -> &'b [u8] {
        match self.data {
            ActData::Bytes(b) => b,
            ActData::F32(_) => &[],
        }
    }
    /// The values themselves for F32 activations (`None` for the encoded formats).
    pub fn values(&self) -> Option<&'b [f32]> {
        match self.data {
            ActData::F32(x) => Some(x),
            ActData::Bytes(_) => None,
        }
    }
}

/// Converts `x` into the partner format of `weight`, using `buf` (at least
/// [`activation_bytes`]`(weight, x.len())` bytes; unused for F32) as storage.
/// Errors: `UnsupportedType`, `NotBlockMultiple` (length not a multiple of the activation
/// block), `BadLength` (buffer too small).
pub fn quantize_activations<'b>(
    weight: GgmlType,
    x: &'b [f32],
    buf: &'b mut [u8],
) -> Result<Activations<'b>, QuantError> {
    quantize_activations_with(weight, x, buf, q8::quantize_q8_k_portable)
}

/// [`quantize_activations`] with Q8_K's blocks made by `q8k_blocks` (the model passes the
/// ARM kernel `kernels::quantize_q8k`; the bytes are the same).
pub fn quantize_activations_with<'b>(
    weight: GgmlType,
    x: &'b [f32],
    buf: &'b mut [u8],
    q8k_blocks: q8::Q8kBlocks,
) -> Result<Activations<'b>, QuantError> {
    use GgmlType::*;
    check_supported(weight)?;
    let ty = activation_type(weight);
    let n = x.len();
    let need = activation_bytes(weight, n).ok_or(QuantError::NotBlockMultiple { ty, n })?;
    if buf.len() < need {
        return Err(QuantError::BadLength { expected: need, actual: buf.len() });
    }
    let data = match ty {
        F32 => ActData::F32(x),
        F16 | BF16 => {
            let out = &mut buf[..need];
            let narrow = if ty == F16 { f32_to_f16 } else { f32_to_bf16 };
            for (o, v) in out.chunks_exact_mut(2).zip(x) {
                o.copy_from_slice(&narrow(*v).to_le_bytes());
            }
            ActData::Bytes(&buf[..need])
        }
        _ => {
            let off = (4 - (buf.as_ptr() as usize) % 4) % 4;
            let body = need - ALIGN_SLACK;
            let out = &mut buf[off..off + body];
            match ty {
                Q8_0 => q8::quantize_q8_0(weight, x, out, false),
                Q8_1 => q8::quantize_q8_0(weight, x, out, true),
                _ => q8::quantize_q8_k(weight, x, out, q8k_blocks),
            }
            ActData::Bytes(&buf[off..off + body])
        }
    };
    Ok(Activations { ty, weight, n, data })
}

/// One encoded row of `out.len()` elements to f32: the exact dequantization (as ggml's
/// `to_float`, bit for bit). Errors: `UnsupportedType`, `NotBlockMultiple`, `BadLength` when
/// `src` is not exactly one row.
pub fn dequantize_row(ty: GgmlType, src: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    use GgmlType::*;
    let rb = row_bytes_of(ty, out.len())?;
    if src.len() != rb {
        return Err(QuantError::BadLength { expected: rb, actual: src.len() });
    }
    match ty {
        F32 => float::dequantize_f32_row(src, out),
        F16 => float::dequantize_half_row(src, out, f16_to_f32),
        BF16 => float::dequantize_half_row(src, out, bf16_to_f32),
        Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 => legacy::dequantize_row(ty, src, out),
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => kquant::dequantize_row(ty, src, out),
        _ => return Err(QuantError::UnsupportedType(ty)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_types_are_named_errors() {
        let e = Matrix::new(GgmlType::IQ2_XS, 1, 256, &[0u8; 74]).unwrap_err();
        assert_eq!(e, QuantError::UnsupportedType(GgmlType::IQ2_XS));
        let mut s = heapless::String::<128>::new();
        core::fmt::write(&mut s, format_args!("{e}")).unwrap();
        assert!(s.contains("IQ2_XS"));
        let mut out = [0f32; 256];
        assert!(dequantize_row(GgmlType::IQ2_XS, &[0u8; 74], &mut out).is_err());
        assert_eq!(activation_bytes(GgmlType::IQ2_XS, 256), None);
    }

    #[test]
    fn matrix_checks_shapes() {
        assert!(matches!(
            Matrix::new(GgmlType::Q4_K, 2, 100, &[]),
            Err(QuantError::NotBlockMultiple { .. })
        ));
        assert!(matches!(
            Matrix::new(GgmlType::Q8_0, 2, 32, &[0u8; 67]),
            Err(QuantError::BadLength { expected: 68, actual: 67 })
        ));
        assert!(Matrix::new(GgmlType::Q8_0, usize::MAX, 32, &[0u8; 68]).is_err());
        let m = Matrix::new(GgmlType::Q8_0, 2, 32, &[0u8; 68]).unwrap();
        assert_eq!(m.row_bytes(), 34);
        assert_eq!(m.row(1).map(|r| r.len()), Some(34));
        assert!(m.row(2).is_none());
    }
}
