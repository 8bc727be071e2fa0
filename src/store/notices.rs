//! Budgets for notices: the read side of the per-address throttle (whose
//! write side, `take_throttle`, is in `inbound.rs`), and the answer notices
//! owed to askers (`answer_notices`).

use super::{col, Result, Store};

const THROTTLE_FREE: &str = "SELECT COUNT(*) FROM notice_throttle \
     WHERE list_id = $1 AND address = $2 AND kind = $3 AND sent_at >= $4";
const SELECT_ANSWER_NOTICE: &str =
    "SELECT question_id, last_answer_id, notified_at, due_at FROM answer_notices WHERE question_id = $1";
const INSERT_ANSWER_NOTICE: &str =
    "INSERT INTO answer_notices (question_id, last_answer_id, notified_at, due_at) \
     VALUES ($1, $2, $3, NULL) ON CONFLICT (question_id) DO NOTHING";
/// Compare-and-set: only the holder of the last state moves it on.
const ADVANCE_ANSWER_NOTICE: &str =
    "UPDATE answer_notices SET last_answer_id = $3, notified_at = $4, due_at = NULL \
     WHERE question_id = $1 AND last_answer_id = $2";
const SET_ANSWER_NOTICE_DUE: &str =
    "UPDATE answer_notices SET due_at = $2 WHERE question_id = $1 AND due_at IS NULL";
const CLEAR_ANSWER_NOTICE_DUE: &str =
    "UPDATE answer_notices SET due_at = NULL WHERE question_id = $1";
const DUE_ANSWER_NOTICES: &str =
    "SELECT question_id, last_answer_id, notified_at, due_at FROM answer_notices \
     WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT 500";
const LATEST_ANSWER: &str = "SELECT MAX(id) FROM answers WHERE question_id = $1";

/// What the asker of a question was last told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerNoticeRow {
    pub question_id: i64,
    /// Answers up to this id were in a notice.
    pub last_answer_id: i64,
    pub notified_at: i64,
    /// When the next notice may go, while answers wait for it.
    pub due_at: Option<i64>,
}

impl AnswerNoticeRow {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self> {
        Ok(AnswerNoticeRow {
            question_id: col(r, "question_id")?,
            last_answer_id: col(r, "last_answer_id")?,
            notified_at: col(r, "notified_at")?,
            due_at: col(r, "due_at")?,
        })
    }
}

impl Store {
    /// True when no notice of `kind` went to `address` since `since` (the
    /// throttle is free); [`Store::take_throttle`] takes it once sent.
    pub async fn throttle_free(
        &self,
        list_id: i64,
        address: &str,
        kind: &str,
        since: i64,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(THROTTLE_FREE)
            .bind(list_id)
            .bind(address)
            .bind(kind)
            .bind(since)
            .fetch_one(self.pool())
            .await?;
        Ok(n == 0)
    }

    pub async fn answer_notice(&self, question_id: i64) -> Result<Option<AnswerNoticeRow>> {
        let row = sqlx::query(SELECT_ANSWER_NOTICE)
            .bind(question_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(AnswerNoticeRow::from_row).transpose()
    }

    /// Records the first notice about a question's answers; false when
    /// another process recorded one first.
    pub async fn insert_answer_notice(
        &self,
        question_id: i64,
        through: i64,
        at: i64,
    ) -> Result<bool> {
        let done = sqlx::query(INSERT_ANSWER_NOTICE)
            .bind(question_id)
            .bind(through)
            .bind(at)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the record from `from` to `through` (told at `at`); false
    /// when another process moved it first.
    pub async fn advance_answer_notice(
        &self,
        question_id: i64,
        from: i64,
        through: i64,
        at: i64,
    ) -> Result<bool> {
        let done = sqlx::query(ADVANCE_ANSWER_NOTICE)
            .bind(question_id)
            .bind(from)
            .bind(through)
            .bind(at)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks answers as waiting for a notice at `due_at` (kept if one is
    /// already set).
    pub async fn set_answer_notice_due(&self, question_id: i64, due_at: i64) -> Result<()> {
        sqlx::query(SET_ANSWER_NOTICE_DUE)
            .bind(question_id)
            .bind(due_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn clear_answer_notice_due(&self, question_id: i64) -> Result<()> {
        sqlx::query(CLEAR_ANSWER_NOTICE_DUE)
            .bind(question_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Questions whose waiting answers are due to be told by `now`.
    pub async fn due_answer_notices(&self, now: i64) -> Result<Vec<AnswerNoticeRow>> {
        let rows = sqlx::query(DUE_ANSWER_NOTICES)
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(AnswerNoticeRow::from_row).collect()
    }

    /// The newest answer to a question.
    pub async fn latest_answer_id(&self, question_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(LATEST_ANSWER)
            .bind(question_id)
            .fetch_one(self.pool())
            .await?)
    }
}
