//! Posting by mail: a new question to the list address, an answer to a
//! `+reply-<token>` address, and the replies that reach the list address
//! anyway (reply-all, a reply to the digest or to a notice), which are
//! threaded by their In-Reply-To/References rather than posted as new
//! questions.

use super::{find_member, ordinary_outcome, Sender, DAY_MS};
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::notices::{self, quoted_subject, Notice};
use crate::posts::{self, Post};
use crate::store::inbound::Outcome;
use crate::store::members::MemberRow;
use crate::store::posts::QuestionRow;
use crate::store::{InboundStatus, OutboxKind, StoredEnum};
use mail_parser::Message;

/// Mail to the list address: a new question, or a reply that belongs to
/// an existing thread.
pub(super) async fn post(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    inbound_id: i64,
    sender: &Sender<'_>,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let subject = msg.subject().unwrap_or("").trim().to_string();
    let member = find_member(ctx, list, from.as_str()).await?;
    let Some(member) = member.filter(MemberRow::is_active) else {
        return not_member(ctx, list, from, &subject, inbound_id, sender).await;
    };
    // Questions and answers appear under the member's name: the sender
    // must be them.
    if let Err(why) = sender.author(from) {
        return Ok(ordinary_outcome(
            list,
            InboundStatus::Held,
            format!("not posted as {from}: {why}"),
        ));
    }
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
        return Ok(ordinary_outcome(
            list,
            InboundStatus::Held,
            "the question has no text",
        ));
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
        InboundStatus::Accepted,
        format!("question {id} posted"),
    ))
}

/// Mail to the list from someone who is not a member: held. The sender
/// is told only at the envelope address, when it is the From address and
/// not forged: never backscatter to whoever a stranger wrote in From.
async fn not_member(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    subject: &str,
    inbound_id: i64,
    sender: &Sender<'_>,
) -> anyhow::Result<Outcome> {
    let told = match sender.notice_address(from) {
        Ok(to) => {
            let notice = Notice::NotMember {
                subject: quoted_subject(subject),
            };
            let cause = format!("inbound:{inbound_id}");
            notices::send_throttled(
                ctx,
                list,
                to.as_str(),
                None,
                &notice,
                &cause,
                "not-member",
                DAY_MS,
            )
            .await?;
            String::new()
        }
        Err(why) => format!("; not told ({why})"),
    };
    Ok(ordinary_outcome(
        list,
        InboundStatus::Held,
        format!("{from} is not a member; held for moderation{told}"),
    ))
}

/// A reply to the digest as a whole, or to a notice: not a question.
async fn reply_to_robot(
    ctx: &Ctx,
    list: &List,
    member: &MemberRow,
    subject: &str,
    kind: OutboxKind,
    inbound_id: i64,
) -> anyhow::Result<Outcome> {
    if kind != OutboxKind::Digest {
        return Ok(ordinary_outcome(
            list,
            InboundStatus::Held,
            format!("a reply to a {kind} from the list, not a question; not posted"),
        ));
    }
    let notice = Notice::DigestReply {
        subject: quoted_subject(subject),
    };
    let cause = format!("inbound:{inbound_id}");
    notices::send_throttled(
        ctx,
        list,
        &member.email,
        Some(member.id),
        &notice,
        &cause,
        "digest-reply",
        DAY_MS,
    )
    .await?;
    Ok(ordinary_outcome(
        list,
        InboundStatus::Held,
        "a reply to the digest as a whole (it cannot tell which question it answers); the sender was told to use a question's reply address",
    ))
}

/// Mail to `+reply-<token>`: an answer from the member the token names,
/// posted when the sender is that member, authenticated, and the address
/// has not expired.
pub(super) async fn reply(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    token: &str,
    inbound_id: i64,
    sender: &Sender<'_>,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let held = |why: String| Ok(ordinary_outcome(list, InboundStatus::Held, why));
    let Some(t) = ctx.keys.verify_reply(token) else {
        return held("reply token failed verification".into());
    };
    let (Some(question), Some(member)) = (
        ctx.store.question(t.question_id).await?,
        ctx.store.member(t.member_id).await?,
    ) else {
        return held("reply token names a question or member that no longer exists".into());
    };
    if question.list_id != list.id() || member.list_id != list.id() {
        return held("reply token belongs to another list".into());
    }
    if !member.email.eq_ignore_ascii_case(from.as_str()) {
        // The sender is told, without naming whose address it was, if
        // they can be told without backscatter.
        let told = match sender.notice_address(from) {
            Ok(to) => {
                let why = format!(
                    "the address you replied to was made for another member's subscription. Reply from the address that received the question, or subscribe {from} and answer from your own digest."
                );
                tell_held(ctx, list, to.as_str(), None, msg, &why, inbound_id).await?;
                String::new()
            }
            Err(why) => format!("; not told ({why})"),
        };
        return held(format!(
            "From {from} does not match the reply token's member {}{told}",
            member.email
        ));
    }
    if let Err(why) = sender.author(from) {
        return held(format!("not posted as {from}: {why}"));
    }
    if !member.is_active() {
        return held(format!(
            "{} is {}, not an active member",
            member.email, member.status
        ));
    }
    let max_age = ctx.config.reply_token_max_age.as_millis() as i64;
    if t.expired(question.created_at, max_age, crate::now_ms()) {
        return late(ctx, list, &question, &member, &t, inbound_id).await;
    }
    answer(ctx, list, &question, &member, inbound_id, msg).await
}

/// A reply to an address past its age: held, and the member (whose
/// reply it is: checked before) is sent a fresh address, once a day.
async fn late(
    ctx: &Ctx,
    list: &List,
    question: &QuestionRow,
    member: &MemberRow,
    token: &crate::tokens::ReplyToken,
    inbound_id: i64,
) -> anyhow::Result<Outcome> {
    let notice = Notice::ReplyExpired {
        question_id: question.id,
    };
    let cause = format!("inbound:{inbound_id}");
    let sent = notices::send_throttled(
        ctx,
        list,
        &member.email,
        Some(member.id),
        &notice,
        &cause,
        &format!("reply-expired:{}", question.id),
        DAY_MS,
    )
    .await?;
    let made = token.issued_ms.map_or_else(
        || "before reply addresses were dated".to_string(),
        |ms| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|d| format!("on {}", d.format("%Y-%m-%d")))
                .unwrap_or_default()
        },
    );
    let days = ctx.config.reply_token_max_age.as_secs() / 86_400;
    let told = if sent {
        "sent a fresh one"
    } else {
        "sent a fresh one earlier today"
    };
    Ok(ordinary_outcome(
        list,
        InboundStatus::Held,
        format!(
            "the reply address (made {made}) expired after {days} days; {} was {told}",
            member.email
        ),
    ))
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
            InboundStatus::Ignored,
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
            InboundStatus::Held,
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
        InboundStatus::Accepted,
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
    let notice = Notice::ReplyHeld {
        subject: quoted_subject(msg.subject().unwrap_or("")),
        why: why.to_string(),
    };
    let cause = format!("inbound:{inbound_id}");
    notices::send_throttled(
        ctx,
        list,
        to,
        member_id,
        &notice,
        &cause,
        "reply-held",
        DAY_MS,
    )
    .await?;
    Ok(())
}

/// The most Message-IDs of `References` looked up: a reply names its
/// thread in the nearest few; a header of thousands is someone's attack.
const MAX_THREAD_REFS: usize = 20;

/// The Message-IDs a reply names, nearest first, with angle brackets, at
/// most [`MAX_THREAD_REFS`], none longer than our own ids can be.
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
            if id.len() > 2 && id.len() <= 252 && !out.contains(&id) && out.len() < MAX_THREAD_REFS
            {
                out.push(id);
            }
        }
    };
    add(msg.in_reply_to());
    add(msg.references());
    out
}

/// The kind of a gazette-made Message-ID on this list (a digest or a
/// notice: the mail that is not a post).
fn our_message_kind(list: &List, message_id: &str) -> Option<OutboxKind> {
    let (local, domain) = message_id.trim_matches(['<', '>']).rsplit_once('@')?;
    if !domain.eq_ignore_ascii_case(list.address.domain()) {
        return None;
    }
    let kind = OutboxKind::parse(local.split('.').next()?).ok()?;
    matches!(kind, OutboxKind::Digest | OutboxKind::Notice).then_some(kind)
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
