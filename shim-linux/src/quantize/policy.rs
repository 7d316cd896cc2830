//! Which ggml type each tensor gets for a requested file type: llama-quantize's rules
//! (`tensor_allows_quantization`, `llama_tensor_get_type_impl`, `tensor_type_fallback` in
//! llama.cpp's src/llama-quant.cpp), restricted to the file types armlet writes and to runs
//! without an importance matrix or per-tensor overrides. The rules depend on the tensor
//! order (attn_v / ffn_down counters), so [`plan_types`] takes the tensors in the order
//! llama-quantize visits them (see [`llama_tensor_order`]).

use armlet_core::quant::GgmlType;
use std::cmp::Ordering;

/// A llama.cpp file type (`general.file_type`, `LLAMA_FTYPE_*`) that armlet can write.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
}

/// The names llama-quantize accepts (case-insensitively), aliases included, in its order.
const NAMES: [(&str, FileType); 20] = [
    ("Q4_0", FileType::Q4_0),
    ("Q4_1", FileType::Q4_1),
    ("Q5_0", FileType::Q5_0),
    ("Q5_1", FileType::Q5_1),
    ("Q2_K", FileType::Q2_K),
    ("Q3_K", FileType::Q3_K_M),
    ("Q3_K_S", FileType::Q3_K_S),
    ("Q3_K_M", FileType::Q3_K_M),
    ("Q3_K_L", FileType::Q3_K_L),
    ("Q4_K", FileType::Q4_K_M),
    ("Q4_K_S", FileType::Q4_K_S),
    ("Q4_K_M", FileType::Q4_K_M),
    ("Q5_K", FileType::Q5_K_M),
    ("Q5_K_S", FileType::Q5_K_S),
    ("Q5_K_M", FileType::Q5_K_M),
    ("Q6_K", FileType::Q6_K),
    ("Q8_0", FileType::Q8_0),
    ("F16", FileType::F16),
    ("BF16", FileType::BF16),
    ("F32", FileType::F32),
];

impl FileType {
    /// Parses a type name as llama-quantize does: case-insensitive, aliases Q3_K / Q4_K /
    /// Q5_K for the _M variants, or the numeric `LLAMA_FTYPE_*` value.
    pub fn parse(s: &str) -> Option<FileType> {
        if let Some(&(_, t)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Some(t);
        }
        let id: u32 = s.parse().ok()?;
        NAMES.iter().map(|&(_, t)| t).find(|t| t.id() == id)
    }

    /// Every accepted name, for the error message of an unknown one.
    pub fn valid_names() -> String {
        NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    }

    /// The canonical name (`Q4_K_M`, ...).
    pub fn name(self) -> &'static str {
        use FileType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            BF16 => "BF16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q2_K => "Q2_K",
            Q3_K_S => "Q3_K_S",
            Q3_K_M => "Q3_K_M",
            Q3_K_L => "Q3_K_L",
            Q4_K_S => "Q4_K_S",
            Q4_K_M => "Q4_K_M",
            Q5_K_S => "Q5_K_S",
            Q5_K_M => "Q5_K_M",
            Q6_K => "Q6_K",
        }
    }

    /// The value stored in `general.file_type`.
    pub fn id(self) -> u32 {
        use FileType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q8_0 => 7,
            Q5_0 => 8,
            Q5_1 => 9,
            Q2_K => 10,
            Q3_K_S => 11,
            Q3_K_M => 12,
            Q3_K_L => 13,
            Q4_K_S => 14,
            Q4_K_M => 15,
            Q5_K_S => 16,
            Q5_K_M => 17,
            Q6_K => 18,
            BF16 => 32,
        }
    }

    /// The tensor type before the per-tensor rules (`llama_ftype_get_default_type`).
    pub fn default_type(self) -> GgmlType {
        use FileType::*;
        match self {
            F32 => GgmlType::F32,
            F16 => GgmlType::F16,
            BF16 => GgmlType::BF16,
            Q4_0 => GgmlType::Q4_0,
            Q4_1 => GgmlType::Q4_1,
            Q5_0 => GgmlType::Q5_0,
            Q5_1 => GgmlType::Q5_1,
            Q8_0 => GgmlType::Q8_0,
            Q2_K => GgmlType::Q2_K,
            Q3_K_S | Q3_K_M | Q3_K_L => GgmlType::Q3_K,
            Q4_K_S | Q4_K_M => GgmlType::Q4_K,
            Q5_K_S | Q5_K_M => GgmlType::Q5_K,
            Q6_K => GgmlType::Q6_K,
        }
    }
}

/// Whether ggml counts the type as quantized (block formats; not F32/F16/BF16 or integers).
pub fn is_quantized(ty: GgmlType) -> bool {
    use GgmlType::*;
    !matches!(ty, F32 | F16 | BF16 | I8 | I16 | I32 | I64 | F64)
}

/// The model facts the rules look at (from the input's metadata).
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub arch: String,
    /// `{arch}.block_count`.
    pub n_layer: u32,
    /// `{arch}.attention.head_count` / `head_count_kv` of layer 0 (0 when absent).
    pub n_head: u32,
    pub n_head_kv: u32,
    /// `{arch}.expert_count` (0 when absent).
    pub n_expert: u32,
}

impl ModelInfo {
    fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }

    /// llama.cpp's `LLM_TYPE_70B`, the one model size the rules single out.
    fn is_70b(&self) -> bool {
        match self.arch.as_str() {
            "llama" => self.n_expert != 8 && self.n_layer == 80 && self.n_head != self.n_head_kv,
            "qwen2" | "deci" | "olmo" => self.n_layer == 80,
            "jais2" => self.n_layer == 68,
            _ => false,
        }
    }

    fn is_falcon(&self) -> bool {
        self.arch == "falcon"
    }
}

/// What the quantizer needs to know about one tensor.
#[derive(Clone, Copy, Debug)]
pub struct TensorDesc<'a> {
    pub name: &'a str,
    pub ty: GgmlType,
    pub ne: [u64; 4],
}

/// ggml's `ggml_n_dims`: trailing dimensions of size 1 do not count (at least 1).
pub fn ggml_n_dims(ne: &[u64; 4]) -> u32 {
    (1..4).rev().find(|&i| ne[i] > 1).map_or(1, |i| i as u32 + 1)
}

/// The layer number as C's `sscanf(name, "blk.%d.", &layer)` reads it, or -1.
fn sscanf_layer(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("blk.")?;
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (sign, digits) = match rest.as_bytes().first() {
        Some(b'-') => (-1, &rest[1..]),
        Some(b'+') => (1, &rest[1..]),
        _ => (1, rest),
    };
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    // Overflow is undefined in C; saturating keeps the order sensible.
    let v = digits[..len].bytes().fold(0i64, |a, d| a.saturating_mul(10).saturating_add((d - b'0') as i64));
    Some((sign * v).clamp(i32::MIN as i64, i32::MAX as i64))
}

/// llama.cpp's `weight_name_comparer`: by layer number (tensors outside `blk.N.` first),
/// then by name bytes. This is the order of the tensor infos and data in the output.
pub fn llama_tensor_order(a: &str, b: &str) -> Ordering {
    let la = sscanf_layer(a).unwrap_or(-1);
    let lb = sscanf_layer(b).unwrap_or(-1);
    la.cmp(&lb).then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    AttentionQ,
    AttentionV,
    AttentionK,
    AttentionQkv,
    AttentionKvB,
    AttentionOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
}

fn category(name: &str) -> Category {
    use Category::*;
    if name == "output.weight" {
        return Output;
    }
    if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
        return TokenEmbd;
    }
    const BY_SUBSTRING: [(&str, Category); 9] = [
        ("attn_qkv.weight", AttentionQkv),
        ("attn_kv_b.weight", AttentionKvB),
        ("attn_v.weight", AttentionV),
        ("attn_k.weight", AttentionK),
        ("attn_q.weight", AttentionQ),
        ("attn_output.weight", AttentionOutput),
        ("ffn_up", FfnUp),
        ("ffn_gate", FfnGate),
        ("ffn_down", FfnDown),
    ];
    BY_SUBSTRING.iter().find(|(s, _)| name.contains(s)).map_or(Other, |&(_, c)| c)
}

fn is_attn_v_like(c: Category) -> bool {
    matches!(c, Category::AttentionV | Category::AttentionQkv | Category::AttentionKvB)
}

/// Name fragments of tensors llama-quantize never quantizes (small, or precision-critical).
const NEVER_QUANTIZED: [&str; 35] = [
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
];

/// More fragments that only glm5-next keeps unquantized.
const NEVER_QUANTIZED_GLM5_NEXT: [&str; 14] = [
    "hc_",
    "indexer.attn_q_b",
    "indexer.attn_k",
    "indexer.proj",
    "indexer_compressor_gate",
    "indexer_compressor_ape",
    "ssm_f_a.weight",
    "ssm_f_b.weight",
    "ssm_g_a.weight",
    "ssm_g_b.weight",
    "ssm_beta.weight",
    "attn_kv_a_mqa.weight",
    "attn_k_b.weight",
    "attn_v_b.weight",
];

/// llama.cpp's `tensor_allows_quantization`: matrices whose name ends in `weight`, minus
/// norms, convolutions, routers and the other small or sensitive tensors listed above.
pub fn allows_quantization(arch: &str, t: &TensorDesc) -> bool {
    if ggml_n_dims(&t.ne) < 2 {
        return false;
    }
    let name = t.name;
    // llama.cpp tests `name.rfind("weight") == name.size() - 6`; for a 5-byte name both
    // sides are npos, so such a name counts as ending in "weight". Kept for identical output.
    let ends_in_weight = name.ends_with("weight") || name.len() == 5;
    if !ends_in_weight || name == "position_embd.weight" || name == "token_types.weight" {
        return false;
    }
    if NEVER_QUANTIZED.iter().any(|s| name.contains(s)) {
        return false;
    }
    !(arch == "glm5-next" && NEVER_QUANTIZED_GLM5_NEXT.iter().any(|s| name.contains(s)))
}

/// Tensors that would need an importance matrix are the very-low-bit IQ types, which armlet
/// never chooses; so the only failure of the rules is a missing layer number in an MoE model.
#[derive(Debug, PartialEq, Eq)]
pub struct PolicyError(pub String);

/// The target type of every tensor, in the order given (which must be
/// [`llama_tensor_order`]'s: the attn_v / ffn_down counters advance in that order).
pub fn plan_types(ftype: FileType, model: &ModelInfo, tensors: &[TensorDesc]) -> Result<Vec<GgmlType>, PolicyError> {
    let mut state = State {
        ftype,
        model,
        default_type: ftype.default_type(),
        has_tied_embeddings: !tensors.iter().any(|t| category(t.name) == Category::Output),
        n_attention_wv: tensors.iter().filter(|t| is_attn_v_like(category(t.name))).count() as i64,
        i_attention_wv: 0,
        i_ffn_down: 0,
        i_ffn_gate: 0,
        i_ffn_up: 0,
    };
    tensors.iter().map(|t| state.tensor_type(t)).collect()
}

struct State<'a> {
    ftype: FileType,
    model: &'a ModelInfo,
    default_type: GgmlType,
    has_tied_embeddings: bool,
    n_attention_wv: i64,
    i_attention_wv: i64,
    i_ffn_down: i64,
    i_ffn_gate: i64,
    i_ffn_up: i64,
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third
/// layer in between.
fn use_more_bits(i_layer: i64, n_layers: i64) -> bool {
    i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2
}

impl State<'_> {
    fn tensor_type(&mut self, t: &TensorDesc) -> Result<GgmlType, PolicyError> {
        if !allows_quantization(&self.model.arch, t) {
            return Ok(t.ty);
        }
        if !is_quantized(self.default_type) {
            return Ok(self.default_type);
        }
        let chosen = self.rules(t)?;
        Ok(fallback(chosen, t.ne[0]))
    }

    /// (layer, layer count) for the ffn rules: the running counter, or for MoE models the
    /// number in the name (their expert tensors are not in layer order).
    fn layer_info(&self, counter: i64, name: &str) -> Result<(i64, i64), PolicyError> {
        let n_layer = self.model.n_layer as i64;
        if self.model.n_expert <= 1 {
            return Ok((counter, n_layer));
        }
        let layer = sscanf_layer(name).ok_or_else(|| PolicyError(format!("cannot find the layer number of tensor {name}")))?;
        if layer < 0 || layer >= n_layer {
            return Err(PolicyError(format!("bad layer {layer} for tensor {name}; must be in [0, {n_layer})")));
        }
        Ok((layer, n_layer))
    }

    /// `llama_tensor_get_type_impl` for the non-IQ file types.
    fn rules(&mut self, t: &TensorDesc) -> Result<GgmlType, PolicyError> {
        use FileType as F;
        use GgmlType as G;
        let ftype = self.ftype;
        let model = self.model;
        let falcon = model.is_falcon();
        let cat = category(t.name);
        let mut new_type = self.default_type;

        if cat == Category::Output || (self.has_tied_embeddings && cat == Category::TokenEmbd) {
            if falcon || !t.ne[0].is_multiple_of(new_type.block_size() as u64) {
                new_type = G::Q8_0;
            } else if new_type != G::Q8_0 {
                new_type = G::Q6_K;
            }
        } else if cat == Category::TokenEmbd {
            // The untied-embedding rules only concern IQ / ternary file types.
        } else if is_attn_v_like(cat) {
            let i = self.i_attention_wv;
            if ftype == F::Q2_K {
                new_type = if model.n_gqa() >= 4 { G::Q4_K } else { G::Q3_K };
            } else if ftype == F::Q3_K_M {
                new_type = if i < 2 { G::Q5_K } else { G::Q4_K };
            } else if ftype == F::Q3_K_L {
                new_type = G::Q5_K;
            } else if (ftype == F::Q4_K_M || ftype == F::Q5_K_M) && use_more_bits(i, self.n_attention_wv) {
                new_type = G::Q6_K;
            } else if ftype == F::Q4_K_S && i < 4 {
                new_type = G::Q5_K;
            }
            if model.is_70b() && (new_type == G::Q3_K || new_type == G::Q4_K) {
                new_type = G::Q5_K;
            }
            if model.n_expert == 8 {
                new_type = G::Q8_0;
            }
            self.i_attention_wv += 1;
        } else if cat == Category::AttentionK {
            if model.n_expert == 8 {
                new_type = G::Q8_0;
            }
        } else if cat == Category::AttentionQ {
            // Only IQ3 file types change attn_q.
        } else if cat == Category::FfnDown {
            let (i_layer, n_layer) = self.layer_info(self.i_ffn_down, t.name)?;
            if ftype == F::Q2_K {
                new_type = G::Q3_K;
            } else if ftype == F::Q3_K_M {
                new_type = if i_layer < n_layer / 16 {
                    G::Q5_K
                } else if !falcon || use_more_bits(i_layer, n_layer) {
                    G::Q4_K
                } else {
                    G::Q3_K
                };
            } else if ftype == F::Q3_K_L {
                new_type = if falcon { G::Q4_K } else { G::Q5_K };
            } else if ftype == F::Q4_K_M {
                if falcon {
                    new_type = if i_layer < n_layer / 16 {
                        G::Q6_K
                    } else if use_more_bits(i_layer, n_layer) {
                        G::Q5_K
                    } else {
                        G::Q4_K
                    };
                } else if use_more_bits(i_layer, n_layer) {
                    new_type = G::Q6_K;
                }
            } else if ftype == F::Q5_K_M && use_more_bits(i_layer, n_layer) {
                new_type = G::Q6_K;
            } else if ftype == F::Q4_K_S && !falcon && i_layer < n_layer / 8 {
                new_type = G::Q5_K;
            }
            self.i_ffn_down += 1;
        } else if cat == Category::AttentionOutput {
            if !falcon {
                if model.n_expert == 8 {
                    if matches!(ftype, F::Q2_K | F::Q3_K_S | F::Q3_K_M | F::Q4_K_S | F::Q4_K_M) {
                        new_type = G::Q5_K;
                    }
                } else if ftype == F::Q2_K {
                    new_type = G::Q3_K;
                } else if ftype == F::Q3_K_M {
                    new_type = G::Q4_K;
                } else if ftype == F::Q3_K_L {
                    new_type = G::Q5_K;
                }
            } else if ftype == F::Q3_K_L {
                new_type = G::Q4_K;
            }
        } else if cat == Category::FfnGate {
            // Only IQ3_XS changes ffn_gate, but the layer lookup still runs (and can fail).
            self.layer_info(self.i_ffn_gate, t.name)?;
            self.i_ffn_gate += 1;
        } else if cat == Category::FfnUp {
            self.layer_info(self.i_ffn_up, t.name)?;
            self.i_ffn_up += 1;
        }
        Ok(new_type)
    }
}

/// `tensor_type_fallback`: a row that is not a whole number of blocks of the chosen type
/// takes the nearest 32-block type, or F16 when even 32 does not divide it.
fn fallback(ty: GgmlType, ncols: u64) -> GgmlType {
    use GgmlType as G;
    if ncols.is_multiple_of(ty.block_size() as u64) {
        return ty;
    }
    let smaller = match ty {
        G::Q2_K | G::Q3_K => G::Q4_0,
        G::Q4_K => G::Q5_0,
        G::Q5_K => G::Q5_1,
        G::Q6_K => G::Q8_0,
        other => other,
    };
    if !ncols.is_multiple_of(smaller.block_size() as u64) {
        G::F16
    } else {
        smaller
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GgmlType as G;

    /// Falcon-H1's tensors as make_fixtures.py writes them (hidden h, ssm inner di, ffn f,
    /// vocab v, `layers` layers), already in llama.cpp's order.
    fn falcon_h1(layers: u32, h: u64, di: u64, f: u64, v: u64) -> Vec<(String, [u64; 4])> {
        let mut t = vec![("token_embd.weight".to_string(), [h, v, 1, 1]), ("output_norm.weight".to_string(), [h, 1, 1, 1])];
        for l in 0..layers {
            for (name, ne) in [
                ("attn_norm.weight", [h, 1]),
                ("attn_q.weight", [h, h]),
                ("attn_k.weight", [h, h / 4]),
                ("attn_v.weight", [h, h / 4]),
                ("attn_output.weight", [h, h]),
                ("ssm_in.weight", [h, 2 * di + 64]),
                ("ssm_conv1d.weight", [4, di + 64]),
                ("ssm_conv1d.bias", [di + 64, 1]),
                ("ssm_dt.bias", [24, 1]),
                ("ssm_a", [1, 24]),
                ("ssm_d", [1, 24]),
                ("ssm_norm.weight", [di, 1]),
                ("ssm_out.weight", [di, h]),
                ("ffn_norm", [h, 1]),
                ("ffn_gate.weight", [h, f]),
                ("ffn_up.weight", [h, f]),
                ("ffn_down.weight", [f, h]),
            ] {
                t.push((format!("blk.{l}.{name}"), [ne[0], ne[1], 1, 1]));
            }
        }
        t.sort_by(|a, b| llama_tensor_order(&a.0, &b.0));
        t
    }

    fn model(layers: u32, n_head: u32, n_head_kv: u32) -> ModelInfo {
        ModelInfo { arch: "falcon-h1".into(), n_layer: layers, n_head, n_head_kv, n_expert: 0 }
    }

    /// The planned type of every tensor, by name.
    fn plan(ftype: FileType, info: &ModelInfo, tensors: &[(String, [u64; 4])]) -> Vec<(String, GgmlType)> {
        let descs: Vec<TensorDesc> = tensors.iter().map(|(n, ne)| TensorDesc { name: n, ty: G::F32, ne: *ne }).collect();
        let types = plan_types(ftype, info, &descs).unwrap();
        tensors.iter().map(|(n, _)| n.clone()).zip(types).collect()
    }

    fn type_of(planned: &[(String, GgmlType)], name: &str) -> GgmlType {
        planned.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
    }

    /// The layers (in order) whose `suffix` tensor got `ty`.
    fn layers_with(planned: &[(String, GgmlType)], suffix: &str, ty: GgmlType) -> Vec<usize> {
        let mut layers: Vec<usize> = planned
            .iter()
            .filter(|(n, t)| n.ends_with(suffix) && *t == ty)
            .map(|(n, _)| n.split('.').nth(1).unwrap().parse().unwrap())
            .collect();
        layers.sort();
        layers
    }

    #[test]
    fn file_type_names_parse_as_llama_quantize_does() {
        assert_eq!(FileType::parse("q4_k_s"), Some(FileType::Q4_K_S));
        assert_eq!(FileType::parse("Q4_K"), Some(FileType::Q4_K_M));
        assert_eq!(FileType::parse("q3_k"), Some(FileType::Q3_K_M));
        assert_eq!(FileType::parse("Bf16"), Some(FileType::BF16));
        assert_eq!(FileType::parse("15"), Some(FileType::Q4_K_M));
        assert_eq!(FileType::parse("7"), Some(FileType::Q8_0));
        assert_eq!(FileType::parse("Q4_K_X"), None);
        assert_eq!(FileType::parse("IQ2_XS"), None);
        assert_eq!(FileType::parse("4"), None, "a retired ftype number");
        for (name, t) in NAMES {
            assert_eq!(FileType::parse(name), Some(t));
            assert_eq!(FileType::parse(&t.id().to_string()), Some(t));
        }
    }

    #[test]
    fn tensor_order_is_by_layer_number_then_name() {
        let mut names = ["blk.10.a", "blk.2.b", "token_embd.weight", "blk.2.a", "output_norm.weight", "blk.0.z"];
        names.sort_by(|a, b| llama_tensor_order(a, b));
        assert_eq!(names, ["output_norm.weight", "token_embd.weight", "blk.0.z", "blk.2.a", "blk.2.b", "blk.10.a"]);
    }

    #[test]
    fn which_tensors_may_be_quantized() {
        let d = |name, ne| TensorDesc { name, ty: G::F32, ne };
        assert!(allows_quantization("falcon-h1", &d("blk.0.attn_q.weight", [64, 64, 1, 1])));
        assert!(allows_quantization("falcon-h1", &d("output.weight", [64, 64, 1, 1])));
        assert!(!allows_quantization("falcon-h1", &d("blk.0.attn_q.weight", [64, 1, 1, 1])), "1-D");
        assert!(!allows_quantization("falcon-h1", &d("blk.0.ssm_norm.weight", [64, 2, 1, 1])), "norm");
        assert!(!allows_quantization("falcon-h1", &d("blk.0.ffn_norm", [64, 2, 1, 1])), "no weight suffix");
        assert!(!allows_quantization("falcon-h1", &d("blk.0.ssm_conv1d.weight", [4, 64, 1, 1])), "conv");
        assert!(!allows_quantization("bert", &d("position_embd.weight", [64, 64, 1, 1])));
        assert!(!allows_quantization("glm5-next", &d("blk.0.attn_k_b.weight", [64, 64, 1, 1])));
        assert!(allows_quantization("llama", &d("blk.0.attn_k_b.weight", [64, 64, 1, 1])));
        assert!(allows_quantization("llama", &d("abcde", [64, 64, 1, 1])), "llama.cpp's npos quirk for 5-byte names");
    }

    /// README "Tensor types per file", 90m rows: produced by llama-quantize on this shape.
    #[test]
    fn falcon_h1_90m_gets_llama_quantizes_types() {
        let tensors = falcon_h1(24, 512, 768, 768, 32768);
        let info = model(24, 8, 2);
        let q4ks = plan(FileType::Q4_K_S, &info, &tensors);
        assert_eq!(type_of(&q4ks, "token_embd.weight"), G::Q6_K);
        assert_eq!(layers_with(&q4ks, "attn_v.weight", G::Q5_K), [0, 1, 2, 3]);
        assert_eq!(layers_with(&q4ks, "ffn_down.weight", G::Q5_K), [0, 1, 2]);
        for suffix in ["attn_q.weight", "attn_k.weight", "attn_output.weight", "ssm_in.weight", "ssm_out.weight", "ffn_up.weight"] {
            assert_eq!(layers_with(&q4ks, suffix, G::Q4_K).len(), 24, "{suffix}");
        }
        let q2k = plan(FileType::Q2_K, &info, &tensors);
        assert_eq!(type_of(&q2k, "token_embd.weight"), G::Q6_K);
        assert_eq!(layers_with(&q2k, "attn_v.weight", G::Q4_K).len(), 24, "n_gqa 4");
        assert_eq!(layers_with(&q2k, "attn_output.weight", G::Q3_K).len(), 24);
        assert_eq!(layers_with(&q2k, "ffn_down.weight", G::Q3_K).len(), 24);
        assert_eq!(layers_with(&q2k, "ffn_gate.weight", G::Q2_K).len(), 24);
        for planned in [&q4ks, &q2k] {
            for (name, ty) in planned.iter() {
                let stays_f32 = name.contains("norm") || name.contains("ssm_conv1d") || name.contains("bias") || name.ends_with("ssm_a") || name.ends_with("ssm_d");
                assert_eq!(*ty == G::F32, stays_f32, "{name}");
            }
        }
    }

    #[test]
    fn medium_file_types_give_more_bits_to_the_layers_llama_cpp_picks() {
        let tensors = falcon_h1(24, 512, 768, 768, 32768);
        let info = model(24, 8, 2);
        // use_more_bits(i, 24): i < 3, i >= 21, or (i - 3) % 3 == 2.
        let more = [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23];
        for ftype in [FileType::Q4_K_M, FileType::Q5_K_M] {
            let p = plan(ftype, &info, &tensors);
            assert_eq!(layers_with(&p, "attn_v.weight", G::Q6_K), more, "{ftype:?}");
            assert_eq!(layers_with(&p, "ffn_down.weight", G::Q6_K), more, "{ftype:?}");
        }
        let q3km = plan(FileType::Q3_K_M, &info, &tensors);
        assert_eq!(layers_with(&q3km, "attn_v.weight", G::Q5_K), [0, 1]);
        assert_eq!(layers_with(&q3km, "attn_v.weight", G::Q4_K).len(), 22);
        assert_eq!(layers_with(&q3km, "ffn_down.weight", G::Q5_K), [0], "i < 24/16");
        assert_eq!(layers_with(&q3km, "ffn_down.weight", G::Q4_K).len(), 23);
        assert_eq!(layers_with(&q3km, "attn_output.weight", G::Q4_K).len(), 24);
        let q3ks = plan(FileType::Q3_K_S, &info, &tensors);
        assert_eq!(layers_with(&q3ks, "attn_v.weight", G::Q3_K).len(), 24);
        assert_eq!(layers_with(&q3ks, "ffn_down.weight", G::Q3_K).len(), 24);
        let q5ks = plan(FileType::Q5_K_S, &info, &tensors);
        assert_eq!(layers_with(&q5ks, "ffn_down.weight", G::Q5_K).len(), 24);
        let q4_0 = plan(FileType::Q4_0, &info, &tensors);
        assert_eq!(type_of(&q4_0, "token_embd.weight"), G::Q6_K, "the tied embedding always gets Q6_K");
        assert_eq!(layers_with(&q4_0, "attn_v.weight", G::Q4_0).len(), 24);
        let q8 = plan(FileType::Q8_0, &info, &tensors);
        assert_eq!(type_of(&q8, "token_embd.weight"), G::Q8_0);
        let f16 = plan(FileType::F16, &info, &tensors);
        assert_eq!(type_of(&f16, "blk.3.ffn_down.weight"), G::F16);
        assert_eq!(type_of(&f16, "blk.3.ssm_conv1d.weight"), G::F32);
    }

    /// micro rows have 64 or 128 columns: 256-blocks fall back to 32-block types.
    #[test]
    fn narrow_rows_fall_back_to_32_block_types() {
        let tensors = falcon_h1(2, 64, 128, 128, 3072);
        let info = model(2, 4, 2);
        let q4ks = plan(FileType::Q4_K_S, &info, &tensors);
        assert_eq!(type_of(&q4ks, "token_embd.weight"), G::Q8_0);
        assert_eq!(type_of(&q4ks, "blk.0.attn_v.weight"), G::Q5_1, "Q5_K -> Q5_1");
        assert_eq!(type_of(&q4ks, "blk.0.attn_q.weight"), G::Q5_0, "Q4_K -> Q5_0");
        let q6k = plan(FileType::Q6_K, &info, &tensors);
        assert_eq!(type_of(&q6k, "blk.1.ffn_up.weight"), G::Q8_0, "Q6_K -> Q8_0");
        let q2k = plan(FileType::Q2_K, &info, &tensors);
        assert_eq!(type_of(&q2k, "blk.1.ffn_down.weight"), G::Q4_0, "Q3_K -> Q4_0");
        // 48 columns fit no block type: F16.
        let odd = vec![("blk.0.attn_q.weight".to_string(), [48, 64, 1, 1])];
        assert_eq!(plan(FileType::Q4_K_M, &model(1, 4, 2), &odd)[0].1, G::F16);
        assert_eq!(plan(FileType::Q4_0, &model(1, 4, 2), &odd)[0].1, G::F16);
    }

    #[test]
    fn untied_output_and_special_models() {
        let mut tensors = falcon_h1(2, 256, 512, 512, 3072);
        tensors.push(("output.weight".to_string(), [256, 3072, 1, 1]));
        tensors.sort_by(|a, b| llama_tensor_order(&a.0, &b.0));
        let p = plan(FileType::Q4_K_S, &model(2, 4, 2), &tensors);
        assert_eq!(type_of(&p, "output.weight"), G::Q6_K);
        assert_eq!(type_of(&p, "token_embd.weight"), G::Q4_K, "an untied embedding is a plain matrix");

        let falcon = ModelInfo { arch: "falcon".into(), ..model(2, 4, 2) };
        let p = plan(FileType::Q4_K_S, &falcon, &tensors);
        assert_eq!(type_of(&p, "output.weight"), G::Q8_0, "falcon's output is Q8_0");
        assert_eq!(type_of(&p, "blk.0.ffn_down.weight"), G::Q4_K, "no Q5_K ffn_down for falcon");

        let llama_70b = ModelInfo { arch: "llama".into(), n_layer: 80, n_head: 64, n_head_kv: 8, n_expert: 0 };
        let tensors = vec![("blk.70.attn_v.weight".to_string(), [256, 256, 1, 1])];
        assert_eq!(plan(FileType::Q3_K_S, &llama_70b, &tensors)[0].1, G::Q5_K);

        let moe = ModelInfo { arch: "llama".into(), n_layer: 2, n_head: 8, n_head_kv: 8, n_expert: 8 };
        assert_eq!(plan(FileType::Q4_K_S, &moe, &tensors)[0].1, G::Q8_0, "8-expert attn_v");
        let unnumbered = [TensorDesc { name: "ffn_down.weight", ty: G::F32, ne: [256, 256, 1, 1] }];
        assert!(plan_types(FileType::Q4_K_S, &moe, &unnumbered).is_err(), "MoE ffn tensors need a layer number");
    }
}
