//! Questions and answers.

use super::{col, text, Result, Store, Tx};
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionRow {
    pub id: i64,
    pub list_id: i64,
    pub member_id: i64,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub created_at: i64,
    pub author_email: String,
    pub author_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRow {
    pub id: i64,
    pub question_id: i64,
    pub member_id: i64,
    pub body: String,
    pub message_id: String,
    pub created_at: i64,
    pub author_email: String,
    pub author_name: String,
}

impl QuestionRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(QuestionRow {
            id: col(r, "id")?,
            list_id: col(r, "list_id")?,
            member_id: col(r, "member_id")?,
            subject: col(r, "subject")?,
            body: col(r, "body")?,
            message_id: col(r, "message_id")?,
            created_at: col(r, "created_at")?,
            author_email: col(r, "author_email")?,
            author_name: col(r, "author_name")?,
        })
    }
}

impl AnswerRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(AnswerRow {
            id: col(r, "id")?,
            question_id: col(r, "question_id")?,
            member_id: col(r, "member_id")?,
            body: col(r, "body")?,
            message_id: col(r, "message_id")?,
            created_at: col(r, "created_at")?,
            author_email: col(r, "author_email")?,
            author_name: col(r, "author_name")?,
        })
    }
}

const INSERT_QUESTION: &str = "INSERT INTO questions (list_id, member_id, inbound_id, subject, body, message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (inbound_id) DO NOTHING RETURNING id";
const SELECT_QUESTION_BY_INBOUND: &str = "SELECT id FROM questions WHERE inbound_id = $1";
const INSERT_ANSWER: &str = "INSERT INTO answers (question_id, member_id, inbound_id, body, message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (inbound_id) DO NOTHING RETURNING id";
const SELECT_ANSWER_BY_INBOUND: &str = "SELECT id FROM answers WHERE inbound_id = $1";
const SELECT_QUESTION: &str = "SELECT q.id, q.list_id, q.member_id, q.subject, q.body, q.message_id, q.created_at, m.email AS author_email, m.name AS author_name \
     FROM questions q JOIN members m ON m.id = q.member_id WHERE q.id = $1";
const SELECT_ANSWER: &str = "SELECT a.id, a.question_id, a.member_id, a.body, a.message_id, a.created_at, m.email AS author_email, m.name AS author_name \
     FROM answers a JOIN members m ON m.id = a.member_id WHERE a.id = $1";
/// The material of the next issue, by what no sent issue carried yet
/// (not by time windows, which lose rows whose insert commits after an
/// issue is frozen): questions never carried; carried questions with
/// answers never carried; and carried questions asked since `$2` that
/// still have no answer at all. Each part reads through its own index
/// (`questions_undigested`, `answers_undigested`, `questions_list_created`),
/// so the cost follows what is new, not every question the list ever had.
const SELECT_DIGEST_QUESTIONS: &str = "SELECT q.id, q.list_id, q.member_id, q.subject, q.body, q.message_id, q.created_at, q.digest_id, m.email AS author_email, m.name AS author_name \
     FROM questions q JOIN members m ON m.id = q.member_id \
     WHERE q.id IN ( \
        SELECT n.id FROM questions n WHERE n.list_id = $1 AND n.digest_id IS NULL \
        UNION SELECT a.question_id FROM answers a JOIN questions aq ON aq.id = a.question_id \
              WHERE a.digest_id IS NULL AND aq.list_id = $1 \
        UNION SELECT r.id FROM questions r WHERE r.list_id = $1 AND r.created_at >= $2 \
              AND NOT EXISTS (SELECT 1 FROM answers x WHERE x.question_id = r.id)) \
     ORDER BY q.created_at, q.id";
/// Answers no sent issue carried yet, to the list's questions (read
/// through `answers_undigested`).
const SELECT_DIGEST_ANSWERS: &str = "SELECT a.id, a.question_id, a.member_id, a.body, a.message_id, a.created_at, m.email AS author_email, m.name AS author_name \
     FROM answers a JOIN members m ON m.id = a.member_id JOIN questions q ON q.id = a.question_id \
     WHERE q.list_id = $1 AND a.digest_id IS NULL ORDER BY a.created_at, a.id";
/// The question of this list a Message-ID names: the question's own, or
/// one of its answers'.
const SELECT_THREAD_QUESTION: &str = "SELECT q.id FROM questions q WHERE q.list_id = $1 AND q.message_id = $2 \
     UNION SELECT a.question_id FROM answers a JOIN questions q ON q.id = a.question_id WHERE q.list_id = $1 AND a.message_id = $2";
/// The answers to a question with ids in ($2, $3], oldest first.
const SELECT_ANSWERS_BETWEEN: &str = "SELECT a.id, a.question_id, a.member_id, a.body, a.message_id, a.created_at, m.email AS author_email, m.name AS author_name \
     FROM answers a JOIN members m ON m.id = a.member_id WHERE a.question_id = $1 AND a.id > $2 AND a.id <= $3 ORDER BY a.id LIMIT 100";
const SELECT_ANSWER_BY_MESSAGE_ID: &str =
    "SELECT id FROM answers WHERE question_id = $1 AND message_id = $2";
/// Records that a sent issue carried a question (first issue wins).
const MARK_QUESTION_DIGESTED: &str =
    "UPDATE questions SET digest_id = $2 WHERE id = $1 AND digest_id IS NULL";
const MARK_ANSWER_DIGESTED: &str =
    "UPDATE answers SET digest_id = $2 WHERE id = $1 AND digest_id IS NULL";

pub struct NewQuestion<'a> {
    pub list_id: i64,
    pub member_id: i64,
    pub inbound_id: Option<i64>,
    pub subject: &'a str,
    pub body: &'a str,
    pub message_id: &'a str,
}

pub struct NewAnswer<'a> {
    pub question_id: i64,
    pub member_id: i64,
    pub inbound_id: Option<i64>,
    pub body: &'a str,
    pub message_id: &'a str,
}

impl Store {
    /// Inserts a question; handling the same inbound message again returns
    /// the question it made the first time.
    pub async fn insert_question(&self, q: &NewQuestion<'_>) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar(INSERT_QUESTION)
            .bind(q.list_id)
            .bind(q.member_id)
            .bind(q.inbound_id)
            .bind(text(q.subject))
            .bind(text(q.body))
            .bind(text(q.message_id))
            .bind(crate::now_ms())
            .fetch_optional(self.pool())
            .await?;
        match id {
            Some(id) => Ok(id),
            None => Ok(sqlx::query_scalar(SELECT_QUESTION_BY_INBOUND)
                .bind(q.inbound_id)
                .fetch_one(self.pool())
                .await?),
        }
    }

    /// Inserts an answer, idempotent per inbound message like questions.
    pub async fn insert_answer(&self, a: &NewAnswer<'_>) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar(INSERT_ANSWER)
            .bind(a.question_id)
            .bind(a.member_id)
            .bind(a.inbound_id)
            .bind(text(a.body))
            .bind(text(a.message_id))
            .bind(crate::now_ms())
            .fetch_optional(self.pool())
            .await?;
        match id {
            Some(id) => Ok(id),
            None => Ok(sqlx::query_scalar(SELECT_ANSWER_BY_INBOUND)
                .bind(a.inbound_id)
                .fetch_one(self.pool())
                .await?),
        }
    }

    pub async fn question(&self, id: i64) -> Result<Option<QuestionRow>> {
        let row = sqlx::query(SELECT_QUESTION)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(QuestionRow::from_row).transpose()
    }

    pub async fn answer(&self, id: i64) -> Result<Option<AnswerRow>> {
        let row = sqlx::query(SELECT_ANSWER)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(AnswerRow::from_row).transpose()
    }

    /// The answers to `question_id` after answer `after`, up to `through`.
    pub async fn answers_between(
        &self,
        question_id: i64,
        after: i64,
        through: i64,
    ) -> Result<Vec<AnswerRow>> {
        let rows = sqlx::query(SELECT_ANSWERS_BETWEEN)
            .bind(question_id)
            .bind(after)
            .bind(through)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(AnswerRow::from_row).collect()
    }

    /// The questions (with `digest_id` telling whether an earlier issue
    /// carried them) and the not-yet-carried answers for the next issue;
    /// unanswered questions asked since `unanswered_since` ride along.
    pub async fn digest_material(
        &self,
        list_id: i64,
        unanswered_since: i64,
    ) -> Result<(Vec<(QuestionRow, bool)>, Vec<AnswerRow>)> {
        let qs = sqlx::query(SELECT_DIGEST_QUESTIONS)
            .bind(list_id)
            .bind(unanswered_since)
            .fetch_all(self.pool())
            .await?;
        let answers = sqlx::query(SELECT_DIGEST_ANSWERS)
            .bind(list_id)
            .fetch_all(self.pool())
            .await?;
        let qs = qs
            .iter()
            .map(|r| {
                Ok((
                    QuestionRow::from_row(r)?,
                    col::<Option<i64>>(r, "digest_id")?.is_some(),
                ))
            })
            .collect::<Result<_>>()?;
        let ans = answers
            .iter()
            .map(AnswerRow::from_row)
            .collect::<Result<_>>()?;
        Ok((qs, ans))
    }

    /// The question of `list_id` whose thread `message_id` (with angle
    /// brackets) belongs to.
    pub async fn thread_question(&self, list_id: i64, message_id: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(SELECT_THREAD_QUESTION)
            .bind(list_id)
            .bind(text(message_id))
            .fetch_optional(self.pool())
            .await?)
    }

    /// An answer to `question_id` already made from the message `message_id`.
    pub async fn answer_by_message_id(
        &self,
        question_id: i64,
        message_id: &str,
    ) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(SELECT_ANSWER_BY_MESSAGE_ID)
            .bind(question_id)
            .bind(text(message_id))
            .fetch_optional(self.pool())
            .await?)
    }

    /// Marks what a sent issue carried, inside the transaction that sends it.
    pub async fn mark_digested(
        &self,
        tx: &mut Tx,
        digest_id: i64,
        question_ids: &[i64],
        answer_ids: &[i64],
    ) -> Result<()> {
        for (sql, ids) in [
            (MARK_QUESTION_DIGESTED, question_ids),
            (MARK_ANSWER_DIGESTED, answer_ids),
        ] {
            for &id in ids {
                sqlx::query(sql)
                    .bind(id)
                    .bind(digest_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The assembly reads through indexes on SQLite: no statement scans
    /// questions or answers whole (an issue's cost would grow with every
    /// question the list ever had).
    #[tokio::test]
    async fn assembly_reads_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        for (sql, args) in [(SELECT_DIGEST_QUESTIONS, 2), (SELECT_DIGEST_ANSWERS, 1)] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(explain));
            for n in 0..args {
                q = q.bind(n as i64 + 1);
            }
            let plan: Vec<String> = q
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| col::<String>(r, "detail").unwrap())
                .collect();
            assert!(
                !plan.iter().any(|l| l.starts_with("SCAN")),
                "{sql}\n{}",
                plan.join("\n")
            );
        }
    }
}
