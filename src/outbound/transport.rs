//! The last stage of delivery: hand one envelope (one recipient) to the
//! relay, or write it to a file.
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

use crate::config::{is_loopback_host, SmtpTarget, SmtpTls};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// A pooled connection idle longer than this is probed with NOOP before
/// use: relays close idle sessions (often after 5-300 s), and sending into a
/// closed one would cost the message a temporary failure and a backoff.
const PROBE_IDLE_AFTER: Duration = Duration::from_secs(2);

/// The longest a TCP connect may take, within the deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// The deadline came while waiting for a connection slot or for the
    /// rate cap: nothing reached the relay, the row can simply be handed back.
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
            } => Transport::Smtp(Box::new(SmtpPool {
                host: host.clone(),
                port: *port,
                tls: *tls,
                credentials: credentials.clone(),
                hello: ClientId::Domain(hostname.to_string()),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(max_connections),
                pacer: Pacer::new(rate_per_sec),
            })),
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

    /// Closes idle relay connections politely.
    pub async fn close(&self) {
        if let Transport::Smtp(pool) = self {
            let conns: Vec<_> = std::mem::take(&mut *pool.idle.lock().unwrap());
            for mut idle in conns {
                let _ = tokio::time::timeout(Duration::from_secs(5), idle.conn.quit()).await;
            }
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

/// A relay connection waiting in the pool, and since when.
struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

pub struct SmtpPool {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<(String, crate::secret::Secret<String>)>,
    hello: ClientId,
    idle: Mutex<Vec<Idle>>,
    permits: Semaphore,
    pacer: Pacer,
}

impl SmtpPool {
    async fn send(
        &self,
        from: &str,
        to: &str,
        message: &[u8],
        deadline: Instant,
    ) -> Result<String, SendError> {
        let envelope = envelope(from, to)?;
        if Instant::now() >= deadline {
            return Err(SendError::NotStarted(
                "the delivery deadline had passed".into(),
            ));
        }
        let _permit = match tokio::time::timeout_at(deadline, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(SendError::Temporary("transport is shutting down".into())),
            Err(_) => {
                return Err(SendError::NotStarted(
                    "every relay connection (GAZETTE_SMTP_MAX_CONNECTIONS) stayed busy until the delivery deadline".into(),
                ))
            }
        };
        if !self.pacer.wait_until(deadline).await {
            return Err(SendError::NotStarted(
                "the rate cap (GAZETTE_SMTP_RATE_PER_SEC) had no slot before the delivery deadline"
                    .into(),
            ));
        }
        // A slot freed right at the deadline (its holder timed out) is no use.
        if Instant::now() >= deadline {
            return Err(SendError::NotStarted(
                "a relay connection became free only at the delivery deadline".into(),
            ));
        }
        // Dropping the exchange on timeout drops the connection with it, so
        // a late reply can never be mistaken for the next message's.
        let started = Instant::now();
        match tokio::time::timeout_at(deadline, self.transact(&envelope, message)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Temporary(format!(
                "relay {}:{} did not complete the transaction within {:.1} s, before the delivery deadline set by the lease (GAZETTE_LEASE_SECS); connection dropped. If the relay is legitimately this slow, raise GAZETTE_LEASE_SECS",
                self.host,
                self.port,
                started.elapsed().as_secs_f64()
            ))),
        }
    }

    /// One MAIL/RCPT/DATA exchange on a pooled or new connection.
    async fn transact(&self, envelope: &Envelope, message: &[u8]) -> Result<String, SendError> {
        let mut conn = match self.checkout().await {
            Some(c) => c,
            None => self.connect().await?,
        };
        match conn.send(envelope, message).await {
            Ok(reply) => {
                self.idle.lock().unwrap().push(Idle {
                    conn,
                    since: Instant::now(),
                });
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

    /// The most recently used idle connection that is still open, if any.
    async fn checkout(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let Idle { mut conn, since } = self.idle.lock().unwrap().pop()?;
            if conn.has_broken() {
                continue;
            }
            if since.elapsed() < PROBE_IDLE_AFTER || conn.test_connected().await {
                return Some(conn);
            }
            tracing::debug!(
                idle_ms = since.elapsed().as_millis() as u64,
                "relay closed an idle connection; dropping it"
            );
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let temp = |what: &str, e: &dyn std::fmt::Display| {
            SendError::Temporary(format!("{what} {}:{}: {e}", self.host, self.port))
        };
        let mut conn = if self.tls.is_implicit() {
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(CONNECT_TIMEOUT),
                &self.hello,
                Some(self.tls_parameters()?),
                None,
            )
            .await
            .map_err(|e| {
                // rustls reports a refused certificate as a connection error.
                let about_certificate = e.to_string().to_lowercase().contains("certificate");
                let hint = if about_certificate && self.tls.verifies_certificate() {
                    " (smtps:// verifies the certificate; ?tls=insecure in GAZETTE_SMTP_URL accepts any)"
                } else {
                    ""
                };
                temp("cannot connect to relay", &format!("{e}{hint}"))
            })?
        } else {
            let addr = (self.host.as_str(), self.port);
            let stream =
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
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
            match self.tls {
                SmtpTls::Required if !conn.can_starttls() => {
                    return Err(SendError::Temporary(format!(
                        "relay {}:{} does not offer STARTTLS, and GAZETTE_SMTP_URL has ?tls=required; enable TLS on the relay, or use ?tls=opportunistic",
                        self.host, self.port
                    )))
                }
                SmtpTls::Required => conn
                    .starttls(self.tls_parameters()?, &self.hello)
                    .await
                    .map_err(|e| {
                        temp(
                            "STARTTLS with a verified certificate (GAZETTE_SMTP_URL ?tls=required) failed at",
                            &e,
                        )
                    })?,
                SmtpTls::Opportunistic if conn.can_starttls() => conn
                    .starttls(self.tls_parameters()?, &self.hello)
                    .await
                    .map_err(|e| {
                        temp(
                            "STARTTLS failed (?tls=none in GAZETTE_SMTP_URL skips it if the relay's TLS is broken) at",
                            &e,
                        )
                    })?,
                _ => {}
            }
            conn
        };
        if let Some((user, pass)) = &self.credentials {
            // A password in clear text is readable by anyone on the path.
            if !conn.is_encrypted() && !is_loopback_host(&self.host) {
                return Err(SendError::Temporary(format!(
                    "refusing to send the password in GAZETTE_SMTP_URL unencrypted to {}:{} (the relay offered no STARTTLS); use ?tls=required or smtps:// with a relay that has TLS, or a relay on loopback",
                    self.host, self.port
                )));
            }
            let creds = Credentials::new(user.clone(), pass.expose().clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
                .map_err(|e| {
                    temp(
                        "authentication (user and password in GAZETTE_SMTP_URL) failed at",
                        &e,
                    )
                })?;
        }
        Ok(conn)
    }

    /// TLS settings for the mode: verified against the web PKI roots, or
    /// (opportunistic, insecure) any certificate for any name, as an MTA
    /// does when encryption is only a bonus.
    fn tls_parameters(&self) -> Result<TlsParameters, SendError> {
        let unverified = !self.tls.verifies_certificate();
        TlsParameters::builder(self.host.clone())
            .dangerous_accept_invalid_certs(unverified)
            .dangerous_accept_invalid_hostnames(unverified)
            .build()
            .map_err(|e| {
                SendError::Temporary(format!("TLS setup for {}:{}: {e}", self.host, self.port))
            })
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

/// Keeps the relay's reply as `550 5.1.1 text`, so the outbox records what
/// the relay said and the worker can tell what a refusal is about.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = match (e.status(), e.source()) {
        (Some(code), Some(message)) => format!("{code} {message}"),
        _ => e.to_string(),
    };
    if e.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Temporary(text)
    }
}

/// Spaces sends evenly to stay under the relay's messages-per-second cap.
struct Pacer {
    interval: Option<Duration>,
    next: tokio::sync::Mutex<Instant>,
}

impl Pacer {
    fn new(rate_per_sec: u32) -> Pacer {
        Pacer {
            interval: (rate_per_sec > 0).then(|| Duration::from_secs(1) / rate_per_sec),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot; false (and no slot taken) when that
    /// slot comes after `deadline`.
    async fn wait_until(&self, deadline: Instant) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            if slot > deadline {
                return false;
            }
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
        true
    }
}
