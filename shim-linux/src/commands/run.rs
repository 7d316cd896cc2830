//! `armlet [flags]`: complete a prompt or chat, streaming tokens to stdout, with
//! llama.cpp-style statistics on stderr. The memory budget is settled before the arena is
//! allocated: model file + arena + tokenizer + sampler scratch must fit `--mem-limit`.

use crate::grammar_glue::{self, Loaded};
use crate::interrupt;
use crate::machine::{self, cost_markers};
use crate::model_file::ModelBytes;
use crate::options::{self, Options, Request};
use crate::state_file::{self, Opened};
use crate::text_glue::{self, ChatTurn, Text};
use armlet_core::constrain;
use armlet_core::gguf;
use armlet_core::grammar::Matcher;
use armlet_core::model::{KvCacheType, KvLayout, Model};
use armlet_core::plan::{Mib, Plan, PlanError, MAX_UBATCH};
use armlet_core::sample::{Candidate, Sampler};
use armlet_core::session::{arena_from_words, Session, SessionError};
use armlet_core::state::Fingerprint;
use std::cell::OnceCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Context size when the command line gives none (llama.cpp's default), capped by the model.
const DEFAULT_CTX: usize = 4096;

pub fn run(args: &[String]) -> Result<(), String> {
    let opts = match options::parse(args)? {
        Request::Help => {
            print!("{}", options::HELP);
            return Ok(());
        }
        Request::Run(o) => *o,
    };
    let started = Instant::now();
    let path = opts.model.display().to_string();
    let limit = match opts.mem_limit {
        Some(l) => l,
        None => machine::available_memory().unwrap_or(u64::MAX),
    };
    let file_len = std::fs::metadata(&opts.model).map_err(|e| format!("cannot open model file {path}: {e}"))?.len();
    if file_len > limit {
        return Err(format!(
            "not enough memory: the model file alone is {} and {} is available (--mem-limit)",
            Mib(file_len),
            Mib(limit)
        ));
    }
    let bytes = ModelBytes::read(&opts.model)?;
    let file = gguf::File::parse(bytes.bytes()).map_err(|e| format!("{path}: {e}"))?;
    let model = Model::from_gguf(&file).map_err(|e| format!("{path}: {e}"))?;
    let h = &model.hparams;
    let n_ctx = match opts.n_ctx {
        0 => h.n_ctx_train,
        n if n == DEFAULT_CTX => n.min(h.n_ctx_train),
        n => n,
    };
    let kv = if opts.kv_f32 { KvCacheType::F32 } else { KvCacheType::F16 };
    if opts.ubatch > MAX_UBATCH {
        eprintln!("armlet: -ub {}: batches hold at most {MAX_UBATCH} tokens; using {MAX_UBATCH}", opts.ubatch);
    }
    let layout = KvLayout { n_ctx, swa_full: opts.swa_full };
    let plan = Plan::with_layout(h, layout, kv, opts.ubatch.min(MAX_UBATCH)).map_err(|e| format!("{path}: {e}"))?;
    let text_bytes = Text::memory_bytes(&file).map_err(|e| format!("{path}: {e}"))?;
    let sampler_bytes = h.n_vocab * std::mem::size_of::<Candidate>() + n_ctx * 4;
    let mut grammar = opts.grammar.as_ref().map(Loaded::read).transpose()?;
    let grammar_bytes = match &grammar {
        Some(g) => g.memory_bytes().map_err(|e| format!("grammar {}: {e}", g.name))?,
        None => 0,
    };
    let budget = plan.arena_bytes() as u64 + text_bytes as u64 + sampler_bytes as u64 + grammar_bytes as u64;
    if file_len + budget > limit {
        let e = PlanError::OutOfMemory { need: file_len + budget, have: limit };
        return Err(format!("{e} (model {} + buffers {}; see --mem-limit, -c)", Mib(file_len), Mib(budget)));
    }
    let mut text_arena = vec![0u8; text_bytes];
    let text = Text::new(&file, &mut text_arena).map_err(|e| format!("{path}: {e}"))?;
    let mut stacks = Vec::new();
    let matcher = match grammar.as_mut() {
        Some(g) => {
            let name = g.name.clone();
            let rules = g.parse().map_err(|e| format!("grammar {name}: {e}"))?;
            Some(grammar_glue::matcher(rules, &mut stacks).map_err(|e| format!("grammar {name}: {e}"))?)
        }
        None => None,
    };
    let mut words = Vec::new();
    words
        .try_reserve_exact(plan.arena_bytes().div_ceil(8))
        .map_err(|_| format!("cannot allocate the {} arena", Mib(plan.arena_bytes() as u64)))?;
    words.resize(plan.arena_bytes().div_ceil(8), 0u64);
    let mut session = Session::new(&model, &plan, arena_from_words(&mut words)).map_err(|e| e.to_string())?;
    let mut sampler_config = opts.sampler;
    if opts.repeat_last_n_context {
        sampler_config.repeat_last_n = n_ctx;
    }
    let stats = Arc::new(Mutex::new(Stats { load: started.elapsed(), ..Stats::default() }));
    let (handler_stats, handler_opts) = (stats.clone(), opts.clone());
    interrupt::install(move || lock(&handler_stats).report(&handler_opts, budget, file_len))?;
    let mut run = Run {
        session: &mut session,
        file: &file,
        fingerprint: OnceCell::new(),
        text: &text,
        sampler: Sampler::new(sampler_config),
        grammar: matcher,
        scratch: vec![Candidate::default(); h.n_vocab],
        history: Vec::with_capacity(n_ctx),
        stats: stats.clone(),
        opts: &opts,
    };
    let conversation = opts.conversation.unwrap_or(text.has_chat_template());
    if conversation {
        run.chat()?;
    } else {
        run.complete()?;
    }
    lock(&stats).report(&opts, budget, file_len);
    Ok(())
}

/// Timings and counts for the closing statistics.
#[derive(Default)]
struct Stats {
    load: Duration,
    prompt_tokens: usize,
    /// Prompt tokens restored from --prompt-cache instead of evaluated, and the time taken.
    prompt_reused: Option<(usize, Duration)>,
    prompt_time: Duration,
    generated_tokens: usize,
    generation_time: Duration,
}

/// The statistics, also printed by the Ctrl-C handler when it ends the program.
fn lock(stats: &Mutex<Stats>) -> MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Stats {
    fn report(&self, opts: &Options, plan_bytes: u64, model_bytes: u64) {
        let rate = |n: usize, t: Duration| if t.as_secs_f64() > 0.0 { n as f64 / t.as_secs_f64() } else { 0.0 };
        let peak = machine::peak_resident();
        let ms = |t: Duration| t.as_secs_f64() * 1000.0;
        if opts.stats_json {
            eprintln!(
                "{{\"load_ms\":{:.1},\"prompt_tokens\":{},\"prompt_tokens_reused\":{},\"prompt_ms\":{:.1},\
                 \"prompt_tokens_per_s\":{:.3},\
                 \"generated_tokens\":{},\"generation_ms\":{:.1},\"generation_tokens_per_s\":{:.3},\
                 \"peak_resident_bytes\":{},\"model_bytes\":{},\"plan_bytes\":{}}}",
                ms(self.load),
                self.prompt_tokens,
                self.prompt_reused.map_or(0, |(n, _)| n),
                ms(self.prompt_time),
                rate(self.prompt_tokens, self.prompt_time),
                self.generated_tokens,
                ms(self.generation_time),
                rate(self.generated_tokens, self.generation_time),
                peak.map_or("null".to_string(), |p| p.to_string()),
                model_bytes,
                plan_bytes
            );
            return;
        }
        eprintln!();
        eprintln!("armlet:        load time = {:10.2} ms", ms(self.load));
        if let Some((n, t)) = self.prompt_reused {
            eprintln!("armlet:     prompt cache = {:10.2} ms / {n:5} tokens reused (restored, not evaluated)", ms(t));
        }
        eprintln!(
            "armlet: prompt eval time = {:10.2} ms / {:5} tokens ({:8.2} ms per token, {:8.2} tokens per second)",
            ms(self.prompt_time),
            self.prompt_tokens,
            ms(self.prompt_time) / self.prompt_tokens.max(1) as f64,
            rate(self.prompt_tokens, self.prompt_time)
        );
        eprintln!(
            "armlet:        eval time = {:10.2} ms / {:5} tokens ({:8.2} ms per token, {:8.2} tokens per second)",
            ms(self.generation_time),
            self.generated_tokens,
            ms(self.generation_time) / self.generated_tokens.max(1) as f64,
            rate(self.generated_tokens, self.generation_time)
        );
        match peak {
            Some(p) => eprintln!(
                "armlet:      peak memory = {} (model {} + memory plan {})",
                Mib(p),
                Mib(model_bytes),
                Mib(plan_bytes)
            ),
            None => eprintln!("armlet:      memory plan = {} (model {})", Mib(plan_bytes), Mib(model_bytes)),
        }
    }
}

/// Everything a completion or chat needs while it runs.
struct Run<'r, 's, 'm, 'a> {
    session: &'s mut Session<'m, 'a>,
    /// The model file, and its fingerprint once a state is saved or restored.
    file: &'r gguf::File<'r>,
    fingerprint: OnceCell<Fingerprint>,
    text: &'r Text<'r>,
    sampler: Sampler,
    /// The grammar the answer must match, when one was given.
    grammar: Option<Matcher<'r, 'r>>,
    scratch: Vec<Candidate>,
    history: Vec<u32>,
    stats: Arc<Mutex<Stats>>,
    opts: &'r Options,
}

/// How a generation ended.
#[derive(PartialEq)]
enum Ending {
    EndOfText,
    Limit,
    ContextFull,
    Interrupted,
}

impl<'r> Run<'r, '_, '_, '_> {
    /// Plain completion: the prompt as given (special tokens recognised, BOS as the file says).
    fn complete(&mut self) -> Result<(), String> {
        let ids = self.text.encode(&self.opts.prompt, true)?;
        if ids.is_empty() {
            return Err("the prompt gives no tokens".into());
        }
        // Not locked for the whole run: the Ctrl-C handler prints from its own thread.
        let mut out = std::io::stdout();
        if self.opts.display_prompt {
            let _ = out.write_all(self.opts.prompt.as_bytes());
            let _ = out.flush();
        }
        self.feed_first_prompt(&ids)?;
        if self.generate(&mut out)? == Ending::ContextFull {
            eprintln!("\narmlet: the context is full ({} tokens); use -c to make it larger", self.session.n_ctx());
        }
        if let Some(path) = self.writable_cache().filter(|_| self.opts.prompt_cache_all) {
            self.save_cache(path);
        }
        let _ = writeln!(out);
        Ok(())
    }

    /// Feeds the first prompt of a run (a completion's, or a chat's first turn with its
    /// system message): with --prompt-cache, from the cached state as far as it goes, then
    /// the state after the prompt is saved.
    fn feed_first_prompt(&mut self, ids: &[u32]) -> Result<(), String> {
        let cache = self.opts.prompt_cache.as_deref();
        let reused = cache.map_or(0, |path| self.resume(path, ids));
        self.feed_prompt(&ids[reused..])?;
        if let Some(path) = self.writable_cache().filter(|_| reused < ids.len()) {
            self.save_cache(path);
        }
        Ok(())
    }

    fn writable_cache(&self) -> Option<&'r Path> {
        self.opts.prompt_cache.as_deref().filter(|_| !self.opts.prompt_cache_ro)
    }

    fn fingerprint(&self) -> &Fingerprint {
        self.fingerprint.get_or_init(|| Fingerprint::of(self.file))
    }

    /// Restores the --prompt-cache state when the prompt can go on from it; returns how
    /// many of `ids` need no evaluation. A cache that cannot be used is one warning line.
    fn resume(&mut self, path: &Path, ids: &[u32]) -> usize {
        let t = Instant::now();
        let fp = *self.fingerprint();
        let shown = path.display();
        match state_file::restore(path, self.session, &fp) {
            Opened::Nothing => return 0,
            Opened::Bad(why) => {
                eprintln!("armlet: warning: prompt cache {shown}: {why}; evaluating the prompt from scratch");
                return 0;
            }
            Opened::Good { .. } => {}
        }
        let keep = match self.session.keep_prefix_of(ids) {
            Some(keep) => keep,
            None => {
                let arch = self.session.model().hparams.arch.name();
                let why = if self.session.can_rewind() {
                    format!("{arch}'s sliding-window layers no longer hold the positions before that point")
                } else {
                    format!("{arch}'s recurrent state cannot be rewound")
                };
                eprintln!(
                    "armlet: prompt cache {shown}: it holds {} tokens this prompt does not continue, and {why}; \
                     evaluating the prompt from scratch",
                    self.session.tokens().len()
                );
                self.session.reset();
                0
            }
        };
        self.history = self.session.tokens().to_vec();
        lock(&self.stats).prompt_reused = Some((keep, t.elapsed()));
        keep
    }

    /// Writes the session's state to the --prompt-cache file; a failure is a warning.
    fn save_cache(&mut self, path: &Path) {
        let fp = *self.fingerprint();
        if let Err(why) = state_file::save(path, self.session, &fp, &[]) {
            eprintln!("armlet: warning: prompt cache {}: not saved: {why}; the old file is kept", path.display());
        }
    }

    /// Interactive chat with the model's template; history stays in the KV cache and the
    /// Mamba2 state, so each turn feeds only the text not yet in the state: the rendered
    /// conversation minus what was fed before (the previous rendering, the answer and its
    /// end-of-turn token).
    fn chat(&mut self) -> Result<(), String> {
        if let Some(warning) = self.text.chat_template_warning() {
            eprintln!("armlet: {warning}");
        }
        let mut turns: Vec<ChatTurn> = Vec::new();
        if let Some(sys) = &self.opts.system_prompt {
            turns.push(ChatTurn { role: "system", content: sys.clone() });
        }
        let mut first_user = (!self.opts.prompt.is_empty()).then(|| self.opts.prompt.clone());
        let stdin = std::io::stdin();
        let interactive = stdin.is_terminal();
        // Not locked for the whole run: the Ctrl-C handler prints from its own thread.
        let mut out = std::io::stdout();
        // The text whose tokens are in the session's state.
        let mut fed = String::new();
        loop {
            let message = match first_user.take() {
                Some(m) => m,
                None => {
                    if interactive {
                        let _ = write!(out, "\n> ");
                        let _ = out.flush();
                    }
                    let mut line = String::new();
                    match stdin.lock().read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if line == "/reset" {
                        self.restart(&mut turns, &mut fed);
                        let _ = writeln!(out, "(conversation reset)");
                        continue;
                    }
                    if let Some(path) = line.strip_prefix("/save ") {
                        let _ = writeln!(out, "{}", self.save_chat(Path::new(path.trim()), &turns, &fed));
                        continue;
                    }
                    if let Some(path) = line.strip_prefix("/load ") {
                        let _ = writeln!(out, "{}", self.load_chat(Path::new(path.trim()), &mut turns, &mut fed));
                        continue;
                    }
                    if line.trim().is_empty() {
                        continue;
                    }
                    line
                }
            };
            turns.push(ChatTurn { role: "user", content: message });
            let rendered = self.text.render_chat(&turns, true)?;
            let new_text = match rendered.strip_prefix(fed.as_str()) {
                Some(rest) => rest.to_string(),
                // The template rewrote earlier turns: start the state over from the whole text.
                None => {
                    self.session.reset();
                    self.history.clear();
                    rendered.clone()
                }
            };
            let ids = self.text.encode(&new_text, self.session.position() == 0)?;
            if self.session.position() + ids.len() >= self.session.n_ctx() {
                if !self.context_full_choice(&mut out)? {
                    break;
                }
                let last = turns.pop();
                self.restart(&mut turns, &mut fed);
                first_user = last.map(|t| t.content);
                continue;
            }
            interrupt::answering(true);
            if self.session.position() == 0 && self.history.is_empty() {
                self.feed_first_prompt(&ids)?;
            } else {
                self.feed_prompt(&ids)?;
            }
            fed = rendered;
            let answer_start = self.history.len();
            let ending = self.generate(&mut out)?;
            interrupt::answering(false);
            let _ = writeln!(out);
            let answer_ids = &self.history[answer_start..];
            let (content_ids, end_ids) = match answer_ids.last() {
                Some(&id) if self.text.is_end_of_generation(id) => answer_ids.split_at(answer_ids.len() - 1),
                _ => (answer_ids, &[][..]),
            };
            let answer = self.text.decode(content_ids);
            fed.push_str(&answer);
            for &id in end_ids {
                fed.push_str(&self.text.piece(id));
            }
            turns.push(ChatTurn { role: "assistant", content: answer });
            if ending == Ending::ContextFull {
                if !self.context_full_choice(&mut out)? {
                    break;
                }
                self.restart(&mut turns, &mut fed);
            }
        }
        Ok(())
    }

    /// `/save FILE`: the session's state with the turns and the text fed as its notes.
    fn save_chat(&mut self, path: &Path, turns: &[ChatTurn], fed: &str) -> String {
        let fp = *self.fingerprint();
        match state_file::save(path, self.session, &fp, &text_glue::chat_notes(turns, fed)) {
            Ok(bytes) => format!("(saved {} tokens to {}, {bytes} bytes)", self.session.position(), path.display()),
            Err(why) => format!("armlet: cannot save to {}: {why}", path.display()),
        }
    }

    /// `/load FILE`: a conversation saved by `/save`. A file that cannot be used leaves the
    /// current conversation as it was.
    fn load_chat(&mut self, path: &Path, turns: &mut Vec<ChatTurn>, fed: &mut String) -> String {
        let fp = *self.fingerprint();
        let shown = path.display();
        let keep = "; the conversation goes on as it was";
        let (summary, loaded) = match state_file::check(path, self.session, &fp) {
            Opened::Nothing => return format!("armlet: cannot load {shown}: there is no such file (or it is empty){keep}"),
            Opened::Bad(why) => return format!("armlet: cannot load {shown}: {why}{keep}"),
            Opened::Good { summary, notes } => match text_glue::chat_from_notes(&notes) {
                Some(loaded) => (summary, loaded),
                None => return format!("armlet: cannot load {shown}: it holds no chat (not saved by /save){keep}"),
            },
        };
        if let Err(why) = state_file::restore_checked(path, self.session, &fp, summary.notes_len) {
            self.restart(turns, fed);
            return format!("armlet: cannot load {shown}: {why}; the conversation was reset");
        }
        (*turns, *fed) = loaded;
        self.history = self.session.tokens().to_vec();
        format!("(loaded {} tokens, {} messages, from {shown})", summary.position, turns.len())
    }

    /// Forgets the conversation (keeping the system message) and the session's state.
    fn restart(&mut self, turns: &mut Vec<ChatTurn>, fed: &mut String) {
        self.session.reset();
        self.history.clear();
        turns.retain(|t| t.role == "system");
        fed.clear();
    }

    /// Asks whether to stop or start over when the context is full; true = start over
    /// (the caller resets the state).
    fn context_full_choice(&mut self, out: &mut impl Write) -> Result<bool, String> {
        let _ = write!(
            out,
            "\narmlet: the context is full ({} tokens). [r]estart the conversation or [s]top? ",
            self.session.n_ctx()
        );
        let _ = out.flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let restart = line.trim().eq_ignore_ascii_case("r");
        if restart {
            let _ = writeln!(out, "(conversation reset)");
        }
        Ok(restart)
    }

    fn feed_prompt(&mut self, ids: &[u32]) -> Result<(), String> {
        if self.opts.verbose_prompt {
            eprintln!("armlet: prompt of {} tokens:", ids.len());
            for &id in ids {
                eprintln!("{id:6} -> {:?}", self.text.piece(id));
            }
        }
        if self.session.position() + ids.len() > self.session.n_ctx() {
            return Err(format!(
                "the prompt has {} tokens but the context holds {} (use -c to make it larger)",
                ids.len(),
                self.session.n_ctx() - self.session.position()
            ));
        }
        let t = Instant::now();
        cost_markers::tick();
        self.session.feed_prompt(ids).map_err(|e| e.to_string())?;
        self.history.extend_from_slice(ids);
        cost_markers::tick();
        let mut stats = lock(&self.stats);
        stats.prompt_time += t.elapsed();
        stats.prompt_tokens += ids.len();
        Ok(())
    }

    /// Samples and streams tokens until end of text, the -n limit, a full context or a
    /// Ctrl-C. The end-of-text token itself is fed to the session (chat continues after it).
    fn generate(&mut self, out: &mut impl Write) -> Result<Ending, String> {
        let t = Instant::now();
        // The statistics stay current token by token: a Ctrl-C may print them mid-answer.
        let time_before = lock(&self.stats).generation_time;
        let mut detok = self.text.detokenizer();
        let mut produced: i64 = 0;
        // Every answer starts the grammar anew (llama-completion resets its sampler per turn).
        if let Some(g) = self.grammar.as_mut() {
            g.reset().map_err(|e| format!("grammar: {e}"))?;
        }
        cost_markers::region_begin();
        let ending = loop {
            if self.opts.n_predict >= 0 && produced >= self.opts.n_predict {
                break Ending::Limit;
            }
            if interrupt::stop_requested() {
                break Ending::Interrupted;
            }
            let logits = self.session.logits();
            let id = match self.grammar.as_mut() {
                Some(g) => {
                    let tok = self.text.tokenizer();
                    let id = constrain::sample(&mut self.sampler, g, tok, logits, &self.history, &mut self.scratch)
                        .map_err(|e| e.to_string())?;
                    constrain::accept(g, tok, id).map_err(|e| e.to_string())?;
                    id
                }
                None => self.sampler.sample(logits, &self.history, &mut self.scratch).map_err(|e| e.to_string())?,
            };
            produced += 1;
            {
                let mut stats = lock(&self.stats);
                stats.generated_tokens += 1;
                stats.generation_time = time_before + t.elapsed();
            }
            let end_of_text = !self.opts.ignore_eos && self.text.is_end_of_generation(id);
            if !end_of_text {
                let piece = detok.push(id);
                let _ = out.write_all(&piece);
                let _ = out.flush();
            }
            match self.session.feed(id) {
                Ok(_) => self.history.push(id),
                Err(SessionError::ContextFull { .. }) => break Ending::ContextFull,
                Err(e) => return Err(e.to_string()),
            }
            cost_markers::tick();
            if end_of_text {
                break Ending::EndOfText;
            }
        };
        cost_markers::region_end();
        let _ = out.write_all(&detok.finish());
        let _ = out.flush();
        lock(&self.stats).generation_time = time_before + t.elapsed();
        Ok(ending)
    }
}
