//! Digest issues: draft → approved (content frozen) → sent, or skipped.

use super::{col, state, DigestStatus, IssueDelivery, Result, Store, Tx};
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRow {
    pub id: i64,
    pub list_id: i64,
    pub number: i64,
    pub status: DigestStatus,
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
    /// When editors were told the issue is ready for review.
    pub notified_at: Option<i64>,
    /// The editors' decisions (JSON of [`crate::digest::curate::Curation`]).
    pub curation: String,
    /// How many times editors saved this issue (optimistic concurrency).
    pub version: i64,
    /// The last member id whose delivery of this sent issue is queued.
    pub expanded_through: i64,
    /// When every member's delivery was queued (`None` while expanding).
    pub expanded_at: Option<i64>,
    /// Running, or paused or cancelled by an editor.
    pub delivery: IssueDelivery,
}

impl DigestRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(DigestRow {
            id: col(r, "id")?,
            list_id: col(r, "list_id")?,
            number: col(r, "number")?,
            status: state(r, "status")?,
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
            notified_at: col(r, "notified_at")?,
            curation: col(r, "curation")?,
            version: col(r, "version")?,
            expanded_through: col(r, "expanded_through")?,
            expanded_at: col(r, "expanded_at")?,
            delivery: state(r, "delivery")?,
        })
    }
}

const SELECT_OPEN: &str = "SELECT id, list_id, number, status, subject, intro, since, until_at, content, created_at, approved_at, due_at, sent_at, recipients, notified_at, curation, version, expanded_through, expanded_at, delivery FROM digests WHERE list_id = $1 AND status IN ('draft', 'approved') ORDER BY number DESC LIMIT 1";
pub(super) const SELECT_BY_ID: &str = "SELECT id, list_id, number, status, subject, intro, since, until_at, content, created_at, approved_at, due_at, sent_at, recipients, notified_at, curation, version, expanded_through, expanded_at, delivery FROM digests WHERE id = $1";
const SELECT_BY_NUMBER: &str = "SELECT id, list_id, number, status, subject, intro, since, until_at, content, created_at, approved_at, due_at, sent_at, recipients, notified_at, curation, version, expanded_through, expanded_at, delivery FROM digests WHERE list_id = $1 AND number = $2";
const SELECT_RECENT: &str = "SELECT id, list_id, number, status, subject, intro, since, until_at, content, created_at, approved_at, due_at, sent_at, recipients, notified_at, curation, version, expanded_through, expanded_at, delivery FROM digests WHERE list_id = $1 ORDER BY number DESC LIMIT $2";
const SELECT_LAST_CLOSED: &str =
    "SELECT MAX(until_at) FROM digests WHERE list_id = $1 AND status IN ('sent', 'skipped')";
const SELECT_NEXT_NUMBER: &str =
    "SELECT COALESCE(MAX(number), 0) + 1 FROM digests WHERE list_id = $1";
const SELECT_OPEN_ID: &str = "SELECT id FROM digests WHERE list_id = $1 AND status IN ('draft', 'approved') ORDER BY number DESC LIMIT 1";
/// A draft's subject stays empty until an editor sets one or it is
/// approved, so the default carries the date it goes out, not today's.
const INSERT_DRAFT: &str = "INSERT INTO digests (list_id, number, status, subject, since, content, created_at) VALUES ($1, $2, 'draft', '', $3, $4, $5) \
     ON CONFLICT (list_id, number) DO NOTHING";
/// The draft's assembled content (the editors' fields are saved apart, so
/// a re-assembly never writes back a stale subject or intro).
const SET_DRAFT_CONTENT: &str =
    "UPDATE digests SET content = $2 WHERE id = $1 AND status = 'draft'";
/// Freezes a draft's content and window end; only from `draft`, and only
/// with the editors' decisions it was assembled with (`version`).
const APPROVE: &str = "UPDATE digests SET status = 'approved', content = $2, until_at = $3, approved_at = $4, subject = $5 WHERE id = $1 AND status = 'draft' AND version = $6";
const MARK_SKIPPED: &str = "UPDATE digests SET status = 'skipped', until_at = $2, content = '[]' WHERE id = $1 AND status IN ('draft', 'approved')";
/// The one transition into sending: its compare-and-set makes it happen
/// once however many workers try. Its deliveries are queued afterwards in
/// chunks (`issue_sends`), until `expanded_at` is set.
const MARK_SENT: &str =
    "UPDATE digests SET status = 'sent', sent_at = $2 WHERE id = $1 AND status = 'approved'";
/// The schedule fired for this issue at slot `$2`.
const MARK_DUE: &str = "UPDATE digests SET due_at = $2 WHERE id = $1 AND due_at IS NULL";
const MARK_NOTIFIED: &str =
    "UPDATE digests SET notified_at = $2 WHERE id = $1 AND notified_at IS NULL";
/// Compare-and-set on the list's persisted next run: only the worker that
/// moves it from the value it read fires the digest.
const CLAIM_SLOT: &str =
    "UPDATE lists SET next_digest_at = $3 WHERE id = $1 AND next_digest_at = $2";
/// An editor's save: only onto the version they saw, only while a draft.
const SAVE_CURATION: &str =
    "UPDATE digests SET subject = $3, intro = $4, curation = $5, version = version + 1 \
     WHERE id = $1 AND version = $2 AND status = 'draft'";

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

    /// Opens a draft (or returns the one a concurrent caller just opened).
    pub async fn create_draft(&self, list_id: i64, since: i64) -> Result<DigestRow> {
        let mut tx = self.begin_write().await?;
        open_in(&mut tx, list_id, since).await?;
        tx.commit().await?;
        self.open_digest(list_id)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("draft vanished after insert".into()))
    }

    /// Fires the schedule slot `expected` of a list: in one transaction,
    /// moves the list's next run to `next` (compare-and-set, so of several
    /// workers exactly one wins) and marks the open issue due at `expected`,
    /// opening a draft if there is none. A crash after this leaves a due
    /// issue that the next scheduler pass sends; nothing is lost between
    /// claiming the slot and acting on it. False when another worker won.
    pub async fn fire_slot(
        &self,
        list_id: i64,
        expected: i64,
        next: i64,
        since: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let won = sqlx::query(CLAIM_SLOT)
            .bind(list_id)
            .bind(expected)
            .bind(next)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !won {
            tx.rollback().await?;
            return Ok(false);
        }
        let id = open_in(&mut tx, list_id, since).await?;
        sqlx::query(MARK_DUE)
            .bind(id)
            .bind(expected)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn set_draft_content(&self, id: i64, content: &str) -> Result<bool> {
        let done = sqlx::query(SET_DRAFT_CONTENT)
            .bind(id)
            .bind(content)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Freezes a draft with its final content and subject, if its editors'
    /// decisions are still at `version`.
    pub async fn approve_digest(
        &self,
        id: i64,
        version: i64,
        content: &str,
        until: i64,
        subject: &str,
    ) -> Result<bool> {
        let done = sqlx::query(APPROVE)
            .bind(id)
            .bind(content)
            .bind(until)
            .bind(crate::now_ms())
            .bind(subject)
            .bind(version)
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

    /// Moves an approved issue to `sent` (sending: nothing queued yet)
    /// inside `tx`; false when someone else did.
    pub async fn mark_digest_sent(&self, tx: &mut Tx, id: i64) -> Result<bool> {
        let done = sqlx::query(MARK_SENT)
            .bind(id)
            .bind(crate::now_ms())
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that editors were told; true the first time.
    pub async fn mark_digest_notified(&self, id: i64) -> Result<bool> {
        let done = sqlx::query(MARK_NOTIFIED)
            .bind(id)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Saves an editor's subject, intro and decisions if the issue is still
    /// a draft at `version`; false when it moved on (another save, or it
    /// was approved).
    pub async fn save_curation(
        &self,
        id: i64,
        version: i64,
        subject: &str,
        intro: &str,
        curation: &str,
    ) -> Result<bool> {
        let done = sqlx::query(SAVE_CURATION)
            .bind(id)
            .bind(version)
            .bind(super::text(subject))
            .bind(super::text(intro))
            .bind(curation)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The issue of a list with this number.
    pub async fn digest_by_number(&self, list_id: i64, number: i64) -> Result<Option<DigestRow>> {
        let row = sqlx::query(SELECT_BY_NUMBER)
            .bind(list_id)
            .bind(number)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(DigestRow::from_row).transpose()
    }
}

/// The id of the list's open issue, opening a draft when there is none.
/// The new draft's window starts where the last closed issue ended.
async fn open_in(tx: &mut Tx, list_id: i64, since_default: i64) -> Result<i64> {
    let open: Option<i64> = sqlx::query_scalar(SELECT_OPEN_ID)
        .bind(list_id)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(id) = open {
        return Ok(id);
    }
    let since: Option<i64> = sqlx::query_scalar(SELECT_LAST_CLOSED)
        .bind(list_id)
        .fetch_one(&mut **tx)
        .await?;
    let number: i64 = sqlx::query_scalar(SELECT_NEXT_NUMBER)
        .bind(list_id)
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query(INSERT_DRAFT)
        .bind(list_id)
        .bind(number)
        .bind(since.unwrap_or(since_default))
        .bind("[]")
        .bind(crate::now_ms())
        .execute(&mut **tx)
        .await?;
    sqlx::query_scalar(SELECT_OPEN_ID)
        .bind(list_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| super::StoreError::Corrupt("draft vanished after insert".into()))
}
