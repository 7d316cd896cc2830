//! Metadata values: typed views into the file's bytes. `validate` walks a value once at
//! parse time (lengths, nesting, bool encoding); afterwards the accessors trust the bytes.
#![forbid(unsafe_code)]

use super::error::{GgufError, GgufErrorKind};
use super::reader::Cursor;

/// How deep arrays of arrays may nest.
const MAX_ARRAY_DEPTH: u32 = 4;

/// A metadata value type, by its GGUF id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// Bytes of a value of this type, for fixed-size types.
    pub fn fixed_size(self) -> Option<usize> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }

    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }
}

/// One metadata value. Strings are raw bytes (GGUF says UTF-8; `as_str` checks it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(&'a [u8]),
    Array(Array<'a>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl<'a> Value<'a> {
    /// Any integer value that is non-negative, widened.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer value that fits a u32.
    pub fn as_u32(&self) -> Option<u32> {
        self.as_u64().and_then(|v| u32::try_from(v).ok())
    }

    /// An f32, or an f64/integer converted to f32.
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(v) => Some(v),
            Value::F64(v) => Some(v as f32),
            _ => self.as_u64().map(|v| v as f32),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|s| core::str::from_utf8(s).ok())
    }

    pub fn as_array(&self) -> Option<Array<'a>> {
        match *self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::Str(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }
}

/// A validated array: its element type, length and the bytes of its elements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Array<'a> {
    elem: ValueType,
    len: u64,
    bytes: &'a [u8],
}

impl<'a> Array<'a> {
    pub fn elem_type(&self) -> ValueType {
        self.elem
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements in order.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter { elem: self.elem, left: self.len, cur: Cursor::new(self.bytes, 0) }
    }

    /// Element `i` of an array of fixed-size values, in O(1); `None` for strings/arrays.
    pub fn get_fixed(&self, i: u64) -> Option<Value<'a>> {
        let size = self.elem.fixed_size()?;
        if i >= self.len {
            return None;
        }
        let start = usize::try_from(i).ok()?.checked_mul(size)?;
        let mut cur = Cursor::new(self.bytes, start);
        read_value(&mut cur, self.elem, 0).ok()
    }
}

/// Iterator over a validated array's elements.
#[derive(Clone, Debug)]
pub struct ArrayIter<'a> {
    elem: ValueType,
    left: u64,
    cur: Cursor<'a>,
}

impl<'a> ArrayIter<'a> {
    /// Byte offset of the next element inside the array's element bytes.
    pub fn position(&self) -> usize {
        self.cur.pos()
    }
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated at parse time; a failure here would mean a bug, so end quietly.
        read_value(&mut self.cur, self.elem, 0).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// Reads (and validates) one value of type `ty` at the cursor.
pub(crate) fn read_value<'a>(
    cur: &mut Cursor<'a>,
    ty: ValueType,
    depth: u32,
) -> Result<Value<'a>, GgufError> {
    const W: &str = "metadata value";
    Ok(match ty {
        ValueType::U8 => Value::U8(cur.u8(W)?),
        ValueType::I8 => Value::I8(cur.u8(W)? as i8),
        ValueType::U16 => Value::U16(cur.u16(W)?),
        ValueType::I16 => Value::I16(cur.u16(W)? as i16),
        ValueType::U32 => Value::U32(cur.u32(W)?),
        ValueType::I32 => Value::I32(cur.u32(W)? as i32),
        ValueType::F32 => Value::F32(f32::from_bits(cur.u32(W)?)),
        ValueType::U64 => Value::U64(cur.u64(W)?),
        ValueType::I64 => Value::I64(cur.u64(W)? as i64),
        ValueType::F64 => Value::F64(f64::from_bits(cur.u64(W)?)),
        ValueType::Bool => {
            let at = cur.pos();
            match cur.u8(W)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(GgufErrorKind::InvalidBool(b).at(at as u64)),
            }
        }
        ValueType::String => Value::Str(cur.string("metadata string")?),
        ValueType::Array => Value::Array(read_array(cur, depth)?),
    })
}

fn read_array<'a>(cur: &mut Cursor<'a>, depth: u32) -> Result<Array<'a>, GgufError> {
    let at = cur.pos() as u64;
    if depth >= MAX_ARRAY_DEPTH {
        return Err(GgufErrorKind::ArrayNestingTooDeep.at(at));
    }
    let type_id = cur.u32("array type")?;
    let elem =
        ValueType::from_id(type_id).ok_or(GgufErrorKind::UnknownValueType(type_id).at(at))?;
    let len = cur.u64("array length")?;
    let start = cur.pos();
    // Every element takes at least one byte (strings 8, arrays 12), so a length beyond the
    // remaining bytes is impossible; checking it first bounds the loop below by the file size.
    let min_elem = elem.fixed_size().unwrap_or(if elem == ValueType::String { 8 } else { 12 });
    let too_long = GgufErrorKind::ArrayTooLong(len).at(at);
    let min_bytes = len.checked_mul(min_elem as u64).ok_or(too_long)?;
    if min_bytes > cur.remaining() as u64 {
        return Err(too_long);
    }
    match elem.fixed_size() {
        Some(size) if elem != ValueType::Bool => {
            cur.take(len as usize * size, "array")?;
        }
        _ => {
            for _ in 0..len {
                read_value(cur, elem, depth + 1)?;
            }
        }
    }
    let bytes = cur.bytes().get(start..cur.pos()).unwrap_or(&[]);
    Ok(Array { elem, len, bytes })
}
