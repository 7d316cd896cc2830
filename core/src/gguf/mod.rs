//! GGUF v2/v3 read in place: header, metadata, tensor infos and the data section, all as
//! views into the caller's bytes. [`File::parse`] validates everything once (counts, lengths,
//! nesting, tensor shapes, byte ranges, alignment, unique keys and names); the accessors then
//! trust the validated layout and never copy.
//!
//! Cost on hostile input: every loop is bounded by the file size or by the caps below, and
//! the only quadratic steps are the pairwise checks of keys (at most [`MAX_METADATA`]²/2
//! comparisons of keys of at most [`MAX_KEY_LEN`] bytes) and of tensors (at most
//! [`MAX_TENSORS`]²/2 comparisons of names and byte ranges; names are compared by hash
//! first). Nothing is allocated: the pairwise checks use fixed tables on the stack (12 KiB
//! of keys, then 6 KiB of tensors on a 32-bit target; about twice that on a 64-bit one).
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
/// Most metadata entries armlet accepts (real files have fewer than a hundred).
pub const MAX_METADATA: u64 = 1024;
/// Longest metadata key (real keys are under 64 bytes; the spec allows 65535, but long keys
/// would only make the duplicate check slow).
pub const MAX_KEY_LEN: u64 = 256;
/// Longest tensor name: ggml's GGML_MAX_NAME is 64 bytes including the NUL, and llama.cpp
/// refuses longer names.
pub const MAX_TENSOR_NAME: u64 = 63;
/// Alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// How many tensors the pairwise check holds in its stack table at once: each batch costs
/// one walk over the earlier tensor infos.
const TENSOR_CHECK_BATCH: usize = 128;

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
    /// Number of elements (saturating: a parsed tensor's count always fits an i64).
    pub fn n_elements(&self) -> u64 {
        self.ne.iter().fold(1u64, |n, &d| n.saturating_mul(d))
    }

    /// The shape as a slice of its `n_dims` dimensions.
    pub fn shape(&self) -> &[u64] {
        self.ne.get(..self.n_dims as usize).unwrap_or(&self.ne)
    }
}

impl<'a> File<'a> {
    /// Parses and validates a whole GGUF file held in `bytes`.
    ///
    /// The checks run in three passes, so the error reported is the first of its pass in
    /// file order: (1) the structure, front to back (header, every key and value, every
    /// tensor info; keys unique, `general.alignment` valid); (2) each tensor on its own
    /// (offset aligned, bytes inside the data section); (3) each pair of tensors (names
    /// unique, byte ranges disjoint).
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
        let alignment = read_metadata(&mut cur, n_metadata)?;

        let tensor_infos_start = cur.pos();
        for _ in 0..n_tensors {
            read_tensor_info(&mut cur)?;
        }
        let infos_end = cur.pos() as u64;
        let data_start = align_up(infos_end, alignment)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(GgufErrorKind::Truncated("padding before data").at(infos_end))?;
        // A file with tensors must reach its data section; a vocab-only file may end early
        // (llama.cpp also skips the padding only when there are tensors).
        if n_tensors > 0 && data_start > bytes.len() {
            return Err(GgufErrorKind::Truncated("padding before data").at(infos_end));
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
        file.check_each_tensor()?;
        file.check_tensor_pairs()?;
        Ok(file)
    }

    /// Pass 2: every tensor's offset is aligned and its bytes lie inside the data section.
    fn check_each_tensor(&self) -> Result<(), GgufError> {
        let data_len = (self.bytes.len() as u64).saturating_sub(self.data_start as u64);
        let mut cur = Cursor::new(self.bytes, self.tensor_infos_start);
        for _ in 0..self.n_tensors {
            let info = read_tensor_info(&mut cur)?;
            if info.offset % self.alignment != 0 {
                return Err(GgufErrorKind::TensorMisaligned.at(info.offset_at));
            }
            if info.end().is_none_or(|end| end > data_len) {
                return Err(GgufErrorKind::TensorOutOfBounds.at(info.offset_at));
            }
        }
        Ok(())
    }

    /// Pass 3: no two tensors share a name or a byte. The tensors are taken in batches held
    /// on the stack; each batch is compared within itself and then against every earlier
    /// tensor in one walk, so the walks cost n²/(2·batch) info reads while each of the n²/2
    /// comparisons is a hash compare (a memcmp only when the hashes agree) and two integer
    /// compares. Real files (a few hundred tensors) take one or a few batches.
    fn check_tensor_pairs(&self) -> Result<(), GgufError> {
        let mut batch_cur = Cursor::new(self.bytes, self.tensor_infos_start);
        let mut checked: u64 = 0;
        while checked < self.n_tensors {
            let mut batch: heapless::Vec<PairCheck<'a>, TENSOR_CHECK_BATCH> = heapless::Vec::new();
            while checked + (batch.len() as u64) < self.n_tensors && !batch.is_full() {
                let info_at = batch_cur.pos() as u64;
                let info = read_tensor_info(&mut batch_cur)?;
                // `push` cannot fail: the batch is not full.
                if batch.push(PairCheck::new(&info, info_at)).is_err() {
                    break;
                }
            }
            for i in 1..batch.len() {
                if let Some((before, [entry, ..])) = batch.split_at_mut_checked(i) {
                    for other in before.iter() {
                        entry.compare(other.name_hash, other.name, other.start, other.end);
                    }
                }
            }
            let mut earlier = Cursor::new(self.bytes, self.tensor_infos_start);
            for _ in 0..checked {
                let other = read_tensor_info(&mut earlier)?;
                let other_end = other.end().unwrap_or(u64::MAX);
                let other_hash = name_hash(other.name);
                for entry in batch.iter_mut() {
                    entry.compare(other_hash, other.name, other.offset, other_end);
                }
            }
            // The first tensor in file order that clashes with an earlier one is reported.
            if let Some(err) = batch.iter().find_map(PairCheck::error) {
                return Err(err);
            }
            checked += batch.len() as u64;
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

    /// Byte offset of the data section in the file. For a file without tensors this may
    /// lie past the end of the file (the padding is optional there).
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

    /// The value stored under `key` (a walk over the metadata: linear in its size).
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.metadata().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A string value (`general.architecture`, ...); `None` if absent, not a string or
    /// not UTF-8.
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
        // Validated by `parse`; a failure here would be a parser bug, so end quietly.
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

impl TensorInfo<'_> {
    /// End of the tensor's bytes, relative to the data section.
    fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.size)
    }
}

/// A tensor of the batch under pairwise check, and the first clash found for it.
struct PairCheck<'a> {
    /// Compared before the names themselves, so that most pairs cost no memcmp.
    name_hash: u32,
    name: &'a str,
    start: u64,
    end: u64,
    info_at: u64,
    offset_at: u64,
    clash: Option<Clash>,
}

#[derive(Clone, Copy)]
enum Clash {
    SameName,
    Overlap,
}

impl<'a> PairCheck<'a> {
    fn new(info: &TensorInfo<'a>, info_at: u64) -> Self {
        // Pass 2 proved that `end` exists.
        let end = info.end().unwrap_or(u64::MAX);
        PairCheck {
            name_hash: name_hash(info.name),
            name: info.name,
            start: info.offset,
            end,
            info_at,
            offset_at: info.offset_at,
            clash: None,
        }
    }

    /// Records a clash with an earlier tensor; a duplicate name outranks an overlap.
    /// Sizes are never 0 (dimensions are not), so `start < end` for both ranges.
    fn compare(&mut self, name_hash: u32, name: &str, start: u64, end: u64) {
        if name_hash == self.name_hash && name == self.name {
            self.clash = Some(Clash::SameName);
        } else if self.clash.is_none() && self.start < end && start < self.end {
            self.clash = Some(Clash::Overlap);
        }
    }

    fn error(&self) -> Option<GgufError> {
        match self.clash? {
            Clash::SameName => Some(GgufErrorKind::DuplicateTensorName.at(self.info_at)),
            Clash::Overlap => Some(GgufErrorKind::TensorsOverlap.at(self.offset_at)),
        }
    }
}

/// FNV-1a of a key or tensor name: a cheap filter before comparing names byte by byte.
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

/// Reads and validates the `n` metadata entries at the cursor; returns the alignment.
fn read_metadata<'a>(cur: &mut Cursor<'a>, n: u64) -> Result<u64, GgufError> {
    const TABLE: usize = MAX_METADATA as usize;
    let mut alignment = DEFAULT_ALIGNMENT;
    // Every key seen so far with its hash, for the duplicate check (n ≤ MAX_METADATA,
    // checked by the caller); keys are compared byte by byte only when their hashes agree.
    let mut keys: heapless::Vec<(u32, &'a str), TABLE> = heapless::Vec::new();
    for _ in 0..n {
        let key_at = cur.pos() as u64;
        let key = read_key(cur)?;
        let hash = name_hash(key);
        if keys.iter().any(|&(h, k)| h == hash && k == key) {
            return Err(GgufErrorKind::DuplicateKey.at(key_at));
        }
        if keys.push((hash, key)).is_err() {
            return Err(GgufErrorKind::TooManyMetadata(n).at(16));
        }
        let value = read_typed_value(cur)?;
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
    Ok(alignment)
}

fn read_key<'a>(cur: &mut Cursor<'a>) -> Result<&'a str, GgufError> {
    let at = cur.pos() as u64;
    let raw = cur.string("metadata key")?;
    match core::str::from_utf8(raw) {
        Ok(k) if !k.is_empty() && k.len() as u64 <= MAX_KEY_LEN => Ok(k),
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
        // ggml counts elements in an int64_t.
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
    // A byte size beyond u64 (possible for 8-byte types) cannot fit in any file.
    let size = ty
        .row_bytes(ne[0])
        .and_then(|r| r.checked_mul(ne[1]))
        .and_then(|s| s.checked_mul(ne[2]))
        .and_then(|s| s.checked_mul(ne[3]))
        .ok_or(GgufErrorKind::TensorOutOfBounds.at(offset_at))?;
    Ok(TensorInfo { name, ty, ne, n_dims, offset, offset_at, size })
}

/// `x` rounded up to a multiple of `a` (a power of two, never 0).
fn align_up(x: u64, a: u64) -> Option<u64> {
    Some(x.checked_add(a.checked_sub(1)?)? / a * a)
}

#[cfg(test)]
mod tests;
