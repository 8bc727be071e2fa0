//! Sender authentication: a reply (to a `+reply-` address, or a reply-all
//! threaded to a question) and an unsubscribe by mail act only for an
//! authenticated sender — an aligned DKIM or SPF pass checked by gazette
//! with mail-auth, a trusted MTA's `Authentication-Results`, or, when
//! nothing can be checked, an envelope sender matching From. Messages are
//! signed here with mail-auth's signer; DNS records are published in
//! gazette's sealed resolver cache, so nothing reaches the network. Reply
//! addresses expire, and a late reply gets a fresh one.

use crate::common::*;
use crate::dkim::{ED25519_PKCS8, ED25519_PUBLIC};
use gazette::app::{Ctx, List};
use gazette::inbound::auth::{Client, Method, Verdict};
use gazette::inbound::{receive, Incoming};
use gazette::outbound::dkim::Dkim;
use gazette::serve::Running;
use gazette::store::inbound::InboundRow;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::Dmarc;
use mail_auth::spf::Spf;
use mail_auth::Txt;

/// The MTA in front whose Authentication-Results count.
const TRUSTED: &str = "mx.lists.example.org";
/// The members' domain's own mail server (SPF allows it).
const SENDERS_SERVER: &str = "203.0.113.5";
const DAY_MS: i64 = 86_400_000;

/// gazette with DNS that answers only what is published here: the
/// members' domain (example.org) signs with selector `s1`, sends from
/// [`SENDERS_SERVER`] (`-all` for the rest), and publishes DMARC `p=reject`.
async fn app(db: &TestDb, sink: &Sink) -> (Running, List) {
    let app = spawn_app(
        db,
        &sink.url(),
        &[(
            "GAZETTE_TRUSTED_AUTHSERV_IDS",
            &format!("other.example, {TRUSTED}"),
        )],
    )
    .await;
    let dns = app
        .ctx
        .sender_auth
        .as_ref()
        .expect("DNS checks are on")
        .dns();
    dns.seal();
    let key = format!("v=DKIM1; k=ed25519; p={ED25519_PUBLIC}");
    dns.publish_txt(
        "s1._domainkey.example.org",
        Txt::from(DomainKey::parse(key.as_bytes()).unwrap()),
    );
    let spf = format!("v=spf1 ip4:{SENDERS_SERVER} -all");
    dns.publish_txt(
        "example.org",
        Txt::from(Spf::parse(spf.as_bytes()).unwrap()),
    );
    dns.publish_txt(
        "_dmarc.example.org",
        Txt::from(Dmarc::parse(b"v=DMARC1; p=reject").unwrap()),
    );
    let list = seed_list(&app.ctx, 4).await;
    (app, list)
}

/// `raw` signed by example.org, as its mail server would.
fn signed(raw: &str) -> String {
    let dkim = Dkim::from_pem(ED25519_PKCS8.as_bytes(), "s1".into(), None).unwrap();
    String::from_utf8(dkim.sign("example.org", raw.as_bytes()).unwrap()).unwrap()
}

/// A reply from `from` with its own Message-ID, threaded to question 1.
fn reply(from: &str, to: &str, id: &str, extra_headers: &str) -> String {
    format!(
        "{extra_headers}From: {from}\r\nTo: {to}\r\nSubject: Re: Roadmaps?\r\nMessage-ID: <{id}@example.org>\r\nIn-Reply-To: <q1@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWe plan two quarters ahead ({id}).\r\n"
    )
}

async fn question_id(ctx: &Ctx, list: &List) -> i64 {
    ctx.store
        .thread_question(list.id(), "<q1@example.org>")
        .await
        .unwrap()
        .expect("question 1 is there")
}

async fn member_id(ctx: &Ctx, list: &List, who: &str) -> i64 {
    ctx.store
        .member_by_email(list.id(), &format!("{who}@example.org"))
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn answers(ctx: &Ctx, qid: i64) -> usize {
    ctx.store
        .answers_between(qid, 0, i64::MAX)
        .await
        .unwrap()
        .len()
}

async fn last(ctx: &Ctx) -> InboundRow {
    ctx.store.recent_inbound(None, 1).await.unwrap().remove(0)
}

async fn send(app: &Running, envelope: &str, to: &str, raw: &str) -> InboundRow {
    smtp_send(app.smtp_addr, envelope, to, raw)
        .await
        .unwrap_or_else(|e| panic!("gazette refused mail to {to}: {e}"));
    last(&app.ctx).await
}

/// `raw` as gazette's listener hands it on when `client` is the SMTP
/// client (tests cannot connect from public addresses).
async fn from_client(ctx: &Ctx, client: &str, envelope: &str, to: &str, raw: &str) -> InboundRow {
    let incoming = Incoming {
        transport: "smtp",
        mail_from: Some(envelope),
        recipient: to,
        raw: raw.as_bytes(),
        trace: "",
        client: Some(Client {
            ip: client.parse().unwrap(),
            helo: "mail.example.org",
        }),
    };
    let r = receive(ctx, &incoming).await.unwrap();
    ctx.store.inbound(r.inbound_id).await.unwrap().unwrap()
}

fn assert_status(row: &InboundRow, status: &str, reason_has: &[&str]) {
    assert_eq!(row.status.as_str(), status, "#{}: {}", row.id, row.reason);
    for part in reason_has {
        assert!(
            row.reason.contains(part),
            "#{} lacks {part:?}: {}",
            row.id,
            row.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dkim_decides_whose_reply_is_posted() {
    for db in databases().await {
        eprintln!("--- DKIM and replies on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let (app, list) = app(&db, &sink).await;
        let ctx = &app.ctx;
        let qid = question_id(ctx, &list).await;
        let m1 = member_id(ctx, &list, "m1").await;
        let to = list.reply_address(&ctx.keys, qid, m1, gazette::now_ms());

        // Signed by the From domain: posted, even with the envelope of a
        // sending service.
        let raw = signed(&reply("m1@example.org", &to, "a1", ""));
        let row = send(&app, "bounces@esp.example", &to, &raw).await;
        assert_status(&row, "accepted", &["answer"]);
        assert_eq!(answers(ctx, qid).await, 1);
        let auth = ctx.store.inbound_auth(row.id).await.unwrap().unwrap();
        assert_eq!(
            auth.verdict,
            Verdict::Pass {
                method: Method::Dkim,
                domain: "example.org".into()
            }
        );
        assert_eq!(auth.source, "gazette");

        // The same signature over a changed body: held, with the reason.
        let raw =
            signed(&reply("m1@example.org", &to, "a2", "")).replace("two quarters", "no quarters");
        let row = send(&app, "m1@example.org", &to, &raw).await;
        assert_status(
            &row,
            "held",
            &[
                "not posted as m1@example.org",
                "DKIM signature of example.org does not verify",
            ],
        );
        assert_eq!(
            ctx.store
                .inbound_auth(row.id)
                .await
                .unwrap()
                .unwrap()
                .verdict
                .name(),
            "fail"
        );

        // Unsigned from a relay on loopback (nothing to check): only an
        // envelope matching From will do; anyone holding the address
        // (say, CC'd on an earlier reply) is not the member.
        let raw = reply("m1@example.org", &to, "a3", "");
        let row = send(&app, "mallory@evil.example", &to, &raw).await;
        assert_status(
            &row,
            "held",
            &["envelope sender mallory@evil.example is not the From address"],
        );
        // A reply-all threaded to the question, the same.
        let posting = list.posting();
        let raw = reply("m1@example.org", &posting, "a4", "");
        let row = send(&app, "mallory@evil.example", &posting, &raw).await;
        assert_status(&row, "held", &["envelope sender mallory@evil.example"]);
        assert_eq!(answers(ctx, qid).await, 1, "nothing forged was posted");
        // ...and signed, posted.
        let raw = signed(&reply("m1@example.org", &posting, "a5", ""));
        let row = send(&app, "m1@example.org", &posting, &raw).await;
        assert_status(&row, "accepted", &["answer"]);
        assert_eq!(answers(ctx, qid).await, 2);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spf_and_dmarc_decide_for_the_senders_own_server() {
    for db in databases().await {
        eprintln!("--- SPF, DMARC and a direct client on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let (app, list) = app(&db, &sink).await;
        let ctx = &app.ctx;
        let qid = question_id(ctx, &list).await;
        let m1 = member_id(ctx, &list, "m1").await;
        let to = list.reply_address(&ctx.keys, qid, m1, gazette::now_ms());

        let raw = reply("m1@example.org", &to, "s1", "");
        let row = from_client(ctx, SENDERS_SERVER, "m1@example.org", &to, &raw).await;
        assert_status(&row, "accepted", &["answer"]);
        let auth = ctx.store.inbound_auth(row.id).await.unwrap().unwrap();
        assert_eq!(
            auth.verdict,
            Verdict::Pass {
                method: Method::Spf,
                domain: "example.org".into()
            }
        );

        // From a server example.org does not send from: held. An
        // Authentication-Results header cannot vouch for it either: a
        // client on the internet talks to gazette directly, so no MTA of
        // ours wrote it, whatever name it carries.
        let forged = format!("Authentication-Results: {TRUSTED}; dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n");
        for (id, extra) in [("s2", ""), ("s3", forged.as_str())] {
            let raw = reply("m1@example.org", &to, id, extra);
            let row = from_client(ctx, "198.51.100.9", "m1@example.org", &to, &raw).await;
            assert_status(
                &row,
                "held",
                &[
                    "no aligned DKIM or SPF pass for example.org",
                    "spf=fail",
                    "dmarc=fail",
                ],
            );
        }
        assert_eq!(answers(ctx, qid).await, 1);

        // Unsubscribe by mail: the same rule.
        let unsubscribe = format!("pm+unsubscribe@{}", list.address.domain());
        let raw = mail(
            "m2@example.org",
            &unsubscribe,
            "leave",
            "",
            "u1@example.org",
        );
        let row = from_client(ctx, "198.51.100.9", "m2@example.org", &unsubscribe, &raw).await;
        assert_status(&row, "held", &["not acted on", "spf=fail"]);
        let m2 = |ctx: &Ctx| {
            let (ctx, list) = (ctx.clone(), list.clone());
            async move {
                ctx.store
                    .member_by_email(list.id(), "m2@example.org")
                    .await
                    .unwrap()
                    .unwrap()
                    .status
                    .to_string()
            }
        };
        assert_eq!(m2(ctx).await, "active");
        let raw = mail(
            "m2@example.org",
            &unsubscribe,
            "leave",
            "",
            "u2@example.org",
        );
        let row = from_client(ctx, SENDERS_SERVER, "m2@example.org", &unsubscribe, &raw).await;
        assert_status(&row, "accepted", &["unsubscribed"]);
        assert_eq!(m2(ctx).await, "unsubscribed");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authentication_results_count_only_from_trusted_hosts() {
    for db in databases().await {
        eprintln!("--- Authentication-Results on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let (app, list) = app(&db, &sink).await;
        let ctx = &app.ctx;
        let qid = question_id(ctx, &list).await;
        let m1 = member_id(ctx, &list, "m1").await;
        let to = list.reply_address(&ctx.keys, qid, m1, gazette::now_ms());
        let ar = |id: &str, results: &str| format!("Authentication-Results: {id}; {results}\r\n");

        // Written by someone else: ignored, so the envelope must match.
        let forged = ar(
            "evil.example",
            "dkim=pass header.d=example.org; dmarc=pass header.from=example.org",
        );
        let raw = reply("m1@example.org", &to, "r1", &forged);
        let row = send(&app, "mallory@evil.example", &to, &raw).await;
        assert_status(&row, "held", &["envelope sender mallory@evil.example"]);
        assert_eq!(answers(ctx, qid).await, 0);

        // Written by the MTA in front (topmost): believed.
        let ours = ar(
            TRUSTED,
            "dkim=pass header.d=example.org header.s=s1; spf=none",
        );
        let raw = reply("m1@example.org", &to, "r2", &format!("{ours}{forged}"));
        let row = send(&app, "bounces@esp.example", &to, &raw).await;
        assert_status(&row, "accepted", &["answer"]);
        let auth = ctx.store.inbound_auth(row.id).await.unwrap().unwrap();
        assert_eq!(auth.source, TRUSTED);
        assert_eq!(answers(ctx, qid).await, 1);

        // The MTA in front says it failed: held with its words.
        let failed = ar(
            TRUSTED,
            "spf=fail smtp.mailfrom=m1@example.org; dmarc=fail header.from=example.org",
        );
        let raw = reply("m1@example.org", &to, "r3", &failed);
        let row = send(&app, "m1@example.org", &to, &raw).await;
        assert_status(
            &row,
            "held",
            &[&format!("{TRUSTED} reports spf=fail dmarc=fail")],
        );

        // Unsubscribe: a forged verdict neither helps nor harms; the
        // envelope decides.
        let unsubscribe = format!("pm+unsubscribe@{}", list.address.domain());
        let forged_fail = ar("evil.example", "dmarc=fail header.from=example.org");
        let raw = format!(
            "{forged_fail}{}",
            mail(
                "m3@example.org",
                &unsubscribe,
                "leave",
                "",
                "u3@example.org"
            )
        );
        let row = send(&app, "m3@example.org", &unsubscribe, &raw).await;
        assert_status(&row, "accepted", &["m3@example.org unsubscribed"]);
        let raw = format!(
            "{}{}",
            ar(TRUSTED, "dmarc=fail header.from=example.org"),
            mail(
                "m2@example.org",
                &unsubscribe,
                "leave",
                "",
                "u4@example.org"
            )
        );
        let row = send(&app, "m2@example.org", &unsubscribe, &raw).await;
        assert_status(&row, "held", &["not acted on", "dmarc=fail"]);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_replies_get_a_fresh_address() {
    for db in databases().await {
        eprintln!("--- expired reply addresses on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let (app, list) = app(&db, &sink).await;
        let ctx = &app.ctx;
        let qid = question_id(ctx, &list).await;
        let m1 = member_id(ctx, &list, "m1").await;
        let now = gazette::now_ms();

        // Made 400 days ago (the default lifetime is 365): accepted at RCPT
        // (it is ours), held, and the member is sent a fresh address.
        let old = list.reply_address(&ctx.keys, qid, m1, now - 400 * DAY_MS);
        let raw = signed(&reply("m1@example.org", &old, "late1", ""));
        let row = send(&app, "m1@example.org", &old, &raw).await;
        assert_status(
            &row,
            "held",
            &["expired after 365 days", "sent a fresh one"],
        );
        assert_eq!(answers(ctx, qid).await, 0);
        let notice = wait_for(10, "the fresh address", || async {
            sink.to("m1@example.org")
                .into_iter()
                .find(|m| m.text().contains("was not posted"))
        })
        .await;
        let fresh = notice
            .header("Reply-To")
            .expect("the fresh address as Reply-To");
        let fresh = fresh.trim_matches(['<', '>']).to_string();
        assert_ne!(fresh, old);
        assert!(notice.text().contains(&fresh), "{}", notice.text());
        assert!(notice.text().contains("Roadmaps?"), "{}", notice.text());
        let token = fresh
            .strip_prefix("pm+reply-")
            .and_then(|t| t.strip_suffix("@lists.example.org"))
            .unwrap();
        let parsed = ctx.keys.verify_reply(token).unwrap();
        assert_eq!((parsed.question_id, parsed.member_id), (qid, m1));

        // Sent again to it: posted.
        let raw = signed(&reply("m1@example.org", &fresh, "late2", ""));
        let row = send(&app, "m1@example.org", &fresh, &raw).await;
        assert_status(&row, "accepted", &["answer"]);
        assert_eq!(answers(ctx, qid).await, 1);

        // An address from before addresses were dated is as old as its
        // question: this one is new, so it still works.
        let legacy = ctx.keys.sign(
            gazette::tokens::Purpose::Reply,
            &[qid, member_id(ctx, &list, "m2").await],
        );
        let to = format!("pm+reply-{legacy}@lists.example.org");
        let raw = signed(&reply("m2@example.org", &to, "late3", ""));
        let row = send(&app, "m2@example.org", &to, &raw).await;
        assert_status(&row, "accepted", &["answer"]);
        app.stop().await;
    }
}
