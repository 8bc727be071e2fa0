//! Choosing one RFC 3463 status code for a failed recipient when a report
//! gives several: the `Status:` field, the code the remote server put in
//! its reply, and codes elsewhere in the text. The more specific code
//! wins: `5.1.1` over `5.0.0`, a code that agrees with the reply code
//! (`550 5.1.1`) over one that contradicts it, the remote server's own
//! over the reporting MTA's generic or ambiguous ones (`4.4.7` "expired",
//! `4.7.0`, `5.3.x`, the protocol codes `x.5.1`/`x.5.2`/`x.5.4`/`x.5.5`).

use super::text::{find_reply_code, find_status, reply_code_at};

/// The status code of a failure named in `text`: the one right after the
/// SMTP reply code when there is one ("550-'5.7.1 …", "550 5.1.1"),
/// else the first. Success codes (2.x.x) say nothing about a failure.
pub fn in_text(text: &str) -> Option<String> {
    // A failure's code is stated near its start; notes can be long.
    let text = super::text::truncate(text, 4000);
    after_reply_code(text)
        .or_else(|| find_status(text))
        .filter(|s| !s.starts_with('2'))
}

/// A status that follows an SMTP reply code closely: "550 5.1.1",
/// "550-5.7.26", "550-'5.7.1 …'".
fn after_reply_code(text: &str) -> Option<String> {
    let (at, code) = reply_code_at(text)?;
    let rest = &text[at + 3..];
    if !rest.starts_with([' ', '-']) {
        return None;
    }
    let status = find_status(rest)?;
    let near = rest.find(&status).is_some_and(|i| i <= 3);
    let class = char::from(b'0' + (code / 100) as u8);
    (near && status.starts_with(class)).then_some(status)
}

/// The status to report for one recipient, from the report's `Status:`
/// field and the code found in its diagnostic.
pub fn prefer(field: Option<&str>, diagnostic: &str) -> Option<String> {
    let said = in_text(diagnostic);
    let (field, said) = match (field, said) {
        (None, said) => return said,
        (Some(f), None) => return Some(f.to_string()),
        (Some(f), Some(s)) => (f, s),
    };
    let class = |s: &str| s.chars().next();
    let pick = |s: &str| Some(s.to_string());
    // A reply code settles a disagreement about the class.
    if class(field) != class(&said) {
        return match find_reply_code(diagnostic).map(|c| c.to_string()) {
            Some(c) if class(&c) == class(&said) => pick(&said),
            _ => pick(field),
        };
    }
    let generic = |s: &str| s.ends_with(".0.0");
    let vague = |s: &str| s.contains(".0");
    if field == said || (generic(&said) && !generic(field)) {
        return pick(field);
    }
    if generic(field) || (vague(field) && !vague(&said)) {
        return pick(&said);
    }
    let ambiguous = matches!(field, "4.4.7" | "4.7.0")
        || field.starts_with("5.3.")
        || [".5.1", ".5.2", ".5.4", ".5.5"]
            .iter()
            .any(|p| field.get(1..5) == Some(*p));
    if ambiguous {
        return pick(&said);
    }
    match field {
        "5.1.1" if !vague(&said) && !said.starts_with("5.5.") => pick(&said),
        "5.1.3" if said.starts_with("5.7.") => pick(&said),
        _ => pick(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specific_code_wins() {
        assert_eq!(
            prefer(Some("5.0.0"), "550 5.1.1 user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            prefer(Some("5.1.1"), "550 5.0.0 user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            prefer(Some("4.5.0"), "550 5.5.0 refused").as_deref(),
            Some("5.5.0")
        );
        assert_eq!(
            prefer(Some("4.4.7"), "452 4.4.5 Insufficient disk space").as_deref(),
            Some("4.4.5")
        );
        assert_eq!(prefer(None, "250 2.0.0 Ok").as_deref(), None);
        assert_eq!(
            prefer(
                Some("5.1.0"),
                "5.1.0 - Unknown address error 550-'5.7.1 <a@b>... Access denied'"
            )
            .as_deref(),
            Some("5.7.1")
        );
    }
}
