//! The message a report is about: the returned `message/rfc822` part, the
//! `text/rfc822-headers` part, or the copy an MTA pasted under its note.
//! Its To: and Message-ID let gazette find the delivery when a broken MTA
//! lost the VERP return path; its From: is never a failed recipient.

use super::text::{content_type, normalize_address, part_text};
use mail_parser::{Address, Message, MessageParser, PartType};

/// What is known about the original message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Original {
    pub message_id: Option<String>,
    pub to: Vec<String>,
    pub from: Vec<String>,
}

/// The original of `message`, looked for in attached parts first, then in
/// `tail`, the text that followed the note of a prose bounce.
pub fn find(message: &Message<'_>, tail: &str) -> Original {
    for part in message.parts.iter().skip(1) {
        if let PartType::Message(inner) = &part.body {
            let o = from_message(inner);
            if o != Original::default() {
                return o;
            }
        }
    }
    for part in message.parts.iter().skip(1) {
        let (t, s) = content_type(part);
        if (t == "text" || t == "message") && (s.starts_with("rfc822") || s == "partial") {
            if let Some(o) = part_text(part).and_then(|text| from_text(&text)) {
                return o;
            }
        }
    }
    from_text(tail).unwrap_or_default()
}

/// Parses the header block that starts somewhere in `text`.
pub fn from_text(text: &str) -> Option<Original> {
    let start = header_start(text)?;
    let parsed = MessageParser::default().parse_headers(&text.as_bytes()[start..])?;
    let o = from_message(&parsed);
    (o != Original::default()).then_some(o)
}

fn header_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let name = line.split_once(':').map(|(n, _)| n.to_ascii_lowercase());
        if name.is_some_and(|n| {
            matches!(
                n.as_str(),
                "received"
                    | "return-path"
                    | "from"
                    | "to"
                    | "subject"
                    | "date"
                    | "message-id"
                    | "mime-version"
                    | "dkim-signature"
            ) || n.starts_with("x-")
        }) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

fn from_message(m: &Message<'_>) -> Original {
    if m.parts.is_empty() {
        return Original::default();
    }
    let mut from = addresses(m.from());
    if let Some(rp) = m.return_path().as_text() {
        let rp = normalize_address(rp);
        if !rp.is_empty() && !from.contains(&rp) {
            from.push(rp);
        }
    }
    Original {
        message_id: m
            .message_id()
            .map(|id| id.trim().trim_matches(['<', '>']).to_string())
            .filter(|id| !id.is_empty()),
        to: addresses(m.to()),
        from,
    }
}

/// The normalised addresses of an address header.
pub fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    let Some(a) = a else { return Vec::new() };
    let list: Vec<_> = match a {
        Address::List(l) => l.iter().collect(),
        Address::Group(g) => g.iter().flat_map(|g| g.addresses.iter()).collect(),
    };
    list.into_iter()
        .filter_map(|addr| addr.address.as_deref())
        .map(normalize_address)
        .filter(|a| a.contains('@'))
        .collect()
}
