//! The outbox on both databases: a digest expands once into one row per
//! member; concurrent claims are disjoint; an expired lease hands a row to
//! another worker; results recorded in a batch respect the lease (but a
//! send the relay accepted always counts); every attempt at a row carries
//! the same Message-ID; a confirmation overtakes a queued digest; the file
//! transport writes one `.eml` per message with the list headers.

use crate::common::*;
use gazette::app::Ctx;
use gazette::digest::send::{send_now, Released};
use gazette::outbound::transport::Transport;
use gazette::store::outbox::{Outcome, Recorded};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

async fn setup(db: &TestDb, smtp_url: &str, members: usize) -> (Ctx, gazette::app::List) {
    let ctx = Ctx::open(test_config(db, smtp_url, &[])).await.unwrap();
    let list = seed_list(&ctx, members).await;
    (ctx, list)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn digest_expands_once_and_claims_are_disjoint() {
    for db in databases().await {
        eprintln!("--- outbox on {}", db.label);
        let (ctx, list) = setup(&db, "file:///nonexistent", 30).await;
        let released = send_now(&ctx, &list).await.unwrap();
        assert!(
            matches!(released, Released::Sent { recipients: 30, .. }),
            "{released:?}"
        );
        // Sending again, or a second worker racing, adds nothing.
        let again = send_now(&ctx, &list).await.unwrap();
        assert!(
            matches!(again, Released::Skipped { .. }),
            "the next issue is empty: {again:?}"
        );
        let counts = ctx.store.outbox_counts().await.unwrap();
        let digests: i64 = counts
            .iter()
            .filter(|(k, _, _)| k.as_str() == "digest")
            .map(|(_, _, n)| n)
            .sum();
        assert_eq!(digests, 30);

        // Two workers claiming at once get disjoint rows.
        let lease = 60_000;
        let (a, b) = tokio::join!(
            ctx.store.claim("a", lease, 20),
            ctx.store.claim("b", lease, 20)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        // The lease is counted on the database's clock, and reported.
        assert_eq!(a.lease_left_ms(), lease, "{a:?}");
        let (a, b) = (a.rows, b.rows);
        let ids_a: HashSet<i64> = a.iter().map(|r| r.id).collect();
        assert!(b.iter().all(|r| !ids_a.contains(&r.id)), "claims overlap");
        assert_eq!(a.len() + b.len(), 31, "30 digests and 1 acknowledgement");
        assert!(
            ctx.store
                .claim("c", lease, 10)
                .await
                .unwrap()
                .rows
                .is_empty(),
            "everything is leased"
        );
        assert_eq!(
            ctx.store.sweep_expired_leases().await.unwrap(),
            0,
            "no lease has ended"
        );

        // A dead worker's expired lease: the sweep hands its rows to the
        // next claimer (the claim itself never looks at leased rows).
        let row = a[0].clone();
        ctx.store
            .mark_retry(row.id, "a", 0, "451 try later")
            .await
            .unwrap();
        let again = ctx.store.claim("d", -1, 50).await.unwrap().rows;
        assert_eq!(again.iter().map(|r| r.id).collect::<Vec<_>>(), vec![row.id]);
        assert!(
            ctx.store
                .claim("e", lease, 50)
                .await
                .unwrap()
                .rows
                .is_empty(),
            "an expired lease is not claimable before the sweep"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(ctx.store.sweep_expired_leases().await.unwrap(), 1);
        let stolen = ctx.store.claim("e", lease, 50).await.unwrap().rows;
        assert_eq!(stolen.len(), 1, "an expired lease is claimable once swept");
        assert_eq!(stolen[0].attempts, 3);
        // The late worker cannot overwrite the new owner's outcome.
        ctx.store
            .mark_failed(row.id, "d", "550 too late")
            .await
            .unwrap();
        let counts = ctx.store.outbox_counts().await.unwrap();
        assert!(
            !counts.iter().any(|(_, s, _)| s.as_str() == "failed"),
            "{counts:?}"
        );

        // One batch, one transaction: a result from a worker that lost the
        // lease changes nothing, except "sent" (the relay accepted it).
        let (x, y) = (a[1].id, a[2].id);
        let outcome = |id, owner: &str, outcome| Recorded {
            id,
            owner: owner.into(),
            outcome,
        };
        let applied = ctx
            .store
            .record_outcomes(&[
                outcome(row.id, "d", Outcome::Released),
                outcome(
                    x,
                    "stale",
                    Outcome::Failed {
                        reply: "550 no".into(),
                    },
                ),
                outcome(
                    y,
                    "stale",
                    Outcome::Sent {
                        reply: "250 ok".into(),
                        at: 1,
                    },
                ),
            ])
            .await
            .unwrap();
        assert_eq!(applied, [false, false, true]);
        let applied = ctx
            .store
            .record_outcomes(&[outcome(row.id, "e", Outcome::Released)])
            .await
            .unwrap();
        assert_eq!(applied, [true]);
        let status = |id| {
            let ctx = ctx.clone();
            async move { ctx.store.outbox_row(id).await.unwrap().unwrap() }
        };
        assert_eq!(status(row.id).await.attempts, 2, "a release does not count");
        let counts = ctx.store.outbox_counts().await.unwrap();
        let n = |st: &str| -> i64 {
            counts
                .iter()
                .filter(|(_, s, _)| s.as_str() == st)
                .map(|(_, _, n)| n)
                .sum()
        };
        assert_eq!((n("sent"), n("failed")), (1, 0), "{counts:?}");
        ctx.store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_transport_writes_one_eml_per_message() {
    let db = sqlite_db();
    let out = tempfile::tempdir().unwrap();
    let url = format!("file://{}", out.path().display());
    let (ctx, list) = setup(&db, &url, 5).await;
    send_now(&ctx, &list).await.unwrap();
    let transport = Arc::new(Transport::new(&ctx.config.smtp, "test", 2, 0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(gazette::outbound::worker::run(
        ctx.clone(),
        transport,
        stopped,
    ));
    let files = eml_files(out.path(), 6).await;
    stop.send(true).unwrap();
    workers.await.unwrap();
    let digest = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with("-digest.eml"))
        .unwrap();
    let text = std::fs::read_to_string(digest).unwrap();
    for h in [
        "List-Id: PM Circle <pm.lists.example.org>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Precedence: list",
        "Subject: PM Circle digest, ",
    ] {
        assert!(text.contains(h), "{h} missing in\n{text}");
    }
    let counts = ctx.store.outbox_counts().await.unwrap();
    assert!(
        counts.iter().all(|(_, s, _)| s.as_str() == "sent"),
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_post_members_get_posts_and_answers_at_once() {
    for db in databases().await {
        eprintln!("--- every-post fan-out on {}", db.label);
        let (ctx, list) = setup(&db, "file:///nonexistent", 4).await;
        let member = |i: usize| {
            let ctx = ctx.clone();
            let list = list.clone();
            async move {
                let e = gazette::email::EmailAddress::parse(&format!("m{i}@example.org")).unwrap();
                gazette::membership::find(&ctx, &list, &e)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        // m1 and m2 want every post, m3 paused; m0 asked question 1 in setup.
        for (i, mode) in [(1, "every"), (2, "every"), (3, "paused")] {
            gazette::membership::set_mode(
                &ctx,
                &member(i).await,
                gazette::membership::parse_mode(mode).unwrap(),
            )
            .await
            .unwrap();
        }
        let (m0, m1) = (member(0).await, member(1).await);
        let post = gazette::posts::Post {
            inbound_id: None,
            subject: "Capacity planning?",
            body: "How do you size a quarter?",
            message_id: "<q2@example.org>",
        };
        let q2 = gazette::posts::ask(&ctx, &list, &m0, &post).await.unwrap();
        let q = ctx.store.question(q2).await.unwrap().unwrap();
        let answer = gazette::posts::Post {
            inbound_id: None,
            subject: "",
            body: "By last quarter's throughput.",
            message_id: "<a2@example.org>",
        };
        gazette::posts::answer(&ctx, &list, &q, &m1, &answer)
            .await
            .unwrap();

        let rows = ctx.store.claim("t", 60_000, 100).await.unwrap().rows;
        let to = |kind: &str, ref_id: Option<i64>| -> Vec<String> {
            let mut v: Vec<String> = rows
                .iter()
                .filter(|r| r.kind.as_str() == kind && (ref_id.is_none() || r.ref_id == ref_id))
                .map(|r| r.recipient.clone())
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            to("post", Some(q2)),
            ["m1@example.org", "m2@example.org"],
            "not the author, not paused"
        );
        // The answer: the other every-post member gets a copy; the asker
        // gets the "you have an answer" notice instead, the answerer nothing.
        assert_eq!(to("answer", None), ["m2@example.org"]);
        let asker_notices = rows
            .iter()
            .filter(|r| r.recipient == "m0@example.org" && r.payload.contains("answers_to_asker"))
            .count();
        assert_eq!(asker_notices, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_attempt_at_a_row_carries_the_same_message_id() {
    let db = sqlite_db();
    let (ctx, list) = setup(&db, "file:///nonexistent", 3).await;
    send_now(&ctx, &list).await.unwrap();
    let rows = ctx.store.claim("t", 60_000, 10).await.unwrap().rows;
    assert_eq!(rows.len(), 4, "3 digests and an acknowledgement");
    let mut ids = HashSet::new();
    for row in &rows {
        // Each render is one attempt (a retry renders the row again).
        let first = gazette::outbound::render::render(&ctx, row)
            .await
            .unwrap()
            .0;
        let again = gazette::outbound::render::render(&ctx, row)
            .await
            .unwrap()
            .0;
        assert_eq!(first.message_id, again.message_id, "row {}", row.id);
        let bytes = gazette::outbound::compose::build(&again).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains(&format!("Message-ID: {}", first.message_id)),
            "{text}"
        );
        ids.insert(first.message_id);
    }
    assert_eq!(ids.len(), rows.len(), "one Message-ID per delivery");
    ctx.store.close().await;
}

/// Members m1 … m(n-1) beside seed_list's m0, in one statement.
async fn add_members(ctx: &Ctx, db: &TestDb, n: i64) {
    let numbers = if db.label == "postgres" {
        "(SELECT i FROM generate_series(1, $1 - 1) AS i) AS n"
    } else {
        "(WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $1 - 1) SELECT i FROM k) AS n"
    };
    let sql = format!(
        "INSERT INTO members (list_id, email, email_key, name, status, mode, requested_at, confirmed_at, consent) \
         SELECT m.list_id, 'm' || n.i || '@example.org', 'm' || n.i || '@example.org', 'Member', m.status, m.mode, m.requested_at, m.confirmed_at, m.consent \
         FROM members m, {numbers} WHERE m.email_key = 'm0@example.org'"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(n)
        .execute(ctx.store.pool())
        .await
        .unwrap();
    assert_eq!(done.rows_affected() as i64, n - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmation_overtakes_a_queued_digest() {
    const MEMBERS: i64 = 20_000;
    const WORKERS: usize = 2;
    const CONNECTIONS: usize = 4;
    const BATCH: usize = 50;
    for db in databases().await {
        eprintln!("--- notice lane on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        // A relay that takes 20 ms per message: the digest takes minutes.
        let relay = SlowDataProxy::start(sink.addr, usize::MAX, Duration::from_millis(20)).await;
        let (workers, connections, batch) = (
            WORKERS.to_string(),
            CONNECTIONS.to_string(),
            BATCH.to_string(),
        );
        let ctx = Ctx::open(test_config(
            &db,
            &format!("smtp://{}?tls=none", relay.addr),
            &[
                ("GAZETTE_WORKERS", &workers),
                ("GAZETTE_SMTP_MAX_CONNECTIONS", &connections),
                ("GAZETTE_BATCH_SIZE", &batch),
            ],
        ))
        .await
        .unwrap();
        let list = seed_list(&ctx, 1).await;
        add_members(&ctx, &db, MEMBERS).await;
        let released = send_now(&ctx, &list).await.unwrap();
        assert!(
            matches!(released, Released::Sent { recipients, .. } if recipients == MEMBERS as u64),
            "{released:?}"
        );
        let (stop, running) = start_workers(&ctx);
        wait_for(60, "the digest to be under way", || async {
            (sink.count() >= 200).then_some(())
        })
        .await;
        let email = gazette::email::EmailAddress::parse("new@example.org").unwrap();
        let asked = gazette::membership::request(&ctx, &list, &email, "New", "test")
            .await
            .unwrap();
        assert!(
            matches!(asked, gazette::membership::Subscribed::ConfirmationSent(_)),
            "{asked:?}"
        );
        // Queued by now, behind some 19,800 digests still waiting: what
        // arrives after this many overtook it.
        let before = sink.count();
        wait_for(60, "the confirmation", || async {
            (!sink.to("new@example.org").is_empty()).then_some(())
        })
        .await;
        let arrived = sink
            .messages()
            .iter()
            .position(|m| m.rcpt == "new@example.org")
            .unwrap();
        stop.send(true).unwrap();
        running.await.unwrap();
        // At most what the workers already held goes first: per worker, a
        // claimed batch not yet started and its sends in flight; then the
        // sends waiting for a relay connection ahead of the confirmation.
        let held = WORKERS * (BATCH + 2 * CONNECTIONS) + WORKERS * 2 * CONNECTIONS;
        eprintln!(
            "queued after {before} deliveries, arrived as number {}",
            arrived + 1
        );
        assert!(
            arrived <= before + held,
            "the confirmation arrived as number {} although queued after {before} (at most {held} may overtake it)",
            arrived + 1
        );
        let digests = ctx.store.outbox_counts().await.unwrap();
        let queued: i64 = digests
            .iter()
            .filter(|(k, s, _)| k.as_str() == "digest" && s.as_str() == "queued")
            .map(|(_, _, n)| n)
            .sum();
        assert!(
            queued > 10_000,
            "the digest was still far from done: {digests:?}"
        );
        ctx.store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_queued_now_is_due_at_once_by_the_database_clock() {
    for db in databases().await {
        eprintln!("--- due at once on {}", db.label);
        let (ctx, _list) = setup(&db, "file:///nonexistent", 1).await;
        ctx.store.claim("t", 60_000, 10).await.unwrap();
        // Queued at the process's clock, claimed at the database's, which
        // must not read earlier (the same millisecond included).
        for n in 0..300 {
            let key = format!("test:due:{n}");
            let queued = ctx
                .store
                .enqueue(&gazette::store::outbox::NewOutbox {
                    dedupe_key: &key,
                    list_id: 1,
                    member_id: None,
                    recipient: "x@example.org",
                    kind: gazette::store::OutboxKind::Notice,
                    ref_id: None,
                    payload: "{}",
                })
                .await
                .unwrap();
            assert!(queued);
            let got = ctx.store.claim("t", 60_000, 10).await.unwrap().rows;
            assert_eq!(
                got.len(),
                1,
                "row {n} was not due right after it was queued"
            );
        }
        ctx.store.close().await;
    }
}
