//! An SMTP server on loopback that records every message gazette sends,
//! built on gazette's own protocol server but with its own behaviour:
//! accept, refuse some recipients, or stall replies (to kill gazette while
//! deliveries are in flight). [`SlowDataProxy`] sits in front of one to play
//! a relay that is slow to answer DATA.

use gazette::inbound::smtp::{serve, Envelope, MailHandler, Reply, ServerConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt: String,
    pub data: String,
}

impl Received {
    /// A header's (unfolded) value.
    pub fn header(&self, name: &str) -> Option<String> {
        let msg = mail_parser::MessageParser::default().parse(self.data.as_bytes())?;
        msg.header_raw(name)
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
    }
    pub fn subject(&self) -> String {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .and_then(|m| m.subject().map(str::to_string))
            .unwrap_or_default()
    }
    /// The decoded text/plain body.
    pub fn text(&self) -> String {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
            .unwrap_or_default()
    }
    pub fn html(&self) -> String {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .and_then(|m| m.body_html(0).map(|t| t.into_owned()))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct SinkBehaviour {
    /// Recipients refused at RCPT with this code (e.g. 550 or 450).
    pub refuse: HashMap<String, u16>,
    /// After this many accepted messages, hold every further reply until
    /// `release()`, then answer 451 without recording.
    pub stall_after: Option<usize>,
    /// Recipients refused at RCPT with this exact code and enhanced code,
    /// e.g. `(554, "5.7.1")` for a policy refusal; wins over `refuse`.
    pub refuse_with: HashMap<String, (u16, String)>,
    /// Close connections idle this long with `421` (60 s when unset).
    pub idle_timeout: Option<Duration>,
}

struct Handler {
    got: Arc<Mutex<Vec<Received>>>,
    behaviour: Mutex<SinkBehaviour>,
    released: watch::Receiver<bool>,
}

impl MailHandler for Handler {
    async fn check_recipient(&self, rcpt: &str) -> Reply {
        let (code, exact) = {
            let b = self.behaviour.lock().unwrap();
            let key = rcpt.to_lowercase();
            (
                b.refuse.get(&key).copied(),
                b.refuse_with.get(&key).cloned(),
            )
        };
        if let Some((code, enhanced)) = exact {
            return Reply::new(code, &enhanced, "refused by the sink");
        }
        match code {
            Some(c) if c >= 500 => Reply::new(c, "5.1.1", "no such user"),
            Some(c) => Reply::new(c, "4.2.1", "try later"),
            None => Reply::new(250, "2.1.5", "ok"),
        }
    }

    async fn deliver(&self, envelope: &Envelope, data: Vec<u8>) -> Vec<Reply> {
        let stall = self.behaviour.lock().unwrap().stall_after;
        let stalled =
            stall.is_some_and(|n| self.got.lock().unwrap().len() >= n) && !*self.released.borrow();
        if stalled {
            let _ = self.released.clone().wait_for(|r| *r).await;
            return envelope
                .rcpt_to
                .iter()
                .map(|_| Reply::new(451, "4.3.0", "stalled"))
                .collect();
        }
        let text = String::from_utf8_lossy(&data).to_string();
        let mut got = self.got.lock().unwrap();
        for r in &envelope.rcpt_to {
            got.push(Received {
                mail_from: envelope.mail_from.clone(),
                rcpt: r.to_lowercase(),
                data: text.clone(),
            });
        }
        envelope
            .rcpt_to
            .iter()
            .map(|_| Reply::new(250, "2.0.0", "queued"))
            .collect()
    }
}

pub struct Sink {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    release: watch::Sender<bool>,
    _stop: watch::Sender<bool>,
}

impl Sink {
    pub async fn start(behaviour: SinkBehaviour) -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (release, released) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let idle_timeout = behaviour.idle_timeout.unwrap_or(Duration::from_secs(60));
        let handler = Arc::new(Handler {
            got: got.clone(),
            behaviour: Mutex::new(behaviour),
            released,
        });
        let config = ServerConfig {
            hostname: "sink.test".into(),
            max_message_bytes: 50 << 20,
            command_timeout: idle_timeout,
            data_timeout: idle_timeout,
            max_recipients: 100,
            max_connections: 64,
            max_per_client: 64,
            connects_per_minute: 0,
        };
        tokio::spawn(serve(listener, config, handler, stopped));
        Sink {
            addr,
            got,
            release,
            _stop: stop,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub fn to(&self, rcpt: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.rcpt == rcpt.to_lowercase())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Ends a stall: held replies answer 451 (unrecorded), new mail is recorded again.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }
}

/// Whether a client's write ends with `DATA` (sent alone, or pipelined
/// after MAIL and RCPT): the message body is what it writes next.
pub fn ends_with_data(chunk: &[u8]) -> bool {
    chunk.len() >= 6 && chunk[chunk.len() - 6..].eq_ignore_ascii_case(b"DATA\r\n")
}

/// A TCP proxy in front of a [`Sink`] that holds the client's `DATA`
/// command for `delay` in the first `slow` transactions: a relay that takes
/// longer than gazette's lease to answer DATA. Nothing is committed before
/// the body arrives, so a client that gives up meanwhile has sent nothing.
/// It recognises DATA as the end of a client's write, which holds whether
/// the client sends it alone or pipelined after MAIL and RCPT (it then
/// waits for the `354`).
pub struct SlowDataProxy {
    pub addr: SocketAddr,
    delayed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowDataProxy {
    pub async fn start(upstream: SocketAddr, slow: usize, delay: Duration) -> SlowDataProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let delayed = Arc::new(AtomicUsize::new(0));
        let budget = Arc::new(AtomicUsize::new(slow));
        let counter = delayed.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (budget, counter) = (budget.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut in_body = false;
                    let mut tail: Vec<u8> = Vec::new();
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let chunk = &buf[..n];
                        if in_body {
                            tail.extend_from_slice(chunk);
                            if tail.ends_with(b"\r\n.\r\n") {
                                in_body = false;
                            }
                            let keep = tail.len().saturating_sub(5);
                            tail.drain(..keep);
                        } else if ends_with_data(chunk) {
                            in_body = true;
                            tail = b"\r\n".to_vec();
                            let take = budget
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                                    b.checked_sub(1)
                                })
                                .is_ok();
                            if take {
                                counter.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(delay).await;
                            }
                        }
                        if sw.write_all(chunk).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                });
            }
        });
        SlowDataProxy {
            addr,
            delayed,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// How many DATA commands were held so far.
    pub fn delayed(&self) -> usize {
        self.delayed.load(Ordering::SeqCst)
    }
}

impl Drop for SlowDataProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
