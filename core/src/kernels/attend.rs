//! Mode D's cache-row widening, score dot and accumulator rescale (falcon-h1.md 6.2), the
//! per-key steps of `model::attention::F16Heads` besides the value accumulation
//! ([`super::f16acc`]): the portable specifications of the ARM kernel `arm::asm_attn`
//! ([`super::widen`], [`super::dot_rows`] and [`super::scale_rounded`] pick one).
#![forbid(unsafe_code)]

use crate::math::{f16_to_f32, round_f16};

/// `Σ a·b` with four independent f32 accumulators (the VFP11 add latency is 8 cycles):
/// element `i` goes to accumulator `i % 4` (a tail shorter than four to the first), each
/// product rounded and then the sum, and the result is `(acc0 + acc1) + (acc2 + acc3)`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    for (x, y) in ta.iter().zip(tb) {
        acc[0] += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// `out[r] = dot(q[r·d..(r + 1)·d], k)` with `d = k.len()`, for every `r < out.len()` whose
/// row `q` holds: the scores of the query rows that share one key (heads side by side).
#[inline]
pub fn dot_rows_portable(q: &[f32], k: &[f32], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(q.chunks_exact(k.len().max(1))) {
        *o = dot(row, k);
    }
}

/// `acc[i] ← r16(ms·acc[i])`: the online softmax's rescale of a rounded accumulator when a
/// new maximum arrives.
#[inline]
pub fn scale_rounded_portable(acc: &mut [f32], ms: f32) {
    for a in acc.iter_mut() {
        *a = round_f16(ms * *a);
    }
}

/// Widens one cached f16 row into `out`, exactly as [`f16_to_f32`]. A run of eight
/// normal values (what a cache holds in practice) takes a branch-free path: the exponent
/// is rebiased by adding 112 to it in place. Any other run takes [`f16_to_f32`]. `ahead`,
/// the next row to be widened, is for the ARM kernel's early reads and unused here.
#[inline]
pub fn widen_portable(row: &[u16], _ahead: &[u16], out: &mut [f32]) {
    let mut outs = out.chunks_exact_mut(8);
    let mut ins = row.chunks_exact(8);
    for (o8, h8) in outs.by_ref().zip(ins.by_ref()) {
        let mut all_normal = true;
        for (o, &h) in o8.iter_mut().zip(h8) {
            let h = h as u32;
            // Exponent field 1..=30: a normal f16.
            all_normal &= (h & 0x7c00).wrapping_sub(0x400) <= 29 << 10;
            *o = f32::from_bits(((h & 0x8000) << 16) | (((h & 0x7fff) << 13) + (112 << 23)));
        }
        if !all_normal {
            for (o, &h) in o8.iter_mut().zip(h8) {
                *o = f16_to_f32(h);
            }
        }
    }
    for (o, &h) in outs.into_remainder().iter_mut().zip(ins.remainder()) {
        *o = f16_to_f32(h);
    }
}
