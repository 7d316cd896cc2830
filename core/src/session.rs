//! One conversation: [`Session::new`] carves the caller's arena at the offsets of a [`Plan`]
//! into the model's buffers (KV cache, Mamba2 conv and SSM state, the tokens fed, scratch
//! vectors, the activation-quantization buffer, the logits); the session keeps the position
//! and runs the feed loop ([`Session::feed`] one token, [`Session::feed_prompt`] batches of tokens) through
//! the model's forward pass, and returns the logits. Nothing is allocated and no weight is copied.
//!
//! The arena is bytes; each region is viewed as f32 or u16 through `bytemuck`'s checked
//! casts, so the arena must be 4-byte aligned ([`arena_from_words`] gives such a view of a
//! `u64` buffer).
#![forbid(unsafe_code)]

use crate::model::attention::KvCache;
use crate::model::{Buffers, KvCacheType, KvLayout, Model};
use crate::plan::{Plan, Region};
use crate::quant::QuantError;
use core::fmt;

/// Why a session cannot be made or cannot go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The plan was made for other hyperparameters than the model's.
    PlanMismatch,
    /// The arena is shorter than [`Plan::arena_bytes`].
    ArenaTooSmall { need: usize, have: usize },
    /// The arena does not start on a 4-byte boundary.
    ArenaMisaligned,
    /// A token id at or beyond the vocabulary size.
    TokenOutOfRange { token: u32, n_vocab: usize },
    /// Every position of the context is used; `reset` starts over.
    ContextFull { n_ctx: usize },
    /// `rewind` to a later position, on a model whose recurrent state cannot go back, or to
    /// a position whose window a sliding layer's ring no longer holds.
    CannotRewind { from: usize, to: usize },
    /// The quant layer refused a product (cannot happen with a model from
    /// `Model::from_gguf` and its own plan; reported rather than trusted). The session's
    /// state is then undefined until `reset`.
    Compute(QuantError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::PlanMismatch => f.write_str("the memory plan was made for another model"),
            SessionError::ArenaTooSmall { need, have } => {
                write!(f, "the arena has {have} bytes, the plan needs {need}")
            }
            SessionError::ArenaMisaligned => f.write_str("the arena must start on a 4-byte boundary"),
            SessionError::TokenOutOfRange { token, n_vocab } => {
                write!(f, "token id {token} is out of range (vocabulary of {n_vocab})")
            }
            SessionError::ContextFull { n_ctx } => write!(f, "the context is full ({n_ctx} tokens)"),
            SessionError::CannotRewind { from, to } if to > from => {
                write!(f, "cannot rewind from position {from} forward to {to}")
            }
            SessionError::CannotRewind { from, to } => write!(
                f,
                "cannot rewind from position {from} to {to}: the model's recurrent state, or a sliding \
                 layer's window of the cache, cannot go back that far"
            ),
            SessionError::Compute(e) => write!(f, "forward pass: {e}"),
        }
    }
}

impl From<QuantError> for SessionError {
    fn from(e: QuantError) -> Self {
        SessionError::Compute(e)
    }
}

/// A byte view of a `u64` buffer: the simplest way to get an 8-byte aligned arena
/// (`vec![0u64; plan.arena_bytes().div_ceil(8)]` on Linux, a static array on bare metal).
pub fn arena_from_words(words: &mut [u64]) -> &mut [u8] {
    bytemuck::cast_slice_mut(words)
}

/// Takes the plan's regions off the front of the arena, in order.
struct Carver<'a> {
    rest: &'a mut [u8],
    at: usize,
}

impl<'a> Carver<'a> {
    fn bytes(&mut self, r: Region) -> Result<&'a mut [u8], SessionError> {
        let too_small = SessionError::ArenaTooSmall { need: r.end(), have: self.at + self.rest.len() };
        let skip = r.offset.checked_sub(self.at).ok_or(too_small)?;
        let rest = core::mem::take(&mut self.rest);
        if skip.checked_add(r.bytes).is_none_or(|n| rest.len() < n) {
            return Err(too_small);
        }
        let (_, rest) = rest.split_at_mut(skip);
        let (region, rest) = rest.split_at_mut(r.bytes);
        self.rest = rest;
        self.at = r.end();
        Ok(region)
    }

    fn f32s(&mut self, r: Region) -> Result<&'a mut [f32], SessionError> {
        bytemuck::try_cast_slice_mut(self.bytes(r)?).map_err(|_| SessionError::ArenaMisaligned)
    }

    fn u16s(&mut self, r: Region) -> Result<&'a mut [u16], SessionError> {
        bytemuck::try_cast_slice_mut(self.bytes(r)?).map_err(|_| SessionError::ArenaMisaligned)
    }

    fn u32s(&mut self, r: Region) -> Result<&'a mut [u32], SessionError> {
        bytemuck::try_cast_slice_mut(self.bytes(r)?).map_err(|_| SessionError::ArenaMisaligned)
    }
}

/// A conversation with a model: its position, the tokens fed and every buffer, in a
/// caller's arena. (`crate::state` saves and restores it.)
pub struct Session<'m, 'a> {
    pub(crate) model: &'m Model<'m>,
    pub(crate) n_ctx: usize,
    /// Positions each layer's cache holds (rings for sliding layers).
    pub(crate) kv_layout: KvLayout,
    /// Every layer still holds every position from here to `position` (a ring overwrote
    /// the ones before): how far back `rewind` may go.
    pub(crate) kept_from: usize,
    ubatch: usize,
    pub(crate) position: usize,
    /// The token fed at each position (`[..position]` are valid).
    pub(crate) tokens: &'a mut [u32],
    /// Whether `buf.logits` predict the token after `position` (false when new, after a
    /// reset or a rewind).
    pub(crate) logits_valid: bool,
    pub(crate) buf: Buffers<'a>,
}

impl<'m, 'a> Session<'m, 'a> {
    /// Carves `arena` by `plan` (made with `Plan::new(&model.hparams, ...)`) and starts an
    /// empty conversation. The arena needs at least `plan.arena_bytes()` bytes, 4-byte
    /// aligned; bytes beyond that are not used.
    ///
    /// Errors: `PlanMismatch`, `ArenaTooSmall`, `ArenaMisaligned`.
    pub fn new(model: &'m Model<'m>, plan: &Plan, arena: &'a mut [u8]) -> Result<Self, SessionError> {
        if plan.hparams != model.hparams {
            return Err(SessionError::PlanMismatch);
        }
        if arena.len() < plan.arena_bytes() {
            return Err(SessionError::ArenaTooSmall { need: plan.arena_bytes(), have: arena.len() });
        }
        if !(arena.as_ptr() as usize).is_multiple_of(4) {
            return Err(SessionError::ArenaMisaligned);
        }
        let mut c = Carver { rest: arena, at: 0 };
        let kv = match plan.kv_type {
            KvCacheType::F32 => KvCache::F32 { keys: c.f32s(plan.kv_keys)?, values: c.f32s(plan.kv_values)? },
            KvCacheType::F16 => KvCache::F16 { keys: c.u16s(plan.kv_keys)?, values: c.u16s(plan.kv_values)? },
        };
        let conv_state = c.f32s(plan.conv_state)?;
        let ssm_state = c.f32s(plan.ssm_state)?;
        let tokens = c.u32s(plan.tokens)?;
        let buf = Buffers {
            kv,
            conv_state,
            ssm_state,
            hidden: c.f32s(plan.hidden)?,
            normed: c.f32s(plan.normed)?,
            queries: c.f32s(plan.queries)?,
            new_key: c.f32s(plan.new_key)?,
            new_value: c.f32s(plan.new_value)?,
            head_outputs: c.f32s(plan.head_outputs)?,
            scores: c.f32s(plan.scores)?,
            ssm_projection: c.f32s(plan.ssm_projection)?,
            block_output: c.f32s(plan.block_output)?,
            mixer_output: c.f32s(plan.mixer_output)?,
            ffn_gate: c.f32s(plan.ffn_gate)?,
            ffn_up: c.f32s(plan.ffn_up)?,
            rope_angles: c.f32s(plan.rope_angles)?,
            activation_quant: c.bytes(plan.activation_quant)?,
            logits: c.f32s(plan.logits)?,
        };
        let mut s = Session {
            model,
            n_ctx: plan.n_ctx,
            kv_layout: plan.kv_layout,
            kept_from: 0,
            ubatch: plan.ubatch.max(1),
            position: 0,
            tokens,
            logits_valid: false,
            buf,
        };
        s.reset();
        Ok(s)
    }

    /// Feeds the token at the current position and returns the logits that predict the
    /// next one (`n_vocab` values, valid until the next call).
    ///
    /// Errors: `TokenOutOfRange`; `ContextFull` when every position is used (the state is
    /// unchanged); `Compute` if the quant layer refuses a product.
    pub fn feed(&mut self, token: u32) -> Result<&[f32], SessionError> {
        self.forward(&[token], true)?;
        Ok(self.buf.logits)
    }

    /// Feeds a prompt in batches of up to the plan's `ubatch` tokens (each matrix product
    /// runs on a whole batch, `kernels::matmul`), the LM head only for the last token (the predictions inside a prompt are
    /// never read, and the LM head is a fifth of a small model's work). Returns the last
    /// token's logits (the current ones if `tokens` is empty): the same bits as feeding the
    /// tokens one at a time.
    ///
    /// Errors: `TokenOutOfRange` and `ContextFull` (when the prompt does not fit) are found
    /// before anything is fed, so the state is then unchanged; `Compute` as for [`feed`].
    ///
    /// [`feed`]: Session::feed
    pub fn feed_prompt(&mut self, tokens: &[u32]) -> Result<&[f32], SessionError> {
        self.check_fits(tokens)?;
        let mut batches = tokens.chunks(self.ubatch).peekable();
        while let Some(batch) = batches.next() {
            self.forward(batch, batches.peek().is_none())?;
        }
        Ok(self.buf.logits)
    }

    /// Refuses, before anything runs, more tokens than the context has left, then a token
    /// beyond the vocabulary.
    fn check_fits(&self, tokens: &[u32]) -> Result<(), SessionError> {
        if tokens.len() > self.n_ctx - self.position {
            return Err(SessionError::ContextFull { n_ctx: self.n_ctx });
        }
        let n_vocab = self.model.hparams.n_vocab;
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(SessionError::TokenOutOfRange { token, n_vocab });
        }
        Ok(())
    }

    /// The forward pass for a batch (at most `ubatch` tokens) from the current position; the
    /// LM head, for its last token, only `with_logits`.
    fn forward(&mut self, tokens: &[u32], with_logits: bool) -> Result<(), SessionError> {
        self.check_fits(tokens)?;
        if tokens.len() > self.ubatch {
            return Err(SessionError::Compute(QuantError::BadLength { expected: self.ubatch, actual: tokens.len() }));
        }
        // Mark the logits stale first: a failed pass leaves them half written.
        self.logits_valid = false;
        self.model.forward(tokens, self.position, self.kv_layout, &mut self.buf, with_logits)?;
        self.tokens[self.position..self.position + tokens.len()].copy_from_slice(tokens);
        self.position += tokens.len();
        let slots = self.kv_layout.min_slots(&self.model.hparams);
        self.kept_from = self.kept_from.max(self.position.saturating_sub(slots));
        self.logits_valid = with_logits;
        Ok(())
    }

    /// Tokens fed so far (the position of the next one).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Positions this session holds.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// The model this session runs.
    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    /// The type of its KV cache.
    pub fn kv_type(&self) -> KvCacheType {
        match self.buf.kv {
            KvCache::F32 { .. } => KvCacheType::F32,
            KvCache::F16 { .. } => KvCacheType::F16,
        }
    }

    /// The tokens fed so far, one per position.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens[..self.position]
    }

    /// Whether [`logits`](Session::logits) predict the next token (false before the first
    /// feed, after [`reset`](Session::reset) and after [`rewind`](Session::rewind)).
    pub fn has_logits(&self) -> bool {
        self.logits_valid
    }

    /// Whether the model's state can go back to an earlier position: true for attention-only
    /// models (the cache rows beyond the position are simply never read), false for hybrid
    /// ones, whose recurrent Mamba2 state holds every token seen and cannot be undone.
    pub fn can_rewind(&self) -> bool {
        self.model.hparams.ssm.is_none()
    }

    /// Goes back to `position` (at most the current one), as if only the first `position`
    /// tokens had been fed. The logits are then stale: feed a token before sampling.
    ///
    /// Errors: `CannotRewind` for a model with recurrent state (see
    /// [`can_rewind`](Session::can_rewind)) unless `position` is the current one; also when a
    /// sliding layer's ring no longer holds the window before `position` (once the ring has
    /// wrapped, only the last position can be fed again; a plan with `swa_full` always can).
    pub fn rewind(&mut self, position: usize) -> Result<(), SessionError> {
        if position == self.position {
            return Ok(());
        }
        if position > self.position || !self.can_rewind() || !self.holds_window_of(position) {
            return Err(SessionError::CannotRewind { from: self.position, to: position });
        }
        self.position = position;
        self.logits_valid = false;
        Ok(())
    }

    /// Keeps the longest part of the state that `prompt` begins with, so that only the rest
    /// needs feeding, and returns how many of its tokens are kept. The last prompt token is
    /// left to feed (its logits start the answer) unless the logits already follow it.
    /// `None`: the state holds tokens the prompt does not continue and cannot be rewound (a
    /// recurrent model, or a sliding-window ring that no longer holds the positions before
    /// that point); nothing is changed, and the caller starts over with
    /// [`reset`](Session::reset).
    pub fn keep_prefix_of(&mut self, prompt: &[u32]) -> Option<usize> {
        let held = self.tokens();
        let common = held.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        if common == held.len() && (common < prompt.len() || self.logits_valid) {
            return Some(common);
        }
        let keep = common.min(prompt.len().saturating_sub(1));
        self.rewind(keep).ok().map(|()| keep)
    }

    /// Whether every layer still holds the positions a token fed at `position` attends to
    /// (a sliding layer: the `window - 1` before it).
    fn holds_window_of(&self, position: usize) -> bool {
        match self.model.hparams.swa {
            Some(w) => (position + 1).saturating_sub(w.window) >= self.kept_from,
            None => true,
        }
    }

    /// Most tokens [`feed_prompt`](Session::feed_prompt) runs in one batch.
    pub fn ubatch(&self) -> usize {
        self.ubatch
    }

    /// The logits of the last token fed by [`feed`](Session::feed) or ending a
    /// [`feed_prompt`](Session::feed_prompt) (zeros before the first).
    pub fn logits(&self) -> &[f32] {
        self.buf.logits
    }

    /// Starts a new conversation: position 0, zero Mamba2 state (cached keys and values
    /// beyond the position are never read, so they need no clearing).
    pub fn reset(&mut self) {
        self.position = 0;
        self.kept_from = 0;
        self.logits_valid = false;
        self.buf.conv_state.fill(0.0);
        self.buf.ssm_state.fill(0.0);
        self.buf.logits.fill(0.0);
    }
}
