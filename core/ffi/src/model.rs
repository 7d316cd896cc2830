//! The model handle: the parsed GGUF file, the checked views of its weights and its
//! fingerprint (which binds saved states to the file), over the caller's bytes.

use crate::place::{self, Handle};
use crate::status::{status, ArmletStatus, Result};
use armlet_core::gguf;
use armlet_core::model::Model;
use armlet_core::state::Fingerprint;
use core::ffi::c_void;
use core::mem::align_of;

/// A model ready to run (opaque). Lives in a caller's buffer of armlet_model_size() bytes,
/// ARMLET_ALIGN-aligned; borrows the model's bytes given to armlet_model_init.
pub struct ArmletModel {
    tag: u32,
    pub(crate) file: gguf::File<'static>,
    pub(crate) model: Model<'static>,
    pub(crate) fingerprint: Fingerprint,
}

impl Handle for ArmletModel {
    const TAG: u32 = u32::from_le_bytes(*b"AMdl");
    fn tag(&self) -> u32 {
        self.tag
    }
}

/// Writes the bytes a model handle needs (its buffer's size) to `*size` and its alignment
/// to `*align` (at most ARMLET_ALIGN). Either pointer may be NULL to skip it. The values
/// depend on the target the library was built for, not on the model.
///
/// # Safety
/// `size` and `align` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_model_size(size: *mut usize, align: *mut usize) -> ArmletStatus {
    status(sizes::<ArmletModel>(size, align, 0))
}

/// Shared by the fixed-size handles: writes the size (head plus `tail`) and alignment.
pub(crate) fn sizes<T>(size: *mut usize, align: *mut usize, tail: usize) -> Result<()> {
    if !size.is_null() {
        place::out(size, place::head::<T>().checked_add(tail).ok_or(ArmletStatus::ARMLET_ERR_TOO_LARGE)?)?;
    }
    if !align.is_null() {
        place::out(align, align_of::<T>())?;
    }
    Ok(())
}

/// Parses the GGUF file in `bytes[0..n_bytes]` and checks every tensor the model needs,
/// building the handle in `mem[0..mem_len]` (at least armlet_model_size() bytes,
/// ARMLET_ALIGN-aligned). Writes the handle to `*model` on success. Reads a few MB of the
/// file for its fingerprint; copies nothing.
///
/// Errors: ARMLET_ERR_NULL_POINTER, ARMLET_ERR_MISALIGNED, ARMLET_ERR_BUFFER_TOO_SMALL,
/// ARMLET_ERR_NOT_GGUF, ARMLET_ERR_UNSUPPORTED_MODEL.
///
/// # Safety
/// `bytes` holds `n_bytes` readable bytes and `mem` `mem_len` writable ones; both stay
/// valid, unmoved and unwritten by others while the handle (or anything made from it) is
/// used. `model` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_model_init(
    mem: *mut c_void,
    mem_len: usize,
    bytes: *const u8,
    n_bytes: usize,
    model: *mut *mut ArmletModel,
) -> ArmletStatus {
    status((|| {
        let (at, _) = place::buffer::<ArmletModel>(mem, mem_len, 0)?;
        if bytes.is_null() {
            return Err(ArmletStatus::ARMLET_ERR_NULL_POINTER);
        }
        let bytes: &'static [u8] = place::slice(bytes, n_bytes)?;
        let file = gguf::File::parse(bytes)?;
        let m = Model::from_gguf(&file)?;
        let fingerprint = Fingerprint::of(&file);
        place::out(model, place::put(at, ArmletModel { tag: ArmletModel::TAG, file, model: m, fingerprint }))
    })())
}

/// Writes the model's vocabulary size (logits per token) to `*n_vocab`.
///
/// # Safety
/// `model` is NULL or a handle from armlet_model_init; `n_vocab` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_model_n_vocab(model: *const ArmletModel, n_vocab: *mut usize) -> ArmletStatus {
    status(place::get(model).and_then(|m| place::out(n_vocab, m.model.hparams.n_vocab)))
}
