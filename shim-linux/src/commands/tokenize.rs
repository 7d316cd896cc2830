//! `armlet tokenize`: llama-tokenize's command line and output. Reads the model file, builds
//! only the tokenizer (no weights are touched, so vocab-only GGUF files work), tokenizes the
//! prompt and prints `[ids]` (`--ids`) or one `%6d -> 'piece'` line per token.

use std::io::{Read, Write};
use std::path::PathBuf;

use armlet_core::gguf::File;
use armlet_core::text::Tokenizer;

use crate::model_file::ModelBytes;

const USAGE: &str = "\
usage: armlet tokenize -m MODEL.gguf [-p TEXT | -f FILE | --stdin] [--ids] [--no-bos]
                       [--parse-special] [--no-escape] [--show-count]
  -m, --model FILE      model or vocab-only GGUF file
  -p, --prompt TEXT     text to tokenize
  -f, --file FILE       read the text from FILE (verbatim, trailing newline kept)
  --stdin               read the text from standard input
  --ids                 print only the ids, as a list [1, 2, 3]
  --no-bos              do not add BOS (nor EOS) even if the model asks for it
  --parse-special       tokenize special tokens written in the text (<|im_start|>, ...)
  -e, --escape / --no-escape   process \\n \\r \\t \\' \\\" \\\\ \\xHH escapes (default: on)
  --show-count          print the number of tokens at the end";

struct Options {
    model: PathBuf,
    prompt: Option<Vec<u8>>,
    file: Option<PathBuf>,
    stdin: bool,
    ids: bool,
    no_bos: bool,
    parse_special: bool,
    escape: bool,
    show_count: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut model = None;
    let mut o = Options {
        model: PathBuf::new(),
        prompt: None,
        file: None,
        stdin: false,
        ids: false,
        no_bos: false,
        parse_special: false,
        escape: true,
        show_count: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "-m" | "--model" => model = Some(PathBuf::from(value(arg)?)),
            "-p" | "--prompt" => o.prompt = Some(value(arg)?.into_bytes()),
            "-f" | "--file" => o.file = Some(PathBuf::from(value(arg)?)),
            "--stdin" => o.stdin = true,
            "--ids" => o.ids = true,
            "--no-bos" => o.no_bos = true,
            "--parse-special" => o.parse_special = true,
            "-e" | "--escape" => o.escape = true,
            "--no-escape" => o.escape = false,
            "--show-count" => o.show_count = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    o.model = model.ok_or_else(|| format!("no model given (-m)\n{USAGE}"))?;
    if !o.stdin && o.file.is_none() && o.prompt.is_none() {
        return Err(format!(
            "must specify one of: --stdin, --file or --prompt\n{USAGE}"
        ));
    }
    Ok(o)
}

/// llama.cpp's `string_process_escapes`.
fn process_escapes(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'\\' && i + 1 < input.len() {
            i += 1;
            match input[i] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'\'' => out.push(b'\''),
                b'"' => out.push(b'"'),
                b'\\' => out.push(b'\\'),
                b'x' if i + 2 < input.len()
                    && input[i + 1].is_ascii_hexdigit()
                    && input[i + 2].is_ascii_hexdigit() =>
                {
                    let hex = std::str::from_utf8(&input[i + 1..i + 3]).unwrap_or("0");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 2;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        } else {
            out.push(input[i]);
        }
        i += 1;
    }
    out
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    // --stdin wins over -f, which wins over -p (as in llama-tokenize).
    let raw = if o.stdin {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("could not read the standard input: {e}"))?;
        buf
    } else if let Some(path) = &o.file {
        std::fs::read(path)
            .map_err(|e| format!("could not open file '{}' for reading: {e}", path.display()))?
    } else {
        o.prompt.clone().unwrap_or_default()
    };
    let text = if o.escape { process_escapes(&raw) } else { raw };

    let bytes = ModelBytes::read(&o.model)?;
    let file = File::parse(bytes.bytes()).map_err(|e| format!("{}: {e}", o.model.display()))?;
    // Worded as the other commands word a tokenizer that cannot be built.
    let arena_len = Tokenizer::arena_bytes_for(&file, text.len())
        .map_err(|e| format!("{}: tokenizer: {e}", o.model.display()))?;
    let mut arena = vec![0u8; arena_len];
    let tok = Tokenizer::new(&file, &mut arena)
        .map_err(|e| format!("{}: tokenizer: {e}", o.model.display()))?;

    let add_special = tok.adds_bos() && !o.no_bos;
    let mut ids = vec![0u32; text.len() + 2];
    let n = match tok.encode(&text, add_special, o.parse_special, &mut ids) {
        Ok(n) => n,
        Err(armlet_core::text::TextError::OutputFull { needed }) => {
            ids.resize(needed, 0);
            tok.encode(&text, add_special, o.parse_special, &mut ids)
                .map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    let ids = &ids[..n];

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| format!("cannot write to standard output: {e}");
    if o.ids {
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "[{}]", list.join(", ")).map_err(io)?;
    } else {
        for &id in ids {
            let piece = tok.token_piece(id).unwrap_or(&[]);
            // llama-tokenize prints the piece with printf("%s"): it stops at a NUL byte.
            let printable = piece.split(|&b| b == 0).next().unwrap_or(&[]);
            write!(out, "{id:6} -> '").map_err(io)?;
            out.write_all(printable).map_err(io)?;
            writeln!(out, "'").map_err(io)?;
        }
    }
    if o.show_count {
        writeln!(out, "Total number of tokens: {}", ids.len()).map_err(io)?;
    }
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::process_escapes;

    #[test]
    fn escapes_as_llama_cpp() {
        assert_eq!(
            process_escapes(br"a\nb\t\\\x41\x4\q\"),
            b"a\nb\t\\A\\x4\\q\\"
        );
    }
}
