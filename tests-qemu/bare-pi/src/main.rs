//! armlet-core as a bare-metal kernel for the Raspberry Pi Zero / Pi 1 (BCM2835,
//! ARM1176JZF-S), booted by the Pi firmware or by `qemu-system-arm -M raspi0`.
//!
//! Everything the core needs from its host, and nothing more: the model's bytes (at
//! 0x0800_0000, put there by qemu's `-device loader` or the firmware's `initramfs` line,
//! with its length in the boot parameters just before it, checked against the end of ARM
//! memory as the firmware reports it), one static arena (the tokenizer's tables and the
//! session's plan, carved at run time), and an `embedded_io::Write` (the PL011 UART). The
//! kernel reads the prompt from the boot parameters, generates greedily (argmax, lowest id
//! on ties) and streams the text to the UART, then the prompt and generated ids, then exits
//! through semihosting (status 0 on success, 1 on an error it explains, 3 on a CPU
//! exception, 101 on a panic). Between the prompt and the first generated token it saves
//! the session's state into the arena left over, empties the session and restores it
//! (`armlet_core::state`, no allocation), so the text compared with Linux comes from a
//! restored session.
//!
//! As on hardware: MMU on (flat map), caches and branch prediction on, VFP on in RunFast
//! mode (FPSCR FZ | DN), unaligned loads allowed (the quant kernels need them).
#![no_std]
#![no_main]

mod boot;
mod cost;
mod mailbox;
mod mmio;
mod mmu;
mod params;
mod semihosting;
mod timer;
mod uart;

use armlet_core::gguf::{self, GgufError};
use armlet_core::model::{KvCacheType, Model, ModelError};
use armlet_core::plan::{Bytes, Mib, Plan, PlanError};
use armlet_core::sample::argmax_logits;
use armlet_core::session::{arena_from_words, Session, SessionError};
use armlet_core::state::{Fingerprint, StateError};
use armlet_core::text::{
    DetokenizeError, DetokenizeOptions, Detokenizer, TextError, Tokenizer, DEFAULT_MAX_FRAGMENT_BYTES,
};
use core::convert::Infallible;
use core::fmt::{self, Write as _};
use embedded_io::SliceWriteError;
use params::{ParamsError, Prompt};
use uart::Uart;

/// The static arena: the tokenizer's tables first, then the session's buffers. 64 MiB
/// holds the 2-layer fixtures at contexts of tens of thousands, the 90M-shaped Falcon-H1 at a context of
/// 4096 (F16 cache: about 53 MiB) and a SmolLM2-135M-shaped model (23 KiB of F16 cache per
/// position) at 2048; the kernel says how much it needs when it is too small.
const ARENA_BYTES: usize = 64 << 20;
static mut ARENA: [u64; ARENA_BYTES / 8] = [0; ARENA_BYTES / 8];

/// Longest prompt in tokens (as many ids as fit the boot parameters).
const MAX_PROMPT_IDS: usize = params::BYTES / 4;
static mut PROMPT_IDS: [u32; MAX_PROMPT_IDS] = [0; MAX_PROMPT_IDS];

/// Most generated ids listed at the end (the text is streamed whatever the count).
const MAX_LISTED_IDS: usize = 4096;
static mut GENERATED_IDS: [u32; MAX_LISTED_IDS] = [0; MAX_LISTED_IDS];

/// The key/value cache type: llama.cpp's default, as `armlet` on Linux.
const KV: KvCacheType = KvCacheType::F16;

/// Everything that stops a run, each with what the user can do about it.
enum Error {
    Params(ParamsError),
    Mailbox,
    ModelPastRam { end: u64, ram_end: u64 },
    Gguf(GgufError),
    Model(ModelError),
    Text(TextError),
    PromptTooLong { needed: usize },
    Plan(PlanError),
    TokenizerTooLarge { need: usize },
    ArenaTooSmall { need: usize, have: usize, n_ctx: usize },
    Session(SessionError),
    /// The prompt's state, saved to the arena and restored, did not come back.
    State(StateError<SliceWriteError>),
    Restore(StateError<Infallible>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Params(e) => write!(f, "{e}"),
            Error::Mailbox => f.write_str("the firmware did not answer the mailbox query for the ARM memory size"),
            Error::ModelPastRam { end, ram_end } => write!(
                f,
                "the model would end at {end:#x}, past the end of ARM memory at {ram_end:#x}: \
                 use a smaller model or give the ARM more memory (config.txt gpu_mem=16)"
            ),
            Error::Gguf(e) => write!(f, "model: {e}"),
            Error::Model(e) => write!(f, "model: {e}"),
            Error::Text(e) => write!(f, "tokenizer: {e}"),
            Error::PromptTooLong { needed } => {
                write!(f, "the prompt has {needed} tokens; this kernel takes at most {MAX_PROMPT_IDS}")
            }
            Error::Plan(e) => write!(f, "memory plan: {e}"),
            Error::TokenizerTooLarge { need } => write!(
                f,
                "the tokenizer's tables need {} ({} bytes), more than the {} static arena",
                Mib(*need as u64),
                Bytes(*need as u64),
                Mib(ARENA_BYTES as u64)
            ),
            Error::ArenaTooSmall { need, have, n_ctx } => write!(
                f,
                "the static arena is too small: a context of {n_ctx} needs {} ({} bytes) for the \
                 session, {} ({} bytes) are left after the tokenizer; generate fewer tokens or \
                 rebuild with a larger ARENA_BYTES",
                Mib(*need as u64),
                Bytes(*need as u64),
                Mib(*have as u64),
                Bytes(*have as u64)
            ),
            Error::Session(e) => write!(f, "session: {e}"),
            Error::State(e) => write!(f, "saving the state: {e}"),
            Error::Restore(e) => write!(f, "restoring the state: {e}"),
        }
    }
}

/// Saves the session's state into the arena left over, empties the session and restores it,
/// so every run shows a saved state carrying a conversation on exactly (the generated text
/// is compared with Linux's). Returns the state's bytes and whether there was room for it.
fn round_trip_state(s: &mut Session<'_, '_>, fp: &Fingerprint, room: &mut [u8]) -> Result<(u64, bool), Error> {
    let bytes = s.state_bytes(0);
    let Some(buf) = usize::try_from(bytes).ok().and_then(|n| room.get_mut(..n)) else {
        return Ok((bytes, false));
    };
    s.save(fp, &[], &mut *buf).map_err(Error::State)?;
    s.reset();
    s.restore(fp, &*buf, &mut []).map_err(Error::Restore)?;
    Ok((bytes, true))
}

/// Detokenizing to the UART cannot fail on the sink side.
impl From<DetokenizeError<Infallible>> for Error {
    fn from(e: DetokenizeError<Infallible>) -> Self {
        match e {
            DetokenizeError::Text(t) => Error::Text(t),
            DetokenizeError::Sink(never) => match never {},
        }
    }
}

#[unsafe(no_mangle)]
extern "C" fn kmain(_r0: u32, _machine_id: u32, _atags: u32) -> ! {
    uart::init();
    let mut out = Uart;
    let status = match run(&mut out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(out, "\n[armlet] error: {e}");
            1
        }
    };
    let (used, size) = boot::stack_used();
    let _ = writeln!(out, "[armlet] stack: {} of {} bytes used", Bytes(used as u64), Bytes(size as u64));
    semihosting::exit(status)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(Uart, "\n[armlet] PANIC: {info}");
    semihosting::exit(101)
}

/// Takes `n` bytes off the front of `rest`, starting on a cache line.
fn carve<'a>(rest: &mut &'a mut [u8], n: usize) -> Option<&'a mut [u8]> {
    let skip = (rest.as_ptr() as usize).wrapping_neg() % mmu::CACHE_LINE;
    let whole = core::mem::take(rest);
    if whole.len() < skip.checked_add(n)? {
        *rest = whole;
        return None;
    }
    let (part, tail) = whole[skip..].split_at_mut(n);
    *rest = tail;
    Some(part)
}

// Error carries the core's errors by value (no allocator to box them); it is returned once.
#[allow(clippy::result_large_err)]
fn run(out: &mut Uart) -> Result<(), Error> {
    let (ram_base, ram_size) = mailbox::arm_memory().ok_or(Error::Mailbox)?;
    let ram_end = ram_base as u64 + ram_size as u64;
    let _ = writeln!(
        out,
        "[armlet] armlet-core on bare metal: ARM memory {ram_base:#010x}..{ram_end:#010x} ({})",
        Mib(ram_size as u64)
    );

    // SAFETY: the boot parameters' 64 KiB lie below the model and above the kernel's end
    // (asserted in link.x), inside RAM, mapped, and nothing writes them.
    let block: &'static [u8] = unsafe { core::slice::from_raw_parts(params::ADDR as *const u8, params::BYTES) };
    let p = params::parse(block).map_err(Error::Params)?;
    let model_end = params::MODEL_ADDR as u64 + p.model_bytes as u64;
    if model_end > ram_end {
        return Err(Error::ModelPastRam { end: model_end, ram_end });
    }
    // SAFETY: [MODEL_ADDR, model_end) is ARM RAM (checked just above), above everything the
    // kernel uses (link.x), mapped as normal memory, and only read from here on.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(params::MODEL_ADDR as *const u8, p.model_bytes) };
    let file = gguf::File::parse(bytes).map_err(Error::Gguf)?;
    let model = Model::from_gguf(&file).map_err(Error::Model)?;
    let h = &model.hparams;
    let _ = writeln!(
        out,
        "[armlet] model: {} bytes at {:#010x}: {}, {} layers, vocabulary {}",
        Bytes(p.model_bytes as u64),
        params::MODEL_ADDR,
        h.arch.name(),
        h.n_layer,
        h.n_vocab
    );

    // SAFETY: kmain runs once, on the only core, with interrupts masked: this is the one
    // and only reference to each of these statics.
    let (arena, prompt_ids, generated_ids) = unsafe {
        (
            arena_from_words(&mut *core::ptr::addr_of_mut!(ARENA)),
            &mut *core::ptr::addr_of_mut!(PROMPT_IDS),
            &mut *core::ptr::addr_of_mut!(GENERATED_IDS),
        )
    };
    let arena_start = arena.as_ptr() as usize;
    let mut rest = arena;

    let max_fragment = match p.prompt {
        Prompt::Text(t) => t.len().max(DEFAULT_MAX_FRAGMENT_BYTES),
        Prompt::Ids(_) => DEFAULT_MAX_FRAGMENT_BYTES,
    };
    let tokenizer_bytes = Tokenizer::arena_bytes_for(&file, max_fragment).map_err(Error::Text)?;
    let tokenizer_arena =
        carve(&mut rest, tokenizer_bytes).ok_or(Error::TokenizerTooLarge { need: tokenizer_bytes })?;
    let tok = Tokenizer::new(&file, tokenizer_arena).map_err(Error::Text)?;

    let n_prompt = match p.prompt {
        Prompt::Text(text) => match tok.encode(text, true, true, prompt_ids) {
            Err(TextError::OutputFull { needed }) => return Err(Error::PromptTooLong { needed }),
            r => r.map_err(Error::Text)?,
        },
        Prompt::Ids(raw) => {
            let mut n = 0;
            for (slot, id) in prompt_ids.iter_mut().zip(Prompt::ids(raw)) {
                *slot = id;
                n += 1;
            }
            n
        }
    };
    let prompt = &prompt_ids[..n_prompt];
    let n_ctx = n_prompt.saturating_add(p.n_predict);
    let plan = Plan::new(h, n_ctx, KV).map_err(Error::Plan)?;
    let need = plan.arena_bytes();
    let have = rest.len();
    let session_arena = carve(&mut rest, need).ok_or(Error::ArenaTooSmall { need, have, n_ctx })?;
    let _ = writeln!(
        out,
        "[armlet] arena: {} static at {arena_start:#010x}: tokenizer {}, session {} (context {n_ctx}, {} KV cache)",
        Mib(ARENA_BYTES as u64),
        Mib(tokenizer_bytes as u64),
        Mib(need as u64),
        KV.name()
    );
    let mut session = Session::new(&model, &plan, session_arena).map_err(Error::Session)?;
    let _ = writeln!(out, "[armlet] prompt: {n_prompt} tokens; generating {}", p.n_predict);

    // The prompt as the user gave it, then the generated text (what `armlet` prints on Linux).
    match p.prompt {
        Prompt::Text(text) => embedded_io::Write::write_all(out, text).unwrap_or_else(|never| match never {}),
        Prompt::Ids(_) => {
            let mut echo = Detokenizer::new(&tok, DetokenizeOptions::pieces(false));
            for &id in prompt {
                echo.push(id, out)?;
            }
            echo.finish(out)?;
        }
    }

    let t0 = timer::micros();
    cost::tick();
    session.feed_prompt(prompt).map_err(Error::Session)?;
    cost::tick();
    let t1 = timer::micros();
    let (state_bytes, restored) = round_trip_state(&mut session, &Fingerprint::of(&file), rest)?;

    let mut detok = Detokenizer::new(&tok, DetokenizeOptions::pieces(false));
    let mut n_generated = 0usize;
    cost::region_begin();
    while n_generated < p.n_predict {
        let id = argmax_logits(session.logits());
        if let Some(slot) = generated_ids.get_mut(n_generated) {
            *slot = id;
        }
        n_generated += 1;
        let end_of_generation = !p.ignore_eog && tok.is_eog(id);
        if !end_of_generation {
            detok.push(id, out)?;
        }
        // Fed like the Linux shim does, so a later turn could continue from it.
        session.feed(id).map_err(Error::Session)?;
        cost::tick();
        if end_of_generation {
            break;
        }
    }
    cost::region_end();
    let t2 = timer::micros();
    detok.finish(out)?;

    let _ = write!(out, "\n[armlet] prompt ids:");
    for id in prompt {
        let _ = write!(out, " {id}");
    }
    let _ = write!(out, "\n[armlet] generated ids:");
    for id in generated_ids.iter().take(n_generated) {
        let _ = write!(out, " {id}");
    }
    if n_generated > MAX_LISTED_IDS {
        let _ = write!(out, " ... ({} more)", n_generated - MAX_LISTED_IDS);
    }
    let state = if restored { "saved after the prompt and restored" } else { "too large for the arena left" };
    let _ = write!(out, "\n[armlet] state: {} bytes, {state}", Bytes(state_bytes));
    let prompt_us = t1.wrapping_sub(t0);
    let gen_us = t2.wrapping_sub(t1);
    let _ = writeln!(
        out,
        "\n[armlet] {n_prompt} prompt tokens in {}.{:03} ms, {n_generated} generated in {}.{:03} ms (system timer)",
        prompt_us / 1000,
        prompt_us % 1000,
        gen_us / 1000,
        gen_us % 1000
    );
    Ok(())
}
