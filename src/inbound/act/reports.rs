//! Delivery reports and complaints: what they say about our deliveries.
//! A report only counts against a member when it names a delivery of ours
//! (the VERP token it was sent to, our return path inside the returned
//! original, or one of our Message-IDs): anyone can write a DSN-shaped or
//! ARF-shaped mail naming a member, and it must not unsubscribe them or
//! disable their delivery.

use super::{find_member, ordinary_outcome, outcome, unsubscribe, Sender};
use crate::address::Command;
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::inbound::classify::{BounceReport, Complaint, DsnAction};
use crate::membership;
use crate::store::inbound::Outcome;
use crate::store::members::MemberRow;
use crate::store::{InboundKind, InboundStatus};
use crate::tokens::Purpose;

const HARD_BOUNCE_POINTS: i64 = 2;
const SOFT_BOUNCE_POINTS: i64 = 1;
/// Feedback types that mean "the recipient does not want this mail".
/// auth-failure (RFC 6591), fraud and virus reports are about the message,
/// not the recipient's wishes.
const UNSUBSCRIBING_FEEDBACK: [&str; 2] = ["abuse", "opt-out"];

/// The member whose delivery a report is about, if it names one of ours.
async fn delivery_member(
    ctx: &Ctx,
    list: &List,
    command: &Command,
    senders: &[String],
    message_id: Option<&str>,
) -> anyhow::Result<Option<MemberRow>> {
    let tokens = std::iter::once(command.clone())
        .chain(senders.iter().filter_map(|s| list.address.route(s)))
        .filter_map(|c| match c {
            Command::Bounce(t) => Some(t),
            _ => None,
        });
    for token in tokens {
        if let Some(ids) = ctx.keys.verify(Purpose::Bounce, &token, 1) {
            if let Some(m) = outbox_member(ctx, list, ids[0]).await? {
                return Ok(Some(m));
            }
        }
    }
    match message_id {
        Some(mid) => member_from_message_id(ctx, list, mid).await,
        None => Ok(None),
    }
}

/// The member an outbox row was sent to.
async fn outbox_member(
    ctx: &Ctx,
    list: &List,
    outbox_id: i64,
) -> anyhow::Result<Option<MemberRow>> {
    let Some(row) = ctx.store.outbox_row(outbox_id).await? else {
        return Ok(None);
    };
    if row.list_id != list.id() {
        return Ok(None);
    }
    match row.member_id {
        Some(id) => Ok(ctx
            .store
            .member(id)
            .await?
            .filter(|m| m.list_id == list.id())),
        None => find_member(ctx, list, &row.recipient).await,
    }
}

/// Our own Message-IDs name the delivery: `<KIND.OUTBOX_ID.TAG@domain>`
/// (see [`List::message_id`]); the tag must verify, or anyone could name
/// any member's delivery by guessing ids.
async fn member_from_message_id(
    ctx: &Ctx,
    list: &List,
    mid: &str,
) -> anyhow::Result<Option<MemberRow>> {
    let mid = mid.trim().trim_matches(['<', '>']);
    let Some((local, domain)) = mid.rsplit_once('@') else {
        return Ok(None);
    };
    if !domain.eq_ignore_ascii_case(list.address.domain()) {
        return Ok(None);
    }
    let [_kind, id, tag] = local.split('.').collect::<Vec<_>>()[..] else {
        return Ok(None);
    };
    let verified = ctx.keys.verify(Purpose::MessageId, tag, 1);
    match (verified, id.parse::<i64>()) {
        (Some(ids), Ok(id)) if ids[0] == id => outbox_member(ctx, list, id).await,
        _ => Ok(None),
    }
}

pub(super) async fn bounce(
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
            InboundKind::Bounce,
            InboundStatus::Ignored,
            "delivery report without a failure (delayed or delivered)",
        ));
    }
    let hard = failed.iter().any(|r| r.hard);
    let status = failed
        .iter()
        .find_map(|r| r.status.clone())
        .unwrap_or_default();
    let diagnostic = failed
        .iter()
        .find_map(|r| r.diagnostic.clone())
        .unwrap_or_default();
    let kind = if hard { "hard" } else { "soft" };
    let verified = delivery_member(
        ctx,
        list,
        command,
        &report.original_from,
        report.original_message_id.as_deref(),
    )
    .await?;
    if let Some(m) = verified {
        let points = if hard {
            HARD_BOUNCE_POINTS
        } else {
            SOFT_BOUNCE_POINTS
        };
        if ctx
            .store
            .insert_bounce(inbound_id, Some(m.id), None, hard, &status, &diagnostic)
            .await?
        {
            crate::notices::bounced::add_bounce_points(ctx, m.id, points).await?;
        }
        return Ok(outcome(
            l,
            InboundKind::Bounce,
            InboundStatus::Accepted,
            format!("{kind} bounce recorded for {}", m.email),
        ));
    }
    // No delivery of ours named: record it against the members the text
    // names, for the operator, without counting it.
    let mut names = Vec::new();
    let candidates = failed
        .iter()
        .filter_map(|r| r.address.clone())
        .chain(report.original_to.iter().cloned());
    for addr in candidates {
        if let Some(m) = find_member(ctx, list, &addr).await? {
            if !names.contains(&m.email) {
                ctx.store
                    .insert_bounce(inbound_id, Some(m.id), None, hard, &status, &diagnostic)
                    .await?;
                names.push(m.email);
            }
        }
    }
    let reason = if names.is_empty() {
        "bounce for an address that is not a member".to_string()
    } else {
        format!(
            "{kind} bounce naming {} but no delivery of ours (no VERP token or Message-ID of ours); recorded, not counted",
            names.join(", ")
        )
    };
    Ok(outcome(
        l,
        InboundKind::Bounce,
        InboundStatus::Ignored,
        reason,
    ))
}

pub(super) async fn complaint(
    ctx: &Ctx,
    list: &List,
    command: &Command,
    inbound_id: i64,
    c: &Complaint,
    sender: &Sender<'_>,
) -> anyhow::Result<Outcome> {
    let cause = format!("inbound:{inbound_id}");
    if c.client_request {
        // A mail client answering our List-Unsubscribe mailto: the member's
        // own request, so it gets the same checks as one they typed.
        let from = c
            .original_recipient
            .as_deref()
            .and_then(|a| EmailAddress::parse(a).ok());
        return match (command, from) {
            (Command::Unsubscribe, Some(from)) => {
                let trusted = sender.author(&from).map(|_| ());
                unsubscribe(ctx, list, &from, trusted, false, &cause).await
            }
            _ => Ok(ordinary_outcome(
                list,
                InboundStatus::Ignored,
                "an automatic unsubscribe request sent to an address other than the unsubscribe address",
            )),
        };
    }
    let l = Some(list);
    if !UNSUBSCRIBING_FEEDBACK.contains(&c.feedback_type.as_str()) {
        return Ok(outcome(
            l,
            InboundKind::Complaint,
            InboundStatus::Ignored,
            format!(
                "{} report: about the message, not a wish to leave; recorded",
                c.feedback_type
            ),
        ));
    }
    let member = delivery_member(
        ctx,
        list,
        command,
        &c.original_senders,
        c.original_message_id.as_deref(),
    )
    .await?;
    match member {
        Some(mem) => {
            membership::leave(ctx, &mem, false, &cause).await?;
            Ok(outcome(
                l,
                InboundKind::Complaint,
                InboundStatus::Accepted,
                format!("{} complaint from {}: unsubscribed", c.feedback_type, mem.email),
            ))
        }
        None => Ok(outcome(
            l,
            InboundKind::Complaint,
            InboundStatus::Ignored,
            format!(
                "{} complaint naming {} but no delivery of ours (no VERP token or Message-ID of ours); nobody unsubscribed",
                c.feedback_type,
                c.original_recipient.as_deref().unwrap_or("nobody")
            ),
        )),
    }
}
