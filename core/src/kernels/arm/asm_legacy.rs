//! Q8_0, Q4_1 and Q4_0 block kernels, hand-scheduled for the ARM1176 (one row, `n`
//! consecutive 32-element blocks).
//!
//! `extern "C" fn(w, pairs, n, out)`: `w` = the first weight block, `pairs` = the i16 pair
//! copy of the activation blocks of the same columns (`q8::Q8_PAIRS_BYTES` = 64 per block,
//! 4-aligned, in the order of `q8::legacy_pair_index`), `out` = per block the f16 scales
//! widened to f32 bits ([`f16_bits`]) and the integer dot `Σ q·x`: Q8_0 `[d, dot]`, Q4_1
//! `[d, m, dot]`, Q4_0 `[d, dot]` (unsigned codes: the driver subtracts `8·Σ x`).
//!
//! Q8_0 (34-byte blocks, so weight words are only 2-aligned: `LDR` at any alignment, as
//! ARMv6 allows with SCTLR.U set): per two weight words, one `LDM` of 4 pairs, 4 `SXTB16`
//! (rotations 0 and 8), 4 `SMLAD` on two accumulators, the next two words loaded in the gaps
//! (unaligned loads hold the load/store unit 2 cycles, so they are kept apart): 11 cycles
//! for 8 weights. Q4_1 (20-byte blocks) and Q4_0 (18 bytes): the Q4_K step
//! ([`nibble_step`]), 10 cycles for 8.
//!
//! Registers (Q8_0): r0-r3 pairs, r4/r5 weight words, r6-r9 extended pairs, r10/r11
//! accumulators, r12 block base, lr pair pointer; frame: out pointer, end of the weights.
//! Touch variants: byte loads `TOUCH_LEAD` (and for Q8_0 also `TOUCH_LEAD + 17`) bytes past
//! each block start, so every weight line is requested ahead of use; they read up to
//! [`LEGACY_TOUCH_REACH`] bytes past the last block. Q8_0 is bus-bound (8.5 bits per weight),
//! so its touch variant also requests the activation pair lines 128 bytes ahead (the weight
//! stream evicts them from the 4-way round-robin cache now and then), up to 128 bytes past
//! the pairs: into the scale array and `q8::TOUCH_PAD`.
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Bytes past the end of the last block the touch variants may read.
pub const LEGACY_TOUCH_REACH: usize = 256;

/// One Q8_0 step (two weight words, r4 and r5).
macro_rules! q8_step {
    (smuad, $n0:expr, $n1:expr, $touch:expr) => {
        q8_step!(@body "smuad r10, r6, r0\n", "smuad r11, r7, r1\n", $n0, $n1, $touch)
    };
    (smlad, $n0:expr, $n1:expr, $touch:expr) => {
        q8_step!(@body "smlad r10, r6, r0, r10\n", "smlad r11, r7, r1, r11\n", $n0, $n1, $touch)
    };
    (@body $mac0:expr, $mac1:expr, $n0:expr, $n1:expr, $touch:expr) => {
        concat!(
            "ldm lr!, {{r0-r3}}\n",
            "sxtb16 r6, r4\n",
            "sxtb16 r7, r4, ror #8\n",
            "sxtb16 r8, r5\n",
            "sxtb16 r9, r5, ror #8\n",
            $n0,
            $mac0,
            $n1,
            $mac1,
            "smlad r10, r8, r2, r10\n",
            "smlad r11, r9, r3, r11\n",
            $touch,
        )
    };
}

macro_rules! q8_touch {
    ($off:literal) => { concat!("ldrb r9, [r12, #", $off, "]\n", "ldrb r9, [lr, #128]\n") };
}
macro_rules! q41_touch {
    () => { "ldrb r8, [r12, #256]\n" };
}
macro_rules! no_touch {
    ($off:literal) => { "" };
    () => { "" };
}

macro_rules! q8_0_kernel {
    ($name:ident, $t:ident) => {
        /// Q8_0: see the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, pairs: *const u8, n: u32, out: *mut i32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #8",
                "mov r4, #34",
                "mla r5, r2, r4, r0",
                "str r3, [sp]",
                "str r5, [sp, #4]",
                "mov r12, r0",
                "mov lr, r1",
                "ldr r4, [r12, #2]",
                "ldr r5, [r12, #6]",
                "1:",
                q8_step!(smuad, "ldr r4, [r12, #10]\n", "ldr r5, [r12, #14]\n", $t!(256)),
                q8_step!(smlad, "ldr r4, [r12, #18]\n", "ldr r5, [r12, #22]\n", ""),
                q8_step!(smlad, "ldr r4, [r12, #26]\n", "ldr r5, [r12, #30]\n", $t!(273)),
                q8_step!(smlad, "", "", ""),
                "ldrd r6, r7, [sp]",
                "add r10, r10, r11",
                "ldrh r11, [r12], #34",
                "mov r0, r11, lsl #17",
                f16_bits!("r1", "r0", "r2"),
                "tst r11, #0x8000",
                "orrne r1, r1, #0x80000000",
                "cmp r12, r7",
                "ldrlo r4, [r12, #2]",
                "ldrlo r5, [r12, #6]",
                "stm r6!, {{r1, r10}}",
                "str r6, [sp]",
                "blo 1b",
                "add sp, sp, #8",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

macro_rules! q4_1_kernel {
    ($name:ident, $t:ident) => {
        /// Q4_1: see the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, pairs: *const u8, n: u32, out: *mut i32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #8",
                "mov r4, #20",
                "mla r5, r2, r4, r0",
                "str r3, [sp]",
                "str r5, [sp, #4]",
                "mov r9, #15",
                "orr r9, r9, #0xf0000",
                "mov r12, r0",
                "mov lr, r1",
                "ldr r4, [r12, #4]",
                "1:",
                nibble_step!(smuad, "ldr r4, [r12, #8]\n", $t!()),
                nibble_step!(smlad, "ldr r4, [r12, #12]\n", ""),
                nibble_step!(smlad, "ldr r4, [r12, #16]\n", ""),
                nibble_step!(smlad, "", ""),
                "ldrd r6, r7, [sp]",
                "add r10, r10, r11",
                "ldr r11, [r12], #20",
                "mov r0, r11, lsl #17",
                f16_bits!("r1", "r0", "r2"),
                "tst r11, #0x8000",
                "orrne r1, r1, #0x80000000",
                "mov r0, r11, lsr #16",
                "mov r0, r0, lsl #17",
                f16_bits!("r3", "r0", "r2"),
                "tst r11, #0x80000000",
                "orrne r3, r3, #0x80000000",
                "cmp r12, r7",
                "ldrlo r4, [r12, #4]",
                "stm r6!, {{r1, r3, r10}}",
                "str r6, [sp]",
                "blo 1b",
                "add sp, sp, #8",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

macro_rules! q4_0_kernel {
    ($name:ident, $t:ident) => {
        /// Q4_0: see the module doc.
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name(w: *const u8, pairs: *const u8, n: u32, out: *mut i32) {
            naked_asm!(
                // Module-level asm is assembled for the target triple baseline: name the CPU.
                ".arch armv6",
                "push {{r3-r11, lr}}",
                "sub sp, sp, #8",
                "mov r4, #18",
                "mla r5, r2, r4, r0",
                "str r3, [sp]",
                "str r5, [sp, #4]",
                "mov r9, #15",
                "orr r9, r9, #0xf0000",
                "mov r12, r0",
                "mov lr, r1",
                "ldr r4, [r12, #2]",
                "1:",
                nibble_step!(smuad, "ldr r4, [r12, #6]\n", $t!()),
                nibble_step!(smlad, "ldr r4, [r12, #10]\n", ""),
                nibble_step!(smlad, "ldr r4, [r12, #14]\n", ""),
                nibble_step!(smlad, "", ""),
                "ldrd r6, r7, [sp]",
                "add r10, r10, r11",
                "ldrh r11, [r12], #18",
                "mov r0, r11, lsl #17",
                f16_bits!("r1", "r0", "r2"),
                "tst r11, #0x8000",
                "orrne r1, r1, #0x80000000",
                "cmp r12, r7",
                "ldrlo r4, [r12, #2]",
                "stm r6!, {{r1, r10}}",
                "str r6, [sp]",
                "blo 1b",
                "add sp, sp, #8",
                "pop {{r3-r11, pc}}",
            )
        }
    };
}

q8_0_kernel!(q8_0_blocks, no_touch);
q8_0_kernel!(q8_0_blocks_touch, q8_touch);
q4_1_kernel!(q4_1_blocks, no_touch);
q4_1_kernel!(q4_1_blocks_touch, q41_touch);
q4_0_kernel!(q4_0_blocks, no_touch);
q4_0_kernel!(q4_0_blocks_touch, q41_touch);
