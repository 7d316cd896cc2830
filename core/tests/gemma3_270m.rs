//! Gemma 3 270M (base model, Q4_K_M: Q5_0 and Q8_0 matrices with K-quant `attn_output` and
//! `ffn_down`, architecture `gemma3`) end to end against llama.cpp's greedy outputs
//! (`shared/models/gemma3-greedy.json`, summarised in `shared/models/gemma3.md`; the cases
//! below are that file's, written out). Each prompt is tokenized by the core (BOS added,
//! special tokens parsed) and must give llama.cpp's ids; the session feeds them in batches,
//! then llama.cpp's generated ids, once with an F32 cache (llama.cpp's "F32 KV, flash
//! attention off") and once with the F16 cache (its default, flash attention on). The
//! greedy choice at each step must be llama.cpp's up to its first fragile step (top-2
//! margin below 0.2: there the real model's amplified rounding may pick either, and
//! llama.cpp's own settings disagree; gemma3.md "What llama.cpp's CPU backend does
//! numerically"), and on every later step whose margin is clear; the text of those ids
//! must start llama.cpp's text (all of it when no step is fragile).
//!
//! The model is not in the repository: `scripts/fetch-gemma3` puts it in `.cache/gemma3/`.
//! Without it every test here prints a notice and passes. Under `qemu-arm` (`scripts/test`'s
//! ARM step reads the same host path) only the first [`STEPS`] steps of each run are checked:
//! each token costs seconds there. About 10 s per case on the host
//! (the tied 262144 x 640 Q8_0 output head dominates every generated token).

use armlet_core::gguf;
use armlet_core::model::{Architecture, KvCacheType, Model};
use armlet_core::plan::Plan;
use armlet_core::session::{arena_from_words, Session};
use armlet_core::text::{DetokenizeOptions, Detokenizer, Tokenizer, MAX_HELD_BYTES};
use std::fmt::Write;
use std::sync::OnceLock;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/gemma3/gemma-3-270m-q4_k_m.gguf");

/// Positions per session: the longest prompt is 17 tokens, then 32 generated.
const N_CTX: usize = 64;

/// The model file's bytes, read once for all tests; `None` (with a notice) when it has
/// not been fetched.
fn model_bytes() -> Option<&'static [u8]> {
    static BYTES: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    BYTES
        .get_or_init(|| match std::fs::read(MODEL) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("SKIPPED: {MODEL}: {e} (run scripts/fetch-gemma3 to fetch it)");
                None
            }
        })
        .as_deref()
}

/// One run of llama.cpp: the 32 generated ids, their text, and the top-1 minus top-2 logit
/// margin of each step.
struct Run {
    ids: &'static [u32],
    text: &'static str,
    margins: &'static [f32],
}

/// Generated steps checked per run.
const STEPS: usize = if cfg!(target_arch = "arm") { 4 } else { 32 };

/// Below this margin llama.cpp's own choice is fragile: its two settings, and its runs
/// against itself, flip steps of up to ~0.2 on this model (gemma3.md "The real model
/// amplifies rounding").
const FRAGILE: f32 = 0.2;

/// One prompt of gemma3-greedy.json and llama.cpp's run in both settings.
struct Case {
    name: &'static str,
    prompt: &'static str,
    prompt_ids: &'static [u32],
    f32_kv: Run,
    f16_kv: Run,
}

const FRANCE: Case = Case {
    name: "france",
    prompt: "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    prompt_ids: &[2, 105, 2364, 107, 3689, 563, 506, 5279, 529, 7001, 236881, 106, 107, 105, 4368, 107],
    f32_kv: Run { ids: &[3689, 563, 506, 5279, 529, 7001, 236881, 217716, 107, 3689, 563, 506, 5279, 529, 7001, 236881, 217716, 107, 3689, 563, 506, 5279, 529, 7001, 236881, 217716, 107, 3689, 563, 506, 5279, 529], text: "What is the capital of France? mendatang\nWhat is the capital of France? mendatang\nWhat is the capital of France? mendatang\nWhat is the capital of", margins: &[1.4309, 2.2382, 3.1905, 1.9632, 3.7816, 1.0082, 5.257, 0.1702, 1.6952, 1.5361, 2.8028, 4.9395, 4.0645, 5.911, 2.7554, 5.9365, 4.7281, 3.5214, 3.0248, 3.8573, 6.1232, 4.9327, 7.4539, 4.5172, 6.0804, 6.8077, 4.8529, 3.804, 4.9514, 7.1667, 5.3109, 8.6819] },
    f16_kv: Run { ids: &[3689, 563, 506, 5279, 529, 7001, 236881, 144096, 107, 3689, 563, 506, 5279, 529, 7001, 236881, 144096, 107, 3689, 563, 506, 5279, 529, 7001, 236881, 144096, 107, 3689, 563, 506, 5279, 529], text: "What is the capital of France?修理\nWhat is the capital of France?修理\nWhat is the capital of France?修理\nWhat is the capital of", margins: &[1.504, 2.2004, 3.3956, 1.9474, 3.5638, 0.9063, 5.4025, 0.0318, 1.0544, 1.0299, 2.7067, 5.0347, 3.9583, 6.0873, 2.5535, 5.9832, 4.595, 4.3112, 3.3102, 3.7707, 5.7727, 5.0729, 7.3379, 4.3128, 6.2181, 6.2442, 5.3832, 4.2033, 4.6028, 6.7081, 5.4121, 8.9536] },
};

const MATH: Case = Case {
    name: "math",
    prompt: "<start_of_turn>user\nWhat is 2 + 2?<end_of_turn>\n<start_of_turn>model\n",
    prompt_ids: &[2, 105, 2364, 107, 3689, 563, 236743, 236778, 900, 236743, 236778, 236881, 106, 107, 105, 4368, 107],
    f32_kv: Run {
        ids: &[
            3689, 563, 236743, 236778, 900, 236743, 236778, 236881, 217716, 107, 3689, 563, 236743, 236778, 900,
            236743, 236778, 236881, 217716, 107, 3689, 563, 236743, 236778, 900, 236743, 236778, 236881, 217716, 107,
            3689, 563,
        ],
        text: "What is 2 + 2? mendatang\nWhat is 2 + 2? mendatang\nWhat is 2 + 2? mendatang\nWhat is",
        margins: &[
            1.287, 3.0439, 1.718, 1.4453, 2.3325, 3.4347, 2.7413, 3.2617, 1.6048, 0.076, 1.271, 3.6615, 3.6096, 3.2922,
            3.7125, 4.2834, 4.366, 4.2659, 4.8428, 2.5761, 2.7207, 4.7458, 5.1481, 4.0507, 4.083, 4.8723, 5.2433,
            4.3443, 7.2594, 3.7109, 3.9511, 5.4579,
        ],
    },
    f16_kv: Run {
        ids: &[
            3689, 563, 236743, 236778, 900, 236743, 236778, 236881, 217716, 107, 3689, 563, 236743, 236778, 900,
            236743, 236778, 236881, 217716, 107, 3689, 563, 236743, 236778, 900, 236743, 236778, 236881, 217716, 107,
            3689, 563,
        ],
        text: "What is 2 + 2? mendatang\nWhat is 2 + 2? mendatang\nWhat is 2 + 2? mendatang\nWhat is",
        margins: &[
            1.5857, 3.0794, 1.5909, 1.3286, 2.2781, 3.5661, 2.5785, 3.2593, 1.982, 0.1213, 1.5633, 3.6172, 3.5269,
            3.1027, 3.5885, 4.4588, 3.9115, 4.0326, 5.3313, 2.3108, 2.9482, 4.6864, 5.013, 3.89, 4.0141, 4.7846,
            5.2461, 4.1632, 7.4731, 3.5501, 3.9375, 5.096,
        ],
    },
};

const HELLO: Case = Case {
    name: "hello",
    prompt: "<start_of_turn>user\nHello! How are you?<end_of_turn>\n<start_of_turn>model\n",
    prompt_ids: &[2, 105, 2364, 107, 9259, 236888, 2088, 659, 611, 236881, 106, 107, 105, 4368, 107],
    f32_kv: Run { ids: &[9259, 236888, 2088, 659, 611, 236881, 217716, 2364, 107, 9259, 236888, 2088, 659, 611, 236881, 217716, 2364, 107, 9259, 236888, 2088, 659, 611, 236881, 217716, 2364, 107, 9259, 236888, 2088, 659, 611], text: "Hello! How are you? mendatanguser\nHello! How are you? mendatanguser\nHello! How are you? mendatanguser\nHello! How are you", margins: &[0.6609, 3.6343, 2.1543, 3.6319, 5.9967, 5.2755, 3.0587, 2.0981, 3.0206, 0.9841, 5.2054, 3.0096, 3.3036, 5.8685, 5.4031, 6.7769, 5.3762, 4.5518, 2.787, 5.6469, 3.7714, 3.5765, 6.0265, 6.0226, 8.5302, 6.2401, 4.9423, 3.8434, 6.4956, 4.2188, 4.0527, 6.8611] },
    f16_kv: Run { ids: &[9259, 236888, 2088, 659, 611, 236881, 217716, 2364, 107, 9259, 236888, 2088, 659, 611, 236881, 217716, 2364, 107, 9259, 236888, 2088, 659, 611, 236881, 217716, 2364, 107, 9259, 236888, 2088, 659, 611], text: "Hello! How are you? mendatanguser\nHello! How are you? mendatanguser\nHello! How are you? mendatanguser\nHello! How are you", margins: &[0.7878, 3.6033, 2.3852, 3.5154, 5.9165, 5.1213, 2.7755, 1.9066, 2.4512, 0.983, 5.1555, 3.2054, 3.4637, 5.7157, 5.4176, 7.1972, 5.1516, 4.3374, 2.7485, 5.7915, 3.8169, 3.7294, 6.2765, 5.8563, 8.5228, 6.4797, 4.7763, 3.746, 6.2466, 4.1638, 4.0629, 6.675] },
};

const COLORS: Case = Case {
    name: "colors",
    prompt: "<start_of_turn>user\nName three colors.<end_of_turn>\n<start_of_turn>model\n",
    prompt_ids: &[2, 105, 2364, 107, 1567, 1806, 7913, 236761, 106, 107, 105, 4368, 107],
    f32_kv: Run { ids: &[1567, 1806, 7913, 236761, 107, 236769, 236746, 236768, 107, 236769, 236763, 236768, 107, 236769, 236755, 236768, 107, 236769, 236753, 236768, 107, 236769, 236744, 236768, 107, 236769, 236760, 236768, 107, 236769, 236759, 236768], text: "Name three colors.\n(a)\n(b)\n(c)\n(d)\n(e)\n(f)\n(g)", margins: &[1.4611, 0.6378, 3.9716, 3.6637, 0.8696, 0.3686, 0.7044, 3.652, 0.149, 1.8429, 3.388, 5.2596, 2.885, 2.7586, 3.7204, 5.5693, 2.9572, 2.696, 1.9311, 5.0143, 2.1001, 2.5496, 3.2961, 6.0848, 2.6049, 2.6958, 2.7428, 5.7454, 2.8795, 2.8705, 2.4585, 5.2592] },
    f16_kv: Run { ids: &[1567, 1806, 7913, 236761, 217716, 107, 1567, 1806, 7913, 236761, 217716, 107, 1567, 1806, 7913, 236761, 217716, 107, 1567, 1806, 7913, 236761, 217716, 107, 1567, 1806, 7913, 236761, 217716, 107, 1567, 1806], text: "Name three colors. mendatang\nName three colors. mendatang\nName three colors. mendatang\nName three colors. mendatang\nName three colors. mendatang\nName three", margins: &[1.4814, 0.8787, 4.0497, 3.6474, 0.0576, 0.3428, 1.9542, 2.8032, 4.8448, 3.8211, 3.4371, 2.9114, 4.8533, 3.8337, 5.9151, 4.7517, 7.8813, 3.6845, 5.5862, 4.7706, 5.9339, 5.2159, 7.8224, 4.6621, 6.0646, 5.1378, 5.8236, 5.5472, 8.395, 5.2403, 6.082, 5.5578] },
};

const GERMANY_RAW: Case = Case {
    name: "germany_raw",
    prompt: "The capital of Germany is",
    prompt_ids: &[2, 818, 5279, 529, 9405, 563],
    f32_kv: Run { ids: &[506, 5279, 529, 506, 9115, 1883, 529, 119945, 236761, 1030, 563, 506, 7488, 3207, 528, 119945, 236764, 532, 506, 1855, 7488, 3207, 528, 9405, 236761, 1030, 563, 506, 7488, 3207, 528, 119945], text: " the capital of the German state of Bavaria. It is the largest city in Bavaria, and the second largest city in Germany. It is the largest city in Bavaria", margins: &[0.2087, 0.3106, 2.4474, 0.8975, 0.6653, 0.492, 1.516, 0.4501, 1.0801, 0.4751, 2.0326, 0.4305, 0.7319, 2.2399, 2.6781, 0.3381, 0.4541, 0.5401, 0.1431, 0.5455, 1.0652, 0.3452, 4.9776, 1.6807, 1.2529, 0.818, 2.1119, 0.4397, 0.2947, 2.9935, 3.0752, 1.2962] },
    f16_kv: Run { ids: &[506, 5279, 529, 506, 9115, 20929, 9145, 568, 236823, 7560, 236768, 532, 563, 506, 11171, 529, 506, 9115, 214934, 236761, 669, 9115, 20929, 9145, 568, 236823, 7560, 236768, 563, 506, 7488, 29810], text: " the capital of the German Democratic Republic (GDR) and is the seat of the German Bundestag. The German Democratic Republic (GDR) is the largest democratic", margins: &[0.1023, 0.466, 2.229, 1.0227, 0.6041, 0.0377, 4.1302, 1.2827, 0.3646, 6.5397, 0.0024, 0.4538, 0.2683, 0.7312, 0.275, 5.6227, 3.2487, 0.6529, 0.39, 0.4418, 0.0232, 0.8329, 0.8334, 6.091, 0.9686, 2.5975, 9.717, 2.8499, 0.2904, 0.1774, 0.37, 0.3216] },
};

/// The highest logit and the runner-up, as (id, logit); the lowest id wins a tie, as in
/// llama.cpp's greedy pick.
fn top_two(logits: &[f32]) -> ((u32, f32), (u32, f32)) {
    let mut best = (0u32, f32::NEG_INFINITY);
    let mut second = (0u32, f32::NEG_INFINITY);
    for (id, &l) in logits.iter().enumerate() {
        if l > best.1 {
            second = best;
            best = (id as u32, l);
        } else if l > second.1 {
            second = (id as u32, l);
        }
    }
    (best, second)
}

fn run(case: &Case) {
    let Some(bytes) = model_bytes() else { return };
    let file = gguf::File::parse(bytes).expect("the model parses");
    let model = Model::from_gguf(&file).unwrap_or_else(|e| panic!("{MODEL}: {e}"));
    assert_eq!(model.hparams.arch, Architecture::Gemma3);
    let mut text_arena = vec![0u8; Tokenizer::arena_bytes(&file).expect("tokenizer size")];
    let tok = Tokenizer::new(&file, &mut text_arena).expect("tokenizer");
    let mut prompt_ids = [0u32; N_CTX];
    let n = tok.encode(case.prompt.as_bytes(), true, true, &mut prompt_ids).expect("the prompt encodes");
    assert_eq!(&prompt_ids[..n], case.prompt_ids, "prompt ids of {}", case.name);

    for (kv, want) in [(KvCacheType::F32, &case.f32_kv), (KvCacheType::F16, &case.f16_kv)] {
        let plan = Plan::new(&model.hparams, N_CTX, kv).expect("plan");
        let mut words = vec![0u64; plan.arena_bytes().div_ceil(8)];
        let mut session = Session::new(&model, &plan, arena_from_words(&mut words)).expect("session");
        session.feed_prompt(case.prompt_ids).expect("feed the prompt");
        // Teacher forcing: llama.cpp's ids are fed, so up to its first fragile step this is
        // exactly a greedy run, and after it every clear step is still checked.
        let (mut ours, mut report) = (Vec::new(), String::new());
        for (step, (&llama, &margin)) in want.ids.iter().zip(want.margins).take(STEPS).enumerate() {
            let ((id, logit), (second, second_logit)) = top_two(session.logits());
            let _ = writeln!(
                report,
                "step {step:2}: {id:6} logit {logit:8.4}, runner-up {second:6} margin {:.3}; llama.cpp {llama:6} margin {margin:.3}{}",
                logit - second_logit,
                if id == llama { "" } else if margin < FRAGILE { "  (differs, fragile)" } else { "  <-- differs" }
            );
            ours.push(id);
            session.feed(llama).expect("feed llama.cpp's token");
        }
        println!("{} kv {}:\n{report}", case.name, kv.name());
        let fragile = want.margins.iter().take(ours.len()).position(|&m| m < FRAGILE).unwrap_or(ours.len());
        assert_eq!(
            &ours[..fragile],
            &want.ids[..fragile],
            "{} kv {}: greedy ids before step {fragile}\n{report}",
            case.name,
            kv.name()
        );
        let clear_differ = (0..ours.len()).filter(|&i| ours[i] != want.ids[i] && want.margins[i] >= FRAGILE).count();
        assert_eq!(clear_differ, 0, "{} kv {}: argmax differs on a clear step\n{report}", case.name, kv.name());

        // The text of the greedy ids before the first fragile step: a prefix of llama.cpp's.
        let mut detok = Detokenizer::new(&tok, DetokenizeOptions::pieces(true));
        let (mut text, mut buf) = (Vec::new(), [0u8; 256]);
        for &id in &ours[..fragile] {
            let k = detok.push_into(id, &mut buf).expect("detokenize");
            text.extend_from_slice(&buf[..k]);
        }
        let mut held = [0u8; MAX_HELD_BYTES];
        let k = detok.finish_into(&mut held);
        text.extend_from_slice(&held[..k]);
        let text = String::from_utf8_lossy(&text);
        assert!(
            want.text.starts_with(&*text),
            "{} kv {}: text {text:?}, llama.cpp {:?}",
            case.name,
            kv.name(),
            want.text
        );
        if fragile == want.ids.len() && ours.len() == want.ids.len() {
            assert_eq!(text, want.text, "{} kv {}", case.name, kv.name());
        }
    }
}

#[test]
fn france() {
    run(&FRANCE);
}

#[test]
fn math() {
    run(&MATH);
}

#[test]
fn hello() {
    run(&HELLO);
}

#[test]
fn colors() {
    run(&COLORS);
}

#[test]
fn germany_raw() {
    run(&GERMANY_RAW);
}
