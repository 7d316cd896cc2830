//! `armlet quantize IN.gguf OUT.gguf TYPE [--allow-requantize]`: the command line of
//! llama-quantize's common form (the work is in `crate::quantize`).

use crate::quantize::{quantize_file, FileType, Options};
use std::io::IsTerminal;
use std::path::Path;

const USAGE: &str = "usage: armlet quantize IN.gguf OUT.gguf TYPE [--allow-requantize]";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut allow_requantize = false;
    let mut positional = Vec::new();
    for a in args {
        match a.as_str() {
            "--allow-requantize" => allow_requantize = true,
            "-h" | "--help" => {
                println!("{USAGE}\nTYPE: {}", FileType::valid_names());
                return Ok(());
            }
            flag if flag.starts_with("--") => return Err(format!("quantize: unknown option {flag} ({USAGE})")),
            _ => positional.push(a.as_str()),
        }
    }
    let [input, output, type_name] = positional[..] else {
        return Err(format!("quantize: expected 3 arguments, got {} ({USAGE})", positional.len()));
    };
    let ftype = FileType::parse(type_name)
        .ok_or_else(|| format!("quantize: unknown type '{type_name}' (valid: {})", FileType::valid_names()))?;
    let progress = std::io::stderr().is_terminal();
    let summary = quantize_file(Path::new(input), Path::new(output), ftype, &Options { allow_requantize, progress })?;
    if progress {
        eprintln!(
            "quantized {input} -> {output} as {}: {:.2} MiB -> {:.2} MiB",
            ftype.name(),
            summary.bytes_in as f64 / 1048576.0,
            summary.bytes_out as f64 / 1048576.0
        );
    }
    Ok(())
}
