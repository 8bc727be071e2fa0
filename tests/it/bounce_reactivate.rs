//! A member disabled by bounces is told once, at a real SMTP server, with a
//! signed link: opening it changes nothing, pressing its button turns mail
//! back on (score cleared); a bounce of that notice does not send another;
//! a forged or foreign link is refused.

use crate::common::*;

async fn member(ctx: &gazette::app::Ctx, email: &str) -> gazette::store::members::MemberRow {
    let list = ctx.list_by_address(LIST_ADDRESS).await.unwrap();
    ctx.store
        .member_by_email(list.id(), email)
        .await
        .unwrap()
        .unwrap()
}

/// Lets the next bounce count (at most one counts a day).
async fn a_day_later(ctx: &gazette::app::Ctx, id: i64) {
    sqlx::query("UPDATE members SET last_bounce_at = last_bounce_at - 90000000 WHERE id = $1")
        .bind(id)
        .execute(ctx.store.pool())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disabled_member_is_told_once_and_can_reactivate() {
    for db in databases().await {
        eprintln!("--- {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let app = spawn_app(&db, &sink.url(), &[]).await;
        let ctx = &app.ctx;
        seed_list(ctx, 3).await;
        let m = member(ctx, "m1@example.org").await;
        let bounced = gazette::notices::bounced::add_bounce_points;
        bounced(ctx, m.id, 6).await.unwrap();
        a_day_later(ctx, m.id).await;
        bounced(ctx, m.id, 6).await.unwrap();
        assert_eq!(
            member(ctx, "m1@example.org").await.status.as_str(),
            "disabled"
        );
        let is_notice = |r: &sink::Received| r.subject().contains("mail to you has stopped");
        exactly_one(&sink, "m1@example.org", "the disabled notice", is_notice).await;

        // The notice bounces too: counted, but no second notice.
        a_day_later(ctx, m.id).await;
        bounced(ctx, m.id, 2).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        exactly_one(
            &sink,
            "m1@example.org",
            "still one disabled notice",
            is_notice,
        )
        .await;

        let text = sink
            .to("m1@example.org")
            .into_iter()
            .find(|r| is_notice(r))
            .unwrap()
            .text();
        let url = text
            .split_whitespace()
            .find(|w| w.contains("/reactivate/"))
            .expect("a reactivation link")
            .to_string();
        let path = &url[url.find("/reactivate/").unwrap()..];
        let local = format!("http://{}{path}", app.http_addr);

        // Opening the link (a scanner would) only asks.
        let (status, body) = http("GET", &local, "").await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("<form") && body.contains("Send me the list"),
            "{body}"
        );
        assert_eq!(
            member(ctx, "m1@example.org").await.status.as_str(),
            "disabled"
        );

        // Forged: another token, or the member's unsubscribe token.
        let token = path.trim_start_matches("/reactivate/");
        let mut forged = token.to_string();
        let last = if forged.ends_with('a') { 'b' } else { 'a' };
        forged.pop();
        forged.push(last);
        let unsubscribe = ctx
            .list_by_address(LIST_ADDRESS)
            .await
            .unwrap()
            .unsubscribe_url(&ctx.keys, m.id);
        let foreign = unsubscribe.rsplit('/').next().unwrap();
        for bad in [forged.as_str(), foreign, "nonsense"] {
            let u = format!("http://{}/reactivate/{bad}", app.http_addr);
            let (s, _) = http("POST", &u, "").await;
            assert_eq!(s, 404, "{bad} was accepted");
        }
        assert_eq!(
            member(ctx, "m1@example.org").await.status.as_str(),
            "disabled"
        );

        let (status, body) = http("POST", &local, "").await;
        assert_eq!(status, 200, "{body}");
        let after = member(ctx, "m1@example.org").await;
        assert_eq!(after.status.as_str(), "active");
        assert_eq!(after.bounce_score, 0);
        // Others were never touched, and nobody else was told anything.
        assert_eq!(
            member(ctx, "m2@example.org").await.status.as_str(),
            "active"
        );
        assert!(sink.messages().iter().filter(|r| is_notice(r)).count() == 1);
        app.stop().await;
    }
}
