//! The command line as a newcomer meets it: commands other than `serve`,
//! `migrate` and `list create` never create a database and say where they
//! looked; a separator that clashes with a list stops start-up with a
//! message, not a panic; removing a non-member fails; `outbox retry`
//! without an id points at `--all`.

use crate::common::*;
use std::process::{Command, Stdio};

/// Runs the binary in `dir`; returns (exit code, stdout, stderr).
fn run(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gazette"))
        .args(args)
        .current_dir(dir)
        .env_remove("GAZETTE_DATABASE_URL")
        .env("GAZETTE_CONFIG", "/dev/null")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn commands_outside_the_data_directory_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["list", "show"][..],
        &["member", "export"],
        &["digest", "status"],
        &["outbox", "status"],
        &["inbound", "list"],
    ] {
        let (code, _, err) = run(dir.path(), &[], args);
        assert_eq!(code, 66, "{args:?}: {err}");
        let looked = dir.path().join("gazette.db");
        assert!(
            err.contains(&looked.display().to_string()),
            "{args:?}: {err}"
        );
        assert!(err.contains("GAZETTE_DATABASE_URL"), "{err}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file was created"
    );
    let (code, out, err) = run(
        dir.path(),
        &[],
        &["list", "create", LIST_ADDRESS, "--name", "PM Circle"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created list"), "{out}");
    assert!(dir.path().join("gazette.db").exists());
    let (code, out, _) = run(dir.path(), &[], &["list", "show"]);
    assert_eq!(code, 0);
    assert!(out.contains(LIST_ADDRESS), "{out}");
}

#[test]
fn papercuts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        run(
            d,
            &[],
            &[
                "list",
                "create",
                "pm-circle@lists.example.org",
                "--name",
                "PM"
            ]
        )
        .0,
        0
    );
    // A separator the list's address contains: a message, no panic.
    let (code, _, err) = run(d, &[("GAZETTE_SEPARATOR", "-")], &["list", "show"]);
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("GAZETTE_SEPARATOR") && err.contains("pm-circle@lists.example.org"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Removing someone who is not a member fails, and says so.
    let (code, _, err) = run(d, &[], &["member", "remove", "nobody@example.org"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nobody@example.org is not a member"), "{err}");
    // `outbox retry` without an id says how to retry everything.
    let (code, _, err) = run(d, &[], &["outbox", "retry"]);
    assert_ne!(code, 0);
    assert!(err.contains("--all"), "{err}");
}

/// Someone who clones only this repository can follow every link in its
/// documents: no link or path points outside it, and every relative link
/// resolves.
#[test]
fn documents_link_only_inside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["README.md", "ARCHITECTURE.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        assert!(!text.contains("../"), "{doc} points outside the repository");
        for link in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if link.starts_with("http://") || link.starts_with("https://") || link.starts_with('#')
            {
                continue;
            }
            let path = link.split('#').next().unwrap();
            assert!(
                root.join(path).exists(),
                "{doc} links to {link}, which is not in the repository"
            );
        }
    }
}

/// Accepted mail survives a power cut: on SQLite, the commit that stores
/// an inbound message is synced to disk before the sender hears 250 (the
/// rest of the work, done with `synchronous=NORMAL`, is not synced at each
/// commit). Seen from outside with strace: the WAL is synced once, right
/// after the first transaction, and written again after that.
#[test]
fn the_inbound_commit_is_synced_to_disk() {
    if Command::new("strace").arg("-V").output().is_err() {
        missing("strace is not installed, so the durability check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        run(d, &[], &["list", "create", LIST_ADDRESS, "--name", "PM"]).0,
        0
    );
    assert_eq!(run(d, &[], &["member", "add", "ann@example.org"]).0, 0);
    let q = mail(
        "ann@example.org",
        LIST_ADDRESS,
        "Hi",
        "A question.",
        "x1@example.org",
    );
    std::fs::write(d.join("q.eml"), q).unwrap();
    let trace = d.join("trace.txt");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "strace -f -y -e trace=pwrite64,fsync,fdatasync -o {} {} ingest --recipient {LIST_ADDRESS} --sender ann@example.org < q.eml",
            trace.display(),
            env!("CARGO_BIN_EXE_gazette")
        ))
        .current_dir(d)
        .env("GAZETTE_CONFIG", "/dev/null")
        .env_remove("GAZETTE_DATABASE_URL")
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&trace).unwrap();
    let wal: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("gazette.db-wal>"))
        .collect();
    let first_sync = wal
        .iter()
        .position(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .unwrap_or_else(|| panic!("the WAL was never synced:\n{text}"));
    assert!(
        wal[first_sync + 1..]
            .iter()
            .any(|l| l.contains("pwrite64(")),
        "the sync came only at the end, not after the inbound commit:\n{text}"
    );
}
