//! Q6_K superblock kernel, hand-scheduled for the ARM1176 (one row, `n` consecutive blocks).
//!
//! `extern "C" fn(w, pairs, n, out, row_blocks)` (as in `asm_q4k`: the pair pointer returns to
//! `pairs` every `row_blocks` blocks): `w` = the first 210-byte block (any alignment), `pairs`
//! = the permuted Q8_K pair blocks of the same columns (544 bytes per block, 4-aligned; the
//! last 32 bytes hold the 16 block sums as `(bs[4k], bs[4k+2])`, `(bs[4k+1], bs[4k+3])`
//! pairs), `out` = 2 words per block: the integer sum `Σ sc[j] · (Σ q·x − 32 · bsum[j])` and
//! the f16 `d`.
//!
//! Inner step (8 weights: one `ql` word, the matching `qh` word, 17 cycles with no interlock
//! under the ARM1176 timing): the low-field bytes `(ql & 0x0F0F0F0F) | ((qh << k) & 0x30303030)`
//! and the high-field bytes likewise, each split into two i16 pairs by `UXTB16` (rotations 0
//! and 8), 4 `SMLAD` against one `LDM` of activation pairs. The next step's words are loaded
//! in the gaps; the accumulators alternate so each `SMLAD` chain link is 2+ cycles apart.
//!
//! Registers: r0-r3 activation pairs, r4 `ql` word, r5 `qh` word, r6/r7 field bytes and
//! pairs, r8 0x0F0F0F0F, r9 0x30303030, r10/r11 the two 16-element sub-block accumulators,
//! r12 block base, lr pair pointer. Frame (sp+): 0 the masks, 8 blocks left, 12 out pointer,
//! 16..80 the 16 sub-block dots as `(dot[8a+g], dot[8a+4+g])` for `j = 4a + g`; 80 blocks
//! left in the row, 84 `row_blocks`, 88 the first pair block.
//!
//! Touch variant: 8 byte loads per block (one per 16-element group) `TOUCH_LEAD + 27 j`
//! bytes past the block start, never more than 32 bytes apart, so every weight line is
//! requested ahead of use (the cost model ignores `PLD`). It reads up to [`Q6K_TOUCH_REACH`]
//! bytes past the last block.
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Bytes past the end of the last block the touch variant may read (96 + 7 * 27 + 1 - 210).
pub const Q6K_TOUCH_REACH: usize = 256;

macro_rules! q6k_touch { ($off:literal) => { concat!("ldrb r4, [r12, #", $off, "]\n") } }
macro_rules! no_touch { ($off:literal) => { "" } }

macro_rules! q6k_kernel {
    ($name:ident, $t:ident) => {
        /// See the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, pairs: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #96",
                "ldr r4, [sp, #136]",
                "str r4, [sp, #80]",
                "str r4, [sp, #84]",
                "str r1, [sp, #88]",
                "mov r4, #0x0f",
                "orr r4, r4, r4, lsl #8",
                "orr r4, r4, r4, lsl #16",
                "mov r5, #0x30",
                "orr r5, r5, r5, lsl #8",
                "orr r5, r5, r5, lsl #16",
                "strd r4, r5, [sp]",
                "strd r2, r3, [sp, #8]",
                "mov r12, r0",
                "mov lr, r1",
                "1:",
                "ldr r4, [r12]",
                "ldr r5, [r12, #128]",
                "ldrd r8, r9, [sp]",
                "ldm lr!, {{r0-r3}}",
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #4]\n", "ldr r5, [r12, #132]\n", "ldm lr!, {{r0-r3}}\n", $t!(256), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #8]\n", "ldr r5, [r12, #136]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #12]\n", "ldr r5, [r12, #140]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #16]\n", "ldr r5, [r12, #144]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #16]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #20]\n", "ldr r5, [r12, #148]\n", "ldm lr!, {{r0-r3}}\n", $t!(283), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #24]\n", "ldr r5, [r12, #152]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #28]\n", "ldr r5, [r12, #156]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #32]\n", "ldr r5, [r12, #128]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #24]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #36]\n", "ldr r5, [r12, #132]\n", "ldm lr!, {{r0-r3}}\n", $t!(310), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #40]\n", "ldr r5, [r12, #136]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #44]\n", "ldr r5, [r12, #140]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #48]\n", "ldr r5, [r12, #144]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #32]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #52]\n", "ldr r5, [r12, #148]\n", "ldm lr!, {{r0-r3}}\n", $t!(337), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #56]\n", "ldr r5, [r12, #152]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #60]\n", "ldr r5, [r12, #156]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #64]\n", "ldr r5, [r12, #160]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #40]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #68]\n", "ldr r5, [r12, #164]\n", "ldm lr!, {{r0-r3}}\n", $t!(364), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #72]\n", "ldr r5, [r12, #168]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #76]\n", "ldr r5, [r12, #172]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #80]\n", "ldr r5, [r12, #176]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #48]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #84]\n", "ldr r5, [r12, #180]\n", "ldm lr!, {{r0-r3}}\n", $t!(391), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #88]\n", "ldr r5, [r12, #184]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #92]\n", "ldr r5, [r12, #188]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #4", "lsl #0", "ldr r4, [r12, #96]\n", "ldr r5, [r12, #160]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #56]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #100]\n", "ldr r5, [r12, #164]\n", "ldm lr!, {{r0-r3}}\n", $t!(418), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #104]\n", "ldr r5, [r12, #168]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #108]\n", "ldr r5, [r12, #172]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #112]\n", "ldr r5, [r12, #176]\n", "ldm lr!, {{r0-r3}}\n", "", "strd r10, r11, [sp, #64]\n"),
                field_step!(smuad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #116]\n", "ldr r5, [r12, #180]\n", "ldm lr!, {{r0-r3}}\n", $t!(445), ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #120]\n", "ldr r5, [r12, #184]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "ldr r4, [r12, #124]\n", "ldr r5, [r12, #188]\n", "ldm lr!, {{r0-r3}}\n", "", ""),
                field_step!(smlad, "lsl #0", "lsr #4", "lsl #2", "lsr #2", "", "", "", "", "strd r10, r11, [sp, #72]\n"),
                // ---- Σ sc · bsum (the −32 code offset), from the pair block's tail ----
                "ldm lr!, {{r0-r3}}",
                "ldr r4, [r12, #192]",
                "ldr r5, [r12, #196]",
                "ldr r6, [r12, #200]",
                "ldr r7, [r12, #204]",
                "sxtb16 r8, r4",
                "sxtb16 r9, r4, ror #8",
                "smuad r10, r8, r0",
                "smuad r11, r9, r1",
                "sxtb16 r8, r5",
                "sxtb16 r9, r5, ror #8",
                "smlad r10, r8, r2, r10",
                "smlad r11, r9, r3, r11",
                "ldm lr!, {{r0-r3}}",
                "sxtb16 r8, r6",
                "sxtb16 r9, r6, ror #8",
                "smlad r10, r8, r0, r10",
                "smlad r11, r9, r1, r11",
                "sxtb16 r8, r7",
                "sxtb16 r9, r7, ror #8",
                "smlad r10, r8, r2, r10",
                "smlad r11, r9, r3, r11",
                "add r11, r10, r11",
                // ---- Σ sc · dot: r0 (sub-blocks 0-3, 8-11) and r1 (4-7, 12-15) ----
                "add r10, sp, #16",
                "ldm r10!, {{r0-r3}}",
                "sxtb r8, r4",
                "sxtb r9, r5",
                "mul r0, r8, r0",
                "sxtb r8, r4, ror #8",
                "mul r1, r9, r1",
                "sxtb r9, r5, ror #8",
                "mla r0, r8, r2, r0",
                "mla r1, r9, r3, r1",
                "ldm r10!, {{r2, r3}}",
                "sxtb r8, r4, ror #16",
                "sxtb r9, r5, ror #16",
                "mla r0, r8, r2, r0",
                "mla r1, r9, r3, r1",
                "ldm r10!, {{r2, r3}}",
                "sxtb r8, r4, ror #24",
                "sxtb r9, r5, ror #24",
                "mla r0, r8, r2, r0",
                "mla r1, r9, r3, r1",
                "ldm r10!, {{r2, r3}}",
                "sxtb r8, r6",
                "sxtb r9, r7",
                "mla r0, r8, r2, r0",
                "mla r1, r9, r3, r1",
                "ldm r10!, {{r2, r3}}",
                "sxtb r8, r6, ror #8",
                "sxtb r9, r7, ror #8",
                "mla r0, r8, r2, r0",
                "mla r1, r9, r3, r1",
                "ldm r10!, {{r2, r3}}",
                "sxtb r8, r6, ror #16",
                "sxtb r9, r7, ror #16",
                "mla r0, r8, r2, r0",
                "mla r1, r9, r3, r1",
                "ldm r10!, {{r2, r3}}",
                "sxtb r8, r6, ror #24",
                "sxtb r9, r7, ror #24",
                "mla r0, r8, r2, r0",
                "mla r1, r9, r3, r1",
                "add r0, r0, r1",
                "sub r0, r0, r11, lsl #5",
                "ldr r4, [sp, #80]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #84]",
                "ldreq lr, [sp, #88]",
                "str r4, [sp, #80]",
                "ldrh r1, [r12, #208]",
                "ldrd r2, r3, [sp, #8]",
                "add r12, r12, #210",
                "strd r0, r1, [r3], #8",
                "subs r2, r2, #1",
                "strd r2, r3, [sp, #8]",
                "bne 1b",
                "add sp, sp, #96",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

q6k_kernel!(q6k_blocks, no_touch);
q6k_kernel!(q6k_blocks_touch, q6k_touch);
