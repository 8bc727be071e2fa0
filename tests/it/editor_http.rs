//! The editors' pages over plain HTTP, on both databases: no session, no
//! page; an editor of one list sees nothing of another; a state-changing
//! request needs the form token and our own origin; sign-in links work
//! once and for 15 minutes; the sign-in throttle engages; a stale save is
//! refused; the confirmation link is a page with a button and is bound to
//! its request; moderation by mail; the public archive.

use crate::common::web::{enc, request, Session};
use crate::common::*;
use gazette::app::List;
use gazette::email::EmailAddress;
use gazette::serve::Running;

const EDITOR: &str = "ed@example.org";

async fn two_lists(app: &Running) -> (List, List) {
    let ctx = &app.ctx;
    let a = seed_list(ctx, 2).await;
    let spec = gazette::lists::ListSpec {
        address: "ops@lists.example.org",
        name: "Ops Circle",
        schedule: "0 8 * * MON",
        timezone: "UTC",
        require_approval: false,
    };
    let b = gazette::lists::create(ctx, &spec).await.unwrap();
    let ed = EmailAddress::parse(EDITOR).unwrap();
    gazette::editors::add(ctx, &ed, Some(&a)).await.unwrap();
    (a, b)
}

fn base(app: &Running) -> String {
    format!("http://{}", app.http_addr)
}

/// Every editor page, for list `l` (member 1, issue 1, held post 1).
fn admin_paths(l: &str) -> Vec<(&'static str, String)> {
    let p = |s: &str| format!("/admin/lists/{l}{s}");
    vec![
        ("GET", "/admin".into()),
        ("GET", p("")),
        ("GET", p("/issue")),
        ("POST", p("/issue")),
        ("POST", p("/issue/intro-preview")),
        ("GET", p("/issue/preview")),
        ("GET", p("/issue/preview.html")),
        ("POST", p("/issue/test")),
        ("POST", p("/issue/approve")),
        ("GET", p("/held")),
        ("POST", p("/held/1/approve")),
        ("POST", p("/held/1/reject")),
        ("GET", p("/members")),
        ("POST", p("/members")),
        ("GET", p("/members.csv")),
        ("GET", p("/members/import")),
        ("POST", p("/members/import")),
        ("GET", p("/members/1")),
        ("POST", p("/members/1/mode")),
        ("POST", p("/members/1/remove")),
        ("GET", p("/deliveries")),
        ("GET", p("/issues/1/deliveries")),
        ("POST", p("/issues/1/retry")),
        ("GET", p("/settings")),
        ("POST", p("/settings")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pages_need_a_session_and_the_editors_own_list() {
    for db in databases().await {
        eprintln!("--- editor access on {}", db.label);
        let app = spawn_app(&db, "file:///nonexistent", &[]).await;
        let (a, b) = two_lists(&app).await;
        let base = base(&app);
        for (method, path) in admin_paths(&a.posting()) {
            let r = request(method, &format!("{base}{path}"), &[("Origin", &base)], "").await;
            assert_eq!(r.status, 302, "{method} {path} without a session");
            assert_eq!(
                r.header("location"),
                Some("/admin/sign-in"),
                "{method} {path}"
            );
        }
        let s = Session::sign_in(&app.ctx, &base, EDITOR).await;
        for (method, path) in admin_paths(&b.posting()) {
            if path == "/admin" {
                continue;
            }
            let r = match method {
                "GET" => s.get(&path).await,
                _ => {
                    s.post(&path, "action=leave-out&q=1&mode=every&email=x%40y.org")
                        .await
                }
            };
            assert_eq!(r.status, 404, "{method} {path} of another list: {}", r.body);
        }
        let mine = s.get(&format!("/admin/lists/{}", a.posting())).await;
        assert_eq!(mine.status, 200, "{}", mine.body);
        assert!(mine.body.contains("PM Circle"));
        assert!(
            !s.get("/admin").await.body.contains("Ops Circle"),
            "the other list is not offered"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_need_the_form_token_and_our_origin() {
    for db in databases().await {
        eprintln!("--- form token and origin on {}", db.label);
        let app = spawn_app(&db, "file:///nonexistent", &[]).await;
        let (a, _) = two_lists(&app).await;
        let base = base(&app);
        let s = Session::sign_in(&app.ctx, &base, EDITOR).await;
        let path = format!("{base}/admin/lists/{}/settings", a.posting());
        let form = "require_approval=on";
        let approval = || async {
            app.ctx
                .store
                .list_by_id(a.id())
                .await
                .unwrap()
                .unwrap()
                .require_approval
        };
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);
        let cases: [Case; 4] = [
            (
                "no token",
                vec![("Cookie", &s.cookie), ("Origin", &base)],
                form.to_string(),
            ),
            (
                "a wrong token",
                vec![("Cookie", &s.cookie), ("Origin", &base)],
                format!("_token=x{}&{form}", s.token),
            ),
            (
                "another origin",
                vec![("Cookie", &s.cookie), ("Origin", "https://evil.example")],
                format!("_token={}&{form}", s.token),
            ),
            (
                "a cross-site fetch",
                vec![("Cookie", &s.cookie), ("Sec-Fetch-Site", "cross-site")],
                format!("_token={}&{form}", s.token),
            ),
        ];
        for (what, headers, body) in cases {
            let r = request("POST", &path, &headers, &body).await;
            assert_eq!(r.status, 403, "{what}: {}", r.body);
            assert!(!approval().await, "{what} changed nothing");
        }
        let r = s
            .post(&format!("/admin/lists/{}/settings", a.posting()), form)
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(approval().await, "the right form does");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_links_work_once_within_15_minutes_and_requests_are_throttled() {
    for db in databases().await {
        eprintln!("--- sign-in links on {}", db.label);
        let app = spawn_app(&db, "file:///nonexistent", &[]).await;
        two_lists(&app).await;
        let base = base(&app);
        let ctx = &app.ctx;
        let ed = EmailAddress::parse(EDITOR).unwrap();

        let (_, url) = gazette::editors::link(ctx, &ed).await.unwrap().unwrap();
        let page = request("GET", &url, &[], "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("id=\"sign-in\""), "GET shows a button");
        let used = request("POST", &url, &[("Origin", &base)], "").await;
        assert_eq!(used.status, 303);
        assert!(used.header("set-cookie").unwrap().contains("HttpOnly"));
        assert!(used.header("set-cookie").unwrap().contains("SameSite=Lax"));
        assert_eq!(request("GET", &url, &[], "").await.status, 410, "used");
        let again = request("POST", &url, &[("Origin", &base)], "").await;
        assert_eq!(again.status, 410, "a used link signs nobody in");
        assert!(again.header("set-cookie").is_none());

        let id = ctx
            .store
            .insert_sign_in_link(ed.as_str(), &ed.key(), 7, gazette::now_ms() - 1)
            .await
            .unwrap();
        let expired = gazette::editors::link_url(ctx, id, 7);
        assert_eq!(request("GET", &expired, &[], "").await.status, 410);
        let r = request("POST", &expired, &[("Origin", &base)], "").await;
        assert_eq!(r.status, 410, "an expired link signs nobody in");
        let forged = gazette::editors::link_url(ctx, id, 8);
        assert_eq!(
            request("POST", &forged, &[("Origin", &base)], "")
                .await
                .status,
            404
        );

        // The same answer for an editor and for anyone else.
        let sign_in = format!("{base}/admin/sign-in");
        let ask = |who: &str| {
            let body = format!("email={}", enc(who));
            let sign_in = sign_in.clone();
            let base = base.clone();
            async move { request("POST", &sign_in, &[("Origin", &base)], &body).await }
        };
        let for_editor = ask(EDITOR).await;
        let for_stranger = ask("nobody@example.org").await;
        assert_eq!(for_editor.status, 200);
        assert_eq!(
            for_editor.body.replace(EDITOR, "X"),
            for_stranger.body.replace("nobody@example.org", "X"),
            "the page does not tell who is an editor"
        );
        let mut statuses = Vec::new();
        for _ in 0..gazette::editors::PER_ADDRESS {
            statuses.push(ask(EDITOR).await.status);
        }
        assert_eq!(statuses.last(), Some(&429), "per address: {statuses:?}");
        // Per client: other addresses from the same client run out too.
        let mut last = 0;
        for i in 0..=gazette::editors::PER_CLIENT {
            last = ask(&format!("x{i}@example.org")).await.status;
        }
        assert_eq!(last, 429, "per client");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_save_is_refused_and_decisions_survive_new_posts() {
    for db in databases().await {
        eprintln!("--- curation concurrency on {}", db.label);
        let app = spawn_app(&db, "file:///nonexistent", &[]).await;
        let (a, _) = two_lists(&app).await;
        let ctx = &app.ctx;
        let base = base(&app);
        let s = Session::sign_in(ctx, &base, EDITOR).await;
        let issue = format!("/admin/lists/{}/issue", a.posting());
        let d = gazette::digest::send::draft(ctx, &a).await.unwrap();
        let q1 = gazette::digest::Issue::of(&d).unwrap().items[0].question_id;
        let v = d.version;
        let r = s
            .post(
                &issue,
                &format!("version={v}&action=feature&q={q1}&note=Read+this"),
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let stale = s
            .post(
                &issue,
                &format!("version={v}&action=save&subject=Mine&intro=Hello"),
            )
            .await;
        assert_eq!(stale.status, 409, "{}", stale.body);
        assert!(
            stale.body.contains("saved issue #1 after you opened it"),
            "{}",
            stale.body
        );
        assert!(
            stale.body.contains("value=\"Mine\""),
            "the refused text is kept in the form"
        );
        // A question posted after the decision arrives; the decision stays.
        let m1 = ctx
            .store
            .member_by_email(a.id(), "m1@example.org")
            .await
            .unwrap()
            .unwrap();
        let post = gazette::posts::Post {
            inbound_id: None,
            subject: "Late question",
            body: "Posted after the editor's save.",
            message_id: "<late@example.org>",
        };
        gazette::posts::ask(ctx, &a, &m1, &post).await.unwrap();
        let issue_now =
            gazette::digest::Issue::of(&gazette::digest::send::draft(ctx, &a).await.unwrap())
                .unwrap();
        assert_eq!(issue_now.items.len(), 2, "the new question arrived");
        assert!(issue_now
            .items
            .iter()
            .any(|i| i.question_id == q1 && i.featured && i.note == "Read this"));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_links_show_a_button_and_belong_to_their_request() {
    for db in databases().await {
        eprintln!("--- confirm page on {}", db.label);
        let app = spawn_app(&db, "file:///nonexistent", &[]).await;
        let (a, _) = two_lists(&app).await;
        let ctx = &app.ctx;
        let e = EmailAddress::parse("new@example.org").unwrap();
        gazette::membership::request(ctx, &a, &e, "", "test:1")
            .await
            .unwrap();
        let first = gazette::membership::find(ctx, &a, &e)
            .await
            .unwrap()
            .unwrap();
        let old = a.confirm_url(&ctx.keys, first.id, first.requested_at);
        let status = || async {
            gazette::membership::find(ctx, &a, &e)
                .await
                .unwrap()
                .unwrap()
                .status
        };
        let page = request("GET", &old, &[], "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("id=\"confirm-button\"") && page.body.contains("PM Circle"));
        assert_eq!(
            status().await.as_str(),
            "pending",
            "opening the link confirms nothing"
        );
        // A newer request: the old link no longer confirms.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        ctx.store
            .upsert_pending(a.id(), e.as_str(), &e.key(), "")
            .await
            .unwrap();
        let newer = gazette::membership::find(ctx, &a, &e)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(newer.requested_at, first.requested_at);
        let r = request("POST", &old, &[], "").await;
        assert_eq!(r.status, 410, "{}", r.body);
        assert_eq!(status().await.as_str(), "pending");
        let new_url = a.confirm_url(&ctx.keys, newer.id, newer.requested_at);
        assert_eq!(request("POST", &new_url, &[], "").await.status, 200);
        assert_eq!(status().await.as_str(), "active");
        let home = request("GET", &format!("{}/", base(&app)), &[], "").await;
        assert_eq!(home.status, 200, "/ is a page");
        assert!(home.body.contains("/admin"));
        app.stop().await;
    }
}

async fn held_question(app: &Running, from: &str, subject: &str) -> i64 {
    let raw = mail(
        from,
        "pm@lists.example.org",
        subject,
        "Is anyone using OKRs?",
        &format!("{subject}@x.org").replace(' ', "-"),
    );
    smtp_send(app.smtp_addr, from, "pm@lists.example.org", &raw)
        .await
        .unwrap();
    wait_for(10, "the post to be held", || async {
        app.ctx
            .store
            .recent_inbound(Some(gazette::store::InboundStatus::Held), 10)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.subject.as_deref() == Some(subject))
            .map(|m| m.id)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editors_are_told_of_held_posts_and_decide_by_mail() {
    for db in databases().await {
        eprintln!("--- moderation by mail on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let app = spawn_app(&db, &sink.url(), &[]).await;
        let (a, _) = two_lists(&app).await;
        let ctx = &app.ctx;
        let id = held_question(&app, "visitor@example.net", "OKRs anyone").await;
        let notice = wait_for(15, "the held notice to the editor", || async {
            sink.to(EDITOR)
                .into_iter()
                .find(|m| m.subject().contains("Held question"))
        })
        .await;
        let text = notice.text();
        assert_eq!(
            notice.header("Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        let approve = text
            .split_whitespace()
            .find(|w| w.starts_with("pm+approve-"))
            .expect("an approve address")
            .to_string();
        assert!(text.contains("pm+reject-"), "{text}");
        // Someone who is not an editor cannot approve.
        let raw = mail(
            "visitor@example.net",
            &approve,
            "ok",
            "approve",
            "v-approve@x.org",
        );
        smtp_send(app.smtp_addr, "visitor@example.net", &approve, &raw)
            .await
            .unwrap();
        let raw = mail(
            EDITOR,
            &approve,
            "Re: held",
            "Fine by me.",
            "ed-approve@x.org",
        );
        smtp_send(app.smtp_addr, EDITOR, &approve, &raw)
            .await
            .unwrap();
        wait_for(10, "the question to be posted", || async {
            let m = ctx.store.inbound(id).await.unwrap().unwrap();
            (m.status.as_str() == "accepted").then_some(())
        })
        .await;
        let reason = ctx.store.inbound(id).await.unwrap().unwrap().reason;
        assert!(reason.contains(EDITOR), "{reason}");
        let guest = ctx
            .store
            .member_by_email(a.id(), "visitor@example.net")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            guest.status.as_str(),
            "guest",
            "a non-member author is a guest"
        );
        exactly_one(&sink, "visitor@example.net", "the author is told", |m| {
            m.subject().contains("is posted")
        })
        .await;
        // A forged moderation address is refused at RCPT.
        let forged = "pm+approve-aaaaaaaaaaaaaaaaaaaa@lists.example.org";
        assert!(smtp_send(
            app.smtp_addr,
            EDITOR,
            forged,
            &mail(EDITOR, forged, "x", "x", "f@x.org")
        )
        .await
        .is_err());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_archive_is_off_by_default_and_names_no_addresses() {
    for db in databases().await {
        eprintln!("--- archive on {}", db.label);
        let app = spawn_app(&db, "file:///nonexistent", &[]).await;
        let (a, _) = two_lists(&app).await;
        let ctx = &app.ctx;
        let base = base(&app);
        let arch = format!("{base}/archive/{}", a.posting());
        assert_eq!(
            request("GET", &arch, &[], "").await.status,
            404,
            "off by default"
        );
        gazette::digest::send::send_now(ctx, &a).await.unwrap();
        let changes = gazette::lists::ListChanges {
            archive_public: Some(true),
            ..Default::default()
        };
        let a = gazette::lists::change(ctx, &a, changes).await.unwrap();
        let index = request("GET", &arch, &[], "").await;
        assert_eq!(index.status, 200);
        assert!(
            index.body.contains("Roadmaps?") && index.body.contains("Member 0"),
            "{}",
            index.body
        );
        assert!(
            !index.body.contains("m0@example.org"),
            "no addresses: {}",
            index.body
        );
        let q = ctx.store.published_questions(a.id(), 1).await.unwrap()[0].id;
        let page = request("GET", &format!("{arch}/{q}"), &[], "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("How far ahead do you plan?"));
        assert!(!page.body.contains("m0@example.org"));
        let feed = request("GET", &format!("{arch}/feed.atom"), &[], "").await;
        assert!(feed.header("content-type").unwrap().contains("atom"));
        assert!(feed.body.contains("<entry>") && feed.body.contains("Roadmaps?"));
        assert!(!feed.body.contains("m0@example.org"));
        // The next digest links each question to its page.
        let m = ctx
            .store
            .member_by_email(a.id(), "m1@example.org")
            .await
            .unwrap()
            .unwrap();
        let post = gazette::posts::Post {
            inbound_id: None,
            subject: "Second",
            body: "b",
            message_id: "<s@x.org>",
        };
        let q2 = gazette::posts::ask(ctx, &a, &m, &post).await.unwrap();
        let (_, text, html) = gazette::digest::send::preview(ctx, &a, None).await.unwrap();
        let link = format!("{arch}/{q2}");
        assert!(text.contains(&link) && html.contains(&link), "{text}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_approval_off_while_an_issue_waits_asks_first() {
    for db in databases().await {
        eprintln!("--- approval question on {}", db.label);
        let app = spawn_app(
            &db,
            "file:///nonexistent",
            &[("GAZETTE_SCHEDULER_TICK_MS", "3600000")],
        )
        .await;
        let (a, _) = two_lists(&app).await;
        let ctx = &app.ctx;
        let changes = gazette::lists::ListChanges {
            require_approval: Some(true),
            ..Default::default()
        };
        let a = gazette::lists::change(ctx, &a, changes).await.unwrap();
        let now = gazette::now_ms();
        let row = ctx.store.list_by_id(a.id()).await.unwrap().unwrap();
        assert!(ctx
            .store
            .fire_slot(a.id(), row.next_digest_at.unwrap(), now + 3_600_000, 0)
            .await
            .unwrap());
        let s = Session::sign_in(ctx, &base(&app), EDITOR).await;
        let path = format!("/admin/lists/{}/settings", a.posting());
        let r = s.post(&path, "").await;
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains("Send issue #1 now?"), "{}", r.body);
        assert!(
            ctx.store
                .list_by_id(a.id())
                .await
                .unwrap()
                .unwrap()
                .require_approval,
            "nothing changed yet"
        );
        let r = s.post(&path, "send_waiting=yes").await;
        assert_eq!(r.status, 303);
        assert!(
            !ctx.store
                .list_by_id(a.id())
                .await
                .unwrap()
                .unwrap()
                .require_approval
        );
        app.stop().await;
    }
}
