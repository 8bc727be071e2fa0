//! What a person wrote in a message: its text parts in order (HTML turned
//! into text when there is no plain text), and that text trimmed of quoted
//! history and signature. Posting questions and answers and `gazette
//! inspect` read a message through these functions, so what inspect shows
//! is what would be posted.

use crate::trim::{html_to_text, trim_reply, Trimmed};
use mail_parser::{Message, PartType};

/// Everything the sender wrote: every text part in order (HTML converted
/// when there is no text), as sent.
pub fn message_text(msg: &Message<'_>) -> String {
    let texts = |ids: &[u32], html: bool| -> Vec<String> {
        ids.iter()
            .filter_map(|&i| match &msg.part(i)?.body {
                PartType::Text(t) if !html => Some(t.to_string()),
                PartType::Html(h) if html => Some(html_to_text(h)),
                _ => None,
            })
            .collect()
    };
    let plain = texts(&msg.text_body, false);
    if !plain.is_empty() {
        return plain.join("\n\n");
    }
    let html = texts(&msg.html_body, true);
    if !html.is_empty() {
        return html.join("\n\n");
    }
    msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

/// The sender's own words and what was cut from them (quotes, attribution
/// lines, signature, forwarded mail).
pub fn reply(msg: &Message<'_>) -> Trimmed {
    trim_reply(&message_text(msg))
}

/// What an answer posts: the sender's own words; empty when they wrote
/// nothing but quotes or a signature (the answer is then held).
pub fn answer_text(msg: &Message<'_>) -> String {
    reply(msg).text
}

/// What a new question posts: the sender's own words, or the whole text
/// when it is all quote (a forwarded question is kept whole, not emptied).
pub fn question_text(msg: &Message<'_>) -> String {
    let text = message_text(msg);
    let trimmed = trim_reply(&text).text;
    if trimmed.trim().is_empty() {
        text.trim().to_string()
    } else {
        trimmed
    }
}
