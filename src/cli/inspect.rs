//! `gazette outbox status|retry` and `gazette inbound list|show`: what was
//! sent, what failed, what was received and what became of it.

use super::{InboundCmd, OutboxCmd};
use crate::app::Ctx;
use crate::redact::safe;
use crate::store::{InboundStatus, StoredEnum};
use std::io::Write;

pub(super) async fn outbox(ctx: &Ctx, c: OutboxCmd) -> anyhow::Result<i32> {
    match c {
        OutboxCmd::Status => {
            let counts = ctx.store.outbox_counts().await?;
            if counts.is_empty() {
                println!("the outbox is empty");
            }
            for (kind, status, n) in counts {
                println!("{kind:<8} {status:<10} {n}");
            }
            for (id, to, kind, attempts, reply) in ctx.store.failed_outbox(20).await? {
                // The reply is a remote server's text.
                let (to, reply) = (safe(&to), safe(&reply));
                println!("failed #{id} {kind} to {to} after {attempts} attempt(s): {reply}");
            }
        }
        OutboxCmd::Retry { id: None, all: false } => anyhow::bail!(
            "say which message to queue again: `gazette outbox retry ID` (the ids are in `gazette outbox status`), or `gazette outbox retry --all` for every failed one"
        ),
        OutboxCmd::Retry { id, all } => {
            let n = crate::outbound::requeue(ctx, if all { None } else { id }).await?;
            println!(
                "queued {n} message{} again; `gazette serve` sends {}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "them" }
            );
        }
    }
    Ok(0)
}

pub(super) async fn inbound(ctx: &Ctx, c: InboundCmd) -> anyhow::Result<i32> {
    match c {
        InboundCmd::List { status, limit } => {
            for m in ctx
                .store
                .recent_inbound(
                    status.as_deref().map(InboundStatus::parse).transpose()?,
                    limit,
                )
                .await?
            {
                // Everything but the numbers came in a message: tokens
                // shortened, control characters escaped.
                let from = m
                    .from_addr
                    .as_deref()
                    .unwrap_or(match m.mail_from.as_deref() {
                        Some("") => "<>",
                        Some(s) => s,
                        None => "(unknown sender)",
                    });
                println!(
                    "#{:<6} {:<9} {:<11} {} → {} \"{}\": {}",
                    m.id,
                    m.status,
                    m.kind,
                    safe(from),
                    safe(&m.rcpt_to),
                    safe(m.subject.as_deref().unwrap_or_default()).replace('"', "\\\""),
                    safe(&m.reason)
                );
            }
        }
        InboundCmd::Retry { id: None, all: false } => anyhow::bail!(
            "say which message to handle again: `gazette inbound retry ID` (`gazette inbound list --status failed` shows them), or `--all`"
        ),
        InboundCmd::Retry { id, all } => {
            let n = ctx.store.requeue_inbound(if all { 0 } else { id.unwrap_or(0) }).await?;
            if n == 0 && !all {
                anyhow::bail!("inbound message #{} has not failed; only failed messages are handled again", id.unwrap_or(0));
            }
            println!(
                "queued {n} message{} again; `gazette serve` handles {} within a few minutes",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "them" }
            );
        }
        InboundCmd::Show { id, explain, raw } => return show(ctx, id, explain, raw).await,
    }
    Ok(0)
}

/// A stored message as `gazette inspect` explains it, with what the
/// pipeline recorded when it handled it.
#[derive(serde::Serialize)]
struct Stored {
    #[serde(flatten)]
    explanation: crate::inbound::explain::Explanation,
    id: i64,
    status: String,
    kind: String,
    reason: String,
}

async fn show(ctx: &Ctx, id: i64, explain: bool, raw_only: bool) -> anyhow::Result<i32> {
    let Some(row) = ctx.store.inbound(id).await? else {
        anyhow::bail!("no inbound message #{id}; `gazette inbound list` shows them");
    };
    // A message's raw bytes may be gone while its row stays (retention).
    let raw = ctx.store.inbound_raw(id).await?;
    if explain {
        let Some(raw) = raw else {
            anyhow::bail!(
                "inbound message #{id} ({}, {}: {}) no longer has its raw bytes to explain",
                row.status,
                row.kind,
                row.reason
            );
        };
        let stored = Stored {
            explanation: crate::inbound::explain::explain(&raw, row.mail_from.as_deref()),
            id,
            status: row.status.to_string(),
            kind: row.kind.to_string(),
            reason: row.reason.to_string(),
        };
        return Ok(super::explain::print_json(&stored));
    }
    let mut out = std::io::stdout().lock();
    if !raw_only {
        // Header fields, so the output is still a message `gazette inspect` reads.
        let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        writeln!(
            out,
            "X-Gazette-Inbound: #{id}, status {}, kind {}",
            row.status, row.kind
        )?;
        writeln!(
            out,
            "X-Gazette-Reason: {}",
            one_line(&row.reason.to_string())
        )?;
    }
    match raw {
        Some(raw) => out.write_all(&raw)?,
        None if raw_only => {
            anyhow::bail!("inbound message #{id} no longer has its raw bytes")
        }
        None => writeln!(
            out,
            "\n(the raw message is no longer kept: GAZETTE_KEEP_RAW_DAYS deletes the bytes of mail handled long ago)"
        )?,
    }
    Ok(0)
}
