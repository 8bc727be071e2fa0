//! Scores the reply trimmer against real-world corpora in `../shared/corpora`:
//! Discourse's email_reply_trimmer fixtures (exact trimmed and elided text)
//! and GitHub's email_reply_parser fixtures (visible-text assertions and
//! time limits). Each test prints its score and the failing cases, and fails
//! if the score drops below the recorded floor.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gazette::trim::{html_to_text, trim_reply};

const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpora");

/// Scores achieved when these floors were set; a drop is a regression.
const DISCOURSE_FLOOR: usize = 64;
const GITHUB_FLOOR: usize = 12;

/// Time limits in the corpora guard against catastrophic behaviour, not
/// speed; the headroom keeps slow CI machines and debug builds from flaking.
const TIME_HEADROOM: u32 = 10;

fn corpus(name: &str) -> Option<PathBuf> {
    let dir = Path::new(CORPORA).join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/corpora not found ({})", dir.display());
        None
    }
}

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

fn report(corpus: &str, passed: usize, total: usize, failures: &[String]) {
    eprintln!("{corpus}: {passed}/{total}");
    for failure in failures {
        eprintln!("  FAIL {failure}");
    }
}

#[test]
fn discourse_email_reply_trimmer() {
    let Some(dir) = corpus("discourse-email_reply_trimmer") else {
        return;
    };
    let names = fixture_names(&dir.join("emails"));
    let mut failures = Vec::new();
    for name in &names {
        let file = format!("{name}.txt");
        let got = trim_reply(&read(&dir.join("emails").join(&file)));
        let want_text = read(&dir.join("trimmed").join(&file));
        let want_elided = read(&dir.join("elided").join(&file));
        let text_ok = got.text.trim() == want_text.trim();
        let elided_ok = got.elided.trim() == want_elided.trim();
        if !(text_ok && elided_ok) {
            let what = match (text_ok, elided_ok) {
                (false, false) => "text and elided",
                (false, true) => "text",
                _ => "elided",
            };
            failures.push(format!("{name} ({what} differ)"));
        }
    }
    let passed = names.len() - failures.len();
    report(
        "discourse-email_reply_trimmer",
        passed,
        names.len(),
        &failures,
    );

    let perf = dir.join("matchers/does_not_contain_embedded_email.txt");
    if perf.exists() {
        let input = read(&perf);
        let started = Instant::now();
        trim_reply(&input);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "matcher performance case too slow"
        );
    }
    assert!(
        passed >= DISCOURSE_FLOOR,
        "discourse score {passed} below floor {DISCOURSE_FLOOR}"
    );
}

#[test]
fn github_email_reply_parser() {
    let Some(dir) = corpus("github-email_reply_parser") else {
        return;
    };
    let expected: serde_json::Value =
        serde_json::from_str(&read(&dir.join("expected.json"))).expect("expected.json parses");
    let fixtures = expected.as_object().expect("expected.json is an object");
    let (mut passed, mut total) = (0, 0);
    let mut failures = Vec::new();
    for (name, checks) in fixtures.iter().filter(|(k, _)| !k.starts_with('_')) {
        let input = read(&dir.join("emails").join(format!("{name}.txt")));
        let started = Instant::now();
        let got = trim_reply(&input);
        let elapsed = started.elapsed();
        let text = got.text.as_str();
        let mut check = |ok: bool, what: String| {
            total += 1;
            if ok {
                passed += 1;
            } else {
                failures.push(format!("{name}: {what}"));
            }
        };
        if let Some(want) = checks["visible_text"].as_str() {
            check(
                text.trim() == want.trim(),
                format!("visible_text is {text:?}"),
            );
        }
        for want in strings(&checks["visible_text_contains"]) {
            check(text.contains(want), format!("visible text lacks {want:?}"));
        }
        for unwanted in strings(&checks["visible_text_excludes"]) {
            check(
                !text.contains(unwanted),
                format!("visible text has {unwanted:?}"),
            );
        }
        if let Some(max) = checks["max_seconds"].as_f64() {
            let limit = Duration::from_secs_f64(max) * TIME_HEADROOM;
            check(
                elapsed <= limit,
                format!("took {elapsed:?}, limit {limit:?}"),
            );
        }
    }
    report("github-email_reply_parser", passed, total, &failures);
    assert!(
        passed >= GITHUB_FLOOR,
        "github score {passed} below floor {GITHUB_FLOOR}"
    );
}

fn strings(value: &serde_json::Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
}

/// The same replies as preformatted HTML: `html_to_text` must hand the
/// trimmer the text it would have got as plain text.
#[test]
fn discourse_corpus_survives_html_round_trip() {
    let Some(dir) = corpus("discourse-email_reply_trimmer") else {
        return;
    };
    let names = fixture_names(&dir.join("emails"));
    let mut failures = Vec::new();
    for name in &names {
        let plain = read(&dir.join("emails").join(format!("{name}.txt")));
        let html = format!("<html><body><pre>{}</pre></body></html>", escape(&plain));
        if trim_reply(&html_to_text(&html)) != trim_reply(&plain) {
            failures.push(name.clone());
        }
    }
    report(
        "discourse via <pre> HTML",
        names.len() - failures.len(),
        names.len(),
        &failures,
    );
    assert!(failures.is_empty());
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
