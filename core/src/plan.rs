//! The memory plan: from the hyperparameters, the context size and the KV cache type,
//! the exact bytes and offset of every buffer a session needs (KV cache, sized layer by layer:
//! a sliding-window layer keeps a ring of its window, `model::KvLayout`; Mamba2 conv and
//! SSM state, the tokens fed so far, scratch vectors, the activation-quantization buffer, the logits), computed
//! before any weight is touched. `Session::new` carves the arena at exactly these offsets,
//! so the plan and the carving cannot disagree; [`write_memory_map`] prints the same
//! numbers for `memory-map.md` and `armlet info --ctx N`.
//!
//! Prompts run in batches of up to [`Plan::ubatch`] tokens (llama.cpp's `n_ubatch`): every
//! scratch buffer a token passes through holds that many rows, so each matrix product runs
//! on a whole batch. The attention scores and the logits stay one row: attention runs token by
//! token inside a batch, and only the batch's last token needs logits.
#![forbid(unsafe_code)]
// PlanError can carry a ModelError (names by value, no allocator); plans are made once.
#![allow(clippy::result_large_err)]

use crate::model::{HParams, KvCacheType, KvLayout, ModelError};
use crate::quant::{self, types::ALL_TYPES};
use core::fmt;

/// Every region starts at a multiple of this many bytes from the arena's start (a cache
/// line of the ARM1176 is 32 bytes).
pub const REGION_ALIGN: usize = 32;

/// Why no plan can be made.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    /// The hyperparameters break an invariant.
    Model(ModelError),
    /// A context of zero positions.
    ZeroContext,
    /// A context longer than the model was trained for.
    ContextTooLong { n_ctx: usize, max: usize },
    /// A batch of zero tokens, or more than [`MAX_UBATCH`].
    BadBatch { ubatch: usize },
    /// The arena would not fit this machine's address space.
    TooLarge,
    /// Model and arena together exceed the memory limit.
    OutOfMemory { need: u64, have: u64 },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Model(e) => write!(f, "{e}"),
            PlanError::ZeroContext => f.write_str("the context size must be at least 1"),
            PlanError::ContextTooLong { n_ctx, max } => {
                write!(f, "context of {n_ctx} tokens is beyond the model's limit of {max}")
            }
            PlanError::BadBatch { ubatch } => {
                write!(f, "batch size {ubatch}: it must be between 1 and {MAX_UBATCH}")
            }
            PlanError::TooLarge => f.write_str("the buffers for this context do not fit the address space"),
            PlanError::OutOfMemory { need, have } => write!(
                f,
                "not enough memory: the model and its buffers need {} ({need} bytes), {} ({have} bytes) available",
                Mib(*need),
                Mib(*have)
            ),
        }
    }
}

/// A byte range of the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    /// Offset from the start of the arena (a multiple of [`REGION_ALIGN`]).
    pub offset: usize,
    /// Exact bytes used.
    pub bytes: usize,
}

impl Region {
    pub fn end(&self) -> usize {
        self.offset + self.bytes
    }
}

/// Where every byte of a session's arena goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The hyperparameters the plan was made for (a session checks its model against them).
    pub hparams: HParams,
    pub n_ctx: usize,
    pub kv_type: KvCacheType,
    /// Tokens per batch: the rows of every per-token buffer (at most `n_ctx`: a batch never
    /// holds more tokens than the context).
    pub ubatch: usize,
    /// How many positions each layer's cache holds (sliding layers: a ring of `window`).
    pub kv_layout: KvLayout,
    /// Keys of every layer and position it holds.
    pub kv_keys: Region,
    /// Values of every layer and position it holds.
    pub kv_values: Region,
    /// Mamba2: the last `K-1` conv inputs per channel and layer (f32).
    pub conv_state: Region,
    /// Mamba2: the SSM state `[Hs][Ps][N]` per layer (f32).
    pub ssm_state: Region,
    /// The token fed at each position (u32): what a saved state names as its prefix.
    pub tokens: Region,
    /// The residual stream (E per token of a batch, as every region down to the activation
    /// quantization except the scores).
    pub hidden: Region,
    /// The normed input of the current block (E).
    pub normed: Region,
    /// Rotated query heads (H·Dh).
    pub queries: Region,
    /// This position's key (Hkv·Dh), before it is stored.
    pub new_key: Region,
    /// This position's value (Hkv·Dh), before it is stored.
    pub new_value: Region,
    /// The concatenated attention head outputs (H·Dh).
    pub head_outputs: Region,
    /// Softmax scores over the context (F32 cache only; the F16 path is online).
    pub scores: Region,
    /// Mamba2 input projection z | xBC | dt (worked in place).
    pub ssm_projection: Region,
    /// Output of attention, then of the FFN (E).
    pub block_output: Region,
    /// Output of the Mamba2 mixer (E; like the other Mamba2 regions, 0 bytes for a model
    /// without one).
    pub mixer_output: Region,
    /// FFN gate, then the gated product (F).
    pub ffn_gate: Region,
    /// FFN up projection (F).
    pub ffn_up: Region,
    /// cos/sin of every rotated pair, for each position of the batch.
    pub rope_angles: Region,
    /// Activations converted to the weights' partner format before each product.
    pub activation_quant: Region,
    /// The output logits (V).
    pub logits: Region,
    total: usize,
}

/// Bytes of `n` f32 values, checked.
fn f32s(n: Option<usize>) -> Option<usize> {
    n?.checked_mul(4)
}

/// The largest scratch any supported weight type needs to convert `n` activations (the
/// plan is made before the weights' types are known).
fn activation_scratch(widths: &[usize]) -> usize {
    let mut most = 0;
    for &n in widths {
        for ty in ALL_TYPES.iter().copied().filter(|t| t.is_supported()) {
            most = most.max(quant::activation_bytes(ty, n).unwrap_or(0));
        }
    }
    most
}

pub use crate::model::MAX_UBATCH;

/// Tokens per batch when the caller does not choose ([`Plan::new`]). Chosen by measurement
/// (the 90M Q4_K_S file under the ARM1176 cost model, M cycles per prompt token of a 72-token
/// prompt: 133.1 at 8, 131.7 at 16, 131.1 at 32, 130.5 at 64): most of the gain of larger
/// batches (each tile of four tokens after a product's first finds the interleaved
/// activations still in the D-cache; the scan loads each head's state once a batch) for
/// 0.7-1.1 MB more arena than 8 on the supported models, where 64 would add as much again
/// for a third of the gain.
pub const DEFAULT_UBATCH: usize = 32;

impl Plan {
    /// The plan for a session of `n_ctx` positions with a `kv` cache, prompts in batches of
    /// [`DEFAULT_UBATCH`] tokens (fewer if the context is shorter).
    ///
    /// Errors: `ZeroContext`; `ContextTooLong` beyond the model's training context;
    /// `Model` for hyperparameters that fail validation; `TooLarge` if a size overflows.
    pub fn new(h: &HParams, n_ctx: usize, kv: KvCacheType) -> Result<Plan, PlanError> {
        Plan::with_ubatch(h, n_ctx, kv, DEFAULT_UBATCH)
    }

    /// [`Plan::new`] with prompts in batches of `ubatch` tokens (1 = one token at a time,
    /// the least memory); a batch larger than the context is cut to `n_ctx`.
    ///
    /// Errors: those of [`Plan::new`], and `BadBatch` for 0 or more than [`MAX_UBATCH`].
    pub fn with_ubatch(h: &HParams, n_ctx: usize, kv: KvCacheType, ubatch: usize) -> Result<Plan, PlanError> {
        Plan::with_layout(h, KvLayout { n_ctx, swa_full: false }, kv, ubatch)
    }

    /// [`Plan::with_ubatch`] with the KV layout chosen: `swa_full` keeps every position in the
    /// sliding layers too (llama.cpp's `--swa-full`), so a session can go back to any
    /// earlier position, at the memory of a global layer per sliding one.
    ///
    /// Errors: those of [`Plan::with_ubatch`].
    pub fn with_layout(h: &HParams, layout: KvLayout, kv: KvCacheType, ubatch: usize) -> Result<Plan, PlanError> {
        let n_ctx = layout.n_ctx;
        h.validate().map_err(PlanError::Model)?;
        if n_ctx == 0 {
            return Err(PlanError::ZeroContext);
        }
        if n_ctx > h.n_ctx_train {
            return Err(PlanError::ContextTooLong { n_ctx, max: h.n_ctx_train });
        }
        if ubatch == 0 || ubatch > MAX_UBATCH {
            return Err(PlanError::BadBatch { ubatch });
        }
        let ub = ubatch.min(n_ctx);
        // Validation bounds every single vector; only the context-sized products can overflow.
        let (e, qd, kvd, l) = (h.n_embd, h.q_dim(), h.kv_dim(), h.n_layer);
        let cache = layout.total(h).and_then(|v| v.checked_mul(kvd)).and_then(|v| v.checked_mul(kv.bytes()));
        // A model without a Mamba2 mixer (llama) gets 0 bytes for its state and scratch.
        let (conv, ssm, proj, mixer_out) = match &h.ssm {
            Some(s) => (
                f32s(l.checked_mul(s.conv_state_len())).ok_or(PlanError::TooLarge)?,
                f32s(l.checked_mul(s.ssm_state_len())).ok_or(PlanError::TooLarge)?,
                s.in_proj_rows() * 4,
                e * 4,
            ),
            None => (0, 0, 0, 0),
        };
        let scores = match kv {
            KvCacheType::F32 => f32s(Some(n_ctx)),
            KvCacheType::F16 => Some(0),
        };
        let mut widths = [e, qd, h.n_ff, 0];
        if let Some(s) = &h.ssm {
            widths[3] = s.inner_size;
        }

        let rows = |bytes: usize| ub.checked_mul(bytes).ok_or(PlanError::TooLarge);
        let sizes = [
            cache.ok_or(PlanError::TooLarge)?,
            cache.ok_or(PlanError::TooLarge)?,
            conv,
            ssm,
            n_ctx.checked_mul(4).ok_or(PlanError::TooLarge)?,
            rows(e * 4)?,
            rows(e * 4)?,
            rows(qd * 4)?,
            rows(kvd * 4)?,
            rows(kvd * 4)?,
            rows(qd * 4)?,
            scores.ok_or(PlanError::TooLarge)?,
            rows(proj)?,
            rows(e * 4)?,
            rows(mixer_out)?,
            rows(h.n_ff * 4)?,
            rows(h.n_ff * 4)?,
            rows(h.rope.table_len() * h.rope_tables() * 4)?,
            rows(activation_scratch(&widths))?,
            h.n_vocab * 4,
        ];
        let mut regions = [Region::default(); REGION_NAMES.len()];
        let mut at = 0usize;
        for (r, bytes) in regions.iter_mut().zip(sizes) {
            *r = Region { offset: at, bytes };
            at = align_up(at.checked_add(bytes).ok_or(PlanError::TooLarge)?).ok_or(PlanError::TooLarge)?;
        }
        // Keep the total addressable with room to spare on a 32-bit machine.
        if at > isize::MAX as usize / 2 {
            return Err(PlanError::TooLarge);
        }
        let [kv_keys, kv_values, conv_state, ssm_state, tokens, hidden, normed, queries, new_key, new_value, head_outputs, scores, ssm_projection, block_output, mixer_output, ffn_gate, ffn_up, rope_angles, activation_quant, logits] =
            regions;
        Ok(Plan {
            hparams: *h,
            n_ctx,
            kv_type: kv,
            ubatch: ub,
            kv_layout: layout,
            kv_keys,
            kv_values,
            conv_state,
            ssm_state,
            tokens,
            hidden,
            normed,
            queries,
            new_key,
            new_value,
            head_outputs,
            scores,
            ssm_projection,
            block_output,
            mixer_output,
            ffn_gate,
            ffn_up,
            rope_angles,
            activation_quant,
            logits,
            total: at,
        })
    }

    /// Bytes the arena must have: every region plus the alignment padding between them.
    pub fn arena_bytes(&self) -> usize {
        self.total
    }

    /// Every region in arena order, as (name, exact bytes).
    pub fn regions(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        REGION_NAMES.iter().copied().zip(self.region_list()).map(|(n, r)| (n, r.bytes))
    }

    /// Every region in arena order, with offsets.
    pub fn region_list(&self) -> [Region; REGION_NAMES.len()] {
        [
            self.kv_keys,
            self.kv_values,
            self.conv_state,
            self.ssm_state,
            self.tokens,
            self.hidden,
            self.normed,
            self.queries,
            self.new_key,
            self.new_value,
            self.head_outputs,
            self.scores,
            self.ssm_projection,
            self.block_output,
            self.mixer_output,
            self.ffn_gate,
            self.ffn_up,
            self.rope_angles,
            self.activation_quant,
            self.logits,
        ]
    }

    /// Whether region `name` holds one row per token of a batch ([`Plan::ubatch`] rows).
    pub fn is_per_token(&self, name: &str) -> bool {
        let first = REGION_NAMES.iter().position(|&n| n == "hidden state");
        let last = REGION_NAMES.iter().position(|&n| n == "activation quantization");
        let at = REGION_NAMES.iter().position(|&n| n == name);
        matches!((first, at, last), (Some(f), Some(a), Some(l)) if f <= a && a <= l) && name != "attention scores"
    }

    /// Bytes lost to alignment between regions.
    pub fn padding_bytes(&self) -> usize {
        self.total - self.regions().map(|(_, b)| b).sum::<usize>()
    }

    /// Refuses a model of `model_bytes` whose arena would not fit in `limit` bytes
    /// (`armlet --mem-limit`). Error: `OutOfMemory` with both numbers.
    pub fn check_fits(&self, model_bytes: u64, limit: u64) -> Result<(), PlanError> {
        let need = model_bytes.saturating_add(self.total as u64);
        if need > limit {
            return Err(PlanError::OutOfMemory { need, have: limit });
        }
        Ok(())
    }
}

/// Region names, in arena order (the order of [`Plan::region_list`]).
pub const REGION_NAMES: [&str; 20] = [
    "KV cache: keys",
    "KV cache: values",
    "Mamba2 conv state",
    "Mamba2 SSM state",
    "token history",
    "hidden state",
    "normed input",
    "attention queries",
    "attention new key",
    "attention new value",
    "attention head outputs",
    "attention scores",
    "Mamba2 projection",
    "attention / FFN output",
    "Mamba2 output",
    "FFN gate",
    "FFN up",
    "RoPE angles",
    "activation quantization",
    "logits",
];

fn align_up(n: usize) -> Option<usize> {
    Some(n.checked_add(REGION_ALIGN - 1)? / REGION_ALIGN * REGION_ALIGN)
}

/// `12,345,678` (thousands separated, no allocation).
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups = [0u16; 7];
        let (mut n, mut k) = (self.0, 0);
        loop {
            groups[k] = (n % 1000) as u16;
            n /= 1000;
            k += 1;
            if n == 0 || k == groups.len() {
                break;
            }
        }
        write!(f, "{}", groups[k - 1])?;
        for g in groups[..k - 1].iter().rev() {
            write!(f, ",{g:03}")?;
        }
        Ok(())
    }
}

/// `12.3 MiB` (one decimal, rounded).
pub struct Mib(pub u64);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 as u128 * 10 + (1 << 19)) >> 20;
        write!(f, "{}.{} MiB", tenths / 10, tenths % 10)
    }
}

/// A signed byte count as MiB (`-3.5 MiB` when short).
struct SignedMib(i128);

impl fmt::Display for SignedMib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-{}", Mib(self.0.unsigned_abs() as u64))
        } else {
            write!(f, "{}", Mib(self.0 as u64))
        }
    }
}

/// Writes the memory map of `plan` as a Markdown table: one column per model (name, file
/// bytes), one row per arena region (exact bytes), then the totals and the headroom left
/// of `available` bytes (what the machine leaves for armlet). Regions of 0 bytes (e.g. no
/// Mamba2 state in a pure transformer) are omitted.
pub fn write_memory_map(w: &mut dyn fmt::Write, plan: &Plan, models: &[(&str, u64)], available: u64) -> fmt::Result {
    w.write_str("| where |")?;
    for (name, _) in models {
        write!(w, " {name} |")?;
    }
    w.write_str("\n|---|")?;
    for _ in models {
        w.write_str("---:|")?;
    }
    w.write_str("\n| model file (read into memory) |")?;
    for (_, bytes) in models {
        write!(w, " {} |", Bytes(*bytes))?;
    }
    w.write_str("\n")?;
    let kv = plan.kv_type.name();
    for (name, bytes) in plan.regions().filter(|(_, b)| *b > 0) {
        match name {
            "KV cache: keys" | "KV cache: values" => match plan.hparams.swa {
                Some(s) if !plan.kv_layout.swa_full => {
                    let sliding = (0..plan.hparams.n_layer).filter(|&l| plan.hparams.window(l).is_some()).count();
                    let global = plan.hparams.n_layer - sliding;
                    let ring = s.window.min(plan.n_ctx);
                    write!(
                        w,
                        "| {name} ({kv}; {global} global layers × {} positions, {sliding} sliding × {ring}) |",
                        plan.n_ctx
                    )?
                }
                _ => write!(w, "| {name} ({kv}, {} positions) |", plan.n_ctx)?,
            },
            "token history" => write!(w, "| {name} ({} positions) |", plan.n_ctx)?,
            _ if plan.is_per_token(name) => write!(w, "| {name} (× {} tokens of a batch) |", plan.ubatch)?,
            _ => write!(w, "| {name} |")?,
        }
        for _ in models {
            write!(w, " {} |", Bytes(bytes as u64))?;
        }
        w.write_str("\n")?;
    }
    let arena = plan.arena_bytes() as u64;
    let rows: [(&str, &dyn Fn(u64) -> i128); 4] = [
        ("alignment padding", &|_| plan.padding_bytes() as i128),
        ("**arena total**", &|_| arena as i128),
        ("**model + arena**", &|m| m as i128 + arena as i128),
        ("**headroom**", &|m| available as i128 - m as i128 - arena as i128),
    ];
    for (label, value) in rows {
        write!(w, "| {label} |")?;
        for (_, bytes) in models {
            let v = value(*bytes);
            if label == "**headroom**" || label == "**model + arena**" {
                write!(w, " {} |", SignedMib(v))?;
            } else {
                write!(w, " {} |", Bytes(v.max(0) as u64))?;
            }
        }
        w.write_str("\n")?;
    }
    w.write_str("| available to armlet |")?;
    for _ in models {
        write!(w, " {} |", Mib(available))?;
    }
    w.write_str("\n")
}
