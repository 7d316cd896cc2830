//! Mode D's per-key float steps besides the value accumulation, hand-scheduled for the
//! ARM1176 (twins in `kernels::attend`):
//!
//! - `dot_pairs_asm`: the scores of two query rows against one widened key row at a time,
//!   each in `dot`'s exact order (four chains, element `i` on chain `i % 4`, each `VMLA`
//!   rounding the product and then the sum as on VFPv2, then `(c2 + c3) + (c1 + c0)`, the
//!   operand order the compiled twin uses). Two rows give eight independent chains, so the
//!   VFP11's 8-cycle latency is hidden; per eight elements of a pair: three `VLDM` of eight
//!   (the key, both queries) and sixteen `VMLA`, about 30 cycles, against ~45 cycles per
//!   eight elements of one row compiled.
//! - `scale_runs_asm`: `acc[i] ← r16(ms·acc[i])` over runs of eight, the rescale of an
//!   accumulator at a new maximum, rounded in place with integer operations as
//!   `asm_f16acc` does (a run with any product outside `2^-14 ≤ |x| < 2^15` is left
//!   unrounded and flagged, for the caller to round in full).
//! - `widen_runs_asm`: a cached f16 row widened to f32 with integer operations, runs of
//!   eight normal values at a time (the twin `kernels::attend::widen_portable`).
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// `extern "C" fn(q, k, out, chunks, pairs)`: for each of `pairs` (≥ 1) pairs of rows of
/// `8·chunks` (≥ 1 chunk) `f32` at `q` (rows consecutive), `out[2p + j]` = the dot product
/// of row `2p + j` with the `8·chunks` values at `k`.
///
/// Registers: r0 the first row of the pair, r5 the second, r6 the key, r7 the chunk count
/// left, r4 the pairs left, r2 `out`, r12 zero; s0-s3 the first row's chains, s4-s7 the
/// second's, s8-s15 and s24-s31 eight values of each row, s16-s23 eight of the key.
#[unsafe(naked)]
unsafe extern "C" fn dot_pairs_asm(q: *const f32, k: *const f32, out: *mut f32, chunks: u32, pairs: u32) {
    naked_asm!(
        ".arch armv6",
        ".fpu vfpv2",
        "push {{r4-r7}}",
        "vpush {{d8-d15}}",
        "ldr r4, [sp, #80]",
        "mov r12, #0",
        "1:",
        "add r5, r0, r3, lsl #5",
        "mov r6, r1",
        "mov r7, r3",
        "vmov d0, r12, r12",
        "vmov d1, r12, r12",
        "vmov d2, r12, r12",
        "vmov d3, r12, r12",
        "2:",
        "vldmia r6!, {{s16-s23}}",
        "vldmia r0!, {{s8-s15}}",
        "vldmia r5!, {{s24-s31}}",
        "vmla.f32 s0, s8, s16",
        "vmla.f32 s1, s9, s17",
        "vmla.f32 s2, s10, s18",
        "vmla.f32 s3, s11, s19",
        "vmla.f32 s4, s24, s16",
        "vmla.f32 s5, s25, s17",
        "vmla.f32 s6, s26, s18",
        "vmla.f32 s7, s27, s19",
        "vmla.f32 s0, s12, s20",
        "vmla.f32 s1, s13, s21",
        "vmla.f32 s2, s14, s22",
        "subs r7, r7, #1",
        "vmla.f32 s3, s15, s23",
        "vmla.f32 s4, s28, s20",
        "vmla.f32 s5, s29, s21",
        "vmla.f32 s6, s30, s22",
        "vmla.f32 s7, s31, s23",
        "bne 2b",
        "vadd.f32 s8, s2, s3",
        "vadd.f32 s9, s1, s0",
        "vadd.f32 s10, s6, s7",
        "vadd.f32 s11, s5, s4",
        "mov r0, r5",
        "subs r4, r4, #1",
        "vadd.f32 s12, s8, s9",
        "vadd.f32 s13, s10, s11",
        "vstmia r2!, {{s12-s13}}",
        "bne 1b",
        "vpop {{d8-d15}}",
        "pop {{r4-r7}}",
        "bx lr",
    )
}

/// `out[r] = dot(q[r·d..(r + 1)·d], k)` for the pairs of rows among the first `out.len()`
/// (the last row of an odd count is left to the caller). `false`, with `out` unchanged,
/// unless `d = k.len()` is a positive multiple of 8 and `q` holds the rows.
pub fn dot_pairs(q: &[f32], k: &[f32], out: &mut [f32]) -> bool {
    let (d, pairs) = (k.len(), out.len() / 2);
    if d == 0 || d % 8 != 0 || d / 8 > u16::MAX as usize || pairs == 0 || q.len() < 2 * pairs * d {
        return false;
    }
    // SAFETY: the kernel reads `2 * pairs` rows of `d` values at `q` (checked above) and
    // `d` at `k`, writes `2 * pairs` values at `out` (`out.len() >= 2 * pairs`), and saves
    // the callee-saved registers it uses (r4-r7, d8-d15); it leaves the FPSCR alone.
    unsafe { dot_pairs_asm(q.as_ptr(), k.as_ptr(), out.as_mut_ptr(), (d / 8) as u32, pairs as u32) };
    true
}

/// `extern "C" fn(acc, ms_bits, runs) -> u32`: `runs` (1..=32) runs of eight `f32` at `acc`
/// (4-aligned, updated) ← `r16(ms·acc)`, `ms_bits` the bits of `ms`; a run with any
/// product outside `2^-14 ≤ |x| < 2^15` is stored unrounded and its bit (`1 << run`) set in
/// the result. The check (two instructions a value, chained by condition) and the rounding
/// (three) are `asm_f16acc`'s: 0.59 M cycles per prompt token on the 90M model, against
/// 0.79 M with a flag set per value and a five-instruction rounding.
///
/// Registers: r0 `acc`, r1 the run's bit shifted up by `32 - runs` (the loop ends when it
/// leaves the word; the result is shifted back at the end, by the amount on the stack), r2
/// `0x1fff`, r3 the result, r4-r11 the eight products' bits, r12 scratch, lr
/// `-(113 << 24)`; s0-s7 the products, s16 `ms`.
#[unsafe(naked)]
unsafe extern "C" fn scale_runs_asm(acc: *mut f32, ms_bits: u32, runs: u32) -> u32 {
    naked_asm!(
        ".arch armv6",
        ".fpu vfpv2",
        "push {{r4-r11, lr}}",
        "vpush {{d8}}",
        "vmov s16, r1",
        "rsb r12, r2, #32",
        "push {{r12}}",
        "mov r1, #1",
        "lsl r1, r1, r12",
        "mov r2, #0x1f00",
        "orr r2, r2, #0xff",
        "mov r3, #0",
        "mov lr, #0x8f000000",
        "1:",
        "vldmia r0, {{s0-s7}}",
        "vmul.f32 s0, s16, s0",
        "vmul.f32 s1, s16, s1",
        "vmul.f32 s2, s16, s2",
        "vmul.f32 s3, s16, s3",
        "vmul.f32 s4, s16, s4",
        "vmul.f32 s5, s16, s5",
        "vmul.f32 s6, s16, s6",
        "vmul.f32 s7, s16, s7",
        "vmov r4, r5, d0",
        "vmov r6, r7, d1",
        "vmov r8, r9, d2",
        "vmov r10, r11, d3",
        "add r12, lr, r4, lsl #1",
        "cmp r12, #0x1d000000",
        "add r12, lr, r5, lsl #1",
        "cmplo r12, #0x1d000000",
        "add r12, lr, r6, lsl #1",
        "cmplo r12, #0x1d000000",
        "add r12, lr, r7, lsl #1",
        "cmplo r12, #0x1d000000",
        "add r12, lr, r8, lsl #1",
        "cmplo r12, #0x1d000000",
        "add r12, lr, r9, lsl #1",
        "cmplo r12, #0x1d000000",
        "add r12, lr, r10, lsl #1",
        "cmplo r12, #0x1d000000",
        "add r12, lr, r11, lsl #1",
        "cmplo r12, #0x1d000000",
        "bhs 2f",
        "tst r4, r4, lsr #14",
        "adc r4, r4, r2, lsr #1",
        "bic r4, r4, r2",
        "tst r5, r5, lsr #14",
        "adc r5, r5, r2, lsr #1",
        "bic r5, r5, r2",
        "tst r6, r6, lsr #14",
        "adc r6, r6, r2, lsr #1",
        "bic r6, r6, r2",
        "tst r7, r7, lsr #14",
        "adc r7, r7, r2, lsr #1",
        "bic r7, r7, r2",
        "tst r8, r8, lsr #14",
        "adc r8, r8, r2, lsr #1",
        "bic r8, r8, r2",
        "tst r9, r9, lsr #14",
        "adc r9, r9, r2, lsr #1",
        "bic r9, r9, r2",
        "tst r10, r10, lsr #14",
        "adc r10, r10, r2, lsr #1",
        "bic r10, r10, r2",
        "tst r11, r11, lsr #14",
        "adc r11, r11, r2, lsr #1",
        "bic r11, r11, r2",
        "stmia r0!, {{r4-r11}}",
        "3:",
        "lsls r1, r1, #1",
        "bne 1b",
        "pop {{r12}}",
        "lsr r0, r3, r12",
        "vpop {{d8}}",
        "pop {{r4-r11, pc}}",
        "2:",
        "vstmia r0!, {{s0-s7}}",
        "orr r3, r3, r1",
        "b 3b",
    )
}

/// `acc[i] ← r16(ms·acc[i])` over the whole runs of eight of `acc`: returns the mask of runs
/// left as unrounded products (bit `k` for run `k`), which the caller rounds in full.
/// `None`, with `acc` unchanged, unless there are 1 to 32 runs.
pub fn scale_runs(acc: &mut [f32], ms: f32) -> Option<u32> {
    let runs = acc.len() / 8;
    if runs == 0 || runs > 32 {
        return None;
    }
    // SAFETY: the kernel reads and writes `runs * 8` values of `acc` (checked above), saves
    // the callee-saved registers it uses (r4-r11, lr, d8) and leaves the FPSCR alone.
    Some(unsafe { scale_runs_asm(acc.as_mut_ptr(), ms.to_bits(), runs as u32) })
}

/// `extern "C" fn(src, dst, runs) -> u32`: widens `runs` (1..=32) runs of eight f16 at
/// `src` (4-aligned) to f32 at `dst` as `f16_to_f32` does for normal values: the sign moved
/// to bit 31, the exponent and mantissa shifted into place and the exponent rebiased by
/// adding 112 to it. A run with any zero, subnormal, infinity or NaN (exponent field 0 or 31,
/// checked on the f16 bits: `field - 1 ≤ 29` unsigned, the eight checks chained by
/// conditional compares) is stored wrong and its bit (`1 << run`) set in the result, for
/// the caller to widen in full. About 9 cycles per value, against ~16 compiled.
///
/// `ahead` (4-aligned, or null) is the row the caller widens next (as long as this one):
/// first a load from each of its 32-byte lines into a register overwritten before use, so
/// that row's line fills overlap the work between the calls (hit-under-miss; the cost model
/// ignores `PLD`). The cache's rows are read once per pass and a layer's no longer fit in
/// the D-cache: without the touches their misses were ~40% of the widening's cycles.
///
/// Registers: r0 `src`, r1 `dst`, r2 the runs left, r3 the result, lr the run's bit, r12
/// `112 << 23`, r4-r5 two words (four f16), r6-r9 their four f32, r10-r11 scratch; in the
/// touches, r3 the address and r12 the end of `ahead`.
#[unsafe(naked)]
unsafe extern "C" fn widen_runs_asm(src: *const u16, dst: *mut f32, runs: u32, ahead: *const u16) -> u32 {
    naked_asm!(
        ".arch armv6",
        "push {{r4-r11, lr}}",
        "cmp r3, #0",
        "beq 4f",
        "add r12, r3, r2, lsl #4",
        "ldr r4, [r12, #-4]",
        "5:",
        "ldr r5, [r3], #32",
        "cmp r3, r12",
        "blo 5b",
        "4:",
        "mov r3, #0",
        "mov lr, #1",
        "mov r12, #0x38000000",
        "1:",
        "ldmia r0!, {{r4, r5}}",
        "and r10, r4, #0x7c00",
        "and r11, r4, #0x7c000000",
        "sub r10, r10, #0x400",
        "sub r11, r11, #0x04000000",
        "cmp r10, #0x7400",
        "cmpls r11, #0x74000000",
        "and r10, r5, #0x7c00",
        "and r11, r5, #0x7c000000",
        "sub r10, r10, #0x400",
        "sub r11, r11, #0x04000000",
        "cmpls r10, #0x7400",
        "cmpls r11, #0x74000000",
        "orrhi r3, r3, lr",
        "mov r6, r4, lsl #17",
        "mov r7, r4, lsr #16",
        "and r10, r4, #0x8000",
        "and r11, r4, #0x80000000",
        "add r6, r12, r6, lsr #4",
        "mov r7, r7, lsl #17",
        "orr r6, r6, r10, lsl #16",
        "add r7, r12, r7, lsr #4",
        "mov r8, r5, lsl #17",
        "orr r7, r7, r11",
        "mov r9, r5, lsr #16",
        "and r10, r5, #0x8000",
        "and r11, r5, #0x80000000",
        "add r8, r12, r8, lsr #4",
        "mov r9, r9, lsl #17",
        "orr r8, r8, r10, lsl #16",
        "add r9, r12, r9, lsr #4",
        "orr r9, r9, r11",
        "stmia r1!, {{r6-r9}}",
        "ldmia r0!, {{r4, r5}}",
        "and r10, r4, #0x7c00",
        "and r11, r4, #0x7c000000",
        "sub r10, r10, #0x400",
        "sub r11, r11, #0x04000000",
        "cmp r10, #0x7400",
        "cmpls r11, #0x74000000",
        "and r10, r5, #0x7c00",
        "and r11, r5, #0x7c000000",
        "sub r10, r10, #0x400",
        "sub r11, r11, #0x04000000",
        "cmpls r10, #0x7400",
        "cmpls r11, #0x74000000",
        "orrhi r3, r3, lr",
        "mov r6, r4, lsl #17",
        "mov r7, r4, lsr #16",
        "and r10, r4, #0x8000",
        "and r11, r4, #0x80000000",
        "add r6, r12, r6, lsr #4",
        "mov r7, r7, lsl #17",
        "orr r6, r6, r10, lsl #16",
        "add r7, r12, r7, lsr #4",
        "mov r8, r5, lsl #17",
        "orr r7, r7, r11",
        "mov r9, r5, lsr #16",
        "and r10, r5, #0x8000",
        "and r11, r5, #0x80000000",
        "add r8, r12, r8, lsr #4",
        "mov r9, r9, lsl #17",
        "orr r8, r8, r10, lsl #16",
        "add r9, r12, r9, lsr #4",
        "orr r9, r9, r11",
        "stmia r1!, {{r6-r9}}",
        "lsl lr, lr, #1",
        "subs r2, r2, #1",
        "bne 1b",
        "mov r0, r3",
        "pop {{r4-r11, pc}}",
    )
}

/// Widens the whole runs of eight of `row` into `out` (as `f16_to_f32` for normal values):
/// returns the mask of runs holding some other value (bit `k` for run `k`), left wrong for
/// the caller to widen in full. `None`, with `out` unchanged, unless there are 1 to 32 runs,
/// `out` is as long and `row` is 4-aligned. `ahead`, the next row to widen, is only read
/// early (touched), and only if it is as long as `row` and 4-aligned.
pub fn widen_runs(row: &[u16], ahead: &[u16], out: &mut [f32]) -> Option<u32> {
    let runs = row.len() / 8;
    if runs == 0 || runs > 32 || out.len() < runs * 8 || row.as_ptr() as usize % 4 != 0 {
        return None;
    }
    let touch = ahead.len() >= runs * 8 && ahead.as_ptr() as usize % 4 == 0;
    let ahead = if touch { ahead.as_ptr() } else { core::ptr::null() };
    // SAFETY: the kernel reads `runs * 8` values of `row` (4-aligned, as its word loads
    // need) and writes as many of `out` (both checked above); unless `ahead` is null, it
    // reads words at 32-byte steps from `ahead` and its last word, all within the
    // `runs * 8` values checked above; it saves the callee-saved registers it uses
    // (r4-r11, lr) and touches no VFP register.
    Some(unsafe { widen_runs_asm(row.as_ptr(), out.as_mut_ptr(), runs as u32, ahead) })
}
