//! Held inbound posts as editors see them: which wait, the decision on
//! each (taken once, by compare-and-set on the row's status), and which
//! the editors were told about.

use super::{col, state, text, InboundStatus, Result, Store};

/// Held ordinary mail of one list, oldest first: the candidates for
/// moderation (the domain decides which are posts).
const SELECT_HELD: &str = "SELECT id, rcpt_to, received_at, reason FROM inbound \
     WHERE list_id = $1 AND status = 'held' AND kind = 'ordinary' ORDER BY id LIMIT $2";
const COUNT_HELD: &str =
    "SELECT COUNT(*) FROM inbound WHERE list_id = $1 AND status = 'held' AND kind = 'ordinary'";
const SELECT_HELD_ONE: &str =
    "SELECT id, rcpt_to, received_at, reason, list_id, status FROM inbound WHERE id = $1";
/// A decision, taken once: only a row still held moves.
const DECIDE: &str = "UPDATE inbound SET status = $2, reason = $3, handled_at = $4 WHERE id = $1 AND status = 'held'";
/// Held posts received since `$1` whose editors were not told yet.
const SELECT_UNNOTIFIED: &str = "SELECT i.id, i.list_id FROM inbound i \
     WHERE i.status = 'held' AND i.kind = 'ordinary' AND i.list_id IS NOT NULL AND i.received_at > $1 \
     AND NOT EXISTS (SELECT 1 FROM held_notices h WHERE h.inbound_id = i.id) ORDER BY i.id LIMIT 50";
const MARK_NOTIFIED: &str = "INSERT INTO held_notices (inbound_id, notified_at) VALUES ($1, $2) ON CONFLICT (inbound_id) DO NOTHING";

/// One held message, without its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRow {
    pub id: i64,
    pub rcpt_to: String,
    pub received_at: i64,
    pub reason: String,
}

impl Store {
    pub async fn held_inbound(&self, list_id: i64, limit: i64) -> Result<Vec<HeldRow>> {
        let rows = sqlx::query(SELECT_HELD)
            .bind(list_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(HeldRow {
                    id: col(r, "id")?,
                    rcpt_to: col(r, "rcpt_to")?,
                    received_at: col(r, "received_at")?,
                    reason: col(r, "reason")?,
                })
            })
            .collect()
    }

    /// Held message `id` of list `list_id`, if it is still held.
    pub async fn held_one(&self, list_id: i64, id: i64) -> Result<Option<HeldRow>> {
        let row = sqlx::query(SELECT_HELD_ONE)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(r) = row else { return Ok(None) };
        let status: InboundStatus = state(&r, "status")?;
        let list: Option<i64> = col(&r, "list_id")?;
        if status != InboundStatus::Held || list != Some(list_id) {
            return Ok(None);
        }
        Ok(Some(HeldRow {
            id: col(&r, "id")?,
            rcpt_to: col(&r, "rcpt_to")?,
            received_at: col(&r, "received_at")?,
            reason: col(&r, "reason")?,
        }))
    }

    pub async fn count_held(&self, list_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(COUNT_HELD)
            .bind(list_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Moves a held message to `status` with `reason`; false when it was
    /// not held any more (another editor decided first).
    pub async fn decide_held(&self, id: i64, status: InboundStatus, reason: &str) -> Result<bool> {
        let done = sqlx::query(DECIDE)
            .bind(id)
            .bind(status.as_str())
            .bind(text(reason))
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// (inbound id, list id) of held posts nobody was told about yet.
    pub async fn unnotified_held(&self, since: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(SELECT_UNNOTIFIED)
            .bind(since)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((col(r, "id")?, col(r, "list_id")?)))
            .collect()
    }

    /// Records that editors are being told about `inbound_id`; true for
    /// the one caller that should tell them.
    pub async fn mark_held_notified(&self, inbound_id: i64) -> Result<bool> {
        let done = sqlx::query(MARK_NOTIFIED)
            .bind(inbound_id)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
