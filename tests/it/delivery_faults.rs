//! Delivery when the relay misbehaves, on both databases: a relay slower
//! than the lease must not make anyone get a message twice; refusals score
//! bounces only when they are about the recipient; a relay that drops idle
//! connections costs no retries; `outbox retry` gives a requeued row a new
//! retry window.

use crate::common::sink::SlowDataProxy;
use crate::common::*;
use gazette::app::Ctx;
use gazette::config::{SmtpTarget, SmtpTls};
use gazette::digest::send::send_now;
use gazette::outbound::transport::{SendError, Transport};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A list with `members` digest members and one question (so a digest has
/// content, and m0 gets an acknowledgement).
async fn setup(db: &TestDb, smtp_url: &str, members: usize, extra: &[(&str, &str)]) -> Ctx {
    let ctx = Ctx::open(test_config(db, smtp_url, extra)).await.unwrap();
    seed_list(&ctx, members).await;
    ctx
}

/// Stands in for the passing of the backoff: makes every queued row due now.
async fn fast_forward_retries(ctx: &Ctx) {
    sqlx::query("UPDATE outbox SET next_attempt_at = 0 WHERE status = 'queued'")
        .execute(ctx.store.pool())
        .await
        .unwrap();
}

fn per_recipient(sink: &Sink) -> HashMap<String, usize> {
    let mut per: HashMap<String, usize> = HashMap::new();
    for m in sink.messages() {
        let id = m.header("Message-ID").unwrap_or_default();
        *per.entry(format!("{} {id}", m.rcpt)).or_default() += 1;
    }
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_slower_than_the_lease_sends_nothing_twice() {
    const MEMBERS: usize = 10;
    for db in databases().await {
        eprintln!("--- slow relay on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        // DATA answered after 5 s, the lease is 3 s: without a deadline the
        // first sends outlive their lease and another worker sends them again.
        let proxy = SlowDataProxy::start(sink.addr, 3, Duration::from_secs(5)).await;
        let ctx = setup(
            &db,
            &proxy.url(),
            MEMBERS,
            &[
                ("GAZETTE_LEASE_SECS", "3"),
                ("GAZETTE_SMTP_MAX_CONNECTIONS", "2"),
                ("GAZETTE_WORKERS", "2"),
            ],
        )
        .await;
        let list = ctx.list_by_address("pm@lists.example.org").await.unwrap();
        send_now(&ctx, &list).await.unwrap();
        let (stop, workers) = start_workers(&ctx);
        let expected = MEMBERS + 1; // every digest and m0's acknowledgement
        wait_for(90, "every delivery to reach the relay", || async {
            // The rows that timed out back off 30 s or more; skip the wait.
            fast_forward_retries(&ctx).await;
            (per_recipient(&sink).len() == expected).then_some(())
        })
        .await;
        // Any send still hanging from before would land within this.
        tokio::time::sleep(Duration::from_secs(6)).await;
        stop.send(true).unwrap();
        workers.await.unwrap();
        assert!(proxy.delayed() >= 2, "the relay never stalled");
        let twice: Vec<_> = per_recipient(&sink)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(twice.is_empty(), "received twice: {twice:?}");
        assert_eq!(sink.count(), expected);
        let counts = ctx.store.outbox_counts().await.unwrap();
        assert!(
            counts.iter().all(|(_, s, _)| s.as_str() == "sent"),
            "{counts:?}"
        );
        // Each stalled DATA cost its row one attempt; rows that only waited
        // for a connection past their deadline (at least two here) were
        // handed back uncounted. One spare: on a loaded machine a row may get
        // a connection just before its deadline and time out before DATA.
        let mut attempts = Vec::new();
        for id in 1..=expected as i64 {
            attempts.push(ctx.store.outbox_row(id).await.unwrap().unwrap().attempts);
        }
        let total = attempts.iter().sum::<i64>() as usize;
        assert!(
            (expected + proxy.delayed()..=expected + proxy.delayed() + 1).contains(&total),
            "attempts per row {attempts:?}, {} DATA stalled",
            proxy.delayed()
        );
        // The VERP return path travels in the envelope, not as a header.
        assert!(sink
            .messages()
            .iter()
            .all(|m| m.header("Return-Path").is_none() && m.mail_from.starts_with("pm+bounce-")));
        ctx.store.close().await;
    }
}

/// (bounce score, status) of a member of the list.
async fn score(ctx: &Ctx, email: &str) -> (i64, String) {
    let list = ctx.list_by_address("pm@lists.example.org").await.unwrap();
    let m = ctx
        .store
        .member_by_email(list.id(), email)
        .await
        .unwrap()
        .unwrap();
    (m.bounce_score, m.status.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_refusals_about_the_recipient_count_as_bounces() {
    for db in databases().await {
        eprintln!("--- refusals on {}", db.label);
        let mut behaviour = SinkBehaviour::default();
        for (rcpt, code, enhanced) in [
            ("m1@example.org", 550, "5.1.1"),
            ("m2@example.org", 554, "5.7.1"),
            ("m3@example.org", 550, "5.7.26"),
        ] {
            behaviour
                .refuse_with
                .insert(rcpt.into(), (code, enhanced.into()));
        }
        let sink = Sink::start(behaviour).await;
        let ctx = setup(&db, &sink.url(), 4, &[]).await;
        let list = ctx.list_by_address("pm@lists.example.org").await.unwrap();
        send_now(&ctx, &list).await.unwrap();
        let (stop, workers) = start_workers(&ctx);
        wait_for(30, "three refusals and two sends", || async {
            let counts = ctx.store.outbox_counts().await.unwrap();
            let n = |status: &str| -> i64 {
                counts
                    .iter()
                    .filter(|(_, s, _)| s.as_str() == status)
                    .map(|(_, _, n)| n)
                    .sum()
            };
            (n("failed") == 3 && n("sent") == 2).then_some(())
        })
        .await;
        stop.send(true).unwrap();
        workers.await.unwrap();
        assert_eq!(
            score(&ctx, "m1@example.org").await,
            (2, "active".to_string())
        );
        assert_eq!(
            score(&ctx, "m2@example.org").await,
            (0, "active".to_string())
        );
        assert_eq!(
            score(&ctx, "m3@example.org").await,
            (0, "active".to_string())
        );
        let failed = ctx.store.failed_outbox(10).await.unwrap();
        let reply_to = |rcpt: &str| {
            failed
                .iter()
                .find(|f| f.1 == rcpt)
                .map(|f| f.4.clone())
                .unwrap_or_default()
        };
        assert!(
            reply_to("m1@example.org").starts_with("550 5.1.1"),
            "{failed:?}"
        );
        assert!(
            reply_to("m2@example.org").starts_with("554 5.7.1"),
            "{failed:?}"
        );
        ctx.store.close().await;
    }
}

async fn member(ctx: &Ctx, id: i64) -> gazette::store::members::MemberRow {
    ctx.store.member(id).await.unwrap().unwrap()
}

/// Moves the member's last bounce `days` into the past.
async fn age_last_bounce(ctx: &Ctx, id: i64, days: i64) {
    sqlx::query("UPDATE members SET last_bounce_at = $1 WHERE id = $2")
        .bind(gazette::now_ms() - days * 24 * 3600 * 1000)
        .bind(id)
        .execute(ctx.store.pool())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bounce_points_go_stale_after_a_week() {
    for db in databases().await {
        eprintln!("--- bounce decay on {}", db.label);
        let ctx = setup(&db, "file:///nonexistent", 1, &[]).await;
        let id = ctx
            .store
            .member_by_email(1, "m0@example.org")
            .await
            .unwrap()
            .unwrap()
            .id;
        ctx.store.add_bounce_points(id, 4).await.unwrap();
        ctx.store.add_bounce_points(id, 4).await.unwrap();
        assert_eq!(
            member(&ctx, id).await.bounce_score,
            4,
            "one bounce a day counts"
        );
        age_last_bounce(&ctx, id, 2).await;
        ctx.store.add_bounce_points(id, 4).await.unwrap();
        assert_eq!(
            member(&ctx, id).await.bounce_score,
            8,
            "bounces on different days add up"
        );
        age_last_bounce(&ctx, id, 8).await;
        ctx.store.add_bounce_points(id, 4).await.unwrap();
        let m = member(&ctx, id).await;
        assert_eq!(
            (m.bounce_score, m.status.as_str()),
            (4, "active"),
            "a stale score starts over"
        );
        age_last_bounce(&ctx, id, 6).await;
        ctx.store.add_bounce_points(id, 6).await.unwrap();
        let m = member(&ctx, id).await;
        assert_eq!(
            (m.bounce_score, m.status.as_str()),
            (10, "disabled"),
            "within a week they count"
        );
        // A score with no recorded last bounce (older rows) is stale too.
        sqlx::query("UPDATE members SET bounce_score = 8, status = 'active', last_bounce_at = NULL WHERE id = $1")
            .bind(id)
            .execute(ctx.store.pool())
            .await
            .unwrap();
        ctx.store.add_bounce_points(id, 2).await.unwrap();
        assert_eq!(member(&ctx, id).await.bounce_score, 2);
        ctx.store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requeued_row_gets_a_new_retry_window() {
    for db in databases().await {
        eprintln!("--- outbox retry on {}", db.label);
        let mut behaviour = SinkBehaviour::default();
        behaviour.refuse.insert("m0@example.org".into(), 450);
        let sink = Sink::start(behaviour).await;
        let ctx = setup(&db, &sink.url(), 1, &[]).await;
        // m0's acknowledgement, as if queued 10 days ago and failed since
        // (the retry window is 5 days).
        let old = gazette::now_ms() - 10 * 24 * 3600 * 1000;
        let done = sqlx::query("UPDATE outbox SET status = 'failed', attempts = 40, created_at = $1, retry_since = $1, next_attempt_at = $1")
            .bind(old)
            .execute(ctx.store.pool())
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        assert_eq!(ctx.store.retry_failed(0).await.unwrap(), 1);
        let row = ctx.store.outbox_row(1).await.unwrap().unwrap();
        assert!(row.retry_since > old && row.created_at == old, "{row:?}");
        let (stop, workers) = start_workers(&ctx);
        wait_for(30, "the requeued row to be tried", || async {
            let row = ctx.store.outbox_row(1).await.unwrap().unwrap();
            (row.attempts >= 1).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.send(true).unwrap();
        workers.await.unwrap();
        let counts = ctx.store.outbox_counts().await.unwrap();
        assert_eq!(
            counts,
            vec![(
                gazette::store::OutboxKind::Notice,
                gazette::store::OutboxStatus::Queued,
                1
            )],
            "a 4xx after `outbox retry` backs off, it does not give up"
        );
        ctx.store.close().await;
    }
}

/// A relay connection to the sink, as `GAZETTE_SMTP_URL` would give.
fn relay(addr: std::net::SocketAddr, tls: SmtpTls, max_connections: usize) -> Transport {
    let target = SmtpTarget::Relay {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls,
        credentials: None,
    };
    Transport::new(&target, "gazette.test", max_connections, 0)
}

const MESSAGE: &[u8] =
    b"From: pm@lists.example.org\r\nTo: m@example.org\r\nSubject: hi\r\n\r\nhello\r\n";

fn in_secs(s: f64) -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs_f64(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_connection_the_relay_closed_is_replaced() {
    let sink = Sink::start(SinkBehaviour {
        idle_timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    })
    .await;
    let t = relay(sink.addr, SmtpTls::Opportunistic, 1);
    let from = "pm+bounce-x@lists.example.org";
    t.send(from, "a@example.org", "a", MESSAGE, in_secs(10.0))
        .await
        .unwrap();
    // The sink hangs up on the pooled connection meanwhile (421, close).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reply = t
        .send(from, "b@example.org", "b", MESSAGE, in_secs(10.0))
        .await;
    assert!(
        reply.as_ref().is_ok_and(|r| r.starts_with("250")),
        "{reply:?}"
    );
    assert_eq!(sink.count(), 2);
    t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_keep_their_deadline() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let proxy = SlowDataProxy::start(sink.addr, 1, Duration::from_secs(5)).await;
    let t = Arc::new(relay(proxy.addr, SmtpTls::Opportunistic, 1));
    let from = "pm+bounce-x@lists.example.org";
    // A deadline already gone: nothing is attempted.
    let r = t
        .send(from, "a@example.org", "a", MESSAGE, in_secs(0.0))
        .await;
    assert!(matches!(r, Err(SendError::NotStarted(_))), "{r:?}");
    // A stalled DATA is dropped at the deadline, not when the relay answers.
    let started = Instant::now();
    let stalled = {
        let t = t.clone();
        tokio::spawn(async move {
            t.send(from, "b@example.org", "b", MESSAGE, in_secs(1.5))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile the only connection is busy: waiting past the deadline is "not started".
    let r = t
        .send(from, "c@example.org", "c", MESSAGE, in_secs(0.5))
        .await;
    assert!(
        matches!(&r, Err(SendError::NotStarted(why)) if why.contains("GAZETTE_SMTP_MAX_CONNECTIONS")),
        "{r:?}"
    );
    let r = stalled.await.unwrap();
    let waited = started.elapsed();
    assert!(
        matches!(&r, Err(SendError::Temporary(why)) if why.contains("GAZETTE_LEASE_SECS")),
        "{r:?}"
    );
    assert!(waited < Duration::from_secs(3), "took {waited:?}");
    // The relay commits nothing for a client that left; the next send is fine.
    let r = t
        .send(from, "d@example.org", "d", MESSAGE, in_secs(10.0))
        .await;
    assert!(r.is_ok(), "{r:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got: Vec<String> = sink.messages().into_iter().map(|m| m.rcpt).collect();
    assert_eq!(got, vec!["d@example.org".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_required_refuses_a_relay_without_starttls() {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let t = relay(sink.addr, SmtpTls::Required, 1);
    let r = t
        .send(
            "pm+bounce-x@lists.example.org",
            "a@example.org",
            "a",
            MESSAGE,
            in_secs(10.0),
        )
        .await;
    assert!(
        matches!(&r, Err(SendError::Temporary(why)) if why.contains("STARTTLS") && why.contains("tls=required")),
        "{r:?}"
    );
    assert_eq!(sink.count(), 0);
    // Opportunistic (the default) goes ahead in plain text when STARTTLS is not offered.
    let t = relay(sink.addr, SmtpTls::Opportunistic, 1);
    let r = t
        .send(
            "pm+bounce-x@lists.example.org",
            "a@example.org",
            "a",
            MESSAGE,
            in_secs(10.0),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_transport_shows_the_return_path() {
    let dir = tempfile::tempdir().unwrap();
    let t = Transport::new(&SmtpTarget::Files(dir.path().into()), "gazette.test", 1, 0);
    let verp = "pm+bounce-abc123@lists.example.org";
    let r = t
        .send(
            verp,
            "m@example.org",
            "00000001-notice",
            MESSAGE,
            in_secs(10.0),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    let text = std::fs::read_to_string(dir.path().join("00000001-notice.eml")).unwrap();
    assert!(
        text.starts_with(&format!(
            "Return-Path: <{verp}>\r\nFrom: pm@lists.example.org\r\n"
        )),
        "{text}"
    );
}

/// Relays a session, optionally hiding PIPELINING from the relay's EHLO
/// (renamed, same length), and records each of the client's writes.
async fn recording_proxy(
    upstream: std::net::SocketAddr,
    hide_pipelining: bool,
) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let writes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = writes.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = sr.read(&mut buf).await {
                        let mut chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
                        if hide_pipelining {
                            chunk = chunk.replace("PIPELINING", "XPIPELININ");
                        }
                        if cw.write_all(chunk.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = cr.read(&mut buf).await {
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, writes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_envelope_is_pipelined_only_when_the_relay_offers_it() {
    for hide in [false, true] {
        let sink = Sink::start(SinkBehaviour::default()).await;
        let (addr, writes) = recording_proxy(sink.addr, hide).await;
        let t = relay(addr, SmtpTls::Opportunistic, 1);
        let from = "pm+bounce-x@lists.example.org";
        for n in 0..3 {
            let to = format!("m{n}@example.org");
            let r = t.send(from, &to, "m", MESSAGE, in_secs(10.0)).await;
            assert!(r.as_ref().is_ok_and(|r| r.starts_with("250")), "{r:?}");
        }
        t.close().await;
        assert_eq!(sink.count(), 3);
        let writes = writes.lock().unwrap().clone();
        let envelopes: Vec<&String> = writes
            .iter()
            .filter(|w| w.starts_with("MAIL FROM:"))
            .collect();
        assert_eq!(envelopes.len(), 3, "{writes:#?}");
        for w in envelopes {
            let pipelined = w.contains("\r\nRCPT TO:") && w.ends_with("\r\nDATA\r\n");
            assert_eq!(
                pipelined,
                !hide,
                "PIPELINING {}offered, yet the client wrote {w:?}",
                if hide { "not " } else { "" }
            );
        }
    }
}
