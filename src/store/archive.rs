//! The public archive's reading: questions and answers that a sent issue
//! carried (never what editors left out or have not sent yet), with their
//! authors' names and never their addresses.

use super::{col, Result, Store};

/// A published question in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedQuestion {
    pub id: i64,
    pub subject: String,
    pub body: String,
    pub author_name: String,
    pub created_at: i64,
    /// The issue that first carried it.
    pub digest_id: i64,
    pub answers: i64,
}

/// A published answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedAnswer {
    pub id: i64,
    pub body: String,
    pub author_name: String,
    pub created_at: i64,
}

const QUESTIONS: &str = "SELECT q.id, q.subject, q.body, q.created_at, q.digest_id, m.name AS author_name, \
     (SELECT COUNT(*) FROM answers a WHERE a.question_id = q.id AND a.digest_id IS NOT NULL) AS answers \
     FROM questions q JOIN members m ON m.id = q.member_id \
     WHERE q.list_id = $1 AND q.digest_id IS NOT NULL ORDER BY q.created_at DESC, q.id DESC LIMIT $2";
const QUESTION: &str = "SELECT q.id, q.subject, q.body, q.created_at, q.digest_id, m.name AS author_name, \
     (SELECT COUNT(*) FROM answers a WHERE a.question_id = q.id AND a.digest_id IS NOT NULL) AS answers \
     FROM questions q JOIN members m ON m.id = q.member_id \
     WHERE q.list_id = $1 AND q.id = $2 AND q.digest_id IS NOT NULL";
const ANSWERS: &str = "SELECT a.id, a.body, a.created_at, m.name AS author_name FROM answers a JOIN members m ON m.id = a.member_id \
     WHERE a.question_id = $1 AND a.digest_id IS NOT NULL ORDER BY a.created_at, a.id";

fn question(r: &sqlx::any::AnyRow) -> Result<PublishedQuestion> {
    Ok(PublishedQuestion {
        id: col(r, "id")?,
        subject: col(r, "subject")?,
        body: col(r, "body")?,
        author_name: col(r, "author_name")?,
        created_at: col(r, "created_at")?,
        digest_id: col(r, "digest_id")?,
        answers: col(r, "answers")?,
    })
}

impl Store {
    /// The list's published questions, newest first.
    pub async fn published_questions(
        &self,
        list_id: i64,
        limit: i64,
    ) -> Result<Vec<PublishedQuestion>> {
        let rows = sqlx::query(QUESTIONS)
            .bind(list_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(question).collect()
    }

    pub async fn published_question(
        &self,
        list_id: i64,
        id: i64,
    ) -> Result<Option<PublishedQuestion>> {
        let row = sqlx::query(QUESTION)
            .bind(list_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(question).transpose()
    }

    pub async fn published_answers(&self, question_id: i64) -> Result<Vec<PublishedAnswer>> {
        let rows = sqlx::query(ANSWERS)
            .bind(question_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PublishedAnswer {
                    id: col(r, "id")?,
                    body: col(r, "body")?,
                    author_name: col(r, "author_name")?,
                    created_at: col(r, "created_at")?,
                })
            })
            .collect()
    }
}
