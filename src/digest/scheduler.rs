//! The scheduler: fires each list's digest at its next persisted slot.
//! Slots are claimed with compare-and-set, so of several processes only one
//! fires; after downtime the next slot is computed from *now*, so a missed
//! run fires once, not once per missed slot.

use super::schedule::{parse_timezone, Schedule};
use super::send::send_now;
use crate::app::{Ctx, List};
use chrono::{TimeZone, Utc};
use tokio::sync::watch;
use tracing::Instrument;

/// The next slot strictly after `after_ms` for this list.
pub fn next_slot(list: &List, after_ms: i64) -> anyhow::Result<i64> {
    let schedule = Schedule::parse(&list.row.schedule)?;
    let tz = parse_timezone(&list.row.timezone)?;
    let after = Utc
        .timestamp_millis_opt(after_ms)
        .single()
        .ok_or_else(|| anyhow::anyhow!("time {after_ms} is out of range"))?;
    schedule
        .next_after(after, tz)
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| anyhow::anyhow!("schedule `{}` never fires", list.row.schedule))
}

/// One pass over all lists; returns how many digests fired.
pub async fn tick(ctx: &Ctx) -> anyhow::Result<usize> {
    let now = crate::now_ms();
    let mut fired = 0;
    for row in ctx.store.lists().await? {
        let list = ctx.list(row);
        let Some(slot) = list.row.next_digest_at else {
            // A list without a persisted slot gets one (CAS from NULL is not
            // expressible portably, so plain update; harmless if two race).
            let mut row = list.row.clone();
            row.next_digest_at = Some(next_slot(&list, now)?);
            ctx.store.update_list(&row).await?;
            continue;
        };
        if slot > now {
            continue;
        }
        let next = next_slot(&list, now)?;
        if !ctx.store.claim_digest_slot(list.id(), slot, next).await? {
            continue;
        }
        fired += 1;
        let span = tracing::info_span!("digest", list = %list.posting());
        match send_now(ctx, &list, true).instrument(span).await {
            Ok(r) => tracing::info!(result = ?r, "scheduled digest"),
            Err(e) => {
                tracing::error!(error = %e, "scheduled digest failed; it stays open for the next run or `gazette digest send`")
            }
        }
    }
    Ok(fired)
}

pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(ctx.config.scheduler_tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(e) = tick(&ctx).await {
                    tracing::warn!(error = %e, "scheduler pass failed; retrying next tick");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}
