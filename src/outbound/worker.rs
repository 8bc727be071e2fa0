//! Delivery workers: claim due outbox rows, send each, record the result.
//!
//! Leases are taken and compared on the database's clock: the claim sets
//! `lease_until` from the database's now and reports both, and the sweep
//! that hands expired rows back compares with the database's now too. A
//! worker never compares its own wall clock with a lease; it turns the lease
//! left (as the database reported it) into a deadline on its monotonic
//! clock, counted from before it sent the claim, so the deadline can only
//! be early, never late, whatever the worker's clock says.
//!
//! A send must end [`lease_margin`] before the lease does, and the result is
//! then recorded in a batch (see [`super::record`]) while the row is still
//! ours. A relay too slow for the deadline is dropped and the row retried.
//! 4xx and network errors back off exponentially for up to `retry_for`
//! (days) from the first attempt (or from `outbox retry`); 5xx fails at
//! once, and counts as a bounce when it is about the recipient. Every
//! message is DKIM-signed just before it is sent, when a key is set.
//!
//! Workers claim ahead: the next batch is claimed as soon as the current
//! one is all under way, so the relay connections do not idle while the
//! last sends of a batch finish.

use super::compose;
use super::record::Recorder;
use super::render::{render, render_for, RenderError};
use super::transport::{SendError, Transport};
use crate::app::Ctx;
use crate::store::members::MemberRow;
use crate::store::outbox::{OutboxRow, Outcome};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

/// How long before its lease ends a send must be over: the time to record
/// its result while the row is still ours. Recording takes up to
/// [`super::record::FLUSH_EVERY`] (100 ms) of batching, then one commit,
/// which on SQLite may wait for the write lock up to its busy timeout
/// (10 s), then up to 1.5 s of pauses between retries. So a quarter of the
/// lease, at most 30 s (at the default 300 s lease, 30 s: twice what a
/// commit can wait), at least 1 s, and never more than half the lease (a
/// lease of a few seconds, as in tests, leaves room to send; there a commit
/// held up for more than the margin falls in the window named in
/// [`super::record`]).
pub fn lease_margin(lease: Duration) -> Duration {
    (lease / 4)
        .clamp(Duration::from_secs(1), Duration::from_secs(30))
        .min(lease / 2)
}

/// Rows a worker claims at once: `GAZETTE_BATCH_SIZE` (large, because
/// each claim is a commit and a round trip: on PostgreSQL, batches of 500
/// instead of 50 cut the server's CPU per message by two thirds), but no
/// more than a rate-capped relay takes from this worker in half a lease,
/// since rows claimed and not started are out of other workers' reach
/// until they are handed back.
pub fn claim_size(config: &crate::config::Config) -> i64 {
    if config.smtp_rate_per_sec == 0 {
        return config.batch_size;
    }
    let per_worker = f64::from(config.smtp_rate_per_sec) / config.workers.max(1) as f64;
    let fits = (per_worker * config.lease.as_secs_f64() / 2.0) as i64;
    config.batch_size.min(fits.max(1))
}

/// How often each process hands back the rows of expired leases.
fn sweep_every(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

/// After this many permanent refusals in a row that are not about the
/// recipient, the relay itself seems to refuse us: say so loudly.
const RELAY_REFUSAL_ALARM: usize = 10;

/// Permanent refusals in a row that were not about the recipient (a
/// process talks to one relay, so one counter serves all workers).
static RELAY_REFUSALS_IN_A_ROW: AtomicUsize = AtomicUsize::new(0);

/// Runs `config.workers` workers and the lease sweep until `shutdown`
/// flips; in-flight sends finish, claimed but unstarted rows are handed
/// back, and every result is recorded before this returns.
pub async fn run(ctx: Ctx, transport: Arc<Transport>, shutdown: watch::Receiver<bool>) {
    let (recorder, recording) = Recorder::start(ctx.clone());
    let sweeper = tokio::spawn(sweeper(ctx.clone(), shutdown.clone()));
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
            recorder.clone(),
            owner,
            shutdown.clone(),
        ));
    }
    drop(recorder);
    while set.join_next().await.is_some() {}
    let _ = recording.await;
    let _ = sweeper.await;
    transport.close().await;
}

/// Hands back rows whose lease ended (a worker that died, here or in
/// another process), until `shutdown` flips.
async fn sweeper(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let every = sweep_every(ctx.config.lease);
    loop {
        match ctx.store.sweep_expired_leases().await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    rows = n,
                    "leases ended without a result; the rows are queued again"
                );
                ctx.outbox_wake.notify_waiters();
            }
            Err(e) => tracing::warn!(error = %e, "cannot hand back expired leases; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

async fn worker(
    ctx: Ctx,
    transport: Arc<Transport>,
    recorder: Recorder,
    owner: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let lease_ms = ctx.config.lease.as_millis() as i64;
    let margin = lease_margin(ctx.config.lease);
    let batch = claim_size(&ctx.config);
    // Sends in flight, across batches: no more than the relay takes at once.
    let in_flight = ctx.config.smtp_max_connections.max(1) * 2;
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        if *shutdown.borrow() {
            break;
        }
        // A relay that is down holds sends (its circuit breaker): claim
        // nothing until it may be probed.
        tokio::select! {
            _ = transport.wait_usable() => {}
            changed = shutdown.changed() => match changed {
                Ok(()) => continue,
                Err(_) => break,
            },
        }
        // Before the claim: the database's now is at or after this instant.
        let asked = Instant::now();
        let claim = match ctx.store.claim(&owner, lease_ms, batch).await {
            Ok(claim) => claim,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim outbox rows; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if claim.rows.is_empty() {
            tokio::select! {
                _ = ctx.outbox_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let left = Duration::from_millis(claim.lease_left_ms().max(0) as u64);
        let deadline = (asked + left).checked_sub(margin).unwrap_or(asked);
        // The batch's members in one read; if that fails, each render
        // reads its own.
        let members = match ctx.store.members_leased_by(&owner).await {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the batch's members; reading them one by one");
                None
            }
        };
        for row in claim.rows {
            while tasks.len() >= in_flight {
                tasks.join_next().await;
            }
            // Past (or near) the lease another worker may own the row:
            // hand it back rather than risk sending it twice.
            if *shutdown.borrow() || Instant::now() >= deadline {
                recorder.push(row.id, &owner, Outcome::Released);
                continue;
            }
            let span =
                tracing::info_span!("delivery", id = row.id, kind = %row.kind, to = %row.recipient);
            let (c, t, r, o) = (
                ctx.clone(),
                transport.clone(),
                recorder.clone(),
                owner.clone(),
            );
            let member = members
                .as_ref()
                .map(|m| row.member_id.and_then(|id| m.get(&id).cloned()));
            tasks.spawn(
                async move {
                    let outcome = deliver(&c, &t, &row, member, deadline).await;
                    report(&c, &r, &o, &row, outcome);
                }
                .instrument(span),
            );
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Sends one row, finishing by `deadline` or not at all, and says what
/// became of it. `member` is the row's member when already read (`Some`,
/// holding `None` when there is none); otherwise rendering reads it. A
/// member read with the batch is at most one batch old when the message is
/// rendered.
pub async fn deliver(
    ctx: &Ctx,
    transport: &Transport,
    row: &OutboxRow,
    member: Option<Option<MemberRow>>,
    deadline: Instant,
) -> Sent {
    let rendered = match member {
        Some(member) => render_for(ctx, row, member).await,
        None => render(ctx, row).await,
    };
    let (outgoing, envelope_from) = match rendered {
        Ok(r) => r,
        Err(RenderError::Cancelled(why)) => return Sent::Cancelled(why),
        Err(RenderError::Other(e)) => {
            return Sent::Result(Err(SendError::Temporary(format!("render failed: {e}"))))
        }
    };
    let bytes = match compose::build(&outgoing) {
        Ok(b) => b,
        Err(e) => return Sent::Unsendable(e.to_string()),
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
                return Sent::Result(Err(SendError::Temporary(e.to_string())));
            }
        },
        None => bytes,
    };
    let name = format!("{:08}-{}", row.id, row.kind);
    let result = transport
        .send(&envelope_from, &row.recipient, &name, &bytes, deadline)
        .await;
    Sent::Result(result)
}

/// What became of one attempt at a row.
#[derive(Debug)]
pub enum Sent {
    /// What the relay said (or why nothing reached it).
    Result(Result<String, SendError>),
    /// The delivery no longer makes sense (the member left).
    Cancelled(String),
    /// The message cannot be built: no retry will help.
    Unsendable(String),
}

/// The last stage: what happened becomes the row's next state (sent,
/// handed back, retried later, or failed and perhaps a bounce), queued for
/// the recorder.
fn report(ctx: &Ctx, recorder: &Recorder, owner: &str, row: &OutboxRow, sent: Sent) {
    count(row, &sent);
    let result = match sent {
        Sent::Result(result) => result,
        Sent::Cancelled(reason) => {
            tracing::info!(reason = %reason, "delivery cancelled");
            return recorder.push(row.id, owner, Outcome::Cancelled { reason });
        }
        Sent::Unsendable(reply) => return recorder.failed(row.id, owner, reply, None),
    };
    match result {
        Ok(reply) => {
            RELAY_REFUSALS_IN_A_ROW.store(0, Ordering::Relaxed);
            tracing::debug!(reply = %reply, "sent");
            let at = crate::now_ms();
            recorder.push(row.id, owner, Outcome::Sent { reply, at });
        }
        Err(SendError::NotStarted(why)) => {
            // Nothing reached the relay: not an attempt, just a row we
            // could not get to in time. The next claim takes it afresh.
            tracing::debug!(reason = %why, "not started before the lease deadline; handing the row back");
            recorder.push(row.id, owner, Outcome::Released);
        }
        Err(SendError::Temporary(reply)) => retry_or_fail(ctx, recorder, owner, row, reply),
        Err(SendError::Permanent(reply)) => {
            let bounce = if blames_recipient(&reply) {
                RELAY_REFUSALS_IN_A_ROW.store(0, Ordering::Relaxed);
                tracing::warn!(reply = %reply, "relay refused the recipient for good");
                row.member_id
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
                None
            };
            recorder.failed(row.id, owner, reply, bounce);
        }
    }
}

/// Counts the attempt for `/metrics` (per process, as the relay answered;
/// the database is the record), and how long a sent row waited from being
/// queued.
fn count(row: &OutboxRow, sent: &Sent) {
    let result = match sent {
        Sent::Result(Ok(_)) => {
            let waited = (crate::now_ms() - row.created_at).max(0) as f64 / 1000.0;
            metrics::histogram!(crate::telemetry::QUEUED_TO_SENT).record(waited);
            "sent"
        }
        Sent::Result(Err(SendError::NotStarted(_))) => "handed_back",
        Sent::Result(Err(SendError::Temporary(_))) => "deferred",
        Sent::Result(Err(SendError::Permanent(_))) | Sent::Unsendable(_) => "failed",
        Sent::Cancelled(_) => "cancelled",
    };
    metrics::counter!(crate::telemetry::DELIVERIES, "kind" => row.kind.as_str(), "result" => result)
        .increment(1);
}

fn retry_or_fail(ctx: &Ctx, recorder: &Recorder, owner: &str, row: &OutboxRow, reply: String) {
    let now = crate::now_ms();
    let retry_for = ctx.config.retry_for.as_millis() as i64;
    // From the first attempt, or from `outbox retry` when an operator requeued it.
    if now - row.retry_since > retry_for {
        let why = format!("gave up after {} attempts: {reply}", row.attempts);
        tracing::warn!(reason = %why, "delivery failed");
        recorder.failed(row.id, owner, why, None);
    } else {
        let next_at = now + backoff_ms(row.attempts);
        tracing::info!(reply = %reply, retry_in_s = (next_at - now) / 1000, "temporary failure");
        recorder.push(row.id, owner, Outcome::Retry { next_at, reply });
    }
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
    fn a_rate_cap_shrinks_the_claim() {
        let config = |pairs: &[(&str, &str)]| {
            let mut env = vec![("GAZETTE_CONFIG".to_string(), "/dev/null".to_string())];
            env.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            crate::config::Config::from_sources(&env).unwrap()
        };
        assert_eq!(super::claim_size(&config(&[])), 500);
        // 4 msg/s over 2 workers, half of a 300 s lease: 300 rows each.
        let capped = config(&[("GAZETTE_SMTP_RATE_PER_SEC", "4")]);
        assert_eq!(super::claim_size(&capped), 300);
        let slow = config(&[
            ("GAZETTE_SMTP_RATE_PER_SEC", "1"),
            ("GAZETTE_WORKERS", "8"),
            ("GAZETTE_LEASE_SECS", "10"),
        ]);
        assert_eq!(super::claim_size(&slow), 1);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert!((30_000..=33_000).contains(&super::backoff_ms(1)));
        assert!((60_000..=66_000).contains(&super::backoff_ms(2)));
        assert!(super::backoff_ms(30) <= 4 * 3600 * 1000 * 11 / 10);
    }
}
