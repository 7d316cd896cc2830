//! Q3_K superblock kernel for four prompt tokens at once, hand-scheduled for the ARM1176:
//! each block's 2-bit quants and `hmask` bits are merged once into 3-bit fields, then every
//! field is multiplied with the activations of all four tokens (the single-token kernel,
//! `asm_q23k::q3k_blocks`, merges them again for every token, 17 cycles per 8 weights).
//!
//! `extern "C" fn(w, acts, n, out, row_blocks)`, as `asm_batch_q2k`: `w` = the first of `n`
//! consecutive 110-byte blocks (any alignment); `acts` = the four tokens' Q8_K pair blocks
//! (prepared for Q2_K or Q3_K: the 2-bit pair order) interleaved by the driver
//! (`batch::interleave_q2k`, `BATCH_Q2K_ACT_BYTES` per block, 8-aligned; the pointer returns
//! to `acts` after every `row_blocks` blocks); `out` = 5 words per block: the block's `d`
//! (zero-extended), then for tokens 0..4 `isum = Σ sc[j] · (Σ (q + 4h) · x − 4 · bsum[j])`
//! with `sc` the signed 6-bit scale − 32 and `h` the `hmask` bit (the weight is `q + 4h −
//! 4`): the single-token kernel's `Σ sc·(dot − 4·bsum)`, the same exact integer.
//!
//! The quants take `asm_batch_q2k`'s order: chunk `c` (qs words `4c..4c + 4`, elements
//! `l = 16 (c % 2) + 4k + byte` of half `h = c / 2`), field `j` (bits `2j`, `hmask` bit `4h +
//! j` of byte `l`) is sub-block `8h + 2j + c % 2`, and the passes run `j` = 0, 2, 1, 3 per
//! chunk, so the interleaved activations and the dots are Q2_K's.
//!
//! Per block:
//! - Header: the 16 scales unpacked to signed pairs (`SXTB16`: `(sc0, sc2)`, `(sc1, sc3)`,
//!   ... as in `asm_q23k`) and stored; each token's `Σ sc · bsum` from the tail words (the
//!   single kernel's pairing), stored as `−4 · Σ`; then the merge: for every qs word `Q` of
//!   chunk `c` and its `hmask` word `H` (word `4 (c % 2) + k`), two frame words, `E` = `Q &
//!   0x33333333` with `h0` at bit 2 and `h2` at bit 6 of each byte, `O` = `(Q >> 2) &
//!   0x33333333` with `h1`, `h3` there (the half's bits of `H` moved by one shifted `AND`
//!   each), so field `j` of a byte is the 3 bits `q + 4h` at bit `4 (j / 2)` of `E` (`j`
//!   even) or `O`. 5 ALU operations and a store a word, ~230 cycles a block.
//! - 16 passes of 4 steps, `asm_batch_q2k`'s macros (`b2_chunk`: its step, 4 weights × 4
//!   tokens, 16 cycles, no interlock) with the word loaded from the frame and the mask
//!   0x00070007. A pass's four dots go to the frame.
//! - Epilogue: `isum[t] = −4 Σ sc · bsum + Σ sc[sb] · dot[sb][t]`, 64 `SMLABB`/`SMLABT`
//!   (exact: |dot| ≤ 7 · 128 · 16 fits the bottom halfword; each scale is the bottom or top
//!   half of its stored pair), then `d` and the isums out.
//!
//! Registers in the passes: as `asm_batch_q2k`'s, r9 the mask 0x00070007, r12 the block.
//! Frame (sp+): 0 the dots (pass `P`, token `t` at `16P + 4t`: `LDRD` offsets stop at 255);
//! 256 the merged words (chunk `c`, `E`/`O` `e`, word `k` at `256 + 32c + 16e + 4k`); 384 the
//! scale pairs; 416 the four `−4 · Σ sc · bsum`; 432 0x00070007, 436 0x33333333, 440
//! 0x04040404, 444 0x40404040, 448 0x0F0F0F0F, 452 0x30303030, 456 0x20202020; 460 blocks
//! left in the row, 464 `row_blocks`, 468 the first interleaved block, 472 blocks left, 476
//! out pointer.
//!
//! Touches: the activation touches of `asm_batch_q2k` (up to `BATCH_Q2K_ACT_REACH` bytes past
//! a row's last interleaved block). The touch variant also loads a byte `LEAD + 28q` bytes
//! past the block start for q = 0 (in the header) and after passes 3, 7 and 11; it reads up
//! to [`BATCH_Q3K_TOUCH_REACH`] bytes past the last block.
//!
//! Cycles (ARM1176 cost model, `kernel-bench Q3_K --shape 512x768 --batch 8`): 1.62 per
//! weight and token with mem=off (the driver's interleaving and float part included), 1.81
//! with the memory model, against 2.85 and 3.16 token by token through `asm_q23k`; about
//! 1700 per block (4 tokens): ~360 in the header (~250 of it the merge), ~1160 in the
//! passes, ~150 in the epilogue.

#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Distance (bytes) of the weight touch loads ahead of the block start.
macro_rules! b3_lead { () => { "256" } }
/// Bytes past the end of the last block the touch variant may read (lead + 3 · 28 + 1 − 110,
/// rounded up).
pub const BATCH_Q3K_TOUCH_REACH: usize = 256;

/// The frame address of merged word `$k` of group `$g` (chunk `c`, `E`/`O` `e`: `2c + e`).
macro_rules! b3_word { ($g:expr, $k:expr) => { concat!("[sp, #256 + 16 * (", $g, ") + 4 * ", $k, "]") } }

/// Chunk `$c`'s four passes (`asm_batch_q2k`'s, over the merged words): `j` = 0 and 2 from its
/// `E` words (group `2c`) at shifts 0 and 4, `j` = 1 and 3 from its `O` words (`2c + 1`).
macro_rules! b3_chunk {
    ($c:literal, $($end:tt)*) => {
        b2_chunk!(
            b3_word,
            $c,
            [concat!("2 * ", $c), "lsl #0", "lsr #8"],
            [concat!("2 * ", $c), "lsr #4", "lsr #12"],
            [concat!("2 * ", $c, " + 1"), "lsl #0", "lsr #8"],
            [concat!("2 * ", $c, " + 1"), "lsr #4", "lsr #12"],
            $($end)*
        )
    };
}

/// `Σ sc · bsum` of one token for one half of the sub-blocks: its 4 tail words (r0-r3)
/// against the scale pairs r4-r7. `first` stores it to the frame; `second` adds the stored
/// first half and stores `−4 ·` the sum (r8 = 0). `$ld` loads the next token's words.
macro_rules! b3_corr {
    (first, $t:literal, $ld:expr) => {
        concat!(
            "smuad r10, r4, r0\n",
            "smuad r11, r5, r1\n",
            "smlad r10, r6, r2, r10\n",
            "smlad r11, r7, r3, r11\n",
            $ld,
            "add r10, r10, r11\n",
            "str r10, [sp, #416 + 4 * ", $t, "]\n",
        )
    };
    (second, $t:literal, $ld:expr) => {
        concat!(
            "smuad r10, r4, r0\n",
            "smuad r11, r5, r1\n",
            "smlad r10, r6, r2, r10\n",
            "smlad r11, r7, r3, r11\n",
            $ld,
            "ldr r9, [sp, #416 + 4 * ", $t, "]\n",
            "add r10, r10, r11\n",
            "add r10, r10, r9\n",
            "sub r10, r8, r10, lsl #2\n",
            "str r10, [sp, #416 + 4 * ", $t, "]\n",
        )
    };
}

/// The four merged words of qs word `$k` of chunks `$c` and `$c + 2` (in `$q`, `$q2`) and
/// their `hmask` word `$h` (masks: r9 0x33333333, r10 0x04040404, r11 0x40404040; r6, r7
/// scratch); `$l0`-`$l2` load the next words on the way.
macro_rules! b3_merge {
    ($h:literal, $q:literal, $q2:literal, $c:literal, $k:literal, $l0:expr, $l1:expr, $l2:expr) => {
        concat!(
            "and r6, r9, ", $q, "\n",
            "and r7, r10, ", $h, ", lsl #2\n",
            $l0,
            "orr r6, r6, r7\n",
            "and r7, r11, ", $h, ", lsl #4\n",
            "orr r6, r6, r7\n",
            "str r6, [sp, #256 + 32 * ", $c, " + 4 * ", $k, "]\n",
            "and r6, r9, ", $q, ", lsr #2\n",
            "and r7, r10, ", $h, ", lsl #1\n",
            $l1,
            "orr r6, r6, r7\n",
            "and r7, r11, ", $h, ", lsl #3\n",
            "orr r6, r6, r7\n",
            "str r6, [sp, #256 + 32 * ", $c, " + 16 + 4 * ", $k, "]\n",
            "and r6, r9, ", $q2, "\n",
            "and r7, r10, ", $h, ", lsr #2\n",
            $l2,
            "orr r6, r6, r7\n",
            "and r7, r11, ", $h, "\n",
            "orr r6, r6, r7\n",
            "str r6, [sp, #256 + 32 * ", $c, " + 64 + 4 * ", $k, "]\n",
            "and r6, r9, ", $q2, ", lsr #2\n",
            "and r7, r10, ", $h, ", lsr #3\n",
            "orr r6, r6, r7\n",
            "and r7, r11, ", $h, ", lsr #1\n",
            "orr r6, r6, r7\n",
            "str r6, [sp, #256 + 32 * ", $c, " + 80 + 4 * ", $k, "]\n",
        )
    };
}

/// Loads of the `hmask` word and the two qs words of word `$k` of chunks `$c`, `$c + 2` into
/// `$h`, `$q`, `$q2` (one string each, for [`b3_merge`]'s slots).
macro_rules! b3_ld_h { ($h:literal, $c:literal, $k:literal) => { concat!("ldr ", $h, ", [r12, #16 * ", $c, " + 4 * ", $k, "]\n") } }
macro_rules! b3_ld_q { ($q:literal, $c:literal, $k:literal) => { concat!("ldr ", $q, ", [r12, #32 + 16 * ", $c, " + 4 * ", $k, "]\n") } }
macro_rules! b3_ld_q2 { ($q:literal, $c:literal, $k:literal) => { concat!("ldr ", $q, ", [r12, #64 + 16 * ", $c, " + 4 * ", $k, "]\n") } }

/// `isum[t] += sc · dot[$p][t]` for the four tokens (r5-r8), the dots of pass `$p` in r0-r3
/// and its scale pair in `$sc` (`$y`: `b` its bottom half, `t` its top), loading pass `$p +
/// 1`'s dots into r0-r3 and its scale pair (at frame offset `$noff`) into `$nsc`.
macro_rules! b3_scale {
    ($p:literal, $sc:literal, $y:literal, $nsc:literal, $noff:literal) => {
        concat!(
            "smlab", $y, " r5, r0, ", $sc, ", r5\n",
            "smlab", $y, " r6, r1, ", $sc, ", r6\n",
            "ldrd r0, r1, [sp, #16 * ", $p, " + 16]\n",
            "ldr ", $nsc, ", [sp, #", $noff, "]\n",
            "smlab", $y, " r7, r2, ", $sc, ", r7\n",
            "smlab", $y, " r8, r3, ", $sc, ", r8\n",
            "ldrd r2, r3, [sp, #16 * ", $p, " + 24]\n",
        )
    };
}

macro_rules! b3_touch { ($r:literal, $q:literal) => { concat!("ldrb ", $r, ", [r12, #", b3_lead!(), " + 28 * ", $q, "]\n") } }
macro_rules! b3_no_touch { ($r:literal, $q:literal) => { "" } }

macro_rules! b3_kernel {
    ($name:ident, $t:ident) => {
        /// See the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, acts: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #480",
                "ldr r4, [sp, #520]",
                "str r4, [sp, #460]",
                "str r4, [sp, #464]",
                "str r1, [sp, #468]",
                "str r2, [sp, #472]",
                "str r3, [sp, #476]",
                "mov r4, #7",
                "orr r4, r4, #0x70000",
                "mov r5, #0x33",
                "orr r5, r5, r5, lsl #8",
                "orr r5, r5, r5, lsl #16",
                "mov r6, #0x04",
                "orr r6, r6, r6, lsl #8",
                "orr r6, r6, r6, lsl #16",
                "mov r7, #0x40",
                "orr r7, r7, r7, lsl #8",
                "orr r7, r7, r7, lsl #16",
                "add r8, sp, #432",
                "stm r8, {{r4-r7}}",
                "mov r4, #0x0f",
                "orr r4, r4, r4, lsl #8",
                "orr r4, r4, r4, lsl #16",
                "mov r5, #0x30",
                "orr r5, r5, r5, lsl #8",
                "orr r5, r5, r5, lsl #16",
                "mov r6, #0x20",
                "orr r6, r6, r6, lsl #8",
                "orr r6, r6, r6, lsl #16",
                "add r8, sp, #448",
                "stm r8, {{r4-r6}}",
                "mov r12, r0",
                "mov lr, r1",
                // ---- per block: the scales as signed pairs P0..P7 (sc0|sc2, sc1|sc3, ...) ----
                "1:",
                "ldr r4, [r12, #96]",
                "ldr r5, [r12, #100]",
                "ldr r6, [r12, #104]",
                "ldr r8, [sp, #448]",
                "ldr r9, [sp, #452]",
                "ldr r10, [sp, #456]",
                $t!("r7", 0),
                q3k_scale_bytes!(),
                "usub8 r0, r0, r10",
                "usub8 r1, r1, r10",
                "usub8 r2, r2, r10",
                "usub8 r3, r3, r10",
                "sxtb16 r4, r0",
                "sxtb16 r5, r0, ror #8",
                "sxtb16 r6, r1",
                "sxtb16 r7, r1, ror #8",
                "sxtb16 r0, r2",
                "sxtb16 r1, r2, ror #8",
                "sxtb16 r2, r3",
                "sxtb16 r3, r3, ror #8",
                "add r8, sp, #384",
                "stm r8, {{r4-r7}}",
                "add r9, sp, #400",
                "stm r9, {{r0-r3}}",
                // ---- each token's −4 · Σ sc · bsum from the tail words ----
                "ldm lr!, {{r0-r3}}",            // token 0's tail words 0..4
                b3_corr!(first, 0, "ldm lr!, {{r0-r3}}\n"),
                b3_corr!(first, 1, "ldm lr!, {{r0-r3}}\n"),
                b3_corr!(first, 2, "ldm lr!, {{r0-r3}}\n"),
                b3_corr!(first, 3, "ldm lr!, {{r0-r3}}\n"),
                "add r9, sp, #400",
                "ldm r9, {{r4-r7}}",
                "mov r8, #0",
                b3_corr!(second, 0, "ldm lr!, {{r0-r3}}\n"),
                b3_corr!(second, 1, "ldm lr!, {{r0-r3}}\n"),
                b3_corr!(second, 2, "ldm lr!, {{r0-r3}}\n"),
                b3_corr!(second, 3, concat!(b3_ld_h!("r0", 0, 0), b3_ld_q!("r1", 0, 0), b3_ld_q2!("r2", 0, 0))),
                // ---- the merged words: hmask word k (+4 for odd chunks) with qs words of
                // chunks c and c + 2 ----
                "add r9, sp, #436",
                "ldm r9, {{r9-r11}}",
                b3_merge!("r0", "r1", "r2", 0, 0, b3_ld_h!("r3", 0, 1), b3_ld_q!("r4", 0, 1), b3_ld_q2!("r5", 0, 1)),
                b3_merge!("r3", "r4", "r5", 0, 1, b3_ld_h!("r0", 0, 2), b3_ld_q!("r1", 0, 2), b3_ld_q2!("r2", 0, 2)),
                b3_merge!("r0", "r1", "r2", 0, 2, b3_ld_h!("r3", 0, 3), b3_ld_q!("r4", 0, 3), b3_ld_q2!("r5", 0, 3)),
                b3_merge!("r3", "r4", "r5", 0, 3, b3_ld_h!("r0", 1, 0), b3_ld_q!("r1", 1, 0), b3_ld_q2!("r2", 1, 0)),
                b3_merge!("r0", "r1", "r2", 1, 0, b3_ld_h!("r3", 1, 1), b3_ld_q!("r4", 1, 1), b3_ld_q2!("r5", 1, 1)),
                b3_merge!("r3", "r4", "r5", 1, 1, b3_ld_h!("r0", 1, 2), b3_ld_q!("r1", 1, 2), b3_ld_q2!("r2", 1, 2)),
                b3_merge!("r0", "r1", "r2", 1, 2, b3_ld_h!("r3", 1, 3), b3_ld_q!("r4", 1, 3), b3_ld_q2!("r5", 1, 3)),
                b3_merge!("r3", "r4", "r5", 1, 3, "", "", ""),
                // ---- 16 passes of 4 steps ----
                "ldr r4, [sp, #256]",
                "ldr r9, [sp, #432]",
                "ldm lr!, {{r0, r1}}",
                "and r5, r9, r4",
                "ldm lr!, {{r2, r3}}",
                "and r6, r9, r4, lsr #8",
                b3_chunk!(0, next [2, "lsl #0", "lsr #8"], $t!("r4", 1)),
                b3_chunk!(1, next [4, "lsl #0", "lsr #8"], $t!("r4", 2)),
                b3_chunk!(2, next [6, "lsl #0", "lsr #8"], $t!("r4", 3)),
                b3_chunk!(3, last),
                // ---- isum[t] = −4 Σ sc · bsum + Σ sc[sb] · dot[P][t]: pass 15's dots are still
                // in r7/r8/r10/r11. Pass P's sub-block: 0 4 2 6 1 5 3 7 8 12 10 14 9 13 11 15,
                // its scale in pair 2 (sb / 4) + sb % 2, half (sb % 4) / 2. ----
                "str r7, [sp, #16 * 15]",
                "str r8, [sp, #16 * 15 + 4]",
                "ldrd r0, r1, [sp]",
                "ldrd r2, r3, [sp, #8]",
                "str r10, [sp, #16 * 15 + 8]",
                "ldr r4, [sp, #384]",
                "str r11, [sp, #16 * 15 + 12]",
                "add r5, sp, #416",
                "ldm r5, {{r5-r8}}",
                b3_scale!(0, "r4", "b", "r9", 392),
                b3_scale!(1, "r9", "b", "r4", 384),
                b3_scale!(2, "r4", "t", "r9", 392),
                b3_scale!(3, "r9", "t", "r4", 388),
                b3_scale!(4, "r4", "b", "r9", 396),
                b3_scale!(5, "r9", "b", "r4", 388),
                b3_scale!(6, "r4", "t", "r9", 396),
                b3_scale!(7, "r9", "t", "r4", 400),
                b3_scale!(8, "r4", "b", "r9", 408),
                b3_scale!(9, "r9", "b", "r4", 400),
                b3_scale!(10, "r4", "t", "r9", 408),
                b3_scale!(11, "r9", "t", "r4", 404),
                b3_scale!(12, "r4", "b", "r9", 412),
                b3_scale!(13, "r9", "b", "r4", 404),
                b3_scale!(14, "r4", "t", "r9", 412),
                "smlabt r5, r0, r9, r5",
                "smlabt r6, r1, r9, r6",
                "ldr r0, [sp, #476]",
                "smlabt r7, r2, r9, r7",
                "ldrh r4, [r12, #108]",
                "smlabt r8, r3, r9, r8",
                // ---- d and the isums out, then the next block (and the row's first pairs
                // again) ----
                "stmia r0!, {{r4-r8}}",
                "str r0, [sp, #476]",
                "add r12, r12, #110",
                "ldr r4, [sp, #460]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #464]",
                "ldreq lr, [sp, #468]",
                "str r4, [sp, #460]",
                "ldr r1, [sp, #472]",
                "subs r1, r1, #1",
                "str r1, [sp, #472]",
                "bne 1b",
                "add sp, sp, #480",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

b3_kernel!(q3k_batch4, b3_no_touch);
b3_kernel!(q3k_batch4_touch, b3_touch);
