//! Membership: subscribing (double opt-in), confirming, leaving, delivery
//! modes. The inbound mail commands, the web pages and the CLI all call
//! these functions.

pub mod csv;

use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::notices::{self, Notice};
use crate::store::members::MemberRow;
use crate::store::{DeliveryMode, MemberStatus, StoredEnum};
use crate::tokens::Purpose;

/// What `members.consent` says of someone who confirmed a subscription
/// request (double opt-in).
pub const CONSENT_CONFIRMED: &str = "confirmed a subscription request by mail or link";

/// How long a subscription request may wait for its confirmation.
pub const CONFIRM_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// A delivery mode as a person types it (CLI, CSV, forms).
pub fn parse_mode(text: &str) -> anyhow::Result<DeliveryMode> {
    DeliveryMode::parse(text.trim().to_ascii_lowercase().as_str()).map_err(|_| {
        anyhow::anyhow!(
            "delivery mode `{}` is unknown; use {}",
            text.trim(),
            DeliveryMode::spellings()
        )
    })
}

/// How a mode reads on a page.
pub fn mode_label(mode: DeliveryMode) -> &'static str {
    match mode {
        DeliveryMode::Digest => "The digest only",
        DeliveryMode::Every => "Every post as it arrives",
        DeliveryMode::Paused => "Pause all mail",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// A confirmation was sent to the address.
    ConfirmationSent(MemberRow),
    /// Already a member: told so, nothing changed.
    AlreadyMember(MemberRow),
    /// The same request came again within [`REPEAT_NOTICE_MS`]: nothing
    /// sent, so nobody can mail-bomb an address through the list.
    Repeated,
}

/// Repeated subscribe requests for one address get at most one
/// confirmation per this window (and "already subscribed" once a day).
pub const REPEAT_NOTICE_MS: i64 = 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Starts a subscription for `email`. The confirmation always goes to the
/// address being subscribed, so nobody can subscribe someone else.
pub async fn request(
    ctx: &Ctx,
    list: &List,
    email: &EmailAddress,
    name: &str,
    cause: &str,
) -> anyhow::Result<Subscribed> {
    let existing = ctx.store.member_by_email(list.id(), &email.key()).await?;
    // Throttles are taken once the notice is queued (notices::send_throttled),
    // so a failure in between does not use up the window.
    if let Some(m) = existing.filter(|m| m.status == MemberStatus::Active) {
        let sent = notices::send_throttled(
            ctx,
            list,
            &m.email,
            Some(m.id),
            &Notice::AlreadySubscribed,
            cause,
            "already",
            DAY_MS,
        )
        .await?;
        return Ok(if sent {
            Subscribed::AlreadyMember(m)
        } else {
            Subscribed::Repeated
        });
    }
    let since = crate::now_ms() - REPEAT_NOTICE_MS;
    if !ctx
        .store
        .throttle_free(list.id(), &email.key(), "confirm", since)
        .await?
    {
        return Ok(Subscribed::Repeated);
    }
    let m = ctx
        .store
        .upsert_pending(list.id(), email.as_str(), &email.key(), name)
        .await?;
    // A request repeated after the first one expired (or after leaving) gets a fresh confirmation.
    let cause = format!("{cause}:{}", m.requested_at);
    notices::send(
        ctx,
        list,
        email.as_str(),
        Some(m.id),
        &Notice::Confirm,
        &cause,
    )
    .await?;
    ctx.store
        .take_throttle(list.id(), &email.key(), "confirm", REPEAT_NOTICE_MS)
        .await?;
    Ok(Subscribed::ConfirmationSent(m))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    Activated(MemberRow),
    AlreadyActive(MemberRow),
    /// Pending for more than [`CONFIRM_WINDOW_MS`], or left since.
    Expired(MemberRow),
    /// The link of an earlier request; a newer one was sent since.
    Superseded(MemberRow),
    /// The token does not verify.
    Invalid,
}

/// Confirms the subscription a confirm token names, and sends the welcome.
pub async fn confirm(ctx: &Ctx, token: &str) -> anyhow::Result<Confirmed> {
    let Some(member) = member_for_confirm(ctx, token).await? else {
        return Ok(Confirmed::Invalid);
    };
    let requested_at = confirm_request(ctx, token);
    if member.status == MemberStatus::Active {
        return Ok(Confirmed::AlreadyActive(member));
    }
    if member.status == MemberStatus::Pending && member.requested_at != requested_at {
        return Ok(Confirmed::Superseded(member));
    }
    let not_before = crate::now_ms() - CONFIRM_WINDOW_MS;
    if !ctx
        .store
        .activate(member.id, requested_at, not_before, CONSENT_CONFIRMED)
        .await?
    {
        return Ok(Confirmed::Expired(member));
    }
    let list = list_of(ctx, &member).await?;
    let cause = format!("member:{}:{}", member.id, member.requested_at);
    notices::send(
        ctx,
        &list,
        &member.email,
        Some(member.id),
        &Notice::Welcome,
        &cause,
    )
    .await?;
    let member = ctx.store.member(member.id).await?.unwrap_or(member);
    Ok(Confirmed::Activated(member))
}

/// The member a confirm token names, if it verifies (the page a link
/// opens, before anything is confirmed).
pub async fn member_for_confirm(ctx: &Ctx, token: &str) -> anyhow::Result<Option<MemberRow>> {
    let Some(ids) = ctx.keys.verify(Purpose::Confirm, token, 2) else {
        return Ok(None);
    };
    Ok(ctx.store.member(ids[0]).await?)
}

/// The request time a (verified) confirm token is bound to.
fn confirm_request(ctx: &Ctx, token: &str) -> i64 {
    ctx.keys
        .verify(Purpose::Confirm, token, 2)
        .map_or(0, |ids| ids[1])
}

/// Ends a membership; with `goodbye` (the mail command) a goodbye is sent.
/// Returns false when there was nothing to end.
pub async fn leave(
    ctx: &Ctx,
    member: &MemberRow,
    goodbye: bool,
    cause: &str,
) -> anyhow::Result<bool> {
    let was_member = ctx.store.unsubscribe(member.id).await?;
    if was_member && goodbye && member.status != MemberStatus::Disabled {
        let list = list_of(ctx, member).await?;
        notices::send(
            ctx,
            &list,
            &member.email,
            Some(member.id),
            &Notice::Goodbye,
            cause,
        )
        .await?;
    }
    Ok(was_member)
}

/// The member an unsubscribe token names, if it verifies.
pub async fn member_for_unsubscribe(ctx: &Ctx, token: &str) -> anyhow::Result<Option<MemberRow>> {
    let Some(ids) = ctx.keys.verify(Purpose::Unsubscribe, token, 1) else {
        return Ok(None);
    };
    Ok(ctx.store.member(ids[0]).await?)
}

/// What [`enroll`] did with one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolled {
    /// New, or a pending request completed: now active.
    Added(MemberRow),
    /// Already active; a given name or mode was applied.
    Updated(MemberRow),
    /// Left, or was disabled by bounces: not added back without
    /// `resubscribe`, so an old spreadsheet cannot undo anyone's leaving.
    Skipped(MemberRow),
}

/// How an operator or editor adds someone.
#[derive(Debug, Clone, Copy)]
pub struct Enrollment<'a> {
    pub name: &'a str,
    /// `None` keeps an existing member's mode (new members: digest).
    pub mode: Option<DeliveryMode>,
    /// Also bring back people who left or were disabled.
    pub resubscribe: bool,
    /// Why they may be mailed without confirming, kept with the member
    /// (`members.consent`).
    pub consent: &'a str,
}

/// An operator or editor adding an address (`member add`, import with
/// `--confirmed`): a new address becomes an active member (no
/// confirmation); an active member keeps their mode and name unless new
/// ones are given; someone who left or was disabled comes back only with
/// `resubscribe`.
pub async fn enroll(
    ctx: &Ctx,
    list: &List,
    email: &EmailAddress,
    how: &Enrollment<'_>,
) -> anyhow::Result<Enrolled> {
    let existing = find(ctx, list, email).await?;
    let Some(m) = existing else {
        let mode = how.mode.unwrap_or(DeliveryMode::Digest);
        let m = add(ctx, list, email, how.name, mode, how.consent).await?;
        return Ok(Enrolled::Added(m));
    };
    if m.is_active() {
        return update(ctx, m, how).await.map(Enrolled::Updated);
    }
    let joinable = matches!(m.status, MemberStatus::Pending | MemberStatus::Guest);
    if !joinable && !how.resubscribe {
        return Ok(Enrolled::Skipped(m));
    }
    let name = if how.name.trim().is_empty() {
        &m.name
    } else {
        how.name
    };
    let mode = how.mode.unwrap_or(m.mode);
    let m = add(ctx, list, email, name, mode, how.consent).await?;
    Ok(Enrolled::Added(m))
}

/// A given name or mode applied to an active member.
async fn update(ctx: &Ctx, m: MemberRow, how: &Enrollment<'_>) -> anyhow::Result<MemberRow> {
    if !how.name.trim().is_empty() && how.name.trim() != m.name {
        ctx.store.set_name(m.id, how.name.trim()).await?;
    }
    if let Some(mode) = how.mode.filter(|&md| md != m.mode) {
        ctx.store.set_mode(m.id, mode).await?;
    }
    Ok(ctx.store.member(m.id).await?.unwrap_or(m))
}

/// What [`invite`] did with one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invited {
    /// Sent a confirmation request; they join when they confirm.
    Asked(MemberRow),
    /// Already active; a given name or mode was applied.
    Updated(MemberRow),
    /// Left or disabled, and not asked again without `resubscribe`; or
    /// asked within the hour already.
    Skipped(MemberRow),
}

/// An import without recorded consent: each new address is asked to
/// confirm, exactly as if it had written to the subscribe address.
pub async fn invite(
    ctx: &Ctx,
    list: &List,
    email: &EmailAddress,
    how: &Enrollment<'_>,
    cause: &str,
) -> anyhow::Result<Invited> {
    if let Some(m) = find(ctx, list, email).await? {
        if m.is_active() {
            return update(ctx, m, how).await.map(Invited::Updated);
        }
        let left = matches!(
            m.status,
            MemberStatus::Unsubscribed | MemberStatus::Disabled
        );
        if left && !how.resubscribe {
            return Ok(Invited::Skipped(m));
        }
    }
    match request(ctx, list, email, how.name, cause).await? {
        Subscribed::ConfirmationSent(m) => {
            if let Some(mode) = how.mode.filter(|&md| md != m.mode) {
                ctx.store.set_mode(m.id, mode).await?;
            }
            Ok(Invited::Asked(m))
        }
        Subscribed::AlreadyMember(m) => Ok(Invited::Updated(m)),
        Subscribed::Repeated => match find(ctx, list, email).await? {
            Some(m) => Ok(Invited::Skipped(m)),
            None => anyhow::bail!("{email} vanished during the import"),
        },
    }
}

/// Makes `email` an active member now, without confirmation and whatever
/// their past (see [`enroll`] for the operator's rules); `consent` says why
/// that is allowed.
pub async fn add(
    ctx: &Ctx,
    list: &List,
    email: &EmailAddress,
    name: &str,
    mode: DeliveryMode,
    consent: &str,
) -> anyhow::Result<MemberRow> {
    Ok(ctx
        .store
        .upsert_active(list.id(), email.as_str(), &email.key(), name, mode, consent)
        .await?)
}

async fn list_of(ctx: &Ctx, member: &MemberRow) -> anyhow::Result<List> {
    let row = ctx
        .store
        .list_by_id(member.list_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("member {} belongs to no list", member.id))?;
    Ok(ctx.list(row))
}

/// Changes how an active member gets mail: `digest`, `every` or `paused`.
pub async fn set_mode(ctx: &Ctx, member: &MemberRow, mode: DeliveryMode) -> anyhow::Result<()> {
    anyhow::ensure!(
        member.is_active(),
        "{} is {}, not an active member; subscribe again first",
        member.email,
        member.status
    );
    ctx.store.set_mode(member.id, mode).await?;
    Ok(())
}

/// The member of `list` with this address, whatever their status.
pub async fn find(
    ctx: &Ctx,
    list: &List,
    email: &EmailAddress,
) -> anyhow::Result<Option<MemberRow>> {
    Ok(ctx.store.member_by_email(list.id(), &email.key()).await?)
}

/// What [`remove`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Unsubscribed,
    WasNotSubscribed,
    NotAMember,
}

/// Ends `email`'s membership on an editor's or operator's word: no goodbye.
pub async fn remove(
    ctx: &Ctx,
    list: &List,
    email: &EmailAddress,
    cause: &str,
) -> anyhow::Result<Removed> {
    Ok(match find(ctx, list, email).await? {
        Some(m) if leave(ctx, &m, false, cause).await? => Removed::Unsubscribed,
        Some(_) => Removed::WasNotSubscribed,
        None => Removed::NotAMember,
    })
}
