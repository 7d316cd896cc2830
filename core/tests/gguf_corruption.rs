//! A corpus of broken files made from a real fixture (falcon-h1-micro-Q4_K_S.gguf): each
//! defect is put at a known place, and the parser must name it, with that place's offset.

#[path = "gguf_support/layout.rs"]
mod layout;

use armlet_core::gguf::{File, GgufError, GgufErrorKind as K, Value, MAX_KEY_LEN, MAX_METADATA, MAX_TENSORS, MAX_TENSOR_NAME};
use armlet_core::quant::GgmlType;
use layout::*;

const MICRO: &str = "fixtures/falcon-h1-micro-Q4_K_S.gguf";

fn err(bytes: &[u8]) -> GgufError {
    match File::parse(bytes) {
        Ok(_) => panic!("a broken file parsed"),
        Err(e) => e,
    }
}

fn truncation_kind(k: K) -> bool {
    matches!(k, K::Truncated(_) | K::StringTooLong(_) | K::ArrayTooLong(_))
}

#[test]
fn the_fixture_itself_parses() {
    let b = fixture(MICRO);
    let l = Layout::of(&b);
    let f = File::parse(&b).unwrap();
    assert_eq!(f.data_offset(), l.data_start);
    assert_eq!((f.tensor_count() as usize, f.metadata_count() as usize), (l.infos.len(), l.entries.len()));
    // Rebuilding from parts is exact, so the rebuilt variants below differ only where meant.
    assert_eq!(Parts::of(&b).to_bytes(), b);
}

#[test]
fn truncation_at_every_section_boundary_names_the_section() {
    let b = fixture(MICRO);
    let l = Layout::of(&b);
    assert_eq!(err(&b[..0]).kind, K::Truncated("header"));
    for cut in [4, 8, 16] {
        assert_eq!(err(&b[..cut]), K::Truncated("header").at_for_test(cut));
    }
    for e in &l.entries {
        assert_eq!(err(&b[..e.at]), K::Truncated("metadata key").at_for_test(e.at), "{}", e.key);
        assert_eq!(err(&b[..e.type_at]), K::Truncated("metadata type").at_for_test(e.type_at), "{}", e.key);
        let at_value = err(&b[..e.value_at]);
        assert!(truncation_kind(at_value.kind) && at_value.offset == e.value_at as u64, "{}: {at_value}", e.key);
    }
    for t in &l.infos {
        assert_eq!(err(&b[..t.at]), K::Truncated("tensor name").at_for_test(t.at), "{}", t.name);
        assert_eq!(err(&b[..t.n_dims_at]), K::Truncated("tensor info").at_for_test(t.n_dims_at));
        assert_eq!(err(&b[..t.type_at]), K::Truncated("tensor info").at_for_test(t.type_at));
        assert_eq!(err(&b[..t.offset_at]), K::Truncated("tensor info").at_for_test(t.offset_at));
    }
    assert_eq!(err(&b[..l.infos_end]), K::Truncated("padding before data").at_for_test(l.infos_end));
    assert_eq!(err(&b[..l.data_start - 1]).kind, K::Truncated("padding before data"));
    // Inside the data section: the first tensor (in file order) that no longer fits is named.
    let data_len = (b.len() - l.data_start) as u64;
    for cut in [0, 1, data_len / 2, data_len - 1] {
        let sizes: Vec<(u64, u64, usize)> = {
            let f = File::parse(&b).unwrap();
            f.tensors().zip(&l.infos).map(|(t, i)| (t.offset, t.data.len() as u64, i.offset_at)).collect()
        };
        let first_cut = sizes.iter().find(|(off, len, _)| off + len > cut).unwrap();
        let e = err(&b[..l.data_start + cut as usize]);
        assert_eq!(e, K::TensorOutOfBounds.at_for_test(first_cut.2), "cut {cut} bytes into the data");
    }
}

#[test]
fn truncation_at_every_byte_of_the_header_metadata_and_infos() {
    let b = fixture(MICRO);
    let l = Layout::of(&b);
    for cut in 0..l.data_start {
        let e = err(&b[..cut]);
        let ok = truncation_kind(e.kind) && e.offset <= cut as u64;
        assert!(ok, "cut at {cut}: {e}");
    }
}

/// Sets one field and checks the error, kind and offset.
fn with_u64(at: usize, v: u64) -> GgufError {
    let mut b = fixture(MICRO);
    put_u64(&mut b, at, v);
    err(&b)
}

fn with_u32(at: usize, v: u32) -> GgufError {
    let mut b = fixture(MICRO);
    put_u32(&mut b, at, v);
    err(&b)
}

#[test]
fn header_defects() {
    let mut b = fixture(MICRO);
    b[0] = b'g';
    assert_eq!(err(&b), K::BadMagic(*b"gGUF").at_for_test(0));
    for v in [0, 1, 4, 0x0300_0000] {
        assert_eq!(with_u32(4, v), K::UnsupportedVersion(v).at_for_test(4));
    }
    assert!(with_u32(4, 0x0300_0000).to_string().contains("big-endian"));
    for n in [MAX_TENSORS + 1, 1 << 63, u64::MAX] {
        assert_eq!(with_u64(8, n), K::TooManyTensors(n).at_for_test(8));
    }
    for n in [MAX_METADATA + 1, 1 << 63, u64::MAX] {
        assert_eq!(with_u64(16, n), K::TooManyMetadata(n).at_for_test(16));
    }
    // A metadata count one too high reads the first tensor info as a key/value pair; one too
    // low reads the last entry as a tensor info. Both must fail, not misparse.
    let l = Layout::of(&fixture(MICRO));
    assert!(File::parse(&{
        let mut c = fixture(MICRO);
        put_u64(&mut c, 16, l.entries.len() as u64 + 1);
        c
    })
    .is_err());
    assert!(File::parse(&{
        let mut c = fixture(MICRO);
        put_u64(&mut c, 16, l.entries.len() as u64 - 1);
        c
    })
    .is_err());
}

#[test]
fn absurd_lengths_fail_at_once() {
    let l = Layout::of(&fixture(MICRO));
    let name = l.entry("general.name");
    for n in [1 << 63, u64::MAX, 1 << 32] {
        assert_eq!(with_u64(name.at, n), K::StringTooLong(n).at_for_test(name.at));
        assert_eq!(with_u64(name.value_at, n), K::StringTooLong(n).at_for_test(name.value_at));
    }
    let tokens = l.entry("tokenizer.ggml.tokens");
    for n in [1 << 63, u64::MAX, 1 << 61, 3073 + 90_000] {
        assert_eq!(with_u64(tokens.value_at + 4, n), K::ArrayTooLong(n).at_for_test(tokens.value_at));
    }
    // An i32 array claiming 2^62 elements: 2^62 * 4 overflows nothing but exceeds the file.
    let types = l.entry("tokenizer.ggml.token_type");
    assert_eq!(with_u64(types.value_at + 4, 1 << 62), K::ArrayTooLong(1 << 62).at_for_test(types.value_at));
    assert_eq!(with_u64(types.value_at + 4, 1 << 63), K::ArrayTooLong(1 << 63).at_for_test(types.value_at));
    let t = l.info("blk.1.ffn_up.weight");
    assert_eq!(with_u64(t.at, 1 << 63), K::StringTooLong(1 << 63).at_for_test(t.at));
}

#[test]
fn metadata_defects() {
    let b = fixture(MICRO);
    let l = Layout::of(&b);
    let arch = l.entry("general.architecture");
    assert_eq!(with_u32(arch.type_at, 13), K::UnknownValueType(13).at_for_test(arch.type_at));
    assert_eq!(with_u32(arch.type_at, u32::MAX), K::UnknownValueType(u32::MAX).at_for_test(arch.type_at));
    let tokens = l.entry("tokenizer.ggml.tokens");
    assert_eq!(with_u32(tokens.value_at, 99), K::UnknownValueType(99).at_for_test(tokens.value_at));

    let add_bos = l.entry("tokenizer.ggml.add_bos_token");
    let mut c = b.clone();
    c[add_bos.value_at] = 2;
    assert_eq!(err(&c), K::InvalidBool(2).at_for_test(add_bos.value_at));

    let mut c = b.clone();
    c[arch.at + 8] = 0xff; // the first byte of the key: no longer UTF-8
    assert_eq!(err(&c), K::InvalidKey.at_for_test(arch.at));
    assert_eq!(with_u64(arch.at, 0), K::InvalidKey.at_for_test(arch.at));

    // A later key renamed to an earlier one of the same length.
    let (first, later) = l
        .entries
        .iter()
        .enumerate()
        .find_map(|(i, e)| l.entries[i + 1..].iter().find(|o| o.key.len() == e.key.len()).map(|o| (e, o)))
        .unwrap();
    let mut c = b.clone();
    c[later.at + 8..later.at + 8 + later.key.len()].copy_from_slice(first.key.as_bytes());
    assert_eq!(err(&c), K::DuplicateKey.at_for_test(later.at));

    // Rebuilt files: keys added at the end.
    let with_kv = |entry: Vec<u8>| {
        let mut p = Parts::of(&b);
        p.kv.push(entry);
        p.to_bytes()
    };
    let end = l.metadata_end;
    let long_key = "k".repeat(MAX_KEY_LEN as usize + 1);
    assert_eq!(err(&with_kv(kv_u32(&long_key, 1))), K::InvalidKey.at_for_test(end));
    let longest = "k".repeat(MAX_KEY_LEN as usize);
    assert!(File::parse(&with_kv(kv_u32(&longest, 1))).is_ok());
    assert_eq!(err(&with_kv(kv_u32("general.name", 1))), K::DuplicateKey.at_for_test(end));
}

#[test]
fn alignment_defects_and_a_valid_alignment() {
    let b = fixture(MICRO);
    let end = Layout::of(&b).metadata_end;
    let with_alignment = |entry: Vec<u8>, alignment: usize| {
        let mut p = Parts::of(&b);
        p.kv.push(entry);
        p.alignment = alignment;
        p.to_bytes()
    };
    for a in [0, 3, 48, 0x8000_0001] {
        let f = with_alignment(kv_u32("general.alignment", a), 32);
        assert_eq!(err(&f), K::BadAlignment(a as u64).at_for_test(end), "alignment {a}");
    }
    // general.alignment must be a u32: a u64 32 is refused, as llama.cpp does.
    let f = with_alignment(kv("general.alignment", 10, &32u64.to_le_bytes()), 32);
    assert_eq!(err(&f), K::BadAlignment(32).at_for_test(end));
    let f = with_alignment(kv("general.alignment", 8, &gguf_string(b"32")), 32);
    assert_eq!(err(&f), K::BadAlignment(0).at_for_test(end));
    // 16: every 32-aligned offset is 16-aligned; the data section moves to a 16-byte boundary.
    let f = with_alignment(kv_u32("general.alignment", 16), 16);
    let parsed = File::parse(&f).unwrap();
    assert_eq!((parsed.alignment(), parsed.data_offset() % 16), (16, 0));
    let original = File::parse(&b).unwrap();
    assert!(parsed.tensors().zip(original.tensors()).all(|(x, y)| x.name == y.name && x.data == y.data));
    // 64: some tensor offsets (multiples of 32 only) are now misaligned.
    let f = with_alignment(kv_u32("general.alignment", 64), 64);
    assert_eq!(err(&f).kind, K::TensorMisaligned);
    // 2^31: the data section would start past the end of the file.
    let f = with_alignment(kv_u32("general.alignment", 1 << 31), 32);
    assert_eq!(err(&f).kind, K::Truncated("padding before data"));
}

#[test]
fn nested_arrays_parse_up_to_the_depth_limit() {
    let b = fixture(MICRO);
    // [[1, 2], [3]] as arrays of u32, then the same nested 5 deep.
    let inner1 = array(4, 2, &[1u32.to_le_bytes(), 2u32.to_le_bytes()].concat());
    let inner2 = array(4, 1, &3u32.to_le_bytes());
    let outer = array(9, 2, &[inner1, inner2].concat());
    let mut p = Parts::of(&b);
    p.kv.push(kv("test.nested", 9, &outer));
    let f = p.to_bytes();
    let parsed = File::parse(&f).unwrap();
    let v = parsed.get("test.nested").and_then(|v| v.as_array()).unwrap();
    let rows: Vec<Vec<u32>> =
        v.iter().map(|row| row.as_array().unwrap().iter().map(|x| x.as_u32().unwrap()).collect()).collect();
    assert_eq!(rows, [vec![1, 2], vec![3]]);

    let mut deep = array(4, 0, &[]);
    for _ in 0..4 {
        deep = array(9, 1, &deep);
    }
    // `deep` is now 5 arrays deep (4 of arrays around one of u32), one more than allowed.
    let mut p = Parts::of(&b);
    let end = Layout::of(&b).metadata_end;
    p.kv.push(kv("test.deep", 9, &deep));
    let e = err(&p.to_bytes());
    let innermost_at = end + 8 + "test.deep".len() + 4 + 4 * 12;
    assert_eq!(e, K::ArrayNestingTooDeep.at_for_test(innermost_at));
    // One level less parses, and an array of bools with a 2 in it is refused.
    let mut p = Parts::of(&b);
    p.kv.push(kv("test.deep", 9, &deep[12..]));
    assert!(File::parse(&p.to_bytes()).is_ok());
    let mut p = Parts::of(&b);
    p.kv.push(kv("test.bools", 9, &array(7, 3, &[0, 1, 2])));
    assert_eq!(err(&p.to_bytes()), K::InvalidBool(2).at_for_test(end + 8 + 10 + 4 + 12 + 2));
}

#[test]
fn tensor_info_defects() {
    let b = fixture(MICRO);
    let l = Layout::of(&b);
    let norm = l.info("output_norm.weight"); // F32 [64]
    let embd = l.info("token_embd.weight"); // Q8_0 [64, 3072]
    for ty in [4, 5, 31, 36, 1000, u32::MAX] {
        assert_eq!(with_u32(norm.type_at, ty), K::UnknownTensorType(ty).at_for_test(norm.type_at));
    }
    assert_eq!(
        with_u32(norm.type_at, GgmlType::Q4_K.id()),
        K::NotBlockMultiple { ty: GgmlType::Q4_K, ne0: 64 }.at_for_test(norm.n_dims_at)
    );
    assert_eq!(with_u32(norm.n_dims_at, 5), K::TooManyDimensions(5).at_for_test(norm.n_dims_at));
    assert_eq!(with_u64(norm.dims_at[0], 0), K::BadDimension(0).at_for_test(norm.dims_at[0]));
    assert_eq!(with_u64(embd.dims_at[1], 1 << 63), K::BadDimension(1 << 63).at_for_test(embd.dims_at[1]));
    // 64 * 2^57 = 2^63 elements: one past what ggml's int64_t element count holds.
    assert_eq!(with_u64(embd.dims_at[1], 1 << 57), K::BadDimension(1 << 57).at_for_test(embd.dims_at[1]));
    // An element count that fits an i64 but whose byte size does not fit a u64.
    let mut c = b.clone();
    put_u32(&mut c, norm.type_at, GgmlType::F64.id());
    put_u64(&mut c, norm.dims_at[0], 1 << 62);
    assert_eq!(err(&c), K::TensorOutOfBounds.at_for_test(norm.offset_at));

    let mut c = b.clone();
    put_u64(&mut c, norm.at, 0);
    assert_eq!(err(&c).kind, K::InvalidTensorName);
    let mut c = b.clone();
    c[norm.at + 8] = 0xc3; // a lone UTF-8 lead byte
    assert_eq!(err(&c), K::InvalidTensorName.at_for_test(norm.at));

    let name_of = |n: &[u8]| {
        let mut p = Parts::of(&b);
        p.infos.push(tensor_info(n, &[8], 0, 1 << 20));
        p.to_bytes()
    };
    let longest = vec![b'n'; MAX_TENSOR_NAME as usize];
    assert_eq!(err(&name_of(&longest)).kind, K::TensorOutOfBounds, "a 63-byte name is accepted");
    let too_long = vec![b'n'; MAX_TENSOR_NAME as usize + 1];
    assert_eq!(err(&name_of(&too_long)), K::InvalidTensorName.at_for_test(l.infos_end));
}

#[test]
fn tensor_placement_defects() {
    let b = fixture(MICRO);
    let l = Layout::of(&b);
    let data_len = (b.len() - l.data_start) as u64;
    let norm = l.info("output_norm.weight");
    assert_eq!(with_u64(norm.offset_at, norm.offset + 1), K::TensorMisaligned.at_for_test(norm.offset_at));
    assert_eq!(with_u64(norm.offset_at, norm.offset + 16), K::TensorMisaligned.at_for_test(norm.offset_at));
    for off in [data_len, 1 << 63, u64::MAX - 31, data_len - 224] {
        assert_eq!(with_u64(norm.offset_at, off), K::TensorOutOfBounds.at_for_test(norm.offset_at), "offset {off}");
    }
    // Overlaps: the later tensor of the clashing pair (in file order) is named.
    let a = &l.infos[3];
    let z = &l.infos[20];
    assert_eq!(with_u64(z.offset_at, a.offset), K::TensorsOverlap.at_for_test(z.offset_at));
    assert_eq!(with_u64(a.offset_at, z.offset), K::TensorsOverlap.at_for_test(z.offset_at));
    // Growing ssm_a from F32 to F64 runs it into the tensor after it in the data section.
    let ssm_a = l.info("blk.0.ssm_a");
    let next = l.infos.iter().find(|t| t.offset == ssm_a.offset + 32).unwrap();
    let later = if next.at > ssm_a.at { next } else { ssm_a };
    assert_eq!(with_u32(ssm_a.type_at, GgmlType::F64.id()), K::TensorsOverlap.at_for_test(later.offset_at));
    // Two same-size tensors swapping offsets: out of order but disjoint, so still valid.
    let (x, y) = (l.info("blk.0.ssm_a"), l.info("blk.0.ssm_d"));
    let mut c = b.clone();
    put_u64(&mut c, x.offset_at, y.offset);
    put_u64(&mut c, y.offset_at, x.offset);
    let swapped = File::parse(&c).unwrap();
    let original = File::parse(&b).unwrap();
    assert_eq!(swapped.tensor("blk.0.ssm_a").unwrap().data, original.tensor("blk.0.ssm_d").unwrap().data);

    // A duplicate name: a later tensor renamed to an earlier one of the same length.
    let (first, dup) = l
        .infos
        .iter()
        .enumerate()
        .find_map(|(i, t)| l.infos[i + 1..].iter().find(|o| o.name.len() == t.name.len()).map(|o| (t, o)))
        .unwrap();
    let mut c = b.clone();
    c[dup.at + 8..dup.at + 8 + dup.name.len()].copy_from_slice(first.name.as_bytes());
    assert_eq!(err(&c), K::DuplicateTensorName.at_for_test(dup.at));
    // A duplicate name outranks an overlap on the same tensor.
    put_u64(&mut c, dup.offset_at, first.offset);
    assert_eq!(err(&c), K::DuplicateTensorName.at_for_test(dup.at));
}

#[test]
fn pair_checks_cross_batch_boundaries() {
    // 300 small tensors (several check batches); a clash between the 299th and the 5th must
    // be found, and so must one between the 150th and 149th.
    let build = |clash: Option<(usize, usize)>, same_name: bool| {
        let mut p = Parts { version: 3, kv: vec![], infos: vec![], data: vec![0; 300 * 32], alignment: 32 };
        for i in 0..300 {
            let (name, offset) = match clash {
                Some((late, early)) if i == late && same_name => (format!("t{early}"), 32 * i as u64),
                Some((late, early)) if i == late => (format!("t{i}"), 32 * early as u64),
                _ => (format!("t{i}"), 32 * i as u64),
            };
            p.infos.push(tensor_info(name.as_bytes(), &[8], 0, offset));
        }
        p.to_bytes()
    };
    let ok = build(None, false);
    let parsed = File::parse(&ok).unwrap();
    assert_eq!(parsed.tensors().count(), 300);
    assert_eq!(parsed.tensor("t299").unwrap().offset, 299 * 32);
    let l = Layout::of(&ok);
    for (late, early) in [(299, 5), (150, 149), (64, 63), (1, 0), (299, 298)] {
        assert_eq!(err(&build(Some((late, early)), true)).kind, K::DuplicateTensorName, "{late} vs {early}");
        let e = err(&build(Some((late, early)), false));
        assert_eq!(e, K::TensorsOverlap.at_for_test(l.infos[late].offset_at), "{late} vs {early}");
    }
}

#[test]
fn values_read_back_through_every_accessor() {
    let b = fixture(MICRO);
    let mut p = Parts::of(&b);
    p.kv.push(kv("t.i8", 1, &[0x80]));
    p.kv.push(kv("t.i16", 3, &(-2i16).to_le_bytes()));
    p.kv.push(kv("t.u16", 2, &65535u16.to_le_bytes()));
    p.kv.push(kv("t.i64", 11, &(-5i64).to_le_bytes()));
    p.kv.push(kv("t.u64", 10, &(1u64 << 40).to_le_bytes()));
    p.kv.push(kv("t.f64", 12, &0.5f64.to_le_bytes()));
    p.kv.push(kv("t.bytes", 8, &gguf_string(&[0xff, 0x00])));
    let f = p.to_bytes();
    let file = File::parse(&f).unwrap();
    assert_eq!(file.get("t.i8"), Some(Value::I8(-128)));
    assert_eq!(file.get("t.i8").and_then(|v| v.as_u64()), None);
    assert_eq!(file.get("t.i16").and_then(|v| v.as_u32()), None);
    assert_eq!(file.get("t.u16").and_then(|v| v.as_u32()), Some(65535));
    assert_eq!(file.get("t.i64"), Some(Value::I64(-5)));
    assert_eq!(file.get("t.u64").and_then(|v| v.as_u32()), None);
    assert_eq!(file.get("t.u64").and_then(|v| v.as_u64()), Some(1 << 40));
    assert_eq!(file.get("t.f64").and_then(|v| v.as_f32()), Some(0.5));
    assert_eq!(file.get("t.bytes").and_then(|v| v.as_bytes()), Some(&[0xff, 0x00][..]));
    assert_eq!(file.get_str("t.bytes"), None, "not UTF-8");
    assert_eq!(file.get("absent"), None);
}

/// `GgufErrorKind::at` is crate-private; tests build expected errors through this.
trait AtForTest {
    fn at_for_test(self, offset: usize) -> GgufError;
}

impl AtForTest for K {
    fn at_for_test(self, offset: usize) -> GgufError {
        GgufError { kind: self, offset: offset as u64 }
    }
}
