//! Reply trimming against Discourse's email_reply_trimmer fixtures (exact
//! trimmed and elided text) and GitHub's email_reply_parser fixtures
//! (every assertion of its test about the visible text, including those
//! written in its fragment model, translated as described at [`github`]).

use crate::{corpus, Floor, Row};
use gazette::trim::trim_reply;
use regex::Regex;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

const DISCOURSE: &str = "discourse-email_reply_trimmer";
const GITHUB: &str = "github-email_reply_parser";

/// Time limits in the corpora guard against catastrophic behaviour, not
/// speed; the headroom keeps slow CI machines and debug builds from flaking.
const TIME_HEADROOM: u32 = 10;

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `emails/*.txt` names, sorted, without the extension.
fn fixture_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".txt").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

pub fn discourse(missing: &mut Vec<String>) -> Vec<Row> {
    let Some(dir) = corpus(DISCOURSE, missing) else {
        return Vec::new();
    };
    let mut row = Row::new(DISCOURSE, "trimmed and elided text exact", Floor::Cases(64));
    for name in fixture_names(&dir.join("emails")) {
        let file = format!("{name}.txt");
        let got = trim_reply(&read(&dir.join("emails").join(&file)));
        let text_ok = got.text.trim() == read(&dir.join("trimmed").join(&file)).trim();
        let elided_ok = got.elided.trim() == read(&dir.join("elided").join(&file)).trim();
        row.check(text_ok && elided_ok, || match (text_ok, elided_ok) {
            (false, false) => format!("{name}: text and elided differ"),
            (false, true) => format!("{name}: text differs: {:?}", got.text),
            _ => format!("{name}: elided differs: {:?}", got.elided),
        });
    }
    let mut perf = Row::new(DISCOURSE, "matcher performance case < 5 s", Floor::Cases(1));
    let input = read(&dir.join("matchers/does_not_contain_embedded_email.txt"));
    let started = Instant::now();
    trim_reply(&input);
    let took = started.elapsed();
    perf.check(took < Duration::from_secs(5), || format!("took {took:?}"));
    vec![row, perf]
}

/// Every fixture is one case, passed when all its visible-text assertions
/// hold. `visible_text`, `visible_text_contains/excludes` and `max_seconds`
/// apply as written. The fragment assertions translate through the rule
/// of email_reply_parser that the visible text is the concatenation, in
/// order, of the fragments not hidden: a visible fragment's `equals`,
/// `regex` or `contains` must be found in our text after the fragments
/// before it, a hidden one's must not be found after the last visible
/// fragment located before it. Where the test gives no `hidden` list, the
/// first fragment is the reply (visible) and a fragment opening with an
/// "On …" attribution is the quoted history below it (hidden); a single
/// fragment is the whole mail.
///
/// Not scored, per case:
/// - `email_1_2` fragment 1 and `email_1_8` fragment 0: the "On … wrote:"
///   line above a quote that the reply answers inline. email_reply_parser
///   shows it; Discourse's `embedded_email_7` (the same shape: text, that
///   line, its quote, then the reply) requires it cut, and gazette follows
///   Discourse's exact-match corpus. The quote and the replies around it
///   are still scored.
/// - Fragment counts and the quoted/signature flags: they describe
///   email_reply_parser's own data model and have no counterpart in a
///   trimmed text. `email_long_quote` asserts nothing else but its time
///   limit, which is scored, as is `pathological`'s.
pub fn github(missing: &mut Vec<String>) -> Vec<Row> {
    let Some(dir) = corpus(GITHUB, missing) else {
        return Vec::new();
    };
    let expected: Value =
        serde_json::from_str(&read(&dir.join("expected.json"))).expect("expected.json parses");
    let mut row = Row::new(
        GITHUB,
        "fixtures whose visible-text assertions all hold",
        Floor::Cases(22),
    );
    for (name, checks) in expected
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
    {
        let input = read(&dir.join("emails").join(format!("{name}.txt")));
        let started = Instant::now();
        let text = trim_reply(&input).text;
        let elapsed = started.elapsed();
        let mut wrong = Vec::new();
        if let Some(want) = checks["visible_text"].as_str() {
            if text.trim() != want.trim() {
                wrong.push(format!("visible text is {text:?}"));
            }
        }
        for want in strings(&checks["visible_text_contains"]) {
            if !text.contains(want) {
                wrong.push(format!("lacks {want:?}"));
            }
        }
        for unwanted in strings(&checks["visible_text_excludes"]) {
            if text.contains(unwanted) {
                wrong.push(format!("has {unwanted:?}"));
            }
        }
        if let Some(max) = checks["max_seconds"].as_f64() {
            let limit = Duration::from_secs_f64(max) * TIME_HEADROOM;
            if elapsed > limit {
                wrong.push(format!("took {elapsed:?}, limit {limit:?}"));
            }
        }
        if let Some(fragments) = checks.get("fragments") {
            wrong.extend(fragment_checks(fragments, &input, &text));
        }
        row.check(wrong.is_empty(), || format!("{name}: {}", wrong.join("; ")));
    }
    vec![row]
}

/// What the fragment assertions say about the visible text, as failures.
fn fragment_checks(fragments: &Value, input: &str, text: &str) -> Vec<String> {
    let count = fragments["count"].as_u64().unwrap_or(0) as usize;
    let keyed = |key: &str| fragments[key].as_object().cloned().unwrap_or_default();
    let (equals, regexes, contains) = (keyed("equals"), keyed("regex"), keyed("contains"));
    let mut indexes: Vec<usize> = equals
        .keys()
        .chain(regexes.keys())
        .chain(contains.keys())
        .filter_map(|k| k.parse().ok())
        .collect();
    indexes.sort();
    indexes.dedup();
    let hidden = |i: usize| -> bool {
        if let Some(h) = fragments["hidden"].as_array() {
            return h.get(i).and_then(Value::as_bool).unwrap_or(false);
        }
        let attribution = |j: usize| {
            regexes
                .get(&j.to_string())
                .and_then(Value::as_str)
                .is_some_and(|r| r.starts_with("^On"))
        };
        i > 0 && (0..=i).any(attribution)
    };
    let visible = normalize(text);
    let mut wrong = Vec::new();
    if count == 1 && indexes.is_empty() {
        if visible != normalize(input) {
            wrong.push(format!(
                "one fragment: the whole mail should be visible, got {text:?}"
            ));
        }
        return wrong;
    }
    let quoted = |i: usize| fragments["quoted"][i].as_bool().unwrap_or(false);
    // Where the fragments located so far end in our text.
    let mut cursor = 0;
    for i in indexes {
        let key = i.to_string();
        let shown = !hidden(i);
        let rest = &visible[cursor..];
        let mut found_at: Option<usize> = None;
        let mut expect = |at: Option<usize>, what: String| {
            if at.is_some() != shown {
                let want = if shown { "visible" } else { "hidden" };
                wrong.push(format!("fragment {i} should be {want}: {what}"));
            }
            if shown {
                found_at = match (found_at, at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        };
        if let Some(e) = equals.get(&key).and_then(Value::as_str) {
            let e = normalize(e);
            if !e.is_empty() {
                expect(rest.find(&e), format!("{e:?}"));
            }
        }
        if let Some(r) = regexes.get(&key).and_then(Value::as_str) {
            let interleaved_attribution = shown && quoted(i) && r.starts_with("^On");
            if !interleaved_attribution {
                // `^` is the start of the fragment, which starts a line.
                let re = Regex::new(&format!("(?m){r}")).expect("fixture regex");
                expect(re.find(rest).map(|m| m.start()), format!("/{r}/"));
            }
        }
        for c in contains.get(&key).into_iter().flat_map(strings) {
            expect(rest.find(c), format!("{c:?}"));
        }
        if let Some(at) = found_at {
            cursor += at;
        }
    }
    wrong
}

/// Line endings unified and trailing spaces dropped, as the Ruby
/// fragments drop them; outer whitespace trimmed.
fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}
