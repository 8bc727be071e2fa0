//! Every message of the malformed-MIME and bounce corpora goes through
//! `gazette ingest` without a panic, and each is handled or kept with a
//! reason. Reads `../shared/corpora`; skipped with a message when absent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "eml")
            || p.parent().is_some_and(|d| d.ends_with("mailbox"))
        {
            out.push(p);
        }
    }
}

#[test]
fn corpora_through_ingest() {
    let Some(root) = crate::common::corpus("") else {
        return;
    };
    let mut all = Vec::new();
    files(&root.join("stalwart-mail-parser"), &mut all);
    files(&root.join("sisimai-set-of-emails/maildir"), &mut all);
    files(&root.join("sisimai-set-of-emails/mailbox"), &mut all);
    assert!(
        all.len() > 800,
        "corpora look incomplete: {} files",
        all.len()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    for db in rt.block_on(crate::common::databases()) {
        eprintln!("--- corpora through ingest on {}", db.label);
        through_ingest(&rt, &root, &all, &db.url);
    }
}

fn through_ingest(rt: &tokio::runtime::Runtime, root: &Path, all: &[PathBuf], db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], input: &[u8]| {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_gazette"))
            .args(args)
            .env("GAZETTE_CONFIG", "/dev/null")
            .env("GAZETTE_DATABASE_URL", db)
            .env(
                "GAZETTE_SMTP_URL",
                format!("file://{}", dir.path().join("out").display()),
            )
            .env("GAZETTE_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    let out = run(
        &[
            "list",
            "create",
            "pm@lists.example.org",
            "--name",
            "PM Circle",
        ],
        b"",
    );
    assert!(out.status.success());
    // The senders of the MIME corpus are members, so its malformed
    // messages become questions and answers (NULs, broken charsets and
    // all), not only held mail.
    let senders: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|f| f.starts_with(root.join("stalwart-mail-parser")))
        .filter_map(|f| {
            let raw = std::fs::read(f).ok()?;
            let msg = gazette::inbound::classify::parse_message(&raw)?;
            let addr = msg.from()?.first()?.address()?.to_string();
            gazette::email::EmailAddress::parse(&addr).ok()?;
            Some(addr.to_lowercase())
        })
        .collect();
    let csv: String = senders.iter().map(|a| format!("\"{a}\"\n")).collect();
    let out = run(
        &["member", "import", "--confirmed", "test senders", "-"],
        csv.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut codes, mut panics) = (std::collections::BTreeMap::new(), Vec::new());
    // The inbound ids `ingest` reports: copies of one message (the corpora
    // hold CRLF and CR variants with the same Message-ID) share one id.
    let mut ids = std::collections::BTreeSet::new();
    for f in all {
        let raw = std::fs::read(f).unwrap();
        // Delivery reports arrive with the null sender, as an MTA would say;
        // the MIME corpus comes with no envelope, so Return-Path decides.
        let mut args = vec!["ingest", "--recipient", "pm@lists.example.org"];
        if f.starts_with(root.join("sisimai-set-of-emails")) {
            args.extend(["--sender", "<>"]);
        }
        let out = run(&args, &raw);
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // 65 is also "stored, but unusable" (kept for inspection, with an id).
        let stored = code == 0 || stderr.contains("gazette ingest: #");
        if stored {
            let id = stderr
                .split("gazette ingest: #")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<i64>().ok());
            match id {
                Some(id) => {
                    ids.insert(id);
                }
                None => panics.push(format!("{} accepted without an id: {stderr}", f.display())),
            }
        }
        *codes.entry(code).or_insert(0) += 1;
        if ![0, 65].contains(&code) {
            panics.push(format!(
                "{} exit {code}: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    eprintln!(
        "{} corpus messages through `gazette ingest`, exit codes: {codes:?}",
        all.len()
    );
    assert!(
        panics.is_empty(),
        "unexpected exits:\n{}",
        panics.join("\n")
    );
    // Nothing is left unhandled, and everything not accepted says why.
    rt.block_on(async {
        let store = gazette::store::Store::connect(db).await.unwrap();
        let rows = store.recent_inbound(None, 100_000).await.unwrap();
        let stored: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.id).collect();
        assert_eq!(stored, ids, "every accepted message is stored, once");
        assert!(
            ids.len() * 10 > all.len() * 7,
            "distinct messages stored: {} of {} files",
            ids.len(),
            all.len()
        );
        for r in &rows {
            assert_ne!(
                r.status.as_str(),
                "received",
                "#{} was stored but never handled",
                r.id
            );
            assert!(
                !r.reason.is_empty(),
                "#{} ({}) has no reason",
                r.id,
                r.status
            );
        }
        let mut by: std::collections::BTreeMap<(String, String), usize> = Default::default();
        for r in &rows {
            *by.entry((r.kind.to_string(), r.status.to_string()))
                .or_default() += 1;
        }
        eprintln!("outcomes by (kind, status): {by:?}");
        // `ingest` only queues; `serve` would send. Nothing is queued to a
        // robot: notices answer only ordinary mail (acknowledgements of
        // questions, "not posted" notes to strangers).
        let queued: i64 = store
            .outbox_counts()
            .await
            .unwrap()
            .iter()
            .map(|(_, _, n)| n)
            .sum();
        let ordinary: usize = by
            .iter()
            .filter(|((kind, _), _)| kind == "ordinary")
            .map(|(_, n)| n)
            .sum();
        eprintln!("notices queued in answer: {queued}");
        assert!(
            queued as usize <= ordinary,
            "{queued} notices for {ordinary} ordinary messages"
        );
    });
}
