//! Q4_K superblock kernel, hand-scheduled for the ARM1176 (one row, `n` consecutive blocks).
//!
//! `extern "C" fn(w, pairs, n, out, row_blocks)`: `w` = the first of `n` consecutive 144-byte
//! blocks (any alignment), `pairs` = the permuted Q8_K pair blocks of the row's columns (544
//! bytes per block, 4-aligned; the pointer returns to `pairs` after every `row_blocks`
//! blocks, so `n` may span several rows), `out` = 3 words
//! per block: the integer sum `Σ sc[j] · Σ q·x`, the min correction `Σ m[j] · bsum32[j]`, and
//! the block's first word (the f16 `d` and `dmin`).
//!
//! Inner step (8 weights, 10 cycles, no interlock under the ARM1176 timing): one `LDM` of 4
//! activation pair words, 4 `AND` with the mask 0x000F000F (shifts 0, 4, 8, 12), the next
//! weight word `LDR`, 4 `SMLAD` alternating two accumulators. The `LDM` result is first used
//! 6 cycles later, each `SMLAD` chain link is 2 cycles apart.
//!
//! Registers: r0-r3 activation pairs, r4 weight word, r5-r8 extracted pairs, r9 mask,
//! r10/r11 the two sub-block accumulators, r12 weight pointer, lr pair pointer.
//! Frame (sp+): 0 masks 0x3f3f3f3f, 4 0x0f0f0f0f, 8 0x03030303, 12 0x000f000f; 16 sc[0..4],
//! 20 sc[4..8]; 24 blocks left; 28 out pointer; 32..64 the 8 sub-block dots; 64 blocks left
//! in the row, 68 `row_blocks`, 72 the first pair block (the pair pointer goes back to it
//! every `row_blocks` blocks, so one call covers several short rows).
//!
//! Touch variant: besides the demand loads it issues an `LDR` into a dead register of a
//! word `TOUCH_LEAD` bytes ahead in the weight stream (5 per 144-byte block, never more than
//! 32 bytes apart, so every line is requested ahead of use). The cost model does not model
//! `PLD`; an early ordinary load starts the line fill and lets the arithmetic run under it.
//! It reads up to [`Q4K_TOUCH_REACH`] bytes past the last block: the caller must only use
//! it when those bytes are inside the weight matrix.

#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Distance (bytes) of the touch loads ahead of the weight pointer.
macro_rules! q4k_lead { () => { 256 } }
/// Bytes past the end of the last block the touch variant may read (lead + 152 + 4 - 144).
pub const Q4K_TOUCH_REACH: usize = 256 + 12;

macro_rules! q4k_next { () => { "ldr r4, [r12], #4\n" } }

/// One 64-weight chunk (two 32-element sub-blocks): 8 steps, then the two dots to the frame.
macro_rules! q4k_chunk {
    ($dots:literal, $last:tt, $t:ident) => {
        concat!(
            nibble_step!(smuad, q4k_next!(), $t!()),
            nibble_step!(smlad, q4k_next!(), ""),
            nibble_step!(smlad, q4k_next!(), ""),
            nibble_step!(smlad, q4k_next!(), ""),
            nibble_step!(smlad, q4k_next!(), ""),
            nibble_step!(smlad, q4k_next!(), ""),
            nibble_step!(smlad, q4k_next!(), ""),
            q4k_chunk!(@last $last),
            "strd r10, r11, [sp, #", $dots, "]\n",
        )
    };
    (@last more) => { nibble_step!(smlad, q4k_next!(), "") };
    (@last end) => { nibble_step!(smlad, "", "") };
}

macro_rules! q4k_touch { () => { concat!("ldr r8, [r12, #", q4k_lead!(), "]\n") } }
macro_rules! q4k_touch_first { () => { concat!("ldr r8, [r12, #", q4k_lead!(), " + 152]\n") } }
macro_rules! no_touch { () => { "" } }

macro_rules! q4k_kernel {
    ($name:ident, $t:ident, $t0:ident) => {
        /// See the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, pairs: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #80",
                "ldr r4, [sp, #120]",
                "str r4, [sp, #64]",
                "str r4, [sp, #68]",
                "str r1, [sp, #72]",
                kq_header_masks!(),
                "mov r7, #15",
                "orr r7, r7, #0xf0000",
                "stm sp, {{r4-r7}}",
                "str r2, [sp, #24]",
                "str r3, [sp, #28]",
                "mov r12, r0",
                "mov lr, r1",
                // ---- per block: scales, mins and the min correction ----
                "1:",
                $t0!(),
                "ldr r4, [r12, #4]",
                "ldr r5, [r12, #8]",
                "ldr r6, [r12, #12]",
                "ldm sp, {{r7, r8, r9}}",
                "add r11, lr, #512",
                "ldm r11, {{r0-r3}}",
                kq_unpack_scales_mins!(),
                "uxtb16 r4, r10",
                "uxtb16 r5, r10, ror #8",
                "uxtb16 r6, r11",
                "uxtb16 r7, r11, ror #8",
                "ldr r9, [sp, #12]",
                "smuad r10, r4, r0",
                "smuad r11, r5, r1",
                "ldr r8, [sp, #28]",
                "smlad r10, r6, r2, r10",
                "smlad r11, r7, r3, r11",
                "ldr r0, [r12], #16",            // d, dmin
                "ldr r4, [r12], #4",
                "add r10, r10, r11",
                "str r10, [r8, #4]",
                "str r0, [r8, #8]",
                // ---- 256 weights ----
                q4k_chunk!(32, more, $t),
                q4k_chunk!(40, more, $t),
                q4k_chunk!(48, more, $t),
                q4k_chunk!(56, end, $t),
                // ---- isum = Σ sc[j] · dot[j] ----
                kq_scaled_dots!(),
                "add lr, lr, #32",
                "ldr r4, [sp, #64]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #68]",
                "ldreq lr, [sp, #72]",
                "str r4, [sp, #64]",
                "add r2, r2, r3",
                "str r2, [r0], #12",
                "subs r1, r1, #1",
                "str r0, [sp, #28]",
                "str r1, [sp, #24]",
                "bne 1b",
                "add sp, sp, #80",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

q4k_kernel!(q4k_blocks, no_touch, no_touch);
q4k_kernel!(q4k_blocks_touch, q4k_touch, q4k_touch_first);
