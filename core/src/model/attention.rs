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
use crate::kernels::attend::dot;
use crate::kernels::{accumulate_heads, dot_rows, scale_rounded, widen};
use crate::math::{exp_main4, expf, f32_to_f16, outside_fast_range, round_f16};
use crate::quant::{Matrix, QuantError};
use core::ops::Range;

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
    // Mode D attends the whole batch in one pass when storing every key first overwrites
    // no position the batch attends: always on a global layer; on a sliding one, when its
    // ring holds the union of the batch's spans. Otherwise each token attends after its
    // own key is stored, as token-by-token feeding does.
    let whole_batch = at.pos0 + n - Span::new(at, at.pos0).first <= at.slots;
    for t in 0..n {
        let pos = at.pos0 + t;
        let span = Span::new(at, pos);
        let (Some(q), Some(k), Some(v)) =
            (s.q.get_mut(t * qd..(t + 1) * qd), s.k.get_mut(t * kv_dim..(t + 1) * kv_dim), s.v.get_mut(t * kv_dim..(t + 1) * kv_dim))
        else {
            return Err(QuantError::BadLength { expected: n * qd, actual: s.q.len() });
        };
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
                let heads = s.heads.get_mut(t * qd..(t + 1) * qd).unwrap_or_default();
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
                store_row_f16(keys, span.slot(pos), kv_dim, k);
                store_row_f16(values, span.slot(pos), kv_dim, v);
                if !whole_batch {
                    let f16 = F16Heads { keys, values, kv_dim, dh, qd, group, scale, at };
                    f16.attend(t..t + 1, s.q, s.heads, s.k, s.v);
                }
            }
        }
    }
    if whole_batch {
        if let KvCache::F16 { keys, values } = cache {
            let (Some(keys), Some(values)) = (keys.get(rows.clone()), values.get(rows.clone())) else {
                return Err(QuantError::BadLength { expected: rows.end, actual: keys.len() });
            };
            let f16 = F16Heads { keys, values, kv_dim, dh, qd, group, scale, at };
            f16.attend(0..n, s.q, s.heads, s.k, s.v);
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

/// [`store_row`] into an f16 cache, exactly as [`f32_to_f16`] of each value: by eights, a run
/// whose values all lie in `2^-14 <= |x| < 2^15` (where f16 is normal and rounding off 13
/// mantissa bits, nearest and ties to even, cannot overflow) takes the branch-free rounding
/// and rebiasing; any other run [`f32_to_f16`] value by value. (One at a time, the general
/// conversion's compares cost ~40 cycles a value on the ARM1176.)
fn store_row_f16(cache: &mut [u16], slot: usize, kv_dim: usize, row: &[f32]) {
    if let Some(dst) = cache.get_mut(slot * kv_dim..(slot + 1) * kv_dim) {
        to_f16_row(dst, row);
    }
}

/// `dst[i] = f32_to_f16(row[i])` (see [`store_row_f16`]).
fn to_f16_row(dst: &mut [u16], row: &[f32]) {
    let mut outs = dst.chunks_exact_mut(8);
    let mut ins = row.chunks_exact(8);
    for (d8, r8) in outs.by_ref().zip(ins.by_ref()) {
        let bits: [u32; 8] = core::array::from_fn(|i| r8.get(i).map_or(0, |x| x.to_bits()));
        let mut outside = false;
        for (d, b) in d8.iter_mut().zip(bits) {
            outside |= ((b >> 23) & 0xff).wrapping_sub(113) > 141 - 113;
            let rounded = (b & 0x7fff_ffff) + 0xfff + ((b >> 13) & 1);
            *d = (((b >> 16) & 0x8000) | (rounded >> 13).wrapping_sub(112 << 10)) as u16;
        }
        if outside {
            for (d, &x) in d8.iter_mut().zip(r8) {
                *d = f32_to_f16(x);
            }
        }
    }
    for (d, &x) in outs.into_remainder().iter_mut().zip(ins.remainder()) {
        *d = f32_to_f16(x);
    }
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

/// Most query rows (token × head) attended together in one pass over a KV head's cache
/// (their online-softmax states live on the stack).
const MAX_ROWS: usize = 8;

/// Mode D (falcon-h1.md 6.2) for tokens of a batch whose keys and values are stored:
/// flash attention's online softmax as llama.cpp's CPU kernel runs it for each query row,
/// with an f16 query, f16 keys and values, and an accumulator rounded to f16 after every
/// key. Up to [`MAX_ROWS`] query rows (tokens × the heads that share a KV head) go through
/// that head's cached rows together, each row widened once for all of them; a token takes
/// only the positions of its own span, in order, so every row's arithmetic is exactly the
/// one-row recipe and sharing only saves widening and reading the cache rows again. More
/// rows a pass would save more widening, but their queries and accumulators would crowd the
/// 16 KB D-cache (measured: 8 rows beat 16 and 32).
struct F16Heads<'c> {
    keys: &'c [u16],
    values: &'c [u16],
    kv_dim: usize,
    dh: usize,
    qd: usize,
    group: usize,
    scale: f32,
    at: Step,
}

impl F16Heads<'_> {
    /// `heads[t]` = attention of `queries[t]` (rounded to f16 in place) for the tokens
    /// `tokens` of the batch, whose keys and values are stored. `k_row` and `v_row` start
    /// with the first token's key and value, already stored: they hold the widened rows.
    fn attend(&self, tokens: Range<usize>, queries: &mut [f32], heads: &mut [f32], k_row: &mut [f32], v_row: &mut [f32]) {
        let (dh, group) = (self.dh, self.group);
        let (Some(k_row), Some(v_row)) = (k_row.get_mut(..dh), v_row.get_mut(..dh)) else { return };
        // By eights, every load before the first use: one at a time, each value waited for
        // its load and its move to a core register (~30 cycles a value on the ARM1176).
        let mut eights = queries.get_mut(tokens.start * self.qd..tokens.end * self.qd).unwrap_or_default().chunks_exact_mut(8);
        for q8 in eights.by_ref() {
            let bits: [u32; 8] = core::array::from_fn(|i| q8.get(i).map_or(0, |x| x.to_bits()));
            for (x, b) in q8.iter_mut().zip(bits) {
                *x = round_f16_inline(f32::from_bits(b));
            }
        }
        for x in eights.into_remainder() {
            *x = round_f16_inline(*x);
        }
        for g in 0..self.qd / (group * dh).max(1) {
            for first_head in (g * group..(g + 1) * group).step_by(GROUP_CHUNK) {
                let n_heads = GROUP_CHUNK.min((g + 1) * group - first_head);
                let per_pass = (MAX_ROWS / n_heads).max(1);
                for t0 in tokens.clone().step_by(per_pass) {
                    let rows = QueryRows { t0, n: per_pass.min(tokens.end - t0), first_head, n_heads, offset: g * dh };
                    self.attend_rows(&rows, queries, heads, k_row, v_row);
                }
            }
        }
    }

    /// One pass over the cache for the query rows `rows`.
    fn attend_rows(&self, rows: &QueryRows, queries: &[f32], heads: &mut [f32], k_row: &mut [f32], v_row: &mut [f32]) {
        let (dh, at) = (self.dh, self.at);
        let span = |t: usize| Span::new(at, at.pos0 + t);
        let at_of = |t: usize, hd: usize| t * self.qd + hd * dh;
        let (mut max, mut sum) = ([f32::NEG_INFINITY; MAX_ROWS], [0f32; MAX_ROWS]);
        for t in rows.t0..rows.t0 + rows.n {
            let start = at_of(t, rows.first_head);
            if let Some(acc) = heads.get_mut(start..start + rows.n_heads * dh) {
                acc.fill(0.0);
            }
        }
        // The union of the rows' spans: from the first token's first position to the last
        // token's own.
        let last = span(rows.t0 + rows.n - 1);
        let whole = Span { first: span(rows.t0).first, ..last };
        let cache = CachedHead { keys: self.keys, values: self.values, kv_dim: self.kv_dim, offset: rows.offset, span: whole };
        let mut positions = cache.rows(cache.keys, dh).zip(cache.rows(cache.values, dh)).peekable();
        // Each token's span and the start of its rows in `queries` and `heads`, found once
        // a pass: the loop below runs for every key of every row and keeps only the compares
        // and the heads' own work.
        let (nh, len) = (rows.n_heads, rows.n_heads * dh);
        let mut tokens = [(0usize, 0usize, 0usize); MAX_ROWS];
        for (ti, slot) in tokens.iter_mut().enumerate().take(rows.n) {
            let sp = span(rows.t0 + ti);
            *slot = (sp.first, sp.pos, at_of(rows.t0 + ti, rows.first_head));
        }
        let tokens = tokens.get(..rows.n).unwrap_or_default();
        let mut next_j = whole.first;
        while let Some((k, v)) = positions.next() {
            // The next position's rows are passed along, for the ARM kernel to start
            // reading them early.
            let (k_next, v_next): (&[u16], &[u16]) = positions.peek().copied().unwrap_or((&[], &[]));
            widen(k, k_next, k_row);
            widen(v, v_next, v_row);
            let j = next_j;
            next_j += 1;
            for (ti, &(first, pos, start)) in tokens.iter().enumerate() {
                if j < first || j > pos {
                    continue;
                }
                let r = ti * nh;
                let (Some(qs), Some(accs), Some(maxs), Some(sums)) = (
                    queries.get(start..start + len),
                    heads.get_mut(start..start + len),
                    max.get_mut(r..r + nh),
                    sum.get_mut(r..r + nh),
                ) else {
                    continue;
                };
                // The scores of the token's heads against this key, side by side.
                let mut scores = [0f32; GROUP_CHUNK];
                let Some(scores) = scores.get_mut(..nh) else { continue };
                dot_rows(qs, k_row, scores);
                // Each head's one exponential: of `max - s` when `s` is its new maximum (the
                // rescale), else of `s - max` (the weight). The heads' are computed side by
                // side: one `expf` is a chain of ~15 dependent VFP11 operations (~150 cycles
                // of latency), and the heads' chains overlap.
                let mut grew = [false; GROUP_CHUNK];
                let mut e = [0f32; GROUP_CHUNK];
                for (((score, &max), grew), e) in scores.iter_mut().zip(maxs.iter()).zip(&mut grew).zip(&mut e) {
                    let s = *score * self.scale;
                    *grew = s > max;
                    *e = if *grew { max - s } else { s - max };
                    *score = s;
                }
                exp_heads(e.get_mut(..nh).unwrap_or_default());
                // The heads' accumulators follow each other: stepped by `dh`, not split by
                // a division (a library call on the ARM1176).
                let mut acc_at = 0;
                let mut weights = [0f32; GROUP_CHUNK];
                let heads_of = scores.iter().zip(maxs.iter_mut()).zip(sums.iter_mut()).zip(grew.iter().zip(e));
                for ((((&s, max), sum), (&grew, e)), w) in heads_of.zip(&mut weights) {
                    let Some(acc) = accs.get_mut(acc_at..acc_at + dh) else { break };
                    acc_at += dh;
                    let (ms, vs) = if grew {
                        // The row's first key: nothing accumulated yet (a sum of 0 with the
                        // maximum still -inf), so `acc` holds the +0.0 of its fill and the
                        // rescale, r16(ms·+0.0) = +0.0 for the ms = e^-inf = 0 it gets, is
                        // skipped (the runs of zeros fail the kernel's range check, and went
                        // one value at a time through `round_f16`: ~0.5 M cycles a prompt
                        // token on the 90M model).
                        if *max != f32::NEG_INFINITY || *sum != 0.0 {
                            scale_rounded(acc, e);
                        }
                        *max = s;
                        (e, 1.0)
                    } else {
                        (1.0, e)
                    };
                    *w = vs;
                    *sum = *sum * ms + vs;
                }
                // Then the value row into every head's accumulator with its weight, in one
                // call (the heads are independent: each gets the one-head arithmetic).
                accumulate_heads(accs, v_row, weights.get(..nh).unwrap_or_default());
            }
        }
        for t in rows.t0..rows.t0 + rows.n {
            for i in 0..rows.n_heads {
                let (r, start) = ((t - rows.t0) * rows.n_heads + i, at_of(t, rows.first_head + i));
                let (Some(acc), Some(&sum)) = (heads.get_mut(start..start + dh), sum.get(r)) else { continue };
                let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
                // By eights: independent products, not one VFP latency per value.
                let mut eights = acc.chunks_exact_mut(8);
                for a8 in eights.by_ref() {
                    for a in a8 {
                        *a *= inv;
                    }
                }
                for a in eights.into_remainder() {
                    *a *= inv;
                }
            }
        }
    }
}

/// `x ← expf(x)` for every value, bit for bit: the quads whose values all lie in
/// [`exp_main`]'s range go through it four at a time ([`exp_main4`]), in one block of straight-line code, so
/// the four chains of dependent VFP operations overlap their latencies; any other value
/// takes [`expf`] alone (the first key's `-inf - s`, an underflow, NaN).
#[inline(always)]
fn exp_heads(xs: &mut [f32]) {
    let mut quads = xs.chunks_exact_mut(4);
    for q in quads.by_ref() {
        let Ok(q) = <&mut [f32; 4]>::try_from(q) else { continue };
        // All four lanes first, then the check (no branch between the chains).
        let e = exp_main4(*q);
        if q.iter().fold(false, |any, &x| any | outside_fast_range(x)) {
            expf_each(q);
        } else {
            *q = e;
        }
    }
    expf_each(quads.into_remainder());
}

/// `x ← expf(x)` one value at a time: [`exp_heads`]' rare path, out of line so that the
/// inlined `libm::expf` does not crowd the I-cache around the attention loop.
#[cold]
#[inline(never)]
fn expf_each(xs: &mut [f32]) {
    xs.iter_mut().for_each(|x| *x = expf(*x));
}

/// [`round_f16`] with its in-range path inline: where the biased exponent is 113..=141
/// (`2^-14 <= |x| < 2^15`) rounding the f32 mantissa in place to 10 bits (nearest, ties to
/// even) is exact, as `kernels::f16acc` relies on; anything else calls [`round_f16`].
#[inline(always)]
fn round_f16_inline(x: f32) -> f32 {
    let bits = x.to_bits();
    if ((bits >> 23) & 0xff).wrapping_sub(113) <= 141 - 113 {
        f32::from_bits((bits + 0xfff + ((bits >> 13) & 1)) & !0x1fff)
    } else {
        round_f16(x)
    }
}

/// The query rows of one pass: tokens `t0..t0 + n` of the batch, each with the query heads
/// `first_head..first_head + n_heads`, which share the KV head at `offset` in a cache row.
struct QueryRows {
    t0: usize,
    n: usize,
    first_head: usize,
    n_heads: usize,
    offset: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::f16_to_f32;

    #[test]
    fn inline_rounding_equals_round_f16_for_every_f32() {
        // Every bit pattern natively on the host (a few seconds optimized); every 9973rd under
        // qemu-arm (integer code: the same on both) and every 99991st under Miri, which looks
        // for undefined behaviour rather than wrong values (at 9973 it took 200 s there).
        let step = if cfg!(miri) {
            99991
        } else if cfg!(target_arch = "arm") {
            9973
        } else {
            1
        };
        for bits in (0..=u32::MAX).step_by(step) {
            let x = f32::from_bits(bits);
            assert_eq!(round_f16_inline(x).to_bits(), round_f16(x).to_bits(), "{bits:#010x}");
        }
    }

    #[test]
    fn f16_row_store_equals_the_conversion() {
        // Runs of eight consecutive bit patterns from every 8·997th (every 8·99991st under
        // qemu-arm, every 8·999983rd under Miri), each run also with one value swapped for a
        // special (zero, f16 subnormal, overflow, Inf, NaN) so that both paths run; then a
        // tail shorter than a run.
        let step = if cfg!(miri) { 8 * 999983 } else if cfg!(target_arch = "arm") { 8 * 99991 } else { 8 * 997 };
        let specials = [0.0f32, -0.0, 3e-6, -7e-8, 65520.0, 40000.0, f32::INFINITY, f32::NAN];
        let mut out = [0u16; 8];
        for (n, base) in (0..=u32::MAX - 8).step_by(step).enumerate() {
            let mut row: [f32; 8] = core::array::from_fn(|i| f32::from_bits(base + i as u32));
            for pass in 0..2 {
                if pass == 1 {
                    row[n % 8] = specials[n % specials.len()];
                }
                to_f16_row(&mut out, &row);
                for (&x, &h) in row.iter().zip(&out) {
                    assert_eq!(h, f32_to_f16(x), "{:#010x}", x.to_bits());
                }
            }
        }
        let mut tail = [0u16; 3];
        to_f16_row(&mut tail, &[1.5, 1e-7, -70000.0]);
        assert_eq!(tail, [1.5f32, 1e-7, -70000.0].map(f32_to_f16));
    }

    #[test]
    fn widening_equals_the_conversion_for_every_f16() {
        // Runs of eight consecutive codes: all-normal runs, and runs mixing zeros,
        // subnormals, Inf and NaN with normal values; then a tail shorter than a run.
        let mut out = [0f32; 8];
        // Every run natively; every 61st under Miri, which only needs the paths.
        for base in (0..=u16::MAX).step_by(if cfg!(miri) { 8 * 61 } else { 8 }) {
            let row: [u16; 8] = core::array::from_fn(|i| base + i as u16);
            widen(&row, &[], &mut out);
            for (&h, o) in row.iter().zip(&out) {
                assert_eq!(o.to_bits(), f16_to_f32(h).to_bits(), "{h:#06x}");
            }
        }
        let mut tail = [0f32; 3];
        widen(&[0x3c00, 0x0001, 0x7c01], &[], &mut tail);
        assert_eq!(tail.map(f32::to_bits), [0x3c00, 0x0001, 0x7c01].map(|h| f16_to_f32(h).to_bits()));
    }
}
