//! RFC 3464 delivery-status fields: finding them in a message (a
//! `message/delivery-status` or `message/global-delivery-status` part, or
//! the same fields pasted into a text part by MTAs that do not speak MIME
//! reports) and grouping them into one record per recipient.
//!
//! Real reports bend the grammar (fields out of order, no blank line between
//! recipients, `Action:` before `Final-Recipient:`), so grouping is driven by
//! the recipient fields themselves, not only by blank lines.

use super::text::{find_status, is_prose, is_type, normalize_address, part_text};
use aho_corasick::AhoCorasick;
use mail_parser::{Message, MimeHeaders};
use std::borrow::Cow;
use std::sync::LazyLock;

/// The per-recipient fields of one delivery-status group.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Record {
    pub final_recipient: Option<String>,
    pub original_recipient: Option<String>,
    /// Lowercased first word of `Action:`.
    pub action: Option<String>,
    pub status: Option<String>,
    /// `Diagnostic-Code:` without its type (`smtp;`).
    pub diagnostic: Option<String>,
    /// The type of the diagnostic (`smtp`, `x-unix`, `x-postfix`), lowercased.
    pub diagnostic_type: Option<String>,
}

impl Record {
    /// The address gazette sent to: Original-Recipient (the RCPT TO as
    /// given) when the report has it, else Final-Recipient, which aliases
    /// and forwarding may have rewritten.
    pub fn recipient(&self) -> Option<&str> {
        self.original_recipient
            .as_deref()
            .filter(|a| a.contains('@'))
            .or(self.final_recipient.as_deref())
    }

    fn has_recipient(&self) -> bool {
        self.final_recipient.is_some() || self.original_recipient.is_some()
    }

    fn is_useful(&self) -> bool {
        self.has_recipient() || self.action.is_some() || self.status.is_some()
    }
}

/// The texts in `message` that carry delivery-status fields: the dedicated
/// parts if there are any, else text parts that contain such fields.
pub fn texts<'a>(message: &'a Message<'_>) -> Vec<Cow<'a, str>> {
    let dedicated: Vec<Cow<'a, str>> = message
        .parts
        .iter()
        .filter(|p| {
            let subtypes = ["delivery-status", "global-delivery-status"];
            is_type(p, "message", &subtypes) || is_type(p, "text", &subtypes)
        })
        .filter_map(part_text)
        .collect();
    if !dedicated.is_empty() {
        return dedicated;
    }
    message
        .parts
        .iter()
        .filter(|p| {
            // HTML is not where fields are pasted; converting it is costly.
            let html = matches!(p.body, mail_parser::PartType::Html(_));
            !html
                && (is_prose(p)
                    || p.content_type()
                        .is_none_or(|ct| ct.ctype().eq_ignore_ascii_case("text")))
        })
        .filter_map(part_text)
        .filter(|t| has_recipient_field(t))
        .collect()
}

/// Whether a line of `text` opens with a recipient field. Searched for,
/// not read line by line: the text is often a whole prose bounce with the
/// returned message pasted under it.
fn has_recipient_field(text: &str) -> bool {
    static FIELDS: LazyLock<AhoCorasick> = LazyLock::new(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(["final-recipient:", "original-recipient:"])
            .expect("recipient field names")
    });
    FIELDS
        .find_iter(text)
        .any(|m| opens_line(text.as_bytes(), m.start()))
}

/// Whether only blanks stand between `at` and the start of its line.
/// Walks back over blanks alone, so a line of a million matches is read
/// once, not once per match.
fn opens_line(text: &[u8], at: usize) -> bool {
    text[..at]
        .iter()
        .rev()
        .find(|&&b| b != b' ' && b != b'\t')
        .is_none_or(|&b| b == b'\n' || b == b'\r')
}

/// The per-recipient fields a report may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// A blank line: a group boundary.
    Blank,
    FinalRecipient,
    OriginalRecipient,
    Action,
    Status,
    DiagnosticCode,
}

/// The per-recipient fields of `text` and blank lines, values unfolded.
/// Other fields are skipped (without copying: reports are read often).
fn fields(text: &str) -> Vec<(Field, Cow<'_, str>)> {
    const NAMES: &[(&str, Field)] = &[
        ("final-recipient", Field::FinalRecipient),
        ("original-recipient", Field::OriginalRecipient),
        ("action", Field::Action),
        ("status", Field::Status),
        ("diagnostic-code", Field::DiagnosticCode),
    ];
    let mut out: Vec<(Field, Cow<'_, str>)> = Vec::new();
    let mut last_was_kept = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push((Field::Blank, Cow::Borrowed("")));
            last_was_kept = false;
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut().filter(|_| last_was_kept) {
                let v = v.to_mut();
                v.push(' ');
                v.push_str(line.trim());
            }
        } else {
            let named = line.split_once(':').and_then(|(name, value)| {
                let name = name.trim();
                let field = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
                Some((field.1, Cow::Borrowed(value.trim())))
            });
            last_was_kept = named.is_some();
            out.extend(named);
        }
    }
    out
}

fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 40
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Groups the delivery-status fields of `text` into per-recipient records.
pub fn parse(text: &str) -> Vec<Record> {
    let mut records = Vec::new();
    let mut cur = Record::default();
    for (field, value) in fields(text) {
        match field {
            Field::Blank if cur.has_recipient() => records.push(std::mem::take(&mut cur)),
            Field::Blank => {}
            Field::FinalRecipient => {
                if cur.final_recipient.is_some() {
                    flush(&mut records, &mut cur);
                }
                cur.final_recipient = address(&value);
            }
            Field::OriginalRecipient => {
                if cur.original_recipient.is_some() {
                    flush(&mut records, &mut cur);
                }
                cur.original_recipient = address(&value);
            }
            Field::Action => {
                cur.action = value.split_whitespace().next().map(str::to_ascii_lowercase)
            }
            Field::Status => cur.status = find_status(&value).or(cur.status.take()),
            Field::DiagnosticCode => {
                let (kind, diag) = match value.split_once(';') {
                    Some((k, d)) if is_field_name(k.trim()) => {
                        (Some(k.trim().to_ascii_lowercase()), d.trim())
                    }
                    _ => (None, value.trim()),
                };
                cur.diagnostic_type = kind;
                cur.diagnostic = Some(diag.to_string()).filter(|d| !d.is_empty());
            }
        }
    }
    flush(&mut records, &mut cur);
    records
}

fn flush(records: &mut Vec<Record>, cur: &mut Record) {
    let done = std::mem::take(cur);
    if done.is_useful() {
        records.push(done);
    }
}

fn address(value: &str) -> Option<String> {
    let a = normalize_address(value);
    (!a.is_empty()).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_recipients_without_blank_lines() {
        let text = "Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; A@example.org\nAction: failed\n\
                    Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.org>: user\n  unknown\n\
                    Final-Recipient: rfc822;b@example.org\nAction: delayed\nStatus: 4.2.2\n";
        let r = parse(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].recipient(), Some("a@example.org"));
        assert_eq!(
            r[0].diagnostic.as_deref(),
            Some("550 5.1.1 <a@example.org>: user unknown")
        );
        assert_eq!(r[0].diagnostic_type.as_deref(), Some("smtp"));
        assert_eq!(r[1].action.as_deref(), Some("delayed"));
        assert_eq!(r[1].status.as_deref(), Some("4.2.2"));
    }

    #[test]
    fn action_before_recipient_stays_in_its_group() {
        let r = parse("Action: failed\nFinal-Recipient: rfc822; a@example.org\nStatus: 5.1.1\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].action.as_deref(), Some("failed"));
    }

    #[test]
    fn original_then_final_is_one_recipient() {
        let r = parse("Original-Recipient: rfc822;x@example.org\nFinal-Recipient: rfc822;y@example.org\nAction: failed\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].recipient(), Some("x@example.org"));
        let r = parse("Final-Recipient: rfc822;y@example.org\nOriginal-Recipient: rfc822;x@example.org\nAction: failed\n");
        assert_eq!(r.len(), 1);
    }
}
