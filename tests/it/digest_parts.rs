//! The digest is rendered once per issue and each member's copy spliced
//! from its pieces (`DigestParts`); on a real issue (questions, answers, an
//! editor's pick, an intro with Markdown and characters HTML escapes, a
//! public archive) every member's copy must be byte for byte what rendering
//! the templates for that member gives, and its quoted-printable bodies,
//! encoded from pieces encoded once, what encoding the whole copy gives.

use crate::common::*;
use gazette::app::Ctx;
use gazette::digest::Issue;
use gazette::outbound::compose::quoted_printable;
use gazette::outbound::render::{digest_bodies_issued, DigestParts};
use gazette::posts::Post;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spliced_copy_equals_the_per_member_render() {
    let db = sqlite_db();
    let ctx = Ctx::open(test_config(&db, "file:///dev/null", &[]))
        .await
        .unwrap();
    seed_list(&ctx, 12).await;
    sqlx::query("UPDATE lists SET archive_public = 1")
        .execute(ctx.store.pool())
        .await
        .unwrap();
    let list = ctx.list_by_address(LIST_ADDRESS).await.unwrap();
    let member = |i: usize| {
        let ctx = ctx.clone();
        async move {
            ctx.store
                .member_by_email(list_id(&ctx).await, &format!("m{i}@example.org"))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let asker = member(3).await;
    let body = "Tabs & <spaces>? \"Quotes\" and 'apostrophes', a link https://example.org/a?b=1&c=2 \
                and a long line that has to be wrapped because it goes on and on past seventy-two columns.\n\n\
                A second paragraph.\n. a line starting with a dot";
    gazette::posts::ask(
        &ctx,
        &list,
        &asker,
        &Post {
            inbound_id: None,
            subject: "Estimates & <deadlines> — ünïcödé",
            body,
            message_id: "<q2@example.org>",
        },
    )
    .await
    .unwrap();
    // seed_list's question, "Roadmaps?".
    let q = ctx.store.question(1).await.unwrap().unwrap();
    assert!(q.subject.starts_with("Roadmaps"));
    gazette::posts::answer(
        &ctx,
        &list,
        &q,
        &member(5).await,
        &Post {
            inbound_id: None,
            subject: "Re: Roadmaps?",
            body: "Two quarters, <roughly>.\n\n> quoted & kept",
            message_id: "<a1@example.org>",
        },
    )
    .await
    .unwrap();
    gazette::digest::send::edit(
        &ctx,
        &list,
        Some("Issue #1: \"roadmaps\" & more"),
        Some("Welcome to **this** issue — see [the guide](https://example.org/guide?x=1&y=2) <b>bold</b>."),
    )
    .await
    .unwrap();
    let released = gazette::digest::send::send_now(&ctx, &list).await.unwrap();
    let gazette::digest::send::Released::Sent { digest_id, .. } = released else {
        panic!("the issue was not sent: {released:?}");
    };
    let d = ctx.store.digest(digest_id).await.unwrap().unwrap();
    let issue = Issue::of(&d).unwrap();
    assert!(
        issue.items.len() >= 2,
        "a real issue: {} items",
        issue.items.len()
    );
    let frozen = Arc::new((d.clone(), issue));
    let parts = DigestParts::prepare(&ctx, &list, frozen.clone()).unwrap();
    let issued = 1_795_000_000_000;
    for i in 0..12 {
        let m = member(i).await;
        let spliced = parts.for_member(&ctx, &list, m.id, issued);
        let rendered =
            digest_bodies_issued(&ctx, &list, m.id, (&d.subject, &d.intro), &frozen.1, issued)
                .unwrap();
        assert_eq!(spliced.0, rendered.0, "text for m{i}");
        assert_eq!(spliced.1, rendered.1, "html for m{i}");
        // Encoded piece by piece, as whole.
        let encoded = parts.encoded_for_member(&ctx, &list, m.id, issued);
        assert_eq!(
            encoded.text,
            quoted_printable(rendered.0.clone()),
            "encoded text for m{i}"
        );
        assert_eq!(
            encoded.html,
            quoted_printable(rendered.1.clone()),
            "encoded html for m{i}"
        );
        assert!(rendered.0.contains("To answer, reply to") && rendered.0.contains("pm+reply-"));
        assert!(rendered.1.contains("unsubscribe/"));
    }
}

async fn list_id(ctx: &Ctx) -> i64 {
    ctx.list_by_address(LIST_ADDRESS).await.unwrap().id()
}
