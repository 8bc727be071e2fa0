//! Retention: the raw bytes of mail handled long ago are deleted in
//! batches (the rows and their outcomes stay); held mail keeps its bytes;
//! stale throttles go; old deliveries go while their issues keep their
//! counts.

use crate::common::*;
use gazette::app::Ctx;
use gazette::inbound::pipeline::{receive, Incoming};
use gazette::store::InboundStatus;

async fn count(ctx: &Ctx, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(ctx.store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_raw_mail_goes_held_mail_stays() {
    for db in databases().await {
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        seed_list(&ctx, 2).await;
        let mut ids = Vec::new();
        for (n, from) in ["m1@example.org", "stranger@example.net", "m1@example.org"]
            .iter()
            .enumerate()
        {
            let raw = mail(
                from,
                LIST_ADDRESS,
                &format!("Q{n}"),
                "Body",
                &format!("r{n}@example.org"),
            );
            let m = Incoming {
                transport: "stdin",
                mail_from: Some(from),
                recipient: LIST_ADDRESS,
                raw: raw.as_bytes(),
                trace: "",
                client: None,
            };
            ids.push(receive(&ctx, &m).await.unwrap());
        }
        assert_eq!(ids[0].outcome.status, InboundStatus::Accepted);
        assert_eq!(
            ids[1].outcome.status,
            InboundStatus::Held,
            "a stranger's question"
        );
        // The first two arrived 100 days ago; the third today.
        let long_ago = gazette::now_ms() - 100 * 86_400_000;
        for r in &ids[..2] {
            sqlx::query("UPDATE inbound SET received_at = $1 WHERE id = $2")
                .bind(long_ago)
                .bind(r.inbound_id)
                .execute(ctx.store.pool())
                .await
                .unwrap();
        }
        sqlx::query("UPDATE inbound_raw SET created_at = $1")
            .bind(long_ago)
            .execute(ctx.store.pool())
            .await
            .unwrap();
        sqlx::query("INSERT INTO notice_throttle (list_id, address, kind, sent_at) VALUES (1, 'x@example.org', 'help', $1)")
            .bind(long_ago)
            .execute(ctx.store.pool())
            .await
            .unwrap();
        let pruned = gazette::retention::prune(&ctx, gazette::now_ms())
            .await
            .unwrap();
        assert_eq!(
            pruned.raw_messages, 1,
            "only the old, handled one: {pruned:?}"
        );
        assert!(pruned.housekeeping >= 1);
        assert!(ctx
            .store
            .inbound_raw(ids[0].inbound_id)
            .await
            .unwrap()
            .is_none());
        assert!(
            ctx.store
                .inbound_raw(ids[1].inbound_id)
                .await
                .unwrap()
                .is_some(),
            "held keeps it"
        );
        assert!(
            ctx.store
                .inbound_raw(ids[2].inbound_id)
                .await
                .unwrap()
                .is_some(),
            "recent keeps it"
        );
        let row = ctx.store.inbound(ids[0].inbound_id).await.unwrap().unwrap();
        assert_eq!(
            row.status,
            InboundStatus::Accepted,
            "the row and its outcome stay"
        );
        assert_eq!(
            count(
                &ctx,
                "SELECT COUNT(*) FROM notice_throttle WHERE address = 'x@example.org'"
            )
            .await,
            0
        );
        // `inbound show` still tells what became of it, without the bytes.
        let env = vec![
            ("GAZETTE_CONFIG".to_string(), "/dev/null".to_string()),
            ("GAZETTE_DATABASE_URL".to_string(), db.url.clone()),
        ];
        let id = ids[0].inbound_id.to_string();
        let shown = gazette_cmd(&env, &["inbound", "show", &id], None);
        assert!(shown.contains("status accepted"), "{shown}");
        assert!(shown.contains("no longer kept"), "{shown}");
        // A second pass finds nothing more.
        let again = gazette::retention::prune(&ctx, gazette::now_ms())
            .await
            .unwrap();
        assert_eq!(again.raw_messages, 0);
    }
}

/// Finished deliveries older than `GAZETTE_KEEP_DELIVERIES_DAYS` go, a
/// batch at a time; an issue's figures stay exactly as they were (its
/// deleted rows are counted on its row first), and a delivery still
/// waiting stays whatever its age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_deliveries_go_and_issue_counts_stay() {
    for db in databases().await {
        eprintln!("--- delivery pruning on {}", db.label);
        let outdir = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", outdir.path().display());
        let ctx = Ctx::open(test_config(&db, &smtp, &[])).await.unwrap();
        let list = seed_list(&ctx, 7).await;
        let gazette::digest::send::Released::Sent { digest_id, .. } =
            gazette::digest::send::send_now(&ctx, &list).await.unwrap()
        else {
            panic!("the issue has a question: it is sent");
        };
        let (stop, workers) = start_workers(&ctx);
        // 7 digests and the asker's acknowledgement.
        eml_files(outdir.path(), 8).await;
        wait_for(30, "every delivery recorded", || async {
            (count(&ctx, "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'").await == 0)
                .then_some(())
        })
        .await;
        stop.send(true).unwrap();
        workers.await.unwrap();
        // One delivery cancelled, one still waiting.
        sqlx::query("UPDATE outbox SET status = 'cancelled' WHERE id = (SELECT MAX(id) FROM outbox WHERE kind = 'digest')")
            .execute(ctx.store.pool())
            .await
            .unwrap();
        let waiting = gazette::store::outbox::NewOutbox {
            dedupe_key: "test:waiting",
            list_id: list.id(),
            member_id: None,
            recipient: "late@example.org",
            kind: gazette::store::OutboxKind::Notice,
            ref_id: None,
            payload: "{}",
        };
        assert!(ctx.store.enqueue(&waiting).await.unwrap());
        let before = ctx.store.digest_delivery_counts(digest_id).await.unwrap();
        assert_eq!((before.sent, before.cancelled), (6, 1));
        // Everything was made 40 days ago; the default keeps 30.
        sqlx::query("UPDATE outbox SET created_at = created_at - $1")
            .bind(40 * 86_400_000i64)
            .execute(ctx.store.pool())
            .await
            .unwrap();
        let cutoff = gazette::now_ms() - 30 * 86_400_000;
        // Small batches, so counts are added up across several.
        let (mut after, mut deleted) = (0, 0);
        while let Some(next) = {
            let step = ctx.store.prune_deliveries(after, cutoff, 3).await.unwrap();
            deleted += step.deleted;
            step.next
        } {
            after = next;
        }
        assert_eq!(deleted, 8, "7 digests and the acknowledgement");
        assert_eq!(
            ctx.store.digest_delivery_counts(digest_id).await.unwrap(),
            before,
            "the issue's figures survive its rows"
        );
        assert_eq!(
            count(&ctx, "SELECT COUNT(*) FROM outbox").await,
            1,
            "the waiting delivery stays"
        );
        // A second pass finds nothing more; the hourly pass agrees.
        let pruned = gazette::retention::prune(&ctx, gazette::now_ms())
            .await
            .unwrap();
        assert_eq!(pruned.deliveries, 0);
        assert_eq!(
            ctx.store.digest_delivery_counts(digest_id).await.unwrap(),
            before
        );
    }
}
