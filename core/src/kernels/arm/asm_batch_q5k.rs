//! Q5_K superblock kernel for four prompt tokens at once, hand-scheduled for the ARM1176:
//! each block's 5-bit quants are assembled once (low nibble from `qs`, fifth bit from `qh`)
//! and multiplied with the activations of all four tokens (the single-token kernel,
//! `asm_q5k`, assembles every field again for every token).
//!
//! `extern "C" fn(w, acts, n, out, row_blocks)`, as `asm_batch_q4k`: `w` = the first of `n`
//! consecutive 176-byte blocks (any alignment); `acts` = the four tokens' Q8_K pair blocks
//! interleaved by the driver (`batch::interleave`, the Q4_K layout: Q5_K shares Q4_K's pair
//! layout; the pointer returns to `acts` after every `row_blocks` blocks); `out` = 9 words
//! per block: the f16 `d` and `dmin`, then for tokens 0..4 the integer sums
//! `Σ sc[j] · Σ q·x`, then for tokens 0..4 the min corrections `Σ m[j] · bsum32[j]`. The
//! sums are exact, so they equal the single-token kernel's.
//!
//! Per block:
//! - Header (as `asm_batch_q4k`): scales to the frame, the four min corrections.
//! - Assembly pass: the 64 field words of the block, word `8s + p` (`p = 2c + f`: chunk `c`,
//!   field `f`, 0 = low nibbles, 1 = high) holding the four 5-bit quants of weights
//!   `64c + 32f + 4s .. + 4` of the sub-block `p`: `(qs >> 4f) & 0x0F0F0F0F | (qh << (4 -
//!   p)) & 0x10101010`, 6 operations a `qs` word for its two fields, stored eight at a time
//!   (two `STM`s) to the frame. 31 cycles per 8 field words, no interlock.
//! - Eight passes (sub-block `p`), 8 steps each, over the field words: the inner step of
//!   [`b5_step`], 4 weights × 4 tokens in 16 cycles. A pass's four dots go to the frame.
//! - Epilogue: `isum[t] = Σ sc[p] · dot[p][t]`, 32 `MLA`s, the isums out.
//!
//! Inner step (16 cycles, 15 instructions and a free slot, no interlock under the ARM1176
//! timing: a 15-cycle step does not exist with four activation registers, see below): the
//! pairs of the current field word in r5/r6, tokens 0 and 1's pair words in r0-r3.
//!
//! ```text
//!  0 smlad r7  (r5·r0)      tok 0, pair 0
//!  1 smlad r8  (r5·r2)      tok 1
//!  2 smlad r7  (r6·r1)      tok 0, pair 1 (chain 2 apart)
//!  3 ldm lr!, {r0, r1}      tok 2's words (r0/r1 read at 0 and 2)
//!  4 smlad r8  (r6·r3)
//!  5 ldm lr!, {r2, r3}      tok 3's words (not adjacent to the LDM at 3)
//!  6 ldr r4, next field word
//!  7 smlad r10 (r5·r0)      r0 loaded at 3: 4 slots (multiplier operands are Early)
//!  8 (free: a touch load, a dot store)
//!  9 smlad r10 (r6·r1)
//! 10 smlad r11 (r5·r2)
//! 11 ldm lr!, {r0, r1}      next step's tok 0
//! 12 smlad r11 (r6·r3)
//! 13 ldm lr!, {r2, r3}      next step's tok 1
//! 14 and r5, r9, r4         next pairs: 8 after the LDR; 2 before the next step's SMLAD
//! 15 and r6, r9, r4, lsr #8
//! ```
//!
//! Each register pair of activations cycles through `LDM`, 4 slots, a token's two `SMLAD`s
//! (2 apart: one accumulator), the next `LDM`: 14 slots for the two tokens of a step; with
//! both pairs interleaved and the `LDM`s never adjacent (the written-back base reaches the
//! next one a cycle late) 15 slots has no solution (`scripts/q5kbatch-modsched.py`
//! searched it exhaustively), 16 has.
//!
//! Registers in the passes: r0-r3 activation pairs, r4 field word, r5/r6 pairs,
//! r7/r8/r10/r11 the four tokens' dots, r9 the mask 0x001F001F, r12 block base, lr
//! activation pointer. Frame (sp+): 0 masks 0x3f3f3f3f, 4 0x0f0f0f0f, 8 0x03030303, 12
//! 0x10101010; 16 sc[0..8]; 24 blocks left; 28 out pointer; 48 blocks left in the row, 52
//! `row_blocks`, 56 the first interleaved block, 60 the activation pointer (saved over the
//! assembly pass), 64 0x001F001F; 128 the dots (pass `p`, token `t` at `128 + 16p + 4t`); 256
//! the field words.
//!
//! Touches: every step loads a byte of the activation line six steps ahead into r0 (dead
//! from slot 7 to 11) in its free slot, so lines the weight stream evicted (the L1 is
//! 4-way round-robin) come back while the arithmetic goes on. The touch variant also loads
//! a byte `LEAD + 22p` bytes past the block start into r4 at the end of pass `p` (never more
//! than 32 bytes apart), so the weight lines are in by the next assembly pass; it reads up to
//! [`BATCH_Q5K_TOUCH_REACH`] bytes past the last block.
//!
//! Cycles (ARM1176 cost model, `kernel-bench Q5_K --shape 512x768 --batch 4`): 1.57 per
//! weight and token with mem=off (the driver's float part included), 1.94 with the memory
//! model, against 2.61 and 3.07 token by token through `asm_q5k`; about 1490 per block: 1024
//! in the steps, 250 in the assembly pass, 95 in the epilogue, 40 in the header, 40 in the
//! pass ends. Most of the memory stall is activation lines the weight stream evicts (4-way
//! round-robin L1) and the touches do not bring back in time.

#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Distance (bytes) of the touch loads ahead of the block start.
macro_rules! b5_lead { () => { "256" } }
/// Bytes past the end of the last block the touch variant may read (lead + 7 · 22 + 1 - 176,
/// rounded up).
pub const BATCH_Q5K_TOUCH_REACH: usize = 256;

/// One step of pass `$p`, step `$s`. `$mac` is `smuad` for a pass's first step (fresh dots);
/// `$n0` fills the free slot; `$more` is `next, $word` (the next field word's frame offset)
/// or `last` (the block's last step: no loads for a next step).
macro_rules! b5_step {
    (smuad, $n0:expr, $($more:tt)*) => {
        b5_step!(@body "smuad r7, r5, r0\n", "smuad r8, r5, r2\n", "smuad r10, r5, r0\n", "smuad r11, r5, r2\n", $n0, $($more)*)
    };
    (smlad, $n0:expr, $($more:tt)*) => {
        b5_step!(@body "smlad r7, r5, r0, r7\n", "smlad r8, r5, r2, r8\n", "smlad r10, r5, r0, r10\n", "smlad r11, r5, r2, r11\n", $n0, $($more)*)
    };
    (@body $m7:expr, $m8:expr, $m10:expr, $m11:expr, $n0:expr, next, $word:expr) => {
        concat!(
            $m7,
            $m8,
            "smlad r7, r6, r1, r7\n",
            "ldm lr!, {{r0, r1}}\n",
            "smlad r8, r6, r3, r8\n",
            "ldm lr!, {{r2, r3}}\n",
            "ldr r4, [sp, #", $word, "]\n",
            $m10,
            $n0,
            "smlad r10, r6, r1, r10\n",
            $m11,
            "ldm lr!, {{r0, r1}}\n",
            "smlad r11, r6, r3, r11\n",
            "ldm lr!, {{r2, r3}}\n",
            "and r5, r9, r4\n",
            "and r6, r9, r4, lsr #8\n",
        )
    };
    (@body $m7:expr, $m8:expr, $m10:expr, $m11:expr, $n0:expr, last) => {
        concat!(
            $m7,
            $m8,
            "smlad r7, r6, r1, r7\n",
            "ldm lr!, {{r0, r1}}\n",
            "smlad r8, r6, r3, r8\n",
            "ldm lr!, {{r2, r3}}\n",
            $n0,
            $m10,
            "smlad r10, r6, r1, r10\n",
            $m11,
            "smlad r11, r6, r3, r11\n",
        )
    };
}

/// The frame offset of field word `s` of pass `p`.
macro_rules! b5_word { ($s:literal, $p:literal) => { concat!("256 + 32 * ", $s, " + 4 * ", $p) } }

/// Pass `$p` (steps 0..8; the last one loads pass `$q`'s first word and pairs), then its
/// dots to the frame and `$t`, the touch (or nothing) in the weight stream. Every step
/// touches the activation line two steps ahead in its free slot ([`b5_act_touch`]).
macro_rules! b5_pass {
    ($p:literal, $q:literal, $t:ident) => {
        concat!(
            b5_step!(smuad, b5_act_touch!(), next, b5_word!(1, $p)),
            b5_step!(smlad, b5_act_touch!(), next, b5_word!(2, $p)),
            b5_step!(smlad, b5_act_touch!(), next, b5_word!(3, $p)),
            b5_step!(smlad, b5_act_touch!(), next, b5_word!(4, $p)),
            b5_step!(smlad, b5_act_touch!(), next, b5_word!(5, $p)),
            b5_step!(smlad, b5_act_touch!(), next, b5_word!(6, $p)),
            b5_step!(smlad, b5_act_touch!(), next, b5_word!(7, $p)),
            b5_step!(smlad, b5_act_touch!(), next, b5_word!(0, $q)),
            "str r7, [sp, #128 + 16 * ", $p, "]\n",
            "str r8, [sp, #128 + 16 * ", $p, " + 4]\n",
            "str r10, [sp, #128 + 16 * ", $p, " + 8]\n",
            "str r11, [sp, #128 + 16 * ", $p, " + 12]\n",
            $t!($p),
        )
    };
    // The block's last pass: no activation touch past its own steps.
    (last, $p:literal) => {
        concat!(
            b5_step!(smuad, b5_act_touch!(), next, b5_word!(1, $p)),
            b5_step!(smlad, b5_act_touch!(), next, b5_word!(2, $p)),
            b5_step!(smlad, "", next, b5_word!(3, $p)),
            b5_step!(smlad, "", next, b5_word!(4, $p)),
            b5_step!(smlad, "", next, b5_word!(5, $p)),
            b5_step!(smlad, "", next, b5_word!(6, $p)),
            b5_step!(smlad, "", next, b5_word!(7, $p)),
            b5_step!(smlad, "", last),
        )
    };
}

/// A step's activation touch: a byte into r0 (dead from slot 7 to 11) from the line read six
/// steps later (lr is 16 bytes into this step's 32; six steps are about 100 cycles, more
/// than a line fill), so a line the weight stream evicted is refilled while the arithmetic
/// goes on. Within the block: the last pass's last six steps have none.
macro_rules! b5_act_touch { () => { "ldrb r0, [lr, #192]\n" } }

/// Field words of step `$s` (8 of them, passes 0..8) from `qs` words `s`, `8 + s`, `16 + s`,
/// `24 + s` and `qh` word `s`: on entry r0/r2 hold the first two `qs` words and r8 the `qh`
/// word; `$more` (`next` or `last`) loads those of step `$s + 1` on the way. r10 = 0x0F0F0F0F,
/// r11 = 0x10101010, lr the field pointer, r9 scratch.
macro_rules! b5_fields {
    ($s:literal, $more:tt) => {
        concat!(
            "and r1, r10, r0, lsr #4\n",
            "and r0, r0, r10\n",
            "ldr r4, [r12, #112 + 4 * ", $s, "]\n",
            "ldr r6, [r12, #144 + 4 * ", $s, "]\n",
            "and r9, r11, r8, lsl #4\n",
            "orr r0, r0, r9\n",
            "and r9, r11, r8, lsl #3\n",
            "orr r1, r1, r9\n",
            "and r3, r10, r2, lsr #4\n",
            "and r2, r2, r10\n",
            "and r9, r11, r8, lsl #2\n",
            "orr r2, r2, r9\n",
            "and r9, r11, r8, lsl #1\n",
            "orr r3, r3, r9\n",
            "stm lr!, {{r0-r3}}\n",
            "and r5, r10, r4, lsr #4\n",
            b5_fields!(@ld $more, "r0", "48", $s),
            "and r4, r4, r10\n",
            b5_fields!(@ld $more, "r2", "80", $s),
            "and r9, r11, r8\n",
            "orr r4, r4, r9\n",
            "and r9, r11, r8, lsr #1\n",
            "orr r5, r5, r9\n",
            "and r7, r10, r6, lsr #4\n",
            "and r6, r6, r10\n",
            "and r9, r11, r8, lsr #2\n",
            "orr r6, r6, r9\n",
            "and r9, r11, r8, lsr #3\n",
            b5_fields!(@ld $more, "r8", "16", $s),
            "orr r7, r7, r9\n",
            "stm lr!, {{r4-r7}}\n",
        )
    };
    (@ld next, $r:literal, $at:literal, $s:literal) => { concat!("ldr ", $r, ", [r12, #", $at, " + 4 * ", $s, " + 4]\n") };
    (@ld last, $r:literal, $at:literal, $s:literal) => { "" };
}

/// The min correction of one token: its 4 block-sum words (r0-r3) against the unpacked mins
/// r4-r7, stored at `out + $at` (r8); `next` loads the next token's sums on the way (4 slots
/// before their first use; the previous token's `add` waits a cycle for its `SMLAD`).
macro_rules! b5_min {
    ($at:literal, $more:tt) => {
        concat!(
            "smuad r10, r4, r0\n",
            "smuad r11, r5, r1\n",
            "smlad r10, r6, r2, r10\n",
            "smlad r11, r7, r3, r11\n",
            b5_min!(@ld $more),
            "add r10, r10, r11\n",
            "str r10, [r8, #", $at, "]\n",
        )
    };
    (@ld next) => { "ldm lr!, {{r0-r3}}\n" };
    (@ld last) => { "" };
}

/// `isum[t] += sc[p] · dot[p][t]` for the four tokens (r5-r8), the dots of pass `$p` in
/// r0-r3 and its scale in `$sc`, loading pass `$p + 1`'s into r0-r3 and `$nsc` on the way.
macro_rules! b5_scale {
    ($p:literal, $sc:literal, $nsc:literal) => {
        concat!(
            "mla r5, r0, ", $sc, ", r5\n",
            "mla r6, r1, ", $sc, ", r6\n",
            "ldrd r0, r1, [sp, #128 + 16 * ", $p, " + 16]\n",
            "ldrb ", $nsc, ", [sp, #16 + ", $p, " + 1]\n",
            "mla r7, r2, ", $sc, ", r7\n",
            "mla r8, r3, ", $sc, ", r8\n",
            "ldrd r2, r3, [sp, #128 + 16 * ", $p, " + 24]\n",
        )
    };
}

macro_rules! b5_touch { ($p:literal) => { concat!("ldrb r4, [r12, #", b5_lead!(), " + 22 * ", $p, "]\n") } }
macro_rules! b5_no_touch { ($p:literal) => { "" } }

macro_rules! b5_kernel {
    ($name:ident, $t:ident) => {
        /// See the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, acts: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #512",
                "ldr r4, [sp, #552]",
                "str r4, [sp, #48]",
                "str r4, [sp, #52]",
                "str r1, [sp, #56]",
                kq_header_masks!(),
                "mov r7, #0x10",
                "orr r7, r7, r7, lsl #8",
                "orr r7, r7, r7, lsl #16",
                "stm sp, {{r4-r7}}",
                "mov r4, #0x1f",
                "orr r4, r4, #0x1f0000",
                "str r4, [sp, #64]",
                "str r2, [sp, #24]",
                "str r3, [sp, #28]",
                "mov r12, r0",
                "mov lr, r1",
                // ---- per block: scales, mins, d/dmin and the four min corrections ----
                "1:",
                "ldm lr!, {{r0-r3}}",            // token 0's block sums
                "ldr r4, [r12, #4]",
                "ldr r5, [r12, #8]",
                "ldr r6, [r12, #12]",
                "ldm sp, {{r7, r8, r9}}",
                kq_unpack_scales_mins!(),
                "ldr r8, [sp, #28]",
                "uxtb16 r4, r10",
                "uxtb16 r5, r10, ror #8",
                "uxtb16 r6, r11",
                "uxtb16 r7, r11, ror #8",
                "ldr r9, [r12]",                 // d, dmin
                b5_min!(20, next),
                b5_min!(24, next),
                b5_min!(28, next),
                b5_min!(32, last),
                "str r9, [r8]",
                // ---- the 64 field words ----
                "ldr r10, [sp, #4]",
                "ldr r11, [sp, #12]",
                "ldr r0, [r12, #48]",
                "ldr r2, [r12, #80]",
                "ldr r8, [r12, #16]",
                "str lr, [sp, #60]",
                "add lr, sp, #256",
                b5_fields!(0, next),
                b5_fields!(1, next),
                b5_fields!(2, next),
                b5_fields!(3, next),
                b5_fields!(4, next),
                b5_fields!(5, next),
                b5_fields!(6, next),
                b5_fields!(7, last),
                // ---- 8 passes of 8 steps ----
                "ldr lr, [sp, #60]",
                "ldr r4, [sp, #256]",
                "ldr r9, [sp, #64]",
                "ldm lr!, {{r0, r1}}",
                "and r5, r9, r4",
                "ldm lr!, {{r2, r3}}",
                "and r6, r9, r4, lsr #8",
                b5_pass!(0, 1, $t),
                b5_pass!(1, 2, $t),
                b5_pass!(2, 3, $t),
                b5_pass!(3, 4, $t),
                b5_pass!(4, 5, $t),
                b5_pass!(5, 6, $t),
                b5_pass!(6, 7, $t),
                b5_pass!(last, 7),
                // ---- isum[t] = Σ sc[p] · dot[p][t]: pass 7's dots are still in r7/r8/r10/r11 ----
                "str r7, [sp, #128 + 16 * 7]",
                $t!(7),
                "str r8, [sp, #128 + 16 * 7 + 4]",
                "ldrd r0, r1, [sp, #128]",
                "ldrd r2, r3, [sp, #136]",
                "str r10, [sp, #128 + 16 * 7 + 8]",
                "ldrb r4, [sp, #16]",
                "str r11, [sp, #128 + 16 * 7 + 12]",
                "ldrb r9, [sp, #17]",
                "mul r5, r0, r4",
                "mul r6, r1, r4",
                "ldrd r0, r1, [sp, #144]",
                "mul r7, r2, r4",
                "mul r8, r3, r4",
                "ldrd r2, r3, [sp, #152]",
                b5_scale!(1, "r9", "r4"),
                b5_scale!(2, "r4", "r9"),
                b5_scale!(3, "r9", "r4"),
                b5_scale!(4, "r4", "r9"),
                b5_scale!(5, "r9", "r4"),
                b5_scale!(6, "r4", "r9"),
                "mla r5, r0, r9, r5",
                "mla r6, r1, r9, r6",
                "ldr r0, [sp, #28]",
                "mla r7, r2, r9, r7",
                "mla r8, r3, r9, r8",
                // ---- the isums out, then the next block (and the row's first pairs again) ----
                "stmib r0, {{r5-r8}}",
                "add r0, r0, #36",
                "str r0, [sp, #28]",
                "add r12, r12, #176",
                "ldr r4, [sp, #48]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #52]",
                "ldreq lr, [sp, #56]",
                "str r4, [sp, #48]",
                "ldr r1, [sp, #24]",
                "subs r1, r1, #1",
                "str r1, [sp, #24]",
                "bne 1b",
                "add sp, sp, #512",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

b5_kernel!(q5k_batch4, b5_no_touch);
b5_kernel!(q5k_batch4_touch, b5_touch);
