//! The sampler handle: llama.cpp's chain (repetition penalty, top-k, top-p, min-p,
//! temperature, a seeded draw) with its candidate scratch in the caller's buffer.

use crate::model::ArmletModel;
use crate::place::{self, Handle};
use crate::session::ArmletSession;
use crate::status::{status, ArmletStatus, Result};
use armlet_core::sample::{Candidate, Sampler, SamplerConfig};
use core::ffi::c_void;
use core::mem::size_of;
use ArmletStatus::*;

/// The sampler's settings (armlet_sampler_default_config gives llama.cpp's defaults).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ArmletSamplerConfig {
    /// 0 or less: greedy (argmax, lowest id on ties).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 keeps all.
    pub top_k: u32,
    /// Keep the smallest set whose probability reaches p; 1.0 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one; 0 keeps all.
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of recent tokens; 1.0 is off.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: u32,
    /// The random generator's seed (PCG-32: one seed, one output on every machine).
    pub seed: u64,
}

/// A sampler (opaque): its settings and random state, then one candidate per vocabulary
/// entry, in one caller buffer of armlet_sampler_size() bytes, ARMLET_ALIGN-aligned.
pub struct ArmletSampler {
    tag: u32,
    sampler: Sampler,
    scratch: &'static mut [Candidate],
}

impl Handle for ArmletSampler {
    const TAG: u32 = u32::from_le_bytes(*b"ASmp");
    fn tag(&self) -> u32 {
        self.tag
    }
}

/// Writes llama.cpp's default settings (temperature 0.8, top-k 40, top-p 0.95, min-p
/// 0.05, no repetition penalty over the last 64) with seed 0x5eed to `*config`.
///
/// # Safety
/// `config` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_sampler_default_config(config: *mut ArmletSamplerConfig) -> ArmletStatus {
    let d = SamplerConfig::default();
    let c = ArmletSamplerConfig {
        temperature: d.temperature,
        top_k: u32::try_from(d.top_k).unwrap_or(u32::MAX),
        top_p: d.top_p,
        min_p: d.min_p,
        repeat_penalty: d.repeat_penalty,
        repeat_last_n: u32::try_from(d.repeat_last_n).unwrap_or(u32::MAX),
        seed: d.seed,
    };
    status(place::out(config, c))
}

fn scratch_bytes(m: &ArmletModel) -> Result<usize> {
    m.model.hparams.n_vocab.checked_mul(size_of::<Candidate>()).ok_or(ARMLET_ERR_TOO_LARGE)
}

/// Writes the bytes a sampler for `model` needs (handle and candidate scratch) to `*size`.
///
/// # Safety
/// `model` is NULL or a handle from armlet_model_init; `size` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_sampler_size(model: *const ArmletModel, size: *mut usize) -> ArmletStatus {
    status((|| {
        let m = place::get(model)?;
        place::out(size, place::buffer_bytes::<ArmletSampler>(scratch_bytes(m)?)?)
    })())
}

/// Makes a sampler for `model` with `*config` in `mem[0..mem_len]` (armlet_sampler_size()
/// bytes, ARMLET_ALIGN-aligned) and writes it to `*sampler`.
///
/// Errors: ARMLET_ERR_BAD_ARGUMENT (a NaN setting), ARMLET_ERR_MISALIGNED,
/// ARMLET_ERR_BUFFER_TOO_SMALL, ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// `model` is NULL or a handle from armlet_model_init; `config` is NULL or readable; `mem`
/// holds `mem_len` writable bytes kept for the sampler alone; `sampler` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_sampler_init(
    mem: *mut c_void,
    mem_len: usize,
    model: *const ArmletModel,
    config: *const ArmletSamplerConfig,
    sampler: *mut *mut ArmletSampler,
) -> ArmletStatus {
    status((|| {
        let m = place::get(model)?;
        let c = place::read(config)?;
        if [c.temperature, c.top_p, c.min_p, c.repeat_penalty].iter().any(|v| v.is_nan()) {
            return Err(ARMLET_ERR_BAD_ARGUMENT);
        }
        let n_vocab = m.model.hparams.n_vocab;
        let (at, tail) = place::buffer::<ArmletSampler>(mem, mem_len, scratch_bytes(m)?)?;
        let scratch = place::candidates(tail, n_vocab)?;
        let config = SamplerConfig {
            temperature: c.temperature,
            top_k: c.top_k as usize,
            top_p: c.top_p,
            min_p: c.min_p,
            repeat_penalty: c.repeat_penalty,
            repeat_last_n: c.repeat_last_n as usize,
            seed: c.seed,
        };
        let h = ArmletSampler { tag: ArmletSampler::TAG, sampler: Sampler::new(config), scratch };
        place::out(sampler, place::put(at, h))
    })())
}

/// Draws the next token from the session's logits (the penalty looks at the tokens fed
/// so far) and writes it to `*token`. The caller then feeds it to go on.
///
/// Errors: ARMLET_ERR_NO_LOGITS, ARMLET_ERR_BAD_LOGITS, ARMLET_ERR_BUFFER_TOO_SMALL (a
/// sampler made for a model with a smaller vocabulary), ARMLET_ERR_NULL_POINTER,
/// ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// `sampler` and `session` are NULL or handles from their init functions; `token` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_sampler_next(
    sampler: *mut ArmletSampler,
    session: *const ArmletSession,
    token: *mut u32,
) -> ArmletStatus {
    status((|| {
        let smp = place::get_mut(sampler)?;
        let s = place::get(session)?;
        if !s.session.has_logits() {
            return Err(ARMLET_ERR_NO_LOGITS);
        }
        let id = smp.sampler.sample(s.session.logits(), s.session.tokens(), smp.scratch)?;
        place::out(token, id)
    })())
}
