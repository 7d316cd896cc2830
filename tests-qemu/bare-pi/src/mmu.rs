//! The MMU and the caches, as on hardware: the ARM1176 only caches data with the MMU on.
//! A flat map of 1 MiB sections (virtual = physical): RAM (0x0000_0000..0x2000_0000,
//! including the GPU's share, which qemu treats as RAM) is normal write-back
//! write-allocate memory, the peripherals (0x2000_0000..0x2100_0000) are device memory that
//! never executes, and everything else faults, as does the 1 MiB guard under the stack.
//!
//! SCTLR also gets U (bit 22) with A (bit 1) clear: the quant kernels load words from
//! unaligned addresses (Q6_K blocks are 210 bytes), which ARMv6 allows only in this mode
//! and only in normal memory, so the weights must be read with the MMU on.

/// Section descriptor, ARMv6 format (SCTLR.XP = 1): AP = full access, TEX = 001, C = B = 1:
/// normal memory, outer and inner write-back write-allocate.
const NORMAL: u32 = (3 << 10) | (1 << 12) | (1 << 3) | (1 << 2) | 2;
/// AP = full access, TEX = 000, C = 0, B = 1 (shared device), XN.
const DEVICE: u32 = (3 << 10) | (1 << 4) | (1 << 2) | 2;
const FAULT: u32 = 0;

const SECTION_SHIFT: u32 = 20;
const RAM_END: u32 = 0x2000_0000;
const PERIPHERALS: core::ops::Range<u32> = 0x2000_0000..0x2100_0000;

/// SCTLR bits: M (MMU), C (D-cache), Z (branch prediction), I (I-cache), U (unaligned
/// loads), XP (ARMv6 descriptors); A (alignment faults) and V (high vectors) cleared.
const SCTLR_SET: u32 = (1 << 0) | (1 << 2) | (1 << 11) | (1 << 12) | (1 << 22) | (1 << 23);
const SCTLR_CLEAR: u32 = (1 << 1) | (1 << 13);

/// ARM1176 cache line.
pub const CACHE_LINE: usize = 32;

#[repr(C, align(16384))]
struct TranslationTable([u32; 4096]);

/// In its own NOLOAD section (`.ttb` in link.x), outside `.bss`: it is written before
/// `.bss` is zeroed.
#[unsafe(link_section = ".ttb")]
static mut TABLE: TranslationTable = TranslationTable([0; 4096]);

unsafe extern "C" {
    static __stack_guard: u8;
}

/// Builds the table and turns on the MMU, the caches and branch prediction. Called once
/// by `_start`, before `.bss` is zeroed: it touches only the stack and the table.
#[unsafe(no_mangle)]
extern "C" fn mmu_enable() {
    let guard = core::ptr::addr_of!(__stack_guard) as u32 >> SECTION_SHIFT;
    let table = core::ptr::addr_of_mut!(TABLE) as *mut u32;
    for i in 0..4096u32 {
        let base = i << SECTION_SHIFT;
        let entry = if i == guard {
            FAULT
        } else if PERIPHERALS.contains(&base) {
            base | DEVICE
        } else if base < RAM_END {
            base | NORMAL
        } else {
            FAULT
        };
        // SAFETY: i < 4096 indexes the table, which nothing else uses yet.
        unsafe { table.add(i as usize).write_volatile(entry) };
    }
    // SAFETY: the ARMv6 enable sequence on a table that maps this code flat, so execution
    // continues at the same addresses once the MMU is on.
    unsafe {
        core::arch::asm!(
            "mov  {z}, #0",
            "mcr  p15, 0, {z}, c7, c7, 0",   // invalidate both caches
            "mcr  p15, 0, {z}, c8, c7, 0",   // invalidate the TLBs
            "mcr  p15, 0, {z}, c7, c10, 4",  // data synchronization barrier
            "mcr  p15, 0, {z}, c2, c0, 2",   // TTBCR = 0: TTBR0 translates everything
            "mcr  p15, 0, {t}, c2, c0, 0",   // TTBR0 = the table (walks uncached)
            "mov  {z}, #1",
            "mcr  p15, 0, {z}, c3, c0, 0",   // DACR: domain 0 = client (AP bits apply)
            "mrc  p15, 0, {s}, c1, c0, 0",
            "bic  {s}, {s}, {clear}",
            "orr  {s}, {s}, {set}",
            "mcr  p15, 0, {s}, c1, c0, 0",   // SCTLR
            "mov  {z}, #0",
            "mcr  p15, 0, {z}, c7, c5, 4",   // flush the prefetch buffer
            z = out(reg) _,
            s = out(reg) _,
            t = in(reg) table as u32,
            set = in(reg) SCTLR_SET,
            clear = in(reg) SCTLR_CLEAR,
            options(nostack),
        )
    };
}

/// Writes the cache lines of `[addr, addr + len)` back to memory (before another bus
/// master, the GPU, reads them).
pub fn clean(addr: usize, len: usize) {
    for line in (addr & !(CACHE_LINE - 1)..addr + len).step_by(CACHE_LINE) {
        // SAFETY: clean D-cache line by address; no effect on program state.
        unsafe { core::arch::asm!("mcr p15, 0, {0}, c7, c10, 1", in(reg) line, options(nostack)) };
    }
    barrier();
}

/// Drops the cache lines of `[addr, addr + len)` (after another bus master wrote there).
/// The range must cover whole lines the caller owns, or neighbours' writes are lost.
pub fn invalidate(addr: usize, len: usize) {
    for line in (addr & !(CACHE_LINE - 1)..addr + len).step_by(CACHE_LINE) {
        // SAFETY: invalidate D-cache line by address; the caller owns the whole line.
        unsafe { core::arch::asm!("mcr p15, 0, {0}, c7, c6, 1", in(reg) line, options(nostack)) };
    }
    barrier();
}

/// Data synchronization barrier (ARMv6 CP15 form).
pub fn barrier() {
    // SAFETY: a barrier; orders memory accesses, nothing else.
    unsafe { core::arch::asm!("mcr p15, 0, {0}, c7, c10, 4", in(reg) 0u32, options(nostack)) };
}
