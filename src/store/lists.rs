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
        })
    }
}

const INSERT_LIST: &str = "INSERT INTO lists (address, name, schedule, timezone, require_approval, next_digest_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
const SELECT_ALL: &str = "SELECT id, address, name, schedule, timezone, require_approval, next_digest_at, created_at FROM lists ORDER BY id";
const SELECT_BY_ADDRESS: &str = "SELECT id, address, name, schedule, timezone, require_approval, next_digest_at, created_at FROM lists WHERE address = $1";
const SELECT_BY_ID: &str = "SELECT id, address, name, schedule, timezone, require_approval, next_digest_at, created_at FROM lists WHERE id = $1";
const UPDATE_LIST: &str = "UPDATE lists SET name = $2, schedule = $3, timezone = $4, require_approval = $5, next_digest_at = $6 WHERE id = $1";
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

    pub async fn update_list(&self, l: &ListRow) -> Result<()> {
        sqlx::query(UPDATE_LIST)
            .bind(l.id)
            .bind(&l.name)
            .bind(&l.schedule)
            .bind(&l.timezone)
            .bind(l.require_approval as i64)
            .bind(l.next_digest_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
