//! The pipeline every inbound message goes through, whatever its transport.
//! The raw message is stored (once, however many recipients) before
//! anything acts on it, so a message that cannot be handled is kept with
//! its reason. Handling is leased, so the same message arriving twice at
//! once is handled once; a failure is retried with backoff by
//! [`resume_unhandled`], and a message that keeps failing is parked as
//! `failed` with its reason instead of blocking the others.

use super::act::act;
use super::auth::{self, Authentication, Client};
use super::classify::parse_message;
use crate::app::Ctx;
use crate::store::inbound::{NewInbound, Outcome};
use crate::store::{InboundKind, InboundStatus};
use mail_parser::Message;
use tracing::Instrument;

/// How long one handler owns a message; a crash mid-handling hands it to
/// the next pass after this.
const HANDLING_LEASE_MS: i64 = 5 * 60 * 1000;

/// Attempts before a message is parked as `failed` (about a day of
/// backing off; see [`retry_delay_ms`]).
const MAX_ATTEMPTS: i64 = 12;

/// Messages one resume pass takes on.
const RESUME_BATCH: i64 = 100;

/// One message for one recipient, as a transport received it.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    /// `smtp`, `lmtp`, `stdin`, `http`.
    pub transport: &'a str,
    /// The envelope sender: `Some("")` for the null sender `<>`, `None`
    /// when the transport did not say (a pipe without `$SENDER`), in which
    /// case the Return-Path header stands in for it.
    pub mail_from: Option<&'a str>,
    pub recipient: &'a str,
    pub raw: &'a [u8],
    /// Trace fields (`Received:`) the transport adds in front of the
    /// message when storing it (RFC 5321 4.4); not part of its identity,
    /// so a redelivered copy still dedupes.
    pub trace: &'a str,
    /// The SMTP/LMTP client (its address and HELO), for sender
    /// authentication; `None` for stdin and HTTP.
    pub client: Option<Client<'a>>,
}

/// What became of a message the pipeline accepted responsibility for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub inbound_id: i64,
    pub duplicate: bool,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum InboundError {
    #[error("message is {size} bytes, over the limit of {limit}")]
    TooBig { size: usize, limit: usize },
    #[error("message is empty")]
    Empty,
    /// The database is unreachable or similar: the sender should retry.
    #[error("temporary failure, try again later: {0}")]
    Temporary(String),
}

impl From<crate::store::StoreError> for InboundError {
    fn from(e: crate::store::StoreError) -> Self {
        InboundError::Temporary(e.to_string())
    }
}

/// Stores, classifies, routes and acts on one message for one recipient;
/// idempotent per (Message-ID, recipient).
pub async fn receive(ctx: &Ctx, m: &Incoming<'_>) -> Result<Receipt, InboundError> {
    receive_all(ctx, m, &[m.recipient])
        .await
        .pop()
        .unwrap_or_else(|| Err(InboundError::Temporary("no recipient".into())))
}

/// [`receive`] for every recipient of one transaction (SMTP/LMTP): the
/// raw message is stored once for all of them. One result per recipient,
/// in order; `m.recipient` is not used.
pub async fn receive_all(
    ctx: &Ctx,
    m: &Incoming<'_>,
    recipients: &[&str],
) -> Vec<Result<Receipt, InboundError>> {
    let all = |e: InboundError| recipients.iter().map(|_| Err(e.clone())).collect();
    let limit = ctx.config.max_message_bytes;
    if m.raw.len() > limit {
        return all(InboundError::TooBig {
            size: m.raw.len(),
            limit,
        });
    }
    if m.raw.iter().all(u8::is_ascii_whitespace) {
        return all(InboundError::Empty);
    }
    let stored_raw: std::borrow::Cow<'_, [u8]> = if m.trace.is_empty() {
        m.raw.into()
    } else {
        [m.trace.as_bytes(), m.raw].concat().into()
    };
    let parsed = parse_message(&stored_raw);
    let stored = match store(ctx, m, recipients, &stored_raw, parsed.as_ref()).await {
        Ok(s) => s,
        Err(e) => return all(e),
    };
    let mut out = Vec::with_capacity(recipients.len());
    for (rcpt, stored) in recipients.iter().zip(stored) {
        let one = Incoming {
            recipient: rcpt,
            ..m.clone()
        };
        out.push(match stored {
            Stored::New(id) => take(ctx, id, false, &one, parsed.as_ref()).await,
            // Stored before but not handled: a crash, a failure being
            // retried, or the same message being handled right now.
            Stored::Unhandled(id) => take(ctx, id, true, &one, parsed.as_ref()).await,
            Stored::Handled(receipt) => Ok(receipt),
        });
    }
    out
}

/// Where a message stands for one recipient after [`store`].
enum Stored {
    New(i64),
    /// An earlier copy is stored but not handled yet.
    Unhandled(i64),
    /// An earlier copy was handled: this is what became of it.
    Handled(Receipt),
}

/// Keeps the raw message before anything acts on it: the bytes once, a
/// row per (Message-ID, recipient) not seen before.
async fn store(
    ctx: &Ctx,
    m: &Incoming<'_>,
    recipients: &[&str],
    stored_raw: &[u8],
    parsed: Option<&Message<'_>>,
) -> Result<Vec<Stored>, InboundError> {
    let message_id = parsed.and_then(|p| p.message_id()).map(str::to_string);
    let from_addr = parsed
        .and_then(|p| p.from())
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(str::to_string);
    let subject = parsed
        .and_then(|p| p.subject())
        .map(|s| s.chars().take(500).collect::<String>());
    // The identity leaves out our own trace fields (see `Incoming::trace`).
    let keys: Vec<String> = recipients
        .iter()
        .map(|r| dedupe_key(message_id.as_deref(), r, m.raw))
        .collect();
    let rows: Vec<NewInbound<'_>> = recipients
        .iter()
        .zip(&keys)
        .map(|(rcpt, key)| NewInbound {
            dedupe_key: key,
            message_id: message_id.as_deref(),
            transport: m.transport,
            mail_from: m.mail_from,
            rcpt_to: rcpt,
            from_addr: from_addr.as_deref(),
            subject: subject.as_deref(),
        })
        .collect();
    let ids = ctx.store.insert_inbound_all(stored_raw, &rows).await?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, key) in ids.into_iter().zip(&keys) {
        out.push(match id {
            Some(id) => Stored::New(id),
            None => earlier(ctx, key).await?,
        });
    }
    Ok(out)
}

/// The earlier copy of a message, and where it stands.
async fn earlier(ctx: &Ctx, key: &str) -> Result<Stored, InboundError> {
    let vanished = || InboundError::Temporary("a stored message vanished".into());
    let (id, status) = ctx
        .store
        .inbound_by_dedupe(key)
        .await?
        .ok_or_else(vanished)?;
    if status == InboundStatus::Received {
        return Ok(Stored::Unhandled(id));
    }
    let r = ctx.store.inbound(id).await?.ok_or_else(vanished)?;
    Ok(Stored::Handled(Receipt {
        inbound_id: id,
        duplicate: true,
        outcome: Outcome {
            list_id: r.list_id,
            kind: r.kind,
            status: r.status,
            reason: r.reason,
        },
    }))
}

/// Leases message `id` and handles it; when another handler holds it,
/// that one answers for it. The message is stored either way, so the
/// sender is told it was accepted.
async fn take(
    ctx: &Ctx,
    id: i64,
    duplicate: bool,
    m: &Incoming<'_>,
    parsed: Option<&Message<'_>>,
) -> Result<Receipt, InboundError> {
    let lease_until = crate::now_ms() + HANDLING_LEASE_MS;
    let receipt = |outcome| Receipt {
        inbound_id: id,
        duplicate,
        outcome,
    };
    let Some(attempts) = ctx.store.claim_inbound(id, lease_until).await? else {
        return Ok(receipt(kept(
            "the same message is being handled by another delivery of it",
        )));
    };
    let span = tracing::info_span!("inbound", id, transport = m.transport, rcpt = %m.recipient);
    let outcome = async {
        let auth = sender(ctx, id, m, parsed).await?;
        handle(ctx, id, attempts, m, parsed, &auth).await
    }
    .instrument(span)
    .await?;
    Ok(receipt(outcome))
}

/// Who sent message `id`: decided the first time it is handled, and
/// recorded (see [`auth`]).
async fn sender(
    ctx: &Ctx,
    id: i64,
    m: &Incoming<'_>,
    parsed: Option<&Message<'_>>,
) -> Result<Authentication, InboundError> {
    if let Some(a) = ctx.store.inbound_auth(id).await? {
        return Ok(a);
    }
    let arrival = auth::Arrival {
        transport: m.transport,
        client: m.client,
        mail_from: m.mail_from,
    };
    let a = auth::authenticate(ctx, &arrival, m.raw, parsed).await;
    ctx.store.insert_inbound_auth(id, &a).await?;
    tracing::debug!(verdict = a.verdict.name(), source = %a.source, detail = %a.detail, "sender");
    Ok(a)
}

/// The outcome of a message kept for a later attempt.
fn kept(reason: &str) -> Outcome {
    Outcome {
        list_id: None,
        kind: InboundKind::Unknown,
        status: InboundStatus::Received,
        reason: reason.to_string(),
    }
}

/// Acts on a leased message and records what became of it. A failure to
/// act is recorded too: retried later, or parked after [`MAX_ATTEMPTS`].
async fn handle(
    ctx: &Ctx,
    id: i64,
    attempts: i64,
    m: &Incoming<'_>,
    parsed: Option<&Message<'_>>,
    auth: &Authentication,
) -> Result<Outcome, InboundError> {
    let outcome = match parsed {
        Some(msg) => match act(ctx, id, m, msg, auth).await {
            Ok(o) => o,
            Err(e) => return failed(ctx, id, attempts, &format!("{e:#}")).await,
        },
        None => Outcome {
            list_id: None,
            kind: InboundKind::Unparseable,
            status: InboundStatus::Rejected,
            reason: "the message could not be parsed as MIME; kept for inspection".into(),
        },
    };
    // The reason is shown to operators and in logs: no token, no control
    // character from the message.
    let outcome = Outcome {
        reason: crate::redact::safe(&outcome.reason),
        ..outcome
    };
    ctx.store.set_inbound_outcome(id, &outcome).await?;
    count(&outcome);
    tracing::info!(status = %outcome.status, kind = %outcome.kind, reason = %outcome.reason, "inbound handled");
    Ok(outcome)
}

/// Records a failure to act: the message stays stored and is tried again
/// after a growing delay, or is parked as `failed` with the reason once it
/// has failed [`MAX_ATTEMPTS`] times. Either way it is the pipeline's now:
/// the sender hears it was accepted.
async fn failed(ctx: &Ctx, id: i64, attempts: i64, why: &str) -> Result<Outcome, InboundError> {
    if attempts >= MAX_ATTEMPTS {
        let reason = format!(
            "gave up after {attempts} attempts (`gazette inbound retry {id}` tries again): {why}"
        );
        tracing::error!(error = %why, attempts, "inbound message parked as failed");
        ctx.store.park_inbound(id, &reason).await?;
        let outcome = Outcome {
            status: InboundStatus::Failed,
            ..kept(&reason)
        };
        count(&outcome);
        return Ok(outcome);
    }
    let next = crate::now_ms() + retry_delay_ms(attempts);
    let reason = format!(
        "not handled yet (attempt {attempts} of {MAX_ATTEMPTS}), tried again at {}: {why}",
        crate::fmt_ms(next)
    );
    tracing::warn!(error = %why, attempts, "inbound message could not be handled yet");
    ctx.store.retry_inbound_later(id, &reason, next).await?;
    Ok(kept(&reason))
}

/// A message's final outcome, for `/metrics`.
fn count(o: &Outcome) {
    metrics::counter!(
        crate::telemetry::INBOUND,
        "status" => o.status.as_str(),
        "kind" => o.kind.as_str()
    )
    .increment(1);
}

/// One minute doubling per attempt, at most six hours: [`MAX_ATTEMPTS`]
/// attempts span about a day.
fn retry_delay_ms(attempts: i64) -> i64 {
    let doubled = 60_000i64 << (attempts.clamp(1, 20) - 1);
    doubled.min(6 * 3600 * 1000)
}

/// The same message to the same recipient acts once. Without a Message-ID
/// the content itself is the identity. Stored as a SHA-256, so a
/// Message-ID of any length fits the unique index on both databases
/// (PostgreSQL's B-tree refuses entries of a few KB).
fn dedupe_key(message_id: Option<&str>, recipient: &str, raw: &[u8]) -> String {
    let id = match message_id.filter(|s| !s.trim().is_empty()) {
        Some(id) => format!("mid:{}", id.trim()),
        None => format!("body:{}", crate::tokens::sha256_hex(raw)),
    };
    let identity = format!("{id}\n{}", recipient.to_ascii_lowercase());
    format!("sha256:{}", crate::tokens::sha256_hex(identity.as_bytes()))
}

/// Handles the stored messages whose next attempt is due (the process
/// died between storing and acting, or acting failed for a passing
/// reason). Run at start-up and periodically by `serve`; messages are
/// taken soonest-due first, and one that keeps failing backs off and is
/// finally parked, so it never holds up the others.
pub async fn resume_unhandled(ctx: &Ctx) -> anyhow::Result<usize> {
    let mut n = 0;
    for id in ctx.store.due_inbound(RESUME_BATCH).await? {
        let (Some(row), Some(raw)) = (
            ctx.store.inbound(id).await?,
            ctx.store.inbound_raw(id).await?,
        ) else {
            continue;
        };
        let incoming = Incoming {
            transport: &row.transport,
            mail_from: row.mail_from.as_deref(),
            recipient: &row.rcpt_to,
            raw: &raw,
            trace: "",
            // Judged when it arrived; a verdict lost to a crash before it
            // was recorded is decided again without the client.
            client: None,
        };
        let parsed = parse_message(&raw);
        match take(ctx, id, true, &incoming, parsed.as_ref()).await {
            Ok(r) if r.outcome.status != InboundStatus::Received => n += 1,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(id, error = %e, "stored inbound message still cannot be handled")
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_about_a_day_then_stop() {
        let total: i64 = (1..super::MAX_ATTEMPTS).map(super::retry_delay_ms).sum();
        assert!(
            (18..30).contains(&(total / 3_600_000)),
            "{} h",
            total / 3_600_000
        );
        assert_eq!(super::retry_delay_ms(1), 60_000);
        assert_eq!(super::retry_delay_ms(50), 6 * 3600 * 1000);
    }

    #[test]
    fn dedupe_keys_have_a_fixed_size_whatever_the_message_id() {
        let long = "x".repeat(8000);
        let k = super::dedupe_key(Some(&long), "pm@lists.example.org", b"");
        assert_eq!(k.len(), "sha256:".len() + 64);
        assert_ne!(
            k,
            super::dedupe_key(Some(&long), "pm+help@lists.example.org", b"")
        );
        assert_eq!(
            k,
            super::dedupe_key(Some(&long), "PM@lists.example.org", b"other body")
        );
    }
}
