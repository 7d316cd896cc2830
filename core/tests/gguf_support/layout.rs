//! An independent, test-only walk over a well-formed GGUF file: where every section, entry
//! and field lies, so the corruption tests can break one precise field, and a way to cut a
//! file into parts (metadata entries, tensor infos, data) and put it back together with
//! entries added, removed or changed. It panics on a malformed file: it only reads fixtures.
#![allow(dead_code)] // each test crate that includes this file uses a different part of it

use std::path::{Path, PathBuf};

pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = shared().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One metadata entry: where it starts, its key, and where its type id and value start.
#[derive(Clone, Debug)]
pub struct Entry {
    pub at: usize,
    pub key: String,
    pub type_at: usize,
    pub value_at: usize,
    pub type_id: u32,
}

/// One tensor info and where each of its fields lies.
#[derive(Clone, Debug)]
pub struct Info {
    pub at: usize,
    pub name: String,
    pub n_dims_at: usize,
    pub dims_at: Vec<usize>,
    pub ne: Vec<u64>,
    pub type_at: usize,
    pub type_id: u32,
    pub offset_at: usize,
    pub offset: u64,
}

/// A fixed-width integer field (a count, a length, a type id, a dimension, an offset).
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub at: usize,
    pub width: usize,
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub entries: Vec<Entry>,
    pub infos: Vec<Info>,
    pub metadata_end: usize,
    pub infos_end: usize,
    pub data_start: usize,
    pub alignment: usize,
    pub fields: Vec<Field>,
}

struct Walk<'a> {
    b: &'a [u8],
    i: usize,
    fields: Vec<Field>,
}

impl Walk<'_> {
    fn u32(&mut self) -> u32 {
        self.fields.push(Field { at: self.i, width: 4 });
        let v = u32::from_le_bytes(self.b[self.i..self.i + 4].try_into().unwrap());
        self.i += 4;
        v
    }
    fn u64(&mut self) -> u64 {
        self.fields.push(Field { at: self.i, width: 8 });
        let v = u64::from_le_bytes(self.b[self.i..self.i + 8].try_into().unwrap());
        self.i += 8;
        v
    }
    fn string(&mut self) -> String {
        let n = self.u64() as usize;
        let s = String::from_utf8_lossy(&self.b[self.i..self.i + n]).into_owned();
        self.i += n;
        s
    }
    fn value(&mut self, ty: u32) {
        match ty {
            0 | 1 | 7 => self.i += 1,
            2 | 3 => self.i += 2,
            4..=6 => self.i += 4,
            10..=12 => self.i += 8,
            8 => {
                self.string();
            }
            9 => {
                let elem = self.u32();
                let n = self.u64();
                match elem {
                    0 | 1 | 7 => self.i += n as usize,
                    2 | 3 => self.i += 2 * n as usize,
                    4..=6 => self.i += 4 * n as usize,
                    10..=12 => self.i += 8 * n as usize,
                    _ => {
                        // Strings: record only the first few length fields (enough targets).
                        let before = self.fields.len();
                        for _ in 0..n {
                            self.value(elem);
                        }
                        self.fields.truncate(before + 8);
                    }
                }
            }
            t => panic!("fixture has unknown value type {t}"),
        }
    }
}

impl Layout {
    /// Each metadata entry with the offset where it ends (the next one's start).
    pub fn entry_ends(&self) -> impl Iterator<Item = (&Entry, usize)> {
        let ends = self.entries.iter().skip(1).map(|e| e.at).chain([self.metadata_end]);
        self.entries.iter().zip(ends)
    }

    pub fn of(b: &[u8]) -> Layout {
        assert_eq!(&b[..4], b"GGUF");
        let mut w = Walk {
            b,
            i: 4,
            fields: Vec::new(),
        };
        w.u32();
        let n_tensors = w.u64();
        let n_kv = w.u64();
        let mut entries = Vec::new();
        let mut alignment = 32;
        for _ in 0..n_kv {
            let at = w.i;
            let key = w.string();
            let type_at = w.i;
            let type_id = w.u32();
            let value_at = w.i;
            if key == "general.alignment" {
                alignment = u32::from_le_bytes(b[value_at..value_at + 4].try_into().unwrap()) as usize;
            }
            w.value(type_id);
            entries.push(Entry {
                at,
                key,
                type_at,
                value_at,
                type_id,
            });
        }
        let metadata_end = w.i;
        let mut infos = Vec::new();
        for _ in 0..n_tensors {
            let at = w.i;
            let name = w.string();
            let n_dims_at = w.i;
            let n_dims = w.u32();
            let mut dims_at = Vec::new();
            let mut ne = Vec::new();
            for _ in 0..n_dims {
                dims_at.push(w.i);
                ne.push(w.u64());
            }
            let type_at = w.i;
            let type_id = w.u32();
            let offset_at = w.i;
            let offset = w.u64();
            infos.push(Info {
                at,
                name,
                n_dims_at,
                dims_at,
                ne,
                type_at,
                type_id,
                offset_at,
                offset,
            });
        }
        let infos_end = w.i;
        let data_start = infos_end.next_multiple_of(alignment);
        Layout {
            entries,
            infos,
            metadata_end,
            infos_end,
            data_start,
            alignment,
            fields: w.fields,
        }
    }

    pub fn entry(&self, key: &str) -> &Entry {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("no key {key}"))
    }

    pub fn info(&self, name: &str) -> &Info {
        self.infos
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }
}

/// A file cut into its parts; `to_bytes` re-pads the data section to `alignment`.
#[derive(Clone, Debug)]
pub struct Parts {
    pub version: u32,
    pub kv: Vec<Vec<u8>>,
    pub infos: Vec<Vec<u8>>,
    pub data: Vec<u8>,
    pub alignment: usize,
}

impl Parts {
    pub fn of(b: &[u8]) -> Parts {
        let l = Layout::of(b);
        let kv = l.entry_ends().map(|(e, end)| b[e.at..end].to_vec()).collect();
        let mut info_ends: Vec<usize> = l.infos.iter().skip(1).map(|t| t.at).collect();
        info_ends.push(l.infos_end);
        let infos = l
            .infos
            .iter()
            .zip(&info_ends)
            .map(|(t, &end)| b[t.at..end].to_vec())
            .collect();
        let data = b.get(l.data_start..).unwrap_or(&[]).to_vec();
        Parts {
            version: 3,
            kv,
            infos,
            data,
            alignment: l.alignment,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut f = b"GGUF".to_vec();
        f.extend(self.version.to_le_bytes());
        f.extend((self.infos.len() as u64).to_le_bytes());
        f.extend((self.kv.len() as u64).to_le_bytes());
        for e in &self.kv {
            f.extend(e);
        }
        for t in &self.infos {
            f.extend(t);
        }
        if !self.infos.is_empty() {
            f.resize(f.len().next_multiple_of(self.alignment), 0);
        }
        f.extend(&self.data);
        f
    }
}

/// Encoders for metadata entries and tensor infos.
pub fn gguf_string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend(s);
    v
}

pub fn kv(key: &str, type_id: u32, value: &[u8]) -> Vec<u8> {
    let mut v = gguf_string(key.as_bytes());
    v.extend(type_id.to_le_bytes());
    v.extend(value);
    v
}

pub fn kv_u32(key: &str, x: u32) -> Vec<u8> {
    kv(key, 4, &x.to_le_bytes())
}

/// An array value: element type, count, then the encoded elements.
pub fn array(elem: u32, n: u64, elems: &[u8]) -> Vec<u8> {
    let mut v = elem.to_le_bytes().to_vec();
    v.extend(n.to_le_bytes());
    v.extend(elems);
    v
}

pub fn tensor_info(name: &[u8], ne: &[u64], type_id: u32, offset: u64) -> Vec<u8> {
    let mut v = gguf_string(name);
    v.extend((ne.len() as u32).to_le_bytes());
    for d in ne {
        v.extend(d.to_le_bytes());
    }
    v.extend(type_id.to_le_bytes());
    v.extend(offset.to_le_bytes());
    v
}

pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// A deterministic xorshift64* generator: the same mutations on every run and machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The falcon-h1 file with its architecture renamed to `llama`, the Mamba2 keys and tensors
/// dropped and the pre-FFN norm spelled as llama spells it.
pub fn as_llama(b: &[u8]) -> Vec<u8> {
    let l = Layout::of(b);
    let mut parts = Parts::of(b);
    parts.kv = l
        .entry_ends()
        .filter(|(e, _)| !e.key.starts_with("falcon-h1.ssm."))
        .map(|(e, end)| {
            let key = e.key.replace("falcon-h1.", "llama.");
            if e.key == "general.architecture" {
                kv(&key, 8, &gguf_string(b"llama"))
            } else {
                kv(&key, e.type_id, &b[e.value_at..end])
            }
        })
        .collect();
    parts.infos = l
        .infos
        .iter()
        .filter(|t| !t.name.contains(".ssm_"))
        .map(|t| {
            let name = if t.name.ends_with(".ffn_norm") {
                format!("{}.weight", t.name)
            } else {
                t.name.clone()
            };
            tensor_info(name.as_bytes(), &t.ne, t.type_id, t.offset)
        })
        .collect();
    parts.to_bytes()
}
