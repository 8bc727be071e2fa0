//! The reply trimmer on Discourse's email_reply_trimmer fixtures sent as
//! HTML: `html_to_text` must hand the trimmer what plain text would. The
//! corpora themselves are scored by `cargo test --test score`.

use std::fs;
use std::path::{Path, PathBuf};

use gazette::trim::{html_to_text, trim_reply};

const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpora");

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
