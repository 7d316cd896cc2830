//! Building a [`Tokenizer`] from a GGUF file's `tokenizer.*` metadata into the caller's
//! arena: what llama.cpp's `llama_vocab::impl::load` derives (model and pre-tokenizer type,
//! token attributes including the ones it adds by token text, BOS/EOS and their add_* rules,
//! the end-of-generation set, the special-token list, the piece of every token) and the
//! hash tables for text -> token and merge pair -> rank. Token and merge texts are not
//! copied: the tables hold offsets into the file's bytes.

use core::cell::RefCell;

use super::pretokenize::Stage;
use super::table::{fnv_step, slot_count, Words, WordsMut, FNV_OFFSET};
use super::unicode::{codepoint_to_byte, decode, encode};
use super::TextError;
use crate::gguf::{Array, File, Value, ValueType};

/// Token attributes (llama.cpp's `llama_token_attr` bits that tokenization looks at).
pub(crate) mod attr {
    pub const UNKNOWN: u8 = 1 << 0;
    pub const UNUSED: u8 = 1 << 1;
    pub const NORMAL: u8 = 1 << 2;
    pub const CONTROL: u8 = 1 << 3;
    pub const USER_DEFINED: u8 = 1 << 4;
    pub const BYTE: u8 = 1 << 5;
    /// Tokens matched in raw text before pre-tokenization.
    pub const SPECIAL: u8 = CONTROL | USER_DEFINED | UNKNOWN;
}

/// Fragments (raw text between special tokens) up to this many bytes are tokenized with
/// the working memory that [`Tokenizer::arena_bytes`] includes.
pub const DEFAULT_MAX_FRAGMENT_BYTES: usize = 4096;

/// Most end-of-generation tokens (llama.cpp's rules yield at most 28).
const MAX_EOG: usize = 32;

/// The two vocabulary models armlet tokenizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabModel {
    /// `tokenizer.ggml.model = gpt2`: byte-level BPE with a regex pre-tokenizer.
    BytePairGpt2,
    /// `tokenizer.ggml.model = llama`: SentencePiece with scores and `<0xXX>` byte fallback.
    SentencePiece,
}

/// Behaviour that `tokenizer.ggml.pre` selects.
#[derive(Clone, Copy, Debug)]
struct PreConfig {
    stages: &'static [Stage],
    clean_spaces: bool,
    ignore_merges: bool,
    add_bos: bool,
}

const GPT2: &[Stage] = &[Stage::Gpt2];
const LLAMA3: &[Stage] = &[Stage::Llama3];
const QWEN2: &[Stage] = &[Stage::Qwen2];
const FALCON: &[Stage] = &[
    Stage::PunctuationRuns {
        with_backtick: true,
    },
    Stage::Gpt2,
    Stage::ThreeAsciiDigits,
];
const STARCODER: &[Stage] = &[Stage::EachNumber, Stage::Gpt2];
const DEFAULT: &[Stage] = &[
    Stage::PunctuationRuns {
        with_backtick: false,
    },
    Stage::Gpt2,
    Stage::NumberRuns,
    Stage::ThreeAsciiDigits,
];

/// llama.cpp's pre-type for the names whose splitting armlet implements; `None` for the rest.
fn pre_config(pre: Option<&[u8]>) -> Option<PreConfig> {
    let plain = |stages, clean_spaces| PreConfig {
        stages,
        clean_spaces,
        ignore_merges: false,
        add_bos: false,
    };
    let name = match pre {
        None => return Some(plain(DEFAULT, true)),
        Some(name) => name,
    };
    Some(match name {
        b"default" => plain(DEFAULT, true),
        b"llama3" | b"llama-v3" | b"llama-bpe" | b"falcon3" | b"falcon-h1" | b"pixtral"
        | b"midm-2.0" | b"lfm2" | b"jina-v5-nano" => PreConfig {
            stages: LLAMA3,
            clean_spaces: true,
            ignore_merges: true,
            add_bos: true,
        },
        b"dbrx" | b"smaug-bpe" => plain(LLAMA3, true),
        b"falcon" => plain(FALCON, true),
        b"starcoder" | b"refact" | b"codeshell" | b"exaone" | b"minerva-7b" | b"mellum2" => {
            plain(STARCODER, true)
        }
        b"command-r" | b"smollm" => plain(STARCODER, false),
        b"gpt-2" | b"phi-2" | b"jina-es" | b"jina-de" | b"gigachat" | b"jina-v2-es"
        | b"jina-v2-de" | b"a.x-4.0" | b"mellum" | b"modern-bert" | b"mpt" | b"olmo" | b"jais"
        | b"exaone4" => plain(GPT2, true),
        b"trillion" | b"granite-docling" => plain(GPT2, false),
        b"qwen2" | b"deepseek-r1-qwen" | b"kormo" | b"f2llmv2" | b"hunyuan" | b"solar-open"
        | b"grok-2" => plain(QWEN2, false),
        b"stablelm2" | b"megrez" => plain(QWEN2, true),
        _ => return None,
    })
}

/// Texts that llama.cpp puts in the end-of-generation set (and marks CONTROL).
const EOG_TEXTS: &[&[u8]] = &[
    b"<|eot_id|>",
    b"<|im_end|>",
    b"<|end|>",
    b"<|return|>",
    b"<|call|>",
    b"<|flush|>",
    b"<|calls|>",
    b"<end_of_turn>",
    b"<|endoftext|>",
    b"</s>",
    b"<|eom_id|>",
    b"<EOT>",
    b"_<EOT>",
    b"[EOT]",
    b"[EOS]",
    b"<|end_of_text|>",
    b"<end_of_utterance>",
    b"<eos>",
    b"<turn|>",
    b"<|tool_response>",
    "<｜end▁of▁sentence｜>".as_bytes(),
    b"[e~[",
];

/// The fill-in-the-middle kinds llama.cpp detects by text when the file gives no id:
/// (metadata keys, texts). Pad, repo and file separator also end generation.
const FIM_KINDS: [(&[&str], &[&[u8]]); 6] = [
    (
        &[
            "tokenizer.ggml.fim_pre_token_id",
            "tokenizer.ggml.prefix_token_id",
        ],
        &[
            b"<|fim_prefix|>",
            b"<fim-prefix>",
            b"<fim_prefix>",
            "<｜fim▁begin｜>".as_bytes(),
            b"<PRE>",
            "▁<PRE>".as_bytes(),
            b"<|code_prefix|>",
            b"<|prefix|>",
        ],
    ),
    (
        &[
            "tokenizer.ggml.fim_suf_token_id",
            "tokenizer.ggml.suffix_token_id",
        ],
        &[
            b"<|fim_suffix|>",
            b"<fim-suffix>",
            b"<fim_suffix>",
            "<｜fim▁hole｜>".as_bytes(),
            b"<SUF>",
            "▁<SUF>".as_bytes(),
            b"<|code_suffix|>",
            b"<|suffix|>",
        ],
    ),
    (
        &[
            "tokenizer.ggml.fim_mid_token_id",
            "tokenizer.ggml.middle_token_id",
        ],
        &[
            b"<|fim_middle|>",
            b"<fim-middle>",
            b"<fim_middle>",
            "<｜fim▁end｜>".as_bytes(),
            b"<MID>",
            "▁<MID>".as_bytes(),
            b"<|code_middle|>",
            b"<|middle|>",
        ],
    ),
    (
        &["tokenizer.ggml.fim_pad_token_id"],
        &[
            b"<|fim_pad|>",
            b"<fim-pad>",
            b"<fim_pad>",
            b"<PAD>",
            b"[PAD]",
        ],
    ),
    (
        &["tokenizer.ggml.fim_rep_token_id"],
        &[
            b"<|fim_repo|>",
            b"<|repo_name|>",
            b"<fim-repo>",
            b"<REPO>",
            b"<reponame>",
        ],
    ),
    (&["tokenizer.ggml.fim_sep_token_id"], &[b"<|file_sep|>"]),
];
/// Indices into [`FIM_KINDS`] of the kinds that end generation.
const FIM_EOG_KINDS: [usize; 3] = [3, 4, 5];

/// gpt-oss tokens that llama.cpp always renders (it makes them USER_DEFINED).
const ALWAYS_RENDERED: &[&[u8]] = &[
    b"<|channel|>",
    b"<|message|>",
    b"<|start|>",
    b"<|constrain|>",
];

/// Phi-3 special tokens eat the whitespace after them, except these.
const PHI3_NO_RSTRIP: &[&[u8]] = &[b"<unk>", b"<s>", b"<|endoftext|>"];

/// A tokenizer: lookup tables in a caller-provided arena plus views into the GGUF bytes.
/// See the module documentation of [`crate::text`] for how to use it.
pub struct Tokenizer<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) model: VocabModel,
    pub(crate) stages: &'static [Stage],
    pub(crate) n_tokens: usize,
    text_offsets: Words<'a>,
    piece_offsets: Words<'a>,
    pieces: &'a [u8],
    attrs: &'a [u8],
    pub(crate) token_slots: Words<'a>,
    merge_offsets: Words<'a>,
    pub(crate) merge_slots: Words<'a>,
    pub(crate) specials: Words<'a>,
    scores: Option<Array<'a>>,
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Option<u32>,
    pub(crate) add_bos: bool,
    pub(crate) add_eos: bool,
    pub(crate) add_space_prefix: bool,
    pub(crate) clean_spaces: bool,
    pub(crate) ignore_merges: bool,
    pub(crate) rstrip_specials: bool,
    eog: [u32; MAX_EOG],
    n_eog: usize,
    chat_template: Option<&'a [u8]>,
    pub(crate) scratch: RefCell<&'a mut [u8]>,
}

/// Everything read from the metadata before any table is built.
struct Source<'a> {
    bytes: &'a [u8],
    model: VocabModel,
    pre: PreConfig,
    tokens: Array<'a>,
    n_tokens: usize,
    types: Option<Array<'a>>,
    scores: Option<Array<'a>>,
    merges: Option<Array<'a>>,
    n_merges: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    rstrip_specials: bool,
    /// FIM ids found by text (they get the CONTROL attribute).
    fim_by_text: [Option<u32>; 6],
    eog: [u32; MAX_EOG],
    n_eog: usize,
    /// `<|end|>` when llama.cpp drops it from the EOG set (gpt-oss, solar-open).
    end_demoted: Option<u32>,
    /// `</s>` when llama.cpp makes it a normal token (gemma 4, plamo).
    eos_text_demoted: Option<u32>,
    chat_template: Option<&'a [u8]>,
}

/// Sizes of the arena regions, in bytes.
struct Layout {
    text_offsets: usize,
    piece_offsets: usize,
    attrs: usize,
    token_slots: usize,
    merge_offsets: usize,
    merge_slots: usize,
    specials: usize,
    pieces: usize,
    scratch: usize,
}

impl Layout {
    fn tables(&self) -> Option<usize> {
        [
            self.text_offsets,
            self.piece_offsets,
            self.attrs,
            self.token_slots,
            self.merge_offsets,
            self.merge_slots,
            self.specials,
            self.pieces,
        ]
        .iter()
        .try_fold(0usize, |acc, &n| acc.checked_add(n))
    }
}

/// Working memory for fragments of up to `max_fragment_bytes` bytes: the fragment as the
/// merges see it (at most 3 bytes per input byte, plus SentencePiece's prefix space), and
/// two u32 per symbol (symbol ends, merge priority of each neighbouring pair).
pub(crate) fn scratch_bytes(max_fragment_bytes: usize) -> Option<usize> {
    let text = max_fragment_bytes.checked_mul(3)?.checked_add(3)?;
    text.checked_mul(9)
}

fn key_u32(file: &File, key: &'static str) -> Option<u32> {
    file.get(key).and_then(|v| v.as_u32())
}

/// Every special-token id key llama.cpp's vocab loader reads (`tokenizer.ggml.seperator_token_id`
/// is spelled as llama.cpp spells it).
const SPECIAL_ID_KEYS: [&str; 17] = [
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.mask_token_id",
    "tokenizer.ggml.fim_pre_token_id",
    "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.fim_mid_token_id",
    "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_rep_token_id",
    "tokenizer.ggml.fim_sep_token_id",
    "tokenizer.ggml.prefix_token_id",
    "tokenizer.ggml.suffix_token_id",
    "tokenizer.ggml.middle_token_id",
];

/// Refuses a special-token id outside the vocabulary, or one that is not a non-negative
/// integer. llama.cpp only warns about the first and falls back to its default id; armlet
/// refuses, since a file that names a token it does not have is damaged or hostile, and a
/// run with a BOS or end-of-generation token other than the file says is not the model's.
fn check_special_id(file: &File, key: &'static str, n_tokens: usize) -> Result<(), TextError> {
    let Some(value) = file.get(key) else {
        return Ok(());
    };
    match value.as_u64() {
        Some(id) if id < n_tokens as u64 => Ok(()),
        Some(id) => Err(TextError::SpecialTokenOutOfRange { key, id, n_tokens }),
        None => Err(TextError::WrongType { key }),
    }
}

fn key_bool(file: &File, key: &'static str) -> Option<bool> {
    file.get(key).and_then(|v| v.as_bool())
}

fn string_array<'a>(file: &File<'a>, key: &'static str) -> Result<Option<Array<'a>>, TextError> {
    match file.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) if a.elem_type() == ValueType::String => Ok(Some(a)),
        Some(_) => Err(TextError::WrongType { key }),
    }
}

/// A number array with at least `n` elements (llama.cpp rejects shorter ones).
fn number_array<'a>(
    file: &File<'a>,
    key: &'static str,
    n: usize,
    types: &[ValueType],
) -> Result<Option<Array<'a>>, TextError> {
    match file.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) if types.contains(&a.elem_type()) => {
            if (a.len() as u128) < n as u128 {
                return Err(TextError::ArrayTooShort {
                    key,
                    len: a.len(),
                    needed: n,
                });
            }
            Ok(Some(a))
        }
        Some(_) => Err(TextError::WrongType { key }),
    }
}

/// Offset of `inner` (a slice of the file) from the start of the file's bytes.
fn offset_in(bytes: &[u8], inner: &[u8]) -> Option<u32> {
    let off = (inner.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
    if off.checked_add(inner.len())? > bytes.len() {
        return None;
    }
    u32::try_from(off).ok()
}

/// The GGUF token type of token `i` as attribute bits (NORMAL without a type array).
fn base_attr(types: Option<&Array>, i: usize) -> u8 {
    let Some(types) = types else {
        return attr::NORMAL;
    };
    let ty = match types.get_fixed(i as u64) {
        Some(Value::I32(t)) => t,
        _ => 0,
    };
    match ty {
        1 => attr::NORMAL,
        2 => attr::UNKNOWN,
        3 => attr::CONTROL,
        4 => attr::USER_DEFINED,
        5 => attr::UNUSED,
        6 => attr::BYTE,
        _ => 0,
    }
}

impl<'a> Source<'a> {
    fn read(file: &File<'a>) -> Result<Source<'a>, TextError> {
        let model = match file.get_str("tokenizer.ggml.model") {
            Some("gpt2") => VocabModel::BytePairGpt2,
            Some("llama") => VocabModel::SentencePiece,
            Some(_) => return Err(TextError::UnsupportedModel),
            None => {
                return Err(TextError::MissingKey {
                    key: "tokenizer.ggml.model",
                })
            }
        };
        let pre_name = file.get("tokenizer.ggml.pre").and_then(|v| v.as_bytes());
        let pre = match model {
            VocabModel::BytePairGpt2 => {
                pre_config(pre_name).ok_or(TextError::UnsupportedPreTokenizer)?
            }
            VocabModel::SentencePiece => PreConfig {
                stages: &[],
                clean_spaces: false,
                ignore_merges: false,
                add_bos: true,
            },
        };
        let tokens = string_array(file, "tokenizer.ggml.tokens")?.ok_or(TextError::MissingKey {
            key: "tokenizer.ggml.tokens",
        })?;
        let n_tokens = usize::try_from(tokens.len())
            .ok()
            .filter(|&n| n > 0 && u32::try_from(n).is_ok_and(|n| n < u32::MAX))
            .ok_or(TextError::BadTokenCount)?;
        let scores = number_array(
            file,
            "tokenizer.ggml.scores",
            n_tokens,
            &[ValueType::F32, ValueType::I32],
        )?;
        let types = number_array(
            file,
            "tokenizer.ggml.token_type",
            n_tokens,
            &[ValueType::I32],
        )?;
        let merges = match model {
            VocabModel::BytePairGpt2 => Some(string_array(file, "tokenizer.ggml.merges")?.ok_or(
                TextError::MissingKey {
                    key: "tokenizer.ggml.merges",
                },
            )?),
            VocabModel::SentencePiece => None,
        };
        let n_merges = match &merges {
            Some(m) => usize::try_from(m.len())
                .ok()
                .filter(|&n| u32::try_from(n).is_ok_and(|n| n < u32::MAX))
                .ok_or(TextError::BadTokenCount)?,
            None => 0,
        };

        // Special ids: llama.cpp's defaults per model (dropped when the vocab is too small
        // for them), replaced by the metadata's id. An id the metadata gives is checked
        // first, for every key llama.cpp reads, used here or not.
        for key in SPECIAL_ID_KEYS {
            check_special_id(file, key, n_tokens)?;
        }
        let special = |key: &'static str, default: Option<u32>| {
            key_u32(file, key).or(default.filter(|&id| (id as usize) < n_tokens))
        };
        let (bos_default, eos_default) = match model {
            VocabModel::BytePairGpt2 => (Some(11), Some(11)),
            VocabModel::SentencePiece => (Some(1), Some(2)),
        };
        let bos = special("tokenizer.ggml.bos_token_id", bos_default);
        let eos = special("tokenizer.ggml.eos_token_id", eos_default);
        let eot = special("tokenizer.ggml.eot_token_id", None);
        let eom = special("tokenizer.ggml.eom_token_id", None);
        let mut fim_from_key = [None; 6];
        for (slot, (keys, _)) in fim_from_key.iter_mut().zip(FIM_KINDS.iter()) {
            // The deprecated keys come later in llama.cpp's list and win when both exist.
            for key in keys.iter() {
                if let Some(id) = key_u32(file, key) {
                    *slot = Some(id);
                }
            }
        }

        let add_bos = key_bool(file, "tokenizer.ggml.add_bos_token").unwrap_or(pre.add_bos);
        let add_eos = key_bool(file, "tokenizer.ggml.add_eos_token").unwrap_or(false);
        let add_space_prefix = key_bool(file, "tokenizer.ggml.add_space_prefix")
            .unwrap_or(model == VocabModel::SentencePiece);
        let rstrip_specials = file
            .get("general.name")
            .and_then(|v| v.as_bytes())
            .is_some_and(|name| {
                contains_ascii_lowercase(name, b"phi-3") || contains_ascii_lowercase(name, b"phi3")
            });
        let chat_template = file
            .get("tokenizer.chat_template")
            .and_then(|v| v.as_bytes());

        // One pass over the token texts for everything llama.cpp detects by text.
        let mut fim_by_text = [None; 6];
        let mut eog = [0u32; MAX_EOG];
        let mut n_eog = 0usize;
        let push_eog = |id: u32, eog: &mut [u32; MAX_EOG], n: &mut usize| {
            if !eog[..*n].contains(&id) && *n < MAX_EOG {
                eog[*n] = id;
                *n += 1;
            }
        };
        let mut by_text_eog = [0u32; MAX_EOG];
        let mut n_by_text = 0usize;
        for (i, value) in tokens.iter().enumerate() {
            let text = value.as_bytes().unwrap_or(&[]);
            // Every text on those lists starts with one of these bytes: skip the rest fast.
            if !matches!(text.first(), Some(b'<' | b'[' | b'_' | 0xE2)) {
                continue;
            }
            let id = i as u32;
            for (k, (_, texts)) in FIM_KINDS.iter().enumerate() {
                if fim_from_key[k].is_none() && fim_by_text[k].is_none() && texts.contains(&text) {
                    fim_by_text[k] = Some(id);
                }
            }
            if EOG_TEXTS.contains(&text) {
                push_eog(id, &mut by_text_eog, &mut n_by_text);
            }
        }
        let fim: [Option<u32>; 6] = core::array::from_fn(|k| fim_from_key[k].or(fim_by_text[k]));
        for k in FIM_EOG_KINDS {
            if let Some(id) = fim[k] {
                push_eog(id, &mut eog, &mut n_eog);
            }
        }
        for &id in &by_text_eog[..n_by_text] {
            push_eog(id, &mut eog, &mut n_eog);
        }
        for id in [eos, eot, eom].into_iter().flatten() {
            push_eog(id, &mut eog, &mut n_eog);
        }

        let mut source = Source {
            bytes: file.bytes(),
            model,
            pre,
            tokens,
            n_tokens,
            types,
            scores,
            merges,
            n_merges,
            bos,
            eos,
            add_bos,
            add_eos,
            add_space_prefix,
            rstrip_specials,
            fim_by_text,
            eog,
            n_eog,
            end_demoted: None,
            eos_text_demoted: None,
            chat_template,
        };
        source.apply_eog_exceptions();
        Ok(source)
    }

    fn token_text(&self, id: u32) -> &'a [u8] {
        // Arrays of strings have no O(1) access; this is only used for the few EOG ids.
        self.tokens
            .iter()
            .nth(id as usize)
            .and_then(|v| v.as_bytes())
            .unwrap_or(&[])
    }

    /// llama.cpp's two EOG exceptions: gpt-oss / solar-open end turns with `<|end|>` that is
    /// not end of generation; gemma 4 and plamo use `</s>` as a normal token.
    fn apply_eog_exceptions(&mut self) {
        let has = |texts: &[&[u8]]| -> Option<u32> {
            self.eog[..self.n_eog]
                .iter()
                .copied()
                .find(|&id| texts.contains(&self.token_text(id)))
        };
        let has_return = has(&[b"<|return|>"]).is_some();
        let has_call = has(&[b"<|call|>", b"<|calls|>"]).is_some();
        let has_flush = has(&[b"<|flush|>"]).is_some();
        let end = has(&[b"<|end|>"]);
        let normal_s_marker = has(&[b"<|tool_response>", b"<|plamo:eos|>"]).is_some();
        let eos_text = has(&[b"</s>"]);
        if let Some(end) = end.filter(|_| (has_return && has_call) || (has_call && has_flush)) {
            self.remove_eog(end);
            self.end_demoted = Some(end);
        }
        if let Some(s) = eos_text.filter(|_| normal_s_marker) {
            self.remove_eog(s);
            self.eos_text_demoted = Some(s);
        }
    }

    fn remove_eog(&mut self, id: u32) {
        if let Some(pos) = self.eog[..self.n_eog].iter().position(|&x| x == id) {
            self.eog.copy_within(pos + 1..self.n_eog, pos);
            self.n_eog -= 1;
        }
    }

    /// The attributes llama.cpp ends up with for token `id`.
    fn attr(&self, id: u32, text: &[u8]) -> u8 {
        let mut a = base_attr(self.types.as_ref(), id as usize);
        let listed = matches!(text.first(), Some(b'<' | b'[' | b'_' | 0xE2));
        if self.fim_by_text.contains(&Some(id)) || (listed && EOG_TEXTS.contains(&text)) {
            a |= attr::CONTROL;
        }
        if (listed && ALWAYS_RENDERED.contains(&text)) || self.end_demoted == Some(id) {
            a = attr::USER_DEFINED;
        }
        if self.eos_text_demoted == Some(id) {
            a = attr::NORMAL;
        }
        a
    }

    /// The bytes of a text as the lookup tables key it: byte-level BPE texts decoded to raw
    /// bytes, SentencePiece texts as they are. `None` if a byte-level text uses a character
    /// outside GPT-2's alphabet (such a token can never match a pre-tokenized word).
    fn key_bytes(&self, text: &[u8], mut each: impl FnMut(u8)) -> bool {
        match self.model {
            VocabModel::SentencePiece => {
                text.iter().for_each(|&b| each(b));
                true
            }
            VocabModel::BytePairGpt2 => for_each_decoded_byte(text, each),
        }
    }

    fn layout(&self, max_fragment_bytes: usize) -> Result<Layout, TextError> {
        let overflow = TextError::TooLarge;
        let n = self.n_tokens;
        let mut pieces = 0usize;
        let mut specials = 0usize;
        for (i, value) in self.tokens.iter().enumerate() {
            let text = value.as_bytes().unwrap_or(&[]);
            let a = self.attr(i as u32, text);
            if a & attr::SPECIAL != 0 {
                specials += 1;
            }
            pieces = pieces
                .checked_add(self.piece_len(a, text))
                .ok_or(overflow)?;
        }
        let words = |count: usize| count.checked_mul(4).ok_or(TextError::TooLarge);
        Ok(Layout {
            text_offsets: words(n)?,
            piece_offsets: words(n + 1)?,
            attrs: n,
            token_slots: words(slot_count(n).ok_or(overflow)?)?,
            merge_offsets: words(self.n_merges)?,
            merge_slots: words(slot_count(self.n_merges).ok_or(overflow)?)?,
            specials: words(specials)?,
            pieces,
            scratch: scratch_bytes(max_fragment_bytes).ok_or(overflow)?,
        })
    }

    fn piece_len(&self, a: u8, text: &[u8]) -> usize {
        let mut len = 0usize;
        self.piece(a, text, |_| len += 1);
        len
    }

    /// llama.cpp's `token_to_piece(special = true)` of a token: control, unknown and
    /// user-defined tokens as written; normal tokens decoded (byte-level) or with U+2581 as
    /// a space (SentencePiece); byte tokens as their byte; anything else empty.
    fn piece(&self, a: u8, text: &[u8], mut out: impl FnMut(u8)) {
        if a & attr::SPECIAL != 0 {
            text.iter().for_each(|&b| out(b));
        } else if a & attr::NORMAL != 0 {
            match self.model {
                VocabModel::SentencePiece => unescape_spaces(text, out),
                VocabModel::BytePairGpt2 => decode_byte_level_piece(text, out),
            }
        } else if a & attr::BYTE != 0 {
            out(byte_token_value(text));
        }
    }
}

/// Phi-3's special tokens that keep the whitespace after them.
pub(crate) fn phi3_keeps_space(text: &[u8]) -> bool {
    PHI3_NO_RSTRIP.contains(&text)
}

/// `<0xXX>` -> the byte, parsed like llama.cpp's `strtol(text.substr(3, 2), 16)`.
pub(crate) fn byte_token_value(text: &[u8]) -> u8 {
    let digits = text.get(3..).unwrap_or(&[]);
    let mut value = 0u8;
    for &d in digits.iter().take(2) {
        match (d as char).to_digit(16) {
            Some(v) => value = value.wrapping_mul(16).wrapping_add(v as u8),
            None => break,
        }
    }
    value
}

fn unescape_spaces(text: &[u8], mut out: impl FnMut(u8)) {
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if text.get(i..i + 3) == Some("\u{2581}".as_bytes()) {
            out(b' ');
            i += 3;
        } else {
            out(b);
            i += 1;
        }
    }
}

/// Decodes a byte-level vocab text; false if a character is outside GPT-2's alphabet or
/// not canonical UTF-8.
pub(crate) fn for_each_decoded_byte(text: &[u8], mut each: impl FnMut(u8)) -> bool {
    let mut rest = text;
    while !rest.is_empty() {
        let (cp, len) = decode(rest);
        let mut buf = [0u8; 4];
        let canonical = encode(cp, &mut buf) == len && rest.get(..len) == buf.get(..len);
        match codepoint_to_byte(cp) {
            Some(b) if canonical => each(b),
            _ => return false,
        }
        rest = rest.get(len..).unwrap_or(&[]);
    }
    true
}

/// llama.cpp's `llama_decode_text`: alphabet characters become their byte; any other
/// character becomes `[UNK_BYTE_0x<its utf-8 in hex><the whole text>]`.
fn decode_byte_level_piece(text: &[u8], mut out: impl FnMut(u8)) {
    let mut rest = text;
    while !rest.is_empty() {
        let (cp, len) = decode(rest);
        match codepoint_to_byte(cp) {
            Some(b) => out(b),
            None => {
                b"[UNK_BYTE_0x".iter().for_each(|&b| out(b));
                let mut buf = [0u8; 4];
                let n = encode(cp, &mut buf);
                for &b in buf.iter().take(n) {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out(HEX[(b >> 4) as usize]);
                    out(HEX[(b & 15) as usize]);
                }
                text.iter().for_each(|&b| out(b));
                out(b']');
            }
        }
        rest = rest.get(len..).unwrap_or(&[]);
    }
}

fn contains_ascii_lowercase(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| {
        w.iter()
            .zip(needle)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

/// Carves `len` bytes off the front of `arena`.
fn carve<'a>(arena: &mut &'a mut [u8], len: usize) -> &'a mut [u8] {
    let taken = core::mem::take(arena);
    let (head, tail) = taken.split_at_mut(len.min(taken.len()));
    *arena = tail;
    head
}

/// The GGUF string whose bytes start at `off` (its u64 length precedes it).
pub(crate) fn stored_text(bytes: &[u8], off: u32) -> &[u8] {
    let off = off as usize;
    let len = off
        .checked_sub(8)
        .and_then(|start| bytes.get(start..off))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .and_then(|len| usize::try_from(len).ok());
    len.and_then(|len| bytes.get(off..off.checked_add(len)?))
        .unwrap_or(&[])
}

/// A merge line `"left right"` split at its first space after the first byte, as llama.cpp
/// does; `None` without such a space.
pub(crate) fn split_merge(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let pos = text.get(1..)?.iter().position(|&b| b == b' ')? + 1;
    Some((text.get(..pos)?, text.get(pos + 1..)?))
}

/// Hash of a merge pair given as raw bytes.
pub(crate) fn pair_hash(
    left: impl IntoIterator<Item = u8>,
    right: impl IntoIterator<Item = u8>,
) -> u32 {
    let h = left.into_iter().fold(FNV_OFFSET, fnv_step);
    right.into_iter().fold(fnv_step(h, 0xFF), fnv_step)
}

/// True if the byte-level text `stored` decodes to exactly `raw`.
pub(crate) fn decodes_to(stored: &[u8], raw: &[u8]) -> bool {
    let mut i = 0usize;
    let mut same = true;
    let ok = for_each_decoded_byte(stored, |b| {
        same &= raw.get(i) == Some(&b);
        i += 1;
    });
    ok && same && i == raw.len()
}

/// Sorts the special-token ids longest text first, ties by id (heap sort in place: the
/// list can be long in odd vocabs and there is no spare memory).
fn sort_specials(specials: &mut WordsMut, text_offsets: &WordsMut, bytes: &[u8]) {
    let key = |id: u32| {
        let len = stored_text(bytes, text_offsets.get(id as usize).unwrap_or(0)).len();
        (core::cmp::Reverse(len), id)
    };
    let n = specials.len();
    let sift_down = |s: &mut WordsMut, mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        let k = |i: usize| key(s.get(i).unwrap_or(0));
        if child + 1 < end && k(child) < k(child + 1) {
            child += 1;
        }
        if k(root) >= k(child) {
            break;
        }
        let (a, b) = (s.get(root).unwrap_or(0), s.get(child).unwrap_or(0));
        s.set(root, b);
        s.set(child, a);
        root = child;
    };
    for start in (0..n / 2).rev() {
        sift_down(specials, start, n);
    }
    for end in (1..n).rev() {
        let (a, b) = (specials.get(0).unwrap_or(0), specials.get(end).unwrap_or(0));
        specials.set(0, b);
        specials.set(end, a);
        sift_down(specials, 0, end);
    }
}

/// Adds token `id` under its key (raw bytes for byte-level BPE, the text for SentencePiece).
/// A second token with the same text is an error, as in llama.cpp.
fn insert_token(
    src: &Source,
    slots: &mut WordsMut,
    text_offsets: &WordsMut,
    text: &[u8],
    id: u32,
) -> Result<(), TextError> {
    let mut hash = FNV_OFFSET;
    if text.is_empty() || !src.key_bytes(text, |b| hash = fnv_step(hash, b)) {
        return Ok(());
    }
    let mask = slots.len().wrapping_sub(1);
    let mut slot = hash as usize & mask;
    for _ in 0..slots.len() {
        match slots.get(slot) {
            Some(0) => {
                slots.set(slot, id + 1);
                return Ok(());
            }
            Some(other) => {
                let other_text =
                    stored_text(src.bytes, text_offsets.get(other as usize - 1).unwrap_or(0));
                if other_text == text {
                    return Err(TextError::DuplicateToken { id });
                }
            }
            None => break,
        }
        slot = (slot + 1) & mask;
    }
    Ok(())
}

/// Adds merge `rank` unless its pair is already there (llama.cpp keeps the first).
fn insert_merge(offsets: &WordsMut, slots: &mut WordsMut, bytes: &[u8], text: &[u8], rank: u32) {
    let Some((left, right)) = split_merge(text) else {
        return;
    };
    // Hashed as `pair_hash` hashes the raw pair; a part outside GPT-2's alphabet can never
    // match a pre-tokenized word.
    let mut hash = FNV_OFFSET;
    if !for_each_decoded_byte(left, |b| hash = fnv_step(hash, b)) {
        return;
    }
    hash = fnv_step(hash, 0xFF);
    if !for_each_decoded_byte(right, |b| hash = fnv_step(hash, b)) {
        return;
    }
    let mask = slots.len().wrapping_sub(1);
    let mut slot = hash as usize & mask;
    for _ in 0..slots.len() {
        match slots.get(slot) {
            Some(0) => {
                slots.set(slot, rank + 1);
                return;
            }
            Some(other) => {
                if stored_text(bytes, offsets.get(other as usize - 1).unwrap_or(0)) == text {
                    return;
                }
            }
            None => return,
        }
        slot = (slot + 1) & mask;
    }
}

impl<'a> Tokenizer<'a> {
    /// Arena bytes [`Tokenizer::new`] needs for `file`: the lookup tables plus working
    /// memory for fragments of up to [`DEFAULT_MAX_FRAGMENT_BYTES`].
    ///
    /// Errors: the metadata problems of [`Tokenizer::new`].
    pub fn arena_bytes(file: &File<'a>) -> Result<usize, TextError> {
        Self::arena_bytes_for(file, DEFAULT_MAX_FRAGMENT_BYTES)
    }

    /// Like [`Tokenizer::arena_bytes`], with working memory for fragments (raw text between
    /// special tokens) of up to `max_fragment_bytes`; give it the text length to be able to
    /// tokenize any text of that length.
    pub fn arena_bytes_for(file: &File<'a>, max_fragment_bytes: usize) -> Result<usize, TextError> {
        let layout = Source::read(file)?.layout(max_fragment_bytes)?;
        layout
            .tables()
            .and_then(|t| t.checked_add(layout.scratch))
            .ok_or(TextError::TooLarge)
    }

    /// Builds the tokenizer of `file` in `arena`. Whatever the tables leave of the arena is
    /// working memory for [`Tokenizer::encode`] (fragments longer than it allows fail with
    /// [`TextError::FragmentTooLong`]).
    ///
    /// Errors: [`TextError::MissingKey`], [`TextError::WrongType`],
    /// [`TextError::ArrayTooShort`], [`TextError::UnsupportedModel`],
    /// [`TextError::UnsupportedPreTokenizer`], [`TextError::BadTokenCount`],
    /// [`TextError::DuplicateToken`], [`TextError::ArenaTooSmall`], [`TextError::TooLarge`],
    /// [`TextError::BadMerge`] for a merge that is not two known tokens,
    /// [`TextError::SpecialTokenOutOfRange`] for a BOS, EOS, EOT, PAD, UNK, FIM... id
    /// outside the vocabulary (`WrongType` if it is not a non-negative integer).
    pub fn new(file: &File<'a>, arena: &'a mut [u8]) -> Result<Tokenizer<'a>, TextError> {
        let src = Source::read(file)?;
        let layout = src.layout(0)?;
        let tables = layout.tables().ok_or(TextError::TooLarge)?;
        if arena.len() < tables {
            return Err(TextError::ArenaTooSmall {
                needed: tables,
                got: arena.len(),
            });
        }
        let mut rest: &'a mut [u8] = arena;
        let mut text_offsets = WordsMut(carve(&mut rest, layout.text_offsets));
        let mut piece_offsets = WordsMut(carve(&mut rest, layout.piece_offsets));
        let attrs = carve(&mut rest, layout.attrs);
        let mut token_slots = WordsMut(carve(&mut rest, layout.token_slots));
        let mut merge_offsets = WordsMut(carve(&mut rest, layout.merge_offsets));
        let mut merge_slots = WordsMut(carve(&mut rest, layout.merge_slots));
        let mut specials = WordsMut(carve(&mut rest, layout.specials));
        let pieces = carve(&mut rest, layout.pieces);
        let scratch = rest;

        token_slots.0.fill(0);
        merge_slots.0.fill(0);
        let mut piece_len = 0usize;
        let mut n_specials = 0usize;
        for (i, value) in src.tokens.iter().enumerate() {
            let text = value.as_bytes().unwrap_or(&[]);
            let id = i as u32;
            text_offsets.set(i, offset_in(src.bytes, text).ok_or(TextError::TooLarge)?);
            let a = src.attr(id, text);
            if let Some(slot) = attrs.get_mut(i) {
                *slot = a;
            }
            piece_offsets.set(i, piece_len as u32);
            src.piece(a, text, |b| {
                if let Some(dst) = pieces.get_mut(piece_len) {
                    *dst = b;
                }
                piece_len += 1;
            });
            if a & attr::SPECIAL != 0 {
                specials.set(n_specials, id);
                n_specials += 1;
            }
            insert_token(&src, &mut token_slots, &text_offsets, text, id)?;
        }
        piece_offsets.set(src.n_tokens, piece_len as u32);
        if let Some(merges) = &src.merges {
            for (rank, value) in merges.iter().enumerate() {
                let text = value.as_bytes().unwrap_or(&[]);
                merge_offsets.set(rank, offset_in(src.bytes, text).ok_or(TextError::TooLarge)?);
                insert_merge(
                    &merge_offsets,
                    &mut merge_slots,
                    src.bytes,
                    text,
                    rank as u32,
                );
            }
        }
        sort_specials(&mut specials, &text_offsets, src.bytes);

        let tok = Tokenizer {
            bytes: src.bytes,
            model: src.model,
            stages: src.pre.stages,
            n_tokens: src.n_tokens,
            text_offsets: Words(text_offsets.0),
            piece_offsets: Words(piece_offsets.0),
            pieces,
            attrs,
            token_slots: Words(token_slots.0),
            merge_offsets: Words(merge_offsets.0),
            merge_slots: Words(merge_slots.0),
            specials: Words(specials.0),
            scores: src.scores,
            bos: src.bos,
            eos: src.eos,
            add_bos: src.add_bos,
            add_eos: src.add_eos,
            add_space_prefix: src.add_space_prefix,
            clean_spaces: src.pre.clean_spaces,
            ignore_merges: src.pre.ignore_merges,
            rstrip_specials: src.rstrip_specials,
            eog: src.eog,
            n_eog: src.n_eog,
            chat_template: src.chat_template,
            scratch: RefCell::new(scratch),
        };
        // A merge must name two tokens: a damaged or hostile file is refused here rather
        // than tokenizing into pieces the model never saw (every real vocab passes).
        if let Some(merges) = &src.merges {
            for (rank, value) in merges.iter().enumerate() {
                let pair = value.as_bytes().and_then(split_merge);
                let known = pair.is_some_and(|(l, r)| tok.has_byte_level_token(l) && tok.has_byte_level_token(r));
                if !known {
                    return Err(TextError::BadMerge { rank: rank as u32 });
                }
            }
        }
        Ok(tok)
    }

    /// Number of tokens in the vocabulary.
    pub fn n_tokens(&self) -> usize {
        self.n_tokens
    }

    /// The vocabulary model.
    pub fn model(&self) -> VocabModel {
        self.model
    }

    /// The token's text as the file stores it (byte-level BPE texts are not decoded).
    pub fn token_text(&self, id: u32) -> Option<&'a [u8]> {
        let off = self.text_offsets.get(id as usize)?;
        Some(stored_text(self.bytes, off))
    }

    /// The token's bytes as llama.cpp's `token_to_piece(special = true)` gives them:
    /// control tokens as written, byte-level text decoded, U+2581 as space, byte tokens as
    /// their byte. `None` for an id outside the vocabulary.
    pub fn token_piece(&self, id: u32) -> Option<&'a [u8]> {
        let start = self.piece_offsets.get(id as usize)? as usize;
        let end = self.piece_offsets.get(id as usize + 1)? as usize;
        self.pieces.get(start..end)
    }

    pub(crate) fn attr(&self, id: u32) -> u8 {
        self.attrs.get(id as usize).copied().unwrap_or(0)
    }

    /// True for control tokens (and unknown ones), which detokenization prints only when
    /// asked to.
    pub fn is_control(&self, id: u32) -> bool {
        self.attr(id) & (attr::CONTROL | attr::UNKNOWN) != 0
    }

    /// True if generation should stop at this token (llama.cpp's `llama_vocab_is_eog`).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog_ids().contains(&id)
    }

    /// The end-of-generation set, as llama.cpp derives it from ids and token texts.
    pub fn eog_ids(&self) -> &[u32] {
        self.eog.get(..self.n_eog).unwrap_or(&[])
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Whether `encode(.., add_special = true, ..)` puts BOS in front
    /// (`tokenizer.ggml.add_bos_token`, else llama.cpp's default for the vocab type).
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `encode(.., add_special = true, ..)` appends EOS.
    pub fn adds_eos(&self) -> bool {
        self.add_eos
    }

    /// `tokenizer.chat_template`, if the file has one.
    pub fn chat_template(&self) -> Option<&'a [u8]> {
        self.chat_template
    }

    /// SentencePiece score of a token (0 without a scores array, as in llama.cpp).
    pub(crate) fn score(&self, id: u32) -> f32 {
        match self.scores.as_ref().and_then(|s| s.get_fixed(id as u64)) {
            Some(Value::F32(v)) => v,
            Some(Value::I32(v)) => v as f32,
            _ => 0.0,
        }
    }

    /// The token whose key is `key` (raw bytes for byte-level BPE, text for SentencePiece).
    pub(crate) fn find_token(&self, key: &[u8]) -> Option<u32> {
        let n = self.token_slots.len();
        if n == 0 || key.is_empty() {
            return None;
        }
        let mask = n - 1;
        let mut slot = super::table::fnv(key) as usize & mask;
        for _ in 0..n {
            let entry = self.token_slots.get(slot)?;
            if entry == 0 {
                return None;
            }
            let id = entry - 1;
            let text = self.token_text(id)?;
            let same = match self.model {
                VocabModel::SentencePiece => text == key,
                VocabModel::BytePairGpt2 => decodes_to(text, key),
            };
            if same {
                return Some(id);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    /// True if `text`, in byte-level BPE's stored form (as merges spell their parts), is the
    /// text of a token.
    fn has_byte_level_token(&self, text: &[u8]) -> bool {
        let mut hash = FNV_OFFSET;
        let n = self.token_slots.len();
        if n == 0 || text.is_empty() || !for_each_decoded_byte(text, |b| hash = fnv_step(hash, b)) {
            return false;
        }
        let mut slot = hash as usize & (n - 1);
        for _ in 0..n {
            match self.token_slots.get(slot) {
                Some(0) | None => return false,
                Some(entry) if self.token_text(entry - 1) == Some(text) => return true,
                Some(_) => slot = (slot + 1) & (n - 1),
            }
        }
        false
    }

    /// Rank of the merge `left right` (raw bytes), lower merges first.
    pub(crate) fn merge_rank(&self, left: &[u8], right: &[u8]) -> Option<u32> {
        let n = self.merge_slots.len();
        if n == 0 {
            return None;
        }
        let mask = n - 1;
        let mut slot = pair_hash(left.iter().copied(), right.iter().copied()) as usize & mask;
        for _ in 0..n {
            let entry = self.merge_slots.get(slot)?;
            if entry == 0 {
                return None;
            }
            let rank = entry - 1;
            let text = stored_text(self.bytes, self.merge_offsets.get(rank as usize)?);
            if let Some((l, r)) = split_merge(text) {
                if decodes_to(l, left) && decodes_to(r, right) {
                    return Some(rank);
                }
            }
            slot = (slot + 1) & mask;
        }
        None
    }
}
