//! Q5_0 and Q5_1 row kernels, hand-scheduled for the ARM1176: the integer dot of every block
//! and its float part, `4 · groups` consecutive blocks of one row per call.
//!
//! `extern "C" fn(w, stream, groups, partials)`: `w` = the first block (any alignment),
//! `stream` = the activation stream blocks of the same columns (`q8::Q5_STREAM_BYTES` each,
//! 4-aligned), `partials` = the row's four `RowSum` partials (f32), read and written back: block
//! `4g + k` adds its value to partial `k`, as `legacy::vec_dot_row` does. Unlike the other
//! legacy kernels the float part is done here too: at 32 weights a block, handing integer sums
//! back to a driver cost as much as the dot itself.
//!
//! The high bits: a block's 32-bit `qh` is turned once into `Q` by a delta swap (distance 14,
//! mask 0xCCCC: 4 instructions), which puts the high bits of elements `j` and `j + 2` 16 bits
//! apart for every pair the step multiplies. One `AND` with 0x00100010 at a shift then gives a
//! pair's two high bits already weighted 16 in i16 lanes, and `UXTAB16` adds them to the pair's
//! two nibbles (bytes 0/2 or, rotated, 1/3 of the masked weight word) in one instruction. A step
//! ([`q5_step`], 8 weights) is 16 cycles with no interlock: `LDM` of 4 activation pairs, 2 `AND`
//! for the low and high nibbles, 4 `AND` for the high bits, 4 `UXTAB16`, 4 `SMLAD` on one
//! accumulator (spaced so the chain costs nothing), the next weight word.
//!
//! Per block after the steps: Q5_0's accumulator started at `-16 · Σ x` (the stream's first
//! word), so it ends as `Σ (q − 16) · x`; it is negated when `d` is negative and converted,
//! and `(|d| · dx) · isum` gives llama.cpp's `(d · dx) · isum` bit for bit (IEEE products are
//! symmetric in sign; a zero of the other sign cannot change a partial sum that starts at +0).
//! Q5_1 likewise with `+ (|m| · ±sx)`, the sign of `m` moved onto `sx`. `d` and `m` are widened
//! by [`f16_bits`]. The VFP11 operations of a block (8-cycle latencies) are issued during the
//! next block's steps; the last block's after the loop.
//!
//! Registers: r0-r3 activation pairs, r4 weight word, r5 low nibbles, r6/r7 lanes, r8
//! accumulator, r9 `Q`, r10 0x0F0F0F0F, r11 0x00100010, r12 group base, lr stream pointer. s0-s3
//! partials, s8 dx, s9 sx, s10 |d|, s11 isum, s12 |m|, s13/s14 products. Frame (sp+): 0 the
//! swap mask 0xCCCC, 4 the end of the weights, 8 the partials pointer.
//!
//! Touch variants: one byte load per block 256 bytes ahead in the weights (22 or 24 bytes
//! apart, so every weight line is requested before it is used; up to [`Q5_TOUCH_REACH`] bytes
//! past the last group) and three per block 120 bytes ahead in the activation stream.
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Bytes past the end of the last group the touch variants may read.
pub const Q5_TOUCH_REACH: usize = 256;
const _: () = assert!(Q5_TOUCH_REACH >= 256 + 3 * 24 + 1 - 96 && Q5_TOUCH_REACH >= 256 + 3 * 22 + 1 - 88);

/// One 8-weight step: `$mac` starts or continues the accumulator, `$sa`..`$sd` are the
/// shifts that bring the high bits of the four pairs to bits 4 and 20, `$next` loads the next
/// weight word, `$touch` is an optional touch load, `$vfp` the previous block's float work.
macro_rules! q5_step {
    ($mac:expr, $sa:literal, $sb:literal, $sc:literal, $sd:literal, $next:expr, $touch:expr, $vfp:expr) => {
        concat!(
            "ldm lr!, {{r0-r3}}\n",
            "and r5, r10, r4\n",
            "and r6, r11, r9, ", $sa, "\n",
            "and r4, r10, r4, lsr #4\n",
            "uxtab16 r6, r6, r5\n",
            "and r7, r11, r9, ", $sb, "\n",
            $mac,
            "uxtab16 r7, r7, r5, ror #8\n",
            "and r6, r11, r9, ", $sc, "\n",
            "smlad r8, r7, r1, r8\n",
            "uxtab16 r6, r6, r4\n",
            "and r7, r11, r9, ", $sd, "\n",
            "smlad r8, r6, r2, r8\n",
            "uxtab16 r7, r7, r4, ror #8\n",
            $next,
            "smlad r8, r7, r3, r8\n",
            $touch,
            $vfp,
        )
    };
}

/// The four steps of one block: `$mac0` for the first, `$o1`..`$o3` = the offsets of the
/// block's second to fourth weight words from the group base, `$next` = the load of the
/// following block's first word (or nothing), `$t` the touch macro (`$toff` = its weight
/// offset, in the second step; its stream touches in the others), `$v0`..`$v3` the previous
/// block's float work.
macro_rules! q5_steps {
    ($mac0:expr, $o1:literal, $o2:literal, $o3:literal, $next:expr, $t:ident, $toff:literal, $v0:expr, $v1:expr, $v2:expr, $v3:expr) => {
        concat!(
            q5_step!($mac0, "lsl #4", "lsl #3", "lsl #2", "lsl #1", concat!("ldr r4, [r12, #", $o1, "]\n"), $t!(), $v0),
            q5_step!("smlad r8, r6, r0, r8\n", "lsl #0", "lsr #1", "lsr #2", "lsr #3", concat!("ldr r4, [r12, #", $o2, "]\n"), $t!($toff), $v1),
            q5_step!("smlad r8, r6, r0, r8\n", "lsr #4", "lsr #5", "lsr #6", "lsr #7", concat!("ldr r4, [r12, #", $o3, "]\n"), $t!(), $v2),
            q5_step!("smlad r8, r6, r0, r8\n", "lsr #8", "lsr #9", "lsr #10", "lsr #11", $next, $t!(), $v3),
        )
    };
}

/// `Q` from `qh` in r0 (r1 = 0xCCCC; r2 scratch): swap bits 2, 3 (mod 4) of the low half with
/// bits 0, 1 (mod 4) of the high half.
macro_rules! q5_swap {
    () => {
        concat!("eor r2, r0, r0, lsr #14\n", "and r2, r2, r1\n", "eor r9, r0, r2\n", "eor r9, r9, r2, lsl #14\n")
    };
}

/// Touch loads: `($off)` a weight line `$off` bytes past the group base, `()` the stream
/// 120 bytes ahead (3 per 72-byte stream block, at most 32 bytes apart; the stream's
/// `TOUCH_PAD` of 128 bytes covers the last ones, at most 116 bytes past it). The weight stream evicts activation lines from the
/// 4-way round-robin cache now and then; this fetches them again before they are needed.
macro_rules! q5_touch {
    ($off:literal) => { concat!("ldrb r5, [r12, #", $off, "]\n") };
    () => { "ldrb r5, [lr, #120]\n" };
}
macro_rules! no_touch {
    ($off:literal) => { "" };
    () => { "" };
}

/// The float work of a block, issued during the next block's four steps (`v0`..`v3`, at least
/// 16 cycles apart) into partial `$p`: Q5_0 `s_p += (|d| · dx) · isum`.
macro_rules! q5_0_v0 { () => { "vcvt.f32.s32 s11, s11\nvmul.f32 s13, s10, s8\n" } }
macro_rules! q5_0_v1 { () => { "vmul.f32 s13, s13, s11\n" } }
macro_rules! q5_0_v2 { ($p:literal) => { concat!("vadd.f32 s", $p, ", s", $p, ", s13\n") } }
/// Q5_1: `s_p += (|d| · dx) · isum + |m| · ±sx`.
macro_rules! q5_1_v0 { () => { "vcvt.f32.s32 s11, s11\nvmul.f32 s13, s10, s8\nvmul.f32 s14, s12, s9\n" } }
macro_rules! q5_1_v2 { () => { "vadd.f32 s13, s13, s14\n" } }

/// Q5_0 after a block's steps (the block at `$d` from the group base, the next one's `qh` at
/// `$nqh`; none for the group's last block, whose successor `q5_group_end` loads): the isum's
/// sign, `d` widened, dx, the next block's `Q` and accumulator start. Leaves r1 = 0xCCCC.
macro_rules! q5_0_end {
    ($d:literal, $nqh:literal) => {
        q5_0_end!(@ $d, concat!("ldr r0, [r12, #", $nqh, "]\n"), "eor r2, r0, r0, lsr #14\n", "and r2, r2, r1\n", "eor r9, r0, r2\n", "eor r9, r9, r2, lsl #14\n")
    };
    ($d:literal) => { q5_0_end!(@ $d, "", "", "", "", "") };
    (@ $d:literal, $ld:expr, $e1:expr, $e2:expr, $e3:expr, $e4:expr) => {
        concat!(
            "ldrh r5, [r12, #", $d, "]\n",
            $ld,
            "ldr r1, [sp]\n",
            "vldmia lr!, {{s8}}\n",
            "movs r6, r5, lsl #17\n",
            "rsbcs r8, r8, #0\n",
            $e1,
            $e2,
            $e3,
            f16_bits!("r7", "r6", "r5"),
            $e4,
            "vmov s10, s11, r7, r8\n",
            "ldr r8, [lr], #4\n",
        )
    };
}

/// Q5_1 after a block's steps (`$dm` = offset of its `d` and `m`, `$nqh` = the next `qh`, none
/// for the group's last block). Leaves r1 = 0xCCCC.
macro_rules! q5_1_end {
    ($dm:literal, $nqh:literal) => {
        q5_1_end!(@ $dm, concat!("ldr r0, [r12, #", $nqh, "]\n"), "eor r2, r0, r0, lsr #14\n", "and r2, r2, r1\n", "eor r9, r0, r2\n", "eor r9, r9, r2, lsl #14\n")
    };
    ($dm:literal) => { q5_1_end!(@ $dm, "", "", "", "", "") };
    (@ $dm:literal, $ld:expr, $e1:expr, $e2:expr, $e3:expr, $e4:expr) => {
        concat!(
            "ldr r5, [r12, #", $dm, "]\n",
            $ld,
            "ldr r1, [sp]\n",
            "vldmia lr!, {{s8, s9}}\n",
            "movs r6, r5, lsl #17\n",
            "rsbcs r8, r8, #0\n",
            $e1,
            $e2,
            "mov r3, r5, lsr #16\n",
            $e3,
            f16_bits!("r7", "r6", "r0"),
            "movs r3, r3, lsl #17\n",
            "vnegcs.f32 s9, s9\n",
            $e4,
            "vmov s10, s11, r7, r8\n",
            f16_bits!("r6", "r3", "r0"),
            "vmov s12, r6\n",
        )
    };
}

/// The group's end (after the last block's own end work, which left r1 = 0xCCCC): the next
/// group's `qh` and first weight word only while groups remain, its `Q`, and the loop.
macro_rules! q5_group_end {
    ($group:literal, $qh:literal, $qs:literal) => {
        concat!(
            "ldr r2, [sp, #4]\n",
            "add r12, r12, #", $group, "\n",
            "cmp r12, r2\n",
            "ldrlo r0, [r12, #", $qh, "]\n",
            "ldrlo r4, [r12, #", $qs, "]\n",
            q5_swap!(),
            "blo 1b\n",
        )
    };
}

/// Prologue shared by both kernels (`$group` = bytes per group of 4 blocks): the frame, the
/// masks, the partials into s0-s3, zero float state for the "previous block" of the first one.
macro_rules! q5_prologue {
    ($group:literal) => {
        concat!(
            // Module-level asm is assembled for the target triple baseline: name the CPU.
            ".arch armv6\n",
            ".fpu vfpv2\n",
            "push {{r3-r11, lr}}\n",
            "sub sp, sp, #8\n",
            "mov r12, r0\n",
            "mov lr, r1\n",
            "mov r4, #", $group, "\n",
            "mla r5, r2, r4, r0\n",
            "str r5, [sp, #4]\n",
            "mov r1, #0xCC\n",
            "orr r1, r1, #0xCC00\n",
            "str r1, [sp]\n",
            "mov r10, #0x0F\n",
            "orr r10, r10, r10, lsl #8\n",
            "orr r10, r10, r10, lsl #16\n",
            "mov r11, #0x10\n",
            "orr r11, r11, #0x100000\n",
            "vldmia r3, {{s0-s3}}\n",
            "mov r5, #0\n",
            "vmov s8, r5\n",
            "vmov s9, r5\n",
            "vmov s10, r5\n",
            "vmov s11, r5\n",
            "vmov s12, r5\n",
        )
    };
}

/// Epilogue: the last block's float work into s3, the partials back.
macro_rules! q5_epilogue {
    ($v0:expr, $v1:expr, $v2:expr, $v3:expr) => {
        concat!(
            $v0,
            $v1,
            $v2,
            $v3,
            "ldr r3, [sp, #8]\n",
            "vstmia r3, {{s0-s3}}\n",
            "add sp, sp, #8\n",
            "pop {{r3-r11, pc}}\n",
        )
    };
}

macro_rules! q5_0_kernel {
    ($name:ident, $t:ident) => {
        /// Q5_0: see the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, stream: *const u8, groups: u32, partials: *mut f32) {
            naked_asm!(
                q5_prologue!(88),
                "ldr r0, [r12, #2]",
                "ldr r4, [r12, #6]",
                "ldr r1, [sp]",
                "ldr r8, [lr], #4",
                q5_swap!(),
                "1:",
                q5_steps!("smlad r8, r6, r0, r8\n", 10, 14, 18, "ldr r4, [r12, #28]\n", $t, 256, q5_0_v0!(), q5_0_v1!(), q5_0_v2!(3), ""),
                q5_0_end!(0, 24),
                q5_steps!("smlad r8, r6, r0, r8\n", 32, 36, 40, "ldr r4, [r12, #50]\n", $t, 278, q5_0_v0!(), q5_0_v1!(), q5_0_v2!(0), ""),
                q5_0_end!(22, 46),
                q5_steps!("smlad r8, r6, r0, r8\n", 54, 58, 62, "ldr r4, [r12, #72]\n", $t, 300, q5_0_v0!(), q5_0_v1!(), q5_0_v2!(1), ""),
                q5_0_end!(44, 68),
                q5_steps!("smlad r8, r6, r0, r8\n", 76, 80, 84, "", $t, 322, q5_0_v0!(), q5_0_v1!(), q5_0_v2!(2), ""),
                q5_0_end!(66),
                q5_group_end!(88, 2, 6),
                q5_epilogue!(q5_0_v0!(), q5_0_v1!(), q5_0_v2!(3), ""),
            )
        }
    };
}

macro_rules! q5_1_kernel {
    ($name:ident, $t:ident) => {
        /// Q5_1: see the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, stream: *const u8, groups: u32, partials: *mut f32) {
            naked_asm!(
                q5_prologue!(96),
                "ldr r0, [r12, #4]",
                "ldr r4, [r12, #8]",
                "ldr r1, [sp]",
                q5_swap!(),
                "1:",
                q5_steps!("smuad r8, r6, r0\n", 12, 16, 20, "ldr r4, [r12, #32]\n", $t, 256, q5_1_v0!(), q5_0_v1!(), q5_1_v2!(), q5_0_v2!(3)),
                q5_1_end!(0, 28),
                q5_steps!("smuad r8, r6, r0\n", 36, 40, 44, "ldr r4, [r12, #56]\n", $t, 280, q5_1_v0!(), q5_0_v1!(), q5_1_v2!(), q5_0_v2!(0)),
                q5_1_end!(24, 52),
                q5_steps!("smuad r8, r6, r0\n", 60, 64, 68, "ldr r4, [r12, #80]\n", $t, 304, q5_1_v0!(), q5_0_v1!(), q5_1_v2!(), q5_0_v2!(1)),
                q5_1_end!(48, 76),
                q5_steps!("smuad r8, r6, r0\n", 84, 88, 92, "", $t, 328, q5_1_v0!(), q5_0_v1!(), q5_1_v2!(), q5_0_v2!(2)),
                q5_1_end!(72),
                q5_group_end!(96, 4, 8),
                q5_epilogue!(q5_1_v0!(), q5_0_v1!(), q5_1_v2!(), q5_0_v2!(3)),
            )
        }
    };
}

q5_0_kernel!(q5_0_blocks, no_touch);
q5_0_kernel!(q5_0_blocks_touch, q5_touch);
q5_1_kernel!(q5_1_blocks, no_touch);
q5_1_kernel!(q5_1_blocks_touch, q5_touch);
