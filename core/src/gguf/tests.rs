//! Parser tests on files built in memory: one well-formed file, then one broken field at a time.
extern crate std;
use super::*;
use std::vec::Vec;

/// A tiny GGUF writer for tests.
struct Builder {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    alignment: u64,
}

impl Builder {
    fn new() -> Self {
        Builder { kv: Vec::new(), n_kv: 0, infos: Vec::new(), n_tensors: 0, alignment: 32 }
    }
    fn key(&mut self, k: &str, ty: u32) {
        self.kv.extend((k.len() as u64).to_le_bytes());
        self.kv.extend(k.as_bytes());
        self.kv.extend(ty.to_le_bytes());
        self.n_kv += 1;
    }
    fn u32(mut self, k: &str, v: u32) -> Self {
        self.key(k, 4);
        self.kv.extend(v.to_le_bytes());
        self
    }
    fn string(mut self, k: &str, v: &str) -> Self {
        self.key(k, 8);
        self.kv.extend((v.len() as u64).to_le_bytes());
        self.kv.extend(v.as_bytes());
        self
    }
    fn strings(mut self, k: &str, v: &[&str]) -> Self {
        self.key(k, 9);
        self.kv.extend(8u32.to_le_bytes());
        self.kv.extend((v.len() as u64).to_le_bytes());
        for s in v {
            self.kv.extend((s.len() as u64).to_le_bytes());
            self.kv.extend(s.as_bytes());
        }
        self
    }
    fn tensor(mut self, name: &str, ne: &[u64], ty: u32, offset: u64) -> Self {
        self.infos.extend((name.len() as u64).to_le_bytes());
        self.infos.extend(name.as_bytes());
        self.infos.extend((ne.len() as u32).to_le_bytes());
        for d in ne {
            self.infos.extend(d.to_le_bytes());
        }
        self.infos.extend(ty.to_le_bytes());
        self.infos.extend(offset.to_le_bytes());
        self.n_tensors += 1;
        self
    }
    fn build(&self, data_len: usize) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(b"GGUF");
        f.extend(3u32.to_le_bytes());
        f.extend(self.n_tensors.to_le_bytes());
        f.extend(self.n_kv.to_le_bytes());
        f.extend(&self.kv);
        f.extend(&self.infos);
        while !(f.len() as u64).is_multiple_of(self.alignment) {
            f.push(0);
        }
        f.extend((0..data_len).map(|i| i as u8));
        f
    }
}

fn sample() -> Builder {
    Builder::new()
        .string("general.architecture", "falcon-h1")
        .u32("falcon-h1.block_count", 2)
        .strings("tokenizer.ggml.tokens", &["a", "bc", ""])
        .tensor("w", &[64, 2], 0, 0)
        .tensor("q", &[32], 8, 512)
}

#[test]
fn parses_metadata_and_tensors() {
    let bytes = sample().build(512 + 34);
    let f = File::parse(&bytes).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.get_str("general.architecture"), Some("falcon-h1"));
    assert_eq!(f.get("falcon-h1.block_count").and_then(|v| v.as_u32()), Some(2));
    let toks = f.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()).unwrap();
    let v: Vec<_> = toks.iter().map(|t| t.as_bytes().unwrap()).collect();
    assert_eq!(v, [&b"a"[..], b"bc", b""]);
    let w = f.tensor("w").unwrap();
    assert_eq!((w.ty, w.shape(), w.data.len()), (GgmlType::F32, &[64u64, 2][..], 512));
    assert_eq!(f.tensor("q").unwrap().data.len(), 34);
    assert_eq!(f.tensors().count(), 2);
}

fn kind(bytes: &[u8]) -> GgufErrorKind {
    File::parse(bytes).unwrap_err().kind
}

#[test]
fn each_defect_has_its_own_error() {
    let good = sample().build(512 + 34);
    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(kind(&b), GgufErrorKind::BadMagic(_)));
    let mut b = good.clone();
    b[4] = 1;
    assert_eq!(kind(&b), GgufErrorKind::UnsupportedVersion(1));
    let mut b = good.clone();
    b[8..16].copy_from_slice(&(1u64 << 63).to_le_bytes());
    assert_eq!(kind(&b), GgufErrorKind::TooManyTensors(1 << 63));
    let mut b = good.clone();
    b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(kind(&b), GgufErrorKind::TooManyMetadata(u64::MAX));
    assert!(matches!(kind(&good[..good.len() - 1]), GgufErrorKind::TensorOutOfBounds));
    assert!(matches!(kind(&good[..30]), GgufErrorKind::Truncated(_)));

    let dup = sample().u32("falcon-h1.block_count", 3).build(600);
    assert_eq!(kind(&dup), GgufErrorKind::DuplicateKey);
    let dup_t = sample().tensor("w", &[8], 0, 576).build(700);
    assert_eq!(kind(&dup_t), GgufErrorKind::DuplicateTensorName);
    let overlap = sample().tensor("o", &[8], 0, 480).build(700);
    assert_eq!(kind(&overlap), GgufErrorKind::TensorsOverlap);
    let misaligned = sample().tensor("m", &[8], 0, 548).build(700);
    assert_eq!(kind(&misaligned), GgufErrorKind::TensorMisaligned);
    let bad_block = sample().tensor("k", &[100], 12, 576).build(700);
    assert!(matches!(kind(&bad_block), GgufErrorKind::NotBlockMultiple { .. }));
    let bad_type = sample().tensor("k", &[32], 4, 576).build(700);
    assert_eq!(kind(&bad_type), GgufErrorKind::UnknownTensorType(4));
    let zero = sample().tensor("z", &[0], 0, 576).build(700);
    assert_eq!(kind(&zero), GgufErrorKind::BadDimension(0));
    let huge = sample().tensor("h", &[1 << 40, 1 << 40], 0, 576).build(700);
    assert_eq!(kind(&huge), GgufErrorKind::BadDimension(1 << 40));
    let align = sample().u32("general.alignment", 48).build(600);
    assert_eq!(kind(&align), GgufErrorKind::BadAlignment(48));
}

#[test]
fn absurd_array_lengths_fail_fast() {
    let mut b = Builder::new();
    b.key("tokenizer.ggml.tokens", 9);
    b.kv.extend(8u32.to_le_bytes());
    b.kv.extend((1u64 << 63).to_le_bytes());
    let bytes = b.build(0);
    assert_eq!(kind(&bytes), GgufErrorKind::ArrayTooLong(1 << 63));
}
