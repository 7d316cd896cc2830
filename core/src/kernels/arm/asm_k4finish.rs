//! The float part of K-quant rows of 2 or 3 blocks with a scale and a min (Q4_K, Q5_K,
//! Q2_K; and of 2 blocks with a scale only, Q6_K and Q3_K: [`k6_finish_rows2`]),
//! hand-scheduled for the ARM1176: six blocks at a time (three rows of 2 blocks, or two of
//! 3), their VFP11 chains side by side so the 8-cycle latencies overlap. Why: in
//! single-token generation every small matrix (512 or 768 columns) ends in this part, which
//! the compiler runs one row at a time with each chain waiting on the last (~90 cycles a
//! 2-block row); here a group of six blocks takes ~147 cycles (~49 a 2-block row), a group
//! of eight Q6_K blocks ~119 (~30 a row). Falcon-H1 90M Q4_K_S generation went from 262.9 M
//! to 253.5 M cycles per token under the ARM1176 cost model.
//!
//! The operations are those of `matvec::finish_k4_sums` and `RowSum::of_blocks` in their
//! order, so the results have the same bits: per block `(d·dx)·f32(isum) − (dmin·dx)·f32(msum)`
//! (`vmul`, `vcvt`, `vsub`, never a fused op), then per row `(v0 + v1) + 0` or
//! `(v0 + v1) + (v2 + 0)`. `d` and `dmin` are widened from f16 as `widen_normal_f16` does
//! (exponent rebiased in place), which is exact only for normal numbers: each block's scale
//! word is also checked (both halves' exponent fields in 1..=30, by adding 0x0400_0400 to
//! the fields and testing that neither sum's bits 11..14 are zero), and the routine returns
//! 0 if any is not, for the caller to redo the rows in Rust; 1 otherwise.
//!
//! `extern "C" fn(res, dxs, groups, out) -> u32`: `res` = the block kernel's results (3 words
//! a block: `isum`, `msum`, `d | dmin << 16`; 4-aligned), `groups` (≥ 1) groups of six
//! blocks; `dxs` = the activation scales of a row's blocks 0, 1, 2 (3 f32, 4-aligned);
//! `out` = one f32 per row.
//!
//! Registers: r0 the results (`vldm` pointer), r1 the results of the group (scale words),
//! r2 the groups left, r3 `out`, r9 0x0400_0400, r11 the exponent mask 0x7c00_7c00; blocks
//! alternate between r4-r7 and r8, r10, r12, lr (scale word, `d`, `dmin`, check). s0-s2
//! `dx`, s3 `+0.0`, s4-s7 the row sums; block `b` of the group in s(8+4b)..s(11+4b): `isum`,
//! `msum`, `d`, `dmin` (`d`/`dmin` written together by one `vmov` to a D register). The
//! check's flags run through the group as a chain of `tstne` (a failed test stops it at EQ);
//! the all-normal flag lives on the stack. The instruction order inside a group was found by
//! a list scheduler under the ARM1176 timing model (`scripts/k4finish-schedule.py`).
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// Blocks per group of the routines.
pub const FINISH_GROUP_BLOCKS: usize = 6;

/// The prologue: registers saved, the flag (1) at `[sp]`, `dx` into s0-s2, `+0.0` into s3,
/// the constants, r1 = r0.
macro_rules! k4_finish_pro {
    () => {
        concat!(
            ".arch armv6\n",
            ".fpu vfpv2\n",
            "push {{r4-r12, lr}}\n",
            "vpush {{d8-d15}}\n",
            "sub sp, sp, #8\n",
            "mov r4, #1\n",
            "str r4, [sp]\n",
            "vldmia r1, {{s0-s2}}\n",
            "mov r4, #0\n",
            "vmov s3, r4\n",
            "mov r9, #0x400\n",
            "orr r9, r9, #0x04000000\n",
            "mov r11, #0x7c00\n",
            "orr r11, r11, #0x7c000000\n",
            "mov r1, r0\n",
            "1:\n",
        )
    };
}

/// The epilogue: the loop's end, the flag returned.
macro_rules! k4_finish_epi {
    () => {
        concat!(
            "subs r2, r2, #1\n",
            "bne 1b\n",
            "ldr r0, [sp]\n",
            "add sp, sp, #8\n",
            "vpop {{d8-d15}}\n",
            "pop {{r4-r12, pc}}\n",
        )
    };
}

/// The head of a group, the same for rows of 2 and of 3 blocks (the scheduler found one order
/// for both): the six blocks' results loaded, their `d`/`dmin` widened and checked, and the
/// first conversions. What follows scales each block by its own row's `dx`, which differs.
macro_rules! k4_finish_group_head {
    () => {
        concat!(
            "vldmia r0!, {{s8-s10}}\n",
            "vldmia r0!, {{s12-s14}}\n",
            "ldr r4, [r1, #8]\n",
            "ldr r8, [r1, #20]\n",
            "vldmia r0!, {{s16-s18}}\n",
            "and r7, r4, r11\n",
            "mov r5, r4, lsl #16\n",
            "mov r6, r4, asr #16\n",
            "mov r10, r8, lsl #16\n",
            "mov r12, r8, asr #16\n",
            "mov r5, r5, asr #3\n",
            "mov r6, r6, lsl #13\n",
            "mov r10, r10, asr #3\n",
            "mov r12, r12, lsl #13\n",
            "bic r5, r5, #0x70000000\n",
            "bic r6, r6, #0x70000000\n",
            "bic r10, r10, #0x70000000\n",
            "bic r12, r12, #0x70000000\n",
            "add r5, r5, #0x38000000\n",
            "add r6, r6, #0x38000000\n",
            "add r10, r10, #0x38000000\n",
            "add r12, r12, #0x38000000\n",
            "vmov d5, r5, r6\n",
            "vmov d7, r10, r12\n",
            "and lr, r8, r11\n",
            "ldr r4, [r1, #32]\n",
            "ldr r8, [r1, #44]\n",
            "vldmia r0!, {{s20-s22}}\n",
            "add r7, r7, r9\n",
            "tst r7, #0x7800\n",
            "mov r5, r4, lsl #16\n",
            "mov r6, r4, asr #16\n",
            "mov r10, r8, lsl #16\n",
            "mov r12, r8, asr #16\n",
            "tstne r7, #0x78000000\n",
            "add lr, lr, r9\n",
            "mov r5, r5, asr #3\n",
            "mov r6, r6, lsl #13\n",
            "mov r10, r10, asr #3\n",
            "mov r12, r12, lsl #13\n",
            "tstne lr, #0x7800\n",
            "bic r5, r5, #0x70000000\n",
            "bic r6, r6, #0x70000000\n",
            "bic r10, r10, #0x70000000\n",
            "bic r12, r12, #0x70000000\n",
            "vldmia r0!, {{s24-s26}}\n",
            "tstne lr, #0x78000000\n",
            "add r5, r5, #0x38000000\n",
            "add r6, r6, #0x38000000\n",
            "add r10, r10, #0x38000000\n",
            "add r12, r12, #0x38000000\n",
            "vmov d9, r5, r6\n",
            "and r7, r4, r11\n",
            "vmov d11, r10, r12\n",
            "and lr, r8, r11\n",
            "ldr r4, [r1, #56]\n",
            "ldr r8, [r1, #68]\n",
            "vldmia r0!, {{s28-s30}}\n",
            "vcvt.f32.s32 s8, s8\n",
            "mov r5, r4, lsl #16\n",
            "mov r6, r4, asr #16\n",
            "mov r10, r8, lsl #16\n",
            "mov r12, r8, asr #16\n",
            "mov r5, r5, asr #3\n",
            "mov r6, r6, lsl #13\n",
            "mov r10, r10, asr #3\n",
            "mov r12, r12, lsl #13\n",
            "bic r5, r5, #0x70000000\n",
            "bic r6, r6, #0x70000000\n",
            "bic r10, r10, #0x70000000\n",
            "bic r12, r12, #0x70000000\n",
            "add r5, r5, #0x38000000\n",
            "add r6, r6, #0x38000000\n",
            "add r10, r10, #0x38000000\n",
            "add r12, r12, #0x38000000\n",
            "vmov d13, r5, r6\n",
            "vmov d15, r10, r12\n",
            "vcvt.f32.s32 s9, s9\n",
            "vmul.f32 s10, s10, s0\n",
            "vmul.f32 s11, s11, s0\n",
            "vcvt.f32.s32 s12, s12\n",
            "vcvt.f32.s32 s13, s13\n",
            "vmul.f32 s14, s14, s1\n",
            "vmul.f32 s15, s15, s1\n",
            "vcvt.f32.s32 s16, s16\n",
            "vcvt.f32.s32 s17, s17\n",
        )
    };
}

/// Rows of 2 blocks, three a group (see the module doc).
#[unsafe(naked)]
pub unsafe extern "C" fn k4_finish_rows2(res: *const i32, dxs: *const f32, groups: u32, out: *mut f32) -> u32 {
    naked_asm!(
        k4_finish_pro!(),
        k4_finish_group_head!(),
        "vmul.f32 s18, s18, s0",
        "vmul.f32 s19, s19, s0",
        "vcvt.f32.s32 s20, s20",
        "vcvt.f32.s32 s21, s21",
        "vmul.f32 s22, s22, s1",
        "vmul.f32 s23, s23, s1",
        "vcvt.f32.s32 s24, s24",
        "vcvt.f32.s32 s25, s25",
        "vmul.f32 s26, s26, s0",
        "vmul.f32 s27, s27, s0",
        "vcvt.f32.s32 s28, s28",
        "vcvt.f32.s32 s29, s29",
        "vmul.f32 s30, s30, s1",
        "vmul.f32 s31, s31, s1",
        "vmul.f32 s8, s10, s8",
        "vmul.f32 s9, s11, s9",
        "vmul.f32 s12, s14, s12",
        "vmul.f32 s13, s15, s13",
        "vmul.f32 s16, s18, s16",
        "vmul.f32 s17, s19, s17",
        "vmul.f32 s20, s22, s20",
        "vmul.f32 s21, s23, s21",
        "vmul.f32 s24, s26, s24",
        "vmul.f32 s25, s27, s25",
        "vmul.f32 s28, s30, s28",
        "vmul.f32 s29, s31, s29",
        "vsub.f32 s8, s8, s9",
        "vsub.f32 s12, s12, s13",
        "vsub.f32 s16, s16, s17",
        "vsub.f32 s20, s20, s21",
        "add r7, r7, r9",
        "vsub.f32 s24, s24, s25",
        "tstne r7, #0x7800",
        "vsub.f32 s28, s28, s29",
        "tstne r7, #0x78000000",
        "vadd.f32 s4, s8, s12",
        "add lr, lr, r9",
        "vadd.f32 s5, s16, s20",
        "tstne lr, #0x7800",
        "and r7, r4, r11",
        "tstne lr, #0x78000000",
        "vadd.f32 s6, s24, s28",
        "add r7, r7, r9",
        "vadd.f32 s4, s4, s3",
        "tstne r7, #0x7800",
        "vadd.f32 s5, s5, s3",
        "and lr, r8, r11",
        "tstne r7, #0x78000000",
        "add lr, lr, r9",
        "vadd.f32 s6, s6, s3",
        "tstne lr, #0x7800",
        "tstne lr, #0x78000000",
        "moveq r5, #0",
        "streq r5, [sp]",
        "add r1, r1, #72",
        "vstmia r3!, {{s4-s6}}",
        k4_finish_epi!(),
    )
}

/// Rows of 3 blocks, two a group (see the module doc).
#[unsafe(naked)]
pub unsafe extern "C" fn k4_finish_rows3(res: *const i32, dxs: *const f32, groups: u32, out: *mut f32) -> u32 {
    naked_asm!(
        k4_finish_pro!(),
        k4_finish_group_head!(),
        "vmul.f32 s18, s18, s2",
        "vmul.f32 s19, s19, s2",
        "vcvt.f32.s32 s20, s20",
        "vcvt.f32.s32 s21, s21",
        "vmul.f32 s22, s22, s0",
        "vmul.f32 s23, s23, s0",
        "vcvt.f32.s32 s24, s24",
        "vcvt.f32.s32 s25, s25",
        "vmul.f32 s26, s26, s1",
        "vmul.f32 s27, s27, s1",
        "vcvt.f32.s32 s28, s28",
        "vcvt.f32.s32 s29, s29",
        "vmul.f32 s30, s30, s2",
        "vmul.f32 s31, s31, s2",
        "vmul.f32 s8, s10, s8",
        "vmul.f32 s9, s11, s9",
        "vmul.f32 s12, s14, s12",
        "vmul.f32 s13, s15, s13",
        "vmul.f32 s16, s18, s16",
        "vmul.f32 s17, s19, s17",
        "vmul.f32 s20, s22, s20",
        "vmul.f32 s21, s23, s21",
        "vmul.f32 s24, s26, s24",
        "vmul.f32 s25, s27, s25",
        "vmul.f32 s28, s30, s28",
        "vmul.f32 s29, s31, s29",
        "vsub.f32 s8, s8, s9",
        "vsub.f32 s12, s12, s13",
        "vsub.f32 s16, s16, s17",
        "vsub.f32 s20, s20, s21",
        "add r7, r7, r9",
        "vsub.f32 s24, s24, s25",
        "tstne r7, #0x7800",
        "vsub.f32 s28, s28, s29",
        "tstne r7, #0x78000000",
        "vadd.f32 s4, s8, s12",
        "vadd.f32 s6, s16, s3",
        "add lr, lr, r9",
        "tstne lr, #0x7800",
        "vadd.f32 s5, s20, s24",
        "and r7, r4, r11",
        "vadd.f32 s7, s28, s3",
        "tstne lr, #0x78000000",
        "add r7, r7, r9",
        "vadd.f32 s4, s4, s6",
        "tstne r7, #0x7800",
        "and lr, r8, r11",
        "tstne r7, #0x78000000",
        "add lr, lr, r9",
        "vadd.f32 s5, s5, s7",
        "tstne lr, #0x7800",
        "tstne lr, #0x78000000",
        "moveq r5, #0",
        "streq r5, [sp]",
        "add r1, r1, #72",
        "vstmia r3!, {{s4-s5}}",
        k4_finish_epi!(),
    )
}

/// Blocks per group of [`k6_finish_rows2`].
pub const SCALE_ONLY_GROUP_BLOCKS: usize = 8;

/// Rows of 2 blocks with a scale only (Q6_K, Q3_K: 2 result words a block, `isum` and `d`
/// in the low half of the second), four a group of eight blocks: per block
/// `(d·dx)·f32(isum)`, per row `(v0 + v1) + 0`, as `matvec`'s `ScaleOnly` and
/// `RowSum::of_blocks`. The same contract as the others otherwise (the check covers `d`
/// only); block `b` in s(8+2b) (`isum`), s(9+2b) (`d`); the row sums in s4-s7.
#[unsafe(naked)]
pub unsafe extern "C" fn k6_finish_rows2(res: *const i32, dxs: *const f32, groups: u32, out: *mut f32) -> u32 {
    naked_asm!(
        k4_finish_pro!(),
        "vldmia r0!, {{s8-s9}}",
        "ldr r4, [r1, #4]",
        "vldmia r0!, {{s10-s11}}",
        "ldr r8, [r1, #12]",
        "vldmia r0!, {{s12-s13}}",
        "mov r5, r4, lsl #16",
        "vldmia r0!, {{s14-s15}}",
        "mov r10, r8, lsl #16",
        "mov r5, r5, asr #3",
        "mov r10, r10, asr #3",
        "bic r5, r5, #0x70000000",
        "bic r10, r10, #0x70000000",
        "add r5, r5, #0x38000000",
        "add r10, r10, #0x38000000",
        "vmov s9, r5",
        "and r6, r4, #0x7c00",
        "vmov s11, r10",
        "and r12, r8, #0x7c00",
        "ldr r4, [r1, #20]",
        "ldr r8, [r1, #28]",
        "vldmia r0!, {{s16-s17}}",
        "add r6, r6, #0x400",
        "mov r5, r4, lsl #16",
        "mov r10, r8, lsl #16",
        "mov r5, r5, asr #3",
        "mov r10, r10, asr #3",
        "tst r6, #0x7800",
        "add r12, r12, #0x400",
        "bic r5, r5, #0x70000000",
        "bic r10, r10, #0x70000000",
        "tstne r12, #0x7800",
        "add r5, r5, #0x38000000",
        "add r10, r10, #0x38000000",
        "vmov s13, r5",
        "and r6, r4, #0x7c00",
        "vmov s15, r10",
        "and r12, r8, #0x7c00",
        "ldr r4, [r1, #36]",
        "ldr r8, [r1, #44]",
        "vldmia r0!, {{s18-s19}}",
        "add r6, r6, #0x400",
        "mov r5, r4, lsl #16",
        "mov r10, r8, lsl #16",
        "mov r5, r5, asr #3",
        "mov r10, r10, asr #3",
        "tstne r6, #0x7800",
        "add r12, r12, #0x400",
        "bic r5, r5, #0x70000000",
        "bic r10, r10, #0x70000000",
        "vldmia r0!, {{s20-s21}}",
        "tstne r12, #0x7800",
        "add r5, r5, #0x38000000",
        "add r10, r10, #0x38000000",
        "vmov s17, r5",
        "and r6, r4, #0x7c00",
        "vmov s19, r10",
        "and r12, r8, #0x7c00",
        "ldr r4, [r1, #52]",
        "ldr r8, [r1, #60]",
        "vldmia r0!, {{s22-s23}}",
        "vcvt.f32.s32 s8, s8",
        "mov r5, r4, lsl #16",
        "mov r10, r8, lsl #16",
        "mov r5, r5, asr #3",
        "mov r10, r10, asr #3",
        "bic r5, r5, #0x70000000",
        "bic r10, r10, #0x70000000",
        "add r5, r5, #0x38000000",
        "add r10, r10, #0x38000000",
        "vmov s21, r5",
        "vmov s23, r10",
        "vmul.f32 s9, s9, s0",
        "vcvt.f32.s32 s10, s10",
        "vmul.f32 s11, s11, s1",
        "vcvt.f32.s32 s12, s12",
        "vmul.f32 s13, s13, s0",
        "vcvt.f32.s32 s14, s14",
        "vmul.f32 s15, s15, s1",
        "vcvt.f32.s32 s16, s16",
        "vmul.f32 s17, s17, s0",
        "vcvt.f32.s32 s18, s18",
        "vmul.f32 s19, s19, s1",
        "vcvt.f32.s32 s20, s20",
        "vmul.f32 s21, s21, s0",
        "vcvt.f32.s32 s22, s22",
        "vmul.f32 s23, s23, s1",
        "vmul.f32 s8, s9, s8",
        "vmul.f32 s10, s11, s10",
        "vmul.f32 s12, s13, s12",
        "vmul.f32 s14, s15, s14",
        "vmul.f32 s16, s17, s16",
        "vmul.f32 s18, s19, s18",
        "vmul.f32 s20, s21, s20",
        "vmul.f32 s22, s23, s22",
        "add r6, r6, #0x400",
        "vadd.f32 s8, s8, s10",
        "tstne r6, #0x7800",
        "vadd.f32 s12, s12, s14",
        "add r12, r12, #0x400",
        "vadd.f32 s16, s16, s18",
        "tstne r12, #0x7800",
        "vadd.f32 s20, s20, s22",
        "and r6, r4, #0x7c00",
        "vadd.f32 s4, s8, s3",
        "add r6, r6, #0x400",
        "vadd.f32 s5, s12, s3",
        "and r12, r8, #0x7c00",
        "vadd.f32 s6, s16, s3",
        "tstne r6, #0x7800",
        "vadd.f32 s7, s20, s3",
        "add r12, r12, #0x400",
        "tstne r12, #0x7800",
        "moveq r5, #0",
        "streq r5, [sp]",
        "add r1, r1, #64",
        "vstmia r3!, {{s4-s7}}",
        k4_finish_epi!(),
    )
}
