//! Lists: their address, name, digest schedule and policy.

use super::{col, flag, Result, Store};
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    pub id: i64,
    pub address: String,
    pub name: String,
    pub schedule: String,
    pub timezone: String,
    pub require_approval: bool,
    pub next_digest_at: Option<i64>,
    pub created_at: i64,
    /// The public archive is on (`/archive/<address>`).
    pub archive_public: bool,
}

impl ListRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(ListRow {
            id: col(r, "id")?,
            address: col(r, "address")?,
            name: col(r, "name")?,
            schedule: col(r, "schedule")?,
            timezone: col(r, "timezone")?,
            require_approval: flag(r, "require_approval")?,
            next_digest_at: col(r, "next_digest_at")?,
            created_at: col(r, "created_at")?,
            archive_public: flag(r, "archive_public")?,
        })
    }
}

const INSERT_LIST: &str = "INSERT INTO lists (address, name, schedule, timezone, require_approval, next_digest_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
const SELECT_ALL: &str = "SELECT id, address, name, schedule, timezone, require_approval, next_digest_at, created_at, archive_public FROM lists ORDER BY id";
const SELECT_BY_ADDRESS: &str = "SELECT id, address, name, schedule, timezone, require_approval, next_digest_at, created_at, archive_public FROM lists WHERE address = $1";
const SELECT_BY_ID: &str = "SELECT id, address, name, schedule, timezone, require_approval, next_digest_at, created_at, archive_public FROM lists WHERE id = $1";
/// Each setting has its own statement, so a change to one never writes
/// back a stale copy of another; above all not of `next_digest_at`, which
/// the scheduler moves by compare-and-set when a slot fires.
const SET_NAME: &str = "UPDATE lists SET name = $2 WHERE id = $1";
const SET_ARCHIVE: &str = "UPDATE lists SET archive_public = $2 WHERE id = $1";
const SET_REQUIRE_APPROVAL: &str = "UPDATE lists SET require_approval = $2 WHERE id = $1";
/// A new schedule and the next run it gives, only if the next run is still
/// the one the caller computed from (compare-and-set).
const SET_SCHEDULE: &str = "UPDATE lists SET schedule = $2, timezone = $3, next_digest_at = $4 \
     WHERE id = $1 AND next_digest_at IS NOT DISTINCT FROM $5";
/// Moves the next run from `$2` to `$3` (compare-and-set).
const MOVE_NEXT_DIGEST: &str =
    "UPDATE lists SET next_digest_at = $3 WHERE id = $1 AND next_digest_at IS NOT DISTINCT FROM $2";
pub struct NewList<'a> {
    pub address: &'a str,
    pub name: &'a str,
    pub schedule: &'a str,
    pub timezone: &'a str,
    pub require_approval: bool,
    pub next_digest_at: Option<i64>,
}

impl Store {
    pub async fn insert_list(&self, l: &NewList<'_>) -> Result<i64> {
        let id = sqlx::query_scalar(INSERT_LIST)
            .bind(l.address)
            .bind(l.name)
            .bind(l.schedule)
            .bind(l.timezone)
            .bind(l.require_approval as i64)
            .bind(l.next_digest_at)
            .bind(crate::now_ms())
            .fetch_one(self.pool())
            .await?;
        Ok(id)
    }

    pub async fn lists(&self) -> Result<Vec<ListRow>> {
        let rows = sqlx::query(SELECT_ALL).fetch_all(self.pool()).await?;
        rows.iter().map(ListRow::from_row).collect()
    }

    pub async fn list_by_address(&self, address: &str) -> Result<Option<ListRow>> {
        let row = sqlx::query(SELECT_BY_ADDRESS)
            .bind(address)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(ListRow::from_row).transpose()
    }

    pub async fn list_by_id(&self, id: i64) -> Result<Option<ListRow>> {
        let row = sqlx::query(SELECT_BY_ID)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(ListRow::from_row).transpose()
    }

    pub async fn set_list_name(&self, id: i64, name: &str) -> Result<()> {
        sqlx::query(SET_NAME)
            .bind(id)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_archive_public(&self, id: i64, on: bool) -> Result<()> {
        sqlx::query(SET_ARCHIVE)
            .bind(id)
            .bind(on as i64)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_require_approval(&self, id: i64, on: bool) -> Result<()> {
        sqlx::query(SET_REQUIRE_APPROVAL)
            .bind(id)
            .bind(on as i64)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sets the schedule and time zone with the next run they give, if the
    /// stored next run is still `expected`; false when it moved meanwhile
    /// (a slot fired), and nothing was written.
    pub async fn set_schedule(
        &self,
        id: i64,
        schedule: &str,
        timezone: &str,
        next: Option<i64>,
        expected: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query(SET_SCHEDULE)
            .bind(id)
            .bind(schedule)
            .bind(timezone)
            .bind(next)
            .bind(expected)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the next digest run from `expected` to `next`; false when it
    /// was not `expected` (another process moved it first).
    pub async fn move_next_digest(
        &self,
        id: i64,
        expected: Option<i64>,
        next: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query(MOVE_NEXT_DIGEST)
            .bind(id)
            .bind(expected)
            .bind(next)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
