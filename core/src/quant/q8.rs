//! The activation formats: Q8_0 and Q8_1 (32-element blocks, llama.cpp's x86 AVX rounding,
//! which the committed goldens were made with) and Q8_K (256-element blocks).
//!
//! The values are exactly llama.cpp's; the storage is armlet's own, 4-byte aligned so the ARM
//! kernels can load words:
//! - Q8_0 / Q8_1 block, [`Q8_BLOCK_BYTES`] = 40: `d` (f32 bits of `f16(d)`), `s` (f32 bits of
//!   the f16 block sum, Q8_1 only, else 0), then the 32 `i8` quants. Prepared for a weight
//!   type with an ARM kernel (Q8_0, Q4_0, Q4_1: [`legacy_has_pairs`]), the `nb` blocks are followed
//!   by `nb` pair blocks of [`Q8_PAIRS_BYTES`] (the quants as `i16` pairs in the kernel's
//!   order, [`legacy_pair_index`]), `nb` `(d, s)` entries and [`TOUCH_PAD`] spare bytes.
//!   Prepared for Q5_0 or Q5_1 ([`q5_has_stream`]), the `nb` blocks are followed by `nb` stream
//!   blocks of [`Q5_STREAM_BYTES`] (the kernel reads its activations in one pass: the pairs in
//!   the Q4 order and the block's scalars, see [`Q5_STREAM_BYTES`]) and [`TOUCH_PAD`] bytes
//!   (as many bytes as the pair layout: the memory plan does not change).
//! - Q8_K, for `nb` blocks: `nb` standard blocks of [`Q8K_BLOCK_BYTES`] = 292 (`d` f32, 256
//!   `i8`, 16 `i16` bsums), then `nb` blocks of 512 bytes holding the same quants as `i16`
//!   pairs permuted for the weight type's bit layout (see `pair_index`): each word is
//!   `(x[i], x[i + 2])`, so a DSP `SMLAD` multiplies it with two weights extracted from one
//!   weight word by a single shift-and-mask; the last 32 bytes of each 544-byte pair block
//!   hold block sums laid out for `SMLAD` (see [`Q8K_PAIRS_BYTES`]).
//!
//! The portable code reads only the standard blocks; the extra copies exist for the ARM
//! kernels and are what `activation_bytes` adds for them.
#![forbid(unsafe_code)]

use super::GgmlType;

/// Elements per Q8_0 / Q8_1 block.
pub const QK8: usize = 32;
/// Elements per K-quant superblock.
pub const QK_K: usize = 256;
/// armlet's Q8_0/Q8_1 activation block (see the module doc).
pub const Q8_BLOCK_BYTES: usize = 40;
/// armlet's standard Q8_K activation block (same fields and size as ggml's `block_q8_K`).
pub const Q8K_BLOCK_BYTES: usize = 292;
/// The permuted i16 copy of one Q8_K block (512 bytes), then 8 words of block sums laid out
/// for `SMLAD` against the scale bytes: for the 32-wide sub-block layout (Q4_K/Q5_K) the pairs
/// `(b32[0], b32[2])`, `(b32[1], b32[3])`, `(b32[4], b32[6])`, `(b32[5], b32[7])` of the
/// 32-element sums, then 4 unused words; for the 16-wide layouts (Q6_K, Q2_K/Q3_K) the 16-element
/// sums as `(bs[4k], bs[4k + 2])`, `(bs[4k + 1], bs[4k + 3])` for k = 0..4.
pub const Q8K_PAIRS_BYTES: usize = 544;

const _: () = assert!(Q8K_BLOCK_BYTES == 4 + QK_K + 2 * (QK_K / 16));

/// The i16 pair copy of one Q8_0/Q8_1 block for the weight types with an ARM kernel (Q8_0,
/// Q4_1; see [`legacy_pair_index`]): 16 words.
pub const Q8_PAIRS_BYTES: usize = 64;
/// The scales of one Q8_0/Q8_1 block in the compact array after the pairs: `d` and `s` as
/// f32 bits (the same values as in the standard block), except that for Q4_0 the second word
/// is the integer sum of the block's quants (the kernel's `Σ (q − 8)·x = Σ q·x − 8·Σ x`).
pub const Q8_SCALES_BYTES: usize = 8;

/// Whether activations prepared for `weight` (a Q8_0/Q8_1 partner) carry, after the `nb`
/// standard blocks, `nb` pair blocks of [`Q8_PAIRS_BYTES`], `nb` scale entries of
/// [`Q8_SCALES_BYTES`] and [`TOUCH_PAD`] bytes for the ARM kernels.
pub fn legacy_has_pairs(weight: GgmlType) -> bool {
    matches!(weight, GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1)
}

/// One Q5_0/Q5_1 activation block as the ARM kernel streams it: 18 words. Q5_0: the integer
/// `-16 · Σ x` (the kernel's accumulator starts there: `Σ (q − 16)·x = Σ q·x − 16·Σ x`), the 16
/// pair words (the order of [`legacy_pair_index`] for Q4_0), then `d` as f32 bits. Q5_1: the
/// 16 pair words, `d`, then `s` (f32 bits). `d` and `s` are the standard block's values.
pub const Q5_STREAM_BYTES: usize = 72;

/// Whether activations prepared for `weight` carry, after the `nb` standard blocks, `nb`
/// stream blocks of [`Q5_STREAM_BYTES`] and [`TOUCH_PAD`] bytes for the ARM kernel.
pub fn q5_has_stream(weight: GgmlType) -> bool {
    matches!(weight, GgmlType::Q5_0 | GgmlType::Q5_1)
}

/// Bytes after the scale array of activations with a pair copy, never written: the ARM
/// kernels' touch loads ahead in the pair stream may reach this far past its end.
pub const TOUCH_PAD: usize = 128;

/// Bytes of `nb` Q8_0/Q8_1 blocks prepared for `weight`, or None on overflow.
pub fn q8_bytes(weight: GgmlType, nb: usize) -> Option<usize> {
    if legacy_has_pairs(weight) {
        nb.checked_mul(Q8_BLOCK_BYTES + Q8_PAIRS_BYTES + Q8_SCALES_BYTES)?.checked_add(TOUCH_PAD)
    } else if q5_has_stream(weight) {
        nb.checked_mul(Q8_BLOCK_BYTES + Q5_STREAM_BYTES)?.checked_add(TOUCH_PAD)
    } else {
        nb.checked_mul(Q8_BLOCK_BYTES)
    }
}

/// Element index of the first half of pair word `k` (0..16) of a block prepared for `weight`
/// (the second half is that index + 2): the order in which the ARM kernel meets the weights.
/// Q8_0: word `k / 2` of the quants, bytes 0/2 then 1/3. Q4_x/Q5_x: quant word `k / 4`, low nibbles
/// (elements `4 (k / 4) + 0..4`) then high nibbles (`+ 16`), bytes 0/2 then 1/3 of each.
pub fn legacy_pair_index(weight: GgmlType, k: usize) -> usize {
    match weight {
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 => 4 * (k / 4) + 16 * ((k / 2) % 2) + k % 2,
        _ => 4 * (k / 2) + k % 2,
    }
}

/// Bytes of `nb` Q8_K blocks prepared for `weight`, or None on overflow.
pub fn q8k_bytes(_weight: GgmlType, nb: usize) -> Option<usize> {
    nb.checked_mul(Q8K_BLOCK_BYTES + Q8K_PAIRS_BYTES)
}

/// Round half to even for |v| < 2^22 (llama.cpp's `nearest_int` trick; also what AVX's
/// `_mm256_round_ps(.., NEAREST)` does in that range). Larger or non-finite values give
/// garbage but no panic; callers clamp.
#[inline(always)]
pub fn nearest_int(v: f32) -> i32 {
    let t = v + 12_582_912.0;
    (t.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// Quantizes `x` (a multiple of 32 long) into `out` (`q8_bytes(weight, x.len() / 32)` bytes)
/// as Q8_0, or as Q8_1 with the block sums when `with_sum`; for a weight type with an ARM
/// kernel, the pair blocks and the scale array follow the standard blocks.
pub fn quantize_q8_0(weight: GgmlType, x: &[f32], out: &mut [u8], with_sum: bool) {
    let nb = x.len() / QK8;
    let (std_part, extra) = out.split_at_mut((nb * Q8_BLOCK_BYTES).min(out.len()));
    quantize_q8_0_std(x, std_part, with_sum);
    if q5_has_stream(weight) {
        return q5_stream(weight, std_part, extra);
    }
    if !legacy_has_pairs(weight) {
        return;
    }
    let (pairs, scales) = extra.split_at_mut((nb * Q8_PAIRS_BYTES).min(extra.len()));
    for ((ob, pb), sb) in std_part
        .chunks_exact(Q8_BLOCK_BYTES)
        .zip(pairs.chunks_exact_mut(Q8_PAIRS_BYTES))
        .zip(scales.chunks_exact_mut(Q8_SCALES_BYTES))
    {
        let (head, qs) = ob.split_at(8);
        sb.copy_from_slice(head);
        if weight == GgmlType::Q4_0 {
            let sum: i32 = qs.iter().map(|&v| v as i8 as i32).sum();
            sb[4..8].copy_from_slice(&sum.to_le_bytes());
        }
        for (k, dst) in pb.chunks_exact_mut(4).enumerate() {
            dst.copy_from_slice(&pair_word(qs, legacy_pair_index(weight, k)));
        }
    }
}

/// The i16 pair `(qs[i], qs[i + 2])` as a little-endian word.
#[inline(always)]
fn pair_word(qs: &[u8], i: usize) -> [u8; 4] {
    let (a, b) = (qs.get(i).copied().unwrap_or(0) as i8 as i16, qs.get(i + 2).copied().unwrap_or(0) as i8 as i16);
    let (a, b) = (a.to_le_bytes(), b.to_le_bytes());
    [a[0], a[1], b[0], b[1]]
}

/// The Q5_0/Q5_1 stream blocks ([`Q5_STREAM_BYTES`]) from the standard blocks.
fn q5_stream(weight: GgmlType, std_part: &[u8], stream: &mut [u8]) {
    for (ob, sb) in std_part.chunks_exact(Q8_BLOCK_BYTES).zip(stream.chunks_exact_mut(Q5_STREAM_BYTES)) {
        let (head, qs) = ob.split_at(8);
        let pairs = if weight == GgmlType::Q5_0 {
            let sum: i32 = qs.iter().map(|&v| v as i8 as i32).sum();
            sb[0..4].copy_from_slice(&(-16 * sum).to_le_bytes());
            sb[68..72].copy_from_slice(&head[0..4]);
            &mut sb[4..68]
        } else {
            sb[64..72].copy_from_slice(head);
            &mut sb[0..64]
        };
        for (k, dst) in pairs.chunks_exact_mut(4).enumerate() {
            dst.copy_from_slice(&pair_word(qs, legacy_pair_index(weight, k)));
        }
    }
}

/// The standard blocks only (see [`quantize_q8_0`]).
fn quantize_q8_0_std(x: &[f32], out: &mut [u8], with_sum: bool) {
    for (xb, ob) in x.chunks_exact(QK8).zip(out.chunks_exact_mut(Q8_BLOCK_BYTES)) {
        let mut amax = 0f32;
        for v in xb {
            let a = v.abs();
            // Same as _mm256_max_ps folding: NaN-insensitive max.
            if a > amax {
                amax = a;
            }
        }
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let (head, qs) = ob.split_at_mut(8);
        let mut sum = 0i32;
        for (q, v) in qs.iter_mut().zip(xb) {
            let r = nearest_int(v * id).clamp(-128, 127);
            sum += r;
            *q = r as i8 as u8;
        }
        let dh = super::f16_to_f32(super::f32_to_f16(d));
        let s = if with_sum {
            super::f16_to_f32(super::f32_to_f16(d * sum as f32))
        } else {
            0.0
        };
        head[0..4].copy_from_slice(&dh.to_bits().to_le_bytes());
        head[4..8].copy_from_slice(&s.to_bits().to_le_bytes());
    }
}

/// The element whose activation is the first half of pair word `t` (0..128) of a block
/// prepared for a weight type of pair layout `layout` ([`layout_id`]; the second half is
/// element + 2): the order in which that type's ARM kernel meets its weights.
/// - Q4_K/Q5_K (nibbles of 32-element sub-blocks): step `s = t / 4` reads quant word `s`;
///   field `f` (low/high nibble) and byte parity `p` come from `t % 4 = 2f + p`.
/// - Q6_K (nibbles of 64-element halves): the same with 128-element halves.
/// - Q2_K/Q3_K (2-bit fields): step `s = 16h + 8g + 4fp + k` reads quant word `8h + 4g + k`,
///   fields `2fp + f` for `f` in 0..2, so each of the kernel's two accumulators covers one
///   16-element sub-block over 4 steps.
const fn pair_index(layout: u8, t: usize) -> usize {
    let (s, q) = (t / 4, t % 4);
    let (f, p) = (q / 2, q % 2);
    match layout {
        1 => 128 * (s / 16) + 64 * f + 4 * (s % 16) + p,
        2 => {
            let (h, g, fp, k) = (s / 16, (s / 8) % 2, (s / 4) % 2, s % 4);
            128 * h + 32 * (2 * fp + f) + 4 * (4 * g + k) + p
        }
        _ => 64 * (s / 8) + 32 * f + 4 * (s % 8) + p,
    }
}

/// `pair_index` of every pair word of a block, per layout id, computed at compile time (so
/// quantizing does one table read per word).
const PAIR_TABLES: [[u8; QK_K / 2]; 3] = {
    let mut tables = [[0u8; QK_K / 2]; 3];
    let mut layout = 0;
    while layout < 3 {
        let mut t = 0;
        while t < QK_K / 2 {
            tables[layout][t] = pair_index(layout as u8, t) as u8;
            t += 1;
        }
        layout += 1;
    }
    tables
};

/// Which permutation `pair_index` gives `weight` (types with equal ids share a layout).
pub fn layout_id(weight: GgmlType) -> u8 {
    match weight {
        GgmlType::Q6_K => 1,
        GgmlType::Q2_K | GgmlType::Q3_K => 2,
        _ => 0,
    }
}

/// Quantizes `x` (a multiple of 256 long) into `out` (`q8k_bytes(weight, n / 256)` bytes) as
/// Q8_K: `iscale = -127 / mx` with `mx` the signed max-|x| element (first on ties),
/// `q = min(127, nearest_int(iscale * x))`, `d = 1 / iscale`, bsums per 16. `x` is finite
/// (`model::linear_shared` sees to it; a NaN gives garbage quants, not a panic).
///
/// The blocks go through `blocks`: [`quantize_q8_k_portable`], its specification, or a kernel
/// with the same output (`kernels::quantize_q8k`, which the model passes in: `quant` does not
/// import `kernels`, which imports it).
pub fn quantize_q8_k(weight: GgmlType, x: &[f32], out: &mut [u8], blocks: Q8kBlocks) {
    let nb = x.len() / QK_K;
    let (std_part, pairs) = out.split_at_mut((nb * Q8K_BLOCK_BYTES).min(out.len()));
    blocks(layout_id(weight), x, std_part, pairs);
}

/// A Q8_K block quantizer: `(layout, x, std_part, pairs)` as [`quantize_q8_k_portable`].
pub type Q8kBlocks = fn(u8, &[f32], &mut [u8], &mut [u8]);

/// The blocks of `x` (a multiple of 256 long) as Q8_K into `std_part` (292 bytes a block) and
/// their pair blocks for pair layout `layout` ([`layout_id`]) into `pairs` (544 bytes a
/// block); see [`quantize_q8_k`].
pub fn quantize_q8_k_portable(layout: u8, x: &[f32], std_part: &mut [u8], pairs: &mut [u8]) {
    for ((xb, ob), pb) in x
        .chunks_exact(QK_K)
        .zip(std_part.chunks_exact_mut(Q8K_BLOCK_BYTES))
        .zip(pairs.chunks_exact_mut(Q8K_PAIRS_BYTES))
    {
        if let (Ok(xb), Ok(ob), Ok(pb)) = (xb.try_into(), ob.try_into(), pb.try_into()) {
            quantize_q8_k_block_portable(layout, xb, ob, pb);
        }
    }
}

/// One Q8_K block (see [`quantize_q8_k`]): the standard block `ob` and the pair block `pb`
/// for pair layout `layout` ([`layout_id`]).
///
/// Written for the ARM1176: the maximum is found on the values' bits (integer compares, no
/// VFP compare-and-transfer per value), the rounding goes four values at a time (independent
/// VFP chains), and the permuted pairs follow a compile-time index table.
pub fn quantize_q8_k_block_portable(
    layout: u8,
    xb: &[f32; QK_K],
    ob: &mut [u8; Q8K_BLOCK_BYTES],
    pb: &mut [u8; Q8K_PAIRS_BYTES],
) {
    let table = PAIR_TABLES.get(layout as usize).unwrap_or(&PAIR_TABLES[0]);
    // For finite values the order of |x| is the order of their bits without the sign.
    // The bits are read as integers: on the ARM1176 a VFP load and a move to an ARM
    // register cost about 8 cycles more per value than an integer load.
    let mut amax = 0u32;
    let mut mx_bits = 0u32;
    for v in xb {
        let b = v.to_bits();
        let a = b & 0x7fff_ffff;
        if a > amax {
            amax = a;
            mx_bits = b;
        }
    }
    let mx = f32::from_bits(mx_bits);
    let (dpart, rest) = ob.split_at_mut(4);
    let (qs, bsums) = rest.split_at_mut(QK_K);
    let mut q = [0i8; QK_K];
    if amax == 0 {
        dpart.copy_from_slice(&0f32.to_le_bytes());
    } else {
        let iscale = -127.0 / mx;
        for (q4, x4) in q.chunks_exact_mut(4).zip(xb.chunks_exact(4)) {
            let scaled = [iscale * x4[0], iscale * x4[1], iscale * x4[2], iscale * x4[3]];
            for (qj, v) in q4.iter_mut().zip(scaled) {
                *qj = nearest_int(v).clamp(-128, 127) as i8;
            }
        }
        dpart.copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
    for (o, v) in qs.iter_mut().zip(&q) {
        *o = *v as u8;
    }
    let mut bsums16 = [0i16; 16];
    for ((s, g), o) in bsums16.iter_mut().zip(q.chunks_exact(16)).zip(bsums.chunks_exact_mut(2)) {
        *s = g.iter().map(|&v| v as i16).sum();
        o.copy_from_slice(&s.to_le_bytes());
    }
    // The permuted pairs: word `t` holds (x[i], x[i + 2]) with i = the table's entry.
    let (pb, sums) = pb.split_at_mut(512);
    for (dst, &i) in pb.chunks_exact_mut(4).zip(table.iter()) {
        let i = i as usize;
        let (a, b) = (q[i & (QK_K - 1)], q[(i + 2) & (QK_K - 1)]);
        let word = (a as i16 as u16 as u32) | ((b as i16 as u16 as u32) << 16);
        dst.copy_from_slice(&word.to_le_bytes());
    }
    q8k_pair_sums(layout, &bsums16, sums);
}

/// The block sums after a pair block's 512 bytes (`sums`, 32 bytes; see [`Q8K_PAIRS_BYTES`])
/// from the 16-element sums `bsums16`.
pub fn q8k_pair_sums(layout: u8, bsums16: &[i16; 16], sums: &mut [u8]) {
    let mut so = sums.chunks_exact_mut(2);
    if layout == 0 {
        // 32-element sums, as the sum of two 16-element sums (|sum| ≤ 4096: exact).
        for k in [0usize, 2, 1, 3, 4, 6, 5, 7] {
            if let Some(dst) = so.next() {
                let s32 = bsums16[2 * k] + bsums16[2 * k + 1];
                dst.copy_from_slice(&s32.to_le_bytes());
            }
        }
    } else {
        for k in [0usize, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15] {
            if let (Some(dst), Some(s)) = (so.next(), bsums16.get(k)) {
                dst.copy_from_slice(&s.to_le_bytes());
            }
        }
    }
}

/// One standard Q8_0/Q8_1 activation block: `(d, s, the 32 quants)`.
#[inline(always)]
pub fn act_block(a: &[u8; Q8_BLOCK_BYTES]) -> (f32, f32, &[u8]) {
    let d = f32::from_le_bytes([a[0], a[1], a[2], a[3]]);
    let s = f32::from_le_bytes([a[4], a[5], a[6], a[7]]);
    (d, s, &a[8..])
}

/// A read-only view of one standard Q8_K block.
#[derive(Clone, Copy)]
pub struct Q8KBlock<'a> {
    pub d: f32,
    pub qs: &'a [u8; QK_K],
    pub bsums: [i16; 16],
}

impl<'a> Q8KBlock<'a> {
    /// Parses a [`Q8K_BLOCK_BYTES`] chunk.
    #[inline(always)]
    pub fn parse(b: &'a [u8; Q8K_BLOCK_BYTES]) -> Self {
        let (d, rest) = b.split_first_chunk::<4>().unwrap_or((&[0; 4], &[]));
        let qs = rest.first_chunk::<QK_K>().unwrap_or(&[0; QK_K]);
        let mut bsums = [0i16; 16];
        for (s, c) in bsums.iter_mut().zip(b[4 + QK_K..].chunks_exact(2)) {
            *s = i16::from_le_bytes([c[0], c[1]]);
        }
        Q8KBlock { d: f32::from_le_bytes(*d), qs, bsums }
    }
    #[inline(always)]
    pub fn q(&self, i: usize) -> i32 {
        self.qs[i] as i8 as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_uses_127_over_amax_and_ties_to_even() {
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5; // 2.5 * 1.0 -> 2 (ties to even), roundf would give 3
        x[2] = -3.5; // -> -4
        x[3] = 0.5; // -> 0
        let mut out = [0u8; 40];
        quantize_q8_0(GgmlType::Q4_0, &x, &mut out, true);
        assert_eq!(f32::from_le_bytes([out[0], out[1], out[2], out[3]]), 1.0);
        assert_eq!(&out[8..12], &[127, 2, (-4i8) as u8, 0]);
        let s = f32::from_le_bytes([out[4], out[5], out[6], out[7]]);
        assert_eq!(s, 125.0);
    }

    #[test]
    fn q8_k_sign_and_clamp() {
        let mut x = [0f32; 256];
        x[5] = 2.0;
        x[6] = -2.0; // tie on |x|: the first (positive) one wins, so d < 0
        x[7] = 1.0;
        let mut out = [0u8; 292 + 544];
        quantize_q8_k(GgmlType::Q4_K, &x, &mut out, quantize_q8_k_portable);
        let b = Q8KBlock::parse(out[..292].try_into().unwrap());
        assert!(b.d < 0.0);
        assert_eq!(b.q(5), -127);
        assert_eq!(b.q(6), 127);
        assert_eq!(b.q(7), -64); // -63.5 -> -64 (even)
        assert_eq!(b.bsums[0], -64);
    }
}
