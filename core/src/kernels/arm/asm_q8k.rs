//! Activations to Q8_K, one 256-value block, for the ARM1176 (twin:
//! `quant::q8::quantize_q8_k_block_portable`, which is the specification): the standard block
//! (`d`, the 256 `i8` quants, the 16-element sums) and the pair block (the quants as `i16`
//! pairs in the weight type's order, then the sums laid out for `SMLAD`).
//!
//! Why: compiled, a value cost ~40 cycles (3.5 M per prompt token on the 90M Q4_K_S file):
//! the maximum's loop stalled on each load, every value went from VFP to ARM register on its
//! own, the clamp was four instructions, and each pair word was a table read and two byte
//! loads. Here three routines do the work:
//! - [`q8k_absmax`]: the signed element of largest |x| (first on ties) on the values' bits,
//!   `CMP`/`MOVLO` on `bits << 1`, loads of four words a set ahead of their compares.
//! - [`q8k_scale`]: `t = fl(fl(iscale · x) + 1.5 · 2^23)` per value, as a `VMLA` on an
//!   accumulator loaded with `1.5 · 2^23`: ARM's `VMLA.F32` is not fused (the product is
//!   rounded, then the sum), so it is Rust's `v + 12582912.0` after `iscale * x`, bit for bit
//!   (the addends swap, which IEEE addition does not see for finite values). The bits of `t`
//!   go to a 1 KB buffer with `VSTM`, eight values a store, two banks so the 8-cycle VFP11
//!   latency is covered.
//! - [`q8k_pack_d2`] / [`q8k_pack_d4`]: the quants from the bits. With `iscale` finite,
//!   |fl(iscale · x)| ≤ fl(fl(127 / |mx|) · |mx|) ≤ 127.00002, so `t` lies in [2^23, 2^24)
//!   and its bits are `0x4B40_0000 + q` with q = `nearest_int` (round half to even) in
//!   -127..=127: `nearest_int`'s clamp never acts, the low byte of the bits is the `i8` quant
//!   and the low halfword the `i16` one. A pair word `(q[i], q[i + 2])` is one `PKHBT`, the
//!   four quants' byte word two `UXTB16` and an `ORR`, the 16-element sums `SADD16`s of the
//!   pair words. Every pair word of every layout is `(q[4j], q[4j + 2])` or `(q[4j + 1],
//!   q[4j + 3])` for a group of four `j`, and the kernel's step `s` reads groups `j0` and
//!   `j0 + 4 dB` (16-blocks `bA` and `bA + dB`): a routine walks the pair stream in order, a
//!   quad (four steps, 32 values: one 16-block of each group) at a time, with the quads'
//!   `bA` from a plan word ([`PLANS`]).
//!
//! Memory: the activations were stored without allocating lines (the D-cache is
//! read-allocate), so a block's 32 lines are mostly fetched by the maximum's loads; the
//! scale routine touches the next block's lines so those fills overlap this block's rounding
//! and packing, and the maximum touches the bits buffer (see each routine).
//!
//! Measured on the Falcon-H1 90M Q4_K_S prompt (ARM1176 cost model, per prompt token): the
//! quantization 3.49 M cycles -> 1.47 M (maximum 0.57 M, of it ~0.3 M memory stall; rounding
//! 0.28 M; packing 0.39 M; the Rust around them 0.23 M); the prompt 143.3 M -> 141.4 M.
//!
//! The wrapper ([`quantize_q8k`]) computes `iscale = -127 / mx` and `d = 1 / iscale` in
//! Rust as the twin does, places the sums, and sends a block to the twin when it is all zero,
//! holds a non-finite value, or has `iscale` non-finite (|mx| < 127 / f32::MAX): the cases
//! where the bits argument above does not hold. `FPSCR` is the default (round to nearest).
#![allow(unsafe_code)]

use core::arch::naked_asm;
use core::mem::MaybeUninit;

use crate::quant::q8::{q8k_pair_sums, quantize_q8_k_block_portable, Q8K_BLOCK_BYTES, Q8K_PAIRS_BYTES, QK_K};

/// `extern "C" fn(x, bits) -> mx`: the bits of the element of largest |x| among the 256 words
/// at `x` (4-aligned), the first one on ties; 0 if all are ±0. Also a touch load (into r3,
/// never read) every 32 bytes of the 1 KB at `bits`, [`q8k_scale`]'s buffer: its `VSTM`s do
/// not allocate lines, so without the touches the pack routine's loads would miss on a
/// buffer the weight stream has evicted.
///
/// Registers: r0 the pointer, r1 the largest `bits << 1` so far, r2 its element's bits, r4-r7
/// and r8-r11 two sets of four values (one loads while the other is compared), r12 the
/// count of 8-value steps, lr the touch pointer.
#[unsafe(naked)]
unsafe extern "C" fn q8k_absmax(x: *const u32, bits: *const u32) -> u32 {
    naked_asm!(
        ".arch armv6",
        "push {{r4-r11, lr}}",
        "mov lr, r1",
        "mov r1, #0",
        "mov r2, #0",
        "mov r12, #31",
        "ldmia r0!, {{r4-r7}}",
        "1:",
        "ldmia r0!, {{r8-r11}}",
        "ldr r3, [lr], #32",
        "cmp r1, r4, lsl #1",
        "movlo r1, r4, lsl #1",
        "movlo r2, r4",
        "cmp r1, r5, lsl #1",
        "movlo r1, r5, lsl #1",
        "movlo r2, r5",
        "cmp r1, r6, lsl #1",
        "movlo r1, r6, lsl #1",
        "movlo r2, r6",
        "cmp r1, r7, lsl #1",
        "movlo r1, r7, lsl #1",
        "movlo r2, r7",
        "ldmia r0!, {{r4-r7}}",
        "cmp r1, r8, lsl #1",
        "movlo r1, r8, lsl #1",
        "movlo r2, r8",
        "cmp r1, r9, lsl #1",
        "movlo r1, r9, lsl #1",
        "movlo r2, r9",
        "cmp r1, r10, lsl #1",
        "movlo r1, r10, lsl #1",
        "movlo r2, r10",
        "cmp r1, r11, lsl #1",
        "movlo r1, r11, lsl #1",
        "movlo r2, r11",
        "subs r12, r12, #1",
        "bne 1b",
        "ldmia r0!, {{r8-r11}}",
        "ldr r3, [lr]",
        "cmp r1, r4, lsl #1",
        "movlo r1, r4, lsl #1",
        "movlo r2, r4",
        "cmp r1, r5, lsl #1",
        "movlo r1, r5, lsl #1",
        "movlo r2, r5",
        "cmp r1, r6, lsl #1",
        "movlo r1, r6, lsl #1",
        "movlo r2, r6",
        "cmp r1, r7, lsl #1",
        "movlo r1, r7, lsl #1",
        "movlo r2, r7",
        "cmp r1, r8, lsl #1",
        "movlo r1, r8, lsl #1",
        "movlo r2, r8",
        "cmp r1, r9, lsl #1",
        "movlo r1, r9, lsl #1",
        "movlo r2, r9",
        "cmp r1, r10, lsl #1",
        "movlo r1, r10, lsl #1",
        "movlo r2, r10",
        "cmp r1, r11, lsl #1",
        "movlo r1, r11, lsl #1",
        "movlo r2, r11",
        "mov r0, r2",
        "pop {{r4-r11, pc}}",
    )
}

/// `extern "C" fn(x, bits, magic, iscale, ahead)`: `bits[i] = fl(fl(iscale · x[i]) + 1.5 ·
/// 2^23)` (as f32 bits) for the 256 values at `x`; `magic` = eight words of `1.5 · 2^23`
/// (8-aligned), `iscale` as f32 bits. `x`, `bits` 4-aligned. Also a touch load (into r12,
/// never read) every 32 bytes of the 1 KB at `ahead`, the next block's values: the
/// activations were stored without allocating lines, and these fills overlap this block's
/// rounding and packing instead of stalling the next block's maximum.
///
/// VFP: s0 `iscale`, s8-s15 eight values, s16-s23 and s24-s31 two banks of accumulators: a
/// bank is stored while the other's `VMLA`s are in flight. r4 the touch pointer.
#[unsafe(naked)]
unsafe extern "C" fn q8k_scale(x: *const f32, bits: *mut u32, magic: *const u32, iscale: u32, ahead: *const u32) {
    naked_asm!(
        ".arch armv6",
        ".fpu vfpv2",
        "push {{r4}}",
        "ldr r4, [sp, #4]",
        "vpush {{d8-d15}}",
        "ldr r12, [r4], #32",
        "vmov s0, r3",
        "mov r3, #16",
        "vldmia r0!, {{s8-s15}}",
        "vldmia r2, {{s16-s23}}",
        "vmla.f32 s16, s0, s8",
        "vmla.f32 s17, s0, s9",
        "vmla.f32 s18, s0, s10",
        "vmla.f32 s19, s0, s11",
        "vmla.f32 s20, s0, s12",
        "vmla.f32 s21, s0, s13",
        "vmla.f32 s22, s0, s14",
        "vmla.f32 s23, s0, s15",
        "1:",
        "vldmia r0!, {{s8-s15}}",
        "ldr r12, [r4], #32",
        "vldmia r2, {{s24-s31}}",
        "vmla.f32 s24, s0, s8",
        "vmla.f32 s25, s0, s9",
        "vmla.f32 s26, s0, s10",
        "vmla.f32 s27, s0, s11",
        "vmla.f32 s28, s0, s12",
        "vmla.f32 s29, s0, s13",
        "vmla.f32 s30, s0, s14",
        "vmla.f32 s31, s0, s15",
        "vstmia r1!, {{s16-s23}}",
        "subs r3, r3, #1",
        "beq 2f",
        "vldmia r0!, {{s8-s15}}",
        "ldr r12, [r4], #32",
        "vldmia r2, {{s16-s23}}",
        "vmla.f32 s16, s0, s8",
        "vmla.f32 s17, s0, s9",
        "vmla.f32 s18, s0, s10",
        "vmla.f32 s19, s0, s11",
        "vmla.f32 s20, s0, s12",
        "vmla.f32 s21, s0, s13",
        "vmla.f32 s22, s0, s14",
        "vmla.f32 s23, s0, s15",
        "vstmia r1!, {{s24-s31}}",
        "b 1b",
        "2:",
        "vstmia r1!, {{s24-s31}}",
        "vpop {{d8-d15}}",
        "pop {{r4}}",
        "bx lr",
    )
}

/// A step of [`q8k_pack`] after its first: group A's four values (r4-r7) and then group B's
/// (r8-r11) packed into pairs, stored, and added to the `SADD16` sums; `load` loads the next
/// group's values behind each half, `last` (the quad's fourth step) does not.
macro_rules! q8k_pack_step {
    (load) => { q8k_pack_step!(@ "ldmia r0!, {{r4-r7}}\n", "ldmia r1!, {{r8-r11}}\n") };
    (last) => { q8k_pack_step!(@ "", "") };
    (@ $load_a:expr, $load_b:expr) => {
        concat!(
            "pkhbt r4, r4, r6, lsl #16\n",
            "pkhbt r5, r5, r7, lsl #16\n",
            "sadd16 r12, r12, r4\n",
            "uxtb16 r6, r4\n",
            "uxtb16 r7, r5\n",
            "sadd16 r12, r12, r5\n",
            "stmia r2!, {{r4, r5}}\n",
            "orr r6, r6, r7, lsl #8\n",
            "str r6, [r3], #4\n",
            $load_a,
            "pkhbt r8, r8, r10, lsl #16\n",
            "pkhbt r9, r9, r11, lsl #16\n",
            "sadd16 lr, lr, r8\n",
            "uxtb16 r10, r8\n",
            "uxtb16 r11, r9\n",
            "sadd16 lr, lr, r9\n",
            "stmia r2!, {{r8, r9}}\n",
            "orr r10, r10, r11, lsl #8\n",
            "str r10, [r3, #{qb}]\n",
            $load_b,
        )
    };
}

/// The pack routine for a block distance `dB` (16-blocks between a step's two groups):
/// `extern "C" fn(bits, qs, pairs, plan, sums)`. `bits` = [`q8k_scale`]'s 256 words; `qs` = the
/// standard block's quants (4-aligned); `pairs` = the pair block's 128 words; `plan` = the
/// `bA` of quads 1..8 as nibbles (quad 0's is 0; none of the others is); `sums` = 8 words,
/// quad `k`'s sums of 16-blocks `bA` (low half) and `bA + dB` (high half).
///
/// Registers: r0/r1 the bits of groups A (block `bA`) and B (`bA + dB`), r2 the pair stream,
/// r3 the quants of group A (B's are `16 dB` bytes on), r4-r7 and r8-r11 the four values of
/// A and of B (one set loads while the other is packed), r12 and lr A's and B's `SADD16`
/// sums (even and odd elements in the halves). Stashed in VFP registers across a quad: s1 the
/// plan left, s2 `bits`, s3 `qs`, s4 the sums pointer.
macro_rules! q8k_pack {
    ($name:ident, $db:expr) => {
        #[unsafe(naked)]
        unsafe extern "C" fn $name(bits: *const u32, qs: *mut u8, pairs: *mut u32, plan: u32, sums: *mut u32) {
            naked_asm!(
                ".arch armv6",
                ".fpu vfpv2",
                "push {{r4-r11, lr}}",
                "ldr r12, [sp, #36]",
                "vmov s4, r12",
                "vmov s1, r3",
                "vmov s2, r0",
                "vmov s3, r1",
                "mov r3, r1",
                "1:",
                "add r1, r0, #{bb}",
                "ldmia r0!, {{r4-r7}}",
                "ldmia r1!, {{r8-r11}}",
                // step 0: group 0 of A, then of B
                "pkhbt r4, r4, r6, lsl #16",
                "pkhbt r5, r5, r7, lsl #16",
                "sadd16 r12, r4, r5",
                "uxtb16 r6, r4",
                "uxtb16 r7, r5",
                "stmia r2!, {{r4, r5}}",
                "orr r6, r6, r7, lsl #8",
                "str r6, [r3], #4",
                "ldmia r0!, {{r4-r7}}",
                "pkhbt r8, r8, r10, lsl #16",
                "pkhbt r9, r9, r11, lsl #16",
                "sadd16 lr, r8, r9",
                "uxtb16 r10, r8",
                "uxtb16 r11, r9",
                "stmia r2!, {{r8, r9}}",
                "orr r10, r10, r11, lsl #8",
                "str r10, [r3, #{qb}]",
                "ldmia r1!, {{r8-r11}}",
                // step 1: group 1 of A, then of B
                q8k_pack_step!(load),
                // step 2: group 2 of A, then of B
                q8k_pack_step!(load),
                // step 3: group 3 of A, then of B
                q8k_pack_step!(last),
                // the quad's two sums: the halves added in the high half, A's to the low half
                "add r12, r12, r12, lsl #16",
                "add lr, lr, lr, lsl #16",
                "vmov r5, s4",
                "pkhtb r4, lr, r12, asr #16",
                "vmov r6, s1",
                "str r4, [r5], #4",
                "vmov s4, r5",
                "and r7, r6, #15",
                "lsr r6, r6, #4",
                "vmov s1, r6",
                "vmov r0, s2",
                "vmov r3, s3",
                "add r0, r0, r7, lsl #6",
                "add r3, r3, r7, lsl #4",
                "cmp r7, #0",
                "bne 1b",
                "pop {{r4-r11, pc}}",
                bb = const 64 * $db,
                qb = const 16 * $db - 4,
            )
        }
    };
}

q8k_pack!(q8k_pack_d2, 2);
q8k_pack!(q8k_pack_d4, 4);

/// Per pair layout (`quant::q8::layout_id`): the 16-block `bA` of each quad's group A (group
/// B's is `bA + dB`), and `dB`. Layout 0 (Q4_K/Q5_K): step `s` reads groups `16 (s / 8) +
/// s % 8` and 8 more; layout 1 (Q6_K): `32 (s / 16) + s % 16` and 16 more; layout 2
/// (Q2_K/Q3_K): `32h + 16fp + 4g + k` and 8 more (`s = 16h + 8g + 4fp + k`).
const PLANS: [([u8; 8], u32); 3] = [
    ([0, 1, 4, 5, 8, 9, 12, 13], 2),
    ([0, 1, 2, 3, 8, 9, 10, 11], 4),
    ([0, 4, 1, 5, 8, 12, 9, 13], 2),
];

/// The `plan` argument of the pack routine: quads 1..8's `bA` as nibbles.
const fn plan_word(ba: &[u8; 8]) -> u32 {
    let mut w = 0u32;
    let mut k = 7;
    while k >= 1 {
        w = (w << 4) | ba[k] as u32;
        k -= 1;
    }
    w
}

const PLAN_WORDS: [u32; 3] = [plan_word(&PLANS[0].0), plan_word(&PLANS[1].0), plan_word(&PLANS[2].0)];

/// Eight copies of `1.5 · 2^23` for the accumulators of [`q8k_scale`].
#[repr(C, align(8))]
struct Magic([u32; 8]);
static MAGIC: Magic = Magic([0x4b40_0000; 8]);

/// The bits of `fl(iscale · x) + 1.5 · 2^23` for a block.
#[repr(C, align(8))]
struct Bits([u32; QK_K]);

/// The blocks of `x` as Q8_K and their pair blocks for pair layout `layout` (the twin's
/// contract, same bytes).
pub fn quantize_q8k(layout: u8, x: &[f32], std_part: &mut [u8], pairs: &mut [u8]) {
    let mut bits = MaybeUninit::<Bits>::uninit();
    let bits = bits.as_mut_ptr() as *mut u32;
    let blocks = x.chunks_exact(QK_K).zip(std_part.chunks_exact_mut(Q8K_BLOCK_BYTES)).zip(pairs.chunks_exact_mut(Q8K_PAIRS_BYTES));
    for (b, ((xb, ob), pb)) in blocks.enumerate() {
        // The next block's values, or this block's for the last.
        let ahead = x.get((b + 1) * QK_K..(b + 2) * QK_K).unwrap_or(xb);
        if let (Ok(xb), Ok(ob), Ok(pb)) = (xb.try_into(), ob.try_into(), pb.try_into()) {
            quantize_block(layout, xb, ahead, bits, ob, pb);
        }
    }
}

/// One Q8_K block and its pair block for pair layout `layout`; `ahead` (256 values) is touched
/// for the next block, `bits` is a [`Bits`] buffer.
#[inline(always)]
fn quantize_block(
    layout: u8,
    xb: &[f32; QK_K],
    ahead: &[f32],
    bits: *mut u32,
    ob: &mut [u8; Q8K_BLOCK_BYTES],
    pb: &mut [u8; Q8K_PAIRS_BYTES],
) {
    let l = layout as usize;
    if l > 2 || ahead.len() != QK_K {
        return quantize_q8_k_block_portable(layout, xb, ob, pb);
    }
    // SAFETY: reads the 256 words of `xb` (4-aligned as f32s) and the 256 of `bits` (a
    // `Bits`, whatever they hold: touch loads); writes nothing.
    let mx_bits = unsafe { q8k_absmax(xb.as_ptr() as *const u32, bits) };
    let amax = mx_bits & 0x7fff_ffff;
    let iscale = -127.0 / f32::from_bits(mx_bits);
    if amax == 0 || amax >= 0x7f80_0000 || !iscale.is_finite() {
        return quantize_q8_k_block_portable(layout, xb, ob, pb);
    }
    // SAFETY: reads the 256 words of `xb`, the 256 of `ahead` (checked just above) and the 8
    // of `MAGIC` (8-aligned); writes the 256 words of `bits` (a `Bits`, 8-aligned). Saves and
    // restores d8-d15 and r4.
    unsafe { q8k_scale(xb.as_ptr(), bits, MAGIC.0.as_ptr(), iscale.to_bits(), ahead.as_ptr() as *const u32) };
    let mut sums = [0u32; 8];
    let (dpart, rest) = ob.split_at_mut(4);
    let (qs, bsums) = rest.split_at_mut(QK_K);
    // SAFETY: reads the 256 words `q8k_scale` wrote to `bits`; writes the 256 bytes of `qs`
    // (4-aligned: `ob` starts 4-aligned, as `quant::quantize_activations` aligns the buffer and
    // a block is 292 bytes), the first 512 bytes of `pb` (4-aligned likewise) and `sums`.
    unsafe {
        let (qs, pairs, plan, s) = (qs.as_mut_ptr(), pb.as_mut_ptr() as *mut u32, PLAN_WORDS[l], sums.as_mut_ptr());
        if PLANS[l].1 == 4 {
            q8k_pack_d4(bits, qs, pairs, plan, s);
        } else {
            q8k_pack_d2(bits, qs, pairs, plan, s);
        }
    }
    dpart.copy_from_slice(&(1.0 / iscale).to_le_bytes());
    let (ba, db) = (&PLANS[l].0, PLANS[l].1 as usize);
    let mut bsums16 = [0i16; 16];
    for (&a, &w) in ba.iter().zip(&sums) {
        bsums16[a as usize & 15] = w as i16;
        bsums16[(a as usize + db) & 15] = (w >> 16) as i16;
    }
    for (o, s) in bsums.chunks_exact_mut(2).zip(&bsums16) {
        o.copy_from_slice(&s.to_le_bytes());
    }
    q8k_pair_sums(layout, &bsums16, &mut pb[512..]);
}
