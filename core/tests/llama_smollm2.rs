//! SmolLM2-135M-Instruct (Q4_1, architecture `llama`) end to end against llama.cpp's greedy
//! outputs (`shared/models/smollm2.md`, made with llama.cpp's defaults: F16 KV cache and
//! flash attention, i.e. `KvCacheType::F16`): the core tokenizer turns each raw prompt into
//! the listed ids (special tokens parsed, no BOS because the file says
//! `add_bos_token = false`), the session feeds them one by one, and greedy decoding up to
//! the file's end-of-generation set must give exactly the listed ids and text.
//!
//! The model is not in the repository: `scripts/fetch-smollm2` puts it in `.cache/smollm2/`
//! (`scripts/test` does so first). Without it every test here prints a notice and passes.
//! Under `qemu-arm` (`cargo +nightly arm-test`) the same file is read from the host path.
//! The last tests check that the llama loader refuses damaged or unsupported variants of
//! the file, naming the problem.

use armlet_core::gguf;
use armlet_core::model::{Architecture, KvCacheType, Model, ModelError, RopeMode};
use armlet_core::plan::{write_memory_map, Plan};
use armlet_core::session::{arena_from_words, Session};
use armlet_core::text::{DetokenizeOptions, Detokenizer, Tokenizer, MAX_HELD_BYTES};
use std::fmt::Write;
use std::sync::OnceLock;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");

/// Positions per session: the longest case is a 17-token prompt plus 7 generated tokens,
/// the raw prompt 6 + 32.
const N_CTX: usize = 64;

/// The model file's bytes, read once for all tests; `None` (with a notice) when it has
/// not been fetched.
fn model_bytes() -> Option<&'static [u8]> {
    static BYTES: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    BYTES
        .get_or_init(|| match std::fs::read(MODEL) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("SKIPPED: {MODEL}: {e} (run scripts/fetch-smollm2 to fetch it)");
                None
            }
        })
        .as_deref()
}

/// One case of smollm2.md: the raw prompt, its ids, the token limit, the generated ids (the
/// final EOG token included when there is one) and the text without the EOG token.
struct Case {
    prompt: &'static str,
    prompt_ids: &'static [u32],
    max_new: usize,
    ids: &'static [u32],
    text: &'static str,
}

const FRANCE: Case = Case {
    prompt: "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    prompt_ids: &[1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198],
    max_new: 64,
    ids: &[504, 3575, 282, 4649, 314, 7042, 30, 2],
    text: "The capital of France is Paris.",
};

const MATH: Case = Case {
    prompt: "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n",
    prompt_ids: &[1, 4093, 198, 1780, 314, 216, 34, 1232, 216, 34, 47, 2, 198, 1, 520, 9531, 198],
    max_new: 64,
    ids: &[504, 2988, 314, 216, 36, 30, 2],
    text: "The answer is 4.",
};

const BELGIUM: Case = Case {
    prompt: "<|im_start|>user\nWhat is the capital of Belgium?<|im_end|>\n<|im_start|>assistant\n",
    prompt_ids: &[1, 4093, 198, 1780, 314, 260, 3575, 282, 17918, 47, 2, 198, 1, 520, 9531, 198],
    max_new: 64,
    ids: &[504, 3575, 282, 17918, 314, 27713, 30, 2],
    text: "The capital of Belgium is Brussels.",
};

const HELLO: Case = Case {
    prompt: "Hello! How are you?",
    prompt_ids: &[19556, 17, 1073, 359, 346, 47],
    max_new: 32,
    ids: &[
        339, 5248, 588, 18948, 346, 2316, 1535, 30, 339, 5248, 588, 18948, 346, 2316, 1535, 30, 198, 198, 57, 5248, 588,
        18948, 346, 2316, 1535, 30, 339, 5248, 588, 18948, 346, 2316,
    ],
    text: " I'm so glad you're here. I'm so glad you're here.\n\nI'm so glad you're here. I'm so glad you're",
};

/// The highest logit and the runner-up, as (id, logit); the lowest id wins a tie, as in
/// llama.cpp's greedy pick.
fn top_two(logits: &[f32]) -> ((u32, f32), (u32, f32)) {
    let mut best = (0u32, f32::NEG_INFINITY);
    let mut second = (0u32, f32::NEG_INFINITY);
    for (id, &l) in logits.iter().enumerate() {
        if l > best.1 {
            second = best;
            best = (id as u32, l);
        } else if l > second.1 {
            second = (id as u32, l);
        }
    }
    (best, second)
}

fn run(case: &Case) {
    let Some(bytes) = model_bytes() else { return };
    let file = gguf::File::parse(bytes).expect("the model parses");
    let model = Model::from_gguf(&file).unwrap_or_else(|e| panic!("{MODEL}: {e}"));
    assert_eq!(model.hparams.arch, Architecture::Llama);
    let mut text_arena = vec![0u8; Tokenizer::arena_bytes(&file).expect("tokenizer size")];
    let tok = Tokenizer::new(&file, &mut text_arena).expect("tokenizer");
    assert!(!tok.adds_bos(), "the file says add_bos_token = false");
    assert_eq!(tok.eog_ids().iter().copied().collect::<std::collections::BTreeSet<u32>>(), [0, 2, 4].into());

    let mut prompt_ids = [0u32; N_CTX];
    let n = tok.encode(case.prompt.as_bytes(), true, true, &mut prompt_ids).expect("the prompt encodes");
    assert_eq!(&prompt_ids[..n], case.prompt_ids, "prompt ids of {:?}", case.prompt);

    let plan = Plan::new(&model.hparams, N_CTX, KvCacheType::F16).expect("plan");
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut session = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
    for &id in case.prompt_ids {
        session.feed(id).expect("feed the prompt");
    }

    let mut generated = Vec::new();
    let mut report = String::new();
    while generated.len() < case.max_new {
        let ((id, logit), (second, second_logit)) = top_two(session.logits());
        let _ = writeln!(
            report,
            "step {:2}: {id:6} logit {logit:8.4}, runner-up {second:6} margin {:.3}",
            generated.len(),
            logit - second_logit
        );
        generated.push(id);
        if tok.is_eog(id) {
            break;
        }
        session.feed(id).expect("feed the generated token");
    }
    println!("{:?}:\n{report}", case.prompt);
    assert_eq!(generated, case.ids, "generated ids for {:?}\n{report}", case.prompt);

    // llama.cpp's text: the pieces of the generated ids (special tokens as text), without
    // the final end-of-generation token.
    let content = match generated.split_last() {
        Some((&last, rest)) if tok.is_eog(last) => rest,
        _ => &generated[..],
    };
    let mut detok = Detokenizer::new(&tok, DetokenizeOptions::pieces(true));
    let mut text = Vec::new();
    let mut buf = [0u8; 256];
    for &id in content {
        let n = detok.push_into(id, &mut buf).expect("detokenize");
        text.extend_from_slice(&buf[..n]);
    }
    let mut held = [0u8; MAX_HELD_BYTES];
    let n = detok.finish_into(&mut held);
    text.extend_from_slice(&held[..n]);
    assert_eq!(String::from_utf8_lossy(&text), case.text);
}

/// The shape smollm2.md lists, and a memory plan with nothing for Mamba2 (absent from the
/// memory map too).
#[test]
fn hyperparameters_and_a_plan_without_mamba2() {
    let Some(bytes) = model_bytes() else { return };
    let file = gguf::File::parse(bytes).expect("the model parses");
    let h = Model::from_gguf(&file).unwrap_or_else(|e| panic!("{MODEL}: {e}")).hparams;
    let shape = (h.n_vocab, h.n_embd, h.n_layer, h.n_head, h.n_head_kv, h.head_dim, h.n_ff, h.n_ctx_train);
    assert_eq!(shape, (49152, 576, 30, 9, 3, 64, 1536, 8192));
    assert_eq!((h.rope.mode, h.rope.n_rot, h.rope.freq_base, h.rope.freq_scale), (RopeMode::AdjacentPairs, 64, 1e5, 1.0));
    assert_eq!(h.rms_eps, 1e-5);
    assert!(h.ssm.is_none());

    let plan = Plan::new(&h, 512, KvCacheType::F16).expect("plan");
    assert_eq!(plan.kv_keys.bytes, 30 * 512 * 3 * 64 * 2);
    for region in [plan.conv_state, plan.ssm_state, plan.ssm_projection, plan.mixer_output] {
        assert_eq!(region.bytes, 0);
    }
    let mut map = String::new();
    write_memory_map(&mut map, &plan, &[("Q4_1", bytes.len() as u64)], 400 << 20).expect("render");
    assert!(!map.contains("Mamba2"), "{map}");
}

#[test]
fn france() {
    run(&FRANCE);
}

#[test]
fn two_plus_two() {
    run(&MATH);
}

/// The case that needs Q4_1 weights multiplied against Q8_1 activations (and the Q8_0
/// head against Q8_0): with float activations step 0 becomes `Bel`.
#[test]
fn belgium() {
    run(&BELGIUM);
}

/// The raw continuation that needs flash attention's numerics (f16 query and accumulator).
#[test]
fn hello_raw_32_tokens() {
    run(&HELLO);
}

/// The model loaded from a copy of the file with the first `from` after `anchor` replaced
/// by `to` (same length); `None` when the model has not been fetched.
fn load_patched(anchor: &[u8], from: &[u8], to: &[u8]) -> Option<Result<(), ModelError>> {
    let mut b = model_bytes()?.to_vec();
    assert_eq!(from.len(), to.len());
    let start = b.windows(anchor.len()).position(|w| w == anchor).expect("anchor present");
    let at = start + b[start..].windows(from.len()).position(|w| w == from).expect("target present");
    b[at..at + from.len()].copy_from_slice(to);
    let file = gguf::File::parse(&b).expect("still a valid GGUF file");
    Some(Model::from_gguf(&file).map(|_| ()))
}

/// A u32 metadata value as stored after its key: the type (4 = u32), then the value.
fn u32_entry(value: u8) -> [u8; 8] {
    [4, 0, 0, 0, value, 0, 0, 0]
}

/// Damaged or unsupported variants of the file, each refused with a message naming the
/// problem: (anchor, bytes replaced after it, replacement, expected message).
#[test]
fn refusals_name_the_problem() {
    let cases: [(&[u8], &[u8], &[u8], &str); 4] = [
        // Renaming the embedding (same length) gives the file Llama 3's frequency factors.
        (
            b"token_embd.weight",
            b"token_embd.weight",
            b"rope_freqs.weight",
            "not supported: rope_freqs.weight (Llama 3 RoPE frequency factors)",
        ),
        (
            b"llama.rope.dimension_count",
            &u32_entry(64),
            &u32_entry(32),
            "metadata key llama.rope.dimension_count: must equal the head size for llama",
        ),
        (b"blk.7.ffn_up.weight", b"blk.7.ffn_up.weight", b"blk.7.ffn_uq.weight", "missing tensor blk.7.ffn_up.weight"),
        // 3 KV heads -> 9: the key projection would need 9 heads of 64 outputs.
        (
            b"llama.attention.head_count_kv",
            &u32_entry(3),
            &u32_entry(9),
            "tensor blk.0.attn_k.weight: shape {576, 192}, expected {576, 576}",
        ),
    ];
    for (anchor, from, to, expected) in cases {
        let Some(result) = load_patched(anchor, from, to) else { return };
        assert_eq!(result.expect_err("the model must be refused").to_string(), expected);
    }
}
