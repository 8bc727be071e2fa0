//! The schema as the database itself reports it (SQLite's `PRAGMA`s,
//! PostgreSQL's catalog), in one backend-neutral shape, so a test can
//! prove the two migration directories build the same tables, columns,
//! nullability, defaults, indexes and unique constraints.

use super::{col, Backend, Result, Store};
use std::collections::{BTreeMap, BTreeSet};

/// Every table of the application (not the migrator's own), by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub indexes: BTreeSet<Index>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `int64`, `int32`, `text`, `bytes`, or the backend's own name.
    pub kind: String,
    pub not_null: bool,
    /// The default expression without casts (`'digest'`, `0`).
    pub default: Option<String>,
    pub primary_key: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    /// `None` for the index behind a UNIQUE constraint, whose name each
    /// backend makes up.
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub unique: bool,
    /// The WHERE clause of a partial index, normalised.
    pub predicate: Option<String>,
}

const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name";
const SQLITE_INDEX_SQL: &str =
    "SELECT COALESCE(sql, '') AS sql FROM sqlite_master WHERE type = 'index' AND name = $1";
const POSTGRES_COLUMNS: &str = "SELECT CAST(c.table_name AS TEXT) AS table_name, CAST(c.column_name AS TEXT) AS column_name, \
     CAST(c.data_type AS TEXT) AS data_type, CAST(c.is_nullable AS TEXT) AS is_nullable, \
     CAST(c.column_default AS TEXT) AS column_default, \
     CAST(EXISTS (SELECT 1 FROM information_schema.table_constraints tc \
        JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema \
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema AND tc.table_name = c.table_name \
          AND k.column_name = c.column_name) AS INTEGER) AS pk \
     FROM information_schema.columns c \
     WHERE c.table_schema = current_schema() AND c.table_name <> '_sqlx_migrations' \
     ORDER BY c.table_name, c.ordinal_position";
const POSTGRES_INDEXES: &str = "SELECT CAST(t.relname AS TEXT) AS table_name, CAST(i.relname AS TEXT) AS index_name, \
     CAST(ix.indisunique AS INTEGER) AS is_unique, CAST(ix.indisprimary AS INTEGER) AS is_primary, \
     COALESCE(pg_get_expr(ix.indpred, ix.indrelid), '') AS predicate, \
     CAST(EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) AS INTEGER) AS constraint_backed, \
     (SELECT string_agg(CAST(a.attname AS TEXT), ',' ORDER BY k.ord) \
        FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) \
        JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum) AS columns \
     FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
     JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE n.nspname = current_schema() AND t.relname <> '_sqlx_migrations'";

impl Store {
    /// The application's schema as this database reports it.
    pub async fn describe_schema(&self) -> Result<Schema> {
        match self.backend() {
            Backend::Sqlite => self.describe_sqlite().await,
            Backend::Postgres => self.describe_postgres().await,
        }
    }

    async fn describe_sqlite(&self) -> Result<Schema> {
        let mut schema = Schema::default();
        let names: Vec<String> = sqlx::query_scalar(SQLITE_TABLES)
            .fetch_all(self.pool())
            .await?;
        for name in names {
            // PRAGMAs take no bound parameters; the names come from
            // sqlite_master, not from outside.
            let quoted = name.replace('"', "\"\"");
            let pragma = |p: &str| format!("PRAGMA {p}(\"{quoted}\")");
            let mut table = Table::default();
            for r in sqlx::query(sqlx::AssertSqlSafe(pragma("table_info")))
                .fetch_all(self.pool())
                .await?
            {
                let primary_key = col::<i64>(&r, "pk")? > 0;
                let declared: String = col(&r, "type")?;
                table.columns.push(Column {
                    name: col(&r, "name")?,
                    kind: kind(Backend::Sqlite, &declared),
                    not_null: primary_key || col::<i64>(&r, "notnull")? != 0,
                    default: col::<Option<String>>(&r, "dflt_value")?.map(|d| normalise(&d)),
                    primary_key,
                });
            }
            for r in sqlx::query(sqlx::AssertSqlSafe(pragma("index_list")))
                .fetch_all(self.pool())
                .await?
            {
                let origin: String = col(&r, "origin")?;
                if origin == "pk" {
                    continue;
                }
                let index: String = col(&r, "name")?;
                let q = index.replace('"', "\"\"");
                let columns =
                    sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA index_info(\"{q}\")")))
                        .fetch_all(self.pool())
                        .await?
                        .iter()
                        .map(|c| col::<String>(c, "name"))
                        .collect::<Result<Vec<_>>>()?;
                let sql: String = sqlx::query_scalar(SQLITE_INDEX_SQL)
                    .bind(&index)
                    .fetch_optional(self.pool())
                    .await?
                    .unwrap_or_default();
                let predicate = sql
                    .to_ascii_lowercase()
                    .find(" where ")
                    .map(|at| normalise(&sql[at + 7..]));
                table.indexes.insert(Index {
                    name: (origin == "c").then_some(index),
                    columns,
                    unique: col::<i64>(&r, "unique")? != 0,
                    predicate,
                });
            }
            schema.tables.insert(name, table);
        }
        Ok(schema)
    }

    async fn describe_postgres(&self) -> Result<Schema> {
        let mut schema = Schema::default();
        for r in sqlx::query(POSTGRES_COLUMNS).fetch_all(self.pool()).await? {
            let table: String = col(&r, "table_name")?;
            let default: Option<String> = col(&r, "column_default")?;
            let primary_key = col::<i64>(&r, "pk")? != 0;
            schema
                .tables
                .entry(table)
                .or_default()
                .columns
                .push(Column {
                    name: col(&r, "column_name")?,
                    kind: kind(Backend::Postgres, &col::<String>(&r, "data_type")?),
                    not_null: col::<String>(&r, "is_nullable")? == "NO",
                    default: default.map(|d| normalise(&d)),
                    primary_key,
                });
        }
        for r in sqlx::query(POSTGRES_INDEXES).fetch_all(self.pool()).await? {
            if col::<i64>(&r, "is_primary")? != 0 {
                continue;
            }
            let table: String = col(&r, "table_name")?;
            let predicate: String = col(&r, "predicate")?;
            let columns: Option<String> = col(&r, "columns")?;
            let backed = col::<i64>(&r, "constraint_backed")? != 0;
            schema
                .tables
                .entry(table)
                .or_default()
                .indexes
                .insert(Index {
                    name: (!backed).then(|| col(&r, "index_name")).transpose()?,
                    columns: columns
                        .unwrap_or_default()
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                    unique: col::<i64>(&r, "is_unique")? != 0,
                    predicate: (!predicate.is_empty()).then(|| normalise(&predicate)),
                });
        }
        Ok(schema)
    }
}

/// One name per storage class: SQLite's INTEGER is 64 bits like
/// PostgreSQL's BIGINT; PostgreSQL's INTEGER is 32 (and the `Any` driver
/// would not decode it as the i64 the store reads).
fn kind(backend: Backend, declared: &str) -> String {
    let declared = declared.trim().to_ascii_lowercase();
    match (backend, declared.as_str()) {
        (Backend::Sqlite, "integer") | (Backend::Postgres, "bigint") => "int64".into(),
        (Backend::Postgres, "integer") => "int32".into(),
        (_, "text") => "text".into(),
        (Backend::Sqlite, "blob") | (Backend::Postgres, "bytea") => "bytes".into(),
        _ => declared,
    }
}

/// An expression as both backends can agree on it: PostgreSQL adds casts
/// (`'digest'::text`) and parentheses that SQLite keeps as written.
fn normalise(expr: &str) -> String {
    let mut s = expr.to_ascii_lowercase();
    for cast in ["::text", "::bigint", "::integer", "::bytea"] {
        s = s.replace(cast, "");
    }
    s.chars()
        .filter(|c| !matches!(c, '(' | ')'))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
