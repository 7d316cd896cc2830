//! The boundary's raw memory: every conversion of a caller's pointer into a Rust reference
//! happens here, after the checks (NULL, alignment, size, handle tag) that make it sound
//! as far as a callee can tell. What a callee cannot check (the memory is valid, stays put
//! and is not used elsewhere meanwhile) is the caller's side of the contract in armlet.h.

use crate::status::{ArmletStatus, Result};
use crate::ALIGN;
use armlet_core::sample::Candidate;
use core::ffi::c_void;
use core::mem::{align_of, size_of};
use ArmletStatus::*;

/// A handle kind: its tag, stored in the handle so that a pointer to anything else is
/// refused with ARMLET_ERR_BAD_HANDLE instead of used.
pub(crate) trait Handle {
    const TAG: u32;
    fn tag(&self) -> u32;
}

/// The bytes a buffer holding a `T` then a tail gives to the `T`: rounded up to 32 so the
/// tail starts as the core's arenas like (regions are 32-byte aligned).
pub(crate) const fn head<T>() -> usize {
    size_of::<T>().div_ceil(32) * 32
}

/// The size of a buffer holding a `T` and `tail` bytes after it.
pub(crate) fn buffer_bytes<T>(tail: usize) -> Result<usize> {
    head::<T>().checked_add(tail).ok_or(ARMLET_ERR_TOO_LARGE)
}

/// Checks a caller's buffer for a `T` followed by at least `tail` bytes; returns where the
/// `T` goes and the tail (zeroed: malloc'd memory is uninitialised, the core's arenas
/// must not be).
pub(crate) fn buffer<T: Handle>(mem: *mut c_void, len: usize, tail: usize) -> Result<(*mut T, &'static mut [u8])> {
    const { assert!(align_of::<T>() <= ALIGN) };
    if mem.is_null() {
        return Err(ARMLET_ERR_NULL_POINTER);
    }
    if !(mem as usize).is_multiple_of(ALIGN) {
        return Err(ARMLET_ERR_MISALIGNED);
    }
    if len < buffer_bytes::<T>(tail)? {
        return Err(ARMLET_ERR_BUFFER_TOO_SMALL);
    }
    let n = len - head::<T>();
    // SAFETY: the caller gives `len` writable bytes at `mem`, valid and used by nothing else
    // as long as the handle lives (armlet.h); head::<T>() + n == len, so the tail lies
    // inside them and after the handle's bytes, and is zeroed before being viewed as u8s.
    let tail = unsafe {
        let start = mem.cast::<u8>().add(head::<T>());
        start.write_bytes(0, n);
        core::slice::from_raw_parts_mut(start, n)
    };
    Ok((mem.cast::<T>(), tail))
}

/// Writes the handle at its place (from [`buffer`]) and returns its pointer.
pub(crate) fn put<T: Handle>(at: *mut T, value: T) -> *mut T {
    // SAFETY: `at` came from `buffer::<T>`: non-NULL, ALIGN-aligned (>= T's alignment),
    // with size_of::<T>() writable bytes before the tail; whatever was there is not a live
    // handle to drop (the core's types need no drop).
    unsafe { at.write(value) };
    at
}

/// The handle a caller's pointer names, shared.
pub(crate) fn get<'x, T: Handle>(p: *const T) -> Result<&'x T> {
    if p.is_null() {
        return Err(ARMLET_ERR_NULL_POINTER);
    }
    if !p.is_aligned() {
        return Err(ARMLET_ERR_MISALIGNED);
    }
    // SAFETY: non-NULL and aligned; the caller passes a pointer an armlet_*_init returned,
    // whose buffer is still valid (armlet.h); the tag catches most other pointers.
    let h = unsafe { &*p };
    if h.tag() == T::TAG {
        Ok(h)
    } else {
        Err(ARMLET_ERR_BAD_HANDLE)
    }
}

/// The handle a caller's pointer names, exclusive.
pub(crate) fn get_mut<'x, T: Handle>(p: *mut T) -> Result<&'x mut T> {
    get::<T>(p)?;
    // SAFETY: checked by `get` just above; one call at a time per handle (armlet.h).
    Ok(unsafe { &mut *p })
}

/// A caller's input array of `n` items (NULL allowed when `n` is 0).
pub(crate) fn slice<'x, T>(p: *const T, n: usize) -> Result<&'x [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(ARMLET_ERR_NULL_POINTER);
    }
    if !p.is_aligned() {
        return Err(ARMLET_ERR_MISALIGNED);
    }
    n.checked_mul(size_of::<T>()).filter(|&b| b <= isize::MAX as usize).ok_or(ARMLET_ERR_TOO_LARGE)?;
    // SAFETY: non-NULL, aligned, not too large; the caller gives `n` readable, initialised
    // items, not written during the call (armlet.h). T is u8 or u32: any bits are valid.
    Ok(unsafe { core::slice::from_raw_parts(p, n) })
}

/// A caller's output array of `n` items (NULL allowed when `n` is 0).
pub(crate) fn slice_mut<'x, T: Copy>(p: *mut T, n: usize) -> Result<&'x mut [T]> {
    slice::<T>(p, n)?;
    if n == 0 {
        return Ok(&mut []);
    }
    // SAFETY: checked by `slice` just above; the caller gives `n` writable items used by
    // nothing else during the call. Only u8/u32 outputs are made, so any prior bits are valid
    // (a C caller's uninitialised array is overwritten before being read back).
    Ok(unsafe { core::slice::from_raw_parts_mut(p, n) })
}

/// Writes a result through a caller's out-pointer.
pub(crate) fn out<T>(p: *mut T, value: T) -> Result<()> {
    if p.is_null() {
        return Err(ARMLET_ERR_NULL_POINTER);
    }
    if !p.is_aligned() {
        return Err(ARMLET_ERR_MISALIGNED);
    }
    // SAFETY: non-NULL and aligned; the caller gives a writable T (armlet.h). T is a plain
    // C value (integer, pointer, bool, struct of those): nothing to drop.
    unsafe { p.write(value) };
    Ok(())
}

/// Reads a caller's input struct.
pub(crate) fn read<T: Copy>(p: *const T) -> Result<T> {
    slice(p, 1)?;
    // SAFETY: checked by `slice` (non-NULL, aligned); the caller gives an initialised T.
    Ok(unsafe { p.read() })
}

/// The sampler's candidates in a (zeroed, 32-byte aligned) tail of a handle buffer.
pub(crate) fn candidates(tail: &'static mut [u8], n: usize) -> Result<&'static mut [Candidate]> {
    let bytes = n.checked_mul(size_of::<Candidate>()).ok_or(ARMLET_ERR_TOO_LARGE)?;
    if tail.len() < bytes {
        return Err(ARMLET_ERR_BUFFER_TOO_SMALL);
    }
    if !tail.as_ptr().cast::<Candidate>().is_aligned() {
        return Err(ARMLET_ERR_MISALIGNED);
    }
    // SAFETY: the tail is ours for the handle's life (from `buffer`), holds `bytes` bytes,
    // is aligned for Candidate and zeroed; Candidate is a u32 and two f32s, valid at zero.
    Ok(unsafe { core::slice::from_raw_parts_mut(tail.as_mut_ptr().cast::<Candidate>(), n) })
}
