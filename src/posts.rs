//! Posting: a member's question to the list, and answers to questions.
//! Both are stored, acknowledged (within the notice budgets of
//! [`crate::notices`]), and fanned out at once to members who chose to
//! get every post.

use crate::app::{Ctx, List};
use crate::notices;
use crate::store::members::MemberRow;
use crate::store::posts::{NewAnswer, NewQuestion, QuestionRow};
use crate::store::OutboxKind;

pub struct Post<'a> {
    pub inbound_id: Option<i64>,
    pub subject: &'a str,
    pub body: &'a str,
    /// The author's Message-ID, kept so threads hold together.
    pub message_id: &'a str,
}

pub async fn ask(
    ctx: &Ctx,
    list: &List,
    author: &MemberRow,
    post: &Post<'_>,
) -> anyhow::Result<i64> {
    let subject = if post.subject.trim().is_empty() {
        "(no subject)"
    } else {
        post.subject.trim()
    };
    let id = ctx
        .store
        .insert_question(&NewQuestion {
            list_id: list.id(),
            member_id: author.id,
            inbound_id: post.inbound_id,
            subject,
            body: post.body,
            message_id: post.message_id,
        })
        .await?;
    notices::acknowledge(ctx, list, author, id).await?;
    fan_out(ctx, list, OutboxKind::Post, id, &[author.id]).await?;
    Ok(id)
}

pub async fn answer(
    ctx: &Ctx,
    list: &List,
    question: &QuestionRow,
    author: &MemberRow,
    post: &Post<'_>,
) -> anyhow::Result<i64> {
    let id = ctx
        .store
        .insert_answer(&NewAnswer {
            question_id: question.id,
            member_id: author.id,
            inbound_id: post.inbound_id,
            body: post.body,
            message_id: post.message_id,
        })
        .await?;
    let mut skip = vec![author.id];
    if question.member_id != author.id {
        if let Some(asker) = ctx
            .store
            .member(question.member_id)
            .await?
            .filter(|m| m.is_active())
        {
            notices::answers::posted(ctx, list, question, &asker, id).await?;
            skip.push(asker.id);
        }
    }
    fan_out(ctx, list, OutboxKind::Answer, id, &skip).await?;
    Ok(id)
}

/// Queues a copy of post `ref_id` for every member in "every post" mode.
async fn fan_out(
    ctx: &Ctx,
    list: &List,
    kind: OutboxKind,
    ref_id: i64,
    skip: &[i64],
) -> anyhow::Result<()> {
    // One statement, like a digest's expansion: the SMTP session that
    // delivered the post is waiting on this.
    let (a, b) = (skip[0], skip.get(1).copied().unwrap_or(skip[0]));
    if ctx
        .store
        .expand_every_post(list.id(), kind, ref_id, [a, b])
        .await?
        > 0
    {
        ctx.outbox_wake.notify_waiters();
    }
    Ok(())
}
