//! `gazette ingest`: one message on stdin, the way an MTA pipes mail to a
//! command. The exit code is a sysexits(3) code the MTA acts on: 0
//! accepted, 65 unusable data, 67 unknown recipient, 75 try again later.

use super::IngestArgs;
use crate::app::Ctx;
use crate::config::Config;
use crate::inbound::{receive, InboundError, Incoming};
use std::io::Read;

/// sysexits(3) codes an MTA understands.
pub const EX_DATAERR: i32 = 65;
pub const EX_NOUSER: i32 = 67;
pub const EX_TEMPFAIL: i32 = 75;

pub(super) async fn ingest(config: Config, args: IngestArgs) -> anyhow::Result<i32> {
    let mut raw = Vec::new();
    let limit = config.max_message_bytes;
    if let Err(e) = std::io::stdin()
        .take(limit as u64 + 1)
        .read_to_end(&mut raw)
    {
        eprintln!(
            "gazette ingest: cannot read the message on stdin: {e}; the MTA should retry later"
        );
        return Ok(EX_TEMPFAIL);
    }
    if raw.len() > limit {
        eprintln!("gazette ingest: message over the size limit of {limit} bytes (max_message_bytes); refused");
        return Ok(EX_DATAERR);
    }
    let ctx = match Ctx::open(config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gazette ingest: {e:#}; the MTA should retry later");
            return Ok(EX_TEMPFAIL);
        }
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let recipient = match args
        .recipient
        .or_else(|| env("ORIGINAL_RECIPIENT"))
        .or_else(|| env("RECIPIENT"))
    {
        Some(r) => r,
        None => match recipient_from_headers(&ctx, &raw).await {
            Ok(r) => r.unwrap_or_default(),
            Err(e) => {
                eprintln!("gazette ingest: {e:#}; the MTA should retry later");
                return Ok(EX_TEMPFAIL);
            }
        },
    };
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
    };
    let code = match receive(&ctx, &incoming).await {
        Ok(r) => {
            let dup = if r.duplicate {
                " (duplicate: acted on once before)"
            } else {
                ""
            };
            eprintln!(
                "gazette ingest: #{} {}{dup}: {}",
                r.inbound_id, r.outcome.status, r.outcome.reason
            );
            if r.outcome.status == "rejected"
                && r.outcome.list_id.is_none()
                && r.outcome.kind != "unparseable"
            {
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
    };
    Ok(code)
}

/// The first list address among Delivered-To, X-Original-To, To and Cc.
async fn recipient_from_headers(ctx: &Ctx, raw: &[u8]) -> anyhow::Result<Option<String>> {
    let Some(msg) = mail_parser::MessageParser::default().parse_headers(raw) else {
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
