//! The scheduler: fires each list's digest at its next persisted slot.
//! A slot is claimed with compare-and-set in the same transaction that
//! marks the open issue due, so of several processes only one fires, and a
//! crash after the claim leaves a due issue the next pass sends. After
//! downtime the next slot is computed from *now*, so a missed run fires
//! once, not once per missed slot. Before a slot, editors are told the
//! draft is ready for review. Each pass also finishes queuing any sent
//! issue whose expansion a crash interrupted.

use super::schedule::{parse_timezone, Schedule};
use super::send::{advance, notify_ahead, Released};
use crate::app::{Ctx, List};
use chrono::{TimeZone, Utc};
use std::collections::HashMap;
use tokio::sync::watch;
use tracing::Instrument;

/// Editors hear about a draft this long before its slot (or half the
/// period, for lists that send more often than twice a day).
const NOTIFY_AHEAD_MS: i64 = 24 * 3600 * 1000;
/// How often a draft in the notice window is re-assembled to see whether
/// it has content yet.
const AHEAD_CHECK_EVERY_MS: i64 = 60 * 1000;

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

/// What one process remembers between passes: when it last looked at a
/// list's draft ahead of its slot.
#[derive(Default)]
pub struct Memory {
    ahead_checked: HashMap<i64, i64>,
}

/// One pass over all lists; returns how many slots this process fired.
pub async fn tick(ctx: &Ctx, memory: &mut Memory) -> anyhow::Result<usize> {
    // Held posts are told to editors on the same beat.
    if let Err(e) = crate::moderation::notify_held(ctx).await {
        tracing::warn!(error = %e, "could not tell editors about held posts; trying again next pass");
    }
    // Issues a crash left half queued go on, on whichever process passes.
    if let Err(e) = super::sending::finish_expansions(ctx).await {
        tracing::warn!(error = %e, "could not finish queuing a sent issue; trying again next pass");
    }
    let mut fired = 0;
    for row in ctx.store.lists().await? {
        let list = ctx.list(row);
        let span = tracing::info_span!("digest", list = %list.posting());
        match pass(ctx, &list, memory).instrument(span).await {
            Ok(true) => fired += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(list = %list.posting(), error = %e,
                "digest pass failed; the issue stays open and is retried next pass (or `gazette digest send`)"),
        }
    }
    Ok(fired)
}

async fn pass(ctx: &Ctx, list: &List, memory: &mut Memory) -> anyhow::Result<bool> {
    let now = crate::now_ms();
    let Some(slot) = list.row.next_digest_at else {
        // No persisted slot yet (a list made before scheduling existed):
        // set only if still unset, so nothing newer is overwritten.
        let next = next_slot(list, now)?;
        ctx.store
            .move_next_digest(list.id(), None, Some(next))
            .await?;
        return Ok(false);
    };
    let mut fired = false;
    if slot <= now {
        let next = next_slot(list, now)?;
        fired = ctx
            .store
            .fire_slot(list.id(), slot, next, list.row.created_at)
            .await?;
        if fired {
            tracing::info!(
                slot = %crate::fmt_ms(slot),
                next = %crate::fmt_ms(next),
                "schedule fired"
            );
        }
    } else if in_notice_window(list, slot, now)? {
        let last = memory.ahead_checked.get(&list.id()).copied().unwrap_or(0);
        if now - last >= AHEAD_CHECK_EVERY_MS {
            memory.ahead_checked.insert(list.id(), now);
            if notify_ahead(ctx, list).await? {
                tracing::info!("editors told the draft is ready for review");
            }
        }
    }
    // Every pass, not only the one that fired: an issue left due by a
    // crash or an error goes out on the next pass.
    match advance(ctx, list).await? {
        None | Some(Released::AlreadyReleased { .. }) => {}
        Some(r) => tracing::info!(result = ?r, "scheduled digest"),
    }
    Ok(fired)
}

fn in_notice_window(list: &List, slot: i64, now: i64) -> anyhow::Result<bool> {
    let period = next_slot(list, slot)? - slot;
    Ok(now >= slot - NOTIFY_AHEAD_MS.min(period / 2))
}

pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(ctx.config.scheduler_tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut memory = Memory::default();
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(e) = tick(&ctx, &mut memory).await {
                    tracing::warn!(error = %e, "scheduler pass failed; retrying next tick");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}
