//! The inbound classifier on every file of Sisimai's corpus
//! (`../shared/corpora/sisimai-set-of-emails`): CRLF and CR-only copies
//! classify as their LF originals, and nothing panics. The labels are
//! scored by `cargo test --test score`. Skipped with a message when the
//! corpora are absent.

use gazette::inbound::classify::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpora/sisimai-set-of-emails"
    ));
    p.is_dir().then(|| p.to_path_buf())
}

fn kind(c: &Classification) -> String {
    match c {
        Classification::Bounce(r) => format!("Bounce({})", r.recipients.len()),
        Classification::Complaint(c) => format!("Complaint({})", c.feedback_type),
        Classification::AutoReply { reason } => format!("AutoReply({reason})"),
        Classification::Ordinary => "Ordinary".to_string(),
    }
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// CRLF and CR-only copies classify exactly as their LF originals.
#[test]
fn line_endings_do_not_matter() {
    let Some(root) = corpus() else {
        eprintln!("skipped: ../shared/corpora not found");
        return;
    };
    let mut differ = Vec::new();
    for dir in ["dos", "mac"] {
        for path in eml_files(&root.join("maildir").join(dir)) {
            let bsd = root.join("maildir/bsd").join(path.file_name().unwrap());
            let Ok(original) = std::fs::read(&bsd) else {
                continue;
            };
            let (a, b) = (
                classify_raw(&std::fs::read(&path).unwrap(), None),
                classify_raw(&original, None),
            );
            if kind(&a) != kind(&b) {
                differ.push(format!(
                    "{}: {} vs bsd {}",
                    path.display(),
                    kind(&a),
                    kind(&b)
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
}

/// Splits an mbox on its "From " separator lines.
fn mbox_messages(raw: &[u8]) -> Vec<&[u8]> {
    let mut starts = vec![0];
    starts.extend(
        raw.windows(6)
            .enumerate()
            .filter(|(_, w)| w == b"\nFrom ")
            .map(|(i, _)| i + 1),
    );
    starts
        .iter()
        .zip(starts.iter().skip(1).chain([&raw.len()]))
        .map(|(&s, &e)| &raw[s..e])
        .collect()
}

#[test]
fn every_file_classifies_without_panicking() {
    let Some(root) = corpus() else {
        eprintln!("skipped: ../shared/corpora not found");
        return;
    };
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for dir in ["bsd", "dos", "mac", "err", "not", "tmp"] {
        for path in eml_files(&root.join("maildir").join(dir)) {
            inputs.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    for path in eml_files(&root.join("mailbox")) {
        let raw = std::fs::read(&path).unwrap();
        for (i, m) in mbox_messages(&raw).into_iter().enumerate() {
            inputs.push((format!("{}#{i}", path.display()), m.to_vec()));
        }
    }
    assert!(
        inputs.len() > 800,
        "corpus looks incomplete: {} inputs",
        inputs.len()
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut panics = Vec::new();
    for (name, raw) in &inputs {
        match std::panic::catch_unwind(|| classify_raw(raw, None)) {
            Ok(c) => {
                *kinds
                    .entry(kind(&c).split('(').next().unwrap().to_string())
                    .or_default() += 1
            }
            Err(_) => panics.push(name.clone()),
        }
    }
    eprintln!("{} inputs classified: {kinds:?}", inputs.len());
    assert!(panics.is_empty(), "classify_raw panicked on: {panics:#?}");
}
