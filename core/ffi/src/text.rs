//! Tokens in and out: the tokenizer handle (its tables in the same caller buffer) and the
//! detokenizer handle (which holds the bytes of an incomplete UTF-8 character between calls).

use crate::model::{sizes, ArmletModel};
use crate::place::{self, Handle};
use crate::status::{status, ArmletStatus};
use armlet_core::text::{DetokenizeOptions, Detokenizer, TextError, Tokenizer, DEFAULT_MAX_FRAGMENT_BYTES, MAX_HELD_BYTES};
use core::ffi::c_void;
use ArmletStatus::*;

/// The longest piece of text a detokenize call writes beyond the token's own bytes: the
/// bytes of an incomplete UTF-8 character (or a held space) released with it.
pub const ARMLET_MAX_HELD_BYTES: usize = 9;
const _: () = assert!(ARMLET_MAX_HELD_BYTES == MAX_HELD_BYTES);

/// A tokenizer (opaque): its handle then its tables in one caller buffer of
/// armlet_tokenizer_size() bytes, ARMLET_ALIGN-aligned. Borrows the model handle's file.
pub struct ArmletTokenizer {
    tag: u32,
    pub(crate) tok: Tokenizer<'static>,
}

impl Handle for ArmletTokenizer {
    const TAG: u32 = u32::from_le_bytes(*b"ATok");
    fn tag(&self) -> u32 {
        self.tag
    }
}

/// A detokenizer (opaque): the state of one text being written, in a caller buffer of
/// armlet_detokenizer_size() bytes, ARMLET_ALIGN-aligned. Borrows a tokenizer handle.
pub struct ArmletDetokenizer {
    tag: u32,
    detok: Detokenizer<'static, 'static>,
}

impl Handle for ArmletDetokenizer {
    const TAG: u32 = u32::from_le_bytes(*b"ADtk");
    fn tag(&self) -> u32 {
        self.tag
    }
}

/// The tables' working memory for text between special tokens: 0 means the default (4096
/// bytes, as llama.cpp's usual prompts need).
fn fragment(max_fragment_bytes: usize) -> usize {
    if max_fragment_bytes == 0 {
        DEFAULT_MAX_FRAGMENT_BYTES
    } else {
        max_fragment_bytes
    }
}

/// Writes the bytes a tokenizer for `model` needs (handle and tables) to `*size`.
/// `max_fragment_bytes` bounds the plain text between special tokens one tokenize call
/// takes (0: 4096 bytes); longer text is refused with ARMLET_ERR_FRAGMENT_TOO_LONG.
///
/// Errors: ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE, ARMLET_ERR_TOKENIZER,
/// ARMLET_ERR_TOO_LARGE.
///
/// # Safety
/// `model` is NULL or a handle from armlet_model_init; `size` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_tokenizer_size(
    model: *const ArmletModel,
    max_fragment_bytes: usize,
    size: *mut usize,
) -> ArmletStatus {
    status((|| {
        let m = place::get(model)?;
        let tables = Tokenizer::arena_bytes_for(&m.file, fragment(max_fragment_bytes))?;
        if size.is_null() {
            return Err(ARMLET_ERR_NULL_POINTER);
        }
        sizes::<ArmletTokenizer>(size, core::ptr::null_mut(), tables)
    })())
}

/// Builds the tokenizer of `model` in `mem[0..mem_len]` (armlet_tokenizer_size() bytes
/// for the same `max_fragment_bytes`, ARMLET_ALIGN-aligned) and writes it to `*tokenizer`.
///
/// Errors: ARMLET_ERR_NULL_POINTER, ARMLET_ERR_MISALIGNED, ARMLET_ERR_BAD_HANDLE,
/// ARMLET_ERR_BUFFER_TOO_SMALL, ARMLET_ERR_TOKENIZER, ARMLET_ERR_TOO_LARGE.
///
/// # Safety
/// `model` is NULL or a handle from armlet_model_init, which outlives the tokenizer;
/// `mem` holds `mem_len` writable bytes, kept for the tokenizer alone while it is used;
/// `tokenizer` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_tokenizer_init(
    mem: *mut c_void,
    mem_len: usize,
    model: *const ArmletModel,
    max_fragment_bytes: usize,
    tokenizer: *mut *mut ArmletTokenizer,
) -> ArmletStatus {
    status((|| {
        let m: &'static ArmletModel = place::get(model)?;
        let tables = Tokenizer::arena_bytes_for(&m.file, fragment(max_fragment_bytes))?;
        let (at, arena) = place::buffer::<ArmletTokenizer>(mem, mem_len, tables)?;
        let tok = Tokenizer::new(&m.file, arena)?;
        place::out(tokenizer, place::put(at, ArmletTokenizer { tag: ArmletTokenizer::TAG, tok }))
    })())
}

/// Tokenizes `text[0..text_len]` (UTF-8; invalid bytes are handled as llama.cpp does) into
/// `ids[0..capacity]` and writes the count to `*n_ids`, as llama.cpp's llama_tokenize.
/// `add_special` adds BOS/EOS as the model asks (true at the start of a conversation);
/// `parse_special` matches control tokens written in the text (armlet's prompts: true).
///
/// Errors: ARMLET_ERR_OUTPUT_FULL (then `*n_ids` is the count needed: call again with a
/// larger array), ARMLET_ERR_FRAGMENT_TOO_LONG, ARMLET_ERR_TOKENIZER (the vocabulary has no
/// BOS/EOS or byte token it needs), ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE,
/// ARMLET_ERR_BUSY.
///
/// # Safety
/// `tokenizer` is NULL or a handle from armlet_tokenizer_init; `text` holds `text_len`
/// readable bytes, `ids` `capacity` writable u32s (either NULL when its length is 0);
/// `n_ids` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_tokenize(
    tokenizer: *const ArmletTokenizer,
    text: *const u8,
    text_len: usize,
    add_special: bool,
    parse_special: bool,
    ids: *mut u32,
    capacity: usize,
    n_ids: *mut usize,
) -> ArmletStatus {
    status((|| {
        let t = place::get(tokenizer)?;
        let text = place::slice(text, text_len)?;
        let ids = place::slice_mut(ids, capacity)?;
        count_or_needed(t.tok.encode(text, add_special, parse_special, ids), n_ids)
    })())
}

/// Writes to `*is_eog` whether `token` ends a generation (EOS, EOT and the model's other
/// end-of-generation tokens): a generation loop stops there without printing it.
///
/// # Safety
/// `tokenizer` is NULL or a handle from armlet_tokenizer_init; `is_eog` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_token_is_eog(tokenizer: *const ArmletTokenizer, token: u32, is_eog: *mut bool) -> ArmletStatus {
    status(place::get(tokenizer).and_then(|t| place::out(is_eog, t.tok.is_eog(token))))
}

/// Writes the bytes a detokenizer handle needs to `*size` and its alignment to `*align`
/// (either may be NULL).
///
/// # Safety
/// `size` and `align` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_detokenizer_size(size: *mut usize, align: *mut usize) -> ArmletStatus {
    status(sizes::<ArmletDetokenizer>(size, align, 0))
}

/// Starts a text in `mem[0..mem_len]` (armlet_detokenizer_size() bytes, ARMLET_ALIGN-
/// aligned) and writes the handle to `*detokenizer`. `special`: write the text of control
/// tokens too (armlet prints generated text with false).
///
/// # Safety
/// `tokenizer` is NULL or a handle from armlet_tokenizer_init, which outlives the
/// detokenizer; `mem` holds `mem_len` writable bytes kept for it; `detokenizer` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_detokenizer_init(
    mem: *mut c_void,
    mem_len: usize,
    tokenizer: *const ArmletTokenizer,
    special: bool,
    detokenizer: *mut *mut ArmletDetokenizer,
) -> ArmletStatus {
    status((|| {
        let t: &'static ArmletTokenizer = place::get(tokenizer)?;
        let (at, _) = place::buffer::<ArmletDetokenizer>(mem, mem_len, 0)?;
        let detok = Detokenizer::new(&t.tok, DetokenizeOptions::pieces(special));
        place::out(detokenizer, place::put(at, ArmletDetokenizer { tag: ArmletDetokenizer::TAG, detok }))
    })())
}

/// Appends `token` to the text and writes the bytes now complete to `out[0..capacity]`,
/// their count to `*written`. The bytes of a UTF-8 character split over tokens are held
/// until it is complete, so `out` always ends on a character boundary. `capacity` must be
/// at least the token's length plus ARMLET_MAX_HELD_BYTES: 256 is always enough for
/// armlet's models.
///
/// Errors: ARMLET_ERR_OUTPUT_FULL (nothing consumed; `*written` is the capacity needed),
/// ARMLET_ERR_TOKEN_OUT_OF_RANGE, ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// `detokenizer` is NULL or a handle from armlet_detokenizer_init; `out` holds `capacity`
/// writable bytes; `written` is writable.
#[no_mangle]
pub unsafe extern "C" fn armlet_detokenize(
    detokenizer: *mut ArmletDetokenizer,
    token: u32,
    out: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> ArmletStatus {
    status((|| {
        let d = place::get_mut(detokenizer)?;
        let buf = place::slice_mut(out, capacity)?;
        count_or_needed(d.detok.push_into(token, buf), written)
    })())
}

/// Ends the text: writes the bytes still held (at most ARMLET_MAX_HELD_BYTES; an
/// incomplete character is written as it is) to `out[0..capacity]`, their count to
/// `*written`, and leaves the detokenizer ready for a new text.
///
/// Errors: ARMLET_ERR_OUTPUT_FULL when `capacity` < ARMLET_MAX_HELD_BYTES (nothing
/// released), ARMLET_ERR_NULL_POINTER, ARMLET_ERR_BAD_HANDLE.
///
/// # Safety
/// As armlet_detokenize.
#[no_mangle]
pub unsafe extern "C" fn armlet_detokenizer_finish(
    detokenizer: *mut ArmletDetokenizer,
    out: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> ArmletStatus {
    status((|| {
        let d = place::get_mut(detokenizer)?;
        let buf = place::slice_mut(out, capacity)?;
        place::out(written, 0)?;
        let dst = buf.get_mut(..MAX_HELD_BYTES).ok_or(ARMLET_ERR_OUTPUT_FULL)?;
        let mut held = [0u8; MAX_HELD_BYTES];
        let n = d.detok.finish_into(&mut held);
        dst.copy_from_slice(&held);
        place::out(written, n.min(MAX_HELD_BYTES))
    })())
}

/// Writes a count to `*count`; when the output was too short, the count it needs, and
/// ARMLET_ERR_OUTPUT_FULL.
fn count_or_needed(result: core::result::Result<usize, TextError>, count: *mut usize) -> crate::status::Result<()> {
    match result {
        Ok(n) => place::out(count, n),
        Err(TextError::OutputFull { needed }) => {
            place::out(count, needed)?;
            Err(ARMLET_ERR_OUTPUT_FULL)
        }
        Err(e) => Err(e.into()),
    }
}
