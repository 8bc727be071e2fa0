//! The editors' week in real headless Chromium, against gazette with a
//! real SMTP sink: sign in with the mailed link; curate (leave one
//! question out, move another to the top, feature it, write an intro);
//! preview; send a test; approve; the digest that arrives matches the
//! curation item for item. Moderation (approve one held question, reject
//! another; both authors told), a CSV import whose bad row shows before
//! anything is written, a confirmation from the public page, and the
//! digest's HTML at phone and laptop widths.
//!
//! Each test saves screenshots of the pages it visits under
//! `target/screenshots/` at 375 and 1280 pixels. These run on SQLite
//! only: what they drive is the pages; the domain underneath is tested on
//! both databases by `editor_http` and the other modules.

use crate::common::browser::Browser;
use crate::common::*;
use gazette::app::{Ctx, List};
use gazette::email::EmailAddress;
use gazette::serve::Running;

const EDITOR: &str = "ed@example.org";

struct World {
    app: Running,
    sink: Sink,
    list: List,
    base: String,
    _db: TestDb,
}

async fn world() -> World {
    let db = sqlite_db();
    let sink = Sink::start(SinkBehaviour::default()).await;
    let app = spawn_app(&db, &sink.url(), &[]).await;
    let ctx = &app.ctx;
    let spec = gazette::lists::ListSpec {
        address: LIST_ADDRESS,
        name: "PM Circle",
        schedule: "0 8 * * MON",
        timezone: "Europe/Paris",
        require_approval: true,
    };
    let list = gazette::lists::create(ctx, &spec).await.unwrap();
    for (who, name) in [("ann", "Ann Archer"), ("bob", "Bob Baker")] {
        let e = EmailAddress::parse(&format!("{who}@example.org")).unwrap();
        gazette::membership::add(
            ctx,
            &list,
            &e,
            name,
            gazette::store::DeliveryMode::Digest,
            "test",
        )
        .await
        .unwrap();
    }
    let ed = EmailAddress::parse(EDITOR).unwrap();
    gazette::editors::add(ctx, &ed, Some(&list)).await.unwrap();
    let base = format!("http://{}", app.http_addr);
    World {
        app,
        sink,
        list,
        base,
        _db: db,
    }
}

async fn ask(ctx: &Ctx, list: &List, who: &str, subject: &str, body: &str) -> i64 {
    let m = ctx
        .store
        .member_by_email(list.id(), &format!("{who}@example.org"))
        .await
        .unwrap()
        .unwrap();
    let id = format!("<{}@example.org>", subject.replace(' ', "-"));
    let post = gazette::posts::Post {
        inbound_id: None,
        subject,
        body,
        message_id: &id,
    };
    gazette::posts::ask(ctx, list, &m, &post).await.unwrap()
}

/// Signs the editor in through a fresh one-time link (the mailed-link
/// path itself is the first test's).
async fn sign_in(b: &Browser, w: &World) {
    let e = EmailAddress::parse(EDITOR).unwrap();
    let (_, url) = gazette::editors::link(&w.app.ctx, &e)
        .await
        .unwrap()
        .unwrap();
    b.goto(&url).await;
    b.click("#sign-in").await;
    b.wait_for("nav a[aria-current=page]").await;
}

async fn curation(ctx: &Ctx, list: &List) -> gazette::digest::curate::Curation {
    let d = ctx.store.open_digest(list.id()).await.unwrap().unwrap();
    gazette::digest::curate::Curation::of(&d).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_editor_signs_in_by_mail_curates_and_the_digest_matches() {
    let w = world().await;
    let Some(b) = Browser::start().await else {
        return;
    };
    let (ctx, list) = (&w.app.ctx, &w.list);
    let q1 = ask(ctx, list, "ann", "Hiring a first PM", "Where do you start?").await;
    let q2 = ask(
        ctx,
        list,
        "bob",
        "Roadmap horizons",
        "How far ahead do you plan?",
    )
    .await;
    let q3 = ask(ctx, list, "ann", "Pre-mortems", "Has anyone run one with a cross-functional team? Notes at https://example.org/a/very/long/path/that/keeps/going/and/going/for/a/while/longer/than/a/phone/screen").await;

    // Sign in with the link that arrives by mail.
    b.goto(&format!("{}/admin", w.base)).await;
    assert!(
        b.url().await.ends_with("/admin/sign-in"),
        "{}",
        b.url().await
    );
    b.screenshots("sign-in").await;
    b.fill("#email", EDITOR).await;
    b.click("#send-link").await;
    b.wait_for("h1").await;
    assert!(b.source().await.contains("Check your mail"));
    let mail = wait_for(15, "the sign-in mail", || async {
        w.sink
            .to(EDITOR)
            .into_iter()
            .find(|m| m.subject().contains("sign-in link"))
    })
    .await;
    assert_eq!(
        mail.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    let text = mail.text();
    let url = text
        .split_whitespace()
        .find(|w| w.contains("/admin/sign-in/"))
        .expect("a link in the mail")
        .to_string();
    b.goto(&url).await;
    b.screenshots("sign-in-link").await;
    b.click("#sign-in").await;
    b.wait_for("nav a[aria-current=page]").await;
    b.screenshots("overview").await;

    // Curate.
    b.goto(&format!("{}/admin/lists/{}/issue", w.base, list.posting()))
        .await;
    b.click(&format!("#leave-out-{q1}")).await;
    wait_for(10, "q1 left out", || async {
        curation(ctx, list)
            .await
            .left_out
            .contains(&q1)
            .then_some(())
    })
    .await;
    b.wait_for(&format!("li#q{q1}.out")).await;
    b.click(&format!("#top-{q3}")).await;
    wait_for(10, "q3 on top", || async {
        (curation(ctx, list).await.order.first() == Some(&q3)).then_some(())
    })
    .await;
    b.wait_for(&format!("ol.items > li:first-child#q{q3}"))
        .await;
    b.fill(&format!("#note-{q3}"), "The best thread this week")
        .await;
    b.click(&format!("#feature-{q3}")).await;
    wait_for(10, "q3 featured", || async {
        curation(ctx, list)
            .await
            .featured
            .contains_key(&q3)
            .then_some(())
    })
    .await;
    b.wait_for(&format!("li#q{q3}.featured")).await;
    b.fill("#intro", "Welcome to **issue one**. Thanks for asking.")
        .await;
    // The live preview shows the Markdown as it will look.
    b.wait_for("#intro-preview strong").await;
    b.click("#save-text").await;
    wait_for(10, "the intro saved", || async {
        let d = ctx.store.open_digest(list.id()).await.unwrap().unwrap();
        d.intro.contains("issue one").then_some(())
    })
    .await;
    b.wait_for(".flash.ok").await;
    b.screenshots("issue").await;

    // Preview, and a test copy to the editor.
    b.click("#preview-link").await;
    b.wait_for("iframe.mail").await;
    let preview = b.text("pre.mailtext").await;
    assert!(
        preview.contains("Pre-mortems") && !preview.contains("Hiring a first PM"),
        "{preview}"
    );
    b.screenshots("preview").await;
    b.click("#send-test").await;
    let test = wait_for(15, "the test copy", || async {
        w.sink
            .to(EDITOR)
            .into_iter()
            .find(|m| m.subject().starts_with("[TEST]"))
    })
    .await;
    assert!(test.text().contains("TEST COPY"));
    assert!(
        w.sink
            .to("ann@example.org")
            .iter()
            .all(|m| !m.subject().contains("digest")),
        "members got nothing"
    );

    // Approve, then let the schedule send it.
    b.goto(&format!("{}/admin/lists/{}/issue", w.base, list.posting()))
        .await;
    let expected =
        gazette::digest::Issue::of(&gazette::digest::send::draft(ctx, list).await.unwrap())
            .unwrap();
    b.click("#approve").await;
    b.wait_for(".flash.ok").await;
    let approved = ctx.store.open_digest(list.id()).await.unwrap().unwrap();
    assert_eq!(approved.status.as_str(), "approved");
    b.screenshots("issue-approved").await;
    let row = ctx.store.list_by_id(list.id()).await.unwrap().unwrap();
    ctx.store
        .move_next_digest(
            list.id(),
            row.next_digest_at,
            Some(gazette::now_ms() - 1000),
        )
        .await
        .unwrap();
    let digest = wait_for(20, "the digest to ann", || async {
        w.sink
            .to("ann@example.org")
            .into_iter()
            .find(|m| m.subject() == approved.subject)
    })
    .await;

    // Item for item: the curation, in order.
    let got: Vec<i64> = expected.items.iter().map(|i| i.question_id).collect();
    assert_eq!(got, vec![q3, q2], "q1 left out, q3 first");
    let text = digest.text();
    let html = digest.html();
    let at = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("{s} missing:\n{text}"))
    };
    assert!(at("1. Pre-mortems") < at("2. Roadmap horizons"), "{text}");
    assert!(!text.contains("Hiring a first PM") && !html.contains("Hiring a first PM"));
    assert!(
        text.contains("Editor's pick: The best thread this week"),
        "{text}"
    );
    assert!(html.contains("Editor's pick") && html.contains("The best thread this week"));
    assert!(
        text.contains("Welcome to **issue one**") && html.contains("<strong>issue one</strong>")
    );
    assert!(
        html.contains("href=\"https://example.org/a/very/long/path"),
        "URLs are links"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_end() == "This issue: 2 new questions"),
        "{text}"
    );
    let preheader = html.split("display:none").nth(1).unwrap_or("");
    assert!(
        preheader.contains("2 new questions"),
        "the preheader summarises"
    );

    // Deliveries of the issue.
    b.goto(&format!(
        "{}/admin/lists/{}/deliveries",
        w.base,
        list.posting()
    ))
    .await;
    b.wait_for("#count-sent").await;
    b.screenshots("deliveries").await;
    b.goto(&format!(
        "{}/admin/lists/{}/settings",
        w.base,
        list.posting()
    ))
    .await;
    b.screenshots("settings").await;
    drop(b);
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_editor_approves_one_held_question_and_rejects_another() {
    let w = world().await;
    let Some(b) = Browser::start().await else {
        return;
    };
    let ctx = &w.app.ctx;
    let mut held = Vec::new();
    for (who, subject) in [
        ("carol@example.net", "Agile at scale"),
        ("dan@example.net", "Buy my course"),
    ] {
        let raw = mail(
            who,
            LIST_ADDRESS,
            subject,
            "A question from outside.",
            &format!("{}@x.org", subject.replace(' ', "-")),
        );
        smtp_send(w.app.smtp_addr, who, LIST_ADDRESS, &raw)
            .await
            .unwrap();
        let id = wait_for(10, "the post held", || async {
            ctx.store
                .recent_inbound(Some(gazette::store::InboundStatus::Held), 10)
                .await
                .unwrap()
                .into_iter()
                .find(|m| m.subject.as_deref() == Some(subject))
                .map(|m| m.id)
        })
        .await;
        held.push(id);
    }
    sign_in(&b, &w).await;
    b.goto(&format!("{}/admin/lists/{}/held", w.base, w.list.posting()))
        .await;
    b.wait_for(&format!("#held-{}", held[1])).await;
    b.screenshots("held").await;
    b.click(&format!("#approve-{}", held[0])).await;
    b.wait_for(".flash.ok").await;
    b.fill(&format!("#note-{}", held[1]), "We do not post advertising.")
        .await;
    b.click(&format!("#reject-{}", held[1])).await;
    wait_for(10, "the rejection", || async {
        let m = ctx.store.inbound(held[1]).await.unwrap().unwrap();
        (m.status.as_str() == "rejected").then_some(())
    })
    .await;
    let posted = gazette::digest::send::draft(ctx, &w.list).await.unwrap();
    let issue = gazette::digest::Issue::of(&posted).unwrap();
    assert!(
        issue.items.iter().any(|i| i.subject == "Agile at scale"),
        "approved and posted"
    );
    assert!(!issue.items.iter().any(|i| i.subject == "Buy my course"));
    exactly_one(&w.sink, "carol@example.net", "carol told", |m| {
        m.subject().contains("is posted")
    })
    .await;
    exactly_one(&w.sink, "dan@example.net", "dan told", |m| {
        m.subject().contains("was not posted") && m.text().contains("We do not post advertising.")
    })
    .await;
    b.screenshots("held-done").await;
    drop(b);
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_csv_import_shows_the_bad_row_before_anything_is_written() {
    let w = world().await;
    let Some(b) = Browser::start().await else {
        return;
    };
    let ctx = &w.app.ctx;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("members.csv");
    std::fs::write(
        &file,
        "email,name,mode\ncy@example.org,Cy Young,digest\nnot an address,Nobody,digest\ndee@example.org,Dee Dee,every\n",
    )
    .unwrap();
    let count = || async {
        ctx.store
            .search_members(w.list.id(), &Default::default(), 100, 0)
            .await
            .unwrap()
            .len()
    };
    let before = count().await;
    sign_in(&b, &w).await;
    b.goto(&format!(
        "{}/admin/lists/{}/members",
        w.base,
        w.list.posting()
    ))
    .await;
    b.screenshots("members").await;
    b.click("#import-link").await;
    b.fill("#file", &file.display().to_string()).await;
    b.click("#read-file").await;
    b.wait_for("#row-errors").await;
    let errors = b.text("#row-errors").await;
    assert!(
        errors.contains('3') && errors.contains("not an address"),
        "{errors}"
    );
    assert!(b
        .text("#import-preview")
        .await
        .contains("Nothing has been written yet"));
    assert_eq!(
        count().await,
        before,
        "nothing written before the editor imports"
    );
    b.screenshots("import-preview").await;
    b.click("#how-confirmed").await;
    b.fill("#import-reason", "signed up at the 2026 summit")
        .await;
    b.click("#do-import").await;
    b.wait_for("#report-added").await;
    assert_eq!(b.text("#report-added").await, "2");
    let cy = ctx
        .store
        .member_by_email(w.list.id(), "cy@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(
        cy.is_active() && cy.consent.contains("signed up at the 2026 summit"),
        "{}",
        cy.consent
    );
    assert_eq!(count().await, before + 2);
    b.screenshots("import-done").await;
    b.goto(&format!(
        "{}/admin/lists/{}/members/{}",
        w.base,
        w.list.posting(),
        cy.id
    ))
    .await;
    b.screenshots("member").await;
    drop(b);
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_is_confirmed_from_the_public_page() {
    let w = world().await;
    let Some(b) = Browser::start().await else {
        return;
    };
    let ctx = &w.app.ctx;
    let who = "erin@example.org";
    let to = "pm+subscribe@lists.example.org";
    smtp_send(
        w.app.smtp_addr,
        who,
        to,
        &mail(who, to, "join", "", "join-erin@x.org"),
    )
    .await
    .unwrap();
    let confirm = wait_for(15, "the confirmation", || async {
        w.sink
            .to(who)
            .into_iter()
            .find(|m| m.subject().contains("Confirm"))
    })
    .await;
    assert_eq!(
        confirm.header("Auto-Submitted").as_deref(),
        Some("auto-replied"),
        "it answers her mail"
    );
    let url = confirm
        .text()
        .split_whitespace()
        .find(|w| w.contains("/confirm/"))
        .expect("a link")
        .to_string();
    b.goto(&url).await;
    b.wait_for("#confirm-button").await;
    b.screenshots("confirm").await;
    let status = || async {
        ctx.store
            .member_by_email(w.list.id(), who)
            .await
            .unwrap()
            .unwrap()
            .status
    };
    assert_eq!(
        status().await.as_str(),
        "pending",
        "opening the page confirms nothing"
    );
    b.click("#confirm-button").await;
    b.wait_for("h1").await;
    assert!(b.text("h1").await.contains("You're in"));
    assert_eq!(status().await.as_str(), "active");
    b.screenshots("confirmed").await;
    // The unsubscribe page names the list and says what its button does.
    let m = ctx
        .store
        .member_by_email(w.list.id(), who)
        .await
        .unwrap()
        .unwrap();
    b.goto(&w.list.unsubscribe_url(&ctx.keys, m.id)).await;
    b.wait_for("#confirm-button.danger").await;
    assert!(b.source().await.contains("PM Circle"));
    b.screenshots("unsubscribe").await;
    drop(b);
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_digest_fits_a_phone_and_a_laptop() {
    let w = world().await;
    let Some(b) = Browser::start().await else {
        return;
    };
    let (ctx, list) = (&w.app.ctx, &w.list);
    let long = format!("https://example.org/{}", "segment/".repeat(30));
    ask(
        ctx,
        list,
        "ann",
        "A very long link",
        &format!("See {long} and also {}", "x".repeat(120)),
    )
    .await;
    ask(
        ctx,
        list,
        "bob",
        &format!("Subject{}", "-long".repeat(30)),
        "Short.",
    )
    .await;
    let curate = [gazette::digest::curate::Change::Intro(format!(
        "Read [this]({long}).\n\n{}",
        "y".repeat(90)
    ))];
    gazette::digest::curate::change(ctx, list, None, &curate)
        .await
        .unwrap();
    let (_, _, html) = gazette::digest::send::preview(ctx, list, None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("digest.html");
    std::fs::write(&file, &html).unwrap();
    b.goto(&format!("file://{}", file.display())).await;
    b.wait_for("h1").await;
    for width in [375, 1280] {
        let (doc, view) = b.widths_at(width).await;
        assert!(
            doc <= view,
            "at {width} px the digest scrolls sideways: {doc} > {view}"
        );
    }
    assert_eq!(b.broken_images().await, 0);
    b.screenshots("digest").await;
    drop(b);
    w.app.stop().await;
}
