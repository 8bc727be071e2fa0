//! `gazette ingest`: one message on stdin, the way an MTA pipes mail to a
//! command. The exit code is a sysexits(3) code the MTA acts on: 0
//! accepted, 65 unusable data, 67 unknown recipient, 75 try again later.

use super::IngestArgs;
use crate::app::Ctx;
use crate::config::Config;
use crate::inbound::{receive, InboundError, Incoming};
use crate::store::{InboundKind, InboundStatus};
use std::io::Read;

/// sysexits(3) codes an MTA understands.
pub const EX_DATAERR: i32 = 65;
pub const EX_NOUSER: i32 = 67;
pub const EX_TEMPFAIL: i32 = 75;

pub(super) async fn ingest(config: Config, args: IngestArgs) -> anyhow::Result<i32> {
    Ok(match run(config, args).await {
        Ok(code) | Err(code) => code,
    })
}

/// `Err` carries the exit code of a failure already reported on stderr.
async fn run(config: Config, args: IngestArgs) -> Result<i32, i32> {
    let raw = read_stdin(config.max_message_bytes)?;
    // Intake never signs mail: the DKIM key is not loaded for each message.
    let config = Config {
        dkim: None,
        ..config
    };
    let ctx = Ctx::open_existing(config).await.map_err(retry_later)?;
    let recipient = recipient(&ctx, args.recipient, &raw).await?;
    // An MTA that pipes to a command sets $SENDER, empty for the null
    // sender `<>`; without it the Return-Path header stands in.
    let sender = args
        .sender
        .or_else(|| std::env::var("SENDER").ok())
        .map(|s| s.trim().trim_matches(['<', '>']).to_string());
    let incoming = Incoming {
        transport: "stdin",
        mail_from: sender.as_deref(),
        recipient: &recipient,
        raw: &raw,
        trace: "",
        client: None,
    };
    Ok(exit_code(receive(&ctx, &incoming).await))
}

/// Reports a failure the MTA should retry (EX_TEMPFAIL).
fn retry_later(e: impl std::fmt::Display) -> i32 {
    eprintln!("gazette ingest: {e:#}; the MTA should retry later");
    EX_TEMPFAIL
}

/// The message, at most `limit` bytes.
fn read_stdin(limit: usize) -> Result<Vec<u8>, i32> {
    let mut raw = Vec::new();
    std::io::stdin()
        .take(limit as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| retry_later(format!("cannot read the message on stdin: {e}")))?;
    if raw.len() > limit {
        eprintln!("gazette ingest: message over the size limit of {limit} bytes (max_message_bytes); refused");
        return Err(EX_DATAERR);
    }
    Ok(raw)
}

/// The envelope recipient: --recipient, then what MTAs set for a pipe
/// ($ORIGINAL_RECIPIENT, $RECIPIENT), then the headers.
async fn recipient(ctx: &Ctx, given: Option<String>, raw: &[u8]) -> Result<String, i32> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match given
        .or_else(|| env("ORIGINAL_RECIPIENT"))
        .or_else(|| env("RECIPIENT"))
    {
        Some(r) => Ok(r),
        None => Ok(recipient_from_headers(ctx, raw)
            .await
            .map_err(retry_later)?
            .unwrap_or_default()),
    }
}

fn exit_code(result: Result<crate::inbound::Receipt, InboundError>) -> i32 {
    match result {
        Ok(r) => {
            let dup = if r.duplicate {
                " (duplicate: acted on once before)"
            } else {
                ""
            };
            eprintln!(
                "gazette ingest: #{} {}{dup}: {}",
                r.inbound_id,
                r.outcome.status,
                crate::redact::safe(&r.outcome.reason)
            );
            let rejected = r.outcome.status == InboundStatus::Rejected;
            if rejected && r.outcome.kind == InboundKind::Unparseable {
                EX_DATAERR // kept for inspection, but the sender should know
            } else if rejected && r.outcome.list_id.is_none() {
                EX_NOUSER
            } else {
                0
            }
        }
        Err(e @ (InboundError::TooBig { .. } | InboundError::Empty)) => {
            eprintln!("gazette ingest: {e}");
            EX_DATAERR
        }
        Err(e @ InboundError::Temporary(_)) => {
            eprintln!("gazette ingest: {e}");
            EX_TEMPFAIL
        }
    }
}

/// The first list address among Delivered-To, X-Original-To, To and Cc.
async fn recipient_from_headers(ctx: &Ctx, raw: &[u8]) -> anyhow::Result<Option<String>> {
    let parsed = std::panic::catch_unwind(|| {
        mail_parser::MessageParser::default()
            .parse_headers(raw)
            .map(mail_parser::Message::into_owned)
    });
    let Ok(Some(msg)) = parsed else {
        return Ok(None);
    };
    let mut candidates: Vec<String> = Vec::new();
    for name in ["Delivered-To", "X-Original-To"] {
        for v in msg.header_values(name) {
            if let Some(t) = v.as_text() {
                candidates.push(t.trim().trim_matches(['<', '>']).to_string());
            }
        }
    }
    for addrs in [msg.to(), msg.cc()].into_iter().flatten() {
        candidates.extend(addrs.iter().filter_map(|a| a.address()).map(str::to_string));
    }
    for c in candidates {
        if ctx.route(&c).await?.is_some() {
            return Ok(Some(c));
        }
    }
    Ok(None)
}
