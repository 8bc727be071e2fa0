//! Plain-text layout for mail: wrapping at 72 columns without breaking
//! words or URLs, and splitting text into paragraphs for the HTML side.

/// Wraps each paragraph at `width` columns, prefixing every line with
/// `indent`. Quoted lines (`>`) and lines that look preformatted (leading
/// spaces) are kept as they are, since rewrapping would garble them.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let keep = line.starts_with('>') || line.starts_with("  ") || line.starts_with('\t');
        if line.trim().is_empty() {
            out.push_str(indent.trim_end());
            out.push('\n');
            continue;
        }
        if keep || line.chars().count() + indent.len() <= width {
            out.push_str(indent);
            out.push_str(line.trim_end());
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        for word in line.split_whitespace() {
            let len = current.chars().count();
            if len > 0 && len + 1 + word.chars().count() + indent.len() > width {
                out.push_str(indent);
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        if !current.is_empty() {
            out.push_str(indent);
            out.push_str(&current);
            out.push('\n');
        }
    }
    out.trim_end_matches('\n').to_string()
}

/// Paragraphs (split on blank lines), each a list of lines, for templates
/// that render `<p>` with `<br>` between lines.
pub fn paragraphs(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line.trim_end().to_string());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
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
    fn subjects_and_mailto() {
        assert_eq!(reply_subject("Budgets"), "Re: Budgets");
        assert_eq!(reply_subject("RE: Budgets"), "RE: Budgets");
        assert_eq!(mailto_encode("Re: a&b"), "Re%3A%20a%26b");
        assert_eq!(paragraphs("a\nb\n\n\nc").len(), 2);
    }
}
