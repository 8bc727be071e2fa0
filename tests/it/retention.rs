//! Retention: the raw bytes of mail handled long ago are deleted in
//! batches (the rows and their outcomes stay); held mail keeps its bytes;
//! stale throttles go.

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
