//! Q4_1, Q4_0 and Q8_0 block kernels for four prompt tokens at once, hand-scheduled for the
//! ARM1176: each weight word is loaded and its nibbles (or bytes) extracted once, then
//! multiplied with the activations of all four tokens (the single-token kernels,
//! `asm_legacy`, extract every word again for every token).
//!
//! `extern "C" fn(w, acts, n, out, row_blocks, lead)`: `w` = the first of `n` consecutive weight
//! blocks of one type (any alignment); `acts` = the four tokens' pair blocks interleaved by
//! the driver (`batch::interleave_legacy`: [`BATCH_LEGACY_ACT_BYTES`] per block, 8-aligned;
//! the pointer returns to `acts` after every `row_blocks` blocks, so `n` may span several
//! rows); `out` = per block the f16 scales widened to f32 bits (Q4_1: `d`, `m`; Q4_0, Q8_0:
//! `d`; exactly as `asm_legacy` widens them, `f16_bits!`, with the numbers other than normal
//! ones out of line), then the integer dots `Σ q·x` of tokens 0..4 (unsigned codes for Q4_0:
//! the driver subtracts `8·Σ x`, as for `asm_legacy`): 6 words a block (`d`, `m` or 0, the
//! four dots). The sums are exact, so they equal the single-token kernel's.
//!
//! [`q4_1_finish4`] does the float part of Q4_1 blocks for the four tokens: the operations
//! of `legacy::finish_block` and `RowSum::add` in their order, the four tokens' chains side
//! by side on the VFP11 (about 15% fewer cycles than the compiler's code for it).
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
/// pairs, `$steps` the 8 steps, `$head` widens the block's scales into r1 (and r3), moving r12
/// to the next block, with `$slow` out of line; `$dots` names the registers stored after r1.
macro_rules! l4_kernel {
    ($name:ident, $t:ident, $first:expr, $steps:expr, $head:expr, $slow:expr, $dots:literal) => {
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
                // ---- the scales and the four dots out, then the next block ----
                $head,
                concat!("stm r0!, {{r1, ", $dots, "}}"),
                "ldr r2, [sp, #8]",
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
                // ---- out of line: the scales that are not normal numbers ----
                $slow,
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

/// f16 to f32 bits without the sign, as `f16_bits!` but with no taken branch for a normal
/// number: `$in` holds the f16 shifted left by 17 (clobbered only off the fast path), `$out`
/// gets the f32 bits; any other number branches to the out-of-line `$slow` label
/// ([`f16_slow`]), which comes back to `$back`.
macro_rules! f16_fast {
    ($out:literal, $in:literal, $slow:literal, $back:literal) => {
        concat!(
            "sub ", $out, ", ", $in, ", #0x08000000\n",
            "cmp ", $out, ", #0xF0000000\n",
            "bhs ", $slow, "f\n",
            "mov ", $out, ", ", $in, ", lsr #4\n",
            "add ", $out, ", ", $out, ", #0x38000000\n",
            $back, ":\n",
        )
    };
}

/// The rest of `f16_bits!` (zero, subnormals, infinities, NaN) at label `$slow`, back to
/// `$back` (`$tmp` scratch).
macro_rules! f16_slow {
    ($out:literal, $in:literal, $tmp:literal, $slow:literal, $back:literal) => {
        concat!(
            $slow, ":\n",
            "mov ", $tmp, ", ", $in, ", lsr #27\n",
            "cmp ", $tmp, ", #31\n",
            "moveq ", $out, ", ", $in, ", lsr #4\n",
            "orreq ", $out, ", ", $out, ", #0x7f000000\n",
            "beq ", $back, "b\n",
            "movs ", $tmp, ", ", $in, ", lsr #17\n",
            "moveq ", $out, ", #0\n",
            "beq ", $back, "b\n",
            "clz ", $out, ", ", $tmp, "\n",
            "sub ", $in, ", ", $out, ", #8\n",
            "mov ", $tmp, ", ", $tmp, ", lsl ", $in, "\n",
            "bic ", $tmp, ", ", $tmp, ", #0x800000\n",
            "rsb ", $out, ", ", $out, ", #134\n",
            "orr ", $out, ", ", $tmp, ", ", $out, ", lsl #23\n",
            "b ", $back, "b\n",
        )
    };
}

/// Q4_1's scales: `d` into r1 and `m` into r3 as f32 bits (r2, r4, r5, r6 scratch), and the
/// out pointer into r0 (in the header load's shadow).
macro_rules! q4_1_head {
    () => {
        concat!(
            "ldr r2, [r12], #20\n",
            "ldr r0, [sp]\n",
            "mov r4, r2, lsl #17\n",
            "mov r5, r2, lsr #16\n",
            "mov r5, r5, lsl #17\n",
            f16_fast!("r1", "r4", "6", "7"),
            f16_fast!("r3", "r5", "8", "9"),
            "tst r2, #0x8000\n",
            "orrne r1, r1, #0x80000000\n",
            "tst r2, #0x80000000\n",
            "orrne r3, r3, #0x80000000\n",
        )
    };
}
macro_rules! q4_1_slow {
    () => { concat!(f16_slow!("r1", "r4", "r6", "6", "7"), f16_slow!("r3", "r5", "r6", "8", "9")) };
}

/// Q4_0's and Q8_0's scale: `d` (the block's first halfword; `$bytes` the block size) into r1
/// as f32 bits and 0 into r3 (r2, r4, r6 scratch), and the out pointer into r0.
macro_rules! d_head {
    ($bytes:literal) => {
        concat!(
            "ldrh r2, [r12], #", $bytes, "\n",
            "ldr r0, [sp]\n",
            "mov r4, r2, lsl #17\n",
            f16_fast!("r1", "r4", "6", "7"),
            "tst r2, #0x8000\n",
            "orrne r1, r1, #0x80000000\n",
            "mov r3, #0\n",
        )
    };
}
macro_rules! d_slow {
    () => { f16_slow!("r1", "r4", "r6", "6", "7") };
}

l4_kernel!(q4_1_batch4, l4_no_touch, q4_first!(4), q4_steps!(4), q4_1_head!(), q4_1_slow!(), "r3, r7, r8, r10, r11");
l4_kernel!(q4_1_batch4_touch, l4_touch, q4_first!(4), q4_steps!(4), q4_1_head!(), q4_1_slow!(), "r3, r7, r8, r10, r11");
l4_kernel!(q4_0_batch4, l4_no_touch, q4_first!(2), q4_steps!(2), d_head!(18), d_slow!(), "r3, r7, r8, r10, r11");
l4_kernel!(q4_0_batch4_touch, l4_touch, q4_first!(2), q4_steps!(2), d_head!(18), d_slow!(), "r3, r7, r8, r10, r11");
l4_kernel!(q8_0_batch4, l4_no_touch, q8_first!(), q8_steps!(), d_head!(34), d_slow!(), "r3, r7, r8, r10, r11");
l4_kernel!(q8_0_batch4_touch, l4_touch, q8_first!(), q8_steps!(), d_head!(34), d_slow!(), "r3, r7, r8, r10, r11");

/// The float part of one Q4_1 block for the four tokens, into partial `k` of their sums
/// (`$p0`..`$p3` = s16 + 4t + k): `(d · dx) · f32(dot) + m · sx` added to the partial, exactly
/// `legacy::finish_block` then `RowSum::add`. s0/s1 `d`/`m`, s2-s5 the dots, s6-s9 `dx`,
/// s10-s13 `sx`.
macro_rules! q41_value {
    ($p0:literal, $p1:literal, $p2:literal, $p3:literal) => {
        concat!(
            "vldmia r0!, {{s0-s5}}\n",
            "vldmia r1!, {{s6-s13}}\n",
            "vcvt.f32.s32 s2, s2\n",
            "vcvt.f32.s32 s3, s3\n",
            "vcvt.f32.s32 s4, s4\n",
            "vcvt.f32.s32 s5, s5\n",
            "vmul.f32 s6, s0, s6\n",
            "vmul.f32 s7, s0, s7\n",
            "vmul.f32 s8, s0, s8\n",
            "vmul.f32 s9, s0, s9\n",
            "vmul.f32 s10, s1, s10\n",
            "vmul.f32 s11, s1, s11\n",
            "vmul.f32 s12, s1, s12\n",
            "vmul.f32 s13, s1, s13\n",
            "vmul.f32 s2, s6, s2\n",
            "vmul.f32 s3, s7, s3\n",
            "vmul.f32 s4, s8, s4\n",
            "vmul.f32 s5, s9, s5\n",
            "vadd.f32 s2, s2, s10\n",
            "vadd.f32 s3, s3, s11\n",
            "vadd.f32 s4, s4, s12\n",
            "vadd.f32 s5, s5, s13\n",
            "vadd.f32 ", $p0, ", ", $p0, ", s2\n",
            "vadd.f32 ", $p1, ", ", $p1, ", s3\n",
            "vadd.f32 ", $p2, ", ", $p2, ", s4\n",
            "vadd.f32 ", $p3, ", ", $p3, ", s5\n",
        )
    };
}

/// The float part of `n` (at least 1) consecutive Q4_1 blocks of one row for four tokens:
/// `res` = the `q4_1_batch4` results of the blocks (6 words each), `scales` = per block the
/// four tokens' `dx` then their `sx` (8 f32), `sums` = the four tokens' partial sums (4 × 4
/// f32, token by token), block `k` of the run added to partial `k % 4` (the run starts on
/// partial 0), in block order: the single-token driver's float order.
#[unsafe(naked)]
pub unsafe extern "C" fn q4_1_finish4(res: *const i32, scales: *const f32, n: u32, sums: *mut f32) {
    naked_asm!(
        ".arch armv6",
        ".fpu vfpv2",
        "vpush {{d8-d15}}",
        "vldmia r3, {{s16-s31}}",
        "1:",
        q41_value!("s16", "s20", "s24", "s28"),
        "subs r2, r2, #1",
        "beq 2f",
        q41_value!("s17", "s21", "s25", "s29"),
        "subs r2, r2, #1",
        "beq 2f",
        q41_value!("s18", "s22", "s26", "s30"),
        "subs r2, r2, #1",
        "beq 2f",
        q41_value!("s19", "s23", "s27", "s31"),
        "subs r2, r2, #1",
        "bne 1b",
        "2:",
        "vstmia r3, {{s16-s31}}",
        "vpop {{d8-d15}}",
        "bx lr",
    )
}
