//! The shim's side of text: the core tokenizer with its arena, the chat template, and the
//! conversions to Rust strings and vectors that only the Linux command needs.

use armlet_core::gguf;
use armlet_core::text::{ChatTemplate, DetokenizeOptions, Detokenizer, Message, TextError, Tokenizer};

/// One message of a conversation.
pub struct ChatTurn {
    pub role: &'static str,
    pub content: String,
}

/// The tokenizer and chat template of a model file.
pub struct Text<'t> {
    tok: Tokenizer<'t>,
    template: ChatTemplate<'t>,
    has_template: bool,
}

impl<'t> Text<'t> {
    /// Bytes the tokenizer's arena needs for this file.
    pub fn memory_bytes(file: &gguf::File<'t>) -> Result<usize, String> {
        Tokenizer::arena_bytes(file).map_err(|e| format!("tokenizer: {e}"))
    }

    pub fn new(file: &gguf::File<'t>, arena: &'t mut [u8]) -> Result<Text<'t>, String> {
        let tok = Tokenizer::new(file, arena).map_err(|e| format!("tokenizer: {e}"))?;
        let has_template = tok.chat_template().is_some();
        let template = ChatTemplate::detect(tok.chat_template());
        Ok(Text { tok, template, has_template })
    }

    pub fn has_chat_template(&self) -> bool {
        self.has_template
    }

    /// What to tell the user when the file's template is not one armlet renders.
    pub fn chat_template_warning(&self) -> Option<&'static str> {
        if !self.has_template {
            Some("the model has no chat template; using ChatML, which may not suit it")
        } else if !self.template.recognized {
            Some("the model's chat template is not one armlet knows; using ChatML instead")
        } else {
            None
        }
    }

    /// Token ids of `text`, special tokens recognised; `add_special` adds BOS/EOS as the
    /// file asks (only at the start of a sequence).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, String> {
        self.encode_with(text, add_special, true)
    }

    /// [`encode`](Text::encode), choosing whether special-token text is recognised
    /// (llama-perplexity reads its text with `parse_special = false`).
    pub fn encode_with(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>, String> {
        let mut ids = vec![0u32; text.len() + 4];
        loop {
            match self.tok.encode(text.as_bytes(), add_special, parse_special, &mut ids) {
                Ok(n) => {
                    ids.truncate(n);
                    return Ok(ids);
                }
                Err(TextError::OutputFull { needed }) if needed > ids.len() => ids.resize(needed, 0),
                Err(e) => return Err(format!("cannot tokenize the prompt: {e}")),
            }
        }
    }

    /// The core's tokenizer (token pieces for a grammar).
    pub fn tokenizer(&self) -> &Tokenizer<'t> {
        &self.tok
    }

    /// The text of one token, for --verbose-prompt.
    pub fn piece(&self, id: u32) -> String {
        String::from_utf8_lossy(self.tok.token_piece(id).unwrap_or(b"?")).into_owned()
    }

    /// The BOS token, when the file asks for one at the start of a sequence.
    pub fn bos_to_add(&self) -> Option<u32> {
        self.tok.bos().filter(|_| self.tok.adds_bos())
    }

    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.tok.is_eog(id)
    }

    /// The text of a token sequence as the streaming output shows it.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut d = self.detokenizer();
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend(d.push(id));
        }
        bytes.extend(d.finish());
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A streaming detokenizer as llama-completion prints: token pieces, complete UTF-8
    /// characters only, control tokens hidden.
    pub fn detokenizer(&self) -> Stream<'_, 't> {
        Stream { inner: Detokenizer::new(&self.tok, DetokenizeOptions::pieces(false)) }
    }

    /// The conversation rendered with the file's template (ChatML when unknown).
    pub fn render_chat(&self, turns: &[ChatTurn], add_generation_prompt: bool) -> Result<String, String> {
        let messages: Vec<Message> =
            turns.iter().map(|t| Message { role: t.role.as_bytes(), content: t.content.as_bytes() }).collect();
        let mut buf = vec![0u8; 256 + turns.iter().map(|t| t.content.len() + 64).sum::<usize>() * 2];
        loop {
            match self.template.render(&messages, add_generation_prompt, &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return String::from_utf8(buf).map_err(|_| "the chat template produced invalid UTF-8".into());
                }
                Err(TextError::OutputFull { needed }) if needed > buf.len() => buf.resize(needed, 0),
                Err(e) => return Err(format!("cannot render the chat template: {e}")),
            }
        }
    }
}

/// A detokenizer that hands back byte vectors.
pub struct Stream<'d, 't> {
    inner: Detokenizer<'d, 't>,
}

impl Stream<'_, '_> {
    /// The bytes that became printable with `id` (unknown ids print nothing).
    pub fn push(&mut self, id: u32) -> Vec<u8> {
        let mut out = VecSink(Vec::new());
        let _ = self.inner.push(id, &mut out);
        out.0
    }

    /// Whatever is still held at the end.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = VecSink(Vec::new());
        let _ = self.inner.finish(&mut out);
        out.0
    }
}

struct VecSink(Vec<u8>);

impl embedded_io::ErrorType for VecSink {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for VecSink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The first bytes of a chat's notes in a saved state (`/save`), and their version.
const CHAT_NOTES: &[u8] = b"armlet chat 1\n";

/// A chat as the notes of a saved state: the text whose tokens are in the state, then each
/// turn's role and content, every string as a little-endian u32 length and its bytes.
pub fn chat_notes(turns: &[ChatTurn], fed: &str) -> Vec<u8> {
    let mut out = CHAT_NOTES.to_vec();
    let mut put = |s: &str| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    put(fed);
    for t in turns {
        put(t.role);
        put(&t.content);
    }
    out
}

/// The turns and fed text of [`chat_notes`]; None for notes that are not a chat's.
pub fn chat_from_notes(notes: &[u8]) -> Option<(Vec<ChatTurn>, String)> {
    let mut rest = notes.strip_prefix(CHAT_NOTES)?;
    let mut take = || -> Option<String> {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let (s, tail) = tail.split_at_checked(u32::from_le_bytes(*len) as usize)?;
        rest = tail;
        String::from_utf8(s.to_vec()).ok()
    };
    let fed = take()?;
    let mut turns = Vec::new();
    while let Some(role) = take() {
        let role = ["system", "user", "assistant"].into_iter().find(|&r| r == role)?;
        turns.push(ChatTurn { role, content: take()? });
    }
    rest.is_empty().then_some((turns, fed))
}
