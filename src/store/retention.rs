//! Deleting what is no longer needed, a bounded batch per statement so no
//! transaction holds SQLite's write lock for long: the raw bytes of inbound
//! mail handled long ago (the row with its outcome stays), finished
//! deliveries (an issue's counts are kept on its row first), and throttles,
//! sign-in links and sessions past any use.

use super::{col, state, OutboxKind, OutboxStatus, Result, Store};
use std::collections::BTreeMap;

/// Detaches the raw message of handled inbound rows received before `$1`.
/// Held and failed messages keep theirs: an editor or the operator may
/// still act on them.
const DETACH_OLD_RAW: &str = "UPDATE inbound SET raw_id = NULL WHERE id IN ( \
     SELECT id FROM inbound WHERE received_at < $1 AND raw_id IS NOT NULL \
     AND status IN ('accepted', 'ignored', 'rejected') LIMIT $2)";
/// Raw messages no inbound row points at any more.
const DELETE_UNUSED_RAW: &str = "DELETE FROM inbound_raw WHERE id IN ( \
     SELECT r.id FROM inbound_raw r WHERE r.created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM inbound i WHERE i.raw_id = r.id) LIMIT $2)";
const DELETE_OLD_THROTTLES: &str = "DELETE FROM notice_throttle WHERE sent_at < $1";
const DELETE_OLD_SIGN_IN_LINKS: &str = "DELETE FROM sign_in_links WHERE expires_at < $1";
const DELETE_OLD_SIGN_IN_ATTEMPTS: &str = "DELETE FROM sign_in_attempts WHERE at < $1";
const DELETE_EXPIRED_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at < $1";
/// The next outbox rows by id from a cursor. Ids grow with creation time,
/// so the rows old enough to prune are a prefix of this: a walk by primary
/// key, which never scans the queue.
const OUTBOX_FROM: &str = "SELECT id, created_at FROM outbox WHERE id > $1 ORDER BY id LIMIT $2";
/// Finished deliveries in an id range, returned so an issue's counts can
/// be kept exactly: what is counted is what was deleted.
const DELETE_FINISHED: &str = "DELETE FROM outbox WHERE id > $1 AND id <= $2 \
     AND status IN ('sent', 'failed', 'cancelled') RETURNING kind, ref_id, status";
const ARCHIVE_COUNTS: &str = "UPDATE digests SET archived_sent = archived_sent + $2, \
     archived_failed = archived_failed + $3, archived_cancelled = archived_cancelled + $4 WHERE id = $1";

/// Where a pass over old deliveries has got to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPrune {
    /// Rows deleted.
    pub deleted: u64,
    /// Continue after this id; `None` when no older rows remain.
    pub next: Option<i64>,
}

impl Store {
    /// Detaches up to `limit` raw messages of handled mail received before
    /// `before` and deletes up to `limit` raw messages nothing points at;
    /// returns how many raw messages were deleted.
    pub async fn prune_raw_inbound(&self, before: i64, limit: i64) -> Result<u64> {
        sqlx::query(DETACH_OLD_RAW)
            .bind(before)
            .bind(limit)
            .execute(self.pool())
            .await?;
        let done = sqlx::query(DELETE_UNUSED_RAW)
            .bind(before)
            .bind(limit)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Throttle marks, sign-in links and attempts, and sessions that ended
    /// before `before`; returns how many rows went.
    pub async fn prune_housekeeping(&self, before: i64) -> Result<u64> {
        let mut n = 0;
        for sql in [
            DELETE_OLD_THROTTLES,
            DELETE_OLD_SIGN_IN_LINKS,
            DELETE_OLD_SIGN_IN_ATTEMPTS,
            DELETE_EXPIRED_SESSIONS,
        ] {
            n += sqlx::query(sql)
                .bind(before)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    /// Deletes the finished deliveries (sent, failed, cancelled) among the
    /// up to `limit` rows after id `after` created before `before`, in one
    /// transaction that adds a digest issue's deleted rows to its archived
    /// counts, so `digest status` reports the same numbers after pruning.
    /// Queued, sending and paused rows stay whatever their age.
    pub async fn prune_deliveries(
        &self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<DeliveryPrune> {
        let rows = sqlx::query(OUTBOX_FROM)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut upto = None;
        for r in &rows {
            if col::<i64>(r, "created_at")? >= before {
                break;
            }
            upto = Some(col::<i64>(r, "id")?);
        }
        let Some(upto) = upto else {
            return Ok(DeliveryPrune::default());
        };
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(DELETE_FINISHED)
            .bind(after)
            .bind(upto)
            .fetch_all(&mut *tx)
            .await?;
        // issue id -> (sent, failed, cancelled)
        let mut counts: BTreeMap<i64, [i64; 3]> = BTreeMap::new();
        for r in &deleted {
            if state::<OutboxKind>(r, "kind")? != OutboxKind::Digest {
                continue;
            }
            let Some(issue) = col::<Option<i64>>(r, "ref_id")? else {
                continue;
            };
            let slot = match state::<OutboxStatus>(r, "status")? {
                OutboxStatus::Sent => 0,
                OutboxStatus::Failed => 1,
                _ => 2,
            };
            counts.entry(issue).or_default()[slot] += 1;
        }
        for (issue, [sent, failed, cancelled]) in counts {
            sqlx::query(ARCHIVE_COUNTS)
                .bind(issue)
                .bind(sent)
                .bind(failed)
                .bind(cancelled)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(DeliveryPrune {
            deleted: deleted.len() as u64,
            next: Some(upto),
        })
    }
}
