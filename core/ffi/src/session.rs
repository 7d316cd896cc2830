//! The session handle: one conversation's KV cache, recurrent state and buffers in the
//! caller's buffer; feeding tokens, greedy choice, reset, and the state saved and restored.

use crate::model::ArmletModel;
use crate::place::{self, Handle};
use crate::status::{status, ArmletStatus, Result};
use armlet_core::model::KvCacheType;
use armlet_core::plan::Plan;
use armlet_core::sample::argmax_logits;
use armlet_core::session::Session;
use core::ffi::c_void;
use ArmletStatus::*;

/// KV cache of 32-bit floats (twice the memory of F16; exact).
pub const ARMLET_KV_F32: u32 = 0;
/// KV cache of 16-bit floats: llama.cpp's default and armlet's.
pub const ARMLET_KV_F16: u32 = 1;

/// A conversation (opaque): its handle then its arena in one caller buffer of
/// armlet_session_size() bytes, ARMLET_ALIGN-aligned. Borrows the model handle.
pub struct ArmletSession {
    tag: u32,
    pub(crate) model: &'static ArmletModel,
    pub(crate) session: Session<'static, 'static>,
}

impl Handle for ArmletSession {
    const TAG: u32 = u32::from_le_bytes(*b"ASes");
    fn tag(&self) -> u32 {
        self.tag
    }
}

fn kv_type(kv: u32) -> Result<KvCacheType> {
    match kv {
        ARMLET_KV_F32 => Ok(KvCacheType::F32),
        ARMLET_KV_F16 => Ok(KvCacheType::F16),
        _ => Err(ARMLET_ERR_BAD_ARGUMENT),
    }
}

/// The memory plan of a session: every buffer for `n_ctx` positions.
fn plan(m: &ArmletModel, n_ctx: usize, kv: u32) -> Result<Plan> {
    if n_ctx == 0 {
        return Err(ARMLET_ERR_BAD_ARGUMENT);
    }
    Plan::new(&m.model.hparams, n_ctx, kv_type(kv)?).map_err(|_| ARMLET_ERR_TOO_LARGE)
}

/// Writes the bytes a session of `n_ctx` positions (prompt plus generated tokens) with a
/// KV cache of `kv_type` (ARMLET_KV_F16 or ARMLET_KV_F32) needs to `*size`.
///
/// Errors: ARMLET_ERR_BAD_ARGUMENT (n_ctx 0, unknown kv_type), ARMLET_ERR_TOO_LARGE,
/// ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// `model` is NULL or a handle from armlet_model_init; `size` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_session_size(
    model: *const ArmletModel,
    n_ctx: usize,
    kv_type: u32,
    size: *mut usize,
) -> ArmletStatus {
    status((|| {
        let m = place::get(model)?;
        let p = plan(m, n_ctx, kv_type)?;
        place::out(size, place::buffer_bytes::<ArmletSession>(p.arena_bytes())?)
    })())
}

/// Makes an empty session in `mem[0..mem_len]` (armlet_session_size() bytes for the same
/// arguments, ARMLET_ALIGN-aligned) and writes it to `*session`.
///
/// Errors: as armlet_session_size, and ARMLET_ERR_MISALIGNED, ARMLET_ERR_BUFFER_TOO_SMALL.
///
/// # Safety
/// `model` is NULL or a handle from armlet_model_init, which outlives the session; `mem`
/// holds `mem_len` writable bytes kept for the session alone; `session` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_session_init(
    mem: *mut c_void,
    mem_len: usize,
    model: *const ArmletModel,
    n_ctx: usize,
    kv_type: u32,
    session: *mut *mut ArmletSession,
) -> ArmletStatus {
    status((|| {
        let m: &'static ArmletModel = place::get(model)?;
        let p = plan(m, n_ctx, kv_type)?;
        let (at, arena) = place::buffer::<ArmletSession>(mem, mem_len, p.arena_bytes())?;
        let s = Session::new(&m.model, &p, arena)?;
        place::out(session, place::put(at, ArmletSession { tag: ArmletSession::TAG, model: m, session: s }))
    })())
}

/// Feeds `tokens[0..n_tokens]` at the session's position (a prompt in batches, or one
/// generated token) and computes the logits that predict the next token.
///
/// Errors: ARMLET_ERR_CONTEXT_FULL and ARMLET_ERR_TOKEN_OUT_OF_RANGE (found before
/// anything runs: the session is unchanged), ARMLET_ERR_COMPUTE (reset the session),
/// ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// `session` is NULL or a handle from armlet_session_init; `tokens` holds `n_tokens`
/// readable u32s (NULL when 0).
#[no_mangle]
pub unsafe extern "C" fn armlet_session_feed(session: *mut ArmletSession, tokens: *const u32, n_tokens: usize) -> ArmletStatus {
    status((|| {
        let s = place::get_mut(session)?;
        let tokens = place::slice(tokens, n_tokens)?;
        s.session.feed_prompt(tokens)?;
        Ok(())
    })())
}

/// Writes the greedy next token (the largest logit, the lowest id on ties: armlet's and
/// llama.cpp's --temp 0) to `*token`. The caller then feeds it to go on.
///
/// Errors: ARMLET_ERR_NO_LOGITS (nothing fed since the start or a reset),
/// ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// `session` is NULL or a handle from armlet_session_init; `token` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_session_next_greedy(session: *const ArmletSession, token: *mut u32) -> ArmletStatus {
    status((|| {
        let s = place::get(session)?;
        if !s.session.has_logits() {
            return Err(ARMLET_ERR_NO_LOGITS);
        }
        place::out(token, argmax_logits(s.session.logits()))
    })())
}

/// Writes the number of tokens fed so far (the next token's position) to `*position`.
///
/// # Safety
/// `session` is NULL or a handle from armlet_session_init; `position` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_session_position(session: *const ArmletSession, position: *mut usize) -> ArmletStatus {
    status(place::get(session).and_then(|s| place::out(position, s.session.position())))
}

/// Empties the session: position 0, caches and recurrent state cleared, as just made.
///
/// # Safety
/// `session` is NULL or a handle from armlet_session_init.
#[no_mangle]
pub unsafe extern "C" fn armlet_session_reset(session: *mut ArmletSession) -> ArmletStatus {
    status(place::get_mut(session).map(|s| s.session.reset()))
}

/// Writes the bytes armlet_session_save needs for the session as it is now to `*size`
/// (grows with the position).
///
/// # Safety
/// `session` is NULL or a handle from armlet_session_init; `size` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_session_state_size(session: *const ArmletSession, size: *mut usize) -> ArmletStatus {
    status((|| {
        let s = place::get(session)?;
        let n = usize::try_from(s.session.state_bytes(0)).map_err(|_| ARMLET_ERR_TOO_LARGE)?;
        place::out(size, n)
    })())
}

/// Saves the session's state (tokens, caches, recurrent state, logits; bound to the
/// model file by a fingerprint, closed by a CRC-32) into `buf[0..capacity]` and writes
/// its length to `*written`. The format is docs/state-format.md.
///
/// Errors: ARMLET_ERR_BUFFER_TOO_SMALL (capacity < armlet_session_state_size),
/// ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// `session` is NULL or a handle from armlet_session_init; `buf` holds `capacity`
/// writable bytes; `written` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_session_save(
    session: *const ArmletSession,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> ArmletStatus {
    status((|| {
        let s = place::get(session)?;
        let need = usize::try_from(s.session.state_bytes(0)).map_err(|_| ARMLET_ERR_TOO_LARGE)?;
        let dst = place::slice_mut(buf, capacity)?;
        let dst = dst.get_mut(..need).ok_or(ARMLET_ERR_BUFFER_TOO_SMALL)?;
        s.session.save(&s.model.fingerprint, &[], &mut *dst)?;
        place::out(written, need)
    })())
}

/// Restores a state saved by armlet_session_save from `buf[0..len]`: the session goes on
/// exactly as the saved one would. Everything is checked (format, model file, shape, KV
/// type, context, CRC); after an error the session is unchanged (a bad header) or empty.
///
/// Errors: ARMLET_ERR_STATE_INVALID, ARMLET_ERR_STATE_MISMATCH, ARMLET_ERR_NULL_POINTER,
/// ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// `session` is NULL or a handle from armlet_session_init; `buf` holds `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn armlet_session_restore(session: *mut ArmletSession, buf: *const u8, len: usize) -> ArmletStatus {
    status((|| {
        let s = place::get_mut(session)?;
        let src = place::slice(buf, len)?;
        let fp = s.model.fingerprint;
        s.session.restore(&fp, src, &mut [])?;
        Ok(())
    })())
}
