//! What the editors' pages read about deliveries: an issue's progress
//! and failures, a member's recent mail and bounces. Small statements of
//! their own, apart from the outbox's hot path.

use super::{col, state, OutboxKind, OutboxStatus, Result, Store};

/// An issue's deliveries by where they stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub queued: i64,
    /// Queued again after a temporary failure.
    pub deferred: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// Held with a paused issue.
    pub paused: i64,
}

impl DeliveryCounts {
    pub fn total(&self) -> i64 {
        self.queued + self.sending + self.sent + self.failed + self.cancelled + self.paused
    }
    /// Still to be sent (queued, deferred, being sent or paused).
    pub fn in_progress(&self) -> i64 {
        self.queued + self.sending + self.paused
    }
}

/// One delivery as a page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub recipient: String,
    pub kind: OutboxKind,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub last_reply: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// One recorded bounce of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceRow {
    pub created_at: i64,
    pub hard: bool,
    pub status: String,
    pub diagnostic: String,
}

const COUNT_ISSUE: &str = "SELECT status, COUNT(*) AS n, COUNT(CASE WHEN attempts > 0 AND status = 'queued' THEN 1 END) AS deferred \
     FROM outbox WHERE kind = 'digest' AND ref_id = $1 GROUP BY status";
const ISSUE_FAILURES: &str =
    "SELECT id, recipient, kind, status, attempts, last_reply, created_at, sent_at FROM outbox \
     WHERE kind = 'digest' AND ref_id = $1 AND status = 'failed' ORDER BY id LIMIT $2";
const ISSUE_DEFERRED: &str = "SELECT id, recipient, kind, status, attempts, last_reply, created_at, sent_at FROM outbox \
     WHERE kind = 'digest' AND ref_id = $1 AND status = 'queued' AND attempts > 0 ORDER BY id LIMIT $2";
const RETRY_ISSUE: &str =
    "UPDATE outbox SET status = 'queued', next_attempt_at = $2, retry_since = $2, attempts = 0 \
     WHERE kind = 'digest' AND ref_id = $1 AND status = 'failed'";
const MEMBER_DELIVERIES: &str =
    "SELECT id, recipient, kind, status, attempts, last_reply, created_at, sent_at FROM outbox \
     WHERE member_id = $1 ORDER BY id DESC LIMIT $2";
const MEMBER_BOUNCES: &str = "SELECT created_at, hard, status, diagnostic FROM bounces WHERE member_id = $1 ORDER BY id DESC LIMIT $2";

impl Store {
    /// Issue `digest_id`'s deliveries by status.
    pub async fn issue_delivery_counts(&self, digest_id: i64) -> Result<DeliveryCounts> {
        let rows = sqlx::query(COUNT_ISSUE)
            .bind(digest_id)
            .fetch_all(self.pool())
            .await?;
        let mut c = DeliveryCounts::default();
        for r in &rows {
            let n: i64 = col(r, "n")?;
            match state::<OutboxStatus>(r, "status")? {
                OutboxStatus::Queued => {
                    c.queued = n;
                    c.deferred = col(r, "deferred")?;
                }
                OutboxStatus::Sending => c.sending = n,
                OutboxStatus::Sent => c.sent = n,
                OutboxStatus::Failed => c.failed = n,
                OutboxStatus::Cancelled => c.cancelled = n,
                OutboxStatus::Paused => c.paused = n,
            }
        }
        Ok(c)
    }

    /// Failed deliveries of an issue, with the relay's last reply.
    pub async fn issue_failures(&self, digest_id: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        self.delivery_rows(ISSUE_FAILURES, digest_id, limit).await
    }

    /// Deliveries of an issue waiting to be tried again.
    pub async fn issue_deferred(&self, digest_id: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        self.delivery_rows(ISSUE_DEFERRED, digest_id, limit).await
    }

    /// A member's most recent mail.
    pub async fn member_deliveries(&self, member_id: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        self.delivery_rows(MEMBER_DELIVERIES, member_id, limit)
            .await
    }

    async fn delivery_rows(
        &self,
        sql: &'static str,
        id: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(sql)
            .bind(id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRow {
                    id: col(r, "id")?,
                    recipient: col(r, "recipient")?,
                    kind: state(r, "kind")?,
                    status: state(r, "status")?,
                    attempts: col(r, "attempts")?,
                    last_reply: col(r, "last_reply")?,
                    created_at: col(r, "created_at")?,
                    sent_at: col(r, "sent_at")?,
                })
            })
            .collect()
    }

    /// Queues an issue's failed deliveries again, with a fresh retry
    /// window; returns how many.
    pub async fn retry_issue_failures(&self, digest_id: i64) -> Result<u64> {
        let done = sqlx::query(RETRY_ISSUE)
            .bind(digest_id)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn member_bounces(&self, member_id: i64, limit: i64) -> Result<Vec<BounceRow>> {
        let rows = sqlx::query(MEMBER_BOUNCES)
            .bind(member_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(BounceRow {
                    created_at: col(r, "created_at")?,
                    hard: super::flag(r, "hard")?,
                    status: col(r, "status")?,
                    diagnostic: col(r, "diagnostic")?,
                })
            })
            .collect()
    }
}
