//! The subcommands, and the choice between them. `armlet [flags]` with no subcommand runs a
//! completion (llama-completion's flags); `armlet info|logits|tokenize ...` run the tools.

pub mod info;
pub mod logits;
pub mod perplexity;
pub mod quantize;
pub mod run;
pub mod tokenize;

const USAGE: &str = "\
usage: armlet -m MODEL.gguf -p PROMPT [-n N] [options]   run a completion (llama-completion flags)
       armlet info MODEL.gguf [--json] [--ctx N]          describe a model file and its memory plan
       armlet logits -m MODEL -p PROMPT -n N -o FILE      write logits in the golden (.alog) format
       armlet perplexity -m MODEL -f TEXT [-c N]          score a text as llama-perplexity does
       armlet quantize IN.gguf OUT.gguf TYPE             rewrite a model with another weight type
       armlet tokenize -m MODEL [-p TEXT | -f FILE] [--ids] [--no-bos] [--parse-special]
run `armlet --help` for every option";

pub fn dispatch(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("info") => info::run(&args[1..]),
        Some("logits") => logits::run(&args[1..]),
        Some("perplexity") => perplexity::run(&args[1..]),
        Some("quantize") => quantize::run(&args[1..]),
        Some("tokenize") => tokenize::run(&args[1..]),
        Some("-h") | Some("--help") => {
            print!("{}", crate::options::HELP);
            Ok(())
        }
        None => Err(format!("nothing to do\n{USAGE}")),
        Some(_) => run::run(args),
    }
}
