//! `armlet perplexity`: the quality of a model file, measured as llama.cpp's
//! `llama-perplexity` measures it (`../shared/models/perplexity.md`). The text, less one
//! trailing newline, is tokenized whole (BOS as the file says, special-token text taken as
//! text) and cut into chunks of `-c` tokens that never see each other. Each chunk starts
//! from an empty state, its first token replaced by BOS when the file adds one. Its first
//! half is context only (fed in batches). Each logit row from the middle to the next-to-last
//! position scores the next token: `-log softmax`, max-subtracted, the exponentials summed
//! in double. It prints the running perplexity after every chunk (`[k]x.xxxx,`), then
//! `Final estimate: PPL = x +/- y`, the standard error carried to first order.

use crate::machine;
use crate::model_file::ModelBytes;
use crate::options::size;
use crate::text_glue::Text;
use armlet_core::gguf;
use armlet_core::math::expf;
use armlet_core::model::{KvCacheType, Model};
use armlet_core::plan::{Mib, Plan, PlanError, DEFAULT_UBATCH, MAX_UBATCH};
use armlet_core::session::{arena_from_words, Session};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: armlet perplexity -m MODEL -f TEXT [-c N] [-b N] [--kv f16|f32] [--chunks N] [--mem-limit SIZE]
    -m, --model FILE      the model file
    -f, --file FILE       the text to score (llama-perplexity's -f: one trailing newline is dropped)
    -c, --ctx-size N      tokens per chunk (default 512); the second half of each chunk is scored
    -b, -ub N             prompt tokens per batch (default 32, at most 64); the numbers do not change
    --kv f16|f32          the KV cache type (default f16, as llama.cpp; also -ctk/-ctv)
    --chunks N            score at most N chunks (default: every whole chunk of the text)
    --mem-limit SIZE      refuse to start if model + buffers exceed SIZE (default: what is available)
The running perplexity goes to stdout after each chunk ([1]47.5679,[2]...), then the
final estimate; progress and statistics go to stderr.";

struct Args {
    model: PathBuf,
    text: PathBuf,
    n_ctx: usize,
    ubatch: usize,
    kv: KvCacheType,
    max_chunks: Option<usize>,
    mem_limit: Option<u64>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let (mut model, mut text) = (None, None);
    let mut a = Args {
        model: PathBuf::new(),
        text: PathBuf::new(),
        n_ctx: 512,
        ubatch: DEFAULT_UBATCH,
        kv: KvCacheType::F16,
        max_chunks: None,
        mem_limit: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("perplexity: {flag} needs a value\n{USAGE}"));
        let count = |v: &str| v.parse::<usize>().map_err(|_| format!("perplexity: {flag} {v}: expected a number"));
        match flag.as_str() {
            "-m" | "--model" => model = Some(PathBuf::from(value()?)),
            "-f" | "--file" => text = Some(PathBuf::from(value()?)),
            "-c" | "--ctx-size" => a.n_ctx = count(value()?)?,
            "-b" | "--batch-size" | "-ub" | "--ubatch-size" => a.ubatch = count(value()?)?.clamp(1, MAX_UBATCH),
            "--kv" | "-ctk" | "--cache-type-k" | "-ctv" | "--cache-type-v" => {
                a.kv = match value()?.as_str() {
                    "f16" => KvCacheType::F16,
                    "f32" => KvCacheType::F32,
                    other => return Err(format!("perplexity: {flag} {other}: expected f16 or f32")),
                }
            }
            "--chunks" => a.max_chunks = Some(count(value()?)?).filter(|&n| n > 0),
            "--mem-limit" => a.mem_limit = Some(size(flag, value()?)?),
            "-t" | "--threads" => {
                value()?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("perplexity: unknown option {other}\n{USAGE}")),
        }
    }
    let missing = |what: &str| format!("perplexity: missing {what}\n{USAGE}");
    a.model = model.ok_or_else(|| missing("-m MODEL"))?;
    a.text = text.ok_or_else(|| missing("-f TEXT"))?;
    if a.n_ctx < 4 {
        return Err(format!("perplexity: -c {}: a chunk needs at least 4 tokens (half context, half scored)", a.n_ctx));
    }
    Ok(a)
}

/// The sums llama-perplexity keeps: scored tokens, Σ nll and Σ nll², in double.
#[derive(Default)]
struct Score {
    count: usize,
    nll: f64,
    nll2: f64,
}

impl Score {
    /// Scores `target` against one logit row.
    fn add(&mut self, logits: &[f32], target: u32) -> Result<(), String> {
        let mut max = logits[0];
        for &l in logits {
            if !l.is_finite() {
                return Err("the model produced a NaN or infinite logit; the perplexity would be meaningless".into());
            }
            max = max.max(l);
        }
        let sum: f64 = logits.iter().map(|&l| expf(l - max) as f64).sum();
        let v = -(((logits[target as usize] - max) as f64) - sum.ln());
        self.count += 1;
        self.nll += v;
        self.nll2 += v * v;
        Ok(())
    }

    fn ppl(&self) -> f64 {
        (self.nll / self.count as f64).exp()
    }

    /// `PPL ± PPL·sqrt((Σnll²/N − mean²)/(N − 1))`.
    fn error(&self) -> f64 {
        let n = self.count as f64;
        let mean = self.nll / n;
        self.ppl() * ((self.nll2 / n - mean * mean) / (n - 1.0)).max(0.0).sqrt()
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let a = parse_args(args)?;
    let shown = a.text.display();
    let raw = std::fs::read(&a.text).map_err(|e| format!("perplexity: cannot read {shown}: {e}"))?;
    let mut text = String::from_utf8(raw).map_err(|_| format!("perplexity: {shown} is not UTF-8 text"))?;
    if text.ends_with('\n') {
        text.pop();
    }
    if text.is_empty() {
        return Err(format!("perplexity: {shown} is empty"));
    }
    let path = a.model.display().to_string();
    let bytes = ModelBytes::read(&a.model)?;
    let file = gguf::File::parse(bytes.bytes()).map_err(|e| format!("{path}: {e}"))?;
    let model = Model::from_gguf(&file).map_err(|e| format!("{path}: {e}"))?;
    let plan = Plan::with_ubatch(&model.hparams, a.n_ctx, a.kv, a.ubatch).map_err(|e| format!("{path}: {e}"))?;
    let text_bytes = Text::memory_bytes(&file).map_err(|e| format!("{path}: {e}"))?;
    let limit = a.mem_limit.or_else(machine::available_memory).unwrap_or(u64::MAX);
    let need = bytes.bytes().len() as u64 + plan.arena_bytes() as u64 + text_bytes as u64 + 4 * text.len() as u64;
    if need > limit {
        return Err(format!("{} (see --mem-limit, -c)", PlanError::OutOfMemory { need, have: limit }));
    }
    let mut text_arena = vec![0u8; text_bytes];
    let tok = Text::new(&file, &mut text_arena).map_err(|e| format!("{path}: {e}"))?;
    eprintln!("perplexity: tokenizing the input ..");
    let tokens = tok.encode_with(&text, true, false)?;
    if tokens.len() < 2 * a.n_ctx {
        return Err(format!(
            "perplexity: you need at least {} tokens to evaluate perplexity with a context of {}; \
             the data file you provided tokenizes to only {} tokens",
            2 * a.n_ctx,
            a.n_ctx,
            tokens.len()
        ));
    }
    let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
    let mut session = Session::new(&model, &plan, arena_from_words(&mut words)).map_err(|e| e.to_string())?;
    let n_chunk = (tokens.len() / a.n_ctx).min(a.max_chunks.unwrap_or(usize::MAX));
    eprintln!(
        "perplexity: calculating perplexity over {n_chunk} chunks, n_ctx={}, batch_size={}, {} KV cache",
        a.n_ctx,
        plan.ubatch,
        a.kv.name()
    );
    let load = started.elapsed();
    let (bos, first) = (tok.bos_to_add(), a.n_ctx / 2);
    let mut score = Score::default();
    let mut out = std::io::stdout();
    let tty = std::io::stderr().is_terminal();
    let t0 = Instant::now();
    for (k, chunk) in tokens.chunks_exact(a.n_ctx).take(n_chunk).enumerate() {
        let mut chunk = chunk.to_vec();
        if let Some(b) = bos {
            chunk[0] = b;
        }
        session.reset();
        let logits = session.feed_prompt(&chunk[..=first]).map_err(|e| e.to_string())?;
        score.add(logits, chunk[first + 1])?;
        for j in first + 1..a.n_ctx - 1 {
            let logits = session.feed(chunk[j]).map_err(|e| e.to_string())?;
            score.add(logits, chunk[j + 1])?;
        }
        let _ = write!(out, "[{}]{:.4},", k + 1, score.ppl());
        let _ = out.flush();
        let per_chunk = t0.elapsed() / (k as u32 + 1);
        let left = per_chunk * (n_chunk - k - 1) as u32;
        if k == 0 {
            eprintln!("perplexity: {:.2} seconds per pass - ETA {}", per_chunk.as_secs_f64(), minutes(left));
        } else if tty {
            eprint!("\rperplexity: chunk {}/{n_chunk}, running PPL {:.4}, {} left   ", k + 1, score.ppl(), minutes(left));
        }
    }
    if tty && n_chunk > 1 {
        eprintln!();
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Final estimate: PPL = {:.4} +/- {:.5}", score.ppl(), score.error());
    let eval = t0.elapsed();
    let fed = n_chunk * (a.n_ctx - 1);
    eprintln!();
    eprintln!("armlet:        load time = {:10.2} ms", load.as_secs_f64() * 1000.0);
    eprintln!(
        "armlet:        eval time = {:10.2} ms / {fed:5} tokens ({:8.2} ms per token, {:8.2} tokens per second)",
        eval.as_secs_f64() * 1000.0,
        eval.as_secs_f64() * 1000.0 / fed as f64,
        fed as f64 / eval.as_secs_f64().max(1e-9)
    );
    eprintln!("armlet:    scored tokens = {} ({n_chunk} chunks of {})", score.count, a.n_ctx - first - 1);
    eprintln!("armlet:       total time = {:10.2} ms", started.elapsed().as_secs_f64() * 1000.0);
    if let Some(p) = machine::peak_resident() {
        eprintln!("armlet:      peak memory = {}", Mib(p));
    }
    Ok(())
}

/// `1.5 minutes`, as llama-perplexity's ETA.
fn minutes(t: Duration) -> String {
    format!("{:.2} minutes", t.as_secs_f64() / 60.0)
}
