//! The store: the only place that speaks SQL.
//!
//! One `Store` wraps an sqlx `Any` pool over SQLite (the embedded default) or
//! PostgreSQL (scale-out). Statements are `const`s with names, grouped by
//! table family in the submodules; where the two dialects differ, both texts
//! sit side by side and [`Store::pick`] chooses. Times are epoch
//! milliseconds, booleans are integers (the `Any` driver cannot decode
//! TIMESTAMPTZ or BOOLEAN).

pub mod access;
pub mod archive;
pub mod auth;
pub mod catalog;
pub mod deliveries;
pub mod digests;
pub mod inbound;
pub mod issue_sends;
pub mod lists;
pub mod members;
pub mod moderation;
pub mod notices;
pub mod outbox;
pub mod posts;
pub mod retention;
mod schema;
pub mod state;

pub use state::{
    DeliveryMode, DigestStatus, InboundKind, InboundStatus, IssueDelivery, MemberStatus,
    OutboxKind, OutboxStatus, StoredEnum,
};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

pub use sqlx::Error as DbError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Errors from the store, with what the operator can do about them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The causes are part of the message and deliberately not `#[source]`:
    // `{:#}` would print them twice.
    #[error("cannot open the database at {url}: {cause}. Check GAZETTE_DATABASE_URL (for SQLite the directory must exist and be writable; for PostgreSQL the server must be up).")]
    Connect { url: String, cause: String },
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("there is no gazette database at {path} (GAZETTE_DATABASE_URL is {url}). Run gazette where `gazette serve` keeps its data, or point GAZETTE_DATABASE_URL at it; `gazette migrate` or `gazette list create` starts a new database here")]
    Missing { path: String, url: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether opening a database may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// `serve`, `migrate`, `list create`: a new installation starts here.
    CreateIfMissing,
    /// Every other command: a missing SQLite file is an error naming the
    /// path looked at, not an empty database reporting "no lists yet".
    Existing,
}

impl Store {
    /// [`Store::connect`], refusing to create a SQLite database that is not
    /// there yet when `open` is [`Open::Existing`].
    pub async fn open(url: &str, open: Open) -> Result<Store> {
        if open == Open::Existing {
            if let Some(file) = crate::files::sqlite_file(url).filter(|f| !f.exists()) {
                let path = std::env::current_dir()
                    .map(|d| d.join(&file))
                    .unwrap_or(file);
                return Err(StoreError::Missing {
                    path: path.display().to_string(),
                    url: redact(url),
                });
            }
        }
        Store::connect(url).await
    }

    /// Opens the pool; SQLite connections get WAL, `synchronous=NORMAL` and a
    /// busy timeout so several workers can share one file.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        if let Some(warning) = crate::files::prepare_sqlite(url) {
            tracing::warn!("{warning}");
        }
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let max = if backend == Backend::Sqlite { 8 } else { 16 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Postgres {
                        // "relation already exists, skipping" and similar
                        // notices are not for the operator's log.
                        sqlx::query("SET client_min_messages = warning")
                            .execute(&mut *conn)
                            .await?;
                    }
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode=WAL",
                            "PRAGMA synchronous=NORMAL",
                            "PRAGMA busy_timeout=10000",
                            "PRAGMA foreign_keys=ON",
                            // 8 MB of pages per connection instead of 2: a
                            // sending outbox of 100,000 rows and its
                            // indexes otherwise miss the cache on most
                            // claims and records.
                            "PRAGMA cache_size=-8000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|cause| StoreError::Connect {
                url: redact(url),
                cause: crate::redact::without_password(&cause.to_string(), url),
            })?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Chooses the statement text for this backend.
    pub(crate) fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// A transaction that takes the write lock up front on SQLite
    /// (`BEGIN IMMEDIATE`), so a read-then-write never fails half-way with
    /// SQLITE_BUSY when another worker writes in between.
    pub async fn begin_write(&self) -> Result<Tx> {
        Ok(self
            .pool
            .begin_with(self.pick("BEGIN IMMEDIATE", "BEGIN"))
            .await?)
    }

    pub async fn migrate(&self) -> Result<Vec<String>> {
        schema::migrate(self).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The token secret shared by all workers; created on first use.
    pub async fn token_secret(&self) -> Result<String> {
        const INSERT_SECRET_IF_ABSENT: &str =
            "INSERT INTO settings (key, value) VALUES ('token_secret', $1) ON CONFLICT (key) DO NOTHING";
        const SELECT_SECRET: &str = "SELECT value FROM settings WHERE key = 'token_secret'";
        let fresh: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        sqlx::query(INSERT_SECRET_IF_ABSENT)
            .bind(fresh)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(SELECT_SECRET).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// The token secret an earlier version kept in the database, if any
    /// (SQLite now keeps it in a file: see [`crate::token_secret`]).
    pub async fn stored_token_secret(&self) -> Result<Option<String>> {
        const SELECT_SECRET: &str = "SELECT value FROM settings WHERE key = 'token_secret'";
        Ok(sqlx::query_scalar(SELECT_SECRET)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Deletes the stored token secret once it is kept elsewhere.
    pub async fn forget_token_secret(&self) -> Result<()> {
        const DELETE_SECRET: &str = "DELETE FROM settings WHERE key = 'token_secret'";
        sqlx::query(DELETE_SECRET).execute(&self.pool).await?;
        Ok(())
    }
}

/// Hides a password in a database URL before it reaches a log or an error.
fn redact(url: &str) -> String {
    crate::redact::url(url)
}

/// Text from mail as the database can hold it: PostgreSQL refuses NUL in
/// TEXT ("invalid byte sequence for encoding UTF8: 0x00"), and malformed
/// mail does carry them. Applied where text from outside enters a table.
pub(crate) fn text(s: &str) -> String {
    s.replace('\0', "")
}

/// Reads a column, naming it in the error (the `Any` driver's own messages
/// do not always say which column failed).
pub(crate) fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// Reads a stored state (a `TEXT` column) as its enum; a spelling the
/// code does not know is an error naming the column and the value.
pub(crate) fn state<T: StoredEnum>(row: &AnyRow, name: &str) -> Result<T> {
    let text: String = col(row, name)?;
    T::parse(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The i64 flag columns as booleans.
pub(crate) fn flag(row: &AnyRow, name: &str) -> Result<bool> {
    Ok(col::<i64>(row, name)? != 0)
}

#[cfg(test)]
mod tests {
    use super::state::*;

    /// SQL keeps some states as literals (a partial index is only used
    /// when the query spells its condition out): each literal in the
    /// statements must be a spelling one of the enums knows, so a typo in
    /// SQL fails here rather than matching nothing at run time.
    #[test]
    fn sql_literals_are_known_states() {
        let mut known: Vec<&str> = Vec::new();
        known.extend(MemberStatus::ALL.iter().map(|v| v.as_str()));
        known.extend(DeliveryMode::ALL.iter().map(|v| v.as_str()));
        known.extend(OutboxStatus::ALL.iter().map(|v| v.as_str()));
        known.extend(OutboxKind::ALL.iter().map(|v| v.as_str()));
        known.extend(InboundStatus::ALL.iter().map(|v| v.as_str()));
        known.extend(InboundKind::ALL.iter().map(|v| v.as_str()));
        known.extend(DigestStatus::ALL.iter().map(|v| v.as_str()));
        known.extend(IssueDelivery::ALL.iter().map(|v| v.as_str()));
        // Not states: empty text, JSON defaults, dedupe-key pieces, settings
        // keys, SQLite's clock (`julianday('now')`).
        known.extend(["", "{}", "[]", ":", "digest:", "token_secret", "now"]);
        for (file, text) in [
            ("lists.rs", include_str!("lists.rs")),
            ("members.rs", include_str!("members.rs")),
            ("outbox.rs", include_str!("outbox.rs")),
            ("digests.rs", include_str!("digests.rs")),
            ("inbound.rs", include_str!("inbound.rs")),
            ("issue_sends.rs", include_str!("issue_sends.rs")),
            ("posts.rs", include_str!("posts.rs")),
            ("retention.rs", include_str!("retention.rs")),
            ("access.rs", include_str!("access.rs")),
            ("archive.rs", include_str!("archive.rs")),
            ("auth.rs", include_str!("auth.rs")),
            ("deliveries.rs", include_str!("deliveries.rs")),
            ("moderation.rs", include_str!("moderation.rs")),
            ("notices.rs", include_str!("notices.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("access.rs", include_str!("access.rs")),
            ("moderation.rs", include_str!("moderation.rs")),
            ("deliveries.rs", include_str!("deliveries.rs")),
            ("archive.rs", include_str!("archive.rs")),
        ] {
            let code = text.split("#[cfg(test)]").next().unwrap_or(text);
            for sql in string_literals(code) {
                let mut parts = sql.split('\'');
                parts.next();
                while let (Some(literal), Some(_)) = (parts.next(), parts.next()) {
                    assert!(
                        known.contains(&literal),
                        "src/store/{file}: '{literal}' in SQL is no known state: {sql}"
                    );
                }
            }
        }
    }

    /// The contents of the Rust string literals in `code` (escapes kept).
    fn string_literals(code: &str) -> Vec<String> {
        let (mut out, mut cur, mut inside, mut escaped) = (Vec::new(), String::new(), false, false);
        for c in code.chars() {
            match (inside, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (true, false, '"') => {
                    out.push(std::mem::take(&mut cur));
                    inside = false;
                }
                (true, false, c) => cur.push(c),
                (false, _, '"') => inside = true,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://g.db"), "sqlite://g.db");
    }
}
