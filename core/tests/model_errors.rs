//! What `Model::from_gguf`, `Plan::new` and `Session` refuse, and that each refusal names
//! the problem: unknown architecture, missing tensor, wrong shape, token out of range,
//! full context, context beyond the model's limit, an arena one byte short.

use armlet_core::gguf;
use armlet_core::model::{HParams, KvCacheType, Model, ModelError};
use armlet_core::plan::{Plan, PlanError};
use armlet_core::session::{arena_from_words, Session, SessionError};

const MICRO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/falcon-h1-micro-Q4_K_S.gguf");

fn micro() -> Vec<u8> {
    std::fs::read(MICRO).unwrap_or_else(|e| panic!("{MICRO}: {e}"))
}

/// Replaces the first occurrence of `from` after `after` with `to` (same length).
fn patch(bytes: &mut [u8], after: &[u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let start = bytes.windows(after.len()).position(|w| w == after).expect("anchor present");
    let at = start + bytes[start..].windows(from.len()).position(|w| w == from).expect("target present");
    bytes[at..at + from.len()].copy_from_slice(to);
}

fn load_err(bytes: &[u8]) -> ModelError {
    let file = gguf::File::parse(bytes).expect("still a valid GGUF file");
    Model::from_gguf(&file).expect_err("model must be refused")
}

#[test]
fn unknown_architecture_is_named_with_the_supported_ones() {
    let mut b = micro();
    patch(&mut b, b"general.architecture", b"falcon-h1", b"mamba-xyz");
    let e = load_err(&b);
    assert!(matches!(&e, ModelError::UnsupportedArchitecture { name } if name.as_str() == "mamba-xyz"), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("mamba-xyz") && msg.contains("falcon-h1"), "{msg}");
}

#[test]
fn missing_tensor_is_named() {
    let mut b = micro();
    patch(&mut b, b"blk.1.ssm_d", b"blk.1.ssm_d", b"blk.1.ssm_q");
    let e = load_err(&b);
    assert_eq!(e.to_string(), "missing tensor blk.1.ssm_d");
}

#[test]
fn shape_mismatch_names_tensor_and_both_shapes() {
    // d_state 16 -> 8: the conv channels and the input projection no longer match the file.
    let mut b = micro();
    patch(&mut b, b"falcon-h1.ssm.state_size", &[16, 0, 0, 0], &[8, 0, 0, 0]);
    let e = load_err(&b);
    assert_eq!(e.to_string(), "tensor blk.0.ssm_in.weight: shape {64, 296}, expected {64, 280}");
}

#[test]
fn missing_required_key_is_named() {
    let mut b = micro();
    patch(&mut b, b"falcon-h1.ssm.conv_kernel", b"conv_kernel", b"conv_kernal");
    assert_eq!(load_err(&b).to_string(), "missing metadata key falcon-h1.ssm.conv_kernel");
}

fn hparams() -> (Vec<u8>, HParams) {
    let b = micro();
    let h = HParams::from_gguf(&gguf::File::parse(&b).unwrap()).unwrap();
    (b, h)
}

#[test]
fn context_beyond_the_model_or_zero_is_refused() {
    let (_, h) = hparams();
    assert_eq!(h.n_ctx_train, 262144);
    let e = Plan::new(&h, 262145, KvCacheType::F16).unwrap_err();
    assert_eq!(e, PlanError::ContextTooLong { n_ctx: 262145, max: 262144 });
    assert_eq!(e.to_string(), "context of 262145 tokens is beyond the model's limit of 262144");
    assert_eq!(Plan::new(&h, 0, KvCacheType::F16).unwrap_err(), PlanError::ZeroContext);
    let plan = Plan::new(&h, 262144, KvCacheType::F32).unwrap();
    let e = plan.check_fits(1 << 20, 16 << 20).unwrap_err();
    assert!(e.to_string().starts_with("not enough memory: the model and its buffers need"), "{e}");
    assert!(plan.check_fits(1 << 20, 1 << 40).is_ok());
}

#[test]
fn token_out_of_range_and_full_context_are_errors_that_keep_the_state() {
    let b = micro();
    let file = gguf::File::parse(&b).unwrap();
    let model = Model::from_gguf(&file).unwrap();
    let plan = Plan::new(&model.hparams, 2, KvCacheType::F16).unwrap();
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).unwrap();
    assert_eq!(s.feed(3072).unwrap_err(), SessionError::TokenOutOfRange { token: 3072, n_vocab: 3072 });
    assert_eq!(s.position(), 0);
    let first = s.feed(1).unwrap().to_vec();
    let second = s.feed(44).unwrap().to_vec();
    assert_eq!(s.feed(992).unwrap_err(), SessionError::ContextFull { n_ctx: 2 });
    assert_eq!((s.position(), s.n_ctx()), (2, 2));
    assert_eq!(s.logits(), &second[..]);
    // After a reset the same tokens give the same logits, bit for bit.
    s.reset();
    assert_eq!(s.feed(1).unwrap(), &first[..]);
    assert_eq!(s.feed(44).unwrap(), &second[..]);
}

#[test]
fn session_takes_exactly_the_planned_arena() {
    let b = micro();
    let file = gguf::File::parse(&b).unwrap();
    let model = Model::from_gguf(&file).unwrap();
    for kv in [KvCacheType::F32, KvCacheType::F16] {
        let plan = Plan::new(&model.hparams, 64, kv).unwrap();
        let need = plan.arena_bytes();
        let mut words = vec![0u64; need.div_ceil(8) + 1];
        let arena = arena_from_words(&mut words);
        assert_eq!(
            Session::new(&model, &plan, &mut arena[..need - 1]).err(),
            Some(SessionError::ArenaTooSmall { need, have: need - 1 })
        );
        assert_eq!(Session::new(&model, &plan, &mut arena[1..need + 1]).err(), Some(SessionError::ArenaMisaligned));
        let mut s = Session::new(&model, &plan, &mut arena[..need]).expect("exactly arena_bytes() is enough");
        assert!(s.feed(1).is_ok());
    }
}

#[test]
fn a_plan_for_another_model_is_refused() {
    let b = micro();
    let file = gguf::File::parse(&b).unwrap();
    let model = Model::from_gguf(&file).unwrap();
    let mut other = model.hparams;
    other.n_ff *= 2;
    let plan = Plan::new(&other, 8, KvCacheType::F16).unwrap();
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    assert_eq!(Session::new(&model, &plan, arena_from_words(&mut words)).err(), Some(SessionError::PlanMismatch));
}

/// Every u32 hyperparameter of the micro file set to extreme values: loading either fails
/// with an error or gives a model that plans and runs; nothing panics.
#[test]
fn corrupt_hyperparameters_never_panic() {
    let keys = [
        "falcon-h1.context_length",
        "falcon-h1.embedding_length",
        "falcon-h1.block_count",
        "falcon-h1.feed_forward_length",
        "falcon-h1.attention.head_count",
        "falcon-h1.attention.head_count_kv",
        "falcon-h1.attention.key_length",
        "falcon-h1.attention.value_length",
        "falcon-h1.ssm.conv_kernel",
        "falcon-h1.ssm.inner_size",
        "falcon-h1.ssm.state_size",
        "falcon-h1.ssm.time_step_rank",
        "falcon-h1.ssm.group_count",
    ];
    let original = micro();
    let mut loaded = 0;
    for key in keys {
        let at = original.windows(key.len()).position(|w| w == key.as_bytes()).unwrap_or_else(|| panic!("{key}"));
        let type_at = at + key.len();
        if original[type_at..type_at + 4] != 4u32.to_le_bytes() {
            continue; // not a u32 in this file
        }
        for v in [0u32, 1, 2, 3, 5, 17, 64, 4096, 1 << 24, u32::MAX] {
            let mut b = original.clone();
            b[type_at + 4..type_at + 8].copy_from_slice(&v.to_le_bytes());
            let Ok(file) = gguf::File::parse(&b) else { continue };
            let Ok(model) = Model::from_gguf(&file) else { continue };
            loaded += 1;
            let Ok(plan) = Plan::new(&model.hparams, 4, KvCacheType::F16) else { continue };
            let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
            let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).unwrap();
            for t in [1, 44] {
                assert!(s.feed(t).is_ok_and(|l| l.iter().all(|x| x.is_finite())), "{key} = {v}");
            }
        }
    }
    // Only values equal to the file's own (and context_length changes) load.
    assert!(loaded >= 3, "{loaded}");
}
