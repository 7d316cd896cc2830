//! The completion command line: llama-completion's flags (so the walkthrough's command
//! works unchanged) plus armlet's own. Parsing only: every value is checked here, and a bad
//! one is an error that names the flag.

use crate::grammar_glue::Source;
use armlet_core::sample::SamplerConfig;
use std::path::PathBuf;

pub const HELP: &str = "\
armlet - run a language model on a Raspberry Pi 1 / Zero (or anywhere), in a fixed memory budget

USAGE
    armlet -m MODEL.gguf -p PROMPT [-n N] [OPTIONS]     complete a prompt
    armlet -m MODEL.gguf -cnv [-sys TEXT]                chat with the model
    armlet info MODEL.gguf [--json] [--ctx N]           what a model file holds, and its memory plan
    armlet logits -m MODEL -p PROMPT -n N -o FILE       logits of every position (.alog golden format)
    armlet tokenize -m MODEL -p TEXT                    the token ids of a text
    armlet perplexity -m MODEL -f TEXT [-c N]           how well a model predicts a text (llama-perplexity)
    armlet quantize IN.gguf OUT.gguf TYPE               convert a model to another weight type
    armlet serve -m MODEL.gguf [--host H] [--port N]    llama-server's HTTP API (armlet serve --help)

    The flags follow llama.cpp's llama-completion, so its command lines work with `armlet`
    in front, e.g. armlet -m model.gguf -p \"Hello! How are you?\" -n 32 --threads 1 --ctx-size 128 --no-mmap

MODEL AND PROMPT
    -m, --model FILE          GGUF model file (falcon-h1, llama or gemma3 architecture)
    -p, --prompt TEXT         the prompt; special tokens such as <|im_start|> are recognised
    -f, --file FILE           read the prompt from FILE
    -e, --escape              process escapes (\\n, \\t, \\\\, \\\", \\') in the prompt (the default)
        --no-escape           take the prompt literally
        --verbose-prompt      print the prompt's tokens before generating
        --no-display-prompt   print only the generated text, not the prompt before it
    -sys, --system-prompt T   system message for chat mode

GENERATION
    -n, --n-predict N         tokens to generate; -1 = until end of text or a full context (default -1)
    -c, --ctx-size N          context size in tokens; 0 = the model's (default 4096, capped by the model)
    -ub, --ubatch-size N      prompt tokens run together: every matrix product takes the whole batch,
                              and the arena holds N rows of every per-token buffer (default 32, at
                              most 64; 1 = one token at a time, the least memory)
    -b, --batch-size N        accepted as in llama.cpp; the batch is the smaller of -b and -ub
        --swa-full            sliding-window layers (Gemma 3) keep every position instead of a ring
                              of their window: more memory, but a prompt cache can be rewound anywhere
    -s, --seed N              random seed; same seed, same text on every machine (default: from the clock)
        --temp T              temperature; 0 = greedy (default 0.8)
        --top-k N             keep the N most likely tokens; 0 = all (default 40)
        --top-p P             keep the most likely tokens up to probability P (default 0.95)
        --min-p P             drop tokens below P x the best one's probability (default 0.05)
        --repeat-penalty F    penalise recently seen tokens; 1.0 = off (default 1.0)
        --repeat-last-n N     how many recent tokens the penalty sees; -1 = the context (default 64)
        --ignore-eos          keep generating past end-of-text (for benchmarks)

GRAMMARS (constrain the output, as llama-completion's; see armlet grammar-check)
        --grammar TEXT        a GBNF grammar the generated text must match: every token is
                              allowed by it, and the text ends only where the grammar may end.
                              In a chat each answer starts the grammar anew
        --grammar-file FILE   the grammar from FILE
        --json                the output is one JSON value (a built-in grammar)
    -cnv, --conversation      interactive chat with the model's chat template: the prompt, if
                              any, is the first user message; /reset starts over, /save FILE
                              keeps the conversation in FILE and /load FILE takes it back,
                              Ctrl-D ends.
                              Ctrl-C stops an answer (what it said stays in the conversation)
                              and gives the prompt back; at the prompt, or twice within a
                              second, it ends the chat with the statistics (exit status 130).
                              As in llama-completion this is on by default when the model file
                              has a chat template
    -no-cnv, --no-conversation  plain completion of the prompt as given; Ctrl-C stops it with
                              the statistics (exit status 130)

PROMPT CACHE (as llama-completion's; the file format is docs/state-format.md)
        --prompt-cache FILE   keep the state after the prompt in FILE (in a chat: after the first
                              turn, system message and template included): when FILE holds the
                              state of a prompt this one starts with, restore it and evaluate only
                              the rest; then save the state reached after the prompt. A missing, damaged or
                              foreign FILE (another model, KV type or too large for -c) is a warning
                              and a run from scratch. An attention-only model (llama) also reuses a
                              cache that shares only a beginning with the prompt; a hybrid one
                              (falcon-h1) resumes only from exactly the saved tokens, because its
                              recurrent Mamba2 state cannot be rewound
        --prompt-cache-all    also save at the end, with the generated tokens
        --prompt-cache-ro     use FILE but never write it

MEMORY AND MACHINE
        --mem-limit SIZE      refuse to start if model + arena would exceed SIZE (e.g. 400M, 1G;
                              default: the memory the machine has available)
    -ctk, --cache-type-k T    KV cache type: f16 (default, as llama.cpp) or f32
    -ctv, --cache-type-v T    must equal the K type
        --no-mmap             read the model into memory (the default: the Pi is 32-bit)
        --mmap                accepted for compatibility; armlet always reads the file
    -t, --threads N           accepted for compatibility; armlet uses one core

OUTPUT
        --stats-json          print the statistics as one JSON object on stderr at the end
    -h, --help                this text

The generated text goes to stdout as it is produced; statistics (load time, prompt and
generation speed, peak memory, the memory plan) go to stderr. Errors print one line and
exit with status 1.
";

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub model: PathBuf,
    pub prompt: String,
    pub n_predict: i64,
    pub n_ctx: usize,
    pub sampler: SamplerConfig,
    /// -1 in repeat_last_n means the whole context; resolved once the context is known.
    pub repeat_last_n_context: bool,
    pub verbose_prompt: bool,
    /// None: on when the model has a chat template (llama-completion's auto mode).
    pub conversation: Option<bool>,
    pub system_prompt: Option<String>,
    pub mem_limit: Option<u64>,
    pub kv_f32: bool,
    /// Sliding-window layers keep every position (llama.cpp's --swa-full).
    pub swa_full: bool,
    /// Prompt tokens per batch as asked: the smaller of -ub and -b (the plan caps it).
    pub ubatch: usize,
    pub stats_json: bool,
    /// The grammar the output must match (--grammar, --grammar-file, --json).
    pub grammar: Option<Source>,
    pub ignore_eos: bool,
    pub display_prompt: bool,
    pub prompt_cache: Option<PathBuf>,
    pub prompt_cache_all: bool,
    pub prompt_cache_ro: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Request {
    Help,
    Run(Box<Options>),
}

pub fn parse(args: &[String]) -> Result<Request, String> {
    let mut model: Option<PathBuf> = None;
    let mut prompt: Option<String> = None;
    let mut escape = true;
    let mut o = Options {
        model: PathBuf::new(),
        prompt: String::new(),
        n_predict: -1,
        n_ctx: 4096,
        sampler: SamplerConfig { seed: clock_seed(), ..SamplerConfig::default() },
        repeat_last_n_context: false,
        verbose_prompt: false,
        conversation: None,
        system_prompt: None,
        mem_limit: None,
        kv_f32: false,
        swa_full: false,
        ubatch: armlet_core::plan::DEFAULT_UBATCH,
        stats_json: false,
        grammar: None,
        ignore_eos: false,
        display_prompt: true,
        prompt_cache: None,
        prompt_cache_all: false,
        prompt_cache_ro: false,
    };
    let (mut ubatch, mut batch): (Option<usize>, Option<usize>) = (None, None);
    let mut cache_k: Option<bool> = None;
    let mut cache_v: Option<bool> = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(Request::Help),
            "-m" | "--model" => model = Some(PathBuf::from(value()?)),
            "-p" | "--prompt" => prompt = Some(value()?.clone()),
            "-f" | "--file" => {
                let path = value()?;
                let text = std::fs::read(path).map_err(|e| format!("cannot read prompt file {path}: {e}"))?;
                prompt = Some(String::from_utf8(text).map_err(|_| format!("prompt file {path} is not UTF-8 text"))?);
            }
            "-e" | "--escape" => escape = true,
            "--no-escape" => escape = false,
            "--verbose-prompt" => o.verbose_prompt = true,
            "--no-display-prompt" => o.display_prompt = false,
            "--prompt-cache" => o.prompt_cache = Some(PathBuf::from(value()?)),
            "--prompt-cache-all" => o.prompt_cache_all = true,
            "--prompt-cache-ro" => o.prompt_cache_ro = true,
            "-sys" | "--system-prompt" => o.system_prompt = Some(value()?.clone()),
            "-n" | "--n-predict" => {
                o.n_predict = number(flag, value()?)?;
                if o.n_predict < -1 {
                    return Err(format!("{flag} must be -1 or more"));
                }
            }
            "-c" | "--ctx-size" => o.n_ctx = number(flag, value()?)?,
            "-ub" | "--ubatch-size" => ubatch = Some(positive(flag, value()?)?),
            "-b" | "--batch-size" => batch = Some(positive(flag, value()?)?),
            "-s" | "--seed" => {
                let s: i64 = number(flag, value()?)?;
                // llama.cpp's -1 (or its default 0xFFFFFFFF) means "random".
                o.sampler.seed = if s < 0 || s == 0xFFFF_FFFF { clock_seed() } else { s as u64 };
            }
            "--temp" => o.sampler.temperature = float(flag, value()?, 0.0, f32::MAX)?,
            "--top-k" => o.sampler.top_k = number(flag, value()?)?,
            "--top-p" => o.sampler.top_p = float(flag, value()?, 0.0, 1.0)?,
            "--min-p" => o.sampler.min_p = float(flag, value()?, 0.0, 1.0)?,
            "--repeat-penalty" => o.sampler.repeat_penalty = float(flag, value()?, 0.0, f32::MAX)?,
            "--repeat-last-n" => {
                let n: i64 = number(flag, value()?)?;
                match n {
                    -1 => o.repeat_last_n_context = true,
                    n if n >= 0 => o.sampler.repeat_last_n = n as usize,
                    _ => return Err(format!("{flag} must be -1 or more")),
                }
            }
            "-cnv" | "--conversation" => o.conversation = Some(true),
            "-no-cnv" | "--no-conversation" => o.conversation = Some(false),
            "--mem-limit" => o.mem_limit = Some(size(flag, value()?)?),
            "-ctk" | "--cache-type-k" => cache_k = Some(cache_type(flag, value()?)?),
            "-ctv" | "--cache-type-v" => cache_v = Some(cache_type(flag, value()?)?),
            "--no-mmap" | "--mmap" => {}
            "--swa-full" => o.swa_full = true,
            "-t" | "--threads" => {
                let t: i64 = number(flag, value()?)?;
                if t == 0 || t < -1 {
                    return Err(format!("{flag} must be a positive number of threads"));
                }
            }
            "--stats-json" => o.stats_json = true,
            "--grammar" | "--grammar-file" | "--json" => {
                let source = match flag.as_str() {
                    "--grammar" => Source::Text(value()?.clone()),
                    "--grammar-file" => Source::File(PathBuf::from(value()?)),
                    _ => Source::Json,
                };
                if o.grammar.is_some() {
                    return Err("give one grammar: --grammar, --grammar-file or --json".into());
                }
                o.grammar = Some(source);
            }
            "--ignore-eos" => o.ignore_eos = true,
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other} (see armlet --help)"))
            }
            other => return Err(format!("unexpected argument {other:?} (see armlet --help)")),
        }
    }
    o.ubatch = ubatch.unwrap_or(o.ubatch).min(batch.unwrap_or(usize::MAX));
    if o.prompt_cache.is_none() && (o.prompt_cache_all || o.prompt_cache_ro) {
        let flag = if o.prompt_cache_all { "--prompt-cache-all" } else { "--prompt-cache-ro" };
        return Err(format!("{flag} needs --prompt-cache FILE"));
    }
    if o.prompt_cache_all && o.prompt_cache_ro {
        return Err("--prompt-cache-all and --prompt-cache-ro contradict each other".into());
    }
    o.model = model.ok_or("no model given: use -m MODEL.gguf (see armlet --help)")?;
    o.kv_f32 = match (cache_k, cache_v) {
        (Some(k), Some(v)) if k != v => return Err("--cache-type-k and --cache-type-v must be the same".into()),
        (k, v) => k.or(v).unwrap_or(false),
    };
    let prompt = prompt.unwrap_or_default();
    o.prompt = if escape { unescape(&prompt) } else { prompt };
    if o.prompt.is_empty() && o.conversation == Some(false) {
        return Err("empty prompt: give one with -p TEXT or -f FILE".into());
    }
    Ok(Request::Run(Box::new(o)))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

fn positive(flag: &str, v: &str) -> Result<usize, String> {
    match number(flag, v)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

fn float(flag: &str, v: &str, min: f32, max: f32) -> Result<f32, String> {
    let x: f32 = number(flag, v)?;
    if !x.is_finite() || x < min || x > max {
        return Err(if max == f32::MAX {
            format!("{flag}: {v} is out of range ({min} or more)")
        } else {
            format!("{flag}: {v} is out of range ({min} to {max})")
        });
    }
    Ok(x)
}

fn cache_type(flag: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "f16" => Ok(false),
        "f32" => Ok(true),
        _ => Err(format!("{flag}: cache type {v:?} is not supported (f16 or f32)")),
    }
}

/// A byte size such as 400M, 1G, 512MiB or 1000000.
pub fn size(flag: &str, v: &str) -> Result<u64, String> {
    let t = v.trim();
    let lower = t.to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let scale: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{flag}: {v:?} is not a size (examples: 400M, 1G)")),
    };
    let n: f64 = num.parse().map_err(|_| format!("{flag}: {v:?} is not a size (examples: 400M, 1G)"))?;
    if n <= 0.0 || !n.is_finite() || n * scale as f64 > u64::MAX as f64 / 2.0 {
        return Err(format!("{flag}: {v:?} is not a positive size"));
    }
    Ok((n * scale as f64) as u64)
}

/// llama.cpp's escape processing (`-e`): \n \r \t \\ \' \" \a \b \f \v \0 and \xHH.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('0') => out.push('\0'),
            Some('x') => {
                let hex: String = chars.clone().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if hex.len() == 2 && b < 0x80 => {
                        out.push(b as char);
                        chars.next();
                        chars.next();
                    }
                    _ => out.push_str("\\x"),
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn opts(s: &[&str]) -> Options {
        match parse(&args(s)) {
            Ok(Request::Run(o)) => *o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_walkthrough_command_line_parses() {
        let o = opts(&["-m", "m.gguf", "-p", "Hello! How are you?", "-n", "32", "--threads", "1", "--ctx-size", "128", "--no-mmap"]);
        assert_eq!((o.n_predict, o.n_ctx, o.prompt.as_str()), (32, 128, "Hello! How are you?"));
        assert!(!o.kv_f32 && o.conversation.is_none());
    }

    #[test]
    fn sampling_flags_and_escapes() {
        let o = opts(&["-m", "m", "-p", "a\\nb\\t\\x41", "--temp", "0", "--top-k", "5", "--top-p", "0.5", "--min-p", "0.1", "--repeat-penalty", "1.1", "--repeat-last-n", "-1", "-s", "42", "-ctk", "f32"]);
        assert_eq!(o.prompt, "a\nb\tA");
        assert_eq!((o.sampler.temperature, o.sampler.top_k, o.sampler.seed), (0.0, 5, 42));
        assert!(o.repeat_last_n_context && o.kv_f32);
        assert_eq!(opts(&["-m", "m", "--no-escape", "-p", "a\\n"]).prompt, "a\\n");
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (a, want) in [
            (&["-m", "m", "-p", "x", "-n", "abc"][..], "-n: \"abc\" is not a valid number"),
            (&["-m", "m", "-p", "x", "--top-p", "1.5"][..], "--top-p: 1.5 is out of range"),
            (&["-m", "m", "-p", "x", "--bogus"][..], "unknown option --bogus"),
            (&["-m", "m", "-p", "x", "-c"][..], "-c needs a value"),
            (&["-p", "x"][..], "no model given"),
            (&["-m", "m", "-no-cnv", "-p", ""][..], "empty prompt"),
            (&["-m", "m", "-p", "x", "--mem-limit", "lots"][..], "--mem-limit: \"lots\" is not a size"),
            (&["-m", "m", "-p", "x", "-ctk", "q8_0"][..], "cache type \"q8_0\" is not supported"),
            (&["-m", "m", "-p", "x", "-ub", "0"][..], "-ub must be at least 1"),
            (&["-m", "m", "-p", "x", "--batch-size", "x"][..], "--batch-size: \"x\" is not a valid number"),
            (&["-m", "m", "-p", "x", "--prompt-cache-all"][..], "--prompt-cache-all needs --prompt-cache FILE"),
            (&["-m", "m", "-p", "x", "--prompt-cache-ro"][..], "--prompt-cache-ro needs --prompt-cache FILE"),
            (&["-m", "m", "-p", "x", "--prompt-cache", "f", "--prompt-cache-ro", "--prompt-cache-all"][..], "contradict"),
            (&["-m", "m", "-p", "x", "--prompt-cache"][..], "--prompt-cache needs a value"),
        ] {
            let e = parse(&args(a)).unwrap_err();
            assert!(e.contains(want), "{a:?}: {e}");
        }
    }

    #[test]
    fn the_batch_is_the_smaller_of_ub_and_b() {
        assert_eq!(opts(&["-m", "m", "-p", "x"]).ubatch, armlet_core::plan::DEFAULT_UBATCH);
        assert_eq!(opts(&["-m", "m", "-p", "x", "-ub", "1"]).ubatch, 1);
        assert_eq!(opts(&["-m", "m", "-p", "x", "--ubatch-size", "16", "-b", "2048"]).ubatch, 16);
        assert_eq!(opts(&["-m", "m", "-p", "x", "-b", "3"]).ubatch, 3);
    }

    #[test]
    fn prompt_cache_flags() {
        let o = opts(&["-m", "m", "-p", "x", "--prompt-cache", "pc.bin", "--prompt-cache-all", "--no-display-prompt"]);
        assert_eq!(o.prompt_cache.as_deref(), Some(std::path::Path::new("pc.bin")));
        assert!(o.prompt_cache_all && !o.prompt_cache_ro && !o.display_prompt);
        let o = opts(&["-m", "m", "-p", "x", "--prompt-cache", "pc.bin", "--prompt-cache-ro"]);
        assert!(o.prompt_cache_ro && o.display_prompt);
    }

    #[test]
    fn sizes() {
        assert_eq!(size("x", "400M"), Ok(400 << 20));
        assert_eq!(size("x", "1.5G"), Ok(3 << 29));
        assert_eq!(size("x", "1000"), Ok(1000));
        assert!(size("x", "-1G").is_err());
    }
}
