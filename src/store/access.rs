//! Who may use the editors' web UI: editors of a list and of every list
//! (admins), one-time sign-in links, the sign-in throttle, and sessions.

use super::{col, Result, Store};
use sqlx::any::AnyRow;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub email_key: String,
    pub email: String,
    pub form_token: String,
    pub expires_at: i64,
}

/// One mailed sign-in link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLinkRow {
    pub id: i64,
    pub email_key: String,
    pub email: String,
    pub nonce: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl SignInLinkRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(SignInLinkRow {
            id: col(r, "id")?,
            email_key: col(r, "email_key")?,
            email: col(r, "email")?,
            nonce: col(r, "nonce")?,
            expires_at: col(r, "expires_at")?,
            used_at: col(r, "used_at")?,
        })
    }
}

const INSERT_ADMIN: &str = "INSERT INTO admins (email_key, email, created_at) VALUES ($1, $2, $3) ON CONFLICT (email_key) DO NOTHING";
const DELETE_ADMIN: &str = "DELETE FROM admins WHERE email_key = $1";
const SELECT_ADMINS: &str = "SELECT email FROM admins ORDER BY email_key";
const IS_ADMIN: &str = "SELECT COUNT(*) FROM admins WHERE email_key = $1";
const DELETE_EDITOR: &str = "DELETE FROM editors WHERE email_key = $1 AND ($2 = 0 OR list_id = $2)";
/// (list address, editor address) for every editor of every list.
const SELECT_ALL_EDITORS: &str = "SELECT l.address AS list_address, e.email AS email FROM editors e JOIN lists l ON l.id = e.list_id ORDER BY l.address, e.email_key";
const SELECT_EDITOR_LISTS: &str =
    "SELECT list_id FROM editors WHERE email_key = $1 ORDER BY list_id";
const INSERT_LINK: &str = "INSERT INTO sign_in_links (email_key, email, nonce, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
const SELECT_LINK: &str =
    "SELECT id, email_key, email, nonce, expires_at, used_at FROM sign_in_links WHERE id = $1";
/// Uses a link once: only while unused and unexpired.
const USE_LINK: &str =
    "UPDATE sign_in_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2";
const FORGET_OLD_LINKS: &str = "DELETE FROM sign_in_links WHERE expires_at < $1";
const INSERT_ATTEMPT: &str = "INSERT INTO sign_in_attempts (key, at) VALUES ($1, $2)";
const COUNT_ATTEMPTS: &str = "SELECT COUNT(*) FROM sign_in_attempts WHERE key = $1 AND at > $2";
const FORGET_OLD_ATTEMPTS: &str = "DELETE FROM sign_in_attempts WHERE at < $1";
const INSERT_SESSION: &str = "INSERT INTO sessions (id, email_key, email, form_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
const SELECT_SESSION: &str = "SELECT email_key, email, form_token, expires_at FROM sessions WHERE id = $1 AND expires_at > $2";
const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id = $1";
const DELETE_SESSIONS_OF: &str = "DELETE FROM sessions WHERE email_key = $1";
const FORGET_OLD_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at < $1";

impl Store {
    pub async fn add_admin(&self, email: &str, key: &str) -> Result<()> {
        sqlx::query(INSERT_ADMIN)
            .bind(key)
            .bind(email)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn admins(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(SELECT_ADMINS).fetch_all(self.pool()).await?;
        rows.iter().map(|r| col(r, "email")).collect()
    }

    pub async fn is_admin(&self, key: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(IS_ADMIN)
            .bind(key)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Removes `key` as an editor of `list_id` (0: of every list, and as an
    /// admin); returns how many roles it held.
    pub async fn remove_editor(&self, key: &str, list_id: i64) -> Result<u64> {
        let mut n = sqlx::query(DELETE_EDITOR)
            .bind(key)
            .bind(list_id)
            .execute(self.pool())
            .await?
            .rows_affected();
        if list_id == 0 {
            n += sqlx::query(DELETE_ADMIN)
                .bind(key)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    /// (list address, editor address) pairs.
    pub async fn all_editors(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(SELECT_ALL_EDITORS)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((col(r, "list_address")?, col(r, "email")?)))
            .collect()
    }

    /// The lists `key` is an editor of (not counting admin rights).
    pub async fn editor_lists(&self, key: &str) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(SELECT_EDITOR_LISTS)
            .bind(key)
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn insert_sign_in_link(
        &self,
        email: &str,
        key: &str,
        nonce: i64,
        expires_at: i64,
    ) -> Result<i64> {
        let now = crate::now_ms();
        sqlx::query(FORGET_OLD_LINKS)
            .bind(now - 24 * 3600 * 1000)
            .execute(self.pool())
            .await?;
        Ok(sqlx::query_scalar(INSERT_LINK)
            .bind(key)
            .bind(email)
            .bind(nonce)
            .bind(now)
            .bind(expires_at)
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn sign_in_link(&self, id: i64) -> Result<Option<SignInLinkRow>> {
        let row = sqlx::query(SELECT_LINK)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(SignInLinkRow::from_row).transpose()
    }

    /// Marks the link used; false when it was used or expired already.
    pub async fn use_sign_in_link(&self, id: i64) -> Result<bool> {
        let done = sqlx::query(USE_LINK)
            .bind(id)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a sign-in request under `key` and returns how many there
    /// were under it since `since` (this one included).
    pub async fn count_sign_in_attempt(&self, key: &str, since: i64) -> Result<i64> {
        let now = crate::now_ms();
        sqlx::query(INSERT_ATTEMPT)
            .bind(key)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(sqlx::query_scalar(COUNT_ATTEMPTS)
            .bind(key)
            .bind(since)
            .fetch_one(self.pool())
            .await?)
    }

    /// Forgets throttle records, links and sessions that no longer matter.
    pub async fn forget_old_access(&self, attempts_before: i64) -> Result<()> {
        let now = crate::now_ms();
        sqlx::query(FORGET_OLD_ATTEMPTS)
            .bind(attempts_before)
            .execute(self.pool())
            .await?;
        sqlx::query(FORGET_OLD_SESSIONS)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn insert_session(
        &self,
        id_hash: &str,
        email: &str,
        key: &str,
        form_token: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(INSERT_SESSION)
            .bind(id_hash)
            .bind(key)
            .bind(email)
            .bind(form_token)
            .bind(crate::now_ms())
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query(SELECT_SESSION)
            .bind(id_hash)
            .bind(crate::now_ms())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(SessionRow {
                email_key: col(&r, "email_key")?,
                email: col(&r, "email")?,
                form_token: col(&r, "form_token")?,
                expires_at: col(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query(DELETE_SESSION)
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Signs `key` out everywhere (an editor removed).
    pub async fn delete_sessions_of(&self, key: &str) -> Result<()> {
        sqlx::query(DELETE_SESSIONS_OF)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
