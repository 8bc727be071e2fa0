//! Mail that claims to speak for a member must prove it before gazette acts:
//! forged feedback reports and bounces naming a member change nothing,
//! while the same reports about a delivery of ours (its VERP address) do;
//! an unsubscribe whose envelope does not match its From gets the one-click
//! link instead; repeated subscribe requests send one confirmation. Replies
//! that reach the list address are threaded, not posted as new questions:
//! a reply-all answers once, a reply to the digest is held with a hint.
//! `postmaster@` is accepted and kept. Everything over real SMTP, on both
//! databases.

use crate::common::*;
use gazette::app::List;
use gazette::serve::Running;

const LIST: &str = "pm@lists.example.org";
const DOMAIN: &str = "lists.example.org";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_must_prove_who_it_speaks_for() {
    for db in databases().await {
        eprintln!("--- inbound trust on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let app = spawn_app(&db, &sink.url(), &[]).await;
        create_list(&app, "0 0 1 1 *").await;
        let list = app.ctx.list_by_address(LIST).await.unwrap();
        for who in ["ann", "ben", "cy", "dee", "fay"] {
            let e = gazette::email::EmailAddress::parse(&format!("{who}@example.org")).unwrap();
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
        complaints(&app, &sink, &list).await;
        bounces(&app, &sink, &list).await;
        unsubscribes(&app, &sink, &list).await;
        repeated_subscribes(&app, &sink).await;
        threads(&app, &sink, &list).await;
        operator_mail(&app).await;
        app.stop().await;
    }
}

async fn status(app: &Running, list: &List, who: &str) -> (String, i64) {
    let m = app
        .ctx
        .store
        .member_by_email(list.id(), &format!("{who}@example.org"))
        .await
        .unwrap()
        .unwrap();
    (m.status.to_string(), m.bounce_score)
}

async fn last_reason(app: &Running) -> (String, String) {
    let row = app
        .ctx
        .store
        .recent_inbound(None, 1)
        .await
        .unwrap()
        .remove(0);
    (row.status.to_string(), row.reason)
}

async fn send_raw(app: &Running, envelope_from: &str, to: &str, raw: &str) {
    smtp_send(app.smtp_addr, envelope_from, to, raw)
        .await
        .unwrap_or_else(|e| panic!("gazette refused mail to {to}: {e}"));
}

/// A notice to `who`, so that a delivery (and its VERP address) exists.
async fn verp_address(app: &Running, sink: &Sink, who: &str) -> String {
    let addr = format!("{who}@example.org");
    let raw = mail(
        &addr,
        "pm+help@lists.example.org",
        "help",
        "",
        &format!("help-{who}@x"),
    );
    send_raw(app, &addr, "pm+help@lists.example.org", &raw).await;
    let got = wait_for(10, "the help notice", || async {
        sink.to(&addr)
            .into_iter()
            .find(|m| m.subject().contains("how it works"))
    })
    .await;
    assert!(got.mail_from.starts_with("pm+bounce-"), "{}", got.mail_from);
    got.mail_from
}

fn arf(from: &str, to: &str, feedback: &str, victim: &str, id: &str) -> String {
    arf_about(from, to, feedback, victim, id, None)
}

/// An ARF report; with `original`, the reported message's headers are
/// attached, carrying that Message-ID.
fn arf_about(
    from: &str,
    to: &str,
    feedback: &str,
    victim: &str,
    id: &str,
    original: Option<&str>,
) -> String {
    let attached = original
        .map(|mid| {
            format!(
                "--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: PM Circle <{LIST}>\r\nTo: {victim}\r\nSubject: PM Circle: how it works\r\nMessage-ID: {mid}\r\n\r\n"
            )
        })
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: FBL report\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n\
         --b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: {feedback}\r\nUser-Agent: test/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <{victim}>\r\n\r\n\
         {attached}--b--\r\n"
    )
}

async fn complaints(app: &Running, sink: &Sink, list: &List) {
    // Anyone can write an ARF report naming a member: nothing happens.
    for (n, kind) in ["abuse", "auth-failure"].iter().enumerate() {
        let raw = arf(
            "mallory@evil.example",
            LIST,
            kind,
            "ben@example.org",
            &format!("arf{n}@evil"),
        );
        send_raw(app, "mallory@evil.example", LIST, &raw).await;
        assert_eq!(
            status(app, list, "ben").await.0,
            "active",
            "{kind} from a stranger"
        );
    }
    // Guessing our Message-IDs does not help: they carry a MAC.
    let fay = app
        .ctx
        .store
        .member_by_email(list.id(), "fay@example.org")
        .await
        .unwrap()
        .unwrap();
    for (n, guess) in [
        format!("<digest.{}.1.{}@{DOMAIN}>", list.id(), fay.id),
        "<notice.1@lists.example.org>".to_string(),
        "<notice.1.aaaaaaaaaaaaaaaaaa@lists.example.org>".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let raw = arf_about(
            "mallory@evil.example",
            LIST,
            "abuse",
            "fay@example.org",
            &format!("guess{n}@evil"),
            Some(guess),
        );
        send_raw(app, "mallory@evil.example", LIST, &raw).await;
        assert_eq!(
            status(app, list, "fay").await.0,
            "active",
            "guessed {guess}"
        );
    }
    // The real Message-ID of mail we sent fay, quoted in a report to
    // abuse@ (where feedback loops are registered), counts.
    let verp_fay = verp_address(app, sink, "fay").await;
    let sent_to_fay = sink
        .to("fay@example.org")
        .into_iter()
        .find(|m| m.mail_from == verp_fay)
        .unwrap();
    let real_id = sent_to_fay.header("Message-ID").unwrap();
    let abuse = format!("abuse@{DOMAIN}");
    let raw = arf_about(
        "fbl@isp.example",
        &abuse,
        "abuse",
        "fay@example.org",
        "arf-mid@isp",
        Some(&real_id),
    );
    send_raw(app, "fbl@isp.example", &abuse, &raw).await;
    assert_eq!(
        status(app, list, "fay").await.0,
        "unsubscribed",
        "a report quoting our Message-ID {real_id}"
    );

    // A report about a delivery of ours (sent to its VERP address) unsubscribes.
    let verp = verp_address(app, sink, "cy").await;
    let raw = arf(
        "fbl@isp.example",
        &verp,
        "abuse",
        "cy@example.org",
        "arf-real@isp",
    );
    send_raw(app, "", &verp, &raw).await;
    assert_eq!(status(app, list, "cy").await.0, "unsubscribed");
    let (st, reason) = last_reason(app).await;
    assert_eq!(st, "accepted", "{reason}");
}

fn dsn(to: &str, victim: &str, id: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.org\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n\
         --d\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
         --d\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
         Final-Recipient: rfc822; {victim}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
         --d--\r\n"
    )
}

async fn bounces(app: &Running, sink: &Sink, list: &List) {
    for n in 0..6 {
        let raw = dsn(LIST, "ann@example.org", &format!("dsn{n}@mx"));
        send_raw(app, "", LIST, &raw).await;
    }
    assert_eq!(
        status(app, list, "ann").await,
        ("active".into(), 0),
        "forged bounces do not count"
    );
    let verp = verp_address(app, sink, "ann").await;
    send_raw(
        app,
        "",
        &verp,
        &dsn(&verp, "ann@example.org", "dsn-real@mx"),
    )
    .await;
    let (st, score) = status(app, list, "ann").await;
    assert_eq!(st, "active");
    assert!(score > 0, "a bounce of our own delivery counts");
}

async fn unsubscribes(app: &Running, sink: &Sink, list: &List) {
    let to = "pm+unsubscribe@lists.example.org";
    let forged = mail("dee@example.org", to, "unsubscribe", "", "unsub-forged@x");
    send_raw(app, "mallory@evil.example", to, &forged).await;
    assert_eq!(status(app, list, "dee").await.0, "active");
    let (st, reason) = last_reason(app).await;
    assert_eq!(st, "held", "{reason}");
    wait_for(10, "the confirm-leave link", || async {
        sink.to("dee@example.org").into_iter().find(|m| {
            m.subject().starts_with("Confirm that you want to leave")
                && m.text().contains("/unsubscribe/")
        })
    })
    .await;
    let real = mail("dee@example.org", to, "unsubscribe", "", "unsub-real@x");
    send_raw(app, "dee@example.org", to, &real).await;
    assert_eq!(status(app, list, "dee").await.0, "unsubscribed");
    wait_for(10, "the goodbye", || async {
        sink.to("dee@example.org")
            .into_iter()
            .find(|m| m.subject().starts_with("You have left"))
    })
    .await;
}

async fn repeated_subscribes(app: &Running, sink: &Sink) {
    let to = "pm+subscribe@lists.example.org";
    for n in 0..3 {
        let raw = mail("zed@example.net", to, "subscribe", "", &format!("sub{n}@x"));
        send_raw(app, "zed@example.net", to, &raw).await;
    }
    exactly_one(
        sink,
        "zed@example.net",
        "one confirmation for three requests",
        |m| m.subject().starts_with("Confirm"),
    )
    .await;
    assert_eq!(sink.to("zed@example.net").len(), 1, "and nothing else");
}

async fn count(app: &Running, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(app.ctx.store.pool())
        .await
        .unwrap()
}

async fn threads(app: &Running, sink: &Sink, list: &List) {
    let q = mail(
        "ann@example.org",
        LIST,
        "Status reports?",
        "What goes in yours?",
        "q-status@example.org",
    );
    send_raw(app, "ann@example.org", LIST, &q).await;
    wait_for(10, "the acknowledgement", || async {
        sink.to("ann@example.org")
            .into_iter()
            .find(|m| m.subject() == "Re: Status reports?")
    })
    .await;
    let (questions, answers) = (count(app, "questions").await, count(app, "answers").await);
    let qid: i64 = sqlx::query_scalar("SELECT MAX(id) FROM questions")
        .fetch_one(app.ctx.store.pool())
        .await
        .unwrap();
    let ben = app
        .ctx
        .store
        .member_by_email(list.id(), "ben@example.org")
        .await
        .unwrap()
        .unwrap();
    let reply_to = list.reply_address(&app.ctx.keys, qid, ben.id, gazette::now_ms());

    // Reply-all: the same message reaches the reply address and the list.
    let body = "Risks, decisions, asks.\r\n\r\nOn Mon, Ann wrote:\r\n> What goes in yours?";
    let answer = format!(
        "From: ben@example.org\r\nTo: {reply_to}\r\nCc: {LIST}\r\nSubject: Re: Status reports?\r\nMessage-ID: <a-status@example.org>\r\n\
         In-Reply-To: <q-status@example.org>\r\nReferences: <q-status@example.org>\r\n\r\n{body}\r\n"
    );
    send_raw(app, "ben@example.org", LIST, &answer).await;
    send_raw(app, "ben@example.org", &reply_to, &answer).await;
    assert_eq!(
        count(app, "questions").await,
        questions,
        "no second question"
    );
    assert_eq!(
        count(app, "answers").await,
        answers + 1,
        "exactly one answer"
    );

    // A reply to the digest as a whole: held, with a hint.
    let digest_id = format!("<digest.{}.1.{}@{DOMAIN}>", list.id(), ben.id);
    let reply = format!(
        "From: ben@example.org\r\nTo: {LIST}\r\nSubject: Re: PM Circle digest, 30 Nov 2026\r\nMessage-ID: <dr@example.org>\r\n\
         In-Reply-To: {digest_id}\r\nReferences: {digest_id}\r\n\r\nThanks, great issue!\r\n"
    );
    send_raw(app, "ben@example.org", LIST, &reply).await;
    assert_eq!(count(app, "questions").await, questions);
    let (st, reason) = last_reason(app).await;
    assert_eq!(st, "held", "{reason}");
    wait_for(10, "the how-to-answer hint", || async {
        sink.to("ben@example.org")
            .into_iter()
            .find(|m| m.subject().contains("digest was not posted"))
    })
    .await;
}

async fn operator_mail(app: &Running) {
    let to = format!("postmaster@{DOMAIN}");
    let raw = mail("admin@example.net", &to, "Your server", "FYI", "pm-op@x");
    send_raw(app, "admin@example.net", &to, &raw).await;
    let row = app
        .ctx
        .store
        .recent_inbound(None, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(row.status.as_str(), "held", "{}", row.reason);
    assert!(row.reason.contains("postmaster"), "{}", row.reason);
    let raw = app.ctx.store.inbound_raw(row.id).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("Return-Path: <admin@example.net>\r\nReceived: from "),
        "trace fields are added: {text}"
    );
}
