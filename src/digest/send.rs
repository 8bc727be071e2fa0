//! The life of an issue: draft (re-assembled on demand), approved (content
//! and subject frozen), sent (marked once with what it carried, then
//! expanded into one outbox row per member in chunks), or skipped when
//! empty.

use super::assemble::assemble;
use super::curate::{Change, Curation};
use super::Issue;
use crate::app::{Ctx, List};
use crate::notices::{self, Notice};
use crate::store::digests::DigestRow;
use crate::store::DigestStatus::{Approved as APPROVED, Draft as DRAFT};
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

/// The subject an issue goes out with: the editor's, else the default for
/// the day it is sent (the slot it is due at, or the next slot).
pub fn subject_for(list: &List, d: &DigestRow) -> String {
    if !d.subject.trim().is_empty() {
        return d.subject.clone();
    }
    let now = crate::now_ms();
    let when = d
        .due_at
        .or(list.row.next_digest_at.filter(|&t| t > now))
        .unwrap_or(now);
    default_subject(list, when)
}

/// The open issue as stored (its subject empty unless an editor set one),
/// opening a draft when there is none.
async fn open(ctx: &Ctx, list: &List) -> anyhow::Result<DigestRow> {
    Ok(match ctx.store.open_digest(list.id()).await? {
        Some(d) => d,
        None => {
            ctx.store
                .create_draft(list.id(), list.row.created_at)
                .await?
        }
    })
}

/// The open issue, freshly assembled (with its editors' decisions
/// applied) if it is still a draft. Its `subject` is the one it would go
/// out with.
pub async fn draft(ctx: &Ctx, list: &List) -> anyhow::Result<DigestRow> {
    let mut d = open(ctx, list).await?;
    if d.status == DRAFT {
        let content = curated(ctx, list, &d, crate::now_ms()).await?.to_json();
        // Written only when it changed: this runs on every look at the
        // draft, and an unchanged rewrite still takes the write lock.
        if content != d.content {
            ctx.store.set_draft_content(d.id, &content).await?;
            d.content = content;
        }
    }
    d.subject = subject_for(list, &d);
    Ok(d)
}

/// The material of the next issue as of `now` with the decisions stored
/// in `d` applied: what goes out.
async fn curated(ctx: &Ctx, list: &List, d: &DigestRow, now: i64) -> anyhow::Result<Issue> {
    let curation = Curation::of(d)?;
    Ok(curation.apply(assemble(ctx, list, now).await?))
}

/// An editor's changes to the open draft from the command line: its
/// subject ("" for the default) and intro. An approved issue is frozen
/// and refuses them.
pub async fn edit(
    ctx: &Ctx,
    list: &List,
    subject: Option<&str>,
    intro: Option<&str>,
) -> anyhow::Result<DigestRow> {
    let mut changes = Vec::new();
    if let Some(s) = subject {
        changes.push(Change::Subject(s.to_string()));
    }
    if let Some(i) = intro {
        changes.push(Change::Intro(i.to_string()));
    }
    Ok(super::curate::change(ctx, list, None, &changes).await?)
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

/// Freezes the open draft's content and subject (editor approval).
pub async fn approve(ctx: &Ctx, list: &List) -> anyhow::Result<DigestRow> {
    approve_for(ctx, list, None, None).await
}

/// Approves for sending at `send_at` (the default subject carries that
/// day), or at the issue's slot when `None`. With `seen`, only if the
/// content is still what the editor saw (its [`Issue::fingerprint`]).
pub async fn approve_for(
    ctx: &Ctx,
    list: &List,
    send_at: Option<i64>,
    seen: Option<&str>,
) -> anyhow::Result<DigestRow> {
    let d = open(ctx, list).await?;
    approve_issue(ctx, list, d, send_at, seen).await
}

/// The issue changed between an editor's look and their approval.
#[derive(Debug, thiserror::Error)]
#[error("issue #{number} changed since you looked at it (a post arrived or another editor saved it); nothing was approved. Look at it again, then approve")]
pub struct ChangedSinceSeen {
    pub number: i64,
}

/// Approves issue `d` itself (not whichever is open by then: a worker that
/// lost a race to send it must not open and approve the next one).
async fn approve_issue(
    ctx: &Ctx,
    list: &List,
    mut d: DigestRow,
    send_at: Option<i64>,
    seen: Option<&str>,
) -> anyhow::Result<DigestRow> {
    // A few tries: an editor's save between reading the decisions and
    // freezing them makes the freeze miss, and it is done again with
    // theirs. Each miss needs a save in between, so this does not spin.
    for _ in 0..5 {
        if d.status != DRAFT {
            break;
        }
        let now = crate::now_ms();
        let issue = curated(ctx, list, &d, now).await?;
        if seen.is_some_and(|f| f != issue.fingerprint()) {
            return Err(ChangedSinceSeen { number: d.number }.into());
        }
        let editor_set = !d.subject.trim().is_empty();
        let subject = match send_at {
            Some(at) if !editor_set => default_subject(list, at),
            _ => subject_for(list, &d),
        };
        if ctx
            .store
            .approve_digest(d.id, d.version, &issue.to_json(), now, &subject)
            .await?
        {
            break;
        }
        match ctx.store.digest(d.id).await? {
            Some(fresh) => d = fresh,
            None => anyhow::bail!("issue #{} vanished while being approved", d.number),
        }
    }
    Ok(ctx.store.digest(d.id).await?.unwrap_or(d))
}

/// Sends the open issue now, approving it first (an editor's action); its
/// default subject carries today's date.
pub async fn send_now(ctx: &Ctx, list: &List) -> anyhow::Result<Released> {
    send_now_seen(ctx, list, None).await
}

/// [`send_now`], refusing content that changed since the editor saw it.
pub async fn send_now_seen(ctx: &Ctx, list: &List, seen: Option<&str>) -> anyhow::Result<Released> {
    let d = approve_for(ctx, list, Some(crate::now_ms()), seen).await?;
    release(ctx, list, &d).await
}

/// Sends an approved issue: marks it sent with what it carried (once,
/// however many workers try), then queues one delivery per member in
/// chunks (see [`super::sending`]); a crash part-way is finished by the
/// next scheduler pass of any process.
pub async fn release(ctx: &Ctx, list: &List, d: &DigestRow) -> anyhow::Result<Released> {
    if d.status != APPROVED {
        return Ok(Released::AlreadyReleased { digest_id: d.id });
    }
    let issue = Issue::of(d)?;
    if issue.is_empty() {
        ctx.store
            .skip_digest(d.id, d.until_at.unwrap_or_else(crate::now_ms))
            .await?;
        return Ok(Released::Skipped { digest_id: d.id });
    }
    if !begin_sending(ctx, d, &issue).await? {
        return Ok(Released::AlreadyReleased { digest_id: d.id });
    }
    metrics::counter!(crate::telemetry::ISSUES_SENT).increment(1);
    super::sending::expand(ctx, d.id).await?;
    // Read back: another process may have queued some of the chunks.
    let n = ctx.store.digest(d.id).await?.map_or(0, |d| d.recipients) as u64;
    tracing::info!(list = %list.posting(), digest = d.number, recipients = n, "digest released");
    Ok(Released::Sent {
        digest_id: d.id,
        recipients: n,
    })
}

/// Marks approved issue `d` sent, and the questions and answers it
/// carries as carried, in one transaction; queues nothing yet. False when
/// another worker did it first.
pub async fn begin_sending(ctx: &Ctx, d: &DigestRow, issue: &Issue) -> anyhow::Result<bool> {
    let questions: Vec<i64> = issue.items.iter().map(|i| i.question_id).collect();
    let answers: Vec<i64> = issue
        .items
        .iter()
        .flat_map(|i| i.answers.iter().map(|a| a.answer_id))
        .collect();
    let mut tx = ctx.store.begin_write().await?;
    if !ctx.store.mark_digest_sent(&mut tx, d.id).await? {
        return Ok(false);
    }
    ctx.store
        .mark_digested(&mut tx, d.id, &questions, &answers)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Approves the open issue; one whose slot already passed goes out at once.
pub async fn approve_and_release_if_due(
    ctx: &Ctx,
    list: &List,
    seen: Option<&str>,
) -> anyhow::Result<(DigestRow, Option<Released>)> {
    let d = approve_for(ctx, list, None, seen).await?;
    if d.due_at.is_some() && d.status == APPROVED {
        let r = release(ctx, list, &d).await?;
        return Ok((d, Some(r)));
    }
    Ok((d, None))
}

/// Moves a due issue on, for the scheduler: sends it when approved (or when
/// the list needs no approval), skips it when empty, otherwise tells the
/// editors once that it waits for them. `None` when there was nothing to do.
/// Safe to call on every pass and from every worker.
pub async fn advance(ctx: &Ctx, list: &List) -> anyhow::Result<Option<Released>> {
    let Some(d) = ctx.store.open_digest(list.id()).await? else {
        return Ok(None);
    };
    if d.due_at.is_none() {
        return Ok(None);
    }
    if d.status == APPROVED {
        return release(ctx, list, &d).await.map(Some);
    }
    // The setting as it is now, not as the scheduler's pass read it: an
    // editor who has just turned approval on must not see the issue go
    // out without it.
    let Some(current) = ctx.store.list_by_id(list.id()).await? else {
        return Ok(None);
    };
    if !current.require_approval {
        let d = approve_issue(ctx, list, d, Some(crate::now_ms()), None).await?;
        return release(ctx, list, &d).await.map(Some);
    }
    if d.notified_at.is_some() {
        return Ok(None); // editors know; nothing changes until one approves
    }
    let d = draft(ctx, list).await?;
    if Issue::of(&d)?.is_empty() {
        ctx.store.skip_digest(d.id, crate::now_ms()).await?;
        return Ok(Some(Released::Skipped { digest_id: d.id }));
    }
    notify_editors(ctx, list, &d, true).await?;
    Ok(Some(Released::AwaitingApproval { digest_id: d.id }))
}

/// Before the send time: tells the editors the draft is ready for review,
/// once per issue, when it has something in it. True when they were told.
pub async fn notify_ahead(ctx: &Ctx, list: &List) -> anyhow::Result<bool> {
    // Cheap checks first: this runs every minute in every process, and
    // once the editors were told there is nothing to assemble for.
    match ctx.store.open_digest(list.id()).await? {
        Some(d) if d.status != DRAFT || d.notified_at.is_some() => return Ok(false),
        _ => {}
    }
    if ctx.store.editors(list.id()).await?.is_empty() {
        return Ok(false);
    }
    let d = draft(ctx, list).await?;
    if d.status != DRAFT || d.notified_at.is_some() || Issue::of(&d)?.is_empty() {
        return Ok(false);
    }
    notify_editors(ctx, list, &d, list.row.require_approval).await?;
    Ok(true)
}

async fn notify_editors(
    ctx: &Ctx,
    list: &List,
    d: &DigestRow,
    awaiting_approval: bool,
) -> anyhow::Result<()> {
    if !ctx.store.mark_digest_notified(d.id).await? {
        return Ok(()); // another worker told them
    }
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

/// The member a preview is for: `member`, or the list's first active one.
async fn preview_member(
    ctx: &Ctx,
    list: &List,
    member: Option<&crate::email::EmailAddress>,
) -> anyhow::Result<crate::store::members::MemberRow> {
    match member {
        Some(email) => crate::membership::find(ctx, list, email)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{email} is not a member of {}", list.posting())),
        None => ctx
            .store
            .first_active_member(list.id())
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no active member to preview for; pass --member",
                    list.posting()
                )
            }),
    }
}

/// The open issue as `member` (default: the first active member) would
/// receive it: (issue, text, HTML).
pub async fn preview(
    ctx: &Ctx,
    list: &List,
    member: Option<&crate::email::EmailAddress>,
) -> anyhow::Result<(DigestRow, String, String)> {
    let d = draft(ctx, list).await?;
    let m = preview_member(ctx, list, member).await?;
    let issue = Issue::of(&d)?;
    let (text, html) =
        crate::outbound::render::digest_bodies(ctx, list, &m, &d.subject, &d.intro, &issue)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((d, text, html))
}

/// Sends the open issue, as `member` would get it, to `to` alone: through
/// the outbox as a notice marked as a test, so it is not one of the
/// issue's deliveries.
pub async fn send_test(
    ctx: &Ctx,
    list: &List,
    member: Option<&crate::email::EmailAddress>,
    to: &str,
) -> anyhow::Result<()> {
    let d = draft(ctx, list).await?;
    let m = preview_member(ctx, list, member).await?;
    let notice = Notice::DigestTest {
        digest_id: d.id,
        member_id: m.id,
    };
    let cause = format!("test:{}:{}", d.id, crate::now_ms());
    notices::send(ctx, list, to, None, &notice, &cause).await?;
    Ok(())
}
