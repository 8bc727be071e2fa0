//! Delivery workers: claim due outbox rows, send each, record the result.
//! A row is marked sent the moment the relay accepts it; a crash before
//! that leaves the row leased, and the lease expiry hands it to another
//! worker. 4xx and network errors back off exponentially for up to
//! `retry_for` (days); 5xx fails at once and counts as a bounce.

use super::compose;
use super::render::{render, RenderError};
use super::transport::{SendError, Transport};
use crate::app::Ctx;
use crate::store::outbox::OutboxRow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Points a permanent failure adds to the member's bounce score (see
/// [`crate::store::members::BOUNCE_DISABLE_AT`]).
const PERMANENT_FAILURE_POINTS: i64 = 2;

/// A row whose lease ends within this margin is not started.
const LEASE_MARGIN_MS: i64 = 1000;

/// Runs `config.workers` workers until `shutdown` flips; in-flight sends
/// finish, claimed but unstarted rows are handed back.
pub async fn run(ctx: Ctx, transport: Arc<Transport>, shutdown: watch::Receiver<bool>) {
    let mut set = JoinSet::new();
    for n in 0..ctx.config.workers {
        let owner = format!(
            "{}:{}:{}:{:08x}",
            ctx.config.hostname,
            std::process::id(),
            n,
            rand::random::<u32>()
        );
        set.spawn(worker(
            ctx.clone(),
            transport.clone(),
            owner,
            shutdown.clone(),
        ));
    }
    while set.join_next().await.is_some() {}
    transport.close().await;
}

async fn worker(
    ctx: Ctx,
    transport: Arc<Transport>,
    owner: String,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let lease_until = crate::now_ms() + ctx.config.lease.as_millis() as i64;
        let rows = match ctx
            .store
            .claim(&owner, lease_until, ctx.config.batch_size)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim outbox rows; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if rows.is_empty() {
            tokio::select! {
                _ = ctx.outbox_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let mut tasks = JoinSet::new();
        for row in rows {
            if *shutdown.borrow() {
                if let Err(e) = ctx.store.release(row.id, &owner).await {
                    tracing::warn!(error = %e, id = row.id, "cannot release row; its lease will expire");
                }
                continue;
            }
            let span =
                tracing::info_span!("delivery", id = row.id, kind = %row.kind, to = %row.recipient);
            let (c, t, o) = (ctx.clone(), transport.clone(), owner.clone());
            tasks.spawn(
                async move {
                    // Past (or near) the lease another worker may own the row:
                    // hand it back rather than risk sending it twice.
                    if crate::now_ms() > lease_until - LEASE_MARGIN_MS {
                        if let Err(e) = c.store.release(row.id, &o).await {
                            tracing::warn!(error = %e, "cannot release row; its lease will expire");
                        }
                        return;
                    }
                    deliver(&c, &t, &o, &row).await
                }
                .instrument(span),
            );
            // Keep no more sends in flight than the relay accepts at once.
            while tasks.len() >= ctx.config.smtp_max_connections.max(1) * 2 {
                tasks.join_next().await;
            }
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Sends one row and records what happened; errors recording are logged
/// (the lease then expires and the row is tried again).
pub async fn deliver(ctx: &Ctx, transport: &Transport, owner: &str, row: &OutboxRow) {
    if let Err(e) = try_deliver(ctx, transport, owner, row).await {
        tracing::error!(error = %e, "could not record the delivery result; the row will be retried after its lease");
    }
}

async fn try_deliver(
    ctx: &Ctx,
    transport: &Transport,
    owner: &str,
    row: &OutboxRow,
) -> anyhow::Result<()> {
    let (outgoing, envelope_from) = match render(ctx, row).await {
        Ok(r) => r,
        Err(RenderError::Cancelled(why)) => {
            tracing::info!(reason = %why, "delivery cancelled");
            ctx.store.mark_cancelled(row.id, &why).await?;
            return Ok(());
        }
        Err(RenderError::Other(e)) => {
            return retry_or_fail(ctx, owner, row, &format!("render failed: {e}")).await;
        }
    };
    let bytes = match compose::build(&outgoing) {
        Ok(b) => b,
        Err(e) => {
            ctx.store.mark_failed(row.id, owner, &e.to_string()).await?;
            return Ok(());
        }
    };
    let name = format!("{:08}-{}", row.id, row.kind);
    match transport
        .send(&envelope_from, &row.recipient, &name, &bytes)
        .await
    {
        Ok(reply) => {
            ctx.store.mark_sent(row.id, &reply).await?;
            tracing::debug!(reply = %reply, "sent");
        }
        Err(SendError::Temporary(reply)) => retry_or_fail(ctx, owner, row, &reply).await?,
        Err(SendError::Permanent(reply)) => {
            tracing::warn!(reply = %reply, "relay refused the message for good");
            ctx.store.mark_failed(row.id, owner, &reply).await?;
            if let Some(member) = row.member_id {
                ctx.store
                    .add_bounce_points(member, PERMANENT_FAILURE_POINTS)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn retry_or_fail(ctx: &Ctx, owner: &str, row: &OutboxRow, reply: &str) -> anyhow::Result<()> {
    let now = crate::now_ms();
    if now - row.created_at > ctx.config.retry_for.as_millis() as i64 {
        let why = format!("gave up after {} attempts: {reply}", row.attempts);
        tracing::warn!(reason = %why, "delivery failed");
        ctx.store.mark_failed(row.id, owner, &why).await?;
    } else {
        let next = now + backoff_ms(row.attempts);
        tracing::info!(reply = %reply, retry_in_s = (next - now) / 1000, "temporary failure");
        ctx.store.mark_retry(row.id, owner, next, reply).await?;
    }
    Ok(())
}

/// 30 s doubling per attempt, capped at 4 hours, with up to 10 % jitter so
/// a relay outage does not end in a thundering herd.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    let base = (30_000i64 << exp).min(4 * 3600 * 1000);
    base + (rand::random::<u32>() as i64 % (base / 10 + 1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_caps() {
        assert!((30_000..=33_000).contains(&super::backoff_ms(1)));
        assert!((60_000..=66_000).contains(&super::backoff_ms(2)));
        assert!(super::backoff_ms(30) <= 4 * 3600 * 1000 * 11 / 10);
    }
}
