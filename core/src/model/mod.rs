//! The model: hyperparameters plus typed views of every weight, built once from a parsed
//! GGUF file ([`Model::from_gguf`]) with every shape and type checked, so the forward pass
//! (`Model::forward`, a batch of tokens, driven by `Session`) never re-validates or copies a
//! weight.
//!
//! The layers are shared building blocks ([`norm`], [`rope`], [`attention`], [`mamba2`],
//! [`ffn`]); an architecture module ([`falcon_h1`], [`llama`], [`gemma3`]) says which tensors a layer
//! has and how the blocks compose. The architecture comes from `general.architecture`.
//! The layers compute with `kernels` and read and write `Buffers` (the KV cache, the
//! Mamba2 state and the scratch of a batch of tokens), which the session carves from its arena; they
//! know nothing of the session.
//! [`golden`] reads and compares the `.alog` logits files the tests and `armlet logits` use.
#![forbid(unsafe_code)]
// ModelError carries tensor names and shapes by value (there is no allocator to box them);
// it is only ever returned while a model loads, so its size costs nothing per token.
#![allow(clippy::result_large_err)]

pub mod attention;
mod buffers;
pub mod falcon_h1;
pub mod ffn;
pub mod gemma3;
pub mod golden;
pub mod hparams;
pub mod llama;
pub mod mamba2;
pub mod norm;
pub mod rope;

pub(crate) use buffers::Buffers;
pub use hparams::{
    Architecture, HParams, KvLayout, RopeMode, RopeParams, SlidingWindow, SsmParams, MAX_LAYERS,
    SUPPORTED_ARCHITECTURES,
};

use crate::gguf;
use crate::kernels;
use crate::quant::{self, GgmlType, Matrix, QuantError};
use core::fmt;

/// How the attention KV cache stores keys and values (falcon-h1.md section 6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvCacheType {
    /// Mode G: f32 keys and values, plain softmax (the setting of the golden fixtures).
    F32,
    /// Mode D, llama.cpp's default: f16 keys and values, the query rounded to f16 and an
    /// online softmax with an f16 value accumulator (flash-attention numerics).
    F16,
}

impl KvCacheType {
    /// Bytes per cached value.
    pub fn bytes(self) -> usize {
        match self {
            KvCacheType::F32 => 4,
            KvCacheType::F16 => 2,
        }
    }

    /// `f32` / `f16`, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            KvCacheType::F32 => "f32",
            KvCacheType::F16 => "f16",
        }
    }
}

/// Longest tensor or key name kept in an error (longer ones are cut).
pub const NAME_CAPACITY: usize = 64;

/// A tensor or metadata key name carried by an error (no allocation: fixed capacity,
/// truncated at a character boundary).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Name(heapless::String<NAME_CAPACITY>);

impl Name {
    pub fn new() -> Name {
        Name(heapless::String::new())
    }

    pub fn from_str_lossy(s: &str) -> Name {
        let mut n = Name::new();
        n.push_lossy(s);
        n
    }

    /// `blk.{layer}.{suffix}`.
    pub fn layer_tensor(layer: usize, suffix: &str) -> Name {
        let mut n = Name::new();
        // A full buffer only truncates the name; the error stays readable.
        let _ = fmt::write(&mut n, format_args!("blk.{layer}.{suffix}"));
        n
    }

    /// Appends as much of `s` as fits, never splitting a character.
    pub fn push_lossy(&mut self, s: &str) {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                return;
            }
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Write for Name {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_lossy(s);
        Ok(())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a model cannot be built from a file.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelError {
    /// No `general.architecture` string.
    MissingArchitecture,
    /// An architecture armlet does not implement.
    UnsupportedArchitecture { name: Name },
    /// A required metadata key is absent.
    MissingKey { key: Name },
    /// A metadata value of the wrong type or out of range.
    BadKey { key: Name, why: &'static str },
    /// Dimensions that contradict each other or are out of range.
    Invalid { what: &'static str, rule: &'static str },
    /// A feature of the file armlet does not implement.
    Unsupported { what: &'static str },
    /// More layers than the fixed layer table holds.
    TooManyLayers { n: usize, max: usize },
    /// A required tensor is absent.
    MissingTensor { name: Name },
    /// A tensor whose shape (ggml `ne` order) is not what the hyperparameters imply.
    TensorShape { name: Name, expected: [u64; 4], found: [u64; 4] },
    /// A tensor that must be F32 (norms, conv, SSM parameters) has another type.
    TensorType { name: Name, found: GgmlType, expected: GgmlType },
    /// The quant layer refused a weight tensor (unsupported type, bad length).
    Weight { name: Name, error: QuantError },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::MissingArchitecture => f.write_str("the file has no general.architecture"),
            ModelError::UnsupportedArchitecture { name } => {
                write!(f, "unsupported architecture `{name}` (supported: {SUPPORTED_ARCHITECTURES})")
            }
            ModelError::MissingKey { key } => write!(f, "missing metadata key {key}"),
            ModelError::BadKey { key, why } => write!(f, "metadata key {key}: {why}"),
            ModelError::Invalid { what, rule } => write!(f, "invalid hyperparameters: {what} {rule}"),
            ModelError::Unsupported { what } => write!(f, "not supported: {what}"),
            ModelError::TooManyLayers { n, max } => write!(f, "{n} layers, armlet supports at most {max}"),
            ModelError::MissingTensor { name } => write!(f, "missing tensor {name}"),
            ModelError::TensorShape { name, expected, found } => {
                write!(f, "tensor {name}: shape {}, expected {}", Shape(found), Shape(expected))
            }
            ModelError::TensorType { name, found, expected } => {
                write!(f, "tensor {name}: type {}, expected {}", found.name(), expected.name())
            }
            ModelError::Weight { name, error } => write!(f, "tensor {name}: {error}"),
        }
    }
}

/// Prints a ggml shape as `{ne0, ne1, ...}` without trailing 1s.
struct Shape<'s>(&'s [u64; 4]);

impl fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims = self.0.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1);
        f.write_str("{")?;
        for (i, d) in self.0.iter().take(dims).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("}")
    }
}

/// An F32 vector stored in the file (norm weights, biases, SSM parameters), read in place:
/// the bytes are little-endian f32 and need not be aligned.
#[derive(Clone, Copy, Debug)]
pub struct F32Vector<'a> {
    bytes: &'a [u8],
}

impl<'a> F32Vector<'a> {
    /// A view of `bytes` as little-endian f32 values (a trailing partial value is ignored;
    /// the loader checks lengths).
    pub fn new(bytes: &'a [u8]) -> F32Vector<'a> {
        F32Vector { bytes }
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as an `f32` slice in place, when the bytes are 4-aligned (and the target is
    /// little-endian, as the file is); `None` otherwise, and then [`iter`](Self::iter) decodes.
    pub fn as_slice(&self) -> Option<&'a [f32]> {
        if cfg!(target_endian = "little") {
            bytemuck::try_cast_slice(self.bytes).ok()
        } else {
            None
        }
    }

    /// The values in order.
    pub fn iter(&self) -> impl Iterator<Item = f32> + 'a {
        self.bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Consecutive sub-vectors of `n` values (a trailing partial one is dropped).
    pub fn chunks(&self, n: usize) -> impl Iterator<Item = F32Vector<'a>> + 'a {
        self.bytes.chunks_exact(n.saturating_mul(4).max(4)).map(F32Vector::new)
    }
}

/// One transformer/hybrid layer's weights. `mamba` is present for hybrid architectures.
#[derive(Clone, Copy, Debug)]
pub struct Layer<'a> {
    /// The input norm (Falcon-H1: shared by attention and Mamba2).
    pub attn_norm: F32Vector<'a>,
    pub attention: attention::AttentionWeights<'a>,
    pub mamba: Option<mamba2::Mamba2Weights<'a>>,
    /// The pre-FFN norm.
    pub ffn_norm: F32Vector<'a>,
    pub ffn: ffn::FfnWeights<'a>,
    /// Gemma 3: the norm of the attention output before it joins the residual.
    pub post_attention_norm: Option<F32Vector<'a>>,
    /// Gemma 3: the norm of the FFN output before it joins the residual.
    pub post_ffw_norm: Option<F32Vector<'a>>,
}

impl<'a> Layer<'a> {
    /// The parts every architecture's layer has, in this order: `attn_norm.weight`,
    /// attention, the pre-FFN norm (named `ffn_norm` by the caller: the spelling differs
    /// between architectures) and the FFN; no Mamba2 mixer (a hybrid adds its own).
    pub(crate) fn load_transformer(
        t: &Tensors<'_, 'a>,
        h: &HParams,
        l: usize,
        output_bias: attention::OutputBias,
        ffn_norm_name: &str,
    ) -> Result<Layer<'a>, ModelError> {
        Ok(Layer {
            attn_norm: t.vector(Name::layer_tensor(l, "attn_norm.weight").as_str(), h.n_embd)?,
            attention: attention::AttentionWeights::load(t, h, l, output_bias)?,
            mamba: None,
            ffn_norm: t.vector(ffn_norm_name, h.n_embd)?,
            ffn: ffn::FfnWeights::load(t, h, l)?,
            post_attention_norm: None,
            post_ffw_norm: None,
        })
    }
}

/// Where a layer runs for a batch: the layer's index, the batch's first position and its
/// token count (token `t` is at position `pos0 + t`), and the layer's KV cache: where its
/// rows start (in positions, from the cache's start), how many positions it holds (a ring
/// when fewer than the context: position `p` in slot `p % slots`), and the window of a
/// sliding layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub(crate) layer: usize,
    pub(crate) pos0: usize,
    pub(crate) n: usize,
    pub(crate) kv_offset: usize,
    pub(crate) slots: usize,
    pub(crate) window: Option<usize>,
}

/// A model ready to run: hyperparameters and views of every weight in the file's bytes.
#[derive(Clone, Debug)]
pub struct Model<'a> {
    pub hparams: HParams,
    /// `[V][E]`: row `t` is token `t`'s embedding.
    pub token_embd: Matrix<'a>,
    pub output_norm: F32Vector<'a>,
    /// The LM head `[V][E]`; the same view as `token_embd` when the file ties them.
    pub output: Matrix<'a>,
    pub layers: heapless::Vec<Layer<'a>, MAX_LAYERS>,
}

impl<'a> Model<'a> {
    /// Reads the hyperparameters and builds a checked view of every tensor the
    /// architecture needs.
    ///
    /// Errors: everything [`HParams::from_gguf`] reports; `MissingTensor` naming the first
    /// absent tensor; `TensorShape` / `TensorType` naming a tensor whose shape or type is
    /// wrong; `Weight` when the quant layer cannot multiply a tensor's type.
    pub fn from_gguf(file: &gguf::File<'a>) -> Result<Model<'a>, ModelError> {
        let h = HParams::from_gguf(file)?;
        let t = Tensors { file };
        if matches!(h.arch, Architecture::Llama | Architecture::Gemma3) {
            llama::check_supported(&t)?;
        }
        let token_embd = t.matrix("token_embd.weight", h.n_embd, h.n_vocab)?;
        let output_norm = t.vector("output_norm.weight", h.n_embd)?;
        let output = match t.find("output.weight") {
            Some(_) => t.matrix("output.weight", h.n_embd, h.n_vocab)?,
            None => token_embd,
        };
        let mut layers = heapless::Vec::new();
        for l in 0..h.n_layer {
            let layer = match h.arch {
                Architecture::FalconH1 => falcon_h1::load_layer(&t, &h, l)?,
                Architecture::Llama => llama::load_layer(&t, &h, l)?,
                Architecture::Gemma3 => gemma3::load_layer(&t, &h, l)?,
            };
            layers.push(layer).map_err(|_| ModelError::TooManyLayers { n: h.n_layer, max: MAX_LAYERS })?;
        }
        Ok(Model { hparams: h, token_embd, output_norm, output, layers })
    }
}

/// Tensor lookup with the shape and type checks every loader needs.
pub(crate) struct Tensors<'f, 'a> {
    file: &'f gguf::File<'a>,
}

impl<'a> Tensors<'_, 'a> {
    pub(crate) fn find(&self, name: &str) -> Option<gguf::Tensor<'a>> {
        self.file.tensor(name)
    }

    fn require(&self, name: &str) -> Result<gguf::Tensor<'a>, ModelError> {
        self.find(name).ok_or_else(|| ModelError::MissingTensor { name: Name::from_str_lossy(name) })
    }

    fn check_shape(t: &gguf::Tensor<'a>, expected: [u64; 4]) -> Result<(), ModelError> {
        if t.ne != expected {
            return Err(ModelError::TensorShape { name: Name::from_str_lossy(t.name), expected, found: t.ne });
        }
        Ok(())
    }

    /// A 2-D weight `{n_in, n_out}` as a matrix of `n_out` rows of `n_in` values.
    pub(crate) fn matrix(&self, name: &str, n_in: usize, n_out: usize) -> Result<Matrix<'a>, ModelError> {
        let t = self.require(name)?;
        Self::check_shape(&t, [n_in as u64, n_out as u64, 1, 1])?;
        Matrix::new(t.ty, n_out, n_in, t.data)
            .map_err(|error| ModelError::Weight { name: Name::from_str_lossy(name), error })
    }

    /// An F32 tensor of shape `ne` viewed as a flat vector.
    pub(crate) fn f32_tensor(&self, name: &str, ne: [u64; 4]) -> Result<F32Vector<'a>, ModelError> {
        let t = self.require(name)?;
        Self::check_shape(&t, ne)?;
        if t.ty != GgmlType::F32 {
            return Err(ModelError::TensorType {
                name: Name::from_str_lossy(name),
                found: t.ty,
                expected: GgmlType::F32,
            });
        }
        let n = ne.iter().product::<u64>();
        let expected = n.checked_mul(4);
        if expected != Some(t.data.len() as u64) {
            let error = QuantError::BadLength { expected: expected.unwrap_or(u64::MAX) as usize, actual: t.data.len() };
            return Err(ModelError::Weight { name: Name::from_str_lossy(name), error });
        }
        Ok(F32Vector::new(t.data))
    }

    /// An F32 vector `{n}`.
    pub(crate) fn vector(&self, name: &str, n: usize) -> Result<F32Vector<'a>, ModelError> {
        self.f32_tensor(name, [n as u64, 1, 1, 1])
    }

    /// An optional F32 vector `{n}` (absent is fine, present must be right).
    pub(crate) fn optional_vector(&self, name: &str, n: usize) -> Result<Option<F32Vector<'a>>, ModelError> {
        match self.find(name) {
            None => Ok(None),
            Some(_) => self.vector(name, n).map(Some),
        }
    }
}

/// The most tokens a batch may hold (`linear` keeps one activation view per token on the
/// stack).
pub const MAX_UBATCH: usize = 64;
// `linear` marks a batch's non-finite rows in one u64.
const _: () = assert!(MAX_UBATCH <= 64);

/// `n` input rows of `width` values for a batched product, row `t` at `data[t * stride..]`
/// (a stride wider than the row reads one field of wider rows, e.g. Mamba2's gated `y` inside
/// each token's projection).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rows<'x> {
    pub(crate) data: &'x [f32],
    pub(crate) stride: usize,
    pub(crate) width: usize,
    pub(crate) n: usize,
}

impl<'x> Rows<'x> {
    /// `n` consecutive rows of `width` values at the start of `data`.
    pub(crate) fn packed(data: &'x [f32], width: usize, n: usize) -> Rows<'x> {
        Rows { data, stride: width, width, n }
    }

    /// Row `t` (empty if `data` is too short: the product then reports `BadLength`).
    pub(crate) fn row(&self, t: usize) -> &'x [f32] {
        let start = t.saturating_mul(self.stride);
        self.data.get(start..start.saturating_add(self.width)).unwrap_or(&[])
    }
}

/// Row `t` of a buffer of rows of `width` values (empty beyond the buffer).
pub(crate) fn row_mut(buf: &mut [f32], width: usize, t: usize) -> &mut [f32] {
    let start = t.saturating_mul(width);
    buf.get_mut(start..start.saturating_add(width)).unwrap_or_default()
}

/// Row `t` of a buffer of rows of `width` values, read-only.
pub(crate) fn row(buf: &[f32], width: usize, t: usize) -> &[f32] {
    let start = t.saturating_mul(width);
    buf.get(start..start.saturating_add(width)).unwrap_or(&[])
}

/// One matrix product of [`linear`]: the weights, an optional bias, and the output rows
/// (`n` rows of `W.rows` values, token by token).
pub(crate) type Product<'p, 'w, 'o> = (&'p Matrix<'w>, Option<F32Vector<'w>>, &'o mut [f32]);

/// `out_t = W·x_t (+ bias)` for every input row `x_t` and every product, with each row first
/// converted to `W`'s activation format (llama.cpp quantizes the activations before every
/// matrix product; falcon-h1.md 6.3) into its own slot of `scratch` (`x.n` equal slots).
///
/// Several matrices that read the same input (attention's Q, K and V; the FFN's gate and
/// up) share one conversion when those activations serve them (`Activations::serves`: e.g.
/// Q4_K and Q5_K share them); the others get their own. Each product runs on the whole
/// batch at once (`kernels::matmul`), and every result equals a one-row call's, bit for bit.
pub(crate) fn linear<const N: usize>(
    x: Rows<'_>,
    scratch: &mut [u8],
    mut products: [Product<'_, '_, '_>; N],
) -> Result<(), QuantError> {
    let n = x.n;
    if n == 0 {
        return Ok(());
    }
    if n > MAX_UBATCH {
        return Err(QuantError::BadLength { expected: MAX_UBATCH, actual: n });
    }
    // Quantizing a NaN or an infinity gives 0 (the block scale ignores it), which would hide
    // a corrupt weight behind finite garbage. Such a row's outputs become NaN instead, as an
    // f32 product would, so it reaches the logits and the sampler refuses them. (Checked
    // here, while the rows are in cache.)
    let not_finite = (0..n).filter(|&t| !all_finite(x.row(t))).fold(0u64, |m, t| m | 1 << t);
    let slot = scratch.len() / n;
    let mut done = [false; N];
    while let Some(first) = done.iter().position(|d| !d) {
        let ty = products[first].0.ty;
        let mut acts: heapless::Vec<quant::Activations<'_>, { MAX_UBATCH }> = heapless::Vec::new();
        for (t, buf) in scratch.chunks_exact_mut(slot.max(1)).take(n).enumerate() {
            let act = quant::quantize_activations_with(ty, x.row(t), buf, kernels::quantize_q8k)?;
            // Cannot fail: n <= MAX_UBATCH was checked above.
            let _ = acts.push(act);
        }
        if acts.len() != n {
            return Err(QuantError::BadLength { expected: n, actual: acts.len() });
        }
        for ((w, bias, out), done) in products.iter_mut().zip(done.iter_mut()).skip(first) {
            if *done || !acts[0].serves(w.ty) {
                continue;
            }
            kernels::matmul(w, &acts, out)?;
            if let Some(b) = bias {
                for out_row in out.chunks_exact_mut(w.rows.max(1)) {
                    for (o, b) in out_row.iter_mut().zip(b.iter()) {
                        *o += b;
                    }
                }
            }
            *done = true;
        }
    }
    for t in (0..n).filter(|&t| not_finite & 1 << t != 0) {
        for (w, _, out) in products.iter_mut() {
            row_mut(out, w.rows, t).fill(f32::NAN);
        }
    }
    Ok(())
}

/// Whether every value of `row` is finite, read as integers: a value is finite when its
/// exponent is not all ones, that is when `bits << 1` (the sign shifted out) is below
/// `0xff00_0000`. The largest such key of the row decides; integer compares cost a cycle
/// where a VFP compare and its flag transfer cost several.
fn all_finite(row: &[f32]) -> bool {
    let mut keys = [0u32; 4];
    let mut quads = row.chunks_exact(4);
    for q in &mut quads {
        for (k, v) in keys.iter_mut().zip(q) {
            *k = (*k).max(v.to_bits() << 1);
        }
    }
    let tail = quads.remainder().iter().fold(0, |k: u32, v| k.max(v.to_bits() << 1));
    keys.iter().fold(tail, |a, &k| a.max(k)) < 0xff00_0000
}

/// `out[t] = rmsnorm(x[t]) · weight` for the first `n` rows of `width` values.
pub(crate) fn norm_rows(x: &[f32], weight: F32Vector<'_>, eps: f32, width: usize, n: usize, out: &mut [f32]) {
    norm::rms_norm_rows(x, weight, eps, width, n, out);
}

impl Model<'_> {
    /// The forward pass of a batch of `tokens` at positions `pos0..pos0 + tokens.len()` of a
    /// context laid out as `kv` (at most `Plan::ubatch` tokens, the rows of `b`): their
    /// embeddings, every layer (which reads and extends the state in `b`, token by token
    /// where order matters), and, `with_logits`, the final norm and the LM head of the last
    /// token into `b.logits`. The caller checks the positions and the tokens first
    /// (`Session` does); a token beyond the embedding fails as `BadLength`.
    pub(crate) fn forward(
        &self,
        tokens: &[u32],
        pos0: usize,
        kv: KvLayout,
        b: &mut Buffers<'_>,
        with_logits: bool,
    ) -> Result<(), QuantError> {
        let h = &self.hparams;
        let (e, n) = (h.n_embd, tokens.len());
        let table = h.rope.table_len();
        for (t, &token) in tokens.iter().enumerate() {
            let embedding = self.token_embd.row(token as usize).unwrap_or(&[]);
            let x = row_mut(b.hidden, e, t);
            quant::dequantize_row(self.token_embd.ty, embedding, x)?;
            if h.arch == Architecture::Gemma3 {
                gemma3::scale_embedding(h, x);
            }
            // One table per RoPE base: the global one, then the sliding layers' (if any).
            let tables = row_mut(b.rope_angles, table * h.rope_tables(), t);
            for (i, tab) in tables.chunks_exact_mut(table.max(1)).enumerate() {
                h.rope_of_table(i).angles(pos0 + t, tab);
            }
        }
        let mut kv_offset = 0;
        for (l, layer) in self.layers.iter().enumerate() {
            let slots = kv.slots(h, l);
            let at = Step { layer: l, pos0, n, kv_offset, slots, window: h.window(l) };
            kv_offset += slots;
            match h.arch {
                Architecture::FalconH1 => falcon_h1::forward_layer(h, layer, at, b)?,
                Architecture::Llama => llama::forward_layer(h, layer, at, b)?,
                Architecture::Gemma3 => gemma3::forward_layer(h, layer, at, b)?,
            }
        }
        if with_logits && n > 0 {
            let normed = row_mut(b.normed, e, 0);
            norm::rms_norm(row(b.hidden, e, n - 1), self.output_norm, h.rms_eps, normed);
            linear(Rows::packed(normed, e, 1), b.activation_quant, [(&self.output, None, &mut *b.logits)])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::all_finite;

    #[test]
    fn all_finite_reads_the_exponent() {
        let finite = [0.0f32, -0.0, 1.0, -f32::MAX, f32::MAX, f32::MIN_POSITIVE, 1e-45, -1e-45];
        for len in 0..12 {
            let mut row = [0f32; 12];
            for (i, v) in row.iter_mut().enumerate().take(len) {
                *v = finite[i % finite.len()];
            }
            assert!(all_finite(&row[..len]));
            for at in 0..len {
                for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, f32::from_bits(0x7f80_0001)] {
                    let mut r = row;
                    r[at] = bad;
                    assert!(!all_finite(&r[..len]), "{bad} at {at} of {len}");
                }
            }
        }
    }
}
