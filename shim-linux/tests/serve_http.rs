//! `armlet serve` end to end, over raw sockets on 127.0.0.1: every endpoint, the prefix
//! reuse shown by the log line, hostile input (truncated and slow requests, huge bodies,
//! invalid UTF-8, wrong methods and keys), a client leaving mid-answer, and a bounded load
//! test (8 clients for ARMLET_SERVE_LOAD_SECS, default 60) where every request ends in a
//! 200 or a 503 and the resident memory stays flat. Each test starts its own server and
//! kills it when done.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(name)
}

fn micro() -> String {
    fixture("falcon-h1-micro-Q4_K_S.gguf").display().to_string()
}

/// A running server: its address and the lines of its stderr; killed when dropped.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_armlet"))
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start armlet serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let _ = tx.send(line[at + 20..].trim().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start: {:?}", log.lock().unwrap());
            }
        };
        Server { child, addr, log }
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for a log line containing `needle` (the worker logs after answering).
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(l) = self.lines().into_iter().rev().find(|l| l.contains(needle)) {
                return l;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line with {needle:?}: {:?}", self.lines());
    }

    fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn post(&self, path: &str, body: &str) -> Reply {
        self.raw(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    fn get(&self, path: &str) -> Reply {
        self.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
    }

    /// Sends `request` as is and reads the answer to the end.
    fn raw(&self, request: &[u8]) -> Reply {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let _ = s.write_all(request);
        read_reply(&mut s)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn read_reply(s: &mut TcpStream) -> Reply {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The numbers of a generation's log line: (prompt, reused, fed, generated).
fn counts(line: &str) -> (usize, usize, usize, usize) {
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .filter(|w| !w.is_empty() && !w.contains('.'))
        .filter_map(|w| w.parse().ok())
        .collect();
    // "... 200: prompt P tokens (R reused, F fed), G generated, T s"
    let n = nums.len();
    (nums[n - 4], nums[n - 3], nums[n - 2], nums[n - 1])
}

#[test]
fn every_endpoint() {
    let srv = Server::start(&["-m", &micro(), "-c", "256"]);
    assert_eq!(srv.get("/health").json()["status"], "ok");
    let models = srv.get("/v1/models").json();
    assert_eq!(models["data"][0]["id"], "falcon-h1-micro-Q4_K_S.gguf");
    let c = srv.post(
        "/completion",
        r#"{"prompt":"Hello","n_predict":4,"temperature":0}"#,
    );
    assert_eq!(c.status, 200, "{c:?}");
    assert_eq!(c.json()["tokens_predicted"], 4);
    let c = srv
        .post(
            "/v1/completions",
            r#"{"model":"m","prompt":"Hello","max_tokens":3,"temperature":0}"#,
        )
        .json();
    assert_eq!(c["object"], "text_completion");
    assert_eq!(c["usage"]["completion_tokens"], 3);
    let chat = r#"{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0,"seed":1}"#;
    let c = srv.post("/v1/chat/completions", chat).json();
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(c["choices"][0]["message"]["role"], "assistant");
    assert!(c["choices"][0]["message"]["content"].is_string());
    // The same request streamed gives the same text, in chunks, then [DONE].
    let s = srv.post(
        "/v1/chat/completions",
        &chat.replace("\"seed\":1", "\"seed\":1,\"stream\":true"),
    );
    assert!(s.head.contains("text/event-stream"), "{s:?}");
    let mut text = String::new();
    let events: Vec<&str> = s
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    for e in &events[..events.len() - 1] {
        let v: serde_json::Value = serde_json::from_str(e).unwrap();
        text.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
    }
    assert_eq!(
        text,
        c["choices"][0]["message"]["content"].as_str().unwrap()
    );
    let s = srv.post(
        "/completion",
        r#"{"prompt":"Hello","n_predict":3,"stream":true}"#,
    );
    assert!(s.body.contains("\"stop\":true"), "{s:?}");
    // A stop string ends the answer before it, streamed or not.
    let whole = srv
        .post(
            "/completion",
            r#"{"prompt":"Hello","n_predict":12,"temperature":0}"#,
        )
        .json();
    let whole = whole["content"].as_str().unwrap().to_string();
    if let Some(stop) = whole.get(whole.len() / 2..).and_then(|t| t.get(..2)) {
        let at = whole.find(stop).unwrap();
        let body = serde_json::json!({"prompt": "Hello", "n_predict": 12, "temperature": 0, "stop": [stop]});
        let cut = srv.post("/completion", &body.to_string()).json();
        assert_eq!(cut["content"], &whole[..at], "stop {stop:?} in {whole:?}");
        let mut body = body;
        body["stream"] = true.into();
        let s = srv.post("/completion", &body.to_string());
        let mut text = String::new();
        for e in s.body.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let v: serde_json::Value = serde_json::from_str(e).unwrap();
            text.push_str(v["content"].as_str().unwrap());
        }
        assert_eq!(text, &whole[..at], "stop {stop:?} in {whole:?}, streamed");
    }
    let ids = srv.post("/tokenize", r#"{"content":"Hello world"}"#).json();
    let ids = ids["tokens"].as_array().unwrap().clone();
    assert!(!ids.is_empty());
    let back = srv
        .post(
            "/detokenize",
            &serde_json::json!({ "tokens": ids }).to_string(),
        )
        .json();
    assert_eq!(back["content"], "Hello world");
    // JSON mode: the answer parses as JSON when it ends by itself.
    let j = srv.post(
        "/v1/chat/completions",
        r#"{"messages":[{"role":"user","content":"json"}],"max_tokens":40,"temperature":0,"response_format":{"type":"json_object"}}"#,
    );
    assert_eq!(j.status, 200, "{j:?}");
    let j = j.json();
    if j["choices"][0]["finish_reason"] == "stop" {
        let content = j["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(content).is_ok(),
            "{content:?}"
        );
    }
}

/// Falcon-H1's recurrent state cannot be rewound: a prompt that continues the tokens held
/// feeds only its new tokens; one that does not starts over.
#[test]
fn prefix_reuse_hybrid() {
    let srv = Server::start(&["-m", &micro(), "-c", "256"]);
    let first = "Hello! How are you today, my friend?";
    let second = format!("{first} I am fine, thanks.");
    let tok = |t: &str| {
        srv.post(
            "/tokenize",
            &serde_json::json!({"content": t, "add_special": true}).to_string(),
        )
        .json()["tokens"]
            .as_array()
            .unwrap()
            .len()
    };
    let (n1, n2) = (tok(first), tok(&second));
    let body = |p: &str| serde_json::json!({"prompt": p, "n_predict": 0}).to_string();
    assert_eq!(srv.post("/completion", &body(first)).status, 200);
    assert_eq!(counts(&srv.wait_for("200: prompt")), (n1, 0, n1, 0));
    assert_eq!(srv.post("/completion", &body(&second)).status, 200);
    let line = srv.wait_for(&format!("prompt {n2} tokens"));
    assert_eq!(counts(&line), (n2, n1, n2 - n1, 0), "{line}");
    // A different start: nothing can be kept.
    srv.log.lock().unwrap().clear();
    assert_eq!(srv.post("/completion", &body("Goodbye")).status, 200);
    let line = srv.wait_for("200: prompt");
    let (p, reused, _, _) = counts(&line);
    assert_eq!(reused, 0, "{line} (prompt {p})");
}

/// SmolLM2 (attention only), when scripts/fetch-smollm2 has fetched it: the second turn of a
/// chat feeds only what the first turn's state does not hold.
#[test]
fn chat_second_turn_feeds_only_new_tokens() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} is missing (run scripts/fetch-smollm2)",
            path.display()
        );
        return;
    }
    let srv = Server::start(&["-m", &path.display().to_string(), "-c", "512"]);
    let q1 = serde_json::json!({"role": "user", "content": "What is the capital of Germany?"});
    let one = serde_json::json!({"messages": [q1], "temperature": 0, "max_tokens": 40});
    let r1 = srv.post("/v1/chat/completions", &one.to_string()).json();
    let answer = r1["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r1["choices"][0]["finish_reason"], "stop", "{r1}");
    let (p1, _, _, g1) = counts(&srv.wait_for("200: prompt"));
    let two = serde_json::json!({"messages": [q1, {"role": "assistant", "content": answer},
        {"role": "user", "content": "And what is the capital of Japan?"}], "temperature": 0, "max_tokens": 40});
    let r2 = srv.post("/v1/chat/completions", &two.to_string()).json();
    let p2 = r2["usage"]["prompt_tokens"].as_u64().unwrap() as usize;
    let line = srv.wait_for(&format!("200: prompt {p2} tokens"));
    let (_, reused, fed, _) = counts(&line);
    // Held: the first prompt and answer (its end-of-turn token was sampled, not fed).
    assert_eq!(reused, p1 + g1 - 1, "{line}");
    assert_eq!(fed, p2 - reused, "{line}");
    assert!(fed < 20, "{line}");
    eprintln!("second turn: {line}");
}

#[test]
fn hostile_input() {
    let srv = Server::start(&[
        "-m",
        &micro(),
        "-c",
        "64",
        "--timeout",
        "2",
        "--api-key",
        "sekrit",
    ]);
    let auth = "Authorization: Bearer sekrit\r\n";
    let post = |path: &str, body: &[u8], headers: &str| {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        srv.raw(&req)
    };
    let ok = br#"{"prompt":"Hi","n_predict":2}"#;
    // Keys: none, wrong, right; /health needs none.
    assert_eq!(post("/completion", ok, "").status, 401);
    assert_eq!(
        post("/completion", ok, "Authorization: Bearer nope\r\n").status,
        401
    );
    assert_eq!(post("/completion", ok, auth).status, 200);
    assert_eq!(srv.get("/health").status, 200);
    // Bad bodies.
    let r = post("/completion", b"{\"prompt\": \"\xff\xfe\"}", auth);
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("UTF-8"));
    assert_eq!(post("/completion", b"{\"prompt\": ", auth).status, 400);
    assert_eq!(post("/completion", b"[1,2]", auth).status, 400);
    let r = post(
        "/v1/chat/completions",
        br#"{"messages":[{"role":"user","content":"x"}],"logprobs":true}"#,
        auth,
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("logprobs"), "{r:?}");
    assert_eq!(
        post("/completion", br#"{"prompt":"x","n_predict":"lots"}"#, auth).status,
        400
    );
    assert_eq!(
        post("/detokenize", br#"{"tokens":[999999999]}"#, auth).status,
        400
    );
    // A prompt beyond the context (64 tokens).
    let long = serde_json::json!({"prompt": "word ".repeat(200)}).to_string();
    let r = post("/completion", long.as_bytes(), auth);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("context"), "{r:?}");
    // Methods and paths.
    let r = srv.raw(format!("GET /completion HTTP/1.1\r\n{auth}\r\n").as_bytes());
    assert_eq!(r.status, 405);
    assert!(r.head.contains("Allow: POST"));
    assert_eq!(srv.raw(b"DELETE /health HTTP/1.1\r\n\r\n").status, 405);
    assert_eq!(
        srv.raw(format!("GET /../../etc/passwd HTTP/1.1\r\n{auth}\r\n").as_bytes())
            .status,
        404
    );
    assert_eq!(
        srv.raw(format!("GET / HTTP/1.1\r\n{auth}\r\n").as_bytes())
            .status,
        404
    );
    // Malformed HTTP.
    assert_eq!(srv.raw(b"\x00\x01\x02 garbage\r\n\r\n").status, 400);
    assert_eq!(
        srv.raw(b"POST /completion HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
            .status,
        400
    );
    // Truncated: the client stops writing before the body ends.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.write_all(
        format!("POST /completion HTTP/1.1\r\n{auth}Content-Length: 100\r\n\r\n{{\"pro").as_bytes(),
    )
    .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_reply(&mut s).status, 400);
    // Slow: a head that never ends is a 408 after --timeout.
    let t = Instant::now();
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.write_all(b"POST /completion HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut s).status, 408);
    assert!(t.elapsed() < Duration::from_secs(10));
    // 100 MB: refused from its Content-Length, without reading the body.
    let t = Instant::now();
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        format!("POST /completion HTTP/1.1\r\n{auth}Content-Length: 104857600\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let r = read_reply(&mut s);
    assert_eq!(r.status, 413, "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // ... and a client that pushes the 100 MB anyway does not hurt the server.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(
        format!("POST /completion HTTP/1.1\r\n{auth}Content-Length: 104857600\r\n\r\n").as_bytes(),
    );
    let block = vec![b'a'; 1 << 20];
    for _ in 0..100 {
        if s.write_all(&block).is_err() {
            break;
        }
    }
    drop(s);
    // Through all of it the server stays up and the queue moves.
    assert_eq!(srv.get("/health").status, 200);
    assert_eq!(post("/completion", ok, auth).status, 200);
    assert!(
        !srv.lines().iter().any(|l| l.contains("panicked")),
        "{:?}",
        srv.lines()
    );
}

/// A client that leaves mid-answer stops the generation; the next request is served.
#[test]
fn client_leaving_stops_generation() {
    let srv = Server::start(&["-m", &micro(), "-c", "4096"]);
    for stream in [false, true] {
        // Greedy: the micro model's greedy text runs 4000 tokens without an end-of-text
        // (seconds), where a sampled one may end within the 500 ms before the client leaves.
        let body = serde_json::json!({"prompt": "Hello", "n_predict": 4000, "stream": stream, "temperature": 0})
            .to_string();
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        s.write_all(
            format!(
                "POST /completion HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(s);
        let line = srv.wait_for("the client left");
        srv.log.lock().unwrap().clear();
        let generated: usize = line
            .split_whitespace()
            .rev()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert!(generated < 4000, "{line}");
    }
    let t = Instant::now();
    assert_eq!(srv.post("/tokenize", r#"{"content":"x"}"#).status, 200);
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// 8 clients for ARMLET_SERVE_LOAD_SECS (default 60): each request gets a 200 or a 503 in
/// bounded time, and the resident memory after is within a few MB of before.
#[test]
fn load() {
    let secs: u64 = std::env::var("ARMLET_SERVE_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let srv = Arc::new(Server::start(&["-m", &micro(), "-c", "256"]));
    // Warm up: every path once, so the allocator has its working set.
    for _ in 0..3 {
        assert_eq!(
            srv.post("/completion", r#"{"prompt":"warm up","n_predict":16}"#)
                .status,
            200
        );
        assert_eq!(
            srv.post(
                "/v1/chat/completions",
                r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":16,"stream":true}"#
            )
            .status,
            200
        );
    }
    let before = srv.resident_kib();
    let end = Instant::now() + Duration::from_secs(secs);
    let tally = Arc::new(Mutex::new((0usize, 0usize)));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (srv, tally) = (srv.clone(), tally.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while Instant::now() < end {
                    n += 1;
                    let body = match n % 3 {
                        0 => format!(r#"{{"prompt":"client {i} request {n}","n_predict":16}}"#),
                        1 => format!(r#"{{"messages":[{{"role":"user","content":"client {i} says {n}"}}],"max_tokens":16,"stream":true}}"#),
                        _ => format!(r#"{{"prompt":"client {i}: {n}","max_tokens":8}}"#),
                    };
                    let path = ["/completion", "/v1/chat/completions", "/v1/completions"][n % 3];
                    let t = Instant::now();
                    let r = srv.post(path, &body);
                    assert!(t.elapsed() < Duration::from_secs(60), "request took {:?}", t.elapsed());
                    let mut tally = tally.lock().unwrap();
                    match r.status {
                        200 => tally.0 += 1,
                        503 => {
                            assert!(r.head.contains("Retry-After"), "{r:?}");
                            tally.1 += 1;
                            drop(tally);
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        s => panic!("status {s}: {r:?}"),
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let after = srv.resident_kib();
    let (ok, busy) = *tally.lock().unwrap();
    eprintln!("load: {secs} s, {ok} answered, {busy} refused with 503; VmRSS {before} kB before, {after} kB after");
    assert!(ok > 0);
    assert!(
        after < before + 4096,
        "VmRSS grew from {before} kB to {after} kB"
    );
}
