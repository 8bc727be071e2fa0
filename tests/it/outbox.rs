//! The outbox on both databases: a digest expands once into one row per
//! member; concurrent claims are disjoint; an expired lease hands a row to
//! another worker; retries back off; the file transport writes one `.eml`
//! per message with the list headers.

use crate::common::*;
use gazette::app::Ctx;
use gazette::digest::send::{send_now, Released};
use gazette::outbound::transport::Transport;
use std::collections::HashSet;
use std::sync::Arc;

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
