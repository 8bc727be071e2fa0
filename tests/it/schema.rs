//! Migrations: both backends build the same schema (compared through each
//! database's own catalog), and a database made by gazette's earlier,
//! hand-written migrator upgrades in place, keeping its data.

use crate::common::*;
use gazette::store::Store;

const LEGACY_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// What the earlier migrator did to a new database: every statement of
/// `0001_core.sql`, then a row in its own bookkeeping table.
async fn legacy_database(db: &TestDb) -> Store {
    let store = Store::connect(&db.url).await.unwrap();
    let core = match store.backend() {
        gazette::store::Backend::Sqlite => include_str!("../../migrations/sqlite/0001_core.sql"),
        gazette::store::Backend::Postgres => {
            include_str!("../../migrations/postgres/0001_core.sql")
        }
    };
    let text: String = core
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let pool = store.pool();
    sqlx::query(LEGACY_TABLE).execute(pool).await.unwrap();
    for statement in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'core', 0)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO lists (address, name, schedule, timezone, require_approval, next_digest_at, created_at) VALUES ('pm@lists.example.org', 'PM Circle', '0 8 * * MON', 'UTC', 0, 123, 1)")
        .execute(pool)
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn a_database_from_the_earlier_migrator_upgrades_in_place() {
    for db in databases().await {
        eprintln!("--- legacy upgrade on {}", db.label);
        let store = legacy_database(&db).await;
        let applied = store.migrate().await.expect("the legacy database migrates");
        assert!(
            !applied.iter().any(|m| m.starts_with("0001")),
            "0001 is adopted, not run again: {applied:?}"
        );
        assert!(applied.iter().any(|m| m.starts_with("0002")), "{applied:?}");
        let list = store
            .list_by_address("pm@lists.example.org")
            .await
            .unwrap()
            .expect("the data survives");
        assert_eq!(list.next_digest_at, Some(123));
        assert!(
            store.migrate().await.unwrap().is_empty(),
            "second run: nothing to do"
        );
        let fresh = if db.label == "sqlite" {
            sqlite_db()
        } else {
            postgres_db(&postgres_url().unwrap()).await
        };
        let clean = Store::connect(&fresh.url).await.unwrap();
        clean.migrate().await.unwrap();
        assert_eq!(
            store.describe_schema().await.unwrap(),
            clean.describe_schema().await.unwrap(),
            "an upgraded database has the schema of a new one"
        );
    }
}

#[tokio::test]
async fn both_backends_build_the_same_schema() {
    let Some(url) = postgres_url() else {
        return;
    };
    let (lite, pg) = (sqlite_db(), postgres_db(&url).await);
    let (lite, pg) = (
        Store::connect(&lite.url).await.unwrap(),
        Store::connect(&pg.url).await.unwrap(),
    );
    lite.migrate().await.unwrap();
    pg.migrate().await.unwrap();
    let (a, b) = (
        lite.describe_schema().await.unwrap(),
        pg.describe_schema().await.unwrap(),
    );
    assert!(
        a.tables.contains_key("outbox") && a.tables.len() > 5,
        "{a:#?}"
    );
    eprintln!("{:?}\n{:?}", a.tables["members"], b.tables["outbox"]);
    let names = |s: &gazette::store::catalog::Schema| s.tables.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "the same tables");
    for (name, table) in &a.tables {
        let other = &b.tables[name];
        assert_eq!(
            table.columns, other.columns,
            "columns of {name} (sqlite, postgres)"
        );
        assert_eq!(
            table.indexes, other.indexes,
            "indexes of {name} (sqlite, postgres)"
        );
    }
}

#[tokio::test]
async fn an_edited_migration_stops_start_up() {
    let db = sqlite_db();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1")
        .execute(store.pool())
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err().to_string();
    assert!(err.contains("migration 1 was changed"), "{err}");
}
