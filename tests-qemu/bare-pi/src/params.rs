//! The boot parameters: a 64 KiB block at 0x07FF_0000, right before the model at
//! 0x0800_0000, put in memory by whoever loads the model (`scripts/run-bare` through qemu's
//! `-device loader`; on a Pi, the firmware's `initramfs` line loading the block and the
//! model as one file). All fields little-endian:
//!
//! | offset | field |
//! |---|---|
//! | 0 | magic `ARMB` |
//! | 4 | u32 version = 1 |
//! | 8 | u32 model bytes (the GGUF file's length) |
//! | 12 | u32 tokens to generate |
//! | 16 | u32 flags: bit 0 = the prompt is token ids (else UTF-8 text), bit 1 = ignore end-of-generation |
//! | 20 | u32 prompt length (ids or bytes) |
//! | 24 | the prompt: u32 ids or text bytes |

/// Where the block starts (`__boot_params` in link.x).
pub const ADDR: usize = 0x07FF_0000;
/// Its size; the model follows it.
pub const BYTES: usize = 0x1_0000;
/// Where the model starts (`__model` in link.x).
pub const MODEL_ADDR: usize = ADDR + BYTES;

const MAGIC: &[u8; 4] = b"ARMB";
const VERSION: u32 = 1;
const HEADER: usize = 24;
const FLAG_TOKEN_IDS: u32 = 1 << 0;
const FLAG_IGNORE_EOG: u32 = 1 << 1;

/// The prompt as the loader gave it.
#[derive(Clone, Copy)]
pub enum Prompt<'a> {
    /// Token ids, 4 little-endian bytes each.
    Ids(&'a [u8]),
    Text(&'a [u8]),
}

impl<'a> Prompt<'a> {
    pub fn ids(bytes: &'a [u8]) -> impl Iterator<Item = u32> + 'a {
        bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }
}

pub struct Params<'a> {
    pub model_bytes: usize,
    pub n_predict: usize,
    pub ignore_eog: bool,
    pub prompt: Prompt<'a>,
}

/// Why the block cannot be used.
#[derive(Debug)]
pub enum ParamsError {
    /// No `ARMB` magic: nothing was loaded at 0x07FF0000.
    Missing,
    UnsupportedVersion(u32),
    /// The prompt runs past the block.
    PromptTooLong {
        bytes: usize,
        max: usize,
    },
    EmptyPrompt,
}

impl core::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParamsError::Missing => write!(
                f,
                "no boot parameters at {ADDR:#010x} (magic ARMB): load them with the model \
                 (scripts/run-bare does; on a Pi, config.txt `initramfs armlet.img {ADDR:#010x}`)"
            ),
            ParamsError::UnsupportedVersion(v) => write!(f, "boot parameters version {v}, this kernel reads {VERSION}"),
            ParamsError::PromptTooLong { bytes, max } => {
                write!(f, "the prompt of {bytes} bytes does not fit the boot parameters ({max} bytes at most)")
            }
            ParamsError::EmptyPrompt => f.write_str("the prompt is empty"),
        }
    }
}

fn word(block: &[u8], at: usize) -> u32 {
    block.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads the block (`block` is the 64 KiB at [`ADDR`]).
pub fn parse(block: &[u8]) -> Result<Params<'_>, ParamsError> {
    if block.get(..4) != Some(MAGIC.as_slice()) {
        return Err(ParamsError::Missing);
    }
    let version = word(block, 4);
    if version != VERSION {
        return Err(ParamsError::UnsupportedVersion(version));
    }
    let flags = word(block, 16);
    let len = word(block, 20) as usize;
    let is_ids = flags & FLAG_TOKEN_IDS != 0;
    let bytes = if is_ids { len.saturating_mul(4) } else { len };
    let max = block.len().saturating_sub(HEADER);
    let payload =
        block.get(HEADER..).and_then(|rest| rest.get(..bytes)).ok_or(ParamsError::PromptTooLong { bytes, max })?;
    if payload.is_empty() {
        return Err(ParamsError::EmptyPrompt);
    }
    Ok(Params {
        model_bytes: word(block, 8) as usize,
        n_predict: word(block, 12) as usize,
        ignore_eog: flags & FLAG_IGNORE_EOG != 0,
        prompt: if is_ids { Prompt::Ids(payload) } else { Prompt::Text(payload) },
    })
}
