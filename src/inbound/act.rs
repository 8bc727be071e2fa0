//! Acting on a classified, routed message: the list commands of DESIGN.md's
//! address table. Bounces and auto-replies are recorded, never answered.

use super::classify::{classify, BounceReport, Classification, DsnAction};
use super::pipeline::Incoming;
use crate::address::Command;
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::membership::{self, Confirmed, Subscribed};
use crate::notices::{self, Notice};
use crate::posts::{self, Post};
use crate::store::inbound::Outcome;
use crate::store::members::MemberRow;
use crate::tokens::Purpose;
use mail_parser::Message;

const DAY_MS: i64 = 24 * 3600 * 1000;
const HARD_BOUNCE_POINTS: i64 = 2;
const SOFT_BOUNCE_POINTS: i64 = 1;

fn outcome(list: Option<&List>, kind: &str, status: &str, reason: impl Into<String>) -> Outcome {
    Outcome {
        list_id: list.map(List::id),
        kind: kind.into(),
        status: status.into(),
        reason: reason.into(),
    }
}

pub async fn act(
    ctx: &Ctx,
    inbound_id: i64,
    m: &Incoming<'_>,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let Some((list, command)) = ctx.route(m.recipient).await? else {
        return Ok(outcome(
            None,
            "ordinary",
            "rejected",
            format!("{} is not an address of any list", m.recipient),
        ));
    };
    let l = Some(&list);
    match classify(msg, m.mail_from) {
        Classification::Bounce(report) => bounce(ctx, &list, &command, inbound_id, &report).await,
        Classification::Complaint(c) => {
            let who = c.original_recipient.clone().unwrap_or_default();
            let member = member_from_verp(ctx, &list, &command).await?;
            let member = match member {
                Some(m) => Some(m),
                None => find_member(ctx, &list, &who).await?,
            };
            match member {
                Some(mem) => {
                    membership::leave(ctx, &mem, false, &format!("inbound:{inbound_id}")).await?;
                    Ok(outcome(
                        l,
                        "complaint",
                        "accepted",
                        format!(
                            "{} complaint from {}: unsubscribed",
                            c.feedback_type, mem.email
                        ),
                    ))
                }
                None => Ok(outcome(
                    l,
                    "complaint",
                    "ignored",
                    format!("{} complaint for an unknown recipient", c.feedback_type),
                )),
            }
        }
        Classification::AutoReply { reason } => Ok(outcome(
            l,
            "auto-reply",
            "ignored",
            format!("automatic reply ({reason}); never answered"),
        )),
        Classification::Ordinary => ordinary(ctx, &list, command, inbound_id, msg).await,
    }
}

async fn ordinary(
    ctx: &Ctx,
    list: &List,
    command: Command,
    inbound_id: i64,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let l = Some(list);
    let from = msg
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .and_then(|a| EmailAddress::parse(a).ok());
    let Some(from) = from else {
        return Ok(outcome(l, "ordinary", "held", "no usable From address"));
    };
    if list.address.route(from.as_str()).is_some() {
        return Ok(outcome(
            l,
            "ordinary",
            "ignored",
            "mail from the list's own address (a loop); not answered",
        ));
    }
    let cause = format!("inbound:{inbound_id}");
    let name = msg
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.name())
        .unwrap_or("")
        .trim()
        .to_string();
    match command {
        Command::Subscribe => match membership::request(ctx, list, &from, &name, &cause).await? {
            Subscribed::ConfirmationSent(_) => Ok(outcome(
                l,
                "ordinary",
                "accepted",
                format!("confirmation sent to {from}"),
            )),
            Subscribed::AlreadyMember(_) => Ok(outcome(
                l,
                "ordinary",
                "accepted",
                format!("{from} is already a member; told so"),
            )),
        },
        Command::Unsubscribe => match find_member(ctx, list, from.as_str()).await? {
            Some(m) if membership::leave(ctx, &m, true, &cause).await? => Ok(outcome(
                l,
                "ordinary",
                "accepted",
                format!("{from} unsubscribed"),
            )),
            // Silence towards non-members: answering would let anyone aim our mail at a third party.
            _ => Ok(outcome(
                l,
                "ordinary",
                "ignored",
                format!("{from} is not a member"),
            )),
        },
        Command::Help => {
            if ctx
                .store
                .take_throttle(list.id(), &from.key(), "help", DAY_MS)
                .await?
            {
                notices::send(ctx, list, from.as_str(), None, &Notice::Help, &cause).await?;
            }
            Ok(outcome(l, "ordinary", "accepted", "help sent"))
        }
        Command::Confirm(token) => match membership::confirm(ctx, &token).await? {
            Confirmed::Activated(m) => Ok(outcome(
                l,
                "ordinary",
                "accepted",
                format!("{} confirmed", m.email),
            )),
            Confirmed::AlreadyActive(m) => Ok(outcome(
                l,
                "ordinary",
                "ignored",
                format!("{} was already confirmed", m.email),
            )),
            Confirmed::Expired => Ok(outcome(
                l,
                "ordinary",
                "rejected",
                "the subscription request expired; subscribe again",
            )),
            Confirmed::Invalid => Ok(outcome(
                l,
                "ordinary",
                "held",
                "confirmation token failed verification",
            )),
        },
        Command::Post => post(ctx, list, &from, inbound_id, msg).await,
        Command::Reply(token) => reply(ctx, list, &from, &token, inbound_id, msg).await,
        Command::Bounce(_) => Ok(outcome(
            l,
            "ordinary",
            "ignored",
            "mail to a bounce address that is not a delivery report",
        )),
    }
}

async fn post(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    inbound_id: i64,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let l = Some(list);
    let subject = msg.subject().unwrap_or("").trim().to_string();
    let member = find_member(ctx, list, from.as_str()).await?;
    let Some(member) = member.filter(MemberRow::is_active) else {
        if ctx
            .store
            .take_throttle(list.id(), &from.key(), "not-member", DAY_MS)
            .await?
        {
            let notice = Notice::NotMember {
                subject: subject.clone(),
            };
            notices::send(
                ctx,
                list,
                from.as_str(),
                None,
                &notice,
                &format!("inbound:{inbound_id}"),
            )
            .await?;
        }
        return Ok(outcome(
            l,
            "ordinary",
            "held",
            format!("{from} is not a member; held for moderation"),
        ));
    };
    let body = body_text(msg);
    if body.is_empty() {
        return Ok(outcome(l, "ordinary", "held", "the question has no text"));
    }
    let message_id = own_message_id(msg, "q", inbound_id, list);
    let id = posts::ask(
        ctx,
        list,
        &member,
        &Post {
            inbound_id: Some(inbound_id),
            subject: &subject,
            body: &body,
            message_id: &message_id,
        },
    )
    .await?;
    Ok(outcome(
        l,
        "ordinary",
        "accepted",
        format!("question {id} posted"),
    ))
}

async fn reply(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    token: &str,
    inbound_id: i64,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    let l = Some(list);
    let Some(ids) = ctx.keys.verify(Purpose::Reply, token, 2) else {
        return Ok(outcome(
            l,
            "ordinary",
            "held",
            "reply token failed verification",
        ));
    };
    let (Some(question), Some(member)) = (
        ctx.store.question(ids[0]).await?,
        ctx.store.member(ids[1]).await?,
    ) else {
        return Ok(outcome(
            l,
            "ordinary",
            "held",
            "reply token names a question or member that no longer exists",
        ));
    };
    if question.list_id != list.id() || member.list_id != list.id() {
        return Ok(outcome(
            l,
            "ordinary",
            "held",
            "reply token belongs to another list",
        ));
    }
    if !member.email.eq_ignore_ascii_case(from.as_str()) {
        return Ok(outcome(
            l,
            "ordinary",
            "held",
            format!(
                "From {from} does not match the reply token's member {}",
                member.email
            ),
        ));
    }
    if !member.is_active() {
        return Ok(outcome(
            l,
            "ordinary",
            "held",
            format!(
                "{} is {}, not an active member",
                member.email, member.status
            ),
        ));
    }
    let body = body_text(msg);
    if body.is_empty() {
        return Ok(outcome(
            l,
            "ordinary",
            "held",
            "the answer has no text of its own (only quoted text or a signature)",
        ));
    }
    let message_id = own_message_id(msg, "a", inbound_id, list);
    let id = posts::answer(
        ctx,
        list,
        &question,
        &member,
        &Post {
            inbound_id: Some(inbound_id),
            subject: "",
            body: &body,
            message_id: &message_id,
        },
    )
    .await?;
    Ok(outcome(
        l,
        "ordinary",
        "accepted",
        format!("answer {id} to question {} posted", question.id),
    ))
}

/// What the member wrote: the text part (HTML converted when there is no
/// text), without quoted history or signature.
pub fn body_text(msg: &Message<'_>) -> String {
    let has_plain = msg.text_body.iter().any(|&i| {
        msg.part(i)
            .map(|p| matches!(p.body, mail_parser::PartType::Text(_)))
            .unwrap_or(false)
    });
    let text = if has_plain {
        msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
    } else if let Some(html) = msg.body_html(0) {
        crate::trim::html_to_text(&html)
    } else {
        msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
    };
    crate::trim::trim_reply(&text).text
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

async fn find_member(ctx: &Ctx, list: &List, address: &str) -> anyhow::Result<Option<MemberRow>> {
    let Ok(email) = EmailAddress::parse(address) else {
        return Ok(None);
    };
    Ok(ctx.store.member_by_email(list.id(), &email.key()).await?)
}

/// The member a VERP bounce address names, through the outbox row.
async fn member_from_verp(
    ctx: &Ctx,
    list: &List,
    command: &Command,
) -> anyhow::Result<Option<MemberRow>> {
    let Command::Bounce(token) = command else {
        return Ok(None);
    };
    let Some(ids) = ctx.keys.verify(Purpose::Bounce, token, 1) else {
        return Ok(None);
    };
    let Some(row) = ctx.store.outbox_row(ids[0]).await? else {
        return Ok(None);
    };
    match row.member_id {
        Some(id) => Ok(ctx
            .store
            .member(id)
            .await?
            .filter(|m| m.list_id == list.id())),
        None => find_member(ctx, list, &row.recipient).await,
    }
}

async fn bounce(
    ctx: &Ctx,
    list: &List,
    command: &Command,
    inbound_id: i64,
    report: &BounceReport,
) -> anyhow::Result<Outcome> {
    let l = Some(list);
    let failed: Vec<_> = report
        .recipients
        .iter()
        .filter(|r| r.action == DsnAction::Failed)
        .collect();
    if failed.is_empty() && !report.recipients.is_empty() {
        return Ok(outcome(
            l,
            "bounce",
            "ignored",
            "delivery report without a failure (delayed or delivered)",
        ));
    }
    let hard = failed.iter().any(|r| r.hard);
    let status = failed
        .iter()
        .filter_map(|r| r.status.clone())
        .next()
        .unwrap_or_default();
    let diagnostic = failed
        .iter()
        .filter_map(|r| r.diagnostic.clone())
        .next()
        .unwrap_or_default();
    // Prefer the VERP token: it names the exact delivery even when the
    // remote MTA rewrote or lost the recipient address.
    let mut members = Vec::new();
    if let Some(m) = member_from_verp(ctx, list, command).await? {
        members.push(m);
    } else {
        let candidates = failed
            .iter()
            .filter_map(|r| r.address.clone())
            .chain(report.original_to.iter().cloned());
        for addr in candidates {
            if let Some(m) = find_member(ctx, list, &addr).await? {
                if !members.iter().any(|x: &MemberRow| x.id == m.id) {
                    members.push(m);
                }
            }
        }
    }
    if members.is_empty() {
        return Ok(outcome(
            l,
            "bounce",
            "ignored",
            "bounce for an address that is not a member",
        ));
    }
    let points = if hard {
        HARD_BOUNCE_POINTS
    } else {
        SOFT_BOUNCE_POINTS
    };
    let mut names = Vec::new();
    for m in &members {
        if ctx
            .store
            .insert_bounce(inbound_id, Some(m.id), None, hard, &status, &diagnostic)
            .await?
        {
            ctx.store.add_bounce_points(m.id, points).await?;
        }
        names.push(m.email.clone());
    }
    let kind = if hard { "hard" } else { "soft" };
    Ok(outcome(
        l,
        "bounce",
        "accepted",
        format!("{kind} bounce recorded for {}", names.join(", ")),
    ))
}
