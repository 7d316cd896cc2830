//! A session's state as bytes: save a conversation, restore it later (or on another run)
//! and go on exactly as if its tokens had been fed again. The format (`docs/state-format.md`)
//! is versioned, bound to its model (architecture, shape, KV type and a [`Fingerprint`] of
//! the file) and closed by a CRC-32 of every byte before it.
//!
//! It holds only what the next token depends on: the tokens fed, the KV rows up to the
//! position, the Mamba2 conv and SSM state, the last logits, and the caller's own notes
//! (the shim keeps its chat turns there). Everything goes through `embedded-io`
//! (`&[u8]` and `&mut [u8]` are readers and writers, so a static buffer serves bare metal).
//!
//! [`Session::restore`] reads straight into the session, so a state found bad half way
//! leaves the session empty; [`check`] reads a state without touching any session, for a
//! caller who must keep the current conversation when a file is bad.
#![forbid(unsafe_code)]

use crate::gguf;
use crate::model::attention::KvCache;
use crate::model::{Architecture, HParams, KvCacheType, KvLayout};
use crate::session::Session;
use core::fmt;
use embedded_io::{Read, Write};

/// The first bytes of every state.
pub const MAGIC: [u8; 8] = *b"ARMLETst";
/// The format this code writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the fixed header (magic to notes length).
pub const HEADER_BYTES: usize = 8 + 8 + 4 * 18;

/// Weight samples taken for a [`Fingerprint`], and bytes per sample.
const SAMPLES: u64 = 64;
const SAMPLE_BYTES: u64 = 64;

/// Identifies a model file cheaply: its length, a CRC-32 of everything before the tensor
/// data (metadata and tensor infos: names, types, shapes, offsets) and a CRC-32 of 64
/// samples of 64 bytes spread evenly over the weights. About 2 MB of CRC for a small
/// model's header, however large its weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub file_bytes: u64,
    pub header_crc: u32,
    pub weights_crc: u32,
}

impl Fingerprint {
    pub fn of(file: &gguf::File<'_>) -> Fingerprint {
        let bytes = file.bytes();
        let (header, data) = bytes.split_at(file.data_offset().min(bytes.len()));
        let mut weights = crc32fast::Hasher::new();
        let len = data.len() as u64;
        for i in 0..SAMPLES {
            // Evenly from the first byte to the last sample's start (u64: no 32-bit overflow).
            let start = len.saturating_sub(SAMPLE_BYTES) * i / (SAMPLES - 1);
            let end = (start + SAMPLE_BYTES).min(len);
            weights.update(data.get(start as usize..end as usize).unwrap_or(&[]));
        }
        Fingerprint { file_bytes: bytes.len() as u64, header_crc: crc32fast::hash(header), weights_crc: weights.finalize() }
    }
}

/// Why a state cannot be written or read. `E` is the writer's or reader's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError<E> {
    /// The writer or reader failed.
    Io(E),
    /// The bytes end at `at`, before the state does.
    Truncated { at: u64 },
    /// The first bytes are not [`MAGIC`]: not an armlet state.
    NotAState,
    /// A state of a format this code does not read.
    UnknownVersion { version: u32 },
    /// Made by a model of another architecture (`saved` is the stored code).
    OtherArchitecture { saved: u32, have: &'static str },
    /// Made by a model of another shape: the hyperparameter `what` differs.
    OtherShape { what: &'static str, saved: u32, have: u32 },
    /// Made with another KV cache type (`saved` is the stored code: 0 f32, 1 f16).
    OtherKvType { saved: u32, have: KvCacheType },
    /// Same shape, but made by another model file (its fingerprint differs).
    OtherFile,
    /// The state holds `need` positions; the session has room for `have`.
    ContextTooSmall { need: usize, have: usize },
    /// The caller's notes buffer holds `room` bytes; the state's notes are `len`.
    NotesTooLarge { len: usize, room: usize },
    /// A field holds an impossible value.
    Corrupt { what: &'static str },
    /// The CRC-32 of the bytes read differs from the stored one.
    Checksum { stored: u32, computed: u32 },
    /// Bytes follow the end of the state.
    TrailingBytes,
}

impl<E: fmt::Debug> fmt::Display for StateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io(e) => write!(f, "i/o error: {e:?}"),
            StateError::Truncated { at } => write!(f, "truncated: it ends at byte {at}, inside the state"),
            StateError::NotAState => f.write_str("not an armlet state file"),
            StateError::UnknownVersion { version } => {
                write!(f, "state format version {version}; this armlet reads version {VERSION}")
            }
            StateError::OtherArchitecture { saved, have } => {
                write!(f, "made by a model of another architecture ({}), not {have}", arch_name(*saved))
            }
            StateError::OtherShape { what, saved, have } => {
                write!(f, "made by a model of another shape: {what} {saved}, this model has {have}")
            }
            StateError::OtherKvType { saved, have } => write!(
                f,
                "made with a {} KV cache, this run uses {} (see --cache-type-k)",
                kv_name(*saved),
                have.name()
            ),
            StateError::OtherFile => f.write_str("made by another model file (its fingerprint differs)"),
            StateError::ContextTooSmall { need, have } => {
                write!(f, "it holds {need} positions, the context has {have} (see -c)")
            }
            StateError::NotesTooLarge { len, room } => {
                write!(f, "its notes are {len} bytes, the buffer for them {room}")
            }
            StateError::Corrupt { what } => write!(f, "corrupt: {what}"),
            StateError::Checksum { stored, computed } => {
                write!(f, "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is damaged")
            }
            StateError::TrailingBytes => f.write_str("bytes follow the end of the state"),
        }
    }
}

fn arch_code(a: Architecture) -> u32 {
    match a {
        Architecture::FalconH1 => 1,
        Architecture::Llama => 2,
        Architecture::Gemma3 => 3,
    }
}

fn arch_name(code: u32) -> &'static str {
    match code {
        1 => Architecture::FalconH1.name(),
        2 => Architecture::Llama.name(),
        3 => Architecture::Gemma3.name(),
        _ => "unknown",
    }
}

fn kv_code(kv: KvCacheType) -> u32 {
    match kv {
        KvCacheType::F32 => 0,
        KvCacheType::F16 => 1,
    }
}

fn kv_name(code: u32) -> &'static str {
    match code {
        0 => "f32",
        1 => "f16",
        _ => "unknown",
    }
}

/// The hyperparameters a state is bound to, in header order, with their names for errors.
fn shape(h: &HParams) -> [(&'static str, usize); 9] {
    let (conv, ssm) = h.ssm.map_or((0, 0), |s| (s.conv_state_len(), s.ssm_state_len()));
    [
        ("n_vocab", h.n_vocab),
        ("n_embd", h.n_embd),
        ("n_layer", h.n_layer),
        ("n_head", h.n_head),
        ("n_head_kv", h.n_head_kv),
        ("head_dim", h.head_dim),
        ("n_ff", h.n_ff),
        ("Mamba2 conv state per layer", conv),
        ("Mamba2 SSM state per layer", ssm),
    ]
}

/// What a state's header says, once it has been checked against a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Positions the state holds (tokens fed).
    pub position: usize,
    /// Whether it carries the logits that predict the next token.
    pub has_logits: bool,
    /// Bytes of the caller's notes.
    pub notes_len: usize,
    /// The context of the session that saved it (any session with `position` positions
    /// can restore it).
    pub saved_n_ctx: usize,
    /// Whether it holds every position of every layer: saved by a session whose
    /// sliding-window layers keep every position (`swa_full`); otherwise a sliding layer holds
    /// only the window before `position`.
    pub all_positions: bool,
}

/// The model side of a check: what a state must match.
struct Binding<'h> {
    hparams: &'h HParams,
    kv: KvCacheType,
    fingerprint: &'h Fingerprint,
    n_ctx: usize,
}

/// Body bytes after the header of `s`: notes, tokens, logits, KV rows, Mamba2 state.
fn body_bytes(h: &HParams, kv: KvCacheType, s: &Summary) -> u64 {
    let (conv, ssm) = h.ssm.map_or((0, 0), |m| (m.conv_state_len() as u64, m.ssm_state_len() as u64));
    let logits = if s.has_logits { h.n_vocab as u64 * 4 } else { 0 };
    let rows: u64 = (0..h.n_layer).map(|l| (s.position - first_kept(h, l, s)) as u64).sum();
    let kv = 2 * rows * (h.kv_dim() as u64) * kv.bytes() as u64;
    s.notes_len as u64 + s.position as u64 * 4 + logits + kv + (h.n_layer as u64) * (conv + ssm) * 4
}

/// The first position of layer `l` the state `s` holds: 0, or on a sliding layer (unless
/// the state holds every position) the first of the `window - 1` positions the next token
/// attends to besides itself (the others may already be overwritten in a ring).
fn first_kept(h: &HParams, l: usize, s: &Summary) -> usize {
    match h.window(l) {
        Some(w) if !s.all_positions => s.position.saturating_sub(w.saturating_sub(1)),
        _ => 0,
    }
}

/// The cache ranges (in values) of the rows the state `s` holds, layer by layer, oldest
/// position first. Restored in this order into a ring, a later position overwrites an
/// earlier one in its slot, so the ring ends holding the last positions, as if fed.
fn kept_rows<'h>(
    h: &'h HParams,
    layout: KvLayout,
    s: &'h Summary,
) -> impl Iterator<Item = core::ops::Range<usize>> + 'h {
    let (kvd, position) = (h.kv_dim(), s.position);
    (0..h.n_layer).flat_map(move |l| {
        let (offset, slots) = (layout.offset(h, l).unwrap_or(0), layout.slots(h, l).max(1));
        (first_kept(h, l, s)..position).map(move |j| {
            let at = (offset + j % slots) * kvd;
            at..at + kvd
        })
    })
}

/// Reads token ids, refusing any beyond the vocabulary.
fn read_tokens<R: Read>(r: &mut CrcReader<R>, n_vocab: usize, into: &mut [u32]) -> Result<(), StateError<R::Error>> {
    r.words(into)?;
    if into.iter().any(|&t| t as usize >= n_vocab) {
        return Err(StateError::Corrupt { what: "a token id beyond the vocabulary" });
    }
    Ok(())
}

impl Binding<'_> {
    fn read_header<R: Read>(&self, r: &mut CrcReader<R>) -> Result<Summary, StateError<R::Error>> {
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if magic != MAGIC {
            return Err(StateError::NotAState);
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(StateError::UnknownVersion { version });
        }
        let h = self.hparams;
        let arch = r.u32()?;
        if arch != arch_code(h.arch) {
            return Err(StateError::OtherArchitecture { saved: arch, have: h.arch.name() });
        }
        for (what, have) in shape(h) {
            let saved = r.u32()?;
            if saved as usize != have {
                return Err(StateError::OtherShape { what, saved, have: have as u32 });
            }
        }
        let kv = r.u32()?;
        if kv != kv_code(self.kv) {
            return Err(StateError::OtherKvType { saved: kv, have: self.kv });
        }
        let fp = Fingerprint { file_bytes: r.u64()?, header_crc: r.u32()?, weights_crc: r.u32()? };
        if fp != *self.fingerprint {
            return Err(StateError::OtherFile);
        }
        let saved_n_ctx = r.u32()? as usize;
        let position = r.u32()? as usize;
        let flags = r.u32()?;
        let notes_len = r.u32()? as usize;
        if flags > 3 {
            return Err(StateError::Corrupt { what: "unknown flags" });
        }
        if position > saved_n_ctx {
            return Err(StateError::Corrupt { what: "a position beyond its own context" });
        }
        if position > self.n_ctx {
            return Err(StateError::ContextTooSmall { need: position, have: self.n_ctx });
        }
        Ok(Summary { position, has_logits: flags & 1 != 0, notes_len, saved_n_ctx, all_positions: flags & 2 != 0 })
    }
}

/// Reads `r` to its end and checks it is a whole, undamaged state for this model, KV type
/// and a session of `n_ctx` positions, without touching any session.
///
/// Errors: every [`StateError`] but `NotesTooLarge`.
pub fn check<R: Read>(
    hparams: &HParams,
    kv: KvCacheType,
    fingerprint: &Fingerprint,
    n_ctx: usize,
    r: R,
) -> Result<Summary, StateError<R::Error>> {
    let bind = Binding { hparams, kv, fingerprint, n_ctx };
    let mut r = CrcReader::new(r);
    let summary = bind.read_header(&mut r)?;
    let mut skip = [0u8; 256];
    let mut notes_left = summary.notes_len;
    while notes_left > 0 {
        let n = notes_left.min(skip.len());
        r.read_exact(&mut skip[..n])?;
        notes_left -= n;
    }
    let mut tokens = [0u32; 64];
    let mut tokens_left = summary.position;
    while tokens_left > 0 {
        let n = tokens_left.min(tokens.len());
        read_tokens(&mut r, hparams.n_vocab, &mut tokens[..n])?;
        tokens_left -= n;
    }
    let mut rest = body_bytes(hparams, kv, &summary) - summary.notes_len as u64 - summary.position as u64 * 4;
    while rest > 0 {
        let n = rest.min(skip.len() as u64) as usize;
        r.read_exact(&mut skip[..n])?;
        rest -= n as u64;
    }
    r.finish()?;
    Ok(summary)
}

impl Session<'_, '_> {
    /// Bytes [`save`](Session::save) writes with `notes_len` bytes of notes.
    pub fn state_bytes(&self, notes_len: usize) -> u64 {
        let summary = self.summary(notes_len);
        HEADER_BYTES as u64 + body_bytes(&self.model.hparams, self.kv_type(), &summary) + 4
    }

    /// What [`save`](Session::save) writes in the header: a session whose sliding layers
    /// keep every position (`swa_full`, and not already restored with less) saves them all.
    fn summary(&self, notes_len: usize) -> Summary {
        Summary {
            position: self.position,
            has_logits: self.logits_valid,
            notes_len,
            saved_n_ctx: self.n_ctx,
            all_positions: self.model.hparams.swa.is_some() && self.kv_layout.swa_full && self.kept_from == 0,
        }
    }

    fn binding<'f>(&'f self, fingerprint: &'f Fingerprint) -> Binding<'f> {
        Binding { hparams: &self.model.hparams, kv: self.kv_type(), fingerprint, n_ctx: self.n_ctx }
    }

    /// Writes the state (see the module doc), bound to the model file of `fingerprint`
    /// (`Fingerprint::of` the file the model came from), with the caller's `notes`.
    ///
    /// Errors: `Io` when the writer fails; `Corrupt` for notes beyond 4 GiB.
    pub fn save<W: Write>(&self, fingerprint: &Fingerprint, notes: &[u8], w: W) -> Result<(), StateError<W::Error>> {
        let notes_len = u32::try_from(notes.len()).map_err(|_| StateError::Corrupt { what: "notes beyond 4 GiB" })?;
        let h = &self.model.hparams;
        let mut w = CrcWriter { w, hasher: crc32fast::Hasher::new() };
        w.put(&MAGIC)?;
        w.u32(VERSION)?;
        w.u32(arch_code(h.arch))?;
        for (_, v) in shape(h) {
            w.u32(v as u32)?;
        }
        w.u32(kv_code(self.kv_type()))?;
        w.u64(fingerprint.file_bytes)?;
        w.u32(fingerprint.header_crc)?;
        w.u32(fingerprint.weights_crc)?;
        w.u32(self.n_ctx as u32)?;
        let summary = self.summary(notes.len());
        w.u32(self.position as u32)?;
        w.u32(u32::from(self.logits_valid) | u32::from(summary.all_positions) << 1)?;
        w.u32(notes_len)?;
        w.put(notes)?;
        w.words(&self.tokens[..self.position])?;
        if self.logits_valid {
            w.words(self.buf.logits)?;
        }
        let rows = || kept_rows(h, self.kv_layout, &summary);
        match &self.buf.kv {
            KvCache::F32 { keys, values } => {
                for r in rows().map(|r| keys.get(r)).chain(rows().map(|r| values.get(r))) {
                    w.words(r.ok_or(StateError::Corrupt { what: "a cache row beyond the session's cache" })?)?;
                }
            }
            KvCache::F16 { keys, values } => {
                for r in rows().map(|r| keys.get(r)).chain(rows().map(|r| values.get(r))) {
                    w.words(r.ok_or(StateError::Corrupt { what: "a cache row beyond the session's cache" })?)?;
                }
            }
        }
        w.words(self.buf.conv_state)?;
        w.words(self.buf.ssm_state)?;
        let crc = w.hasher.clone().finalize();
        w.u32(crc)?;
        w.w.flush().map_err(StateError::Io)
    }

    /// Restores a state written by [`save`](Session::save) for this model file, KV type
    /// and at most this many positions (any ubatch), reading `r` to its end, and copies its
    /// notes into the front of `notes`. Returns the state's [`Summary`]; its notes are
    /// `notes[..summary.notes_len]`. The session then continues exactly as if its tokens
    /// had been fed.
    ///
    /// A header that does not match leaves the session as it was; an error found later
    /// (a damaged or truncated body) leaves it empty, as after [`reset`](Session::reset).
    /// [`check`] first keeps the conversation whatever the file holds.
    ///
    /// Errors: every [`StateError`].
    pub fn restore<R: Read>(
        &mut self,
        fingerprint: &Fingerprint,
        r: R,
        notes: &mut [u8],
    ) -> Result<Summary, StateError<R::Error>> {
        let mut r = CrcReader::new(r);
        let summary = self.binding(fingerprint).read_header(&mut r)?;
        let room = notes.len();
        let notes = notes.get_mut(..summary.notes_len).ok_or(StateError::NotesTooLarge { len: summary.notes_len, room })?;
        match self.read_body(&mut r, &summary, notes) {
            Ok(()) => {
                self.position = summary.position;
                // A sliding layer got back only the window before the position, or its ring
                // kept only its last slots.
                let h = &self.model.hparams;
                let held = (0..h.n_layer).map(|l| first_kept(h, l, &summary)).max().unwrap_or(0);
                self.kept_from = held.max(summary.position.saturating_sub(self.kv_layout.min_slots(h)));
                self.logits_valid = summary.has_logits;
                Ok(summary)
            }
            Err(e) => {
                self.reset();
                Err(e)
            }
        }
    }

    fn read_body<R: Read>(
        &mut self,
        r: &mut CrcReader<R>,
        s: &Summary,
        notes: &mut [u8],
    ) -> Result<(), StateError<R::Error>> {
        let (hparams, layout) = (self.model.hparams, self.kv_layout);
        r.read_exact(notes)?;
        read_tokens(r, hparams.n_vocab, &mut self.tokens[..s.position])?;
        if s.has_logits {
            r.words(self.buf.logits)?;
        }
        match &mut self.buf.kv {
            KvCache::F32 { keys, values } => {
                for cache in [keys, values] {
                    for rows in kept_rows(&hparams, layout, s) {
                        let row = cache
                            .get_mut(rows)
                            .ok_or(StateError::Corrupt { what: "a cache row beyond the session's cache" })?;
                        r.words(row)?;
                    }
                }
            }
            KvCache::F16 { keys, values } => {
                for cache in [keys, values] {
                    for rows in kept_rows(&hparams, layout, s) {
                        let row = cache
                            .get_mut(rows)
                            .ok_or(StateError::Corrupt { what: "a cache row beyond the session's cache" })?;
                        r.words(row)?;
                    }
                }
            }
        }
        r.words(self.buf.conv_state)?;
        r.words(self.buf.ssm_state)?;
        r.finish()
    }
}

/// A value stored as its little-endian bytes.
trait Word: Copy {
    const BYTES: usize;
    fn put(self, out: &mut [u8]);
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! word {
    ($t:ty, $n:literal) => {
        impl Word for $t {
            const BYTES: usize = $n;
            fn put(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                let mut b = [0u8; $n];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
        }
    };
}
word!(u16, 2);
word!(u32, 4);
word!(f32, 4);

/// Bytes staged per write or read of a slice of words.
const STAGE: usize = 512;

/// A writer that keeps the CRC-32 of everything written.
struct CrcWriter<W> {
    w: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), StateError<W::Error>> {
        self.hasher.update(bytes);
        self.w.write_all(bytes).map_err(StateError::Io)
    }

    fn u32(&mut self, v: u32) -> Result<(), StateError<W::Error>> {
        self.put(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> Result<(), StateError<W::Error>> {
        self.put(&v.to_le_bytes())
    }

    fn words<T: Word>(&mut self, values: &[T]) -> Result<(), StateError<W::Error>> {
        let mut stage = [0u8; STAGE];
        for chunk in values.chunks(STAGE / T::BYTES) {
            let bytes = &mut stage[..chunk.len() * T::BYTES];
            for (v, out) in chunk.iter().zip(bytes.chunks_exact_mut(T::BYTES)) {
                v.put(out);
            }
            self.put(bytes)?;
        }
        Ok(())
    }
}

/// A reader that keeps the CRC-32 of everything read and where it is.
struct CrcReader<R> {
    r: R,
    hasher: crc32fast::Hasher,
    at: u64,
}

impl<R: Read> CrcReader<R> {
    fn new(r: R) -> Self {
        CrcReader { r, hasher: crc32fast::Hasher::new(), at: 0 }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), StateError<R::Error>> {
        let mut done = 0;
        while done < buf.len() {
            match self.r.read(&mut buf[done..]) {
                Ok(0) => return Err(StateError::Truncated { at: self.at + done as u64 }),
                Ok(n) => done += n,
                Err(e) => return Err(StateError::Io(e)),
            }
        }
        self.hasher.update(buf);
        self.at += buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, StateError<R::Error>> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, StateError<R::Error>> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn words<T: Word>(&mut self, into: &mut [T]) -> Result<(), StateError<R::Error>> {
        let mut stage = [0u8; STAGE];
        for chunk in into.chunks_mut(STAGE / T::BYTES) {
            let bytes = &mut stage[..chunk.len() * T::BYTES];
            self.read_exact(bytes)?;
            for (v, b) in chunk.iter_mut().zip(bytes.chunks_exact(T::BYTES)) {
                *v = T::get(b);
            }
        }
        Ok(())
    }

    /// Reads the stored CRC-32, compares it with the bytes read, and checks nothing follows.
    fn finish(&mut self) -> Result<(), StateError<R::Error>> {
        let computed = self.hasher.clone().finalize();
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        let stored = u32::from_le_bytes(b);
        if stored != computed {
            return Err(StateError::Checksum { stored, computed });
        }
        let mut more = [0u8; 1];
        match self.r.read(&mut more) {
            Ok(0) => Ok(()),
            Ok(_) => Err(StateError::TrailingBytes),
            Err(e) => Err(StateError::Io(e)),
        }
    }
}

