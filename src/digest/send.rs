//! The life of an issue: draft (re-assembled on demand), approved (content
//! frozen), sent (expanded into one outbox row per member, once), or skipped
//! when empty.

use super::assemble::assemble;
use super::Issue;
use crate::app::{Ctx, List};
use crate::notices::{self, Notice};
use crate::store::digests::{DigestRow, APPROVED, DRAFT};
use chrono::TimeZone;

/// The default subject: `<list name> digest, <date>` in the list's time zone.
pub fn default_subject(list: &List, at_ms: i64) -> String {
    let tz = super::schedule::parse_timezone(&list.row.timezone).unwrap_or(chrono_tz::UTC);
    let when = tz
        .timestamp_millis_opt(at_ms)
        .single()
        .unwrap_or_else(|| tz.timestamp_millis_opt(0).unwrap());
    format!("{} digest, {}", list.name(), when.format("%-d %b %Y"))
}

/// The open issue, freshly assembled if it is still a draft.
pub async fn draft(ctx: &Ctx, list: &List) -> anyhow::Result<DigestRow> {
    let mut d = match ctx.store.open_digest(list.id()).await? {
        Some(d) => d,
        None => {
            let since = ctx
                .store
                .last_closed_until(list.id())
                .await?
                .unwrap_or(list.row.created_at);
            let subject = default_subject(list, crate::now_ms());
            ctx.store.create_draft(list.id(), &subject, since).await?
        }
    };
    if d.status == DRAFT {
        let issue = assemble(ctx, list, d.since, crate::now_ms()).await?;
        d.content = issue.to_json();
        ctx.store
            .update_draft(d.id, &d.subject, &d.intro, &d.content)
            .await?;
    }
    Ok(d)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// Expanded into this many deliveries.
    Sent { digest_id: i64, recipients: u64 },
    /// Nothing to say: no mail goes out.
    Skipped { digest_id: i64 },
    /// Another worker released it first.
    AlreadyReleased { digest_id: i64 },
    /// The list requires approval and the issue has none yet.
    AwaitingApproval { digest_id: i64 },
}

/// Freezes the open draft's content (editor approval).
pub async fn approve(ctx: &Ctx, list: &List) -> anyhow::Result<DigestRow> {
    let d = draft(ctx, list).await?;
    if d.status == DRAFT {
        let now = crate::now_ms();
        let issue = assemble(ctx, list, d.since, now).await?;
        ctx.store
            .approve_digest(d.id, &issue.to_json(), now)
            .await?;
    }
    Ok(ctx.store.digest(d.id).await?.unwrap_or(d))
}

/// Sends the open issue now: approves it first unless `respect_approval`
/// and the list requires an editor's approval.
pub async fn send_now(ctx: &Ctx, list: &List, respect_approval: bool) -> anyhow::Result<Released> {
    let d = draft(ctx, list).await?;
    if d.status == DRAFT && respect_approval && list.row.require_approval {
        if Issue::from_json(&d.content).is_empty() {
            ctx.store.skip_digest(d.id, crate::now_ms()).await?;
            return Ok(Released::Skipped { digest_id: d.id });
        }
        if ctx.store.mark_digest_due(d.id).await? {
            notify_editors(ctx, list, &d, true).await?;
        }
        return Ok(Released::AwaitingApproval { digest_id: d.id });
    }
    let d = approve(ctx, list).await?;
    release(ctx, list, &d).await
}

/// Expands an approved issue into deliveries, exactly once.
pub async fn release(ctx: &Ctx, list: &List, d: &DigestRow) -> anyhow::Result<Released> {
    if d.status != APPROVED {
        return Ok(Released::AlreadyReleased { digest_id: d.id });
    }
    if Issue::from_json(&d.content).is_empty() {
        ctx.store
            .skip_digest(d.id, d.until_at.unwrap_or_else(crate::now_ms))
            .await?;
        return Ok(Released::Skipped { digest_id: d.id });
    }
    let mut tx = ctx.store.begin_write().await?;
    if !ctx.store.mark_digest_sent(&mut tx, d.id).await? {
        return Ok(Released::AlreadyReleased { digest_id: d.id });
    }
    let n = ctx.store.expand_digest(&mut tx, d.id, list.id()).await?;
    ctx.store
        .set_digest_recipients(&mut tx, d.id, n as i64)
        .await?;
    tx.commit().await?;
    ctx.outbox_wake.notify_waiters();
    tracing::info!(list = %list.posting(), digest = d.number, recipients = n, "digest released");
    Ok(Released::Sent {
        digest_id: d.id,
        recipients: n,
    })
}

/// Approving an issue whose slot already passed sends it right away.
pub async fn approve_and_release_if_due(
    ctx: &Ctx,
    list: &List,
) -> anyhow::Result<(DigestRow, Option<Released>)> {
    let d = approve(ctx, list).await?;
    if d.due_at.is_some() && d.status == APPROVED {
        let r = release(ctx, list, &d).await?;
        return Ok((d, Some(r)));
    }
    Ok((d, None))
}

async fn notify_editors(
    ctx: &Ctx,
    list: &List,
    d: &DigestRow,
    awaiting_approval: bool,
) -> anyhow::Result<()> {
    let notice = Notice::DigestReady {
        digest_id: d.id,
        awaiting_approval,
    };
    for editor in ctx.store.editors(list.id()).await? {
        notices::send(
            ctx,
            list,
            &editor,
            None,
            &notice,
            &format!("digest:{}", d.id),
        )
        .await?;
    }
    Ok(())
}

/// The open issue as `member` (default: the first active member) would
/// receive it: (text, HTML).
pub async fn preview(
    ctx: &Ctx,
    list: &List,
    member: Option<&crate::email::EmailAddress>,
) -> anyhow::Result<(DigestRow, String, String)> {
    let d = draft(ctx, list).await?;
    let m = match member {
        Some(email) => crate::membership::find(ctx, list, email)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{email} is not a member of {}", list.posting()))?,
        None => ctx
            .store
            .members(list.id())
            .await?
            .into_iter()
            .find(|m| m.is_active())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no active member to preview for; pass --member",
                    list.posting()
                )
            })?,
    };
    let issue = Issue::from_json(&d.content);
    let (text, html) =
        crate::outbound::render::digest_bodies(ctx, list, &m, &d.subject, &d.intro, &issue)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((d, text, html))
}
