//! What can be wrong with a GGUF file, and where: every parse error names the problem and
//! the byte offset at which it was found.
#![forbid(unsafe_code)]

use crate::quant::GgmlType;
use core::fmt;

/// A GGUF parse failure: the problem and the byte offset where it was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GgufError {
    pub kind: GgufErrorKind,
    pub offset: u64,
}

/// The classes of malformed input, one variant each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgufErrorKind {
    /// The file ends inside the named part.
    Truncated(&'static str),
    /// The first four bytes are not `GGUF`.
    BadMagic([u8; 4]),
    /// Only versions 2 and 3 are read (a byte-swapped version means a big-endian file).
    UnsupportedVersion(u32),
    /// More tensors than the file could hold or armlet accepts.
    TooManyTensors(u64),
    /// More metadata entries than the file could hold or armlet accepts.
    TooManyMetadata(u64),
    /// A string longer than the rest of the file.
    StringTooLong(u64),
    /// A metadata key that is empty, longer than `MAX_KEY_LEN` bytes or not UTF-8.
    InvalidKey,
    /// The same metadata key twice.
    DuplicateKey,
    /// A metadata value type id outside 0..=12.
    UnknownValueType(u32),
    /// A bool stored as something other than 0 or 1.
    InvalidBool(u8),
    /// An array longer than the rest of the file.
    ArrayTooLong(u64),
    /// Arrays nested deeper than armlet reads.
    ArrayNestingTooDeep,
    /// `general.alignment` is not a non-zero power of two, or not a u32.
    BadAlignment(u64),
    /// A tensor name that is empty, longer than `MAX_TENSOR_NAME` bytes or not UTF-8.
    InvalidTensorName,
    /// Two tensors with the same name.
    DuplicateTensorName,
    /// A tensor with more than 4 dimensions.
    TooManyDimensions(u32),
    /// A tensor dimension of zero or one so large that the element count overflows.
    BadDimension(u64),
    /// A tensor type id ggml does not define.
    UnknownTensorType(u32),
    /// A tensor whose first dimension is not a multiple of its type's block size.
    NotBlockMultiple { ty: GgmlType, ne0: u64 },
    /// A tensor whose bytes reach past the end of the file (or whose size overflows a u64).
    TensorOutOfBounds,
    /// A tensor offset that is not a multiple of the alignment.
    TensorMisaligned,
    /// Two tensors whose byte ranges overlap.
    TensorsOverlap,
}

impl GgufErrorKind {
    pub(crate) fn at(self, offset: u64) -> GgufError {
        GgufError { kind: self, offset }
    }
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use GgufErrorKind::*;
        match self.kind {
            Truncated(what) => write!(f, "file truncated in the {what}")?,
            BadMagic(m) => write!(
                f,
                "not a GGUF file (magic {:02x} {:02x} {:02x} {:02x}, expected \"GGUF\")",
                m[0], m[1], m[2], m[3]
            )?,
            UnsupportedVersion(v) if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
                write!(f, "big-endian GGUF (version {}) is not supported", v.swap_bytes())?
            }
            UnsupportedVersion(v) => write!(f, "GGUF version {v} is not supported (2 and 3 are)")?,
            TooManyTensors(n) => write!(f, "implausible tensor count {n}")?,
            TooManyMetadata(n) => write!(f, "implausible metadata count {n}")?,
            StringTooLong(n) => write!(f, "string length {n} exceeds the file")?,
            InvalidKey => write!(f, "metadata key is empty, too long or not UTF-8")?,
            DuplicateKey => write!(f, "duplicate metadata key")?,
            UnknownValueType(t) => write!(f, "unknown metadata value type {t}")?,
            InvalidBool(b) => write!(f, "bool value {b} is neither 0 nor 1")?,
            ArrayTooLong(n) => write!(f, "array length {n} exceeds the file")?,
            ArrayNestingTooDeep => write!(f, "arrays nested too deeply")?,
            BadAlignment(a) => write!(f, "general.alignment {a} is not a power of two u32")?,
            InvalidTensorName => write!(f, "tensor name is empty, too long or not UTF-8")?,
            DuplicateTensorName => write!(f, "duplicate tensor name")?,
            TooManyDimensions(n) => write!(f, "tensor has {n} dimensions (at most 4)")?,
            BadDimension(d) => write!(f, "tensor dimension {d} is zero or too large")?,
            UnknownTensorType(t) => write!(f, "unknown tensor type id {t}")?,
            NotBlockMultiple { ty, ne0 } => write!(
                f,
                "tensor row of {ne0} elements is not a multiple of the {} block size {}",
                ty.name(),
                ty.block_size()
            )?,
            TensorOutOfBounds => write!(f, "tensor data lies outside the file")?,
            TensorMisaligned => write!(f, "tensor data offset is not aligned")?,
            TensorsOverlap => write!(f, "tensor data overlaps another tensor")?,
        }
        write!(f, " (at byte {})", self.offset)
    }
}
