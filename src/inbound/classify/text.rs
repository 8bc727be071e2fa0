//! Small text helpers shared by the classifier: reading headers and bodies
//! out of a parsed message, and finding addresses, status codes and SMTP
//! reply codes in free text. No regex crate: the grammar is tiny.

use mail_parser::{Addr, Address, HeaderValue, Message, MessagePart, MimeHeaders, PartType};
use std::borrow::Cow;

/// The value of the first header called `name` (case-insensitive), as text.
pub fn header(message: &Message<'_>, name: &str) -> Option<String> {
    headers(message, name).next()
}

/// The values of every header called `name`, in order, as text. Works on
/// attached messages too (their raw offsets point into the outer message,
/// so the parsed values are used, not the raw bytes).
pub fn headers<'a>(message: &'a Message<'_>, name: &'a str) -> impl Iterator<Item = String> + 'a {
    message.parts.first().into_iter().flat_map(move |root| {
        root.headers
            .iter()
            .filter(move |h| h.name().eq_ignore_ascii_case(name))
            .map(|h| value_text(h.value()))
    })
}

/// A header value as one line of text; addresses as `name <address>`.
fn value_text(value: &HeaderValue<'_>) -> String {
    let text = match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(", "),
        HeaderValue::Address(a) => {
            let list: Vec<&Addr<'_>> = match a {
                Address::List(l) => l.iter().collect(),
                Address::Group(g) => g.iter().flat_map(|g| g.addresses.iter()).collect(),
            };
            list.iter()
                .map(|a| {
                    format!(
                        "{} <{}>",
                        a.name.as_deref().unwrap_or(""),
                        a.address.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
        HeaderValue::ContentType(ct) => format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")),
        HeaderValue::DateTime(_) | HeaderValue::Received(_) | HeaderValue::Empty => String::new(),
    };
    // Most values are one line with single spaces already: not rebuilt.
    let tidy = !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.contains("  ")
        && !text.contains(|c: char| c.is_whitespace() && c != ' ');
    if tidy {
        return text;
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `(type, subtype)` of a part, lowercased; parts without a Content-Type are text/plain.
pub fn content_type(part: &MessagePart<'_>) -> (String, String) {
    match part.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase(),
        ),
        None => ("text".into(), "plain".into()),
    }
}

/// The root Content-Type parameter `name`, lowercased (e.g. report-type).
pub fn root_content_param(message: &Message<'_>, name: &str) -> Option<String> {
    let root = message.parts.first()?;
    let ct = root.content_type()?;
    Some(ct.attribute(name)?.trim().to_ascii_lowercase())
}

/// Whether a part's type is `ctype` and its subtype one of `subtypes`
/// (case-insensitive, without allocating: this runs on every part).
pub fn is_type(part: &MessagePart<'_>, ctype: &str, subtypes: &[&str]) -> bool {
    let (t, s) = match part.content_type() {
        Some(ct) => (ct.ctype(), ct.subtype().unwrap_or("")),
        None => ("text", "plain"),
    };
    t.eq_ignore_ascii_case(ctype) && subtypes.iter().any(|x| x.eq_ignore_ascii_case(s))
}

/// Whether any part of the message (not of nested messages) has this MIME type.
pub fn has_part(message: &Message<'_>, ctype: &str, subtypes: &[&str]) -> bool {
    message.parts.iter().any(|p| is_type(p, ctype, subtypes))
}

/// The decoded contents of a part as text, whatever mail-parser made of it
/// (lent, not copied, unless HTML or invalid UTF-8 had to be converted).
pub fn part_text<'a>(part: &'a MessagePart<'_>) -> Option<Cow<'a, str>> {
    match &part.body {
        PartType::Text(t) => Some(Cow::Borrowed(t.as_ref())),
        PartType::Html(h) => Some(Cow::Owned(mail_parser::decoders::html::html_to_text(h))),
        PartType::Binary(b) | PartType::InlineBinary(b) => Some(String::from_utf8_lossy(b)),
        PartType::Message(_) | PartType::Multipart(_) => None,
    }
}

/// The human-readable text of a message: its text/plain parts, or the
/// text of its HTML parts when it has no plain text. Parts of attached
/// messages are not included.
pub fn body_text<'a>(message: &'a Message<'_>) -> Cow<'a, str> {
    let prose: Vec<&MessagePart<'_>> = message.parts.iter().filter(|p| is_prose(p)).collect();
    // One text part, the usual case, is lent rather than copied.
    if let [part] = prose[..] {
        if let PartType::Text(t) = &part.body {
            if !t.trim().is_empty() {
                return Cow::Borrowed(t.as_ref());
            }
        }
    }
    let mut plain = String::new();
    for part in prose {
        push_block(&mut plain, &part_text(part).unwrap_or_default());
    }
    if !plain.trim().is_empty() {
        return Cow::Owned(plain);
    }
    let mut html = String::new();
    for part in &message.parts {
        if let PartType::Html(h) = &part.body {
            // What a report says is at its top; a huge HTML part is not
            // converted whole just to be classified.
            let h = truncate(h, MAX_HTML);
            push_block(&mut html, &mail_parser::decoders::html::html_to_text(h));
        }
    }
    Cow::Owned(html)
}

/// How much of an HTML-only body the classifier reads.
const MAX_HTML: usize = 16 * 1024;

/// text/plain, or a multipart whose boundary mail-parser could not find (a
/// missing or unindented `boundary=`), which arrives as one blob of text.
pub fn is_prose(part: &MessagePart<'_>) -> bool {
    let multipart = || {
        part.content_type()
            .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
    };
    match &part.body {
        PartType::Text(_) => is_type(part, "text", &["plain"]) || multipart(),
        PartType::Binary(_) => multipart(),
        _ => false,
    }
}

fn push_block(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

/// A local part without the address-type prefix of an X.400 or Exchange
/// address (`dda:SMTP=a@b`, `RFC-822=a@b`): `=` may stand in a local
/// part, but these prefixes name the kind of address, not the mailbox.
fn without_type_prefix(local: &str) -> &str {
    for prefix in ["smtp=", "rfc-822=", "rfc822="] {
        let cut = local.len() > prefix.len()
            && local.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes());
        if cut {
            return &local[prefix.len()..];
        }
    }
    local
}

/// Characters allowed in the local part of an unquoted address.
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '[' || c == ']'
}

/// A found address: its byte range in the haystack and its normalised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub address: String,
}

/// Every plausible `local@domain` in `text`, normalised (lowercased, no
/// trailing dots). Domains need a dot or an address literal, which keeps
/// out most false positives such as `Message-ID`s without a domain.
pub fn find_addresses(text: &str) -> Vec<Found> {
    addresses_in(text).collect()
}

/// [`find_addresses`] one at a time, for callers that want only the first.
pub fn addresses_in(text: &str) -> impl Iterator<Item = Found> + '_ {
    text.match_indices('@')
        .filter_map(|(at, _)| address_at(text, at))
}

/// The address around the `@` at `at`, if it is a plausible one.
fn address_at(text: &str, at: usize) -> Option<Found> {
    let start = text[..at]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_local_char(*c))
        .last()
        .map_or(at, |(i, _)| i);
    let end = text[at + 1..]
        .char_indices()
        .take_while(|(_, c)| is_domain_char(*c))
        .last()
        .map_or(at + 1, |(i, c)| at + 1 + i + c.len_utf8());
    let local = without_type_prefix(&text[start..at])
        .trim_start_matches(['.', '\'', '`', '|', '/', '=', '-']);
    let raw_domain = &text[at + 1..end];
    let domain = match raw_domain.strip_prefix('[') {
        // An address literal, `a@[192.0.2.1]`.
        Some(literal) => &raw_domain[..literal.find(']')? + 2],
        None => raw_domain.trim_end_matches(['.', '-', ']']),
    };
    let bare = domain.trim_start_matches('[').trim_end_matches(']');
    if local.is_empty() || !bare.contains('.') || bare.starts_with('.') || bare.contains("..") {
        return None;
    }
    let start = at - local.len();
    let end = at + 1 + domain.len();
    Some(Found {
        start,
        end,
        address: normalize_address(&text[start..end]),
    })
}

/// `rfc822; <A@Example.ORG>.` → `a@example.org`.
pub fn normalize_address(value: &str) -> String {
    let v = value.trim();
    let v = match v.split_once(';') {
        Some((kind, rest)) if !kind.contains('@') => rest,
        _ => v,
    };
    let v = v.trim().trim_start_matches('<').trim();
    // The address ends at the first of these (all ASCII: a byte search).
    let end = v
        .bytes()
        .position(|b| matches!(b, b'>' | b' ' | b'\t' | b','))
        .unwrap_or(v.len());
    lower(v[..end].trim_matches(['"', '\'', '.', ':']))
}

/// `text` lowercased, skipping Unicode's tables when it is ASCII (nearly
/// always, in delivery reports).
pub fn lower(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

/// What comes before byte `at` on its line of `text`, at most the 128
/// bytes before it: a label stands next to what it labels, and asking
/// this of every address on a megabyte line must not read the line each
/// time.
pub fn line_before(text: &str, at: usize) -> &str {
    let mut lo = at.saturating_sub(128);
    while !text.is_char_boundary(lo) {
        lo += 1;
    }
    let line_start = text[lo..at].rfind('\n').map_or(lo, |nl| lo + nl + 1);
    &text[line_start..at]
}

/// Whether a string looks like `local@domain.tld`.
pub fn is_address(s: &str) -> bool {
    match s.split_once('@') {
        Some((l, d)) => {
            !l.is_empty() && d.contains('.') && !d.contains('@') && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The first RFC 3463 enhanced status code (`5.1.1`, `4.4.7`, `5.7.26`)
/// in `text`, if any. The class must be 2, 4 or 5.
pub fn find_status(text: &str) -> Option<String> {
    let b = text.as_bytes();
    // Every code has a dot right after its class digit: only those places
    // are looked at.
    for dot in text.match_indices('.').map(|(at, _)| at) {
        let Some(i) = dot.checked_sub(1) else {
            continue;
        };
        if matches!(b[i], b'2' | b'4' | b'5') && (i == 0 || !is_code_neighbour(b[i - 1])) {
            if let Some(end) = status_end(b, i) {
                if end == b.len()
                    || !is_code_neighbour(b[end])
                    || b[end] == b'.' && !b.get(end + 1).is_some_and(u8::is_ascii_digit)
                {
                    return Some(text[i..end].to_string());
                }
            }
        }
    }
    None
}

/// Digits, dots and letters glued to a code make it part of something else
/// (an IP address, a version number, a timestamp).
fn is_code_neighbour(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'_'
}

fn status_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    for _ in 0..2 {
        if b.get(i) != Some(&b'.') {
            return None;
        }
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 3 {
            return None;
        }
        i += digits;
    }
    Some(i)
}

/// The first three-digit SMTP reply code (`550`, `421`) in `text` that
/// stands as a word of its own, optionally followed by `-` or a status.
/// Success codes only count right before a status (`250 2.6.0`): a bare
/// 2xx is far more often a size or a count.
pub fn find_reply_code(text: &str) -> Option<u16> {
    reply_code_at(text).map(|(_, code)| code)
}

/// [`find_reply_code`] with the code's byte offset.
pub fn reply_code_at(text: &str) -> Option<(usize, u16)> {
    let b = text.as_bytes();
    // Only a 2, 4 or 5 can open a code: jump between those.
    for i in memchr::memchr3_iter(b'2', b'4', b'5', &b[..b.len().saturating_sub(2)]) {
        let w = &b[i..i + 3];
        if !((b'0'..=b'5').contains(&w[1]) && w[2].is_ascii_digit()) {
            continue;
        }
        if w[0] == b'2'
            && !(b.get(i + 4) == Some(&b'2') && matches!(b.get(i + 3), Some(b' ' | b'-')))
        {
            continue;
        }
        let before_ok = i == 0
            || matches!(
                b[i - 1],
                b' ' | b'\t'
                    | b'\''
                    | b'"'
                    | b'('
                    | b'<'
                    | b'['
                    | b';'
                    | b'\n'
                    | b'#'
                    | b'='
                    | b':'
            );
        let after = b.get(i + 3).copied();
        let after_ok = matches!(
            after,
            None | Some(b' ' | b'-' | b'\n' | b'\r' | b'\t' | b')' | b']' | b',' | b':')
        );
        if before_ok && after_ok && !looks_like_time_or_count(b, i) {
            let code = w.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            return Some((i, code));
        }
    }
    None
}

/// `... 550 bytes`, `(250 ms)` and the like are not reply codes.
fn looks_like_time_or_count(b: &[u8], i: usize) -> bool {
    let rest = &b[i + 3..];
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    [
        "bytes", "byte", "ms", "sec", "second", "minute", "hour", "days", "kb", "mb",
    ]
    .iter()
    .any(|u| {
        rest.len() >= u.len()
            && rest[..u.len()].eq_ignore_ascii_case(u.as_bytes())
            && rest.get(u.len()).is_none_or(|c| !c.is_ascii_alphabetic())
    })
}

/// ASCII-lowercase `text` and squeeze runs of whitespace (including line
/// breaks) to one space, so phrases wrapped over lines still match. Other
/// letters are lowercased too; ASCII takes a fast path, since reports are
/// mostly ASCII and this runs on every one.
pub fn squeeze_lower(text: &str) -> String {
    if !text.is_ascii() {
        return squeeze_lower_unicode(text);
    }
    // ASCII, the usual case: copy and lowercase the lot at once, then close
    // up the whitespace in place.
    let mut out = text.as_bytes().to_vec();
    out.make_ascii_lowercase();
    let mut kept = 0;
    let mut space = false;
    for read in 0..out.len() {
        let b = out[read];
        if b.is_ascii_whitespace() || b == 0x0b {
            space = kept > 0;
            continue;
        }
        if space {
            out[kept] = b' ';
            kept += 1;
            space = false;
        }
        out[kept] = b;
        kept += 1;
    }
    out.truncate(kept);
    String::from_utf8(out).unwrap_or_default()
}

/// [`squeeze_lower`] for text with non-ASCII characters.
fn squeeze_lower_unicode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// At most the first `max` bytes of `text`, cut on a char boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_prose() {
        let found: Vec<_> = find_addresses(
            "to <Kijitora@Example.JP>... and rfc822;neko@example.org. x@y a@[192.0.2.1]:",
        )
        .into_iter()
        .map(|f| f.address)
        .collect();
        assert_eq!(
            found,
            ["kijitora@example.jp", "neko@example.org", "a@[192.0.2.1]"]
        );
        // X.400 and Exchange address types are not part of the mailbox.
        let typed: Vec<_> =
            find_addresses("dda:SMTP=a@b.example; RFC-822=c@d.example a=b@e.example")
                .into_iter()
                .map(|f| f.address)
                .collect();
        assert_eq!(typed, ["a@b.example", "c@d.example", "a=b@e.example"]);
    }

    #[test]
    fn status_and_codes() {
        assert_eq!(
            find_status("host 192.0.2.1 said: 550 5.1.1 <a@b.c>"),
            Some("5.1.1".into())
        );
        assert_eq!(find_status("(#5.5.0)"), Some("5.5.0".into()));
        assert_eq!(
            find_status("550-5.7.26 Unauthenticated"),
            Some("5.7.26".into())
        );
        assert_eq!(find_status("version 4.2.1.5"), None);
        assert_eq!(
            find_reply_code("remote host said: 550 5.1.1 unknown"),
            Some(550)
        );
        assert_eq!(find_reply_code("550-5.7.26 Unauthenticated"), Some(550));
        assert_eq!(find_reply_code("a message of 550 bytes"), None);
        assert_eq!(find_reply_code("192.0.2.250 said"), None);
    }

    #[test]
    fn normalising() {
        assert_eq!(normalize_address("rfc822; <A@B.example>"), "a@b.example");
        assert_eq!(normalize_address("  a@b.example."), "a@b.example");
    }
}
