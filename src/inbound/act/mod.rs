//! Acting on a classified, routed message: the list commands of DESIGN.md's
//! address table. Bounces, complaints and automatic replies are recorded
//! and never answered; everything else that cannot be acted on is held or
//! ignored with its reason.
//!
//! Two rules about the sender ([`crate::inbound::auth::trust`]) guard
//! every action: only an authenticated sender (or, when nothing could be
//! checked, one whose envelope matches the From address) speaks for a
//! member, and notices to people who are not members go to the envelope
//! sender only when it is the From address and not forged, else nowhere.

mod posting;
mod reports;

use super::auth::trust::{self, Author};
use super::auth::Authentication;
use super::classify::{classify, Classification};
use super::pipeline::Incoming;
use crate::address::Command;
use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::membership::{self, Confirmed, Subscribed};
use crate::notices::{self, Notice};
use crate::store::inbound::Outcome;
use crate::store::members::MemberRow;
use crate::store::{InboundKind, InboundStatus};
use mail_parser::Message;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn outcome(
    list: Option<&List>,
    kind: InboundKind,
    status: InboundStatus,
    reason: impl Into<String>,
) -> Outcome {
    Outcome {
        list_id: list.map(List::id),
        kind,
        status,
        reason: reason.into(),
    }
}

fn ordinary_outcome(list: &List, status: InboundStatus, reason: impl Into<String>) -> Outcome {
    outcome(Some(list), InboundKind::Ordinary, status, reason)
}

/// What is known of who sent the message being acted on.
pub(super) struct Sender<'a> {
    auth: &'a Authentication,
    /// The envelope sender as the transport gave it, else the message's
    /// Return-Path (mail piped in by an MTA that does not set `$SENDER`).
    envelope: Option<String>,
}

impl Sender<'_> {
    fn new<'a>(auth: &'a Authentication, m: &Incoming<'_>, msg: &Message<'_>) -> Sender<'a> {
        let envelope = match m.mail_from {
            Some(s) => Some(s.to_string()),
            None => msg.return_path().as_text().map(str::to_string),
        };
        Sender { auth, envelope }
    }

    /// Whether the message may act as `from`; `Err` says why not.
    pub(super) fn author(&self, from: &EmailAddress) -> Result<Author, String> {
        trust::author(self.auth, self.envelope.as_deref(), from)
    }

    /// Where a notice to a stranger about this message may go.
    pub(super) fn notice_address(&self, from: &EmailAddress) -> Result<EmailAddress, String> {
        trust::notice_address(self.auth, self.envelope.as_deref(), from)
    }
}

pub async fn act(
    ctx: &Ctx,
    inbound_id: i64,
    m: &Incoming<'_>,
    msg: &Message<'_>,
    auth: &Authentication,
) -> anyhow::Result<Outcome> {
    let sender = Sender::new(auth, m, msg);
    let Some((list, command)) = ctx.route(m.recipient).await? else {
        return Ok(outcome(
            None,
            InboundKind::Ordinary,
            InboundStatus::Rejected,
            format!(
                "{} is not an address of any list",
                crate::redact::tokens(m.recipient)
            ),
        ));
    };
    match classify(msg, m.mail_from) {
        Classification::Bounce(report) => {
            reports::bounce(ctx, &list, &command, inbound_id, &report).await
        }
        Classification::Complaint(c) => {
            reports::complaint(ctx, &list, &command, inbound_id, &c, &sender).await
        }
        Classification::AutoReply { reason } => Ok(outcome(
            Some(&list),
            InboundKind::AutoReply,
            InboundStatus::Ignored,
            format!("automatic reply ({reason}); never answered"),
        )),
        Classification::Ordinary => ordinary(ctx, &list, command, inbound_id, &sender, msg).await,
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
    sender: &Sender<'_>,
    msg: &Message<'_>,
) -> anyhow::Result<Outcome> {
    if let Command::Operator(role) = &command {
        return Ok(ordinary_outcome(
            list,
            InboundStatus::Held,
            format!("mail for {role}@; kept for the operator, never answered"),
        ));
    }
    let Some((from, name)) = header_from(msg) else {
        return Ok(ordinary_outcome(
            list,
            InboundStatus::Held,
            "no usable From address",
        ));
    };
    if list.address.route(from.as_str()).is_some() {
        return Ok(ordinary_outcome(
            list,
            InboundStatus::Ignored,
            "mail from the list's own address (a loop); not answered",
        ));
    }
    let cause = format!("inbound:{inbound_id}");
    match command {
        Command::Subscribe => {
            // The confirmation goes to the address being subscribed: only
            // when it is the sender's own, or anyone could aim it anywhere.
            let to = match sender.notice_address(&from) {
                Ok(to) => to,
                Err(why) => {
                    return Ok(ordinary_outcome(
                        list,
                        InboundStatus::Ignored,
                        format!("subscribe request for {from} not answered: {why}"),
                    ))
                }
            };
            let reason = match membership::request(ctx, list, &to, &name, &cause).await? {
                Subscribed::ConfirmationSent(_) => format!("confirmation sent to {to}"),
                Subscribed::AlreadyMember(_) => format!("{to} is already a member; told so"),
                Subscribed::Repeated => format!(
                    "{to} asked again within the hour; nothing sent (one notice per window)"
                ),
            };
            Ok(ordinary_outcome(list, InboundStatus::Accepted, reason))
        }
        Command::Unsubscribe => {
            let trusted = sender.author(&from).map(|_| ());
            unsubscribe(ctx, list, &from, trusted, true, &cause).await
        }
        Command::Help => {
            let to = match sender.notice_address(&from) {
                Ok(to) => to,
                Err(why) => {
                    return Ok(ordinary_outcome(
                        list,
                        InboundStatus::Ignored,
                        format!("help for {from} not sent: {why}"),
                    ))
                }
            };
            let sent = notices::send_throttled(
                ctx,
                list,
                to.as_str(),
                None,
                &Notice::Help,
                &cause,
                "help",
                DAY_MS,
            )
            .await?;
            let reason = if sent {
                "help sent"
            } else {
                "help was sent to this address today already; not sent again"
            };
            Ok(ordinary_outcome(list, InboundStatus::Accepted, reason))
        }
        Command::Confirm(token) => confirm(ctx, list, &token, &cause).await,
        Command::Post => posting::post(ctx, list, &from, inbound_id, sender, msg).await,
        Command::Reply(token) => {
            posting::reply(ctx, list, &from, &token, inbound_id, sender, msg).await
        }
        Command::Bounce(_) => Ok(ordinary_outcome(
            list,
            InboundStatus::Ignored,
            "mail to a bounce address that is not a delivery report",
        )),
        Command::Approve(_) | Command::Reject(_) => {
            let note = crate::inbound::body::answer_text(msg);
            Ok(
                match crate::moderation::by_mail(ctx, list, &command, &from, &note).await? {
                    Ok(decided) => ordinary_outcome(
                        list,
                        InboundStatus::Accepted,
                        format!("moderation by {from}: {decided:?}"),
                    ),
                    Err(why) => ordinary_outcome(list, InboundStatus::Held, why),
                },
            )
        }
        Command::Operator(_) => unreachable!("handled above"),
    }
}

async fn confirm(ctx: &Ctx, list: &List, token: &str, cause: &str) -> anyhow::Result<Outcome> {
    Ok(match membership::confirm(ctx, token).await? {
        Confirmed::Activated(m) => ordinary_outcome(
            list,
            InboundStatus::Accepted,
            format!("{} confirmed", m.email),
        ),
        Confirmed::AlreadyActive(m) => ordinary_outcome(
            list,
            InboundStatus::Ignored,
            format!("{} was already confirmed", m.email),
        ),
        Confirmed::Expired(m) => {
            // Tell the address the token names (not whoever sent this), once a day.
            notices::send_throttled(
                ctx,
                list,
                &m.email,
                Some(m.id),
                &Notice::ConfirmExpired,
                cause,
                "confirm-expired",
                DAY_MS,
            )
            .await?;
            ordinary_outcome(
                list,
                InboundStatus::Rejected,
                format!(
                    "the subscription request of {} expired; told to subscribe again",
                    m.email
                ),
            )
        }
        Confirmed::Superseded(m) => ordinary_outcome(
            list,
            InboundStatus::Rejected,
            format!(
                "an older confirmation of {}; a newer request was sent since",
                m.email
            ),
        ),
        Confirmed::Invalid => ordinary_outcome(
            list,
            InboundStatus::Held,
            "confirmation token failed verification",
        ),
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
            InboundStatus::Ignored,
            format!("{from} is not a member"),
        ));
    };
    if let Err(why) = trusted {
        // To the member's own address, which this mail may only claim.
        notices::send_throttled(
            ctx,
            list,
            &member.email,
            Some(member.id),
            &Notice::ConfirmLeave,
            cause,
            "confirm-leave",
            DAY_MS,
        )
        .await?;
        return Ok(ordinary_outcome(
            list,
            InboundStatus::Held,
            format!("unsubscribe for {from} not acted on ({why}); the member was sent the one-click link"),
        ));
    }
    membership::leave(ctx, &member, goodbye, cause).await?;
    Ok(ordinary_outcome(
        list,
        InboundStatus::Accepted,
        format!("{from} unsubscribed"),
    ))
}

async fn find_member(ctx: &Ctx, list: &List, address: &str) -> anyhow::Result<Option<MemberRow>> {
    let Ok(email) = EmailAddress::parse(address) else {
        return Ok(None);
    };
    Ok(ctx.store.member_by_email(list.id(), &email.key()).await?)
}
