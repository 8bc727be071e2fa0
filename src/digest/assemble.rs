//! Assembly: which questions and answers the next issue holds, in which
//! section. What goes in is decided by what no sent issue carried yet, so a
//! post is in exactly one issue as news however late its insert commits.

use super::{display_name, Issue, Item, ItemAnswer, Section};
use crate::app::{Ctx, List};

/// Unanswered questions older than this drop out of the digest.
const UNANSWERED_FOR_MS: i64 = 30 * 24 * 3600 * 1000;

/// The next issue as of `now`: new questions with their answers, new
/// answers to earlier questions, and recent questions still waiting.
pub async fn assemble(ctx: &Ctx, list: &List, now: i64) -> anyhow::Result<Issue> {
    let (questions, answers) = ctx
        .store
        .digest_material(list.id(), now - UNANSWERED_FOR_MS)
        .await?;
    let mut items: Vec<Item> = questions
        .into_iter()
        .map(|(q, carried_before)| {
            let shown: Vec<ItemAnswer> = answers
                .iter()
                .filter(|a| a.question_id == q.id)
                .map(|a| ItemAnswer {
                    answer_id: a.id,
                    author: display_name(&a.author_name, &a.author_email),
                    body: a.body.clone(),
                    answered_at: a.created_at,
                    new: true,
                })
                .collect();
            let section = match (carried_before, shown.is_empty()) {
                (false, _) => Section::New,
                (true, false) => Section::Updated,
                (true, true) => Section::Unanswered,
            };
            Item {
                question_id: q.id,
                section,
                subject: q.subject,
                body: q.body,
                author: display_name(&q.author_name, &q.author_email),
                asked_at: q.created_at,
                answers: shown,
                featured: false,
                note: String::new(),
            }
        })
        .collect();
    items.sort_by_key(|i| (i.section as u8, i.asked_at, i.question_id));
    Ok(Issue { items })
}
