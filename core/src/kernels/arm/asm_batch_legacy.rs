//! Q4_1, Q4_0 and Q8_0 block kernels for four prompt tokens at once, hand-scheduled for the
//! ARM1176: each weight word is loaded and its nibbles (or bytes) extracted once, then
//! multiplied with the activations of all four tokens (the single-token kernels,
//! `asm_legacy`, extract every word again for every token).
//!
//! `extern "C" fn(w, acts, n, out, row_blocks, lead)`: `w` = the first of `n` consecutive weight
//! blocks of one type (any alignment); `acts` = the four tokens' pair blocks interleaved by
//! the driver (`batch::interleave_legacy`: [`BATCH_LEGACY_ACT_BYTES`] per block, 8-aligned;
//! the pointer returns to `acts` after every `row_blocks` blocks, so `n` may span several
//! rows); `out` = 5 words per block: the block's scale field (Q4_1: the word of the f16 `d`
//! and `m`; Q4_0, Q8_0: the f16 `d` zero-extended), then the integer dots `Σ q·x` of tokens
//! 0..4 (unsigned codes for Q4_0: the driver subtracts `8·Σ x`, as for `asm_legacy`). The
//! sums are exact, so they equal the single-token kernel's.
//!
//! The interleaved block: 8 steps of 8 words. A step covers 4 weights: the two pairs
//! extracted from one weight word (Q4: its low nibbles or its high nibbles, Q8_0: its bytes
//! 0/2 and 1/3) and, for each token, the pair words `2s` and `2s + 1` of its block
//! (`q8::legacy_pair_index` puts them in that order), stored as tokens 0 and 1's word `2s`,
//! then their word `2s + 1`, then the same for tokens 2 and 3: each `LDM` of two words feeds
//! two tokens' `SMLAD`s with one extracted pair.
//!
//! Inner step (4 weights × 4 tokens, [`l4_step`], no interlock under the ARM1176 timing):
//! 8 `SMLAD` (each token's chain 3 or more cycles apart), 4 two-word `LDM` (never adjacent:
//! the written-back base reaches the next `LDM` a cycle late; each result first used 3 or
//! more cycles later), the two extractions for the next step once their registers are
//! free, and a weight word for a later step (Q4: the next word, in each low-nibble step;
//! Q8_0: the word after the next one, in each step; an unaligned `LDR` holds the load/store
//! unit 2 cycles: the next `LDM` is 3 later). 14 cycles per step, 15 with the word load: a Q4
//! word (8 weights × 4 tokens) takes 29 cycles, a Q8_0 word (4 × 4) 15, against 10 and 5.5
//! per token in `asm_legacy`.
//!
//! Registers: r0-r3 activation pairs, r4 weight word, r5/r6 extracted pairs, r7/r8/r10/r11
//! the four tokens' accumulators, r9 the mask 0x000F000F (Q4), r12 block base, lr
//! activation pointer. Frame (sp+): 0 out pointer, 4 blocks left, 8 blocks left in the row,
//! 12 `row_blocks`, 16 the first interleaved block, 20 `lead`.
//!
//! Touch variants: a byte load into r7 (dead until the block's first `SMUAD`) `lead` bytes
//! past each block start, so every weight line is requested ahead of use: the driver passes
//! a fixed distance ahead in a run of whole rows, and the row length when a call covers a
//! segment of one row (the next call reads the next row's segment). They read up to `lead`
//! bytes past the last block. The plain variants ignore `lead`.
#![allow(unsafe_code)]

use core::arch::naked_asm;


/// Bytes of one interleaved block (`acts` above): 8 steps × 8 words.
pub const BATCH_LEGACY_ACT_BYTES: usize = 4 * 8 * 8;

/// One step. `smuad` starts the block's accumulators. `next, $x0, $x1, $ld`: the next
/// step's pair words are loaded, `$x0`/`$x1` extract its pairs from r4 into r5/r6, `$ld`
/// loads a weight word into r4 (or nothing); `last` ends the block after the 8 products.
macro_rules! l4_step {
    (smuad, $($rest:tt)*) => {
        l4_step!(@body "smuad r7, r5, r0\n", "smuad r8, r5, r1\n", "smuad r10, r5, r0\n", "smuad r11, r5, r1\n", $($rest)*)
    };
    (smlad, $($rest:tt)*) => {
        l4_step!(@body "smlad r7, r5, r0, r7\n", "smlad r8, r5, r1, r8\n", "smlad r10, r5, r0, r10\n", "smlad r11, r5, r1, r11\n", $($rest)*)
    };
    (@body $a7:expr, $a8:expr, $a10:expr, $a11:expr, next, $x0:expr, $x1:expr, $ld:expr) => {
        concat!(
            $a7,
            $a8,
            "ldm lr!, {{r0, r1}}\n",
            "smlad r7, r6, r2, r7\n",
            "smlad r8, r6, r3, r8\n",
            "ldm lr!, {{r2, r3}}\n",
            $a10,
            $a11,
            "ldm lr!, {{r0, r1}}\n",
            "smlad r10, r6, r2, r10\n",
            $x0, "\n",
            "smlad r11, r6, r3, r11\n",
            "ldm lr!, {{r2, r3}}\n",
            $x1, "\n",
            $ld,
        )
    };
    (@body $a7:expr, $a8:expr, $a10:expr, $a11:expr, last) => {
        concat!(
            $a7,
            $a8,
            "ldm lr!, {{r0, r1}}\n",
            "smlad r7, r6, r2, r7\n",
            "smlad r8, r6, r3, r8\n",
            "ldm lr!, {{r2, r3}}\n",
            $a10,
            $a11,
            "smlad r10, r6, r2, r10\n",
            "smlad r11, r6, r3, r11\n",
        )
    };
}

/// The 8 steps of a Q4 block whose quant words start at byte `$q` (Q4_1: 4, Q4_0: 2): per
/// word a low-nibble step (which loads the next word) and a high-nibble step.
macro_rules! q4_steps {
    ($q:literal) => {
        concat!(
            l4_step!(smuad, next, "and r5, r9, r4, lsr #4", "and r6, r9, r4, lsr #12", concat!("ldr r4, [r12, #", $q, " + 4]\n")),
            l4_step!(smlad, next, "and r5, r9, r4", "and r6, r9, r4, lsr #8", ""),
            l4_step!(smlad, next, "and r5, r9, r4, lsr #4", "and r6, r9, r4, lsr #12", concat!("ldr r4, [r12, #", $q, " + 8]\n")),
            l4_step!(smlad, next, "and r5, r9, r4", "and r6, r9, r4, lsr #8", ""),
            l4_step!(smlad, next, "and r5, r9, r4, lsr #4", "and r6, r9, r4, lsr #12", concat!("ldr r4, [r12, #", $q, " + 12]\n")),
            l4_step!(smlad, next, "and r5, r9, r4", "and r6, r9, r4, lsr #8", ""),
            l4_step!(smlad, next, "and r5, r9, r4, lsr #4", "and r6, r9, r4, lsr #12", ""),
            l4_step!(smlad, last),
        )
    };
}

/// The 8 steps of a Q8_0 block (quant words at bytes 2, 6, .., 30): step `s` extracts word
/// `s + 1` (already in r4) and loads word `s + 2`.
macro_rules! q8_steps {
    () => {
        concat!(
            l4_step!(smuad, next, "sxtb16 r5, r4", "sxtb16 r6, r4, ror #8", "ldr r4, [r12, #10]\n"),
            l4_step!(smlad, next, "sxtb16 r5, r4", "sxtb16 r6, r4, ror #8", "ldr r4, [r12, #14]\n"),
            l4_step!(smlad, next, "sxtb16 r5, r4", "sxtb16 r6, r4, ror #8", "ldr r4, [r12, #18]\n"),
            l4_step!(smlad, next, "sxtb16 r5, r4", "sxtb16 r6, r4, ror #8", "ldr r4, [r12, #22]\n"),
            l4_step!(smlad, next, "sxtb16 r5, r4", "sxtb16 r6, r4, ror #8", "ldr r4, [r12, #26]\n"),
            l4_step!(smlad, next, "sxtb16 r5, r4", "sxtb16 r6, r4, ror #8", "ldr r4, [r12, #30]\n"),
            l4_step!(smlad, next, "sxtb16 r5, r4", "sxtb16 r6, r4, ror #8", ""),
            l4_step!(smlad, last),
        )
    };
}

/// The touch variants' loads: the lead from the frame into r7, then (after the first step's
/// loads) a byte at that distance from the block.
macro_rules! l4_touch { (pre) => { "ldr r7, [sp, #20]\n" }; (post) => { "ldrb r7, [r12, r7]\n" } }
macro_rules! l4_no_touch { (pre) => { "" }; (post) => { "" } }

/// A kernel: `$first` loads the block's first pairs and words and extracts the first step's
/// pairs, `$steps` the 8 steps, `$head` loads the scale field into r1 and moves r12 to the
/// next block.
macro_rules! l4_kernel {
    ($name:ident, $t:ident, $first:expr, $steps:expr, $head:literal) => {
        /// See the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, acts: *const u8, n: u32, out: *mut i32, row_blocks: u32, lead: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #24",
                "ldr r4, [sp, #64]",
                "ldr r5, [sp, #68]",
                "str r5, [sp, #20]",
                "str r3, [sp]",
                "str r2, [sp, #4]",
                "str r4, [sp, #8]",
                "str r4, [sp, #12]",
                "str r1, [sp, #16]",
                "mov r9, #15",
                "orr r9, r9, #0xf0000",
                "mov r12, r0",
                "mov lr, r1",
                "1:",
                $t!(pre),
                $first,
                $t!(post),
                $steps,
                // ---- the scale field and the four dots out, then the next block ----
                $head,
                "ldr r0, [sp]",
                "ldr r2, [sp, #8]",
                "stm r0!, {{r1, r7, r8, r10, r11}}",
                "subs r2, r2, #1",
                "ldreq r2, [sp, #12]",
                "ldreq lr, [sp, #16]",
                "str r0, [sp]",
                "str r2, [sp, #8]",
                "ldr r3, [sp, #4]",
                "subs r3, r3, #1",
                "str r3, [sp, #4]",
                "bne 1b",
                "add sp, sp, #24",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

/// The first step's loads of a Q4 block (first quant word at byte `$q`).
macro_rules! q4_first {
    ($q:literal) => {
        concat!(
            "ldm lr!, {{r0, r1}}\n",
            "ldr r4, [r12, #", $q, "]\n",
            "ldm lr!, {{r2, r3}}\n",
            "and r5, r9, r4\n",
            "and r6, r9, r4, lsr #8\n",
        )
    };
}

/// The first step's loads of a Q8_0 block: word 0 extracted, word 1 in r4.
macro_rules! q8_first {
    () => {
        concat!(
            "ldm lr!, {{r0, r1}}\n",
            "ldr r4, [r12, #2]\n",
            "ldm lr!, {{r2, r3}}\n",
            "sxtb16 r5, r4\n",
            "sxtb16 r6, r4, ror #8\n",
            "ldr r4, [r12, #6]\n",
        )
    };
}

l4_kernel!(q4_1_batch4, l4_no_touch, q4_first!(4), q4_steps!(4), "ldr r1, [r12], #20");
l4_kernel!(q4_1_batch4_touch, l4_touch, q4_first!(4), q4_steps!(4), "ldr r1, [r12], #20");
l4_kernel!(q4_0_batch4, l4_no_touch, q4_first!(2), q4_steps!(2), "ldrh r1, [r12], #18");
l4_kernel!(q4_0_batch4_touch, l4_touch, q4_first!(2), q4_steps!(2), "ldrh r1, [r12], #18");
l4_kernel!(q8_0_batch4, l4_no_touch, q8_first!(), q8_steps!(), "ldrh r1, [r12], #34");
l4_kernel!(q8_0_batch4_touch, l4_touch, q8_first!(), q8_steps!(), "ldrh r1, [r12], #34");
