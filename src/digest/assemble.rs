//! Assembly: which questions and answers an issue holds, in which section.

use super::{display_name, Issue, Item, ItemAnswer, Section};
use crate::app::{Ctx, List};

/// Unanswered questions older than this drop out of the digest.
const UNANSWERED_FOR_MS: i64 = 30 * 24 * 3600 * 1000;

/// The issue for the window `[since, until)`: new questions with their
/// answers, new answers to earlier questions, and questions still waiting.
pub async fn assemble(ctx: &Ctx, list: &List, since: i64, until: i64) -> anyhow::Result<Issue> {
    let (questions, answers) = ctx
        .store
        .digest_material(list.id(), since, until, until - UNANSWERED_FOR_MS)
        .await?;
    let mut items: Vec<Item> = questions
        .into_iter()
        .map(|q| {
            let all: Vec<ItemAnswer> = answers
                .iter()
                .filter(|a| a.question_id == q.id)
                .map(|a| ItemAnswer {
                    answer_id: a.id,
                    author: display_name(&a.author_name, &a.author_email),
                    body: a.body.clone(),
                    answered_at: a.created_at,
                    new: a.created_at >= since,
                })
                .collect();
            let (section, shown) = if q.created_at >= since {
                (Section::New, all)
            } else if all.iter().any(|a| a.new) {
                // Earlier answers went out in earlier issues.
                (
                    Section::Updated,
                    all.into_iter().filter(|a| a.new).collect(),
                )
            } else {
                (Section::Unanswered, all)
            };
            Item {
                question_id: q.id,
                section,
                subject: q.subject,
                body: q.body,
                author: display_name(&q.author_name, &q.author_email),
                asked_at: q.created_at,
                answers: shown,
            }
        })
        .collect();
    items.sort_by_key(|i| (i.section as u8, i.asked_at, i.question_id));
    Ok(Issue { items })
}
