//! Q2_K superblock kernel for four prompt tokens at once, hand-scheduled for the ARM1176:
//! each weight word is loaded and its 2-bit fields extracted once per field position, then
//! multiplied with the activations of all four tokens (the single-token kernel,
//! `asm_q23k::q2k_blocks`, decodes every word again for every token).
//!
//! `extern "C" fn(w, acts, n, out, row_blocks)`, as `asm_batch_q4k`: `w` = the first of `n`
//! consecutive 84-byte blocks (any alignment); `acts` = the four tokens' Q8_K pair blocks
//! (prepared for Q2_K or Q3_K: the 2-bit pair order) interleaved by the driver
//! (`batch::interleave_q2k`, [`BATCH_Q2K_ACT_BYTES`] per block, 8-aligned; the pointer
//! returns to `acts` after every `row_blocks` blocks); `out` = 9 words per block, the layout
//! of `asm_batch_q4k` (so the driver's float part is Q4_K's): the block's `d | dmin << 16`,
//! then for tokens 0..4 `Σ sc[j] · Σ q·x`, then for tokens 0..4 `Σ m[j] · bsum16[j]`. The
//! sums are exact, so they equal the single-token kernel's.
//!
//! The interleaved block: 16 words of block sums for sub-blocks 0..8 (token by token, words
//! 0..4 of its pair block's tail), 16 for sub-blocks 8..16 (tail words 4..8), then the 512
//! step words in `asm_batch_q4k`'s order (written by the same `interleave_pairs`): per step
//! tokens 0..4 × the two pair words that meet the step's two extracted field pairs. Read in
//! that order, a run of 4 steps is one 16-weight sub-block: chunk `c` (qs words `4c..4c + 4`)
//! and shift `2j` for `j` in 0, 2, 1, 3 (sub-block `8 (c / 2) + 2j + c % 2`), so each of the
//! 16 passes reads the chunk's 4 words again with its own shift.
//!
//! Per block:
//! - Header: the 16 scales (low nibbles) to the frame, the mins (high nibbles) unpacked as
//!   `SMLAD` pairs against the tail words, the four min corrections out, `d | dmin` out.
//! - 16 passes of 4 steps, the step of `asm_batch_q5k` (4 weights × 4 tokens, 16 cycles, no
//!   interlock; its module doc has the schedule) with the weight word loaded from the block
//!   and the fields taken with the mask 0x00030003 at the pass's shift. A pass's four dots go
//!   to the frame.
//! - Epilogue: `isum[t] = Σ sc[sb] · dot[sb][t]`, 64 `SMLABB`s, the isums out.
//!
//! Registers in the passes: r0-r3 activation pairs, r4 weight word, r5/r6 pairs, r7/r8/r10/r11
//! the four tokens' dots, r9 the mask 0x00030003, r12 block base, lr activation pointer.
//! Frame (sp+): 0 the dots (pass `P`, token `t` at `16P + 4t`: `LDRD` offsets stop at
//! 255); 256 0x00030003, 260 0x000F000F, 264 0x0F0F0F0F; 272 sc[0..16]; 288 the min pairs of
//! sub-blocks 8..16; 304 blocks left in the row, 308 `row_blocks`, 312 the first interleaved
//! block, 316 blocks left, 320 out pointer.
//!
//! Touches: every step loads a byte of the activation line six steps ahead into r0 (dead
//! from slot 7 to 11) in its free slot, as `asm_batch_q5k`; both variants read up to
//! [`BATCH_Q2K_ACT_REACH`] bytes past a row's last interleaved block. The touch variant also
//! loads a byte `LEAD + 28q` bytes past the block start into r4 after passes 3, 7 and 11; it
//! reads up to [`BATCH_Q2K_TOUCH_REACH`] bytes past the last block.
//!
//! Cycles (ARM1176 cost model, `kernel-bench Q2_K --shape 512x768 --batch 8`): 1.37 per
//! weight and token with mem=off (the driver's interleaving and float part included), 1.52
//! with the memory model, against 1.87 and 2.12 token by token through `asm_q23k`; about
//! 1435 per block (4 tokens): 1165 in the passes (1024 in the steps, the dot stores, ~90 of
//! memory stall), 145 in the epilogue, 125 in the header.

#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Bytes of one block's interleaved activations: 32 words of block sums, 512 step words.
pub const BATCH_Q2K_ACT_BYTES: usize = 4 * (32 + 512);
/// Bytes past a row's last interleaved block the activation touches may read.
pub const BATCH_Q2K_ACT_REACH: usize = 256;

/// Distance (bytes) of the weight touch loads ahead of the block start.
macro_rules! b2_lead { () => { "256" } }
/// Bytes past the end of the last block the touch variant may read (lead + 2 · 28 + 1 - 84,
/// rounded up).
pub const BATCH_Q2K_TOUCH_REACH: usize = 256;

/// One step (shared with `asm_batch_q3k`). `$mac` is `smuad` for a pass's first step (fresh
/// dots); `$n0` fills the free slot; `$more` is `next, $word, $lo, $hi` (the next step's
/// weight word address and its field shifts) or `last` (the block's last step: no loads for
/// a next step).
macro_rules! b2_step {
    (smuad, $n0:expr, $($more:tt)*) => {
        b2_step!(@body "smuad r7, r5, r0\n", "smuad r8, r5, r2\n", "smuad r10, r5, r0\n", "smuad r11, r5, r2\n", $n0, $($more)*)
    };
    (smlad, $n0:expr, $($more:tt)*) => {
        b2_step!(@body "smlad r7, r5, r0, r7\n", "smlad r8, r5, r2, r8\n", "smlad r10, r5, r0, r10\n", "smlad r11, r5, r2, r11\n", $n0, $($more)*)
    };
    (@body $m7:expr, $m8:expr, $m10:expr, $m11:expr, $n0:expr, next, $word:expr, $lo:expr, $hi:expr) => {
        concat!(
            $m7,
            $m8,
            "smlad r7, r6, r1, r7\n",
            "ldm lr!, {{r0, r1}}\n",
            "smlad r8, r6, r3, r8\n",
            "ldm lr!, {{r2, r3}}\n",
            "ldr r4, ", $word, "\n",
            $m10,
            $n0,
            "smlad r10, r6, r1, r10\n",
            $m11,
            "ldm lr!, {{r0, r1}}\n",
            "smlad r11, r6, r3, r11\n",
            "ldm lr!, {{r2, r3}}\n",
            "and r5, r9, r4, ", $lo, "\n",
            "and r6, r9, r4, ", $hi, "\n",
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

/// A step's activation touch: a byte into r0 (dead from slot 7 to 11) from the line read six
/// steps later (lr is 16 bytes into this step's 32).
macro_rules! b2_act_touch { () => { "ldrb r0, [lr, #192]\n" } }

/// The address of word `$k` of chunk `$c` in the block.
macro_rules! b2_word { ($c:expr, $k:expr) => { concat!("[r12, #16 + 16 * ", $c, " + 4 * ", $k, "]") } }

/// Pass `$p` over word group `$g` (its words' addresses `$w!($g, k)`) at shifts `$lo`/`$hi`;
/// its last step loads the next pass's first word (group `$ng`, shifts `$nlo`/`$nhi`). Then
/// its dots to the frame and `$t`.
macro_rules! b2_pass {
    ($w:ident, $p:expr, $g:expr, $lo:expr, $hi:expr, $ng:expr, $nlo:expr, $nhi:expr, $t:expr) => {
        concat!(
            b2_step!(smuad, b2_act_touch!(), next, $w!($g, 1), $lo, $hi),
            b2_step!(smlad, b2_act_touch!(), next, $w!($g, 2), $lo, $hi),
            b2_step!(smlad, b2_act_touch!(), next, $w!($g, 3), $lo, $hi),
            b2_step!(smlad, b2_act_touch!(), next, $w!($ng, 0), $nlo, $nhi),
            "str r7, [sp, #16 * (", $p, ")]\n",
            "str r8, [sp, #16 * (", $p, ") + 4]\n",
            "strd r10, r11, [sp, #16 * (", $p, ") + 8]\n",
            $t,
        )
    };
    // The block's last pass (15): its last step's free slot comes before token 2's first
    // `SMLAD` (r0 still live), so no touch there.
    (last, $w:ident, $g:expr, $lo:expr, $hi:expr) => {
        concat!(
            b2_step!(smuad, b2_act_touch!(), next, $w!($g, 1), $lo, $hi),
            b2_step!(smlad, b2_act_touch!(), next, $w!($g, 2), $lo, $hi),
            b2_step!(smlad, b2_act_touch!(), next, $w!($g, 3), $lo, $hi),
            b2_step!(smlad, "", last),
        )
    };
}

/// The four passes `4c..4c + 4` of chunk `$c`, pass `4c + i` over word group `$gi` at shifts
/// `$loi`/`$hii`; the last one loads the next chunk's first word (`next [$ng, $nlo, $nhi]`),
/// then `$t`; or, with `last`, is the block's last pass.
macro_rules! b2_chunk {
    ($w:ident, $c:expr, [$g0:expr, $lo0:expr, $hi0:expr], [$g1:expr, $lo1:expr, $hi1:expr], [$g2:expr, $lo2:expr, $hi2:expr], [$g3:expr, $lo3:expr, $hi3:expr], $($end:tt)*) => {
        concat!(
            b2_pass!($w, concat!("4 * ", $c), $g0, $lo0, $hi0, $g1, $lo1, $hi1, ""),
            b2_pass!($w, concat!("4 * ", $c, " + 1"), $g1, $lo1, $hi1, $g2, $lo2, $hi2, ""),
            b2_pass!($w, concat!("4 * ", $c, " + 2"), $g2, $lo2, $hi2, $g3, $lo3, $hi3, ""),
            b2_chunk!(@end $w, $c, [$g3, $lo3, $hi3], $($end)*),
        )
    };
    (@end $w:ident, $c:expr, [$g3:expr, $lo3:expr, $hi3:expr], next [$ng:expr, $nlo:expr, $nhi:expr], $t:expr) => {
        b2_pass!($w, concat!("4 * ", $c, " + 3"), $g3, $lo3, $hi3, $ng, $nlo, $nhi, $t)
    };
    (@end $w:ident, $c:expr, [$g3:expr, $lo3:expr, $hi3:expr], last) => {
        b2_pass!(last, $w, $g3, $lo3, $hi3)
    };
}

/// Q2_K's chunk `$c`: all four passes over its qs words, at field shifts `2j` for `j` = 0, 2,
/// 1, 3 (bytes 0 and 2 at `2j`, 1 and 3 at `2j + 8`).
macro_rules! b2_q2k_chunk {
    ($c:literal, $($end:tt)*) => {
        b2_chunk!(b2_word, $c, [$c, "lsl #0", "lsr #8"], [$c, "lsr #4", "lsr #12"], [$c, "lsr #2", "lsr #10"], [$c, "lsr #6", "lsr #14"], $($end)*)
    };
}

/// The min correction of one token for one half of the sub-blocks: its 4 tail words (r0-r3)
/// against the min pairs r4-r7. `first` stores it to `out + $at` (r8); `second` adds the
/// stored first half. `$ld` loads the next token's words (4 slots before their use, with the
/// add and store between).
macro_rules! b2_min {
    (first, $at:literal, $ld:expr) => {
        concat!(
            "smuad r10, r4, r0\n",
            "smuad r11, r5, r1\n",
            "smlad r10, r6, r2, r10\n",
            "smlad r11, r7, r3, r11\n",
            $ld,
            "add r10, r10, r11\n",
            "str r10, [r8, #", $at, "]\n",
        )
    };
    (second, $at:literal, $ld:expr) => {
        concat!(
            "smuad r10, r4, r0\n",
            "smuad r11, r5, r1\n",
            "smlad r10, r6, r2, r10\n",
            "smlad r11, r7, r3, r11\n",
            $ld,
            "ldr r9, [r8, #", $at, "]\n",
            "add r10, r10, r11\n",
            "add r10, r10, r9\n",
            "str r10, [r8, #", $at, "]\n",
        )
    };
}

/// `isum[t] += sc · dot[$p][t]` for the four tokens (r5-r8), the dots of pass `$p` in r0-r3
/// and its scale in `$sc` (`SMLABB`: 1 cycle against `MLA`'s 2, exact: |dot| ≤ 3 · 128 · 16
/// fits the bottom halfword, as the single-token kernel's packed dots rely on too), loading pass `$p + 1`'s dots into r0-r3 and its scale (sub-block
/// `$nsb`) into `$nsc` on the way.
macro_rules! b2_scale {
    ($p:literal, $sc:literal, $nsc:literal, $nsb:literal) => {
        concat!(
            "smlabb r5, r0, ", $sc, ", r5\n",
            "smlabb r6, r1, ", $sc, ", r6\n",
            "ldrd r0, r1, [sp, #16 * ", $p, " + 16]\n",
            "ldrb ", $nsc, ", [sp, #272 + ", $nsb, "]\n",
            "smlabb r7, r2, ", $sc, ", r7\n",
            "smlabb r8, r3, ", $sc, ", r8\n",
            "ldrd r2, r3, [sp, #16 * ", $p, " + 24]\n",
        )
    };
}

macro_rules! b2_touch { ($q:literal) => { concat!("ldrb r4, [r12, #", b2_lead!(), " + 28 * ", $q, "]\n") } }
macro_rules! b2_no_touch { ($q:literal) => { "" } }

macro_rules! b2_kernel {
    ($name:ident, $t:ident) => {
        /// See the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, acts: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #384",
                "ldr r4, [sp, #424]",
                "str r4, [sp, #304]",
                "str r4, [sp, #308]",
                "str r1, [sp, #312]",
                "mov r4, #3",
                "orr r4, r4, #0x30000",
                "mov r5, #0x0f",
                "orr r5, r5, #0xf0000",
                "mov r6, #0x0f",
                "orr r6, r6, r6, lsl #8",
                "orr r6, r6, r6, lsl #16",
                "add r7, sp, #256",
                "stm r7, {{r4-r6}}",
                "str r2, [sp, #316]",
                "str r3, [sp, #320]",
                "mov r12, r0",
                "mov lr, r1",
                // ---- per block: scales to the frame, min pairs, the four min corrections ----
                "1:",
                "ldr r4, [r12]",
                "ldr r5, [r12, #4]",
                "ldr r6, [r12, #8]",
                "ldr r7, [r12, #12]",
                "ldr r9, [sp, #264]",
                "ldr r8, [sp, #320]",
                "and r0, r4, r9",
                "and r1, r5, r9",
                "and r2, r6, r9",
                "and r3, r7, r9",
                "add r10, sp, #272",
                "stm r10, {{r0-r3}}",            // sc[0..16]
                "ldr r9, [sp, #260]",
                "and r0, r9, r6, lsr #4",        // (m8, m10), (m9, m11), (m12, m14), (m13, m15)
                "and r1, r9, r6, lsr #12",
                "and r2, r9, r7, lsr #4",
                "and r3, r9, r7, lsr #12",
                "add r10, sp, #288",
                "stm r10, {{r0-r3}}",
                "ldm lr!, {{r0-r3}}",            // token 0's sums of sub-blocks 0..8
                "and r6, r9, r5, lsr #4",        // (m4, m6), (m5, m7)
                "and r7, r9, r5, lsr #12",
                "and r5, r9, r4, lsr #12",       // (m1, m3)
                "and r4, r9, r4, lsr #4",        // (m0, m2)
                "ldr r10, [r12, #80]",           // d, dmin
                "str r10, [r8]",
                b2_min!(first, 20, "ldm lr!, {{r0-r3}}\n"),
                b2_min!(first, 24, "ldm lr!, {{r0-r3}}\n"),
                b2_min!(first, 28, "ldm lr!, {{r0-r3}}\n"),
                b2_min!(first, 32, "ldm lr!, {{r0-r3}}\n"),
                "add r9, sp, #288",
                "ldm r9, {{r4-r7}}",
                b2_min!(second, 20, "ldm lr!, {{r0-r3}}\n"),
                b2_min!(second, 24, "ldm lr!, {{r0-r3}}\n"),
                b2_min!(second, 28, "ldm lr!, {{r0-r3}}\n"),
                b2_min!(second, 32, ""),
                // ---- 16 passes of 4 steps ----
                "ldr r4, [r12, #16]",
                "ldr r9, [sp, #256]",
                "ldm lr!, {{r0, r1}}",
                "and r5, r9, r4",
                "ldm lr!, {{r2, r3}}",
                "and r6, r9, r4, lsr #8",
                b2_q2k_chunk!(0, next [1, "lsl #0", "lsr #8"], $t!(0)),
                b2_q2k_chunk!(1, next [2, "lsl #0", "lsr #8"], $t!(1)),
                b2_q2k_chunk!(2, next [3, "lsl #0", "lsr #8"], $t!(2)),
                b2_q2k_chunk!(3, last),
                // ---- isum[t] = Σ sc[sb] · dot[P][t]: pass 15's dots are still in r7/r8/r10/r11.
                // Pass P's sub-block: 0 4 2 6 1 5 3 7 8 12 10 14 9 13 11 15. ----
                "str r7, [sp, #16 * 15]",
                "str r8, [sp, #16 * 15 + 4]",
                "ldrd r0, r1, [sp]",
                "ldrd r2, r3, [sp, #8]",
                "str r10, [sp, #16 * 15 + 8]",
                "ldrb r4, [sp, #272 + 0]",
                "str r11, [sp, #16 * 15 + 12]",
                "ldrb r9, [sp, #272 + 4]",
                "smulbb r5, r0, r4",
                "smulbb r6, r1, r4",
                "ldrd r0, r1, [sp, #16]",
                "smulbb r7, r2, r4",
                "smulbb r8, r3, r4",
                "ldrd r2, r3, [sp, #24]",
                b2_scale!(1, "r9", "r4", 2),
                b2_scale!(2, "r4", "r9", 6),
                b2_scale!(3, "r9", "r4", 1),
                b2_scale!(4, "r4", "r9", 5),
                b2_scale!(5, "r9", "r4", 3),
                b2_scale!(6, "r4", "r9", 7),
                b2_scale!(7, "r9", "r4", 8),
                b2_scale!(8, "r4", "r9", 12),
                b2_scale!(9, "r9", "r4", 10),
                b2_scale!(10, "r4", "r9", 14),
                b2_scale!(11, "r9", "r4", 9),
                b2_scale!(12, "r4", "r9", 13),
                b2_scale!(13, "r9", "r4", 11),
                b2_scale!(14, "r4", "r9", 15),
                "smlabb r5, r0, r9, r5",
                "smlabb r6, r1, r9, r6",
                "ldr r0, [sp, #320]",
                "smlabb r7, r2, r9, r7",
                "smlabb r8, r3, r9, r8",
                // ---- the isums out, then the next block (and the row's first pairs again) ----
                "stmib r0, {{r5-r8}}",
                "add r0, r0, #36",
                "str r0, [sp, #320]",
                "add r12, r12, #84",
                "ldr r4, [sp, #304]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #308]",
                "ldreq lr, [sp, #312]",
                "str r4, [sp, #304]",
                "ldr r1, [sp, #316]",
                "subs r1, r1, #1",
                "str r1, [sp, #316]",
                "bne 1b",
                "add sp, sp, #384",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

b2_kernel!(q2k_batch4, b2_no_touch);
b2_kernel!(q2k_batch4_touch, b2_touch);
