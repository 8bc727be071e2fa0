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
        InboundCmd::Show { id } => match ctx.store.inbound_raw(id).await? {
            Some(raw) => std::io::stdout().write_all(&raw)?,
            None => anyhow::bail!("no inbound message #{id}; `gazette inbound list` shows them"),
        },
    }
    Ok(0)
}
