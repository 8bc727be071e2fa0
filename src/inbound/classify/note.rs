//! A delivery report's text is a note from the mail system followed, often,
//! by the returned original message, pasted in: cut at a marker line
//! ("--- Below this line is a copy of the message.") or where the
//! original's header block starts. What precedes is the note: where failed
//! recipients and their reasons are read.

use aho_corasick::AhoCorasick;
use std::sync::LazyLock;

/// Lines that announce the returned copy of the original message.
const ORIGINAL_MARKERS: &[&str] = &[
    "copy of the message",
    "copy of your message",
    "copy of the original",
    "original message",
    "original mail",
    "unsent message",
    "undelivered message",
    "returned message",
    "message headers follow",
    "headers of the original",
    "header of the original",
    "message text follows",
    "message follows",
    "rfc822",
];

/// Header names that open the returned original (DSN fields are not among them).
const ORIGINAL_HEADERS: &[&str] = &[
    "received",
    "return-path",
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "dkim-signature",
    "domainkey-signature",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "delivered-to",
    "reply-to",
    "in-reply-to",
    "references",
    "authentication-results",
    "arc-seal",
    "sender",
];

/// Every phrase of [`ORIGINAL_MARKERS`] holds one of these, in the cases
/// MTAs write them ("Original message", "RFC822").
const MARKER_WORDS: &[&str] = &["essage", "ESSAGE", "riginal", "RIGINAL", "rfc822", "RFC822"];

/// [`MARKER_WORDS`] in one searcher (a SIMD prefilter for so few words):
/// a long note is read once, not once a word.
static MARKER_SEARCH: LazyLock<AhoCorasick> =
    LazyLock::new(|| AhoCorasick::new(MARKER_WORDS).expect("marker words"));

/// Splits a bounce's text into the note and the returned original, at a
/// marker line or at the first block of original headers.
pub fn split_original(body: &str) -> (&str, &str) {
    let (lines, headers) = lines_before_headers(body);
    let limit = headers.map_or(body.len(), |i| lines[i].0);
    // Lines before the first header block that hold a word every marker
    // phrase has; only they are looked at closely.
    let mut candidates: Vec<usize> = MARKER_SEARCH
        .find_iter(&body[..limit])
        .map(|m| lines.partition_point(|&(offset, _)| offset <= m.start()) - 1)
        .collect();
    candidates.dedup();
    for i in candidates {
        // A marker in prose ("…delete your own text from the attached
        // returned message.", Postfix's boilerplate) continues a sentence;
        // an unframed marker starts a paragraph of its own.
        let starts_paragraph = i > 0 && lines[i - 1].1.trim().is_empty();
        if i > 0 && is_marker(lines[i].1, starts_paragraph) {
            let next = lines.get(i + 1).map_or(body.len(), |l| l.0);
            return (&body[..lines[i].0], &body[next..]);
        }
    }
    match headers {
        Some(i) => (&body[..lines[i].0], &body[lines[i].0..]),
        None => (body, ""),
    }
}

/// The lines of `body` with their offsets, up to and including the first
/// line of the first block of original headers, and that line's index.
/// A block is three header lines in a row (continuation lines aside), or
/// two with one only a real message has (Received, Message-ID, X-…);
/// MIME part headers alone (`Content-Type:`) do not count, nor does a
/// note's "Subject: …" / "Date: …" summary. One pass, however long the
/// returned message behind it.
fn lines_before_headers(body: &str) -> (Vec<(usize, &str)>, Option<usize>) {
    let mut lines: Vec<(usize, &str)> = Vec::new();
    // A run of header lines: where it started, how many, whether one only
    // a real message has is among them, whether one is not a MIME header.
    let mut run: Option<(usize, usize, bool, bool)> = None;
    let ends = memchr::memchr_iter(b'\n', body.as_bytes()).map(|at| at + 1);
    let mut offset = 0;
    for end in ends.chain((!body.ends_with('\n')).then_some(body.len())) {
        if end == offset {
            break;
        }
        let line = body[offset..end].trim_end_matches(['\r', '\n']);
        let i = lines.len();
        lines.push((offset, line));
        offset = end;
        if run.is_some() && line.starts_with([' ', '\t']) {
            continue;
        }
        // A header name is short: no colon near the start, no header.
        let head = &line.as_bytes()[..line.len().min(41)];
        let named = (i > 0 && head.contains(&b':'))
            .then(|| original_header_name(line))
            .flatten();
        let Some(name) = named else {
            run = None;
            continue;
        };
        let (start, count, strong, message) = run.get_or_insert((i, 0, false, false));
        *count += 1;
        *strong |= matches!(
            name,
            "received" | "return-path" | "message-id" | "dkim-signature" | "delivered-to" | "x-"
        );
        *message |= !name.starts_with("content-") && name != "mime-version";
        if *message && (*count >= 3 || (*count >= 2 && *strong)) {
            let start = *start;
            return (lines, Some(start));
        }
        if i - *start >= 12 {
            run = None;
        }
    }
    (lines, None)
}

/// Whether a line holding a marker phrase announces the original.
fn is_marker(line: &str, starts_paragraph: bool) -> bool {
    let t = line.trim();
    let framed = t.starts_with(['-', '|', '=', '*', '_', '<', '[']);
    // Most lines that mention a message are prose in mid-paragraph: no
    // need to read them closer.
    if !framed && !starts_paragraph {
        return false;
    }
    let l = super::text::lower(t);
    // "The original message was received at …" dates it; "The following
    // addresses did not receive a copy of your message:" lists recipients.
    let about_delivery = ["receive", "address", "recipient"]
        .iter()
        .any(|w| l.contains(w));
    if !ORIGINAL_MARKERS.iter().any(|m| l.contains(m)) || about_delivery {
        return false;
    }
    framed
        || t.ends_with(':')
        || l.contains("follow")
        || l.contains("below")
        || l.contains("attached")
}

/// The name of the original-message header `line` opens, lowercased
/// (`x-…` for every X- field).
fn original_header_name(line: &str) -> Option<&'static str> {
    let (name, _) = line.split_once(':')?;
    if name.len() > 40 {
        return None;
    }
    let x_header = name.len() > 3
        && name.as_bytes()[..2].eq_ignore_ascii_case(b"x-")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if x_header {
        return Some("x-");
    }
    ORIGINAL_HEADERS
        .iter()
        .find(|h| h.eq_ignore_ascii_case(name))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_marker_and_headers() {
        let body = "Hi.\n<a@b.example>:\n550 no\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <x@y.example>\n";
        let (note, original) = split_original(body);
        assert!(note.ends_with("550 no\n\n"));
        assert!(original.contains("Return-Path"));
        let (note, original) =
            split_original("Sorry.\n\nReceived: from x\n\tby y\nFrom: z@q.example\n");
        assert_eq!(note, "Sorry.\n\n");
        assert!(original.starts_with("Received"));
        let summary = "Trouble:\n\nSubject: 'Hi'\nDate: 'Thu'\n\n1 error: rejected <a@b.example>\n";
        assert_eq!(split_original(summary).0, summary);
        let listing = "Not delivered.\n\nThe following addresses did NOT receive a copy of your message:\n> a@b.example\n";
        assert_eq!(split_original(listing).0, listing);
    }
}
