//! Causal self-attention with grouped KV heads and RoPE, shared by every architecture:
//! projections (activations quantized per weight type), rotation, the KV cache write, the
//! per-head softmax over positions `0..=pos`, and the output projection.
//!
//! Two numerically distinct paths, chosen by the cache type (falcon-h1.md 6.1/6.2):
//! - [`KvCacheType::F32`](super::KvCacheType::F32) (mode G, the goldens): f32 scores, f32
//!   `expf`, an f64 sum, probabilities `e · f32(1/sum)`, then `Σ p·V` in f32.
//! - [`KvCacheType::F16`](super::KvCacheType::F16) (mode D, llama.cpp's default): K and V
//!   stored as f16, the query rounded to f16, and flash attention's online softmax whose V
//!   accumulator is rounded to f16 after every key (`kernels::accumulate_rounded`).
#![forbid(unsafe_code)]

use super::norm::rms_norm_in_place;
use super::{linear, norm_rows, Buffers, F32Vector, HParams, Layer, ModelError, Rows, Step, Tensors};
use crate::kernels::accumulate_rounded;
use crate::math::{f16_to_f32, f32_to_f16, round_f16};
use crate::quant::{Matrix, QuantError};

/// One layer's attention weights.
#[derive(Clone, Copy, Debug)]
pub struct AttentionWeights<'a> {
    /// `[H·Dh][E]`
    pub q: Matrix<'a>,
    /// `[Hkv·Dh][E]`
    pub k: Matrix<'a>,
    /// `[Hkv·Dh][E]`
    pub v: Matrix<'a>,
    /// `[E][H·Dh]`
    pub o: Matrix<'a>,
    pub q_bias: Option<F32Vector<'a>>,
    pub k_bias: Option<F32Vector<'a>>,
    pub v_bias: Option<F32Vector<'a>>,
    /// Added after the output projection (llama honours it; Falcon-H1's graph has none).
    pub o_bias: Option<F32Vector<'a>>,
    /// Gemma 3: the RMS norm of every query head (`Dh` weights shared by the heads), before RoPE.
    pub q_norm: Option<F32Vector<'a>>,
    /// Gemma 3: the RMS norm of every key head, before RoPE.
    pub k_norm: Option<F32Vector<'a>>,
}

/// Whether an architecture's graph adds `blk.N.attn_output.bias` after the output
/// projection (llama.cpp's llama graph does; its Falcon-H1 graph never reads it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputBias {
    Added,
    NotInGraph,
}

impl<'a> AttentionWeights<'a> {
    /// Loads `blk.{layer}.attn_{q,k,v,output}.weight`, the optional q/k/v biases and, when
    /// the architecture adds it, the optional output bias.
    pub(crate) fn load(
        t: &Tensors<'_, 'a>,
        h: &HParams,
        layer: usize,
        output_bias: OutputBias,
    ) -> Result<Self, ModelError> {
        let name = |s: &str| super::Name::layer_tensor(layer, s);
        if t.find(name("attn_qkv.weight").as_str()).is_some() && t.find(name("attn_q.weight").as_str()).is_none() {
            return Err(ModelError::Unsupported { what: "fused attn_qkv weights" });
        }
        let (e, qd, kvd) = (h.n_embd, h.q_dim(), h.kv_dim());
        Ok(AttentionWeights {
            q: t.matrix(name("attn_q.weight").as_str(), e, qd)?,
            k: t.matrix(name("attn_k.weight").as_str(), e, kvd)?,
            v: t.matrix(name("attn_v.weight").as_str(), e, kvd)?,
            o: t.matrix(name("attn_output.weight").as_str(), qd, e)?,
            q_bias: t.optional_vector(name("attn_q.bias").as_str(), qd)?,
            k_bias: t.optional_vector(name("attn_k.bias").as_str(), kvd)?,
            v_bias: t.optional_vector(name("attn_v.bias").as_str(), kvd)?,
            o_bias: match output_bias {
                OutputBias::Added => t.optional_vector(name("attn_output.bias").as_str(), e)?,
                OutputBias::NotInGraph => None,
            },
            q_norm: None,
            k_norm: None,
        })
    }
}

/// The KV cache of every layer: `[layer][slot][kv head][dim]`, in the session's arena. A
/// layer holds `Step::slots` positions from `Step::kv_offset` on (`KvLayout`): every
/// position for a global layer, a ring of the last `window` for a sliding one.
#[derive(Debug)]
pub enum KvCache<'a> {
    F32 {
        keys: &'a mut [f32],
        values: &'a mut [f32],
    },
    /// IEEE binary16 bits.
    F16 {
        keys: &'a mut [u16],
        values: &'a mut [u16],
    },
}

/// The f32 working vectors of attention for a batch, each `n` rows.
pub struct AttentionScratch<'s> {
    /// `H·Dh` per token: the rotated query heads.
    pub q: &'s mut [f32],
    /// `Hkv·Dh` per token: the rotated keys.
    pub k: &'s mut [f32],
    /// `Hkv·Dh` per token: the values.
    pub v: &'s mut [f32],
    /// `H·Dh` per token: the concatenated head outputs.
    pub heads: &'s mut [f32],
    /// `n_ctx` scores (F32 cache only; empty for F16), one token at a time.
    pub scores: &'s mut [f32],
}

/// Runs attention for the batch `at` of `layer`: `out_t = Wo · heads_t`. `input` holds the
/// normed hidden state of each token, `rope_table` the angles of each token's position
/// (`h.rope_tables()` tables per token). The projections run on the whole batch; the head
/// norms, rotation, the cache write and the softmax go token by token in order, so token `t`
/// sees exactly the positions it may: `0..=pos0 + t`, or only the last `window` of them on a
/// sliding layer (whose ring slot is free again once its position left the window).
/// `qbuf` holds the converted activations of each projection.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    h: &HParams,
    w: &AttentionWeights<'_>,
    at: Step,
    input: &[f32],
    rope_table: &[f32],
    cache: &mut KvCache<'_>,
    s: &mut AttentionScratch<'_>,
    qbuf: &mut [u8],
    out: &mut [f32],
) -> Result<(), QuantError> {
    let (dh, n) = (h.head_dim, at.n);
    let (qd, kv_dim) = (h.q_dim(), h.kv_dim());
    let x = Rows::packed(input, h.n_embd, n);
    linear(x, qbuf, [(&w.q, w.q_bias, &mut *s.q), (&w.k, w.k_bias, &mut *s.k), (&w.v, w.v_bias, &mut *s.v)])?;
    let (start, layer_len) = (at.kv_offset * kv_dim, at.slots * kv_dim);
    let rows = start..start + layer_len;
    let group = h.n_head / h.n_head_kv;
    // Gemma 3 scales the rotated query itself (llama.cpp's ggml_scale before the attention,
    // whose softmax then scales by 1); the others scale the scores.
    let scale = if h.query_scale.is_some() { 1.0 } else { 1.0 / libm::sqrtf(dh as f32) };
    let (table_len, table) = (h.rope.table_len(), h.rope_table_of(at.layer));
    let tokens = s.q.chunks_exact_mut(qd).zip(s.k.chunks_exact_mut(kv_dim)).zip(s.v.chunks_exact_mut(kv_dim));
    for (t, (((q, k), v), heads)) in tokens.zip(s.heads.chunks_exact_mut(qd)).take(n).enumerate() {
        let pos = at.pos0 + t;
        let span = Span::new(at, pos);
        if let Some(norm) = w.q_norm {
            q.chunks_exact_mut(dh).for_each(|head| rms_norm_in_place(head, norm, h.rms_eps));
        }
        if let Some(norm) = w.k_norm {
            k.chunks_exact_mut(dh).for_each(|head| rms_norm_in_place(head, norm, h.rms_eps));
        }
        let tables = super::row(rope_table, table_len * h.rope_tables(), t);
        let angles = tables.get(table * table_len..).unwrap_or(&[]);
        for head in q.chunks_exact_mut(dh).chain(k.chunks_exact_mut(dh)) {
            h.rope.rotate(head, angles);
        }
        if let Some(qs) = h.query_scale {
            q.iter_mut().for_each(|x| *x *= qs);
        }
        match cache {
            KvCache::F32 { keys, values } => {
                let (Some(keys), Some(values)) = (keys.get_mut(rows.clone()), values.get_mut(rows.clone())) else {
                    return Err(QuantError::BadLength { expected: rows.end, actual: keys.len() });
                };
                store_row(keys, span.slot(pos), kv_dim, k, |x| x);
                store_row(values, span.slot(pos), kv_dim, v, |x| x);
                let (keys, values) = (&keys[..], &values[..]);
                for (i, (q, o)) in q.chunks_exact(dh).zip(heads.chunks_exact_mut(dh)).enumerate() {
                    let g = i / group;
                    let head = CachedHead { keys, values, kv_dim, offset: g * dh, span };
                    attend_f32(q, &head, scale, s.scores, o);
                }
            }
            KvCache::F16 { keys, values } => {
                let (Some(keys), Some(values)) = (keys.get_mut(rows.clone()), values.get_mut(rows.clone())) else {
                    return Err(QuantError::BadLength { expected: rows.end, actual: keys.len() });
                };
                store_row(keys, span.slot(pos), kv_dim, k, f32_to_f16);
                store_row(values, span.slot(pos), kv_dim, v, f32_to_f16);
                let (keys, values) = (&keys[..], &values[..]);
                // The new key and value are stored: their rows now hold widened cache rows.
                let (Some(k_row), Some(v_row)) = (k.get_mut(..dh), v.get_mut(..dh)) else {
                    return Err(QuantError::BadLength { expected: dh, actual: k.len() });
                };
                let groups = q.chunks_exact_mut(group * dh).zip(heads.chunks_exact_mut(group * dh));
                for (g, (qs, outs)) in groups.enumerate() {
                    let cache = CachedHead { keys, values, kv_dim, offset: g * dh, span };
                    for (q, o) in qs.chunks_mut(GROUP_CHUNK * dh).zip(outs.chunks_mut(GROUP_CHUNK * dh)) {
                        attend_f16(q, &cache, scale, k_row, v_row, o);
                    }
                }
            }
        }
    }
    linear(Rows::packed(s.heads, qd, n), qbuf, [(&w.o, w.o_bias, out)])
}

/// The positions one token attends to, `first..=pos`, and the ring they live in.
#[derive(Clone, Copy, Debug)]
struct Span {
    first: usize,
    pos: usize,
    slots: usize,
}

impl Span {
    /// Token at `pos` of the batch `at`: every earlier position, or on a sliding layer those
    /// with `pos - j < window` (llama.cpp's standard SWA mask).
    fn new(at: Step, pos: usize) -> Span {
        let first = at.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        Span { first, pos, slots: at.slots.max(1) }
    }

    /// The cache slot of position `j`.
    fn slot(&self, j: usize) -> usize {
        j % self.slots
    }

    /// How many positions are attended.
    fn len(&self) -> usize {
        self.pos + 1 - self.first
    }
}

/// The attention half of a layer, as every architecture starts it: `b.normed` =
/// rmsnorm(`b.hidden`, attn_norm), then `b.block_output` = Attention(`b.normed`), for every
/// token of the batch. The caller adds it to the residual (alone or with a parallel mixer
/// that reads `b.normed`).
pub(crate) fn block(h: &HParams, layer: &Layer<'_>, at: Step, b: &mut Buffers<'_>) -> Result<(), QuantError> {
    let (e, n) = (h.n_embd, at.n);
    norm_rows(b.hidden, layer.attn_norm, h.rms_eps, e, n, b.normed);
    let (qd, kvd) = (h.q_dim() * n, h.kv_dim() * n);
    let mut scratch = AttentionScratch {
        q: b.queries.get_mut(..qd).unwrap_or_default(),
        k: b.new_key.get_mut(..kvd).unwrap_or_default(),
        v: b.new_value.get_mut(..kvd).unwrap_or_default(),
        heads: b.head_outputs.get_mut(..qd).unwrap_or_default(),
        scores: b.scores,
    };
    let out = b.block_output.get_mut(..e * n).unwrap_or_default();
    forward(h, &layer.attention, at, b.normed, b.rope_angles, &mut b.kv, &mut scratch, b.activation_quant, out)
}

/// Writes `row` (converted by `conv`) into `slot` of a `[slots][kv_dim]` cache.
fn store_row<T>(cache: &mut [T], slot: usize, kv_dim: usize, row: &[f32], conv: impl Fn(f32) -> T) {
    if let Some(dst) = cache.get_mut(slot * kv_dim..(slot + 1) * kv_dim) {
        for (d, &x) in dst.iter_mut().zip(row) {
            *d = conv(x);
        }
    }
}

/// `Σ a·b` with four independent f32 accumulators (the VFP11 add latency is 8 cycles).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
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

/// One KV head's rows of the positions a token attends to, in one layer's cache (f32 or f16).
struct CachedHead<'c, T> {
    keys: &'c [T],
    values: &'c [T],
    kv_dim: usize,
    offset: usize,
    span: Span,
}

impl<'c, T> CachedHead<'c, T> {
    /// The head's slice `[offset, offset + len)` of every attended position, oldest first
    /// (the order is the position's, not the slot's, so a ring sums exactly as a full cache).
    /// The slot advances and wraps by a compare: the ARM1176 has no divide instruction, and
    /// a `%` per position would cost a library call on every key of every head.
    fn rows(&self, cache: &'c [T], len: usize) -> impl Iterator<Item = &'c [T]> + 'c {
        let (span, kv_dim, offset) = (self.span, self.kv_dim, self.offset);
        let mut slot = span.slot(span.first);
        (span.first..=span.pos).filter_map(move |_| {
            let at = slot * kv_dim + offset;
            slot += 1;
            if slot == span.slots {
                slot = 0;
            }
            cache.get(at..at + len)
        })
    }
}

/// Mode G: plain softmax over f32 keys and values (falcon-h1.md 6.2, last paragraph).
fn attend_f32(q: &[f32], cache: &CachedHead<'_, f32>, scale: f32, scores: &mut [f32], out: &mut [f32]) {
    let dh = q.len();
    let mut max = f32::NEG_INFINITY;
    for (sc, k) in scores.iter_mut().zip(cache.rows(cache.keys, dh)) {
        *sc = dot(q, k) * scale;
        max = max.max(*sc);
    }
    let n = cache.span.len().min(scores.len());
    let scores = &mut scores[..n];
    let mut sum = 0f64;
    for sc in scores.iter_mut() {
        *sc = crate::math::expf(*sc - max);
        sum += *sc as f64;
    }
    let inv = (1.0 / sum) as f32;
    out.fill(0.0);
    for (p, v) in scores.iter().zip(cache.rows(cache.values, dh)) {
        let p = p * inv;
        for (o, &v) in out.iter_mut().zip(v) {
            *o += p * v;
        }
    }
}

/// Most query heads attended together in one pass over their KV head's cache (their
/// online-softmax states live on the stack).
const GROUP_CHUNK: usize = 8;

/// Widens one cached f16 row into `out`, exactly as [`f16_to_f32`]. A run of eight
/// normal values (what a cache holds in practice) takes a branch-free path: the exponent
/// is rebiased by adding 112 to it in place. Any other run takes [`f16_to_f32`].
#[inline]
fn widen(row: &[u16], out: &mut [f32]) {
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

/// Mode D: flash attention's online softmax as llama.cpp's CPU kernel runs it for each
/// query row (falcon-h1.md 6.2): f16 query, f16 keys and values, and an accumulator that
/// is rounded to f16 after every key. `qs` holds up to [`GROUP_CHUNK`] query heads that
/// share the KV head (rounded to f16 in place); each cached row is widened once into
/// `k_row` / `v_row` for all of them. Every head's arithmetic is exactly the one-head
/// recipe; grouping only saves the repeated widening.
fn attend_f16(
    qs: &mut [f32],
    cache: &CachedHead<'_, u16>,
    scale: f32,
    k_row: &mut [f32],
    v_row: &mut [f32],
    outs: &mut [f32],
) {
    let dh = k_row.len();
    for x in qs.iter_mut() {
        *x = round_f16(*x);
    }
    let mut max = [f32::NEG_INFINITY; GROUP_CHUNK];
    let mut sum = [0f32; GROUP_CHUNK];
    let mut score = [0f32; GROUP_CHUNK];
    outs.fill(0.0);
    let keys = cache.rows(cache.keys, dh);
    let values = cache.rows(cache.values, dh);
    for (k, v) in keys.zip(values) {
        widen(k, k_row);
        for (sc, q) in score.iter_mut().zip(qs.chunks_exact(dh)) {
            *sc = dot(q, k_row) * scale;
        }
        widen(v, v_row);
        let heads = outs.chunks_exact_mut(dh).zip(score.iter().zip(max.iter_mut().zip(sum.iter_mut())));
        for (acc, (&s, (max, sum))) in heads {
            let (ms, vs) = if s > *max {
                let ms = crate::math::expf(*max - s);
                *max = s;
                for a in acc.iter_mut() {
                    *a = round_f16(*a * ms);
                }
                (ms, 1.0)
            } else {
                (1.0, crate::math::expf(s - *max))
            };
            accumulate_rounded(acc, v_row, vs);
            *sum = *sum * ms + vs;
        }
    }
    for (acc, &sum) in outs.chunks_exact_mut(dh).zip(sum.iter()) {
        let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
        for a in acc.iter_mut() {
            *a *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_equals_the_conversion_for_every_f16() {
        // Runs of eight consecutive codes: all-normal runs, and runs mixing zeros,
        // subnormals, Inf and NaN with normal values; then a tail shorter than a run.
        let mut out = [0f32; 8];
        // Every run natively; every 61st under Miri, which only needs the paths.
        for base in (0..=u16::MAX).step_by(if cfg!(miri) { 8 * 61 } else { 8 }) {
            let row: [u16; 8] = core::array::from_fn(|i| base + i as u16);
            widen(&row, &mut out);
            for (&h, o) in row.iter().zip(&out) {
                assert_eq!(o.to_bits(), f16_to_f32(h).to_bits(), "{h:#06x}");
            }
        }
        let mut tail = [0f32; 3];
        widen(&[0x3c00, 0x0001, 0x7c01], &mut tail);
        assert_eq!(tail.map(f32::to_bits), [0x3c00, 0x0001, 0x7c01].map(|h| f16_to_f32(h).to_bits()));
    }
}
