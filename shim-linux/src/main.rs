//! armlet: the Linux command. It reads files, parses arguments, prints, and maps every
//! error to a one-line message and exit status 1. All inference happens in armlet-core.

mod commands;
mod grammar_glue;
mod interrupt;
mod machine;
mod model_file;
mod options;
mod quantize;
mod serve;
mod state_file;
mod text_glue;

use std::process::ExitCode;

fn main() -> ExitCode {
    machine::enable_runfast();
    // std::env::args() would panic on an argument that is not UTF-8 (a prompt typed in
    // another encoding): refuse it with a message instead.
    let args: Vec<String> = match std::env::args_os().skip(1).map(|a| a.into_string()).collect() {
        Ok(args) => args,
        Err(bad) => {
            eprintln!("armlet: argument {bad:?} is not UTF-8 text");
            return ExitCode::FAILURE;
        }
    };
    match commands::dispatch(&args) {
        Ok(status) => status,
        Err(message) => {
            eprintln!("armlet: {message}");
            ExitCode::FAILURE
        }
    }
}
