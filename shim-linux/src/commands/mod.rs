//! The subcommands, and the choice between them. `armlet [flags]` with no subcommand runs a
//! completion (llama-completion's flags); `armlet info|logits|tokenize ...` run the tools.

pub mod grammar_check;
pub mod info;
pub mod logits;
pub mod perplexity;
pub mod quantize;
pub mod run;
pub mod serve;
pub mod tokenize;

use std::process::ExitCode;

const USAGE: &str = "\
usage: armlet -m MODEL.gguf -p PROMPT [-n N] [options]   run a completion (llama-completion flags)
       armlet info MODEL.gguf [--json] [--ctx N]          describe a model file and its memory plan
       armlet grammar-check GRAMMAR.gbnf TEXT_FILE       does the text match the grammar? (exit 0/1/2)
       armlet logits -m MODEL -p PROMPT -n N -o FILE      write logits in the golden (.alog) format
       armlet perplexity -m MODEL -f TEXT [-c N]          score a text as llama-perplexity does
       armlet quantize IN.gguf OUT.gguf TYPE             rewrite a model with another weight type
       armlet serve -m MODEL [--host H] [--port N]        llama-server's HTTP API (armlet serve --help)
       armlet tokenize -m MODEL [-p TEXT | -f FILE] [--ids] [--no-bos] [--parse-special]
run `armlet --help` for every option";

/// Runs the command; `Ok` carries its exit status (most commands: 0, or an `Err` message and 1).
pub fn dispatch(args: &[String]) -> Result<ExitCode, String> {
    let done = |r: Result<(), String>| r.map(|()| ExitCode::SUCCESS);
    match args.first().map(String::as_str) {
        Some("grammar-check") => Ok(grammar_check::run(&args[1..])),
        Some("info") => done(info::run(&args[1..])),
        Some("logits") => done(logits::run(&args[1..])),
        Some("perplexity") => done(perplexity::run(&args[1..])),
        Some("quantize") => done(quantize::run(&args[1..])),
        Some("serve") => done(serve::run(&args[1..])),
        Some("tokenize") => done(tokenize::run(&args[1..])),
        Some("-h") | Some("--help") => {
            print!("{}", crate::options::HELP);
            Ok(ExitCode::SUCCESS)
        }
        None => Err(format!("nothing to do\n{USAGE}")),
        Some(_) => done(run::run(args)),
    }
}
