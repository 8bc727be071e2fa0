//! Glues attribution lines that mail clients wrapped over several lines
//! ("On Mon, Feb 1, 2016 at 6:32 PM, Jeff <j@x.org>" / "wrote:") back into
//! one line, so the per-line classifier sees them whole.
//!
//! A join replaces each line break, together with any blank lines and
//! indentation after it, by a single space.

use super::attribution::{
    date_someone_email, date_someone_wrote, is_attribution, may_start_attribution,
    on_date_someone_wrote, on_date_wrote_someone, someone_wrote_on_date,
};

/// Wrapped attributions span at most this many line breaks; anything longer
/// is more likely prose that happens to contain the right words.
const MAX_BREAKS: usize = 4;

/// Longer lines never start an attribution; this bounds the work per line.
const MAX_START_LEN: usize = 1000;

/// Returns `lines` with wrapped attributions joined into single lines.
pub(crate) fn join_wrapped_attributions(mut lines: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if let Some((last, joined)) = wrapped_extent(&lines, i) {
            out.push(joined);
            i = last + 1;
        } else {
            out.push(std::mem::take(&mut lines[i]));
            i += 1;
        }
    }
    out
}

/// If an attribution starting on line `i` was wrapped, the index of its last
/// line and the joined text.
fn wrapped_extent(lines: &[String], i: usize) -> Option<(usize, String)> {
    let first = lines[i].as_str();
    if first.len() > MAX_START_LEN || !may_start_attribution(first) {
        return None;
    }
    // "Am … schrieb Max <m@x.de" is complete enough on its own, but the
    // wrapped remainder (">:") belongs to it all the same.
    let on_open = !(on_date_someone_wrote(first) && ends_with_colon(first));
    let others_open = !is_attribution(first);
    if !on_open && !others_open {
        return None;
    }
    let candidates = join_candidates(lines, i);
    let next = candidates
        .first()
        .map_or("", |(last, _)| lines[*last].trim_start());
    // Each shape, in priority order, prefers the shortest join.
    let find = |shape: &dyn Fn(usize, &str) -> bool| {
        candidates
            .iter()
            .find(|(last, joined)| ends_like_attribution(joined) && shape(*last, joined))
            .cloned()
    };
    if on_open {
        if let Some(hit) = find(&|_, joined| on_date_someone_wrote(joined)) {
            return Some(hit);
        }
    }
    if !others_open {
        return None;
    }
    find(&|_, joined| on_date_wrote_someone(joined) || someone_wrote_on_date(joined))
        // A Slavic date line may wrap once, directly before the verb.
        .or_else(|| find(&|last, joined| last == i + 1 && date_someone_wrote(joined)))
        // The address may wrap, or move to the next line on its own.
        .or_else(|| {
            let address_wraps = has_open_bracket(first) || next.starts_with('<');
            find(&|_, joined| address_wraps && date_someone_email(joined))
        })
}

/// Line `i` joined with one, two, … of the following non-blank lines.
fn join_candidates(lines: &[String], i: usize) -> Vec<(usize, String)> {
    let mut joined = lines[i].clone();
    let mut out = Vec::new();
    let end = (i + MAX_BREAKS).min(lines.len().saturating_sub(1));
    for (last, line) in lines.iter().enumerate().take(end + 1).skip(i + 1) {
        let piece = line.trim_start();
        if piece.is_empty() {
            continue;
        }
        if joined.len() + piece.len() > 2 * MAX_START_LEN {
            break;
        }
        joined.push(' ');
        joined.push_str(piece);
        out.push((last, joined.clone()));
    }
    out
}

/// Wrapped attributions end in a colon ("wrote:") or a bracketed address.
fn ends_like_attribution(joined: &str) -> bool {
    ends_with_colon(joined) || joined.trim_end().ends_with('>')
}

fn ends_with_colon(line: &str) -> bool {
    let end = line.trim_end();
    end.ends_with(':') || end.ends_with('：')
}

fn has_open_bracket(line: &str) -> bool {
    match (line.rfind('<'), line.rfind('>')) {
        (Some(lt), Some(gt)) => lt > gt,
        (Some(_), None) => true,
        _ => false,
    }
}
