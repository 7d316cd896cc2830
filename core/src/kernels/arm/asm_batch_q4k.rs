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
//! Inner step (4 weights × 4 tokens, 16 cycles, no interlock under the ARM1176 timing, where
//! an `LDM` result reaches a multiplier operand 4 cycles later): the two nibble pairs of the
//! current word are in r5/r6 and tokens 0 and 1's pair words in r0-r3; 4 `SMLAD` (tokens 0
//! and 1) with the `LDM`s of tokens 2 and 3's words between them, a touch load of the
//! activations [`BATCH_Q4K_ACT_REACH`] bytes ahead, the next weight word (`LDR` with
//! pre-indexed write-back: r12 points at the current word), 4 `SMLAD` with the next step's
//! `LDM`s of tokens 0 and 1, and the next word's 2 `AND`. No two `LDM`s on `lr!` are
//! adjacent (the written-back base reaches the next load a cycle late). After a pass the four
//! dots (r7, r8, r10, r11) are scaled into the four `isum`s (`MUL` in a block's first pass,
//! `MLA` with the frame's sums after; the last pass stores them to `out`), and the next
//! pass's first word is loaded.
//!
//! Registers: r0-r3 activation pairs, r4 weight word, r5/r6 extracted pairs, r7/r8/r10/r11
//! the four tokens' accumulators, r9 the mask 0x000F000F, r12 weight pointer, lr
//! activation pointer. Frame (sp+): 0 masks 0x3f3f3f3f, 4 0x0f0f0f0f, 8 0x03030303, 12
//! 0x000f000f; 16 sc[0..8]; 24 blocks left, 28 blocks left in the row; 32..48 the four
//! isums; 48 out pointer, 52 `row_blocks`, 56 the first interleaved block.
//!
//! Activation touch: the weight stream evicts interleaved lines from the 4-way round-robin
//! L1 (about one for every four weight lines), and each would be missed on the next row; the
//! touch one line per step, 512 bytes ahead, brings it back in time, except for the first
//! lines of a row (the touches do not wrap; touching them at the row's last block cost more
//! than it saved). Both variants read up to [`BATCH_Q4K_ACT_REACH`] bytes past a row's last
//! interleaved block.
//!
//! Touch variant: as `asm_q4k`'s, an `LDR` into a dead register `LEAD` bytes ahead in the
//! weight stream, once per low-nibble pass and once per block header (never more than 32
//! bytes apart), so line fills overlap the arithmetic. It reads up to
//! [`BATCH_Q4K_TOUCH_REACH`] bytes past the last block.

#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Distance (bytes) of the weight touch loads ahead of the weight pointer.
macro_rules! b4_lead { () => { 256 } }
/// Bytes past the end of the last block the touch variant may read (the header touch at
/// lead + 144 from the block start, 4 bytes wide, minus the block's 144).
pub const BATCH_Q4K_TOUCH_REACH: usize = 256 + 4;

/// Distance (bytes) of the activation touch loads ahead of the activation pointer: eight
/// sixteen steps, about 300 cycles, well over a line fill queued behind a weight fill.
macro_rules! b4_act_lead { () => { 512 } }
/// Bytes past the end of a row's interleaved blocks that the activation touch loads may read
/// (both variants): the driver's buffer has that much room after its last block.
pub const BATCH_Q4K_ACT_REACH: usize = 512;

/// Bytes of one interleaved block (`acts` above): 16 words of block sums, 4 chunks × 2
/// passes × 8 steps × 8 words.
pub const BATCH_Q4K_ACT_BYTES: usize = 4 * (16 + 4 * 2 * 8 * 8);

/// The first operation of each token's chain in a step: `smuad` in a pass's first step
/// (fresh accumulators), `smlad` after.
macro_rules! b4_mac {
    (smuad, $acc:literal, $pair:literal, $act:literal) => { concat!("smuad ", $acc, ", ", $pair, ", ", $act, "\n") };
    (smlad, $acc:literal, $pair:literal, $act:literal) => { concat!("smlad ", $acc, ", ", $pair, ", ", $act, ", ", $acc, "\n") };
}

/// One step (4 weights × 4 tokens, 16 cycles, no interlock): `$m` is `smuad` for a pass's
/// first step. `next, $sh0, $sh1`: loads the next word and the next step's pairs of tokens 0
/// and 1, and extracts the next pairs. `last, $sc, $more`: instead loads the scale byte `$sc`
/// into r4 and runs `$more` (two loads that fit the step's free slots) before the last MAC.
/// The touch load into r4 (dead until the word load) requests the activation line eight
/// steps ahead: the weight stream evicts interleaved lines, and each one is missed again
/// on the next row without it.
macro_rules! b4_step {
    (@emit $m7:expr, $m8:expr, $m10:expr, $m11:expr, $word:expr, $n01:expr, $n23:expr, $x:expr) => {
        concat!(
            $m7,
            $m8,
            "smlad r7, r6, r1, r7\n",
            "ldm lr!, {{r0, r1}}\n",
            "smlad r8, r6, r3, r8\n",
            "ldr r4, [lr, #", b4_act_lead!(), "]\n",
            "ldm lr!, {{r2, r3}}\n",
            $m10,
            $word,
            "smlad r10, r6, r1, r10\n",
            $m11,
            $n01,
            "smlad r11, r6, r3, r11\n",
            $n23,
            $x,
        )
    };
    ($m:tt, next, $sh0:literal, $sh1:literal) => {
        b4_step!(@emit
            b4_mac!($m, "r7", "r5", "r0"), b4_mac!($m, "r8", "r5", "r2"),
            b4_mac!($m, "r10", "r5", "r0"), b4_mac!($m, "r11", "r5", "r2"),
            "ldr r4, [r12, #4]!\n",
            "ldm lr!, {{r0, r1}}\n",
            "ldm lr!, {{r2, r3}}\n",
            concat!("and r5, r9, r4", $sh0, "\n", "and r6, r9, r4", $sh1, "\n"))
    };
    ($m:tt, last, $sc:literal, $n01:expr, $n23:expr) => {
        b4_step!(@emit
            b4_mac!($m, "r7", "r5", "r0"), b4_mac!($m, "r8", "r5", "r2"),
            b4_mac!($m, "r10", "r5", "r0"), b4_mac!($m, "r11", "r5", "r2"),
            concat!("ldrb r4, [sp, #16 + ", $sc, "]\n"), $n01, $n23, "")
    };
}

/// `isum[t] += sc · dot[t]` after a pass, the scale byte in r4 and the dots in r7, r8,
/// r10, r11: `first` (the block's first pass) starts the sums, `mid` adds to those in the
/// frame, `last` adds and writes the block's four isums to `out`. `$word` loads the next
/// pass's first weight word once r4 is free.
macro_rules! b4_scale {
    (first, $word:expr) => {
        concat!(
            "mul r0, r7, r4\n",
            "mul r1, r8, r4\n",
            "mul r2, r10, r4\n",
            "mul r3, r11, r4\n",
            $word,
            "strd r0, r1, [sp, #32]\n",
            "strd r2, r3, [sp, #40]\n",
        )
    };
    (mid, $word:expr) => {
        concat!(
            "mla r0, r7, r4, r0\n",
            "mla r1, r8, r4, r1\n",
            "mla r2, r10, r4, r2\n",
            "mla r3, r11, r4, r3\n",
            $word,
            "strd r0, r1, [sp, #32]\n",
            "strd r2, r3, [sp, #40]\n",
        )
    };
    (last, $word:expr) => {
        concat!(
            "mla r0, r7, r4, r0\n",
            "mla r1, r8, r4, r1\n",
            "mla r2, r10, r4, r2\n",
            "mla r3, r11, r4, r3\n",
            "stmib r6, {{r0-r3}}\n",
        )
    };
}

/// One pass over a chunk's 8 weight words (sub-block `$j`, nibbles at `$sh0`/`$sh1`), its
/// first word already in r4 and r12 pointing at it; then the scale step `$scale` (`first`,
/// `mid`, `last`), which loads the next pass's first word with `$word`. `$touch` is an
/// optional weight touch load into r7 (dead until the first `SMUAD`).
macro_rules! b4_pass {
    ($j:literal, $sh0:literal, $sh1:literal, $scale:tt, $word:expr, $touch:expr) => {
        concat!(
            "ldm lr!, {{r0, r1}}\n",
            "and r5, r9, r4", $sh0, "\n",
            "ldm lr!, {{r2, r3}}\n",
            "and r6, r9, r4", $sh1, "\n",
            $touch,
            b4_step!(smuad, next, $sh0, $sh1),
            b4_step!(smlad, next, $sh0, $sh1),
            b4_step!(smlad, next, $sh0, $sh1),
            b4_step!(smlad, next, $sh0, $sh1),
            b4_step!(smlad, next, $sh0, $sh1),
            b4_step!(smlad, next, $sh0, $sh1),
            b4_step!(smlad, next, $sh0, $sh1),
            b4_pass!(@last $j, $scale),
            b4_scale!($scale, $word),
        )
    };
    (@last $j:literal, first) => { b4_step!(smlad, last, $j, "", "") };
    (@last $j:literal, mid) => { b4_step!(smlad, last, $j, "ldrd r0, r1, [sp, #32]\n", "ldrd r2, r3, [sp, #40]\n") };
    (@last $j:literal, last) => {
        b4_step!(smlad, last, $j, "ldrd r0, r1, [sp, #32]\n", "ldrd r2, r3, [sp, #40]\nldr r6, [sp, #48]\n")
    };
}

/// A 64-weight chunk: the low-nibble pass (sub-block `$lo`) and the high-nibble one (`$hi`),
/// which goes back over the same 8 words. `$next` loads the next chunk's first word.
macro_rules! b4_chunk {
    ($lo:literal, $hi:literal, $s0:tt, $s1:tt, $next:expr, $t:ident) => {
        concat!(
            b4_pass!($lo, "", ", lsr #8", $s0, "ldr r4, [r12, #-28]!\n", $t!()),
            b4_pass!($hi, ", lsr #4", ", lsr #12", $s1, $next, ""),
        )
    };
}

/// The min correction of one token: its 4 block-sum words (loaded into r0-r3 four cycles
/// before) against the unpacked mins r4-r7, stored at `out + $at`; `$next` loads the next
/// token's block sums.
macro_rules! b4_min {
    ($at:literal, $next:expr) => {
        concat!(
            "smuad r10, r4, r0\n",
            "smuad r11, r5, r1\n",
            "smlad r10, r6, r2, r10\n",
            "smlad r11, r7, r3, r11\n",
            $next,
            "add r9, r10, r11\n",
            "str r9, [r8, #", $at, "]\n",
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
                "str r2, [sp, #24]",
                "str r4, [sp, #28]",
                "str r4, [sp, #52]",
                "str r1, [sp, #56]",
                "str r3, [sp, #48]",
                kq_header_masks!(),
                "mov r7, #15",
                "orr r7, r7, #0xf0000",
                "stm sp, {{r4-r7}}",
                "mov r12, r0",
                "mov lr, r1",
                // ---- per block: scales, mins, d/dmin and the four min corrections ----
                "1:",
                "ldm sp, {{r7, r8, r9}}",
                "ldr r4, [r12, #4]",
                "ldr r6, [r12, #12]",
                "ldr r5, [r12, #8]",
                $t0!(),
                "ldr r3, [r12]",                 // d, dmin
                "and r10, r4, r7",               // sc[0..4]
                "and r11, r6, r8",
                "and r4, r9, r4, lsr #6",
                "and r0, r5, r7",                // m[0..4]
                "orr r11, r11, r4, lsl #4",      // sc[4..8]
                "and r1, r8, r6, lsr #4",
                "and r5, r9, r5, lsr #6",
                "strd r10, r11, [sp, #16]",
                "orr r1, r1, r5, lsl #4",        // m[4..8]
                "ldr r8, [sp, #48]",
                "uxtb16 r4, r0",
                "uxtb16 r5, r0, ror #8",
                "uxtb16 r6, r1",
                "uxtb16 r7, r1, ror #8",
                // Loads allocate lines and stores do not: reading the block's 36 bytes of
                // `out` first lets the float part find them in the cache.
                "ldr r9, [r8]",
                "ldr r9, [r8, #32]",
                "str r3, [r8]",
                "ldm lr!, {{r0, r1, r2, r3}}",
                b4_min!(20, "ldm lr!, {{r0, r1, r2, r3}}\n"),
                b4_min!(24, "ldm lr!, {{r0, r1, r2, r3}}\n"),
                b4_min!(28, "ldm lr!, {{r0, r1, r2, r3}}\n"),
                b4_min!(32, "ldr r4, [r12, #16]!\n"),
                "ldr r9, [sp, #12]",
                // ---- 256 weights ----
                b4_chunk!(0, 1, first, mid, "ldr r4, [r12, #4]!\n", $t),
                b4_chunk!(2, 3, mid, mid, "ldr r4, [r12, #4]!\n", $t),
                b4_chunk!(4, 5, mid, mid, "ldr r4, [r12, #4]!\n", $t),
                b4_chunk!(6, 7, mid, last, "", $t),
                // ---- the next block (and the row's first pairs again) ----
                "add r6, r6, #36",
                "str r6, [sp, #48]",
                "ldrd r0, r1, [sp, #24]",
                "add r12, r12, #4",
                "subs r1, r1, #1",
                "ldreq r1, [sp, #52]",
                "ldreq lr, [sp, #56]",
                "subs r0, r0, #1",
                "strd r0, r1, [sp, #24]",
                "bne 1b",
                "add sp, sp, #64",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

b4_kernel!(q4k_batch4, b4_no_touch, b4_no_touch);
b4_kernel!(q4k_batch4_touch, b4_touch, b4_touch_head);
