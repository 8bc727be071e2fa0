//! Stored states are typed: a value the code does not know is an error
//! naming the column and the value, never a silent default; a corrupt
//! issue fails loudly and is kept, never skipped as empty.

use crate::common::*;
use gazette::app::Ctx;
use gazette::digest::send::{advance, approve};

#[tokio::test]
async fn an_unknown_stored_state_is_an_error_naming_column_and_value() {
    for db in databases().await {
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let list = seed_list(&ctx, 2).await;
        let m = ctx
            .store
            .member_by_email(list.id(), "m1@example.org")
            .await
            .unwrap()
            .unwrap();
        sqlx::query("UPDATE members SET status = 'zombie' WHERE id = $1")
            .bind(m.id)
            .execute(ctx.store.pool())
            .await
            .unwrap();
        let err = ctx.store.member(m.id).await.unwrap_err().to_string();
        assert!(err.contains("members.status holds `zombie`"), "{err}");
        sqlx::query("UPDATE outbox SET kind = 'telegram'")
            .execute(ctx.store.pool())
            .await
            .unwrap();
        let err = ctx.store.outbox_counts().await.unwrap_err().to_string();
        assert!(err.contains("outbox.kind holds `telegram`"), "{err}");
    }
}

#[tokio::test]
async fn a_corrupt_issue_is_kept_and_reported_not_skipped() {
    for db in databases().await {
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let list = seed_list(&ctx, 2).await;
        let d = approve(&ctx, &list).await.unwrap();
        sqlx::query(
            "UPDATE digests SET content = '{\"items\": [{\"broken' , due_at = 1 WHERE id = $1",
        )
        .bind(d.id)
        .execute(ctx.store.pool())
        .await
        .unwrap();
        let err = format!("{:#}", advance(&ctx, &list).await.unwrap_err());
        assert!(err.contains("cannot read"), "{err}");
        let kept = ctx.store.digest(d.id).await.unwrap().unwrap();
        assert_eq!(
            kept.status,
            gazette::store::DigestStatus::Approved,
            "kept, not skipped"
        );
        let counts = ctx.store.outbox_counts().await.unwrap();
        assert!(
            counts
                .iter()
                .all(|(k, _, _)| *k != gazette::store::OutboxKind::Digest),
            "nothing sent: {counts:?}"
        );
    }
}
