//! The Mamba2 selective scan over the channel pairs of one SSM head, hand-scheduled for the
//! ARM1176's VFP11. The portable twin is `kernels::scan::scan_head_portable`; this kernel
//! performs the same IEEE single operations on the same operands in the same order, so the
//! two agree bit for bit under the same FPSCR. `scan2_asm` (below, with its own notes) does
//! the same for two consecutive tokens of a prompt batch (N = 64), each state value loaded
//! and stored once for both; its twin is `scan_head2_portable`, token after token.
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

use crate::kernels::scan::ScanToken;

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

/// The two-token kernel's group operations (see `scan2_asm`) on a group's registers: `e`
/// for the even groups (`S` in s0-s3, rows p and q as d0, d1), `o` for the odd ones (s4-s7,
/// d2, d3); s0/s4 and s1/s5 are row p's values j, j+1, s2/s6 and s3/s7 row q's.
/// `S ← S·decay` of token 0 (`s24`) or token 1 (`s25`).
macro_rules! g_decay {
    (e, $k:literal) => { concat!("vmul.f32 s0, s0, ", $k, "\nvmul.f32 s1, s1, ", $k, "\nvmul.f32 s2, s2, ", $k, "\nvmul.f32 s3, s3, ", $k, "\n") };
    (o, $k:literal) => { concat!("vmul.f32 s4, s4, ", $k, "\nvmul.f32 s5, s5, ", $k, "\nvmul.f32 s6, s6, ", $k, "\nvmul.f32 s7, s7, ", $k, "\n") };
}

/// `S ← S + B·xd`: token 0 (`B0` in s8/s9, `xd` of p and q in s26/s27).
macro_rules! g_input0 {
    (e) => { "vmla.f32 s0, s8, s26\nvmla.f32 s1, s9, s26\nvmla.f32 s2, s8, s27\nvmla.f32 s3, s9, s27\n" };
    (o) => { "vmla.f32 s4, s8, s26\nvmla.f32 s5, s9, s26\nvmla.f32 s6, s8, s27\nvmla.f32 s7, s9, s27\n" };
}

/// `S ← S + B·xd`: token 1 (`B1` in s12/s13, `xd` in s28/s29).
macro_rules! g_input1 {
    (e) => { "vmla.f32 s0, s12, s28\nvmla.f32 s1, s13, s28\nvmla.f32 s2, s12, s29\nvmla.f32 s3, s13, s29\n" };
    (o) => { "vmla.f32 s4, s12, s28\nvmla.f32 s5, s13, s28\nvmla.f32 s6, s12, s29\nvmla.f32 s7, s13, s29\n" };
}

/// `acc += S·C`: token 0 (`C0` in s10/s11, accumulators s16-s19).
macro_rules! g_output0 {
    (e) => { "vmla.f32 s16, s0, s10\nvmla.f32 s17, s1, s11\nvmla.f32 s18, s2, s10\nvmla.f32 s19, s3, s11\n" };
    (o) => { "vmla.f32 s16, s4, s10\nvmla.f32 s17, s5, s11\nvmla.f32 s18, s6, s10\nvmla.f32 s19, s7, s11\n" };
}

/// `acc += S·C`: token 1 (`C1` in s14/s15, accumulators s20-s23).
macro_rules! g_output1 {
    (e) => { "vmla.f32 s20, s0, s14\nvmla.f32 s21, s1, s15\nvmla.f32 s22, s2, s14\nvmla.f32 s23, s3, s15\n" };
    (o) => { "vmla.f32 s20, s4, s14\nvmla.f32 s21, s5, s15\nvmla.f32 s22, s6, s14\nvmla.f32 s23, s7, s15\n" };
}

/// The group's state values of rows p and q, `$at` bytes from the pair's pointer (row q 256
/// bytes after row p), loaded (`$c` a condition, or nothing) or stored.
macro_rules! g_load {
    (e, $c:literal, $at:literal) => { concat!("vldr", $c, " d0, [r0, #", $at, "]\nvldr", $c, " d1, [r0, #", $at, " + 256]\n") };
    (o, $c:literal, $at:literal) => { concat!("vldr", $c, " d2, [r0, #", $at, "]\nvldr", $c, " d3, [r0, #", $at, " + 256]\n") };
}
macro_rules! g_store {
    (e, $at:literal) => { concat!("vstr d0, [r0, #", $at, "]\nvstr d1, [r0, #", $at, " + 256]\n") };
    (o, $at:literal) => { concat!("vstr d2, [r0, #", $at, "]\nvstr d3, [r0, #", $at, " + 256]\n") };
}

/// Two values of `B0` and `C0` (d4, d5), or of `B1` and `C1` (d6, d7), `$at` bytes in.
macro_rules! bc0 { ($at:literal) => { concat!("vldr d4, [r1, #", $at, "]\nvldr d5, [r2, #", $at, "]\n") } }
macro_rules! bc1 { ($at:literal) => { concat!("vldr d6, [r3, #", $at, "]\nvldr d7, [r4, #", $at, "]\n") } }

/// Pass 1's read of the next pair's state, one line per group (flags from the pair's `cmp`).
macro_rules! touch_next { ($at:literal) => { concat!("ldrls r12, [r0, #", $at, "]\n") } }

/// Cycles 16-31 of group k (registers `$c`, see `scan2_asm`'s schedule) with the loads of
/// group k+1 (registers `$n`; its state `$at` bytes from the pair's pointer, loaded under
/// `$cond`; its `B0`, `C0` `$bc` bytes in) and `$touch` (a `touch_next!` or nothing).
macro_rules! win_a {
    ($c:tt, $n:tt, $cond:literal, $at:literal, $bc:literal, $touch:expr) => {
        concat!(g_output0!($c), g_decay!($c, "s25"), g_load!($n, $cond, $at), bc0!($bc), $touch, g_input1!($c))
    };
}

/// Cycles 32-47 of group k (`$c`, its values `$at` bytes in) with cycles 0-15 of group k+1
/// (`$n`, `$next` bytes in).
macro_rules! win_b {
    ($c:tt, $n:tt, $at:literal, $next:literal) => {
        concat!(g_decay!($n, "s24"), g_output1!($c), g_input0!($n), g_store!($c, $at), bc1!($next))
    };
}

/// The 32 cycles from cycle 16 of group k (`$c`, `$at`) on: a steady-state window of the
/// modulo schedule, with group k+1 (`$n`, `$next`).
macro_rules! window {
    ($c:tt, $n:tt, $at:literal, $next:literal, $touch:expr) => {
        concat!(win_a!($c, $n, "", $next, $next, $touch), win_b!($c, $n, $at, $next))
    };
}

/// The two-token kernel's arguments (see `scan2_asm`), in one block so no float rides in the
/// call's VFP registers.
#[repr(C)]
struct Scan2Args {
    state: *mut f32,
    x0: *mut f32,
    x1: *mut f32,
    b0: *const f32,
    c0: *const f32,
    b1: *const f32,
    c1: *const f32,
    acc: *mut f32,
    pairs: u32,
    touch_limit: *const f32,
    ahead0: *const f32,
    ahead1: *const f32,
    ahead_x0: *const f32,
    ahead_x1: *const f32,
    decay0: f32,
    decay1: f32,
    delta0: f32,
    delta1: f32,
    d: f32,
}

/// The selective scan of `pairs` channel pairs (N = 64) over two consecutive tokens: each
/// state value is loaded once, advanced by token 0 and then by token 1, and stored once.
///
/// Why: one token at a time, a value costs its three VFP operations plus a load and a store
/// of its own and half a load of `B` and `C` (4.75 cycles). Over two tokens the state's
/// load and store serve two updates, so a value-token costs 3 + 0.5 + 0.5 = 4 cycles, if
/// the registers allow: the four accumulators of each channel and token (16) with the two
/// decays, four `xd` and two δ leave too few for a pipelined stream. So each pair goes in two
/// *passes*: pass 1 takes the values j = 4m, 4m+1 (accumulators 0 and 1), pass 2 the values
/// j = 4m+2, 4m+3 (accumulators 2 and 3), so only eight accumulators are live. Every
/// accumulator still sees its values in ascending j, and each value's chain is
/// `S ← S·decay0 + B0·xd0; acc0 += S·C0; S ← S·decay1 + B1·xd1; acc1 += S·C1`: the same
/// IEEE operations in the same order as `scan_head_portable` token after token, so the two
/// agree bit for bit. At a pass's end the accumulators go to `acc` (16 values per pair:
/// token 0's pass 1, token 1's pass 1, token 0's pass 2, token 1's pass 2, each as
/// `p0 p1 q0 q1`) and restart from +0; after the last pair a short loop forms
/// `y = (a0 + a1) + (a2 + a3)` and `x ← y + x·D` for every channel and token.
///
/// Schedule (`scripts/scan2-modsched.py` prints the blocks): a *group* is the values j, j+1
/// of the pair's two rows for both tokens: 24 VFP operations and 8 two-word loads and
/// stores (`S` of p and q, `B0`, `C0`, `B1`, `C1`, the two stores), 32 cycles. A group
/// starts every 32 cycles; its operations sit at fixed offsets from its start, each VFP result
/// used exactly 8 cycles after it issues, the loads and stores in the 8 cycles the VFP leaves
/// free: a modulo schedule in which three groups overlap. The stream runs on across passes and
/// pairs; what a pass's end adds (saving and clearing accumulators, the next pair's `x·δ`)
/// sits where the stream allows it. N = 64 is built in: every offset is an immediate
/// (`VLDR`/`VSTR` of a D register), the state of channel q 256 bytes after p's. The steady
/// state is written as 32-cycle windows (`window!`: the second half of group k with the first
/// half of group k+1), exactly `scripts/scan2-modsched.py rest`; `... flat` prints the same
/// stream instruction by instruction, and both forms build to the same machine code.
///
/// Memory: the caller keeps a head's state in the cache from call to call (it scans a head
/// through all of a batch's tokens). In pass 1 each group reads one word of the next pair's
/// rows (while `touch_limit` allows), rows p and q alternately, in the order the next pair's
/// groups need the lines, so a line evicted since the last call is back in time; each pair
/// reads a line of `ahead0` / `ahead1` (the next call's `B`, `C`) and its own two lines of
/// `acc` (stores do not allocate); the final loop finds some `acc` and `x` lines evicted by
/// the stream, so the call reads four lines of `ahead_x0` / `ahead_x1` (the next call's `x`)
/// only after it: the bus fills one line at a time, and those fills would delay the loop's.
///
/// Registers: r0 the pair's state, r1-r4 `B0`, `C0`, `B1`, `C1`, r5 `acc`, r6/r7 `x` of
/// the tokens, r8 pairs left, r9 zero, r10/lr the `ahead` pointers, r11 `touch_limit`, r12
/// the touches' target. s0-s3 and s4-s7 the groups' `S` (even and odd groups: D0-D3), d4-d7
/// `B0`, `C0`, `B1`, `C1` of two values, s16-s19 token 0's accumulators (p even, p odd, q
/// even, q odd), s20-s23 token 1's, s24/s25 the decays, s26/s27 and s28/s29 `xd` of p and q
/// for tokens 0 and 1, s30/s31 the δ of the tokens.
#[unsafe(naked)]
unsafe extern "C" fn scan2_asm(args: *const Scan2Args) {
    naked_asm!(
        ".arch armv6",
        ".fpu vfpv2",
        "push {{r4-r11, lr}}",
        "vpush {{d8-d15}}",
        "push {{r0}}",
        "mov r12, r0",
        "vldr s24, [r12, #56]",
        "vldr s25, [r12, #60]",
        "vldr s30, [r12, #64]",
        "vldr s31, [r12, #68]",
        "ldr r6, [r12, #4]",
        "ldr r7, [r12, #8]",
        "ldr r1, [r12, #12]",
        "ldr r2, [r12, #16]",
        "ldr r3, [r12, #20]",
        "ldr r4, [r12, #24]",
        "ldr r5, [r12, #28]",
        "ldr r8, [r12, #32]",
        "ldr r11, [r12, #36]",
        "ldr r10, [r12, #40]",
        "ldr lr, [r12, #44]",
        "ldr r0, [r12]",
        "mov r9, #0",
        "vldmia r6!, {{s26-s27}}",
        "vldmia r7!, {{s28-s29}}",
        "vmov s16, s17, r9, r9",
        "vmov s18, s19, r9, r9",
        "vmov s20, s21, r9, r9",
        "vmov s22, s23, r9, r9",
        "vmul.f32 s26, s26, s30",
        "vmul.f32 s27, s27, s30",
        "vmul.f32 s28, s28, s31",
        "vmul.f32 s29, s29, s31",
        "cmp r0, r11",
        // The first group's loads, then the first pair's first 16 cycles.
        "vldr d0, [r0, #0]",
        "vldr d1, [r0, #256]",
        "vldr d4, [r1, #0]",
        "vldr d5, [r2, #0]",
        // The first pair's lines of `acc` (stores do not allocate: read them, into the dead
        // r12, so the stores hit), after the loads the first groups wait for.
        "ldr r12, [r5]",
        "ldr r12, [r5, #32]",
        "vmul.f32 s0, s0, s24",
        "vmul.f32 s1, s1, s24",
        "vmul.f32 s2, s2, s24",
        "vmul.f32 s3, s3, s24",
        "vmla.f32 s0, s8, s26",
        "vmla.f32 s1, s9, s26",
        "vmla.f32 s2, s8, s27",
        "vmla.f32 s3, s9, s27",
        "vldr d6, [r3, #0]",
        "vldr d7, [r4, #0]",
        "b 3f",
        // ---- a new pair: token 0's last accumulators out, the pair's `x·δ`, its pointer ----
        "2:",
        "vstmia r5!, {{s16-s19}}",
        "vldmia r6!, {{s26-s27}}",
        "vldmia r7!, {{s28-s29}}",
        "vmov s16, s17, r9, r9",
        "vmov s18, s19, r9, r9",
        "add r0, r0, #512",
        "ldr r12, [r10], #32",
        "ldr r12, [lr], #32",
        // This pair's 64 bytes of `acc` (the line-aligned buffer from 64 bytes per pair):
        // read, so the stores below hit and the final loop finds them.
        "ldr r12, [r5, #32]",
        "ldr r12, [r5, #64]",
        "vmul.f32 s26, s26, s30",
        "vmul.f32 s27, s27, s30",
        "vmul.f32 s28, s28, s31",
        "vmul.f32 s29, s29, s31",
        "cmp r0, r11",
        // Cycles 0-15 with the previous pair's last group (its pointer 512 bytes back), then
        // token 1's accumulators of the previous pair out.
        "vmul.f32 s0, s0, s24",
        "vmul.f32 s1, s1, s24",
        "vmul.f32 s2, s2, s24",
        "vmul.f32 s3, s3, s24",
        "vmla.f32 s20, s4, s14",
        "vmla.f32 s21, s5, s15",
        "vmla.f32 s22, s6, s14",
        "vmla.f32 s23, s7, s15",
        "vmla.f32 s0, s8, s26",
        "vmla.f32 s1, s9, s26",
        "vmla.f32 s2, s8, s27",
        "vmla.f32 s3, s9, s27",
        "vstr d2, [r0, #-264]",
        "vstr d3, [r0, #-8]",
        "vldr d6, [r3, #0]",
        "vldr d7, [r4, #0]",
        "vstmia r5!, {{s20-s23}}",
        "vmov s20, s21, r9, r9",
        "vmov s22, s23, r9, r9",
        // ---- cycles 16 to 1024 of the pair; its last loads (the next pair's) only if there
        // is one (`subs` in pass 2) ----
        "3:",
        window!(e, o, 0, 16, touch_next!(512)),
        window!(o, e, 16, 32, touch_next!(768)),
        window!(e, o, 32, 48, touch_next!(544)),
        window!(o, e, 48, 64, touch_next!(800)),
        window!(e, o, 64, 80, touch_next!(576)),
        window!(o, e, 80, 96, touch_next!(832)),
        window!(e, o, 96, 112, touch_next!(608)),
        window!(o, e, 112, 128, touch_next!(864)),
        window!(e, o, 128, 144, touch_next!(640)),
        window!(o, e, 144, 160, touch_next!(896)),
        window!(e, o, 160, 176, touch_next!(672)),
        window!(o, e, 176, 192, touch_next!(928)),
        window!(e, o, 192, 208, touch_next!(704)),
        window!(o, e, 208, 224, touch_next!(960)),
        window!(e, o, 224, 240, touch_next!(736)),
        // Group 15, the end of pass 1: token 0's accumulators out and cleared after its last
        // use, token 1's after theirs.
        win_a!(o, e, "", 8, 8, touch_next!(992)),
        "vstmia r5!, {{s16-s19}}",
        "vmov s16, s17, r9, r9",
        "vmov s18, s19, r9, r9",
        win_b!(o, e, 240, 8),
        "vstmia r5!, {{s20-s23}}",
        "vmov s20, s21, r9, r9",
        "vmov s22, s23, r9, r9",
        // Group 16, the first of pass 2, counts the pair (the flags for its last loads).
        win_a!(e, o, "", 24, 24, ""),
        "vmul.f32 s4, s4, s24",
        "subs r8, r8, #1",
        "vmul.f32 s5, s5, s24",
        "vmul.f32 s6, s6, s24",
        "vmul.f32 s7, s7, s24",
        g_output1!(e),
        g_input0!(o),
        g_store!(e, 8),
        bc1!(24),
        window!(o, e, 24, 40, ""),
        window!(e, o, 40, 56, ""),
        window!(o, e, 56, 72, ""),
        window!(e, o, 72, 88, ""),
        window!(o, e, 88, 104, ""),
        window!(e, o, 104, 120, ""),
        window!(o, e, 120, 136, ""),
        window!(e, o, 136, 152, ""),
        window!(o, e, 152, 168, ""),
        window!(e, o, 168, 184, ""),
        window!(o, e, 184, 200, ""),
        window!(e, o, 200, 216, ""),
        window!(o, e, 216, 232, ""),
        window!(e, o, 232, 248, ""),
        // Group 31's first half, with the next pair's first loads (group 0's, 512 bytes on) if
        // there is one.
        win_a!(o, e, "ne", 512, 0, ""),
        "bne 2b",
        // ---- the last group's end, the last accumulators ----
        "vmla.f32 s20, s4, s14",
        "vmla.f32 s21, s5, s15",
        "vmla.f32 s22, s6, s14",
        "vmla.f32 s23, s7, s15",
        "vstr d2, [r0, #248]",
        "vstr d3, [r0, #504]",
        "vstmia r5!, {{s16-s19}}",
        "vstmia r5!, {{s20-s23}}",
        // ---- every channel and token: y = (a0 + a1) + (a2 + a3), x ← y + x·D ----
        "mov r0, r10",
        "mov r1, lr",
        "pop {{r12}}",
        "ldr r9, [r12, #48]",
        "ldr r10, [r12, #52]",
        "vldr s31, [r12, #72]",
        "ldr r5, [r12, #28]",
        "ldr r6, [r12, #4]",
        "ldr r7, [r12, #8]",
        "ldr r8, [r12, #32]",
        "4:",
        "vldmia r5!, {{s0-s15}}",
        "vldmia r6, {{s16-s17}}",
        "vldmia r7, {{s18-s19}}",
        "vadd.f32 s20, s0, s1",
        "vadd.f32 s21, s2, s3",
        "vadd.f32 s22, s4, s5",
        "vadd.f32 s23, s6, s7",
        "vadd.f32 s24, s8, s9",
        "vadd.f32 s25, s10, s11",
        "vadd.f32 s26, s12, s13",
        "vadd.f32 s27, s14, s15",
        "vmul.f32 s16, s16, s31",
        "vmul.f32 s17, s17, s31",
        "vmul.f32 s18, s18, s31",
        "vmul.f32 s19, s19, s31",
        "vadd.f32 s20, s20, s24",
        "vadd.f32 s21, s21, s25",
        "vadd.f32 s22, s22, s26",
        "vadd.f32 s23, s23, s27",
        "vadd.f32 s16, s20, s16",
        "vadd.f32 s17, s21, s17",
        "vadd.f32 s18, s22, s18",
        "vadd.f32 s19, s23, s19",
        "subs r8, r8, #1",
        "vstmia r6!, {{s16-s17}}",
        "vstmia r7!, {{s18-s19}}",
        "bne 4b",
        // Only now the next call's `x` lines, the first line of each token first, and the
        // lines after the next call's `B`, `C` (their `dt`; the pairs read one line of `B`,
        // `C` each): the bus fills one line at a time, and before the loop these fills
        // queued ahead of the loop's own misses (`acc` and `x` lines the stream evicted).
        "ldr r11, [r9]",
        "ldr r11, [r10]",
        "ldr r11, [r9, #32]",
        "ldr r11, [r10, #32]",
        "ldr r11, [r9, #64]",
        "ldr r11, [r10, #64]",
        "ldr r11, [r9, #96]",
        "ldr r11, [r10, #96]",
        "ldr r11, [r0]",
        "ldr r11, [r0, #32]",
        "ldr r11, [r1]",
        "ldr r11, [r1, #32]",
        "vpop {{d8-d15}}",
        "pop {{r4-r11, pc}}",
    )
}

/// Pairs per call of `scan2_asm`: the size of its accumulator buffer (16 values per pair).
const SCAN2_PAIRS: usize = 16;

/// The scan of the channel pairs of one head over two consecutive tokens (`t[0]` then
/// `t[1]`, see `scan2_asm`) if the shapes suit the kernel: N = 64 (`b`, `c` of both tokens),
/// both tokens' `x` of the same length, at least one pair, the pairs' rows in `state`.
/// Returns false, having changed nothing, otherwise. `t[i].ahead` and `t[i].ahead_x` are
/// only read (early touches); so is the state past the pairs' rows.
///
/// Not inlined: its 1 KB line-aligned `acc` then lives in its own frame, only during the
/// call. Inlined (up into `Session::forward`), it grew that frame by 1.2 KB and realigned
/// it, which moved every later frame, the attention's stack rows among them, to other cache
/// sets: 0.9 M cycles a prompt token more memory stall in the attention kernels.
#[inline(never)]
pub fn scan2_pairs(state: &mut [f32], t: [ScanToken<'_>; 2], d: f32) -> bool {
    const N: usize = 64;
    let [t0, t1] = t;
    let pairs = t0.x.len() / 2;
    if pairs == 0 || t1.x.len() / 2 != pairs || [t0.b.len(), t0.c.len(), t1.b.len(), t1.c.len()] != [N; 4] {
        return false;
    }
    if state.len() / (2 * N) < pairs {
        return false;
    }
    // Line-aligned, and left uninitialised: the kernel writes every value before it reads it
    // (zeroing 1 KB per call cost more than a tenth of the scan's gain).
    #[repr(C, align(32))]
    struct AccBuf([f32; 16 * SCAN2_PAIRS]);
    let mut acc = core::mem::MaybeUninit::<AccBuf>::uninit();
    let acc_ptr = acc.as_mut_ptr().cast::<f32>();
    // Touches of the pairs after a call's last pair read up to 1024 bytes past its pointer.
    let state_end = state.as_ptr().wrapping_add(state.len());
    let touch_end = state_end.wrapping_sub(256);
    let (x0, x1) = (t0.x, t1.x);
    let mut done = 0;
    while done < pairs {
        let now = (pairs - done).min(SCAN2_PAIRS);
        // Where the next call's lines are read early: the caller's slices if they are long
        // enough, else this call's own buffer.
        let ahead = |s: &[f32]| if s.len() >= 8 * SCAN2_PAIRS + 16 { s.as_ptr() } else { acc_ptr.cast_const() };
        let ahead_x = |s: &[f32]| if s.len() >= 32 { s.as_ptr() } else { acc_ptr.cast_const() };
        let base = state.as_mut_ptr().wrapping_add(done * 2 * N);
        let args = Scan2Args {
            state: base,
            x0: x0.as_mut_ptr().wrapping_add(2 * done),
            x1: x1.as_mut_ptr().wrapping_add(2 * done),
            b0: t0.b.as_ptr(),
            c0: t0.c.as_ptr(),
            b1: t1.b.as_ptr(),
            c1: t1.c.as_ptr(),
            acc: acc_ptr,
            pairs: now as u32,
            // The kernel reads [r0 + 512, r0 + 1024) while r0 <= touch_limit.
            touch_limit: if state.len() >= 256 { touch_end } else { core::ptr::null() },
            ahead0: ahead(t0.ahead),
            ahead1: ahead(t1.ahead),
            ahead_x0: ahead_x(t0.ahead_x),
            ahead_x1: ahead_x(t1.ahead_x),
            decay0: t0.decay,
            decay1: t1.decay,
            delta0: t0.delta,
            delta1: t1.delta,
            d,
        };
        // SAFETY: the kernel reads and writes the `now` pairs' rows of `state` from `base`
        // (`2·now·N` values, inside `state`: checked above) and the `2·now` values of each
        // `x` from `2·done` (inside: `x.len() / 2 >= pairs`); reads 64 values of each `B`
        // and `C` (checked) at offsets below 256 bytes; writes `16·now` values of `acc`
        // (its size, uninitialised: every value is written before it is read) and reads them
        // back, and reads (touches) its lines; reads `32·now + 4` bytes from each `ahead` and
        // 100 from each `ahead_x` (the slices' lengths checked, or `acc`, 1 KB); and reads
        // [r0 + 512, r0 + 1024) for pair pointers r0 <= `touch_limit` = the state's end
        // minus 1024 bytes (null, so never, for a shorter state). `state`, `x` and `acc` are
        // exclusive borrows. It saves every callee-saved register it uses (r4-r11, d8-d15)
        // and leaves the FPSCR alone.
        unsafe { scan2_asm(&args) };
        done += now;
    }
    true
}
