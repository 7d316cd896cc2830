//! Q4_K superblock kernel for four prompt tokens at once, hand-scheduled for the ARM1176:
//! each weight word is loaded and its nibbles extracted once, then multiplied with the
//! activations of all four tokens (the single-token kernel, `asm_q4k`, decodes every word
//! again for every token).
//!
//! `extern "C" fn(w, acts, n, out, row_blocks)`: `w` = the first of `n` consecutive 144-byte
//! blocks (any alignment); `acts` = the four tokens' Q8_K pair blocks interleaved by the
//! driver (`batch::interleave`: 2112 bytes per block, 8-aligned; the pointer returns to
//! `acts` after every `row_blocks` blocks, so `n` may span several short rows); `out` = 9
//! words per block: the block's first word (the f16 `d` and `dmin`), then for tokens 0..4
//! the integer sums `Σ sc[j] · Σ q·x`, then for tokens 0..4 the min corrections
//! `Σ m[j] · bsum32[j]`. Integer sums are exact, so they equal the single-token kernel's.
//!
//! The interleaved block: 16 words of block sums (token by token, the 4 `SMLAD` words at
//! byte 512 of its pair block), then for each 64-weight chunk two passes (low nibbles: the
//! even sub-block, high nibbles: the odd one), each 8 steps of 8 words: tokens 0..4 × the
//! two pair words that meet the step's two extracted nibble pairs.
//!
//! Inner step (4 weights × 4 tokens, 15 cycles, no interlock under the ARM1176 timing): the
//! two nibble pairs of the current word are in r5/r6 and tokens 0 and 1's pair words in
//! r0-r3; 4 `SMLAD` (tokens 0 and 1, chains 2 cycles apart) with the `LDM`s of tokens 2 and
//! 3's words between them, the next weight word, 4 `SMLAD` with the next step's `LDM`s of
//! tokens 0 and 1, and the next word's 2 `AND`. No two `LDM`s on `lr!` are adjacent (the
//! written-back base reaches the next `LDM` a cycle late), and each `LDM` result is first
//! used 3 cycles later. A sub-block's
//! four dots (r7, r8, r10, r11) are then scaled into the four `isum` slots of the frame.
//!
//! Registers: r0-r3 activation pairs, r4 weight word, r5/r6 extracted pairs, r7/r8/r10/r11
//! the four tokens' accumulators, r9 the mask 0x000F000F, r12 weight pointer, lr
//! activation pointer. Frame (sp+): 0 masks 0x3f3f3f3f, 4 0x0f0f0f0f, 8 0x03030303, 12
//! 0x000f000f; 16 sc[0..8]; 24 blocks left; 28 out pointer; 32..48 the four isums; 48 blocks
//! left in the row, 52 `row_blocks`, 56 the first interleaved block.
//!
//! Touch variant: as `asm_q4k`'s, an `LDR` into a dead register `LEAD` bytes ahead in the
//! weight stream, once per low-nibble pass and once per block header (never more than 32
//! bytes apart), so line fills overlap the arithmetic. It reads up to
//! [`BATCH_Q4K_TOUCH_REACH`] bytes past the last block.

#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Distance (bytes) of the touch loads ahead of the weight pointer.
macro_rules! b4_lead { () => { 256 } }
/// Bytes past the end of the last block the touch variant may read (the header touch at
/// lead + 144 from the block start, 4 bytes wide, minus the block's 144).
pub const BATCH_Q4K_TOUCH_REACH: usize = 256 + 4;

/// Bytes of one interleaved block (`acts` above): 16 words of block sums, 4 chunks × 2
/// passes × 8 steps × 8 words.
pub const BATCH_Q4K_ACT_BYTES: usize = 4 * (16 + 4 * 2 * 8 * 8);

/// One step: `$mac` is `smuad` for a pass's first step (fresh accumulators); `$more` is
/// `next` to load the following word and pairs, `last` to stop after the 8 products.
macro_rules! b4_step {
    (smuad, $sh0:literal, $sh1:literal, $more:tt) => {
        b4_step!(@body "smuad r7, r5, r0\n", "smuad r8, r5, r2\n", "smuad r10, r5, r0\n", "smuad r11, r5, r2\n", $sh0, $sh1, $more)
    };
    (smlad, $sh0:literal, $sh1:literal, $more:tt) => {
        b4_step!(@body "smlad r7, r5, r0, r7\n", "smlad r8, r5, r2, r8\n", "smlad r10, r5, r0, r10\n", "smlad r11, r5, r2, r11\n", $sh0, $sh1, $more)
    };
    (@body $m7:expr, $m8:expr, $m10:expr, $m11:expr, $sh0:literal, $sh1:literal, $more:tt) => {
        concat!(
            $m7,
            $m8,
            "smlad r7, r6, r1, r7\n",
            "ldm lr!, {{r0, r1}}\n",
            "smlad r8, r6, r3, r8\n",
            "ldm lr!, {{r2, r3}}\n",
            b4_step!(@word $more),
            $m10,
            $m11,
            "smlad r10, r6, r1, r10\n",
            b4_step!(@pair01 $more),
            "smlad r11, r6, r3, r11\n",
            b4_step!(@pairs $more, $sh0, $sh1),
        )
    };
    (@word next) => { "ldr r4, [r12], #4\n" };
    (@word last) => { "" };
    (@pair01 next) => { "ldm lr!, {{r0, r1}}\n" };
    (@pair01 last) => { "" };
    (@pairs next, $sh0:literal, $sh1:literal) => {
        concat!(
            "ldm lr!, {{r2, r3}}\n",
            "and r5, r9, r4", $sh0, "\n",
            "and r6, r9, r4", $sh1, "\n",
        )
    };
    (@pairs last, $sh0:literal, $sh1:literal) => { "" };
}

/// One pass over a chunk's 8 weight words (sub-block `$j`, nibbles at `$sh0`/`$sh1`), then
/// `isum[t] += sc[j] · dot[t]`. `$rewind` moves the weight pointer back to the chunk's start
/// for the high-nibble pass; `$touch` is an optional touch load into r7 (dead until the
/// first `SMUAD`).
macro_rules! b4_pass {
    ($j:literal, $sh0:literal, $sh1:literal, $rewind:expr, $touch:expr) => {
        concat!(
            $rewind,
            "ldm lr!, {{r0, r1}}\n",
            "ldr r4, [r12], #4\n",
            "ldm lr!, {{r2, r3}}\n",
            $touch,
            "and r5, r9, r4", $sh0, "\n",
            "and r6, r9, r4", $sh1, "\n",
            b4_step!(smuad, $sh0, $sh1, next),
            b4_step!(smlad, $sh0, $sh1, next),
            b4_step!(smlad, $sh0, $sh1, next),
            b4_step!(smlad, $sh0, $sh1, next),
            b4_step!(smlad, $sh0, $sh1, next),
            b4_step!(smlad, $sh0, $sh1, next),
            b4_step!(smlad, $sh0, $sh1, next),
            b4_step!(smlad, $sh0, $sh1, last),
            "ldrb r4, [sp, #16 + ", $j, "]\n",
            "ldrd r0, r1, [sp, #32]\n",
            "ldrd r2, r3, [sp, #40]\n",
            "mla r0, r7, r4, r0\n",
            "mla r1, r8, r4, r1\n",
            "mla r2, r10, r4, r2\n",
            "mla r3, r11, r4, r3\n",
            "strd r0, r1, [sp, #32]\n",
            "strd r2, r3, [sp, #40]\n",
        )
    };
}

/// A 64-weight chunk: the low-nibble pass (sub-block `$lo`) and the high-nibble one (`$hi`).
macro_rules! b4_chunk {
    ($lo:literal, $hi:literal, $t:ident) => {
        concat!(
            b4_pass!($lo, "", ", lsr #8", "", $t!()),
            b4_pass!($hi, ", lsr #4", ", lsr #12", "sub r12, r12, #32\n", ""),
        )
    };
}

/// The min correction of one token: its 4 block-sum words against the unpacked mins r4-r7,
/// stored at `out + $at`.
macro_rules! b4_min {
    ($at:literal) => {
        concat!(
            "ldm lr!, {{r0-r3}}\n",
            "smuad r10, r4, r0\n",
            "smuad r11, r5, r1\n",
            "smlad r10, r6, r2, r10\n",
            "smlad r11, r7, r3, r11\n",
            "add r10, r10, r11\n",
            "str r10, [r8, #", $at, "]\n",
        )
    };
}

macro_rules! b4_touch { () => { concat!("ldr r7, [r12, #", b4_lead!(), "]\n") } }
macro_rules! b4_touch_head { () => { concat!("ldr r10, [r12, #", b4_lead!(), " + 144]\n") } }
macro_rules! b4_no_touch { () => { "" } }

macro_rules! b4_kernel {
    ($name:ident, $t:ident, $t0:ident) => {
        /// See the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, acts: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #64",
                "ldr r4, [sp, #104]",
                "str r4, [sp, #48]",
                "str r4, [sp, #52]",
                "str r1, [sp, #56]",
                "mov r4, #0x3f",
                "orr r4, r4, r4, lsl #8",
                "orr r4, r4, r4, lsl #16",
                "mov r5, #0x0f",
                "orr r5, r5, r5, lsl #8",
                "orr r5, r5, r5, lsl #16",
                "mov r6, #3",
                "orr r6, r6, r6, lsl #8",
                "orr r6, r6, r6, lsl #16",
                "mov r7, #15",
                "orr r7, r7, #0xf0000",
                "stm sp, {{r4-r7}}",
                "str r2, [sp, #24]",
                "str r3, [sp, #28]",
                "mov r12, r0",
                "mov lr, r1",
                // ---- per block: scales, mins, d/dmin and the four min corrections ----
                "1:",
                $t0!(),
                "ldr r4, [r12, #4]",
                "ldr r5, [r12, #8]",
                "ldr r6, [r12, #12]",
                "ldm sp, {{r7, r8, r9}}",
                "and r10, r4, r7",               // sc[0..4]
                "and r11, r6, r8",
                "and r4, r9, r4, lsr #6",
                "orr r11, r11, r4, lsl #4",      // sc[4..8]
                "strd r10, r11, [sp, #16]",
                "and r10, r5, r7",               // m[0..4]
                "and r11, r8, r6, lsr #4",
                "and r5, r9, r5, lsr #6",
                "orr r11, r11, r5, lsl #4",      // m[4..8]
                "uxtb16 r4, r10",
                "uxtb16 r5, r10, ror #8",
                "uxtb16 r6, r11",
                "uxtb16 r7, r11, ror #8",
                "ldr r8, [sp, #28]",
                "ldr r9, [r12], #16",            // d, dmin
                "str r9, [r8]",
                b4_min!(20),
                b4_min!(24),
                b4_min!(28),
                b4_min!(32),
                "mov r0, #0",
                "mov r1, #0",
                "strd r0, r1, [sp, #32]",
                "strd r0, r1, [sp, #40]",
                "ldr r9, [sp, #12]",
                // ---- 256 weights ----
                b4_chunk!(0, 1, $t),
                b4_chunk!(2, 3, $t),
                b4_chunk!(4, 5, $t),
                b4_chunk!(6, 7, $t),
                // ---- the isums out, then the next block (and the row's first pairs again) ----
                "ldr r0, [sp, #28]",
                "ldrd r2, r3, [sp, #32]",
                "ldrd r4, r5, [sp, #40]",
                "str r2, [r0, #4]",
                "str r3, [r0, #8]",
                "str r4, [r0, #12]",
                "str r5, [r0, #16]",
                "add r0, r0, #36",
                "str r0, [sp, #28]",
                "ldr r4, [sp, #48]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #52]",
                "ldreq lr, [sp, #56]",
                "str r4, [sp, #48]",
                "ldr r1, [sp, #24]",
                "subs r1, r1, #1",
                "str r1, [sp, #24]",
                "bne 1b",
                "add sp, sp, #64",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

b4_kernel!(q4k_batch4, b4_no_touch, b4_no_touch);
b4_kernel!(q4k_batch4_touch, b4_touch, b4_touch_head);
