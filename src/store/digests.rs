//! Digest issues: draft → approved (content frozen) → sent, or skipped.

use super::{col, Result, Store, Tx};
use sqlx::any::AnyRow;

pub const DRAFT: &str = "draft";
pub const APPROVED: &str = "approved";
pub const SENT: &str = "sent";
pub const SKIPPED: &str = "skipped";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRow {
    pub id: i64,
    pub list_id: i64,
    pub number: i64,
    pub status: String,
    pub subject: String,
    pub intro: String,
    pub since: i64,
    pub until_at: Option<i64>,
    /// JSON of [`crate::digest::Issue`] items.
    pub content: String,
    pub created_at: i64,
    pub approved_at: Option<i64>,
    /// Set when the schedule fired but the issue still awaited approval.
    pub due_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub recipients: i64,
}

impl DigestRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(DigestRow {
            id: col(r, "id")?,
            list_id: col(r, "list_id")?,
            number: col(r, "number")?,
            status: col(r, "status")?,
            subject: col(r, "subject")?,
            intro: col(r, "intro")?,
            since: col(r, "since")?,
            until_at: col(r, "until_at")?,
            content: col(r, "content")?,
            created_at: col(r, "created_at")?,
            approved_at: col(r, "approved_at")?,
            due_at: col(r, "due_at")?,
            sent_at: col(r, "sent_at")?,
            recipients: col(r, "recipients")?,
        })
    }
}

const SELECT_OPEN: &str = "SELECT id, list_id, number, status, subject, intro, since, until_at, content, created_at, approved_at, due_at, sent_at, recipients FROM digests WHERE list_id = $1 AND status IN ('draft', 'approved') ORDER BY number DESC LIMIT 1";
const SELECT_BY_ID: &str = "SELECT id, list_id, number, status, subject, intro, since, until_at, content, created_at, approved_at, due_at, sent_at, recipients FROM digests WHERE id = $1";
const SELECT_RECENT: &str = "SELECT id, list_id, number, status, subject, intro, since, until_at, content, created_at, approved_at, due_at, sent_at, recipients FROM digests WHERE list_id = $1 ORDER BY number DESC LIMIT $2";
const SELECT_LAST_CLOSED: &str =
    "SELECT MAX(until_at) FROM digests WHERE list_id = $1 AND status IN ('sent', 'skipped')";
const SELECT_NEXT_NUMBER: &str =
    "SELECT COALESCE(MAX(number), 0) + 1 FROM digests WHERE list_id = $1";
const INSERT_DRAFT: &str = "INSERT INTO digests (list_id, number, status, subject, since, content, created_at) VALUES ($1, $2, 'draft', $3, $4, $5, $6) \
     ON CONFLICT (list_id, number) DO NOTHING";
const UPDATE_DRAFT: &str =
    "UPDATE digests SET subject = $2, intro = $3, content = $4 WHERE id = $1 AND status = 'draft'";
/// Freezes a draft's content and window end; only from `draft`.
const APPROVE: &str = "UPDATE digests SET status = 'approved', content = $2, until_at = $3, approved_at = $4 WHERE id = $1 AND status = 'draft'";
const MARK_SKIPPED: &str = "UPDATE digests SET status = 'skipped', until_at = $2, content = '[]' WHERE id = $1 AND status IN ('draft', 'approved')";
/// The one transition that expands an issue into deliveries; its
/// compare-and-set makes expansion happen once however many workers try.
const MARK_SENT: &str =
    "UPDATE digests SET status = 'sent', sent_at = $2 WHERE id = $1 AND status = 'approved'";
const MARK_DUE: &str = "UPDATE digests SET due_at = $2 WHERE id = $1 AND due_at IS NULL";
const SET_RECIPIENTS: &str = "UPDATE digests SET recipients = $2 WHERE id = $1";

impl Store {
    pub async fn open_digest(&self, list_id: i64) -> Result<Option<DigestRow>> {
        let row = sqlx::query(SELECT_OPEN)
            .bind(list_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(DigestRow::from_row).transpose()
    }

    pub async fn digest(&self, id: i64) -> Result<Option<DigestRow>> {
        let row = sqlx::query(SELECT_BY_ID)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(DigestRow::from_row).transpose()
    }

    pub async fn recent_digests(&self, list_id: i64, limit: i64) -> Result<Vec<DigestRow>> {
        let rows = sqlx::query(SELECT_RECENT)
            .bind(list_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(DigestRow::from_row).collect()
    }

    /// Where the next issue's window starts: the end of the last sent or
    /// skipped issue.
    pub async fn last_closed_until(&self, list_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(SELECT_LAST_CLOSED)
            .bind(list_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Opens a draft (or returns the one a concurrent caller just opened).
    pub async fn create_draft(&self, list_id: i64, subject: &str, since: i64) -> Result<DigestRow> {
        let mut tx = self.begin_write().await?;
        let number: i64 = sqlx::query_scalar(SELECT_NEXT_NUMBER)
            .bind(list_id)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(INSERT_DRAFT)
            .bind(list_id)
            .bind(number)
            .bind(subject)
            .bind(since)
            .bind("[]")
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.open_digest(list_id)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("draft vanished after insert".into()))
    }

    pub async fn update_draft(
        &self,
        id: i64,
        subject: &str,
        intro: &str,
        content: &str,
    ) -> Result<bool> {
        let done = sqlx::query(UPDATE_DRAFT)
            .bind(id)
            .bind(subject)
            .bind(intro)
            .bind(content)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn approve_digest(&self, id: i64, content: &str, until: i64) -> Result<bool> {
        let done = sqlx::query(APPROVE)
            .bind(id)
            .bind(content)
            .bind(until)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn skip_digest(&self, id: i64, until: i64) -> Result<bool> {
        let done = sqlx::query(MARK_SKIPPED)
            .bind(id)
            .bind(until)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves an approved issue to `sent` inside `tx`; false when someone else did.
    pub async fn mark_digest_sent(&self, tx: &mut Tx, id: i64) -> Result<bool> {
        let done = sqlx::query(MARK_SENT)
            .bind(id)
            .bind(crate::now_ms())
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that the schedule fired for this issue; true the first time.
    pub async fn mark_digest_due(&self, id: i64) -> Result<bool> {
        let done = sqlx::query(MARK_DUE)
            .bind(id)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_digest_recipients(&self, tx: &mut Tx, id: i64, n: i64) -> Result<()> {
        sqlx::query(SET_RECIPIENTS)
            .bind(id)
            .bind(n)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
