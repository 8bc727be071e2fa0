//! Sending an issue: members queued in chunks behind a stored cursor (an
//! interrupted expansion resumes on any process's scheduler pass, and two
//! processes expanding at once still queue one delivery per member);
//! pause, resume and cancel against a real loopback SMTP server, with
//! counts that equal what the server accepted; a draft rewritten only
//! when it changed.

use crate::common::*;
use gazette::app::{Ctx, List};
use gazette::digest::scheduler::{tick, Memory};
use gazette::digest::send::{approve, begin_sending, send_now, Released};
use gazette::digest::{sending, Issue};
use gazette::store::issue_sends::{ExpandStep, IssueCounts};
use std::collections::HashMap;
use std::time::Duration;

/// Approves the open issue and marks it sent without queuing anything,
/// as a process does just before it starts expanding.
async fn begun(ctx: &Ctx, list: &List) -> i64 {
    let d = approve(ctx, list).await.unwrap();
    let issue = Issue::of(&d).unwrap();
    assert!(begin_sending(ctx, &d, &issue).await.unwrap());
    d.id
}

/// (member id → rows) of the issue's deliveries, checking the dedupe key.
async fn rows_per_member(ctx: &Ctx, digest_id: i64) -> HashMap<i64, usize> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT dedupe_key, member_id FROM outbox WHERE kind = 'digest' AND ref_id = $1",
    )
    .bind(digest_id)
    .fetch_all(ctx.store.pool())
    .await
    .unwrap();
    let mut per = HashMap::new();
    for (key, member) in rows {
        assert_eq!(key, format!("digest:{digest_id}:{member}"));
        *per.entry(member).or_insert(0) += 1;
    }
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_expansion_resumes_with_one_row_per_member() {
    for db in databases().await {
        eprintln!("--- interrupted expansion on {}", db.label);
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let list = seed_list(&ctx, 25).await;
        let id = begun(&ctx, &list).await;
        // One chunk of 10, then the process "dies".
        assert_eq!(
            ctx.store.expand_issue_chunk(id, 10).await.unwrap(),
            ExpandStep::Queued(10)
        );
        let d = ctx.store.digest(id).await.unwrap().unwrap();
        assert!(d.expanded_at.is_none(), "the expansion is unfinished");
        assert_eq!(d.recipients, 10);
        assert_eq!(rows_per_member(&ctx, id).await.len(), 10);

        // Another process's scheduler pass finishes it.
        let other = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        tick(&other, &mut Memory::default()).await.unwrap();
        let d = other.store.digest(id).await.unwrap().unwrap();
        assert!(d.expanded_at.is_some(), "finished by the next pass");
        assert_eq!(d.recipients, 25);
        let per = rows_per_member(&other, id).await;
        assert_eq!(per.len(), 25, "every member");
        assert!(per.values().all(|&n| n == 1), "exactly once: {per:?}");
        // Nothing is left to do, and another pass adds nothing.
        assert!(other
            .store
            .unfinished_expansions()
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            other.store.expand_issue_chunk(id, 10).await.unwrap(),
            ExpandStep::Finished
        );
        tick(&other, &mut Memory::default()).await.unwrap();
        assert_eq!(rows_per_member(&other, id).await.len(), 25);
        ctx.store.close().await;
        other.store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pause_mid_expansion_stops_it_and_a_resume_finishes_it() {
    for db in databases().await {
        eprintln!("--- pause mid-expansion on {}", db.label);
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let list = seed_list(&ctx, 25).await;
        let id = begun(&ctx, &list).await;
        assert_eq!(
            ctx.store.expand_issue_chunk(id, 10).await.unwrap(),
            ExpandStep::Queued(10)
        );
        let paused = sending::pause(&ctx, &list, None).await.unwrap();
        assert_eq!(paused.deliveries, 10);
        assert_eq!(paused.counts.paused, 10);
        // Neither a direct step nor a scheduler pass queues more.
        assert_eq!(
            ctx.store.expand_issue_chunk(id, 10).await.unwrap(),
            ExpandStep::Stopped
        );
        tick(&ctx, &mut Memory::default()).await.unwrap();
        assert_eq!(rows_per_member(&ctx, id).await.len(), 10);
        let resumed = sending::resume(&ctx, &list, None).await.unwrap();
        assert_eq!(resumed.deliveries, 10);
        assert!(
            resumed.issue.expanded_at.is_some(),
            "the resume finished it"
        );
        assert_eq!(resumed.counts.recipients, 25);
        assert_eq!(resumed.counts.queued, 25);
        let per = rows_per_member(&ctx, id).await;
        assert_eq!(per.len(), 25);
        assert!(per.values().all(|&n| n == 1), "{per:?}");
        ctx.store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_expanding_at_once_queue_each_member_once() {
    for db in databases().await {
        eprintln!("--- racing expansions on {}", db.label);
        let a = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let b = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let list = seed_list(&a, 40).await;
        let id = begun(&a, &list).await;
        // Small chunks so the two really interleave.
        async fn run(ctx: &Ctx, id: i64) -> u64 {
            let mut queued = 0;
            loop {
                match ctx.store.expand_issue_chunk(id, 3).await.unwrap() {
                    ExpandStep::Queued(n) => queued += n,
                    ExpandStep::Raced => {}
                    ExpandStep::Finished | ExpandStep::Stopped => return queued,
                }
            }
        }
        let (qa, qb) = tokio::join!(run(&a, id), run(&b, id));
        assert_eq!(qa + qb, 40, "each chunk counted by the process that won it");
        let d = a.store.digest(id).await.unwrap().unwrap();
        assert_eq!(d.recipients, 40);
        let per = rows_per_member(&a, id).await;
        assert_eq!(per.len(), 40);
        assert!(per.values().all(|&n| n == 1), "{per:?}");
        a.store.close().await;
        b.store.close().await;
    }
}

/// Digest messages the server accepted, per recipient.
fn digests_received(sink: &Sink) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for m in sink.messages() {
        if m.subject().starts_with("PM Circle digest") {
            *per.entry(m.rcpt).or_insert(0) += 1;
        }
    }
    per
}

fn total(per: &HashMap<String, usize>) -> usize {
    per.values().sum()
}

fn consistent(c: &IssueCounts) {
    assert_eq!(
        c.recipients,
        c.queued + c.sending + c.sent + c.failed + c.cancelled + c.paused,
        "every delivery is counted once: {c:?}"
    );
}

/// A running app sending a 60-member issue through a sink that stalls
/// after `stall_after` messages (so an editor's action lands mid-send,
/// with deliveries in flight); returns once the stall holds some.
async fn stalled_send(
    db: &TestDb,
    stall_after: usize,
) -> (gazette::serve::Running, Sink, List, i64) {
    let sink = Sink::start(SinkBehaviour {
        stall_after: Some(stall_after),
        ..Default::default()
    })
    .await;
    let app = spawn_app(
        db,
        &sink.url(),
        &[
            ("GAZETTE_WORKERS", "1"),
            ("GAZETTE_BATCH_SIZE", "5"),
            ("GAZETTE_SMTP_MAX_CONNECTIONS", "1"),
        ],
    )
    .await;
    let list = seed_list(&app.ctx, 60).await;
    let Released::Sent {
        digest_id,
        recipients,
    } = send_now(&app.ctx, &list).await.unwrap()
    else {
        panic!("the issue goes out");
    };
    assert_eq!(recipients, 60);
    let ctx = app.ctx.clone();
    wait_for(30, "deliveries held by the stalled relay", || async {
        let c = ctx.store.digest_delivery_counts(digest_id).await.unwrap();
        (sink.count() >= stall_after && c.sending > 0).then_some(())
    })
    .await;
    (app, sink, list, digest_id)
}

/// Waits until nothing of the issue is in flight or due: each delivery
/// sent, failed, cancelled or paused.
async fn settled(ctx: &Ctx, id: i64) -> IssueCounts {
    wait_for(60, "the issue's deliveries to settle", || async {
        let c = ctx.store.digest_delivery_counts(id).await.unwrap();
        (c.sending == 0 && c.queued == 0).then_some(c)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_issue_sends_nothing_more_until_resumed_and_counts_match_the_relay() {
    for db in databases().await {
        eprintln!("--- pause and resume on {}", db.label);
        let (app, sink, list, id) = stalled_send(&db, 12).await;
        let ctx = &app.ctx;
        let paused = sending::pause(ctx, &list, None).await.unwrap();
        assert_eq!(paused.issue.delivery, gazette::store::IssueDelivery::Paused);
        assert!(paused.deliveries > 0, "queued deliveries were held");
        consistent(&paused.counts);
        assert!(
            paused.counts.sent <= total(&digests_received(&sink)) as i64,
            "never more sent than the relay accepted: {:?}",
            paused.counts
        );
        assert!(
            sending::pause(ctx, &list, None)
                .await
                .unwrap_err()
                .to_string()
                .contains("already paused"),
            "a second pause says so"
        );
        // The stall ends: deliveries in flight are answered 451 and queued
        // for a retry, and the scheduler holds them back with their issue.
        sink.release();
        let c = settled(ctx, id).await;
        consistent(&c);
        let got = digests_received(&sink);
        assert_eq!(c.sent, total(&got) as i64, "sent = what the relay accepted");
        assert_eq!(c.paused, 60 - c.sent, "the rest waits: {c:?}");
        assert!(c.paused > 0);
        // Several scheduler passes and worker polls later, nothing more.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(total(&digests_received(&sink)), total(&got));
        assert_eq!(ctx.store.digest_delivery_counts(id).await.unwrap(), c);

        let resumed = sending::resume(ctx, &list, None).await.unwrap();
        assert_eq!(resumed.deliveries as i64, c.paused);
        let done = wait_for(60, "every member's digest", || async {
            let c = ctx.store.digest_delivery_counts(id).await.unwrap();
            (c.sent == 60).then_some(c)
        })
        .await;
        consistent(&done);
        let got = digests_received(&sink);
        assert_eq!(got.len(), 60, "every member");
        assert!(got.values().all(|&n| n == 1), "exactly once: {got:?}");
        assert_eq!(done.sent, total(&got) as i64);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_issue_sends_nothing_more() {
    for db in databases().await {
        eprintln!("--- cancel on {}", db.label);
        let (app, sink, list, id) = stalled_send(&db, 8).await;
        let ctx = &app.ctx;
        let cancelled = sending::cancel(ctx, &list, None).await.unwrap();
        assert!(cancelled.deliveries > 0);
        consistent(&cancelled.counts);
        sink.release();
        let c = settled(ctx, id).await;
        consistent(&c);
        assert_eq!(c.paused, 0);
        let got = digests_received(&sink);
        assert_eq!(c.sent, total(&got) as i64, "sent = what the relay accepted");
        assert_eq!(c.cancelled, 60 - c.sent, "{c:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(total(&digests_received(&sink)), total(&got), "nothing more");
        assert_eq!(ctx.store.digest_delivery_counts(id).await.unwrap(), c);
        for err in [
            sending::resume(ctx, &list, None).await.unwrap_err(),
            sending::pause(ctx, &list, None).await.unwrap_err(),
            sending::cancel(ctx, &list, None).await.unwrap_err(),
        ] {
            assert!(err.to_string().contains("cancelled"), "{err}");
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_finished_issue_cannot_be_paused_and_status_shows_its_counts() {
    let db = sqlite_db();
    let out = tempfile::tempdir().unwrap();
    let url = format!("file://{}", out.path().display());
    let ctx = Ctx::open(test_config(&db, &url, &[])).await.unwrap();
    let list = seed_list(&ctx, 3).await;
    let err = sending::pause(&ctx, &list, None).await.unwrap_err();
    assert!(
        err.to_string().contains("has not sent an issue yet"),
        "{err}"
    );
    send_now(&ctx, &list).await.unwrap();
    let (stop, workers) = start_workers(&ctx);
    eml_files(out.path(), 4).await;
    stop.send(true).unwrap();
    workers.await.unwrap();
    let err = sending::pause(&ctx, &list, None).await.unwrap_err();
    assert!(
        err.to_string().contains("finished sending (3 sent)"),
        "{err}"
    );
    let err = sending::cancel(&ctx, &list, Some(7)).await.unwrap_err();
    assert!(err.to_string().contains("no issue #7"), "{err}");
    ctx.store.close().await;
    let env = vec![
        ("GAZETTE_CONFIG".to_string(), "/dev/null".to_string()),
        ("GAZETTE_DATABASE_URL".to_string(), db.url.clone()),
    ];
    let out = gazette_cmd(&env, &["digest", "status"], None);
    assert!(out.contains("#1    sent"), "{out}");
    assert!(
        out.contains("recipients 3: queued 0, sending 0, sent 3, failed 0, cancelled 0, paused 0"),
        "{out}"
    );
}

/// Counts updates of `digests.content` (SQLite: a trigger the test adds).
async fn content_writes(ctx: &Ctx) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM t_content_writes")
        .fetch_one(ctx.store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_draft_is_written_only_when_it_changed() {
    let db = sqlite_db();
    let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
        .await
        .unwrap();
    let list = seed_list(&ctx, 2).await;
    for sql in [
        "CREATE TABLE t_content_writes (at INTEGER)",
        "CREATE TRIGGER t_count_content AFTER UPDATE OF content ON digests BEGIN INSERT INTO t_content_writes VALUES (1); END",
    ] {
        sqlx::query(sql).execute(ctx.store.pool()).await.unwrap();
    }
    gazette::digest::send::draft(&ctx, &list).await.unwrap();
    assert_eq!(
        content_writes(&ctx).await,
        1,
        "the first assembly is stored"
    );
    gazette::digest::send::draft(&ctx, &list).await.unwrap();
    gazette::digest::send::draft(&ctx, &list).await.unwrap();
    assert_eq!(
        content_writes(&ctx).await,
        1,
        "unchanged: not written again"
    );

    // Once editors were told, the notice pass neither assembles nor writes.
    let editor = gazette::email::EmailAddress::parse("ed@example.org").unwrap();
    gazette::lists::add_editor(&ctx, &list, &editor)
        .await
        .unwrap();
    let d = ctx.store.open_digest(list.id()).await.unwrap().unwrap();
    assert!(ctx.store.mark_digest_notified(d.id).await.unwrap());
    ask_as(&ctx, &list, "m1@example.org", "Second", "<q2@example.org>").await;
    assert!(!gazette::digest::send::notify_ahead(&ctx, &list)
        .await
        .unwrap());
    assert_eq!(content_writes(&ctx).await, 1);
    // The draft itself still shows the new question when looked at.
    let d = gazette::digest::send::draft(&ctx, &list).await.unwrap();
    assert_eq!(Issue::of(&d).unwrap().items.len(), 2);
    assert_eq!(content_writes(&ctx).await, 2);
}

/// Not a check (no timings are asserted): prints how long each chunk of a
/// large expansion holds the write lock. `GAZETTE_EXPAND_MEMBERS` (default
/// 100,000) members; run with `cargo test --test it expansion_at_scale --
/// --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn expansion_at_scale() {
    let n: i64 = std::env::var("GAZETTE_EXPAND_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for db in databases().await {
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let list = seed_list(&ctx, 1).await;
        sqlx::query(
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $2) \
             INSERT INTO members (list_id, email, email_key, status, mode, requested_at) \
             SELECT $1, 'x' || CAST(n AS TEXT) || '@example.org', 'x' || CAST(n AS TEXT) || '@example.org', 'active', 'digest', 0 FROM s",
        )
        .bind(list.id())
        .bind(n)
        .execute(ctx.store.pool())
        .await
        .unwrap();
        let id = begun(&ctx, &list).await;
        let start = std::time::Instant::now();
        let (mut chunks, mut longest) = (0, Duration::ZERO);
        loop {
            let t = std::time::Instant::now();
            let step = ctx
                .store
                .expand_issue_chunk(id, sending::EXPAND_CHUNK)
                .await
                .unwrap();
            longest = longest.max(t.elapsed());
            match step {
                ExpandStep::Queued(_) => chunks += 1,
                _ => break,
            }
        }
        let total = start.elapsed();
        let d = ctx.store.digest(id).await.unwrap().unwrap();
        assert_eq!(d.recipients, n + 1);
        eprintln!(
            "{}: {} members in {chunks} chunks of {}: {:.2} s, {:.0} rows/s, longest chunk {} ms",
            db.label,
            d.recipients,
            sending::EXPAND_CHUNK,
            total.as_secs_f64(),
            d.recipients as f64 / total.as_secs_f64(),
            longest.as_millis()
        );
        ctx.store.close().await;
    }
}
