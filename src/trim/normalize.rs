//! Prepares a reply body for line classification: unifies line endings,
//! drops PGP armour and list footers, rewrites the exotic quote markers some
//! clients use ("Richard> text", "| text") into plain "> ", and re-joins
//! wrapped attribution lines. Lines only ever get shorter here, so the
//! trimmed text can never be longer than the mail.

use super::join::join_wrapped_attributions;
use super::scan::{is_blank, strip_phrase_ci};

/// The body as lines, ready for [`super::classify::classify`].
pub(crate) fn normalize(body: &str) -> Vec<String> {
    let text = body.replace("\r\n", "\n").replace('\r', "\n");
    let text = strip_pgp(text.trim());
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    drop_unsubscribe_footer(&mut lines);
    lines.iter_mut().for_each(strip_alias_marker);
    let lines = lines.iter().map(|l| normalize_quote_marker(l)).collect();
    trim_edges(join_wrapped_attributions(lines))
}

const PGP_HEADER: &str = "-----BEGIN PGP SIGNED MESSAGE-----\n";
const PGP_SIG_START: &str = "-----BEGIN PGP SIGNATURE-----";
const PGP_SIG_END: &str = "-----END PGP SIGNATURE-----";

/// Removes the clear-signing header and the detached signature block, which
/// are machine noise rather than anything the member wrote.
fn strip_pgp(text: &str) -> String {
    let mut text = text;
    if let Some(rest) = text.strip_prefix(PGP_HEADER) {
        let rest = rest
            .strip_prefix("Hash: ")
            .map(|r| r.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest);
        text = rest.trim_start();
    }
    let start = line_start_find(text, PGP_SIG_START).filter(|&at| {
        matches!(
            text[at + PGP_SIG_START.len()..].chars().next(),
            None | Some('\n')
        )
    });
    let end = start.and_then(|s| {
        text[s..]
            .rmatch_indices(PGP_SIG_END)
            .find(|(at, _)| s + at == 0 || text.as_bytes()[s + at - 1] == b'\n')
            .map(|(at, _)| s + at + PGP_SIG_END.len())
    });
    match (start, end) {
        (Some(s), Some(e)) => format!("{}{}", &text[..s], &text[e..]),
        _ => text.to_owned(),
    }
}

fn line_start_find(text: &str, needle: &str) -> Option<usize> {
    text.match_indices(needle)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || text.as_bytes()[at - 1] == b'\n')
}

/// Drops a trailing "Unsubscribe: list@host" footer (and its link line).
fn drop_unsubscribe_footer(lines: &mut Vec<String>) {
    let Some(last) = lines.iter().rposition(|l| !l.trim().is_empty()) else {
        return;
    };
    let link_line = |l: &str| l.find("http:").is_some_and(|at| at > 0 && l.len() > at + 5);
    let cut = if last > 0 && link_line(&lines[last]) && is_unsubscribe(&lines[last - 1]) {
        last - 1
    } else if is_unsubscribe(&lines[last]) {
        last
    } else {
        return;
    };
    lines.truncate(cut);
}

fn is_unsubscribe(line: &str) -> bool {
    strip_phrase_ci(line, "Unsubscribe: ")
        .and_then(|rest| rest.find('@').map(|at| at > 0 && rest.len() > at + 1))
        .unwrap_or(false)
}

/// Gnus-style `>>>>> "Ann" == Ann Smith <a@x.org> writes:` prefixes.
fn strip_alias_marker(line: &mut String) {
    let Some(start) = line.find(">>>>> \"") else {
        return;
    };
    let after = &line[start + 7..];
    let Some(close) = after.find('"').filter(|&c| c > 0) else {
        return;
    };
    let Some(rest) = after[close + 1..].strip_prefix(" == ") else {
        return;
    };
    if let Some(at) = rest.rfind(" writes:").filter(|&at| at > 0) {
        *line = rest[at + " writes:".len()..].to_owned();
    }
}

/// Turns "Richard> text", "C>" and "| text" quote markers into "> ".
fn normalize_quote_marker(line: &str) -> String {
    let plain = plain_prefix_len(line);
    if !line[plain..].starts_with(|c: char| c == '|' || !c.is_ascii() || c.is_alphabetic()) {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    loop {
        let plain = plain_prefix_len(rest);
        out.push_str(&rest[..plain]);
        rest = &rest[plain..];
        let blanks = rest.len() - rest.trim_start_matches(is_blank).len();
        let after_blanks = &rest[blanks..];
        let alpha = after_blanks.len() - after_blanks.trim_start_matches(char::is_alphabetic).len();
        let after_alpha = &after_blanks[alpha..];
        let marker = after_alpha.chars().next();
        let is_marker = match marker {
            Some('>') => alpha <= 20 && (alpha == 0 || ends_marker(&after_alpha[1..])),
            Some('|') => alpha == 0 && !is_table_row(line),
            _ => false,
        };
        if !is_marker {
            break;
        }
        out.push_str(&rest[..blanks]);
        out.push('>');
        rest = &after_alpha[1..];
    }
    out.push_str(rest);
    out
}

/// Length of the leading "> > " run, which never needs rewriting.
fn plain_prefix_len(s: &str) -> usize {
    s.bytes()
        .position(|b| !matches!(b, b'>' | b' ' | b'\t'))
        .unwrap_or(s.len())
}

/// "| a | b |" is a Markdown table row, not a quote.
fn is_table_row(line: &str) -> bool {
    line.trim_end().ends_with('|') && line.matches('|').count() > 1
}

/// "Name>" is a quote marker only when followed by a blank, another marker
/// or the end of the line; "x>5" is text.
fn ends_marker(after: &str) -> bool {
    after
        .chars()
        .next()
        .is_none_or(|c| is_blank(c) || c == '>' || c == '|')
}

/// Drops blank lines at both ends and surrounding whitespace of the text.
fn trim_edges(mut lines: Vec<String>) -> Vec<String> {
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let Some(first) = first else {
        return Vec::new();
    };
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .unwrap_or(first);
    lines.truncate(last + 1);
    lines.drain(..first);
    if let Some(l) = lines.first_mut() {
        *l = l.trim_start().to_owned();
    }
    if let Some(l) = lines.last_mut() {
        *l = l.trim_end().to_owned();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_markers() {
        assert_eq!(normalize_quote_marker("Richard> hi"), "> hi");
        assert_eq!(normalize_quote_marker("C>"), ">");
        assert_eq!(normalize_quote_marker("| hi"), "> hi");
        assert_eq!(normalize_quote_marker("| a | b |"), "| a | b |");
        assert_eq!(normalize_quote_marker("x>5 is true"), "x>5 is true");
        assert_eq!(normalize_quote_marker(" > > hi"), " > > hi");
    }

    #[test]
    fn pgp_and_footer_are_dropped() {
        let body = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nHello\n\
                    -----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(normalize(body), ["Hello"]);
        let body = "Hello\n\nUnsubscribe: list-off@example.org\n";
        assert_eq!(normalize(body), ["Hello"]);
    }
}
