//! The inbound pipeline cannot wedge, on both databases: a Message-ID of
//! any length is stored (its dedupe key is a hash); the same message
//! arriving twice at once is handled once; messages that always fail back
//! off and are finally parked, and never keep the others from being
//! handled; one SMTP transaction to several recipients stores the message
//! once; `ingest` exits 65 for a message it cannot parse.

use crate::common::*;
use gazette::app::{Ctx, List};
use gazette::inbound::pipeline::{receive, resume_unhandled, Incoming};
use gazette::store::InboundStatus;

async fn setup(db: &TestDb) -> (Ctx, List) {
    let ctx = Ctx::open(test_config(db, "file:///nonexistent", &[]))
        .await
        .unwrap();
    let list = seed_list(&ctx, 3).await;
    (ctx, list)
}

fn incoming<'a>(raw: &'a [u8], from: &'a str) -> Incoming<'a> {
    Incoming {
        transport: "stdin",
        mail_from: Some(from),
        recipient: LIST_ADDRESS,
        raw,
        trace: "",
        client: None,
    }
}

async fn count(ctx: &Ctx, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(ctx.store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_message_id_is_stored_and_dedupes() {
    for db in databases().await {
        let (ctx, _) = setup(&db).await;
        let id = format!("{}@example.org", "x".repeat(4000));
        let raw = mail("m1@example.org", LIST_ADDRESS, "Long id", "Body.", &id);
        let first = receive(&ctx, &incoming(raw.as_bytes(), "m1@example.org"))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        assert_eq!(first.outcome.status, InboundStatus::Accepted, "{first:?}");
        let again = receive(&ctx, &incoming(raw.as_bytes(), "m1@example.org"))
            .await
            .unwrap();
        assert!(again.duplicate && again.inbound_id == first.inbound_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_message_twice_at_once_is_handled_once() {
    for db in databases().await {
        let (ctx, _) = setup(&db).await;
        for n in 0..10 {
            let raw = mail(
                "m1@example.org",
                LIST_ADDRESS,
                &format!("Question {n}"),
                "What do you think?",
                &format!("twice-{n}@example.org"),
            );
            let (one, two) = (
                incoming(raw.as_bytes(), "m1@example.org"),
                incoming(raw.as_bytes(), "m1@example.org"),
            );
            let (a, b) = tokio::join!(receive(&ctx, &one), receive(&ctx, &two));
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.inbound_id, b.inbound_id);
            let row = ctx.store.inbound(a.inbound_id).await.unwrap().unwrap();
            assert_eq!(row.attempts, 1, "handled by one of the two deliveries only");
            assert_eq!(row.status, InboundStatus::Accepted);
        }
        // seed_list asked one question; ten more, each once.
        assert_eq!(count(&ctx, "SELECT COUNT(*) FROM questions").await, 11);
        let acks = count(
            &ctx,
            "SELECT COUNT(*) FROM outbox WHERE payload LIKE '%question_posted%'",
        )
        .await;
        // One acknowledgement per question, none twice, within the
        // budget of a few a day per member (m1 asked ten).
        let budget = gazette::notices::ACKS_PER_DAY as i64;
        assert_eq!(acks, 1 + budget, "m0's, then m1's first {budget}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_messages_back_off_are_parked_and_never_block_the_others() {
    for db in databases().await {
        let (ctx, list) = setup(&db).await;
        // A member whose row cannot be read: every message from them fails.
        sqlx::query("UPDATE members SET status = 'zombie' WHERE email = 'm2@example.org'")
            .execute(ctx.store.pool())
            .await
            .unwrap();
        for n in 0..120 {
            let raw = mail(
                "m2@example.org",
                LIST_ADDRESS,
                "Hi",
                "Body",
                &format!("z{n}@example.org"),
            );
            let r = receive(&ctx, &incoming(raw.as_bytes(), "m2@example.org")).await;
            let r = r.expect("kept and accepted, not a temporary failure");
            assert_eq!(r.outcome.status, InboundStatus::Received);
        }
        // A message stored but never handled (its process died), behind them.
        let good = mail(
            "m1@example.org",
            LIST_ADDRESS,
            "Still here?",
            "Body",
            "good@example.org",
        );
        let key_rows = [gazette::store::inbound::NewInbound {
            dedupe_key: "sha256:test-good",
            message_id: Some("good@example.org"),
            transport: "stdin",
            mail_from: Some("m1@example.org"),
            rcpt_to: LIST_ADDRESS,
            from_addr: Some("m1@example.org"),
            subject: Some("Still here?"),
        }];
        let id = ctx
            .store
            .insert_inbound_all(good.as_bytes(), &key_rows)
            .await
            .unwrap()[0]
            .unwrap();
        assert_eq!(
            resume_unhandled(&ctx).await.unwrap(),
            1,
            "the good one, despite 120 failing"
        );
        let row = ctx.store.inbound(id).await.unwrap().unwrap();
        assert_eq!(row.status, InboundStatus::Accepted, "{}", row.reason);
        // Not due yet: the failing ones are not tried on every pass.
        assert_eq!(resume_unhandled(&ctx).await.unwrap(), 0);
        let zombie = ctx
            .store
            .recent_inbound(Some(InboundStatus::Received), 1000)
            .await
            .unwrap();
        assert_eq!(zombie.len(), 120);
        assert!(zombie
            .iter()
            .all(|r| r.attempts == 1 && r.reason.contains("attempt 1 of")));
        // The last attempt: parked as failed, with the reason.
        let victim = zombie[0].id;
        sqlx::query("UPDATE inbound SET attempts = 11, next_attempt_at = 0 WHERE id = $1")
            .bind(victim)
            .execute(ctx.store.pool())
            .await
            .unwrap();
        resume_unhandled(&ctx).await.unwrap();
        let parked = ctx.store.inbound(victim).await.unwrap().unwrap();
        assert_eq!(parked.status, InboundStatus::Failed);
        assert!(
            parked.reason.contains("gave up after 12 attempts"),
            "{}",
            parked.reason
        );
        assert!(
            parked.reason.contains("members.status holds `zombie`"),
            "{}",
            parked.reason
        );
        // The operator fixes the cause and queues it again.
        sqlx::query("UPDATE members SET status = 'active' WHERE email = 'm2@example.org'")
            .execute(ctx.store.pool())
            .await
            .unwrap();
        assert_eq!(ctx.store.requeue_inbound(victim).await.unwrap(), 1);
        assert_eq!(resume_unhandled(&ctx).await.unwrap(), 1);
        let done = ctx.store.inbound(victim).await.unwrap().unwrap();
        assert_eq!(done.status, InboundStatus::Accepted, "{}", done.reason);
        let _ = list;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_transaction_to_several_recipients_stores_the_message_once() {
    for db in databases().await {
        let app = spawn_app(&db, "file:///nonexistent", &[]).await;
        let list = seed_list(&app.ctx, 2).await;
        let body = "word ".repeat(50_000);
        let raw = mail(
            "m1@example.org",
            LIST_ADDRESS,
            "Big",
            &body,
            "big@example.org",
        );
        let to = [
            list.posting(),
            list.command(&gazette::address::Command::Help),
            list.command(&gazette::address::Command::Subscribe),
        ];
        let mut cmd = "EHLO test\r\nMAIL FROM:<m1@example.org>\r\n".to_string();
        for t in &to {
            cmd.push_str(&format!("RCPT TO:<{t}>\r\n"));
        }
        smtp_transaction(app.smtp_addr, &cmd, &raw).await;
        let ctx = &app.ctx;
        assert_eq!(count(ctx, "SELECT COUNT(*) FROM inbound").await, 3);
        assert_eq!(count(ctx, "SELECT COUNT(*) FROM inbound_raw").await, 1);
        assert_eq!(
            count(ctx, "SELECT COUNT(DISTINCT raw_id) FROM inbound").await,
            1,
            "every recipient's row points at the one copy"
        );
        app.stop().await;
    }
}

/// Speaks a pipelined SMTP transaction: `commands` (EHLO, MAIL, RCPTs),
/// then DATA with `raw`; waits for the server to answer the message.
async fn smtp_transaction(addr: std::net::SocketAddr, commands: &str, raw: &str) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(format!("{commands}DATA\r\n").as_bytes())
        .await
        .unwrap();
    loop {
        let line = lines.next_line().await.unwrap().unwrap();
        assert!(!line.starts_with('5') && !line.starts_with('4'), "{line}");
        if line.starts_with("354") {
            break;
        }
    }
    let dotted = raw.replace("\r\n.", "\r\n..");
    w.write_all(format!("{dotted}\r\n.\r\n").as_bytes())
        .await
        .unwrap();
    let reply = lines.next_line().await.unwrap().unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    w.write_all(b"QUIT\r\n").await.unwrap();
}

#[test]
fn ingest_exits_65_for_a_message_it_cannot_parse() {
    let dir = tempfile::tempdir().unwrap();
    let env = |cmd: &mut std::process::Command| {
        cmd.current_dir(dir.path())
            .env("GAZETTE_CONFIG", "/dev/null")
            .env_remove("GAZETTE_DATABASE_URL");
    };
    let mut create = std::process::Command::new(env!("CARGO_BIN_EXE_gazette"));
    env(&mut create);
    assert!(create
        .args(["list", "create", LIST_ADDRESS, "--name", "PM"])
        .output()
        .unwrap()
        .status
        .success());
    let mut ingest = std::process::Command::new(env!("CARGO_BIN_EXE_gazette"));
    env(&mut ingest);
    let mut child = ingest
        .args([
            "ingest",
            "--recipient",
            LIST_ADDRESS,
            "--sender",
            "a@example.org",
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b":").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("could not be parsed"), "{err}");
}
