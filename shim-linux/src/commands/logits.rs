//! `armlet logits`: logits for every position, in the golden `.alog` format.

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("logits: not available yet".into())
}
