//! armlet: the Linux command. It reads files, parses arguments, prints, and maps every
//! error to a one-line message and exit status 1. All inference happens in armlet-core.

mod commands;
mod machine;
mod model_file;
mod options;
mod quantize;
mod text_glue;

use std::process::ExitCode;

fn main() -> ExitCode {
    machine::enable_runfast();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match commands::dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("armlet: {message}");
            ExitCode::FAILURE
        }
    }
}
