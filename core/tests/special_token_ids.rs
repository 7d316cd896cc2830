//! Special-token ids in the metadata (BOS, EOS, EOT, PAD, UNK, FIM...) must name tokens of
//! the vocabulary: a file whose `tokenizer.ggml.bos_token_id` is 2^31, or whose EOS is one
//! past the last token, is refused when the tokenizer is built, with the key and the id in
//! the error, for every vocabulary type (the Falcon-H1 model fixture's byte-level BPE, the
//! SentencePiece vocabs of Llama 2 and Gemma 3). In-range ids, including the first and the
//! last token, still load and are the ones used.

#[path = "gguf_support/layout.rs"]
mod layout;

use armlet_core::gguf::File;
use armlet_core::text::{TextError, Tokenizer};
use layout::{fixture, gguf_string, kv, kv_u32, Parts};

/// The model fixture and two vocab-only files, with their token counts.
fn bases() -> Vec<(&'static str, Vec<u8>, u64)> {
    vec![
        ("falcon-h1-micro", fixture("fixtures/falcon-h1-micro-Q4_K_S.gguf"), 3072),
        ("llama-spm", fixture("vocab/ggml-vocab-llama-spm.gguf"), 32000),
        ("gemma3", fixture("vocab/ggml-vocab-gemma3.gguf"), 262144),
    ]
}

/// The key of an encoded metadata entry.
fn entry_key(entry: &[u8]) -> &[u8] {
    let len = u64::from_le_bytes(entry[..8].try_into().unwrap()) as usize;
    &entry[8..8 + len]
}

/// `base` with each entry of `entries` (already encoded) replacing the entry of the same
/// key, or added when the file has none.
fn with_entries(base: &[u8], entries: &[Vec<u8>]) -> Vec<u8> {
    let mut parts = Parts::of(base);
    for e in entries {
        parts.kv.retain(|old| entry_key(old) != entry_key(e));
        parts.kv.push(e.clone());
    }
    parts.to_bytes()
}

fn build(bytes: &[u8], check: impl FnOnce(&Tokenizer)) -> Result<(), TextError> {
    let file = File::parse(bytes).expect("still a valid GGUF file");
    let mut arena = vec![0u8; Tokenizer::arena_bytes(&file)?];
    let tok = Tokenizer::new(&file, &mut arena)?;
    check(&tok);
    Ok(())
}

#[test]
fn ids_outside_the_vocabulary_are_refused_with_the_key_and_the_id() {
    for (name, base, n) in bases() {
        let cases: [(&str, u64); 10] = [
            ("tokenizer.ggml.bos_token_id", 1 << 31),
            ("tokenizer.ggml.eos_token_id", n),
            ("tokenizer.ggml.eot_token_id", n + 5),
            ("tokenizer.ggml.padding_token_id", n),
            ("tokenizer.ggml.unknown_token_id", u32::MAX as u64),
            ("tokenizer.ggml.eom_token_id", n + 1),
            ("tokenizer.ggml.seperator_token_id", n),
            ("tokenizer.ggml.mask_token_id", n),
            ("tokenizer.ggml.fim_pre_token_id", n),
            ("tokenizer.ggml.prefix_token_id", n),
        ];
        for (key, id) in cases {
            let bytes = with_entries(&base, &[kv_u32(key, id as u32)]);
            let e = build(&bytes, |_| ()).expect_err(&format!("{name}: {key} = {id} must be refused"));
            assert_eq!(
                e,
                TextError::SpecialTokenOutOfRange {
                    key,
                    id,
                    n_tokens: n as usize
                },
                "{name}"
            );
            assert_eq!(
                e.to_string(),
                format!("{key} is {id}, outside the vocabulary of {n} tokens")
            );
        }
        // A u64 id is not truncated to 32 bits on the way into the message.
        let huge = kv("tokenizer.ggml.eos_token_id", 10, &(1u64 << 40).to_le_bytes());
        assert_eq!(
            build(&with_entries(&base, &[huge]), |_| ()),
            Err(TextError::SpecialTokenOutOfRange {
                key: "tokenizer.ggml.eos_token_id",
                id: 1 << 40,
                n_tokens: n as usize
            })
        );
        // Not a non-negative integer: an i32 -1, a string (llama.cpp refuses both types).
        let minus_one = kv("tokenizer.ggml.bos_token_id", 5, &(-1i32).to_le_bytes());
        let text = kv("tokenizer.ggml.padding_token_id", 8, &gguf_string(b"0"));
        for bad in [minus_one, text] {
            let key = if entry_key(&bad) == b"tokenizer.ggml.bos_token_id" {
                "tokenizer.ggml.bos_token_id"
            } else {
                "tokenizer.ggml.padding_token_id"
            };
            assert_eq!(
                build(&with_entries(&base, &[bad]), |_| ()),
                Err(TextError::WrongType { key }),
                "{name}"
            );
        }
    }
}

#[test]
fn ids_inside_the_vocabulary_load_and_are_used() {
    for (name, base, n) in bases() {
        assert_eq!(build(&base, |_| ()), Ok(()), "{name} unchanged");
        let last = (n - 1) as u32;
        let ids = [
            kv_u32("tokenizer.ggml.bos_token_id", last),
            kv_u32("tokenizer.ggml.eos_token_id", last),
            kv_u32("tokenizer.ggml.eot_token_id", 0),
            kv_u32("tokenizer.ggml.padding_token_id", last),
            kv_u32("tokenizer.ggml.unknown_token_id", 0),
            kv_u32("tokenizer.ggml.fim_pad_token_id", last - 1),
        ];
        let bytes = with_entries(&base, &ids);
        let loaded = build(&bytes, |tok| {
            assert_eq!(tok.bos(), Some(last), "{name}");
            assert_eq!(tok.eos(), Some(last), "{name}");
            // EOS, EOT and FIM pad end generation.
            for id in [last, 0, last - 1] {
                assert!(tok.is_eog(id), "{name}: {id} ends generation");
            }
        });
        assert_eq!(loaded, Ok(()), "{name}");
    }
}
