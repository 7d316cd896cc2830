//! The HTTP/1.1 side of `armlet serve`: one request per connection, read with a deadline and
//! a body cap, answered with `Connection: close`. Small on purpose: std sockets and httparse
//! for the head, so the worker keeps the socket and can see a client that went away.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body: a long chat history is tens of kilobytes.
pub const MAX_BODY: usize = 1024 * 1024;
const MAX_HEADERS: usize = 64;

/// A request as read from the socket.
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP error answer: status and message (sent as OpenAI's JSON error).
#[derive(Debug)]
pub struct Fail {
    pub status: u16,
    pub message: String,
}

impl Fail {
    pub fn new(status: u16, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
        }
    }
}

/// Reads one request, the head and body within `timeout` in all. `Ok(None)`: the client
/// closed the connection before sending anything (nothing to answer).
pub fn read_request(stream: &mut TcpStream, timeout: Duration) -> Result<Option<Request>, Fail> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let (head_len, method, path, headers) = loop {
        let n = read_some(stream, &mut chunk, deadline)?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(Fail::new(400, "the request ended before its headers did"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut slots);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let method = req.method.unwrap_or("").to_string();
                let path = req.path.unwrap_or("").to_string();
                let mut headers = Vec::with_capacity(req.headers.len());
                for h in req.headers.iter() {
                    let value = std::str::from_utf8(h.value)
                        .map_err(|_| Fail::new(400, format!("header {} is not UTF-8", h.name)))?;
                    headers.push((h.name.to_ascii_lowercase(), value.trim().to_string()));
                }
                break (len, method, path, headers);
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(Fail::new(
                    431,
                    format!("the request head is larger than {MAX_HEAD} bytes"),
                ))
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Fail::new(431, format!("more than {MAX_HEADERS} headers")))
            }
            Err(e) => return Err(Fail::new(400, format!("malformed HTTP request: {e}"))),
        }
    };
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if req.header("transfer-encoding").is_some() {
        return Err(Fail::new(
            411,
            "chunked request bodies are not supported; send Content-Length",
        ));
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Fail::new(400, "Content-Length is not a number"))?,
    };
    // Refused from the header alone: a huge body is never read.
    if len > MAX_BODY {
        return Err(Fail::new(
            413,
            format!("the request body is {len} bytes; at most {MAX_BODY} are accepted"),
        ));
    }
    let mut body = buf.split_off(head_len);
    // curl asks before sending a body over 1 KiB, and would otherwise wait a second.
    if body.len() < len
        && req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    body.truncate(len);
    while body.len() < len {
        let n = read_some(stream, &mut chunk, deadline)?;
        if n == 0 {
            return Err(Fail::new(
                400,
                format!("the body ended after {} of its {len} bytes", body.len()),
            ));
        }
        let take = n.min(len - body.len());
        body.extend_from_slice(&chunk[..take]);
    }
    req.body = body;
    Ok(Some(req))
}

/// One read before the deadline; a timeout is a 408.
fn read_some(stream: &mut TcpStream, chunk: &mut [u8], deadline: Instant) -> Result<usize, Fail> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Fail::new(408, "the request took too long to arrive"));
    }
    let _ = stream.set_read_timeout(Some(left));
    match stream.read(chunk) {
        Ok(n) => Ok(n),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(Fail::new(408, "the request took too long to arrive"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
            Ok(read_some(stream, chunk, deadline)?)
        }
        // A reset connection: nothing more will come.
        Err(_) => Ok(0),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Writes a whole response and closes the exchange.
pub fn respond(
    stream: &mut TcpStream,
    status: u16,
    extra: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut all = head.into_bytes();
    all.extend_from_slice(body);
    stream.write_all(&all)?;
    stream.flush()
}

/// OpenAI's error body.
pub fn error_body(status: u16, message: &str) -> Vec<u8> {
    let kind = match status {
        401 => "authentication_error",
        404 => "not_found_error",
        503 => "unavailable_error",
        500 => "server_error",
        _ => "invalid_request_error",
    };
    serde_json::json!({"error": {"code": status, "message": message, "type": kind}})
        .to_string()
        .into_bytes()
}

/// An error answer; 503 says when to come back, 405 what is allowed.
pub fn respond_fail(stream: &mut TcpStream, fail: &Fail, extra: &[(&str, String)]) {
    let mut headers: Vec<(&str, String)> = extra.to_vec();
    if fail.status == 503 {
        headers.push(("Retry-After", "2".into()));
    }
    let _ = respond(
        stream,
        fail.status,
        &headers,
        &error_body(fail.status, &fail.message),
    );
}

/// Starts a server-sent-events answer.
pub fn start_events(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
    )?;
    stream.flush()
}

/// One `data:` event; an error means the client is gone.
pub fn event(stream: &mut TcpStream, data: &str) -> std::io::Result<()> {
    stream.write_all(format!("data: {data}\n\n").as_bytes())?;
    stream.flush()
}

/// Whether the client closed its side (or the connection broke): a non-blocking peek sees
/// end of file. Data the client sent meanwhile does not count as closing.
pub fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}
