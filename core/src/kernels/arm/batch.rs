//! ARMv6 driver of the batched K-quant products (twin: `kernels::batch::matmul4_kquant_portable`):
//! four tokens' activations interleaved once per product, then every weight block decoded
//! once for the four (`asm_batch_q4k`); the float part of each block and token is done here
//! in the single-token order (`finish_k4`, [`RowSum`]), so every output has the bits of that
//! token's own `matvec`. Types without a batched kernel, and shapes it does not take, go
//! token by token through the single-token driver.

use super::asm_batch_q4k::{q4k_batch4, q4k_batch4_touch, BATCH_Q4K_ACT_BYTES, BATCH_Q4K_TOUCH_REACH};
use super::matvec::{finish_k4, load_word, matvec_kquant, q8k_d};
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
    let mut il = Interleaved([0; MAX_BLOCKS * BLOCK_WORDS]);
    interleave(&acts, std_len, nb, &mut il.0);
    let mut res = [[0i32; 9]; CALL_BLOCKS];
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
        for (r, blocks) in res.chunks_exact(nb).take(n_rows).enumerate() {
            for (t, a) in acts.iter().enumerate() {
                // Block b goes to partial b % 4 in block order: the single-token order.
                let mut sum = RowSum::default();
                for (b, k) in blocks.iter().enumerate() {
                    sum.add(b, finish_k4(&[k[1 + t], k[5 + t], k[0]], q8k_d(a, b)));
                }
                out[t * rows + r0 + r] = sum.finish();
            }
        }
        r0 += n_rows;
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
