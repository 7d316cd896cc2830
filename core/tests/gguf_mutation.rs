//! Bounded, deterministic mutation testing of the parser (the ordinary-test twin of the
//! `gguf_parse` fuzz target): thousands of damaged copies of real files must each give Ok or
//! Err quickly, never a panic; when a damaged file still parses, everything it offers can be
//! walked and stays inside the file. Also the worst cases the caps allow, timed.

#[path = "gguf_support/layout.rs"]
mod layout;

use armlet_core::gguf::{File, MAX_KEY_LEN, MAX_METADATA, MAX_TENSORS, MAX_TENSOR_NAME};
use layout::*;
use std::time::{Duration, Instant};

/// Walks everything a parsed file offers, as a model loader or `armlet info` would, and
/// checks what must hold for any file the parser accepts.
fn walk_all(bytes: &[u8]) -> Result<(), ()> {
    let file = File::parse(bytes).map_err(|_| ())?;
    let mut n_meta = 0;
    for (key, value) in file.metadata() {
        assert!(!key.is_empty());
        n_meta += 1;
        if let Some(a) = value.as_array() {
            assert_eq!(a.iter().count() as u64, a.len());
            for v in a.iter().take(4) {
                if let Some(inner) = v.as_array() {
                    assert_eq!(inner.iter().count() as u64, inner.len());
                }
            }
            if !a.is_empty() {
                let last = a.get_fixed(a.len() - 1);
                assert_eq!(last.is_some(), a.elem_type().fixed_size().is_some());
            }
        }
        // Keys are unique, so a lookup finds this very entry (compared by type: NaN != NaN).
        assert_eq!(file.get(key).map(|v| v.value_type()), Some(value.value_type()));
    }
    assert_eq!(n_meta, file.metadata_count());
    let mut n_tensors = 0;
    let base = bytes.as_ptr() as usize;
    let mut total: u64 = 0;
    for t in file.tensors() {
        n_tensors += 1;
        let start = t.data.as_ptr() as usize - base;
        assert!(start >= file.data_offset() && start + t.data.len() <= bytes.len());
        assert_eq!(t.offset % file.alignment(), 0);
        assert_eq!(Some(t.data.len() as u64), t.ty.row_bytes(t.ne[0]).map(|r| r * t.ne[1] * t.ne[2] * t.ne[3]));
        total += t.data.len() as u64;
    }
    assert_eq!(n_tensors, file.tensor_count());
    // Disjoint tensors inside the data section cannot add up to more than it.
    assert!(total <= (bytes.len() - file.data_offset().min(bytes.len())) as u64);
    Ok(())
}

const INTERESTING_U64: [u64; 12] = [0, 1, 2, 3, 4, 7, 32, 255, 1 << 31, 1 << 32, 1 << 63, u64::MAX];

/// One random damage: a bit flip, a random byte, an interesting value in a length/count/type
/// field, a cut, or bytes removed or inserted.
fn mutate(b: &mut Vec<u8>, fields: &[Field], rng: &mut Rng) {
    match rng.below(8) {
        0 => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(b.len());
            b[i] = rng.next() as u8;
        }
        2..=4 => {
            let f = fields[rng.below(fields.len())];
            if f.at + f.width <= b.len() {
                let v = match rng.below(3) {
                    0 => INTERESTING_U64[rng.below(INTERESTING_U64.len())],
                    1 => rng.next() % 64,
                    _ => {
                        // The old value nudged by -2..=2 (off-by-one lengths and offsets).
                        let mut old = [0u8; 8];
                        old[..f.width].copy_from_slice(&b[f.at..f.at + f.width]);
                        u64::from_le_bytes(old).wrapping_add(rng.below(5) as u64).wrapping_sub(2)
                    }
                };
                b[f.at..f.at + f.width].copy_from_slice(&v.to_le_bytes()[..f.width]);
            }
        }
        5 => {
            let cut = rng.below(b.len());
            b.truncate(cut.max(1));
        }
        6 => {
            let at = rng.below(b.len());
            let n = (1 + rng.below(16)).min(b.len() - at);
            b.drain(at..at + n);
        }
        _ => {
            let at = rng.below(b.len());
            let n = 1 + rng.below(16);
            let fill = rng.next() as u8;
            b.splice(at..at, std::iter::repeat_n(fill, n));
        }
    }
    if b.is_empty() {
        b.push(0);
    }
}

fn mutation_run(name: &str, base: &[u8], iterations: usize, seed: u64) -> (usize, Duration) {
    let layout = Layout::of(base);
    let mut rng = Rng(seed);
    let mut parsed_ok = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..iterations {
        let mut b = base.to_vec();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut b, &layout.fields, &mut rng);
        }
        let started = Instant::now();
        let result = std::panic::catch_unwind(|| walk_all(&b));
        let took = started.elapsed();
        slowest = slowest.max(took);
        match result {
            Ok(Ok(())) => parsed_ok += 1,
            Ok(Err(())) => {}
            Err(_) => panic!("{name}: mutation {i} (seed {seed}) made the parser or a check panic"),
        }
    }
    (parsed_ok, slowest)
}

#[test]
fn thousands_of_mutations_of_real_files_never_panic() {
    // The vocab-only fixture (90 KB of metadata) and a micro model cut down to its first
    // metadata entries and all tensor infos (so each parse is cheap and most damage lands in
    // structure rather than in tensor data).
    let vocab = fixture("vocab/ggml-vocab-falcon-h1-fixture.gguf");
    let micro = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
    let mut small = Parts::of(&micro);
    small.kv.retain(|e| e.len() < 200); // drops the token, type and merge arrays and the template
    let small = small.to_bytes();
    File::parse(&small).unwrap();
    let started = Instant::now();
    let mut report = Vec::new();
    for (name, base, iterations, seed) in
        [("micro (small metadata)", &small, 20_000, 1), ("micro", &micro, 3000, 2), ("vocab", &vocab, 3000, 3)]
    {
        let (ok, slowest) = mutation_run(name, base, iterations, seed);
        // Some mutations must leave a valid file (e.g. a flipped bit in tensor data), and
        // most must not: both paths are exercised.
        assert!(ok > 0 && ok < iterations, "{name}: {ok} of {iterations} parsed");
        assert!(slowest < Duration::from_secs(2), "{name}: one parse took {slowest:?}");
        report.push(format!("{name}: {iterations} mutations, {ok} still valid, slowest {slowest:?}"));
    }
    eprintln!("{} in {:?}", report.join("; "), started.elapsed());
}

/// A file with `n` tensors whose names share all but their last bytes (so every name
/// comparison reads the whole name) and whose ranges are all distinct: every pair is compared.
fn many_tensors(n: usize, keys: usize) -> Vec<u8> {
    let mut p = Parts { version: 3, kv: vec![], infos: vec![], data: vec![0; n * 32], alignment: 32 };
    let prefix = "k".repeat(MAX_KEY_LEN as usize - 8);
    for i in 0..keys {
        p.kv.push(kv_u32(&format!("{prefix}{i:08}"), i as u32));
    }
    let prefix = "t".repeat(MAX_TENSOR_NAME as usize - 8);
    for i in (0..n).rev() {
        p.infos.push(tensor_info(format!("{prefix}{i:08}").as_bytes(), &[8], 0, 32 * i as u64));
    }
    p.to_bytes()
}

#[test]
fn the_worst_case_the_caps_allow_stays_fast() {
    let worst = many_tensors(MAX_TENSORS as usize, MAX_METADATA as usize);
    assert_eq!(File::parse(&worst).unwrap().tensor_count(), MAX_TENSORS);
    // The fastest of three runs: the machine may be busy with other work.
    let timed = |bytes: &[u8]| {
        (0..3)
            .map(|_| {
                let started = Instant::now();
                let _ = File::parse(bytes);
                started.elapsed()
            })
            .min()
            .unwrap()
    };
    let took = timed(&worst);
    let only_keys = many_tensors(0, MAX_METADATA as usize);
    let took_keys = timed(&only_keys);
    // The most elements a file of this size can hold: 2M empty strings (8 bytes each).
    let n_strings = 2 << 20;
    let mut p = Parts { version: 3, kv: vec![], infos: vec![], data: vec![], alignment: 32 };
    p.kv.push(kv("tokenizer.ggml.tokens", 9, &array(8, n_strings, &vec![0; 8 * n_strings as usize])));
    let strings = p.to_bytes();
    let took_strings = timed(&strings);
    let file = File::parse(&strings).unwrap();
    assert_eq!(file.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()).map(|a| a.iter().count()), Some(2 << 20));
    // The same file with its last tensor clashing with the first: the error comes only after
    // every pair has been compared.
    let mut clash = worst.clone();
    let l = Layout::of(&worst);
    let last = l.infos.last().unwrap();
    put_u64(&mut clash, last.offset_at, l.infos[0].offset);
    assert!(File::parse(&clash).is_err());
    let took_err = timed(&clash);
    eprintln!(
        "{} tensors, {} keys of {} bytes ({} KiB): parse {took:?} (the keys alone {took_keys:?}), \
         parse to the last-pair error {took_err:?}; {n_strings} strings (16 MiB): parse {took_strings:?}",
        MAX_TENSORS,
        MAX_METADATA,
        MAX_KEY_LEN,
        worst.len() / 1024
    );
    // Generous: about 0.1 s on a PC; the bound is for qemu on a loaded 2-core machine.
    assert!(took < Duration::from_secs(30) && took_err < Duration::from_secs(30));
    assert!(took_strings < Duration::from_secs(30));
}

#[test]
fn a_huge_count_in_a_small_file_fails_without_walking() {
    // 2^63 strings, tensors and keys in 100 bytes: the length checks fire before any loop.
    let mut p = Parts { version: 3, kv: vec![], infos: vec![], data: vec![], alignment: 32 };
    p.kv.push(kv("a", 9, &array(8, 1 << 63, &[])));
    let b = p.to_bytes();
    let started = Instant::now();
    for _ in 0..1000 {
        assert!(File::parse(&b).is_err());
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}
