//! ARMv6 driver of the batched K-quant products (twin: `kernels::batch::matmul4_kquant_portable`):
//! four tokens' activations interleaved once per product, then every weight block decoded
//! once for the four (`asm_batch_q4k`); the float part of each block and token is done here
//! in the single-token order (`finish_k4_sums`, [`RowSum`]), so every output has the bits of that
//! token's own `matvec`. Types without a batched kernel, and shapes it does not take, go
//! token by token through the single-token driver.

use super::asm_batch_q4k::{q4k_batch4, q4k_batch4_touch, BATCH_Q4K_ACT_BYTES, BATCH_Q4K_TOUCH_REACH};
use super::matvec::{f16_bits_to_f32, finish_k4_sums, load_word, matvec_kquant, q8k_d};
use crate::kernels::batch::TILE;
use crate::kernels::RowSum;
use crate::quant::kquant::Q4_K_BYTES;
use crate::quant::q8::{Q8K_BLOCK_BYTES, Q8K_PAIRS_BYTES};
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

/// The interleaved activations, 8-aligned so the kernel's `LDM`s take one cycle per pair.
#[repr(C, align(8))]
struct Interleaved([u32; MAX_BLOCKS * BLOCK_WORDS]);

/// `out[t · rows + r] = row r of w . token t` for the four tokens `acts` (each the bytes
/// `quantize_activations` made for a weight type of `ty`'s pair layout: `nb` standard Q8_K
/// blocks, then `nb` pair blocks) and `rows` rows of `rb` bytes.
pub fn matmul4_kquant(ty: GgmlType, w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let nb = rb / Q4_K_BYTES;
    let std_len = nb * Q8K_BLOCK_BYTES;
    let fits = ty == GgmlType::Q4_K
        && rb == nb * Q4_K_BYTES
        && (1..=MAX_BLOCKS).contains(&nb)
        && w.len() >= rows * rb
        && out.len() == TILE * rows
        && acts.iter().all(|a| a.len() >= std_len + nb * Q8K_PAIRS_BYTES && (a.as_ptr() as usize + std_len) % 4 == 0);
    if !fits {
        for (a, o) in acts.iter().zip(out.chunks_mut(rows.max(1))) {
            let (std_act, pairs) = a.split_at(std_len.min(a.len()));
            matvec_kquant(ty, w, rb, std_act, pairs, o);
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
    let mut il = Interleaved([0; MAX_BLOCKS * BLOCK_WORDS]);
    interleave(&acts, std_len, nb, &mut il.0);
    let mut res = [[0i32; 9]; CALL_BLOCKS];
    let mut vals = [[0f32; TILE]; CALL_BLOCKS];
    let rows_per_call = CALL_BLOCKS / nb;
    let mut r0 = 0;
    while r0 < rows {
        let n_rows = rows_per_call.min(rows - r0);
        let (start, end) = (r0 * rb, (r0 + n_rows) * rb);
        let kernel = if end + BATCH_Q4K_TOUCH_REACH <= w.len() { q4k_batch4_touch } else { q4k_batch4 };
        // SAFETY: the kernel reads the n_rows * nb blocks w[start..end] (end <= rows * rb <=
        // w.len(), checked in `fits`) and, in the touch variant, at most
        // BATCH_Q4K_TOUCH_REACH bytes after them (checked just above); it reads nb
        // interleaved blocks of `il` (nb <= MAX_BLOCKS, 8-aligned by its type) and writes 9
        // words per block to `res` (n_rows * nb <= CALL_BLOCKS). Unaligned weight words are
        // read with LDR, which ARMv6 allows with SCTLR.U set (Linux, and the Pi's bare-metal
        // setup).
        unsafe {
            kernel(w.as_ptr().add(start), il.0.as_ptr() as *const u8, (n_rows * nb) as u32, res.as_mut_ptr() as *mut i32, nb as u32);
        }
        let (res, vals) = (&res[..n_rows * nb], &mut vals[..n_rows]);
        match nb {
            1 => finish_rows::<1>(res, &dxs, vals),
            2 => finish_rows::<2>(res, &dxs, vals),
            3 => finish_rows::<3>(res, &dxs, vals),
            _ => finish_rows::<4>(res, &dxs, vals),
        }
        for (t, o) in out.chunks_exact_mut(rows).enumerate() {
            for (o, v) in o[r0..r0 + n_rows].iter_mut().zip(vals.iter()) {
                *o = v[t];
            }
        }
        r0 += n_rows;
    }
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
/// tokens' pair words `32c + 4s + 2p` and the one after it.
fn interleave(acts: &[&[u8]; TILE], std_len: usize, nb: usize, il: &mut [u32]) {
    for (b, dst) in il.chunks_exact_mut(BLOCK_WORDS).take(nb).enumerate() {
        let (sums, steps) = dst.split_at_mut(16);
        for (t, a) in acts.iter().enumerate() {
            let block = a.get(std_len + b * Q8K_PAIRS_BYTES..std_len + (b + 1) * Q8K_PAIRS_BYTES).unwrap_or(&[]);
            let word = |k: usize| load_word(block.get(4 * k..).unwrap_or(&[]));
            for (i, s) in sums[4 * t..4 * t + 4].iter_mut().enumerate() {
                *s = word(128 + i);
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
