//! The message a report is about: the returned `message/rfc822` part, the
//! `text/rfc822-headers` part, or the copy an MTA pasted under its note.
//! Its To: and Message-ID let gazette find the delivery when a broken MTA
//! lost the VERP return path; its From: is never a failed recipient.

use super::text::{content_type, find_addresses, normalize_address, part_text};
use mail_parser::{Address, Message, PartType};

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

/// Reads the header block that starts somewhere in `text`: only the
/// fields gazette needs, without a full MIME parse (the pasted copy of a
/// message is often long, and its Received fields are costly to parse).
pub fn from_text(text: &str) -> Option<Original> {
    let start = header_start(text)?;
    let mut o = Original::default();
    for (name, value) in unfolded_fields(&text[start..]) {
        let found = || find_addresses(&value).into_iter().map(|f| f.address);
        match name {
            "message-id" if o.message_id.is_none() => {
                let id = value.trim();
                let id = id
                    .find('<')
                    .and_then(|a| id[a + 1..].find('>').map(|b| &id[a + 1..a + 1 + b]))
                    .unwrap_or(id);
                o.message_id = Some(id.trim().to_string()).filter(|id| !id.is_empty());
            }
            "to" | "from" | "return-path" => {
                let list = if name == "to" { &mut o.to } else { &mut o.from };
                for a in found() {
                    if !list.contains(&a) {
                        list.push(a);
                    }
                }
            }
            _ => {}
        }
    }
    (o != Original::default()).then_some(o)
}

/// `(lowercased name, value)` of the fields gazette reads (Message-ID,
/// To, From, Return-Path) until the blank line that ends a header block,
/// continuation lines joined.
fn unfolded_fields(text: &str) -> Vec<(&'static str, String)> {
    const WANTED: &[&str] = &["message-id", "to", "from", "return-path"];
    let mut fields: Vec<(&'static str, String)> = Vec::new();
    let mut last_was_wanted = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut().filter(|_| last_was_wanted) {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(' ') => {
                let wanted = WANTED.iter().find(|w| w.eq_ignore_ascii_case(name));
                last_was_wanted = wanted.is_some();
                if let Some(name) = wanted {
                    fields.push((name, value.trim().to_string()));
                }
            }
            _ => break,
        }
    }
    fields
}

fn header_start(text: &str) -> Option<usize> {
    const OPENERS: &[&str] = &[
        "received",
        "return-path",
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "dkim-signature",
    ];
    // Only a line opening with the first letter of one of those names (or
    // of `X-`) can open the block: the rest are not searched for a colon.
    let opens = |b: u8| b"rftsdmx".contains(&b.to_ascii_lowercase());
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let named = line.as_bytes().first().is_some_and(|&b| opens(b));
        if let Some((name, _)) = line.split_once(':').filter(|_| named) {
            let x_field = name.len() > 2 && name.as_bytes()[..2].eq_ignore_ascii_case(b"x-");
            if x_field || OPENERS.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                return Some(offset);
            }
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
