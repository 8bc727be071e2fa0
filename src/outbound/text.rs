//! Plain-text layout for mail: wrapping at 72 columns without breaking
//! words or URLs, and splitting text into paragraphs for the HTML side.

/// A physical line at least this long was most likely broken by the
/// writer's mail client, not by the writer: it is joined with the next.
const SOFT_BREAK_AT: usize = 50;

/// Lines kept exactly as written: quotes, and indented (preformatted) text.
fn is_preformatted(line: &str) -> bool {
    line.starts_with('>') || line.starts_with("  ") || line.starts_with('\t')
}

/// A line that starts a list item, so it begins a new logical line.
fn starts_item(line: &str) -> bool {
    let t = line.trim_start();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    t.starts_with(['-', '*', '\u{2022}', '+'])
        || (digits > 0 && t[digits..].starts_with(['.', ')']))
}

/// The writer's lines, with the breaks a mail client added undone: a line
/// that is long (or ends in a space, RFC 3676 flowed text) continues on the
/// next unless that one is a list item or preformatted. Blank lines come
/// back as empty strings.
fn logical_lines(text: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push((String::new(), false));
            open = false;
            continue;
        }
        let pre = is_preformatted(line);
        if open && !pre && !starts_item(line) {
            let last = &mut out.last_mut().expect("open implies a line").0;
            last.push(' ');
            last.push_str(line.trim());
        } else {
            out.push((line.trim_end().to_string(), pre));
        }
        open = !pre && (line.ends_with(' ') || line.chars().count() >= SOFT_BREAK_AT);
    }
    out
}

/// Wraps text at `width` columns, prefixing every line with `indent`.
/// Prose is reflowed; quoted lines (`>`) and indented lines are kept as
/// they are, since rewrapping would garble them. Words longer than a line
/// (URLs) are never broken.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for (line, pre) in logical_lines(text) {
        if line.is_empty() {
            out.push_str(indent.trim_end());
            out.push('\n');
            continue;
        }
        if pre || line.chars().count() + indent.len() <= width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            continue;
        }
        // A list item's continuation lines hang under its text.
        let hang = if starts_item(&line) {
            let lead = line.len() - line.trim_start().len();
            let marker = line.split_whitespace().next().unwrap_or("");
            " ".repeat(lead + marker.chars().count() + 1)
        } else {
            String::new()
        };
        let mut current = String::new();
        for word in line.split_whitespace() {
            let len = current.chars().count();
            if len > 0 && len + 1 + word.chars().count() + indent.len() > width {
                out.push_str(indent);
                out.push_str(&current);
                out.push('\n');
                current = hang.clone();
            }
            if !current.trim().is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        if !current.trim().is_empty() {
            out.push_str(indent);
            out.push_str(&current);
            out.push('\n');
        }
    }
    out.trim_end_matches('\n').to_string()
}

/// Paragraphs (split on blank lines), each a list of logical lines, for
/// templates that render `<p>` with `<br>` between lines.
pub fn paragraphs(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for (line, _) in logical_lines(text) {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Text made safe to place in HTML (element content or a quoted attribute).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of a post as HTML: escaped, with each `http(s)://` URL made a
/// link. Punctuation that usually ends a sentence stays outside the link.
pub fn linkify(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = find_url(rest) {
        out.push_str(&html_escape(&rest[..at]));
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(tail.len());
        let mut url = &tail[..end];
        while let Some(last) = url.chars().last() {
            let unbalanced = last == ')' && url.matches('(').count() < url.matches(')').count();
            if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'') || unbalanced {
                url = &url[..url.len() - last.len_utf8()];
            } else {
                break;
            }
        }
        if url.len() <= "https://".len() {
            out.push_str(&html_escape(&tail[..end]));
        } else {
            let u = html_escape(url);
            out.push_str(&format!(
                "<a href=\"{u}\" style=\"color:#7a4d00;word-break:break-all;\">{u}</a>"
            ));
            out.push_str(&html_escape(&tail[url.len()..end]));
        }
        rest = &tail[end..];
    }
    out.push_str(&html_escape(rest));
    out
}

fn find_url(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    [lower.find("https://"), lower.find("http://")]
        .into_iter()
        .flatten()
        .min()
}

/// Percent-encodes a value for a `mailto:` query (RFC 6068).
pub fn mailto_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Re: ` once, whatever the subject already starts with.
pub fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("re:") {
        s.to_string()
    } else {
        format!("Re: {s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_72_and_keeps_urls_whole() {
        let long = format!(
            "{} https://example.org/{}",
            "word ".repeat(30),
            "x".repeat(80)
        );
        let w = wrap(&long, 72, "");
        for line in w.lines() {
            assert!(line.len() <= 72 || !line.contains(' '), "{line}");
        }
        assert!(w.contains(&format!("https://example.org/{}", "x".repeat(80))));
    }

    #[test]
    fn keeps_quotes_and_blank_lines() {
        let w = wrap("a\n\n> quoted line that is long enough to be wrapped if we were careless about quotes yes", 40, "  ");
        assert_eq!(w.lines().nth(1), Some(""));
        assert!(w.lines().nth(2).unwrap().starts_with("  > quoted"));
    }

    #[test]
    fn reflows_client_line_breaks_but_keeps_short_lines_and_lists() {
        let text = "We keep discovering launch risks too late. Has anyone run a pre-mortem\nwith a cross-functional team? What format worked?\n\nThanks,\nDana\n\nSteps:\n- write down why the launch failed, in one sentence, each person on their own\n- group\n1. vote";
        let w = wrap(text, 72, "   ");
        assert!(
            w.starts_with("   We keep discovering launch risks too late. Has anyone run a\n   pre-mortem with a cross-functional team? What format worked?\n"),
            "{w}"
        );
        assert!(w.contains("   Thanks,\n   Dana\n"), "{w}");
        assert!(w.contains("   - write down why the launch failed, in one sentence, each person on\n     their own\n   - group\n   1. vote"), "{w}");
        for line in w.lines() {
            assert!(line.chars().count() <= 72, "{line}");
        }
        assert_eq!(paragraphs(text)[0].len(), 1);
    }

    #[test]
    fn links_urls_and_escapes_the_rest() {
        assert_eq!(
            linkify("see https://x.org/a?b=1&c=2. <b>"),
            "see <a href=\"https://x.org/a?b=1&amp;c=2\" style=\"color:#7a4d00;word-break:break-all;\">https://x.org/a?b=1&amp;c=2</a>. &lt;b&gt;"
        );
        assert!(linkify("(http://x.org/wiki/A_(b))").contains(">http://x.org/wiki/A_(b)</a>)"));
        assert_eq!(linkify("http:// x"), "http:// x");
        assert!(!linkify("javascript:alert(1) <script>").contains("<script>"));
    }

    #[test]
    fn subjects_and_mailto() {
        assert_eq!(reply_subject("Budgets"), "Re: Budgets");
        assert_eq!(reply_subject("RE: Budgets"), "RE: Budgets");
        assert_eq!(mailto_encode("Re: a&b"), "Re%3A%20a%26b");
        assert_eq!(paragraphs("a\nb\n\n\nc").len(), 2);
    }
}
