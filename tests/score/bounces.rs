//! The inbound classifier against Sisimai's labelled corpus
//! (`sisimai-set-of-emails`, labels from go-sisimai's tests): whether each
//! labelled file is a bounce, complaint or vacation reply as labelled, how
//! many recipients a report names, hard versus soft, permanence versus
//! the status class (also without the delay warnings that Sisimai labels
//! with a permanent pseudo code of its own, against the report's "Action:
//! delayed"), the reason in Sisimai's taxonomy, the feedback type of
//! complaints; every RFC 3834 sample an auto-reply, every ARF sample a
//! complaint, and the negatives not bounces.

use crate::{corpus, Floor, Row};
use gazette::inbound::classify::{classify_raw, Classification};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SISIMAI: &str = "sisimai-set-of-emails";

/// labels.tsv: file, recipient_index, dsn_status, smtp_replycode, reason,
/// hardbounce, feedback_type.
struct Label {
    status: String,
    reason: String,
    hard: bool,
    feedback_type: String,
}

fn labels(root: &Path) -> BTreeMap<String, Vec<Label>> {
    let tsv = std::fs::read_to_string(root.join("labels.tsv")).expect("labels.tsv");
    let mut out: BTreeMap<String, Vec<Label>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        out.entry(c[0].to_string()).or_default().push(Label {
            status: c[2].to_string(),
            reason: c[4].to_string(),
            hard: c[5] == "true",
            feedback_type: c.get(6).unwrap_or(&"").to_string(),
        });
    }
    out
}

fn kind(c: &Classification) -> String {
    match c {
        Classification::Bounce(r) => format!("Bounce({})", r.recipients.len()),
        Classification::Complaint(c) => format!("Complaint({})", c.feedback_type),
        Classification::AutoReply { reason } => format!("AutoReply({reason})"),
        Classification::Ordinary => "Ordinary".to_string(),
    }
}

pub fn sisimai(missing: &mut Vec<String>) -> Vec<Row> {
    let Some(root) = corpus(SISIMAI, missing) else {
        return Vec::new();
    };
    let mut rows = labelled(&root);
    rows.extend(samples(&root));
    rows
}

fn labelled(root: &Path) -> Vec<Row> {
    let row = |metric: &str, floor: f64| Row::new(SISIMAI, metric, Floor::Percent(floor));
    let mut detect = row("detection: the class the label implies", 99.0);
    let mut count = row("recipients per report", 99.4);
    let mut hard = row("hard bounce agreement", 94.8);
    let mut permanent = row("permanent/temporary agreement with the status class", 98.6);
    let mut permanent_final = row(
        "permanent/temporary agreement, delay warnings with a pseudo-code label aside",
        99.0,
    );
    let mut reason = row("reason agreement", 90.0);
    let mut feedback = row("feedback type of complaints", 100.0);
    for (file, labels) in labels(root) {
        let Ok(raw) = std::fs::read(root.join(&file)) else {
            continue;
        };
        let got = classify_raw(&raw, None);
        let want = labels[0].reason.as_str();
        let (ok, recipients) = match (&got, want) {
            (Classification::Complaint(c), "feedback") => {
                feedback.check(c.feedback_type == labels[0].feedback_type, || {
                    format!(
                        "{file}: want {}, got {}",
                        labels[0].feedback_type, c.feedback_type
                    )
                });
                (true, c.original_recipients.len().max(1))
            }
            (Classification::AutoReply { .. }, "vacation") => (true, 1),
            (Classification::Bounce(r), w) if w != "feedback" && w != "vacation" => {
                (true, r.recipients.len())
            }
            _ => (false, 0),
        };
        detect.check(ok, || format!("{file}: want {want}, got {}", kind(&got)));
        if !ok {
            continue;
        }
        count.check(recipients == labels.len(), || {
            format!("{file}: {} labelled, {recipients} found", labels.len())
        });
        let Classification::Bounce(report) = &got else {
            continue;
        };
        for (i, (label, r)) in labels.iter().zip(&report.recipients).enumerate() {
            let at = format!("{file}#{}", i + 1);
            hard.check(label.hard == r.hard, || {
                format!(
                    "{at}: want hard={} ({}), got {} ({}, {:?})",
                    label.hard, label.reason, r.hard, r.reason, r.status
                )
            });
            if let Some(class) = label.status.chars().next() {
                let why = || {
                    format!(
                        "{at}: status {} ({}), got permanent={} ({:?}, {:?})",
                        label.status, label.reason, r.permanent, r.action, r.status
                    )
                };
                let agrees = (class == '5') == r.permanent;
                permanent.check(agrees, why);
                if !(pseudo_code(&label.status) && says_only_delayed(&raw)) {
                    permanent_final.check(agrees, why);
                }
            }
            reason.check(label.reason == r.reason, || {
                format!(
                    "{at}: want {}, got {} ({:?})",
                    label.reason, r.reason, r.status
                )
            });
        }
    }
    vec![
        detect,
        count,
        hard,
        permanent,
        permanent_final,
        reason,
        feedback,
    ]
}

/// Sisimai's own codes (`5.0.947`), which it assigns when the report gives
/// none or it overrides the report: the class there is Sisimai's guess.
fn pseudo_code(status: &str) -> bool {
    status
        .rsplit('.')
        .next()
        .and_then(|d| d.parse::<u32>().ok())
        .is_some_and(|d| d >= 900)
}

/// Whether the report itself says delivery is only delayed, in RFC 3464
/// fields or in the words of a warning: temporary by definition, whatever
/// class a label gives it.
fn says_only_delayed(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw).to_lowercase();
    let field = Regex::new(r"(?m)^action:\s*delayed").expect("regex");
    field.is_match(&text)
        || ["warning message only", "only a temporary failure report"]
            .iter()
            .any(|p| text.contains(p))
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Every RFC 3834 sample and every ARF sample in every line-ending
/// variant, labelled or not, and the negatives.
fn samples(root: &Path) -> Vec<Row> {
    let mut vacation = Row::new(
        SISIMAI,
        "RFC 3834 samples are auto-replies",
        Floor::Percent(100.0),
    );
    let mut arf = Row::new(SISIMAI, "ARF samples are complaints", Floor::Percent(100.0));
    for dir in ["bsd", "dos", "mac"] {
        for path in eml_files(&root.join("maildir").join(dir)) {
            let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            let got = || classify_raw(&std::fs::read(&path).unwrap(), None);
            if name.contains("/rfc3834-") {
                let got = got();
                let ok = matches!(got, Classification::AutoReply { .. });
                vacation.check(ok, || format!("{name}: {}", kind(&got)));
            } else if name.contains("/arf-") {
                let got = got();
                let ok = matches!(got, Classification::Complaint(_));
                arf.check(ok, || format!("{name}: {}", kind(&got)));
            }
        }
    }
    vec![vacation, arf, negatives(root)]
}

/// Sisimai's negatives are not bounces, except one that is a bounce in
/// fact: rb-issue-368-bug.eml sits in `not/` because it once crashed
/// Sisimai, yet it is a postmaster's "Mailbox full" rejection (Return-Path
/// <>, "an email you sent was rejected", "target mail address: …"), and
/// gazette must count it as one. It is scored as what it is.
fn negatives(root: &Path) -> Row {
    let mut row = Row::new(
        SISIMAI,
        "maildir/not: not bounces (rb-issue-368: a bounce)",
        Floor::Percent(100.0),
    );
    for path in eml_files(&root.join("maildir/not")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let got = classify_raw(&std::fs::read(&path).unwrap(), None);
        let bounce = matches!(got, Classification::Bounce(_));
        let want_bounce = name == "rb-issue-368-bug.eml";
        row.check(bounce == want_bounce, || {
            format!("not/{name}: {}", kind(&got))
        });
    }
    row
}
