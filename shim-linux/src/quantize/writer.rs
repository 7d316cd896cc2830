//! The GGUF v3 header as llama.cpp's `gguf_write_out` lays it out: magic, version, tensor
//! and key counts, the key/value pairs, the tensor infos (name, ggml_n_dims dimensions,
//! type, offset), zero padding to the alignment. Tensor data follows, each tensor padded to
//! the alignment with zeros (the caller streams it, see [`padding`]).

use armlet_core::gguf::{Value, ValueType};
use armlet_core::quant::GgmlType;

/// One tensor of the output: its data goes at `offset` from the start of the data section.
#[derive(Clone, Debug)]
pub struct TensorInfo<'a> {
    pub name: &'a str,
    pub ne: [u64; 4],
    pub n_dims: u32,
    pub ty: GgmlType,
    pub offset: u64,
}

/// A metadata value to write: one copied from the input, or a u32 the quantizer sets.
#[derive(Clone, Copy, Debug)]
pub enum MetaValue<'a> {
    Copied(Value<'a>),
    U32(u32),
}

/// Zero bytes that bring `len` up to a multiple of `alignment` (a power of two).
pub fn padding(len: u64, alignment: u64) -> u64 {
    (alignment - len % alignment) % alignment
}

/// The whole header, padded so that the data section starts aligned.
pub fn encode_header(metadata: &[(&str, MetaValue)], tensors: &[TensorInfo], alignment: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        put_string(&mut out, key.as_bytes());
        match value {
            MetaValue::Copied(v) => {
                out.extend_from_slice(&type_id(v.value_type()).to_le_bytes());
                put_value(&mut out, v);
            }
            MetaValue::U32(v) => {
                out.extend_from_slice(&type_id(ValueType::U32).to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    for t in tensors {
        put_string(&mut out, t.name.as_bytes());
        out.extend_from_slice(&t.n_dims.to_le_bytes());
        for d in &t.ne[..t.n_dims as usize] {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.ty.id().to_le_bytes());
        out.extend_from_slice(&t.offset.to_le_bytes());
    }
    let pad = padding(out.len() as u64, alignment);
    out.resize(out.len() + pad as usize, 0);
    out
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
}

fn type_id(t: ValueType) -> u32 {
    use ValueType::*;
    match t {
        U8 => 0,
        I8 => 1,
        U16 => 2,
        I16 => 3,
        U32 => 4,
        I32 => 5,
        F32 => 6,
        Bool => 7,
        String => 8,
        Array => 9,
        U64 => 10,
        I64 => 11,
        F64 => 12,
    }
}

/// A value without its type id (array elements carry none).
fn put_value(out: &mut Vec<u8>, v: &Value) {
    match *v {
        Value::U8(x) => out.push(x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::Bool(x) => out.push(x as u8),
        Value::Str(s) => put_string(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::Array(a) => {
            out.extend_from_slice(&type_id(a.elem_type()).to_le_bytes());
            out.extend_from_slice(&a.len().to_le_bytes());
            for elem in a.iter() {
                put_value(out, &elem);
            }
        }
    }
}
