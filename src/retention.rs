//! Retention: what gazette keeps, and for how long. Without it every
//! message received and every delivery made would stay forever. Runs
//! hourly in `serve`, a bounded batch at a time, and is safe to run from
//! several processes at once.
//!
//! - the raw bytes of inbound mail handled more than `GAZETTE_KEEP_RAW_DAYS`
//!   ago (the row, with its outcome, sender and subject, stays; held and
//!   failed mail keeps its bytes, for the editors and the operator);
//! - finished deliveries (sent, failed or cancelled) created more than
//!   `GAZETTE_KEEP_DELIVERIES_DAYS` ago, a digest issue's counted on its
//!   row first (its figures stay; a member's history loses them, and a
//!   bounce arriving later names no member);
//! - throttle marks, sign-in links and attempts, and sessions a week after
//!   they stopped mattering.

use crate::app::Ctx;
use std::time::Duration;
use tokio::sync::watch;

/// Rows one statement deletes at most (a short write lock on SQLite).
const BATCH: i64 = 2_000;
/// Throttles look back a day at most; a week more is plenty.
const HOUSEKEEPING_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub raw_messages: u64,
    pub deliveries: u64,
    pub housekeeping: u64,
}

/// One pass over everything retention covers, `now` being the time it
/// counts back from.
pub async fn prune(ctx: &Ctx, now: i64) -> anyhow::Result<Pruned> {
    let mut done = Pruned::default();
    let raw_before = now - ctx.config.keep_raw.as_millis() as i64;
    loop {
        let n = ctx.store.prune_raw_inbound(raw_before, BATCH).await?;
        done.raw_messages += n;
        if n < BATCH as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let deliveries_before = now - ctx.config.keep_deliveries.as_millis() as i64;
    let mut after = 0;
    loop {
        let step = ctx
            .store
            .prune_deliveries(after, deliveries_before, BATCH)
            .await?;
        done.deliveries += step.deleted;
        match step.next {
            Some(next) => after = next,
            None => break,
        }
        tokio::task::yield_now().await;
    }
    done.housekeeping = ctx
        .store
        .prune_housekeeping(now - HOUSEKEEPING_AFTER_MS)
        .await?;
    Ok(done)
}

/// Prunes every hour until `shutdown`.
pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = interval.tick() => match prune(&ctx, crate::now_ms()).await {
                Ok(p) if p == Pruned::default() => {}
                Ok(p) => tracing::info!(raw_messages = p.raw_messages, deliveries = p.deliveries, housekeeping = p.housekeeping, "old data deleted (retention)"),
                Err(e) => tracing::warn!(error = %e, "retention pass failed; it runs again in an hour"),
            },
            _ = shutdown.changed() => break,
        }
    }
}
