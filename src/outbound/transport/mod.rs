//! The last stage of delivery: hand one envelope (one recipient) to the
//! relay (`smtp`), or write it to a file.
//!
//! Towards a relay gazette keeps to what the relay can take: a circuit
//! breaker (`breaker`) stops connecting to a relay that is down and probes
//! it until it is back, and a concurrency window (`window`) halves when the
//! relay answers `421`/`451`/`454` and grows back as it accepts mail.
//!
//! The SMTP side keeps its own bounded pool of lettre connections: lettre's
//! pool size does not cap connections, and lettre 0.11.23 never sets
//! TCP_NODELAY (each message would stall ~40 ms on delayed ACKs), so we open
//! the socket ourselves with `set_nodelay(true)` and hand it to
//! `AsyncSmtpConnection::connect_with_transport`.
//!
//! Every send has a deadline (the worker's lease, less a margin). lettre has
//! no timeouts of its own on a connection built from our socket, so the
//! whole exchange runs under `timeout_at(deadline)`: a relay that stalls is
//! dropped before the lease ends and another worker could send the same row.

pub mod breaker;
mod data;
mod smtp;
pub mod window;

use crate::config::SmtpTarget;
use std::path::{Path, PathBuf};
use tokio::time::Instant;

pub use smtp::SmtpPool;

/// Why a send did not succeed, split by what the outbox should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 4xx, network trouble, relay down or too slow: retry later.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// 5xx: the relay refused for good. The text starts with the reply
    /// code and, when the relay sent one, the enhanced status code
    /// (`550 5.1.1 …`), which tells whether the refusal is about the recipient.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// Nothing reached the relay: the deadline came while waiting for a
    /// connection slot or for the rate cap, or the relay could not be
    /// connected to (its circuit breaker counts that). The row can simply be
    /// handed back.
    #[error("not started: {0}")]
    NotStarted(String),
}

pub enum Transport {
    Files(PathBuf),
    Smtp(Box<SmtpPool>),
}

impl Transport {
    pub fn new(
        target: &SmtpTarget,
        hostname: &str,
        max_connections: usize,
        rate_per_sec: u32,
    ) -> Transport {
        match target {
            SmtpTarget::Files(dir) => Transport::Files(dir.clone()),
            SmtpTarget::Relay {
                host,
                port,
                tls,
                credentials,
            } => Transport::Smtp(Box::new(SmtpPool::new(
                host,
                *port,
                *tls,
                credentials.clone(),
                hostname,
                max_connections,
                rate_per_sec,
            ))),
        }
    }

    /// Sends `message` from `envelope_from` to the single `recipient`,
    /// finishing by `deadline` or not at all; returns the relay's reply (or
    /// the file written).
    pub async fn send(
        &self,
        envelope_from: &str,
        recipient: &str,
        name: &str,
        message: &[u8],
        deadline: Instant,
    ) -> Result<String, SendError> {
        match self {
            Transport::Files(dir) => write_file(dir, name, envelope_from, message).await,
            Transport::Smtp(pool) => pool.send(envelope_from, recipient, message, deadline).await,
        }
    }

    /// Returns once sends can go ahead: at once, unless the relay's circuit
    /// breaker is open, then when it lets a probe through. Workers wait here
    /// before claiming rows, so a relay outage does not turn into a loop of
    /// claiming and handing back.
    pub async fn wait_usable(&self) {
        if let Transport::Smtp(pool) = self {
            while let Some(at) = pool.held_until() {
                tokio::time::sleep_until(at).await;
            }
        }
    }

    /// Closes idle relay connections politely.
    pub async fn close(&self) {
        if let Transport::Smtp(pool) = self {
            pool.close().await;
        }
    }
}

/// Writes `<name>.eml`. An SMTP relay would record the envelope sender as
/// `Return-Path` on delivery; the file gets the same header first, so the
/// VERP bounce address can be seen (and the file fed back as a bounce).
async fn write_file(
    dir: &Path,
    name: &str,
    envelope_from: &str,
    message: &[u8],
) -> Result<String, SendError> {
    let path = dir.join(format!("{name}.eml"));
    let tmp = dir.join(format!(".{name}.eml.tmp"));
    let mut bytes = format!("Return-Path: <{envelope_from}>\r\n").into_bytes();
    bytes.extend_from_slice(message);
    // Mail for members is theirs: the directory 0700 and each file 0600
    // (crate::files). Written then renamed, so a reader never sees half a
    // message.
    let (dir, shown) = (dir.to_path_buf(), path.display().to_string());
    tokio::task::spawn_blocking(move || {
        crate::files::create_private_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&tmp);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            crate::files::new_private_file()
                .open(&tmp)?
                .write_all(&bytes)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| format!("cannot write {}: {e}", path.display()))
    })
    .await
    .map_err(|e| SendError::Temporary(format!("cannot write {shown}: {e}")))?
    .map_err(SendError::Temporary)?;
    Ok(format!("written to {shown}"))
}
