//! Fuzz target: a saved session state from hostile bytes, as `--prompt-cache` and `/load`
//! read it. The input edits a valid state of the micro fixture (its first two bytes cut
//! it to a length, then each (offset, value) triple overwrites a byte), or, when it starts
//! with 0xFF, is the state itself. `state::check` and `Session::restore` must agree, never
//! panic, and a restored session must run.
#![no_main]

use armlet_core::gguf::File;
use armlet_core::model::{KvCacheType, Model};
use armlet_core::plan::Plan;
use armlet_core::session::{arena_from_words, Session};
use armlet_core::state::{self, Fingerprint};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/falcon-h1-micro-Q4_K_S.gguf");
const N_CTX: usize = 8;

fn model_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(FIXTURE).expect("the micro fixture (../shared/fixtures)"))
}

/// The state after three tokens, with two bytes of notes (made once).
fn good_state(s: &mut Session<'_, '_>, fp: &Fingerprint) -> &'static [u8] {
    static GOOD: OnceLock<Vec<u8>> = OnceLock::new();
    GOOD.get_or_init(|| {
        s.feed_prompt(&[1, 2, 3]).expect("prompt");
        let mut good = vec![0u8; s.state_bytes(2) as usize];
        s.save(fp, b"hi", &mut good[..]).expect("save");
        s.reset();
        good
    })
}

fuzz_target!(|input: &[u8]| {
    let file = File::parse(model_bytes()).expect("fixture parses");
    let model = Model::from_gguf(&file).expect("fixture loads");
    let fp = Fingerprint::of(&file);
    let plan = Plan::new(&model.hparams, N_CTX, KvCacheType::F16).expect("plan");
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
    let good = good_state(&mut s, &fp);

    let bytes = match input.split_first() {
        Some((0xFF, raw)) => raw.to_vec(),
        _ => {
            let (cut, edits) = input.split_at(input.len().min(2));
            let len = match cut {
                [a, b] => (u16::from_le_bytes([*a, *b]) as usize).min(good.len()),
                _ => good.len(),
            };
            let mut b = good[..len].to_vec();
            for e in edits.chunks_exact(3) {
                let at = u16::from_le_bytes([e[0], e[1]]) as usize;
                if let Some(x) = b.get_mut(at) {
                    *x = e[2];
                }
            }
            b
        }
    };
    let checked = state::check(&model.hparams, KvCacheType::F16, &fp, N_CTX, &bytes[..]);
    let mut notes = [0u8; 4];
    let restored = s.restore(&fp, &bytes[..], &mut notes);
    match (checked, restored) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(s.position(), a.position);
            if s.position() < N_CTX {
                s.feed(0).expect("a restored session runs");
            }
        }
        (Err(_), Err(_)) => {}
        (c, r) => panic!("check and restore disagree: {c:?} / {r:?}"),
    }
});
