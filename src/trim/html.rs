//! Converts HTML-only mail into plain text that [`super::trim_reply`] can
//! work on: paragraphs and line breaks, "- " list items, "text (url)" links,
//! and `<blockquote>`s kept as "> " lines so that quoted history is still
//! recognisable (and removable) as a quote.
//!
//! This is a tolerant single-pass tokenizer, not a full HTML parser: mail
//! HTML is frequently malformed, and all we need is readable text.

use super::entities::decode;
use super::text_writer::TextWriter;

/// Readable plain text for an HTML mail body.
pub fn html_to_text(html: &str) -> String {
    let html = html.replace("\r\n", "\n");
    let lower = html.to_ascii_lowercase();
    let mut conv = Converter::default();
    let mut pos = 0;
    while pos < html.len() {
        match html[pos..].find('<') {
            Some(0) => pos = conv.markup(&html, &lower, pos),
            Some(at) => {
                conv.text(&html[pos..pos + at]);
                pos += at;
            }
            None => {
                conv.text(&html[pos..]);
                pos = html.len();
            }
        }
    }
    conv.out.finish()
}

/// Deeper lists are indented no further, so hostile nesting stays linear.
const MAX_LIST_INDENT: usize = 16;

/// Elements whose content is never text for the reader.
const RAW_SKIPPED: &[&str] = &["script", "style", "title", "head", "template", "noscript"];

/// Elements that start a new paragraph (a blank line around them).
const PARAGRAPHS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "dl",
    "figure",
    "address",
    "pre",
    "blockquote",
    "ul",
    "ol",
];

/// Elements that start a new line.
const LINES: &[&str] = &[
    "div",
    "tr",
    "li",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "center",
    "main",
    "nav",
    "aside",
    "form",
    "fieldset",
    "caption",
    "figcaption",
    "body",
    "html",
];

/// Elements that never have content, so never need closing.
const VOID: &[&str] = &[
    "br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source",
];

struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn is_hidden(&self) -> bool {
        let style: String = self
            .attr("style")
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        style.to_ascii_lowercase().contains("display:none")
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split_whitespace().any(|c| c == class))
    }
}

struct List {
    ordered: bool,
    items: usize,
}

#[derive(Default)]
struct Converter {
    out: TextWriter,
    lists: Vec<List>,
    /// Open links: their target and where their text starts in the output.
    links: Vec<Option<(String, usize)>>,
    /// An element hidden with `display:none`, and how deeply it is nested.
    hidden: Option<(String, usize)>,
}

impl Converter {
    fn text(&mut self, raw: &str) {
        if self.hidden.is_none() {
            self.out.text(&decode(raw));
        }
    }

    /// Consumes the markup starting at `pos` (a `<`), returning where the
    /// next token starts.
    fn markup(&mut self, html: &str, lower: &str, pos: usize) -> usize {
        let s = &html[pos..];
        if s.starts_with("<!--") {
            return skip_past(lower, pos + 4, "-->");
        }
        if let Some(cdata) = s.strip_prefix("<![CDATA[") {
            let end = cdata.find("]]>").map_or(html.len(), |e| pos + 9 + e);
            self.text(&html[pos + 9..end]);
            return (end + 3).min(html.len());
        }
        if s.starts_with("<!") || s.starts_with("<?") {
            return skip_past(lower, pos + 2, ">");
        }
        let Some((tag, len)) = parse_tag(s) else {
            self.text("<");
            return pos + 1;
        };
        let after = pos + len;
        if !tag.closing && !tag.self_closing && RAW_SKIPPED.contains(&tag.name.as_str()) {
            let close = format!("</{}", tag.name);
            return match lower[after..].find(&close) {
                Some(at) => skip_past(lower, after + at, ">"),
                // A stray <head> without </head> must not swallow the mail.
                None if tag.name == "head" => after,
                None => html.len(),
            };
        }
        self.element(&tag);
        after
    }

    fn element(&mut self, tag: &Tag) {
        if self.still_hidden(tag) {
            return;
        }
        let name = tag.name.as_str();
        if !tag.closing && !VOID.contains(&name) && tag.is_hidden() {
            self.hidden = Some((tag.name.clone(), 1));
            return;
        }
        match name {
            "br" => self.out.line_break(),
            "hr" => {
                self.out.block(2);
                self.out.literal("---");
                self.out.block(2);
            }
            "img" => self.image(tag),
            "a" => self.link(tag),
            "td" | "th" if !tag.closing => self.out.space(),
            "ul" | "ol" => self.list(tag),
            "li" => self.list_item(tag),
            _ => self.block_element(tag),
        }
    }

    /// Tracks nesting inside a hidden element; true while it lasts.
    fn still_hidden(&mut self, tag: &Tag) -> bool {
        let Some((name, depth)) = &mut self.hidden else {
            return false;
        };
        if *name == tag.name && !VOID.contains(&name.as_str()) {
            if tag.closing {
                *depth -= 1;
            } else if !tag.self_closing {
                *depth += 1;
            }
        }
        if *depth == 0 {
            self.hidden = None;
        }
        true
    }

    fn block_element(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        let breaks = if PARAGRAPHS.contains(&name) {
            2
        } else if LINES.contains(&name) {
            1
        } else {
            return;
        };
        self.out.block(breaks);
        match (name, tag.closing) {
            ("blockquote", false) => self.out.enter_quote(),
            ("blockquote", true) => self.out.leave_quote(),
            ("pre", false) => self.out.enter_pre(),
            ("pre", true) => self.out.leave_pre(),
            // Gmail and Thunderbird mark signatures; give them the
            // conventional "-- " line if the HTML did not spell it out.
            ("div", false) if is_signature_block(tag) && self.out.last_line() != "--" => {
                self.out.literal("-- ");
                self.out.block(1);
            }
            _ => {}
        }
    }

    fn list(&mut self, tag: &Tag) {
        let breaks = if self.lists.len() <= usize::from(tag.closing) {
            2
        } else {
            1
        };
        self.out.block(breaks);
        if tag.closing {
            self.lists.pop();
        } else {
            let ordered = tag.name == "ol";
            self.lists.push(List { ordered, items: 0 });
        }
    }

    fn list_item(&mut self, tag: &Tag) {
        self.out.block(1);
        if tag.closing {
            return;
        }
        let depth = self.lists.len().clamp(1, MAX_LIST_INDENT);
        let marker = match self.lists.last_mut() {
            Some(list) if list.ordered => {
                list.items += 1;
                format!("{}. ", list.items)
            }
            _ => "- ".to_owned(),
        };
        self.out
            .bullet(format!("{}{marker}", "  ".repeat(depth - 1)));
    }

    fn link(&mut self, tag: &Tag) {
        if !tag.closing {
            let href = tag
                .attr("href")
                .map(|h| (h.trim().to_owned(), self.out.len()));
            self.links.push(href);
            return;
        }
        let Some(Some((href, start))) = self.links.pop() else {
            return;
        };
        let text = self.out.since(start).trim().to_owned();
        let internal =
            href.starts_with('#') || href.starts_with("javascript:") || href.starts_with("cid:");
        if !text.is_empty() && !href.is_empty() && !internal && !same_target(&text, &href) {
            self.out.text(&format!(" ({href})"));
        }
    }

    /// Emoji often arrive as images; their alt text is the emoji itself.
    fn image(&mut self, tag: &Tag) {
        let alt = tag.attr("alt").unwrap_or("").trim();
        if !alt.is_empty() && !alt.chars().any(char::is_alphanumeric) {
            self.out.text(alt);
        }
    }
}

fn is_signature_block(tag: &Tag) -> bool {
    tag.has_class("gmail_signature") || tag.has_class("moz-signature")
}

/// Index just past the next `needle` at or after `from`, or the end.
fn skip_past(lower: &str, from: usize, needle: &str) -> usize {
    lower
        .get(from..)
        .and_then(|s| s.find(needle))
        .map_or(lower.len(), |at| from + at + needle.len())
}

/// Whether a link's text already shows its target, so "(url)" would repeat it.
fn same_target(text: &str, href: &str) -> bool {
    fn norm(s: &str) -> String {
        let mut s = s.trim().to_lowercase();
        for prefix in ["mailto:", "tel:", "https://", "http://", "www."] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest.to_owned();
            }
        }
        s.trim_end_matches('/').to_owned()
    }
    norm(text) == norm(href)
}

/// Parses a start or end tag at the start of `s` (which begins with `<`),
/// returning it and its length in bytes.
fn parse_tag(s: &str) -> Option<(Tag, usize)> {
    let body = &s[1..];
    let (closing, body) = match body.strip_prefix('/') {
        Some(b) => (true, b),
        None => (false, body),
    };
    if !body.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let name_len = body
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_'))
        .count();
    let name = body[..name_len].to_ascii_lowercase();
    let (attrs, self_closing, used) = parse_attrs(&body[name_len..]);
    let len = s.len() - body.len() + name_len + used;
    Some((
        Tag {
            name,
            closing,
            self_closing,
            attrs,
        },
        len,
    ))
}

/// Attributes up to the closing `>`: the attributes, whether the tag closed
/// itself (`/>`), and the bytes consumed.
fn parse_attrs(s: &str) -> (Vec<(String, String)>, bool, usize) {
    let b = s.as_bytes();
    let mut attrs = Vec::new();
    let mut i = 0;
    let mut self_closing = false;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            self_closing = b[i] == b'/';
            i += 1;
        }
        if i >= b.len() {
            return (attrs, self_closing, i);
        }
        if b[i] == b'>' {
            return (attrs, self_closing, i + 1);
        }
        self_closing = false;
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        if i == start {
            i += 1; // a stray "=": skip it
            continue;
        }
        let name = s[start..i].to_ascii_lowercase();
        let (value, used) = attr_value(&s[i..]);
        i += used;
        attrs.push((name, decode(value).into_owned()));
    }
}

/// The value after an attribute name (`="x"`, `='x'`, `=x` or nothing).
fn attr_value(s: &str) -> (&str, usize) {
    let ws = s.len() - s.trim_start().len();
    let Some(after_eq) = s[ws..].strip_prefix('=') else {
        return ("", 0);
    };
    let lead = s.len() - after_eq.trim_start().len();
    let v = &s[lead..];
    match v.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &v[1..];
            let end = inner.find(q).unwrap_or(inner.len());
            (&inner[..end], lead + 1 + (end + 1).min(inner.len()))
        }
        _ => {
            let end = v
                .find(|c: char| c.is_ascii_whitespace() || c == '>')
                .unwrap_or(v.len());
            (&v[..end], lead + end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::trim_reply;
    use super::html_to_text;

    #[test]
    fn paragraphs_breaks_and_entities() {
        let html = "<p>Hello&nbsp;world &amp; you</p>\n<p>Line<br>break</p><div>caf&eacute;</div>";
        assert_eq!(
            html_to_text(html),
            "Hello world & you\n\nLine\nbreak\n\ncafé"
        );
    }

    #[test]
    fn whitespace_collapses_except_in_pre() {
        assert_eq!(html_to_text("  a \n\n\t b  "), "a b");
        assert_eq!(
            html_to_text("<pre>\nfn main() {\n    x();\n}</pre>"),
            "fn main() {\n    x();\n}"
        );
        assert_eq!(
            html_to_text("<p>a</p><p></p><p>&nbsp;</p><br><br><p>b</p>"),
            "a\n\nb"
        );
    }

    #[test]
    fn lists() {
        let html = "<ul><li>one</li><li>two<ol><li>a</li><li>b</li></ol></li></ul><p>after</p>";
        assert_eq!(html_to_text(html), "- one\n- two\n  1. a\n  2. b\n\nafter");
    }

    #[test]
    fn links_show_their_target_once() {
        let html = r##"See <a href="https://example.org/docs">the docs</a>,
            <a href="https://example.org/">example.org</a>,
            <a href="mailto:ann@example.org">ann@example.org</a> and <a href="#top">top</a>."##;
        assert_eq!(
            html_to_text(html),
            "See the docs (https://example.org/docs), example.org, ann@example.org and top."
        );
    }

    #[test]
    fn invisible_parts_are_dropped() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head><body>\
                    <script>alert(1)</script><!-- note --><span style=\"display: none\">preview \
                    <b>text</b></span>Visible</body></html>";
        assert_eq!(html_to_text(html), "Visible");
    }

    #[test]
    fn blockquotes_become_quote_lines_and_get_trimmed() {
        let html = "<div>Yes, since 2.1.</div><div class=\"gmail_quote\"><div>On Thu, Jan 5, 2023 \
                    at 10:00 AM Ann &lt;ann@example.org&gt; wrote:<br></div><blockquote>\
                    <p>Does it work?</p><p>Ann</p><blockquote>older</blockquote></blockquote></div>";
        let text = html_to_text(html);
        assert_eq!(
            text,
            "Yes, since 2.1.\nOn Thu, Jan 5, 2023 at 10:00 AM Ann <ann@example.org> wrote:\n\n\
             > Does it work?\n>\n> Ann\n>\n> > older"
        );
        assert_eq!(trim_reply(&text).text, "Yes, since 2.1.");
    }

    #[test]
    fn outlook_header_block_is_trimmed() {
        let html = "<p class=MsoNormal>Works for me.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;\
                    </o:p></p><div style='border:none;border-top:solid #E1E1E1 1.0pt'><p \
                    class=MsoNormal><b>From:</b> Bob &lt;bob@example.org&gt;<br><b>Sent:</b> \
                    Thursday, January 5, 2023 10:00 AM<br><b>To:</b> Ann<br><b>Subject:</b> Plan\
                    </p></div><p class=MsoNormal>Does Tuesday work?</p>";
        assert_eq!(trim_reply(&html_to_text(html)).text, "Works for me.");
    }

    #[test]
    fn signature_blocks_get_a_delimiter() {
        let html = "<div>Thanks</div><div class=\"gmail_signature\">Ann<br>CTO</div>";
        assert_eq!(html_to_text(html), "Thanks\n--\nAnn\nCTO");
        assert_eq!(trim_reply(&html_to_text(html)).text, "Thanks");
    }

    #[test]
    fn malformed_markup_degrades_to_text() {
        assert_eq!(html_to_text("<p>unclosed <b>bold"), "unclosed bold");
        assert_eq!(html_to_text("a < b > c"), "a < b > c");
        assert_eq!(html_to_text("<a href='x"), "");
        assert_eq!(html_to_text("x <!-- never closed"), "x");
        assert_eq!(
            html_to_text("<td>a</td><td>b</td><img alt=\"😀\">"),
            "a b😀"
        );
    }
}
