//! Posting by mail: a new question to the list address, an answer to a
//! `+reply-<token>` address, and the replies that reach the list address
//! anyway (reply-all, a reply to the digest or to a notice), which are
//! threaded by their In-Reply-To/References rather than posted as new
//! questions.

use super::{find_member, ordinary_outcome, DAY_MS};
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::notices::{self, Notice};
use crate::posts::{self, Post};
use crate::store::inbound::Outcome;
use crate::store::members::MemberRow;
use crate::store::posts::QuestionRow;
use crate::tokens::Purpose;
use mail_parser::Message;

/// Mail to the list address: a new question, or a reply that belongs to
/// an existing thread.
pub(super) async fn post(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    inbound_id: i64,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let subject = msg.subject().unwrap_or("").trim().to_string();
    let member = find_member(ctx, list, from.as_str()).await?;
    let Some(member) = member.filter(MemberRow::is_active) else {
        return not_member(ctx, list, from, &subject, inbound_id).await;
    };
    let refs = thread_refs(msg);
    for r in &refs {
        if let Some(qid) = ctx.store.thread_question(list.id(), r).await? {
            if let Some(q) = ctx.store.question(qid).await? {
                return answer(ctx, list, &q, &member, inbound_id, msg).await;
            }
        }
    }
    if let Some(kind) = refs.iter().find_map(|r| our_message_kind(list, r)) {
        return reply_to_robot(ctx, list, &member, &subject, kind, inbound_id).await;
    }
    let body = crate::inbound::body::question_text(msg);
    if body.is_empty() {
        return Ok(ordinary_outcome(list, "held", "the question has no text"));
    }
    let message_id = own_message_id(msg, "q", inbound_id, list);
    let post = Post {
        inbound_id: Some(inbound_id),
        subject: &subject,
        body: &body,
        message_id: &message_id,
    };
    let id = posts::ask(ctx, list, &member, &post).await?;
    Ok(ordinary_outcome(
        list,
        "accepted",
        format!("question {id} posted"),
    ))
}

async fn not_member(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    subject: &str,
    inbound_id: i64,
) -> anyhow::Result<Outcome> {
    if ctx
        .store
        .take_throttle(list.id(), &from.key(), "not-member", DAY_MS)
        .await?
    {
        let notice = Notice::NotMember {
            subject: subject.to_string(),
        };
        let cause = format!("inbound:{inbound_id}");
        notices::send(ctx, list, from.as_str(), None, &notice, &cause).await?;
    }
    Ok(ordinary_outcome(
        list,
        "held",
        format!("{from} is not a member; held for moderation"),
    ))
}

/// A reply to the digest as a whole, or to a notice: not a question.
async fn reply_to_robot(
    ctx: &Ctx,
    list: &List,
    member: &MemberRow,
    subject: &str,
    kind: &str,
    inbound_id: i64,
) -> anyhow::Result<Outcome> {
    if kind != "digest" {
        return Ok(ordinary_outcome(
            list,
            "held",
            format!("a reply to a {kind} from the list, not a question; not posted"),
        ));
    }
    if ctx
        .store
        .take_throttle(
            list.id(),
            &member.email.to_lowercase(),
            "digest-reply",
            DAY_MS,
        )
        .await?
    {
        let notice = Notice::DigestReply {
            subject: subject.to_string(),
        };
        let cause = format!("inbound:{inbound_id}");
        notices::send(ctx, list, &member.email, Some(member.id), &notice, &cause).await?;
    }
    Ok(ordinary_outcome(
        list,
        "held",
        "a reply to the digest as a whole (it cannot tell which question it answers); the sender was told to use a question's reply address",
    ))
}

/// Mail to `+reply-<token>`: an answer from the member the token names.
pub(super) async fn reply(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    token: &str,
    inbound_id: i64,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let held = |why: String| Ok(ordinary_outcome(list, "held", why));
    let Some(ids) = ctx.keys.verify(Purpose::Reply, token, 2) else {
        return held("reply token failed verification".into());
    };
    let (Some(question), Some(member)) = (
        ctx.store.question(ids[0]).await?,
        ctx.store.member(ids[1]).await?,
    ) else {
        return held("reply token names a question or member that no longer exists".into());
    };
    if question.list_id != list.id() || member.list_id != list.id() {
        return held("reply token belongs to another list".into());
    }
    if !member.email.eq_ignore_ascii_case(from.as_str()) {
        // The sender is told, without naming whose address it was.
        let why = format!(
            "the address you replied to was made for another member's subscription. Reply from the address that received the question, or subscribe {from} and answer from your own digest."
        );
        tell_held(ctx, list, from.as_str(), None, msg, &why, inbound_id).await?;
        return held(format!(
            "From {from} does not match the reply token's member {}",
            member.email
        ));
    }
    if !member.is_active() {
        return held(format!(
            "{} is {}, not an active member",
            member.email, member.status
        ));
    }
    answer(ctx, list, &question, &member, inbound_id, msg).await
}

/// Posts `msg` as `member`'s answer to `question`, once per message even
/// when it reached several list addresses (reply-all).
async fn answer(
    ctx: &Ctx,
    list: &List,
    question: &QuestionRow,
    member: &MemberRow,
    inbound_id: i64,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let message_id = own_message_id(msg, "a", inbound_id, list);
    if let Some(id) = ctx
        .store
        .answer_by_message_id(question.id, &message_id)
        .await?
    {
        return Ok(ordinary_outcome(
            list,
            "ignored",
            format!("the same message was already posted as answer {id} (it reached several list addresses)"),
        ));
    }
    let body = crate::inbound::body::answer_text(msg);
    if body.is_empty() {
        let why = "it has no text of its own, only quoted text or a signature. Write your answer above the quoted text and send it again.";
        tell_held(
            ctx,
            list,
            &member.email,
            Some(member.id),
            msg,
            why,
            inbound_id,
        )
        .await?;
        return Ok(ordinary_outcome(
            list,
            "held",
            "the answer has no text of its own (only quoted text or a signature)",
        ));
    }
    let post = Post {
        inbound_id: Some(inbound_id),
        subject: "",
        body: &body,
        message_id: &message_id,
    };
    let id = posts::answer(ctx, list, question, member, &post).await?;
    Ok(ordinary_outcome(
        list,
        "accepted",
        format!("answer {id} to question {} posted", question.id),
    ))
}

/// Tells the author of a held answer why, once a day per address.
async fn tell_held(
    ctx: &Ctx,
    list: &List,
    to: &str,
    member_id: Option<i64>,
    msg: &Message<'_>,
    why: &str,
    inbound_id: i64,
) -> anyhow::Result<()> {
    if ctx
        .store
        .take_throttle(list.id(), &to.to_lowercase(), "reply-held", DAY_MS)
        .await?
    {
        let notice = Notice::ReplyHeld {
            subject: msg.subject().unwrap_or("").trim().to_string(),
            why: why.to_string(),
        };
        let cause = format!("inbound:{inbound_id}");
        notices::send(ctx, list, to, member_id, &notice, &cause).await?;
    }
    Ok(())
}

/// The Message-IDs a reply names, nearest first, with angle brackets.
fn thread_refs(msg: &Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |v: &mail_parser::HeaderValue<'_>| {
        let ids: Vec<String> = match v {
            mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
            mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        };
        for id in ids.into_iter().rev() {
            let id = format!("<{}>", id.trim().trim_matches(['<', '>']));
            if id.len() > 2 && !out.contains(&id) {
                out.push(id);
            }
        }
    };
    add(msg.in_reply_to());
    add(msg.references());
    out
}

/// The kind of a gazette-made Message-ID on this list (`digest`, `notice`).
fn our_message_kind<'a>(list: &List, message_id: &'a str) -> Option<&'a str> {
    let (local, domain) = message_id.trim_matches(['<', '>']).rsplit_once('@')?;
    if !domain.eq_ignore_ascii_case(list.address.domain()) {
        return None;
    }
    let kind = local.split('.').next()?;
    ["digest", "notice"].contains(&kind).then_some(kind)
}

fn own_message_id(msg: &Message<'_>, kind: &str, inbound_id: i64, list: &List) -> String {
    match msg
        .message_id()
        .filter(|id| !id.is_empty() && id.len() < 250 && !id.contains(['<', '>', ' ']))
    {
        Some(id) => format!("<{id}>"),
        None => format!("<{kind}.{inbound_id}@{}>", list.address.domain()),
    }
}
