//! The pipeline every inbound message goes through, whatever its transport.
//! The raw message is stored before anything acts on it, so a message that
//! cannot be handled is kept with its reason, and a crash mid-way is
//! finished on restart ([`resume_unhandled`]).

use super::act::act;
use super::auth::{self, Authentication, Client};
use super::classify::parse_message;
use crate::app::Ctx;
use crate::store::inbound::{NewInbound, Outcome};
use crate::store::{InboundKind, InboundStatus};
use mail_parser::Message;
use tracing::Instrument;

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

#[derive(Debug, thiserror::Error)]
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

/// Stores, classifies, routes and acts on one message; idempotent per
/// (Message-ID, recipient).
pub async fn receive(ctx: &Ctx, m: &Incoming<'_>) -> Result<Receipt, InboundError> {
    let limit = ctx.config.max_message_bytes;
    if m.raw.len() > limit {
        return Err(InboundError::TooBig {
            size: m.raw.len(),
            limit,
        });
    }
    if m.raw.iter().all(u8::is_ascii_whitespace) {
        return Err(InboundError::Empty);
    }
    let stored_raw: std::borrow::Cow<'_, [u8]> = if m.trace.is_empty() {
        m.raw.into()
    } else {
        [m.trace.as_bytes(), m.raw].concat().into()
    };
    let parsed = parse_message(&stored_raw);
    let (id, duplicate) = match store(ctx, m, &stored_raw, parsed.as_ref()).await? {
        Stored::New(id) => (id, false),
        // Stored before but never handled (a crash, or a retry after a
        // temporary failure): handle it now.
        Stored::Unhandled(id) => (id, true),
        Stored::Handled(receipt) => return Ok(receipt),
    };
    let span = tracing::info_span!("inbound", id, transport = m.transport, rcpt = %m.recipient);
    let auth = sender(ctx, id, m, parsed.as_ref()).await?;
    let outcome = handle(ctx, id, m, parsed.as_ref(), &auth)
        .instrument(span)
        .await?;
    Ok(Receipt {
        inbound_id: id,
        duplicate,
        outcome,
    })
}

/// Where a message stands after [`store`].
enum Stored {
    New(i64),
    /// An earlier copy is stored but was never handled.
    Unhandled(i64),
    /// An earlier copy was handled: this is what became of it.
    Handled(Receipt),
}

/// Keeps the raw message before anything acts on it, once per
/// (Message-ID, recipient).
async fn store(
    ctx: &Ctx,
    m: &Incoming<'_>,
    stored_raw: &[u8],
    parsed: Option<&Message<'_>>,
) -> Result<Stored, InboundError> {
    let message_id = parsed.and_then(|p| p.message_id()).map(str::to_string);
    // The identity leaves out our own trace fields (see `Incoming::trace`).
    let key = dedupe_key(message_id.as_deref(), m.recipient, m.raw);
    let from_addr = parsed
        .and_then(|p| p.from())
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(str::to_string);
    let subject = parsed
        .and_then(|p| p.subject())
        .map(|s| s.chars().take(500).collect::<String>());
    let new = NewInbound {
        dedupe_key: &key,
        message_id: message_id.as_deref(),
        transport: m.transport,
        mail_from: m.mail_from,
        rcpt_to: m.recipient,
        from_addr: from_addr.as_deref(),
        subject: subject.as_deref(),
        raw: stored_raw,
    };
    if let Some(id) = ctx.store.insert_inbound(&new).await? {
        return Ok(Stored::New(id));
    }
    let (id, status) = ctx
        .store
        .inbound_by_dedupe(&key)
        .await?
        .ok_or_else(|| InboundError::Temporary("stored message vanished".into()))?;
    if status == InboundStatus::Received {
        return Ok(Stored::Unhandled(id));
    }
    let r = ctx
        .store
        .inbound(id)
        .await?
        .ok_or_else(|| InboundError::Temporary("stored message vanished".into()))?;
    let outcome = Outcome {
        list_id: r.list_id,
        kind: r.kind,
        status: r.status,
        reason: r.reason,
    };
    Ok(Stored::Handled(Receipt {
        inbound_id: id,
        duplicate: true,
        outcome,
    }))
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

async fn handle(
    ctx: &Ctx,
    id: i64,
    m: &Incoming<'_>,
    parsed: Option<&Message<'_>>,
    auth: &Authentication,
) -> Result<Outcome, InboundError> {
    let outcome = match parsed {
        Some(msg) => match act(ctx, id, m, msg, auth).await {
            Ok(o) => o,
            Err(e) => {
                // Kept as `received` with the reason, so `gazette inbound
                // list` shows it and the next delivery attempt or the
                // periodic resume handles it again.
                let why = format!("{e:#}");
                tracing::warn!(error = %why, "inbound message could not be handled yet");
                let _ = ctx
                    .store
                    .note_inbound_failure(id, &format!("not handled yet, will retry: {why}"))
                    .await;
                return Err(InboundError::Temporary(why));
            }
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
    tracing::info!(status = %outcome.status, kind = %outcome.kind, reason = %outcome.reason, "inbound handled");
    Ok(outcome)
}

/// The same message to the same recipient acts once. Without a Message-ID
/// the content itself is the identity.
fn dedupe_key(message_id: Option<&str>, recipient: &str, raw: &[u8]) -> String {
    let id = match message_id.filter(|s| !s.trim().is_empty()) {
        Some(id) => format!("mid:{}", id.trim()),
        None => format!("sha256:{}", crate::tokens::sha256_hex(raw)),
    };
    format!("{id}\n{}", recipient.to_ascii_lowercase())
}

/// Handles messages stored but never handled (the process died between
/// storing and acting, or acting failed for a passing reason). Run at
/// start-up and periodically by `serve`; one message that still fails does
/// not hold up the others.
pub async fn resume_unhandled(ctx: &Ctx) -> anyhow::Result<usize> {
    let ids = ctx
        .store
        .unhandled_inbound(crate::now_ms() - 60_000)
        .await?;
    let mut n = 0;
    for id in ids {
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
        let span =
            tracing::info_span!("inbound", id, transport = %row.transport, rcpt = %row.rcpt_to);
        let handled = async {
            let auth = sender(ctx, id, &incoming, parsed.as_ref()).await?;
            handle(ctx, id, &incoming, parsed.as_ref(), &auth).await
        };
        match handled.instrument(span).await {
            Ok(_) => n += 1,
            Err(e) => {
                tracing::warn!(id, error = %e, "stored inbound message still cannot be handled")
            }
        }
    }
    Ok(n)
}
