//! ARMv6 drivers of the batched products (twins: `kernels::batch::matmul4_kquant_portable`
//! and `matmul4_legacy_portable`): four tokens' activations interleaved once per product,
//! then every weight block decoded once for the four (`asm_batch_q4k`, `asm_batch_q5k`,
//! `asm_batch_q2k`, `asm_batch_q3k`, `asm_batch_q6k`, `asm_batch_legacy`; the K-quant ones
//! through one driver, `drive4`, but Q6_K rows wider than 4 blocks, which go in bands);
//! the float part of each block and token is done here (Q4_1's in `q4_1_finish4`) in the
//! single-token order (`finish_k4_sums`, Q3_K's `(d·dx)·isum`, `legacy::finish_block`,
//! [`RowSum`]), so every output
//! has the bits of that token's own `matvec`. Types without a batched kernel, and shapes it does not take, go
//! token by token through the single-token drivers.

use super::asm_batch_k4finish::{interleave_pairs, k4_finish4_rows2, k4_finish4_rows3, Finish4Frame};
use super::asm_batch_q2k::{q2k_batch4, q2k_batch4_touch, BATCH_Q2K_ACT_BYTES, BATCH_Q2K_ACT_REACH, BATCH_Q2K_TOUCH_REACH};
use super::asm_batch_legacy::{
    q4_0_batch4, q4_0_batch4_touch, q4_1_batch4, q4_1_batch4_touch, q4_1_finish4, q8_0_batch4, q8_0_batch4_touch,
    BATCH_LEGACY_ACT_BYTES,
};
use super::asm_batch_q3k::{q3k_batch4, q3k_batch4_touch, BATCH_Q3K_TOUCH_REACH};
use super::asm_batch_q4k::{q4k_batch4, q4k_batch4_touch, BATCH_Q4K_ACT_BYTES, BATCH_Q4K_ACT_REACH, BATCH_Q4K_TOUCH_REACH};
use super::asm_batch_q5k::{q5k_batch4, q5k_batch4_touch, BATCH_Q5K_TOUCH_REACH};
use super::asm_batch_q6k::{q6k_batch4, q6k_batch4_touch, BATCH_Q6K_ACT_BYTES, BATCH_Q6K_TOUCH_SPAN};
use super::matvec::{f16_bits_to_f32, finish_k4_sums, load_word, matvec_kquant, matvec_q4_0, matvec_q4_1, matvec_q8_0, q8k_d};
use crate::kernels::batch::TILE;
use crate::kernels::{legacy, RowSum};
use crate::quant::kquant::{Q2_K_BYTES, Q3_K_BYTES, Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES};
use crate::quant::legacy::{Q4_0_BYTES, Q4_1_BYTES, Q8_0_BYTES};
use crate::quant::q8::{Q8K_BLOCK_BYTES, Q8K_PAIRS_BYTES, Q8_BLOCK_BYTES, Q8_PAIRS_BYTES, Q8_SCALES_BYTES};
use crate::quant::GgmlType;

/// The widest rows the batched kernel takes (blocks): the interleaved activations of four
/// tokens (2112 bytes a block) live on the stack and, with a band of weights, in the 16 KB
/// L1 D-cache. The 90M model's widest rows have 3 blocks.
const MAX_BLOCKS: usize = 4;

/// Blocks per kernel call (rows of `nb` blocks go `CALL_BLOCKS / nb` to a call).
const CALL_BLOCKS: usize = 12;
const _: () = assert!(CALL_BLOCKS >= MAX_BLOCKS);

/// Words of one block's interleaved activations.
const BLOCK_WORDS: usize = BATCH_Q4K_ACT_BYTES / 4;

/// Words of the interleaved activations: `MAX_BLOCKS` blocks, then the room the kernel's
/// activation touch loads may read past a row's last block.
const INTERLEAVED_WORDS: usize = MAX_BLOCKS * BLOCK_WORDS + BATCH_Q4K_ACT_REACH / 4;

/// The interleaved activations, 8-aligned so the kernel's `LDM`s take one cycle per pair.
#[repr(C, align(8))]
struct Interleaved([u32; INTERLEAVED_WORDS]);

/// A batched K-quant kernel (`asm_batch_q4k`, `asm_batch_q5k`, `asm_batch_q2k`,
/// `asm_batch_q3k`; `asm_batch_q6k` through [`q6k_rows`] and [`q6k_rows_touch`]): `(w, acts,
/// n, out, row_blocks)`.
type Batch4KquantKernel = unsafe extern "C" fn(*const u8, *const u8, u32, *mut i32, u32);

/// A batched K-quant kernel and what [`drive4`] needs to know of it: its block bytes, its
/// plain and touch variants, and how far past its last block the touch variant reads.
struct Batch4Kquant {
    ty: GgmlType,
    bb: usize,
    plain: Batch4KquantKernel,
    touch: Batch4KquantKernel,
    reach: usize,
}

/// The stack buffer a kernel's interleaved activations go to (8-aligned, sized for
/// `MAX_BLOCKS` blocks and the room the kernel's activation touches read past them), and
/// the layout the kernel reads: `fill` lays out the four tokens' pair blocks (`nb` blocks
/// after `std_len` bytes of standard blocks). A static call, so it inlines as before.
trait InterleavedBuf {
    fn new() -> Self;
    fn fill(&mut self, acts: &[&[u8]; TILE], std_len: usize, nb: usize);
    fn words(&self) -> &[u32];
}

impl InterleavedBuf for Interleaved {
    #[inline(always)]
    fn new() -> Self {
        Interleaved([0; INTERLEAVED_WORDS])
    }
    #[inline(always)]
    fn fill(&mut self, acts: &[&[u8]; TILE], std_len: usize, nb: usize) {
        interleave(acts, std_len, nb, &mut self.0);
    }
    #[inline(always)]
    fn words(&self) -> &[u32] {
        &self.0
    }
}

/// The float part of a batched kernel's results (`OW` words a block), in the single-token
/// order.
trait Finish4<const OW: usize> {
    /// The per-product state, from the tokens' block scales `dxs` (`nb` blocks a row, `rows`
    /// rows).
    fn new(dxs: &[[f32; MAX_BLOCKS]; TILE], nb: usize, rows: usize) -> Self;
    /// Finishes the rows `r0..r0 + res.len() / nb` from their results `res`: writes
    /// `out[t · rows + r]` for the four tokens `t`.
    fn rows(&self, res: &[[i32; OW]], dxs: &[[f32; MAX_BLOCKS]; TILE], nb: usize, r0: usize, rows: usize, out: &mut [f32]);
}

/// Q4_K, Q5_K and Q2_K (9 words a block: `d | dmin << 16`, the four `isum`s, the four
/// `msum`s): `finish_k4_sums` per block and token, in asm for rows of 2 or 3 blocks.
struct K4Finish {
    frame: Finish4Frame,
}

impl Finish4<9> for K4Finish {
    #[inline(always)]
    fn new(dxs: &[[f32; MAX_BLOCKS]; TILE], nb: usize, rows: usize) -> Self {
        // The scales by block for the asm float part of rows of 2 or 3 blocks.
        let mut frame = Finish4Frame { flag: 1, zero: 0.0, dx: [[0.0; TILE]; 3], stride: (rows * 4) as u32 };
        for (b, dx) in frame.dx.iter_mut().enumerate().take(nb) {
            for (t, d) in dx.iter_mut().enumerate() {
                *d = dxs[t][b];
            }
        }
        K4Finish { frame }
    }

    #[inline(always)]
    fn rows(&self, res: &[[i32; 9]], dxs: &[[f32; MAX_BLOCKS]; TILE], nb: usize, r0: usize, rows: usize, out: &mut [f32]) {
        let n_rows = res.len() / nb.max(1);
        // Rows of 2 or 3 blocks (the 90M model's): the float part in asm, straight into
        // `out`; redone below if a scale is not a normal f16.
        // (Called directly, not through a pointer: the pointer's literal-pool load missed the
        // D-cache in a third of the calls.)
        if matches!(nb, 2 | 3) && n_rows >= 1 && r0 + n_rows <= rows && out.len() == TILE * rows {
            let (res_p, out_p) = (res.as_ptr() as *const i32, out.as_mut_ptr().wrapping_add(r0));
            // SAFETY: reads the n_rows * nb >= 1 blocks of 9 words of `res` and the frame;
            // writes out[t * rows + r0 + i] for t < 4, i < n_rows (r0 + n_rows <= rows and
            // out.len() == 4 * rows, checked just above; frame.stride is rows * 4 bytes).
            let normal = unsafe {
                if nb == 2 { k4_finish4_rows2(res_p, &self.frame, n_rows as u32, out_p) } else { k4_finish4_rows3(res_p, &self.frame, n_rows as u32, out_p) }
            };
            if normal == 1 {
                return;
            }
        }
        let mut vals = [[0f32; TILE]; CALL_BLOCKS];
        let vals = &mut vals[..n_rows.min(CALL_BLOCKS)];
        match nb {
            1 => finish_rows::<1>(res, dxs, vals),
            2 => finish_rows::<2>(res, dxs, vals),
            3 => finish_rows::<3>(res, dxs, vals),
            _ => finish_rows::<4>(res, dxs, vals),
        }
        scatter(vals, r0, rows, out);
    }
}

/// Writes the four tokens' values of rows `r0..r0 + vals.len()` to `out[t · rows + r]`.
#[inline(always)]
fn scatter(vals: &[[f32; TILE]], r0: usize, rows: usize, out: &mut [f32]) {
    for (t, o) in out.chunks_exact_mut(rows).enumerate() {
        for (o, v) in o[r0..r0 + vals.len()].iter_mut().zip(vals.iter()) {
            *o = v[t];
        }
    }
}

/// `out[t · rows + r] = row r of w . token t` for the four tokens `acts` (each the bytes
/// `quantize_activations` made for a weight type of `ty`'s pair layout: `nb` standard Q8_K
/// blocks, then `nb` pair blocks) and `rows` rows of `rb` bytes.
pub fn matmul4_kquant(ty: GgmlType, w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    match ty {
        GgmlType::Q2_K => matmul4_q2k(w, rb, acts, rows, out),
        GgmlType::Q3_K => matmul4_q3k(w, rb, acts, rows, out),
        GgmlType::Q6_K => matmul4_q6k(w, rb, acts, rows, out),
        _ => matmul4_q4k_q5k(ty, w, rb, acts, rows, out),
    }
}

/// [`matmul4_kquant`] for Q4_K and Q5_K weights (any other type goes token by token). Q5_K's
/// kernel reads the same interleaved activations and writes the same 9 words as Q4_K's.
fn matmul4_q4k_q5k(ty: GgmlType, w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let kernel = match ty {
        GgmlType::Q5_K => Batch4Kquant { ty, bb: Q5_K_BYTES, plain: q5k_batch4, touch: q5k_batch4_touch, reach: BATCH_Q5K_TOUCH_REACH },
        GgmlType::Q4_K => Batch4Kquant { ty, bb: Q4_K_BYTES, plain: q4k_batch4, touch: q4k_batch4_touch, reach: BATCH_Q4K_TOUCH_REACH },
        _ => return token_by_token(ty, w, rb, acts, rows, out),
    };
    drive4::<9, K4Finish, Interleaved>(&kernel, w, rb, acts, rows, out);
}

/// The products of `acts` one token at a time through the single-token driver.
fn token_by_token(ty: GgmlType, w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let std_len = match crate::quant::row_bytes_of(ty, 256) {
        Ok(bb) if bb > 0 => rb / bb * Q8K_BLOCK_BYTES,
        _ => 0,
    };
    for (a, o) in acts.iter().zip(out.chunks_mut(rows.max(1))) {
        let (std_act, pairs) = a.split_at(std_len.min(a.len()));
        matvec_kquant(ty, w, rb, std_act, pairs, o);
    }
}

/// The driver of every batched K-quant kernel: the four tokens' pair blocks interleaved once
/// into a `B`, the rows `CALL_BLOCKS / nb` to a kernel call (the touch variant while its
/// loads stay inside `w`), each call's results finished by `F`. Shapes the kernel does not
/// take go token by token. The callers pair each kernel with the buffer type of its layout
/// and activation reach (`B`) and with its result words a block (`OW`).
#[inline(always)]
fn drive4<const OW: usize, F: Finish4<OW>, B: InterleavedBuf>(k: &Batch4Kquant, w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let nb = rb / k.bb;
    let std_len = nb * Q8K_BLOCK_BYTES;
    let fits = rb == nb * k.bb
        && (1..=MAX_BLOCKS).contains(&nb)
        && w.len() >= rows * rb
        && out.len() == TILE * rows
        && acts.iter().all(|a| a.len() >= std_len + nb * Q8K_PAIRS_BYTES && (a.as_ptr() as usize + std_len) % 4 == 0);
    if !fits {
        for (a, o) in acts.iter().zip(out.chunks_mut(rows.max(1))) {
            let (std_act, pairs) = a.split_at(std_len.min(a.len()));
            matvec_kquant(k.ty, w, rb, std_act, pairs, o);
        }
        return;
    }
    // Each token's scale `d` of each block, read once per product.
    let mut dxs = [[0f32; MAX_BLOCKS]; TILE];
    for (dx, a) in dxs.iter_mut().zip(acts) {
        for (b, d) in dx.iter_mut().take(nb).enumerate() {
            *d = q8k_d(a, b);
        }
    }
    let finish = F::new(&dxs, nb, rows);
    let mut il = B::new();
    il.fill(&acts, std_len, nb);
    let il = il.words();
    let mut res = [[0i32; OW]; CALL_BLOCKS];
    let rows_per_call = CALL_BLOCKS / nb;
    let mut r0 = 0;
    while r0 < rows {
        let n_rows = rows_per_call.min(rows - r0);
        let (start, end) = (r0 * rb, (r0 + n_rows) * rb);
        let kernel = if end + k.reach <= w.len() { k.touch } else { k.plain };
        // SAFETY: the kernel reads the n_rows * nb blocks w[start..end] (end <= rows * rb <=
        // w.len(), checked in `fits`) and, in the touch variant, at most `k.reach` bytes
        // after them (checked just above); it reads nb interleaved blocks of `il` (nb <=
        // MAX_BLOCKS; `B` is 8-aligned and sized for MAX_BLOCKS blocks) and at most its
        // activation reach after them (the room `B` keeps), and writes OW words per block to
        // `res` (n_rows * nb <= CALL_BLOCKS). Unaligned weight words are read with LDR, which
        // ARMv6 allows with SCTLR.U set (Linux, and the Pi's bare-metal setup).
        unsafe {
            kernel(w.as_ptr().add(start), il.as_ptr() as *const u8, (n_rows * nb) as u32, res.as_mut_ptr() as *mut i32, nb as u32);
        }
        finish.rows(&res[..n_rows * nb], &dxs, nb, r0, rows, out);
        r0 += n_rows;
    }
}

/// Words of one block's interleaved Q2_K activations.
const Q2K_BLOCK_WORDS: usize = BATCH_Q2K_ACT_BYTES / 4;

/// Words of the interleaved Q2_K activations: `MAX_BLOCKS` blocks, then the room the
/// kernel's activation touch loads may read past a row's last block.
const Q2K_INTERLEAVED_WORDS: usize = MAX_BLOCKS * Q2K_BLOCK_WORDS + BATCH_Q2K_ACT_REACH / 4;

/// The interleaved Q2_K activations, 8-aligned so the kernel's `LDM`s take one cycle per pair.
#[repr(C, align(8))]
struct Q2kInterleaved([u32; Q2K_INTERLEAVED_WORDS]);

impl InterleavedBuf for Q2kInterleaved {
    #[inline(always)]
    fn new() -> Self {
        Q2kInterleaved([0; Q2K_INTERLEAVED_WORDS])
    }
    #[inline(always)]
    fn fill(&mut self, acts: &[&[u8]; TILE], std_len: usize, nb: usize) {
        interleave_q2k(acts, std_len, nb, &mut self.0);
    }
    #[inline(always)]
    fn words(&self) -> &[u32] {
        &self.0
    }
}

/// [`matmul4_kquant`] for Q2_K weights (activations prepared for Q2_K or Q3_K: the 2-bit
/// pair layout) through `asm_batch_q2k`, whose 9 words per block are `asm_batch_q4k`'s: the
/// float part is Q4_K's (`finish_k4_sums`, the single-token Q2_K finish), in the same order.
fn matmul4_q2k(w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let kernel = Batch4Kquant {
        ty: GgmlType::Q2_K,
        bb: Q2_K_BYTES,
        plain: q2k_batch4,
        touch: q2k_batch4_touch,
        reach: BATCH_Q2K_TOUCH_REACH,
    };
    drive4::<9, K4Finish, Q2kInterleaved>(&kernel, w, rb, acts, rows, out);
}

/// [`matmul4_kquant`] for Q3_K weights (activations prepared for Q2_K or Q3_K: the 2-bit
/// pair layout, interleaved as for Q2_K) through `asm_batch_q3k`.
fn matmul4_q3k(w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let kernel = Batch4Kquant {
        ty: GgmlType::Q3_K,
        bb: Q3_K_BYTES,
        plain: q3k_batch4,
        touch: q3k_batch4_touch,
        reach: BATCH_Q3K_TOUCH_REACH,
    };
    drive4::<5, ScaleOnlyFinish, Q2kInterleaved>(&kernel, w, rb, acts, rows, out);
}

/// Q3_K and Q6_K (5 words a block: `d`, the four `isum`s): per block and token `(d · dx) · isum`,
/// the single-token `ScaleOnly` expression, added in `RowSum::of_blocks`' order. `d` is
/// widened once for the four tokens (`f16_bits_to_f32`: exact for every f16, as the
/// single-token path's two widenings are).
struct ScaleOnlyFinish;

impl Finish4<5> for ScaleOnlyFinish {
    #[inline(always)]
    fn new(_dxs: &[[f32; MAX_BLOCKS]; TILE], _nb: usize, _rows: usize) -> Self {
        ScaleOnlyFinish
    }

    #[inline(always)]
    fn rows(&self, res: &[[i32; 5]], dxs: &[[f32; MAX_BLOCKS]; TILE], nb: usize, r0: usize, rows: usize, out: &mut [f32]) {
        let mut vals = [[0f32; TILE]; CALL_BLOCKS];
        let vals = &mut vals[..(res.len() / nb.max(1)).min(CALL_BLOCKS)];
        match nb {
            1 => scale_only_rows::<1>(res, dxs, vals),
            2 => scale_only_rows::<2>(res, dxs, vals),
            3 => scale_only_rows::<3>(res, dxs, vals),
            _ => scale_only_rows::<4>(res, dxs, vals),
        }
        scatter(vals, r0, rows, out);
    }
}

/// The float part of the Q3_K and Q6_K kernels' results `res` (rows of `NB` blocks of 5 words) for
/// the four tokens, into `vals` (a row's four outputs).
#[inline(always)]
fn scale_only_rows<const NB: usize>(res: &[[i32; 5]], dxs: &[[f32; MAX_BLOCKS]; TILE], vals: &mut [[f32; TILE]]) {
    for (blocks, v) in res.chunks_exact(NB).zip(vals) {
        let mut values = [[0f32; NB]; TILE];
        for (b, k) in blocks.iter().enumerate() {
            let d = f16_bits_to_f32(k[0] as u32 & 0xffff);
            for (t, row) in values.iter_mut().enumerate() {
                row[b] = (d * dxs[t][b]) * k[1 + t] as f32;
            }
        }
        *v = values.map(RowSum::of_blocks);
    }
}

/// Lays out the four tokens' Q2_K pair blocks as `asm_batch_q2k` reads them (its module doc):
/// per block, the tokens' tail words 0..4 (block sums of sub-blocks 0..8), their tail words
/// 4..8, then the steps in `asm_batch_q4k`'s order (`interleave_pairs`).
#[inline(always)]
fn interleave_q2k(acts: &[&[u8]; TILE], std_len: usize, nb: usize, il: &mut [u32]) {
    for (b, dst) in il.chunks_exact_mut(Q2K_BLOCK_WORDS).take(nb).enumerate() {
        let (sums, steps) = dst.split_at_mut(32);
        for (t, a) in acts.iter().enumerate() {
            let block = a.get(std_len + b * Q8K_PAIRS_BYTES..std_len + (b + 1) * Q8K_PAIRS_BYTES).unwrap_or(&[]);
            let word = |k: usize| load_word(block.get(4 * k..).unwrap_or(&[]));
            for i in 0..4 {
                sums[4 * t + i] = word(128 + i);
                sums[16 + 4 * t + i] = word(132 + i);
            }
            if block.len() == Q8K_PAIRS_BYTES && block.as_ptr() as usize % 4 == 0 && steps.len() == 512 && steps.as_ptr() as usize % 8 == 0 {
                // SAFETY: reads the first 128 words of `block` (544 bytes, 4-aligned: checked
                // just above); writes steps[8g + 2t] and steps[8g + 2t + 1] for g < 64
                // (< 512 = steps.len(); steps 8-aligned, checked, and t < 4).
                unsafe { interleave_pairs(block.as_ptr() as *const u32, steps.as_mut_ptr().add(2 * t)) };
                continue;
            }
            for (g, pair) in steps.chunks_exact_mut(8).enumerate() {
                let (c, p, s) = (g / 16, (g / 8) % 2, g % 8);
                let k = 32 * c + 4 * s + 2 * p;
                pair[2 * t] = word(k);
                pair[2 * t + 1] = word(k + 1);
            }
        }
    }
}

// `asm_batch_q6k` reads the interleaved blocks `interleave_q2k` writes.
const _: () = assert!(BATCH_Q6K_ACT_BYTES == BATCH_Q2K_ACT_BYTES);

/// The touch distance of `asm_batch_q6k` in a run of whole rows (bytes).
const Q6K_TOUCH_LEAD: usize = 256;

/// Rows of a band of rows wider than [`MAX_BLOCKS`] (Gemma 3 270M's Q6_K `ffn_down` has 8
/// blocks): the four tokens' partial sums of its rows wait on the stack between segments
/// (64 bytes a row), and a segment's activations are interleaved once per band.
const Q6K_BAND_ROWS: usize = 96;

/// Blocks of a segment of a wide row: the segment's interleaved activations (2176 bytes a
/// block) share the 16 KB L1 D-cache with the weight stream, which evicts them (4-way
/// round-robin) the more often the more lines they take.
const Q6K_SEGMENT_BLOCKS: usize = 2;
const _: () = assert!(Q6K_SEGMENT_BLOCKS <= MAX_BLOCKS);

/// [`matmul4_kquant`] for Q6_K weights (activations prepared for Q6_K: its own pair layout)
/// through `asm_batch_q6k`, which reads the activations `interleave_q2k` lays out (block
/// sums, then the steps in `asm_batch_q4k`'s order) and writes 5 words per block: `d`, then
/// the four tokens' `isum`, `asm_q6k`'s. The float part is the single-token one
/// (`(widen(d) · dx) · isum` per block; rows of 1 to 4 blocks summed by
/// [`RowSum::of_blocks`], wider ones block by block into partial `b % 4`, as `matvec` does).
/// Rows of up to [`MAX_BLOCKS`] blocks go several to a call; wider rows go in bands of
/// [`Q6K_BAND_ROWS`] rows, segment by segment of [`Q6K_SEGMENT_BLOCKS`] blocks (a segment's
/// interleaved activations stay in the L1 D-cache while the weights stream past them), one
/// row a call touching the same blocks of the next row.
fn matmul4_q6k(w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let ty = GgmlType::Q6_K;
    let nb = rb / Q6_K_BYTES;
    let std_len = nb * Q8K_BLOCK_BYTES;
    let wide_fits = rb == nb * Q6_K_BYTES
        && nb > MAX_BLOCKS
        && w.len() >= rows * rb
        && out.len() == TILE * rows
        && acts.iter().all(|a| a.len() >= std_len + nb * Q8K_PAIRS_BYTES && (a.as_ptr() as usize + std_len) % 4 == 0);
    if wide_fits {
        return matmul4_q6k_wide(w, rb, acts, rows, out);
    }
    let kernel = Batch4Kquant {
        ty,
        bb: Q6_K_BYTES,
        plain: q6k_rows,
        touch: q6k_rows_touch,
        reach: Q6K_TOUCH_LEAD + BATCH_Q6K_TOUCH_SPAN,
    };
    drive4::<5, ScaleOnlyFinish, Q2kInterleaved>(&kernel, w, rb, acts, rows, out);
}

/// `asm_batch_q6k`'s plain variant in [`drive4`]'s signature (the touch distance unused).
///
/// # Safety
/// As for any [`Batch4KquantKernel`] ([`drive4`]'s calls).
unsafe extern "C" fn q6k_rows(w: *const u8, acts: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
    // SAFETY: the caller's contract is the kernel's (`drive4` keeps every read in bounds).
    unsafe { q6k_batch4(w, acts, n, out, row_blocks, Q6K_TOUCH_LEAD as u32) }
}

/// `asm_batch_q6k`'s touch variant in [`drive4`]'s signature, touching [`Q6K_TOUCH_LEAD`]
/// bytes ahead (a run of whole rows).
///
/// # Safety
/// As for any [`Batch4KquantKernel`], with `Q6K_TOUCH_LEAD + BATCH_Q6K_TOUCH_SPAN` readable
/// bytes after the last block (the reach `matmul4_q6k` gives `drive4`).
unsafe extern "C" fn q6k_rows_touch(w: *const u8, acts: *const u8, n: u32, out: *mut i32, row_blocks: u32) {
    // SAFETY: the caller's contract is the kernel's (`drive4` keeps every read in bounds,
    // the touches' reach included).
    unsafe { q6k_batch4_touch(w, acts, n, out, row_blocks, Q6K_TOUCH_LEAD as u32) }
}

/// [`matmul4_q6k`] for rows of more than [`MAX_BLOCKS`] blocks (the caller checked the
/// layout): bands of rows, segments of [`Q6K_SEGMENT_BLOCKS`] blocks, each block's value added to
/// the token's partial `b % 4` of its row in block order (`matvec`'s order for any width).
fn matmul4_q6k_wide(w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let nb = rb / Q6_K_BYTES;
    let std_len = nb * Q8K_BLOCK_BYTES;
    let mut il = Q2kInterleaved([0; Q2K_INTERLEAVED_WORDS]);
    let mut res = [[0i32; 5]; MAX_BLOCKS];
    let mut sums = [[RowSum::default(); TILE]; Q6K_BAND_ROWS];
    let mut band0 = 0;
    while band0 < rows {
        let band = Q6K_BAND_ROWS.min(rows - band0);
        let sums = &mut sums[..band];
        sums.fill([RowSum::default(); TILE]);
        let mut b0 = 0;
        while b0 < nb {
            let seg = Q6K_SEGMENT_BLOCKS.min(nb - b0);
            // Block b0's pair block is where block 0's would be after b0 more of them.
            interleave_q2k(&acts, std_len + b0 * Q8K_PAIRS_BYTES, seg, &mut il.0);
            let mut dxs = [[0f32; MAX_BLOCKS]; TILE];
            for (dx, a) in dxs.iter_mut().zip(acts) {
                for (i, d) in dx.iter_mut().take(seg).enumerate() {
                    *d = q8k_d(a, b0 + i);
                }
            }
            for (i, row) in sums.iter_mut().enumerate() {
                let start = (band0 + i) * rb + b0 * Q6_K_BYTES;
                let end = start + seg * Q6_K_BYTES;
                let kernel = if end + rb + BATCH_Q6K_TOUCH_SPAN <= w.len() { q6k_batch4_touch } else { q6k_batch4 };
                // SAFETY: the kernel reads the seg blocks w[start..end] (end <= rows * rb <=
                // w.len(), checked by the caller) and, in the touch variant, at most rb +
                // BATCH_Q6K_TOUCH_SPAN bytes after them (checked just above); it reads seg
                // interleaved blocks of `il` (seg <= MAX_BLOCKS, 8-aligned by its type) and at
                // most BATCH_Q2K_ACT_REACH bytes after them (the room `il` keeps), and writes 5
                // words per block to `res` (seg <= MAX_BLOCKS of them). Unaligned weight words
                // are read with LDR, which ARMv6 allows with SCTLR.U set.
                unsafe {
                    q6k_call(kernel, w.as_ptr().add(start), &il, seg, &mut res, rb);
                }
                for (j, k) in res[..seg].iter().enumerate() {
                    let d = f16_bits_to_f32(k[0] as u32 & 0xffff);
                    for (t, sum) in row.iter_mut().enumerate() {
                        sum.add(b0 + j, (d * dxs[t][j]) * k[1 + t] as f32);
                    }
                }
            }
            b0 += seg;
        }
        for (t, o) in out.chunks_exact_mut(rows).enumerate() {
            for (o, s) in o[band0..band0 + band].iter_mut().zip(sums.iter()) {
                *o = s[t].finish();
            }
        }
        band0 += band;
    }
}

/// One `asm_batch_q6k` call of `seg` blocks (one row segment) from `w`.
///
/// # Safety
/// `w` must point at `seg` blocks (and, for the touch variant, `lead` +
/// `BATCH_Q6K_TOUCH_SPAN` more bytes), `seg <= MAX_BLOCKS`.
#[inline(always)]
unsafe fn q6k_call(
    kernel: unsafe extern "C" fn(*const u8, *const u8, u32, *mut i32, u32, u32),
    w: *const u8,
    il: &Q2kInterleaved,
    seg: usize,
    res: &mut [[i32; 5]; MAX_BLOCKS],
    lead: usize,
) {
    // SAFETY: the caller keeps the weight reads in bounds; the kernel reads seg <= MAX_BLOCKS
    // interleaved blocks of `il` (and the room it keeps after them) and writes 5 words per
    // block to `res`, which holds MAX_BLOCKS of them.
    unsafe { kernel(w, il.0.as_ptr() as *const u8, seg as u32, res.as_mut_ptr() as *mut i32, seg as u32, lead as u32) }
}

/// The float part of the kernel's results `res` (rows of `NB` blocks of 9 words) for the
/// four tokens, into `vals` (a row's four outputs), each block finished and added in the
/// single-token order (block `b` to partial `b`, `NB <= 4`). `NB` as a constant unrolls a
/// row into one branch-free run (the four tokens' float chains overlap), keeps the partial
/// sums in registers and widens each block's `d`/`dmin` once for the four tokens.
#[inline(always)]
fn finish_rows<const NB: usize>(res: &[[i32; 9]], dxs: &[[f32; MAX_BLOCKS]; TILE], vals: &mut [[f32; TILE]]) {
    for (blocks, v) in res.chunks_exact(NB).zip(vals) {
        let mut values = [[0f32; NB]; TILE];
        for (b, k) in blocks.iter().enumerate() {
            let dd = k[0] as u32;
            let (d, dmin) = (f16_bits_to_f32(dd & 0xffff), f16_bits_to_f32(dd >> 16));
            for (t, row) in values.iter_mut().enumerate() {
                row[b] = finish_k4_sums(d, dmin, k[1 + t], k[5 + t], dxs[t][b]);
            }
        }
        *v = values.map(RowSum::of_blocks);
    }
}

/// Lays out the four tokens' pair blocks as `asm_batch_q4k` reads them (its module doc):
/// per block, the tokens' 4 block-sum words, then per chunk `c`, pass `p` and step `s` the
/// tokens' pair words `32c + 4s + 2p` and the one after it (in asm, `interleave_pairs`,
/// for every 4-aligned block: always, by `fits`).
#[inline(always)]
fn interleave(acts: &[&[u8]; TILE], std_len: usize, nb: usize, il: &mut [u32]) {
    for (b, dst) in il.chunks_exact_mut(BLOCK_WORDS).take(nb).enumerate() {
        let (sums, steps) = dst.split_at_mut(16);
        for (t, a) in acts.iter().enumerate() {
            let block = a.get(std_len + b * Q8K_PAIRS_BYTES..std_len + (b + 1) * Q8K_PAIRS_BYTES).unwrap_or(&[]);
            let word = |k: usize| load_word(block.get(4 * k..).unwrap_or(&[]));
            for (i, s) in sums[4 * t..4 * t + 4].iter_mut().enumerate() {
                *s = word(128 + i);
            }
            if block.len() == Q8K_PAIRS_BYTES && block.as_ptr() as usize % 4 == 0 && steps.len() == 512 && steps.as_ptr() as usize % 8 == 0 {
                // SAFETY: reads the first 128 words of `block` (544 bytes, 4-aligned: checked
                // just above); writes steps[8g + 2t] and steps[8g + 2t + 1] for g < 64
                // (< 512 = steps.len(); steps 8-aligned, checked, and t < 4).
                unsafe { interleave_pairs(block.as_ptr() as *const u32, steps.as_mut_ptr().add(2 * t)) };
                continue;
            }
            for (g, pair) in steps.chunks_exact_mut(8).enumerate() {
                // g = (c · 2 + p) · 8 + s
                let (c, p, s) = (g / 16, (g / 8) % 2, g % 8);
                let k = 32 * c + 4 * s + 2 * p;
                pair[2 * t] = word(k);
                pair[2 * t + 1] = word(k + 1);
            }
        }
    }
}

/// The widest rows the batched legacy kernels take (blocks): the interleaved activations of
/// four tokens (256 bytes a block) live on the stack. SmolLM2-135M's widest rows (its FFN's
/// 1536 columns) have 48 blocks.
const LEGACY_MAX_BLOCKS: usize = 48;

/// Blocks of a row segment: wider rows go segment by segment over a band of rows, so a
/// segment's 6 KB of interleaved activations stay in the 16 KB L1 D-cache while the weights
/// stream past them (a whole 12 KB row's worth is evicted over and over by the round-robin
/// replacement). A multiple of 4: every segment starts on partial sum 0.
const LEGACY_SEGMENT_BLOCKS: usize = 24;
const _: () = assert!(LEGACY_SEGMENT_BLOCKS % 4 == 0);

/// Rows of a band of segmented rows: the four tokens' partial sums of its rows wait on the
/// stack between segments (64 bytes a row).
const LEGACY_BAND_ROWS: usize = 96;

/// Blocks per legacy kernel call (rows of `nb <= LEGACY_SEGMENT_BLOCKS` blocks go
/// `LEGACY_CALL_BLOCKS / nb` to a call).
const LEGACY_CALL_BLOCKS: usize = 48;
const _: () = assert!(LEGACY_CALL_BLOCKS >= LEGACY_SEGMENT_BLOCKS && LEGACY_CALL_BLOCKS <= LEGACY_BAND_ROWS);

/// Words of one block's interleaved legacy activations.
const LEGACY_BLOCK_WORDS: usize = BATCH_LEGACY_ACT_BYTES / 4;

/// The interleaved legacy activations, 8-aligned so the kernel's `LDM`s take one cycle each.
#[repr(C, align(8))]
struct LegacyInterleaved([u32; LEGACY_MAX_BLOCKS * LEGACY_BLOCK_WORDS]);

/// A batched legacy kernel (`asm_batch_legacy`): `(w, acts, n, out, row_blocks, lead)`.
type Batch4Kernel = unsafe extern "C" fn(*const u8, *const u8, u32, *mut i32, u32, u32);

/// The touch loads' distance ahead of the block in a run of whole rows (bytes).
const LEGACY_TOUCH_LEAD: usize = 256;

/// `out[t · rows + r] = row r of w . token t` for the four tokens `acts` (each the bytes
/// `quantize_activations` made for weight type `ty`: `nb` standard blocks, `nb` pair blocks,
/// `nb` scale entries) and `rows` rows of `rb` bytes of Q4_1, Q4_0 or Q8_0 weights.
pub fn matmul4_legacy(ty: GgmlType, w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let (bb, plain, touch): (usize, Batch4Kernel, Batch4Kernel) = match ty {
        GgmlType::Q4_1 => (Q4_1_BYTES, q4_1_batch4, q4_1_batch4_touch),
        GgmlType::Q4_0 => (Q4_0_BYTES, q4_0_batch4, q4_0_batch4_touch),
        _ => (Q8_0_BYTES, q8_0_batch4, q8_0_batch4_touch),
    };
    let nb = rb / bb;
    let pairs_at = nb * Q8_BLOCK_BYTES;
    let scales_at = pairs_at + nb * Q8_PAIRS_BYTES;
    let fits = matches!(ty, GgmlType::Q4_1 | GgmlType::Q4_0 | GgmlType::Q8_0)
        && rb == nb * bb
        && (1..=LEGACY_MAX_BLOCKS).contains(&nb)
        && w.len() >= rows * rb
        && out.len() == TILE * rows
        && acts.iter().all(|a| a.len() >= scales_at + nb * Q8_SCALES_BYTES);
    if !fits {
        for (a, o) in acts.iter().zip(out.chunks_mut(rows.max(1))) {
            match ty {
                GgmlType::Q4_1 => matvec_q4_1(w, rb, a, o),
                GgmlType::Q4_0 => matvec_q4_0(w, rb, a, o),
                GgmlType::Q8_0 => matvec_q8_0(w, rb, a, o),
                _ => legacy::matvec_portable(ty, w, rb, a, o),
            }
        }
        return;
    }
    // Each block's scale entries of the four tokens (their `d`, then their `s` or Q4_0's
    // `Σ x`, as bits), read once per product.
    let mut sc = [[0u32; 2 * TILE]; LEGACY_MAX_BLOCKS];
    for (t, a) in acts.iter().enumerate() {
        let scales = a.get(scales_at..).unwrap_or(&[]);
        for (e, s) in sc.iter_mut().zip(scales.chunks_exact(Q8_SCALES_BYTES)).take(nb) {
            e[t] = load_word(s);
            e[TILE + t] = load_word(s.get(4..).unwrap_or(&[]));
        }
    }
    let mut il = LegacyInterleaved([0; LEGACY_MAX_BLOCKS * LEGACY_BLOCK_WORDS]);
    interleave_legacy(&acts, pairs_at, nb, &mut il.0);
    let mut res = [[0i32; 6]; LEGACY_CALL_BLOCKS];
    let mut sums = [[RowSum::default(); TILE]; LEGACY_BAND_ROWS];
    let band_rows = if nb <= LEGACY_SEGMENT_BLOCKS { LEGACY_CALL_BLOCKS / nb } else { LEGACY_BAND_ROWS };
    let mut band0 = 0;
    while band0 < rows {
        let band = band_rows.min(rows - band0);
        let sums = &mut sums[..band];
        sums.fill([RowSum::default(); TILE]);
        let mut b0 = 0;
        while b0 < nb {
            let seg = LEGACY_SEGMENT_BLOCKS.min(nb - b0);
            // Whole rows go several to a call, touching ahead in the weight stream; segments of
            // rows one a call, touching the same blocks of the next row.
            let (rows_per_call, lead) = if seg == nb { (band, LEGACY_TOUCH_LEAD) } else { (1, rb) };
            let sc = &sc[b0..b0 + seg];
            let mut r = 0;
            while r < band {
                let n_rows = rows_per_call.min(band - r);
                let start = (band0 + r) * rb + b0 * bb;
                let end = start + (n_rows - 1) * rb + seg * bb;
                let kernel = if end + lead <= w.len() { touch } else { plain };
                // SAFETY: the kernel reads n_rows rows of seg blocks from w[start..end] (end <=
                // rows * rb <= w.len(), checked in `fits`; when n_rows > 1, seg == nb and the
                // rows are contiguous) and, in the touch variant, at most `lead` bytes after
                // them (checked just above); it reads seg interleaved blocks from block b0 of
                // `il` (b0 + seg <= nb <= LEGACY_MAX_BLOCKS, 8-aligned by its type) and writes
                // 6 words per block to `res` (n_rows * seg <= LEGACY_CALL_BLOCKS: a band of
                // whole rows has at most LEGACY_CALL_BLOCKS / nb rows). Unaligned weight words
                // are read with LDR, which ARMv6 allows with SCTLR.U set (Linux, and the Pi's
                // bare-metal setup).
                unsafe {
                    kernel(
                        w.as_ptr().add(start),
                        il.0.as_ptr().add(b0 * LEGACY_BLOCK_WORDS) as *const u8,
                        (n_rows * seg) as u32,
                        res.as_mut_ptr() as *mut i32,
                        seg as u32,
                        lead as u32,
                    );
                }
                let (res, sums) = (&res[..n_rows * seg], &mut sums[r..r + n_rows]);
                match ty {
                    GgmlType::Q4_1 => {
                        for (blocks, row) in res.chunks_exact(seg).zip(sums) {
                            let mut partials = [0f32; 4 * TILE];
                            for (p, s) in partials.chunks_exact_mut(4).zip(row.iter()) {
                                p.copy_from_slice(&s.s);
                            }
                            // SAFETY: reads the seg blocks of 6 words of `blocks` and seg entries
                            // of 8 words of `sc` (seg >= 1, both slices hold seg of them), and
                            // reads and writes the 16 f32 of `partials`.
                            unsafe {
                                q4_1_finish4(blocks.as_ptr() as *const i32, sc.as_ptr() as *const f32, seg as u32, partials.as_mut_ptr());
                            }
                            for (p, s) in partials.chunks_exact(4).zip(row.iter_mut()) {
                                s.s.copy_from_slice(p);
                            }
                        }
                    }
                    GgmlType::Q4_0 => finish_legacy_rows(res, seg, sc, sums, |dw, dot, dx, sum_x| {
                        let isum = dot.wrapping_sub((sum_x as i32).wrapping_mul(8));
                        legacy::finish_block(GgmlType::Q4_0, isum, dw, 0.0, dx, 0.0)
                    }),
                    _ => finish_legacy_rows(res, seg, sc, sums, |dw, dot, dx, _| legacy::finish_block(GgmlType::Q8_0, dot, dw, 0.0, dx, 0.0)),
                }
                r += n_rows;
            }
            b0 += seg;
        }
        for (t, o) in out.chunks_exact_mut(rows).enumerate() {
            for (o, s) in o[band0..band0 + band].iter_mut().zip(sums.iter()) {
                *o = s[t].finish();
            }
        }
        band0 += band;
    }
}

/// Adds the float parts of the Q4_0 or Q8_0 kernel's results `res` (rows of `seg` blocks of
/// 6 words: blocks `b0..b0 + seg` of their rows, `b0` a multiple of 4; `sc` those blocks'
/// scale entries) to the four tokens' partial sums of each row (`sums`): each token's value
/// (`value(d, dot, dx, s)`) added to partial `b % 4` in block order, as the single-token
/// driver does. Blocks go four at a time, so the partial indices are constants and the four
/// tokens' float chains overlap.
#[inline(always)]
fn finish_legacy_rows(res: &[[i32; 6]], seg: usize, sc: &[[u32; 2 * TILE]], sums: &mut [[RowSum; TILE]], value: impl Fn(f32, i32, f32, u32) -> f32) {
    let block = |sums: &mut [RowSum; TILE], i: usize, k: &[i32; 6], e: &[u32; 2 * TILE]| {
        let d = f32::from_bits(k[0] as u32);
        for (t, sum) in sums.iter_mut().enumerate() {
            sum.add(i, value(d, k[2 + t], f32::from_bits(e[t]), e[TILE + t]));
        }
    };
    for (blocks, row) in res.chunks_exact(seg).zip(sums) {
        let mut sums = *row;
        let mut groups = blocks.chunks_exact(4).zip(sc.chunks_exact(4));
        for (g, e) in &mut groups {
            block(&mut sums, 0, &g[0], &e[0]);
            block(&mut sums, 1, &g[1], &e[1]);
            block(&mut sums, 2, &g[2], &e[2]);
            block(&mut sums, 3, &g[3], &e[3]);
        }
        // The 1-3 blocks left go to partials 0, 1, 2.
        let done = seg / 4 * 4;
        for (i, (k, e)) in blocks[done..].iter().zip(&sc[done..]).enumerate() {
            match i {
                0 => block(&mut sums, 0, k, e),
                1 => block(&mut sums, 1, k, e),
                _ => block(&mut sums, 2, k, e),
            }
        }
        *row = sums;
    }
}

/// Lays out the four tokens' legacy pair blocks as `asm_batch_legacy` reads them (its module
/// doc): per block and step `s`, tokens 0 and 1's pair word `2s`, their word `2s + 1`, then
/// the same for tokens 2 and 3.
fn interleave_legacy(acts: &[&[u8]; TILE], pairs_at: usize, nb: usize, il: &mut [u32]) {
    for (b, dst) in il.chunks_exact_mut(LEGACY_BLOCK_WORDS).take(nb).enumerate() {
        for (t, a) in acts.iter().enumerate() {
            let at = pairs_at + b * Q8_PAIRS_BYTES;
            let block = a.get(at..at + Q8_PAIRS_BYTES).unwrap_or(&[]);
            for (k, pair) in block.chunks_exact(4).enumerate() {
                let (s, p) = (k / 2, k % 2);
                if let Some(d) = dst.get_mut(8 * s + 4 * (t / 2) + 2 * p + t % 2) {
                    *d = load_word(pair);
                }
            }
        }
    }
}
