//! Questions and answers.

use super::{col, Result, Store};
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
/// Questions for a digest window: asked in the window, answered in the
/// window, or asked within `$4` and still unanswered at its end.
const SELECT_DIGEST_QUESTIONS: &str = "SELECT q.id, q.list_id, q.member_id, q.subject, q.body, q.message_id, q.created_at, m.email AS author_email, m.name AS author_name \
     FROM questions q JOIN members m ON m.id = q.member_id \
     WHERE q.list_id = $1 AND q.created_at < $3 AND ( \
        q.created_at >= $2 \
        OR EXISTS (SELECT 1 FROM answers a WHERE a.question_id = q.id AND a.created_at >= $2 AND a.created_at < $3) \
        OR (q.created_at >= $4 AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.question_id = q.id AND a.created_at < $3))) \
     ORDER BY q.created_at, q.id";
/// Answers (up to the window's end) to the questions of a digest window.
const SELECT_DIGEST_ANSWERS: &str = "SELECT a.id, a.question_id, a.member_id, a.body, a.message_id, a.created_at, m.email AS author_email, m.name AS author_name \
     FROM answers a JOIN members m ON m.id = a.member_id JOIN questions q ON q.id = a.question_id \
     WHERE q.list_id = $1 AND q.created_at < $2 AND a.created_at < $2 ORDER BY a.created_at, a.id";

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
            .bind(q.subject)
            .bind(q.body)
            .bind(q.message_id)
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
            .bind(a.body)
            .bind(a.message_id)
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

    /// Questions and their answers for the window `[since, until)`;
    /// unanswered questions asked since `unanswered_since` are carried along.
    pub async fn digest_material(
        &self,
        list_id: i64,
        since: i64,
        until: i64,
        unanswered_since: i64,
    ) -> Result<(Vec<QuestionRow>, Vec<AnswerRow>)> {
        let qs = sqlx::query(SELECT_DIGEST_QUESTIONS)
            .bind(list_id)
            .bind(since)
            .bind(until)
            .bind(unanswered_since)
            .fetch_all(self.pool())
            .await?;
        let answers = sqlx::query(SELECT_DIGEST_ANSWERS)
            .bind(list_id)
            .bind(until)
            .fetch_all(self.pool())
            .await?;
        let qs: Vec<QuestionRow> = qs
            .iter()
            .map(QuestionRow::from_row)
            .collect::<Result<_>>()?;
        let mut ans: Vec<AnswerRow> = answers
            .iter()
            .map(AnswerRow::from_row)
            .collect::<Result<_>>()?;
        ans.retain(|a| qs.iter().any(|q| q.id == a.question_id));
        Ok((qs, ans))
    }
}
