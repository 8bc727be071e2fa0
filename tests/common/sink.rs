//! An SMTP server on loopback that records every message gazette sends,
//! built on gazette's own protocol server but with its own behaviour:
//! accept, refuse some recipients, or stall replies (to kill gazette while
//! deliveries are in flight).

use gazette::inbound::smtp::{serve, Envelope, MailHandler, Reply, ServerConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
}

struct Handler {
    got: Arc<Mutex<Vec<Received>>>,
    behaviour: Mutex<SinkBehaviour>,
    released: watch::Receiver<bool>,
}

impl MailHandler for Handler {
    async fn check_recipient(&self, rcpt: &str) -> Reply {
        let code = self
            .behaviour
            .lock()
            .unwrap()
            .refuse
            .get(&rcpt.to_lowercase())
            .copied();
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
        let handler = Arc::new(Handler {
            got: got.clone(),
            behaviour: Mutex::new(behaviour),
            released,
        });
        let (stop, stopped) = watch::channel(false);
        let config = ServerConfig {
            hostname: "sink.test".into(),
            max_message_bytes: 50 << 20,
            idle_timeout: Duration::from_secs(60),
            max_recipients: 100,
            max_connections: 64,
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
