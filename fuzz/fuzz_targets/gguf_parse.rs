//! Fuzz target: `gguf::File::parse` on arbitrary bytes, then everything a parsed file
//! offers walked as a model loader would (every key and value, every array element, every
//! tensor and its bytes). Any panic, hang or out-of-bounds read is a bug; so is a parsed
//! file whose views break the invariants checked here.
#![no_main]

use armlet_core::gguf::{File, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(file) = File::parse(bytes) else { return };
    let mut n_metadata = 0;
    for (key, value) in file.metadata() {
        n_metadata += 1;
        assert!(!key.is_empty());
        walk(&value);
        if let Some(a) = value.as_array() {
            for i in [0, a.len() / 2, a.len().saturating_sub(1), a.len()] {
                assert_eq!(a.get_fixed(i).is_some(), i < a.len() && a.elem_type().fixed_size().is_some());
            }
        }
    }
    assert_eq!(n_metadata, file.metadata_count());
    let mut n_tensors = 0;
    let mut total: u64 = 0;
    let data_start = file.data_offset();
    for t in file.tensors() {
        n_tensors += 1;
        let at = t.data.as_ptr() as usize - bytes.as_ptr() as usize;
        assert!(at >= data_start && at + t.data.len() <= bytes.len());
        assert_eq!(t.offset % file.alignment(), 0);
        assert!(t.n_dims <= 4 && t.n_elements() > 0);
        assert_eq!(file.tensor(t.name).map(|u| u.offset), Some(t.offset));
        total += t.data.len() as u64;
    }
    assert_eq!(n_tensors, file.tensor_count());
    // Disjoint ranges inside the data section cannot add up to more than it.
    assert!(total <= bytes.len().saturating_sub(data_start) as u64);
});

/// Reads every element of nested arrays through the public accessors.
fn walk(v: &Value) {
    let _ = (v.as_u64(), v.as_u32(), v.as_f32(), v.as_bool(), v.as_str(), v.value_type());
    if let Some(a) = v.as_array() {
        let mut n = 0;
        for x in a.iter() {
            n += 1;
            walk(&x);
        }
        assert_eq!(n, a.len());
    }
}
