//! Deleting what is no longer needed, a bounded batch per statement so no
//! transaction holds SQLite's write lock for long: the raw bytes of inbound
//! mail handled long ago (the row with its outcome stays), and throttles,
//! sign-in links and sessions past any use.

use super::{Result, Store};

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
}
