//! The forward pass's memory, as the layers see it: slices of the caller's arena, sized by
//! `plan::Plan` and carved by `session::Session`. The layers only read and write them; they
//! never learn where they came from.
#![forbid(unsafe_code)]

use super::attention::KvCache;

/// Every buffer of the forward pass: the state that lasts a conversation (the KV cache, the
/// Mamba2 conv and SSM state) and the scratch of a batch (`Plan::ubatch` rows), each a region of the plan that
/// `Session::new` carved from the arena.
pub(crate) struct Buffers<'a> {
    pub(crate) kv: KvCache<'a>,
    /// Every layer's conv state, `[layer][Cd][K-1]`.
    pub(crate) conv_state: &'a mut [f32],
    /// Every layer's SSM state, `[layer][Hs][Ps][N]`.
    pub(crate) ssm_state: &'a mut [f32],
    pub(crate) hidden: &'a mut [f32],
    pub(crate) normed: &'a mut [f32],
    pub(crate) queries: &'a mut [f32],
    pub(crate) new_key: &'a mut [f32],
    pub(crate) new_value: &'a mut [f32],
    pub(crate) head_outputs: &'a mut [f32],
    pub(crate) scores: &'a mut [f32],
    pub(crate) ssm_projection: &'a mut [f32],
    pub(crate) block_output: &'a mut [f32],
    pub(crate) mixer_output: &'a mut [f32],
    pub(crate) ffn_gate: &'a mut [f32],
    pub(crate) ffn_up: &'a mut [f32],
    pub(crate) rope_angles: &'a mut [f32],
    pub(crate) activation_quant: &'a mut [u8],
    pub(crate) logits: &'a mut [f32],
}
