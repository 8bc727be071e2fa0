//! Gives every line of a reply a one-letter kind. The layout rules in
//! [`super::layout`] then reason over the resulting string of kinds, e.g.
//! `tteb eqqq` = two lines of text, a blank, an attribution, quoted mail.

use std::collections::HashMap;

use super::attribution::is_embedded_marker;
use super::markers::{is_delimiter, is_header, is_signature};
use super::scan::is_blank;

pub(crate) const EMPTY: u8 = b'e';
pub(crate) const DELIMITER: u8 = b'd';
pub(crate) const SIGNATURE: u8 = b's';
pub(crate) const EMBEDDED: u8 = b'b';
pub(crate) const HEADER: u8 = b'h';
pub(crate) const QUOTE: u8 = b'q';
pub(crate) const TEXT: u8 = b't';
pub(crate) const CODE_OPEN: u8 = b'c';
pub(crate) const CODE_CLOSE: u8 = b'x';
/// A bare fence, which may open or close a code block.
pub(crate) const CODE_EITHER: u8 = b'p';

/// Signatures, attributions and headers are never longer than this; longer
/// lines skip those checks, which keeps megabyte-long lines cheap.
const MAX_MARKER_LEN: usize = 4096;

/// The kind of one line. Earlier checks win: a "> On … wrote:" line is an
/// attribution, not a quote.
pub(crate) fn classify(line: &str) -> u8 {
    let short = line.len() <= MAX_MARKER_LEN;
    if line.chars().all(is_blank) {
        EMPTY
    } else if is_delimiter(line) {
        DELIMITER
    } else if short && is_signature(line) {
        SIGNATURE
    } else if short && is_embedded_marker(line) {
        EMBEDDED
    } else if short && is_header(line) {
        HEADER
    } else if line.trim_start_matches(is_blank).starts_with('>') {
        QUOTE
    } else {
        match (opens_code(line), closes_code(line)) {
            (true, true) => CODE_EITHER,
            (true, false) => CODE_OPEN,
            (false, true) => CODE_CLOSE,
            (false, false) => TEXT,
        }
    }
}

/// Some clients enclose quoted mail in `>>>>` … `<<<<` lines, or in
/// `>>> Ann >>>` … `<<< Ann <<<`, instead of prefixing each line. Those
/// lines (and their markers) are quotes, whatever they look like on their own.
pub(crate) fn mark_enclosed_quotes(lines: &[String], kinds: &mut [u8]) {
    let mut closers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(label) = enclosure(line, '<') {
            closers.entry(label).or_default().push(i);
        }
    }
    if closers.is_empty() {
        return;
    }
    let mut i = 0;
    while i < lines.len() {
        let close = enclosure(&lines[i], '>').and_then(|label| {
            let found = closers.get(label)?;
            found.get(found.partition_point(|&c| c <= i + 1)).copied()
        });
        let Some(close) = close else {
            i += 1;
            continue;
        };
        for kind in &mut kinds[i..=close] {
            if *kind != EMBEDDED {
                *kind = QUOTE;
            }
        }
        i = close + 1;
    }
}

/// Whether `line` opens (`mark` = `>`) or closes (`<`) an enclosed quote,
/// and its label (empty for bare `>>>>` / `<<<<` lines).
fn enclosure(line: &str, mark: char) -> Option<&str> {
    let line = line.trim_end();
    let run = line.len() - line.trim_start_matches(mark).len();
    let inner = &line[run..];
    if run >= 4 && inner.is_empty() {
        return Some("");
    }
    let label = inner.strip_suffix(&mark.to_string().repeat(3))?;
    (run == 3 && !label.trim().is_empty()).then(|| label.trim())
}

/// A Markdown fence opening a block: at the very start, info string allowed.
fn opens_code(line: &str) -> bool {
    line.starts_with("```")
}

/// A closing fence: up to three spaces of indent, then only whitespace.
fn closes_code(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    indent <= 3
        && line[indent..]
            .strip_prefix("```")
            .is_some_and(|rest| rest.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let kinds: Vec<u8> = [
            "",
            "Hello",
            "> quoted",
            "On Mon, Jan 4, 2016 at 10:00 AM, Ann <ann@example.org> wrote:",
            "-- ",
            "Sent from my iPhone",
            "From: Ann <ann@example.org>",
            "```rust",
            "```",
            "   ```x",
        ]
        .iter()
        .map(|l| classify(l))
        .collect();
        assert_eq!(kinds, b"etqbdshcpt");
    }

    #[test]
    fn enclosed_quotes_are_quotes() {
        let lines: Vec<String> = [
            "Hi",
            ">>>>",
            "old",
            "",
            "<<<<",
            "bye",
            ">>> Ann >>>",
            "x",
            "<<< Ann <<<",
        ]
        .map(String::from)
        .to_vec();
        let mut kinds: Vec<u8> = lines.iter().map(|l| classify(l)).collect();
        mark_enclosed_quotes(&lines, &mut kinds);
        assert_eq!(kinds, b"tqqqqtqqq");
    }
}
