//! Making text from outside safe to show: tokens shortened to a prefix,
//! passwords taken out of URLs, control characters escaped. Log lines
//! (see [`crate::logging`]), error messages and CLI output go through
//! these, so a log or a terminal never holds a usable token or password,
//! and text from mail (a `MAIL FROM`, a subject) cannot forge log lines or
//! send escape sequences to the operator's terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// Where a token starts: after a sub-address command or in a link path.
const TOKEN_MARKERS: [&str; 6] = [
    "reply-",
    "confirm-",
    "bounce-",
    "/confirm/",
    "/unsubscribe/",
    "/sign-in/",
];

/// Characters of a token that are kept: enough to tell two apart in a
/// log, far too few to use.
const KEPT: usize = 4;

/// Runs shorter than this after a marker are words, not tokens
/// (`reply-all`).
const MIN_TOKEN: usize = 8;

/// `pm+reply-abcdefghijklmnopqrstu@x` as `pm+reply-abcd…@x`, and the same
/// for confirm and bounce addresses and `/confirm/`, `/unsubscribe/` and
/// `/sign-in/` links.
pub fn tokens(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for marker in TOKEN_MARKERS {
        let mut from = 0;
        while let Some(at) = lower[from..].find(marker) {
            let start = from + at + marker.len();
            let len = text[start..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                .count();
            if len >= MIN_TOKEN {
                cuts.push((start + KEPT, start + len));
            }
            from = start;
        }
    }
    if cuts.is_empty() {
        return Cow::Borrowed(text);
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in cuts {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push('…');
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Control characters (C0, DEL, C1) and the bidirectional overrides that
/// reorder what a terminal shows, escaped as `\n`, `\x1b`, `\u{202e}`.
pub fn controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_control(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Tokens shortened and control characters escaped: for any text from
/// outside on its way to a log, an error message or the terminal.
pub fn safe(text: &str) -> String {
    controls(&tokens(text)).into_owned()
}

/// Like [`safe`], but line breaks and tabs are kept: for messages meant
/// to span lines (an error with its hint), printed on the terminal.
pub fn terminal(text: &str) -> String {
    tokens(text)
        .split('\n')
        .map(|line| {
            line.split('\t')
                .map(|part| controls(part).into_owned())
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A subject quoted in a notice: one line, control characters dropped,
/// runs of white space folded, at most `max` characters (cut with `…`).
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    for word in text
        .split(|c: char| c.is_whitespace() || is_control(c))
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() > max {
        let cut: String = out.chars().take(max.saturating_sub(1)).collect();
        return format!("{}…", cut.trim_end());
    }
    out
}

fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A URL with its password hidden, for logs and error messages:
/// `postgres://user:secret@host/db?password=x` as
/// `postgres://user:***@host/db?password=***`.
pub fn url(url: &str) -> String {
    let mut out = match url.find("://") {
        Some(s) => {
            let rest = &url[s + 3..];
            // The authority ends at the first `/` after the last `@`.
            match rest.rfind('@') {
                Some(at) => match rest[..at].find(':') {
                    Some(colon) => {
                        format!("{}{}:***{}", &url[..s + 3], &rest[..colon], &rest[at..])
                    }
                    None => url.to_string(),
                },
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    // libpq also takes the password as a query parameter.
    if let Some(q) = out.find('?') {
        let query: Vec<String> = out[q + 1..]
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{}?{}", &out[..q], query.join("&"));
    }
    controls(&out).into_owned()
}

/// `text` (an error from a driver, say) with the password of `url`, and
/// `url` itself, hidden.
pub fn without_password(text: &str, url_with_password: &str) -> String {
    let mut out = text.replace(url_with_password, &url(url_with_password));
    if let Some(pw) = password(url_with_password).filter(|p| p.len() >= 3) {
        out = out.replace(pw, "***");
    }
    out
}

/// The password of `scheme://user:password@host`, if any.
fn password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let creds = &rest[..rest.rfind('@')?];
    creds.split_once(':').map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_tokens_to_a_prefix() {
        let t = "abcdefghijklmnopqrstuvwx";
        assert_eq!(
            tokens(&format!("RCPT pm+reply-{t}@lists.example.org")),
            "RCPT pm+reply-abcd…@lists.example.org"
        );
        assert_eq!(
            tokens(&format!("to <pm+confirm-{t}@x> and pm+bounce-{t}@x")),
            "to <pm+confirm-abcd…@x> and pm+bounce-abcd…@x"
        );
        assert_eq!(
            tokens(&format!(
                "GET http://h/confirm/{t} and /unsubscribe/{t}?a=1"
            )),
            "GET http://h/confirm/abcd… and /unsubscribe/abcd…?a=1"
        );
        assert_eq!(
            tokens(&format!("PM+REPLY-{}@X", t.to_uppercase())),
            "PM+REPLY-ABCD…@X"
        );
        // Words are left alone.
        assert_eq!(tokens("a reply-all to pm@x"), "a reply-all to pm@x");
        assert!(matches!(tokens("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_control_characters() {
        assert_eq!(
            controls("evil\r\nINFO forged line\x1b[31m\u{202e}txt\x7f"),
            "evil\\r\\nINFO forged line\\x1b[31m\\u{202e}txt\\x7f"
        );
        assert!(matches!(controls("plain ünïcode"), Cow::Borrowed(_)));
        assert_eq!(safe("pm+reply-abcdefghijklmnop@x\n"), "pm+reply-abcd…@x\\n");
        assert_eq!(
            terminal("line one\n\tline two\x1b[2J"),
            "line one\n\tline two\\x1b[2J"
        );
    }

    #[test]
    fn one_line_subjects() {
        assert_eq!(
            one_line("  Hello\r\n\tworld\x1b[2J  ", 80),
            "Hello world [2J"
        );
        let long = "word ".repeat(40);
        let cut = one_line(&long, 80);
        assert!(cut.chars().count() <= 80, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("", 80), "");
    }

    #[test]
    fn hides_passwords_in_urls() {
        assert_eq!(url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(url("mysql://u:p@ss@h/db"), "mysql://u:***@h/db");
        assert_eq!(
            url("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(url("sqlite://g.db?mode=rwc"), "sqlite://g.db?mode=rwc");
        assert_eq!(url("smtp://user@relay:25"), "smtp://user@relay:25");
        assert_eq!(url("file://outbox"), "file://outbox");
        assert_eq!(
            without_password(
                "bad port in postgres://u:s3cretpw@h:x/db (s3cretpw)",
                "postgres://u:s3cretpw@h:x/db"
            ),
            "bad port in postgres://u:***@h:x/db (***)"
        );
    }
}
