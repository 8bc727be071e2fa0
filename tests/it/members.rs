//! Members as an operator manages them, through the binary: an export
//! imports back unchanged; importing or adding never undoes someone's
//! leaving unless asked to (--resubscribe); an active member keeps the
//! settings a row leaves blank.

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
        assert!(
            out.contains("imported 0 members, updated 2, skipped 1"),
            "{out}"
        );
        assert_eq!(run(&["member", "export"], None), exported);

        // A sheet with blank cells: ann keeps her mode and name.
        let out = run(
            &["member", "import", "-"],
            Some("email,mode,name\nann@example.org,,\ndee@example.org,paused,Dee\n"),
        );
        assert!(
            out.contains("imported 1 members, updated 1, skipped 0"),
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
            &["member", "import", "--resubscribe", "-"],
            Some("cy@example.org\n"),
        );
        assert!(out.contains("imported 1 members"), "{out}");
        assert!(run(&["member", "export"], None).contains("cy@example.org,,active,digest"));
    }
}
