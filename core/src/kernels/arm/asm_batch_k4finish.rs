//! The float part of the batched Q4_K product (`batch::matmul4_kquant`) for rows of 2 or 3
//! blocks, hand-scheduled for the ARM1176: per row, the four tokens' chains of every block
//! side by side so the 8-cycle VFP11 latencies overlap, and each token's result stored
//! straight into its output row. Why: the compiled Rust (`finish_rows` and the scatter of the
//! four tokens' values) took ~230 cycles a 2-block row and ~300 a 3-block row; here a row
//! takes ~112 and ~164 cycles (`scripts/k4finish4-schedule.py`). Also the copy of a token's
//! pair block into the interleaved activations ([`interleave_pairs`]). Measured on a
//! Falcon-H1 90M Q4_K_S prompt (ARM1176 cost model, per prompt token): the float part,
//! finish and scatter, 8.2 M cycles -> 5.9 M (1.4 M of it memory stall: the kernel's
//! results are stored without allocating, and a call's lines are often evicted by the
//! weight stream before they are read); the whole of `matmul4_kquant` but its kernel
//! 11.2 M -> 7.6 M; the prompt 164.3 M -> 160.1 M.
//!
//! The operations are those of `matvec::finish_k4_sums` and `RowSum::of_blocks` in their
//! order, so every output has the bits of the Rust path: per block and token
//! `(d·dx)·f32(isum) − (dmin·dx)·f32(msum)` (`vmul`, `vcvt`, `vsub`, never a fused op), then
//! per row and token `(v0 + v1) + 0` or `(v0 + v1) + (v2 + 0)`. `d` and `dmin` are widened
//! from f16 by rebiasing the exponent in place, which is exact only for normal numbers: each
//! block's scale word is also checked (both halves' exponent fields in 1..=30, by adding
//! 0x0400_0400 to the fields and testing that neither sum's bits 11..14 are zero, as
//! `asm_k4finish` does), and the routine returns 0 if any is not, for the caller to redo the
//! call's rows in Rust (overwriting every output written here); 1 otherwise.
//!
//! `extern "C" fn(res, frame, rows, out) -> u32`: `res` = the kernel's results (9 words a
//! block: `d | dmin << 16`, the four tokens' `isum`, their `msum`; 4-aligned), `rows` (≥ 1)
//! rows of 2 or 3 blocks; `frame` = a [`Finish4Frame`]; `out` = token 0's output of the first
//! row; token `t`'s is `t · frame.stride` bytes after it, the next row's 4 bytes after.
//!
//! Registers: r0 the results, r1 the rows left, r2-r5 the four tokens' output pointers, r9
//! 0x0400_0400, r11 the exponent mask 0x7c00_7c00; blocks alternate between r6-r8 and r10,
//! r12, lr (scale word then check, `d`, `dmin`). On the stack the frame's first 14 words:
//! the all-normal flag, `+0.0`, each block's four `dx`. VFP: `d`/`dmin` of blocks 0 and 2 in
//! s0/s1, of block 1 in s2/s3 (then `+0.0` in s3); `d·dx` in s4-s7; block 0's `isum`s and
//! `msum`s in s8-s15, block 1's in s16-s23, block 2's in s12-s15 and s20-s23 (once blocks 0
//! and 1 are done with them); `dx`, then `dmin·dx`, of blocks 0 and 2 in s24-s27, of block 1
//! in s28-s31. The check's flags run through the row as a chain of `tstne` (a failed test
//! stops it at EQ).
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// What the routines read besides the results: `flag` must be 1 and `zero` `+0.0`; `dx[b][t]`
/// is token `t`'s activation scale of block `b`; `stride` the bytes between two tokens'
/// output rows.
#[repr(C, align(8))]
pub struct Finish4Frame {
    pub flag: u32,
    pub zero: f32,
    pub dx: [[f32; 4]; 3],
    pub stride: u32,
}

/// The prologue: registers saved, the frame's first 14 words copied to the stack, the output
/// pointers, the constants.
macro_rules! k4_finish4_pro {
    () => {
        concat!(
            ".arch armv6\n",
            ".fpu vfpv2\n",
            "push {{r4-r12, lr}}\n",
            "vpush {{d8-d15}}\n",
            "sub sp, sp, #56\n",
            "ldr r12, [r1, #56]\n",
            "ldmia r1!, {{r4-r11}}\n",
            "stmia sp, {{r4-r11}}\n",
            "ldmia r1, {{r4-r9}}\n",
            "add r10, sp, #32\n",
            "stmia r10, {{r4-r9}}\n",
            "mov r1, r2\n",
            "mov r2, r3\n",
            "add r3, r2, r12\n",
            "add r4, r3, r12\n",
            "add r5, r4, r12\n",
            "mov r9, #0x400\n",
            "orr r9, r9, #0x04000000\n",
            "mov r11, #0x7c00\n",
            "orr r11, r11, #0x7c000000\n",
            "1:\n",
        )
    };
}

/// The epilogue: the loop's end, the flag returned.
macro_rules! k4_finish4_epi {
    () => {
        concat!(
            "subs r1, r1, #1\n",
            "bne 1b\n",
            "ldr r0, [sp]\n",
            "add sp, sp, #56\n",
            "vpop {{d8-d15}}\n",
            "pop {{r4-r12, pc}}\n",
        )
    };
}

/// The start of a row, the same for rows of 2 and of 3 blocks (one scheduled order serves
/// both): blocks 0 and 1 loaded, their `d`/`dmin` widened, `d·dx` and `dmin·dx` for the four
/// tokens, and the first products. What follows differs with the row's third block.
macro_rules! k4_finish4_row_head {
    () => {
        concat!(
            "ldr r6, [r0], #4\n",
            "vldr d12, [sp, #8]\n",
            "vldmia r0!, {{s8-s15}}\n",
            "mov r7, r6, lsl #16\n",
            "mov r8, r6, asr #16\n",
            "mov r7, r7, asr #3\n",
            "mov r8, r8, lsl #13\n",
            "bic r7, r7, #0x70000000\n",
            "bic r8, r8, #0x70000000\n",
            "add r7, r7, #0x38000000\n",
            "add r8, r8, #0x38000000\n",
            "vldr d13, [sp, #16]\n",
            "vmov d0, r7, r8\n",
            "vcvt.f32.s32 s8, s8\n",
            "vcvt.f32.s32 s9, s9\n",
            "vcvt.f32.s32 s10, s10\n",
            "vmul.f32 s4, s0, s24\n",
            "vmul.f32 s5, s0, s25\n",
            "vmul.f32 s6, s0, s26\n",
            "vcvt.f32.s32 s11, s11\n",
            "vmul.f32 s7, s0, s27\n",
            "ldr r10, [r0], #4\n",
            "vldr d14, [sp, #24]\n",
            "vldr d15, [sp, #32]\n",
            "vmul.f32 s8, s4, s8\n",
            "vmul.f32 s9, s5, s9\n",
            "vmul.f32 s10, s6, s10\n",
            "mov r12, r10, lsl #16\n",
            "vmul.f32 s11, s7, s11\n",
            "mov lr, r10, asr #16\n",
            "mov r12, r12, asr #3\n",
            "mov lr, lr, lsl #13\n",
            "bic r12, r12, #0x70000000\n",
            "bic lr, lr, #0x70000000\n",
            "add r12, r12, #0x38000000\n",
            "add lr, lr, #0x38000000\n",
            "vmov d1, r12, lr\n",
            "vldmia r0!, {{s16-s23}}\n",
            "vmul.f32 s4, s2, s28\n",
            "vmul.f32 s5, s2, s29\n",
            "vmul.f32 s6, s2, s30\n",
            "vmul.f32 s7, s2, s31\n",
            "vcvt.f32.s32 s12, s12\n",
            "vmul.f32 s24, s1, s24\n",
            "vcvt.f32.s32 s13, s13\n",
            "vmul.f32 s25, s1, s25\n",
            "vcvt.f32.s32 s14, s14\n",
            "vmul.f32 s26, s1, s26\n",
            "vcvt.f32.s32 s15, s15\n",
            "vmul.f32 s27, s1, s27\n",
            "vcvt.f32.s32 s16, s16\n",
            "vcvt.f32.s32 s20, s20\n",
            "vmul.f32 s28, s3, s28\n",
            "vcvt.f32.s32 s17, s17\n",
            "vcvt.f32.s32 s21, s21\n",
            "vmul.f32 s29, s3, s29\n",
            "vcvt.f32.s32 s18, s18\n",
            "vcvt.f32.s32 s22, s22\n",
            "vmul.f32 s30, s3, s30\n",
            "vcvt.f32.s32 s19, s19\n",
            "vcvt.f32.s32 s23, s23\n",
            "vmul.f32 s31, s3, s31\n",
            "vmul.f32 s12, s24, s12\n",
            "vmul.f32 s13, s25, s13\n",
            "vmul.f32 s14, s26, s14\n",
            "vmul.f32 s15, s27, s15\n",
        )
    };
}

/// Rows of 2 blocks, one an iteration (see the module doc).
#[unsafe(naked)]
pub unsafe extern "C" fn k4_finish4_rows2(res: *const i32, frame: *const Finish4Frame, rows: u32, out: *mut f32) -> u32 {
    naked_asm!(
        k4_finish4_pro!(),
        k4_finish4_row_head!(),
        "vmul.f32 s16, s4, s16",
        "vmul.f32 s20, s28, s20",
        "vmul.f32 s17, s5, s17",
        "vmul.f32 s21, s29, s21",
        "vmul.f32 s18, s6, s18",
        "vmul.f32 s22, s30, s22",
        "vmul.f32 s19, s7, s19",
        "vmul.f32 s23, s31, s23",
        "vsub.f32 s8, s8, s12",
        "vsub.f32 s9, s9, s13",
        "vsub.f32 s10, s10, s14",
        "vsub.f32 s11, s11, s15",
        "vsub.f32 s16, s16, s20",
        "vsub.f32 s17, s17, s21",
        "vsub.f32 s18, s18, s22",
        "vsub.f32 s19, s19, s23",
        "vldr s3, [sp, #4]",
        "and r6, r6, r11",
        "add r6, r6, r9",
        "tst r6, #0x7800",
        "vadd.f32 s8, s8, s16",
        "vadd.f32 s9, s9, s17",
        "vadd.f32 s10, s10, s18",
        "vadd.f32 s11, s11, s19",
        "and r10, r10, r11",
        "tstne r6, #0x78000000",
        "add r10, r10, r9",
        "tstne r10, #0x7800",
        "vadd.f32 s8, s8, s3",
        "vadd.f32 s9, s9, s3",
        "vadd.f32 s10, s10, s3",
        "vadd.f32 s11, s11, s3",
        "tstne r10, #0x78000000",
        "moveq r7, #0",
        "streq r7, [sp]",
        "vstmia r2!, {{s8}}",
        "vstmia r3!, {{s9}}",
        "vstmia r4!, {{s10}}",
        "vstmia r5!, {{s11}}",
        k4_finish4_epi!(),
    )
}

/// Rows of 3 blocks, one an iteration (see the module doc).
#[unsafe(naked)]
pub unsafe extern "C" fn k4_finish4_rows3(res: *const i32, frame: *const Finish4Frame, rows: u32, out: *mut f32) -> u32 {
    naked_asm!(
        k4_finish4_pro!(),
        k4_finish4_row_head!(),
        "and r6, r6, r11",
        "add r6, r6, r9",
        "tst r6, #0x7800",
        "vmul.f32 s16, s4, s16",
        "vmul.f32 s20, s28, s20",
        "vmul.f32 s17, s5, s17",
        "vmul.f32 s21, s29, s21",
        "vmul.f32 s18, s6, s18",
        "vmul.f32 s22, s30, s22",
        "vmul.f32 s19, s7, s19",
        "vmul.f32 s23, s31, s23",
        "tstne r6, #0x78000000",
        "ldr r6, [r0], #4",
        "vsub.f32 s8, s8, s12",
        "vsub.f32 s9, s9, s13",
        "vsub.f32 s10, s10, s14",
        "vsub.f32 s11, s11, s15",
        "mov r7, r6, lsl #16",
        "mov r8, r6, asr #16",
        "mov r7, r7, asr #3",
        "mov r8, r8, lsl #13",
        "bic r7, r7, #0x70000000",
        "bic r8, r8, #0x70000000",
        "vsub.f32 s16, s16, s20",
        "vsub.f32 s17, s17, s21",
        "vsub.f32 s18, s18, s22",
        "vsub.f32 s19, s19, s23",
        "add r7, r7, #0x38000000",
        "add r8, r8, #0x38000000",
        "vldr d12, [sp, #40]",
        "vldr d13, [sp, #48]",
        "vmov d0, r7, r8",
        "vldmia r0!, {{s12-s15}}",
        "vldmia r0!, {{s20-s23}}",
        "vmul.f32 s4, s0, s24",
        "vmul.f32 s5, s0, s25",
        "vmul.f32 s6, s0, s26",
        "vmul.f32 s7, s0, s27",
        "vcvt.f32.s32 s12, s12",
        "vcvt.f32.s32 s20, s20",
        "vmul.f32 s24, s1, s24",
        "vcvt.f32.s32 s13, s13",
        "vcvt.f32.s32 s21, s21",
        "vmul.f32 s25, s1, s25",
        "vcvt.f32.s32 s14, s14",
        "vcvt.f32.s32 s22, s22",
        "vmul.f32 s26, s1, s26",
        "vcvt.f32.s32 s15, s15",
        "vcvt.f32.s32 s23, s23",
        "vmul.f32 s27, s1, s27",
        "vmul.f32 s12, s4, s12",
        "vmul.f32 s20, s24, s20",
        "vmul.f32 s13, s5, s13",
        "vmul.f32 s21, s25, s21",
        "vmul.f32 s14, s6, s14",
        "vmul.f32 s22, s26, s22",
        "vmul.f32 s15, s7, s15",
        "vmul.f32 s23, s27, s23",
        "vldr s3, [sp, #4]",
        "vsub.f32 s12, s12, s20",
        "vadd.f32 s8, s8, s16",
        "vsub.f32 s13, s13, s21",
        "vadd.f32 s9, s9, s17",
        "vsub.f32 s14, s14, s22",
        "vadd.f32 s10, s10, s18",
        "vsub.f32 s15, s15, s23",
        "vadd.f32 s11, s11, s19",
        "vadd.f32 s12, s12, s3",
        "and r10, r10, r11",
        "vadd.f32 s13, s13, s3",
        "add r10, r10, r9",
        "vadd.f32 s14, s14, s3",
        "tstne r10, #0x7800",
        "vadd.f32 s15, s15, s3",
        "and r6, r6, r11",
        "vadd.f32 s8, s8, s12",
        "tstne r10, #0x78000000",
        "vadd.f32 s9, s9, s13",
        "add r6, r6, r9",
        "vadd.f32 s10, s10, s14",
        "tstne r6, #0x7800",
        "vadd.f32 s11, s11, s15",
        "tstne r6, #0x78000000",
        "moveq r7, #0",
        "vstmia r2!, {{s8}}",
        "vstmia r3!, {{s9}}",
        "vstmia r4!, {{s10}}",
        "streq r7, [sp]",
        "vstmia r5!, {{s11}}",
        k4_finish4_epi!(),
    )
}

/// One token's pair block laid out for `asm_batch_q4k` (`batch::interleave`'s steps part):
/// source words `32c + 4s ..= 32c + 4s + 3` to the token's two words of steps
/// `g = 16c + s` and `g + 8`. `src` = the token's 128 pair words (4-aligned); `dst` = the
/// token's two words of step 0 (8-aligned; step `g`'s are `32g` bytes after). ~4 cycles per
/// 4 words (an `LDM` and two `STRD`), against ~40 for the compiled indexing. r1 and r3
/// point at steps `16c` and `16c + 8` (`STRD` offsets stop at 255).
#[unsafe(naked)]
pub unsafe extern "C" fn interleave_pairs(src: *const u32, dst: *mut u32) {
    naked_asm!(
        ".arch armv6",
        "push {{r4-r11}}",
        "mov r2, #4",
        "add r3, r1, #256",
        "1:",
        "ldmia r0!, {{r4-r7}}",
        "ldmia r0!, {{r8-r11}}",
        "strd r4, r5, [r1]",
        "strd r6, r7, [r3]",
        "strd r8, r9, [r1, #32]",
        "strd r10, r11, [r3, #32]",
        "ldmia r0!, {{r4-r7}}",
        "ldmia r0!, {{r8-r11}}",
        "strd r4, r5, [r1, #64]",
        "strd r6, r7, [r3, #64]",
        "strd r8, r9, [r1, #96]",
        "strd r10, r11, [r3, #96]",
        "ldmia r0!, {{r4-r7}}",
        "ldmia r0!, {{r8-r11}}",
        "strd r4, r5, [r1, #128]",
        "strd r6, r7, [r3, #128]",
        "strd r8, r9, [r1, #160]",
        "strd r10, r11, [r3, #160]",
        "ldmia r0!, {{r4-r7}}",
        "ldmia r0!, {{r8-r11}}",
        "strd r4, r5, [r1, #192]",
        "strd r6, r7, [r3, #192]",
        "strd r8, r9, [r1, #224]",
        "strd r10, r11, [r3, #224]",
        "add r1, r1, #512",
        "add r3, r3, #512",
        "subs r2, r2, #1",
        "bne 1b",
        "pop {{r4-r11}}",
        "bx lr",
    )
}
