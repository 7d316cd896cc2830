//! Q5_K superblock kernel, hand-scheduled for the ARM1176 (one row, `n` consecutive blocks).
//!
//! `extern "C" fn(w, pairs, n, out, row_blocks)` (as in `asm_q4k`: the pair pointer returns to
//! `pairs` every `row_blocks` blocks): `w` = the first 176-byte block (any alignment), `pairs`
//! = the permuted Q8_K pair blocks of the same columns (544 bytes per block, 4-aligned, the
//! 32-element sums in the tail as for Q4_K), `out` = 3 words per block: the integer sum
//! `Σ sc[j] · Σ q·x`, the min correction `Σ m[j] · bsum32[j]`, and the block's first word (the
//! f16 `d` and `dmin`).
//!
//! Inner step: [`field_step`] with r8 = 0x0F0F0F0F (the `qs` nibbles) and r9 = 0x10101010
//! (the `qh` bit of each field moved to bit 4); 8 weights in 17 cycles. The scale/min
//! prologue and the `Σ sc · dot` epilogue are those of `asm_q4k`.
//!
//! Registers: r0-r3 activation pairs, r4 `qs` word, r5 `qh` word, r6/r7 field bytes and pairs,
//! r8/r9 masks, r10/r11 the two 32-element sub-block accumulators, r12 block base, lr pair
//! pointer. Frame (sp+): 0 masks 0x3f3f3f3f, 4 0x0f0f0f0f, 8 0x03030303, 12 0x10101010; 16
//! sc[0..4], 20 sc[4..8]; 24 blocks left; 28 out pointer; 32..64 the 8 sub-block dots; 64
//! blocks left in the row, 68 `row_blocks`, 72 the first pair block.
//!
//! Touch variant: 6 byte loads per block, `TOUCH_LEAD + 29 j` bytes past the block start
//! (never more than 32 bytes apart); reads up to [`Q5K_TOUCH_REACH`] bytes past the last block.
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Bytes past the end of the last block the touch variant may read (96 + 5 * 29 + 1 - 176).
pub const Q5K_TOUCH_REACH: usize = 256;

macro_rules! q5k_touch { ($off:literal) => { concat!("ldrb r4, [r12, #", $off, "]\n") } }
macro_rules! no_touch { ($off:literal) => { "" } }

macro_rules! q5k_kernel {
    ($name:ident, $t:ident) => {
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
                "mov r7, #0x10",
                "orr r7, r7, r7, lsl #8",
                "orr r7, r7, r7, lsl #16",
                "stm sp, {{r4-r7}}",
                "str r2, [sp, #24]",
                "str r3, [sp, #28]",
                "mov r12, r0",
                "mov lr, r1",
                // ---- per block: scales, mins and the min correction ----
                "1:",
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
                "smuad r10, r4, r0",
                "smuad r11, r5, r1",
                "ldr r9, [sp, #28]",
                "smlad r10, r6, r2, r10",
                "smlad r11, r7, r3, r11",
                "ldr r0, [r12]",                 // d, dmin
                "ldr r4, [r12, #48]",
                "add r10, r10, r11",
                "ldr r5, [r12, #16]",
                "str r10, [r9, #4]",
                "str r0, [r9, #8]",
                "ldr r9, [sp, #12]",
                "ldm lr!, {{r0-r3}}",
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #4", "lsl #3", "ldr r4, [r12, #52]\n", "ldr r5, [r12, #20]\n", "ldm lr!, {{r0-r3}}\n", $t!(256), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #3", "ldr r4, [r12, #56]\n", "ldr r5, [r12, #24]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #3", "ldr r4, [r12, #60]\n", "ldr r5, [r12, #28]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #3", "ldr r4, [r12, #64]\n", "ldr r5, [r12, #32]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #3", "ldr r4, [r12, #68]\n", "ldr r5, [r12, #36]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #3", "ldr r4, [r12, #72]\n", "ldr r5, [r12, #40]\n", "ldm lr!, {{r0-r3}}\n", $t!(285), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #3", "ldr r4, [r12, #76]\n", "ldr r5, [r12, #44]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #3", "ldr r4, [r12, #80]\n", "ldr r5, [r12, #16]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #32]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #2", "lsl #1", "ldr r4, [r12, #84]\n", "ldr r5, [r12, #20]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsl #1", "ldr r4, [r12, #88]\n", "ldr r5, [r12, #24]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsl #1", "ldr r4, [r12, #92]\n", "ldr r5, [r12, #28]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsl #1", "ldr r4, [r12, #96]\n", "ldr r5, [r12, #32]\n", "ldm lr!, {{r0-r3}}\n", $t!(314), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsl #1", "ldr r4, [r12, #100]\n", "ldr r5, [r12, #36]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsl #1", "ldr r4, [r12, #104]\n", "ldr r5, [r12, #40]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsl #1", "ldr r4, [r12, #108]\n", "ldr r5, [r12, #44]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsl #1", "ldr r4, [r12, #112]\n", "ldr r5, [r12, #16]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #40]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #0", "lsr #1", "ldr r4, [r12, #116]\n", "ldr r5, [r12, #20]\n", "ldm lr!, {{r0-r3}}\n", $t!(343), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #0", "lsr #1", "ldr r4, [r12, #120]\n", "ldr r5, [r12, #24]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #0", "lsr #1", "ldr r4, [r12, #124]\n", "ldr r5, [r12, #28]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #0", "lsr #1", "ldr r4, [r12, #128]\n", "ldr r5, [r12, #32]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #0", "lsr #1", "ldr r4, [r12, #132]\n", "ldr r5, [r12, #36]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #0", "lsr #1", "ldr r4, [r12, #136]\n", "ldr r5, [r12, #40]\n", "ldm lr!, {{r0-r3}}\n", $t!(372), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #0", "lsr #1", "ldr r4, [r12, #140]\n", "ldr r5, [r12, #44]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #0", "lsr #1", "ldr r4, [r12, #144]\n", "ldr r5, [r12, #16]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #48]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsr #2", "lsr #3", "ldr r4, [r12, #148]\n", "ldr r5, [r12, #20]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsr #2", "lsr #3", "ldr r4, [r12, #152]\n", "ldr r5, [r12, #24]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsr #2", "lsr #3", "ldr r4, [r12, #156]\n", "ldr r5, [r12, #28]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsr #2", "lsr #3", "ldr r4, [r12, #160]\n", "ldr r5, [r12, #32]\n", "ldm lr!, {{r0-r3}}\n", $t!(401), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsr #2", "lsr #3", "ldr r4, [r12, #164]\n", "ldr r5, [r12, #36]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsr #2", "lsr #3", "ldr r4, [r12, #168]\n", "ldr r5, [r12, #40]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsr #2", "lsr #3", "ldr r4, [r12, #172]\n", "ldr r5, [r12, #44]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsr #2", "lsr #3", "", "", "", "", "strd r10, r11, [sp, #56]\n"),
                // ---- isum = Σ sc[j] · dot[j] ----
                kq_scaled_dots!(),
                "add lr, lr, #32",
                "ldr r4, [sp, #64]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #68]",
                "ldreq lr, [sp, #72]",
                "str r4, [sp, #64]",
                "add r12, r12, #176",
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

q5k_kernel!(q5k_blocks, no_touch);
q5k_kernel!(q5k_blocks_touch, q5k_touch);
