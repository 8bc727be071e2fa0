//! The inbound SMTP/LMTP server: protocol only. What happens to recipients
//! and messages is decided by a [`MailHandler`].
//!
//! One listener serves both protocols: a client that greets with `LHLO` gets
//! LMTP (RFC 2033: after DATA, one reply per accepted recipient, in RCPT
//! order), one that greets with `EHLO`/`HELO` gets SMTP (one reply for the
//! message). Supported: PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES and
//! SMTPUTF8. Not supported (and not advertised): STARTTLS, AUTH, CHUNKING,
//! DSN — put a full MTA in front when those are needed.

mod body;
mod clients;
mod conn;
mod session;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

/// How long a session in the middle of a transaction may take to finish it
/// once shutdown has begun; idle sessions are closed at once.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Most concurrent sessions `gazette serve` runs.
pub const MAX_SESSIONS: usize = 256;

/// Most connections being told `421` at once; past it, new ones are closed
/// without a word, so refusing costs no more than a few descriptors.
const MAX_REFUSING: usize = 32;

static REFUSALS: crate::net::RefusalLog = crate::net::RefusalLog::new("SMTP");

pub struct ServerConfig {
    /// Our name in the greeting and replies.
    pub hostname: String,
    /// Largest message accepted, after dot-unstuffing; advertised as SIZE.
    pub max_message_bytes: usize,
    /// Longest wait for the first command after the greeting, and for each
    /// command after that: a client holding a slot must keep talking.
    pub command_timeout: Duration,
    /// Longest wait for the next piece of a DATA body.
    pub data_timeout: Duration,
    /// Most recipients in one transaction; more get `452 4.5.3`.
    pub max_recipients: usize,
    /// Most concurrent sessions; more clients get `421` and are closed.
    pub max_connections: usize,
    /// Most concurrent sessions from one client (an IPv4 address or an
    /// IPv6 /64); more get `421 4.7.0` and are closed.
    pub max_per_client: usize,
    /// Most new connections one client may open per minute; more get
    /// `421 4.7.0` and are closed. 0 means no cap.
    pub connects_per_minute: u32,
}

/// An SMTP reply: a three-digit code, an optional RFC 3463 enhanced status
/// code and text. Text with newlines is sent as a multi-line reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<String>,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, enhanced: &str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced.to_string()),
            text: text.into(),
        }
    }

    /// A reply without an enhanced status code (greetings, 354, EHLO).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            text: text.into(),
        }
    }

    /// `250 2.0.0 <text>`.
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply::new(250, "2.0.0", text)
    }

    /// 2xx: the command or delivery succeeded.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx: failed for now; the client should retry later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: failed for good; the client should bounce.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// Appends the reply in wire format. Stray CRs and LFs from the handler's
    /// text cannot inject extra reply lines: each text line becomes its own
    /// properly prefixed reply line.
    fn write_to(&self, out: &mut Vec<u8>) {
        let lines: Vec<&str> = self.text.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let line: String = line.chars().filter(|c| *c != '\r').collect();
            let text = match &self.enhanced {
                Some(e) if line.is_empty() => e.clone(),
                Some(e) => format!("{e} {line}"),
                None => line,
            };
            let wire = if text.is_empty() && sep == ' ' {
                format!("{}\r\n", self.code)
            } else {
                format!("{}{sep}{text}\r\n", self.code)
            };
            out.extend_from_slice(wire.as_bytes());
        }
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.enhanced {
            Some(e) => write!(f, "{} {e} {}", self.code, self.text),
            None => write!(f, "{} {}", self.code, self.text),
        }
    }
}

/// The envelope of one message, as given by the client.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub peer: SocketAddr,
    /// The argument of HELO, EHLO or LHLO.
    pub helo: String,
    /// The reverse path; `""` for the null sender `<>` (bounces).
    pub mail_from: String,
    /// Recipients the handler accepted at RCPT time, in order.
    pub rcpt_to: Vec<String>,
    /// The client greeted with LHLO.
    pub lmtp: bool,
}

pub trait MailHandler: Send + Sync + 'static {
    /// Called at RCPT time: refuse unknown recipients here (550 5.1.1) so the
    /// sending MTA bounces, not us. Any 2xx accepts the recipient.
    fn check_recipient(&self, rcpt: &str) -> impl Future<Output = Reply> + Send;

    /// Called after a complete DATA. Returns one reply per envelope recipient
    /// (same order); missing replies are taken as `451 4.3.0`.
    ///
    /// LMTP sends them all. SMTP can send only one, chosen so that no
    /// recipient loses mail silently: the first temporary failure if any
    /// (the client retries the whole message, which Message-ID dedupe makes
    /// harmless for recipients already served), else the first permanent
    /// failure (the client bounces), else the first reply.
    fn deliver(
        &self,
        envelope: &Envelope,
        data: Vec<u8>,
    ) -> impl Future<Output = Vec<Reply>> + Send;
}

/// Serves SMTP and LMTP on `listener` until `shutdown` becomes true (or its
/// sender is dropped). Then it stops accepting, closes idle sessions with
/// `421`, gives sessions in a transaction [`SHUTDOWN_GRACE`] to finish, and
/// returns. Accept errors (such as running out of file descriptors) are
/// logged and retried, never returned, so one bad moment does not take the
/// listener down.
pub async fn serve<H: MailHandler>(
    listener: TcpListener,
    config: ServerConfig,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut sessions = Sessions {
        slots: Arc::new(Semaphore::new(config.max_connections)),
        refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        clients: clients::Clients::new(config.max_per_client, config.connects_per_minute),
        config: Arc::new(config),
        handler,
        shutdown: shutdown.clone(),
        tasks: JoinSet::new(),
    };
    tracing::info!(addr = ?listener.local_addr().ok(), "inbound SMTP/LMTP listening");
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => sessions.admit(stream, peer),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection; retrying soon");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(done) = sessions.tasks.join_next(), if !sessions.tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "an SMTP session failed");
                }
            }
        }
    }
    drop(listener);
    drain(sessions.tasks).await;
    Ok(())
}

/// The running sessions and what a new one needs.
struct Sessions<H> {
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    slots: Arc<Semaphore>,
    /// Connections being told `421`.
    refusing: Arc<Semaphore>,
    clients: Arc<clients::Clients>,
    shutdown: watch::Receiver<bool>,
    tasks: JoinSet<()>,
}

impl<H: MailHandler> Sessions<H> {
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr) {
        // Replies are batched by the session, so Nagle would only add delay.
        let _ = stream.set_nodelay(true);
        let host = &self.config.hostname;
        let client = match self.clients.admit(peer.ip()) {
            Ok(client) => client,
            Err(why) => {
                let (log, text, reason) = match why {
                    clients::Refusal::TooMany => (
                        "too many sessions from one client",
                        "too many connections from your address",
                        "client_sessions",
                    ),
                    clients::Refusal::TooFast => (
                        "one client connecting too often",
                        "too many new connections from your address",
                        "client_rate",
                    ),
                };
                metrics::counter!(crate::telemetry::SMTP_REFUSED, "reason" => reason).increment(1);
                REFUSALS.refused(&format!("{log} (such as {})", peer.ip()));
                let line = format!("421 4.7.0 {host} {text}, try again later\r\n");
                return self.refuse(stream, line);
            }
        };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            REFUSALS.refused("all sessions in use");
            metrics::counter!(crate::telemetry::SMTP_REFUSED, "reason" => "all_sessions")
                .increment(1);
            let line = format!("421 4.3.2 {host} too many connections, try again later\r\n");
            return self.refuse(stream, line);
        };
        let session = session::run(
            stream,
            peer,
            self.config.clone(),
            self.handler.clone(),
            self.shutdown.clone(),
        );
        let span = tracing::info_span!("smtp", %peer);
        self.tasks.spawn(
            async move {
                session.await;
                drop((slot, client));
            }
            .instrument(span),
        );
    }

    /// Tells a client `line` and closes, in a task of its own while few
    /// are; at once and without a word when many are.
    fn refuse(&mut self, stream: TcpStream, line: String) {
        let Ok(refusing) = self.refusing.clone().try_acquire_owned() else {
            return;
        };
        self.tasks.spawn(async move {
            refuse(stream, line).await;
            drop(refusing);
        });
    }
}

/// Resolves when shutdown is asked for, or can no longer be (sender dropped).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn drain(mut sessions: JoinSet<()>) {
    tracing::info!(sessions = sessions.len(), "inbound SMTP/LMTP stopping");
    // Sessions enforce the grace period on their clients themselves; the
    // margin is for a handler still delivering the last message.
    let all_done = async { while sessions.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE * 2, all_done)
        .await
        .is_err()
    {
        tracing::warn!(
            sessions = sessions.len(),
            "SMTP sessions still busy after the grace period; closing them (their clients will retry)"
        );
        sessions.shutdown().await;
    }
}

async fn refuse(mut stream: TcpStream, line: String) {
    let send = async {
        stream.write_all(line.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), send).await;
}
