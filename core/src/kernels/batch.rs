//! Products of a prompt batch in tiles of four tokens for the weight types with a batched
//! kernel (Q4_K, Q5_K, Q2_K, Q3_K, Q6_K, Q4_1, Q4_0, Q8_0): the ARM kernels (`arm::batch`) decode each weight block
//! once for the four tokens. Their portable twins here are the single-token products applied
//! token by token, which give the same bits (the batched kernels' integer sums are exact and
//! their float part runs in the single-token order).

use super::{kquant, legacy};
use crate::quant::q8::{layout_id, Q8K_BLOCK_BYTES};
use crate::quant::{Activations, GgmlType};

/// Tokens per batched kernel call.
pub const TILE: usize = 4;

/// The portable twin of `arm::matmul4_kquant`: `out[t · rows + r] = row r of w . token t`
/// for the four tokens `acts` (standard Q8_K blocks, then the pair blocks the ARM kernel
/// reads) and `rows` rows of `rb` bytes, one token at a time.
pub fn matmul4_kquant_portable(ty: GgmlType, w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    let std_len = rb / kquant_block_bytes(ty) * Q8K_BLOCK_BYTES;
    for (a, o) in acts.iter().zip(out.chunks_mut(rows.max(1))) {
        let (std_act, pairs) = a.split_at(std_len.min(a.len()));
        kquant::matvec_portable(ty, w, rb, std_act, pairs, o);
    }
}

/// The portable twin of `arm::matmul4_legacy`: `out[t · rows + r] = row r of w . token t`
/// for the four tokens `acts` (activations prepared for `ty`, Q4_1, Q4_0 or Q8_0) and `rows`
/// rows of `rb` bytes, one token at a time.
pub fn matmul4_legacy_portable(ty: GgmlType, w: &[u8], rb: usize, acts: [&[u8]; TILE], rows: usize, out: &mut [f32]) {
    for (a, o) in acts.iter().zip(out.chunks_mut(rows.max(1))) {
        legacy::matvec_portable(ty, w, rb, a, o);
    }
}

/// Bytes of one block of a K-quant type (1 for any other, which never comes here).
fn kquant_block_bytes(ty: GgmlType) -> usize {
    crate::quant::row_bytes_of(ty, 256).unwrap_or(1).max(1)
}

/// Runs the whole tiles of `xs` through the batched kernel when `ty` has one and every
/// token's activations were prepared for it (Q4_K, Q5_K, Q2_K, Q3_K: for a type of their pair layout; Q4_1,
/// Q4_0, Q8_0: for `ty` itself, whose pair copy and scale entries the kernel reads): `out`
/// holds `xs.len()` rows of `rows` outputs. Returns the number of tokens done (a multiple of
/// [`TILE`]; the rest go through the single-token kernels).
pub(super) fn tiles(ty: GgmlType, w: &[u8], rb: usize, rows: usize, xs: &[Activations], out: &mut [f32]) -> usize {
    let kernel: fn(GgmlType, &[u8], usize, [&[u8]; TILE], usize, &mut [f32]) = match ty {
        GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q6_K if xs.iter().all(|x| layout_id(x.weight_type()) == layout_id(ty)) => super::matmul4_kquant,
        GgmlType::Q4_1 | GgmlType::Q4_0 | GgmlType::Q8_0 if xs.iter().all(|x| x.weight_type() == ty) => super::matmul4_legacy,
        _ => return 0,
    };
    if rows == 0 {
        return 0;
    }
    let done = xs.len() / TILE * TILE;
    for (x, o) in xs[..done].chunks_exact(TILE).zip(out.chunks_exact_mut(TILE * rows)) {
        kernel(ty, w, rb, [x[0].bytes(), x[1].bytes(), x[2].bytes(), x[3].bytes()], rows, o);
    }
    done
}
