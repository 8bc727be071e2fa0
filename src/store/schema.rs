//! Migrations, applied with sqlx's migrator: the numbered files under
//! `migrations/sqlite` and `migrations/postgres`, embedded in the binary,
//! each applied once in its own transaction, recorded with its checksum in
//! `_sqlx_migrations` (an applied file that was edited afterwards stops
//! start-up instead of drifting silently).
//!
//! sqlx's `migrate!` macro would find the files by itself, but it needs
//! sqlx's `macros` feature, which compiles a second copy of sqlx's drivers
//! and of SQLite's C library for the proc-macro host. The files are listed
//! here instead, and a test checks the list against the directories.
//!
//! Databases made before this migrator kept their history in
//! `schema_migrations`; their `0001` is marked applied without running it,
//! and `0002` drops the old table.

use super::{Backend, Result, Store, StoreError};
use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};
use sqlx::{Row, SqlStr};
use std::borrow::Cow;

/// `(version, description, sqlite, postgres)`: the files of both
/// directories, in order. A new schema change is a new pair of files and a
/// new line here.
pub(crate) const FILES: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../../migrations/sqlite/0001_core.sql"),
        include_str!("../../migrations/postgres/0001_core.sql"),
    ),
    (
        2,
        "sqlx migrator",
        include_str!("../../migrations/sqlite/0002_sqlx_migrator.sql"),
        include_str!("../../migrations/postgres/0002_sqlx_migrator.sql"),
    ),
    (
        3,
        "member consent",
        include_str!("../../migrations/sqlite/0003_member_consent.sql"),
        include_str!("../../migrations/postgres/0003_member_consent.sql"),
    ),
    (
        4,
        "inbound robustness",
        include_str!("../../migrations/sqlite/0004_inbound_robustness.sql"),
        include_str!("../../migrations/postgres/0004_inbound_robustness.sql"),
    ),
    (
        5,
        "inbound auth",
        include_str!("../../migrations/sqlite/0005_inbound_auth.sql"),
        include_str!("../../migrations/postgres/0005_inbound_auth.sql"),
    ),
    (
        6,
        "answer notices",
        include_str!("../../migrations/sqlite/0006_answer_notices.sql"),
        include_str!("../../migrations/postgres/0006_answer_notices.sql"),
    ),
    (
        7,
        "editor ui",
        include_str!("../../migrations/sqlite/0007_editor_ui.sql"),
        include_str!("../../migrations/postgres/0007_editor_ui.sql"),
    ),
    (
        8,
        "retention",
        include_str!("../../migrations/sqlite/0008_retention.sql"),
        include_str!("../../migrations/postgres/0008_retention.sql"),
    ),
    (
        9,
        "outbox claim",
        include_str!("../../migrations/sqlite/0009_outbox_claim.sql"),
        include_str!("../../migrations/postgres/0009_outbox_claim.sql"),
    ),
    (
        10,
        "issue sending",
        include_str!("../../migrations/sqlite/0010_issue_sending.sql"),
        include_str!("../../migrations/postgres/0010_issue_sending.sql"),
    ),
    (
        11,
        "outbox lean indexes",
        include_str!("../../migrations/sqlite/0011_outbox_lean_indexes.sql"),
        include_str!("../../migrations/postgres/0011_outbox_lean_indexes.sql"),
    ),
];

/// The migrator for `backend`.
pub(crate) fn migrator(backend: Backend) -> Migrator {
    let migrations = FILES
        .iter()
        .map(|&(version, description, sqlite, postgres)| {
            let sql = match backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                false,
            )
        })
        .collect();
    let mut m = Migrator::with_migrations(migrations);
    // [`migrate`] holds the lock itself, around the legacy check too.
    m.set_locking(false);
    m
}

/// Whether the pre-sqlx bookkeeping table is there.
const SQLITE_LEGACY: &str =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";
const POSTGRES_LEGACY: &str = "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'";
/// The last version the legacy migrator recorded.
const LEGACY_APPLIED: &str = "SELECT MAX(version) FROM schema_migrations";

/// Applies pending migrations; returns the names it applied. On
/// PostgreSQL everything happens under sqlx's advisory lock, so several
/// processes starting at once on a new database do not race.
pub(super) async fn migrate(store: &Store) -> Result<Vec<String>> {
    let migrator = migrator(store.backend());
    let mut conn = store.pool().acquire().await?;
    // Every command opens the database, `gazette ingest` once per message:
    // an up-to-date database costs one read, no lock and no DDL.
    if up_to_date(&migrator, &mut conn).await {
        return Ok(Vec::new());
    }
    conn.lock().await.map_err(migrate_error)?;
    let result = migrate_locked(store, &migrator, &mut conn).await;
    if let Err(e) = conn.unlock().await {
        tracing::warn!(error = %e, "could not release the migration lock; it ends with the connection");
    }
    result
}

async fn migrate_locked(
    store: &Store,
    migrator: &Migrator,
    conn: &mut sqlx::AnyConnection,
) -> Result<Vec<String>> {
    adopt_legacy(store, migrator, conn).await?;
    let before = applied_versions(conn).await?;
    // SQLite has no migration lock: a second process that started at the
    // same moment fails on a table the first just made, and finds it all
    // applied when it looks again.
    let mut tries = 0;
    loop {
        match migrator.run(&mut *conn).await {
            Ok(()) => break,
            Err(e) if store.backend() == Backend::Sqlite && tries < 3 => {
                tries += 1;
                tracing::debug!(error = %e, "migration raced another process; looking again");
                tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
            }
            Err(e) => return Err(migrate_error(e)),
        }
    }
    let after = applied_versions(conn).await?;
    Ok(FILES
        .iter()
        .filter(|f| after.contains(&f.0) && !before.contains(&f.0))
        .map(|f| format!("{:04}_{}", f.0, f.1.replace(' ', "_")))
        .collect())
}

const SELECT_APPLIED: &str = "SELECT version, checksum FROM _sqlx_migrations WHERE success";

/// Whether every migration is applied, unedited, and nothing else is; any
/// doubt (no table yet, an unknown version) means the full path.
async fn up_to_date(migrator: &Migrator, conn: &mut sqlx::AnyConnection) -> bool {
    let Ok(rows) = sqlx::query(SELECT_APPLIED).fetch_all(&mut *conn).await else {
        return false;
    };
    let applied: Vec<(i64, Vec<u8>)> = rows
        .iter()
        .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
        .collect();
    applied.len() == migrator.migrations.len()
        && migrator.iter().all(|m| {
            applied
                .iter()
                .any(|(v, sum)| *v == m.version && sum[..] == m.checksum[..])
        })
}

/// A database made by the old migrator: its `0001` is this `0001`
/// (frozen since it landed), so it is recorded as applied, not run again.
/// Marking an applied version is a no-op, so this is safe to repeat.
async fn adopt_legacy(
    store: &Store,
    migrator: &Migrator,
    conn: &mut sqlx::AnyConnection,
) -> Result<()> {
    applied_versions(conn).await?; // makes sqlx's table, for `skip`
    let probe = store.pick(SQLITE_LEGACY, POSTGRES_LEGACY);
    let legacy: i64 = sqlx::query_scalar(probe).fetch_one(&mut *conn).await?;
    if legacy == 0 {
        return Ok(());
    }
    let version: Option<i64> = sqlx::query_scalar(LEGACY_APPLIED)
        .fetch_one(&mut *conn)
        .await?;
    if version != Some(1) {
        return Err(StoreError::Corrupt(format!(
            "the database records schema version {version:?} in schema_migrations, which this gazette does not know; use the gazette release that made it"
        )));
    }
    tracing::info!("adopting a database made by gazette's earlier migrator");
    migrator
        .skip(&mut *conn, Some(1))
        .await
        .map_err(migrate_error)
}

/// The versions recorded as applied; empty on a new database.
async fn applied_versions(conn: &mut sqlx::AnyConnection) -> Result<Vec<i64>> {
    conn.ensure_migrations_table("_sqlx_migrations")
        .await
        .map_err(migrate_error)?;
    Ok(conn
        .list_applied_migrations("_sqlx_migrations")
        .await
        .map_err(migrate_error)?
        .iter()
        .map(|m| m.version)
        .collect())
}

fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError::*;
    let hint = match &e {
        VersionMismatch(v) => format!(
            "migration {v} was changed after this database applied it; restore the file as released"
        ),
        VersionMissing(v) => format!(
            "the database has migration {v}, which this gazette does not know: it was made by a newer release"
        ),
        Dirty(v) => format!("migration {v} failed part-way; restore the database from a backup"),
        other => other.to_string(),
    };
    StoreError::Corrupt(format!("cannot migrate the database: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// Every file of both directories is embedded, in order, with the
    /// same name on both sides: a migration added to one directory only,
    /// or not listed, fails here.
    #[test]
    fn every_migration_file_is_embedded_for_both_backends() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |backend: &str| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(root.join(backend))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            v.sort();
            v
        };
        let listed: Vec<String> = FILES
            .iter()
            .map(|(v, d, _, _)| format!("{v:04}_{}.sql", d.replace(' ', "_")))
            .collect();
        assert_eq!(names("sqlite"), listed, "migrations/sqlite vs FILES");
        assert_eq!(names("postgres"), listed, "migrations/postgres vs FILES");
        for (i, (v, ..)) in FILES.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1, "versions are 1, 2, 3, ... without gaps");
        }
        for (v, description, sqlite, postgres) in FILES {
            let file = |b: &str| {
                std::fs::read_to_string(
                    root.join(b)
                        .join(format!("{v:04}_{}.sql", description.replace(' ', "_"))),
                )
                .unwrap()
            };
            assert_eq!(*sqlite, file("sqlite"));
            assert_eq!(*postgres, file("postgres"));
        }
    }
}
