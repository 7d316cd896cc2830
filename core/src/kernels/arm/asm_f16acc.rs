//! Mode D's value accumulation, hand-scheduled for the ARM1176: `acc[i] ← r16(acc[i] +
//! v[i]·vs)` over runs of eight values, where `r16` rounds to binary16 precision (nearest,
//! ties to even) and widens back. The twin is `kernels::f16acc::accumulate_rounded_portable`.
//!
//! Why: it runs for every cached position, head and value dimension of every layer (the
//! largest part of attention on long contexts); compiled, a value costs ~27 cycles. Here:
//! eight sums by `VMLA` (on VFPv2 `VMLA` rounds the product and then the sum, exactly `vmul`
//! then `vadd`), moved to the core registers in pairs, checked to lie where rounding the
//! f32 mantissa in place is exact (2^-14 ≤ |x| < 2^15, as the twin checks), and rounded
//! there with integer operations. The next run's loads and `VMLA`s are issued before this
//! run's integer work, so their latency is hidden (on the last run they reload this run,
//! from addresses clamped by condition, so that no flag is held across the checks and the
//! `VMLA`s can sit between them, after the loads' latency); the range check is two
//! instructions a value (an add with the constant in a register, then compares chained by
//! condition) and the rounding three: `TST b, b, LSR #14` puts bit 13 (the ties-to-even
//! bit) in the carry, `ADC b, b, K, LSR #1` adds `0xfff` and it, `BIC b, b, K` clears the
//! 13 low bits, with the one constant `K = 0x1fff` in a register. Measured on the 90M
//! prompt, call included: 9.6 cycles per value (10.5 with a four-instruction rounding and
//! the loads' latency waited for; 14 with the run's own `VMLA`s waited for); ~2.7 cycles a
//! run are still line fills of `acc` or `v` evicted by the cache rows' stream.
//!
//! `extern "C" fn(acc, v, vs_bits, runs) -> u32`: `runs` (1..=32) runs of eight `f32` at
//! `acc` (4-aligned, updated) and `v`; `vs_bits` the bits of `vs` (a core register, so the
//! call does not depend on the float ABI). A run with any sum outside the range is stored
//! unrounded and its bit (`1 << run`) set in the result, for the caller to round in full.
//! The range check on the sum's bits `b`: `(b << 1) - (113 << 24) < 29 << 24` (unsigned),
//! that is a biased exponent in 113..=141.
//!
//! Registers: r0 `acc` (this run), r1 `v` (the next run), r2 the runs left after this one,
//! r3 `0x1fff`, r4-r11 the eight sums' bits, r12 scratch, lr `-(113 << 24)`;
//! s0-s7 the sums (of the next run once this one's are in r4-r11), s8-s15 `v`, s16 `vs`;
//! on the stack the result and the run count.
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// A run's eight sums: `s[i] += v[i]·vs` for the accumulators in s0-s7, `v` in s8-s15 and
/// `vs` in s16.
macro_rules! f16acc_products {
    () => {
        concat!(
            "vmla.f32 s0, s8, s16\n",
            "vmla.f32 s1, s9, s16\n",
            "vmla.f32 s2, s10, s16\n",
            "vmla.f32 s3, s11, s16\n",
            "vmla.f32 s4, s12, s16\n",
            "vmla.f32 s5, s13, s16\n",
            "vmla.f32 s6, s14, s16\n",
            "vmla.f32 s7, s15, s16\n",
        )
    };
}

/// Both kernels' start: the constants (r3 `0x1fff`, lr `-(113 << 24)`), then the first run's
/// loads and products, in flight when the loop takes over.
macro_rules! f16acc_first_run {
    () => {
        concat!(
            "mov r3, #0x1f00\n",
            "orr r3, r3, #0xff\n",
            "mov lr, #0x8f000000\n",
            "vldmia r0, {{s0-s7}}\n",
            "vldmia r1!, {{s8-s15}}\n",
            f16acc_products!(),
        )
    };
}

/// The part of a run both kernels share, with the next run's loads and products in
/// flight: the finished sums (s0-s7) to r4-r11, the range check of their f16 rounding (to
/// `2f` when one is out of range), and the three-instruction rounding of each, stored.
macro_rules! f16acc_round_run {
    () => {
        concat!(
            "vmov r4, r5, d0\n",
            "vmov r6, r7, d1\n",
            "vmov r8, r9, d2\n",
            "vmov r10, r11, d3\n",
            "vldmia r12, {{s0-s7}}\n",
            "vldmia r1!, {{s8-s15}}\n",
            "add r12, lr, r4, lsl #1\n",
            "cmp r12, #0x1d000000\n",
            "add r12, lr, r5, lsl #1\n",
            "cmplo r12, #0x1d000000\n",
            f16acc_products!(),
            "add r12, lr, r6, lsl #1\n",
            "cmplo r12, #0x1d000000\n",
            "add r12, lr, r7, lsl #1\n",
            "cmplo r12, #0x1d000000\n",
            "add r12, lr, r8, lsl #1\n",
            "cmplo r12, #0x1d000000\n",
            "add r12, lr, r9, lsl #1\n",
            "cmplo r12, #0x1d000000\n",
            "add r12, lr, r10, lsl #1\n",
            "cmplo r12, #0x1d000000\n",
            "add r12, lr, r11, lsl #1\n",
            "cmplo r12, #0x1d000000\n",
            "bhs 2f\n",
            "tst r4, r4, lsr #14\n",
            "adc r4, r4, r3, lsr #1\n",
            "bic r4, r4, r3\n",
            "tst r5, r5, lsr #14\n",
            "adc r5, r5, r3, lsr #1\n",
            "bic r5, r5, r3\n",
            "tst r6, r6, lsr #14\n",
            "adc r6, r6, r3, lsr #1\n",
            "bic r6, r6, r3\n",
            "tst r7, r7, lsr #14\n",
            "adc r7, r7, r3, lsr #1\n",
            "bic r7, r7, r3\n",
            "tst r8, r8, lsr #14\n",
            "adc r8, r8, r3, lsr #1\n",
            "bic r8, r8, r3\n",
            "tst r9, r9, lsr #14\n",
            "adc r9, r9, r3, lsr #1\n",
            "bic r9, r9, r3\n",
            "tst r10, r10, lsr #14\n",
            "adc r10, r10, r3, lsr #1\n",
            "bic r10, r10, r3\n",
            "tst r11, r11, lsr #14\n",
            "adc r11, r11, r3, lsr #1\n",
            "bic r11, r11, r3\n",
            "stmia r0!, {{r4-r11}}\n",
        )
    };
}

/// See the module doc.
#[unsafe(naked)]
unsafe extern "C" fn accumulate_runs_asm(acc: *mut f32, v: *const f32, vs_bits: u32, runs: u32) -> u32 {
    naked_asm!(
        ".arch armv6",
        ".fpu vfpv2",
        "push {{r3-r11, lr}}",
        "vpush {{d8}}",
        "sub sp, sp, #8",
        "vmov s16, r2",
        "mov r12, #0",
        "str r12, [sp]",
        "sub r2, r3, #1",
        f16acc_first_run!(),
        "1:",
        "cmp r2, #0",
        "addne r12, r0, #32",
        "moveq r12, r0",
        "subeq r1, r1, #32",
        f16acc_round_run!(),
        "3:",
        "subs r2, r2, #1",
        "bpl 1b",
        "ldr r0, [sp]",
        "add sp, sp, #8",
        "vpop {{d8}}",
        "pop {{r3-r11, pc}}",
        "2:",
        "stmia r0!, {{r4-r11}}",
        "ldr r4, [sp, #16]",
        "sub r4, r4, #1",
        "sub r4, r4, r2",
        "mov r5, #1",
        "ldr r6, [sp]",
        "orr r6, r6, r5, lsl r4",
        "str r6, [sp]",
        "b 3b",
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

/// [`accumulate_runs_asm`] for the heads of one token that share a value row: `acc` holds
/// `heads` accumulators of `runs` runs each, one after the other, each summed with the same
/// `v` and its own `vs` (the same operations, in the same order, as a call per head). One
/// call instead of one per head saves the calls, and the pipeline goes on from head to head:
/// at a head's last run the next head's first is loaded (`v` from its start again) and its
/// `vs` taken, where the single-head kernel reloads the last run for nothing.
///
/// `extern "C" fn(acc, v, frame) -> u32`: `frame` is `[runs, heads, vs bits of each head..]`
/// with `runs · heads` in 1..=32. The result as [`accumulate_runs_asm`]'s: bit `k` for run `k`
/// of `acc`, found from the address of the run (`acc` is kept on the stack).
///
/// Registers as [`accumulate_runs_asm`]'s, r2 the runs left in this head after this one.
/// Stack: the result, `runs - 1`, `v`, the next head's `vs` address, the heads left after
/// this one, `acc`.
#[unsafe(naked)]
unsafe extern "C" fn accumulate_heads_asm(acc: *mut f32, v: *const f32, frame: *const u32) -> u32 {
    naked_asm!(
        ".arch armv6",
        ".fpu vfpv2",
        "push {{r3-r11, lr}}",
        "vpush {{d8}}",
        "sub sp, sp, #24",
        "ldr r12, [r2]",
        "ldr r3, [r2, #4]",
        "str r1, [sp, #8]",
        "str r0, [sp, #20]",
        "sub r12, r12, #1",
        "str r12, [sp, #4]",
        "sub r3, r3, #1",
        "str r3, [sp, #16]",
        "vldr s16, [r2, #8]",
        "add r2, r2, #12",
        "str r2, [sp, #12]",
        "mov r3, #0",
        "str r3, [sp]",
        "mov r2, r12",
        f16acc_first_run!(),
        "1:",
        // A head's last run goes to 5 (once a head), for what the next run is.
        "cmp r2, #0",
        "beq 5f",
        "add r12, r0, #32",
        "6:",
        f16acc_round_run!(),
        "3:",
        "subs r2, r2, #1",
        "bpl 1b",
        // The head is done: the next one, whose first run is loaded and summed already.
        "ldr r4, [sp, #16]",
        "subs r4, r4, #1",
        "str r4, [sp, #16]",
        "ldrpl r2, [sp, #4]",
        "bpl 1b",
        "ldr r0, [sp]",
        "add sp, sp, #24",
        "vpop {{d8}}",
        "pop {{r3-r11, pc}}",
        "2:",
        "stmia r0!, {{r4-r11}}",
        "ldr r4, [sp, #20]",
        "sub r4, r0, r4",
        "lsr r4, r4, #5",
        "sub r4, r4, #1",
        "mov r5, #1",
        "ldr r6, [sp]",
        "orr r6, r6, r5, lsl r4",
        "str r6, [sp]",
        "b 3b",
        // The last run of a head: the next head's first run (acc goes on, `v` from its
        // start, the next `vs`), or, after the last head, this run again (as the
        // single-head kernel's last run).
        "5:",
        "ldr r4, [sp, #16]",
        "cmp r4, #0",
        "moveq r12, r0",
        "subeq r1, r1, #32",
        "beq 6b",
        "add r12, r0, #32",
        "ldr r1, [sp, #8]",
        "ldr r4, [sp, #12]",
        "vldr s16, [r4]",
        "add r4, r4, #4",
        "str r4, [sp, #12]",
        "b 6b",
    )
}

/// Most heads of one [`accumulate_heads`] call.
pub const MAX_HEADS: usize = 8;

/// [`accumulate_runs`] for the `vs.len()` heads of a token: `acc` holds their accumulators
/// one after the other, each `v.len()` values (whole runs of eight), and head `h` takes
/// `acc_h[i] ← r16(acc_h[i] + v[i]·vs[h])`. Returns the mask of the runs (of all of `acc`)
/// left as unrounded sums. `None`, with `acc` unchanged, for any other shape, more than
/// [`MAX_HEADS`] heads or more than 32 runs in all.
pub fn accumulate_heads(acc: &mut [f32], v: &[f32], vs: &[f32]) -> Option<u32> {
    let (runs, heads) = (v.len() / 8, vs.len());
    if v.len() % 8 != 0 || runs == 0 || heads == 0 || heads > MAX_HEADS || runs * heads > 32 || acc.len() != runs * heads * 8 {
        return None;
    }
    let mut frame = [0u32; MAX_HEADS + 2];
    frame[0] = runs as u32;
    frame[1] = heads as u32;
    for (f, s) in frame[2..].iter_mut().zip(vs) {
        *f = s.to_bits();
    }
    // SAFETY: the kernel reads and writes the `runs * heads * 8` values of `acc` and reads
    // the `runs * 8` of `v` once per head (lengths checked above); it reads `frame[..2 +
    // heads]` (heads <= MAX_HEADS), saves the callee-saved registers it uses (r4-r11, lr,
    // d8) and leaves the FPSCR alone.
    Some(unsafe { accumulate_heads_asm(acc.as_mut_ptr(), v.as_ptr(), frame.as_ptr()) })
}
