//! Members (subscriptions) and editors.

use super::{col, state, text, DeliveryMode, MemberStatus, Result, Store};
use sqlx::any::AnyRow;

/// Which members a search shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFilter {
    pub status: Option<MemberStatus>,
    pub mode: Option<DeliveryMode>,
    /// Text in the address or the name (any case).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub id: i64,
    pub list_id: i64,
    pub email: String,
    pub name: String,
    pub status: MemberStatus,
    pub mode: DeliveryMode,
    pub bounce_score: i64,
    pub requested_at: i64,
    pub confirmed_at: Option<i64>,
    /// How they agreed to be mailed (see migration 0003).
    pub consent: String,
}

impl MemberRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(MemberRow {
            id: col(r, "id")?,
            list_id: col(r, "list_id")?,
            email: col(r, "email")?,
            name: col(r, "name")?,
            status: state(r, "status")?,
            mode: state(r, "mode")?,
            bounce_score: col(r, "bounce_score")?,
            requested_at: col(r, "requested_at")?,
            confirmed_at: col(r, "confirmed_at")?,
            consent: col(r, "consent")?,
        })
    }

    pub fn is_active(&self) -> bool {
        self.status == MemberStatus::Active
    }
}

const SELECT_BY_KEY: &str = "SELECT id, list_id, email, name, status, mode, bounce_score, requested_at, confirmed_at, consent FROM members WHERE list_id = $1 AND email_key = $2";
const SELECT_BY_ID: &str = "SELECT id, list_id, email, name, status, mode, bounce_score, requested_at, confirmed_at, consent FROM members WHERE id = $1";
/// One page of a list's members in address order, after `$2` (keyset
/// pagination: an export of any size holds neither a long read
/// transaction nor the whole list in memory).
const SELECT_PAGE: &str = "SELECT id, list_id, email, name, status, mode, bounce_score, requested_at, confirmed_at, consent FROM members WHERE list_id = $1 AND email_key > $2 ORDER BY email_key LIMIT $3";
const SELECT_FIRST_ACTIVE: &str = "SELECT id, list_id, email, name, status, mode, bounce_score, requested_at, confirmed_at, consent FROM members WHERE list_id = $1 AND status = 'active' ORDER BY id LIMIT 1";
/// Inserts or, for someone who left or never confirmed, restarts the
/// subscription as pending. Active and disabled members are left alone.
const UPSERT_PENDING: &str = "INSERT INTO members (list_id, email, email_key, name, status, mode, requested_at) VALUES ($1, $2, $3, $4, 'pending', 'digest', $5) \
     ON CONFLICT (list_id, email_key) DO UPDATE SET status = 'pending', requested_at = excluded.requested_at, email = excluded.email \
     WHERE members.status IN ('pending', 'unsubscribed', 'disabled', 'guest')";
/// Adds an active member directly (editor action, import); re-activates one who left.
const UPSERT_ACTIVE: &str = "INSERT INTO members (list_id, email, email_key, name, status, mode, requested_at, confirmed_at, consent) VALUES ($1, $2, $3, $4, 'active', $5, $6, $6, $7) \
     ON CONFLICT (list_id, email_key) DO UPDATE SET status = 'active', mode = excluded.mode, name = CASE WHEN excluded.name = '' THEN members.name ELSE excluded.name END, confirmed_at = excluded.confirmed_at, consent = excluded.consent, left_at = NULL, bounce_score = 0";
/// Activates the pending request made at `$5` (not an earlier or later
/// one), if it is newer than `$3`.
/// Someone who is not a member, as the author of a post an editor
/// approved; an existing row (whatever its status) is left alone.
const INSERT_GUEST: &str = "INSERT INTO members (list_id, email, email_key, name, status, mode, requested_at, consent) VALUES ($1, $2, $3, $4, 'guest', 'paused', $5, '') \
     ON CONFLICT (list_id, email_key) DO NOTHING";
const ACTIVATE_PENDING: &str = "UPDATE members SET status = 'active', confirmed_at = $2, consent = $4, left_at = NULL, bounce_score = 0 WHERE id = $1 AND status = 'pending' AND requested_at >= $3 AND requested_at = $5";
const SET_UNSUBSCRIBED: &str = "UPDATE members SET status = 'unsubscribed', left_at = $2 WHERE id = $1 AND status <> 'unsubscribed'";
const SET_MODE: &str = "UPDATE members SET mode = $2 WHERE id = $1";
const SET_NAME: &str = "UPDATE members SET name = $2 WHERE id = $1";
/// Adds bounce points, starting over from 0 when the last bounce is older
/// than `$4` (Mailman's `bounce_info_stale_after`), so a few bounces spread
/// over months never add up to a disabled member. SET expressions all see
/// the row as it was, hence the repeated CASE.
const ADD_BOUNCE: &str = "UPDATE members SET \
     bounce_score = (CASE WHEN last_bounce_at IS NULL OR last_bounce_at < $4 THEN 0 ELSE bounce_score END) + $2, \
     last_bounce_at = $3 \
     WHERE id = $1 AND (last_bounce_at IS NULL OR last_bounce_at < $5)";
/// Compare-and-set, so of several bounces counted at once exactly one
/// disables the member (and so has them told, once).
const DISABLE_OVER: &str = "UPDATE members SET status = 'disabled' WHERE id = $1 AND status = 'active' AND bounce_score >= $2";
const REACTIVATE: &str = "UPDATE members SET status = 'active', bounce_score = 0, last_bounce_at = NULL WHERE id = $1 AND status = 'disabled'";
const COUNT_BY_STATUS: &str =
    "SELECT status, COUNT(*) AS n FROM members WHERE list_id = $1 GROUP BY status ORDER BY status";

/// Members matching a filter: status and mode ('' for any), and text in
/// the address or name ('' for any), a page at a time in address order.
const SEARCH_SQLITE: &str = "SELECT id, list_id, email, name, status, mode, bounce_score, requested_at, confirmed_at, consent FROM members \
     WHERE list_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR mode = $3) \
     AND ($4 = '' OR instr(email_key, $4) > 0 OR instr(LOWER(name), $4) > 0) ORDER BY email_key LIMIT $5 OFFSET $6";
const SEARCH_POSTGRES: &str = "SELECT id, list_id, email, name, status, mode, bounce_score, requested_at, confirmed_at, consent FROM members \
     WHERE list_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR mode = $3) \
     AND ($4 = '' OR strpos(email_key, $4) > 0 OR strpos(LOWER(name), $4) > 0) ORDER BY email_key LIMIT $5 OFFSET $6";
const COUNT_BY_STATUS_MODE: &str = "SELECT status, mode, COUNT(*) AS n FROM members WHERE list_id = $1 GROUP BY status, mode ORDER BY status, mode";
const SELECT_LEFT_AT: &str = "SELECT left_at FROM members WHERE id = $1";
const INSERT_EDITOR: &str = "INSERT INTO editors (list_id, email, email_key, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (list_id, email_key) DO NOTHING";
const SELECT_EDITORS: &str = "SELECT email FROM editors WHERE list_id = $1 ORDER BY email_key";

/// Bounce points after which delivery to a member stops (Mailman's default
/// threshold is 5.0 with 1.0 per hard bounce and 0.5 per soft one; we count in halves).
pub const BOUNCE_DISABLE_AT: i64 = 10;

/// A bounce this long after the previous one starts the score over
/// (Mailman's `bounce_info_stale_after`, 7 days).
pub const BOUNCE_STALE_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

/// At most one bounce a day counts (Mailman's rule): a mailbox that is full
/// for an afternoon of every-post mail is one bounce, not twenty.
pub const BOUNCE_COUNTED_EVERY_MS: i64 = 24 * 3600 * 1000;

impl Store {
    pub async fn member_by_email(
        &self,
        list_id: i64,
        email_key: &str,
    ) -> Result<Option<MemberRow>> {
        let row = sqlx::query(SELECT_BY_KEY)
            .bind(list_id)
            .bind(email_key)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(MemberRow::from_row).transpose()
    }

    pub async fn member(&self, id: i64) -> Result<Option<MemberRow>> {
        let row = sqlx::query(SELECT_BY_ID)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(MemberRow::from_row).transpose()
    }

    /// Up to `limit` members of the list whose address sorts after
    /// `after` (lowercase; "" for the first page).
    pub async fn members_page(
        &self,
        list_id: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<MemberRow>> {
        let rows = sqlx::query(SELECT_PAGE)
            .bind(list_id)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(MemberRow::from_row).collect()
    }

    /// The list's longest-standing active member, if any.
    pub async fn first_active_member(&self, list_id: i64) -> Result<Option<MemberRow>> {
        let row = sqlx::query(SELECT_FIRST_ACTIVE)
            .bind(list_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(MemberRow::from_row).transpose()
    }

    /// Records a subscription request; returns the member as it now stands.
    pub async fn upsert_pending(
        &self,
        list_id: i64,
        email: &str,
        key: &str,
        name: &str,
    ) -> Result<MemberRow> {
        sqlx::query(UPSERT_PENDING)
            .bind(list_id)
            .bind(email)
            .bind(key)
            .bind(text(name))
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        self.member_by_email(list_id, key)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("member vanished after upsert".into()))
    }

    pub async fn upsert_active(
        &self,
        list_id: i64,
        email: &str,
        key: &str,
        name: &str,
        mode: DeliveryMode,
        consent: &str,
    ) -> Result<MemberRow> {
        sqlx::query(UPSERT_ACTIVE)
            .bind(list_id)
            .bind(email)
            .bind(key)
            .bind(text(name))
            .bind(mode.as_str())
            .bind(crate::now_ms())
            .bind(text(consent))
            .execute(self.pool())
            .await?;
        self.member_by_email(list_id, key)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("member vanished after upsert".into()))
    }

    /// The member row of `key`, made a guest when there is none.
    pub async fn member_or_guest(
        &self,
        list_id: i64,
        email: &str,
        key: &str,
        name: &str,
    ) -> Result<MemberRow> {
        sqlx::query(INSERT_GUEST)
            .bind(list_id)
            .bind(email)
            .bind(key)
            .bind(text(name))
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        self.member_by_email(list_id, key)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("member vanished after insert".into()))
    }

    /// Activates a pending member whose request, made at `requested_at`,
    /// is newer than `not_before`, recording how they consented.
    pub async fn activate(
        &self,
        member_id: i64,
        requested_at: i64,
        not_before: i64,
        consent: &str,
    ) -> Result<bool> {
        let done = sqlx::query(ACTIVATE_PENDING)
            .bind(member_id)
            .bind(crate::now_ms())
            .bind(not_before)
            .bind(consent)
            .bind(requested_at)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// True when the member was subscribed (or pending) and now is not.
    pub async fn unsubscribe(&self, member_id: i64) -> Result<bool> {
        let done = sqlx::query(SET_UNSUBSCRIBED)
            .bind(member_id)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_name(&self, member_id: i64, name: &str) -> Result<()> {
        sqlx::query(SET_NAME)
            .bind(member_id)
            .bind(text(name))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_mode(&self, member_id: i64, mode: DeliveryMode) -> Result<()> {
        sqlx::query(SET_MODE)
            .bind(member_id)
            .bind(mode.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Adds `points` to the member's bounce score (after a stale score is
    /// reset) and disables an active member who reaches [`BOUNCE_DISABLE_AT`].
    /// True when this call disabled them.
    pub async fn add_bounce_points(&self, member_id: i64, points: i64) -> Result<bool> {
        let now = crate::now_ms();
        sqlx::query(ADD_BOUNCE)
            .bind(member_id)
            .bind(points)
            .bind(now)
            .bind(now - BOUNCE_STALE_AFTER_MS)
            .bind(now - BOUNCE_COUNTED_EVERY_MS)
            .execute(self.pool())
            .await?;
        let disabled = sqlx::query(DISABLE_OVER)
            .bind(member_id)
            .bind(BOUNCE_DISABLE_AT)
            .execute(self.pool())
            .await?;
        Ok(disabled.rows_affected() == 1)
    }

    /// A member disabled by bounces receives mail again, with a clean
    /// score; false when they were not disabled.
    pub async fn reactivate(&self, member_id: i64) -> Result<bool> {
        let done = sqlx::query(REACTIVATE)
            .bind(member_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn member_counts(&self, list_id: i64) -> Result<Vec<(MemberStatus, i64)>> {
        let rows = sqlx::query(COUNT_BY_STATUS)
            .bind(list_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((state(r, "status")?, col(r, "n")?)))
            .collect()
    }

    /// Members of a list matching `filter`: up to `limit` after `offset`.
    pub async fn search_members(
        &self,
        list_id: i64,
        filter: &MemberFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<MemberRow>> {
        let rows = sqlx::query(self.pick(SEARCH_SQLITE, SEARCH_POSTGRES))
            .bind(list_id)
            .bind(filter.status.map_or("", |s| s.as_str()))
            .bind(filter.mode.map_or("", |m| m.as_str()))
            .bind(text(&filter.text.trim().to_lowercase()))
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(MemberRow::from_row).collect()
    }

    /// (status, mode, count) for every combination present.
    pub async fn member_counts_by_mode(
        &self,
        list_id: i64,
    ) -> Result<Vec<(MemberStatus, DeliveryMode, i64)>> {
        let rows = sqlx::query(COUNT_BY_STATUS_MODE)
            .bind(list_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((state(r, "status")?, state(r, "mode")?, col(r, "n")?)))
            .collect()
    }

    /// When the member left, if they did.
    pub async fn member_left_at(&self, member_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(SELECT_LEFT_AT)
            .bind(member_id)
            .fetch_optional(self.pool())
            .await?
            .flatten())
    }

    pub async fn add_editor(&self, list_id: i64, email: &str, key: &str) -> Result<()> {
        sqlx::query(INSERT_EDITOR)
            .bind(list_id)
            .bind(email)
            .bind(key)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn editors(&self, list_id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(SELECT_EDITORS)
            .bind(list_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| col(r, "email")).collect()
    }
}
