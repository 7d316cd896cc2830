//! Q2_K and Q3_K superblock kernels, hand-scheduled for the ARM1176 (one row, `n`
//! consecutive blocks).
//!
//! `extern "C" fn(w, pairs, n, out, row_blocks)` (as in `asm_q4k`: the pair pointer returns to
//! `pairs` every `row_blocks` blocks): `w` = the first block (84 / 110 bytes, any alignment),
//! `pairs` = the permuted Q8_K pair blocks (544 bytes per block, 4-aligned, in the 2-bit
//! order of `q8::pair_index`, the 16-element sums in the tail), `out` = per block
//! Q2_K: `[Σ sc·dot, Σ min·bsum, d | dmin << 16]`; Q3_K: `[Σ sc·(dot − 4·bsum), d]`.
//!
//! Each step reads one quant word and two of its four 2-bit fields, so the two accumulators
//! (r10, r11) each cover one 16-element sub-block over 4 steps. Those dots fit in 16 bits
//! (|3 or 7 · 128 · 16| < 32768), so a group stores them packed (`PKHBT`) and the epilogue
//! applies the scales with one `SMLAD` per pair of sub-blocks. Q2_K steps: [`mask_step`]
//! (mask 0x00030003, 10 cycles per 8 weights); Q3_K steps: [`field_step`] (r8 = 0x03030303
//! for the code, r9 = 0x04040404 for the `hmask` bit, 17 cycles per 8 weights).
//!
//! Touch variants: byte loads `TOUCH_LEAD + 28 j` bytes past each block start (3 per Q2_K
//! block, 4 per Q3_K block, never more than 32 bytes apart); they read up to
//! [`K23_TOUCH_REACH`] bytes past the last block.
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Bytes past the end of the last block the touch variants may read.
pub const K23_TOUCH_REACH: usize = 256;

macro_rules! q2k_touch { ($off:literal) => { concat!("ldrb r8, [r12, #", $off, "]\n") } }
macro_rules! q3k_touch { ($off:literal) => { concat!("ldrb r4, [r12, #", $off, "]\n") } }
macro_rules! no_touch { ($off:literal) => { "" } }

macro_rules! q2k_kernel {
    ($name:ident, $t:ident) => {
        /// Q2_K: see the module doc. Frame (sp+): 0 0x000F000F, 8 blocks left, 12 out
        /// pointer, 16..48 the packed sub-block dots of the 8 groups, 48 blocks left in the
        /// row, 52 blocks per row, 56 the first pair block.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, pairs: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #64",
                "ldr r4, [sp, #104]",
                "str r4, [sp, #48]",
                "str r4, [sp, #52]",
                "str r1, [sp, #56]",
                "mov r4, #15",
                "orr r4, r4, #0xf0000",
                "str r4, [sp]",
                "str r2, [sp, #8]",
                "str r3, [sp, #12]",
                "mov r12, r0",
                "mov lr, r1",
                "1:",
                "ldr r4, [r12, #16]",
                "mov r9, #3",
                "orr r9, r9, #0x30000",
                mask_step!(smuad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #20]\n", $t!(256), ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #24]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #28]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #16]\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #16]\n"),
                mask_step!(smuad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #20]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #24]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #28]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #32]\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #20]\n"),
                mask_step!(smuad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #36]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #40]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #44]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #32]\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #24]\n"),
                mask_step!(smuad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #36]\n", $t!(284), ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #40]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #44]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #48]\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #28]\n"),
                mask_step!(smuad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #52]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #56]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #60]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #48]\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #32]\n"),
                mask_step!(smuad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #52]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #56]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #60]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #64]\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #36]\n"),
                mask_step!(smuad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #68]\n", $t!(312), ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #72]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #76]\n", "", ""),
                mask_step!(smlad, "lsl #0", "lsr #2", "lsr #8", "lsr #10", "ldr r4, [r12, #64]\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #40]\n"),
                mask_step!(smuad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #68]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #72]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "ldr r4, [r12, #76]\n", "", ""),
                mask_step!(smlad, "lsr #4", "lsr #6", "lsr #12", "lsr #14", "", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #44]\n"),
                // ---- Σ min · bsum from the tail, then Σ sc · dot ----
                "ldr r9, [sp]",
                "ldm lr!, {{r0-r3}}",
                "ldr r4, [r12]",
                "ldr r5, [r12, #4]",
                "ldr r6, [r12, #8]",
                "ldr r7, [r12, #12]",
                "and r8, r9, r4, lsr #4",
                "smuad r10, r8, r0",
                "and r8, r9, r4, lsr #12",
                "smuad r11, r8, r1",
                "and r8, r9, r5, lsr #4",
                "smlad r10, r8, r2, r10",
                "and r8, r9, r5, lsr #12",
                "smlad r11, r8, r3, r11",
                "ldm lr!, {{r0-r3}}",
                "and r8, r9, r6, lsr #4",
                "smlad r10, r8, r0, r10",
                "and r8, r9, r6, lsr #12",
                "smlad r11, r8, r1, r11",
                "and r8, r9, r7, lsr #4",
                "smlad r10, r8, r2, r10",
                "and r8, r9, r7, lsr #12",
                "smlad r11, r8, r3, r11",
                "ldr r0, [sp, #12]",
                "add r10, r10, r11",
                "ldr r1, [r12, #80]",
                "str r10, [r0, #4]",
                "str r1, [r0, #8]",
                "add r11, sp, #16",
                "ldm r11!, {{r0-r3}}",
                "and r8, r9, r4",
                "smuad r10, r8, r0",
                "and r8, r9, r5",
                "smlad r10, r8, r1, r10",
                "and r8, r9, r4, lsr #8",
                "smlad r10, r8, r2, r10",
                "and r8, r9, r5, lsr #8",
                "smlad r10, r8, r3, r10",
                "ldm r11, {{r0-r3}}",
                "and r8, r9, r6",
                "smlad r10, r8, r0, r10",
                "and r8, r9, r7",
                "smlad r10, r8, r1, r10",
                "and r8, r9, r6, lsr #8",
                "smlad r10, r8, r2, r10",
                "and r8, r9, r7, lsr #8",
                "smlad r10, r8, r3, r10",
                "ldr r4, [sp, #48]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #52]",
                "ldreq lr, [sp, #56]",
                "str r4, [sp, #48]",
                "ldrd r0, r1, [sp, #8]",
                "add r12, r12, #84",
                "str r10, [r1], #12",
                "subs r0, r0, #1",
                "strd r0, r1, [sp, #8]",
                "bne 1b",
                "add sp, sp, #64",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

macro_rules! q3k_kernel {
    ($name:ident, $t:ident) => {
        /// Q3_K: see the module doc. Frame (sp+): 0 0x0F0F0F0F, 4 0x30303030, 8 0x20202020,
        /// 12 blocks left, 16 0x03030303, 20 0x04040404, 24 out pointer, 28..60 the packed
        /// sub-block dots of the 8 groups, 64 blocks left in the row, 68 blocks per row, 72
        /// the first pair block.
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
                "mov r4, #0x0f",
                "orr r4, r4, r4, lsl #8",
                "orr r4, r4, r4, lsl #16",
                "mov r5, #0x30",
                "orr r5, r5, r5, lsl #8",
                "orr r5, r5, r5, lsl #16",
                "mov r6, #0x20",
                "orr r6, r6, r6, lsl #8",
                "orr r6, r6, r6, lsl #16",
                "mov r7, #0x03",
                "orr r7, r7, r7, lsl #8",
                "orr r7, r7, r7, lsl #16",
                "mov r8, #0x04",
                "orr r8, r8, r8, lsl #8",
                "orr r8, r8, r8, lsl #16",
                "stm sp, {{r4-r6}}",
                "str r2, [sp, #12]",
                "str r7, [sp, #16]",
                "str r8, [sp, #20]",
                "str r3, [sp, #24]",
                "mov r12, r0",
                "mov lr, r1",
                "1:",
                "ldr r4, [r12, #32]",
                "ldr r5, [r12]",
                "ldrd r8, r9, [sp, #16]",
                "ldm lr!, {{r0-r3}}",
                field_step!(smuad, "lsl #0", "lsr #2", "lsl #2", "lsl #1", "ldr r4, [r12, #36]\n", "ldr r5, [r12, #4]\n", "ldm lr!, {{r0-r3}}\n", $t!(256), ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsl #2", "lsl #1", "ldr r4, [r12, #40]\n", "ldr r5, [r12, #8]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsl #2", "lsl #1", "ldr r4, [r12, #44]\n", "ldr r5, [r12, #12]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsl #2", "lsl #1", "ldr r4, [r12, #32]\n", "ldr r5, [r12, #0]\n", "ldm lr!, {{r0-r3}}\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #28]\n"),
                field_step!(smuad, "lsr #4", "lsr #6", "lsl #0", "lsr #1", "ldr r4, [r12, #36]\n", "ldr r5, [r12, #4]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsl #0", "lsr #1", "ldr r4, [r12, #40]\n", "ldr r5, [r12, #8]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsl #0", "lsr #1", "ldr r4, [r12, #44]\n", "ldr r5, [r12, #12]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsl #0", "lsr #1", "ldr r4, [r12, #48]\n", "ldr r5, [r12, #16]\n", "ldm lr!, {{r0-r3}}\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #32]\n"),
                field_step!(smuad, "lsl #0", "lsr #2", "lsl #2", "lsl #1", "ldr r4, [r12, #52]\n", "ldr r5, [r12, #20]\n", "ldm lr!, {{r0-r3}}\n", $t!(284), ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsl #2", "lsl #1", "ldr r4, [r12, #56]\n", "ldr r5, [r12, #24]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsl #2", "lsl #1", "ldr r4, [r12, #60]\n", "ldr r5, [r12, #28]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsl #2", "lsl #1", "ldr r4, [r12, #48]\n", "ldr r5, [r12, #16]\n", "ldm lr!, {{r0-r3}}\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #36]\n"),
                field_step!(smuad, "lsr #4", "lsr #6", "lsl #0", "lsr #1", "ldr r4, [r12, #52]\n", "ldr r5, [r12, #20]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsl #0", "lsr #1", "ldr r4, [r12, #56]\n", "ldr r5, [r12, #24]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsl #0", "lsr #1", "ldr r4, [r12, #60]\n", "ldr r5, [r12, #28]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsl #0", "lsr #1", "ldr r4, [r12, #64]\n", "ldr r5, [r12, #0]\n", "ldm lr!, {{r0-r3}}\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #40]\n"),
                field_step!(smuad, "lsl #0", "lsr #2", "lsr #2", "lsr #3", "ldr r4, [r12, #68]\n", "ldr r5, [r12, #4]\n", "ldm lr!, {{r0-r3}}\n", $t!(312), ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsr #2", "lsr #3", "ldr r4, [r12, #72]\n", "ldr r5, [r12, #8]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsr #2", "lsr #3", "ldr r4, [r12, #76]\n", "ldr r5, [r12, #12]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsr #2", "lsr #3", "ldr r4, [r12, #64]\n", "ldr r5, [r12, #0]\n", "ldm lr!, {{r0-r3}}\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #44]\n"),
                field_step!(smuad, "lsr #4", "lsr #6", "lsr #4", "lsr #5", "ldr r4, [r12, #68]\n", "ldr r5, [r12, #4]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsr #4", "lsr #5", "ldr r4, [r12, #72]\n", "ldr r5, [r12, #8]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsr #4", "lsr #5", "ldr r4, [r12, #76]\n", "ldr r5, [r12, #12]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsr #4", "lsr #5", "ldr r4, [r12, #80]\n", "ldr r5, [r12, #16]\n", "ldm lr!, {{r0-r3}}\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #48]\n"),
                field_step!(smuad, "lsl #0", "lsr #2", "lsr #2", "lsr #3", "ldr r4, [r12, #84]\n", "ldr r5, [r12, #20]\n", "ldm lr!, {{r0-r3}}\n", $t!(340), ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsr #2", "lsr #3", "ldr r4, [r12, #88]\n", "ldr r5, [r12, #24]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsr #2", "lsr #3", "ldr r4, [r12, #92]\n", "ldr r5, [r12, #28]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #2", "lsr #2", "lsr #3", "ldr r4, [r12, #80]\n", "ldr r5, [r12, #16]\n", "ldm lr!, {{r0-r3}}\n", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #52]\n"),
                field_step!(smuad, "lsr #4", "lsr #6", "lsr #4", "lsr #5", "ldr r4, [r12, #84]\n", "ldr r5, [r12, #20]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsr #4", "lsr #5", "ldr r4, [r12, #88]\n", "ldr r5, [r12, #24]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsr #4", "lsr #5", "ldr r4, [r12, #92]\n", "ldr r5, [r12, #28]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsr #4", "lsr #6", "lsr #4", "lsr #5", "", "", "", "", "pkhbt r10, r10, r11, lsl #16\nstr r10, [sp, #56]\n"),
                // ---- the 16 scales as signed bytes W0..W3 (r0..r3) ----
                "ldr r4, [r12, #96]",
                "ldr r5, [r12, #100]",
                "ldr r6, [r12, #104]",
                "ldrd r8, r9, [sp]",
                q3k_scale_bytes!(),
                "ldr r9, [sp, #8]",
                "usub8 r0, r0, r9",
                "usub8 r1, r1, r9",
                "usub8 r2, r2, r9",
                "usub8 r3, r3, r9",
                // ---- Σ sc · bsum from the tail ----
                "ldm lr!, {{r4-r7}}",
                "sxtb16 r8, r0",
                "smuad r10, r8, r4",
                "sxtb16 r8, r0, ror #8",
                "smuad r11, r8, r5",
                "sxtb16 r8, r1",
                "smlad r10, r8, r6, r10",
                "sxtb16 r8, r1, ror #8",
                "smlad r11, r8, r7, r11",
                "ldm lr!, {{r4-r7}}",
                "sxtb16 r8, r2",
                "smlad r10, r8, r4, r10",
                "sxtb16 r8, r2, ror #8",
                "smlad r11, r8, r5, r11",
                "sxtb16 r8, r3",
                "smlad r10, r8, r6, r10",
                "sxtb16 r8, r3, ror #8",
                "smlad r11, r8, r7, r11",
                "add r9, r10, r11",
                // ---- Σ sc · dot ----
                "add r11, sp, #28",
                "ldm r11!, {{r4-r7}}",
                "sxtb16 r8, r0",
                "smuad r10, r8, r4",
                "sxtb16 r8, r1",
                "smlad r10, r8, r5, r10",
                "sxtb16 r8, r0, ror #8",
                "smlad r10, r8, r6, r10",
                "sxtb16 r8, r1, ror #8",
                "smlad r10, r8, r7, r10",
                "ldm r11, {{r4-r7}}",
                "sxtb16 r8, r2",
                "smlad r10, r8, r4, r10",
                "sxtb16 r8, r3",
                "smlad r10, r8, r5, r10",
                "sxtb16 r8, r2, ror #8",
                "smlad r10, r8, r6, r10",
                "sxtb16 r8, r3, ror #8",
                "smlad r10, r8, r7, r10",
                "sub r10, r10, r9, lsl #2",
                "ldr r4, [sp, #64]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #68]",
                "ldreq lr, [sp, #72]",
                "str r4, [sp, #64]",
                "ldrh r11, [r12, #108]",
                "ldr r0, [sp, #24]",
                "ldr r1, [sp, #12]",
                "add r12, r12, #110",
                "strd r10, r11, [r0], #8",
                "subs r1, r1, #1",
                "str r0, [sp, #24]",
                "str r1, [sp, #12]",
                "bne 1b",
                "add sp, sp, #80",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

q2k_kernel!(q2k_blocks, no_touch);
q2k_kernel!(q2k_blocks_touch, q2k_touch);
q3k_kernel!(q3k_blocks, no_touch);
q3k_kernel!(q3k_blocks_touch, q3k_touch);
