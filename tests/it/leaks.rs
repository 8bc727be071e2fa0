//! Nothing leaked: tokens are shortened in every log line and in what the
//! CLI prints; control characters from mail are escaped there; the
//! database, the token key file and the outbox's `.eml` files are private
//! to their owner; the token key leaves the SQLite database for a file
//! beside it (and keeps working); PostgreSQL keeps its stored key with a
//! warning; a database password never shows in an error.

use crate::common::*;
use crate::doors::{Served, Smtp};
use gazette::app::Ctx;
use gazette::store::Store;
use gazette::tokens::{Purpose, TokenKey};

/// The tokens of `pm+reply-…@`, `pm+confirm-…@` and `/confirm/…` in `text`.
fn tokens_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for marker in ["+reply-", "+confirm-", "/confirm/"] {
        for (i, _) in text.match_indices(marker) {
            let t: String = text[i + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if t.len() >= 16 {
                out.push(t);
            }
        }
    }
    out
}

fn eml_texts(dir: &std::path::Path) -> String {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_cli_output_hold_no_token_and_no_control_character() {
    let served = Served::start(
        None,
        &[("GAZETTE_LOG", "debug"), ("GAZETTE_SENDER_AUTH", "off")],
    )
    .await;
    let env = served.env().to_vec();
    gazette_cmd(&env, &["member", "add", "ann@example.org"], None);
    // A question (its acknowledgement carries a reply address) and a
    // subscription request (a confirm address and link).
    let question = mail(
        "ann@example.org",
        LIST_ADDRESS,
        "Roadmaps?",
        "How far?",
        "q1@example.org",
    );
    smtp_send(served.smtp, "ann@example.org", LIST_ADDRESS, &question)
        .await
        .unwrap();
    let subscribe = "pm+subscribe@lists.example.org";
    let raw = mail("bob@example.org", subscribe, "join", "", "s1@example.org");
    smtp_send(served.smtp, "bob@example.org", subscribe, &raw)
        .await
        .unwrap();
    let outbox = served.outbox();
    let tokens = wait_for(30, "a reply and a confirm token in the outbox", || async {
        let t = tokens_in(&eml_texts(&outbox));
        (t.len() >= 3).then_some(t)
    })
    .await;
    let reply = tokens_in(&eml_texts(&outbox))
        .into_iter()
        .find(|t| eml_texts(&outbox).contains(&format!("pm+reply-{t}@")))
        .expect("a reply address");
    let confirm = tokens_in(&eml_texts(&outbox))
        .into_iter()
        .find(|t| eml_texts(&outbox).contains(&format!("/confirm/{t}")))
        .expect("a confirm link");

    // Use them: an answer with an envelope sender full of control
    // characters (it is not ann, so it is held, and the reason names it),
    // the confirm page.
    let mut smtp = Smtp::connect_from("127.0.0.1", served.smtp).await;
    assert!(smtp.reply().await.starts_with("220"));
    let to = format!("pm+reply-{reply}@lists.example.org");
    let answer = mail(
        "ann@example.org",
        &to,
        "Re: Roadmaps?",
        "Two quarters.",
        "a1@example.org",
    );
    let evil = "\x1b[2J\x01evil@example.org";
    let (rcpt, data) = smtp.transaction("EHLO", evil, &[&to], &answer).await;
    assert!(
        rcpt[0].starts_with("250") && data[0].starts_with("250"),
        "{rcpt:?} {data:?}"
    );
    let (status, _) = http("GET", &served.url(&format!("/confirm/{confirm}")), "").await;
    assert_eq!(status, 200);
    let unsubscribe = "pm+unsubscribe@lists.example.org";
    let leave = mail(
        "ann@example.org",
        unsubscribe,
        "leave",
        "",
        "u1@example.org",
    );
    let mut smtp = Smtp::connect_from("127.0.0.1", served.smtp).await;
    assert!(smtp.reply().await.starts_with("220"));
    let (_, data) = smtp.transaction("EHLO", evil, &[unsubscribe], &leave).await;
    assert!(data[0].starts_with("250"), "{data:?}");
    let listed = wait_for(30, "both messages handled", || async {
        let out = gazette_cmd(&env, &["inbound", "list"], None);
        (out.matches("held").count() >= 2).then_some(out)
    })
    .await;

    let log = served.log();
    for t in tokens.iter().chain([&reply, &confirm]) {
        assert!(!log.contains(t.as_str()), "token {t} in the log:\n{log}");
        assert!(
            !listed.contains(t.as_str()),
            "token {t} in `inbound list`:\n{listed}"
        );
    }
    assert!(
        log.contains("pm+reply-") && log.contains('…'),
        "the log names the address, shortened:\n{log}"
    );
    for c in ['\x1b', '\x01'] {
        assert!(!log.contains(c), "{c:?} in the log:\n{log}");
        assert!(!listed.contains(c), "{c:?} in `inbound list`:\n{listed}");
    }
    assert!(
        listed.contains("\\x1b[2J\\x01evil@example.org"),
        "escaped, still readable:\n{listed}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_key_and_outbox_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().unwrap();
    let db_file = dir.path().join("gazette.db");
    let db = TestDb::at(&format!("sqlite://{}?mode=rwc", db_file.display()));
    let outbox = dir.path().join("mail/outbox");
    let ctx = Ctx::open(test_config(
        &db,
        &format!("file://{}", outbox.display()),
        &[],
    ))
    .await
    .unwrap();
    seed_list(&ctx, 1).await;
    let (stop, workers) = start_workers(&ctx);
    let files = eml_files(&outbox, 1).await;
    stop.send(true).unwrap();
    workers.await.unwrap();
    assert_eq!(mode(&db_file), 0o600, "the database");
    let wal = dir.path().join("gazette.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600, "its write-ahead log");
    }
    assert_eq!(
        mode(&dir.path().join("gazette.db.secret")),
        0o600,
        "the token key"
    );
    assert_eq!(mode(&outbox), 0o700, "the outbox directory");
    assert_eq!(
        mode(&dir.path().join("mail")),
        0o700,
        "a directory made for it"
    );
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

/// A database from before the key file: its stored key moves into the
/// file (and out of the database), and the addresses it signed still work.
#[tokio::test]
async fn a_stored_token_key_moves_into_a_private_file() {
    let db = sqlite_db();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let stored = store.token_secret().await.unwrap();
    store.close().await;
    let old_token = TokenKey::new(stored.as_bytes()).sign(Purpose::Unsubscribe, &[42]);

    let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
        .await
        .unwrap();
    assert_eq!(
        ctx.keys.verify(Purpose::Unsubscribe, &old_token, 1),
        Some(vec![42])
    );
    let file = gazette::token_secret::key_file(&gazette::files::sqlite_file(&db.url).unwrap());
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), stored);
    assert_eq!(
        ctx.store.stored_token_secret().await.unwrap(),
        None,
        "no copy left in the database"
    );
    ctx.store.close().await;
    // Opened again: the same key, from the file.
    let ctx = Ctx::open(test_config(&db, "file:///nonexistent", &[]))
        .await
        .unwrap();
    assert_eq!(
        ctx.keys.verify(Purpose::Unsubscribe, &old_token, 1),
        Some(vec![42])
    );

    // A new database gets a new key of its own, in its own file.
    let fresh = sqlite_db();
    let other = Ctx::open(test_config(&fresh, "file:///nonexistent", &[]))
        .await
        .unwrap();
    assert_eq!(other.keys.verify(Purpose::Unsubscribe, &old_token, 1), None);
    let other_file =
        gazette::token_secret::key_file(&gazette::files::sqlite_file(&fresh.url).unwrap());
    assert!(std::fs::read_to_string(other_file).unwrap().trim().len() >= 32);
}

/// PostgreSQL is shared by several processes: without GAZETTE_SECRET the
/// key stays in the database, with a warning saying what that risks.
#[tokio::test]
async fn postgres_keeps_its_stored_key_with_a_warning() {
    let Some(url) = postgres_url() else { return };
    let db = postgres_db(&url).await;
    let config = test_config(&db, "file:///nonexistent", &[]);
    let store = Store::connect(config.database_url.expose()).await.unwrap();
    store.migrate().await.unwrap();
    let (key, warnings) = gazette::token_secret::load(&config, &store).await.unwrap();
    let stored = store
        .stored_token_secret()
        .await
        .unwrap()
        .expect("kept in the database");
    let t = key.sign(Purpose::Confirm, &[1]);
    assert_eq!(
        TokenKey::new(stored.as_bytes()).verify(Purpose::Confirm, &t, 1),
        Some(vec![1])
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("GAZETTE_SECRET") && warnings[0].contains("forge"),
        "{}",
        warnings[0]
    );
    let secret = "0123456789abcdef0123456789abcdef";
    let config = test_config(&db, "file:///nonexistent", &[("GAZETTE_SECRET", secret)]);
    let (key, warnings) = gazette::token_secret::load(&config, &store).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let t = key.sign(Purpose::Confirm, &[1]);
    assert_eq!(
        TokenKey::new(secret.as_bytes()).verify(Purpose::Confirm, &t, 1),
        Some(vec![1])
    );
}

#[tokio::test]
async fn database_errors_hide_the_password() {
    for url in [
        "postgres://gz:s3cret-pw@127.0.0.1:1/gazette",
        "postgres://gz:s3cret-pw@127.0.0.1:notaport/gazette",
        "postgres://gz@127.0.0.1:1/gazette?password=s3cret-pw",
    ] {
        let e = Store::connect(url).await.unwrap_err().to_string();
        assert!(!e.contains("s3cret-pw"), "{url}: {e}");
        assert!(e.contains("GAZETTE_DATABASE_URL"), "{e}");
    }
}
