//! Acting on a classified, routed message: the list commands of DESIGN.md's
//! address table. Bounces, complaints and automatic replies are recorded
//! and never answered; everything else that cannot be acted on is held or
//! ignored with its reason.

mod posting;
mod reports;

use super::classify::{classify, Classification};
use super::pipeline::Incoming;
use crate::address::Command;
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::membership::{self, Confirmed, Subscribed};
use crate::notices::{self, Notice};
use crate::store::inbound::Outcome;
use crate::store::members::MemberRow;
use mail_parser::Message;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn outcome(list: Option<&List>, kind: &str, status: &str, reason: impl Into<String>) -> Outcome {
    Outcome {
        list_id: list.map(List::id),
        kind: kind.into(),
        status: status.into(),
        reason: reason.into(),
    }
}

fn ordinary_outcome(list: &List, status: &str, reason: impl Into<String>) -> Outcome {
    outcome(Some(list), "ordinary", status, reason)
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
    match classify(msg, m.mail_from) {
        Classification::Bounce(report) => {
            reports::bounce(ctx, &list, &command, inbound_id, &report).await
        }
        Classification::Complaint(c) => {
            reports::complaint(ctx, &list, &command, inbound_id, &c, m, msg).await
        }
        Classification::AutoReply { reason } => Ok(outcome(
            Some(&list),
            "auto-reply",
            "ignored",
            format!("automatic reply ({reason}); never answered"),
        )),
        Classification::Ordinary => ordinary(ctx, &list, command, inbound_id, m, msg).await,
    }
}

/// The sender as the header From names them.
fn header_from(msg: &Message<'_>) -> Option<(EmailAddress, String)> {
    let addr = msg.from().and_then(|f| f.first())?;
    let email = EmailAddress::parse(addr.address()?).ok()?;
    Some((email, addr.name().unwrap_or("").trim().to_string()))
}

async fn ordinary(
    ctx: &Ctx,
    list: &List,
    command: Command,
    inbound_id: i64,
    m: &Incoming<'_>,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    if let Command::Operator(role) = &command {
        return Ok(ordinary_outcome(
            list,
            "held",
            format!("mail for {role}@; kept for the operator, never answered"),
        ));
    }
    let Some((from, name)) = header_from(msg) else {
        return Ok(ordinary_outcome(list, "held", "no usable From address"));
    };
    if list.address.route(from.as_str()).is_some() {
        return Ok(ordinary_outcome(
            list,
            "ignored",
            "mail from the list's own address (a loop); not answered",
        ));
    }
    let cause = format!("inbound:{inbound_id}");
    match command {
        Command::Subscribe => {
            let reason = match membership::request(ctx, list, &from, &name, &cause).await? {
                Subscribed::ConfirmationSent(_) => format!("confirmation sent to {from}"),
                Subscribed::AlreadyMember(_) => format!("{from} is already a member; told so"),
                Subscribed::Repeated => format!(
                    "{from} asked again within the hour; nothing sent (one notice per window)"
                ),
            };
            Ok(ordinary_outcome(list, "accepted", reason))
        }
        Command::Unsubscribe => {
            let trusted = sender_trusted(m, msg, &from);
            unsubscribe(ctx, list, &from, trusted, true, &cause).await
        }
        Command::Help => {
            if ctx
                .store
                .take_throttle(list.id(), &from.key(), "help", DAY_MS)
                .await?
            {
                notices::send(ctx, list, from.as_str(), None, &Notice::Help, &cause).await?;
                return Ok(ordinary_outcome(list, "accepted", "help sent"));
            }
            Ok(ordinary_outcome(
                list,
                "accepted",
                "help was sent to this address today already; not sent again",
            ))
        }
        Command::Confirm(token) => confirm(ctx, list, &token, &cause).await,
        Command::Post => posting::post(ctx, list, &from, inbound_id, msg).await,
        Command::Reply(token) => posting::reply(ctx, list, &from, &token, inbound_id, msg).await,
        Command::Bounce(_) => Ok(ordinary_outcome(
            list,
            "ignored",
            "mail to a bounce address that is not a delivery report",
        )),
        Command::Operator(_) => unreachable!("handled above"),
    }
}

async fn confirm(ctx: &Ctx, list: &List, token: &str, cause: &str) -> anyhow::Result<Outcome> {
    Ok(match membership::confirm(ctx, token).await? {
        Confirmed::Activated(m) => {
            ordinary_outcome(list, "accepted", format!("{} confirmed", m.email))
        }
        Confirmed::AlreadyActive(m) => ordinary_outcome(
            list,
            "ignored",
            format!("{} was already confirmed", m.email),
        ),
        Confirmed::Expired(m) => {
            // Tell the address the token names (not whoever sent this), once a day.
            if ctx
                .store
                .take_throttle(
                    list.id(),
                    &m.email.to_lowercase(),
                    "confirm-expired",
                    DAY_MS,
                )
                .await?
            {
                notices::send(
                    ctx,
                    list,
                    &m.email,
                    Some(m.id),
                    &Notice::ConfirmExpired,
                    cause,
                )
                .await?;
            }
            ordinary_outcome(
                list,
                "rejected",
                format!(
                    "the subscription request of {} expired; told to subscribe again",
                    m.email
                ),
            )
        }
        Confirmed::Invalid => {
            ordinary_outcome(list, "held", "confirmation token failed verification")
        }
    })
}

/// Ends `from`'s membership on their word. A request whose sender the
/// receiving MTA could not vouch for is not acted on: the member gets the
/// one-click link instead, so a forged From cannot remove anyone.
async fn unsubscribe(
    ctx: &Ctx,
    list: &List,
    from: &EmailAddress,
    trusted: Result<(), String>,
    goodbye: bool,
    cause: &str,
) -> anyhow::Result<Outcome> {
    let member = find_member(ctx, list, from.as_str()).await?;
    let Some(member) = member.filter(MemberRow::is_active) else {
        // Silence towards non-members: answering would let anyone aim our mail at a third party.
        return Ok(ordinary_outcome(
            list,
            "ignored",
            format!("{from} is not a member"),
        ));
    };
    if let Err(why) = trusted {
        if ctx
            .store
            .take_throttle(list.id(), &from.key(), "confirm-leave", DAY_MS)
            .await?
        {
            notices::send(
                ctx,
                list,
                &member.email,
                Some(member.id),
                &Notice::ConfirmLeave,
                cause,
            )
            .await?;
        }
        return Ok(ordinary_outcome(
            list,
            "held",
            format!("unsubscribe for {from} not acted on ({why}); the member was sent the one-click link"),
        ));
    }
    membership::leave(ctx, &member, goodbye, cause).await?;
    Ok(ordinary_outcome(
        list,
        "accepted",
        format!("{from} unsubscribed"),
    ))
}

/// Whether the envelope and the receiving MTA's verdict agree with the
/// header From; `Err` says why not. Only the topmost Authentication-Results
/// (added by the MTA in front of gazette) is read.
fn sender_trusted(m: &Incoming<'_>, msg: &Message<'_>, from: &EmailAddress) -> Result<(), String> {
    let envelope = match m.mail_from {
        Some(s) => Some(s.to_string()),
        None => msg.return_path().as_text().map(str::to_string),
    };
    if let Some(env) = envelope.map(|e| e.trim().trim_matches(['<', '>']).to_string()) {
        if !env.is_empty() && !env.eq_ignore_ascii_case(from.as_str()) {
            return Err(format!("the envelope sender {env} is not the From address"));
        }
    }
    let results = msg
        .header_raw("Authentication-Results")
        .unwrap_or("")
        .to_ascii_lowercase();
    if results.contains("dmarc=fail") {
        return Err("the receiving server reports dmarc=fail".into());
    }
    if results.contains("spf=fail") && !results.contains("dkim=pass") {
        return Err("the receiving server reports spf=fail and no valid DKIM signature".into());
    }
    Ok(())
}

async fn find_member(ctx: &Ctx, list: &List, address: &str) -> anyhow::Result<Option<MemberRow>> {
    let Ok(email) = EmailAddress::parse(address) else {
        return Ok(None);
    };
    Ok(ctx.store.member_by_email(list.id(), &email.key()).await?)
}
