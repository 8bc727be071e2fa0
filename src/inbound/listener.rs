//! Glue between the SMTP/LMTP protocol server and the pipeline: unknown
//! recipients and forged tokens are refused at RCPT time (550), before any
//! data is read; accepted messages go through [`receive`](super::receive)
//! once per recipient.
//!
//! Replies say no more than a remote sender needs: every accepted message
//! gets the same text, whatever became of it (posted, held, ignored), so a
//! prober learns nothing about who is a member. The log keeps the detail.

use super::pipeline::{receive_all, InboundError, Incoming};
use super::smtp::{Envelope, MailHandler, Reply};
use crate::app::Ctx;

/// The reply to every accepted message.
pub const ACCEPTED: &str = "message accepted";

pub struct Handler {
    pub ctx: Ctx,
}

impl MailHandler for Handler {
    async fn check_recipient(&self, rcpt: &str) -> Reply {
        match self.ctx.route(rcpt).await {
            Ok(Some((_, command))) if !self.ctx.token_verifies(&command) => {
                tracing::info!(
                    command = command.name(),
                    "RCPT with a forged or malformed token; refused"
                );
                Reply::new(550, "5.1.1", "no such address here")
            }
            Ok(Some(_)) => Reply::new(250, "2.1.5", "recipient ok"),
            Ok(None) => Reply::new(550, "5.1.1", format!("no such list address here: {rcpt}")),
            Err(e) => {
                tracing::warn!(error = %e, "cannot check recipient");
                Reply::new(451, "4.3.0", "temporary failure, try again later")
            }
        }
    }

    async fn deliver(&self, envelope: &Envelope, data: Vec<u8>) -> Vec<Reply> {
        let transport = if envelope.lmtp { "lmtp" } else { "smtp" };
        let trace = received_line(&self.ctx.config.hostname, envelope);
        let incoming = Incoming {
            transport,
            mail_from: Some(&envelope.mail_from),
            recipient: "",
            raw: &data,
            trace: &trace,
            client: Some(crate::inbound::auth::Client {
                ip: envelope.peer.ip(),
                helo: &envelope.helo,
            }),
        };
        let recipients: Vec<&str> = envelope.rcpt_to.iter().map(String::as_str).collect();
        // One call for all recipients: the message is stored once.
        receive_all(&self.ctx, &incoming, &recipients)
            .await
            .into_iter()
            .map(|result| match result {
                Ok(r) => {
                    // The pipeline has logged what became of it.
                    tracing::debug!(inbound = r.inbound_id, duplicate = r.duplicate, "accepted");
                    Reply::ok(ACCEPTED)
                }
                Err(InboundError::TooBig { .. }) => Reply::new(552, "5.3.4", "message too big"),
                Err(InboundError::Empty) => Reply::new(554, "5.6.0", "empty message"),
                Err(InboundError::Temporary(e)) => {
                    tracing::warn!(error = %e, "inbound temporary failure");
                    Reply::new(451, "4.3.0", "temporary failure, try again later")
                }
            })
            .collect()
    }
}

/// The `Received:` trace field for a message we accept (RFC 5321 4.4),
/// with the `Return-Path:` a final delivery adds.
fn received_line(hostname: &str, e: &Envelope) -> String {
    let helo: String = e
        .helo
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(100)
        .collect();
    let with = if e.lmtp { "LMTP" } else { "ESMTP" };
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S +0000");
    format!(
        "Return-Path: <{}>\r\nReceived: from {helo} ([{}])\r\n\tby {hostname} (gazette) with {with};\r\n\t{date}\r\n",
        e.mail_from,
        e.peer.ip()
    )
}
