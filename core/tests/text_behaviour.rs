//! Tokenizer behaviour beyond the vocab vectors: the fixtures' golden prompts, BOS rules,
//! the end-of-generation sets, round trips of random text, invalid UTF-8, streaming output
//! split at every byte, and the error paths (output too small, arena too small).

mod text_support;

use armlet_core::text::{
    ChatFamily, ChatTemplate, DetokenizeOptions, Detokenizer, Message, TextError, Tokenizer,
};
use text_support::{leak_file, load_vocab, shared, tokenizer_for, vocab_names, VecSink};

fn encode(tok: &Tokenizer, text: &[u8], add_special: bool, parse_special: bool) -> Vec<u32> {
    let mut ids = vec![0u32; 4 * text.len() + 8];
    let n = tok
        .encode(text, add_special, parse_special, &mut ids)
        .unwrap();
    ids.truncate(n);
    ids
}

fn detokenize(tok: &Tokenizer, ids: &[u32], options: DetokenizeOptions) -> Vec<u8> {
    let mut sink = VecSink::default();
    let mut d = Detokenizer::new(tok, options);
    for &id in ids {
        d.push(id, &mut sink).unwrap();
    }
    d.finish(&mut sink).unwrap();
    sink.0
}

#[test]
fn fixture_golden_prompts_give_the_recorded_ids() {
    let file = leak_file(&shared().join("fixtures/falcon-h1-micro-F32.gguf"));
    let tok = tokenizer_for(&file, 4096);
    assert!(tok.adds_bos());
    assert_eq!(
        encode(&tok, b"Hello! How are you?", true, true),
        [1, 44, 992, 83, 5, 572, 459, 666, 1191, 35]
    );
    let p2 =
        b"<|im_start|>user\nWhat is the capital of Belgium?<|im_end|>\n<|im_start|>assistant\n";
    assert_eq!(
        encode(&tok, p2, true, true),
        [
            1, 3, 1373, 203, 59, 76, 286, 396, 314, 349, 443, 298, 340, 391, 502, 456, 75, 77, 439,
            35, 4, 203, 3, 525, 659, 820, 203
        ]
    );
    // The template in the file renders p2 from the conversation.
    let template = ChatTemplate::detect(tok.chat_template());
    assert!(template.recognized);
    let mut buf = [0u8; 256];
    let user = Message {
        role: b"user",
        content: b"What is the capital of Belgium?",
    };
    let n = template.render(&[user], true, &mut buf).unwrap();
    assert_eq!(&buf[..n], &p2[..]);
}

#[test]
fn smollm2_prompt_bos_and_eog() {
    let v = load_vocab("smollm");
    let tok = v.tokenizer();
    let france =
        b"<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    // add_bos_token = false: add_special adds nothing.
    assert_eq!(
        encode(tok, france, true, true),
        [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
    );
    let mut eog = tok.eog_ids().to_vec();
    eog.sort();
    assert_eq!(eog, [0, 2, 4]);
    assert!(tok.is_eog(2) && !tok.is_eog(1));
    let generated = [504, 3575, 282, 4649, 314, 7042, 30];
    assert_eq!(
        detokenize(tok, &generated, DetokenizeOptions::pieces(false)),
        b"The capital of France is Paris."
    );
}

/// The turn-format lines of Gemma 3's instruction-tuned chat template (the base model's
/// file, the one in ../shared/vocab, has no template).
const GEMMA3_IT_TEMPLATE: &str = "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n    {%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}\n    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}";

/// llama.cpp's ids for the `.special.inp` case of `vocab` whose text is `text`.
fn special_case_ids(vocab: &str, text: &[u8]) -> Vec<u32> {
    let path = |ext: &str| text_support::vocab_dir().join(format!("ggml-vocab-{vocab}.gguf.special.{ext}"));
    let inp = std::fs::read(path("inp")).unwrap();
    let out = std::fs::read_to_string(path("out")).unwrap();
    let i = text_support::split_cases(&inp).iter().position(|c| *c == text).expect("case present");
    out.lines().nth(i).unwrap().split_whitespace().map(|t| t.parse().unwrap()).collect()
}

#[test]
fn gemma3_bos_eog_and_chat_turns_as_llama_cpp() {
    let v = load_vocab("gemma3");
    let tok = v.tokenizer();
    let id = |key: &str| v.file.get(key).and_then(|x| x.as_u32());
    // The metadata (models/gemma3.md) and what the tokenizer makes of it.
    assert_eq!(tok.n_tokens(), 262144);
    assert_eq!((id("tokenizer.ggml.bos_token_id"), tok.bos()), (Some(2), Some(2)));
    assert_eq!((id("tokenizer.ggml.eos_token_id"), tok.eos()), (Some(1), Some(1)));
    assert_eq!((id("tokenizer.ggml.unknown_token_id"), id("tokenizer.ggml.padding_token_id")), (Some(3), Some(0)));
    assert!(tok.adds_bos() && !tok.adds_eos());
    // End of generation: <eos> by id, <end_of_turn> (llama_vocab_eot) and </s> by their
    // text; </s> is USER_DEFINED in the file and made CONTROL, as llama.cpp does.
    let mut eog = tok.eog_ids().to_vec();
    eog.sort();
    assert_eq!(eog, [1, 106, 212]);
    assert_eq!(tok.token_piece(106), Some(&b"<end_of_turn>"[..]));
    assert_eq!(tok.token_piece(212), Some(&b"</s>"[..]));
    assert!(tok.is_control(106) && tok.is_control(212) && !tok.is_eog(105));
    // The base model's file has no template: no chat (llama-completion starts none).
    assert_eq!(tok.chat_template(), None);
    assert!(!ChatTemplate::detect(tok.chat_template()).recognized);
    // The instruction-tuned template is recognised, and its turns, encoded as a prompt
    // (BOS added, special tokens parsed), are llama.cpp's ids for the same text.
    let template = ChatTemplate::detect(Some(GEMMA3_IT_TEMPLATE.as_bytes()));
    assert!(template.recognized && template.family == ChatFamily::Gemma);
    let m = |role: &'static [u8], content: &'static [u8]| Message { role, content };
    let conversations: [(&[Message], &[u8]); 2] = [
        (
            &[m(b"user", b"What is the capital of France?")],
            b"<bos><start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
        ),
        (
            &[
                m(b"system", b"You are a helpful assistant."),
                m(b"user", b"Hello!"),
                m(b"assistant", b"Hi there!"),
                m(b"user", b"Tell me a joke."),
            ],
            b"<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHello!<end_of_turn>\n<start_of_turn>model\nHi there!<end_of_turn>\n<start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n",
        ),
    ];
    for (messages, text) in conversations {
        let mut buf = [0u8; 512];
        let n = template.render(messages, true, &mut buf).unwrap();
        assert_eq!(&buf[..n], &text[5..], "rendered without BOS, which encoding adds");
        assert_eq!(encode(tok, &buf[..n], true, true), special_case_ids("gemma3", text));
    }
}

#[test]
fn eog_sets_and_bos_rules_of_every_vocab() {
    let expect: &[(&str, &[u32], Option<u32>, bool)] = &[
        ("falcon", &[11], Some(11), false),
        ("falcon-h1-fixture", &[2, 4], Some(1), true),
        // gemma3: <eos>, and <end_of_turn> and </s> by their text (models/gemma3.md).
        ("gemma3", &[1, 106, 212], Some(2), true),
        ("gpt-2", &[50256], Some(50256), false),
        ("llama-bpe", &[128001, 128009], Some(128000), true), // Llama 3.0: no <|eom_id|>
        ("llama-spm", &[2], Some(1), true),
        // qwen2 has a NORMAL token "</s>" (128247): llama.cpp puts it in the EOG set by its text.
        ("qwen2", &[128247, 151643, 151645], Some(151643), false),
        ("smollm", &[0, 2, 4], Some(1), false),
    ];
    assert_eq!(vocab_names().len(), expect.len());
    for &(name, eog, bos, adds_bos) in expect {
        let v = load_vocab(name);
        let tok = v.tokenizer();
        let mut got = tok.eog_ids().to_vec();
        got.sort();
        assert_eq!(got, eog, "{name} EOG");
        assert_eq!(tok.bos(), bos, "{name} BOS");
        assert_eq!(tok.adds_bos(), adds_bos, "{name} add_bos");
        let ids = encode(tok, b"Hi", true, false);
        assert_eq!(
            ids.first() == bos.as_ref() && adds_bos,
            adds_bos,
            "{name} BOS added"
        );
    }
}

/// A small deterministic generator (xorshift) for random text.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn char(&mut self) -> char {
        // Mostly ASCII and common scripts, sometimes anything.
        let pools: [(u32, u32); 6] = [
            (0x20, 0x7E),
            (0x20, 0x7E),
            (0xA0, 0x2FF),
            (0x400, 0x4FF),
            (0x4E00, 0x4FFF),
            (0x1F300, 0x1F64F),
        ];
        let (lo, hi) = pools[(self.next() % pools.len() as u64) as usize];
        loop {
            let cp = if self.next() % 16 == 0 {
                (self.next() % 0x11_0000) as u32
            } else {
                lo + (self.next() % (hi - lo + 1) as u64) as u32
            };
            if let Some(c) = char::from_u32(cp) {
                return c;
            }
        }
    }
}

#[test]
fn random_utf8_round_trips() {
    // Vocabs with every byte and no clean-up of spaces give the text back exactly.
    for name in ["qwen2", "falcon-h1-fixture", "llama-spm", "gpt-2"] {
        let v = load_vocab(name);
        let tok = v.tokenizer();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..150 {
            let len = (rng.next() % 40) as usize;
            let text: String = (0..len).map(|_| rng.char()).collect();
            // clean_spaces (gpt-2, Falcon-H1) rewrites " ?" and " 's": compare without it.
            let options = DetokenizeOptions::pieces(true);
            let ids = encode(tok, text.as_bytes(), false, false);
            let mut back = detokenize(tok, &ids, options);
            if name == "llama-spm" && !text.is_empty() {
                assert_eq!(back.first(), Some(&b' '), "{name}: SPM adds a space prefix");
                back.remove(0);
            }
            assert_eq!(String::from_utf8_lossy(&back), text, "{name}");
        }
    }
}

#[test]
fn invalid_utf8_is_tokenized_like_llama_cpp() {
    let v = load_vocab("llama-bpe");
    let tok = v.tokenizer();
    // Byte-level BPE: an invalid byte is U+FFFD, exactly as if U+FFFD had been written.
    assert_eq!(
        encode(tok, b"a\xFFb", false, false),
        encode(tok, "a\u{FFFD}b".as_bytes(), false, false)
    );
    assert_eq!(
        encode(tok, b"\xE4\xBD", false, false),
        encode(tok, "\u{FFFD}\u{FFFD}".as_bytes(), false, false)
    );
    // SentencePiece: unknown sequences fall back to byte tokens <0xXX> (id = byte + 3).
    let spm = load_vocab("llama-spm");
    let ids = encode(spm.tokenizer(), b"\xFF\xC3", false, false);
    assert_eq!(&ids[ids.len() - 2..], [0xFF + 3, 0xC3 + 3]);
    // Arbitrary bytes never panic, in any vocab.
    let mut rng = Rng(12345);
    for name in vocab_names() {
        let v = load_vocab(&name);
        for _ in 0..50 {
            let bytes: Vec<u8> = (0..(rng.next() % 64)).map(|_| rng.next() as u8).collect();
            encode(v.tokenizer(), &bytes, true, true);
        }
    }
}

#[test]
fn streaming_output_is_whole_characters_and_equals_the_joined_text() {
    let v = load_vocab("llama-bpe");
    let tok = v.tokenizer();
    let text = "Héllo 🦙 wörld! 你好, it's ' fine ?".as_bytes();
    let ids = encode(tok, text, false, false);
    let mut d = Detokenizer::new(tok, DetokenizeOptions::llama_detokenize());
    let mut joined = Vec::new();
    let mut buf = [0u8; 64];
    for &id in &ids {
        let n = d.push_into(id, &mut buf).unwrap();
        assert!(
            std::str::from_utf8(&buf[..n]).is_ok(),
            "partial character released"
        );
        joined.extend_from_slice(&buf[..n]);
    }
    let mut tail = [0u8; armlet_core::text::MAX_HELD_BYTES];
    let n = d.finish_into(&mut tail);
    joined.extend_from_slice(&tail[..n]);
    assert_eq!(
        joined,
        detokenize(tok, &ids, DetokenizeOptions::llama_detokenize())
    );
    assert_eq!(
        String::from_utf8(joined).unwrap(),
        "Héllo 🦙 wörld! 你好, it's'fine?"
    );
    // Control tokens print only when asked.
    assert_eq!(
        detokenize(tok, &[128000, 9906], DetokenizeOptions::pieces(false)),
        b"Hello"
    );
    assert_eq!(
        detokenize(tok, &[128000, 9906], DetokenizeOptions::pieces(true)),
        b"<|begin_of_text|>Hello"
    );
    assert_eq!(
        d.push_into(u32::MAX, &mut buf),
        Err(TextError::UnknownToken { id: u32::MAX })
    );
}

#[test]
fn errors_instead_of_panics() {
    let v = load_vocab("gpt-2");
    let tok = v.tokenizer();
    let mut two = [0u32; 2];
    assert_eq!(
        tok.encode(b"Hello world again", false, false, &mut two),
        Err(TextError::OutputFull { needed: 3 })
    );
    let long = vec![b'='; 20_000];
    assert!(matches!(
        tok.encode(&long, false, false, &mut vec![0; 30_000]),
        Err(TextError::FragmentTooLong { .. })
    ));
    let big = tokenizer_for(&v.file, long.len());
    assert!(
        big.encode(&long, false, false, &mut vec![0; 30_000])
            .unwrap()
            > 0
    );
    let needed = Tokenizer::arena_bytes(&v.file).unwrap();
    let mut small = vec![0u8; needed / 4];
    assert!(matches!(
        Tokenizer::new(&v.file, &mut small),
        Err(TextError::ArenaTooSmall { .. })
    ));
}
