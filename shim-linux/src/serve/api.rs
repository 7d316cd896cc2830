//! The JSON side of `armlet serve`: each endpoint's request fields, checked strictly (an
//! unknown field is a 400 naming it, so a client never believes a setting took effect), and
//! the answers' shapes as llama-server and OpenAI's API give them.

use super::http::Fail;
use serde_json::{Map, Value};

/// Which API a generation answers in.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Flavor {
    /// llama-server's `/completion`.
    Llama,
    /// OpenAI's `/v1/completions`.
    Completions,
    /// OpenAI's `/v1/chat/completions`.
    Chat,
}

/// What to feed: raw text, or a conversation for the chat template.
pub enum Prompt {
    Text(String),
    Chat(Vec<(&'static str, String)>),
}

/// A generation request, validated.
pub struct Generate {
    pub flavor: Flavor,
    pub prompt: Prompt,
    pub stream: bool,
    /// Negative: until end of text or a full context.
    pub max_tokens: i64,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<usize>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// `response_format: {"type": "json_object"}`: the answer follows the JSON grammar.
    pub json: bool,
}

/// The body as a JSON object, or a 400 saying why not.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, Fail> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Fail::new(400, format!("the body is not UTF-8: {e}")))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Fail::new(400, "the body must be a JSON object")),
        Err(e) => Err(Fail::new(400, format!("the body is not valid JSON: {e}"))),
    }
}

/// Refuses any field outside `known`.
fn only(m: &Map<String, Value>, known: &[&str]) -> Result<(), Fail> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(Fail::new(
            400,
            format!(
                "unsupported field \"{k}\" (this server knows: {})",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn bad(field: &str, what: &str) -> Fail {
    Fail::new(400, format!("\"{field}\" must be {what}"))
}

/// A field that may be absent or null.
fn get<'v>(m: &'v Map<String, Value>, field: &str) -> Option<&'v Value> {
    m.get(field).filter(|v| !v.is_null())
}

fn boolean(m: &Map<String, Value>, field: &str) -> Result<Option<bool>, Fail> {
    get(m, field)
        .map(|v| v.as_bool().ok_or_else(|| bad(field, "true or false")))
        .transpose()
}

fn number(m: &Map<String, Value>, field: &str, lo: f64, hi: f64) -> Result<Option<f64>, Fail> {
    get(m, field)
        .map(|v| {
            v.as_f64()
                .filter(|x| (lo..=hi).contains(x))
                .ok_or_else(|| bad(field, &format!("a number from {lo} to {hi}")))
        })
        .transpose()
}

fn integer(m: &Map<String, Value>, field: &str, lo: i64) -> Result<Option<i64>, Fail> {
    get(m, field)
        .map(|v| {
            v.as_i64()
                .filter(|&x| x >= lo)
                .ok_or_else(|| bad(field, &format!("an integer of at least {lo}")))
        })
        .transpose()
}

fn string(m: &Map<String, Value>, field: &str) -> Result<Option<String>, Fail> {
    get(m, field)
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(field, "a string"))
        })
        .transpose()
}

/// `stop`: a string or a list of them (empty strings dropped: they would stop at once).
fn stops(m: &Map<String, Value>) -> Result<Vec<String>, Fail> {
    let list = match get(m, "stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("stop", "a string or a list of strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("stop", "a string or a list of strings")),
    };
    if list.len() > 16 {
        return Err(bad("stop", "at most 16 strings"));
    }
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

/// The settings every generation endpoint shares.
fn common(
    flavor: Flavor,
    m: &Map<String, Value>,
    prompt: Prompt,
    max_field: &str,
) -> Result<Generate, Fail> {
    let mut max_tokens = integer(m, max_field, -1)?.unwrap_or(-1);
    if flavor == Flavor::Chat {
        if let Some(n) = integer(m, "max_completion_tokens", -1)? {
            max_tokens = n;
        }
    }
    if let Some(n) = integer(m, "n", 1)? {
        if n != 1 {
            return Err(bad("n", "1 (one answer per request)"));
        }
    }
    // Clients (LangChain among them) send these at their no-effect default: accepted only so.
    for field in ["frequency_penalty", "presence_penalty"] {
        if number(m, field, -2.0, 2.0)?.is_some_and(|x| x != 0.0) {
            return Err(bad(
                field,
                "0 (penalties other than repeat_penalty are not supported)",
            ));
        }
    }
    if let Some(o) = get(m, "stream_options") {
        // The usage always comes in the last chunk.
        only(
            o.as_object()
                .ok_or_else(|| bad("stream_options", "an object"))?,
            &["include_usage"],
        )?;
    }
    let json = match get(m, "response_format") {
        None => false,
        Some(Value::Object(rf)) => {
            only(rf, &["type"])?;
            match rf.get("type").and_then(Value::as_str) {
                Some("json_object") => true,
                Some("text") => false,
                _ => {
                    return Err(bad(
                        "response_format.type",
                        "\"json_object\" or \"text\" (json_schema is not supported)",
                    ))
                }
            }
        }
        Some(_) => return Err(bad("response_format", "an object")),
    };
    Ok(Generate {
        flavor,
        prompt,
        stream: boolean(m, "stream")?.unwrap_or(false),
        max_tokens,
        temperature: number(m, "temperature", 0.0, 100.0)?.map(|x| x as f32),
        top_p: number(m, "top_p", 0.0, 1.0)?.map(|x| x as f32),
        top_k: integer(m, "top_k", 0)?.map(|x| x as usize),
        min_p: number(m, "min_p", 0.0, 1.0)?.map(|x| x as f32),
        repeat_penalty: number(m, "repeat_penalty", 0.0, 100.0)?.map(|x| x as f32),
        seed: get(m, "seed")
            .map(|v| {
                v.as_i64()
                    .map(|s| s as u64)
                    .or_else(|| v.as_u64())
                    .ok_or_else(|| bad("seed", "an integer"))
            })
            .transpose()?,
        stop: stops(m)?,
        json,
    })
}

/// llama-server's `/completion`.
pub fn llama_completion(body: &[u8]) -> Result<Generate, Fail> {
    let m = object(body)?;
    only(
        &m,
        &[
            "prompt",
            "n_predict",
            "stream",
            "temperature",
            "top_p",
            "top_k",
            "min_p",
            "repeat_penalty",
            "seed",
            "stop",
            "cache_prompt",
            "response_format",
        ],
    )?;
    boolean(&m, "cache_prompt")?;
    let prompt = string(&m, "prompt")?.ok_or_else(|| bad("prompt", "a string"))?;
    common(Flavor::Llama, &m, Prompt::Text(prompt), "n_predict")
}

/// The fields both of OpenAI's generation endpoints take.
const OPENAI_FIELDS: &[&str] = &[
    "model",
    "stream",
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "n",
    "response_format",
    "stream_options",
    "frequency_penalty",
    "presence_penalty",
];

/// OpenAI's `/v1/completions`.
pub fn completions(body: &[u8]) -> Result<Generate, Fail> {
    let m = object(body)?;
    only(&m, &[OPENAI_FIELDS, &["prompt"]].concat())?;
    string(&m, "model")?;
    let prompt = match get(&m, "prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        _ => return Err(bad("prompt", "a string")),
    };
    common(Flavor::Completions, &m, Prompt::Text(prompt), "max_tokens")
}

/// OpenAI's `/v1/chat/completions`.
pub fn chat(body: &[u8]) -> Result<Generate, Fail> {
    let m = object(body)?;
    only(&m, &[OPENAI_FIELDS, &["messages", "max_completion_tokens"]].concat())?;
    string(&m, "model")?;
    let list = get(&m, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("messages", "a list of messages"))?;
    if list.is_empty() {
        return Err(bad("messages", "a non-empty list"));
    }
    let mut turns = Vec::with_capacity(list.len());
    for msg in list {
        let msg = msg
            .as_object()
            .ok_or_else(|| bad("messages[]", "objects"))?;
        only(msg, &["role", "content", "name"])?;
        let role = match msg.get("role").and_then(Value::as_str) {
            Some("system") | Some("developer") => "system",
            Some("user") => "user",
            Some("assistant") => "assistant",
            _ => {
                return Err(bad(
                    "messages[].role",
                    "\"system\", \"user\" or \"assistant\"",
                ))
            }
        };
        let content = match msg.get("content") {
            Some(Value::String(s)) => s.clone(),
            // The content-parts form: only text parts.
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for p in parts {
                    match (
                        p.get("type").and_then(Value::as_str),
                        p.get("text").and_then(Value::as_str),
                    ) {
                        (Some("text"), Some(t)) => text.push_str(t),
                        _ => {
                            return Err(bad(
                                "messages[].content[]",
                                "text parts ({\"type\": \"text\", \"text\": ...})",
                            ))
                        }
                    }
                }
                text
            }
            _ => return Err(bad("messages[].content", "a string")),
        };
        turns.push((role, content));
    }
    common(Flavor::Chat, &m, Prompt::Chat(turns), "max_tokens")
}

/// `/tokenize`'s request.
pub struct Tokenize {
    pub content: String,
    /// Add BOS (llama-server's default: no).
    pub add_special: bool,
    /// Read `<|im_start|>` and the like as special tokens (llama-server's default: yes).
    pub parse_special: bool,
}

/// `/tokenize`: the text and llama-server's two switches.
pub fn tokenize(body: &[u8]) -> Result<Tokenize, Fail> {
    let m = object(body)?;
    only(&m, &["content", "add_special", "parse_special"])?;
    Ok(Tokenize {
        content: string(&m, "content")?.ok_or_else(|| bad("content", "a string"))?,
        add_special: boolean(&m, "add_special")?.unwrap_or(false),
        parse_special: boolean(&m, "parse_special")?.unwrap_or(true),
    })
}

/// `/detokenize`: the token ids.
pub fn detokenize(body: &[u8]) -> Result<Vec<u32>, Fail> {
    let m = object(body)?;
    only(&m, &["tokens"])?;
    let list = get(&m, "tokens")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("tokens", "a list of token ids"))?;
    list.iter()
        .map(|v| {
            v.as_u64()
                .and_then(|x| u32::try_from(x).ok())
                .ok_or_else(|| bad("tokens", "a list of token ids"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_fields() {
        let g = chat(br#"{"model":"x","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stop":"\n"}"#).unwrap();
        assert_eq!(g.max_tokens, 5);
        assert_eq!(g.stop, vec!["\n".to_string()]);
        assert!(chat(br#"{"messages":[{"role":"user","content":"hi"}],"logprobs":true}"#).is_err());
        assert!(chat(br#"{"messages":[]}"#).is_err());
        assert!(chat(b"{\"messages\": \xff}").is_err());
        assert!(chat(br#"{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}"#).unwrap().json);
        assert!(chat(br#"{"messages":[{"role":"user","content":"hi"}],"presence_penalty":0,"stream_options":{"include_usage":true}}"#).is_ok());
        assert!(
            chat(br#"{"messages":[{"role":"user","content":"hi"}],"presence_penalty":0.5}"#)
                .is_err()
        );
    }

    #[test]
    fn tokens() {
        assert_eq!(detokenize(br#"{"tokens":[1,2]}"#).unwrap(), vec![1, 2]);
        assert!(detokenize(br#"{"tokens":[-1]}"#).is_err());
        assert!(detokenize(br#"{"tokens":[5000000000]}"#).is_err());
    }
}
