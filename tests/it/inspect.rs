//! `gazette inspect` and `gazette inbound show`: every corpus file gets a
//! JSON answer and exit 0, nothing is read or written but the message, and
//! a stored message is explained the same way with its recorded outcome.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CLASSES: &[&str] = &["ordinary", "auto_reply", "bounce", "delayed", "complaint"];

fn gazette(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gazette"))
        .args(args)
        .current_dir(dir)
        .env_remove("GAZETTE_DATABASE_URL")
        .env_remove("GAZETTE_CONFIG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gazette runs");
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// The JSON of a successful `inspect`, checked for the promised shape.
fn answer(out: &Output, what: &str) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let class = v["class"].as_str().unwrap_or("");
    assert!(CLASSES.contains(&class), "{what}: class {class:?}");
    assert!(
        v["reasons"].as_array().is_some_and(|r| !r.is_empty()),
        "{what}: no reasons"
    );
    match class {
        "ordinary" => assert!(
            v["reply_text"].is_string() && v["elided"].is_string(),
            "{what}"
        ),
        "bounce" | "delayed" => {
            let recipients = v["recipients"].as_array().expect("recipients");
            assert!(!recipients.is_empty(), "{what}");
            for r in recipients {
                for key in ["address", "status", "permanent", "reason", "diagnostic"] {
                    assert!(r.get(key).is_some(), "{what}: recipient without {key}");
                }
                assert!(r["permanent"].is_boolean(), "{what}");
            }
        }
        "complaint" => assert!(v["feedback_type"].is_string(), "{what}"),
        _ => {}
    }
    v
}

fn corpus_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            corpus_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "eml" || e == "txt")
            || p.parent().is_some_and(|d| d.ends_with("mailbox"))
        {
            out.push(p);
        }
    }
}

#[test]
fn every_corpus_file_gets_json_and_exit_0() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
    if !root.is_dir() {
        eprintln!("skipped: ../shared/corpora not found");
        return;
    }
    let mut files = Vec::new();
    corpus_files(&root, &mut files);
    assert!(
        files.len() > 1000,
        "corpora look incomplete: {}",
        files.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut classes = std::collections::BTreeMap::new();
    for f in &files {
        let out = gazette(dir.path(), &["inspect", f.to_str().unwrap()], &[], b"");
        let v = answer(&out, &f.display().to_string());
        *classes
            .entry(v["class"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    eprintln!("{} files inspected: {classes:?}", files.len());
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn reads_stdin_needs_nothing_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A broken configuration is not read, and no database is created.
    std::fs::write(dir.path().join("gazette.toml"), "this is = not [toml").unwrap();
    let reply = "From: Ann <ann@example.com>\nTo: pm@lists.example.org\nSubject: Re: Q\n\n\
                 Ship it on Tuesday.\n\nOn Mon, 2 Mar 2026 at 09:00, Bob <bob@example.com> wrote:\n> When?\n";
    let out = gazette(
        dir.path(),
        &["inspect"],
        &[("GAZETTE_DATABASE_URL", "sqlite://gazette.db?mode=rwc")],
        reply.as_bytes(),
    );
    let v = answer(&out, "stdin");
    assert_eq!(v["class"], "ordinary");
    assert_eq!(v["reply_text"], "Ship it on Tuesday.");
    assert!(v["elided"].as_str().unwrap().contains("> When?"));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["gazette.toml"]);

    // The null sender given on the command line makes the same mail a robot's.
    let out = gazette(
        dir.path(),
        &["inspect", "--sender", "<>"],
        &[],
        reply.as_bytes(),
    );
    assert_eq!(answer(&out, "--sender <>")["class"], "auto_reply");
}

#[test]
fn unreadable_input_still_answers_and_only_io_errors_fail() {
    let dir = tempfile::tempdir().unwrap();
    for input in [&b""[..], b"\0\xff\xfe garbage", b"not a mail at all\n"] {
        answer(&gazette(dir.path(), &["inspect"], &[], input), "odd input");
    }
    let out = gazette(dir.path(), &["inspect", "no-such-file.eml"], &[], b"");
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-file.eml"));
}

#[test]
fn inbound_show_explains_a_stored_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let env = [
        ("GAZETTE_DATABASE_URL", db.as_str()),
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_SMTP_URL", "file://outbox"),
    ];
    let run = |args: &[&str], stdin: &[u8]| gazette(dir.path(), args, &env, stdin);
    assert!(run(
        &["list", "create", "pm@lists.example.org", "--name", "PM"],
        b""
    )
    .status
    .success());
    let bounce = "From: MAILER-DAEMON@mx.example.net\nTo: pm+bounce-x@lists.example.org\n\
        Subject: Delivery Status Notification (Failure)\nMessage-ID: <dsn-1@mx.example.net>\nMIME-Version: 1.0\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
        --b\nContent-Type: text/plain\n\nSorry.\n\n--b\nContent-Type: message/delivery-status\n\n\
        Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; gone@example.net\nAction: failed\n\
        Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n\n--b--\n";
    let out = run(
        &[
            "ingest",
            "--recipient",
            "pm+bounce-x@lists.example.org",
            "--sender",
            "",
        ],
        bounce.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&["inbound", "show", "1", "--explain"], b"");
    let v = answer(&out, "show --explain");
    assert_eq!(v["class"], "bounce");
    assert_eq!(v["recipients"][0]["address"], "gone@example.net");
    assert_eq!(v["recipients"][0]["reason"], "userunknown");
    assert_eq!(v["id"], 1);
    assert_eq!(v["kind"], "bounce");
    assert!(v["status"].is_string() && v["reason"].is_string(), "{v}");

    let out = run(&["inbound", "show", "1"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    let head: Vec<&str> = text.lines().take(2).collect();
    assert!(
        head[0].starts_with("X-Gazette-Inbound: #1, status "),
        "{text}"
    );
    assert!(head[0].ends_with("kind bounce"), "{text}");
    assert!(head[1].starts_with("X-Gazette-Reason: "), "{text}");
    assert!(text.contains("Final-Recipient: rfc822; gone@example.net"));
    // The output is still a message: inspect reads it the same way.
    let again = gazette(dir.path(), &["inspect"], &[], text.as_bytes());
    assert_eq!(answer(&again, "show | inspect")["class"], "bounce");

    let out = run(&["inbound", "show", "1", "--raw"], b"");
    assert!(out.stdout.ends_with(bounce.as_bytes()));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("X-Gazette"));
}
