//! Markers for the ARM1176 cost model (`../shared/tools/arm11cost.c`, loaded into
//! qemu-system-arm with `-plugin`): three ORRs of a register with itself, which do nothing
//! on a CPU and which no compiler emits. The plugin adds up cycles between BEGIN and END
//! and records a tick record at each TICK. No `nomem`: memory accesses stay on their side
//! of a marker, so the region edges are exact.

pub fn region_begin() {
    // SAFETY: `orr r0, r0, r0` changes nothing.
    unsafe { core::arch::asm!("orr r0, r0, r0", options(nostack, preserves_flags)) };
}

pub fn region_end() {
    // SAFETY: `orr r1, r1, r1` changes nothing.
    unsafe { core::arch::asm!("orr r1, r1, r1", options(nostack, preserves_flags)) };
}

pub fn tick() {
    // SAFETY: `orr r2, r2, r2` changes nothing.
    unsafe { core::arch::asm!("orr r2, r2, r2", options(nostack, preserves_flags)) };
}
