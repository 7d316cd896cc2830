//! Hyperparameters: the numbers that shape the computation, read from GGUF metadata only
//! (no weight is touched), so the memory plan can be made before anything is loaded.
//! [`HParams::validate`] checks every invariant the layers rely on and that every size the
//! plan and the forward pass derive from them fits a `usize` on a 32-bit target; the
//! derived sizes below are only meaningful on validated hyperparameters.
#![forbid(unsafe_code)]

use super::{ModelError, Name};
use crate::gguf;

/// The architectures armlet implements, as `general.architecture` names them.
pub const SUPPORTED_ARCHITECTURES: &str = "falcon-h1, gemma3, llama";

/// Most layers a model may have (the `Model` keeps one fixed-size table of layer views; the
/// deepest models that fit a 512 MB Pi have ~36).
pub const MAX_LAYERS: usize = 64;

/// Largest value accepted for any single dimension (hidden size, vocabulary, context ...).
/// Keeps every product the plan forms within 32-bit arithmetic after validation.
const MAX_DIM: usize = 1 << 24;

/// A model architecture (the layer recipe `Model::forward` runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// Falcon-H1: attention and a Mamba2 mixer in parallel on the same normed input, then
    /// SwiGLU (`docs/falcon-h1.md`).
    FalconH1,
    /// Llama (and the models converted as `llama`, e.g. SmolLM2): attention then SwiGLU,
    /// adjacent-pair RoPE, optional biases (`docs/llama.md`).
    Llama,
    /// Gemma 3: the input scaled by sqrt(E), RMS norms of each query and key head, sliding-window
    /// layers with their own RoPE base, GeGLU, a norm after attention and after the FFN
    /// (`../shared/models/gemma3.md`).
    Gemma3,
}

impl Architecture {
    /// The `general.architecture` string.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::FalconH1 => "falcon-h1",
            Architecture::Llama => "llama",
            Architecture::Gemma3 => "gemma3",
        }
    }

    fn from_name(name: &str) -> Option<Architecture> {
        match name {
            "falcon-h1" => Some(Architecture::FalconH1),
            "llama" => Some(Architecture::Llama),
            "gemma3" => Some(Architecture::Gemma3),
            _ => None,
        }
    }
}

/// How RoPE pairs the dimensions of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeMode {
    /// GPT-NeoX: dimension `j` pairs with `j + n_rot/2` (Falcon-H1).
    Neox,
    /// The original ("normal") RoPE: dimensions `2j` and `2j + 1` pair (llama).
    AdjacentPairs,
}

/// Rotary position embedding settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeParams {
    pub mode: RopeMode,
    /// Rotated dimensions at the start of each head (even, at most the head size).
    pub n_rot: usize,
    /// θ base (Falcon-H1 uses 1e11; kept in f32 as llama.cpp does).
    pub freq_base: f32,
    /// 1 / linear scaling factor (1 without scaling).
    pub freq_scale: f32,
    /// Multiplies every cos and sin (1 unless the file says otherwise).
    pub attn_factor: f32,
}

/// Sliding-window attention (Gemma 3): the layers that attend only to the last `window`
/// positions (the token itself and the `window - 1` before it), and the RoPE base they use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlidingWindow {
    /// `attention.sliding_window`: positions a sliding layer sees.
    pub window: usize,
    /// Bit `l` set: layer `l` slides (the others are global). `MAX_LAYERS` is 64.
    pub layers: u64,
    /// `rope.freq_base_swa`, 10000 when absent (llama.cpp's default).
    pub freq_base: f32,
}

/// The Mamba2 mixer's dimensions (Falcon-H1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SsmParams {
    /// Depthwise convolution width `K` (4 in practice).
    pub conv_kernel: usize,
    /// `Ds`: channels of the SSM (`ssm.inner_size`).
    pub inner_size: usize,
    /// `N`: state size per channel.
    pub state_size: usize,
    /// `Hs`: SSM heads (`ssm.time_step_rank`).
    pub n_heads: usize,
    /// `G`: groups sharing one B and one C.
    pub n_groups: usize,
}

impl SsmParams {
    /// Channels per SSM head (`Ps = Ds / Hs`).
    pub fn head_dim(&self) -> usize {
        self.inner_size / self.n_heads
    }

    /// Channels through the convolution: x, B and C (`Ds + 2·G·N`).
    pub fn conv_channels(&self) -> usize {
        self.inner_size + 2 * self.n_groups * self.state_size
    }

    /// Rows of the input projection: z | xBC | dt.
    pub fn in_proj_rows(&self) -> usize {
        self.inner_size + self.conv_channels() + self.n_heads
    }

    /// f32 values of conv state per layer (`(K-1)·Cd`).
    pub fn conv_state_len(&self) -> usize {
        (self.conv_kernel - 1) * self.conv_channels()
    }

    /// f32 values of SSM state per layer (`Ds·N`).
    pub fn ssm_state_len(&self) -> usize {
        self.inner_size * self.state_size
    }
}

/// Everything that shapes a model's computation and memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HParams {
    pub arch: Architecture,
    /// `V`: tokens in the vocabulary (= rows of the embedding and of the output head).
    pub n_vocab: usize,
    /// `E`: hidden size.
    pub n_embd: usize,
    pub n_layer: usize,
    /// `H`: query heads.
    pub n_head: usize,
    /// `Hkv`: key/value heads (GQA: `H/Hkv` consecutive query heads share one).
    pub n_head_kv: usize,
    /// Size of every query, key and value head (`key_length == value_length`).
    pub head_dim: usize,
    /// `F`: FFN inner size.
    pub n_ff: usize,
    /// The training context (`context_length`): the largest context a session may have.
    pub n_ctx_train: usize,
    /// ε of every RMS norm.
    pub rms_eps: f32,
    pub rope: RopeParams,
    /// The Mamba2 mixer, for hybrid architectures.
    pub ssm: Option<SsmParams>,
    /// Sliding-window layers, for Gemma 3 files that have `attention.sliding_window`.
    pub swa: Option<SlidingWindow>,
    /// The factor every rotated query is multiplied by before the softmax, which then
    /// scales by 1 (Gemma 3); `None`: the softmax scales the scores by `1/sqrt(head_dim)`.
    pub query_scale: Option<f32>,
}

impl HParams {
    /// Reads the hyperparameters of `file` from its metadata (and the shape of
    /// `token_embd.weight` when the file has no tokenizer vocabulary), then validates them.
    ///
    /// Errors: `MissingArchitecture`, `UnsupportedArchitecture` (naming it and the supported
    /// ones), `MissingKey`, `BadKey` (wrong type, zero, out of range, differing per layer),
    /// `Unsupported` for features armlet does not implement (YaRN, MoE, `key_length !=
    /// value_length`), `Invalid` for inconsistent dimensions.
    pub fn from_gguf(file: &gguf::File<'_>) -> Result<HParams, ModelError> {
        let arch_name = file.get_str("general.architecture").ok_or(ModelError::MissingArchitecture)?;
        let arch = Architecture::from_name(arch_name)
            .ok_or_else(|| ModelError::UnsupportedArchitecture { name: Name::from_str_lossy(arch_name) })?;
        let keys = Keys { file, arch: arch.name() };

        let n_embd = keys.dim("embedding_length")?.ok_or_else(|| keys.missing("embedding_length"))?;
        let n_layer = keys.dim("block_count")?.ok_or_else(|| keys.missing("block_count"))?;
        let n_ctx_train = keys.dim("context_length")?.ok_or_else(|| keys.missing("context_length"))?;
        let n_ff =
            keys.per_layer_dim("feed_forward_length", n_layer)?.ok_or_else(|| keys.missing("feed_forward_length"))?;
        let n_head =
            keys.per_layer_dim("attention.head_count", n_layer)?.ok_or_else(|| keys.missing("attention.head_count"))?;
        let n_head_kv = keys.per_layer_dim("attention.head_count_kv", n_layer)?.unwrap_or(n_head);
        let default_head = n_embd.checked_div(n_head).unwrap_or(0);
        let key_length = keys.dim("attention.key_length")?.unwrap_or(default_head);
        let value_length = keys.dim("attention.value_length")?.unwrap_or(default_head);
        if key_length != value_length {
            return Err(ModelError::Unsupported { what: "attention.key_length != attention.value_length" });
        }
        let rms_eps = keys
            .f32("attention.layer_norm_rms_epsilon")?
            .ok_or_else(|| keys.missing("attention.layer_norm_rms_epsilon"))?;
        if !(rms_eps.is_finite() && rms_eps >= 0.0) {
            return Err(keys.bad("attention.layer_norm_rms_epsilon", "must be a finite number >= 0"));
        }

        let rope = read_rope(&keys, arch, key_length)?;
        for moe in ["expert_count", "expert_used_count"] {
            if keys.dim(moe)?.is_some_and(|n| n != 0) {
                return Err(ModelError::Unsupported { what: "mixture-of-experts models" });
            }
        }
        let ssm = match arch {
            Architecture::FalconH1 => Some(SsmParams {
                conv_kernel: keys.dim("ssm.conv_kernel")?.ok_or_else(|| keys.missing("ssm.conv_kernel"))?,
                inner_size: keys.dim("ssm.inner_size")?.ok_or_else(|| keys.missing("ssm.inner_size"))?,
                state_size: keys.dim("ssm.state_size")?.ok_or_else(|| keys.missing("ssm.state_size"))?,
                n_heads: keys.dim("ssm.time_step_rank")?.ok_or_else(|| keys.missing("ssm.time_step_rank"))?,
                n_groups: keys.dim("ssm.group_count")?.ok_or_else(|| keys.missing("ssm.group_count"))?,
            }),
            Architecture::Llama | Architecture::Gemma3 => None,
        };
        let (swa, query_scale) = match arch {
            Architecture::Gemma3 => (
                read_sliding_window(&keys, n_layer)?,
                // llama.cpp's gemma3 loader reads no scale key: 1/sqrt(head_dim), except for the
                // 62-layer 27B model, 1/sqrt(n_embd / n_head) (integer division first).
                Some(if n_layer == 62 {
                    1.0 / libm::sqrtf(n_embd.checked_div(n_head).unwrap_or(0) as f32)
                } else {
                    1.0 / libm::sqrtf(key_length as f32)
                }),
            ),
            Architecture::FalconH1 | Architecture::Llama => (None, None),
        };
        if let Some(cap) = keys.f32("final_logit_softcapping")? {
            if cap != 0.0 {
                return Err(ModelError::Unsupported { what: "final_logit_softcapping" });
            }
        }

        let n_vocab = vocab_size(file)?;
        let h = HParams {
            arch,
            n_vocab,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim: key_length,
            n_ff,
            n_ctx_train,
            rms_eps,
            rope,
            ssm,
            swa,
            query_scale,
        };
        h.validate()?;
        Ok(h)
    }

    /// Checks the invariants the layers rely on (divisibility, ranges) and that every derived
    /// size fits 32-bit arithmetic. Error: `Invalid` naming the broken rule.
    pub fn validate(&self) -> Result<(), ModelError> {
        let dims = [
            ("n_vocab", self.n_vocab),
            ("embedding_length", self.n_embd),
            ("block_count", self.n_layer),
            ("attention.head_count", self.n_head),
            ("attention.head_count_kv", self.n_head_kv),
            ("attention.key_length", self.head_dim),
            ("feed_forward_length", self.n_ff),
            ("context_length", self.n_ctx_train),
        ];
        for (what, v) in dims {
            if v == 0 || v > MAX_DIM {
                return Err(ModelError::Invalid { what, rule: "must be between 1 and 2^24" });
            }
        }
        if self.n_layer > MAX_LAYERS {
            return Err(ModelError::TooManyLayers { n: self.n_layer, max: MAX_LAYERS });
        }
        if !self.n_head.is_multiple_of(self.n_head_kv) {
            return Err(ModelError::Invalid {
                what: "attention.head_count",
                rule: "must be a multiple of head_count_kv",
            });
        }
        if !self.rope.n_rot.is_multiple_of(2) || self.rope.n_rot > self.head_dim {
            return Err(ModelError::Invalid {
                what: "rope.dimension_count",
                rule: "must be even and at most the head size",
            });
        }
        if !(self.rms_eps.is_finite() && self.rms_eps >= 0.0) {
            return Err(ModelError::Invalid {
                what: "attention.layer_norm_rms_epsilon",
                rule: "must be finite and >= 0",
            });
        }
        let rope_ok = self.rope.freq_base.is_finite()
            && self.rope.freq_base > 0.0
            && self.rope.freq_scale.is_finite()
            && self.rope.attn_factor.is_finite();
        if !rope_ok {
            return Err(ModelError::Invalid {
                what: "rope",
                rule: "base, scale and attention factor must be finite, base > 0",
            });
        }
        // Every vector the forward pass holds must fit comfortably in 32-bit sizes.
        let fits = |v: Option<usize>| {
            v.filter(|&n| n <= 1 << 28)
                .ok_or(ModelError::Invalid { what: "dimensions", rule: "a derived size exceeds 2^28 elements" })
        };
        if let Some(w) = &self.swa {
            if w.window == 0 || w.window > MAX_DIM {
                return Err(ModelError::Invalid {
                    what: "attention.sliding_window",
                    rule: "must be between 1 and 2^24",
                });
            }
            if !(w.freq_base.is_finite() && w.freq_base > 0.0) {
                return Err(ModelError::Invalid { what: "rope.freq_base_swa", rule: "must be finite and > 0" });
            }
        }
        if self.query_scale.is_some_and(|s| !s.is_finite()) {
            return Err(ModelError::Invalid { what: "query scale", rule: "must be finite" });
        }
        fits(self.n_head.checked_mul(self.head_dim))?;
        fits(self.n_vocab.checked_mul(self.n_embd))?;
        if let Some(s) = &self.ssm {
            let ssm_dims = [
                ("ssm.conv_kernel", s.conv_kernel),
                ("ssm.inner_size", s.inner_size),
                ("ssm.state_size", s.state_size),
                ("ssm.time_step_rank", s.n_heads),
                ("ssm.group_count", s.n_groups),
            ];
            for (what, v) in ssm_dims {
                if v == 0 || v > MAX_DIM {
                    return Err(ModelError::Invalid { what, rule: "must be between 1 and 2^24" });
                }
            }
            if s.conv_kernel < 2 {
                return Err(ModelError::Invalid { what: "ssm.conv_kernel", rule: "must be at least 2" });
            }
            if !s.inner_size.is_multiple_of(s.n_heads)
                || !s.inner_size.is_multiple_of(s.n_groups)
                || !s.n_heads.is_multiple_of(s.n_groups)
            {
                return Err(ModelError::Invalid {
                    what: "ssm",
                    rule:
                        "inner_size must be a multiple of time_step_rank and group_count, time_step_rank of group_count",
                });
            }
            let gn = fits(s.n_groups.checked_mul(s.state_size).and_then(|g| g.checked_mul(2)))?;
            let cd = fits(s.inner_size.checked_add(gn))?;
            fits(cd.checked_add(s.inner_size).and_then(|v| v.checked_add(s.n_heads)))?;
            fits(cd.checked_mul(s.conv_kernel))?;
            fits(s.inner_size.checked_mul(s.state_size))?;
        }
        Ok(())
    }

    /// Length of the concatenated query heads (`H·Dh`).
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Length of the key (and of the value) vector of one position (`Hkv·Dh`).
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// The window of layer `layer` when it slides, `None` for a layer that sees the whole
    /// context.
    pub fn window(&self, layer: usize) -> Option<usize> {
        self.swa.filter(|w| layer < 64 && w.layers >> layer & 1 == 1).map(|w| w.window)
    }

    /// RoPE tables per position: one, or two when sliding layers rotate with their own base.
    pub fn rope_tables(&self) -> usize {
        1 + self.swa.is_some() as usize
    }

    /// Which of the [`rope_tables`](Self::rope_tables) layer `layer` rotates with.
    pub fn rope_table_of(&self, layer: usize) -> usize {
        (self.swa.is_some() && self.window(layer).is_some()) as usize
    }

    /// The parameters of RoPE table `i`: 0 the file's base, 1 the sliding layers'.
    pub fn rope_of_table(&self, i: usize) -> RopeParams {
        match self.swa {
            Some(w) if i == 1 => RopeParams { freq_base: w.freq_base, ..self.rope },
            _ => self.rope,
        }
    }
}

/// How many positions each layer's KV cache holds, and where it starts. A sliding layer
/// needs only its last `window` positions: its cache is a ring of `min(window, n_ctx)` slots,
/// position `p` in slot `p % slots`. A global layer keeps the whole context. `swa_full`
/// gives sliding layers the whole context too (llama.cpp's `--swa-full`): more memory, but
/// any earlier position can be returned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvLayout {
    pub n_ctx: usize,
    pub swa_full: bool,
}

impl KvLayout {
    /// Positions layer `layer`'s cache holds.
    pub fn slots(&self, h: &HParams, layer: usize) -> usize {
        match h.window(layer) {
            Some(w) if !self.swa_full => w.min(self.n_ctx),
            _ => self.n_ctx,
        }
    }

    /// Positions held by the layers before `layer` (where its rows start), checked.
    pub fn offset(&self, h: &HParams, layer: usize) -> Option<usize> {
        (0..layer).try_fold(0usize, |sum, l| sum.checked_add(self.slots(h, l)))
    }

    /// Positions held by every layer together, checked.
    pub fn total(&self, h: &HParams) -> Option<usize> {
        self.offset(h, h.n_layer)
    }

    /// The fewest slots of any layer: how far back every layer still holds every position.
    pub fn min_slots(&self, h: &HParams) -> usize {
        (0..h.n_layer).map(|l| self.slots(h, l)).min().unwrap_or(self.n_ctx)
    }
}

/// Metadata reader for the `{arch}.` keys.
struct Keys<'f, 'a> {
    file: &'f gguf::File<'a>,
    arch: &'static str,
}

impl Keys<'_, '_> {
    fn full(&self, suffix: &str) -> Name {
        let mut n = Name::new();
        n.push_lossy(self.arch);
        n.push_lossy(".");
        n.push_lossy(suffix);
        n
    }

    fn missing(&self, suffix: &str) -> ModelError {
        ModelError::MissingKey { key: self.full(suffix) }
    }

    fn bad(&self, suffix: &str, why: &'static str) -> ModelError {
        ModelError::BadKey { key: self.full(suffix), why }
    }

    fn value(&self, suffix: &str) -> Option<gguf::Value<'_>> {
        self.file.get(self.full(suffix).as_str())
    }

    /// A non-negative integer that fits `usize`, or `None` when absent.
    fn dim(&self, suffix: &str) -> Result<Option<usize>, ModelError> {
        match self.value(suffix) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.bad(suffix, "must be a non-negative integer")),
        }
    }

    /// A value that may be one integer or an array with one entry per layer; armlet runs
    /// uniform layers only, so every entry must be equal.
    fn per_layer_dim(&self, suffix: &str, n_layer: usize) -> Result<Option<usize>, ModelError> {
        let Some(v) = self.value(suffix) else { return Ok(None) };
        let Some(arr) = v.as_array() else { return self.dim(suffix) };
        if arr.len() != n_layer as u64 {
            return Err(self.bad(suffix, "per-layer array length differs from block_count"));
        }
        let mut first = None;
        for item in arr.iter() {
            let n = item
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| self.bad(suffix, "must hold non-negative integers"))?;
            match first {
                None => first = Some(n),
                Some(f) if f != n => return Err(self.bad(suffix, "differs between layers (not supported)")),
                Some(_) => {}
            }
        }
        Ok(first)
    }

    fn f32(&self, suffix: &str) -> Result<Option<f32>, ModelError> {
        match self.value(suffix) {
            None => Ok(None),
            Some(v) => v.as_f32().map(Some).ok_or_else(|| self.bad(suffix, "must be a number")),
        }
    }

    fn str(&self, suffix: &str) -> Result<Option<&str>, ModelError> {
        match self.value(suffix) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.bad(suffix, "must be a string")),
        }
    }
}

fn read_rope(keys: &Keys<'_, '_>, arch: Architecture, head_dim: usize) -> Result<RopeParams, ModelError> {
    let mode = match arch {
        Architecture::FalconH1 | Architecture::Gemma3 => RopeMode::Neox,
        Architecture::Llama => RopeMode::AdjacentPairs,
    };
    let n_rot = keys.dim("rope.dimension_count")?.unwrap_or(head_dim);
    // llama.cpp refuses a `llama` file whose rotation does not cover the whole head.
    if arch == Architecture::Llama && n_rot != head_dim {
        return Err(keys.bad("rope.dimension_count", "must equal the head size for llama"));
    }
    let freq_base = keys.f32("rope.freq_base")?.unwrap_or(10000.0);
    let scaling = keys.str("rope.scaling.type")?.unwrap_or("linear");
    let factor = match keys.f32("rope.scaling.factor")? {
        Some(f) => Some(f),
        None => keys.f32("rope.scale_linear")?,
    };
    let freq_scale = match scaling {
        "none" => 1.0,
        "linear" => match factor {
            Some(f) if f != 0.0 => 1.0 / f,
            _ => 1.0,
        },
        "yarn" => return Err(ModelError::Unsupported { what: "YaRN rope scaling" }),
        _ => return Err(keys.bad("rope.scaling.type", "unknown rope scaling (supported: none, linear)")),
    };
    let attn_factor = keys.f32("rope.scaling.attn_factor")?.unwrap_or(1.0);
    Ok(RopeParams { mode, n_rot, freq_base, freq_scale, attn_factor })
}

/// The sliding-window layers as llama.cpp derives them for `gemma3`: none without
/// `attention.sliding_window`; with it, `attention.sliding_window_pattern` as one flag per
/// layer, or as n (layer `l` slides iff `l mod n < n - 1`; 0: every layer), 6 when absent;
/// `rope.freq_base_swa`, 10000 when absent.
fn read_sliding_window(keys: &Keys<'_, '_>, n_layer: usize) -> Result<Option<SlidingWindow>, ModelError> {
    let window = match keys.dim("attention.sliding_window")? {
        None | Some(0) => return Ok(None),
        Some(w) => w,
    };
    let pattern = "attention.sliding_window_pattern";
    let mut layers = 0u64;
    match keys.value(pattern) {
        Some(v) if v.as_array().is_some() => {
            let arr = v.as_array().ok_or_else(|| keys.bad(pattern, "must be an integer or an array of bools"))?;
            if arr.len() != n_layer as u64 {
                return Err(keys.bad(pattern, "per-layer array length differs from block_count"));
            }
            for (l, item) in arr.iter().enumerate().take(64) {
                let slides = item.as_bool().ok_or_else(|| keys.bad(pattern, "must hold bools"))?;
                layers |= (slides as u64) << l;
            }
        }
        other => {
            let n = match other {
                None => 6,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| keys.bad(pattern, "must be an integer or an array of bools"))?,
            };
            for l in 0..n_layer.min(64) {
                if n == 0 || l % n < n - 1 {
                    layers |= 1 << l;
                }
            }
        }
    }
    let freq_base = keys.f32("rope.freq_base_swa")?.unwrap_or(10000.0);
    Ok(Some(SlidingWindow { window, layers, freq_base }))
}

/// `V`: the tokenizer's token count, or the embedding's row count when the file has no
/// tokenizer (the two must agree; `Model::from_gguf` checks the embedding shape).
fn vocab_size(file: &gguf::File<'_>) -> Result<usize, ModelError> {
    if let Some(v) = file.get("tokenizer.ggml.tokens") {
        let arr = v.as_array().ok_or(ModelError::BadKey {
            key: Name::from_str_lossy("tokenizer.ggml.tokens"),
            why: "must be an array of strings",
        })?;
        return usize::try_from(arr.len()).map_err(|_| ModelError::BadKey {
            key: Name::from_str_lossy("tokenizer.ggml.tokens"),
            why: "too many tokens",
        });
    }
    let embd = file
        .tensor("token_embd.weight")
        .ok_or(ModelError::MissingTensor { name: Name::from_str_lossy("token_embd.weight") })?;
    usize::try_from(embd.ne[1]).map_err(|_| ModelError::Invalid { what: "token_embd.weight", rule: "too many rows" })
}
