//! Reply trimming: keeps what the member wrote in an emailed reply and cuts
//! off what they did not — quoted history, "On … wrote:" attributions in many
//! languages, Outlook header blocks, forwarded mail, signatures.
//!
//! [`trim_reply`] works on plain text. HTML-only mail goes through
//! [`html_to_text`] first, which keeps `<blockquote>`s as "> " lines so the
//! trimmer can recognise them.
//!
//! The approach: normalise the body ([`normalize`]), give each line a
//! one-letter kind ([`classify`]), then choose the member's lines by looking
//! at the shape of the kind string ([`layout`]). There is no regex engine:
//! every step is a linear scan, so hostile input cannot cause catastrophic
//! backtracking.

mod attribution;
mod classify;
mod entities;
mod html;
mod join;
mod layout;
mod markers;
mod normalize;
mod scan;
#[cfg(test)]
mod tests;
mod text_writer;

pub use html::html_to_text;

/// What the member wrote, and what was cut off (quoted history, "On … wrote:"
/// headers, signatures, forwarded mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    pub text: String,
    pub elided: String,
}

/// Splits a plain-text reply body into the member's text and the elided rest.
/// Both are trimmed of surrounding whitespace.
pub fn trim_reply(body: &str) -> Trimmed {
    let lines = normalize::normalize(body);
    let mut kinds: Vec<u8> = lines.iter().map(|l| classify::classify(l)).collect();
    classify::mark_enclosed_quotes(&lines, &mut kinds);
    let mut kept = layout::select(&kinds);
    drop_sign_off(&lines, &mut kept);
    let mut is_kept = vec![false; lines.len()];
    for &i in &kept {
        is_kept[i] = true;
    }
    let text = kept.iter().map(|&i| lines[i].as_str());
    let elided = lines
        .iter()
        .zip(&is_kept)
        .filter(|(_, kept)| !**kept)
        .map(|(l, _)| l.as_str());
    Trimmed {
        text: join_lines(text),
        elided: join_lines(elided),
    }
}

/// A "-Name" sign-off ending the reply, after a blank line, goes with the
/// signature.
fn drop_sign_off(lines: &[String], kept: &mut Vec<usize>) {
    let filled: Vec<usize> = kept
        .iter()
        .copied()
        .filter(|&i| !lines[i].chars().all(scan::is_blank))
        .collect();
    let [.., before, last] = filled[..] else {
        return;
    };
    let blank_between = (before + 1..last).any(|i| lines[i].chars().all(scan::is_blank));
    if blank_between && markers::is_sign_off(&lines[last]) {
        kept.retain(|&i| i < last);
    }
}

fn join_lines<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    lines.collect::<Vec<_>>().join("\n").trim().to_owned()
}
