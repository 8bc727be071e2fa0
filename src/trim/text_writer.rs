//! The output side of [`super::html`]: accumulates plain text while
//! collapsing HTML whitespace, spacing blocks apart, and prefixing lines
//! inside `<blockquote>` with "> ".

/// At most one blank line between blocks, however many `<br>`s or empty
/// paragraphs the HTML stacks up.
const MAX_BREAKS: usize = 2;

/// Deeper quotes are shown at this depth: real threads stay far below it,
/// and unbounded prefixes would make hostile nesting quadratic.
const MAX_QUOTE_DEPTH: usize = 32;

#[derive(Default)]
pub(crate) struct TextWriter {
    out: String,
    /// Line breaks owed before the next content.
    breaks: usize,
    /// The quote depth where the owed breaks were asked for: a blank line
    /// before a `<blockquote>` belongs outside it.
    break_depth: usize,
    /// Blank lines at the end of the output, and whether the current line
    /// has visible text yet.
    blank_lines: usize,
    line_has_text: bool,
    /// A collapsed space owed before the next content on this line.
    space: bool,
    at_line_start: bool,
    quote_depth: usize,
    pre_depth: usize,
    /// A `<pre>`'s first newline is not content (as in browsers).
    pre_fresh: bool,
    bullet: Option<String>,
}

impl TextWriter {
    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    /// The text written since byte offset `start`.
    pub(crate) fn since(&self, start: usize) -> &str {
        self.out.get(start..).unwrap_or("")
    }

    /// Asks for `n` line breaks (2 = a blank line) before what comes next.
    pub(crate) fn block(&mut self, n: usize) {
        if !self.out.is_empty() {
            self.owe_breaks(self.breaks.max(n));
        }
        self.space = false;
    }

    pub(crate) fn line_break(&mut self) {
        self.owe_breaks(self.breaks + 1);
        self.space = false;
    }

    fn owe_breaks(&mut self, n: usize) {
        if self.breaks == 0 {
            self.break_depth = self.quote_depth;
        }
        self.break_depth = self.break_depth.min(self.quote_depth);
        self.breaks = n;
    }

    /// The last line with visible text, trimmed.
    pub(crate) fn last_line(&self) -> &str {
        self.out.trim_end().rsplit('\n').next().unwrap_or("").trim()
    }

    /// Separates inline content (table cells) with a space.
    pub(crate) fn space(&mut self) {
        self.space = true;
    }

    pub(crate) fn bullet(&mut self, marker: String) {
        self.bullet = Some(marker);
    }

    pub(crate) fn enter_quote(&mut self) {
        self.quote_depth += 1;
    }

    pub(crate) fn leave_quote(&mut self) {
        self.quote_depth = self.quote_depth.saturating_sub(1);
    }

    pub(crate) fn enter_pre(&mut self) {
        self.pre_depth += 1;
        self.pre_fresh = true;
    }

    pub(crate) fn leave_pre(&mut self) {
        self.pre_depth = self.pre_depth.saturating_sub(1);
    }

    /// Text written as is, on the current line.
    pub(crate) fn literal(&mut self, s: &str) {
        s.chars().for_each(|c| self.put(c));
    }

    /// Text content: whitespace collapses, except inside `<pre>`.
    pub(crate) fn text(&mut self, s: &str) {
        for c in s.chars() {
            if self.pre_depth > 0 {
                self.pre_char(c);
            } else if c.is_ascii_whitespace() {
                self.space = true;
            } else if c == '\u{a0}' {
                // A no-break space is spacing the author meant; keep one.
                self.put(' ');
            } else {
                self.put(c);
            }
        }
    }

    fn pre_char(&mut self, c: char) {
        let fresh = std::mem::take(&mut self.pre_fresh);
        if c != '\n' {
            self.put(c);
        } else if !fresh {
            self.flush_breaks();
            if self.at_line_start {
                self.start_line();
            }
            self.end_line(false);
        }
    }

    fn put(&mut self, c: char) {
        self.flush_breaks();
        if self.at_line_start || self.out.is_empty() {
            self.start_line();
        } else if self.space && c != ' ' {
            self.out.push(' ');
        }
        self.space = false;
        self.line_has_text |= !c.is_whitespace();
        self.out.push(c);
    }

    fn flush_breaks(&mut self) {
        let n = std::mem::take(&mut self.breaks).min(MAX_BREAKS);
        if self.out.is_empty() {
            return;
        }
        // A line already ended (inside <pre>) counts as one of the breaks.
        let n = if self.at_line_start {
            n.saturating_sub(1)
        } else {
            n
        };
        let depth = self.break_depth.min(self.quote_depth).min(MAX_QUOTE_DEPTH);
        for _ in 0..n {
            let blank = self.at_line_start;
            if blank && self.blank_lines > 0 && self.pre_depth == 0 {
                continue;
            }
            if blank && depth > 0 {
                // Blank lines inside a quote stay part of it.
                self.out.push_str(&vec![">"; depth].join(" "));
            }
            self.end_line(self.pre_depth == 0);
        }
    }

    fn start_line(&mut self) {
        self.at_line_start = false;
        self.space = false;
        for _ in 0..self.quote_depth.min(MAX_QUOTE_DEPTH) {
            self.out.push_str("> ");
        }
        if let Some(bullet) = self.bullet.take() {
            self.out.push_str(&bullet);
        }
    }

    fn end_line(&mut self, trim: bool) {
        if trim && !self.line_has_text && self.blank_lines > 0 {
            // Already after a blank line: drop this empty one instead.
            let start = self.out.rfind('\n').map_or(0, |i| i + 1);
            self.out.truncate(start);
            self.at_line_start = true;
            return;
        }
        if trim {
            let kept = self.out.trim_end_matches([' ', '\t']).len();
            self.out.truncate(kept);
        }
        self.out.push('\n');
        self.at_line_start = true;
        self.blank_lines = if self.line_has_text {
            0
        } else {
            self.blank_lines + 1
        };
        self.line_has_text = false;
    }

    pub(crate) fn finish(self) -> String {
        self.out.trim().to_owned()
    }
}
