//! A member whose mail keeps bouncing is disabled (no more mail), and is
//! told so once, with a signed link that turns their mail back on.
//!
//! The notice goes to the address that bounced, so it may well bounce too.
//! That cannot loop: only the bounce that flips the member from active to
//! disabled (a compare-and-set in the store) queues the notice, and a
//! bounce of the notice finds them disabled already. The link's page asks
//! before doing anything (GET shows a button, POST reactivates), so a mail
//! scanner that opens every link does not turn mail back on by itself.

use super::Notice;
use crate::app::Ctx;
use crate::store::members::MemberRow;
use crate::store::MemberStatus;
use crate::tokens::Purpose;

/// Adds bounce points to a member (a bounce report, or a relay's
/// permanent refusal of their address); if that disables them, queues the
/// notice telling them so.
pub async fn add_bounce_points(ctx: &Ctx, member_id: i64, points: i64) -> anyhow::Result<()> {
    if !ctx.store.add_bounce_points(member_id, points).await? {
        return Ok(());
    }
    let Some(m) = ctx.store.member(member_id).await? else {
        return Ok(());
    };
    let Some(row) = ctx.store.list_by_id(m.list_id).await? else {
        return Ok(());
    };
    tracing::info!(
        member = m.id,
        "member disabled by bounces; telling them once, with a link to turn mail back on"
    );
    let list = ctx.list(row);
    // Each disabling is its own cause: a member reactivated and disabled
    // again later is told again.
    let cause = format!("disabled:{}", crate::now_ms());
    super::send(
        ctx,
        &list,
        &m.email,
        Some(m.id),
        &Notice::DisabledByBounces,
        &cause,
    )
    .await?;
    Ok(())
}

/// The reactivation link for a member.
pub fn reactivate_url(ctx: &Ctx, list: &crate::app::List, member_id: i64) -> String {
    format!(
        "{}/reactivate/{}",
        list.base_url(),
        ctx.keys.sign(Purpose::Reactivate, &[member_id])
    )
}

/// The member a reactivation link is for; `None` for a link we did not sign.
pub async fn member_for_link(ctx: &Ctx, token: &str) -> anyhow::Result<Option<MemberRow>> {
    let Some(ids) = ctx.keys.verify(Purpose::Reactivate, token, 1) else {
        return Ok(None);
    };
    Ok(ctx.store.member(ids[0]).await?)
}

/// What following the link did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reactivated {
    /// Mail is on again, the bounce score cleared.
    Now,
    /// They were active already.
    AlreadyActive,
    /// They left (or are otherwise not disabled): nothing to turn back on.
    NotDisabled(MemberStatus),
}

pub async fn reactivate(ctx: &Ctx, m: &MemberRow) -> anyhow::Result<Reactivated> {
    if ctx.store.reactivate(m.id).await? {
        tracing::info!(
            member = m.id,
            "member turned their mail back on after bounces"
        );
        return Ok(Reactivated::Now);
    }
    let now = ctx.store.member(m.id).await?.map(|m| m.status);
    Ok(match now {
        Some(MemberStatus::Active) => Reactivated::AlreadyActive,
        Some(s) => Reactivated::NotDisabled(s),
        None => Reactivated::NotDisabled(m.status),
    })
}
