//! The C ABI on the micro fixture, called as C would: sizes, buffers, the whole path, and
//! the same greedy tokens as the core called directly; every refusal a status code.
use armlet_ffi::*;
use armlet_ffi::ArmletStatus::*;
use core::ptr::{null, null_mut};

const MICRO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/falcon-h1-micro-Q4_K_S.gguf");
const PROMPT: &[u8] = b"Hello! How are you?";

/// An ARMLET_ALIGN-aligned buffer of at least `n` bytes (u64 words).
fn buffer(n: usize) -> Vec<u64> {
    vec![0u64; n.div_ceil(8)]
}

fn mem(b: &mut [u64]) -> (*mut core::ffi::c_void, usize) {
    (b.as_mut_ptr().cast(), b.len() * 8)
}

struct Handles {
    model: *mut ArmletModel,
    tok: *mut ArmletTokenizer,
    session: *mut ArmletSession,
    _keep: Vec<Vec<u64>>,
    _bytes: Vec<u8>,
}

fn open(n_ctx: usize) -> Handles {
    let bytes = std::fs::read(MICRO).unwrap();
    let mut keep = Vec::new();
    let (mut size, mut align) = (0usize, 0usize);
    let (mut model, mut tok, mut session) = (null_mut(), null_mut(), null_mut());
    // SAFETY: (test) every pointer is to a live local or a buffer kept in `Handles`.
    unsafe {
        assert_eq!(armlet_model_size(&mut size, &mut align), ARMLET_OK);
        assert!(align <= ARMLET_ALIGN);
        let mut b = buffer(size);
        let (p, n) = mem(&mut b);
        assert_eq!(armlet_model_init(p, n, bytes.as_ptr(), bytes.len(), &mut model), ARMLET_OK);
        keep.push(b);
        assert_eq!(armlet_tokenizer_size(model, 0, &mut size), ARMLET_OK);
        let mut b = buffer(size);
        let (p, n) = mem(&mut b);
        assert_eq!(armlet_tokenizer_init(p, n, model, 0, &mut tok), ARMLET_OK);
        keep.push(b);
        assert_eq!(armlet_session_size(model, n_ctx, ARMLET_KV_F16, &mut size), ARMLET_OK);
        let mut b = buffer(size);
        let (p, n) = mem(&mut b);
        assert_eq!(armlet_session_init(p, n, model, n_ctx, ARMLET_KV_F16, &mut session), ARMLET_OK);
        keep.push(b);
    }
    Handles { model, tok, session, _keep: keep, _bytes: bytes }
}

fn tokenize(h: &Handles) -> Vec<u32> {
    let mut n = 0usize;
    // SAFETY: (test) live pointers.
    unsafe {
        assert_eq!(armlet_tokenize(h.tok, PROMPT.as_ptr(), PROMPT.len(), true, true, null_mut(), 0, &mut n), ARMLET_ERR_OUTPUT_FULL);
        let mut ids = vec![0u32; n];
        assert_eq!(armlet_tokenize(h.tok, PROMPT.as_ptr(), PROMPT.len(), true, true, ids.as_mut_ptr(), n, &mut n), ARMLET_OK);
        assert_eq!(n, ids.len());
        ids
    }
}

/// `n` greedy tokens after what the session has (each fed).
fn greedy(h: &Handles, n: usize) -> Vec<u32> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut id = 0u32;
        // SAFETY: (test) live pointers.
        unsafe {
            assert_eq!(armlet_session_next_greedy(h.session, &mut id), ARMLET_OK);
            assert_eq!(armlet_session_feed(h.session, &id, 1), ARMLET_OK);
        }
        out.push(id);
    }
    out
}

/// The same path through armlet-core directly.
fn core_greedy(prompt_ids: &[u32], n: usize) -> Vec<u32> {
    use armlet_core::{gguf, model::{KvCacheType, Model}, plan::Plan, sample::argmax_logits, session::{arena_from_words, Session}};
    let bytes = std::fs::read(MICRO).unwrap();
    let file = gguf::File::parse(&bytes).unwrap();
    let model = Model::from_gguf(&file).unwrap();
    let plan = Plan::new(&model.hparams, prompt_ids.len() + n, KvCacheType::F16).unwrap();
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut s = Session::new(&model, &plan, arena_from_words(&mut words)).unwrap();
    s.feed_prompt(prompt_ids).unwrap();
    (0..n).map(|_| { let id = argmax_logits(s.logits()); s.feed(id).unwrap(); id }).collect()
}

#[test]
fn greedy_tokens_and_text_match_the_core() {
    let h = open(32);
    let ids = tokenize(&h);
    // SAFETY: (test) live pointers.
    unsafe { assert_eq!(armlet_session_feed(h.session, ids.as_ptr(), ids.len()), ARMLET_OK) };
    let got = greedy(&h, 8);
    assert_eq!(got, core_greedy(&ids, 8));

    let (mut size, mut detok) = (0usize, null_mut());
    let mut text = Vec::new();
    let mut chunk = [0u8; 256];
    let mut written = 0usize;
    // SAFETY: (test) live pointers.
    unsafe {
        assert_eq!(armlet_detokenizer_size(&mut size, null_mut()), ARMLET_OK);
        let mut b = buffer(size);
        let (p, n) = mem(&mut b);
        assert_eq!(armlet_detokenizer_init(p, n, h.tok, false, &mut detok), ARMLET_OK);
        for &id in &got {
            assert_eq!(armlet_detokenize(detok, id, chunk.as_mut_ptr(), chunk.len(), &mut written), ARMLET_OK);
            text.extend_from_slice(&chunk[..written]);
        }
        assert_eq!(armlet_detokenize(detok, got[0], chunk.as_mut_ptr(), 1, &mut written), ARMLET_ERR_OUTPUT_FULL);
        assert_eq!(armlet_detokenizer_finish(detok, chunk.as_mut_ptr(), chunk.len(), &mut written), ARMLET_OK);
        text.extend_from_slice(&chunk[..written]);
        drop(b);
    }
    assert!(!text.is_empty());
}

#[test]
fn state_saved_and_restored_goes_on_the_same() {
    let h = open(32);
    let ids = tokenize(&h);
    let (mut size, mut written) = (0usize, 0usize);
    // SAFETY: (test) live pointers.
    unsafe {
        assert_eq!(armlet_session_feed(h.session, ids.as_ptr(), ids.len()), ARMLET_OK);
        assert_eq!(armlet_session_state_size(h.session, &mut size), ARMLET_OK);
        let mut state = vec![0u8; size];
        assert_eq!(armlet_session_save(h.session, state.as_mut_ptr(), size - 1, &mut written), ARMLET_ERR_BUFFER_TOO_SMALL);
        assert_eq!(armlet_session_save(h.session, state.as_mut_ptr(), size, &mut written), ARMLET_OK);
        assert_eq!(written, size);
        let first = greedy(&h, 4);
        assert_eq!(armlet_session_reset(h.session), ARMLET_OK);
        let mut id = 0;
        assert_eq!(armlet_session_next_greedy(h.session, &mut id), ARMLET_ERR_NO_LOGITS);
        assert_eq!(armlet_session_restore(h.session, state.as_ptr(), state.len()), ARMLET_OK);
        let mut pos = 0;
        assert_eq!(armlet_session_position(h.session, &mut pos), ARMLET_OK);
        assert_eq!(pos, ids.len());
        assert_eq!(greedy(&h, 4), first);
        state[size / 2] ^= 1;
        assert_eq!(armlet_session_restore(h.session, state.as_ptr(), state.len()), ARMLET_ERR_STATE_INVALID);
    }
}

#[test]
fn sampler_is_reproducible_and_greedy_at_temperature_zero() {
    let h = open(32);
    let ids = tokenize(&h);
    let mut cfg = core::mem::MaybeUninit::<ArmletSamplerConfig>::uninit();
    let (mut size, mut smp) = (0usize, null_mut());
    // SAFETY: (test) live pointers.
    unsafe {
        assert_eq!(armlet_sampler_default_config(cfg.as_mut_ptr()), ARMLET_OK);
        let mut cfg = cfg.assume_init();
        assert_eq!(armlet_sampler_size(h.model, &mut size), ARMLET_OK);
        assert_eq!(armlet_session_feed(h.session, ids.as_ptr(), ids.len()), ARMLET_OK);
        let mut draw = |cfg: &ArmletSamplerConfig| {
            let mut b = buffer(size);
            let (p, n) = mem(&mut b);
            assert_eq!(armlet_sampler_init(p, n, h.model, cfg, &mut smp), ARMLET_OK);
            let mut id = 0u32;
            assert_eq!(armlet_sampler_next(smp, h.session, &mut id), ARMLET_OK);
            id
        };
        assert_eq!(draw(&cfg), draw(&cfg));
        cfg.temperature = 0.0;
        let mut greedy_id = 0;
        assert_eq!(armlet_session_next_greedy(h.session, &mut greedy_id), ARMLET_OK);
        assert_eq!(draw(&cfg), greedy_id);
        cfg.top_p = f32::NAN;
        let mut b = buffer(size);
        let (p, n) = mem(&mut b);
        assert_eq!(armlet_sampler_init(p, n, h.model, &cfg, &mut smp), ARMLET_ERR_BAD_ARGUMENT);
    }
}

#[test]
fn bad_arguments_are_status_codes() {
    let h = open(4);
    let mut size = 0usize;
    let mut out = null_mut();
    let bytes = std::fs::read(MICRO).unwrap();
    // SAFETY: (test) the pointers are live, NULL or deliberately wrong in ways the library checks.
    unsafe {
        assert_eq!(armlet_model_size(null_mut(), null_mut()), ARMLET_OK);
        assert_eq!(armlet_model_size(&mut size, null_mut()), ARMLET_OK);
        let mut b = buffer(size + 8);
        let base = b.as_mut_ptr().cast::<u8>();
        assert_eq!(armlet_model_init(null_mut(), size, bytes.as_ptr(), bytes.len(), &mut out), ARMLET_ERR_NULL_POINTER);
        assert_eq!(armlet_model_init(base.add(1).cast(), size, bytes.as_ptr(), bytes.len(), &mut out), ARMLET_ERR_MISALIGNED);
        assert_eq!(armlet_model_init(base.cast(), size - 1, bytes.as_ptr(), bytes.len(), &mut out), ARMLET_ERR_BUFFER_TOO_SMALL);
        assert_eq!(armlet_model_init(base.cast(), size, null(), 0, &mut out), ARMLET_ERR_NULL_POINTER);
        assert_eq!(armlet_model_init(base.cast(), size, bytes.as_ptr(), 100, &mut out), ARMLET_ERR_NOT_GGUF);
        // A session pointer where a model is expected: the tag refuses it.
        assert_eq!(armlet_session_size(h.session.cast(), 4, ARMLET_KV_F16, &mut size), ARMLET_ERR_BAD_HANDLE);
        assert_eq!(armlet_session_size(h.model, 0, ARMLET_KV_F16, &mut size), ARMLET_ERR_BAD_ARGUMENT);
        assert_eq!(armlet_session_size(h.model, 4, 7, &mut size), ARMLET_ERR_BAD_ARGUMENT);
        assert_eq!(armlet_session_size(h.model, usize::MAX, ARMLET_KV_F16, &mut size), ARMLET_ERR_TOO_LARGE);
        let too_many = [1u32; 5];
        assert_eq!(armlet_session_feed(h.session, too_many.as_ptr(), 5), ARMLET_ERR_CONTEXT_FULL);
        assert_eq!(armlet_session_feed(h.session, [u32::MAX].as_ptr(), 1), ARMLET_ERR_TOKEN_OUT_OF_RANGE);
        assert_eq!(armlet_session_feed(h.session, null(), 1), ARMLET_ERR_NULL_POINTER);
        let mut eog = false;
        assert_eq!(armlet_token_is_eog(null(), 0, &mut eog), ARMLET_ERR_NULL_POINTER);
        let msg = std::ffi::CStr::from_ptr(armlet_status_message(ARMLET_ERR_CONTEXT_FULL as i32));
        assert!(msg.to_str().unwrap().contains("context is full"));
        drop(b);
    }
}
