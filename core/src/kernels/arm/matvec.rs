//! ARMv6 matrix-vector drivers: the integer part of every block runs in the hand-scheduled
//! `asm_*` kernels (DSP `SMLAD`/`SXTB16`/`UXTB16`, scales and mins decoded in word
//! operations), which return exact integer sums; the float part is done here in the order of
//! the portable twins (`kquant::finish_block`, `legacy::finish_block`, [`RowSum`]), so results
//! equal theirs bit for bit. Weight words are read with `LDR` at any alignment (ARMv6 with
//! SCTLR.U set, as Linux runs it and as the Pi's bare-metal start-up must set it);
//! activations come 4-aligned from `quantize_activations`.
#![allow(unsafe_code)]

use core::arch::asm;

use super::asm_k4finish::{k4_finish_rows2, k4_finish_rows3, k6_finish_rows2, FINISH_GROUP_BLOCKS, SCALE_ONLY_GROUP_BLOCKS};
use crate::kernels::portable;
use crate::kernels::{legacy, RowSum};
use crate::math::f16_to_f32;
use crate::quant::kquant::{Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES};
use crate::quant::legacy::{Q4_0_BYTES, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES, Q8_0_BYTES};
use crate::quant::q8::{Q5_STREAM_BYTES, Q8K_BLOCK_BYTES, Q8K_PAIRS_BYTES, Q8_BLOCK_BYTES, Q8_PAIRS_BYTES, Q8_SCALES_BYTES, TOUCH_PAD};
use crate::quant::GgmlType;

/// A hand-scheduled K-quant kernel: `(w, pairs, n, out, row_blocks)` for `n` consecutive
/// weight blocks, the pair pointer going back to `pairs` every `row_blocks` blocks (so one
/// call can cover several short rows; see `asm_q4k` for the contract).
type BlockKernel = unsafe extern "C" fn(*const u8, *const u8, u32, *mut i32, u32);

/// A legacy (32-element block) kernel: `(w, pairs, n, out)` for `n` blocks of one row.
type LegacyKernel = unsafe extern "C" fn(*const u8, *const u8, u32, *mut i32);

/// The two variants of a block kernel: without and with touch loads ahead in the weight
/// stream (`reach` = bytes past the last block the touch variant may read).
struct BlockKernels<K> {
    plain: K,
    touch: K,
    reach: usize,
}

/// Blocks per kernel call (the integer results go through a stack buffer of this size). A
/// multiple of 4: every call after the first in a long row starts on partial sum 0.
const CALL_BLOCKS: usize = 16;
const _: () = assert!(CALL_BLOCKS % 4 == 0);

/// Blocks per kernel call for rows of at most 4 blocks: 48 = 24 rows of 2 blocks or 16 of 3,
/// whole groups of `asm_k4finish` (so only a matrix's last call leaves rows to the Rust
/// finish), in a stack buffer of at most 576 bytes.
const SHORT_CALL_BLOCKS: usize = 48;
const _: () = assert!(
    SHORT_CALL_BLOCKS >= CALL_BLOCKS && SHORT_CALL_BLOCKS % (2 * FINISH_GROUP_BLOCKS) == 0 && SHORT_CALL_BLOCKS % SCALE_ONLY_GROUP_BLOCKS == 0
);

/// Widens an f16 to f32 exactly: the normal numbers inline, the rest through
/// [`f16_to_f32`].
#[inline(always)]
pub(super) fn f16_bits_to_f32(h: u32) -> f32 {
    let e = h & 0x7c00;
    if e != 0 && e != 0x7c00 {
        f32::from_bits(((h & 0x8000) << 16) | (((h & 0x7fff) << 13) + 0x3800_0000))
    } else {
        f16_to_f32(h as u16)
    }
}

/// The f32 scale `d` of standard Q8_K block `i` (the blocks are 4-aligned, 292 bytes apart).
#[inline(always)]
pub(super) fn q8k_d(std_act: &[u8], i: usize) -> f32 {
    match std_act.get(i * Q8K_BLOCK_BYTES..i * Q8K_BLOCK_BYTES + 4) {
        Some(b) => f32::from_bits(load_word(b)),
        None => 0.0,
    }
}

/// The little-endian word at the start of `b` (at least 4 bytes) with one `LDR`.
#[inline(always)]
pub(super) fn load_word(b: &[u8]) -> u32 {
    if b.len() < 4 {
        return 0;
    }
    let r: u32;
    // SAFETY: reads b[0..4], inside `b` (checked above); ARMv6 LDR accepts any alignment.
    unsafe { asm!("ldr {r}, [{p}]", r = lateout(reg) r, p = in(reg) b.as_ptr(), options(pure, readonly, nostack, preserves_flags)) };
    r
}

/// Adds the float parts of `res` (consecutive blocks of one row starting at block `b0`, a
/// multiple of 4) to `sum`, four at a time so the VFP11 chains (8-cycle latency) overlap;
/// the partial indices are constants, which keeps the partial sums in registers.
#[inline(always)]
fn finish_blocks<const OW: usize, F: BlockFloat<OW>>(res: &[[i32; OW]], b0: usize, std_act: &[u8], sum: &mut RowSum) {
    let finish = |r: &[i32; OW], dx: f32| F::value(r, dx, f16_bits_to_f32);
    let mut groups = res.chunks_exact(4);
    let mut bi = b0;
    for g in &mut groups {
        let v0 = finish(&g[0], q8k_d(std_act, bi));
        let v1 = finish(&g[1], q8k_d(std_act, bi + 1));
        let v2 = finish(&g[2], q8k_d(std_act, bi + 2));
        let v3 = finish(&g[3], q8k_d(std_act, bi + 3));
        sum.add(0, v0);
        sum.add(1, v1);
        sum.add(2, v2);
        sum.add(3, v3);
        bi += 4;
    }
    let rest = groups.remainder();
    if let Some(rr) = rest.first() {
        sum.add(0, finish(rr, q8k_d(std_act, bi)));
    }
    if let Some(rr) = rest.get(1) {
        sum.add(1, finish(rr, q8k_d(std_act, bi + 1)));
    }
    if let Some(rr) = rest.get(2) {
        sum.add(2, finish(rr, q8k_d(std_act, bi + 2)));
    }
}

/// Runs a K-quant kernel over every row and finishes each block in f32 (`F`) in the
/// shared [`RowSum`] order. Rows of at most [`CALL_BLOCKS`] blocks go several to
/// a call ([`SHORT_CALL_BLOCKS`] blocks); longer rows take several calls each. Falls back
/// to the portable twin if the activation buffer is not laid out as `quantize_activations`
/// does it (it always is).
#[inline(always)]
fn drive<const BB: usize, const OW: usize, F: BlockFloat<OW>>(
    ty: GgmlType,
    w: &[u8],
    rb: usize,
    std_act: &[u8],
    pairs: &[u8],
    out: &mut [f32],
    k: &BlockKernels<BlockKernel>,
) {
    let nb = rb / BB;
    let layout_ok = rb == nb * BB
        && std_act.len() >= nb * Q8K_BLOCK_BYTES
        && pairs.len() >= nb * Q8K_PAIRS_BYTES
        && (pairs.as_ptr() as usize) % 4 == 0
        && w.len() >= out.len() * rb;
    if !layout_ok || nb == 0 {
        return portable::matvec_kquant(ty, w, rb, std_act, pairs, out);
    }
    let mut res = [[0i32; OW]; SHORT_CALL_BLOCKS];
    // One call: `n` blocks from byte `start` of `w`, pairs from block `b0`, `row_blocks`
    // blocks per row.
    let call = |start: usize, n: usize, b0: usize, row_blocks: usize, res: &mut [[i32; OW]; SHORT_CALL_BLOCKS]| {
        let end = start + n * BB;
        let kernel = if end + k.reach <= w.len() { k.touch } else { k.plain };
        // SAFETY: the kernel reads the `n` blocks w[start..end] (in bounds: callers keep
        // end <= out.len() * rb <= w.len()) and, in the touch variant, at most `reach` bytes
        // after them (checked just above); it reads pair blocks b0..b0 + row_blocks (in
        // bounds: b0 + row_blocks <= nb, and pairs holds nb of them, 4-aligned for LDM) and
        // writes n * OW words to `res` (n <= SHORT_CALL_BLOCKS, its length). Unaligned weight
        // words are read with LDR, which ARMv6 allows with SCTLR.U set (Linux, and the Pi's
        // bare-metal setup).
        unsafe {
            kernel(w.as_ptr().add(start), pairs.as_ptr().add(b0 * Q8K_PAIRS_BYTES), n as u32, res.as_mut_ptr() as *mut i32, row_blocks as u32);
        }
    };
    if nb <= CALL_BLOCKS {
        let rows_per_call = SHORT_CALL_BLOCKS / nb;
        // Rows of 1 to 4 blocks (every matrix of the small models) are finished by a
        // branch-free run per row, each block's activation scale read once per product.
        let mut dxs = [0f32; 4];
        for (b, d) in dxs.iter_mut().enumerate().take(nb) {
            *d = q8k_d(std_act, b);
        }
        for (c, outs) in out.chunks_mut(rows_per_call).enumerate() {
            call(c * rows_per_call * rb, outs.len() * nb, 0, nb, &mut res);
            let res = &res[..outs.len() * nb];
            match nb {
                1 => finish_short_rows::<1, OW, F>(res, &dxs, outs),
                2 => {
                    let done = F::finish_rows_asm::<2>(res, &dxs, outs);
                    finish_short_rows::<2, OW, F>(&res[done * 2..], &dxs, &mut outs[done..]);
                }
                3 => {
                    let done = F::finish_rows_asm::<3>(res, &dxs, outs);
                    finish_short_rows::<3, OW, F>(&res[done * 3..], &dxs, &mut outs[done..]);
                }
                4 => finish_short_rows::<4, OW, F>(res, &dxs, outs),
                _ => {
                    for (o, rr) in outs.iter_mut().zip(res.chunks_exact(nb)) {
                        let mut sum = RowSum::default();
                        finish_blocks::<OW, F>(rr, 0, std_act, &mut sum);
                        *o = sum.finish();
                    }
                }
            }
        }
    } else {
        for (r, o) in out.iter_mut().enumerate() {
            let mut sum = RowSum::default();
            let mut b0 = 0;
            while b0 < nb {
                let n = (nb - b0).min(CALL_BLOCKS);
                call(r * rb + b0 * BB, n, b0, n, &mut res);
                finish_blocks::<OW, F>(&res[..n], b0, std_act, &mut sum);
                b0 += n;
            }
            *o = sum.finish();
        }
    }
}

/// The float part of rows of `NB` (at most 4) blocks: block `b` of each row of `res`
/// finished with the scale `dxs[b]` and added to partial `b`, as [`finish_blocks`] does.
/// A row whose f16 scales are all normal (those of real weights always are) widens them
/// without a branch, so the row is one straight run the compiler can schedule.
#[inline(always)]
fn finish_short_rows<const NB: usize, const OW: usize, F: BlockFloat<OW>>(res: &[[i32; OW]], dxs: &[f32; 4], outs: &mut [f32]) {
    for (o, rr) in outs.iter_mut().zip(res.chunks_exact(NB)) {
        let values: [f32; NB] = if rr.iter().fold(true, |ok, r| ok & F::scales_normal(r)) {
            core::array::from_fn(|b| F::value(&rr[b], dxs[b % 4], widen_normal_f16))
        } else {
            core::array::from_fn(|b| F::value(&rr[b], dxs[b % 4], f16_bits_to_f32))
        };
        *o = RowSum::of_blocks(values);
    }
}

/// The float part of one block from a K-quant kernel's `OW` result words and the
/// activation scale `dx`, in `kquant::finish_block`'s expression.
trait BlockFloat<const OW: usize> {
    /// Whether the block's f16 scales are all normal numbers.
    fn scales_normal(r: &[i32; OW]) -> bool;
    /// The block's value, its f16 scales widened by `widen`.
    fn value(r: &[i32; OW], dx: f32, widen: impl Fn(u32) -> f32) -> f32;
    /// Finishes the first rows of `outs` (rows of `NB` blocks in `res`, the activation scales
    /// in `dxs`) with a hand-scheduled routine where there is one, exactly as
    /// [`finish_short_rows`] would; returns how many rows it did (the rest are the caller's).
    #[inline(always)]
    fn finish_rows_asm<const NB: usize>(_res: &[[i32; OW]], _dxs: &[f32; 4], _outs: &mut [f32]) -> usize {
        0
    }
}

/// Q4_K, Q5_K and Q2_K: `[isum, msum, d | dmin << 16]`.
struct ScaleAndMin;

impl BlockFloat<3> for ScaleAndMin {
    #[inline(always)]
    fn scales_normal(r: &[i32; 3]) -> bool {
        let dd = r[2] as u32;
        is_normal_f16(dd & 0xffff) & is_normal_f16(dd >> 16)
    }
    #[inline(always)]
    fn value(r: &[i32; 3], dx: f32, widen: impl Fn(u32) -> f32) -> f32 {
        let dd = r[2] as u32;
        finish_k4_sums(widen(dd & 0xffff), widen(dd >> 16), r[0], r[1], dx)
    }
    /// Rows of 2 and 3 blocks go through `asm_k4finish` in whole groups of six blocks; if
    /// any scale of them is not a normal number the routine says so and none counts as done.
    #[inline(always)]
    fn finish_rows_asm<const NB: usize>(res: &[[i32; 3]], dxs: &[f32; 4], outs: &mut [f32]) -> usize {
        let routine: unsafe extern "C" fn(*const i32, *const f32, u32, *mut f32) -> u32 = match NB {
            2 => k4_finish_rows2,
            3 => k4_finish_rows3,
            _ => return 0,
        };
        let rows_per_group = FINISH_GROUP_BLOCKS / NB;
        let groups = (outs.len() / rows_per_group).min(res.len() / FINISH_GROUP_BLOCKS);
        if groups == 0 {
            return 0;
        }
        // SAFETY: the routine reads `groups` groups of six 3-word blocks from `res` (in
        // bounds: groups <= res.len() / 6, and [[i32; 3]] is 4-aligned), 3 f32 from `dxs`
        // (4 of them) and writes groups * rows_per_group f32 to `outs` (groups <=
        // outs.len() / rows_per_group); it saves the registers the AAPCS asks it to.
        let all_normal = unsafe { routine(res.as_ptr() as *const i32, dxs.as_ptr(), groups as u32, outs.as_mut_ptr()) };
        if all_normal == 1 {
            groups * rows_per_group
        } else {
            0
        }
    }
}

/// Q6_K and Q3_K: `[isum, d]`.
struct ScaleOnly;

impl BlockFloat<2> for ScaleOnly {
    #[inline(always)]
    fn scales_normal(r: &[i32; 2]) -> bool {
        is_normal_f16(r[1] as u32 & 0xffff)
    }
    #[inline(always)]
    fn value(r: &[i32; 2], dx: f32, widen: impl Fn(u32) -> f32) -> f32 {
        (widen(r[1] as u32 & 0xffff) * dx) * r[0] as f32
    }
    /// Rows of 2 blocks (the Q6_K LM head among them) go through `asm_k4finish` in whole
    /// groups of eight blocks, as for [`ScaleAndMin`].
    #[inline(always)]
    fn finish_rows_asm<const NB: usize>(res: &[[i32; 2]], dxs: &[f32; 4], outs: &mut [f32]) -> usize {
        if NB != 2 {
            return 0;
        }
        let rows_per_group = SCALE_ONLY_GROUP_BLOCKS / 2;
        let groups = (outs.len() / rows_per_group).min(res.len() / SCALE_ONLY_GROUP_BLOCKS);
        if groups == 0 {
            return 0;
        }
        // SAFETY: the routine reads `groups` groups of eight 2-word blocks from `res` (in
        // bounds: groups <= res.len() / 8, and [[i32; 2]] is 4-aligned), 3 f32 from `dxs`
        // (4 of them) and writes groups * 4 f32 to `outs` (groups <= outs.len() / 4); it
        // saves the registers the AAPCS asks it to.
        let all_normal = unsafe { k6_finish_rows2(res.as_ptr() as *const i32, dxs.as_ptr(), groups as u32, outs.as_mut_ptr()) };
        if all_normal == 1 {
            groups * rows_per_group
        } else {
            0
        }
    }
}

/// Whether the f16 `h` is a normal number (exponent field 1..=30).
#[inline(always)]
fn is_normal_f16(h: u32) -> bool {
    (h & 0x7c00).wrapping_sub(0x400) < 0x7800
}

/// A normal f16 widened exactly: the exponent rebiased in place ([`f16_bits_to_f32`]'s
/// fast path, with no test).
#[inline(always)]
fn widen_normal_f16(h: u32) -> f32 {
    f32::from_bits(((h & 0x8000) << 16) | (((h & 0x7fff) << 13) + 0x3800_0000))
}

/// The float part of a Q4_K/Q5_K block from its widened `d`, `dmin` and integer sums
/// (`kquant::finish_block`'s expression).
#[inline(always)]
pub(super) fn finish_k4_sums(d: f32, dmin: f32, isum: i32, msum: i32, dx: f32) -> f32 {
    (d * dx) * isum as f32 - (dmin * dx) * msum as f32
}

/// K-quant matvec, one row at a time (see `kernels::portable` for the contract).
pub fn matvec_kquant(ty: GgmlType, w: &[u8], rb: usize, std_act: &[u8], pairs: &[u8], out: &mut [f32]) {
    match ty {
        GgmlType::Q4_K => {
            let kernels: BlockKernels<BlockKernel> = BlockKernels { plain: super::asm_q4k::q4k_blocks, touch: super::asm_q4k::q4k_blocks_touch, reach: super::asm_q4k::Q4K_TOUCH_REACH };
            drive::<{ Q4_K_BYTES }, 3, ScaleAndMin>(ty, w, rb, std_act, pairs, out, &kernels)
        }
        GgmlType::Q5_K => {
            let kernels: BlockKernels<BlockKernel> = BlockKernels { plain: super::asm_q5k::q5k_blocks, touch: super::asm_q5k::q5k_blocks_touch, reach: super::asm_q5k::Q5K_TOUCH_REACH };
            drive::<{ Q5_K_BYTES }, 3, ScaleAndMin>(ty, w, rb, std_act, pairs, out, &kernels)
        }
        GgmlType::Q6_K => {
            let kernels: BlockKernels<BlockKernel> = BlockKernels { plain: super::asm_q6k::q6k_blocks, touch: super::asm_q6k::q6k_blocks_touch, reach: super::asm_q6k::Q6K_TOUCH_REACH };
            drive::<{ Q6_K_BYTES }, 2, ScaleOnly>(ty, w, rb, std_act, pairs, out, &kernels)
        }
        GgmlType::Q2_K => {
            let kernels: BlockKernels<BlockKernel> = BlockKernels { plain: super::asm_q23k::q2k_blocks, touch: super::asm_q23k::q2k_blocks_touch, reach: super::asm_q23k::K23_TOUCH_REACH };
            drive::<{ Q2_K_BYTES }, 3, ScaleAndMin>(ty, w, rb, std_act, pairs, out, &kernels)
        }
        GgmlType::Q3_K => {
            let kernels: BlockKernels<BlockKernel> = BlockKernels { plain: super::asm_q23k::q3k_blocks, touch: super::asm_q23k::q3k_blocks_touch, reach: super::asm_q23k::K23_TOUCH_REACH };
            drive::<{ Q3_K_BYTES }, 2, ScaleOnly>(ty, w, rb, std_act, pairs, out, &kernels)
        }
        _ => portable::matvec_kquant(ty, w, rb, std_act, pairs, out),
    }
}

/// Runs a legacy block kernel (`asm_legacy`) over every row and finishes each block in f32
/// (`finish(results, dx, second scale word)`) in the shared [`RowSum`] order, four blocks at a time. `act`
/// is the activation buffer prepared for this weight type: `nb` standard blocks, then `nb`
/// pair blocks, then `nb` (d, s) scale entries. Falls back to the portable twin when it is not
/// laid out that way (it always is).
#[inline(always)]
fn drive_legacy<const BB: usize, const OW: usize>(
    ty: GgmlType,
    w: &[u8],
    rb: usize,
    act: &[u8],
    out: &mut [f32],
    k: &BlockKernels<LegacyKernel>,
    finish: impl Fn(&[i32; OW], f32, u32) -> f32,
) {
    let nb = rb / BB;
    let pairs_at = nb * Q8_BLOCK_BYTES;
    let scales_at = pairs_at + nb * Q8_PAIRS_BYTES;
    let (pairs, scales) = (act.get(pairs_at..scales_at), act.get(scales_at..scales_at + nb * Q8_SCALES_BYTES));
    let (Some(pairs), Some(scales)) = (pairs, scales) else {
        return legacy::matvec_portable(ty, w, rb, act, out);
    };
    if rb != nb * BB || nb == 0 || (pairs.as_ptr() as usize) % 4 != 0 || w.len() < out.len() * rb {
        return legacy::matvec_portable(ty, w, rb, act, out);
    }
    let pad_ok = act.len() >= scales_at + nb * Q8_SCALES_BYTES + TOUCH_PAD;
    let mut res = [[0i32; OW]; LEGACY_CALL_BLOCKS];
    for (r, o) in out.iter_mut().enumerate() {
        let row_off = r * rb;
        let mut sum = RowSum::default();
        let mut b0 = 0;
        while b0 < nb {
            let n = (nb - b0).min(LEGACY_CALL_BLOCKS);
            let start = row_off + b0 * BB;
            let end = start + n * BB;
            let kernel = if end + k.reach <= w.len() && pad_ok { k.touch } else { k.plain };
            // SAFETY: the kernel reads the `n` blocks w[start..end] (in bounds: `w` holds
            // out.len() rows of rb bytes) and, in the touch variant, at most `reach` bytes
            // after them (checked just above); it reads `n` pair blocks from
            // pairs[b0 * 64..] (in bounds: pairs holds nb of them, 4-aligned for LDM; the
            // touch variant up to 128 bytes further, inside the scales and the pad: pad_ok) and
            // writes n * OW words to `res` (n <= LEGACY_CALL_BLOCKS). Unaligned weight words are
            // read with LDR, which ARMv6 allows with SCTLR.U set.
            unsafe {
                kernel(w.as_ptr().add(start), pairs.as_ptr().add(b0 * Q8_PAIRS_BYTES), n as u32, res.as_mut_ptr() as *mut i32);
            }
            let sc = scales.get(b0 * Q8_SCALES_BYTES..(b0 + n) * Q8_SCALES_BYTES).unwrap_or(&[]);
            let scale = |s: &[u8]| (f32::from_bits(load_word(s)), load_word(s.get(4..).unwrap_or(&[])));
            let mut groups = res[..n].chunks_exact(4).zip(sc.chunks_exact(4 * Q8_SCALES_BYTES));
            for (g, s) in &mut groups {
                let (s0, s1, s2, s3) = (scale(&s[0..8]), scale(&s[8..16]), scale(&s[16..24]), scale(&s[24..32]));
                let v0 = finish(&g[0], s0.0, s0.1);
                let v1 = finish(&g[1], s1.0, s1.1);
                let v2 = finish(&g[2], s2.0, s2.1);
                let v3 = finish(&g[3], s3.0, s3.1);
                sum.add(0, v0);
                sum.add(1, v1);
                sum.add(2, v2);
                sum.add(3, v3);
            }
            // The 1-3 blocks left go to partials 0, 1, 2 (b0 and done are multiples of 4).
            let done = n / 4 * 4;
            let rest = res[done..n].iter().zip(sc.get(done * Q8_SCALES_BYTES..).unwrap_or(&[]).chunks_exact(Q8_SCALES_BYTES));
            for (i, (rr, s)) in rest.enumerate() {
                let (dx, sx) = scale(s);
                match i {
                    0 => sum.add(0, finish(rr, dx, sx)),
                    1 => sum.add(1, finish(rr, dx, sx)),
                    _ => sum.add(2, finish(rr, dx, sx)),
                }
            }
            b0 += n;
        }
        *o = sum.finish();
    }
}

/// Blocks per legacy kernel call (a multiple of 4, so groups of 4 start on partial 0).
const LEGACY_CALL_BLOCKS: usize = 32;
const _: () = assert!(LEGACY_CALL_BLOCKS % 4 == 0);

/// Q8_0 x Q8_0 (activations prepared for Q8_0, with their pair copy).
pub fn matvec_q8_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    let kernels: BlockKernels<LegacyKernel> = BlockKernels { plain: super::asm_legacy::q8_0_blocks, touch: super::asm_legacy::q8_0_blocks_touch, reach: super::asm_legacy::LEGACY_TOUCH_REACH };
    drive_legacy::<{ Q8_0_BYTES }, 2>(GgmlType::Q8_0, w, rb, act, out, &kernels, |r, dx, _| {
        legacy::finish_block(GgmlType::Q8_0, r[1], f32::from_bits(r[0] as u32), 0.0, dx, 0.0)
    })
}

/// Q4_1 x Q8_1 (activations prepared for Q4_1, with their pair copy).
pub fn matvec_q4_1(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    let kernels: BlockKernels<LegacyKernel> = BlockKernels { plain: super::asm_legacy::q4_1_blocks, touch: super::asm_legacy::q4_1_blocks_touch, reach: super::asm_legacy::LEGACY_TOUCH_REACH };
    drive_legacy::<{ Q4_1_BYTES }, 3>(GgmlType::Q4_1, w, rb, act, out, &kernels, |r, dx, sx| {
        let (dw, mw) = (f32::from_bits(r[0] as u32), f32::from_bits(r[1] as u32));
        legacy::finish_block(GgmlType::Q4_1, r[2], dw, mw, dx, f32::from_bits(sx))
    })
}

/// Q4_0 x Q8_0 (activations prepared for Q4_0: their scale entries hold `Σ x` as an i32).
pub fn matvec_q4_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    let kernels: BlockKernels<LegacyKernel> = BlockKernels { plain: super::asm_legacy::q4_0_blocks, touch: super::asm_legacy::q4_0_blocks_touch, reach: super::asm_legacy::LEGACY_TOUCH_REACH };
    drive_legacy::<{ Q4_0_BYTES }, 2>(GgmlType::Q4_0, w, rb, act, out, &kernels, |r, dx, sum_x| {
        let isum = r[1].wrapping_sub((sum_x as i32).wrapping_mul(8));
        legacy::finish_block(GgmlType::Q4_0, isum, f32::from_bits(r[0] as u32), 0.0, dx, 0.0)
    })
}

/// A Q5 row kernel (`asm_q5`): `(w, stream, groups, partials)` for `4 · groups` blocks of one
/// row, their values added to the row's four partial sums.
type Q5Kernel = unsafe extern "C" fn(*const u8, *const u8, u32, *mut f32);

/// Runs a Q5 row kernel over every row: the blocks in whole groups of 4 in asm, the 1-3 left
/// by `legacy::block_value` into the same partials, then the shared [`RowSum`] finish. `act`
/// is the activation buffer prepared for this weight type: `nb` standard blocks, then `nb`
/// stream blocks and `TOUCH_PAD`. Falls back to the portable twin when it is not laid out that
/// way (it always is) or a row has fewer than 4 blocks.
#[inline(always)]
fn drive_q5<const BB: usize>(ty: GgmlType, w: &[u8], rb: usize, act: &[u8], out: &mut [f32], k: &BlockKernels<Q5Kernel>) {
    let nb = rb / BB;
    let stream_at = nb * Q8_BLOCK_BYTES;
    let stream = act.get(stream_at..stream_at + nb * Q5_STREAM_BYTES + TOUCH_PAD);
    let Some(stream) = stream else {
        return legacy::matvec_portable(ty, w, rb, act, out);
    };
    if rb != nb * BB || nb < 4 || (stream.as_ptr() as usize) % 4 != 0 || w.len() < out.len() * rb {
        return legacy::matvec_portable(ty, w, rb, act, out);
    }
    let groups = nb / 4;
    for (r, o) in out.iter_mut().enumerate() {
        let start = r * rb;
        let end = start + groups * 4 * BB;
        let kernel = if end + k.reach <= w.len() { k.touch } else { k.plain };
        let mut sum = RowSum::default();
        // SAFETY: the kernel reads the blocks w[start..end] (in bounds: `w` holds out.len()
        // rows of rb bytes) and, in the touch variant, at most `reach` bytes after them
        // (checked just above); it reads 4 · groups stream blocks, one word after them and, in
        // the touch variant, bytes up to 116 after them (in bounds: `stream` holds nb blocks
        // and TOUCH_PAD = 128 bytes, 4-aligned for LDM) and reads
        // and writes the four f32 of `sum.s`. Unaligned weight words are read with LDR, which
        // ARMv6 allows with SCTLR.U set.
        unsafe {
            kernel(w.as_ptr().add(start), stream.as_ptr(), groups as u32, sum.s.as_mut_ptr());
        }
        for b in groups * 4..nb {
            let blk = w.get(start + b * BB..start + (b + 1) * BB).unwrap_or(&[]);
            if let Some(Ok(a)) = act.get(b * Q8_BLOCK_BYTES..(b + 1) * Q8_BLOCK_BYTES).map(<&[u8; Q8_BLOCK_BYTES]>::try_from) {
                sum.add(b, legacy::block_value(ty, blk, a));
            }
        }
        *o = sum.finish();
    }
}

/// Q5_0 x Q8_0 (activations prepared for Q5_0, with their stream).
pub fn matvec_q5_0(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    let kernels: BlockKernels<Q5Kernel> = BlockKernels { plain: super::asm_q5::q5_0_blocks, touch: super::asm_q5::q5_0_blocks_touch, reach: super::asm_q5::Q5_TOUCH_REACH };
    drive_q5::<{ Q5_0_BYTES }>(GgmlType::Q5_0, w, rb, act, out, &kernels)
}

/// Q5_1 x Q8_1 (activations prepared for Q5_1, with their stream).
pub fn matvec_q5_1(w: &[u8], rb: usize, act: &[u8], out: &mut [f32]) {
    let kernels: BlockKernels<Q5Kernel> = BlockKernels { plain: super::asm_q5::q5_1_blocks, touch: super::asm_q5::q5_1_blocks_touch, reach: super::asm_q5::Q5_TOUCH_REACH };
    drive_q5::<{ Q5_1_BYTES }>(GgmlType::Q5_1, w, rb, act, out, &kernels)
}
