//! Status codes: every function of the C ABI returns one, and `armlet_status_message`
//! names it. The core's rich errors are folded into codes a C caller can switch on.

use armlet_core::gguf::GgufError;
use armlet_core::model::ModelError;
use armlet_core::sample::SampleError;
use armlet_core::session::SessionError;
use armlet_core::state::StateError;
use armlet_core::text::TextError;
use core::ffi::c_char;

/// What a call did: `ARMLET_OK`, or the problem that stopped it (nothing was changed
/// unless the function's documentation says otherwise).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArmletStatus {
    /// Success.
    ARMLET_OK = 0,
    /// A pointer argument is NULL.
    ARMLET_ERR_NULL_POINTER = 1,
    /// A buffer or pointer is not aligned as required (ARMLET_ALIGN for handle buffers).
    ARMLET_ERR_MISALIGNED = 2,
    /// A caller's buffer is smaller than the matching *_size function says.
    ARMLET_ERR_BUFFER_TOO_SMALL = 3,
    /// A handle pointer does not point to an initialised handle of that kind.
    ARMLET_ERR_BAD_HANDLE = 4,
    /// An argument is out of its range (a KV type, a context of 0, a sampler setting).
    ARMLET_ERR_BAD_ARGUMENT = 5,
    /// A size computation overflows the address space.
    ARMLET_ERR_TOO_LARGE = 6,
    /// The model's bytes are not a GGUF file armlet can read.
    ARMLET_ERR_NOT_GGUF = 7,
    /// The GGUF file holds a model armlet does not run (architecture, tensor or type).
    ARMLET_ERR_UNSUPPORTED_MODEL = 8,
    /// The file's tokenizer cannot be built (missing or inconsistent vocabulary).
    ARMLET_ERR_TOKENIZER = 9,
    /// An output buffer is too short; the count needed was written to the count out-pointer.
    ARMLET_ERR_OUTPUT_FULL = 10,
    /// Plain text between special tokens is longer than the tokenizer's max_fragment_bytes.
    ARMLET_ERR_FRAGMENT_TOO_LONG = 11,
    /// A token id outside the vocabulary.
    ARMLET_ERR_TOKEN_OUT_OF_RANGE = 12,
    /// Every position of the session's context is used; armlet_session_reset starts over.
    ARMLET_ERR_CONTEXT_FULL = 13,
    /// No logits yet: feed at least one token first.
    ARMLET_ERR_NO_LOGITS = 14,
    /// The forward pass failed (should not happen; the session must be reset).
    ARMLET_ERR_COMPUTE = 15,
    /// A logit is NaN or infinite: the model produced garbage; nothing was sampled.
    ARMLET_ERR_BAD_LOGITS = 16,
    /// The bytes are not a complete, intact armlet session state.
    ARMLET_ERR_STATE_INVALID = 17,
    /// The state was saved by another model file, shape, KV type or a larger context.
    ARMLET_ERR_STATE_MISMATCH = 18,
    /// The handle is in use by a call still running (re-entered from another thread?).
    ARMLET_ERR_BUSY = 19,
}

use ArmletStatus::*;

/// The message of every code, in code order (NUL-terminated, static).
const MESSAGES: [&core::ffi::CStr; 20] = [
    c"ok",
    c"a pointer argument is NULL",
    c"a buffer or pointer is not aligned as required (ARMLET_ALIGN for handle buffers)",
    c"a buffer is smaller than its *_size function says",
    c"the pointer is not an initialised handle of that kind",
    c"an argument is out of range",
    c"a size overflows the address space",
    c"the model's bytes are not a GGUF file armlet can read",
    c"the model is not one armlet runs (architecture, tensor or type)",
    c"the file's tokenizer cannot be built",
    c"the output buffer is too short (the count needed was written)",
    c"plain text between special tokens is longer than the tokenizer's max_fragment_bytes",
    c"a token id is outside the vocabulary",
    c"the context is full: reset the session",
    c"no logits yet: feed at least one token first",
    c"the forward pass failed: reset the session",
    c"the model produced a NaN or infinite logit",
    c"not a complete, intact armlet session state",
    c"the state belongs to another model file, shape, KV type or a larger context",
    c"the handle is busy with another call",
];

/// The message for a status code: a static NUL-terminated English sentence, never NULL
/// ("unknown status code" for a value that is not an ArmletStatus). Takes an int so that
/// any value a C caller holds is safe to pass.
#[no_mangle]
pub extern "C" fn armlet_status_message(code: i32) -> *const c_char {
    let text = usize::try_from(code).ok().and_then(|i| MESSAGES.get(i)).copied().unwrap_or(c"unknown status code");
    text.as_ptr()
}

/// `?` on a core `Result` inside the C functions: each core error becomes its code.
pub(crate) type Result<T> = core::result::Result<T, ArmletStatus>;

/// The status of a whole call.
pub(crate) fn status(r: Result<()>) -> ArmletStatus {
    match r {
        Ok(()) => ARMLET_OK,
        Err(s) => s,
    }
}

impl From<GgufError> for ArmletStatus {
    fn from(_: GgufError) -> Self {
        ARMLET_ERR_NOT_GGUF
    }
}

impl From<ModelError> for ArmletStatus {
    fn from(_: ModelError) -> Self {
        ARMLET_ERR_UNSUPPORTED_MODEL
    }
}

impl From<TextError> for ArmletStatus {
    fn from(e: TextError) -> Self {
        match e {
            TextError::OutputFull { .. } => ARMLET_ERR_OUTPUT_FULL,
            TextError::FragmentTooLong { .. } => ARMLET_ERR_FRAGMENT_TOO_LONG,
            TextError::UnknownToken { .. } => ARMLET_ERR_TOKEN_OUT_OF_RANGE,
            TextError::ArenaTooSmall { .. } => ARMLET_ERR_BUFFER_TOO_SMALL,
            TextError::TooLarge => ARMLET_ERR_TOO_LARGE,
            TextError::Busy => ARMLET_ERR_BUSY,
            _ => ARMLET_ERR_TOKENIZER,
        }
    }
}

impl From<SessionError> for ArmletStatus {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::PlanMismatch | SessionError::CannotRewind { .. } => ARMLET_ERR_BAD_ARGUMENT,
            SessionError::ArenaTooSmall { .. } => ARMLET_ERR_BUFFER_TOO_SMALL,
            SessionError::ArenaMisaligned => ARMLET_ERR_MISALIGNED,
            SessionError::TokenOutOfRange { .. } => ARMLET_ERR_TOKEN_OUT_OF_RANGE,
            SessionError::ContextFull { .. } => ARMLET_ERR_CONTEXT_FULL,
            SessionError::Compute(_) => ARMLET_ERR_COMPUTE,
        }
    }
}

impl From<SampleError> for ArmletStatus {
    fn from(e: SampleError) -> Self {
        match e {
            SampleError::NonFiniteLogit { .. } => ARMLET_ERR_BAD_LOGITS,
            SampleError::ScratchTooSmall { .. } => ARMLET_ERR_BUFFER_TOO_SMALL,
            SampleError::EmptyVocabulary => ARMLET_ERR_NO_LOGITS,
        }
    }
}

impl<E> From<StateError<E>> for ArmletStatus {
    fn from(e: StateError<E>) -> Self {
        match e {
            // Writing into the caller's buffer fails only when it is full.
            StateError::Io(_) => ARMLET_ERR_BUFFER_TOO_SMALL,
            StateError::OtherArchitecture { .. }
            | StateError::OtherShape { .. }
            | StateError::OtherKvType { .. }
            | StateError::OtherFile
            | StateError::ContextTooSmall { .. } => ARMLET_ERR_STATE_MISMATCH,
            _ => ARMLET_ERR_STATE_INVALID,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_message() {
        assert_eq!(MESSAGES.len(), ARMLET_ERR_BUSY as usize + 1);
        for code in [-1, 20, i32::MAX, i32::MIN] {
            // SAFETY: the message is a static NUL-terminated string.
            let m = unsafe { core::ffi::CStr::from_ptr(armlet_status_message(code)) };
            assert_eq!(m.to_bytes(), b"unknown status code");
        }
    }
}
