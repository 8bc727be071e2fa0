//! The SMTP door: one client cannot take the slots others need, idle
//! clients are dropped quickly, forged tokens are refused before any data,
//! and replies do not tell a prober who is a member.

use super::Smtp;
use crate::common::{
    create_list, databases, mail, seed_list, spawn_app, sqlite_db, Sink, SinkBehaviour,
};
use gazette::tokens::Purpose;

const SUBSCRIBE: &str = "pm+subscribe@lists.example.org";

/// 300 idle connections from 127.0.0.1: it gets its share (10 sessions),
/// the rest `421 4.7.0` at once; 127.0.0.2 delivers meanwhile; the idle
/// sessions are closed after the short command timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_flood_from_one_client_leaves_room_for_another() {
    let db = sqlite_db();
    let sink = Sink::start(SinkBehaviour::default()).await;
    let app = spawn_app(
        &db,
        &sink.url(),
        &[("GAZETTE_INBOUND_COMMAND_TIMEOUT_SECS", "3")],
    )
    .await;
    create_list(&app, "0 8 * * MON").await;
    let mut flood = Vec::with_capacity(300);
    for _ in 0..300 {
        flood.push(Smtp::connect_from("127.0.0.1", app.smtp_addr).await);
    }
    let mut other = Smtp::connect_from("127.0.0.2", app.smtp_addr).await;
    assert!(other.reply().await.starts_with("220"));
    let raw = mail(
        "dana@example.org",
        SUBSCRIBE,
        "join",
        "hi",
        "smtp-flood-1@example.org",
    );
    let (rcpts, verdict) = other
        .transaction("EHLO", "dana@example.org", &[SUBSCRIBE], &raw)
        .await;
    assert!(rcpts[0].starts_with("250"), "{rcpts:?}");
    assert!(verdict[0].starts_with("250"), "{verdict:?}");
    other.expect("QUIT", "221").await;

    let (mut greeted, mut refused) = (Vec::new(), 0);
    for mut c in flood {
        let first = c.reply().await;
        if first.starts_with("220") {
            greeted.push(c);
        } else {
            // Told why, or (when many are refused at once) just closed.
            assert!(
                first.is_empty() || first.starts_with("421 4.7.0"),
                "{first}"
            );
            refused += 1;
        }
    }
    eprintln!(
        "300 idle SMTP connections from one client: {} served, {refused} refused",
        greeted.len()
    );
    assert_eq!(
        greeted.len(),
        10,
        "the default GAZETTE_INBOUND_MAX_PER_CLIENT"
    );
    for c in &mut greeted {
        let bye = c.reply().await;
        assert!(bye.starts_with("421 4.4.2"), "{bye}");
        assert!(c.closed().await);
    }
    app.stop().await;
}

/// The per-client caps engage with `421 4.7.0`, and another client is not
/// affected by them.
#[tokio::test]
async fn per_client_caps_spare_other_clients() {
    let db = sqlite_db();
    let app = spawn_app(
        &db,
        "file:///nonexistent",
        &[
            ("GAZETTE_INBOUND_MAX_PER_CLIENT", "3"),
            ("GAZETTE_INBOUND_CONNECTS_PER_MINUTE", "5"),
        ],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = Smtp::connect_from("127.0.0.1", app.smtp_addr).await;
        assert!(c.reply().await.starts_with("220"));
        held.push(c);
    }
    let mut fourth = Smtp::connect_from("127.0.0.1", app.smtp_addr).await;
    let refusal = fourth.reply().await;
    assert!(refusal.starts_with("421 4.7.0"), "{refusal}");
    assert!(fourth.closed().await);
    let mut other = Smtp::connect_from("127.0.0.2", app.smtp_addr).await;
    assert!(other.reply().await.starts_with("220"));
    other.expect("QUIT", "221").await;

    // 127.0.0.1 has used 4 of its 5 connections this minute.
    for mut c in held {
        c.expect("QUIT", "221").await;
        assert!(c.closed().await);
    }
    let mut fifth = Smtp::connect_from("127.0.0.1", app.smtp_addr).await;
    assert!(fifth.reply().await.starts_with("220"));
    fifth.expect("QUIT", "221").await;
    let mut sixth = Smtp::connect_from("127.0.0.1", app.smtp_addr).await;
    let refusal = sixth.reply().await;
    assert!(refusal.starts_with("421 4.7.0"), "{refusal}");
    let mut other = Smtp::connect_from("127.0.0.2", app.smtp_addr).await;
    assert!(other.reply().await.starts_with("220"));
    app.stop().await;
}

/// Forged, truncated and mismatched tokens get `550 5.1.1` at RCPT, so no
/// message is read for them; genuine ones are accepted.
#[tokio::test]
async fn forged_tokens_are_refused_at_rcpt() {
    for db in databases().await {
        let sink = Sink::start(SinkBehaviour::default()).await;
        let app = spawn_app(&db, &sink.url(), &[]).await;
        let ctx = &app.ctx;
        let list = seed_list(ctx, 1).await;
        let member = ctx
            .store
            .member_by_email(list.id(), "m0@example.org")
            .await
            .unwrap()
            .unwrap();
        // At RCPT only the signature is checked, so any ids signed by us pass.
        let reply = list.reply_address(&ctx.keys, 1, member.id, gazette::now_ms());
        let confirm = list.confirm_address(&ctx.keys, member.id, member.requested_at);
        let bounce = list.bounce_address(&ctx.keys, 1);
        let reply_token = ctx.keys.sign(Purpose::Reply, &[1, member.id]);
        let mangled = {
            let mut t = reply_token.clone();
            let last = if t.ends_with('a') { 'b' } else { 'a' };
            t.pop();
            t.push(last);
            t
        };
        let confirm_token = ctx
            .keys
            .sign(Purpose::Confirm, &[member.id, member.requested_at]);
        let forged = [
            "pm+reply-aaaaaaaaaaaaaaaaaaaaaaaaaa@lists.example.org".to_string(),
            "pm+reply-not!base32@lists.example.org".to_string(),
            "pm+confirm-garbage@lists.example.org".to_string(),
            "pm+bounce-zzzzzzzzzzzzzzzzzzzz@lists.example.org".to_string(),
            format!("pm+reply-{mangled}@lists.example.org"),
            format!(
                "pm+reply-{}@lists.example.org",
                &reply_token[..reply_token.len() - 2]
            ),
            // A genuine token for another purpose.
            format!("pm+reply-{confirm_token}@lists.example.org"),
            format!("pm+bounce-{confirm_token}@lists.example.org"),
        ];
        let forged: Vec<&str> = forged.iter().map(String::as_str).collect();
        let mut c = Smtp::connect_from("127.0.0.1", app.smtp_addr).await;
        assert!(c.reply().await.starts_with("220"));
        let raw = mail(
            "x@example.net",
            forged[0],
            "big",
            "x",
            "forged-1@example.org",
        );
        let (rcpts, after) = c.transaction("EHLO", "x@example.net", &forged, &raw).await;
        for (rcpt, r) in forged.iter().zip(&rcpts) {
            assert!(r.starts_with("550 5.1.1"), "{}: {rcpt} → {r}", db.label);
        }
        // No recipient, so DATA is refused: nothing was read or stored.
        assert!(after[0].starts_with("554"), "{after:?}");
        assert!(ctx.store.inbound_counts().await.unwrap().is_empty());

        c.expect("RSET", "250").await;
        let genuine = [reply.as_str(), confirm.as_str(), bounce.as_str()];
        c.expect("MAIL FROM:<m0@example.org>", "250").await;
        for rcpt in genuine {
            c.expect(&format!("RCPT TO:<{rcpt}>"), "250").await;
        }
        c.expect("QUIT", "221").await;
        app.stop().await;
    }
}

/// A member's accepted post and a stranger's held one get the very same
/// reply, over SMTP and (once per recipient) over LMTP; only the store
/// knows the difference.
#[tokio::test]
async fn accepted_replies_do_not_tell_members_from_strangers() {
    for db in databases().await {
        let sink = Sink::start(SinkBehaviour::default()).await;
        let app = spawn_app(&db, &sink.url(), &[]).await;
        let ctx = &app.ctx;
        seed_list(ctx, 1).await;
        let send =
            |from: &'static str, hello: &'static str, rcpts: &'static [&'static str], id: &str| {
                let raw = mail(from, rcpts[0], "A question", "What do you think?", id);
                let addr = app.smtp_addr;
                async move {
                    let mut c = Smtp::connect_from("127.0.0.1", addr).await;
                    assert!(c.reply().await.starts_with("220"));
                    let (rcpt_replies, verdicts) = c.transaction(hello, from, rcpts, &raw).await;
                    assert!(
                        rcpt_replies.iter().all(|r| r.starts_with("250")),
                        "{rcpt_replies:?}"
                    );
                    verdicts
                }
            };
        let member = send(
            "m0@example.org",
            "EHLO",
            &["pm@lists.example.org"],
            "member-1@example.org",
        )
        .await;
        let stranger = send(
            "eve@example.net",
            "EHLO",
            &["pm@lists.example.org"],
            "stranger-1@example.net",
        )
        .await;
        assert_eq!(member, stranger, "{}", db.label);
        assert_eq!(member, vec!["250 2.0.0 message accepted".to_string()]);
        let lmtp = send(
            "eve@example.net",
            "LHLO",
            &["pm@lists.example.org", "pm+help@lists.example.org"],
            "stranger-2@example.net",
        )
        .await;
        assert_eq!(lmtp, vec![member[0].clone(), member[0].clone()]);
        // The outcomes did differ.
        let counts = ctx.store.inbound_counts().await.unwrap();
        let held = counts
            .iter()
            .find(|(s, _)| s.as_str() == "held")
            .map(|(_, n)| *n);
        assert!(held.is_some_and(|n| n >= 1), "{counts:?}");
        assert!(
            counts.iter().any(|(s, _)| s.as_str() != "held"),
            "{counts:?}"
        );
        app.stop().await;
    }
}
