//! GGUF v2/v3 read in place: header, metadata, tensor infos and the data section, all as
//! views into the caller's bytes. [`File::parse`] validates everything once (counts, lengths,
//! nesting, tensor shapes, byte ranges, alignment, unique names); the accessors then trust
//! the validated layout and never copy.
#![forbid(unsafe_code)]

mod error;
mod reader;
mod value;

pub use error::{GgufError, GgufErrorKind};
pub use value::{Array, ArrayIter, Value, ValueType};

use crate::quant::GgmlType;
use reader::Cursor;
use value::read_value;

/// Most tensors armlet accepts (the largest real models have a few thousand).
pub const MAX_TENSORS: u64 = 8192;
/// Most metadata entries armlet accepts.
pub const MAX_METADATA: u64 = 4096;
/// Longest tensor name (ggml's GGML_MAX_NAME is 64).
pub const MAX_TENSOR_NAME: u64 = 256;
/// Alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// A parsed GGUF file: offsets into `bytes`, validated.
#[derive(Clone, Copy, Debug)]
pub struct File<'a> {
    bytes: &'a [u8],
    version: u32,
    n_metadata: u64,
    n_tensors: u64,
    metadata_start: usize,
    tensor_infos_start: usize,
    data_start: usize,
    alignment: u64,
}

/// One tensor: name, type, shape (ggml `ne` order, ne0 contiguous) and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    pub name: &'a str,
    pub ty: GgmlType,
    /// `ne[0..n_dims]`; unused dimensions are 1.
    pub ne: [u64; 4],
    pub n_dims: u32,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    pub data: &'a [u8],
}

impl Tensor<'_> {
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().product()
    }

    /// The shape as a slice of its `n_dims` dimensions.
    pub fn shape(&self) -> &[u64] {
        self.ne.get(..self.n_dims as usize).unwrap_or(&self.ne)
    }
}

impl<'a> File<'a> {
    /// Parses and validates a whole GGUF file held in `bytes`.
    ///
    /// Errors: any [`GgufErrorKind`], with the offset of the offending field.
    pub fn parse(bytes: &'a [u8]) -> Result<File<'a>, GgufError> {
        let mut cur = Cursor::new(bytes, 0);
        let magic = cur.array::<4>("header")?;
        if &magic != b"GGUF" {
            return Err(GgufErrorKind::BadMagic(magic).at(0));
        }
        let version = cur.u32("header")?;
        if version != 2 && version != 3 {
            return Err(GgufErrorKind::UnsupportedVersion(version).at(4));
        }
        let n_tensors = cur.u64("header")?;
        if n_tensors > MAX_TENSORS {
            return Err(GgufErrorKind::TooManyTensors(n_tensors).at(8));
        }
        let n_metadata = cur.u64("header")?;
        if n_metadata > MAX_METADATA {
            return Err(GgufErrorKind::TooManyMetadata(n_metadata).at(16));
        }
        let metadata_start = cur.pos();
        let mut alignment = DEFAULT_ALIGNMENT;
        // Key positions for the duplicate check; past this many keys the check re-reads the
        // metadata from the start instead (slower, still bounded by MAX_METADATA).
        let mut key_positions: heapless::Vec<u32, 256> = heapless::Vec::new();
        for i in 0..n_metadata {
            let key_at = cur.pos() as u64;
            let key = read_key(&mut cur)?;
            let value = read_typed_value(&mut cur)?;
            let duplicate = if key_positions.len() == i as usize {
                key_positions
                    .iter()
                    .any(|&p| read_key(&mut Cursor::new(bytes, p as usize)).ok() == Some(key))
            } else {
                let mut earlier = Cursor::new(bytes, metadata_start);
                let mut found = false;
                for _ in 0..i {
                    let k = read_key(&mut earlier)?;
                    read_typed_value(&mut earlier)?;
                    found |= k == key;
                }
                found
            };
            if duplicate {
                return Err(GgufErrorKind::DuplicateKey.at(key_at));
            }
            if let Ok(p) = u32::try_from(key_at) {
                let _ = key_positions.push(p);
            }
            if key == "general.alignment" {
                alignment = match value {
                    Value::U32(a) if a != 0 && a.is_power_of_two() => a as u64,
                    other => {
                        let shown = other.as_u64().unwrap_or(0);
                        return Err(GgufErrorKind::BadAlignment(shown).at(key_at));
                    }
                };
            }
        }

        let tensor_infos_start = cur.pos();
        let mut infos_end = Cursor::new(bytes, tensor_infos_start);
        for _ in 0..n_tensors {
            read_tensor_info(&mut infos_end)?;
        }
        let data_start = align_up(infos_end.pos() as u64, alignment)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(GgufErrorKind::Truncated("data section").at(infos_end.pos() as u64))?;
        // A file with tensors must reach its data section; a vocab-only file may end early.
        if n_tensors > 0 && data_start > bytes.len() {
            return Err(GgufErrorKind::Truncated("padding before data").at(infos_end.pos() as u64));
        }
        let file = File {
            bytes,
            version,
            n_metadata,
            n_tensors,
            metadata_start,
            tensor_infos_start,
            data_start,
            alignment,
        };
        file.validate_tensors()?;
        Ok(file)
    }

    fn validate_tensors(&self) -> Result<(), GgufError> {
        let data_len = (self.bytes.len() as u64).saturating_sub(self.data_start as u64);
        let mut cur = Cursor::new(self.bytes, self.tensor_infos_start);
        for i in 0..self.n_tensors {
            let at = cur.pos() as u64;
            let info = read_tensor_info(&mut cur)?;
            if info.offset % self.alignment != 0 {
                return Err(GgufErrorKind::TensorMisaligned.at(info.offset_at));
            }
            let end = info.offset.checked_add(info.size);
            if end.map_or(true, |e| e > data_len) {
                return Err(GgufErrorKind::TensorOutOfBounds.at(info.offset_at));
            }
            let mut earlier = Cursor::new(self.bytes, self.tensor_infos_start);
            for _ in 0..i {
                let other = read_tensor_info(&mut earlier)?;
                if other.name == info.name {
                    return Err(GgufErrorKind::DuplicateTensorName.at(at));
                }
                let disjoint = info.size == 0
                    || other.size == 0
                    || info.offset + info.size <= other.offset
                    || other.offset + other.size <= info.offset;
                if !disjoint {
                    return Err(GgufErrorKind::TensorsOverlap.at(info.offset_at));
                }
            }
        }
        Ok(())
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// The alignment of tensor data (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Byte offset of the data section in the file.
    pub fn data_offset(&self) -> usize {
        self.data_start
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn metadata_count(&self) -> u64 {
        self.n_metadata
    }

    pub fn tensor_count(&self) -> u64 {
        self.n_tensors
    }

    /// Every metadata entry in file order.
    pub fn metadata(&self) -> MetadataIter<'a> {
        MetadataIter { cur: Cursor::new(self.bytes, self.metadata_start), left: self.n_metadata }
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.metadata().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A string value (`general.architecture`, ...).
    pub fn get_str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(|v| v.as_str())
    }

    /// Every tensor in file order.
    pub fn tensors(&self) -> TensorIter<'a> {
        TensorIter { file: *self, cur: Cursor::new(self.bytes, self.tensor_infos_start), left: self.n_tensors }
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<Tensor<'a>> {
        self.tensors().find(|t| t.name == name)
    }

    fn tensor_from_info(&self, info: TensorInfo<'a>) -> Option<Tensor<'a>> {
        let start = (self.data_start as u64).checked_add(info.offset)?;
        let end = start.checked_add(info.size)?;
        let data = self.bytes.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)?;
        Some(Tensor { name: info.name, ty: info.ty, ne: info.ne, n_dims: info.n_dims, offset: info.offset, data })
    }
}

/// Iterator over (key, value) pairs.
#[derive(Clone, Debug)]
pub struct MetadataIter<'a> {
    cur: Cursor<'a>,
    left: u64,
}

impl<'a> Iterator for MetadataIter<'a> {
    type Item = (&'a str, Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = read_key(&mut self.cur).ok()?;
        let value = read_typed_value(&mut self.cur).ok()?;
        Some((key, value))
    }
}

/// Iterator over tensors.
#[derive(Clone, Debug)]
pub struct TensorIter<'a> {
    file: File<'a>,
    cur: Cursor<'a>,
    left: u64,
}

impl<'a> Iterator for TensorIter<'a> {
    type Item = Tensor<'a>;
    fn next(&mut self) -> Option<Tensor<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let info = read_tensor_info(&mut self.cur).ok()?;
        self.file.tensor_from_info(info)
    }
}

struct TensorInfo<'a> {
    name: &'a str,
    ty: GgmlType,
    ne: [u64; 4],
    n_dims: u32,
    offset: u64,
    offset_at: u64,
    size: u64,
}

fn read_key<'a>(cur: &mut Cursor<'a>) -> Result<&'a str, GgufError> {
    let at = cur.pos() as u64;
    let raw = cur.string("metadata key")?;
    match core::str::from_utf8(raw) {
        Ok(k) if !k.is_empty() => Ok(k),
        _ => Err(GgufErrorKind::InvalidKey.at(at)),
    }
}

fn read_typed_value<'a>(cur: &mut Cursor<'a>) -> Result<Value<'a>, GgufError> {
    let at = cur.pos() as u64;
    let type_id = cur.u32("metadata type")?;
    let ty = ValueType::from_id(type_id).ok_or(GgufErrorKind::UnknownValueType(type_id).at(at))?;
    read_value(cur, ty, 0)
}

fn read_tensor_info<'a>(cur: &mut Cursor<'a>) -> Result<TensorInfo<'a>, GgufError> {
    let at = cur.pos() as u64;
    let raw = cur.string("tensor name")?;
    let name = match core::str::from_utf8(raw) {
        Ok(n) if !n.is_empty() && n.len() as u64 <= MAX_TENSOR_NAME => n,
        _ => return Err(GgufErrorKind::InvalidTensorName.at(at)),
    };
    let dims_at = cur.pos() as u64;
    let n_dims = cur.u32("tensor info")?;
    if n_dims > 4 {
        return Err(GgufErrorKind::TooManyDimensions(n_dims).at(dims_at));
    }
    let mut ne = [1u64; 4];
    let mut count: u64 = 1;
    for d in ne.iter_mut().take(n_dims as usize) {
        let d_at = cur.pos() as u64;
        *d = cur.u64("tensor info")?;
        count = match count.checked_mul(*d) {
            Some(c) if *d != 0 && c <= i64::MAX as u64 => c,
            _ => return Err(GgufErrorKind::BadDimension(*d).at(d_at)),
        };
    }
    let type_at = cur.pos() as u64;
    let type_id = cur.u32("tensor info")?;
    let ty = GgmlType::from_id(type_id).ok_or(GgufErrorKind::UnknownTensorType(type_id).at(type_at))?;
    if ne[0] % ty.block_size() as u64 != 0 {
        return Err(GgufErrorKind::NotBlockMultiple { ty, ne0: ne[0] }.at(dims_at));
    }
    let offset_at = cur.pos() as u64;
    let offset = cur.u64("tensor info")?;
    let size = ty
        .row_bytes(ne[0])
        .and_then(|r| r.checked_mul(ne[1]))
        .and_then(|s| s.checked_mul(ne[2]))
        .and_then(|s| s.checked_mul(ne[3]))
        .ok_or(GgufErrorKind::BadDimension(ne[0]).at(dims_at))?;
    Ok(TensorInfo { name, ty, ne, n_dims, offset, offset_at, size })
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    Some(x.checked_add(a - 1)? / a * a)
}

#[cfg(test)]
mod tests;
