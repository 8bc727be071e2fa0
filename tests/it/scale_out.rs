//! Three `gazette serve` processes on one PostgreSQL database share the
//! work: mail delivered to any of them (the same message to two of them at
//! once included) is handled once, and the digest schedule fires each slot
//! once, so every member gets the issue once, with every question in it.
//! (Sending shared by several processes, with one of them killed mid-send,
//! is covered by the delivery fault tests.)

use crate::common::*;
use std::collections::HashMap;
use std::time::Duration;

const MEMBERS: usize = 20;
const QUESTIONS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_share_inbound_and_the_schedule() {
    let Some(url) = postgres_url() else {
        return;
    };
    let db = postgres_db(&url).await;
    let sink = Sink::start(SinkBehaviour::default()).await;
    let base: Vec<(String, String)> = [
        ("GAZETTE_CONFIG", "/dev/null".to_string()),
        ("GAZETTE_DATABASE_URL", db.url.clone()),
        ("GAZETTE_SMTP_URL", sink.url()),
        ("GAZETTE_SCHEDULER_TICK_MS", "100".to_string()),
        ("GAZETTE_INBOUND_CONNECTS_PER_MINUTE", "0".to_string()),
        ("GAZETTE_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    gazette_cmd(
        &base,
        &[
            "list",
            "create",
            LIST_ADDRESS,
            "--name",
            "PM Circle",
            "--schedule",
            "0 0 1 1 *",
        ],
        None,
    );
    let csv: String = (0..MEMBERS)
        .map(|i| format!("m{i}@example.org\n"))
        .collect();
    gazette_cmd(
        &base,
        &["member", "import", "--confirmed", "test", "-"],
        Some(csv.as_bytes()),
    );
    let mut processes = Vec::new();
    let mut smtp = Vec::new();
    for _ in 0..3 {
        let mut env = base.clone();
        let inbound = format!("127.0.0.1:{}", free_port());
        env.push((
            "GAZETTE_HTTP_ADDR".into(),
            format!("127.0.0.1:{}", free_port()),
        ));
        env.push(("GAZETTE_INBOUND_ADDR".into(), inbound.clone()));
        processes.push(gazette_serve(&env));
        smtp.push(inbound.parse::<std::net::SocketAddr>().unwrap());
    }
    for addr in &smtp {
        wait_for(30, "gazette serve to listen", || async {
            tokio::net::TcpStream::connect(addr).await.ok().map(|_| ())
        })
        .await;
    }

    // Each question goes to one process, and a copy of it to another at
    // the same moment, as two MX hosts both delivering would.
    for q in 0..QUESTIONS {
        let from = format!("m{}@example.org", q % MEMBERS);
        let raw = mail(
            &from,
            LIST_ADDRESS,
            &format!("Question {q}"),
            "How do you do it?",
            &format!("q{q}@example.org"),
        );
        let (a, b) = (smtp[q % 3], smtp[(q + 1) % 3]);
        let (x, y) = tokio::join!(
            smtp_send(a, &from, LIST_ADDRESS, &raw),
            smtp_send(b, &from, LIST_ADDRESS, &raw)
        );
        x.unwrap();
        y.unwrap();
    }
    let store = gazette::store::Store::connect(&db.url).await.unwrap();
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    wait_for(30, "every question posted", || async {
        (count("SELECT COUNT(*) FROM inbound WHERE status = 'accepted'").await == QUESTIONS as i64)
            .then_some(())
    })
    .await;
    assert_eq!(
        count("SELECT COUNT(*) FROM questions").await,
        QUESTIONS as i64
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM inbound").await,
        QUESTIONS as i64,
        "each copy deduped"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM outbox WHERE payload LIKE '%question_posted%'").await,
        QUESTIONS as i64,
        "one acknowledgement per question"
    );

    // Now the schedule fires every two seconds; all three processes race
    // for each slot.
    gazette_cmd(
        &base,
        &["list", "set", LIST_ADDRESS, "--schedule", "*/2 * * * * *"],
        None,
    );
    let digests = || {
        let mut per: HashMap<String, Vec<String>> = HashMap::new();
        for m in sink.messages() {
            if m.header("Message-ID")
                .unwrap_or_default()
                .starts_with("<digest.")
            {
                per.entry(m.rcpt.clone()).or_default().push(m.text());
            }
        }
        per
    };
    wait_for(60, "the digest to every member", || async {
        (digests().len() == MEMBERS).then_some(())
    })
    .await;
    // Two more slots pass: empty, so skipped, and nobody gets a second one.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (rcpt, got) in digests() {
        assert_eq!(got.len(), 1, "{rcpt} got {} digests", got.len());
        for q in 0..QUESTIONS {
            assert!(
                got[0].contains(&format!("Question {q}")),
                "{rcpt}'s digest lacks question {q}"
            );
        }
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM digests WHERE status = 'sent'").await,
        1
    );
    let due: Vec<i64> = sqlx::query_scalar("SELECT due_at FROM digests WHERE due_at IS NOT NULL")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let mut distinct = due.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), due.len(), "a slot fired twice: {due:?}");
    for p in &mut processes {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status();
        assert!(p.wait().unwrap().success());
    }
}
