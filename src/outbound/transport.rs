//! The last stage of delivery: hand one envelope (one recipient) to the
//! relay, or write it to a file.
//!
//! The SMTP side keeps its own bounded pool of lettre connections: lettre's
//! pool size does not cap connections, and lettre 0.11.23 never sets
//! TCP_NODELAY (each message would stall ~40 ms on delayed ACKs), so we open
//! the socket ourselves with `set_nodelay(true)` and hand it to
//! `AsyncSmtpConnection::connect_with_transport`.

use crate::config::SmtpTarget;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Why a send did not succeed, split by what the outbox should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 4xx, network trouble, relay down: retry later.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// 5xx: the relay refused for good; counts as a bounce.
    #[error("permanent failure: {0}")]
    Permanent(String),
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
                implicit_tls,
                credentials,
            } => Transport::Smtp(Box::new(SmtpPool {
                host: host.clone(),
                port: *port,
                implicit_tls: *implicit_tls,
                credentials: credentials.clone(),
                hello: ClientId::Domain(hostname.to_string()),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(max_connections),
                pacer: Pacer::new(rate_per_sec),
            })),
        }
    }

    /// Sends `message` from `envelope_from` to the single `recipient`;
    /// returns the relay's reply (or the file written).
    pub async fn send(
        &self,
        envelope_from: &str,
        recipient: &str,
        name: &str,
        message: &[u8],
    ) -> Result<String, SendError> {
        match self {
            Transport::Files(dir) => write_file(dir, name, message).await,
            Transport::Smtp(pool) => pool.send(envelope_from, recipient, message).await,
        }
    }

    /// Closes idle relay connections politely.
    pub async fn close(&self) {
        if let Transport::Smtp(pool) = self {
            let conns: Vec<_> = std::mem::take(&mut *pool.idle.lock().unwrap());
            for mut c in conns {
                let _ = c.quit().await;
            }
        }
    }
}

async fn write_file(dir: &PathBuf, name: &str, message: &[u8]) -> Result<String, SendError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| SendError::Temporary(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{name}.eml"));
    let tmp = dir.join(format!(".{name}.eml.tmp"));
    // Write then rename, so a reader never sees half a message.
    tokio::fs::write(&tmp, message)
        .await
        .and(tokio::fs::rename(&tmp, &path).await)
        .map_err(|e| SendError::Temporary(format!("cannot write {}: {e}", path.display())))?;
    Ok(format!("written to {}", path.display()))
}

pub struct SmtpPool {
    host: String,
    port: u16,
    implicit_tls: bool,
    credentials: Option<(String, String)>,
    hello: ClientId,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
    pacer: Pacer,
}

impl SmtpPool {
    async fn send(&self, from: &str, to: &str, message: &[u8]) -> Result<String, SendError> {
        let envelope = envelope(from, to)?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Temporary("transport is shutting down".into()))?;
        self.pacer.wait().await;
        let pooled = self.idle.lock().unwrap().pop();
        let mut conn = match pooled {
            Some(c) if !c.has_broken() => c,
            _ => self.connect().await?,
        };
        match conn.send(&envelope, message).await {
            Ok(reply) => {
                self.idle.lock().unwrap().push(conn);
                Ok(format!(
                    "{} {}",
                    reply.code(),
                    reply.message().collect::<Vec<_>>().join(" ")
                ))
            }
            // lettre aborts the connection on any error, so it is not pooled again.
            Err(e) => Err(classify(&e)),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let temp = |what: &str, e: &dyn std::fmt::Display| {
            SendError::Temporary(format!("{what} {}:{}: {e}", self.host, self.port))
        };
        let mut conn = if self.implicit_tls {
            let tls =
                TlsParameters::new(self.host.clone()).map_err(|e| temp("TLS setup for", &e))?;
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(Duration::from_secs(30)),
                &self.hello,
                Some(tls),
                None,
            )
            .await
            .map_err(|e| temp("cannot connect to relay", &e))?
        } else {
            let addr = (self.host.as_str(), self.port);
            let stream = tokio::time::timeout(
                Duration::from_secs(30),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            .map_err(|_| temp("timed out connecting to relay", &"30 s"))?
            .map_err(|e| temp("cannot connect to relay", &e))?;
            stream
                .set_nodelay(true)
                .map_err(|e| temp("cannot configure socket to", &e))?;
            let mut conn =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                    .await
                    .map_err(|e| temp("relay greeting failed at", &e))?;
            if conn.can_starttls() {
                let tls =
                    TlsParameters::new(self.host.clone()).map_err(|e| temp("TLS setup for", &e))?;
                conn.starttls(tls, &self.hello)
                    .await
                    .map_err(|e| temp("STARTTLS failed with", &e))?;
            }
            conn
        };
        if let Some((user, pass)) = &self.credentials {
            let creds = Credentials::new(user.clone(), pass.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
                .map_err(|e| temp("authentication failed at", &e))?;
        }
        Ok(conn)
    }
}

fn envelope(from: &str, to: &str) -> Result<Envelope, SendError> {
    let from = from
        .parse()
        .map_err(|e| SendError::Permanent(format!("bad envelope sender {from}: {e}")))?;
    let to = to
        .parse()
        .map_err(|e| SendError::Permanent(format!("bad recipient address {to}: {e}")))?;
    Envelope::new(Some(from), vec![to]).map_err(|e| SendError::Permanent(e.to_string()))
}

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = e.to_string();
    if e.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Temporary(text)
    }
}

/// Spaces sends evenly to stay under the relay's messages-per-second cap.
struct Pacer {
    interval: Option<Duration>,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(rate_per_sec: u32) -> Pacer {
        Pacer {
            interval: (rate_per_sec > 0).then(|| Duration::from_secs(1) / rate_per_sec),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}
