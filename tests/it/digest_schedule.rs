//! The digest's life on both databases, driven through the scheduler the
//! way `serve` drives it: a slot fires once however many workers race;
//! after downtime it fires once; a crash between claiming the slot and
//! sending leaves a due issue the next pass sends; a post whose insert
//! commits late still makes exactly one issue; approval lists wait for an
//! editor, who hears about the draft before the slot.

use crate::common::*;
use gazette::app::{Ctx, List};
use gazette::digest::scheduler::{tick, Memory};
use gazette::digest::Issue;
use gazette::email::EmailAddress;
use gazette::posts::{self, Post};

const DAY: i64 = 24 * 3600 * 1000;

async fn setup(db: &TestDb, require_approval: bool) -> (Ctx, List) {
    setup_list(db, "file:///nonexistent", require_approval).await
}

async fn setup_with(db: &TestDb, smtp_url: &str) -> (Ctx, List) {
    setup_list(db, smtp_url, false).await
}

async fn setup_list(db: &TestDb, smtp_url: &str, require_approval: bool) -> (Ctx, List) {
    let ctx = Ctx::open(test_config(db, smtp_url, &[])).await.unwrap();
    let spec = gazette::lists::ListSpec {
        address: "pm@lists.example.org",
        name: "PM Circle",
        schedule: "0 8 * * MON",
        timezone: "Europe/Paris",
        require_approval,
    };
    let list = gazette::lists::create(&ctx, &spec).await.unwrap();
    for who in ["ann", "bob", "cy"] {
        let e = EmailAddress::parse(&format!("{who}@example.org")).unwrap();
        gazette::membership::add(
            &ctx,
            &list,
            &e,
            "",
            gazette::store::DeliveryMode::Digest,
            "test",
        )
        .await
        .unwrap();
    }
    (ctx, list)
}

async fn member(ctx: &Ctx, list: &List, who: &str) -> gazette::store::members::MemberRow {
    let e = EmailAddress::parse(&format!("{who}@example.org")).unwrap();
    gazette::membership::find(ctx, list, &e)
        .await
        .unwrap()
        .unwrap()
}

async fn ask(ctx: &Ctx, list: &List, who: &str, subject: &str) -> i64 {
    let m = member(ctx, list, who).await;
    let id = format!("<{subject}@example.org>").replace(' ', "-");
    let post = Post {
        inbound_id: None,
        subject,
        body: "Body of the question.",
        message_id: &id,
    };
    posts::ask(ctx, list, &m, &post).await.unwrap()
}

async fn answer(ctx: &Ctx, list: &List, who: &str, question: i64, body: &str) -> i64 {
    let m = member(ctx, list, who).await;
    let q = ctx.store.question(question).await.unwrap().unwrap();
    let post = Post {
        inbound_id: None,
        subject: "",
        body,
        message_id: "<a@example.org>",
    };
    posts::answer(ctx, list, &q, &m, &post).await.unwrap()
}

/// Pretends the list's slot passed `ago_ms` ago.
async fn make_due(ctx: &Ctx, list: &List, ago_ms: i64) -> List {
    set_next(ctx, list, gazette::now_ms() - ago_ms).await
}

/// Moves the list's next digest run to `at` (as the scheduler would).
async fn set_next(ctx: &Ctx, list: &List, at: i64) -> List {
    let row = ctx.store.list_by_id(list.id()).await.unwrap().unwrap();
    assert!(ctx
        .store
        .move_next_digest(row.id, row.next_digest_at, Some(at))
        .await
        .unwrap());
    reload(ctx, list).await
}

async fn digests_queued(ctx: &Ctx) -> i64 {
    ctx.store
        .outbox_counts()
        .await
        .unwrap()
        .iter()
        .filter(|(k, _, _)| k.as_str() == "digest")
        .map(|(_, _, n)| n)
        .sum()
}

async fn reload(ctx: &Ctx, list: &List) -> List {
    ctx.list(ctx.store.list_by_id(list.id()).await.unwrap().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_issues_fire_once_and_lose_nothing() {
    for db in databases().await {
        eprintln!("--- digest schedule on {}", db.label);
        let (ctx, list) = setup(&db, false).await;
        let other = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
            .await
            .unwrap();
        let q1 = ask(&ctx, &list, "ann", "Roadmaps").await;

        // Three weekly slots missed (downtime); two workers race the pass.
        let list = make_due(&ctx, &list, 15 * DAY).await;
        let (a, b) = tokio::join!(
            async { tick(&ctx, &mut Memory::default()).await.unwrap() },
            async { tick(&other, &mut Memory::default()).await.unwrap() }
        );
        assert_eq!(a + b, 1, "exactly one worker fires the slot");
        assert_eq!(digests_queued(&ctx).await, 3, "one issue, once per member");
        let after = reload(&ctx, &list).await;
        let next = after.row.next_digest_at.unwrap();
        assert!(
            next > gazette::now_ms(),
            "after downtime the next slot is ahead"
        );
        assert!(next - gazette::now_ms() <= 7 * DAY);
        tick(&ctx, &mut Memory::default()).await.unwrap();
        assert_eq!(
            digests_queued(&ctx).await,
            3,
            "missed slots do not fire again"
        );
        let sent = &ctx.store.recent_digests(list.id(), 1).await.unwrap()[0];
        assert_eq!(sent.status.as_str(), "sent");
        // Dated the day it went out (in the list's time zone), not the
        // missed slot's day.
        let sent_day = {
            use chrono::TimeZone;
            chrono_tz::Europe::Paris
                .timestamp_millis_opt(sent.sent_at.unwrap())
                .unwrap()
                .format("%-d %b %Y")
                .to_string()
        };
        assert_eq!(sent.subject, format!("PM Circle digest, {sent_day}"));

        // An answer whose row is stamped before the freeze but commits
        // after it (a slow writer) still goes out once, in the next issue.
        let late = answer(
            &ctx,
            &list,
            "bob",
            q1,
            "Quarterly, with a rolling six weeks.",
        )
        .await;
        sqlx::query("UPDATE answers SET created_at = $1 WHERE id = $2")
            .bind(sent.until_at.unwrap() - 1)
            .bind(late)
            .execute(ctx.store.pool())
            .await
            .unwrap();

        // A crash right after the slot was claimed: the issue is due, nothing sent.
        let list = make_due(&ctx, &after, 1000).await;
        let next = gazette::digest::scheduler::next_slot(&list, gazette::now_ms()).unwrap();
        assert!(ctx
            .store
            .fire_slot(list.id(), list.row.next_digest_at.unwrap(), next, 0)
            .await
            .unwrap());
        assert_eq!(digests_queued(&ctx).await, 3);
        // The restarted scheduler's next pass finds the due issue and sends it.
        assert_eq!(tick(&other, &mut Memory::default()).await.unwrap(), 0);
        assert_eq!(
            digests_queued(&ctx).await,
            6,
            "the due issue went out after the crash"
        );
        let second = &ctx.store.recent_digests(list.id(), 1).await.unwrap()[0];
        let issue = Issue::of(second).unwrap();
        assert_eq!(issue.items.len(), 1);
        assert_eq!(issue.items[0].question_id, q1);
        assert_eq!(issue.items[0].section, gazette::digest::Section::Updated);
        assert_eq!(issue.items[0].answers.len(), 1);
        assert_eq!(issue.items[0].answers[0].answer_id, late);

        // Nothing new: the next slot is skipped, no mail.
        let list = make_due(&ctx, &list, 1000).await;
        tick(&ctx, &mut Memory::default()).await.unwrap();
        assert_eq!(digests_queued(&ctx).await, 6);
        let third = &ctx.store.recent_digests(list.id(), 1).await.unwrap()[0];
        assert_eq!(third.status.as_str(), "skipped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_lists_wait_for_an_editor_who_is_told_ahead() {
    for db in databases().await {
        eprintln!("--- digest approval on {}", db.label);
        let (ctx, list) = setup(&db, true).await;
        let editor = EmailAddress::parse("ed@example.org").unwrap();
        gazette::lists::add_editor(&ctx, &list, &editor)
            .await
            .unwrap();
        ask(&ctx, &list, "ann", "Hiring").await;
        let editor_notices = || async {
            let rows = ctx.store.claim("t", 60_000, 100).await.unwrap().rows;
            let n = rows
                .iter()
                .filter(|r| r.recipient == "ed@example.org" && r.payload.contains("digest_ready"))
                .count();
            for r in rows {
                ctx.store.mark_sent(r.id, "250 test").await.unwrap();
            }
            n
        };
        assert_eq!(editor_notices().await, 0);

        // Twelve hours before the slot: the editor hears about the draft, once.
        set_next(&ctx, &list, gazette::now_ms() + 12 * 3600 * 1000).await;
        let mut memory = Memory::default();
        tick(&ctx, &mut memory).await.unwrap();
        tick(&ctx, &mut Memory::default()).await.unwrap();
        assert_eq!(editor_notices().await, 1, "told once before the slot");

        // The slot passes unapproved: nothing goes out, and nobody is told twice.
        let list = make_due(&ctx, &list, 1000).await;
        tick(&ctx, &mut memory).await.unwrap();
        tick(&ctx, &mut memory).await.unwrap();
        assert_eq!(digests_queued(&ctx).await, 0, "waits for approval");
        assert_eq!(editor_notices().await, 0);

        // Approval after the slot sends at once.
        let (d, released) = gazette::digest::send::approve_and_release_if_due(&ctx, &list, None)
            .await
            .unwrap();
        assert!(
            matches!(
                released,
                Some(gazette::digest::send::Released::Sent { recipients: 3, .. })
            ),
            "{released:?} {d:?}"
        );
        assert_eq!(digests_queued(&ctx).await, 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_text_stays_within_72_columns() {
    let db = sqlite_db();
    let (ctx, list) = setup(&db, false).await;
    let subject = "How do you keep a cross-functional launch plan honest when every team reports green until the week before?";
    let q = ask(&ctx, &list, "ann", subject).await;
    answer(
        &ctx,
        &list,
        "bob",
        q,
        "We ask every team for the one risk that would move their date, and we\nwrite it next to their status, in their words.\n\n1. Ask for the risk, not the colour, and keep asking every single week until it is a habit\n2. Review it",
    )
    .await;
    let bob = EmailAddress::parse("bob@example.org").unwrap();
    let (_, text, html) = gazette::digest::send::preview(&ctx, &list, Some(&bob))
        .await
        .unwrap();
    for line in text.lines() {
        let unbreakable = !line.trim().contains(' ');
        assert!(
            line.chars().count() <= 72 || unbreakable,
            "line over 72 columns: {line:?}\n{text}"
        );
    }
    assert!(text.contains("   | 1. Ask for the risk"), "{text}");
    assert!(
        text.contains("   |    week until it is a habit\n"),
        "list items hang: {text}"
    );
    assert!(text.contains("pm+reply-"), "{text}");
    assert!(html.contains("mailto:pm+reply-"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_sets_subject_and_intro_until_the_issue_is_frozen() {
    for db in databases().await {
        let (ctx, list) = setup(&db, true).await;
        ask(&ctx, &list, "ann", "Offsites").await;
        use gazette::digest::send::{approve, edit, send_now};
        let d = edit(
            &ctx,
            &list,
            Some("Offsite special"),
            Some("Three answers on offsites."),
        )
        .await
        .unwrap();
        assert_eq!(d.subject, "Offsite special");
        let d = edit(&ctx, &list, None, None).await.unwrap();
        assert_eq!(
            (d.subject.as_str(), d.intro.as_str()),
            ("Offsite special", "Three answers on offsites.")
        );
        let ann = EmailAddress::parse("ann@example.org").unwrap();
        let (_, text, _) = gazette::digest::send::preview(&ctx, &list, Some(&ann))
            .await
            .unwrap();
        assert!(
            text.starts_with(
                "Offsite special\nThis issue: 1 new question\n\nThree answers on offsites."
            ),
            "{text}"
        );
        approve(&ctx, &list).await.unwrap();
        assert!(
            edit(&ctx, &list, Some("Too late"), None).await.is_err(),
            "an approved issue is frozen"
        );
        send_now(&ctx, &list).await.unwrap();
        let sent = &ctx.store.recent_digests(list.id(), 1).await.unwrap()[0];
        assert_eq!(
            (sent.status.as_str(), sent.subject.as_str()),
            ("sent", "Offsite special")
        );
        // The next issue starts with the default subject again.
        let d = edit(&ctx, &list, None, None).await.unwrap();
        assert!(d.subject.starts_with("PM Circle digest, "), "{}", d.subject);
    }
}

/// Every setting has its own writer: a name or approval change leaves the
/// next run exactly where the scheduler put it (today's slot included), and
/// a schedule change computed from a stale read is refused, not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_settings_never_move_the_next_run() {
    for db in databases().await {
        eprintln!("--- one writer per setting on {}", db.label);
        let (ctx, list) = setup(&db, false).await;
        let due = gazette::now_ms() - 3600 * 1000;
        let list = set_next(&ctx, &list, due).await;
        let changes = gazette::lists::ListChanges {
            name: Some("PM Circle Europe".into()),
            require_approval: Some(true),
            ..Default::default()
        };
        let list = gazette::lists::change(&ctx, &list, changes).await.unwrap();
        assert_eq!(list.name(), "PM Circle Europe");
        assert!(list.row.require_approval);
        assert_eq!(
            list.row.next_digest_at,
            Some(due),
            "a name change moved the due slot"
        );
        // A schedule change read the next run before a slot fired: refused.
        let stale = list.row.next_digest_at;
        assert!(ctx
            .store
            .move_next_digest(list.id(), stale, Some(due + 1))
            .await
            .unwrap());
        assert!(!ctx
            .store
            .set_schedule(list.id(), "0 9 * * *", "UTC", Some(due + 99), stale)
            .await
            .unwrap());
        assert_eq!(reload(&ctx, &list).await.row.next_digest_at, Some(due + 1));
    }
}

/// `list set` while the scheduler fires slot after slot (every second):
/// no slot ever fires twice. Each firing opens an issue due at its slot
/// (skipped, being empty), so a second firing shows as a repeated `due_at`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_set_racing_a_firing_slot_never_fires_it_twice() {
    for db in databases().await {
        eprintln!("--- list set racing the scheduler on {}", db.label);
        let (ctx, list) = setup(&db, false).await;
        let changes = gazette::lists::ListChanges {
            schedule: Some("* * * * * *".into()),
            timezone: Some("UTC".into()),
            ..Default::default()
        };
        let list = gazette::lists::change(&ctx, &list, changes).await.unwrap();
        // At least 3.5 s of racing and three firings; a loaded machine
        // may need longer for them, which is waited for (up to a minute).
        let (racing_until, give_up) = (gazette::now_ms() + 3500, gazette::now_ms() + 60_000);
        let scheduler = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let mut memory = Memory::default();
                let mut fired = 0;
                loop {
                    let now = gazette::now_ms();
                    if (fired >= 3 && now >= racing_until) || now >= give_up {
                        break fired;
                    }
                    fired += tick(&ctx, &mut memory).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            })
        };
        let mut n = 0;
        while !scheduler.is_finished() {
            n += 1;
            let changes = gazette::lists::ListChanges {
                name: Some(format!("PM Circle {n}")),
                schedule: (n % 2 == 0).then(|| "* * * * * *".into()),
                require_approval: Some(false),
                ..Default::default()
            };
            let current = reload(&ctx, &list).await;
            gazette::lists::change(&ctx, &current, changes)
                .await
                .unwrap();
        }
        let fired = scheduler.await.unwrap();
        let issues = ctx.store.recent_digests(list.id(), 1000).await.unwrap();
        let mut slots: Vec<i64> = issues.iter().filter_map(|d| d.due_at).collect();
        let total = slots.len();
        slots.sort();
        slots.dedup();
        assert!(
            fired >= 3,
            "the schedule fired only {fired} times in a minute"
        );
        assert_eq!(slots.len(), total, "a slot fired twice ({n} changes raced)");
        assert_eq!(total, fired, "every firing is one issue");
    }
}

/// Downtime, then `list set` with a new schedule, then `serve`: the issue
/// the missed slot owed goes out once, and the next run follows the new
/// schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_set_after_downtime_still_sends_the_missed_issue_once() {
    for db in databases().await {
        eprintln!("--- list set after downtime on {}", db.label);
        let outbox = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", outbox.path().display());
        {
            let (ctx, list) = setup_with(&db, &smtp).await;
            ask(&ctx, &list, "ann", "Hiring plans").await;
            let list = make_due(&ctx, &list, 2 * DAY).await;
            let changes = gazette::lists::ListChanges {
                schedule: Some("0 9 * * TUE".into()),
                ..Default::default()
            };
            let list = gazette::lists::change(&ctx, &list, changes).await.unwrap();
            assert!(
                list.row.next_digest_at.unwrap() < gazette::now_ms(),
                "the missed slot stays due"
            );
            ctx.store.close().await;
        }
        let app = spawn_app(&db, &smtp, &[]).await;
        let digests = || {
            std::fs::read_dir(outbox.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with("-digest.eml"))
                .count()
        };
        wait_for(20, "the missed issue to 3 members", || async {
            (digests() == 3).then_some(())
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        assert_eq!(digests(), 3, "sent once, not once per pass");
        let list = app
            .ctx
            .list_by_address("pm@lists.example.org")
            .await
            .unwrap();
        let next = list.row.next_digest_at.unwrap();
        assert!(next > gazette::now_ms());
        let tz = chrono_tz::Europe::Paris;
        let local = chrono::TimeZone::timestamp_millis_opt(&tz, next).unwrap();
        assert_eq!(local.format("%a %H:%M").to_string(), "Tue 09:00");
        app.stop().await;
    }
}
