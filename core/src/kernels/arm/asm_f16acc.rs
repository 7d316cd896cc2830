//! Mode D's value accumulation, hand-scheduled for the ARM1176: `acc[i] ← r16(acc[i] +
//! v[i]·vs)` over runs of eight values, where `r16` rounds to binary16 precision (nearest,
//! ties to even) and widens back. The twin is `kernels::f16acc::accumulate_rounded_portable`.
//!
//! Why: it runs for every cached position, head and value dimension of every layer (the
//! largest part of attention on long contexts); compiled, a value costs ~27 cycles. Here:
//! eight sums by `VMLA` (on VFPv2 `VMLA` rounds the product and then the sum, exactly `vmul`
//! then `vadd`), moved to the core registers in pairs, checked to lie where rounding the
//! f32 mantissa in place is exact (2^-14 ≤ |x| < 2^15, as the twin checks), and rounded
//! there with integer operations: about 11 cycles per value.
//!
//! `extern "C" fn(acc, v, vs_bits, runs) -> u32`: `runs` (1..=32) runs of eight `f32` at
//! `acc` (4-aligned, updated) and `v`; `vs_bits` the bits of `vs` (a core register, so the
//! call does not depend on the float ABI). A run with any sum outside the range is stored
//! unrounded and its bit (`1 << run`) set in the result, for the caller to round in full.
//! The range check on the sum's bits `b`: `(b << 1) - (113 << 24) < 29 << 24` (unsigned),
//! that is a biased exponent in 113..=141.
//!
//! Registers: r0 `acc`, r1 `v`, r2 the run index, r3 the result, r4-r11 the eight sums' bits,
//! r12 scratch, lr the run's outside flag; s0-s7 the sums, s8-s15 `v`, s16 `vs`; the run
//! count on the stack.
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// See the module doc.
#[unsafe(naked)]
unsafe extern "C" fn accumulate_runs_asm(acc: *mut f32, v: *const f32, vs_bits: u32, runs: u32) -> u32 {
    naked_asm!(
        ".arch armv6",
        ".fpu vfpv2",
        "push {{r3-r11, lr}}",
        "vpush {{d8}}",
        "vmov s16, r2",
        "mov r2, #0",
        "mov r3, #0",
        "1:",
        "vldmia r0, {{s0-s7}}",
        "vldmia r1!, {{s8-s15}}",
        "vmla.f32 s0, s8, s16",
        "vmla.f32 s1, s9, s16",
        "vmla.f32 s2, s10, s16",
        "vmla.f32 s3, s11, s16",
        "vmla.f32 s4, s12, s16",
        "vmla.f32 s5, s13, s16",
        "vmla.f32 s6, s14, s16",
        "vmla.f32 s7, s15, s16",
        "vmov r4, r5, d0",
        "vmov r6, r7, d1",
        "vmov r8, r9, d2",
        "vmov r10, r11, d3",
        "mov lr, #0",
        "lsl r12, r4, #1",
        "sub r12, r12, #0x71000000",
        "cmp r12, #0x1d000000",
        "movhs lr, #1",
        "lsl r12, r5, #1",
        "sub r12, r12, #0x71000000",
        "cmp r12, #0x1d000000",
        "movhs lr, #1",
        "lsl r12, r6, #1",
        "sub r12, r12, #0x71000000",
        "cmp r12, #0x1d000000",
        "movhs lr, #1",
        "lsl r12, r7, #1",
        "sub r12, r12, #0x71000000",
        "cmp r12, #0x1d000000",
        "movhs lr, #1",
        "lsl r12, r8, #1",
        "sub r12, r12, #0x71000000",
        "cmp r12, #0x1d000000",
        "movhs lr, #1",
        "lsl r12, r9, #1",
        "sub r12, r12, #0x71000000",
        "cmp r12, #0x1d000000",
        "movhs lr, #1",
        "lsl r12, r10, #1",
        "sub r12, r12, #0x71000000",
        "cmp r12, #0x1d000000",
        "movhs lr, #1",
        "lsl r12, r11, #1",
        "sub r12, r12, #0x71000000",
        "cmp r12, #0x1d000000",
        "movhs lr, #1",
        "cmp lr, #0",
        "bne 2f",
        "tst r4, #0x2000",
        "subeq r4, r4, #1",
        "add r4, r4, #0x1000",
        "bic r4, r4, #0x1f00",
        "bic r4, r4, #0xff",
        "tst r5, #0x2000",
        "subeq r5, r5, #1",
        "add r5, r5, #0x1000",
        "bic r5, r5, #0x1f00",
        "bic r5, r5, #0xff",
        "tst r6, #0x2000",
        "subeq r6, r6, #1",
        "add r6, r6, #0x1000",
        "bic r6, r6, #0x1f00",
        "bic r6, r6, #0xff",
        "tst r7, #0x2000",
        "subeq r7, r7, #1",
        "add r7, r7, #0x1000",
        "bic r7, r7, #0x1f00",
        "bic r7, r7, #0xff",
        "tst r8, #0x2000",
        "subeq r8, r8, #1",
        "add r8, r8, #0x1000",
        "bic r8, r8, #0x1f00",
        "bic r8, r8, #0xff",
        "tst r9, #0x2000",
        "subeq r9, r9, #1",
        "add r9, r9, #0x1000",
        "bic r9, r9, #0x1f00",
        "bic r9, r9, #0xff",
        "tst r10, #0x2000",
        "subeq r10, r10, #1",
        "add r10, r10, #0x1000",
        "bic r10, r10, #0x1f00",
        "bic r10, r10, #0xff",
        "tst r11, #0x2000",
        "subeq r11, r11, #1",
        "add r11, r11, #0x1000",
        "bic r11, r11, #0x1f00",
        "bic r11, r11, #0xff",
        "stmia r0!, {{r4-r11}}",
        "b 3f",
        "2:",
        "vstmia r0!, {{s0-s7}}",
        "orr r3, r3, lr, lsl r2",
        "3:",
        "add r2, r2, #1",
        "ldr r12, [sp, #8]",
        "cmp r2, r12",
        "bne 1b",
        "mov r0, r3",
        "vpop {{d8}}",
        "pop {{r3-r11, pc}}",
    )
}

/// `acc[i] ← r16(acc[i] + v[i]·vs)` over the whole runs of eight of `acc`: returns the mask
/// of runs left as unrounded sums (bit `k` for run `k`), which the caller rounds in full.
/// `None`, with `acc` unchanged, unless there are 1 to 32 runs and `v` is as long.
pub fn accumulate_runs(acc: &mut [f32], v: &[f32], vs: f32) -> Option<u32> {
    let runs = acc.len() / 8;
    if runs == 0 || runs > 32 || v.len() < runs * 8 {
        return None;
    }
    // SAFETY: the kernel reads and writes `runs * 8` values of `acc` and reads as many of
    // `v` (both checked above), saves the callee-saved registers it uses (r4-r11, lr, d8)
    // and leaves the FPSCR alone.
    Some(unsafe { accumulate_runs_asm(acc.as_mut_ptr(), v.as_ptr(), vs.to_bits(), runs as u32) })
}
