//! Delivery workers: claim due outbox rows, send each, record the result.
//! A row is marked sent the moment the relay accepts it; a crash before
//! that leaves the row leased, and the lease expiry hands it to another
//! worker. So a send must end before its lease does: it gets a deadline a
//! margin before the lease ends, and a relay too slow for it is dropped
//! and retried. 4xx and network errors back off exponentially for up to
//! `retry_for` (days) from the first attempt (or from `outbox retry`); 5xx
//! fails at once, and counts as a bounce when it is about the recipient.
//! Every message is DKIM-signed just before it is sent, when a key is set.

use super::compose;
use super::render::{render, RenderError};
use super::transport::{SendError, Transport};
use crate::app::Ctx;
use crate::store::outbox::OutboxRow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Points a permanent failure about the recipient adds to the member's
/// bounce score (see [`crate::store::members::BOUNCE_DISABLE_AT`]).
const PERMANENT_FAILURE_POINTS: i64 = 2;

/// A send must be over this long before its lease ends: time to record the
/// outcome while the row is still ours.
const LEASE_MARGIN_MS: i64 = 1000;

/// Tries at recording a send the relay accepted (100 ms, doubling, between).
const MARK_SENT_TRIES: u32 = 5;

/// After this many permanent refusals in a row that are not about the
/// recipient, the relay itself seems to refuse us: say so loudly.
const RELAY_REFUSAL_ALARM: usize = 10;

/// Permanent refusals in a row that were not about the recipient (a
/// process talks to one relay, so one counter serves all workers).
static RELAY_REFUSALS_IN_A_ROW: AtomicUsize = AtomicUsize::new(0);

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
        // A relay that is down holds sends (its circuit breaker): claim
        // nothing until it may be probed.
        tokio::select! {
            _ = transport.wait_usable() => {}
            changed = shutdown.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
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
                    let deadline_ms = lease_until - LEASE_MARGIN_MS;
                    if crate::now_ms() >= deadline_ms {
                        if let Err(e) = c.store.release(row.id, &o).await {
                            tracing::warn!(error = %e, "cannot release row; its lease will expire");
                        }
                        return;
                    }
                    deliver(&c, &t, &o, &row, deadline_ms).await
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

/// Sends one row, finishing by `deadline_ms` (epoch ms) or handing it
/// back, and records what happened; errors recording are logged (the lease
/// then expires and the row is tried again).
pub async fn deliver(
    ctx: &Ctx,
    transport: &Transport,
    owner: &str,
    row: &OutboxRow,
    deadline_ms: i64,
) {
    if let Err(e) = try_deliver(ctx, transport, owner, row, deadline_ms).await {
        tracing::error!(error = %e, "could not record the delivery result; the row will be retried after its lease");
    }
}

async fn try_deliver(
    ctx: &Ctx,
    transport: &Transport,
    owner: &str,
    row: &OutboxRow,
    deadline_ms: i64,
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
    // Signed last, over the exact bytes sent. A failure here is our fault,
    // not the message's: retry it like a relay's 4xx rather than fail it.
    let bytes = match &ctx.dkim {
        Some(dkim) => match dkim
            .domain_for(&outgoing.from_addr)
            .and_then(|d| dkim.sign(&d, &bytes))
        {
            Ok(signed) => signed,
            Err(e) => {
                tracing::error!(error = %e, "cannot DKIM-sign the message; it will be retried (check GAZETTE_DKIM_KEY and GAZETTE_DKIM_DOMAIN)");
                return retry_or_fail(ctx, owner, row, &e.to_string()).await;
            }
        },
        None => bytes,
    };
    let name = format!("{:08}-{}", row.id, row.kind);
    let left = Duration::from_millis((deadline_ms - crate::now_ms()).max(0) as u64);
    let deadline = tokio::time::Instant::now() + left;
    let result = transport
        .send(&envelope_from, &row.recipient, &name, &bytes, deadline)
        .await;
    record(ctx, owner, row, result).await
}

/// The last stage: what the relay said becomes the row's state (sent,
/// handed back, retried later, or failed and perhaps a bounce).
async fn record(
    ctx: &Ctx,
    owner: &str,
    row: &OutboxRow,
    result: Result<String, SendError>,
) -> anyhow::Result<()> {
    match result {
        Ok(reply) => {
            RELAY_REFUSALS_IN_A_ROW.store(0, Ordering::Relaxed);
            record_sent(ctx, row, &reply).await?;
            tracing::debug!(reply = %reply, "sent");
        }
        Err(SendError::NotStarted(why)) => {
            // Nothing reached the relay: not an attempt, just a row we
            // could not get to in time. The next claim takes it afresh.
            tracing::debug!(reason = %why, "not started before the lease deadline; handing the row back");
            ctx.store.release(row.id, owner).await?;
        }
        Err(SendError::Temporary(reply)) => retry_or_fail(ctx, owner, row, &reply).await?,
        Err(SendError::Permanent(reply)) => {
            ctx.store.mark_failed(row.id, owner, &reply).await?;
            if blames_recipient(&reply) {
                RELAY_REFUSALS_IN_A_ROW.store(0, Ordering::Relaxed);
                tracing::warn!(reply = %reply, "relay refused the recipient for good");
                if let Some(member) = row.member_id {
                    crate::notices::bounced::add_bounce_points(
                        ctx,
                        member,
                        PERMANENT_FAILURE_POINTS,
                    )
                    .await?;
                }
            } else {
                tracing::warn!(reply = %reply, "relay refused the message for good (not about the recipient: no bounce points)");
                let n = RELAY_REFUSALS_IN_A_ROW.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(RELAY_REFUSAL_ALARM) {
                    tracing::error!(
                        in_a_row = n,
                        last_reply = %reply,
                        "the relay seems to refuse everything we send, for reasons that are not about the recipients; check what it allows this host and sender domain (relay access, SPF, credentials in GAZETTE_SMTP_URL), then requeue with `gazette outbox retry`"
                    );
                }
            }
        }
    }
    Ok(())
}

/// Records a send the relay accepted. It is retried briefly, because a
/// row left leased is sent again when the lease ends; marking it sent twice
/// does no harm.
async fn record_sent(ctx: &Ctx, row: &OutboxRow, reply: &str) -> anyhow::Result<()> {
    let mut pause = Duration::from_millis(100);
    let mut tries = 1;
    loop {
        match ctx.store.mark_sent(row.id, reply).await {
            Ok(()) => return Ok(()),
            Err(e) if tries < MARK_SENT_TRIES => {
                tracing::warn!(error = %e, tries, "relay accepted the message but recording it failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tries += 1;
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "the relay accepted the message ({reply}) but recording it failed {tries} times ({e}); unless the database recovers first, the recipient gets it again after the lease"
                ))
            }
        }
    }
}

async fn retry_or_fail(ctx: &Ctx, owner: &str, row: &OutboxRow, reply: &str) -> anyhow::Result<()> {
    let now = crate::now_ms();
    // From the first attempt, or from `outbox retry` when an operator requeued it.
    if now - row.retry_since > ctx.config.retry_for.as_millis() as i64 {
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

/// Whether a permanent refusal is about the recipient's address, and so
/// counts towards disabling the member, rather than about us, the message
/// or the relay's policy (a relay that denies us must not unsubscribe
/// everyone). `reply` starts with the reply code, then the RFC 3463
/// enhanced code when the relay sent one. Enhanced codes decide when
/// present: 5.1.x is addressing, except 5.1.7 and 5.1.8 (the sender's
/// address), and 5.2.x is the mailbox (disabled, full). Without one, only
/// 550, 551 and 553 read as "no such mailbox"; 554 and 530 are too vague.
pub fn blames_recipient(reply: &str) -> bool {
    let mut words = reply.split_whitespace();
    let Some(code) = words.next().and_then(|w| w.parse::<u16>().ok()) else {
        return false;
    };
    if !(500..600).contains(&code) {
        return false;
    }
    match words.next().and_then(enhanced_code) {
        Some((5, 1, detail)) => !matches!(detail, 7 | 8),
        Some((5, 2, _)) => true,
        Some(_) => false,
        None => matches!(code, 550 | 551 | 553),
    }
}

/// `5.1.1` as (5, 1, 1); `None` for anything else.
fn enhanced_code(word: &str) -> Option<(u16, u16, u16)> {
    let mut parts = word.split('.').map(|p| p.parse::<u16>().ok());
    let code = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(code)
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
    use super::blames_recipient;

    #[test]
    fn refusals_about_the_recipient_score() {
        for reply in [
            "550 5.1.1 <m@example.org>: Recipient address rejected: User unknown",
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound",
            "553 5.1.3 bad recipient address syntax",
            "551 5.1.6 mailbox has moved",
            "552 5.2.2 mailbox full",
            "550 5.2.1 mailbox disabled, not accepting messages",
            "550 no such user here",
            "551 user not local",
            "553 mailbox name not allowed",
        ] {
            assert!(blames_recipient(reply), "{reply}");
        }
    }

    #[test]
    fn refusals_about_us_or_the_message_do_not() {
        for reply in [
            "554 5.7.1 <m@example.org>: Relay access denied",
            "550 5.7.1 Client host rejected: cannot find your hostname",
            "550 5.7.26 Unauthenticated email from example.org is not accepted due to DMARC",
            "530 5.7.0 Must issue a STARTTLS command first",
            "530 Authentication required",
            "553 5.1.8 sender address domain does not exist",
            "550 5.1.7 bad sender mailbox syntax",
            "554 5.3.4 message too big for system",
            "552 5.3.4 message size exceeds fixed limit",
            "550 5.6.0 content rejected",
            "500 5.5.2 syntax error",
            "554 transaction failed",
            "554 5.0.0 service unavailable",
            "bad recipient address x@: missing domain",
            "451 4.1.1 try later",
            "550 4.1.1 inconsistent classes",
        ] {
            assert!(!blames_recipient(reply), "{reply}");
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert!((30_000..=33_000).contains(&super::backoff_ms(1)));
        assert!((60_000..=66_000).contains(&super::backoff_ms(2)));
        assert!(super::backoff_ms(30) <= 4 * 3600 * 1000 * 11 / 10);
    }
}
