//! Saved session states (`armlet_core::state`): a restored session goes on bit for bit as
//! one that fed the same tokens (Falcon-H1 in both cache types, a llama file, Gemma 3 with
//! its sliding-window rings, SmolLM2 when it is in the cache), and every kind of bad state is refused with its own error, without
//! touching the session when the header is at fault and leaving it empty when the body is.

#[path = "gguf_support/layout.rs"]
mod layout;

use armlet_core::gguf;
use armlet_core::model::{KvCacheType, KvLayout, Model};
use armlet_core::plan::Plan;
use armlet_core::session::{arena_from_words, Session, SessionError};
use armlet_core::state::{self, Fingerprint, StateError, Summary, HEADER_BYTES};
use layout::{as_llama, fixture};

const SMOLLM2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");

fn bits(logits: &[f32]) -> Vec<u32> {
    logits.iter().map(|v| v.to_bits()).collect()
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// An arena for a plan, kept alive beside the session that borrows it.
fn arena(plan: &Plan) -> Vec<u64> {
    vec![0u64; plan.arena_bytes().div_ceil(8)]
}

/// Feeds `prompt` then generates `n` greedy tokens; the logits of every step.
fn greedy(s: &mut Session<'_, '_>, n: usize) -> Vec<Vec<u32>> {
    let mut rows = vec![bits(s.logits())];
    for _ in 0..n {
        let next = argmax(s.logits());
        rows.push(bits(s.feed(next).expect("feed")));
    }
    rows
}

/// Saves after `prompt[..cut]`, restores into a session of another context and batch size,
/// feeds the rest of the prompt and generates: every row must equal the uninterrupted run.
fn check_restore(name: &str, bytes: &[u8], prompt: &[u32], cut: usize, kv: KvCacheType, n_gen: usize) {
    let file = gguf::File::parse(bytes).expect("parses");
    let model = Model::from_gguf(&file).expect("model");
    let fp = Fingerprint::of(&file);
    let n_ctx = prompt.len() + 8;
    let plan = Plan::with_ubatch(&model.hparams, n_ctx, kv, 4).expect("plan");
    let mut words = arena(&plan);
    let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
    s.feed_prompt(prompt).expect("prompt");
    let expect = greedy(&mut s, n_gen);

    s.reset();
    s.feed_prompt(&prompt[..cut]).expect("first part");
    let mut saved = vec![0u8; s.state_bytes(3) as usize];
    s.save(&fp, b"abc", &mut saved[..]).expect("save");

    let plan2 = Plan::with_ubatch(&model.hparams, n_ctx + 5, kv, 3).expect("plan");
    let mut words2 = arena(&plan2);
    let mut r = Session::new(&model, &plan2, arena_from_words(&mut words2)).expect("session");
    let mut notes = [0u8; 8];
    let summary = r.restore(&fp, &saved[..], &mut notes).expect("restore");
    assert_eq!(summary, Summary { position: cut, has_logits: true, notes_len: 3, saved_n_ctx: n_ctx, all_positions: false });
    assert_eq!(&notes[..3], b"abc");
    assert_eq!(r.tokens(), &prompt[..cut]);
    assert_eq!(r.position(), cut);
    r.feed_prompt(&prompt[cut..]).expect("rest of the prompt");
    let got = greedy(&mut r, n_gen);
    for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
        let first = g.iter().zip(e).position(|(a, b)| a != b);
        assert!(first.is_none(), "{name} kv {}: row {i} differs first at logit {first:?}", kv.name());
    }
    assert_eq!(state::check(&model.hparams, kv, &fp, n_ctx, &saved[..]), Ok(summary));
}

fn micro_prompt() -> Vec<u32> {
    (0..14).map(|i| (i * 7 + 3) % 200).collect()
}

#[test]
fn falcon_h1_restored_goes_on_as_fed() {
    for name in ["micro-Q4_K_S", "small-Q4_K_S", "small-F32"] {
        let bytes = fixture(&format!("fixtures/falcon-h1-{name}.gguf"));
        for kv in [KvCacheType::F32, KvCacheType::F16] {
            check_restore(name, &bytes, &micro_prompt(), 9, kv, 6);
        }
    }
}

#[test]
fn llama_restored_goes_on_as_fed() {
    let bytes = as_llama(&fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf"));
    for kv in [KvCacheType::F32, KvCacheType::F16] {
        check_restore("micro-as-llama", &bytes, &micro_prompt(), 9, kv, 6);
    }
}

/// Gemma 3: saved after 30 tokens, when layer 0's ring of 8 slots has wrapped (the state
/// holds the 7 positions before the next one for that layer, all 30 for the global one).
#[test]
fn gemma3_restored_goes_on_as_fed() {
    let bytes = fixture("fixtures/gemma3-tiny-Q8_0.gguf");
    let prompt: Vec<u32> = (0..40).map(|i| (i * 37 + 5) % 3000).collect();
    for kv in [KvCacheType::F32, KvCacheType::F16] {
        check_restore("gemma3-tiny-Q8_0", &bytes, &prompt, 30, kv, 6);
    }
}

/// A Gemma 3 state is the same file whatever the sessions' layouts: saved from a ring,
/// restored into a session that keeps every position (`swa_full`) and back, it goes on as fed.
/// A session restored past the window cannot rewind before its position, unless the state
/// came from a full session and goes into one.
#[test]
fn gemma3_state_moves_between_a_ring_and_a_full_cache() {
    let bytes = fixture("fixtures/gemma3-tiny-Q8_0.gguf");
    let file = gguf::File::parse(&bytes).expect("parses");
    let model = Model::from_gguf(&file).expect("model");
    let fp = Fingerprint::of(&file);
    let prompt: Vec<u32> = (0..40).map(|i| (i * 37 + 5) % 3000).collect();
    let plan_of = |swa_full| {
        Plan::with_layout(&model.hparams, KvLayout { n_ctx: 48, swa_full }, KvCacheType::F32, 8).expect("plan")
    };
    let (ring, full) = (plan_of(false), plan_of(true));
    assert!(ring.arena_bytes() < full.arena_bytes());
    let mut words = arena(&ring);
    let mut s = Session::new(&model, &ring, arena_from_words(&mut words)).expect("session");
    s.feed_prompt(&prompt).expect("prompt");
    let expect = greedy(&mut s, 6);
    s.reset();
    s.feed_prompt(&prompt[..30]).expect("first part");
    let mut saved = vec![0u8; s.state_bytes(0) as usize];
    s.save(&fp, &[], &mut saved[..]).expect("save");

    let mut words_full = arena(&full);
    let mut f = Session::new(&model, &full, arena_from_words(&mut words_full)).expect("session");
    f.restore(&fp, &saved[..], &mut []).expect("restore into a full cache");
    assert_eq!(f.rewind(20), Err(SessionError::CannotRewind { from: 30, to: 20 }));
    f.feed_prompt(&prompt[30..35]).expect("more");
    let mut saved_full = vec![0u8; f.state_bytes(0) as usize];
    f.save(&fp, &[], &mut saved_full[..]).expect("save");

    s.restore(&fp, &saved_full[..], &mut []).expect("restore into a ring");
    s.feed_prompt(&prompt[35..]).expect("rest");
    assert_eq!(greedy(&mut s, 6), expect);

    // A full session that fed every token saves every position (flag bit 1): a ring takes the
    // last of them, and a full session can then rewind anywhere.
    f.reset();
    f.feed_prompt(&prompt[..35]).expect("prompt");
    let mut all = vec![0u8; f.state_bytes(0) as usize];
    f.save(&fp, &[], &mut all[..]).expect("save");
    assert!(all.len() > saved_full.len());
    let summary = s.restore(&fp, &all[..], &mut []).expect("restore into a ring");
    assert!(summary.all_positions);
    assert_eq!(s.rewind(20), Err(SessionError::CannotRewind { from: 35, to: 20 }));
    s.feed_prompt(&prompt[35..]).expect("rest");
    assert_eq!(greedy(&mut s, 6), expect);
    f.restore(&fp, &all[..], &mut []).expect("restore into a full cache");
    f.rewind(20).expect("every position is there");
    f.feed_prompt(&prompt[20..]).expect("rest");
    assert_eq!(greedy(&mut f, 6), expect);
}

#[test]
fn smollm2_restored_goes_on_as_fed() {
    let Ok(bytes) = std::fs::read(SMOLLM2) else {
        eprintln!("SKIPPED: {SMOLLM2} is not there (scripts/fetch-smollm2 fetches it)");
        return;
    };
    // Short: this test also runs under qemu-arm, at seconds per SmolLM2 token.
    let prompt: Vec<u32> = [1, 9690, 314, 253, 1345, 30, 2].to_vec();
    check_restore("SmolLM2", &bytes, &prompt, 5, KvCacheType::F16, 2);
}

/// An attention-only model rewinds to a shorter prefix and goes on as if only that prefix
/// had been fed; a hybrid one refuses.
#[test]
fn llama_rewinds_and_falcon_h1_refuses() {
    let prompt = micro_prompt();
    let bytes = as_llama(&fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf"));
    let file = gguf::File::parse(&bytes).expect("parses");
    let model = Model::from_gguf(&file).expect("model");
    let plan = Plan::new(&model.hparams, 32, KvCacheType::F16).expect("plan");
    let mut words = arena(&plan);
    let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
    let straight = bits(s.feed_prompt(&prompt[..10]).expect("prompt"));
    s.reset();
    s.feed_prompt(&prompt).expect("prompt");
    assert!(s.can_rewind());
    s.rewind(9).expect("rewind");
    assert!(!s.has_logits());
    assert_eq!(s.tokens(), &prompt[..9]);
    assert_eq!(bits(s.feed(prompt[9]).expect("feed")), straight);
    assert_eq!(s.rewind(11), Err(SessionError::CannotRewind { from: 10, to: 11 }));

    let bytes = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
    let file = gguf::File::parse(&bytes).expect("parses");
    let model = Model::from_gguf(&file).expect("model");
    let plan = Plan::new(&model.hparams, 32, KvCacheType::F16).expect("plan");
    let mut words = arena(&plan);
    let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
    s.feed_prompt(&prompt).expect("prompt");
    assert!(!s.can_rewind());
    assert_eq!(s.rewind(9), Err(SessionError::CannotRewind { from: 14, to: 9 }));
    assert_eq!(s.rewind(14), Ok(()));
    assert!(s.has_logits());
}

type Err = StateError<core::convert::Infallible>;

/// A saved state of the micro Q4_K_S fixture after 9 tokens, and what restoring `bytes`
/// into a fresh session of `n_ctx` and `kv` gives (with `check` agreeing first).
struct Bad {
    file: Vec<u8>,
    good: Vec<u8>,
}

impl Bad {
    fn new() -> Bad {
        let file = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
        let good = {
            let f = gguf::File::parse(&file).expect("parses");
            let model = Model::from_gguf(&f).expect("model");
            let plan = Plan::new(&model.hparams, 16, KvCacheType::F16).expect("plan");
            let mut words = arena(&plan);
            let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
            s.feed_prompt(&micro_prompt()[..9]).expect("prompt");
            let mut good = vec![0u8; s.state_bytes(0) as usize];
            s.save(&Fingerprint::of(&f), &[], &mut good[..]).expect("save");
            // One byte short: the writer's error, not a short state.
            let mut short = vec![0u8; good.len() - 1];
            assert!(matches!(s.save(&Fingerprint::of(&f), &[], &mut short[..]), Err(StateError::Io(_))));
            good
        };
        Bad { file, good }
    }

    /// Restores `bytes` into a session that has fed 3 tokens; the error and the position
    /// the session is left at.
    fn restore(&self, model_file: &[u8], bytes: &[u8], n_ctx: usize, kv: KvCacheType) -> (Result<Summary, Err>, usize) {
        let f = gguf::File::parse(model_file).expect("parses");
        let model = Model::from_gguf(&f).expect("model");
        let fp = Fingerprint::of(&f);
        let checked = state::check(&model.hparams, kv, &fp, n_ctx, bytes);
        let plan = Plan::new(&model.hparams, n_ctx, kv).expect("plan");
        let mut words = arena(&plan);
        let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
        s.feed_prompt(&[5, 6, 7]).expect("prompt");
        let got = s.restore(&fp, bytes, &mut []);
        assert_eq!(checked, got, "check and restore disagree");
        (got, s.position())
    }

    fn own(&self, bytes: &[u8]) -> (Result<Summary, Err>, usize) {
        self.restore(&self.file, bytes, 16, KvCacheType::F16)
    }
}

#[test]
fn the_good_state_restores() {
    let b = Bad::new();
    let (got, at) = b.own(&b.good);
    assert_eq!(got.map(|s| s.position), Ok(9));
    assert_eq!(at, 9);
}

#[test]
fn truncated_states_are_refused() {
    let b = Bad::new();
    for cut in [0, 4, HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + 17, b.good.len() / 2, b.good.len() - 1] {
        let (got, at) = b.own(&b.good[..cut]);
        assert_eq!(got, Err(StateError::Truncated { at: cut as u64 }), "cut at {cut}");
        // Inside the header the session is untouched; inside the body it is emptied.
        assert_eq!(at, if cut < HEADER_BYTES { 3 } else { 0 }, "cut at {cut}");
    }
}

#[test]
fn damaged_states_are_refused() {
    let b = Bad::new();
    for at in [HEADER_BYTES + 40, b.good.len() / 2, b.good.len() - 5, b.good.len() - 1] {
        let mut bytes = b.good.clone();
        bytes[at] ^= 0xFF;
        let (got, pos) = b.own(&bytes);
        assert!(matches!(got, Err(StateError::Checksum { .. } | StateError::Corrupt { .. })), "byte {at}: {got:?}");
        assert_eq!(pos, 0);
    }
    let mut bytes = b.good.clone();
    bytes[0] = b'X';
    assert_eq!(b.own(&bytes), (Err(StateError::NotAState), 3));
    let mut bytes = b.good.clone();
    bytes[8] = 9;
    assert_eq!(b.own(&bytes), (Err(StateError::UnknownVersion { version: 9 }), 3));
    let mut bytes = b.good.clone();
    bytes.push(0);
    assert_eq!(b.own(&bytes).0, Err(StateError::TrailingBytes));
    // A token id beyond the vocabulary, with a checksum that agrees: refused by value.
    let mut bytes = b.good.clone();
    bytes[HEADER_BYTES..HEADER_BYTES + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let n = bytes.len() - 4;
    let crc = crc32(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(b.own(&bytes), (Err(StateError::Corrupt { what: "a token id beyond the vocabulary" }), 0));
}

fn crc32(bytes: &[u8]) -> u32 {
    // The state's own checksum is the standard CRC-32 (IEEE); an independent bitwise one.
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn states_of_other_models_and_settings_are_refused() {
    let b = Bad::new();
    let small = fixture("fixtures/falcon-h1-small-Q4_K_S.gguf");
    let (got, at) = b.restore(&small, &b.good, 16, KvCacheType::F16);
    assert!(matches!(got, Err(StateError::OtherShape { .. })), "{got:?}");
    assert_eq!(at, 3);
    // Same shape, other weights (the same fixture quantized otherwise).
    let q8 = fixture("fixtures/falcon-h1-micro-Q8_0.gguf");
    assert_eq!(b.restore(&q8, &b.good, 16, KvCacheType::F16), (Err(StateError::OtherFile), 3));
    let llama = as_llama(&b.file);
    let (got, _) = b.restore(&llama, &b.good, 16, KvCacheType::F16);
    assert_eq!(got, Err(StateError::OtherArchitecture { saved: 1, have: "llama" }));
    assert_eq!(
        b.restore(&b.file, &b.good, 16, KvCacheType::F32),
        (Err(StateError::OtherKvType { saved: 1, have: KvCacheType::F32 }), 3)
    );
    assert_eq!(
        b.restore(&b.file, &b.good, 8, KvCacheType::F16),
        (Err(StateError::ContextTooSmall { need: 9, have: 8 }), 3)
    );
    // A larger context takes it.
    assert_eq!(b.restore(&b.file, &b.good, 64, KvCacheType::F16).1, 9);
}

#[test]
fn notes_beyond_the_buffer_are_refused() {
    let file = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
    let f = gguf::File::parse(&file).expect("parses");
    let model = Model::from_gguf(&f).expect("model");
    let fp = Fingerprint::of(&f);
    let plan = Plan::new(&model.hparams, 16, KvCacheType::F16).expect("plan");
    let mut words = arena(&plan);
    let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
    s.feed(4).expect("feed");
    let mut saved = vec![0u8; s.state_bytes(12) as usize];
    s.save(&fp, b"twelve bytes", &mut saved[..]).expect("save");
    let mut notes = [0u8; 4];
    assert_eq!(s.restore(&fp, &saved[..], &mut notes), Err(StateError::NotesTooLarge { len: 12, room: 4 }));
    assert_eq!(s.position(), 1);
}

/// The fingerprint changes with the metadata and with a sampled weight byte.
#[test]
fn the_fingerprint_follows_the_file() {
    let file = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
    let fp = |b: &[u8]| Fingerprint::of(&gguf::File::parse(b).expect("parses"));
    let base = fp(&file);
    let data_at = gguf::File::parse(&file).expect("parses").data_offset();
    let mut weight = file.clone();
    weight[data_at] ^= 1;
    assert_ne!(fp(&weight), base);
    assert_eq!(fp(&weight).header_crc, base.header_crc);
    let mut meta = file.clone();
    meta[data_at - 40] ^= 1;
    if gguf::File::parse(&meta).is_ok() {
        assert_ne!(fp(&meta).header_crc, base.header_crc);
    }
}
