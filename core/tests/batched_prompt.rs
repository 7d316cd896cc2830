//! Prompts in batches (`Session::feed_prompt` with a plan's `ubatch`) against feeding the
//! same tokens one at a time (`Session::feed`), bit for bit: the last logits, and the logits
//! of two tokens fed after the prompt (so the KV cache and the Mamba2 state the batches left
//! behind are checked too). Every Falcon-H1 fixture in both cache modes, batch sizes that
//! divide the prompt and that leave a short last batch, and SmolLM2 when it is in the cache.
//! Any difference fails: there is no tolerance.

use armlet_core::gguf;
use armlet_core::model::golden::Alog;
use armlet_core::model::{KvCacheType, Model};
use armlet_core::plan::Plan;
use armlet_core::session::{arena_from_words, Session};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures");
const SMOLLM2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn bits(logits: &[f32]) -> Vec<u32> {
    logits.iter().map(|v| v.to_bits()).collect()
}

/// Feeds `prompt` then `after` token by token, and again with the prompt in batches of each
/// of `ubatches`; every run must give the same bits.
fn check(name: &str, model: &Model<'_>, prompt: &[u32], after: &[u32], ubatches: &[usize]) {
    let n_ctx = prompt.len() + after.len();
    for kv in [KvCacheType::F32, KvCacheType::F16] {
        let run = |ubatch: usize, batched: bool| -> Vec<Vec<u32>> {
            let plan = Plan::with_ubatch(&model.hparams, n_ctx, kv, ubatch).expect("plan");
            let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
            let mut s = Session::new(model, &plan, arena_from_words(&mut words)).expect("session");
            let mut rows = Vec::new();
            if batched {
                rows.push(bits(s.feed_prompt(prompt).expect("prompt")));
            } else {
                for &t in prompt {
                    s.feed(t).expect("feed");
                }
                rows.push(bits(s.logits()));
            }
            for &t in after {
                rows.push(bits(s.feed(t).expect("feed after the prompt")));
            }
            rows
        };
        let expect = run(1, false);
        for &ub in ubatches {
            let got = run(ub, true);
            for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
                let first = g.iter().zip(e).position(|(a, b)| a != b);
                assert!(first.is_none(), "{name} kv {} ubatch {ub}: row {i} differs first at logit {first:?}", kv.name());
            }
        }
    }
}

#[test]
fn every_fixture_batched_equals_token_by_token() {
    for name in ["micro-F32", "micro-F16", "micro-Q8_0", "micro-Q4_K_S", "micro-Q2_K", "micro-untied-g2-F32", "small-F32", "small-F16", "small-Q8_0", "small-Q4_K_S", "small-Q2_K"] {
        let bytes = read(&format!("{FIXTURES}/falcon-h1-{name}.gguf"));
        let golden = read(&format!("{FIXTURES}/golden/falcon-h1-{name}.p2.alog"));
        let file = gguf::File::parse(&bytes).expect("fixture parses");
        let model = Model::from_gguf(&file).expect("model");
        let tokens: Vec<u32> = Alog::parse(&golden).expect("golden").tokens().collect();
        let (prompt, after) = tokens.split_at(tokens.len() - 2);
        check(name, &model, prompt, after, &[1, 2, 3, 4, 5, 8, prompt.len(), 64]);
    }
}

#[test]
fn smollm2_batched_equals_token_by_token() {
    let Ok(bytes) = std::fs::read(SMOLLM2) else {
        eprintln!("SKIPPED: {SMOLLM2} is not there (scripts/fetch-smollm2 fetches it)");
        return;
    };
    let file = gguf::File::parse(&bytes).expect("the model parses");
    let model = Model::from_gguf(&file).expect("model");
    // Any ids do: the check is that batching changes nothing, not what the model says.
    let prompt: Vec<u32> = (0..21).map(|i| 1 + (i * 997) % 40000).collect();
    check("SmolLM2", &model, &prompt, &[504, 3458], &[8]);
}
