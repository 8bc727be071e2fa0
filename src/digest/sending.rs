//! A sent issue on its way out: its deliveries queued in chunks (workers
//! start on the first while later ones are queued), resumed by the next
//! scheduler pass of any process after a crash, and an editor's pause,
//! resume and cancel, with counts of where its deliveries stand.

use crate::app::{Ctx, List};
use crate::store::digests::DigestRow;
use crate::store::issue_sends::{ExpandStep, IssueCounts};
use crate::store::IssueDelivery;

/// Members queued per transaction: small enough that no transaction holds
/// SQLite's write lock for long, large enough that a million members take
/// a few hundred of them.
pub const EXPAND_CHUNK: i64 = 2_000;

/// The reason a cancelled issue's deliveries carry.
const CANCELLED: &str = "the issue was cancelled by an editor";

/// Queues what is left of sent issue `digest_id`, chunk by chunk, waking
/// the workers after each; returns how many deliveries this call queued.
/// Stops early when the issue is paused or cancelled.
pub async fn expand(ctx: &Ctx, digest_id: i64) -> anyhow::Result<u64> {
    let mut queued = 0;
    loop {
        match ctx
            .store
            .expand_issue_chunk(digest_id, EXPAND_CHUNK)
            .await?
        {
            ExpandStep::Queued(n) => {
                queued += n;
                metrics::counter!(crate::telemetry::ISSUE_RECIPIENTS).increment(n);
                ctx.outbox_wake.notify_waiters();
            }
            ExpandStep::Raced => continue,
            ExpandStep::Finished | ExpandStep::Stopped => return Ok(queued),
        }
    }
}

/// Finishes the expansions a crash left half done (any process's pass).
pub async fn finish_expansions(ctx: &Ctx) -> anyhow::Result<()> {
    for id in ctx.store.unfinished_expansions().await? {
        let n = expand(ctx, id).await?;
        if n > 0 {
            tracing::info!(digest_id = id, queued = n, "resumed an unfinished issue");
        }
    }
    // Deliveries in flight when an editor paused or cancelled, queued
    // again by a temporary failure, are held back with their issue.
    let caught = ctx.store.settle_stopped_issues(CANCELLED).await?;
    if caught > 0 {
        tracing::info!(
            deliveries = caught,
            "held back deliveries of paused or cancelled issues"
        );
    }
    Ok(())
}

/// What an editor's pause, resume or cancel did.
#[derive(Debug, Clone)]
pub struct Switched {
    pub issue: DigestRow,
    /// Deliveries paused, queued again, or cancelled.
    pub deliveries: u64,
    pub counts: IssueCounts,
}

/// An issue that cannot be paused, resumed or cancelled as asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotSwitched(String);

/// Sent issue `number` of the list, or its most recent sent issue.
async fn sent_issue(ctx: &Ctx, list: &List, number: Option<i64>) -> anyhow::Result<DigestRow> {
    let d = match number {
        Some(n) => ctx.store.digest_by_number(list.id(), n).await?,
        None => ctx.store.last_sent_digest(list.id()).await?,
    };
    match d {
        Some(d) if d.status == crate::store::DigestStatus::Sent => Ok(d),
        Some(d) => Err(NotSwitched(format!(
            "issue #{} of {} is {}, not sent; `gazette digest status` shows which issues were sent",
            d.number,
            list.posting(),
            d.status
        ))
        .into()),
        None => Err(NotSwitched(match number {
            Some(n) => format!(
                "{} has no issue #{n}; `gazette digest status` shows its issues",
                list.posting()
            ),
            None => format!(
                "{} has not sent an issue yet; nothing to pause, resume or cancel",
                list.posting()
            ),
        })
        .into()),
    }
}

/// True when nothing of `d` is left to send: every member queued and
/// every delivery sent, failed or cancelled.
fn finished(d: &DigestRow, c: &IssueCounts) -> bool {
    d.expanded_at.is_some() && c.pending() == 0
}

/// Pauses a sending issue (`number`, or the list's latest sent one): its
/// queued deliveries wait and no more are queued; ones being sent finish.
pub async fn pause(ctx: &Ctx, list: &List, number: Option<i64>) -> anyhow::Result<Switched> {
    let d = sent_issue(ctx, list, number).await?;
    let counts = ctx.store.digest_delivery_counts(d.id).await?;
    match d.delivery {
        IssueDelivery::Paused => {
            return Err(NotSwitched(format!(
                "issue #{} is already paused; `gazette digest resume` sends the rest",
                d.number
            ))
            .into())
        }
        IssueDelivery::Cancelled => {
            return Err(NotSwitched(format!(
                "issue #{} was cancelled; nothing is left to pause",
                d.number
            ))
            .into())
        }
        IssueDelivery::Running if finished(&d, &counts) => {
            return Err(NotSwitched(format!(
                "issue #{} has finished sending ({} sent); nothing is left to pause",
                d.number, counts.sent
            ))
            .into())
        }
        IssueDelivery::Running => {}
    }
    let Some(n) = ctx.store.pause_issue(d.id).await? else {
        return Err(changed_meanwhile(&d));
    };
    tracing::info!(list = %list.posting(), digest = d.number, held = n, "issue paused");
    switched(ctx, d.id, n).await
}

/// Resumes a paused issue: its held deliveries are queued again, and
/// members not queued yet are queued now.
pub async fn resume(ctx: &Ctx, list: &List, number: Option<i64>) -> anyhow::Result<Switched> {
    let d = sent_issue(ctx, list, number).await?;
    if d.delivery != IssueDelivery::Paused {
        return Err(NotSwitched(format!(
            "issue #{} is not paused (it is {}); nothing to resume",
            d.number,
            match d.delivery {
                IssueDelivery::Cancelled => "cancelled",
                _ => "sending or sent",
            }
        ))
        .into());
    }
    let Some(n) = ctx.store.resume_issue(d.id).await? else {
        return Err(changed_meanwhile(&d));
    };
    ctx.outbox_wake.notify_waiters();
    tracing::info!(list = %list.posting(), digest = d.number, requeued = n, "issue resumed");
    expand(ctx, d.id).await?;
    switched(ctx, d.id, n).await
}

/// Cancels a sending or paused issue: nothing more of it is sent. The
/// deliveries a worker is sending at that moment still finish.
pub async fn cancel(ctx: &Ctx, list: &List, number: Option<i64>) -> anyhow::Result<Switched> {
    let d = sent_issue(ctx, list, number).await?;
    let counts = ctx.store.digest_delivery_counts(d.id).await?;
    if d.delivery == IssueDelivery::Cancelled {
        return Err(NotSwitched(format!("issue #{} is already cancelled", d.number)).into());
    }
    if d.delivery == IssueDelivery::Running && finished(&d, &counts) {
        return Err(NotSwitched(format!(
            "issue #{} has finished sending ({} sent); nothing is left to cancel",
            d.number, counts.sent
        ))
        .into());
    }
    let Some(n) = ctx.store.cancel_issue(d.id, CANCELLED).await? else {
        return Err(changed_meanwhile(&d));
    };
    tracing::info!(list = %list.posting(), digest = d.number, cancelled = n, "issue cancelled");
    switched(ctx, d.id, n).await
}

fn changed_meanwhile(d: &DigestRow) -> anyhow::Error {
    NotSwitched(format!(
        "issue #{} changed while this ran (another editor or process acted on it); `gazette digest status` shows where it stands",
        d.number
    ))
    .into()
}

async fn switched(ctx: &Ctx, id: i64, deliveries: u64) -> anyhow::Result<Switched> {
    let issue = ctx
        .store
        .digest(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("issue {id} vanished"))?;
    let counts = ctx.store.digest_delivery_counts(id).await?;
    Ok(Switched {
        issue,
        deliveries,
        counts,
    })
}

/// Where a sent issue stands, for people: sending (members still being
/// queued or deliveries still pending), sent, paused or cancelled.
pub fn label(d: &DigestRow, c: &IssueCounts) -> &'static str {
    match d.delivery {
        IssueDelivery::Paused => "paused",
        IssueDelivery::Cancelled => "cancelled",
        IssueDelivery::Running if finished(d, c) => "sent",
        IssueDelivery::Running => "sending",
    }
}
