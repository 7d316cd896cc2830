//! The random-weight Gemma 3 fixtures (`gemma3-tiny-*`, fixtures/README.md "Gemma 3
//! fixtures") against llama.cpp's golden logits, teacher-forced, in their tiers: F32 with
//! "gemma3 F32 tight" (the f16 GELU table reproduced, F32 cache), Q8_0 and Q4_K_M with the
//! strict quantized tier, and llama.cpp's default F16 cache with the F16 tier. Both prompts
//! are longer than the fixture's window of 8, so layer 0's ring of 8 slots wraps: these
//! goldens check the sliding window too. Then the ring against a full cache (`swa_full`)
//! with smaller windows, bit for bit, and rewinding within and beyond a ring.
//! The same tests run under `qemu-arm -cpu arm1176` (`scripts/test`'s ARM step).

#[path = "gguf_support/layout.rs"]
mod layout;

use armlet_core::gguf;
use armlet_core::model::golden::{compare_row, Alog, Tolerance, Verdict};
use armlet_core::model::{HParams, KvCacheType, KvLayout, Model, ModelError};
use armlet_core::plan::Plan;
use armlet_core::session::{arena_from_words, Session, SessionError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Feeds every golden id of `prompt` one at a time (then the prompt part again as one
/// batched prompt, whose last row must be the same bits) and checks every row.
fn check(file_name: &str, prompt: &str, kv: KvCacheType, expected_tier: Tolerance) {
    let bytes = read(&format!("{FIXTURES}/gemma3-tiny-{file_name}.gguf"));
    let golden_bytes = read(&format!("{FIXTURES}/golden/gemma3-tiny-{file_name}.{prompt}.alog"));
    let file = gguf::File::parse(&bytes).expect("fixture parses");
    let model = Model::from_gguf(&file).unwrap_or_else(|e| panic!("{file_name}: {e}"));
    let golden = Alog::parse(&golden_bytes).expect("golden parses");
    assert_eq!(golden.n_vocab, model.hparams.n_vocab);
    let tolerance = Tolerance::for_model(&model, kv);
    assert_eq!(tolerance, expected_tier, "{file_name}: tolerance tier");

    let plan = Plan::new(&model.hparams, golden.rows(), kv).expect("plan");
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut session = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
    let mut verdict = Verdict::new(tolerance);
    let mut report = String::new();
    let mut last_prompt_row = Vec::new();
    for (i, token) in golden.tokens().enumerate() {
        let logits = session.feed(token).expect("feed");
        if i + 1 == golden.n_prompt as usize {
            last_prompt_row = logits.to_vec();
        }
        let row = compare_row(logits, golden.row(i));
        let ok = verdict.add(&row);
        report += &format!(
            "row {i:2} tok {token:5} rel_rms {:.3e} argmax {:5}/{:5} margin {:.4}{}\n",
            row.rel_rms,
            row.argmax,
            row.golden_argmax,
            row.margin,
            if ok { "" } else { "  <-- out of tolerance" }
        );
    }
    println!("gemma3-tiny-{file_name} {prompt} kv {}: {verdict}", kv.name());
    assert!(verdict.passed(), "gemma3-tiny-{file_name} {prompt} kv {}: {verdict}\n{report}", kv.name());

    // The prompt in batches gives the same bits as token by token.
    session.reset();
    let prompt_ids: Vec<u32> = golden.tokens().take(golden.n_prompt as usize).collect();
    let batched = session.feed_prompt(&prompt_ids).expect("prompt");
    assert_eq!(bits(batched), bits(&last_prompt_row), "batched prompt vs one token at a time");
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

macro_rules! golden_tests {
    ($($name:ident: $file:literal, $prompt:literal, $kv:ident, $tier:ident;)*) => {$(
        #[test]
        fn $name() {
            check($file, $prompt, KvCacheType::$kv, Tolerance::$tier);
        }
    )*};
}

golden_tests! {
    f32_p1: "F32", "p1", F32, GEMMA3_F32;
    f32_p2: "F32", "p2", F32, GEMMA3_F32;
    q8_0_p2: "Q8_0", "p2", F32, QUANTIZED;
    q4_k_m_p2: "Q4_K_M", "p2", F32, QUANTIZED;
    // llama.cpp's default F16 cache (flash-attention numerics) against the F32-cache goldens.
    kv_f16_f32_p1: "F32", "p1", F16, F16;
    kv_f16_f32_p2: "F32", "p2", F16, F16;
}

/// The layer kinds and the window come from the file as llama.cpp derives them.
#[test]
fn hyperparameters_of_the_tiny_file() {
    let bytes = read(&format!("{FIXTURES}/gemma3-tiny-F32.gguf"));
    let file = gguf::File::parse(&bytes).expect("fixture parses");
    let model = Model::from_gguf(&file).expect("model");
    let h = &model.hparams;
    let swa = h.swa.expect("sliding window");
    assert_eq!((swa.window, swa.layers, swa.freq_base), (8, 0b01, 10000.0));
    assert_eq!((h.window(0), h.window(1)), (Some(8), None));
    assert_eq!(h.rope.freq_base, 1e6);
    assert_eq!(h.query_scale, Some(0.125));
    // Layer 0 keeps a ring of 8 positions, layer 1 the whole context.
    let plan = Plan::new(h, 64, KvCacheType::F32).expect("plan");
    assert_eq!(plan.kv_keys.bytes, (8 + 64) * h.kv_dim() * 4);
    let full = Plan::with_layout(h, KvLayout { n_ctx: 64, swa_full: true }, KvCacheType::F32, 8).expect("plan");
    assert_eq!(full.kv_keys.bytes, 2 * 64 * h.kv_dim() * 4);
    // A context shorter than the window: the ring is the context.
    assert_eq!(Plan::new(h, 5, KvCacheType::F32).expect("plan").kv_keys.bytes, 2 * 5 * h.kv_dim() * 4);
}

/// Logits of every position for `tokens`, fed in prompt batches of `ubatch` then one by one.
fn run(model: &Model<'_>, layout: KvLayout, kv: KvCacheType, tokens: &[u32]) -> Vec<Vec<u32>> {
    let plan = Plan::with_layout(&model.hparams, layout, kv, 4).expect("plan");
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut session = Session::new(model, &plan, arena_from_words(&mut words)).expect("session");
    let (head, tail) = tokens.split_at(tokens.len() / 3);
    let mut rows = vec![bits(session.feed_prompt(head).expect("prompt"))];
    for &t in tail {
        rows.push(bits(session.feed(t).expect("feed")));
    }
    rows
}

/// With the window made 3 and 5 (the p2 sequence is 55 tokens: the rings wrap many times),
/// a ring of `window` slots gives the same logits, bit for bit, as a cache of every position
/// masked to the window (`swa_full`), in both cache modes; and the window does matter.
#[test]
fn a_ring_gives_the_logits_of_a_full_cache() {
    let bytes = read(&format!("{FIXTURES}/gemma3-tiny-Q8_0.gguf"));
    let golden_bytes = read(&format!("{FIXTURES}/golden/gemma3-tiny-Q8_0.p2.alog"));
    let file = gguf::File::parse(&bytes).expect("fixture parses");
    let mut model = Model::from_gguf(&file).expect("model");
    let tokens: Vec<u32> = Alog::parse(&golden_bytes).expect("golden").tokens().collect();
    let n_ctx = tokens.len();
    let mut previous = None;
    for window in [3, 5] {
        let swa = model.hparams.swa.as_mut().expect("sliding window");
        swa.window = window;
        for kv in [KvCacheType::F32, KvCacheType::F16] {
            let ring = run(&model, KvLayout { n_ctx, swa_full: false }, kv, &tokens);
            let full = run(&model, KvLayout { n_ctx, swa_full: true }, kv, &tokens);
            assert_eq!(ring, full, "window {window}, kv {}", kv.name());
            if kv == KvCacheType::F32 {
                assert_ne!(previous.as_ref(), Some(&ring), "windows 3 and 5 give the same logits");
                previous = Some(ring);
            }
        }
    }
}

/// Rewinding a session whose ring has wrapped: back by one position is possible (the window
/// before it is still held) and gives the logits of the first run; further back is refused
/// unless the plan keeps every position (`swa_full`), and then it gives them too.
#[test]
fn rewinding_within_and_beyond_the_ring() {
    let bytes = read(&format!("{FIXTURES}/gemma3-tiny-Q8_0.gguf"));
    let golden_bytes = read(&format!("{FIXTURES}/golden/gemma3-tiny-Q8_0.p2.alog"));
    let file = gguf::File::parse(&bytes).expect("fixture parses");
    let model = Model::from_gguf(&file).expect("model");
    let tokens: Vec<u32> = Alog::parse(&golden_bytes).expect("golden").tokens().collect();
    let n_ctx = tokens.len();
    for swa_full in [false, true] {
        let plan = Plan::with_layout(&model.hparams, KvLayout { n_ctx, swa_full }, KvCacheType::F32, 8).expect("plan");
        let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
        let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
        s.feed_prompt(&tokens[..30]).expect("prompt");
        let at_30 = bits(s.feed(tokens[30]).expect("feed"));
        s.feed_prompt(&tokens[31..40]).expect("more");
        // Back by one: position 39 needs 32..38, still in the ring of 8.
        let at_39 = bits(s.logits());
        s.rewind(39).expect("back by one");
        assert_eq!(bits(s.feed(tokens[39]).expect("feed")), at_39);
        let far = s.rewind(30);
        if swa_full {
            far.expect("a full cache rewinds anywhere");
            assert_eq!(bits(s.feed(tokens[30]).expect("feed")), at_30);
        } else {
            assert_eq!(far, Err(SessionError::CannotRewind { from: 40, to: 30 }));
            assert_eq!(s.position(), 40);
        }
    }
}

/// The tiny F32 file with metadata key `key` replaced by (or, absent, given) `value` (a GGUF
/// type id and its encoded value), or removed when `value` is `None`.
fn with_key(key: &str, value: Option<(u32, Vec<u8>)>) -> Vec<u8> {
    let b = read(&format!("{FIXTURES}/gemma3-tiny-F32.gguf"));
    let l = layout::Layout::of(&b);
    let mut parts = layout::Parts::of(&b);
    parts.kv = l.entry_ends().filter(|(e, _)| e.key != key).map(|(e, end)| b[e.at..end].to_vec()).collect();
    if let Some((ty, v)) = value {
        parts.kv.push(layout::kv(key, ty, &v));
    }
    parts.to_bytes()
}

fn hparams_of(bytes: &[u8]) -> Result<HParams, ModelError> {
    HParams::from_gguf(&gguf::File::parse(bytes).expect("still a GGUF file"))
}

/// The forms of the layer pattern llama.cpp reads, its defaults, and refusals that name the
/// key: no window means no sliding layer; pattern n (0: every layer), absent 6 (both of the
/// two layers slide); one bool per layer; `rope.freq_base_swa` when present.
#[test]
fn sliding_window_metadata() {
    let pattern = "gemma3.attention.sliding_window_pattern";
    let layers = |b: &[u8]| hparams_of(b).expect("hparams").swa.map(|w| (w.window, w.layers, w.freq_base));
    assert_eq!(layers(&with_key("gemma3.attention.sliding_window", None)), None);
    assert_eq!(layers(&with_key(pattern, None)), Some((8, 0b11, 10000.0)));
    assert_eq!(layers(&with_key(pattern, Some((4, 0u32.to_le_bytes().to_vec())))), Some((8, 0b11, 10000.0)));
    assert_eq!(layers(&with_key(pattern, Some((4, 1u32.to_le_bytes().to_vec())))), Some((8, 0b00, 10000.0)));
    let bools = layout::array(7, 2, &[0, 1]);
    assert_eq!(layers(&with_key(pattern, Some((9, bools)))), Some((8, 0b10, 10000.0)));
    let base = with_key("gemma3.rope.freq_base_swa", Some((6, 5e4f32.to_le_bytes().to_vec())));
    assert_eq!(layers(&base), Some((8, 0b01, 5e4)));

    let bad = |b: &[u8]| hparams_of(b).expect_err("refused").to_string();
    let short = layout::array(7, 1, &[1]);
    assert!(bad(&with_key(pattern, Some((9, short)))).contains(pattern));
    let words = layout::array(4, 2, &[1, 0, 0, 0, 1, 0, 0, 0]);
    assert!(bad(&with_key(pattern, Some((9, words)))).contains("must hold bools"));
    let huge = with_key("gemma3.attention.sliding_window", Some((4, u32::MAX.to_le_bytes().to_vec())));
    assert!(bad(&huge).contains("attention.sliding_window"), "{}", bad(&huge));
    let nan = with_key("gemma3.rope.freq_base_swa", Some((6, f32::NAN.to_le_bytes().to_vec())));
    assert!(bad(&nan).contains("rope.freq_base_swa"), "{}", bad(&nan));
    let capped = with_key("gemma3.final_logit_softcapping", Some((6, 30f32.to_le_bytes().to_vec())));
    assert_eq!(hparams_of(&capped), Err(ModelError::Unsupported { what: "final_logit_softcapping" }));
}

/// A Gemma 3 file without a head norm is refused, naming the tensor.
#[test]
fn a_missing_head_norm_is_named() {
    let b = read(&format!("{FIXTURES}/gemma3-tiny-F32.gguf"));
    let l = layout::Layout::of(&b);
    let mut parts = layout::Parts::of(&b);
    let keep: Vec<bool> = l.infos.iter().map(|t| t.name != "blk.1.attn_k_norm.weight").collect();
    parts.infos = parts.infos.into_iter().zip(keep).filter(|(_, k)| *k).map(|(t, _)| t).collect();
    let bytes = parts.to_bytes();
    let file = gguf::File::parse(&bytes).expect("still a GGUF file");
    let err = Model::from_gguf(&file).expect_err("refused");
    assert_eq!(err.to_string(), "missing tensor blk.1.attn_k_norm.weight");
}
