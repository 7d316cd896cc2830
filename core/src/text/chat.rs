//! Chat templates without Jinja: the file's `tokenizer.chat_template` is recognised by the
//! marks llama.cpp's `llm_chat_detect_template` looks for, and the conversation is written
//! the way that family's template writes it (llama.cpp's `llm_chat_apply_template`). ChatML
//! templates that put in a default system message when the conversation has none (SmolLM2)
//! get it too, as the Jinja template would. Unknown templates fall back to ChatML, with
//! `recognized == false` so that the caller can warn.

use super::TextError;

/// One turn of a conversation. Roles are `system`, `user`, `assistant` (others are passed
/// through where the template writes the role).
#[derive(Clone, Copy, Debug)]
pub struct Message<'m> {
    pub role: &'m [u8],
    pub content: &'m [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatFamily {
    /// `<|im_start|>role\n...<|im_end|>\n` (Falcon-H1, SmolLM2, Qwen).
    ChatMl,
    /// `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>` (Llama 3).
    Llama3,
    /// `<start_of_turn>user\n...<end_of_turn>\n` (Gemma).
    Gemma,
    /// `[INST] ... [/INST]` (Llama 2 and its variants; `system` says if `<<SYS>>` blocks
    /// are written, `bos_inside` if later turns start with `<s>`, `strip` if contents are
    /// trimmed).
    Llama2 {
        system: bool,
        bos_inside: bool,
        strip: bool,
    },
    /// Mistral v1 / v3 / v3-tekken `[INST]` formats.
    Mistral {
        leading_space: bool,
        trailing_space: bool,
        trim_assistant: bool,
    },
}

/// A recognised (or assumed) template.
#[derive(Clone, Copy, Debug)]
pub struct ChatTemplate<'a> {
    pub family: ChatFamily,
    /// False when the file has no template or one armlet does not recognise (ChatML is then
    /// used; the CLI warns).
    pub recognized: bool,
    /// ChatML: the system message the template inserts when the first message is not a
    /// system message.
    pub default_system: Option<&'a [u8]>,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// ASCII whitespace trimmed at both ends (llama.cpp's `trim`, C `isspace`).
fn trim(s: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
    let start = s.iter().position(|b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or(&[])
}

impl<'a> ChatTemplate<'a> {
    /// Recognises `template` (the file's `tokenizer.chat_template`) in llama.cpp's order.
    pub fn detect(template: Option<&'a [u8]>) -> ChatTemplate<'a> {
        let chatml = |recognized, default_system| ChatTemplate {
            family: ChatFamily::ChatMl,
            recognized,
            default_system,
        };
        let Some(t) = template else {
            return chatml(false, None);
        };
        let has = |s: &str| contains(t, s.as_bytes());
        if has("<|im_start|>") {
            // Phi-4 (`<|im_sep|>`) and SmolVLM (`<end_of_utterance>`) only look like ChatML.
            if has("<|im_sep|>") || has("<end_of_utterance>") {
                return chatml(false, None);
            }
            return chatml(true, default_system_message(t));
        }
        if t.starts_with(b"mistral") || has("[INST]") {
            if has("[SYSTEM_PROMPT]") {
                return chatml(false, None);
            }
            if has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]") {
                let family = if has(" [INST]") {
                    ChatFamily::Mistral {
                        leading_space: true,
                        trailing_space: true,
                        trim_assistant: false,
                    }
                } else if has("\"[INST]\"") {
                    ChatFamily::Mistral {
                        leading_space: false,
                        trailing_space: false,
                        trim_assistant: false,
                    }
                } else {
                    ChatFamily::Mistral {
                        leading_space: false,
                        trailing_space: true,
                        trim_assistant: true,
                    }
                };
                return ChatTemplate {
                    family,
                    recognized: true,
                    default_system: None,
                };
            }
            let strip = has("content.strip()");
            let bos_inside = !strip && has("bos_token + '[INST]");
            let system = strip || bos_inside || has("<<SYS>>");
            return ChatTemplate {
                family: ChatFamily::Llama2 {
                    system,
                    bos_inside,
                    strip,
                },
                recognized: true,
                default_system: None,
            };
        }
        if has("<start_of_turn>") {
            return ChatTemplate {
                family: ChatFamily::Gemma,
                recognized: true,
                default_system: None,
            };
        }
        if has("<|start_header_id|>") && has("<|end_header_id|>") {
            return ChatTemplate {
                family: ChatFamily::Llama3,
                recognized: true,
                default_system: None,
            };
        }
        chatml(false, None)
    }

    /// Writes the conversation into `out` and returns its length; `add_generation_prompt`
    /// opens the assistant's turn. Encode the result with `parse_special = true`.
    ///
    /// Errors: [`TextError::OutputFull`] with the length needed.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        out: &mut [u8],
    ) -> Result<usize, TextError> {
        let mut w = Writer { out, len: 0 };
        match self.family {
            ChatFamily::ChatMl => {
                let starts_with_system = messages.first().is_some_and(|m| m.role == b"system");
                if let (Some(system), false) = (self.default_system, starts_with_system) {
                    if !messages.is_empty() {
                        w.put_all(&[b"<|im_start|>system\n", system, b"<|im_end|>\n"]);
                    }
                }
                for m in messages {
                    w.put_all(&[b"<|im_start|>", m.role, b"\n", m.content, b"<|im_end|>\n"]);
                }
                if add_generation_prompt {
                    w.put(b"<|im_start|>assistant\n");
                }
            }
            ChatFamily::Llama3 => {
                for m in messages {
                    w.put_all(&[
                        b"<|start_header_id|>",
                        m.role,
                        b"<|end_header_id|>\n\n",
                        trim(m.content),
                        b"<|eot_id|>",
                    ]);
                }
                if add_generation_prompt {
                    w.put(b"<|start_header_id|>assistant<|end_header_id|>\n\n");
                }
            }
            ChatFamily::Gemma => {
                // Gemma has no system turn: llama.cpp joins the system texts (trimmed) given
                // since the last user turn and puts them in front of the next one. The first
                // of them is remembered by index, so that nothing is copied.
                let mut pending_from: Option<usize> = None;
                for (i, m) in messages.iter().enumerate() {
                    if m.role == b"system" {
                        pending_from.get_or_insert(i);
                        continue;
                    }
                    let role: &[u8] = if m.role == b"assistant" {
                        b"model"
                    } else {
                        m.role
                    };
                    w.put_all(&[b"<start_of_turn>", role, b"\n"]);
                    if let (Some(from), false) = (pending_from, role == b"model") {
                        let mut joined_any = false;
                        for s in messages.get(from..i).unwrap_or(&[]) {
                            if s.role == b"system" {
                                let text = trim(s.content);
                                w.put(text);
                                joined_any |= !text.is_empty();
                            }
                        }
                        if joined_any {
                            w.put(b"\n\n");
                        }
                        pending_from = None;
                    }
                    w.put_all(&[trim(m.content), b"<end_of_turn>\n"]);
                }
                if add_generation_prompt {
                    w.put(b"<start_of_turn>model\n");
                }
            }
            ChatFamily::Llama2 {
                system,
                bos_inside,
                strip,
            } => {
                let mut inside_turn = true;
                w.put(b"[INST] ");
                for m in messages {
                    let content = if strip { trim(m.content) } else { m.content };
                    if !inside_turn {
                        inside_turn = true;
                        w.put(if bos_inside {
                            b"<s>[INST] "
                        } else {
                            b"[INST] "
                        });
                    }
                    if m.role == b"system" {
                        if system {
                            w.put_all(&[b"<<SYS>>\n", content, b"\n<</SYS>>\n\n"]);
                        } else {
                            w.put_all(&[content, b"\n"]);
                        }
                    } else if m.role == b"user" {
                        w.put_all(&[content, b" [/INST]"]);
                    } else {
                        w.put_all(&[content, b"</s>"]);
                        inside_turn = false;
                    }
                }
            }
            ChatFamily::Mistral {
                leading_space,
                trailing_space,
                trim_assistant,
            } => {
                let lead: &[u8] = if leading_space { b" " } else { b"" };
                let trail: &[u8] = if trailing_space { b" " } else { b"" };
                let mut inside_turn = false;
                for m in messages {
                    if !inside_turn {
                        w.put_all(&[lead, b"[INST]", trail]);
                        inside_turn = true;
                    }
                    if m.role == b"system" {
                        w.put_all(&[m.content, b"\n\n"]);
                    } else if m.role == b"user" {
                        w.put_all(&[m.content, lead, b"[/INST]"]);
                    } else {
                        let content = if trim_assistant {
                            trim(m.content)
                        } else {
                            m.content
                        };
                        w.put_all(&[trail, content, b"</s>"]);
                        inside_turn = false;
                    }
                }
            }
        }
        if w.len > w.out.len() {
            return Err(TextError::OutputFull { needed: w.len });
        }
        Ok(w.len)
    }
}

/// The system message a ChatML template writes when the conversation starts without one:
/// the text after `<|im_start|>system\n` up to `<|im_end|>` in a string literal, in a
/// template that tests `messages[0]['role'] != 'system'`.
fn default_system_message(t: &[u8]) -> Option<&[u8]> {
    if !contains(t, b"!= 'system'") && !contains(t, b"!= \"system\"") {
        return None;
    }
    const OPEN: &[u8] = b"<|im_start|>system\n";
    let start = find(t, OPEN)? + OPEN.len();
    let rest = t.get(start..)?;
    let len = find(rest, b"<|im_end|>")?;
    let text = rest.get(..len)?;
    // A Jinja expression there (`{{ ... }}`, `' + ...`) is not a fixed message.
    if contains(text, b"{{") || contains(text, b"'") || contains(text, b"\"") {
        return None;
    }
    Some(text)
}

/// Appends to the caller's buffer, counting on past its end.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self
            .out
            .get_mut(self.len..self.len.saturating_add(bytes.len()))
        {
            dst.copy_from_slice(bytes);
        }
        self.len = self.len.saturating_add(bytes.len());
    }

    fn put_all(&mut self, parts: &[&[u8]]) {
        parts.iter().for_each(|p| self.put(p));
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn render(t: &ChatTemplate, messages: &[Message], gen: bool) -> std::string::String {
        let mut buf = [0u8; 1024];
        let n = t.render(messages, gen, &mut buf).unwrap();
        std::string::String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn smollm2_adds_its_default_system_message() {
        let t = ChatTemplate::detect(Some(SMOLLM2.as_bytes()));
        assert!(t.recognized && t.family == ChatFamily::ChatMl);
        let user = Message {
            role: b"user",
            content: b"What is 2 + 2?",
        };
        assert_eq!(
            render(&t, &[user], true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
        );
        let system = Message {
            role: b"system",
            content: b"Be brief.",
        };
        assert_eq!(
            render(&t, &[system, user], false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n"
        );
    }

    #[test]
    fn gemma_joins_the_system_texts_before_the_next_user_turn() {
        let gemma = ChatTemplate::detect(Some(b"{{ '<start_of_turn>' + role + '\n' }}"));
        assert!(gemma.recognized && gemma.family == ChatFamily::Gemma);
        let m = |role: &'static [u8], content: &'static [u8]| Message { role, content };
        let conversation = [
            m(b"system", b" A "),
            m(b"system", b"B"),
            m(b"user", b"Hi"),
            m(b"system", b"C"),
            m(b"assistant", b"Yes"),
            m(b"user", b"More"),
            m(b"system", b"  "),
            m(b"user", b"End"),
        ];
        // As llama.cpp's `system_prompt += trim(content)`: no separator between system
        // texts, held over a model turn, nothing written for an empty one.
        assert_eq!(
            render(&gemma, &conversation, false),
            "<start_of_turn>user\nAB\n\nHi<end_of_turn>\n<start_of_turn>model\nYes<end_of_turn>\n<start_of_turn>user\nC\n\nMore<end_of_turn>\n<start_of_turn>user\nEnd<end_of_turn>\n"
        );
    }

    #[test]
    fn other_families() {
        let user = Message {
            role: b"user",
            content: b" Hi ",
        };
        let llama3 = ChatTemplate::detect(Some(
            b"{{'<|start_header_id|>' + role + '<|end_header_id|>'}}",
        ));
        assert_eq!(render(&llama3, &[user], true), "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        let gemma = ChatTemplate::detect(Some(b"<start_of_turn>"));
        let system = Message {
            role: b"system",
            content: b"S",
        };
        assert_eq!(
            render(&gemma, &[system, user], true),
            "<start_of_turn>user\nS\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        );
        let llama2 = ChatTemplate::detect(Some(b"[INST] <<SYS>>"));
        assert_eq!(
            render(&llama2, &[system, user], false),
            "[INST] <<SYS>>\nS\n<</SYS>>\n\n Hi  [/INST]"
        );
        let unknown = ChatTemplate::detect(Some(b"{{ whatever }}"));
        assert!(!unknown.recognized && unknown.family == ChatFamily::ChatMl);
        let mut small = [0u8; 4];
        assert_eq!(
            unknown.render(&[user], true, &mut small),
            Err(TextError::OutputFull { needed: 54 })
        );
    }
}
