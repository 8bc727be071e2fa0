//! Inbound messages as received (raw bytes kept once per message, however
//! many recipients), with what became of each for each recipient, the
//! handling attempts, the per-address notice throttle, and recorded
//! bounces.

use super::{col, state, text, InboundKind, InboundStatus, Result, Store};
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub dedupe_key: &'a str,
    pub message_id: Option<&'a str>,
    pub transport: &'a str,
    pub mail_from: Option<&'a str>,
    pub rcpt_to: &'a str,
    pub from_addr: Option<&'a str>,
    pub subject: Option<&'a str>,
}

/// A stored inbound message without its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRow {
    pub id: i64,
    pub message_id: Option<String>,
    pub transport: String,
    /// `None` when the transport did not know the envelope sender.
    pub mail_from: Option<String>,
    pub rcpt_to: String,
    pub from_addr: Option<String>,
    pub subject: Option<String>,
    pub size: i64,
    pub received_at: i64,
    pub list_id: Option<i64>,
    pub kind: InboundKind,
    pub status: InboundStatus,
    pub reason: String,
    /// Handling attempts so far.
    pub attempts: i64,
}

impl InboundRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(InboundRow {
            id: col(r, "id")?,
            message_id: col(r, "message_id")?,
            transport: col(r, "transport")?,
            mail_from: col(r, "mail_from")?,
            rcpt_to: col(r, "rcpt_to")?,
            from_addr: col(r, "from_addr")?,
            subject: col(r, "subject")?,
            size: col(r, "size")?,
            received_at: col(r, "received_at")?,
            list_id: col(r, "list_id")?,
            kind: state(r, "kind")?,
            status: state(r, "status")?,
            reason: col(r, "reason")?,
            attempts: col(r, "attempts")?,
        })
    }
}

const SELECT_ID_BY_DEDUPE: &str = "SELECT id FROM inbound WHERE dedupe_key = $1";
const INSERT_RAW: &str =
    "INSERT INTO inbound_raw (size, raw, created_at) VALUES ($1, $2, $3) RETURNING id";
const INSERT_INBOUND: &str = "INSERT INTO inbound (dedupe_key, message_id, transport, mail_from, rcpt_to, from_addr, subject, size, raw_id, received_at, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id";
/// Leases an unhandled message to one handler and counts the attempt;
/// nothing when it is handled, or leased to another right now.
const CLAIM: &str = "UPDATE inbound SET lease_until = $2, attempts = attempts + 1 \
     WHERE id = $1 AND status = 'received' AND (lease_until IS NULL OR lease_until < $3) RETURNING attempts";
/// Handling failed for now: try again at `$3`.
const RETRY_LATER: &str = "UPDATE inbound SET reason = $2, next_attempt_at = $3, lease_until = NULL WHERE id = $1 AND status = 'received'";
/// Handling failed too often: parked, with the last reason.
const PARK: &str = "UPDATE inbound SET status = 'failed', reason = $2, next_attempt_at = NULL, lease_until = NULL, handled_at = $3 WHERE id = $1 AND status = 'received'";
/// The messages whose next attempt is due, soonest first (the partial
/// index `inbound_due` holds only unhandled ones).
const SELECT_DUE: &str = "SELECT id FROM inbound WHERE status = 'received' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2";
/// Parked messages back to the queue, with their attempts forgotten.
const REQUEUE_FAILED: &str = "UPDATE inbound SET status = 'received', attempts = 0, next_attempt_at = $1, reason = $3 WHERE status = 'failed' AND ($2 = 0 OR id = $2)";
const SYNC_FULL: &str = "PRAGMA synchronous=FULL";
const SYNC_NORMAL: &str = "PRAGMA synchronous=NORMAL";
const SELECT_BY_DEDUPE: &str = "SELECT id, status FROM inbound WHERE dedupe_key = $1";
const SET_OUTCOME: &str = "UPDATE inbound SET list_id = $2, kind = $3, status = $4, reason = $5, handled_at = $6, next_attempt_at = NULL, lease_until = NULL WHERE id = $1";
const SELECT_RECENT: &str = "SELECT id, message_id, transport, mail_from, rcpt_to, from_addr, subject, size, received_at, list_id, kind, status, reason, attempts FROM inbound \
     WHERE ($1 = '' OR status = $1) ORDER BY id DESC LIMIT $2";
const SELECT_ONE: &str = "SELECT id, message_id, transport, mail_from, rcpt_to, from_addr, subject, size, received_at, list_id, kind, status, reason, attempts FROM inbound WHERE id = $1";
const SELECT_RAW: &str =
    "SELECT r.raw FROM inbound i JOIN inbound_raw r ON r.id = i.raw_id WHERE i.id = $1";
/// Served by the partial index `inbound_due`, whatever the table's size.
const COUNT_UNHANDLED: &str = "SELECT COUNT(*) FROM inbound WHERE status = 'received'";
const COUNT_BY_STATUS: &str =
    "SELECT status, COUNT(*) AS n FROM inbound GROUP BY status ORDER BY status";
/// Takes the throttle slot for (list, address, kind) when it is free or older than the window.
const TAKE_THROTTLE: &str = "INSERT INTO notice_throttle (list_id, address, kind, sent_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (list_id, address, kind) DO UPDATE SET sent_at = excluded.sent_at WHERE notice_throttle.sent_at < $5";
const INSERT_BOUNCE: &str = "INSERT INTO bounces (inbound_id, member_id, outbox_id, hard, status, diagnostic, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (inbound_id, member_id) DO NOTHING";

/// What happened to one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub list_id: Option<i64>,
    pub kind: InboundKind,
    pub status: InboundStatus,
    pub reason: String,
}

impl Store {
    /// Stores a message for its recipients, in one transaction made
    /// durable against a power cut (the sender is told 250 once this
    /// returns, and forgets the message): the raw bytes once, and a row per
    /// recipient whose dedupe key is new. Returns, per row, its new id, or
    /// `None` when the same message for that recipient was stored before
    /// (it must act once only).
    pub async fn insert_inbound_all(
        &self,
        raw: &[u8],
        rows: &[NewInbound<'_>],
    ) -> Result<Vec<Option<i64>>> {
        let mut conn = self.pool().acquire().await?;
        let sqlite = self.backend() == super::Backend::Sqlite;
        if sqlite {
            // WAL with `synchronous=NORMAL`, the rest of the time, survives
            // a crash of the process but may lose the last commits when the
            // machine loses power; this commit must not be among them.
            sqlx::query(SYNC_FULL).execute(&mut *conn).await?;
        }
        let result = insert_all(&mut conn, sqlite, raw, rows).await;
        if sqlite {
            sqlx::query(SYNC_NORMAL).execute(&mut *conn).await?;
        }
        result
    }

    /// Leases message `id` to the caller until `lease_until` and counts
    /// the attempt; the attempts so far, or `None` when it is handled
    /// already or another handler holds it.
    pub async fn claim_inbound(&self, id: i64, lease_until: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(CLAIM)
            .bind(id)
            .bind(lease_until)
            .bind(crate::now_ms())
            .fetch_optional(self.pool())
            .await?)
    }

    /// Handling failed for a passing reason: it stays `received`, with the
    /// reason, and is tried again at `next_at`.
    pub async fn retry_inbound_later(&self, id: i64, reason: &str, next_at: i64) -> Result<()> {
        sqlx::query(RETRY_LATER)
            .bind(id)
            .bind(text(reason))
            .bind(next_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Handling failed too many times: parked as `failed` with the reason.
    pub async fn park_inbound(&self, id: i64, reason: &str) -> Result<()> {
        sqlx::query(PARK)
            .bind(id)
            .bind(text(reason))
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Unhandled messages whose next attempt is due, soonest first.
    pub async fn due_inbound(&self, limit: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(SELECT_DUE)
            .bind(crate::now_ms())
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Parked messages (all when `id` is 0) queued again; how many.
    pub async fn requeue_inbound(&self, id: i64) -> Result<u64> {
        let done = sqlx::query(REQUEUE_FAILED)
            .bind(crate::now_ms())
            .bind(id)
            .bind("queued again by the operator")
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// The id and status of an earlier copy of a message.
    pub async fn inbound_by_dedupe(&self, key: &str) -> Result<Option<(i64, InboundStatus)>> {
        let row = sqlx::query(SELECT_BY_DEDUPE)
            .bind(text(key))
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Ok((col(&r, "id")?, state(&r, "status")?)))
            .transpose()
    }

    pub async fn set_inbound_outcome(&self, id: i64, o: &Outcome) -> Result<()> {
        sqlx::query(SET_OUTCOME)
            .bind(id)
            .bind(o.list_id)
            .bind(o.kind.as_str())
            .bind(o.status.as_str())
            .bind(text(&o.reason))
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The most recent messages, optionally only those with `status`.
    pub async fn recent_inbound(
        &self,
        status: Option<InboundStatus>,
        limit: i64,
    ) -> Result<Vec<InboundRow>> {
        let rows = sqlx::query(SELECT_RECENT)
            .bind(status.map_or("", |s| s.as_str()))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(InboundRow::from_row).collect()
    }

    pub async fn inbound(&self, id: i64) -> Result<Option<InboundRow>> {
        let row = sqlx::query(SELECT_ONE)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(InboundRow::from_row).transpose()
    }

    pub async fn inbound_raw(&self, id: i64) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(SELECT_RAW)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Messages stored and not handled yet.
    pub async fn unhandled_inbound_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(COUNT_UNHANDLED)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn inbound_counts(&self) -> Result<Vec<(InboundStatus, i64)>> {
        let rows = sqlx::query(COUNT_BY_STATUS).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((state(r, "status")?, col(r, "n")?)))
            .collect()
    }

    /// True when a notice of `kind` to `address` may go out now: at most one
    /// per `window_ms`.
    pub async fn take_throttle(
        &self,
        list_id: i64,
        address: &str,
        kind: &str,
        window_ms: i64,
    ) -> Result<bool> {
        let now = crate::now_ms();
        let done = sqlx::query(TAKE_THROTTLE)
            .bind(list_id)
            .bind(address)
            .bind(kind)
            .bind(now)
            .bind(now - window_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_bounce(
        &self,
        inbound_id: i64,
        member_id: Option<i64>,
        outbox_id: Option<i64>,
        hard: bool,
        status: &str,
        diagnostic: &str,
    ) -> Result<bool> {
        let done = sqlx::query(INSERT_BOUNCE)
            .bind(inbound_id)
            .bind(member_id)
            .bind(outbox_id)
            .bind(hard as i64)
            .bind(text(status))
            .bind(text(diagnostic))
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The body of [`Store::insert_inbound_all`], on its connection.
async fn insert_all(
    conn: &mut sqlx::AnyConnection,
    sqlite: bool,
    raw: &[u8],
    rows: &[NewInbound<'_>],
) -> Result<Vec<Option<i64>>> {
    use sqlx::Connection;
    let mut tx = conn
        .begin_with(if sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" })
        .await?;
    let mut fresh = Vec::with_capacity(rows.len());
    for r in rows {
        let seen: Option<i64> = sqlx::query_scalar(SELECT_ID_BY_DEDUPE)
            .bind(text(r.dedupe_key))
            .fetch_optional(&mut *tx)
            .await?;
        fresh.push(seen.is_none());
    }
    let mut ids = vec![None; rows.len()];
    if !fresh.contains(&true) {
        tx.commit().await?;
        return Ok(ids);
    }
    let now = crate::now_ms();
    let raw_id: i64 = sqlx::query_scalar(INSERT_RAW)
        .bind(raw.len() as i64)
        .bind(raw)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
    for (i, r) in rows.iter().enumerate().filter(|(i, _)| fresh[*i]) {
        ids[i] = sqlx::query_scalar(INSERT_INBOUND)
            .bind(text(r.dedupe_key))
            .bind(r.message_id.map(text))
            .bind(r.transport)
            .bind(r.mail_from.map(text))
            .bind(text(r.rcpt_to))
            .bind(r.from_addr.map(text))
            .bind(r.subject.map(text))
            .bind(raw.len() as i64)
            .bind(raw_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(ids)
}
