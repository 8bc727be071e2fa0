//! A clean stop: `gazette serve` gets SIGTERM while a digest is going out
//! through a slow relay. It exits 0 within its 30-second drain, leaves no
//! delivery leased, and records as sent exactly what the relay accepted;
//! restarted, it finishes the rest, nobody twice. The real binary, on
//! SQLite and (when configured) PostgreSQL.

use crate::common::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const MEMBERS: usize = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_mid_send_drains_cleanly() {
    for db in databases().await {
        eprintln!("--- clean shutdown on {}", db.label);
        scenario(&db).await;
    }
}

fn digest_counts(sink: &Sink) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for m in sink.messages() {
        if m.header("Message-ID")
            .unwrap_or_default()
            .starts_with("<digest.")
        {
            *per.entry(m.rcpt.clone()).or_insert(0) += 1;
        }
    }
    per
}

async fn scenario(db: &TestDb) {
    let sink = Sink::start(SinkBehaviour::default()).await;
    // Every DATA waits 150 ms: about 25 messages a second over 4 connections.
    let relay = SlowDataProxy::start(sink.addr, usize::MAX, Duration::from_millis(150)).await;
    let env: Vec<(String, String)> = [
        ("GAZETTE_CONFIG", "/dev/null".to_string()),
        ("GAZETTE_DATABASE_URL", db.url.clone()),
        (
            "GAZETTE_SMTP_URL",
            format!("smtp://{}?tls=none", relay.addr),
        ),
        ("GAZETTE_HTTP_ADDR", format!("127.0.0.1:{}", free_port())),
        ("GAZETTE_INBOUND_ADDR", format!("127.0.0.1:{}", free_port())),
        ("GAZETTE_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    gazette_cmd(
        &env,
        &["list", "create", LIST_ADDRESS, "--name", "PM Circle"],
        None,
    );
    let csv: String = (0..MEMBERS)
        .map(|i| format!("m{i}@example.org\n"))
        .collect();
    gazette_cmd(
        &env,
        &["member", "import", "--confirmed", "test", "-"],
        Some(csv.as_bytes()),
    );
    let q = mail(
        "m0@example.org",
        LIST_ADDRESS,
        "Roadmaps?",
        "How far ahead?",
        "q@example.org",
    );
    gazette_cmd(
        &env,
        &["ingest", "--recipient", LIST_ADDRESS],
        Some(q.as_bytes()),
    );
    gazette_cmd(&env, &["digest", "send", "--now"], None);

    let mut first = gazette_serve(&env);
    wait_for(60, "the first digests", || async {
        (digest_counts(&sink).len() >= 20).then_some(())
    })
    .await;
    let stopped_at = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status();
    let status = first.wait().unwrap();
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(31),
        "drained within 30 s"
    );

    // What the relay accepted is what the outbox says was sent; nothing is
    // left leased for a lease to expire on.
    let store = gazette::store::Store::connect(&db.url).await.unwrap();
    let counts = store.outbox_counts().await.unwrap();
    let of = |status: &str| -> i64 {
        counts
            .iter()
            .filter(|(k, s, _)| k.as_str() == "digest" && s.as_str() == status)
            .map(|(_, _, n)| n)
            .sum()
    };
    assert_eq!(of("sending"), 0, "no delivery left leased: {counts:?}");
    let received = digest_counts(&sink);
    assert_eq!(of("sent") as usize, received.len(), "{counts:?}");
    assert!(of("queued") > 0, "the stop came mid-send: {counts:?}");
    store.close().await;

    let mut second = gazette_serve(&env);
    wait_for(60, "every member's digest", || async {
        (digest_counts(&sink).len() == MEMBERS).then_some(())
    })
    .await;
    let twice: Vec<_> = digest_counts(&sink)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    assert!(second.wait().unwrap().success());
}
