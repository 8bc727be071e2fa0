//! Inbound messages as received (raw bytes kept), with what became of each,
//! the per-address notice throttle, and recorded bounces.

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
    pub raw: &'a [u8],
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
        })
    }
}

const INSERT_INBOUND: &str = "INSERT INTO inbound (dedupe_key, message_id, transport, mail_from, rcpt_to, from_addr, subject, size, raw, received_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id";
const SYNC_FULL: &str = "PRAGMA synchronous=FULL";
const SYNC_NORMAL: &str = "PRAGMA synchronous=NORMAL";
const NOTE_FAILURE: &str = "UPDATE inbound SET reason = $2 WHERE id = $1 AND status = 'received'";
const SELECT_BY_DEDUPE: &str = "SELECT id, status FROM inbound WHERE dedupe_key = $1";
const SET_OUTCOME: &str = "UPDATE inbound SET list_id = $2, kind = $3, status = $4, reason = $5, handled_at = $6 WHERE id = $1";
const SELECT_RECENT: &str = "SELECT id, message_id, transport, mail_from, rcpt_to, from_addr, subject, size, received_at, list_id, kind, status, reason FROM inbound \
     WHERE ($1 = '' OR status = $1) ORDER BY id DESC LIMIT $2";
const SELECT_ONE: &str = "SELECT id, message_id, transport, mail_from, rcpt_to, from_addr, subject, size, received_at, list_id, kind, status, reason FROM inbound WHERE id = $1";
const SELECT_RAW: &str = "SELECT raw FROM inbound WHERE id = $1";
const SELECT_UNHANDLED: &str =
    "SELECT id FROM inbound WHERE status = 'received' AND received_at < $1 ORDER BY id LIMIT 100";
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
    /// Stores the raw message; `Ok(None)` when the same message (same
    /// dedupe key) was stored before: it must act once only.
    pub async fn insert_inbound(&self, m: &NewInbound<'_>) -> Result<Option<i64>> {
        // The sender is told 250 once this returns, and then forgets the
        // message: on SQLite this one commit is made durable against a power
        // cut too (WAL with `synchronous=NORMAL`, the rest of the time,
        // survives a crash of the process but may lose the last commits
        // when the machine loses power).
        let mut conn = self.pool().acquire().await?;
        let sqlite = self.backend() == super::Backend::Sqlite;
        if sqlite {
            sqlx::query(SYNC_FULL).execute(&mut *conn).await?;
        }
        let id = sqlx::query_scalar(INSERT_INBOUND)
            .bind(text(m.dedupe_key))
            .bind(m.message_id.map(text))
            .bind(m.transport)
            .bind(m.mail_from.map(text))
            .bind(text(m.rcpt_to))
            .bind(m.from_addr.map(text))
            .bind(m.subject.map(text))
            .bind(m.raw.len() as i64)
            .bind(m.raw)
            .bind(crate::now_ms())
            .fetch_optional(&mut *conn)
            .await;
        if sqlite {
            sqlx::query(SYNC_NORMAL).execute(&mut *conn).await?;
        }
        Ok(id?)
    }

    /// The `synchronous` setting of a pooled SQLite connection (tests).
    pub async fn sqlite_synchronous(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(self.pool())
            .await?)
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

    /// Says why a stored message is not handled yet (it stays `received`).
    pub async fn note_inbound_failure(&self, id: i64, reason: &str) -> Result<()> {
        sqlx::query(NOTE_FAILURE)
            .bind(id)
            .bind(text(reason))
            .execute(self.pool())
            .await?;
        Ok(())
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

    /// Messages stored but never handled (a crash between storing and acting).
    pub async fn unhandled_inbound(&self, older_than: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(SELECT_UNHANDLED)
            .bind(older_than)
            .fetch_all(self.pool())
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
