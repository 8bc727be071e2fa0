//! The whole story over real SMTP, on SQLite and (when configured)
//! PostgreSQL: two members subscribe and confirm (one by reply, one by
//! link), one asks, the other answers by replying to the question inside
//! the digest (with quoted history and a signature), the digest fires from
//! the schedule, everyone gets exactly one copy with the trimmed answer, and
//! a one-click unsubscribe stops all further mail.

use crate::common::*;
use gazette::serve::Running;

const LIST: &str = "pm@lists.example.org";
const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_email_loop() {
    for db in databases().await {
        eprintln!("--- email loop on {}", db.label);
        story(&db).await;
    }
}

async fn send(app: &Running, from: &str, to: &str, subject: &str, body: &str, id: &str) {
    smtp_send(app.smtp_addr, from, to, &mail(from, to, subject, body, id))
        .await
        .unwrap_or_else(|e| panic!("gazette refused mail from {from} to {to}: {e}"));
}

fn digests(sink: &Sink, who: &str) -> Vec<sink::Received> {
    sink.to(who)
        .into_iter()
        .filter(|m| {
            m.header("Message-ID")
                .unwrap_or_default()
                .starts_with("<digest.")
        })
        .collect()
}

async fn story(db: &TestDb) {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let app = spawn_app(db, &sink.url(), &[]).await;
    create_list(&app, "0 0 1 1 *").await;

    // Both subscribe by mail; subject and body are ignored.
    send(
        &app,
        ALICE,
        "pm+subscribe@lists.example.org",
        "",
        "",
        "s1@example.org",
    )
    .await;
    send(
        &app,
        BOB,
        "pm+subscribe@lists.example.org",
        "please add me",
        "thanks",
        "s2@example.org",
    )
    .await;
    let confirm = |who: &'static str| {
        let sink = &sink;
        async move {
            wait_for(10, "confirmation mail", || async {
                sink.to(who)
                    .into_iter()
                    .find(|m| m.subject().starts_with("Confirm"))
            })
            .await
        }
    };
    let (ca, cb) = (confirm(ALICE).await, confirm(BOB).await);
    assert_eq!(ca.header("Auto-Submitted").as_deref(), Some("auto-replied"));
    assert!(
        ca.mail_from.starts_with("pm+bounce-"),
        "VERP return path, got {}",
        ca.mail_from
    );

    // Alice confirms by replying; Bob by opening the link.
    let reply_to = ca.header("Reply-To").expect("confirmation has a Reply-To");
    assert!(reply_to.contains("pm+confirm-"), "{reply_to}");
    send(
        &app,
        ALICE,
        &reply_to,
        "Re: Confirm your subscription",
        "> Someone (probably you) asked",
        "c1@example.org",
    )
    .await;
    let text = cb.text();
    let url = text
        .split_whitespace()
        .find(|w| w.contains("/confirm/"))
        .expect("confirm link")
        .to_string();
    // Opening the link shows a button; only its POST confirms.
    let (status, page) = http("GET", &url, "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"confirm-button\""), "{page}");
    let (status, page) = http("POST", &url, "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("subscribed"), "{page}");
    for who in [ALICE, BOB] {
        wait_for(10, "welcome", || async {
            sink.to(who)
                .into_iter()
                .find(|m| m.subject().starts_with("Welcome"))
        })
        .await;
    }

    // A second subscribe from an active member: told so, nothing else.
    send(
        &app,
        BOB,
        "pm+subscribe@lists.example.org",
        "",
        "",
        "s3@example.org",
    )
    .await;
    wait_for(10, "already-subscribed notice", || async {
        sink.to(BOB)
            .into_iter()
            .find(|m| m.subject().contains("already subscribed"))
    })
    .await;

    // Alice asks.
    let question = "How do you run a pre-mortem?";
    send(&app, ALICE, LIST, question, "We keep missing risks in launches.\nWhat format works for you?\n\n-- \nAlice\nSenior PM, Example Corp", "q1@example.org").await;
    let ack = wait_for(10, "acknowledgement", || async {
        sink.to(ALICE)
            .into_iter()
            .find(|m| m.subject() == format!("Re: {question}"))
    })
    .await;
    assert!(ack.header("Reply-To").unwrap().contains("pm+reply-"));

    // Switch the schedule to every 2 seconds: the scheduler fires the digest.
    let row = app.ctx.store.list_by_address(LIST).await.unwrap().unwrap();
    let moved = app
        .ctx
        .store
        .set_schedule(
            row.id,
            "*/2 * * * * *",
            &row.timezone,
            Some(gazette::now_ms()),
            row.next_digest_at,
        )
        .await
        .unwrap();
    assert!(moved);

    let first = wait_for(15, "first digest to Bob", || async {
        digests(&sink, BOB)
            .into_iter()
            .find(|m| m.text().contains(question))
    })
    .await;
    assert!(
        first.subject().starts_with("PM Circle digest, "),
        "{}",
        first.subject()
    );
    for h in ["List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"] {
        assert!(first.header(h).is_some(), "digest lacks {h}");
    }
    // The question's reply address for Bob, in text and in the HTML mailto link.
    let text = first.text();
    assert!(text.contains("To answer, reply to:"), "{text}");
    let reply_addr = text
        .split_whitespace()
        .find(|w| w.starts_with("pm+reply-"))
        .expect("a reply address under the question")
        .to_string();
    assert!(
        reply_addr.starts_with("pm+reply-") && reply_addr.len() - "@lists.example.org".len() <= 64
    );
    assert!(
        first
            .html()
            .contains(&format!("mailto:{reply_addr}?subject=Re%3A%20")),
        "HTML has the mailto link"
    );

    // Bob answers from the digest with quoted history and a signature.
    let answer_body = "We run a 45-minute session before kickoff: everyone writes down why\nthe launch failed, then we group the causes.\n\nOn Tue, 24 Nov 2026 at 08:00, PM Circle <pm@lists.example.org> wrote:\n> 1. How do you run a pre-mortem?\n>    asked by alice\n\n-- \nBob Builder\nDirector of Programs";
    send(
        &app,
        BOB,
        &reply_addr,
        &format!("Re: {question}"),
        answer_body,
        "a1@example.org",
    )
    .await;
    // The asker hears about it at once.
    wait_for(10, "answer notice to Alice", || async {
        sink.to(ALICE).into_iter().find(|m| {
            m.text().contains("45-minute session")
                && !m.header("Message-ID").unwrap().starts_with("<digest.")
        })
    })
    .await;

    // The next scheduled digest carries the trimmed answer, once per member.
    for who in [ALICE, BOB] {
        wait_for(15, "digest with the answer", || async {
            digests(&sink, who)
                .into_iter()
                .find(|m| m.text().contains("45-minute session"))
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await; // more schedule slots pass: empty issues are skipped
    for who in [ALICE, BOB] {
        let all = digests(&sink, who);
        let with_answer: Vec<_> = all
            .iter()
            .filter(|m| m.text().contains("45-minute session"))
            .collect();
        assert_eq!(
            with_answer.len(),
            1,
            "{who} got the answer in exactly one digest"
        );
        let text = with_answer[0].text();
        assert!(text.contains(question));
        assert!(
            !text.contains("Director of Programs"),
            "signature trimmed:\n{text}"
        );
        assert!(!text.contains("wrote:"), "quoted history trimmed:\n{text}");
        let mut ids: Vec<_> = all
            .iter()
            .map(|m| m.header("Message-ID").unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            all.len(),
            "{who} never got the same digest twice"
        );
    }

    // One-click unsubscribe (RFC 8058) from Alice's digest stops all mail.
    let alice_digest = digests(&sink, ALICE).pop().unwrap();
    let header = alice_digest.header("List-Unsubscribe").unwrap();
    let url = header
        .split(['<', '>'])
        .find(|p| p.starts_with("http"))
        .expect("https unsubscribe")
        .to_string();
    let (status, page) = http("GET", &url, "").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<form method=\"post\""),
        "GET shows a button, does not unsubscribe"
    );
    let (status, _) = http("POST", &url, "List-Unsubscribe=One-Click").await;
    assert_eq!(status, 200);
    let alice_before = sink.to(ALICE).len();

    send(
        &app,
        BOB,
        LIST,
        "Which RAID template do you use?",
        "Looking for a simple one.",
        "q2@example.org",
    )
    .await;
    wait_for(15, "a digest to Bob with the second question", || async {
        digests(&sink, BOB)
            .into_iter()
            .find(|m| m.text().contains("RAID template"))
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        sink.to(ALICE).len(),
        alice_before,
        "no mail after unsubscribing"
    );
    assert!(
        sink.to(ALICE)
            .iter()
            .all(|m| !m.subject().starts_with("You have left")),
        "no goodbye for the one-click unsubscribe"
    );
    app.stop().await;
}
