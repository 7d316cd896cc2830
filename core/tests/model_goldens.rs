//! Every Falcon-H1 fixture, both prompts, against llama.cpp's golden logits: feed every
//! golden token id (teacher forcing), compare every row with the strict tolerances of
//! fixtures/README.md (per-row and mean normalised RMS error, argmax where the margin is
//! clear). The goldens were made with an F32 KV cache and no flash attention (mode G);
//! the F16-cache tests check llama.cpp's default mode D against them with the F16 tier,
//! as the README prescribes.
//! The same tests run under `qemu-arm -cpu arm1176` (`cargo +nightly arm-test`): all of
//! them together take about a second there.

use armlet_core::gguf;
use armlet_core::model::golden::{compare_row, Alog, Tolerance, Verdict};
use armlet_core::model::{KvCacheType, Model};
use armlet_core::plan::Plan;
use armlet_core::session::{arena_from_words, Session};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Runs `model` on the token ids of golden `prompt` and returns the verdict (printed).
fn check(model_name: &str, prompt: &str, kv: KvCacheType, expected_tier: Tolerance) {
    let bytes = read(&format!("{FIXTURES}/falcon-h1-{model_name}.gguf"));
    let golden_bytes = read(&format!("{FIXTURES}/golden/falcon-h1-{model_name}.{prompt}.alog"));
    let file = gguf::File::parse(&bytes).expect("fixture parses");
    let model = Model::from_gguf(&file).unwrap_or_else(|e| panic!("{model_name}: {e}"));
    let golden = Alog::parse(&golden_bytes).expect("golden parses");
    assert_eq!(golden.n_vocab, model.hparams.n_vocab);

    let tolerance = Tolerance::for_model(&model, kv);
    assert_eq!(tolerance, expected_tier, "{model_name}: tolerance tier from the weight types");

    let plan = Plan::new(&model.hparams, golden.rows(), kv).expect("plan");
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut session = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");

    let mut verdict = Verdict::new(tolerance);
    let mut report = String::new();
    for (i, token) in golden.tokens().enumerate() {
        let logits = session.feed(token).expect("feed");
        let row = compare_row(logits, golden.row(i));
        let ok = verdict.add(&row);
        report += &format!(
            "row {i:2} tok {token:5} rel_rms {:.3e} max_abs {:.3e} argmax {:5}/{:5} margin {:.4}{}\n",
            row.rel_rms,
            row.max_abs,
            row.argmax,
            row.golden_argmax,
            row.margin,
            if ok { "" } else { "  <-- out of tolerance" }
        );
    }
    assert_eq!(session.position(), golden.rows());
    println!("{model_name} {prompt} kv {}: {verdict}", kv.name());
    assert!(verdict.passed(), "{model_name} {prompt} kv {}: {verdict}\n{report}", kv.name());
}

macro_rules! golden_tests {
    ($($name:ident: $model:literal, $prompt:literal, $kv:ident, $tier:ident;)*) => {$(
        #[test]
        fn $name() {
            check($model, $prompt, KvCacheType::$kv, Tolerance::$tier);
        }
    )*};
}

golden_tests! {
    micro_f32_p1: "micro-F32", "p1", F32, F32;
    micro_f32_p2: "micro-F32", "p2", F32, F32;
    micro_f16_p1: "micro-F16", "p1", F32, F16;
    micro_f16_p2: "micro-F16", "p2", F32, F16;
    micro_q8_0_p1: "micro-Q8_0", "p1", F32, QUANTIZED;
    micro_q8_0_p2: "micro-Q8_0", "p2", F32, QUANTIZED;
    micro_q4_k_s_p1: "micro-Q4_K_S", "p1", F32, QUANTIZED;
    micro_q4_k_s_p2: "micro-Q4_K_S", "p2", F32, QUANTIZED;
    micro_q2_k_p1: "micro-Q2_K", "p1", F32, QUANTIZED;
    micro_q2_k_p2: "micro-Q2_K", "p2", F32, QUANTIZED;
    micro_untied_g2_f32_p1: "micro-untied-g2-F32", "p1", F32, F32;
    micro_untied_g2_f32_p2: "micro-untied-g2-F32", "p2", F32, F32;
    small_f32_p1: "small-F32", "p1", F32, F32;
    small_f32_p2: "small-F32", "p2", F32, F32;
    small_f16_p1: "small-F16", "p1", F32, F16;
    small_f16_p2: "small-F16", "p2", F32, F16;
    small_q8_0_p1: "small-Q8_0", "p1", F32, QUANTIZED;
    small_q8_0_p2: "small-Q8_0", "p2", F32, QUANTIZED;
    small_q4_k_s_p1: "small-Q4_K_S", "p1", F32, QUANTIZED;
    small_q4_k_s_p2: "small-Q4_K_S", "p2", F32, QUANTIZED;
    small_q2_k_p1: "small-Q2_K", "p1", F32, QUANTIZED;
    small_q2_k_p2: "small-Q2_K", "p2", F32, QUANTIZED;
    // Mode D (llama.cpp's default F16 cache with flash-attention numerics) against the
    // mode-G goldens: the README's F16 tier.
    kv_f16_micro_f32_p1: "micro-F32", "p1", F16, F16;
    kv_f16_micro_f32_p2: "micro-F32", "p2", F16, F16;
    kv_f16_micro_untied_g2_f32_p2: "micro-untied-g2-F32", "p2", F16, F16;
    kv_f16_small_f32_p2: "small-F32", "p2", F16, F16;
}

/// `feed_prompt` skips the LM head inside the prompt: its last logits must be those of
/// feeding token by token, bit for bit, in both cache modes; a prompt that does not fit or
/// holds a bad id is refused before anything is fed.
#[test]
fn feed_prompt_equals_feeding_one_token_at_a_time() {
    use armlet_core::session::SessionError;
    let bytes = read(&format!("{FIXTURES}/falcon-h1-small-Q4_K_S.gguf"));
    let golden_bytes = read(&format!("{FIXTURES}/golden/falcon-h1-small-Q4_K_S.p2.alog"));
    let file = gguf::File::parse(&bytes).expect("fixture parses");
    let model = Model::from_gguf(&file).expect("model");
    let tokens: Vec<u32> = Alog::parse(&golden_bytes).expect("golden").tokens().collect();
    for kv in [KvCacheType::F32, KvCacheType::F16] {
        let plan = Plan::new(&model.hparams, tokens.len(), kv).expect("plan");
        let mut words = [vec![0u64; plan.arena_bytes().div_ceil(8)], vec![0u64; plan.arena_bytes().div_ceil(8)]];
        let [a, b] = &mut words;
        let mut one_by_one = Session::new(&model, &plan, arena_from_words(a)).expect("session");
        let mut prompt = Session::new(&model, &plan, arena_from_words(b)).expect("session");
        for &t in &tokens {
            one_by_one.feed(t).expect("feed");
        }
        let bad = [tokens[0], model.hparams.n_vocab as u32];
        assert_eq!(
            prompt.feed_prompt(&bad),
            Err(SessionError::TokenOutOfRange { token: bad[1], n_vocab: model.hparams.n_vocab })
        );
        assert_eq!(prompt.position(), 0);
        let (head, tail) = tokens.split_at(tokens.len() / 2);
        prompt.feed_prompt(head).expect("first half");
        let logits = prompt.feed_prompt(tail).expect("second half").to_vec();
        assert_eq!(prompt.position(), tokens.len());
        let expect: Vec<u32> = one_by_one.logits().iter().map(|v| v.to_bits()).collect();
        assert_eq!(logits.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expect, "kv {}", kv.name());
        assert_eq!(prompt.feed_prompt(&tokens[..1]), Err(SessionError::ContextFull { n_ctx: tokens.len() }));
    }
}

/// The file's bytes at an odd address: the F32 tensors cannot be viewed as `f32` in place
/// and are decoded from bytes instead; the logits must not change by a bit.
#[test]
fn a_model_at_an_odd_address_gives_the_same_logits() {
    let bytes = read(&format!("{FIXTURES}/falcon-h1-small-Q4_K_S.gguf"));
    let golden_bytes = read(&format!("{FIXTURES}/golden/falcon-h1-small-Q4_K_S.p1.alog"));
    let tokens: Vec<u32> = Alog::parse(&golden_bytes).expect("golden").tokens().collect();
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let logits_of = |file_bytes: &[u8]| {
        let file = gguf::File::parse(file_bytes).expect("fixture parses");
        let model = Model::from_gguf(&file).expect("model");
        let plan = Plan::new(&model.hparams, tokens.len(), KvCacheType::F16).expect("plan");
        let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
        let mut session = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
        let logits = session.feed_prompt(&tokens).expect("prompt");
        logits.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
    };
    let aligned = logits_of(&bytes);
    assert!(bytes.as_ptr() as usize % 4 == 0 && (shifted.as_ptr() as usize + 1) % 4 != 0);
    assert_eq!(logits_of(&shifted[1..]), aligned);
}
