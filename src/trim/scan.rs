//! Small text-scanning helpers shared by the line classifiers.
//!
//! The trimmer deliberately avoids a regex engine: every matcher is a
//! hand-written, forward-only scan, so no input can trigger backtracking
//! blow-ups. These helpers keep those scans short and readable.

/// Horizontal whitespace, including no-break space (what `[[:blank:]]` means
/// in Unicode-aware regex flavours).
pub(crate) fn is_blank(c: char) -> bool {
    c != '\n' && c.is_whitespace()
}

/// A "word" character in the `\b` / `\w` sense, Unicode-aware so that
/// Cyrillic or CJK words have boundaries too.
pub(crate) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `s` without leading characters accepted by `skip`.
pub(crate) fn skip_while(s: &str, skip: impl Fn(char) -> bool) -> &str {
    s.trim_start_matches(skip)
}

/// Case-insensitive prefix match. A space in `phrase` matches any non-empty
/// run of whitespace, because mail clients re-wrap and re-space these phrases.
/// Returns the remainder of `s` after the phrase.
pub(crate) fn strip_phrase_ci<'a>(s: &'a str, phrase: &str) -> Option<&'a str> {
    let mut rest = s;
    for p in phrase.chars() {
        if p == ' ' {
            let trimmed = rest.trim_start();
            if trimmed.len() == rest.len() {
                return None;
            }
            rest = trimmed;
            continue;
        }
        let c = rest.chars().next()?;
        if !chars_eq_ci(c, p) {
            return None;
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(rest)
}

/// Like [`strip_phrase_ci`], but the phrase must also end on a word boundary.
pub(crate) fn strip_word_ci<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let rest = strip_phrase_ci(s, word)?;
    let ends_word = word.chars().last().is_some_and(is_word);
    if ends_word && rest.chars().next().is_some_and(is_word) {
        return None;
    }
    Some(rest)
}

pub(crate) fn chars_eq_ci(a: char, b: char) -> bool {
    if a.is_ascii() || b.is_ascii() {
        // The hot path. No phrase we match needs folding between ASCII and
        // non-ASCII letters (such as the Kelvin sign), so skip Unicode tables.
        return a.eq_ignore_ascii_case(&b);
    }
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// Case-insensitive "ends with", returning the part before the suffix.
pub(crate) fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let mut head = s;
    for p in suffix.chars().rev() {
        let c = head.chars().next_back()?;
        if !chars_eq_ci(c, p) {
            return None;
        }
        head = &head[..head.len() - c.len_utf8()];
    }
    Some(head)
}

/// Byte offsets at which a word starts (a word character not preceded by one).
pub(crate) fn word_starts(s: &str) -> impl Iterator<Item = usize> + '_ {
    let mut prev_word = false;
    s.char_indices().filter_map(move |(i, c)| {
        let w = is_word(c);
        let start = w && !prev_word;
        prev_word = w;
        start.then_some(i)
    })
}

/// Whether `s` contains `n` consecutive ASCII digits.
pub(crate) fn has_digit_run(s: &str, n: usize) -> bool {
    let mut run = 0;
    for b in s.bytes() {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        if run >= n {
            return true;
        }
    }
    false
}

/// Whether `s` contains something shaped like `local@domain.tld`.
pub(crate) fn has_email(s: &str) -> bool {
    let bytes = s.as_bytes();
    s.match_indices('@').any(|(at, _)| {
        let before_ok = at > 0 && is_addr_byte(bytes[at - 1]);
        let domain: &str = s[at + 1..]
            .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-'))
            .next()
            .unwrap_or("");
        let tld_ok = domain
            .rsplit_once('.')
            .is_some_and(|(host, tld)| !host.is_empty() && tld.chars().count() >= 2);
        before_ok && tld_ok
    })
}

fn is_addr_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+') || b >= 0x80
}

/// Whether `s` contains a clock time such as `9:58` or `14:17`.
pub(crate) fn has_clock_time(s: &str) -> bool {
    let b = s.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i] == b':'
            && b[i - 1].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
    })
}

/// Removes a trailing colon (ASCII or full-width) and surrounding blanks.
pub(crate) fn strip_trailing_colon(s: &str) -> Option<&str> {
    let s = s.trim_end();
    s.strip_suffix(':')
        .or_else(|| s.strip_suffix('：'))
        .map(str::trim_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_case_insensitively_and_across_spaces() {
        assert_eq!(strip_phrase_ci("A  Écrit :", "a écrit"), Some(" :"));
        assert_eq!(strip_phrase_ci("aécrit", "a écrit"), None);
        assert_eq!(strip_word_ci("Onward", "on"), None);
        assert_eq!(strip_word_ci("On Monday", "on"), Some(" Monday"));
        assert_eq!(strip_suffix_ci("Foo WROTE", "wrote"), Some("Foo "));
    }

    #[test]
    fn shapes() {
        assert!(has_email("x <a.b@example.org>"));
        assert!(!has_email("@home"));
        assert!(!has_email("a@b"));
        assert!(has_clock_time("at 9:58 PM"));
        assert!(!has_clock_time("ratio 1:2"));
        assert!(has_digit_run("in 2016,", 4));
        assert_eq!(word_starts("ab, cd").collect::<Vec<_>>(), vec![0, 4]);
    }
}
