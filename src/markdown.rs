//! Editors write the digest's intro in Markdown: rendered with
//! pulldown-cmark and sanitised with ammonia, so what reaches members'
//! mail and the pages is a small set of formatting tags and http(s) or
//! mailto links, whatever was typed (raw HTML, scripts, styles, images).

use pulldown_cmark::{html, Options, Parser};
use std::collections::HashSet;

/// The tags an intro may use.
const TAGS: &[&str] = &[
    "p",
    "br",
    "strong",
    "em",
    "del",
    "a",
    "ul",
    "ol",
    "li",
    "blockquote",
    "code",
    "pre",
    "h3",
    "h4",
    "hr",
];

/// Markdown → sanitised HTML.
pub fn to_html(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH);
    let mut raw = String::new();
    html::push_html(&mut raw, parser);
    ammonia::Builder::default()
        .tags(TAGS.iter().copied().collect::<HashSet<_>>())
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .clean(&raw)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn formats_and_sanitises() {
        let out = to_html("Hello **team**, see [the notes](https://x.org/n).\n\n- one\n- two");
        assert!(out.contains("<strong>team</strong>"), "{out}");
        assert!(
            out.contains("<a href=\"https://x.org/n\" rel=\"noopener noreferrer\">the notes</a>"),
            "{out}"
        );
        assert!(out.contains("<li>one</li>"), "{out}");
        for evil in [
            "<script>alert(1)</script>",
            "[x](javascript:alert(1))",
            "<img src=x onerror=alert(1)>",
            "<a href=\"https://x.org\" onclick=\"alert(1)\">x</a>",
            "<style>body{display:none}</style>",
        ] {
            let out = to_html(evil);
            for bad in [
                "<script",
                "javascript:",
                "<img",
                "onerror",
                "onclick",
                "<style",
            ] {
                assert!(!out.contains(bad), "{evil} gave {out}");
            }
        }
    }
}
