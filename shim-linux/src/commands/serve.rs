//! `armlet serve`: llama-server's HTTP API for the other machines of a home. One model, one
//! session: connection threads read and check requests, then queue them (bounded; a full
//! queue is a 503) for the one worker that owns the model. Between requests the worker keeps
//! the session and feeds only what a new prompt adds to the tokens already in it.

use crate::grammar_glue::{self, Loaded, Source};
use crate::machine;
use crate::model_file::ModelBytes;
use crate::serve::api::{self, Flavor, Generate, Prompt};
use crate::serve::http::{self, Fail, Request};
use crate::text_glue::{ChatTurn, Text};
use armlet_core::constrain;
use armlet_core::gguf;
use armlet_core::grammar::Matcher;
use armlet_core::model::{KvCacheType, Model};
use armlet_core::plan::{Mib, Plan, PlanError, DEFAULT_UBATCH};
use armlet_core::sample::{Candidate, Sampler, SamplerConfig};
use armlet_core::session::{arena_from_words, Session};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Requests waiting for the worker; one more is a 503.
const QUEUE: usize = 4;
/// Connections being read or answered by the connection threads at once; one more is a 503.
const MAX_CONNECTIONS: usize = 32;
const DEFAULT_CTX: usize = 4096;

pub const HELP: &str = "\
usage: armlet serve -m MODEL.gguf [--host 127.0.0.1] [--port 8080] [-c N] [--api-key KEY] [--timeout S]
                    [--mem-limit SIZE] [-n N]

llama-server's HTTP API: GET /health, GET /v1/models, POST /completion, /v1/completions,
/v1/chat/completions, /tokenize, /detokenize. One request at a time, 4 more queued (then 503).

  -m, --model FILE     the model
  --host ADDR          address to listen on (default 127.0.0.1: this machine only)
  --port N             port (default 8080; 0 picks a free one, printed on stderr)
  -c, --ctx-size N     context size (default 4096, capped by the model; 0: the model's)
  --api-key KEY        require `Authorization: Bearer KEY` (all but /health)
  -to, --timeout S     seconds a request's head and body may take to arrive, and a write
                       may block (default 30)
  -n, --n-predict N    most tokens per answer when the request sets none (default -1: no limit)
  --mem-limit SIZE     memory budget (default: the memory available)
Request bodies are capped at 1 MiB, heads at 16 KiB.
";

struct Config {
    model: std::path::PathBuf,
    host: String,
    port: u16,
    n_ctx: usize,
    api_key: Option<String>,
    timeout: Duration,
    n_predict: i64,
    mem_limit: Option<u64>,
}

fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let mut c = Config {
        model: Default::default(),
        host: "127.0.0.1".into(),
        port: 8080,
        n_ctx: DEFAULT_CTX,
        api_key: None,
        timeout: Duration::from_secs(30),
        n_predict: -1,
        mem_limit: None,
    };
    let mut model = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |name: &str, v: String| {
            v.parse::<i64>()
                .map_err(|_| format!("{name}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "-m" | "--model" => model = Some(value(flag)?),
            "--host" => c.host = value(flag)?,
            "--port" => {
                let v = value(flag)?;
                c.port = v
                    .parse()
                    .map_err(|_| format!("--port: {v:?} is not a port number"))?;
            }
            "-c" | "--ctx-size" => {
                let v = num(flag, value(flag)?)?;
                c.n_ctx =
                    usize::try_from(v).map_err(|_| format!("{flag}: must not be negative"))?;
            }
            "--api-key" => c.api_key = Some(value(flag)?),
            "-to" | "--timeout" => {
                let v = num(flag, value(flag)?)?;
                if v < 1 {
                    return Err(format!("{flag}: must be at least 1 second"));
                }
                c.timeout = Duration::from_secs(v as u64);
            }
            "-n" | "--n-predict" => c.n_predict = num(flag, value(flag)?)?,
            "--mem-limit" => {
                let v = value(flag)?;
                c.mem_limit = Some(crate::options::size("--mem-limit", &v)?);
            }
            other => return Err(format!("serve: unknown option {other:?}\n{HELP}")),
        }
    }
    c.model = model
        .ok_or_else(|| format!("serve: -m MODEL is required\n{HELP}"))?
        .into();
    Ok(Some(c))
}

/// What the worker is asked to do, with the socket to answer on.
enum Work {
    Generate(Box<Generate>),
    Tokenize(api::Tokenize),
    Detokenize(Vec<u32>),
}

struct Job {
    work: Work,
    stream: TcpStream,
    /// "POST /v1/chat/completions", for the log line.
    what: String,
    received: Instant,
}

/// What the connection threads share.
struct Shared {
    api_key: Option<String>,
    timeout: Duration,
    model_id: String,
    created: u64,
    queue: SyncSender<Job>,
    connections: AtomicUsize,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(cfg) = parse_args(args)? else {
        print!("{HELP}");
        return Ok(());
    };
    let path = cfg.model.display().to_string();
    let limit = match cfg.mem_limit {
        Some(l) => l,
        None => machine::available_memory().unwrap_or(u64::MAX),
    };
    let file_len = std::fs::metadata(&cfg.model)
        .map_err(|e| format!("cannot open model file {path}: {e}"))?
        .len();
    let bytes = ModelBytes::read(&cfg.model)?;
    let file = gguf::File::parse(bytes.bytes()).map_err(|e| format!("{path}: {e}"))?;
    let model = Model::from_gguf(&file).map_err(|e| format!("{path}: {e}"))?;
    let h = &model.hparams;
    let n_ctx = match cfg.n_ctx {
        0 => h.n_ctx_train,
        n if n == DEFAULT_CTX => n.min(h.n_ctx_train),
        n => n,
    };
    let plan = Plan::with_ubatch(h, n_ctx, KvCacheType::F16, DEFAULT_UBATCH)
        .map_err(|e| format!("{path}: {e}"))?;
    let text_bytes = Text::memory_bytes(&file).map_err(|e| format!("{path}: {e}"))?;
    let sampler_bytes = h.n_vocab * std::mem::size_of::<Candidate>() + n_ctx * 4;
    let mut grammar = Loaded::read(&Source::Json)?;
    let grammar_bytes = grammar
        .memory_bytes()
        .map_err(|e| format!("JSON grammar: {e}"))?;
    let budget =
        plan.arena_bytes() as u64 + text_bytes as u64 + sampler_bytes as u64 + grammar_bytes as u64;
    if file_len + budget > limit {
        let e = PlanError::OutOfMemory {
            need: file_len + budget,
            have: limit,
        };
        return Err(format!(
            "{e} (model {} + buffers {}; see --mem-limit, -c)",
            Mib(file_len),
            Mib(budget)
        ));
    }
    let mut text_arena = vec![0u8; text_bytes];
    let text = Text::new(&file, &mut text_arena).map_err(|e| format!("{path}: {e}"))?;
    let mut stacks = Vec::new();
    let rules = grammar.parse().map_err(|e| format!("JSON grammar: {e}"))?;
    let matcher =
        grammar_glue::matcher(rules, &mut stacks).map_err(|e| format!("JSON grammar: {e}"))?;
    let mut words = Vec::new();
    words
        .try_reserve_exact(plan.arena_bytes().div_ceil(8))
        .map_err(|_| {
            format!(
                "cannot allocate the {} arena",
                Mib(plan.arena_bytes() as u64)
            )
        })?;
    words.resize(plan.arena_bytes().div_ceil(8), 0u64);
    let mut session =
        Session::new(&model, &plan, arena_from_words(&mut words)).map_err(|e| e.to_string())?;

    let listener = TcpListener::bind((cfg.host.as_str(), cfg.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", cfg.host, cfg.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if !addr.ip().is_loopback() && cfg.api_key.is_none() {
        eprintln!("serve: warning: listening on {addr} without --api-key: anyone on the network can use the model");
    }
    let (tx, rx) = sync_channel::<Job>(QUEUE);
    let model_id = cfg
        .model
        .file_name()
        .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let shared = Arc::new(Shared {
        api_key: cfg.api_key.clone(),
        timeout: cfg.timeout,
        model_id: model_id.clone(),
        created,
        queue: tx,
        connections: AtomicUsize::new(0),
    });
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept(listener, shared))
        .map_err(|e| format!("cannot start the listener thread: {e}"))?;
    eprintln!(
        "serve: {model_id}, context {n_ctx} tokens, memory {} (model {} + buffers {}); listening on http://{addr}",
        Mib(file_len + budget),
        Mib(file_len),
        Mib(budget)
    );
    let mut worker = Worker {
        session: &mut session,
        text: &text,
        grammar: matcher,
        scratch: vec![Candidate::default(); h.n_vocab],
        n_predict: cfg.n_predict,
        model_id,
        timeout: cfg.timeout,
    };
    worker.serve(rx);
    Ok(())
}

/// Accepts connections, each on a thread of its own up to MAX_CONNECTIONS.
fn accept(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        let Ok(mut stream) = conn else { continue };
        let _ = stream.set_write_timeout(Some(shared.timeout));
        // Server-sent events are small writes, one per token: no waiting to coalesce them.
        let _ = stream.set_nodelay(true);
        if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
            http::respond_fail(
                &mut stream,
                &Fail::new(503, "too many connections; try again later"),
                &[],
            );
            eprintln!("serve: connection refused 503: too many connections");
            continue;
        }
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .spawn(move || {
                connection(stream, &s);
                s.connections.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one request and answers it, or hands it to the worker.
fn connection(mut stream: TcpStream, shared: &Shared) {
    let received = Instant::now();
    let req = match http::read_request(&mut stream, shared.timeout) {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(fail) => {
            eprintln!("serve: bad request {}: {}", fail.status, fail.message);
            http::respond_fail(&mut stream, &fail, &[]);
            return;
        }
    };
    let what = format!("{} {}", req.method, req.path);
    match route(&req, shared) {
        Ok(Route::Answer(body)) => {
            let _ = http::respond(&mut stream, 200, &[], body.to_string().as_bytes());
            eprintln!("serve: {what} 200");
        }
        Ok(Route::Work(work)) => {
            let job = Job {
                work,
                stream,
                what: what.clone(),
                received,
            };
            match shared.queue.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(mut job)) | Err(TrySendError::Disconnected(mut job)) => {
                    http::respond_fail(
                        &mut job.stream,
                        &Fail::new(503, "the server is busy; try again later"),
                        &[],
                    );
                    eprintln!("serve: {what} 503: queue full");
                }
            }
        }
        Err((fail, extra)) => {
            eprintln!("serve: {what} {}: {}", fail.status, fail.message);
            http::respond_fail(&mut stream, &fail, &extra);
        }
    }
}

enum Route {
    Answer(Value),
    Work(Work),
}

type Refusal = (Fail, Vec<(&'static str, String)>);

fn route(req: &Request, shared: &Shared) -> Result<Route, Refusal> {
    let path = req.path.split('?').next().unwrap_or("");
    let (methods, open): (&str, bool) = match path {
        "/health" | "/v1/health" => ("GET", true),
        "/v1/models" | "/models" => ("GET", false),
        "/completion"
        | "/completions"
        | "/v1/completions"
        | "/v1/chat/completions"
        | "/chat/completions"
        | "/tokenize"
        | "/detokenize" => ("POST", false),
        _ => return Err((Fail::new(404, format!("no such endpoint: {path}")), vec![])),
    };
    if req.method != methods {
        return Err((
            Fail::new(405, format!("{path} takes {methods}, not {}", req.method)),
            vec![("Allow", methods.into())],
        ));
    }
    if let (Some(key), false) = (&shared.api_key, open) {
        let given = req
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.map(str::trim) != Some(key.as_str()) {
            return Err((
                Fail::new(
                    401,
                    "invalid or missing API key (Authorization: Bearer KEY)",
                ),
                vec![],
            ));
        }
    }
    let body = &req.body;
    let work = match path {
        "/health" | "/v1/health" => return Ok(Route::Answer(json!({"status": "ok"}))),
        "/v1/models" | "/models" => {
            return Ok(Route::Answer(json!({
                "object": "list",
                "data": [{"id": shared.model_id, "object": "model", "created": shared.created, "owned_by": "armlet"}]
            })))
        }
        "/completion" | "/completions" => {
            Work::Generate(Box::new(api::llama_completion(body).map_err(no_extra)?))
        }
        "/v1/completions" => Work::Generate(Box::new(api::completions(body).map_err(no_extra)?)),
        "/v1/chat/completions" | "/chat/completions" => {
            Work::Generate(Box::new(api::chat(body).map_err(no_extra)?))
        }
        "/tokenize" => Work::Tokenize(api::tokenize(body).map_err(no_extra)?),
        _ => Work::Detokenize(api::detokenize(body).map_err(no_extra)?),
    };
    Ok(Route::Work(work))
}

fn no_extra(f: Fail) -> Refusal {
    (f, vec![])
}

/// The one owner of the model and its session.
struct Worker<'r, 's, 'm, 'a> {
    session: &'s mut Session<'m, 'a>,
    text: &'r Text<'r>,
    grammar: Matcher<'r, 'r>,
    scratch: Vec<Candidate>,
    n_predict: i64,
    model_id: String,
    timeout: Duration,
}

/// How an answer ended (OpenAI's finish_reason).
#[derive(Clone, Copy, PartialEq)]
enum Finish {
    Stop,
    Length,
    /// The client went away.
    Gone,
}

/// Counts for the log line and the usage fields.
struct Counts {
    prompt: usize,
    reused: usize,
    generated: usize,
}

impl Worker<'_, '_, '_, '_> {
    fn serve(&mut self, jobs: Receiver<Job>) {
        while let Ok(mut job) = jobs.recv() {
            if http::peer_closed(&job.stream) {
                eprintln!(
                    "serve: {} dropped: the client left while it waited",
                    job.what
                );
                continue;
            }
            let _ = job.stream.set_write_timeout(Some(self.timeout));
            let what = std::mem::take(&mut job.what);
            let result = match job.work {
                Work::Generate(g) => self.generate(&g, &mut job.stream),
                Work::Tokenize(t) => self.tokenize(&t, &mut job.stream),
                Work::Detokenize(ids) => self.detokenize(&ids, &mut job.stream),
            };
            let secs = job.received.elapsed().as_secs_f64();
            match result {
                Ok(Some(c)) => eprintln!(
                    "serve: {what} 200: prompt {} tokens ({} reused, {} fed), {} generated, {secs:.1} s",
                    c.prompt,
                    c.reused,
                    c.prompt - c.reused,
                    c.generated
                ),
                Ok(None) => eprintln!("serve: {what} 200, {secs:.1} s"),
                Err(fail) => {
                    eprintln!("serve: {what} {}: {}", fail.status, fail.message);
                    http::respond_fail(&mut job.stream, &fail, &[]);
                }
            }
        }
    }

    fn tokenize(&mut self, t: &api::Tokenize, out: &mut TcpStream) -> Result<Option<Counts>, Fail> {
        let ids = self
            .text
            .encode_with(&t.content, t.add_special, t.parse_special)
            .map_err(|e| Fail::new(400, e))?;
        let _ = http::respond(
            out,
            200,
            &[],
            json!({ "tokens": ids }).to_string().as_bytes(),
        );
        Ok(None)
    }

    fn detokenize(&mut self, ids: &[u32], out: &mut TcpStream) -> Result<Option<Counts>, Fail> {
        let n_vocab = self.session.model().hparams.n_vocab;
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= n_vocab) {
            return Err(Fail::new(
                400,
                format!("token {bad} is beyond the vocabulary ({n_vocab} tokens)"),
            ));
        }
        let _ = http::respond(
            out,
            200,
            &[],
            json!({ "content": self.text.decode(ids) })
                .to_string()
                .as_bytes(),
        );
        Ok(None)
    }

    /// Tokens of the request's prompt: the chat rendered with the model's template.
    fn prompt_ids(&self, g: &Generate) -> Result<Vec<u32>, Fail> {
        let text = match &g.prompt {
            Prompt::Text(t) => t.clone(),
            Prompt::Chat(turns) => {
                let turns: Vec<ChatTurn> = turns
                    .iter()
                    .map(|(role, content)| ChatTurn {
                        role,
                        content: content.clone(),
                    })
                    .collect();
                self.text
                    .render_chat(&turns, true)
                    .map_err(|e| Fail::new(400, e))?
            }
        };
        let ids = self
            .text
            .encode(&text, true)
            .map_err(|e| Fail::new(400, e))?;
        if ids.is_empty() {
            return Err(Fail::new(400, "the prompt gives no tokens"));
        }
        if ids.len() >= self.session.n_ctx() {
            return Err(Fail::new(
                400,
                format!(
                    "the prompt has {} tokens and the context holds {} (leaving none for the answer; see -c)",
                    ids.len(),
                    self.session.n_ctx()
                ),
            ));
        }
        Ok(ids)
    }

    /// Brings the session to the prompt, feeding only what it does not hold yet; returns
    /// how many prompt tokens were reused.
    fn feed(&mut self, ids: &[u32]) -> Result<usize, Fail> {
        let keep = self.session.keep_prefix_of(ids).unwrap_or_else(|| {
            // A recurrent state holds every token it saw: it goes on only from all of them.
            self.session.reset();
            0
        });
        if let Err(e) = self.session.feed_prompt(&ids[keep..]) {
            self.session.reset();
            return Err(Fail::new(500, format!("evaluating the prompt: {e}")));
        }
        Ok(keep)
    }

    fn generate(&mut self, g: &Generate, out: &mut TcpStream) -> Result<Option<Counts>, Fail> {
        let ids = self.prompt_ids(g)?;
        let defaults = SamplerConfig::default();
        let seed = g.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        let mut sampler = Sampler::new(SamplerConfig {
            temperature: g.temperature.unwrap_or(defaults.temperature),
            top_p: g.top_p.unwrap_or(defaults.top_p),
            top_k: g.top_k.unwrap_or(defaults.top_k),
            min_p: g.min_p.unwrap_or(defaults.min_p),
            repeat_penalty: g.repeat_penalty.unwrap_or(defaults.repeat_penalty),
            seed,
            ..defaults
        });
        if g.json {
            self.grammar
                .reset()
                .map_err(|e| Fail::new(500, format!("grammar: {e}")))?;
        }
        let reused = self.feed(&ids)?;
        let id = format!(
            "{}-{:x}",
            if g.flavor == Flavor::Chat {
                "chatcmpl"
            } else {
                "cmpl"
            },
            seed
        );
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut events = Events {
            g,
            id: &id,
            created,
            model: &self.model_id,
        };
        if g.stream {
            http::start_events(out).map_err(|_| Fail::new(499, "the client left"))?;
            if g.flavor == Flavor::Chat {
                let _ = http::event(
                    out,
                    &events
                        .chat_chunk(json!({"role": "assistant", "content": ""}), None)
                        .to_string(),
                );
            }
        }
        let limit = if g.max_tokens >= 0 {
            g.max_tokens
        } else {
            self.n_predict
        };
        let mut detok = self.text.detokenizer();
        let mut answer = String::new();
        // Bytes of `answer` already sent (streaming): text that may begin a stop string waits.
        let mut sent = 0;
        let mut generated = 0usize;
        let finish = loop {
            if limit >= 0 && generated as i64 >= limit {
                break Finish::Length;
            }
            if !g.stream && http::peer_closed(out) {
                break Finish::Gone;
            }
            let logits = self.session.logits();
            let history = self.session.tokens();
            let token = if g.json {
                let tok = self.text.tokenizer();
                let t = constrain::sample(
                    &mut sampler,
                    &mut self.grammar,
                    tok,
                    logits,
                    history,
                    &mut self.scratch,
                )
                .map_err(|e| Fail::new(500, e.to_string()))?;
                constrain::accept(&mut self.grammar, tok, t)
                    .map_err(|e| Fail::new(500, e.to_string()))?;
                t
            } else {
                sampler
                    .sample(logits, history, &mut self.scratch)
                    .map_err(|e| Fail::new(500, e.to_string()))?
            };
            generated += 1;
            if self.text.is_end_of_generation(token) {
                break Finish::Stop;
            }
            answer.push_str(&String::from_utf8_lossy(&detok.push(token)));
            if let Some(at) = find_stop(&answer, &g.stop) {
                answer.truncate(at);
                break Finish::Stop;
            }
            if g.stream {
                let upto = answer.len() - held_back(&answer, &g.stop);
                if upto > sent {
                    if http::event(out, &events.delta(&answer[sent..upto], None).to_string())
                        .is_err()
                    {
                        break Finish::Gone;
                    }
                    sent = upto;
                }
            }
            if self.session.position() >= self.session.n_ctx() {
                break Finish::Length;
            }
            if let Err(e) = self.session.feed(token) {
                self.session.reset();
                return Err(Fail::new(500, format!("evaluating the answer: {e}")));
            }
        };
        if finish != Finish::Gone {
            answer.push_str(&String::from_utf8_lossy(&detok.finish()));
            if let Some(at) = find_stop(&answer, &g.stop) {
                answer.truncate(at);
            }
        }
        let counts = Counts {
            prompt: ids.len(),
            reused,
            generated,
        };
        if finish == Finish::Gone {
            eprintln!("serve: the client left; generation stopped after {generated} tokens");
            return Ok(Some(counts));
        }
        let reason = if finish == Finish::Stop {
            "stop"
        } else {
            "length"
        };
        if g.stream {
            if sent < answer.len() {
                let _ = http::event(out, &events.delta(&answer[sent..], None).to_string());
            }
            let _ = http::event(out, &events.last(reason, &counts).to_string());
            if g.flavor != Flavor::Llama {
                let _ = http::event(out, "[DONE]");
            }
        } else {
            let _ = http::respond(
                out,
                200,
                &[],
                events
                    .whole(&answer, reason, &counts)
                    .to_string()
                    .as_bytes(),
            );
        }
        Ok(Some(counts))
    }
}

/// Where the first stop string starts in `text`.
fn find_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}

/// Bytes at the end of `text` that could be the start of a stop string (not sent yet).
fn held_back(text: &str, stops: &[String]) -> usize {
    let mut held = 0;
    for s in stops {
        for n in (1..s.len()).rev() {
            if n > held
                && text.len() >= n
                && text.is_char_boundary(text.len() - n)
                && s.as_bytes().starts_with(&text.as_bytes()[text.len() - n..])
            {
                held = n;
                break;
            }
        }
    }
    held
}

/// The answer's JSON in the request's flavor.
struct Events<'e> {
    g: &'e Generate,
    id: &'e str,
    created: u64,
    model: &'e str,
}

impl Events<'_> {
    fn chat_chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        })
    }

    fn usage(c: &Counts) -> Value {
        json!({"prompt_tokens": c.prompt, "completion_tokens": c.generated, "total_tokens": c.prompt + c.generated})
    }

    /// A streamed piece of text.
    fn delta(&mut self, text: &str, finish: Option<&str>) -> Value {
        match self.g.flavor {
            Flavor::Chat => self.chat_chunk(json!({"content": text}), finish),
            Flavor::Completions => json!({
                "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": null}]
            }),
            Flavor::Llama => json!({"content": text, "stop": false}),
        }
    }

    /// The closing event of a stream.
    fn last(&mut self, reason: &str, c: &Counts) -> Value {
        match self.g.flavor {
            Flavor::Llama => self.llama("", reason, c),
            _ => {
                let mut v = self.delta("", Some(reason));
                if self.g.flavor == Flavor::Chat {
                    v["choices"][0]["delta"] = json!({});
                }
                v["usage"] = Self::usage(c);
                v
            }
        }
    }

    fn llama(&self, content: &str, reason: &str, c: &Counts) -> Value {
        json!({
            "content": content, "stop": true, "model": self.model,
            "tokens_predicted": c.generated, "tokens_evaluated": c.prompt, "tokens_cached": c.reused,
            "stop_type": if reason == "stop" { "eos" } else { "limit" }, "truncated": false
        })
    }

    /// A whole (non-streamed) answer.
    fn whole(&self, text: &str, reason: &str, c: &Counts) -> Value {
        match self.g.flavor {
            Flavor::Llama => self.llama(text, reason, c),
            Flavor::Chat => json!({
                "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason}],
                "usage": Self::usage(c)
            }),
            Flavor::Completions => json!({
                "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "text": text, "finish_reason": reason, "logprobs": null}],
                "usage": Self::usage(c)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings() {
        let stops = vec!["\n\n".to_string(), "END".to_string()];
        assert_eq!(find_stop("abc END x", &stops), Some(4));
        assert_eq!(held_back("abc E", &stops), 1);
        assert_eq!(held_back("abc EN", &stops), 2);
        assert_eq!(held_back("abc\n", &stops), 1);
        assert_eq!(held_back("abc", &stops), 0);
    }
}
