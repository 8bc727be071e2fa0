//! The outbox: one row per (message, recipient), unique by `dedupe_key`, so
//! no one is sent the same message twice whatever crashes or how many
//! workers run. Workers claim rows with a lease; an expired lease (a worker
//! that died) makes the row claimable again.

use super::{col, state, OutboxKind, OutboxStatus, Result, Store, Tx};
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub dedupe_key: String,
    pub list_id: i64,
    pub member_id: Option<i64>,
    pub recipient: String,
    pub kind: OutboxKind,
    pub ref_id: Option<i64>,
    pub payload: String,
    pub attempts: i64,
    /// Temporary failures are retried until this plus `retry_for`: the
    /// creation time, or when an operator last ran `outbox retry`.
    pub retry_since: i64,
    pub created_at: i64,
}

impl OutboxRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(OutboxRow {
            id: col(r, "id")?,
            dedupe_key: col(r, "dedupe_key")?,
            list_id: col(r, "list_id")?,
            member_id: col(r, "member_id")?,
            recipient: col(r, "recipient")?,
            kind: state(r, "kind")?,
            ref_id: col(r, "ref_id")?,
            payload: col(r, "payload")?,
            attempts: col(r, "attempts")?,
            retry_since: col(r, "retry_since")?,
            created_at: col(r, "created_at")?,
        })
    }
}

pub struct NewOutbox<'a> {
    pub dedupe_key: &'a str,
    pub list_id: i64,
    pub member_id: Option<i64>,
    pub recipient: &'a str,
    pub kind: OutboxKind,
    pub ref_id: Option<i64>,
    pub payload: &'a str,
}

const INSERT: &str = "INSERT INTO outbox (dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, status, next_attempt_at, retry_since, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8, $8) ON CONFLICT (dedupe_key) DO NOTHING";
/// One delivery per active digest-mode member, in one statement.
const EXPAND_DIGEST: &str = "INSERT INTO outbox (dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, status, next_attempt_at, retry_since, created_at) \
     SELECT 'digest:' || CAST($1 AS TEXT) || ':' || CAST(m.id AS TEXT), m.list_id, m.id, m.email, 'digest', $1, '{}', 'queued', $3, $3, $3 \
     FROM members m WHERE m.list_id = $2 AND m.status = 'active' AND m.mode = 'digest' \
     ON CONFLICT (dedupe_key) DO NOTHING";
/// One copy of a post (or answer) for each active member in "every post"
/// mode but the two skipped (its author, and the asker who is told apart).
const EXPAND_EVERY_POST: &str = "INSERT INTO outbox (dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, status, next_attempt_at, retry_since, created_at) \
     SELECT $2 || ':' || CAST($3 AS TEXT) || ':' || CAST(m.id AS TEXT), m.list_id, m.id, m.email, $2, $3, '{}', 'queued', $6, $6, $6 \
     FROM members m WHERE m.list_id = $1 AND m.status = 'active' AND m.mode = 'every' AND m.id <> $4 AND m.id <> $5 \
     ON CONFLICT (dedupe_key) DO NOTHING";
const CLAIM_SQLITE: &str = "UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM outbox WHERE (status = 'queued' AND next_attempt_at <= $3) OR (status = 'sending' AND lease_until < $3) \
                  ORDER BY next_attempt_at, id LIMIT $4) \
     RETURNING id, dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, attempts, retry_since, created_at";
/// PostgreSQL: `SKIP LOCKED` lets several workers claim disjoint batches
/// without waiting on each other.
const CLAIM_POSTGRES: &str = "UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM outbox WHERE (status = 'queued' AND next_attempt_at <= $3) OR (status = 'sending' AND lease_until < $3) \
                  ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
     RETURNING id, dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, attempts, retry_since, created_at";
/// Recorded whoever holds the lease: the relay accepted it, so it is sent.
const MARK_SENT: &str = "UPDATE outbox SET status = 'sent', sent_at = $2, last_reply = $3, lease_owner = NULL, lease_until = NULL WHERE id = $1";
const MARK_RETRY: &str = "UPDATE outbox SET status = 'queued', next_attempt_at = $3, last_reply = $4, lease_owner = NULL, lease_until = NULL \
     WHERE id = $1 AND status = 'sending' AND lease_owner = $2";
const MARK_FAILED: &str =
    "UPDATE outbox SET status = 'failed', last_reply = $3, lease_owner = NULL, lease_until = NULL \
     WHERE id = $1 AND status = 'sending' AND lease_owner = $2";
const MARK_CANCELLED: &str = "UPDATE outbox SET status = 'cancelled', last_reply = $2, lease_owner = NULL, lease_until = NULL WHERE id = $1";
/// Hands back rows a stopping worker claimed but never started.
const RELEASE: &str = "UPDATE outbox SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_until = NULL \
     WHERE id = $1 AND status = 'sending' AND lease_owner = $2";
const COUNT_BY_STATUS: &str =
    "SELECT kind, status, COUNT(*) AS n FROM outbox GROUP BY kind, status ORDER BY kind, status";
/// A requeued row gets a fresh retry window: measured from its creation, an
/// old row would fail for good at its next temporary error.
const RETRY_FAILED: &str = "UPDATE outbox SET status = 'queued', next_attempt_at = $1, retry_since = $1, attempts = 0 WHERE status = 'failed' AND ($2 = 0 OR id = $2)";
const SELECT_BY_ID: &str = "SELECT id, dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, attempts, retry_since, created_at FROM outbox WHERE id = $1";
const SELECT_FAILED: &str = "SELECT id, recipient, kind, attempts, last_reply FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT $1";
const NEXT_DUE: &str = "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'queued'";

impl Store {
    pub async fn enqueue(&self, m: &NewOutbox<'_>) -> Result<bool> {
        let done = sqlx::query(INSERT)
            .bind(m.dedupe_key)
            .bind(m.list_id)
            .bind(m.member_id)
            .bind(m.recipient)
            .bind(m.kind.as_str())
            .bind(m.ref_id)
            .bind(m.payload)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Inserts the digest's deliveries; returns how many rows were new.
    pub async fn expand_digest(&self, tx: &mut Tx, digest_id: i64, list_id: i64) -> Result<u64> {
        let done = sqlx::query(EXPAND_DIGEST)
            .bind(digest_id)
            .bind(list_id)
            .bind(crate::now_ms())
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// Queues post or answer `ref_id` for the list's every-post members,
    /// except the members in `skip`; returns how many rows were new.
    pub async fn expand_every_post(
        &self,
        list_id: i64,
        kind: OutboxKind,
        ref_id: i64,
        skip: [i64; 2],
    ) -> Result<u64> {
        let done = sqlx::query(EXPAND_EVERY_POST)
            .bind(list_id)
            .bind(kind.as_str())
            .bind(ref_id)
            .bind(skip[0])
            .bind(skip[1])
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Leases up to `limit` due rows to `owner` until `lease_until`.
    pub async fn claim(&self, owner: &str, lease_until: i64, limit: i64) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query(self.pick(CLAIM_SQLITE, CLAIM_POSTGRES))
            .bind(owner)
            .bind(lease_until)
            .bind(crate::now_ms())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(OutboxRow::from_row).collect()
    }

    pub async fn mark_sent(&self, id: i64, reply: &str) -> Result<()> {
        sqlx::query(MARK_SENT)
            .bind(id)
            .bind(crate::now_ms())
            .bind(reply)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn mark_retry(&self, id: i64, owner: &str, next_at: i64, reply: &str) -> Result<()> {
        sqlx::query(MARK_RETRY)
            .bind(id)
            .bind(owner)
            .bind(next_at)
            .bind(reply)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn mark_failed(&self, id: i64, owner: &str, reply: &str) -> Result<()> {
        sqlx::query(MARK_FAILED)
            .bind(id)
            .bind(owner)
            .bind(reply)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The delivery no longer makes sense (the member left): never send it.
    pub async fn mark_cancelled(&self, id: i64, reason: &str) -> Result<()> {
        sqlx::query(MARK_CANCELLED)
            .bind(id)
            .bind(reason)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn release(&self, id: i64, owner: &str) -> Result<()> {
        sqlx::query(RELEASE)
            .bind(id)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// (kind, status, count) for every combination present.
    pub async fn outbox_counts(&self) -> Result<Vec<(OutboxKind, OutboxStatus, i64)>> {
        let rows = sqlx::query(COUNT_BY_STATUS).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((state(r, "kind")?, state(r, "status")?, col(r, "n")?)))
            .collect()
    }

    /// Requeues failed rows (all when `id` is 0) with a new retry window;
    /// returns how many.
    pub async fn retry_failed(&self, id: i64) -> Result<u64> {
        let done = sqlx::query(RETRY_FAILED)
            .bind(crate::now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>> {
        let row = sqlx::query(SELECT_BY_ID)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(OutboxRow::from_row).transpose()
    }

    /// (id, recipient, kind, attempts, last reply) of recent failures.
    pub async fn failed_outbox(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, String, OutboxKind, i64, String)>> {
        let rows = sqlx::query(SELECT_FAILED)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    col(r, "id")?,
                    col(r, "recipient")?,
                    state(r, "kind")?,
                    col(r, "attempts")?,
                    col(r, "last_reply")?,
                ))
            })
            .collect()
    }

    pub async fn next_due(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(NEXT_DUE).fetch_one(self.pool()).await?)
    }
}
