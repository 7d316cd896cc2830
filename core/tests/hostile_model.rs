//! Hostile model files: thousands of deterministic mutations of the micro fixtures, aimed
//! at what the model loader reads (hyperparameter values, tensor types, dimensions and
//! offsets, tensor bytes including NaN and infinite weights), each taken through the whole
//! path `File::parse` -> `Model::from_gguf` -> `Plan::new` -> `Session::feed` -> sampler.
//! Every step must give Ok or its error, never a panic; a model that loads must run; and
//! logits that are not finite must be refused by the sampler, never sampled.
//! (The ordinary-test twin of the `model_load` fuzz target.)

#[path = "gguf_support/layout.rs"]
mod layout;

use armlet_core::gguf::File;
use armlet_core::model::{KvCacheType, Model, ModelError};
use armlet_core::plan::{Plan, PlanError};
use armlet_core::sample::{Candidate, SampleError, Sampler, SamplerConfig};
use armlet_core::session::{arena_from_words, Session, SessionError};
use layout::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What happened to one mutated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    NotGguf,
    ModelRefused,
    PlanRefused,
    /// Loaded and ran; the logits were finite and a token was sampled.
    Ran,
    /// Loaded and ran; some logit was NaN or infinite and the sampler refused it.
    NonFiniteRefused,
}

/// Arenas past this are not allocated (a plan may legitimately ask for a lot when a
/// mutation raises the context; the plan's own arithmetic is what is under test).
const MAX_ARENA_BYTES: usize = 64 << 20;

/// The whole path `armlet run` takes with a file. Panics (the test fails) only on a broken
/// promise: a model that loads but cannot run, logits of the wrong length, a non-finite
/// logit that the sampler accepts.
fn load_and_run(bytes: &[u8]) -> (Outcome, String) {
    // An 8-byte-aligned copy, as the shim hands the core.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    let aligned = &mut arena_from_words(&mut words)[..bytes.len()];
    aligned.copy_from_slice(bytes);
    let file = match File::parse(aligned) {
        Ok(f) => f,
        Err(e) => return (Outcome::NotGguf, format!("{:?}", e.kind).split([' ', '{', '(']).next().unwrap_or("").to_string()),
    };
    let model = match Model::from_gguf(&file) {
        Ok(m) => m,
        Err(e) => return (Outcome::ModelRefused, describe_model_error(&e)),
    };
    let h = &model.hparams;
    let n_ctx = h.n_ctx_train.min(3);
    let plan = match Plan::new(h, n_ctx, KvCacheType::F16) {
        Ok(p) if p.arena_bytes() <= MAX_ARENA_BYTES => p,
        Ok(p) => return (Outcome::PlanRefused, format!("arena of {} bytes not tried", p.arena_bytes())),
        Err(e) => return (Outcome::PlanRefused, plan_error_kind(&e).to_string()),
    };
    let mut arena = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut session = Session::new(&model, &plan, arena_from_words(&mut arena)).expect("a model's own plan fits");
    let mut sampler = Sampler::new(SamplerConfig::default());
    let mut scratch = vec![Candidate::default(); h.n_vocab];
    let mut token = 1u32.min(h.n_vocab as u32 - 1);
    let mut history = Vec::new();
    for _ in 0..n_ctx.min(2) {
        let logits = session.feed(token).unwrap_or_else(|e| panic!("a loaded model failed to run: {e}"));
        assert_eq!(logits.len(), h.n_vocab);
        history.push(token);
        match sampler.sample(logits, &history, &mut scratch) {
            Ok(next) => {
                assert!(logits.iter().all(|l| l.is_finite()));
                assert!((next as usize) < h.n_vocab);
                token = next;
            }
            Err(SampleError::NonFiniteLogit { token: bad }) => {
                assert!(!logits[bad as usize].is_finite());
                assert!(logits[..bad as usize].iter().all(|l| l.is_finite()), "the first bad logit is named");
                return (Outcome::NonFiniteRefused, "non-finite logit".into());
            }
            Err(e) => panic!("sampler: {e}"),
        }
    }
    assert_eq!(
        session.feed(h.n_vocab as u32).err(),
        Some(if session.position() == n_ctx {
            SessionError::ContextFull { n_ctx }
        } else {
            SessionError::TokenOutOfRange { token: h.n_vocab as u32, n_vocab: h.n_vocab }
        })
    );
    (Outcome::Ran, String::new())
}

/// The error's kind, for the tally (the message too: each names what is wrong).
fn describe_model_error(e: &ModelError) -> String {
    let kind = match e {
        ModelError::MissingArchitecture => "MissingArchitecture",
        ModelError::UnsupportedArchitecture { .. } => "UnsupportedArchitecture",
        ModelError::MissingKey { .. } => "MissingKey",
        ModelError::BadKey { .. } => "BadKey",
        ModelError::Invalid { .. } => "Invalid",
        ModelError::Unsupported { .. } => "Unsupported",
        ModelError::TooManyLayers { .. } => "TooManyLayers",
        ModelError::MissingTensor { .. } => "MissingTensor",
        ModelError::TensorShape { .. } => "TensorShape",
        ModelError::TensorType { .. } => "TensorType",
        ModelError::Weight { .. } => "Weight",
    };
    let message = e.to_string();
    assert!(!message.is_empty());
    kind.to_string()
}

fn plan_error_kind(e: &PlanError) -> &'static str {
    match e {
        PlanError::Model(_) => "Plan::Model",
        PlanError::ZeroContext => "Plan::ZeroContext",
        PlanError::ContextTooLong { .. } => "Plan::ContextTooLong",
        PlanError::BadBatch { .. } => "Plan::BadBatch",
        PlanError::TooLarge => "Plan::TooLarge",
        PlanError::OutOfMemory { .. } => "Plan::OutOfMemory",
    }
}

/// The micro fixtures (one per weight format), plus a `llama` file made from one of them.
fn bases() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = ["F32", "F16", "Q8_0", "Q4_K_S", "Q2_K"]
        .iter()
        .map(|t| (format!("micro-{t}"), fixture(&format!("fixtures/falcon-h1-micro-{t}.gguf"))))
        .collect();
    v.push(("micro-untied-g2".into(), fixture("fixtures/falcon-h1-micro-untied-g2-F32.gguf")));
    let llama = as_llama(&v[3].1);
    v.push(("micro-as-llama".into(), llama));
    v
}

/// `b` with the tokenizer metadata dropped and the (tied) embedding cut to its first
/// `n_vocab` rows: the same layers at a fraction of the cost per token, for Miri.
fn cut_down(b: &[u8], n_vocab: u64) -> Vec<u8> {
    let l = Layout::of(b);
    let mut parts = Parts::of(b);
    parts.kv = l
        .entry_ends()
        .filter(|(e, _)| !e.key.starts_with("tokenizer.") && !e.key.ends_with(".vocab_size"))
        .map(|(e, end)| b[e.at..end].to_vec())
        .collect();
    parts.infos = l
        .infos
        .iter()
        .map(|t| {
            let ne = if t.name == "token_embd.weight" { vec![t.ne[0], n_vocab] } else { t.ne.clone() };
            tensor_info(t.name.as_bytes(), &ne, t.type_id, t.offset)
        })
        .collect();
    parts.to_bytes()
}

/// The path of one token through both architectures, small enough for Miri (which checks
/// every access of the portable kernels, the session's arena carving and the layers):
/// `scripts/miri` runs this test.
#[test]
fn cut_down_models_load_plan_and_run() {
    let micro = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
    for b in [cut_down(&micro, 8), cut_down(&as_llama(&micro), 8)] {
        let file = File::parse(&b).unwrap();
        let model = Model::from_gguf(&file).unwrap();
        assert_eq!(model.hparams.n_vocab, 8);
        let plan = Plan::new(&model.hparams, 2, KvCacheType::F16).unwrap();
        let mut arena = vec![0u64; plan.arena_bytes().div_ceil(8)];
        let mut s = Session::new(&model, &plan, arena_from_words(&mut arena)).unwrap();
        let logits = s.feed(3).unwrap();
        assert_eq!(logits.len(), 8);
        assert!(logits.iter().all(|l| l.is_finite()));
        assert_eq!(s.feed(8).err(), Some(SessionError::TokenOutOfRange { token: 8, n_vocab: 8 }));
        // Both positions as one batch (Miri runs this test: the batch's rows are carved and
        // indexed too), the same bits as one token after the other.
        let one_by_one: Vec<u32> = s.feed(5).unwrap().iter().map(|v| v.to_bits()).collect();
        s.reset();
        let batched: Vec<u32> = s.feed_prompt(&[3, 5]).unwrap().iter().map(|v| v.to_bits()).collect();
        assert_eq!(batched, one_by_one);
    }
}

const INTERESTING_U32: [u32; 14] = [0, 1, 2, 3, 4, 7, 8, 16, 63, 64, 65, 1 << 24, 1 << 31, u32::MAX];
const INTERESTING_U64: [u64; 10] = [0, 1, 2, 3, 32, 64, 4096, 1 << 32, 1 << 63, u64::MAX];
const INTERESTING_F32: [f32; 9] = [0.0, -1.0, 1.0, 1e-30, 1e30, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0];

/// One targeted damage; returns what it did (for a failure message).
fn mutate(b: &mut [u8], l: &Layout, rng: &mut Rng) -> String {
    match rng.below(10) {
        // A hyperparameter (or any metadata value) set to an extreme or off-by-one value.
        0..=2 => {
            let e = &l.entries[rng.below(l.entries.len())];
            match e.type_id {
                4 | 5 => {
                    let old = u32::from_le_bytes(b[e.value_at..e.value_at + 4].try_into().unwrap());
                    let v = match rng.below(3) {
                        0 => INTERESTING_U32[rng.below(INTERESTING_U32.len())],
                        1 => old.wrapping_add(rng.below(5) as u32).wrapping_sub(2),
                        _ => old.wrapping_mul(2 + rng.below(3) as u32),
                    };
                    put_u32(b, e.value_at, v);
                    format!("{} = {v}", e.key)
                }
                6 => {
                    let v = INTERESTING_F32[rng.below(INTERESTING_F32.len())];
                    put_u32(b, e.value_at, v.to_bits());
                    format!("{} = {v}", e.key)
                }
                10 | 11 => {
                    let v = INTERESTING_U64[rng.below(INTERESTING_U64.len())];
                    put_u64(b, e.value_at, v);
                    format!("{} = {v}", e.key)
                }
                _ => {
                    // A string or array: one byte of its value (or its type) changed.
                    let at = e.type_at + rng.below(12);
                    b[at] ^= 1 << rng.below(8);
                    format!("{}: bit flip at +{}", e.key, at - e.type_at)
                }
            }
        }
        // A tensor's type: any ggml type id, including unsupported and unknown ones.
        3 => {
            let t = &l.infos[rng.below(l.infos.len())];
            let v = rng.below(42) as u32;
            put_u32(b, t.type_at, v);
            format!("{}: type {v}", t.name)
        }
        // A tensor's dimension or number of dimensions.
        4 | 5 => {
            let t = &l.infos[rng.below(l.infos.len())];
            if rng.below(4) == 0 {
                let v = rng.below(6) as u32;
                put_u32(b, t.n_dims_at, v);
                format!("{}: n_dims {v}", t.name)
            } else {
                let d = rng.below(t.dims_at.len());
                let v = match rng.below(3) {
                    0 => INTERESTING_U64[rng.below(INTERESTING_U64.len())],
                    1 => t.ne[d] / 2,
                    _ => t.ne[d].wrapping_add(rng.below(5) as u64).wrapping_sub(2),
                };
                put_u64(b, t.dims_at[d], v);
                format!("{}: ne[{d}] {v}", t.name)
            }
        }
        // A tensor's offset: another tensor's (overlap), misaligned, past the end.
        6 => {
            let t = &l.infos[rng.below(l.infos.len())];
            let other = &l.infos[rng.below(l.infos.len())];
            let v = match rng.below(4) {
                0 => other.offset,
                1 => t.offset + 1 + rng.below(l.alignment - 1) as u64,
                2 => INTERESTING_U64[rng.below(INTERESTING_U64.len())],
                _ => t.offset.wrapping_add(l.alignment as u64).wrapping_sub(2 * l.alignment as u64 * rng.below(2) as u64),
            };
            put_u64(b, t.offset_at, v);
            format!("{}: offset {v}", t.name)
        }
        // Tensor data: random bytes, or a run of NaN / infinite f32 or f16 values.
        _ => {
            let t = &l.infos[rng.below(l.infos.len())];
            let start = l.data_start + t.offset as usize;
            let end = l.infos.iter().map(|u| l.data_start + u.offset as usize).filter(|&o| o > start).min();
            let end = end.unwrap_or(b.len()).min(b.len());
            if start + 4 > end {
                return format!("{}: data untouched", t.name);
            }
            let at = (start + rng.below(end - start - 4)) & !1;
            let run = (4 + rng.below(64)).min(end - at) & !3;
            let pattern: [u8; 4] = match rng.below(5) {
                0 => f32::NAN.to_bits().to_le_bytes(),
                1 => f32::INFINITY.to_bits().to_le_bytes(),
                2 => [0x00, 0x7C, 0x00, 0x7C], // f16 +inf, twice
                3 => [0xFF, 0x7F, 0xFF, 0xFF], // f16 NaN, f32 NaN when aligned on 4
                _ => (rng.next() as u32).to_le_bytes(),
            };
            for (i, x) in b[at..at + run].iter_mut().enumerate() {
                *x = pattern[i % 4];
            }
            format!("{}: {run} bytes of {pattern:02x?} at +{}", t.name, at - start)
        }
    }
}

#[test]
fn thousands_of_mutations_of_the_micro_models_load_or_fail_cleanly() {
    // About 1.5 s on the host and 15 s under qemu-arm.
    let per_base = 700;
    let started = Instant::now();
    let mut tally: BTreeMap<(Outcome, String), usize> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for (seed, (name, base)) in bases().into_iter().enumerate() {
        assert_eq!(load_and_run(&base).0, Outcome::Ran, "{name} unmutated");
        let l = Layout::of(&base);
        let mut rng = Rng(0x5eed_0000 + seed as u64);
        for i in 0..per_base {
            let mut b = base.clone();
            let what: Vec<String> = (0..1 + rng.below(3)).map(|_| mutate(&mut b, &l, &mut rng)).collect();
            let t = Instant::now();
            let result = std::panic::catch_unwind(|| load_and_run(&b));
            slowest = slowest.max(t.elapsed());
            match result {
                Ok(outcome) => *tally.entry(outcome).or_default() += 1,
                Err(_) => panic!("{name}, mutation {i}: {what:?} made a step panic"),
            }
        }
    }
    for ((outcome, kind), n) in &tally {
        eprintln!("{n:6}  {outcome:?} {kind}");
    }
    eprintln!("slowest {slowest:?}, total {:?}", started.elapsed());
    let count = |o: Outcome| tally.iter().filter(|((x, _), _)| *x == o).map(|(_, n)| n).sum::<usize>();
    // Every path is exercised: refused at each step, run clean, run into NaN and refused.
    for o in [Outcome::NotGguf, Outcome::ModelRefused, Outcome::Ran, Outcome::NonFiniteRefused] {
        assert!(count(o) > 0, "no mutation ended as {o:?}");
    }
    for kind in ["TensorShape", "TensorType", "Weight", "Invalid", "MissingTensor"] {
        assert!(tally.keys().any(|(_, k)| k == kind), "no mutation was refused with {kind}");
    }
    assert!(slowest < Duration::from_secs(5), "one file took {slowest:?}");
}

/// The file with every value of F32 tensor `name` replaced by `value`.
fn with_f32_tensor(base: &[u8], name: &str, value: f32) -> Vec<u8> {
    let l = Layout::of(base);
    let t = l.info(name);
    assert_eq!(t.type_id, 0, "{name} is F32");
    let n: u64 = t.ne.iter().product();
    let start = l.data_start + t.offset as usize;
    let mut b = base.to_vec();
    for v in b[start..start + 4 * n as usize].chunks_exact_mut(4) {
        v.copy_from_slice(&value.to_le_bytes());
    }
    b
}

#[test]
fn nan_and_infinite_weights_give_logits_the_sampler_refuses() {
    let base = fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf");
    for (tensor, value) in [
        ("output_norm.weight", f32::NAN),
        ("output_norm.weight", f32::INFINITY),
        ("blk.0.attn_norm.weight", f32::NAN),
        ("blk.1.ffn_norm", f32::INFINITY),
        ("blk.0.ssm_d", f32::NAN),
    ] {
        let b = with_f32_tensor(&base, tensor, value);
        assert_eq!(load_and_run(&b).0, Outcome::NonFiniteRefused, "{tensor} = {value}");
    }
    // The refusal names the first bad token and says what is wrong.
    let b = with_f32_tensor(&base, "output_norm.weight", f32::NAN);
    let file = File::parse(&b).unwrap();
    let model = Model::from_gguf(&file).unwrap();
    let plan = Plan::new(&model.hparams, 4, KvCacheType::F16).unwrap();
    let mut arena = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut s = Session::new(&model, &plan, arena_from_words(&mut arena)).unwrap();
    let logits = s.feed(1).unwrap();
    let mut scratch = vec![Candidate::default(); logits.len()];
    for config in [SamplerConfig::default(), SamplerConfig { temperature: 0.0, ..SamplerConfig::default() }] {
        let e = Sampler::new(config).sample(logits, &[1], &mut scratch).unwrap_err();
        assert_eq!(e, SampleError::NonFiniteLogit { token: 0 });
        assert_eq!(e.to_string(), "the model produced a NaN or infinite logit (token 0); refusing to sample");
    }
}
