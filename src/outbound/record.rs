//! Recording delivery results in batches: workers hand each outcome to one
//! recorder per process, which writes them in one transaction per batch,
//! every [`FLUSH_EVERY`] or [`FLUSH_MAX`] outcomes, whichever comes first,
//! instead of one commit per message.
//!
//! What this costs in guarantees, exactly: an outcome lives only in memory
//! from the moment the relay answered until its batch commits (at most
//! [`FLUSH_EVERY`] plus the commit). If the process dies in between, its
//! rows stay leased and are sent again once the lease ends. For a row the
//! relay had accepted, that is a second accepted delivery; the recipient
//! can tell it apart by its `Message-ID`, which is the same on every
//! attempt at one row. The same happens if the commit itself is delayed
//! past the lease (the worker's lease margin is sized so that it is not:
//! see [`super::worker::lease_margin`]). Outside that window a row is
//! accepted by the relay at most once.

use crate::app::Ctx;
use crate::store::outbox::{Outcome, Recorded};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The longest an outcome waits in memory before its batch is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A batch is written as soon as it holds this many outcomes.
pub const FLUSH_MAX: usize = 500;

/// Tries at writing one batch (100 ms, doubling, between), after which
/// each outcome is tried alone, so one that cannot be written does not
/// take the others with it.
const FLUSH_TRIES: u32 = 4;

/// Points a permanent failure about the recipient adds to the member's
/// bounce score (see [`crate::store::members::BOUNCE_DISABLE_AT`]).
pub const PERMANENT_FAILURE_POINTS: i64 = 2;

/// One outcome on its way to the database, with the member whose bounce
/// score it raises once it is recorded (a permanent refusal of them).
struct Pending {
    record: Recorded,
    bounce_member: Option<i64>,
}

/// The workers' end: cheap to clone, one per worker.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Recorder {
    /// Starts the recorder task; it ends, having written everything, once
    /// every clone of the returned [`Recorder`] is dropped.
    pub fn start(ctx: Ctx) -> (Recorder, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Recorder { tx }, tokio::spawn(flusher(ctx, rx)))
    }

    pub fn push(&self, id: i64, owner: &str, outcome: Outcome) {
        self.send(id, owner, outcome, None);
    }

    /// A permanent failure; `bounce_member` gets bounce points if the
    /// failure is recorded (that is, the worker still held the lease).
    pub fn failed(&self, id: i64, owner: &str, reply: String, bounce_member: Option<i64>) {
        self.send(id, owner, Outcome::Failed { reply }, bounce_member);
    }

    fn send(&self, id: i64, owner: &str, outcome: Outcome, bounce_member: Option<i64>) {
        let record = Recorded {
            id,
            owner: owner.to_string(),
            outcome,
        };
        // The flusher only ends once every sender is gone, so this cannot fail.
        let _ = self.tx.send(Pending {
            record,
            bounce_member,
        });
    }
}

async fn flusher(ctx: Ctx, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(FLUSH_MAX);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let due = Instant::now() + FLUSH_EVERY;
        while batch.len() < FLUSH_MAX {
            match tokio::time::timeout_at(due, rx.recv()).await {
                Ok(Some(p)) => batch.push(p),
                Ok(None) | Err(_) => break,
            }
        }
        flush(&ctx, &mut batch).await;
    }
}

/// Writes `batch` (emptying it), then adds the bounce points of the
/// failures that were recorded.
async fn flush(ctx: &Ctx, batch: &mut Vec<Pending>) {
    let records: Vec<Recorded> = batch.iter().map(|p| p.record.clone()).collect();
    let applied = match write_with_retries(ctx, &records).await {
        Some(applied) => applied,
        None => write_one_by_one(ctx, &records).await,
    };
    for (p, applied) in batch.drain(..).zip(applied) {
        if let (true, Some(member)) = (applied, p.bounce_member) {
            // Through the notices: the call that disables the member
            // queues the one notice telling them so.
            if let Err(e) =
                crate::notices::bounced::add_bounce_points(ctx, member, PERMANENT_FAILURE_POINTS)
                    .await
            {
                tracing::warn!(error = %e, member, "cannot add bounce points for a refused recipient");
            }
        }
    }
}

async fn write_with_retries(ctx: &Ctx, records: &[Recorded]) -> Option<Vec<bool>> {
    let mut pause = Duration::from_millis(100);
    for tries in 1..=FLUSH_TRIES {
        match ctx.store.record_outcomes(records).await {
            Ok(applied) => return Some(applied),
            Err(e) => {
                tracing::warn!(error = %e, tries, outcomes = records.len(), "cannot record delivery results; trying again");
                if tries < FLUSH_TRIES {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
    }
    None
}

/// The last resort: each outcome in its own transaction. One that still
/// fails is lost; its row stays leased and is tried again after the lease.
async fn write_one_by_one(ctx: &Ctx, records: &[Recorded]) -> Vec<bool> {
    let mut applied = Vec::with_capacity(records.len());
    for r in records {
        match ctx.store.record_outcomes(std::slice::from_ref(r)).await {
            Ok(one) => applied.push(one.first().copied().unwrap_or(false)),
            Err(e) => {
                if let Outcome::Sent { reply, .. } = &r.outcome {
                    tracing::error!(error = %e, id = r.id, reply = %reply, "the relay accepted the message but recording it failed; unless the database recovers first, the recipient gets it again after the lease (same Message-ID)");
                } else {
                    tracing::error!(error = %e, id = r.id, "cannot record a delivery result; the row will be retried after its lease");
                }
                applied.push(false);
            }
        }
    }
    applied
}
