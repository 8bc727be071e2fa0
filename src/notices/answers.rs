//! Answers reach the asker of a question folded: the first answer is told
//! at once; answers that come within the hour after a notice wait, and
//! one notice then carries all of them. Twenty answers in an afternoon
//! make a handful of notices, not twenty.
//!
//! `answer_notices` keeps, per question, the last answer told and when;
//! `serve` calls [`flush`] every minute to send what has waited its hour.
//! A notice is queued before the record moves on, so a failure leaves the
//! answers owed rather than lost.

use super::{send, Notice};
use crate::app::{Ctx, List};
use crate::store::members::MemberRow;
use crate::store::posts::QuestionRow;

/// At most one notice about a question's answers per this window.
pub const WINDOW_MS: i64 = 3600 * 1000;

/// Answer `answer_id` to `question` was posted; `asker` is to be told.
pub async fn posted(
    ctx: &Ctx,
    list: &List,
    question: &QuestionRow,
    asker: &MemberRow,
    answer_id: i64,
) -> anyhow::Result<()> {
    let now = crate::now_ms();
    let Some(row) = ctx.store.answer_notice(question.id).await? else {
        tell(ctx, list, question, asker, 0, answer_id).await?;
        if !ctx
            .store
            .insert_answer_notice(question.id, answer_id, now)
            .await?
        {
            // Another answer was told at the same moment: ours may be owed.
            ctx.store
                .set_answer_notice_due(question.id, now + WINDOW_MS)
                .await?;
        }
        return Ok(());
    };
    if answer_id <= row.last_answer_id {
        return Ok(()); // told already (this answer is being handled again)
    }
    if row.notified_at + WINDOW_MS <= now {
        tell(ctx, list, question, asker, row.last_answer_id, answer_id).await?;
        if !ctx
            .store
            .advance_answer_notice(question.id, row.last_answer_id, answer_id, now)
            .await?
        {
            ctx.store
                .set_answer_notice_due(question.id, now + WINDOW_MS)
                .await?;
        }
        return Ok(());
    }
    ctx.store
        .set_answer_notice_due(question.id, row.notified_at + WINDOW_MS)
        .await?;
    Ok(())
}

/// Sends the notices that have waited their hour by `now`; returns how
/// many were sent.
pub async fn flush(ctx: &Ctx, now: i64) -> anyhow::Result<usize> {
    let mut sent = 0;
    for row in ctx.store.due_answer_notices(now).await? {
        let through = ctx.store.latest_answer_id(row.question_id).await?;
        let owed = through.filter(|&t| t > row.last_answer_id);
        let (Some(through), Some(question)) = (owed, ctx.store.question(row.question_id).await?)
        else {
            ctx.store.clear_answer_notice_due(row.question_id).await?;
            continue;
        };
        let asker = ctx
            .store
            .member(question.member_id)
            .await?
            .filter(MemberRow::is_active);
        let list = ctx.store.list_by_id(question.list_id).await?;
        let (Some(asker), Some(list)) = (asker, list) else {
            ctx.store.clear_answer_notice_due(row.question_id).await?;
            continue;
        };
        let list = ctx.list(list);
        tell(ctx, &list, &question, &asker, row.last_answer_id, through).await?;
        ctx.store
            .advance_answer_notice(question.id, row.last_answer_id, through, now)
            .await?;
        sent += 1;
    }
    Ok(sent)
}

/// Queues the notice of the answers in (after, through]. Keyed by
/// `after`, so two processes telling the same answers queue one notice.
async fn tell(
    ctx: &Ctx,
    list: &List,
    question: &QuestionRow,
    asker: &MemberRow,
    after: i64,
    through: i64,
) -> anyhow::Result<()> {
    let notice = Notice::AnswersToAsker {
        question_id: question.id,
        after,
        through,
    };
    let cause = format!("answers:{}:{after}", question.id);
    send(ctx, list, &asker.email, Some(asker.id), &notice, &cause).await?;
    Ok(())
}
