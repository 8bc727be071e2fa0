//! Sending one issue: its deliveries queued in chunks by member id behind
//! a cursor stored with the issue (so no transaction holds the write lock
//! for long, and a crash resumes where it stopped), paused, resumed or
//! cancelled by an editor, and counted.
//!
//! Exactly one delivery per member still rests on the outbox's unique
//! `dedupe_key` (`digest:<issue>:<member>`); the cursor's compare-and-set
//! keeps two processes expanding at once from counting a chunk twice.

use super::{col, digests::DigestRow, state, IssueDelivery, Result, Store};

/// The last member id of the next chunk: the `$3`th active digest member
/// of list `$1` after member `$2` (or the last one, if fewer are left).
const CHUNK_THROUGH: &str = "SELECT MAX(id) FROM (SELECT id FROM members \
     WHERE list_id = $1 AND status = 'active' AND mode = 'digest' AND id > $2 ORDER BY id LIMIT $3) AS chunk";
/// Moves the cursor from `$2` to `$3`, only while the issue is sent,
/// running and not fully expanded: of several processes one wins a chunk.
const ADVANCE_CURSOR: &str = "UPDATE digests SET expanded_through = $3 \
     WHERE id = $1 AND expanded_through = $2 AND status = 'sent' AND delivery = 'running' AND expanded_at IS NULL";
/// One delivery per active digest member with an id in ($3, $4].
const EXPAND_CHUNK: &str = "INSERT INTO outbox (dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, status, next_attempt_at, retry_since, created_at) \
     SELECT 'digest:' || CAST($1 AS TEXT) || ':' || CAST(m.id AS TEXT), m.list_id, m.id, m.email, 'digest', $1, '{}', 'queued', $5, $5, $5 \
     FROM members m WHERE m.list_id = $2 AND m.status = 'active' AND m.mode = 'digest' AND m.id > $3 AND m.id <= $4 \
     ON CONFLICT (dedupe_key) DO NOTHING";
const ADD_RECIPIENTS: &str = "UPDATE digests SET recipients = recipients + $2 WHERE id = $1";
/// Every member past the cursor is queued: the expansion is over.
const FINISH_EXPANSION: &str = "UPDATE digests SET expanded_at = $3 \
     WHERE id = $1 AND expanded_through = $2 AND status = 'sent' AND delivery = 'running' AND expanded_at IS NULL";
/// Sent issues whose expansion a crash (or a pause, now resumed) left unfinished.
const SELECT_UNFINISHED: &str = "SELECT id FROM digests \
     WHERE status = 'sent' AND delivery = 'running' AND expanded_at IS NULL ORDER BY id";
const PAUSE_ISSUE: &str = "UPDATE digests SET delivery = 'paused' \
     WHERE id = $1 AND status = 'sent' AND delivery = 'running'";
const PAUSE_ROWS: &str = "UPDATE outbox SET status = 'paused' \
     WHERE kind = 'digest' AND ref_id = $1 AND status = 'queued'";
const RESUME_ISSUE: &str = "UPDATE digests SET delivery = 'running' \
     WHERE id = $1 AND status = 'sent' AND delivery = 'paused'";
/// Resumed deliveries are due at once: the pause outlasted any backoff a
/// delivery in flight when it began was given.
const RESUME_ROWS: &str = "UPDATE outbox SET status = 'queued', \
     next_attempt_at = CASE WHEN next_attempt_at > $2 THEN $2 ELSE next_attempt_at END \
     WHERE kind = 'digest' AND ref_id = $1 AND status = 'paused'";
const CANCEL_ISSUE: &str = "UPDATE digests SET delivery = 'cancelled' \
     WHERE id = $1 AND status = 'sent' AND delivery IN ('running', 'paused')";
const CANCEL_ROWS: &str = "UPDATE outbox SET status = 'cancelled', last_reply = $2 \
     WHERE kind = 'digest' AND ref_id = $1 AND status IN ('queued', 'paused')";
/// Paused or cancelled issues with a delivery queued again since: one that
/// was being sent when the editor acted and met a temporary failure.
const SELECT_STRAYS: &str = "SELECT d.id, d.delivery FROM digests d \
     WHERE d.status = 'sent' AND d.delivery IN ('paused', 'cancelled') \
     AND EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'digest' AND o.ref_id = d.id AND o.status = 'queued')";
/// Locks an issue's row if its delivery is still `$2` (changes nothing).
const LOCK_ISSUE_IN: &str = "UPDATE digests SET delivery = $2 WHERE id = $1 AND delivery = $2";
const SELECT_ARCHIVED: &str =
    "SELECT recipients, archived_sent, archived_failed, archived_cancelled FROM digests WHERE id = $1";
/// The list's most recent sent issue.
const SELECT_LAST_SENT: &str = "SELECT id, list_id, number, status, subject, intro, since, until_at, content, created_at, approved_at, due_at, sent_at, recipients, notified_at, curation, version, expanded_through, expanded_at, delivery \
     FROM digests WHERE list_id = $1 AND status = 'sent' ORDER BY number DESC LIMIT 1";

/// The second parameter of a rows statement, if it has one.
enum RowsArg<'a> {
    Reason(&'a str),
    Now(i64),
}

/// What one step of an expansion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpandStep {
    /// Queued this many new deliveries; more members may follow.
    Queued(u64),
    /// Every member is queued (by this call or an earlier one).
    Finished,
    /// The issue is paused, cancelled or not sent: nothing was queued.
    Stopped,
    /// Another process took this chunk first; look again.
    Raced,
}

/// The deliveries of one issue by where they stand, pruned rows included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IssueCounts {
    /// Deliveries queued for the issue (one per member at expansion).
    pub recipients: i64,
    pub queued: i64,
    /// Leased by a worker, the relay's answer not recorded yet.
    pub sending: i64,
    /// Accepted by the relay with 250, and only those.
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub paused: i64,
}

impl IssueCounts {
    /// Deliveries that may still go out (queued, being sent, or paused).
    pub fn pending(&self) -> i64 {
        self.queued + self.sending + self.paused
    }
}

impl Store {
    /// Queues the next chunk of up to `limit` members of sent issue
    /// `digest_id`, in one short transaction that also moves its cursor.
    pub async fn expand_issue_chunk(&self, digest_id: i64, limit: i64) -> Result<ExpandStep> {
        let mut tx = self.begin_write().await?;
        let Some(d) = sqlx::query(super::digests::SELECT_BY_ID)
            .bind(digest_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(ExpandStep::Stopped);
        };
        let d = DigestRow::from_row(&d)?;
        if d.expanded_at.is_some() {
            return Ok(ExpandStep::Finished);
        }
        if d.status != super::DigestStatus::Sent || d.delivery != IssueDelivery::Running {
            return Ok(ExpandStep::Stopped);
        }
        let from = d.expanded_through;
        let through: Option<i64> = sqlx::query_scalar(CHUNK_THROUGH)
            .bind(d.list_id)
            .bind(from)
            .bind(limit)
            .fetch_one(&mut *tx)
            .await?;
        let now = crate::now_ms();
        let Some(through) = through else {
            let done = sqlx::query(FINISH_EXPANSION)
                .bind(digest_id)
                .bind(from)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(if done.rows_affected() == 1 {
                ExpandStep::Finished
            } else {
                ExpandStep::Raced
            });
        };
        // The cursor first: on PostgreSQL it locks the issue's row, so a
        // second process waits here and then finds the cursor moved.
        let won = sqlx::query(ADVANCE_CURSOR)
            .bind(digest_id)
            .bind(from)
            .bind(through)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !won {
            tx.rollback().await?;
            return Ok(ExpandStep::Raced);
        }
        let queued = sqlx::query(EXPAND_CHUNK)
            .bind(digest_id)
            .bind(d.list_id)
            .bind(from)
            .bind(through)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(ADD_RECIPIENTS)
            .bind(digest_id)
            .bind(queued as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ExpandStep::Queued(queued))
    }

    /// Sent, running issues whose members are not all queued yet.
    pub async fn unfinished_expansions(&self) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(SELECT_UNFINISHED)
            .fetch_all(self.pool())
            .await?)
    }

    /// The list's most recent sent issue.
    pub async fn last_sent_digest(&self, list_id: i64) -> Result<Option<DigestRow>> {
        let row = sqlx::query(SELECT_LAST_SENT)
            .bind(list_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(DigestRow::from_row).transpose()
    }

    /// Pauses a running issue: its queued deliveries are no longer
    /// claimable and its expansion stops. `None` when it was not running;
    /// otherwise how many deliveries were held.
    pub async fn pause_issue(&self, digest_id: i64) -> Result<Option<u64>> {
        self.switch_issue(digest_id, PAUSE_ISSUE, PAUSE_ROWS, None)
            .await
    }

    /// Resumes a paused issue; `None` when it was not paused, otherwise
    /// how many deliveries were queued again.
    pub async fn resume_issue(&self, digest_id: i64) -> Result<Option<u64>> {
        self.switch_issue(
            digest_id,
            RESUME_ISSUE,
            RESUME_ROWS,
            Some(RowsArg::Now(crate::now_ms())),
        )
        .await
    }

    /// Cancels a running or paused issue: what is queued or paused is
    /// cancelled with `reason`. `None` when it was neither.
    pub async fn cancel_issue(&self, digest_id: i64, reason: &str) -> Result<Option<u64>> {
        self.switch_issue(
            digest_id,
            CANCEL_ISSUE,
            CANCEL_ROWS,
            Some(RowsArg::Reason(reason)),
        )
        .await
    }

    /// The issue's state, then its rows, in one transaction: the issue's
    /// update comes first so that on PostgreSQL it waits for a chunk being
    /// expanded to commit, and the rows' update then sees that chunk.
    async fn switch_issue(
        &self,
        digest_id: i64,
        issue_sql: &'static str,
        rows_sql: &'static str,
        arg: Option<RowsArg<'_>>,
    ) -> Result<Option<u64>> {
        let mut tx = self.begin_write().await?;
        let switched = sqlx::query(issue_sql)
            .bind(digest_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !switched {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut rows = sqlx::query(rows_sql).bind(digest_id);
        match arg {
            Some(RowsArg::Reason(reason)) => rows = rows.bind(reason.to_string()),
            Some(RowsArg::Now(now)) => rows = rows.bind(now),
            None => {}
        }
        let n = rows.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(Some(n))
    }

    /// Holds back again deliveries of paused or cancelled issues that a
    /// temporary failure put back in the queue after the editor acted (a
    /// retry waits at least 30 seconds, and this runs on each scheduler
    /// pass). Returns how many rows it caught.
    pub async fn settle_stopped_issues(&self, cancel_reason: &str) -> Result<u64> {
        let strays = sqlx::query(SELECT_STRAYS).fetch_all(self.pool()).await?;
        let mut caught = 0;
        for r in &strays {
            let id: i64 = col(r, "id")?;
            let delivery: IssueDelivery = state(r, "delivery")?;
            let rows_sql = match delivery {
                IssueDelivery::Paused => PAUSE_ROWS,
                _ => CANCEL_ROWS,
            };
            // Under the issue's row lock, and only if it is still what was
            // read: a resume in between must not find its rows paused again.
            let mut tx = self.begin_write().await?;
            let held = sqlx::query(LOCK_ISSUE_IN)
                .bind(id)
                .bind(delivery.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if held {
                let mut rows = sqlx::query(rows_sql).bind(id);
                if delivery == IssueDelivery::Cancelled {
                    rows = rows.bind(cancel_reason.to_string());
                }
                caught += rows.execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        }
        Ok(caught)
    }

    /// The deliveries of issue `digest_id` by status: live outbox rows
    /// plus the counts folded into the issue when rows were pruned.
    pub async fn digest_delivery_counts(&self, digest_id: i64) -> Result<IssueCounts> {
        let live = self.issue_delivery_counts(digest_id).await?;
        let mut c = IssueCounts {
            queued: live.queued,
            sending: live.sending,
            sent: live.sent,
            failed: live.failed,
            cancelled: live.cancelled,
            paused: live.paused,
            ..IssueCounts::default()
        };
        if let Some(r) = sqlx::query(SELECT_ARCHIVED)
            .bind(digest_id)
            .fetch_optional(self.pool())
            .await?
        {
            c.recipients = col(&r, "recipients")?;
            c.sent += col::<i64>(&r, "archived_sent")?;
            c.failed += col::<i64>(&r, "archived_failed")?;
            c.cancelled += col::<i64>(&r, "archived_cancelled")?;
        }
        Ok(c)
    }
}
