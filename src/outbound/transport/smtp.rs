//! The relay side of the transport: a bounded pool of lettre connections,
//! guarded by the relay's circuit breaker and concurrency window.
//!
//! lettre's own pool size does not cap connections, and lettre 0.11.23
//! never sets TCP_NODELAY (each message would stall ~40 ms on delayed
//! ACKs), so we open the socket ourselves with `set_nodelay(true)` and hand
//! it to `AsyncSmtpConnection::connect_with_transport`.

use super::breaker::{Admit, Breaker, ProbeGuard};
use super::window::{is_slow_down, Window};
use super::SendError;
use crate::config::{is_loopback_host, SmtpTls};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::error::Error as _;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A pooled connection idle longer than this is probed with NOOP before
/// use: relays close idle sessions (often after 5-300 s), and sending into a
/// closed one would cost the message a temporary failure and a backoff.
const PROBE_IDLE_AFTER: Duration = Duration::from_secs(2);

/// The longest a TCP connect may take, within the deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A relay connection, and whether its EHLO offered PIPELINING.
struct Conn {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
}

/// A relay connection waiting in the pool, and since when.
struct Idle {
    conn: Conn,
    since: Instant,
}

pub struct SmtpPool {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<(String, crate::secret::Secret<String>)>,
    hello: ClientId,
    idle: Mutex<Vec<Idle>>,
    window: Window,
    breaker: Breaker,
}

/// Why connecting failed: the relay could not be reached (nothing was
/// sent, the breaker counts it) or it was reached but the session could not
/// be set up as configured (TLS, authentication).
enum ConnectError {
    Unreachable(String),
    Setup(SendError),
}

impl SmtpPool {
    pub fn new(
        host: &str,
        port: u16,
        tls: SmtpTls,
        credentials: Option<(String, crate::secret::Secret<String>)>,
        hostname: &str,
        max_connections: usize,
        rate_per_sec: u32,
    ) -> SmtpPool {
        SmtpPool {
            host: host.to_string(),
            port,
            tls,
            credentials,
            hello: ClientId::Domain(hostname.to_string()),
            idle: Mutex::new(Vec::new()),
            window: Window::new(max_connections, rate_per_sec),
            breaker: Breaker::new(format!("{host}:{port}")),
        }
    }

    /// See [`super::Transport::wait_usable`].
    pub fn held_until(&self) -> Option<Instant> {
        self.breaker.held_until()
    }

    /// How many sends the relay is currently given at once.
    pub fn window(&self) -> usize {
        self.window.limit()
    }

    pub async fn close(&self) {
        let conns: Vec<_> = std::mem::take(&mut *self.idle.lock().unwrap());
        for mut idle in conns {
            let _ = tokio::time::timeout(Duration::from_secs(5), idle.conn.smtp.quit()).await;
        }
    }

    pub async fn send(
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
        let admit = self.breaker.admit();
        if admit == Admit::Hold {
            return Err(SendError::NotStarted(format!(
                "relay {}:{} is unreachable; delivery is held until a probe connects",
                self.host, self.port
            )));
        }
        let mut probe = ProbeGuard {
            breaker: &self.breaker,
            armed: admit == Admit::Probe,
        };
        let Some(_slot) = self.window.enter(deadline).await else {
            return Err(SendError::NotStarted(
                "every relay connection (GAZETTE_SMTP_MAX_CONNECTIONS) stayed busy until the delivery deadline".into(),
            ));
        };
        if !self.window.pace(deadline).await {
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
        match tokio::time::timeout_at(deadline, self.transact(&envelope, message, &mut probe)).await
        {
            Ok(result) => result,
            Err(_) => Err(SendError::Temporary(format!(
                "relay {}:{} did not complete the transaction within {:.1} s, before the delivery deadline set by the lease (GAZETTE_LEASE_SECS); connection dropped. If the relay is legitimately this slow, raise GAZETTE_LEASE_SECS",
                self.host,
                self.port,
                started.elapsed().as_secs_f64()
            ))),
        }
    }

    /// One MAIL/RCPT/DATA exchange on a pooled or new connection (always a
    /// new one for a probe: it is there to find out whether we can connect).
    async fn transact(
        &self,
        envelope: &Envelope,
        message: &[u8],
        probe: &mut ProbeGuard<'_>,
    ) -> Result<String, SendError> {
        let pooled = if probe.armed {
            None
        } else {
            self.checkout().await
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => match self.connect().await {
                Ok(c) => {
                    probe.connected();
                    c
                }
                Err(ConnectError::Unreachable(why)) => {
                    probe.failed(&why);
                    return Err(SendError::NotStarted(why));
                }
                Err(ConnectError::Setup(e)) => {
                    probe.failed(&e.to_string());
                    return Err(e);
                }
            },
        };
        // Timed here, not around `send`: waits for a connection slot or
        // the rate cap are not the relay's time.
        let started = Instant::now();
        let result =
            super::data::transaction(&mut conn.smtp, conn.pipelining, envelope, message).await;
        metrics::histogram!(crate::telemetry::RELAY_TRANSACTION)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(reply) => {
                self.window.accepted();
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
            Err(e) => {
                let e = classify(&e);
                if let SendError::Temporary(reply) = &e {
                    if is_slow_down(reply) {
                        self.window
                            .slow_down(&format!("{}:{}", self.host, self.port), reply);
                    }
                }
                Err(e)
            }
        }
    }

    /// The most recently used idle connection that is still open, if any.
    async fn checkout(&self) -> Option<Conn> {
        loop {
            let Idle { mut conn, since } = self.idle.lock().unwrap().pop()?;
            if conn.smtp.has_broken() {
                continue;
            }
            if since.elapsed() < PROBE_IDLE_AFTER || conn.smtp.test_connected().await {
                return Some(conn);
            }
            tracing::debug!(
                idle_ms = since.elapsed().as_millis() as u64,
                "relay closed an idle connection; dropping it"
            );
        }
    }

    async fn connect(&self) -> Result<Conn, ConnectError> {
        let (host, port) = (&self.host, self.port);
        let unreachable = |what: &str, e: &dyn std::fmt::Display| {
            ConnectError::Unreachable(format!("{what} {host}:{port}: {e}"))
        };
        let setup = |what: &str, e: &dyn std::fmt::Display| {
            ConnectError::Setup(SendError::Temporary(format!("{what} {host}:{port}: {e}")))
        };
        let mut conn = if self.tls.is_implicit() {
            let tls = self.tls_parameters().map_err(ConnectError::Setup)?;
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(CONNECT_TIMEOUT),
                &self.hello,
                Some(tls),
                None,
            )
            .await
            .map_err(|e| {
                // rustls reports a refused certificate as a connection error.
                let about_certificate = e.to_string().to_lowercase().contains("certificate");
                if !about_certificate {
                    return unreachable("cannot connect to relay", &e);
                }
                let hint = if self.tls.verifies_certificate() {
                    " (smtps:// verifies the certificate; ?tls=insecure in GAZETTE_SMTP_URL accepts any)"
                } else {
                    ""
                };
                setup("cannot connect to relay", &format!("{e}{hint}"))
            })?
        } else {
            let addr = (self.host.as_str(), self.port);
            let stream =
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| unreachable("timed out connecting to relay", &"30 s"))?
                    .map_err(|e| unreachable("cannot connect to relay", &e))?;
            stream
                .set_nodelay(true)
                .map_err(|e| unreachable("cannot configure socket to", &e))?;
            let mut conn =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                    .await
                    .map_err(|e| unreachable("relay greeting failed at", &e))?;
            match self.tls {
                SmtpTls::Required if !conn.can_starttls() => {
                    return Err(ConnectError::Setup(SendError::Temporary(format!(
                        "relay {host}:{port} does not offer STARTTLS, and GAZETTE_SMTP_URL has ?tls=required; enable TLS on the relay, or use ?tls=opportunistic"
                    ))))
                }
                SmtpTls::Required => conn
                    .starttls(self.tls_parameters().map_err(ConnectError::Setup)?, &self.hello)
                    .await
                    .map_err(|e| {
                        setup(
                            "STARTTLS with a verified certificate (GAZETTE_SMTP_URL ?tls=required) failed at",
                            &e,
                        )
                    })?,
                SmtpTls::Opportunistic if conn.can_starttls() => conn
                    .starttls(self.tls_parameters().map_err(ConnectError::Setup)?, &self.hello)
                    .await
                    .map_err(|e| {
                        setup(
                            "STARTTLS failed (?tls=none in GAZETTE_SMTP_URL skips it if the relay's TLS is broken) at",
                            &e,
                        )
                    })?,
                _ => {}
            }
            conn
        };
        let pipelining = super::data::offers_pipelining(&mut conn, &self.hello)
            .await
            .map_err(|e| setup("EHLO (asking whether PIPELINING is offered) failed at", &e))?;
        if let Some((user, pass)) = &self.credentials {
            // A password in clear text is readable by anyone on the path.
            if !conn.is_encrypted() && !is_loopback_host(&self.host) {
                return Err(ConnectError::Setup(SendError::Temporary(format!(
                    "refusing to send the password in GAZETTE_SMTP_URL unencrypted to {host}:{port} (the relay offered no STARTTLS); use ?tls=required or smtps:// with a relay that has TLS, or a relay on loopback"
                ))));
            }
            let creds = Credentials::new(user.clone(), pass.expose().clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
                .map_err(|e| {
                    setup(
                        "authentication (user and password in GAZETTE_SMTP_URL) failed at",
                        &e,
                    )
                })?;
        }
        Ok(Conn {
            smtp: conn,
            pipelining,
        })
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
