//! Q6_K superblock kernel for four prompt tokens at once, hand-scheduled for the ARM1176:
//! each block's 6-bit quants are assembled once (low nibble from `ql`, two high bits from
//! `qh`) and multiplied with the activations of all four tokens (the single-token kernel,
//! `asm_q6k`, assembles every field again for every token).
//!
//! `extern "C" fn(w, acts, n, out, row_blocks, lead)`, as `asm_batch_q4k` with the touch
//! distance of `asm_batch_legacy`: `w` = the first of `n`
//! consecutive 210-byte blocks (any alignment); `acts` = the four tokens' Q8_K pair blocks
//! (prepared for Q6_K: its own pair layout) interleaved by the driver
//! (`batch::interleave_q2k`, whose layout fits: [`BATCH_Q6K_ACT_BYTES`] per block,
//! 8-aligned; the pointer returns to `acts` after every `row_blocks` blocks); `out` = 5
//! words per block: the f16 `d`, then for tokens 0..4 the integer sum
//! `Σ sc[j] · (Σ q·x − 32 · bsum[j])`, `asm_q6k`'s. The sums are exact, so they equal the
//! single-token kernel's. `lead`: the distance (bytes) of the touch loads ahead of the block
//! (256 in a run of whole rows; a row's length when the driver goes over a segment of a
//! band of rows, one row a call).
//!
//! The interleaved block: 16 words of block sums (token by token, words 0..4 of its pair
//! block's tail: the sums of sub-blocks 0..8 as `(bs[4k], bs[4k+2])`, `(bs[4k+1], bs[4k+3])`
//! pairs), 16 more (tail words 4..8), then the 512 step words in `asm_batch_q4k`'s order
//! (`interleave_pairs`): step `g = 8 (2c + p) + s` holds, per token, the two pair words
//! `asm_q6k`'s step `i = 8c + s` meets with its field `p` (0: the low nibbles of `ql`, 1:
//! the high). Read in that order, a run of 4 steps is one 16-weight sub-block: pass
//! `P = 8n + 4c' + 2p + h` (`c = 2n + c'`) covers `asm_q6k`'s steps `8c + 4h .. + 4`, field
//! `p`: sub-block `8n + 4p + 2c' + h`.
//!
//! Per block:
//! - Header: `d` out; the four tokens' `Σ sc[j] · bsum[j]` (`SXTB16` scale pairs against the
//!   tail words, 32 `SMLAD`s) to the frame.
//! - Assembly pass: the 64 field words of the block, 4 from each `qh` word `H` and its two
//!   `ql` words `L` (steps `i`) and `L'` (step `i + 8`): `L & 0x0F0F0F0F | (H << 4) & 0x30..`,
//!   `(L >> 4) & 0x0F.. | H & 0x30..`, `L' & 0x0F.. | (H << 2) & 0x30..`, `(L' >> 4) & 0x0F.. |
//!   (H >> 2) & 0x30..` (`asm_q6k`'s fields), stored with one `STM`: 16 cycles per 4 field
//!   words, no interlock.
//! - 16 passes of 4 steps: the inner step of `asm_batch_q5k` (4 weights × 4 tokens in 16
//!   cycles, no interlock; its module doc has the schedule) over the field words, the pairs
//!   taken with the mask 0x003F003F. A pass's four dots go to the frame (two `STRD`s).
//! - Epilogue: `isum[t] = Σ sc[sb] · dot[sb][t] − 32 · Σ sc · bsum`, 64 `MLA`s (a dot needs
//!   18 bits with its sign: no halfword multiply), the isums out.
//!
//! Registers in the passes: r0-r3 activation pairs, r4 field word, r5/r8 pairs, r6/r7/r10/r11
//! the four tokens' dots (even pairs for `STRD`), r9 the mask 0x003F003F, r12 the block base
//! plus `lead` (in the passes it only serves the touches), lr activation pointer. Frame
//! (sp+): 0 the dots (pass `P`, token `t` at `16P + 4t`: `LDRD` offsets stop at 255); 256 0x0F0F0F0F, 260 0x30303030, 264 0x003F003F; 268 blocks left,
//! 272 out pointer, 276 blocks left in the row, 280 `row_blocks`, 284 the first interleaved
//! block, 288 the activation pointer (saved over the assembly pass), 292 the four tokens'
//! `Σ sc · bsum`, 308 `lead`; 320 the field words (group `q = 8n + m`'s four at `320 + 16q`).
//!
//! Touches: every step but the block's last loads a byte of the activation line eight steps
//! ahead into r0 (dead from slot 7 to 11) in its free slot, as `asm_batch_q5k` does six
//! steps ahead (eight stalled a little less here: 1.875 against 1.884 cycles per weight and
//! token with the memory model); both variants read up to 224 bytes past a row's last
//! interleaved block (`BATCH_Q2K_ACT_REACH` is 256). The touch variant also loads a byte
//! `lead + 14P` bytes past the block start into r4 after pass `P` (never more than 32 bytes
//! apart), so the lines of the block `lead` bytes on are in by its assembly pass; it reads
//! up to `lead` + [`BATCH_Q6K_TOUCH_SPAN`] bytes past the last block.
//!
//! Cycles (ARM1176 cost model, `kernel-bench Q6_K --shape 4096x512 --batch 8`, the driver's
//! interleaving and float part included): 1.67 per weight and token with mem=off, 1.88 with
//! the memory model, against 2.74 and 3.10 token by token through `asm_q6k` (512x768: 1.67
//! and 2.02 against 2.84 and 3.34; Gemma 3 270M's `ffn_down`, 640x2048, in bands and
//! segments of 2 blocks: 1.73 and 2.12 against 2.90 and 3.98). Per block (4 tokens, memory
//! model on): about 1810 in the kernel: 1230 in the passes (1024 in the steps, 48 in the
//! pass ends, ~150 of memory stall spread over the steps), 260 in the assembly pass, 205 in
//! the epilogue (64 `MLA`s at 2 issue cycles), 100 in the header.

#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Bytes of one block's interleaved activations (`batch::interleave_q2k`'s): 32 words of
/// block sums, 512 step words.
pub const BATCH_Q6K_ACT_BYTES: usize = 4 * (32 + 512);

/// Bytes past the end of the last block the touch variant may read beyond its `lead`
/// (`14 · 15 + 1 - 210`): it reads up to `lead + 1` bytes past the last block.
pub const BATCH_Q6K_TOUCH_SPAN: usize = 1;

/// One step (the `asm_batch_q5k` step, the second pair in r8 and the dots in r6/r7/r10/r11).
/// `$mac` is `smuad` for a pass's first step (fresh dots); `$n0` fills the free slot;
/// `$more` is `next, $word` (the next field word's frame offset) or `last` (the block's last
/// step: no loads for a next step).
macro_rules! b6_step {
    (smuad, $n0:expr, $($more:tt)*) => {
        b6_step!(@body "smuad r6, r5, r0\n", "smuad r7, r5, r2\n", "smuad r10, r5, r0\n", "smuad r11, r5, r2\n", $n0, $($more)*)
    };
    (smlad, $n0:expr, $($more:tt)*) => {
        b6_step!(@body "smlad r6, r5, r0, r6\n", "smlad r7, r5, r2, r7\n", "smlad r10, r5, r0, r10\n", "smlad r11, r5, r2, r11\n", $n0, $($more)*)
    };
    (@body $m6:expr, $m7:expr, $m10:expr, $m11:expr, $n0:expr, next, $word:expr) => {
        concat!(
            $m6,
            $m7,
            "smlad r6, r8, r1, r6\n",
            "ldm lr!, {{r0, r1}}\n",
            "smlad r7, r8, r3, r7\n",
            "ldm lr!, {{r2, r3}}\n",
            "ldr r4, [sp, #", $word, "]\n",
            $m10,
            $n0,
            "smlad r10, r8, r1, r10\n",
            $m11,
            "ldm lr!, {{r0, r1}}\n",
            "smlad r11, r8, r3, r11\n",
            "ldm lr!, {{r2, r3}}\n",
            "and r5, r9, r4\n",
            "and r8, r9, r4, lsr #8\n",
        )
    };
    (@body $m6:expr, $m7:expr, $m10:expr, $m11:expr, $n0:expr, last) => {
        concat!(
            $m6,
            $m7,
            "smlad r6, r8, r1, r6\n",
            "ldm lr!, {{r0, r1}}\n",
            "smlad r7, r8, r3, r7\n",
            "ldm lr!, {{r2, r3}}\n",
            $n0,
            $m10,
            "smlad r10, r8, r1, r10\n",
            $m11,
            "smlad r11, r8, r3, r11\n",
        )
    };
}

/// The frame offset of step `$s` of the pass `(n, c', p, h)`: field word `32n + 4(4h + s) +
/// 2c' + p` (the assembly pass's group `8n + 4h + s`, its field `2c' + p`).
macro_rules! b6_word {
    ($n:literal, $c:literal, $p:literal, $h:literal, $s:literal) => {
        concat!("320 + 128 * ", $n, " + 16 * (4 * ", $h, " + ", $s, ") + 8 * ", $c, " + 4 * ", $p)
    };
}

/// A step's activation touch: a byte into r0 (dead from slot 7 to 11) from the line read eight
/// steps later (lr is at the next step's words; `asm_batch_q5k` touches six ahead).
macro_rules! b6_act_touch { () => { "ldrb r0, [lr, #256]\n" } }

/// Pass `$pp` = `(n, c', p, h)` (4 steps; the last one loads the first word of the next pass
/// `($nn, $nc, $np, $nh)`), then its dots to the frame and `$t`, the touch (or nothing) in
/// the weight stream.
macro_rules! b6_pass {
    (@end $pp:literal, $t:ident) => {
        concat!(
            "strd r6, r7, [sp, #16 * ", $pp, "]\n",
            "strd r10, r11, [sp, #16 * ", $pp, " + 8]\n",
            $t!($pp),
        )
    };
    // The block's last pass (15 = (1, 1, 1, 1)): no loads past its own steps, no touch in
    // the last step (it would read 256 bytes past the block).
    (last) => {
        concat!(
            b6_step!(smuad, b6_act_touch!(), next, b6_word!(1, 1, 1, 1, 1)),
            b6_step!(smlad, b6_act_touch!(), next, b6_word!(1, 1, 1, 1, 2)),
            b6_step!(smlad, b6_act_touch!(), next, b6_word!(1, 1, 1, 1, 3)),
            b6_step!(smlad, "", last),
        )
    };
    ($pp:literal, $n:literal, $c:literal, $p:literal, $h:literal, $nn:literal, $nc:literal, $np:literal, $nh:literal, $t:ident) => {
        concat!(
            b6_step!(smuad, b6_act_touch!(), next, b6_word!($n, $c, $p, $h, 1)),
            b6_step!(smlad, b6_act_touch!(), next, b6_word!($n, $c, $p, $h, 2)),
            b6_step!(smlad, b6_act_touch!(), next, b6_word!($n, $c, $p, $h, 3)),
            b6_step!(smlad, b6_act_touch!(), next, b6_word!($nn, $nc, $np, $nh, 0)),
            b6_pass!(@end $pp, $t),
        )
    };
}

/// The four field words of assembly group `q` (one `qh` word): on entry r0 = `L`, r2 =
/// `L'`, r8 = `H`; `$more` is `next, L, L', H` (the next group's byte offsets, loaded on the
/// way) or `last`. r10 = 0x0F0F0F0F, r11 = 0x30303030, lr the field pointer, r9 scratch.
macro_rules! b6_fields {
    (@ld 0, next, $l:literal, $l2:literal, $h:literal) => { concat!("ldr r0, [r12, #", $l, "]\n") };
    (@ld 2, next, $l:literal, $l2:literal, $h:literal) => { concat!("ldr r2, [r12, #", $l2, "]\n") };
    (@ld 8, next, $l:literal, $l2:literal, $h:literal) => { concat!("ldr r8, [r12, #", $h, "]\n") };
    (@ld $r:literal, last) => { "" };
    ($($more:tt)*) => {
        concat!(
            "and r5, r10, r0, lsr #4\n",
            "and r4, r0, r10\n",
            b6_fields!(@ld 0, $($more)*),
            "and r9, r11, r8, lsl #4\n",
            "orr r4, r4, r9\n",
            "and r9, r11, r8\n",
            "orr r5, r5, r9\n",
            "and r7, r10, r2, lsr #4\n",
            "and r6, r2, r10\n",
            b6_fields!(@ld 2, $($more)*),
            "and r9, r11, r8, lsl #2\n",
            "orr r6, r6, r9\n",
            "and r9, r11, r8, lsr #2\n",
            b6_fields!(@ld 8, $($more)*),
            "orr r7, r7, r9\n",
            "stm lr!, {{r4-r7}}\n",
        )
    };
}

/// One token's half of `Σ sc · bsum` into `$acc`: its 4 tail words (r0-r3) against the
/// scale pairs r4-r7; `next` loads the next 4 words on the way (each `LDM` after the last
/// reader of its registers; the chain's links are 2 cycles apart).
macro_rules! b6_bsum {
    (smuad, $acc:literal, $more:tt) => {
        concat!("smuad ", $acc, ", r4, r0\n", b6_bsum!(@rest $acc, $more))
    };
    (smlad, $acc:literal, $more:tt) => {
        concat!("smlad ", $acc, ", r4, r0, ", $acc, "\n", b6_bsum!(@rest $acc, $more))
    };
    (@rest $acc:literal, next) => {
        concat!(
            "smlad ", $acc, ", r5, r1, ", $acc, "\n",
            "ldm lr!, {{r0, r1}}\n",
            "smlad ", $acc, ", r6, r2, ", $acc, "\n",
            "smlad ", $acc, ", r7, r3, ", $acc, "\n",
            "ldm lr!, {{r2, r3}}\n",
        )
    };
    (@rest $acc:literal, last) => {
        concat!(
            "smlad ", $acc, ", r5, r1, ", $acc, "\n",
            "smlad ", $acc, ", r6, r2, ", $acc, "\n",
            "smlad ", $acc, ", r7, r3, ", $acc, "\n",
        )
    };
}

/// The four tokens' halves of `Σ sc · bsum` (r8-r11, one token each, in turn); `$end` is
/// the last token's [`b6_bsum`] tail: `next` loads the first token's words for the other
/// half, `last` loads nothing.
macro_rules! b6_bsums {
    ($mac:ident, $end:tt) => {
        concat!(
            b6_bsum!($mac, "r8", next),
            b6_bsum!($mac, "r9", next),
            b6_bsum!($mac, "r10", next),
            b6_bsum!($mac, "r11", $end),
        )
    };
}

/// Eight of the block's signed scale bytes, four in r4 and four in r6, as the halfword pairs
/// [`b6_bsum`] multiplies: r4 = bytes 0|2 of r4, r5 = its bytes 1|3, r6 and r7 the same of r6.
macro_rules! b6_scale_pairs {
    () => {
        concat!(
            "sxtb16 r5, r4, ror #8\n",
            "sxtb16 r4, r4\n",
            "sxtb16 r7, r6, ror #8\n",
            "sxtb16 r6, r6\n",
        )
    };
}

/// `isum[t] += sc · dot[P][t]` for the four tokens (r5-r8), the dots of pass `$pp` in r0-r3
/// and its scale in `$sc`, loading pass `$pp + 1`'s dots into r0-r3 and its scale (byte
/// `$nsb` of the block's scales) into `$nsc` on the way.
macro_rules! b6_scale {
    ($pp:literal, $sc:literal, $nsc:literal, $nsb:literal) => {
        concat!(
            "mla r5, r0, ", $sc, ", r5\n",
            "mla r6, r1, ", $sc, ", r6\n",
            "ldrd r0, r1, [sp, #16 * ", $pp, " + 16]\n",
            "ldrsb ", $nsc, ", [r12, #192 + ", $nsb, "]\n",
            "mla r7, r2, ", $sc, ", r7\n",
            "mla r8, r3, ", $sc, ", r8\n",
            "ldrd r2, r3, [sp, #16 * ", $pp, " + 24]\n",
        )
    };
}

macro_rules! b6_touch { ($pp:literal) => { concat!("ldrb r4, [r12, #14 * ", $pp, "]\n") } }
macro_rules! b6_no_touch { ($pp:literal) => { "" } }

macro_rules! b6_kernel {
    ($name:ident, $t:ident) => {
        /// See the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, acts: *const u8, n: u32, out: *mut i32, row_blocks: u32, lead: u32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #576",
                "ldr r4, [sp, #616]",
                "str r4, [sp, #276]",
                "str r4, [sp, #280]",
                "str r1, [sp, #284]",
                "ldr r4, [sp, #620]",
                "str r4, [sp, #308]",
                "mov r4, #0x0f",
                "orr r4, r4, r4, lsl #8",
                "orr r4, r4, r4, lsl #16",
                "mov r5, #0x30",
                "orr r5, r5, r5, lsl #8",
                "orr r5, r5, r5, lsl #16",
                "mov r6, #0x3f",
                "orr r6, r6, #0x3f0000",
                "str r4, [sp, #256]",
                "str r5, [sp, #260]",
                "str r6, [sp, #264]",
                "str r2, [sp, #268]",
                "str r3, [sp, #272]",
                "mov r12, r0",
                "mov lr, r1",
                // ---- per block: d out, the four Σ sc · bsum ----
                "1:",
                "ldr r4, [r12, #192]",
                "ldr r6, [r12, #196]",
                "ldm lr!, {{r0, r1}}",
                "ldrh r9, [r12, #208]",
                "ldm lr!, {{r2, r3}}",
                "ldr r10, [sp, #272]",
                b6_scale_pairs!(),
                "str r9, [r10]",
                b6_bsums!(smuad, next),
                "ldr r4, [r12, #200]",
                "ldr r6, [r12, #204]",
                b6_scale_pairs!(),
                b6_bsums!(smlad, last),
                "str r8, [sp, #292]",
                "str r9, [sp, #296]",
                "str r10, [sp, #300]",
                "str r11, [sp, #304]",
                // ---- the 64 field words ----
                "ldr r10, [sp, #256]",
                "ldr r11, [sp, #260]",
                "ldr r0, [r12]",
                "ldr r2, [r12, #32]",
                "ldr r8, [r12, #128]",
                "str lr, [sp, #288]",
                "add lr, sp, #320",
                b6_fields!(next, "4", "36", "132"),
                b6_fields!(next, "8", "40", "136"),
                b6_fields!(next, "12", "44", "140"),
                b6_fields!(next, "16", "48", "144"),
                b6_fields!(next, "20", "52", "148"),
                b6_fields!(next, "24", "56", "152"),
                b6_fields!(next, "28", "60", "156"),
                b6_fields!(next, "64", "96", "160"),
                b6_fields!(next, "68", "100", "164"),
                b6_fields!(next, "72", "104", "168"),
                b6_fields!(next, "76", "108", "172"),
                b6_fields!(next, "80", "112", "176"),
                b6_fields!(next, "84", "116", "180"),
                b6_fields!(next, "88", "120", "184"),
                b6_fields!(next, "92", "124", "188"),
                b6_fields!(last),
                // ---- 16 passes of 4 steps ----
                "ldr lr, [sp, #288]",
                "ldr r6, [sp, #308]",
                "ldr r4, [sp, #320]",
                "ldr r9, [sp, #264]",
                "ldm lr!, {{r0, r1}}",
                "add r12, r12, r6",              // the touch base over the passes
                "and r5, r9, r4",
                "ldm lr!, {{r2, r3}}",
                "and r8, r9, r4, lsr #8",
                b6_pass!(0, 0, 0, 0, 0, 0, 0, 0, 1, $t),
                b6_pass!(1, 0, 0, 0, 1, 0, 0, 1, 0, $t),
                b6_pass!(2, 0, 0, 1, 0, 0, 0, 1, 1, $t),
                b6_pass!(3, 0, 0, 1, 1, 0, 1, 0, 0, $t),
                b6_pass!(4, 0, 1, 0, 0, 0, 1, 0, 1, $t),
                b6_pass!(5, 0, 1, 0, 1, 0, 1, 1, 0, $t),
                b6_pass!(6, 0, 1, 1, 0, 0, 1, 1, 1, $t),
                b6_pass!(7, 0, 1, 1, 1, 1, 0, 0, 0, $t),
                b6_pass!(8, 1, 0, 0, 0, 1, 0, 0, 1, $t),
                b6_pass!(9, 1, 0, 0, 1, 1, 0, 1, 0, $t),
                b6_pass!(10, 1, 0, 1, 0, 1, 0, 1, 1, $t),
                b6_pass!(11, 1, 0, 1, 1, 1, 1, 0, 0, $t),
                b6_pass!(12, 1, 1, 0, 0, 1, 1, 0, 1, $t),
                b6_pass!(13, 1, 1, 0, 1, 1, 1, 1, 0, $t),
                b6_pass!(14, 1, 1, 1, 0, 1, 1, 1, 1, $t),
                b6_pass!(last),
                // ---- isum[t] = Σ sc[sb(P)] · dot[P][t] − 32 · Σ sc · bsum ----
                "strd r6, r7, [sp, #240]",
                "ldrd r0, r1, [sp, #0]",
                "strd r10, r11, [sp, #248]",
                $t!(15),
                "ldr r4, [sp, #308]",
                "ldrd r2, r3, [sp, #8]",
                "sub r12, r12, r4",
                "ldrsb r4, [r12, #192]",
                "ldrsb r9, [r12, #193]",
                "mul r5, r0, r4",
                "mul r6, r1, r4",
                "ldrd r0, r1, [sp, #16]",
                "mul r7, r2, r4",
                "mul r8, r3, r4",
                "ldrd r2, r3, [sp, #24]",
                // Pass P's sub-block: 8n + 4p + 2c' + h.
                b6_scale!(1, "r9", "r4", "4"),
                b6_scale!(2, "r4", "r9", "5"),
                b6_scale!(3, "r9", "r4", "2"),
                b6_scale!(4, "r4", "r9", "3"),
                b6_scale!(5, "r9", "r4", "6"),
                b6_scale!(6, "r4", "r9", "7"),
                b6_scale!(7, "r9", "r4", "8"),
                b6_scale!(8, "r4", "r9", "9"),
                b6_scale!(9, "r9", "r4", "12"),
                b6_scale!(10, "r4", "r9", "13"),
                b6_scale!(11, "r9", "r4", "10"),
                b6_scale!(12, "r4", "r9", "11"),
                b6_scale!(13, "r9", "r4", "14"),
                b6_scale!(14, "r4", "r9", "15"),
                "mla r5, r0, r9, r5",
                "mla r6, r1, r9, r6",
                "ldr r0, [sp, #292]",
                "ldr r1, [sp, #296]",
                "mla r7, r2, r9, r7",
                "mla r8, r3, r9, r8",
                "ldr r2, [sp, #300]",
                "ldr r3, [sp, #304]",
                "sub r5, r5, r0, lsl #5",
                "sub r6, r6, r1, lsl #5",
                "ldr r0, [sp, #272]",
                "sub r7, r7, r2, lsl #5",
                "sub r8, r8, r3, lsl #5",
                // ---- the isums out, then the next block (and the row's first pairs again) ----
                "stmib r0, {{r5-r8}}",
                "add r0, r0, #20",
                "str r0, [sp, #272]",
                "add r12, r12, #210",
                "ldr r4, [sp, #276]",
                "subs r4, r4, #1",
                "ldreq r4, [sp, #280]",
                "ldreq lr, [sp, #284]",
                "str r4, [sp, #276]",
                "ldr r1, [sp, #268]",
                "subs r1, r1, #1",
                "str r1, [sp, #268]",
                "bne 1b",
                "add sp, sp, #576",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

b6_kernel!(q6k_batch4, b6_no_touch);
b6_kernel!(q6k_batch4_touch, b6_touch);
