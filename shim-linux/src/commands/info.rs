//! `armlet info MODEL.gguf [--json] [--ctx N] [--kv f16|f32]`: what a model file holds:
//! architecture, hyperparameters, the attention layers' kinds (sliding-window or global),
//! tokenizer, every tensor, bytes per type, and with `--ctx` the memory plan of a session. Text for a person, or one JSON object with `--json`.
//!
//! Everything shown is read through the core's validated GGUF view; a file the parser
//! refuses gives one line `armlet: PATH: MESSAGE (at byte N)` and exit status 1.

use crate::model_file::ModelBytes;
use armlet_core::gguf::{self, Array, Tensor, Value, ValueType};
use armlet_core::model::{HParams, KvCacheType};
use armlet_core::plan::{write_memory_map, Bytes, Mib, Plan};
use armlet_core::quant::types::ALL_TYPES;
use armlet_core::quant::GgmlType;
use std::io::{self, BufWriter, Write};

const USAGE: &str = "usage: armlet info MODEL.gguf [--json] [--ctx N] [--kv f16|f32] [-ub N]";

/// Arrays longer than this are summarised (element type and length) instead of listed.
const ARRAY_LIST_MAX: u64 = 64;
/// Arrays shorter than this are listed inline in the text output.
const ARRAY_INLINE_MAX: u64 = 8;
/// Strings longer than this are cut in the text output (JSON has them whole).
const TEXT_STRING_MAX: usize = 72;

struct Args {
    path: String,
    json: bool,
    ctx: Option<usize>,
    kv: KvCacheType,
    ubatch: usize,
}

/// The arguments, or `None` when help was asked for.
fn parse_args(args: &[String]) -> Result<Option<Args>, String> {
    let mut path = None;
    let mut json = false;
    let mut ctx = None;
    let mut kv = KvCacheType::F16;
    let mut ubatch = armlet_core::plan::DEFAULT_UBATCH;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--ctx" | "-c" => {
                let v = it.next().ok_or(format!("info: {a} needs a number of tokens"))?;
                let n: usize = v.parse().map_err(|_| format!("info: {a} {v:?} is not a number of tokens"))?;
                ctx = Some(n);
            }
            "-ub" | "--ubatch-size" => {
                let v = it.next().ok_or(format!("info: {a} needs a number of tokens"))?;
                ubatch = v.parse().map_err(|_| format!("info: {a} {v:?} is not a number of tokens"))?;
            }
            "--kv" => {
                kv = match it.next().map(|v| v.to_ascii_lowercase()).as_deref() {
                    Some("f16") => KvCacheType::F16,
                    Some("f32") => KvCacheType::F32,
                    _ => return Err(format!("info: --kv takes f16 or f32; {USAGE}")),
                }
            }
            "-h" | "--help" => return Ok(None),
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("info: unknown option {flag}; {USAGE}"))
            }
            p if path.is_none() => path = Some(p.to_string()),
            extra => return Err(format!("info: unexpected argument {extra:?}; {USAGE}")),
        }
    }
    let path = path.ok_or(format!("info: missing MODEL.gguf; {USAGE}"))?;
    Ok(Some(Args { path, json, ctx, kv, ubatch }))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(a) = parse_args(args)? else {
        // A closed stdout is not an error here either.
        let _ = writeln!(io::stdout(), "{USAGE}");
        return Ok(());
    };
    let path = &a.path;
    let model = ModelBytes::read(path.as_ref())?;
    let file = gguf::File::parse(model.bytes()).map_err(|e| format!("{path}: {e}"))?;
    let summary = Summary::of(&file);
    let plan = match a.ctx {
        None => None,
        Some(n_ctx) => {
            let h = HParams::from_gguf(&file).map_err(|e| format!("{path}: {e}"))?;
            Some(Plan::with_ubatch(&h, n_ctx, a.kv, a.ubatch).map_err(|e| format!("{path}: {e}"))?)
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let written = if a.json {
        write_json(&mut out, path, &file, &summary, plan.as_ref())
    } else {
        write_text(&mut out, path, &file, &summary, plan.as_ref())
    };
    match written.and_then(|()| out.flush()) {
        // `armlet info x | head`: the reader has what it wanted.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("info: cannot write the output: {e}")),
        Ok(()) => Ok(()),
    }
}

/// The special tokens shown, with their metadata keys.
const SPECIAL_TOKENS: [(&str, &str); 5] = [
    ("BOS", "tokenizer.ggml.bos_token_id"),
    ("EOS", "tokenizer.ggml.eos_token_id"),
    ("EOT", "tokenizer.ggml.eot_token_id"),
    ("PAD", "tokenizer.ggml.padding_token_id"),
    ("UNK", "tokenizer.ggml.unknown_token_id"),
];

/// Keys the summary shows in its own sections (the rest are listed as "other metadata").
const SUMMARISED_KEYS: [&str; 10] = [
    "general.architecture",
    "general.name",
    "general.file_type",
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.add_eos_token",
    "tokenizer.chat_template",
];

/// One special token: its role, id, and text (when the id is inside the vocabulary).
struct Special<'a> {
    role: &'static str,
    id: u64,
    text: Option<&'a [u8]>,
}

/// Tensors of one type: how many, their bytes and elements.
struct TypeTotal {
    ty: GgmlType,
    tensors: u64,
    bytes: u64,
    elements: u64,
}

/// What the file holds, gathered once for either output form.
struct Summary<'a> {
    arch: Option<&'a str>,
    name: Option<&'a str>,
    file_type: Option<u32>,
    hparams: Vec<(&'a str, Value<'a>)>,
    tokenizer_model: Option<&'a str>,
    tokenizer_pre: Option<&'a str>,
    n_tokens: Option<u64>,
    n_merges: Option<u64>,
    specials: Vec<Special<'a>>,
    add_bos: Option<bool>,
    add_eos: Option<bool>,
    chat_template: Option<&'a [u8]>,
    other: Vec<(&'a str, Value<'a>)>,
    tensors: Vec<Tensor<'a>>,
    types: Vec<TypeTotal>,
    tensor_bytes: u64,
}

impl<'a> Summary<'a> {
    fn of(file: &gguf::File<'a>) -> Summary<'a> {
        let arch = file.get_str("general.architecture");
        let arch_prefix = arch.map(|a| format!("{a}."));
        let mut hparams = Vec::new();
        let mut other = Vec::new();
        for (key, value) in file.metadata() {
            match arch_prefix.as_deref().and_then(|p| key.strip_prefix(p)) {
                Some(suffix) => hparams.push((suffix, value)),
                None if SUMMARISED_KEYS.contains(&key) || SPECIAL_TOKENS.iter().any(|s| s.1 == key) => {}
                None => other.push((key, value)),
            }
        }
        let tokens = file.get("tokenizer.ggml.tokens").and_then(|v| v.as_array());
        let specials = SPECIAL_TOKENS
            .iter()
            .filter_map(|&(role, key)| {
                let id = file.get(key)?.as_u64()?;
                let text = tokens.and_then(|t| t.iter().nth(usize::try_from(id).ok()?)).and_then(|v| v.as_bytes());
                Some(Special { role, id, text })
            })
            .collect();
        let tensors: Vec<Tensor> = file.tensors().collect();
        let types = ALL_TYPES
            .iter()
            .filter_map(|&ty| {
                let of_type = tensors.iter().filter(|t| t.ty == ty);
                let (mut n, mut bytes, mut elements) = (0u64, 0u64, 0u64);
                for t in of_type {
                    n += 1;
                    bytes += t.data.len() as u64;
                    elements = elements.saturating_add(t.n_elements());
                }
                (n > 0).then_some(TypeTotal { ty, tensors: n, bytes, elements })
            })
            .collect();
        let tensor_bytes = tensors.iter().map(|t| t.data.len() as u64).sum();
        Summary {
            arch,
            name: file.get_str("general.name"),
            file_type: file.get("general.file_type").and_then(|v| v.as_u32()),
            hparams,
            tokenizer_model: file.get_str("tokenizer.ggml.model"),
            tokenizer_pre: file.get_str("tokenizer.ggml.pre"),
            n_tokens: tokens.map(|t| t.len()),
            n_merges: file.get("tokenizer.ggml.merges").and_then(|v| v.as_array()).map(|a| a.len()),
            specials,
            add_bos: file.get("tokenizer.ggml.add_bos_token").and_then(|v| v.as_bool()),
            add_eos: file.get("tokenizer.ggml.add_eos_token").and_then(|v| v.as_bool()),
            chat_template: file.get("tokenizer.chat_template").and_then(|v| v.as_bytes()),
            other,
            tensors,
            types,
            tensor_bytes,
        }
    }
}

/// llama.cpp's `llama_ftype` names (`general.file_type`).
fn file_type_name(ftype: u32) -> Option<&'static str> {
    Some(match ftype {
        0 => "all F32",
        1 => "mostly F16",
        2 => "mostly Q4_0",
        3 => "mostly Q4_1",
        7 => "mostly Q8_0",
        8 => "mostly Q5_0",
        9 => "mostly Q5_1",
        10 => "mostly Q2_K",
        11 => "mostly Q3_K_S",
        12 => "mostly Q3_K_M",
        13 => "mostly Q3_K_L",
        14 => "mostly Q4_K_S",
        15 => "mostly Q4_K_M",
        16 => "mostly Q5_K_S",
        17 => "mostly Q5_K_M",
        18 => "mostly Q6_K",
        19 => "mostly IQ2_XXS",
        20 => "mostly IQ2_XS",
        21 => "mostly Q2_K_S",
        22 => "mostly IQ3_XS",
        23 => "mostly IQ3_XXS",
        24 => "mostly IQ1_S",
        25 => "mostly IQ4_NL",
        26 => "mostly IQ3_S",
        27 => "mostly IQ3_M",
        28 => "mostly IQ2_S",
        29 => "mostly IQ2_M",
        30 => "mostly IQ4_XS",
        31 => "mostly IQ1_M",
        32 => "mostly BF16",
        36 => "mostly TQ1_0",
        37 => "mostly TQ2_0",
        38 => "mostly MXFP4 (MoE)",
        _ => return None,
    })
}

/// The chat format a template is written for, recognised by the markers llama.cpp's
/// `llm_chat_detect_template` looks for (in its order; only the families likely on a Pi).
fn chat_template_family(template: &[u8]) -> &'static str {
    let t = String::from_utf8_lossy(template);
    let has = |s: &str| t.contains(s);
    if has("<|im_start|>") {
        "ChatML"
    } else if t.starts_with("mistral") || has("[INST]") {
        if has("<<SYS>>") {
            "llama2"
        } else {
            "mistral"
        }
    } else if has("<|assistant|>") && has("<|end|>") {
        "phi3"
    } else if has("<|assistant|>") && has("<|user|>") {
        if has("</s>") {
            "falcon3"
        } else {
            "glm-edge"
        }
    } else if has("<|user|>") && has("<|endoftext|>") {
        "zephyr"
    } else if has("<start_of_turn>") {
        "gemma"
    } else if has("GPT4 Correct ") {
        "openchat"
    } else if has("USER: ") && has("ASSISTANT: ") {
        "vicuna"
    } else if has("### Instruction:") && has("<|EOT|>") {
        "deepseek"
    } else if has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>") {
        "command-r"
    } else if has("<|start_header_id|>") && has("<|end_header_id|>") {
        "llama3"
    } else if has("<｜Assistant｜>") && has("<｜User｜>") {
        "deepseek3"
    } else if has("<|start_of_role|>") {
        "granite"
    } else if has("<|header_start|>") && has("<|header_end|>") {
        "llama4"
    } else if has("<|start|>") && has("<|channel|>") {
        "gpt-oss"
    } else {
        "not recognised"
    }
}

// ---- text ----------------------------------------------------------------------------

/// Bytes from the file shown as text: UTF-8 as is, except quotes, backslashes and control
/// characters, which are escaped, as is every byte that is not UTF-8 (`\xff`).
fn escaped(bytes: &[u8], max_chars: usize) -> String {
    let mut s = String::new();
    let mut chars = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if chars >= max_chars {
                s.push('…');
                return s;
            }
            chars += 1;
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
            chars += 1;
        }
    }
    s
}

fn scalar_text(v: &Value) -> String {
    match *v {
        Value::U8(x) => x.to_string(),
        Value::I8(x) => x.to_string(),
        Value::U16(x) => x.to_string(),
        Value::I16(x) => x.to_string(),
        Value::U32(x) => x.to_string(),
        Value::I32(x) => x.to_string(),
        Value::U64(x) => x.to_string(),
        Value::I64(x) => x.to_string(),
        Value::F32(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::Bool(x) => x.to_string(),
        Value::Str(s) if s.len() > TEXT_STRING_MAX => {
            format!("\"{}\" ({} bytes)", escaped(s, TEXT_STRING_MAX), s.len())
        }
        Value::Str(s) => format!("\"{}\"", escaped(s, TEXT_STRING_MAX)),
        Value::Array(a) => array_text(&a),
    }
}

fn array_text(a: &Array) -> String {
    let ty = a.elem_type().name();
    if a.len() <= ARRAY_INLINE_MAX && a.elem_type() != ValueType::Array {
        let items: Vec<String> = a.iter().map(|v| scalar_text(&v)).collect();
        return format!("[{}]", items.join(", "));
    }
    let first: Vec<String> = a.iter().take(3).map(|v| scalar_text(&v)).collect();
    let more = if a.len() > 3 { ", …" } else { "" };
    format!("[{} × {ty}: {}{more}]", a.len(), first.join(", "))
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

fn shape_text(t: &Tensor) -> String {
    let dims: Vec<String> = t.shape().iter().map(u64::to_string).collect();
    if dims.is_empty() {
        "scalar".into()
    } else {
        dims.join(" x ")
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".into(), |x| x.to_string())
}

/// A string from the file, made safe for a terminal (no control characters get through).
fn shown(s: &str) -> String {
    escaped(s.as_bytes(), TEXT_STRING_MAX)
}

fn opt_shown(v: Option<&str>) -> String {
    v.map_or("-".into(), shown)
}

fn write_text(
    w: &mut dyn Write,
    path: &str,
    file: &gguf::File,
    s: &Summary,
    plan: Option<&Plan>,
) -> io::Result<()> {
    let len = file.bytes().len() as u64;
    writeln!(w, "{path}: GGUF v{}, {} bytes ({})", file.version(), Bytes(len), Mib(len))?;
    writeln!(
        w,
        "  {} metadata entries, {} tensors; data section at byte {} (alignment {})",
        file.metadata_count(),
        file.tensor_count(),
        Bytes(file.data_offset() as u64),
        file.alignment()
    )?;
    writeln!(w)?;
    writeln!(w, "architecture      {}", opt_shown(s.arch))?;
    writeln!(w, "name              {}", opt_shown(s.name))?;
    let ftype = s.file_type.map(|f| match file_type_name(f) {
        Some(n) => format!("{n} ({f})"),
        None => format!("{f} (unknown)"),
    });
    writeln!(w, "file type         {}", opt(ftype))?;

    if let Some(arch) = s.arch {
        writeln!(w, "\nhyperparameters ({}.*)", shown(arch))?;
        let width = s.hparams.iter().map(|(k, _)| shown(k).chars().count()).max().unwrap_or(0);
        for (key, value) in &s.hparams {
            writeln!(w, "  {:<width$}  {}", shown(key), scalar_text(value))?;
        }
        if s.hparams.is_empty() {
            writeln!(w, "  (none)")?;
        }
    }

    if let Ok(h) = HParams::from_gguf(file) {
        writeln!(w, "\nattention layers  {}", layers_text(&h))?;
        if h.swa.is_some() {
            writeln!(w, "  kinds           {} (S sliding, G global, layer 0 first)", kinds_text(&h))?;
        }
    }

    writeln!(w, "\ntokenizer")?;
    writeln!(w, "  model           {}", opt_shown(s.tokenizer_model))?;
    writeln!(w, "  pre-tokenizer   {}", opt_shown(s.tokenizer_pre))?;
    writeln!(w, "  vocabulary      {}", s.n_tokens.map_or("-".into(), |n| format!("{} tokens", Bytes(n))))?;
    writeln!(w, "  merges          {}", s.n_merges.map_or("-".into(), |n| Bytes(n).to_string()))?;
    for sp in &s.specials {
        let text = sp.text.map_or("(not in the vocabulary)".into(), |t| format!("\"{}\"", escaped(t, 40)));
        writeln!(w, "  {:<15} {} {text}", sp.role, sp.id)?;
    }
    writeln!(w, "  add BOS         {}", opt(s.add_bos))?;
    writeln!(w, "  add EOS         {}", opt(s.add_eos))?;
    let template = s
        .chat_template
        .map(|t| format!("{} bytes, {}", Bytes(t.len() as u64), chat_template_family(t)));
    writeln!(w, "  chat template   {}", template.unwrap_or_else(|| "none".into()))?;

    if !s.other.is_empty() {
        writeln!(w, "\nother metadata")?;
        let width = s.other.iter().map(|(k, _)| shown(k).chars().count()).max().unwrap_or(0);
        for (key, value) in &s.other {
            writeln!(w, "  {:<width$}  {}", shown(key), scalar_text(value))?;
        }
    }

    writeln!(w, "\ntensors ({})", s.tensors.len())?;
    if !s.tensors.is_empty() {
        let name_w = s.tensors.iter().map(|t| shown(t.name).chars().count()).max().unwrap_or(4).max(4);
        let shape_w = s.tensors.iter().map(|t| shape_text(t).len()).max().unwrap_or(5).max(5);
        writeln!(w, "  {:<name_w$}  {:<7}  {:<shape_w$}  {:>13}", "name", "type", "shape", "bytes")?;
        for t in &s.tensors {
            let bytes = Bytes(t.data.len() as u64).to_string();
            writeln!(w, "  {:<name_w$}  {:<7}  {:<shape_w$}  {bytes:>13}", shown(t.name), t.ty.name(), shape_text(t))?;
        }
        writeln!(w, "\nbytes per type")?;
        writeln!(w, "  {:<7}  {:>7}  {:>13}  {:>6}  {:>11}", "type", "tensors", "bytes", "share", "bits/weight")?;
        for tt in &s.types {
            let bpw = if tt.elements == 0 { 0.0 } else { tt.bytes as f64 * 8.0 / tt.elements as f64 };
            writeln!(
                w,
                "  {:<7}  {:>7}  {:>13}  {:>6}  {bpw:>11.2}",
                tt.ty.name(),
                tt.tensors,
                Bytes(tt.bytes).to_string(),
                percent(tt.bytes, s.tensor_bytes)
            )?;
        }
        let all = Bytes(s.tensor_bytes).to_string();
        writeln!(w, "  {:<7}  {:>7}  {all:>13}  {:>6}", "total", s.tensors.len(), percent(s.tensor_bytes, s.tensor_bytes))?;
        let unsupported: Vec<&str> = s.types.iter().filter(|t| !t.ty.is_supported()).map(|t| t.ty.name()).collect();
        if !unsupported.is_empty() {
            writeln!(w, "  armlet cannot compute with: {}", unsupported.join(", "))?;
        }
    }

    if let Some(plan) = plan {
        writeln!(
            w,
            "\nmemory plan: {} positions, {} KV cache, prompts in batches of {} tokens (-ub)",
            plan.n_ctx,
            plan.kv_type.name(),
            plan.ubatch
        )?;
        if let Some(swa) = plan.hparams.swa {
            writeln!(
                w,
                "(sliding-window layers keep a ring of their last {} positions; global layers all {})",
                swa.window.min(plan.n_ctx),
                plan.n_ctx
            )?;
        }
        let available = crate::machine::available_memory();
        let name = std::path::Path::new(path).file_name().map_or(path.into(), |n| n.to_string_lossy());
        let mut map = String::new();
        // Writing into a String cannot fail.
        let _ = write_memory_map(&mut map, plan, &[(&name, len)], available.unwrap_or(0));
        w.write_all(map.as_bytes())?;
        if available.is_none() {
            writeln!(w, "(available memory unknown: /proc/meminfo has no MemAvailable)")?;
        }
    }
    Ok(())
}

/// `18: 15 sliding (window 512, RoPE base 10000), 3 global (RoPE base 1000000)`, or
/// `30, all global (RoPE base 100000)`.
fn layers_text(h: &HParams) -> String {
    let sliding = (0..h.n_layer).filter(|&l| h.window(l).is_some()).count();
    match h.swa {
        Some(s) => format!(
            "{}: {sliding} sliding (window {}, RoPE base {}), {} global (RoPE base {})",
            h.n_layer,
            s.window,
            s.freq_base,
            h.n_layer - sliding,
            h.rope.freq_base
        ),
        None => format!("{}, all global (RoPE base {})", h.n_layer, h.rope.freq_base),
    }
}

/// One letter per layer: `S` sliding, `G` global.
fn kinds_text(h: &HParams) -> String {
    (0..h.n_layer).map(|l| if h.window(l).is_some() { 'S' } else { 'G' }).collect()
}

// ---- JSON ----------------------------------------------------------------------------

/// A JSON string literal. Bytes that are not UTF-8 become U+FFFD (JSON text is Unicode).
fn json_str(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn json_opt_str(v: Option<&str>) -> String {
    v.map_or("null".into(), |s| json_str(s.as_bytes()))
}

fn json_opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("null".into(), |x| x.to_string())
}

/// Floats as JSON numbers; NaN and infinities (not JSON) as null.
fn json_float(x: f64, shown: String) -> String {
    if x.is_finite() {
        shown
    } else {
        "null".into()
    }
}

fn json_value(v: &Value) -> String {
    match *v {
        Value::F32(x) => json_float(x as f64, x.to_string()),
        Value::F64(x) => json_float(x, x.to_string()),
        Value::Str(s) => json_str(s),
        Value::Array(a) if a.len() > ARRAY_LIST_MAX => {
            format!("{{\"element_type\": {}, \"len\": {}}}", json_str(a.elem_type().name().as_bytes()), a.len())
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|x| json_value(&x)).collect();
            format!("[{}]", items.join(", "))
        }
        _ => scalar_text(v),
    }
}

fn json_object(entries: &[(&str, Value)]) -> String {
    let items: Vec<String> = entries.iter().map(|(k, v)| format!("{}: {}", json_str(k.as_bytes()), json_value(v))).collect();
    format!("{{{}}}", items.join(", "))
}

fn write_json(
    w: &mut dyn Write,
    path: &str,
    file: &gguf::File,
    s: &Summary,
    plan: Option<&Plan>,
) -> io::Result<()> {
    let len = file.bytes().len() as u64;
    writeln!(w, "{{")?;
    writeln!(w, "  \"file\": {},", json_str(path.as_bytes()))?;
    writeln!(w, "  \"gguf_version\": {},", file.version())?;
    writeln!(w, "  \"file_bytes\": {len},")?;
    writeln!(w, "  \"alignment\": {},", file.alignment())?;
    writeln!(w, "  \"data_offset\": {},", file.data_offset())?;
    writeln!(w, "  \"metadata_count\": {},", file.metadata_count())?;
    writeln!(w, "  \"architecture\": {},", json_opt_str(s.arch))?;
    writeln!(w, "  \"name\": {},", json_opt_str(s.name))?;
    writeln!(w, "  \"file_type\": {},", json_opt(s.file_type))?;
    writeln!(w, "  \"file_type_name\": {},", json_opt_str(s.file_type.and_then(file_type_name)))?;
    writeln!(w, "  \"hyperparameters\": {},", json_object(&s.hparams))?;
    if let Ok(h) = HParams::from_gguf(file) {
        let kinds: Vec<&str> =
            (0..h.n_layer).map(|l| if h.window(l).is_some() { "\"sliding\"" } else { "\"global\"" }).collect();
        let window = h.swa.map_or("null".into(), |s| s.window.to_string());
        let base_swa = h.swa.map_or("null".into(), |s| s.freq_base.to_string());
        writeln!(
            w,
            "  \"layers\": {{\"kinds\": [{}], \"sliding_window\": {window}, \"rope_base\": {}, \"rope_base_sliding\": {base_swa}}},",
            kinds.join(", "),
            h.rope.freq_base
        )?;
    }

    let specials: Vec<String> = s
        .specials
        .iter()
        .map(|sp| {
            let text = sp.text.map_or("null".into(), json_str);
            format!("{}: {{\"id\": {}, \"text\": {text}}}", json_str(sp.role.to_ascii_lowercase().as_bytes()), sp.id)
        })
        .collect();
    let template = match s.chat_template {
        Some(t) => format!("{{\"bytes\": {}, \"family\": {}}}", t.len(), json_str(chat_template_family(t).as_bytes())),
        None => "null".into(),
    };
    writeln!(w, "  \"tokenizer\": {{")?;
    writeln!(w, "    \"model\": {},", json_opt_str(s.tokenizer_model))?;
    writeln!(w, "    \"pre\": {},", json_opt_str(s.tokenizer_pre))?;
    writeln!(w, "    \"vocab_size\": {},", json_opt(s.n_tokens))?;
    writeln!(w, "    \"merges\": {},", json_opt(s.n_merges))?;
    writeln!(w, "    \"special_tokens\": {{{}}},", specials.join(", "))?;
    writeln!(w, "    \"add_bos\": {},", json_opt(s.add_bos))?;
    writeln!(w, "    \"add_eos\": {},", json_opt(s.add_eos))?;
    writeln!(w, "    \"chat_template\": {template}")?;
    writeln!(w, "  }},")?;
    writeln!(w, "  \"other_metadata\": {},", json_object(&s.other))?;

    writeln!(w, "  \"tensors\": [")?;
    for (i, t) in s.tensors.iter().enumerate() {
        let shape: Vec<String> = t.shape().iter().map(u64::to_string).collect();
        let comma = if i + 1 < s.tensors.len() { "," } else { "" };
        writeln!(
            w,
            "    {{\"name\": {}, \"type\": \"{}\", \"shape\": [{}], \"bytes\": {}, \"offset\": {}}}{comma}",
            json_str(t.name.as_bytes()),
            t.ty.name(),
            shape.join(", "),
            t.data.len(),
            t.offset
        )?;
    }
    writeln!(w, "  ],")?;
    writeln!(w, "  \"bytes_per_type\": [")?;
    for (i, tt) in s.types.iter().enumerate() {
        let comma = if i + 1 < s.types.len() { "," } else { "" };
        let share = if s.tensor_bytes == 0 { 0.0 } else { tt.bytes as f64 / s.tensor_bytes as f64 };
        writeln!(
            w,
            "    {{\"type\": \"{}\", \"tensors\": {}, \"bytes\": {}, \"elements\": {}, \"share\": {share:.6}, \"supported\": {}}}{comma}",
            tt.ty.name(),
            tt.tensors,
            tt.bytes,
            tt.elements,
            tt.ty.is_supported()
        )?;
    }
    writeln!(w, "  ],")?;
    let end = if plan.is_some() { "," } else { "" };
    writeln!(w, "  \"tensor_bytes\": {}{end}", s.tensor_bytes)?;
    if let Some(plan) = plan {
        let regions: Vec<String> = plan
            .regions()
            .zip(plan.region_list())
            .map(|((name, bytes), r)| {
                format!("{{\"name\": {}, \"offset\": {}, \"bytes\": {bytes}}}", json_str(name.as_bytes()), r.offset)
            })
            .collect();
        writeln!(w, "  \"memory_plan\": {{")?;
        writeln!(w, "    \"n_ctx\": {},", plan.n_ctx)?;
        writeln!(w, "    \"kv_type\": \"{}\",", plan.kv_type.name())?;
        writeln!(w, "    \"ubatch\": {},", plan.ubatch)?;
        writeln!(w, "    \"arena_bytes\": {},", plan.arena_bytes())?;
        writeln!(w, "    \"padding_bytes\": {},", plan.padding_bytes())?;
        writeln!(w, "    \"model_bytes\": {len},")?;
        writeln!(w, "    \"available_bytes\": {},", json_opt(crate::machine::available_memory()))?;
        writeln!(w, "    \"regions\": [{}]", regions.join(", "))?;
        writeln!(w, "  }}")?;
    }
    writeln!(w, "}}")
}
