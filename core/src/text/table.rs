//! The tokenizer's lookup tables inside the caller's byte arena: u32 arrays read and written
//! through byte slices (the arena has no alignment promise, and the crate has no unsafe),
//! and the FNV-1a hash used by the open-addressing tables.

/// A u32 array stored in bytes (native endian; the tables never leave the process).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Words<'a>(pub &'a [u8]);

impl Words<'_> {
    pub fn get(&self, i: usize) -> Option<u32> {
        let start = i.checked_mul(4)?;
        let bytes = self.0.get(start..start.checked_add(4)?)?;
        <[u8; 4]>::try_from(bytes).ok().map(u32::from_ne_bytes)
    }

    pub fn len(&self) -> usize {
        self.0.len() / 4
    }
}

/// The mutable twin of [`Words`], used while the tables are built.
pub(crate) struct WordsMut<'a>(pub &'a mut [u8]);

impl WordsMut<'_> {
    pub fn get(&self, i: usize) -> Option<u32> {
        Words(self.0).get(i)
    }

    /// Writes `value` at `i`; false if `i` is out of range.
    pub fn set(&mut self, i: usize, value: u32) -> bool {
        let Some(start) = i.checked_mul(4) else {
            return false;
        };
        match self.0.get_mut(start..start.saturating_add(4)) {
            Some(slot) if slot.len() == 4 => {
                slot.copy_from_slice(&value.to_ne_bytes());
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.0.len() / 4
    }
}

pub(crate) const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;

pub(crate) fn fnv_step(hash: u32, byte: u8) -> u32 {
    (hash ^ byte as u32).wrapping_mul(FNV_PRIME)
}

pub(crate) fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}

/// Slot count of an open-addressing table for `n` keys: a power of two with at most 2/3
/// of the slots in use, so probe sequences stay short.
pub(crate) fn slot_count(n: usize) -> Option<usize> {
    if n == 0 {
        return Some(0);
    }
    n.checked_add(n / 2)?
        .checked_add(1)?
        .checked_next_power_of_two()
}
