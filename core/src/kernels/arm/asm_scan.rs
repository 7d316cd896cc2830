//! The Mamba2 selective scan over the channel pairs of one SSM head, hand-scheduled for the
//! ARM1176's VFP11. The portable twin is `kernels::scan::scan_head_portable`; this kernel
//! performs the same IEEE single operations on the same operands in the same order, so the
//! two agree bit for bit under the same FPSCR.
//!
//! For channel `i` with `xd_i = x_i·δ` and each `j < N`: `S ← S·decay + B_j·xd_i` (a `VMUL`,
//! then a `VMLA`: on VFPv2 `VMLA` rounds the product, then the sum, exactly `vmul` then
//! `vadd`, and its addend is the running `S·decay`, so the add's operand order is the
//! twin's), `acc[j % 4] ← acc[j % 4] + S·C_j` (a `VMLA`); at the end of the row
//! `y = (acc0 + acc1) + (acc2 + acc3)` and `x_i ← y + x_i·D`.
//!
//! Why: compiled, the twin spends a `vmul` and a `vadd` per product (Rust never contracts)
//! and much integer bookkeeping: about 12 core cycles per state value. Here each value costs
//! three VFP operations, and the loads and stores go by `VLDM` / `VSTM` of four values.
//!
//! Schedule: the two channels of a pair go side by side. A *quad* is four consecutive
//! values of one channel's row; a step of eight `j` is four quads (channel 0 low half,
//! channel 1 low, channel 0 high, channel 1 high). Each quad passes three stages: A
//! (`S·decay`, in place), B (`+ B·xd`, in place) and C (`acc += S·C`, then `VSTM`). A
//! *slot* of 18 cycles issues stage A of quad `q`, stage C of quad `q-1`, stage B of quad
//! `q` (so every result is used exactly 8 cycles, the VFP11 latency, after it issues), then
//! stores quad `q-1`, loads quad `q+1` into the registers `q-1` just freed (a `VLDM` result
//! is ready 4-5 cycles later, before the next slot's stage A), and loads the next half of
//! `B` or `C` once its last user has issued. Channel 0 always uses s0-s3, channel 1 s4-s7.
//! A step is four slots plus the touch loads and the loop branch: 76 cycles for 16 values,
//! 4.75 cycles per value, with no interlock under the ARM1176 timing. Per pair there is a
//! prologue (the first quad's stages A and B) and an epilogue (the last stages, the sums and
//! `x`): for N = 64 a pair costs about 660 cycles, 5.2 per value (measured, memory off).
//!
//! Memory: the state (4.7 MB per token for Falcon-H1-90M) comes from SDRAM every token, and
//! the bus fills one 32-byte line per 90 cycles, far slower than the arithmetic. So each step
//! also loads (into the dead r12) two words 32 bytes apart, one pair ahead of the current
//! pair: every line of the next pair is requested while this pair computes and the bus never
//! idles (the Falcon-H1-90M scan then runs at the bus's pace: about 90 cycles per line,
//! including the lines of `B`, `C` and `x` the streaming state evicts). The cost model does
//! not model `PLD`; an ordinary load starts the fill. The touches stay at or below
//! `touch_limit` (the caller's slice end minus 32 bytes): past it they are skipped.
//!
//! `extern "C" fn(args: &ScanArgs)`: `pairs` channel pairs, row length `row_bytes / 4` = N
//! (a multiple of 8, at least 8); the state rows of pair `p` are `2p` and `2p + 1`, each N
//! values from `state`; `b`, `c` N values; `x` two values per pair, replaced by the outputs.
//!
//! Registers: r0/r1 load pointers of rows 0/1, r2/r3 their store pointers, r4 `B`, r5 `C`,
//! r6 touch pointer, r7 touch limit, r8 steps left in the row, r9 `x`, r10 pairs left, r11
//! `row_bytes`, r12 touch target, lr zero. s0-s3 channel 0's quad, s4-s7 channel 1's, s8-s11
//! a half of `B`, s12-s15 a half of `C`, s16-s19 channel 0's accumulators, s20-s23 channel
//! 1's, s24 decay, s25/s26 `xd` of the channels, s27 δ, s28/s29 `x` then `x·D`, s30 D.
#![allow(unsafe_code)]

use core::arch::naked_asm;

/// The kernel's arguments, in one block so no float rides in the call's VFP registers.
#[repr(C)]
struct ScanArgs {
    state: *mut f32,
    x: *mut f32,
    b: *const f32,
    c: *const f32,
    touch_limit: *const f32,
    pairs: u32,
    row_bytes: u32,
    decay: f32,
    delta: f32,
    d: f32,
}

/// Stage A of a quad: `S ← S·decay`.
macro_rules! decay_quad {
    (p) => { "vmul.f32 s0, s0, s24\nvmul.f32 s1, s1, s24\nvmul.f32 s2, s2, s24\nvmul.f32 s3, s3, s24\n" };
    (q) => { "vmul.f32 s4, s4, s24\nvmul.f32 s5, s5, s24\nvmul.f32 s6, s6, s24\nvmul.f32 s7, s7, s24\n" };
}

/// Stage B of a quad: `S ← S + B·xd`.
macro_rules! input_quad {
    (p) => { "vmla.f32 s0, s8, s25\nvmla.f32 s1, s9, s25\nvmla.f32 s2, s10, s25\nvmla.f32 s3, s11, s25\n" };
    (q) => { "vmla.f32 s4, s8, s26\nvmla.f32 s5, s9, s26\nvmla.f32 s6, s10, s26\nvmla.f32 s7, s11, s26\n" };
}

/// Stage C of a quad: `acc[j] ← acc[j] + S_j·C_j`.
macro_rules! output_quad {
    (p) => { "vmla.f32 s16, s0, s12\nvmla.f32 s17, s1, s13\nvmla.f32 s18, s2, s14\nvmla.f32 s19, s3, s15\n" };
    (q) => { "vmla.f32 s20, s4, s12\nvmla.f32 s21, s5, s13\nvmla.f32 s22, s6, s14\nvmla.f32 s23, s7, s15\n" };
}

macro_rules! store_quad {
    (p) => { "vstmia r2!, {{s0-s3}}\n" };
    (q) => { "vstmia r3!, {{s4-s7}}\n" };
}

macro_rules! load_quad {
    (p) => { "vldmia r0!, {{s0-s3}}\n" };
    (q) => { "vldmia r1!, {{s4-s7}}\n" };
}

macro_rules! load_b_half { () => { "vldmia r4!, {{s8-s11}}\n" } }
macro_rules! load_c_half { () => { "vldmia r5!, {{s12-s15}}\n" } }

/// Two touch loads 32 bytes apart, while the touch pointer is at or below the limit.
macro_rules! touch_pair_ahead {
    () => { "cmp r6, r7\nldrls r12, [r6], #32\nldrls r12, [r6], #32\n" };
}

/// One slot (see the module doc): quad `q` in set `$cur`, quad `q-1` in set `$prev`; then
/// quad `q+1` is loaded into `$prev`, and `$more` loads the next `B` or `C` half.
macro_rules! slot {
    ($cur:tt, $prev:tt, $more:expr) => {
        concat!(
            decay_quad!($cur),
            output_quad!($prev),
            input_quad!($cur),
            store_quad!($prev),
            load_quad!($prev),
            $more,
        )
    };
}

/// The kernel; see the module doc.
#[unsafe(naked)]
unsafe extern "C" fn scan_pairs_asm(args: *const ScanArgs) {
    naked_asm!(
        // Module-level asm is assembled for the target triple baseline: name the CPU and FPU.
        ".arch armv6",
        ".fpu vfpv2",
        "push {{r4-r11, lr}}",
        "vpush {{d8-d15}}",
        "vldr s24, [r0, #28]",
        "vldr s27, [r0, #32]",
        "vldr s30, [r0, #36]",
        "ldr r9, [r0, #4]",
        "ldr r4, [r0, #8]",
        "ldr r5, [r0, #12]",
        "ldr r7, [r0, #16]",
        "ldr r10, [r0, #20]",
        "ldr r11, [r0, #24]",
        "ldr r0, [r0]",
        "mov lr, #0",
        "add r1, r0, r11",
        // The touches start one pair ahead.
        "add r6, r1, r11",
        // ---- per pair: the first quad of channel 0 through stages A and B ----
        "1:",
        "mov r2, r0",
        "mov r3, r1",
        "mov r8, r11, lsr #5",
        "vldmia r9, {{s28-s29}}",
        load_quad!(p),
        load_b_half!(),
        "vmul.f32 s25, s28, s27",
        "vmul.f32 s26, s29, s27",
        "vmov s16, s17, lr, lr",
        "vmov s18, s19, lr, lr",
        "vmov s20, s21, lr, lr",
        "vmov s22, s23, lr, lr",
        decay_quad!(p),
        touch_pair_ahead!(),
        load_quad!(q),
        load_c_half!(),
        input_quad!(p),
        "subs r8, r8, #1",
        "beq 3f",
        // ---- the steps after the first: slots 1, 2, 3 of this step, slot 0 of the next ----
        "2:",
        slot!(q, p, load_b_half!()),
        slot!(p, q, load_c_half!()),
        slot!(q, p, load_b_half!()),
        touch_pair_ahead!(),
        slot!(p, q, load_c_half!()),
        "subs r8, r8, #1",
        "bne 2b",
        // ---- the last step's slots 1, 2 and 3 (nothing more to load), then the drain ----
        "3:",
        slot!(q, p, load_b_half!()),
        slot!(p, q, load_c_half!()),
        decay_quad!(q),
        output_quad!(p),
        input_quad!(q),
        store_quad!(p),
        "vadd.f32 s9, s16, s17",
        "vadd.f32 s10, s18, s19",
        output_quad!(q),
        "vmul.f32 s28, s28, s30",
        "vmul.f32 s29, s29, s30",
        store_quad!(q),
        "vadd.f32 s9, s9, s10",
        "vadd.f32 s11, s20, s21",
        "vadd.f32 s12, s22, s23",
        // The next pair: row 0 starts where row 1 ended; `B` and `C` from their starts.
        "mov r0, r1",
        "add r1, r1, r11",
        "sub r4, r4, r11",
        "sub r5, r5, r11",
        "vadd.f32 s28, s9, s28",
        "vadd.f32 s11, s11, s12",
        "vadd.f32 s29, s11, s29",
        "vstmia r9!, {{s28-s29}}",
        "subs r10, r10, #1",
        "bne 1b",
        "vpop {{d8-d15}}",
        "pop {{r4-r11, pc}}",
    )
}

/// The scan of `x.len() / 2` channel pairs (see the module doc) if the shapes suit the
/// kernel: `b.len()` = `c.len()` = N a nonzero multiple of 8, at least `pairs · 2N` state
/// values. Returns false, having changed nothing, otherwise. The state beyond the pairs' rows
/// (the next heads) is only read, early, so its lines are in the cache when their turn comes.
pub fn scan_pairs(state: &mut [f32], x: &mut [f32], b: &[f32], c: &[f32], decay: f32, delta: f32, d: f32) -> bool {
    let n = b.len();
    let pairs = x.len() / 2;
    if n == 0 || !n.is_multiple_of(8) || c.len() != n || pairs == 0 {
        return false;
    }
    let Some(rows_len) = pairs.checked_mul(2 * n) else { return false };
    let (Ok(pairs32), Ok(row_bytes)) = (u32::try_from(pairs), u32::try_from(4 * n)) else { return false };
    // With `rows_len` >= 2N >= 16, `state.len() - 9` below cannot underflow.
    if state.len() < rows_len {
        return false;
    }
    let args = ScanArgs {
        state: state.as_mut_ptr(),
        x: x.as_mut_ptr(),
        b: b.as_ptr(),
        c: c.as_ptr(),
        // Touches read at the pointer and 32 bytes (8 values) past it.
        touch_limit: state.as_ptr().wrapping_add(state.len() - 9),
        pairs: pairs32,
        row_bytes,
        decay,
        delta,
        d,
    };
    // SAFETY: the kernel reads and writes the first `pairs · 2N` values of `state` and the
    // first `2 · pairs` of `x`, reads N values of `b` and `c` per pair, and touches (reads)
    // words of `state` at most 32 bytes above `touch_limit`, that is up to its last value; all
    // of it checked above (`state.len() >= 2N >= 16`). `state` and `x` are exclusive borrows,
    // so nothing else sees the writes. It saves every callee-saved register it uses (r4-r11,
    // d8-d15) and leaves the FPSCR alone.
    unsafe { scan_pairs_asm(&args) };
    true
}
