//! Restart safety: a digest to 2,000 members, `gazette serve` killed with
//! SIGKILL while deliveries are in flight, then restarted: every member
//! gets the digest, none twice. Runs the real binary against SQLite and
//! (when configured) PostgreSQL.

use crate::common::*;
use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::Duration;

const MEMBERS: usize = 2000;
const KILL_AFTER: usize = 700;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_send_reaches_everyone_once() {
    for db in databases().await {
        eprintln!("--- restart safety on {}", db.label);
        scenario(&db).await;
    }
}

async fn scenario(db: &TestDb) {
    let sink = Sink::start(SinkBehaviour {
        stall_after: Some(KILL_AFTER),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("GAZETTE_CONFIG", "/dev/null".to_string()),
        ("GAZETTE_DATABASE_URL", db.url.clone()),
        ("GAZETTE_SMTP_URL", sink.url()),
        ("GAZETTE_HTTP_ADDR", format!("127.0.0.1:{}", free_port())),
        ("GAZETTE_INBOUND_ADDR", format!("127.0.0.1:{}", free_port())),
        ("GAZETTE_LEASE_SECS", "3".to_string()),
        ("GAZETTE_SMTP_MAX_CONNECTIONS", "8".to_string()),
        ("GAZETTE_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    gazette_cmd(
        &env,
        &[
            "list",
            "create",
            "pm@lists.example.org",
            "--name",
            "PM Circle",
            "--schedule",
            "0 0 1 1 *",
        ],
        None,
    );
    let csv: String = (0..MEMBERS)
        .map(|i| format!("member{i}@example.org\n"))
        .collect();
    let path = dir.path().join("members.csv");
    std::fs::write(&path, format!("email\n{csv}")).unwrap();
    let out = gazette_cmd(
        &env,
        &[
            "member",
            "import",
            "--confirmed",
            "test",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.contains(&format!("added {MEMBERS} members")), "{out}");
    let q = mail(
        "member0@example.org",
        "pm@lists.example.org",
        "Weekly status formats?",
        "What do you send upward each week?",
        "q@example.org",
    );
    gazette_cmd(
        &env,
        &["ingest", "--recipient", "pm@lists.example.org"],
        Some(q.as_bytes()),
    );
    let out = gazette_cmd(&env, &["digest", "send", "--now"], None);
    assert!(
        out.contains(&format!("sending to {MEMBERS} members")),
        "{out}"
    );

    let mut first = gazette_serve(&env);
    wait_for(120, "the first deliveries", || async {
        (sink.count() >= KILL_AFTER).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // deliveries now hang mid-transaction
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    sink.release();
    let delivered_before = sink.count();

    let mut second = gazette_serve(&env);
    let digest_counts = || {
        let mut per: HashMap<String, usize> = HashMap::new();
        for m in sink.messages() {
            if m.header("Message-ID")
                .unwrap_or_default()
                .starts_with("<digest.")
            {
                *per.entry(m.rcpt.clone()).or_default() += 1;
            }
        }
        per
    };
    wait_for(180, "every member's digest", || async {
        (digest_counts().len() == MEMBERS).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await; // a lease period: any stray duplicate would show now
    let per = digest_counts();
    let twice: Vec<_> = per.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "members who got the digest twice: {twice:?}"
    );
    assert_eq!(per.len(), MEMBERS);
    eprintln!(
        "killed after {delivered_before} deliveries; all {MEMBERS} reached once after restart"
    );

    terminate(&mut second);
}

/// SIGTERM, then wait: the clean shutdown path.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}
