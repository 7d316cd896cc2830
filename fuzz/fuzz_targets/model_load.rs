//! Fuzz target: a model file from arbitrary bytes, as `armlet run` takes it: parse it,
//! build the model (`Model::from_gguf` checks every shape and type against the
//! hyperparameters), plan a small context, carve an arena and feed a few tokens. Shapes
//! that disagree with the hyperparameters, wrong types or sizes, missing tensors and zero
//! or absurd dimensions must each be an error at one of these steps, never a panic, a hang
//! or an out-of-bounds read; a model that loads must run, and its logits must have one
//! value per vocabulary entry. Seeds: cut-down micro fixtures (fuzz/seeds/model_load/).
#![no_main]

use armlet_core::gguf::File;
use armlet_core::model::{KvCacheType, Model};
use armlet_core::plan::Plan;
use armlet_core::session::{arena_from_words, Session, SessionError};
use libfuzzer_sys::fuzz_target;

/// Arenas above this are skipped: a real allocation of that size only slows the fuzzer
/// down, and the plan's arithmetic for them is covered by `Plan::new` itself.
const MAX_ARENA_BYTES: usize = 64 << 20;

fuzz_target!(|bytes: &[u8]| {
    // The shim hands the core an 8-byte-aligned copy of the file; do the same.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    let aligned = &mut arena_from_words(&mut words)[..bytes.len()];
    aligned.copy_from_slice(bytes);
    let aligned: &[u8] = aligned;

    let Ok(file) = File::parse(aligned) else { return };
    let Ok(model) = Model::from_gguf(&file) else { return };
    let h = &model.hparams;
    assert_eq!(model.layers.len(), h.n_layer);
    assert_eq!(model.token_embd.rows, h.n_vocab);
    assert_eq!(model.output.rows, h.n_vocab);
    // The context and cache type come from the file's size so both paths get exercised
    // without taking bytes away from the model itself.
    let kv = if bytes.len().is_multiple_of(2) { KvCacheType::F16 } else { KvCacheType::F32 };
    let n_ctx = h.n_ctx_train.min(3);
    let Ok(plan) = Plan::new(h, n_ctx, kv) else { return };
    if plan.arena_bytes() > MAX_ARENA_BYTES {
        return;
    }
    let mut arena_words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut session = Session::new(&model, &plan, arena_from_words(&mut arena_words))
        .expect("a plan made for this model's hyperparameters fits its own arena");
    let n_vocab = h.n_vocab as u32;
    for token in [0, n_vocab - 1, n_vocab / 2] {
        match session.feed(token) {
            Ok(logits) => assert_eq!(logits.len(), h.n_vocab),
            Err(SessionError::ContextFull { .. }) => assert_eq!(session.position(), n_ctx),
            Err(e) => panic!("a loaded model failed to run: {e}"),
        }
    }
    assert_eq!(
        session.feed(n_vocab).err(),
        Some(if session.position() == n_ctx {
            SessionError::ContextFull { n_ctx }
        } else {
            SessionError::TokenOutOfRange { token: n_vocab, n_vocab: h.n_vocab }
        })
    );
});

