//! Decides which lines of a reply are the member's own, by reasoning over the
//! string of line kinds from [`super::classify`] (one letter per line:
//! `t` text, `e` empty, `q` quote, `b` attribution/forward banner, `h` mail
//! header, `s` mobile signature, `d` separator, `c`/`x`/`p` code fences).
//!
//! The rules follow Discourse's email_reply_trimmer, whose test corpus
//! captures years of real-world replies. Each rule is a linear scan over the
//! kinds; the comments give the shape it looks for in regex notation.

use super::classify::{
    CODE_CLOSE, CODE_EITHER, CODE_OPEN, DELIMITER, EMBEDDED, EMPTY, HEADER, QUOTE, SIGNATURE, TEXT,
};

/// Attributions followed by this much unquoted text are interleaved
/// conversation rather than a quote at the bottom, so the text is kept.
const MAX_TEXT_AFTER_MARKER: usize = 7;

/// The line kinds still in play and the original index of each.
struct Selection {
    kinds: Vec<u8>,
    lines: Vec<usize>,
}

impl Selection {
    fn keep_through(&mut self, at: usize) {
        self.kinds.truncate(at + 1);
        self.lines.truncate(at + 1);
    }

    fn keep_before(&mut self, at: usize) {
        self.kinds.truncate(at);
        self.lines.truncate(at);
    }

    fn drop_kind(&mut self, kind: u8) {
        let mut kinds = self.kinds.iter();
        self.lines.retain(|_| kinds.next() != Some(&kind));
        self.kinds.retain(|&k| k != kind);
    }
}

/// Indices (into `kinds`) of the lines the member wrote, in order.
pub(crate) fn select(kinds: &[u8]) -> Vec<usize> {
    let mut sel = Selection {
        kinds: kinds.to_vec(),
        lines: (0..kinds.len()).collect(),
    };
    mask_code_blocks(&mut sel.kinds);
    if let Some(at) = sel.kinds.iter().position(|&k| k == DELIMITER) {
        sel.keep_before(at);
    }
    sel.drop_kind(SIGNATURE);
    if let Some(from) = reply_below_quote(&sel.kinds) {
        return sel.lines.split_off(from);
    }
    if let Some(at) = text_before_unquoted_marker(&sel.kinds) {
        sel.keep_through(at);
    }
    if let Some(at) = text_before_quoted_marker(&sel.kinds) {
        sel.keep_through(at);
    }
    if let Some(at) = text_before_trailing_quote(&sel.kinds) {
        sel.keep_through(at);
    }
    sel.drop_kind(EMBEDDED);
    merge_wrapped_headers(&mut sel.kinds);
    if let Some(at) = text_before_header_block(&sel.kinds) {
        sel.keep_through(at);
    }
    keep_lone_headers(&mut sel.kinds);
    sel.drop_kind(HEADER);
    if let Some(at) = trailing_quote_start(&sel.kinds) {
        sel.keep_before(at);
    }
    sel.lines
}

fn is_any(kind: u8, set: &[u8]) -> bool {
    set.contains(&kind)
}

/// Upper-cases the kinds inside fenced code blocks (`[cp][etd]*[xp]`), so
/// that a `####` or `---` line of code is neither a separator nor text the
/// later rules may cut at.
fn mask_code_blocks(kinds: &mut [u8]) {
    let mut i = 0;
    while i < kinds.len() {
        if is_any(kinds[i], &[CODE_OPEN, CODE_EITHER]) {
            let body = kinds[i + 1..]
                .iter()
                .take_while(|&&k| is_any(k, &[EMPTY, TEXT, DELIMITER]))
                .count();
            let close = i + 1 + body;
            if close < kinds.len() && is_any(kinds[close], &[CODE_CLOSE, CODE_EITHER]) {
                kinds[i..=close].make_ascii_uppercase();
                i = close + 1;
                continue;
            }
        }
        i += 1;
    }
}

/// Bottom-posting: an attribution, its quote, then the reply
/// (`^b[^t]+t[et]*$`). Returns where the reply starts.
fn reply_below_quote(kinds: &[u8]) -> Option<usize> {
    let first_text = kinds.iter().position(|&k| k == TEXT)?;
    let tail_is_text = kinds[first_text..]
        .iter()
        .all(|&k| is_any(k, &[EMPTY, TEXT]));
    (kinds[0] == EMBEDDED && first_text >= 2 && tail_is_text).then_some(first_text)
}

/// The text line before `marker`, skipping blank lines (`te*` + marker).
fn text_before(kinds: &[u8], marker: usize) -> Option<usize> {
    let blanks = kinds[..marker]
        .iter()
        .rev()
        .take_while(|&&k| k == EMPTY)
        .count();
    let at = marker.checked_sub(blanks + 1)?;
    (kinds[at] == TEXT).then_some(at)
}

/// Text, then an attribution with no quote anywhere after it
/// (`te*b[^q]*$`): the forwarded or quoted mail is not "> " quoted.
fn text_before_unquoted_marker(kinds: &[u8]) -> Option<usize> {
    let after_last_quote = kinds.iter().rposition(|&k| k == QUOTE).map_or(0, |q| q + 1);
    (after_last_quote..kinds.len())
        .filter(|&k| kinds[k] == EMBEDDED)
        .find_map(|marker| text_before(kinds, marker))
}

/// Text, then an attribution followed by its quote and at most a little
/// text (`te*b[eqbh]*([te]*)$`, fewer than seven text lines in the group).
fn text_before_quoted_marker(kinds: &[u8]) -> Option<usize> {
    let outside_te = kinds.iter().rposition(|&k| !is_any(k, &[TEXT, EMPTY]))?;
    // Everything from the marker up to `outside_te` must be quote material.
    let barrier = kinds[..=outside_te]
        .iter()
        .rposition(|&k| !is_any(k, &[EMPTY, QUOTE, EMBEDDED, HEADER]))
        .map_or(0, |b| b + 1);
    let (marker, at) = (barrier..=outside_te)
        .filter(|&k| kinds[k] == EMBEDDED)
        .find_map(|marker| text_before(kinds, marker).map(|at| (marker, at)))?;
    let trailing_text = kinds[outside_te.max(marker) + 1..]
        .iter()
        .filter(|&&k| k == TEXT)
        .count();
    (trailing_text < MAX_TEXT_AFTER_MARKER).then_some(at)
}

/// A run of quotes (and attributions) ends the mail (`t?e*[qbe]+$`).
/// Returns the last line to keep: the text line before the run if there is
/// one, else the run's first line.
fn text_before_trailing_quote(kinds: &[u8]) -> Option<usize> {
    let run = kinds
        .iter()
        .rev()
        .take_while(|&&k| is_any(k, &[QUOTE, EMBEDDED, EMPTY]))
        .count();
    if run == 0 {
        return None;
    }
    let start = kinds.len() - run;
    match start.checked_sub(1) {
        Some(before) if kinds[before] == TEXT => Some(before),
        _ => Some(start),
    }
}

/// Header values that wrap onto following lines (`h+[hte]+h+e`): the whole
/// stretch up to the blank line after the last header becomes header.
fn merge_wrapped_headers(kinds: &mut [u8]) {
    let mut i = 0;
    while i < kinds.len() {
        let run = kinds[i..]
            .iter()
            .take_while(|&&k| is_any(k, &[HEADER, TEXT, EMPTY]))
            .count();
        if run == 0 {
            i += 1;
            continue;
        }
        let stretch = &kinds[i..i + run];
        let first_header = stretch.iter().position(|&k| k == HEADER);
        let last_end = stretch
            .windows(2)
            .rposition(|w| w == [HEADER, EMPTY])
            .map(|at| at + 1);
        if let (Some(first), Some(end)) = (first_header, last_end) {
            if end >= first + 3 {
                kinds[i + first..=i + end].fill(HEADER);
                return;
            }
        }
        i += run;
    }
}

/// Text, then at least three header lines (`t[eq]*h{3,}`): an Outlook-style
/// "From: / Sent: / To:" block introduces the quoted mail.
fn text_before_header_block(kinds: &[u8]) -> Option<usize> {
    (0..kinds.len()).filter(|&i| kinds[i] == TEXT).find(|&i| {
        let gap = kinds[i + 1..]
            .iter()
            .take_while(|&&k| is_any(k, &[EMPTY, QUOTE]))
            .count();
        let headers = kinds[i + 1 + gap..]
            .iter()
            .take_while(|&&k| k == HEADER)
            .count();
        headers >= 3
    })
}

/// A lone "Subject: …" or "A: …" line amid text is the member's own words.
fn keep_lone_headers(kinds: &mut [u8]) {
    for i in 0..kinds.len() {
        let prev = i.checked_sub(1).map(|p| kinds[p]);
        let next = kinds.get(i + 1).copied();
        if kinds[i] == HEADER && prev != Some(HEADER) && next != Some(HEADER) {
            kinds[i] = TEXT;
        }
    }
}

/// Where trailing quotes and blank lines start, if the mail has text
/// (`[eq]+$` when a `t` exists).
fn trailing_quote_start(kinds: &[u8]) -> Option<usize> {
    if !kinds.contains(&TEXT) {
        return None;
    }
    let run = kinds
        .iter()
        .rev()
        .take_while(|&&k| is_any(k, &[EMPTY, QUOTE]))
        .count();
    (run > 0).then(|| kinds.len() - run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(kinds: &str) -> String {
        select(kinds.as_bytes())
            .iter()
            .map(|&i| kinds.as_bytes()[i] as char)
            .collect()
    }

    #[test]
    fn top_posting_keeps_text_above_attribution() {
        assert_eq!(kept("tteteebeqqq"), "ttet");
    }

    #[test]
    fn bottom_posting_keeps_reply_below_quote() {
        assert_eq!(kept("beqqqett"), "tt");
    }

    #[test]
    fn interleaved_reply_keeps_member_text_between_quotes() {
        assert_eq!(kept("beqqettqqeteqq"), "eqqettqqet");
    }

    #[test]
    fn separator_and_signature() {
        assert_eq!(kept("ttsedtt"), "tt");
    }

    #[test]
    fn header_block() {
        assert_eq!(kept("tehhhhett"), "t");
    }

    #[test]
    fn code_blocks_are_protected() {
        assert_eq!(kept("tctdtxt"), "tctdtxt");
    }
}
