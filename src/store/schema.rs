//! Migrations: the SQL files under `migrations/sqlite` and
//! `migrations/postgres`, embedded in the binary and applied in order, each
//! once, recorded in `schema_migrations`.

use super::{Backend, Result, Store};
use sqlx::Row;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "core",
    sqlite: include_str!("../../migrations/sqlite/0001_core.sql"),
    postgres: include_str!("../../migrations/postgres/0001_core.sql"),
}];

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
const SELECT_APPLIED: &str = "SELECT version FROM schema_migrations";
const INSERT_APPLIED: &str =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)";
/// Serialises concurrent `migrate` runs from several workers on PostgreSQL.
const PG_LOCK: &str = "SELECT pg_advisory_xact_lock(7263541)";
/// Keeps PostgreSQL's "relation already exists, skipping" notice (every run
/// but the first) out of the operator's log.
const PG_QUIET: &str = "SET LOCAL client_min_messages = warning";

/// Applies pending migrations; returns the names it applied.
///
/// Everything, `schema_migrations` itself included, happens in one
/// transaction that first takes the lock (PostgreSQL: an advisory lock;
/// SQLite: `BEGIN IMMEDIATE`). Creating the table before the lock let two
/// processes on a fresh PostgreSQL database both run `CREATE TABLE IF NOT
/// EXISTS`, and the loser failed on `pg_type_typname_nsp_index`.
pub(super) async fn migrate(store: &Store) -> Result<Vec<String>> {
    let mut tx = store.begin_write().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query(PG_LOCK).execute(&mut *tx).await?;
        sqlx::query(PG_QUIET).execute(&mut *tx).await?;
    }
    sqlx::query(CREATE_MIGRATIONS_TABLE)
        .execute(&mut *tx)
        .await?;
    let applied: Vec<i64> = sqlx::query(SELECT_APPLIED)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    let mut done = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let text = store.pick(m.sqlite, m.postgres);
        for statement in split_statements(text) {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(INSERT_APPLIED)
            .bind(m.version)
            .bind(m.name)
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await?;
        done.push(format!("{:04}_{}", m.version, m.name));
    }
    tx.commit().await?;
    Ok(done)
}

/// Splits a migration file into statements; our files keep `;` only at the
/// end of statements and comments on their own lines.
fn split_statements(text: &str) -> Vec<String> {
    let without_comments: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
