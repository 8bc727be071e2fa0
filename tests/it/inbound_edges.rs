//! Inbound mail that must not do what it asks: unknown recipients (550),
//! oversize messages (552), duplicates (act once), forged reply tokens
//! (550 at RCPT), mismatched ones (held), auto-replies and bounces (never answered), and
//! posts from strangers (held, told how to subscribe at most once a day).

use crate::common::*;
use gazette::serve::Running;
use std::time::Duration;

const LIST: &str = "pm@lists.example.org";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_and_suspicious_mail() {
    for db in databases().await {
        eprintln!("--- inbound edges on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let app = spawn_app(&db, &sink.url(), &[("GAZETTE_MAX_MESSAGE_BYTES", "4096")]).await;
        create_list(&app, "0 0 1 1 *").await;
        let list = app.ctx.list_by_address(LIST).await.unwrap();
        for who in ["ann@example.org", "ben@example.org"] {
            let e = gazette::email::EmailAddress::parse(who).unwrap();
            gazette::membership::add(
                &app.ctx,
                &list,
                &e,
                "",
                gazette::store::DeliveryMode::Digest,
                "test",
            )
            .await
            .unwrap();
        }
        refusals(&app).await;
        duplicates(&app, &sink).await;
        tokens(&app, &sink).await;
        robots(&app, &sink).await;
        strangers(&app, &sink).await;
        app.stop().await;
    }
}

async fn held_reasons(app: &Running) -> Vec<String> {
    app.ctx
        .store
        .recent_inbound(Some(gazette::store::InboundStatus::Held), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.reason)
        .collect()
}

async fn refusals(app: &Running) {
    let err = smtp_send(
        app.smtp_addr,
        "x@example.org",
        "nobody@lists.example.org",
        &mail(
            "x@example.org",
            "nobody@lists.example.org",
            "hi",
            "hi",
            "u1@x",
        ),
    )
    .await
    .expect_err("unknown recipient is refused");
    assert!(err.to_string().contains("550"), "{err}");
    let big = "x".repeat(8000);
    let err = smtp_send(
        app.smtp_addr,
        "ann@example.org",
        LIST,
        &mail("ann@example.org", LIST, "big", &big, "big@x"),
    )
    .await
    .expect_err("oversize is refused");
    assert!(err.to_string().contains("552"), "{err}");
}

async fn duplicates(app: &Running, sink: &Sink) {
    let raw = mail(
        "ann@example.org",
        LIST,
        "Dependency maps?",
        "How do you draw them?",
        "dup@example.org",
    );
    for _ in 0..3 {
        smtp_send(app.smtp_addr, "ann@example.org", LIST, &raw)
            .await
            .unwrap();
    }
    wait_for(10, "the acknowledgement", || async {
        sink.to("ann@example.org")
            .into_iter()
            .find(|m| m.subject() == "Re: Dependency maps?")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acks = sink
        .to("ann@example.org")
        .into_iter()
        .filter(|m| m.subject() == "Re: Dependency maps?")
        .count();
    assert_eq!(acks, 1, "the same message delivered three times acts once");
}

async fn tokens(app: &Running, sink: &Sink) {
    let list = app.ctx.list_by_address(LIST).await.unwrap();
    let ann = app
        .ctx
        .store
        .member_by_email(list.id(), "ann@example.org")
        .await
        .unwrap()
        .unwrap();
    let ben = app
        .ctx
        .store
        .member_by_email(list.id(), "ben@example.org")
        .await
        .unwrap()
        .unwrap();
    let qid = app
        .ctx
        .store
        .recent_inbound(Some(gazette::store::InboundStatus::Accepted), 10)
        .await
        .unwrap()
        .len() as i64; // any id works for a forgery
                       // A token signed with another key.
    let forged = gazette::tokens::TokenKey::new(b"not the secret")
        .sign(gazette::tokens::Purpose::Reply, &[qid.max(1), ann.id]);
    let to = format!("pm+reply-{forged}@lists.example.org");
    let refused = smtp_send(
        app.smtp_addr,
        "ann@example.org",
        &to,
        &mail("ann@example.org", &to, "Re: x", "forged", "f1@x"),
    )
    .await
    .expect_err("a forged token is refused at RCPT");
    assert!(refused.is_permanent(), "{refused}");
    // A real token for Ann, used by Ben.
    let question = app
        .ctx
        .store
        .question(1)
        .await
        .unwrap()
        .expect("question 1 exists");
    let real = list.reply_address(&app.ctx.keys, question.id, ann.id, gazette::now_ms());
    smtp_send(
        app.smtp_addr,
        "ben@example.org",
        &real,
        &mail("ben@example.org", &real, "Re: x", "not mine", "f2@x"),
    )
    .await
    .unwrap();
    let _ = ben;
    wait_for(10, "the held-reply notice to Ben", || async {
        sink.to("ben@example.org")
            .into_iter()
            .find(|m| m.subject().contains("reply to PM Circle was not posted"))
    })
    .await;
    let reasons = held_reasons(app).await;
    assert!(
        reasons.iter().any(|r| r.contains("does not match")),
        "{reasons:?}"
    );
}

async fn robots(app: &Running, sink: &Sink) {
    let before = sink.count();
    let auto = "From: ann@example.org\r\nTo: pm@lists.example.org\r\nSubject: Out of Office: Dependency maps?\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@x>\r\n\r\nI am away until Monday.\r\n";
    smtp_send(app.smtp_addr, "ann@example.org", LIST, auto)
        .await
        .unwrap();
    let stranger_auto = auto
        .replace("ann@example.org", "far@away.example")
        .replace("<ooo@x>", "<ooo2@x>");
    smtp_send(
        app.smtp_addr,
        "far@away.example",
        "pm+subscribe@lists.example.org",
        &stranger_auto,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.count(), before, "auto-replies are never answered");
    let ignored = app
        .ctx
        .store
        .recent_inbound(Some(gazette::store::InboundStatus::Ignored), 10)
        .await
        .unwrap();
    assert!(
        ignored
            .iter()
            .filter(|r| r.kind.as_str() == "auto-reply")
            .count()
            >= 2,
        "{ignored:?}"
    );
    let list = app.ctx.list_by_address(LIST).await.unwrap();
    assert!(
        app.ctx
            .store
            .member_by_email(list.id(), "far@away.example")
            .await
            .unwrap()
            .is_none(),
        "an autoresponder is not subscribed"
    );
}

async fn strangers(app: &Running, sink: &Sink) {
    for n in 0..2 {
        let raw = mail(
            "eve@example.net",
            LIST,
            "Buy now",
            "spam",
            &format!("spam{n}@x"),
        );
        smtp_send(app.smtp_addr, "eve@example.net", LIST, &raw)
            .await
            .unwrap();
    }
    exactly_one(
        sink,
        "eve@example.net",
        "at most one notice per address per day",
        |m| m.subject().contains("not posted"),
    )
    .await;
    assert_eq!(sink.to("eve@example.net").len(), 1, "and nothing else");
    assert!(held_reasons(app)
        .await
        .iter()
        .any(|r| r.contains("not a member")));
}
