//! No backscatter, bounded notices: a stranger is answered only at an
//! envelope sender that is the From address; a subject quoted in a notice
//! is one short line; answers to one question reach the asker folded into
//! one notice an hour; acknowledgements are bounded per member per day;
//! and a throttle is taken only once its notice is queued.

use crate::common::*;
use gazette::app::{Ctx, List};
use gazette::inbound::{receive, Incoming};
use gazette::posts::Post;
use gazette::store::members::MemberRow;
use gazette::store::outbox::OutboxRow;

async fn member(ctx: &Ctx, list: &List, who: &str) -> MemberRow {
    ctx.store
        .member_by_email(list.id(), &format!("{who}@example.org"))
        .await
        .unwrap()
        .unwrap()
}

/// Every queued row, claimed (nothing sends them in these tests).
async fn queued(ctx: &Ctx) -> Vec<OutboxRow> {
    ctx.store.claim("test", 60_000, 1000).await.unwrap().rows
}

fn notices<'a>(rows: &'a [OutboxRow], to: &str, kind: &str) -> Vec<&'a OutboxRow> {
    rows.iter()
        .filter(|r| r.recipient == to && r.payload.contains(&format!("\"{kind}\"")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_are_answered_only_at_their_own_envelope() {
    for db in databases().await {
        eprintln!("--- backscatter on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let app = spawn_app(&db, &sink.url(), &[]).await;
        let list = seed_list(&app.ctx, 1).await;
        let posting = list.posting();
        // A subject with a line break (as an encoded word) and far too long.
        let subject = format!(
            "=?utf-8?q?Hello=0D=0AInjected:_yes_{}?=",
            "padding_".repeat(30)
        );
        let raw = mail(
            "victim@example.net",
            &posting,
            &subject,
            "Buy now",
            "s1@evil.example",
        );
        smtp_send(app.smtp_addr, "attacker@evil.example", &posting, &raw)
            .await
            .unwrap();
        let row = app
            .ctx
            .store
            .recent_inbound(None, 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(row.status.as_str(), "held", "{}", row.reason);
        assert!(
            row.reason.contains("not told")
                && row
                    .reason
                    .contains("attacker@evil.example is not the From address"),
            "{}",
            row.reason
        );
        // Subscribe and help requests with a forged From: no answer either.
        for (to, id) in [("pm+subscribe", "s2"), ("pm+help", "s3")] {
            let to = format!("{to}@lists.example.org");
            let raw = mail(
                "victim@example.net",
                &to,
                "x",
                "",
                &format!("{id}@evil.example"),
            );
            smtp_send(app.smtp_addr, "attacker@evil.example", &to, &raw)
                .await
                .unwrap();
            let row = app
                .ctx
                .store
                .recent_inbound(None, 1)
                .await
                .unwrap()
                .remove(0);
            assert_eq!(row.status.as_str(), "ignored", "{}", row.reason);
            assert!(
                row.reason.contains("not the From address"),
                "{}",
                row.reason
            );
        }

        // The stranger's own mail (envelope = From): told, once, with the
        // subject on one short line.
        let raw = mail(
            "victim@example.net",
            &posting,
            &subject,
            "Hi",
            "s4@example.net",
        );
        smtp_send(app.smtp_addr, "victim@example.net", &posting, &raw)
            .await
            .unwrap();
        exactly_one(&sink, "victim@example.net", "the not-member notice", |m| {
            m.subject().contains("was not posted")
        })
        .await;
        assert!(sink.to("attacker@evil.example").is_empty());
        let notice = sink.to("victim@example.net").remove(0);
        let text = notice.text();
        let quoted = text
            .lines()
            .find(|l| l.contains("Your message"))
            .unwrap_or_else(|| panic!("the subject is quoted: {text}"));
        assert!(
            !text.lines().any(|l| l.starts_with("Injected")),
            "the subject's line break survived:\n{text}"
        );
        let inner = quoted
            .split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("{quoted}"));
        assert!(
            inner.chars().count() <= 80,
            "{inner:?} is {} characters",
            inner.chars().count()
        );
        assert!(
            inner.starts_with("Hello Injected: yes padding padding") && inner.ends_with('…'),
            "{inner:?}"
        );
        assert_eq!(
            sink.to("victim@example.net").len(),
            1,
            "nothing else to the victim"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_fold_into_one_notice_an_hour() {
    for db in databases().await {
        eprintln!("--- folded answer notices on {}", db.label);
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let list = seed_list(&ctx, 6).await;
        let qid = ctx
            .store
            .thread_question(list.id(), "<q1@example.org>")
            .await
            .unwrap()
            .unwrap();
        let question = ctx.store.question(qid).await.unwrap().unwrap();
        for i in 1..=5 {
            let author = member(&ctx, &list, &format!("m{i}")).await;
            let body = format!("Answer number {i}.");
            let mid = format!("<a{i}@example.org>");
            let post = Post {
                inbound_id: None,
                subject: "",
                body: &body,
                message_id: &mid,
            };
            gazette::posts::answer(&ctx, &list, &question, &author, &post)
                .await
                .unwrap();
        }
        // The first answer is told at once; the other four wait.
        let now = gazette::now_ms();
        assert_eq!(
            gazette::notices::answers::flush(&ctx, now).await.unwrap(),
            0
        );
        let rows = queued(&ctx).await;
        let told = notices(&rows, "m0@example.org", "answers_to_asker");
        assert_eq!(told.len(), 1, "{rows:#?}");
        let (first, _) = gazette::outbound::render::render(&ctx, told[0])
            .await
            .unwrap();
        assert!(first.text.contains("Answer number 1."), "{}", first.text);
        assert!(!first.text.contains("Answer number 2."), "{}", first.text);

        // An hour later, one notice carries the four.
        let later = now + gazette::notices::answers::WINDOW_MS + 1;
        assert_eq!(
            gazette::notices::answers::flush(&ctx, later).await.unwrap(),
            1
        );
        assert_eq!(
            gazette::notices::answers::flush(&ctx, later).await.unwrap(),
            0
        );
        let rows = queued(&ctx).await;
        let told = notices(&rows, "m0@example.org", "answers_to_asker");
        assert_eq!(told.len(), 1, "one more notice: {rows:#?}");
        let (folded, _) = gazette::outbound::render::render(&ctx, told[0])
            .await
            .unwrap();
        assert!(folded.text.contains("4 new answers"), "{}", folded.text);
        for i in 2..=5 {
            assert!(
                folded.text.contains(&format!("Answer number {i}.")),
                "{}",
                folded.text
            );
        }
        assert!(!folded.text.contains("Answer number 1."), "{}", folded.text);
        assert!(folded.reply_to.is_some_and(|r| r.starts_with("pm+reply-")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_are_bounded_per_member_per_day() {
    for db in databases().await {
        eprintln!("--- acknowledgement budget on {}", db.label);
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let list = seed_list(&ctx, 2).await;
        let m1 = member(&ctx, &list, "m1").await;
        let mut asked = Vec::new();
        for i in 1..=5 {
            let subject = format!("Question {i}");
            let mid = format!("<mq{i}@example.org>");
            let post = Post {
                inbound_id: None,
                subject: &subject,
                body: "Any thoughts?",
                message_id: &mid,
            };
            asked.push(gazette::posts::ask(&ctx, &list, &m1, &post).await.unwrap());
        }
        assert_eq!(asked.len(), 5, "every question is posted");
        let rows = queued(&ctx).await;
        let acks = notices(&rows, "m1@example.org", "question_posted");
        assert_eq!(acks.len(), gazette::notices::ACKS_PER_DAY, "{rows:#?}");
        assert_eq!(gazette::notices::ACKS_PER_DAY, 3);
    }
}

/// The notice a throttle guards fails to queue: the throttle stays free,
/// and when the message is handled again the notice goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_are_taken_only_after_the_notice_is_queued() {
    for db in databases().await {
        eprintln!("--- throttle after the action on {}", db.label);
        let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let _list = seed_list(&ctx, 1).await;
        let pool = ctx.store.pool();
        let (break_outbox, mend_outbox): (&[&str], &[&str]) = match ctx.store.backend() {
            gazette::store::Backend::Sqlite => (
                &["CREATE TRIGGER no_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END"],
                &["DROP TRIGGER no_outbox"],
            ),
            gazette::store::Backend::Postgres => (
                &[
                    "CREATE FUNCTION no_outbox() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'outbox unavailable'; END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER no_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION no_outbox()",
                ],
                &["DROP TRIGGER no_outbox ON outbox"],
            ),
        };
        for sql in break_outbox {
            sqlx::query(*sql).execute(pool).await.unwrap();
        }
        let to = "pm+help@lists.example.org";
        let raw = mail("m0@example.org", to, "help", "", "h1@example.org");
        let incoming = Incoming {
            transport: "stdin",
            mail_from: Some("m0@example.org"),
            recipient: to,
            raw: raw.as_bytes(),
            trace: "",
            client: None,
        };
        // Not handled: kept to be tried again.
        let failed = receive(&ctx, &incoming).await.unwrap();
        assert_eq!(failed.outcome.status.as_str(), "received", "{failed:?}");
        for sql in mend_outbox {
            sqlx::query(*sql).execute(pool).await.unwrap();
        }
        // The MTA delivers it again.
        let r = receive(&ctx, &incoming).await.unwrap();
        assert_eq!(r.outcome.reason, "help sent");
        let rows = queued(&ctx).await;
        assert_eq!(notices(&rows, "m0@example.org", "help").len(), 1);
    }
}
